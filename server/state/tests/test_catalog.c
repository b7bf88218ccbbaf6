/*
 * test_catalog.c - unit tests of the catalog area (catalog.c): register and
 * deregister of nodes, services and checks, Consul's JSON shapes and field
 * names, health filters (passing, tag AND), read indexes, and the
 * SERVICE/NODE/TABLE notifications that wake blocking queries.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static tb_status_t reg(tb__state_t *st, const char *json)
{
    char *err = NULL;
    tb_status_t s = th_json(st, TB__CMD_REGISTER, json, 0, &err);
    if (s != TB_OK)
        fprintf(stderr, "\n  register refused: %s\n", err ? err : "?");
    free(err);
    return s;
}

static tb_status_t dereg(tb__state_t *st, const char *json)
{
    return th_json(st, TB__CMD_DEREGISTER, json, 0, NULL);
}

/* The object has exactly these keys. */
static int has_exact_keys(const json_t *o, const char *const *keys)
{
    size_t n = 0;
    for (; keys[n]; n++) {
        if (!json_object_get(o, keys[n])) {
            fprintf(stderr, "\n  missing key %s\n", keys[n]);
            return 0;
        }
    }
    if (json_object_size(o) != n) {
        char *d = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        fprintf(stderr, "\n  unexpected keys in %s\n", d);
        free(d);
        return 0;
    }
    return 1;
}

static int json_is(const json_t *v, const char *text)
{
    json_t *want = th_j(text);
    int eq = json_equal(v, want);
    if (!eq) {
        char *d = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        fprintf(stderr, "\n  got  %s\n  want %s\n", d, text);
        free(d);
    }
    json_decref(want);
    return eq;
}

static const char *const NODE_KEYS[] = {"ID", "Node", "Address", "Datacenter", "TaggedAddresses",
                                        "Meta", "CreateIndex", "ModifyIndex", NULL};
static const char *const CATALOG_SERVICE_KEYS[] = {
    "ID", "Node", "Address", "Datacenter", "TaggedAddresses", "NodeMeta", "ServiceKind",
    "ServiceID", "ServiceName", "ServiceTags", "ServiceAddress", "ServiceTaggedAddresses",
    "ServiceWeights", "ServiceMeta", "ServicePort", "ServiceSocketPath",
    "ServiceEnableTagOverride", "ServiceProxy", "ServiceConnect", "CreateIndex", "ModifyIndex",
    NULL};
static const char *const AGENT_SERVICE_KEYS[] = {
    "ID", "Service", "Tags", "Meta", "Port", "Address", "TaggedAddresses", "Weights",
    "EnableTagOverride", "Datacenter", "CreateIndex", "ModifyIndex", NULL};
static const char *const CHECK_KEYS[] = {
    "Node", "CheckID", "Name", "Status", "Notes", "Output", "ServiceID", "ServiceName",
    "ServiceTags", "Type", "Interval", "Timeout", "ExposedPort", "Definition", "CreateIndex",
    "ModifyIndex", NULL};

static void setup_web(tb__state_t *st)
{
    /* 1: node n1 with web (v1, primary) and a node check */
    CU_ASSERT_EQUAL(reg(st, "{\"Node\":\"n1\",\"Address\":\"127.0.0.1\",\"Datacenter\":\"dc1\","
                            "\"ID\":\"11111111-1111-1111-1111-111111111111\","
                            "\"TaggedAddresses\":{\"lan\":\"127.0.0.1\"},\"NodeMeta\":{\"rack\":\"r1\"},"
                            "\"Service\":{\"ID\":\"web1\",\"Service\":\"web\",\"Tags\":[\"v1\",\"Primary\"],"
                            "\"Port\":8080,\"Address\":\"127.0.0.10\",\"Meta\":{\"m\":\"x\"}},"
                            "\"Checks\":[{\"CheckID\":\"serfHealth\",\"Name\":\"Serf Health Status\","
                            "\"Status\":\"passing\"},{\"CheckID\":\"web1-http\",\"Name\":\"http\","
                            "\"Status\":\"passing\",\"ServiceID\":\"web1\",\"Type\":\"http\","
                            "\"Interval\":\"10s\",\"Definition\":{\"HTTP\":\"http://127.0.0.1/\"}}]}"),
                    TB_OK);
    /* 2: node n2 with web (v1 only), its check warning */
    CU_ASSERT_EQUAL(reg(st, "{\"Node\":\"n2\",\"Address\":\"127.0.0.2\",\"Datacenter\":\"dc1\","
                            "\"Service\":{\"ID\":\"web2\",\"Service\":\"web\",\"Tags\":[\"v1\"],\"Port\":8080},"
                            "\"Check\":{\"CheckID\":\"web2-tcp\",\"Name\":\"tcp\",\"Status\":\"warning\","
                            "\"ServiceID\":\"web2\"}}"),
                    TB_OK);
    /* 3: db on n2 */
    CU_ASSERT_EQUAL(reg(st, "{\"Node\":\"n2\",\"Address\":\"127.0.0.2\",\"Datacenter\":\"dc1\","
                            "\"Service\":{\"Service\":\"db\",\"Port\":5432}}"),
                    TB_OK);
}

static void test_register_and_shapes(void)
{
    tb__state_t *st = th_open(NULL);
    setup_web(st);
    uint64_t idx;

    json_t *nodes = tb__state_nodes(st, &idx);
    CU_ASSERT_EQUAL_FATAL(json_array_size(nodes), 2);
    CU_ASSERT_EQUAL(idx, 2); /* nodes table: n2 created at 2; 3 did not change it */
    json_t *n1 = json_array_get(nodes, 0);
    CU_ASSERT(has_exact_keys(n1, NODE_KEYS));
    CU_ASSERT(json_is(n1, "{\"ID\":\"11111111-1111-1111-1111-111111111111\",\"Node\":\"n1\","
                          "\"Address\":\"127.0.0.1\",\"Datacenter\":\"dc1\","
                          "\"TaggedAddresses\":{\"lan\":\"127.0.0.1\"},\"Meta\":{\"rack\":\"r1\"},"
                          "\"CreateIndex\":1,\"ModifyIndex\":1}"));
    CU_ASSERT(json_is(json_object_get(json_array_get(nodes, 1), "Meta"), "{}"));
    CU_ASSERT(json_is(json_object_get(json_array_get(nodes, 1), "TaggedAddresses"), "{}"));
    json_decref(nodes);

    json_t *svcs = tb__state_services(st, &idx);
    CU_ASSERT(json_is(svcs, "{\"web\":[\"v1\",\"Primary\"],\"db\":[]}"));
    CU_ASSERT_EQUAL(idx, 3);
    json_decref(svcs);

    json_t *sn = tb__state_service_nodes(st, "web", NULL, &idx);
    CU_ASSERT_EQUAL_FATAL(json_array_size(sn), 2);
    CU_ASSERT_EQUAL(idx, 3);
    json_t *cs = json_array_get(sn, 0);
    CU_ASSERT(has_exact_keys(cs, CATALOG_SERVICE_KEYS));
    CU_ASSERT(json_is(cs, "{\"ID\":\"11111111-1111-1111-1111-111111111111\",\"Node\":\"n1\","
                          "\"Address\":\"127.0.0.1\",\"Datacenter\":\"dc1\","
                          "\"TaggedAddresses\":{\"lan\":\"127.0.0.1\"},\"NodeMeta\":{\"rack\":\"r1\"},"
                          "\"ServiceKind\":\"\",\"ServiceID\":\"web1\",\"ServiceName\":\"web\","
                          "\"ServiceTags\":[\"v1\",\"Primary\"],\"ServiceAddress\":\"127.0.0.10\","
                          "\"ServiceTaggedAddresses\":{},"
                          "\"ServiceWeights\":{\"Passing\":1,\"Warning\":1},"
                          "\"ServiceMeta\":{\"m\":\"x\"},\"ServicePort\":8080,"
                          "\"ServiceSocketPath\":\"\",\"ServiceEnableTagOverride\":false,"
                          "\"ServiceProxy\":{},\"ServiceConnect\":{},\"CreateIndex\":1,"
                          "\"ModifyIndex\":1}"));
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(sn, 1), "ServiceID")),
                           "web2");
    json_decref(sn);
    /* service names are case-insensitive; unknown service: [] */
    sn = tb__state_service_nodes(st, "WEB", NULL, &idx);
    CU_ASSERT_EQUAL(json_array_size(sn), 2);
    json_decref(sn);
    sn = tb__state_service_nodes(st, "nosuch", NULL, &idx);
    CU_ASSERT(json_is(sn, "[]"));
    json_decref(sn);

    json_t *ns = tb__state_node_services(st, "n2", &idx);
    CU_ASSERT_EQUAL(idx, 3);
    CU_ASSERT(has_exact_keys(json_object_get(ns, "Node"), NODE_KEYS));
    json_t *db = json_object_get(json_object_get(ns, "Services"), "db");
    CU_ASSERT(has_exact_keys(db, AGENT_SERVICE_KEYS));
    CU_ASSERT(json_is(db, "{\"ID\":\"db\",\"Service\":\"db\",\"Tags\":[],\"Meta\":{},\"Port\":5432,"
                          "\"Address\":\"\",\"TaggedAddresses\":{},"
                          "\"Weights\":{\"Passing\":1,\"Warning\":1},\"EnableTagOverride\":false,"
                          "\"Datacenter\":\"dc1\",\"CreateIndex\":3,\"ModifyIndex\":3}"));
    CU_ASSERT_EQUAL(json_object_size(json_object_get(ns, "Services")), 2);
    json_decref(ns);
    ns = tb__state_node_services(st, "unknown", &idx);
    CU_ASSERT(json_is_null(ns));
    json_decref(ns);

    json_t *hc = tb__state_node_checks(st, "n1", &idx);
    CU_ASSERT_EQUAL_FATAL(json_array_size(hc), 2);
    CU_ASSERT_EQUAL(idx, 2);
    json_t *c0 = json_array_get(hc, 0);
    CU_ASSERT(has_exact_keys(c0, CHECK_KEYS));
    CU_ASSERT(json_is(c0, "{\"Node\":\"n1\",\"CheckID\":\"serfHealth\",\"Name\":\"Serf Health Status\","
                          "\"Status\":\"passing\",\"Notes\":\"\",\"Output\":\"\",\"ServiceID\":\"\","
                          "\"ServiceName\":\"\",\"ServiceTags\":[],\"Type\":\"\",\"Interval\":\"\","
                          "\"Timeout\":\"\",\"ExposedPort\":0,\"Definition\":{},\"CreateIndex\":1,"
                          "\"ModifyIndex\":1}"));
    json_t *c1 = json_array_get(hc, 1);
    CU_ASSERT(json_is(json_object_get(c1, "ServiceTags"), "[\"v1\",\"Primary\"]"));
    CU_ASSERT(json_is(json_object_get(c1, "ServiceName"), "\"web\""));
    CU_ASSERT(json_is(json_object_get(c1, "Definition"), "{\"HTTP\":\"http://127.0.0.1/\"}"));
    CU_ASSERT(json_is(json_object_get(c1, "Interval"), "\"10s\""));
    json_decref(hc);
    hc = tb__state_node_checks(st, "unknown", &idx);
    CU_ASSERT(json_is(hc, "[]"));
    json_decref(hc);

    hc = tb__state_service_checks(st, "web", &idx);
    CU_ASSERT_EQUAL(json_array_size(hc), 2); /* web1-http, web2-tcp; not serfHealth */
    json_decref(hc);
    hc = tb__state_checks_in_state(st, "any", &idx);
    CU_ASSERT_EQUAL(json_array_size(hc), 3);
    json_decref(hc);
    hc = tb__state_checks_in_state(st, "warning", &idx);
    CU_ASSERT_EQUAL(json_array_size(hc), 1);
    json_decref(hc);
    hc = tb__state_checks_in_state(st, "critical", &idx);
    CU_ASSERT(json_is(hc, "[]"));
    json_decref(hc);
    CU_ASSERT_PTR_NULL(tb__state_checks_in_state(st, "bogus", &idx));
    tb__state_close(st);
}

static void test_health_filters(void)
{
    tb__state_t *st = th_open(NULL);
    setup_web(st);
    uint64_t idx;
    json_t *h = tb__state_health_service(st, "web", NULL, 0, &idx);
    CU_ASSERT_EQUAL(idx, 3);
    CU_ASSERT_EQUAL_FATAL(json_array_size(h), 2);
    json_t *e = json_array_get(h, 0);
    CU_ASSERT(has_exact_keys(json_object_get(e, "Node"), NODE_KEYS));
    CU_ASSERT(has_exact_keys(json_object_get(e, "Service"), AGENT_SERVICE_KEYS));
    /* node-level check + this service's check, by CheckID */
    json_t *checks = json_object_get(e, "Checks");
    CU_ASSERT_EQUAL_FATAL(json_array_size(checks), 2);
    CU_ASSERT(json_is(json_object_get(json_array_get(checks, 0), "CheckID"), "\"serfHealth\""));
    CU_ASSERT(json_is(json_object_get(json_array_get(checks, 1), "CheckID"), "\"web1-http\""));
    /* n2's entry: its db service's checks are not in web's entry */
    json_t *checks2 = json_object_get(json_array_get(h, 1), "Checks");
    CU_ASSERT_EQUAL(json_array_size(checks2), 1);
    json_decref(h);

    /* passing drops n2 (warning) */
    h = tb__state_health_service(st, "web", NULL, 1, &idx);
    CU_ASSERT_EQUAL_FATAL(json_array_size(h), 1);
    CU_ASSERT(json_is(json_object_get(json_object_get(json_array_get(h, 0), "Node"), "Node"),
                      "\"n1\""));
    json_decref(h);

    /* tags: AND, case-insensitive */
    json_t *tags = th_j("[\"v1\",\"primary\"]");
    h = tb__state_health_service(st, "web", tags, 0, &idx);
    CU_ASSERT_EQUAL(json_array_size(h), 1);
    json_decref(h);
    json_t *sn = tb__state_service_nodes(st, "web", tags, &idx);
    CU_ASSERT_EQUAL(json_array_size(sn), 1);
    json_decref(sn);
    json_decref(tags);
    tags = th_j("[\"v1\"]");
    h = tb__state_health_service(st, "web", tags, 0, &idx);
    CU_ASSERT_EQUAL(json_array_size(h), 2);
    json_decref(h);
    json_decref(tags);
    tags = th_j("[\"v1\",\"nope\"]");
    h = tb__state_health_service(st, "web", tags, 0, &idx);
    CU_ASSERT(json_is(h, "[]"));
    json_decref(h);
    json_decref(tags);

    /* a critical node-level check fails every service on that node */
    CU_ASSERT_EQUAL(reg(st, "{\"Node\":\"n1\",\"Address\":\"127.0.0.1\",\"Datacenter\":\"dc1\","
                            "\"ID\":\"11111111-1111-1111-1111-111111111111\","
                            "\"TaggedAddresses\":{\"lan\":\"127.0.0.1\"},\"NodeMeta\":{\"rack\":\"r1\"},"
                            "\"Check\":{\"CheckID\":\"serfHealth\",\"Name\":\"Serf Health Status\","
                            "\"Status\":\"critical\"}}"),
                    TB_OK); /* 4 */
    h = tb__state_health_service(st, "web", NULL, 1, &idx);
    CU_ASSERT(json_is(h, "[]"));
    CU_ASSERT_EQUAL(idx, 4);
    json_decref(h);
    tb__state_close(st);
}

static void test_idempotent_and_updates(void)
{
    tb__watch_reg_t *wr = tb__watch_reg_new();
    tb__state_t *st = th_open(wr);
    setup_web(st);
    int any = 0;
    tb__watch_t *w = tb__watch_new(wr, th_count_cb, &any);
    tb__watch_on(w, TB__WATCH_TABLE, "nodes");
    tb__watch_on(w, TB__WATCH_TABLE, "services");
    tb__watch_on(w, TB__WATCH_TABLE, "checks");
    tb__watch_on(w, TB__WATCH_SERVICE, "web");
    tb__watch_on(w, TB__WATCH_NODE, "n2");
    /* the same registration again: nothing changes, nobody wakes */
    CU_ASSERT_EQUAL(reg(st, "{\"Node\":\"n2\",\"Address\":\"127.0.0.2\",\"Datacenter\":\"dc1\","
                            "\"Service\":{\"ID\":\"web2\",\"Service\":\"web\",\"Tags\":[\"v1\"],\"Port\":8080},"
                            "\"Check\":{\"CheckID\":\"web2-tcp\",\"Name\":\"tcp\",\"Status\":\"warning\","
                            "\"ServiceID\":\"web2\"}}"),
                    TB_OK); /* 4 */
    CU_ASSERT_EQUAL(tb__watch_flush(wr), 0);
    uint64_t idx;
    json_t *sn = tb__state_service_nodes(st, "web", NULL, &idx);
    CU_ASSERT_EQUAL(idx, 3);
    CU_ASSERT(json_is(json_object_get(json_array_get(sn, 1), "ModifyIndex"), "2"));
    json_decref(sn);

    /* changed tags: service ModifyIndex moves, CreateIndex stays, its checks
     * follow (ServiceTags) */
    CU_ASSERT_EQUAL(reg(st, "{\"Node\":\"n2\",\"Address\":\"127.0.0.2\",\"Datacenter\":\"dc1\","
                            "\"Service\":{\"ID\":\"web2\",\"Service\":\"web\",\"Tags\":[\"v2\"],"
                            "\"Port\":8080}}"),
                    TB_OK); /* 5 */
    CU_ASSERT_EQUAL(tb__watch_flush(wr), 1);
    sn = tb__state_service_nodes(st, "web", NULL, &idx);
    json_t *e = json_array_get(sn, 1);
    CU_ASSERT(json_is(json_object_get(e, "CreateIndex"), "2"));
    CU_ASSERT(json_is(json_object_get(e, "ModifyIndex"), "5"));
    CU_ASSERT(json_is(json_object_get(e, "ServiceTags"), "[\"v2\"]"));
    CU_ASSERT_EQUAL(idx, 5);
    json_decref(sn);
    json_t *hc = tb__state_service_checks(st, "web", &idx);
    CU_ASSERT(json_is(json_object_get(json_array_get(hc, 1), "ServiceTags"), "[\"v2\"]"));
    json_decref(hc);

    /* node address change: node ModifyIndex moves */
    CU_ASSERT_EQUAL(reg(st, "{\"Node\":\"n2\",\"Address\":\"127.0.0.22\",\"Datacenter\":\"dc1\"}"),
                    TB_OK); /* 6 */
    json_t *ns = tb__state_node_services(st, "n2", &idx);
    CU_ASSERT(json_is(json_object_get(json_object_get(ns, "Node"), "ModifyIndex"), "6"));
    CU_ASSERT(json_is(json_object_get(json_object_get(ns, "Node"), "CreateIndex"), "2"));
    json_decref(ns);
    /* SkipNodeUpdate: the node is left alone */
    CU_ASSERT_EQUAL(reg(st, "{\"Node\":\"n2\",\"Address\":\"10.9.9.9\",\"SkipNodeUpdate\":true}"),
                    TB_OK); /* 7 */
    ns = tb__state_node_services(st, "n2", &idx);
    CU_ASSERT(json_is(json_object_get(json_object_get(ns, "Node"), "Address"), "\"127.0.0.22\""));
    json_decref(ns);
    tb__watch_free(w);
    tb__state_close(st);
    tb__watch_reg_free(wr);
}

static void test_refusals_roll_back(void)
{
    tb__state_t *st = th_open(NULL);
    char *err = NULL;
    /* a check naming an unknown service: the whole register is refused,
     * including the node it would have created */
    CU_ASSERT_EQUAL(th_json(st, TB__CMD_REGISTER,
                            "{\"Node\":\"n9\",\"Address\":\"127.0.0.9\","
                            "\"Check\":{\"CheckID\":\"c\",\"ServiceID\":\"ghost\"}}",
                            0, &err),
                    TB_BAD_REQUEST);
    CU_ASSERT_STRING_EQUAL(err, "Missing service registration");
    free(err);
    uint64_t idx;
    json_t *nodes = tb__state_nodes(st, &idx);
    CU_ASSERT(json_is(nodes, "[]"));
    CU_ASSERT_EQUAL(idx, 1);
    json_decref(nodes);
    CU_ASSERT_EQUAL(tb__state_last_index(st), 1);

    CU_ASSERT_EQUAL(th_json(st, TB__CMD_REGISTER, "{\"Address\":\"127.0.0.9\"}", 0, NULL),
                    TB_BAD_REQUEST);
    CU_ASSERT_EQUAL(th_json(st, TB__CMD_REGISTER, "{\"Node\":\"n9\",\"Address\":7}", 0, NULL),
                    TB_BAD_REQUEST);
    CU_ASSERT_EQUAL(th_json(st, TB__CMD_REGISTER,
                            "{\"Node\":\"n9\",\"Service\":{\"ID\":\"x\"}}", 0, NULL),
                    TB_BAD_REQUEST);
    CU_ASSERT_EQUAL(th_json(st, TB__CMD_REGISTER,
                            "{\"Node\":\"n9\",\"Check\":{\"CheckID\":\"c\",\"Status\":\"bad\"}}",
                            0, NULL),
                    TB_BAD_REQUEST);
    CU_ASSERT_EQUAL(th_json(st, TB__CMD_REGISTER,
                            "{\"Node\":\"n9\",\"Check\":{\"CheckID\":\"c\",\"Node\":\"other\"}}",
                            0, NULL),
                    TB_BAD_REQUEST);
    /* node ID aliasing another node */
    CU_ASSERT_EQUAL(reg(st, "{\"Node\":\"a\",\"ID\":\"id-1\"}"), TB_OK);
    CU_ASSERT_EQUAL(th_json(st, TB__CMD_REGISTER, "{\"Node\":\"b\",\"ID\":\"id-1\"}", 0, NULL),
                    TB_BAD_REQUEST);
    /* defaults: CheckID = Name, Status = critical; Service ID = name */
    CU_ASSERT_EQUAL(reg(st, "{\"Node\":\"a\",\"ID\":\"id-1\",\"Service\":{\"Service\":\"s\"},"
                            "\"Check\":{\"Name\":\"mem\"}}"),
                    TB_OK);
    json_t *hc = tb__state_node_checks(st, "a", &idx);
    CU_ASSERT(json_is(json_object_get(json_array_get(hc, 0), "CheckID"), "\"mem\""));
    CU_ASSERT(json_is(json_object_get(json_array_get(hc, 0), "Status"), "\"critical\""));
    json_decref(hc);
    json_t *ns = tb__state_node_services(st, "a", &idx);
    CU_ASSERT_PTR_NOT_NULL(json_object_get(json_object_get(ns, "Services"), "s"));
    json_decref(ns);
    tb__state_close(st);
}

static void test_deregister(void)
{
    tb__watch_reg_t *wr = tb__watch_reg_new();
    tb__state_t *st = th_open(wr);
    setup_web(st);
    uint64_t idx;
    int web = 0, db = 0, n1 = 0;
    tb__watch_t *ww = tb__watch_new(wr, th_count_cb, &web);
    tb__watch_t *wd = tb__watch_new(wr, th_count_cb, &db);
    tb__watch_t *wn = tb__watch_new(wr, th_count_cb, &n1);
    tb__watch_on(ww, TB__WATCH_SERVICE, "web");
    tb__watch_on(wd, TB__WATCH_SERVICE, "db");
    tb__watch_on(wn, TB__WATCH_NODE, "n1");

    /* a check */
    CU_ASSERT_EQUAL(dereg(st, "{\"Node\":\"n2\",\"CheckID\":\"web2-tcp\"}"), TB_OK); /* 4 */
    CU_ASSERT_EQUAL(tb__watch_flush(wr), 1);
    CU_ASSERT_EQUAL(web, 1);
    json_t *hc = tb__state_node_checks(st, "n2", &idx);
    CU_ASSERT(json_is(hc, "[]"));
    CU_ASSERT_EQUAL(idx, 4);
    json_decref(hc);
    tb__watch_on(ww, TB__WATCH_SERVICE, "web");

    /* a service and its checks */
    CU_ASSERT_EQUAL(dereg(st, "{\"Node\":\"n1\",\"ServiceID\":\"web1\"}"), TB_OK); /* 5 */
    CU_ASSERT_EQUAL(tb__watch_flush(wr), 2);
    CU_ASSERT_EQUAL(web, 2);
    CU_ASSERT_EQUAL(n1, 1);
    CU_ASSERT_EQUAL(db, 0);
    hc = tb__state_node_checks(st, "n1", &idx);
    CU_ASSERT_EQUAL(json_array_size(hc), 1); /* serfHealth stays */
    json_decref(hc);
    json_t *sn = tb__state_service_nodes(st, "web", NULL, &idx);
    CU_ASSERT_EQUAL(json_array_size(sn), 1);
    CU_ASSERT_EQUAL(idx, 5);
    json_decref(sn);

    /* unknown targets: no-op success */
    CU_ASSERT_EQUAL(dereg(st, "{\"Node\":\"n1\",\"ServiceID\":\"nope\"}"), TB_OK);
    CU_ASSERT_EQUAL(dereg(st, "{\"Node\":\"ghost\"}"), TB_OK);
    CU_ASSERT_EQUAL(tb__watch_flush(wr), 0);
    CU_ASSERT_EQUAL(dereg(st, "{}"), TB_BAD_REQUEST);

    /* the whole node: its services and checks go, every service on it wakes */
    CU_ASSERT_EQUAL(dereg(st, "{\"Node\":\"n2\"}"), TB_OK);
    tb__watch_flush(wr);
    CU_ASSERT_EQUAL(db, 1);
    json_t *nodes = tb__state_nodes(st, &idx);
    CU_ASSERT_EQUAL(json_array_size(nodes), 1);
    CU_ASSERT_EQUAL(idx, tb__state_last_index(st));
    json_decref(nodes);
    json_t *svcs = tb__state_services(st, &idx);
    CU_ASSERT(json_is(svcs, "{}"));
    json_decref(svcs);
    hc = tb__state_checks_in_state(st, "any", &idx);
    CU_ASSERT_EQUAL(json_array_size(hc), 1);
    json_decref(hc);
    tb__watch_free(ww);
    tb__watch_free(wd);
    tb__watch_free(wn);
    tb__state_close(st);
    tb__watch_reg_free(wr);
}

static void test_catalog_notifications(void)
{
    tb__watch_reg_t *wr = tb__watch_reg_new();
    tb__state_t *st = th_open(wr);
    setup_web(st);
    int web = 0, db = 0, n1 = 0, n2 = 0, kv = 0;
    tb__watch_t *ww = tb__watch_new(wr, th_count_cb, &web);
    tb__watch_t *wd = tb__watch_new(wr, th_count_cb, &db);
    tb__watch_t *w1 = tb__watch_new(wr, th_count_cb, &n1);
    tb__watch_t *w2 = tb__watch_new(wr, th_count_cb, &n2);
    tb__watch_t *wk = tb__watch_new(wr, th_count_cb, &kv);
#define ARM()                                       \
    do {                                            \
        tb__watch_on(ww, TB__WATCH_SERVICE, "web"); \
        tb__watch_on(wd, TB__WATCH_SERVICE, "db");  \
        tb__watch_on(w1, TB__WATCH_NODE, "n1");     \
        tb__watch_on(w2, TB__WATCH_NODE, "n2");     \
        tb__watch_on(wk, TB__WATCH_TABLE, "kv");    \
    } while (0)
    ARM();
    /* a service check on n2's web: web and n2 wake, db and n1 do not */
    CU_ASSERT_EQUAL(reg(st, "{\"Node\":\"n2\",\"SkipNodeUpdate\":true,\"Check\":{\"CheckID\":\"web2-tcp\",\"Name\":\"tcp\","
                            "\"Status\":\"passing\",\"ServiceID\":\"web2\"}}"),
                    TB_OK);
    tb__watch_flush(wr);
    CU_ASSERT_EQUAL(web, 1);
    CU_ASSERT_EQUAL(n2, 1);
    CU_ASSERT_EQUAL(db, 0);
    CU_ASSERT_EQUAL(n1, 0);
    ARM();
    /* a node-level check on n2: every service on n2 wakes */
    CU_ASSERT_EQUAL(reg(st, "{\"Node\":\"n2\",\"SkipNodeUpdate\":true,\"Check\":{\"CheckID\":\"mem\",\"Name\":\"mem\","
                            "\"Status\":\"passing\"}}"),
                    TB_OK);
    tb__watch_flush(wr);
    CU_ASSERT_EQUAL(web, 2);
    CU_ASSERT_EQUAL(db, 1);
    CU_ASSERT_EQUAL(n2, 2);
    CU_ASSERT_EQUAL(n1, 0);
    ARM();
    /* the node itself changes: its services wake */
    CU_ASSERT_EQUAL(reg(st, "{\"Node\":\"n1\",\"Address\":\"127.0.0.111\"}"), TB_OK);
    tb__watch_flush(wr);
    CU_ASSERT_EQUAL(web, 3);
    CU_ASSERT_EQUAL(n1, 1);
    CU_ASSERT_EQUAL(db, 1);
    CU_ASSERT_EQUAL(kv, 0);
    ARM();
    /* renaming a service wakes both names */
    CU_ASSERT_EQUAL(reg(st, "{\"Node\":\"n2\",\"SkipNodeUpdate\":true,\"Service\":{\"ID\":\"db\",\"Service\":\"web\"}}"),
                    TB_OK);
    tb__watch_flush(wr);
    CU_ASSERT_EQUAL(web, 4);
    CU_ASSERT_EQUAL(db, 2);
#undef ARM
    tb__watch_free(ww);
    tb__watch_free(wd);
    tb__watch_free(w1);
    tb__watch_free(w2);
    tb__watch_free(wk);
    tb__state_close(st);
    tb__watch_reg_free(wr);
}

int main(void)
{
    static const CU_TestInfo tests[] = {
        {"register and Consul shapes", test_register_and_shapes},
        {"health passing and tag filters", test_health_filters},
        {"idempotent register, updates", test_idempotent_and_updates},
        {"refusals roll back", test_refusals_roll_back},
        {"deregister check, service, node", test_deregister},
        {"catalog watch notifications", test_catalog_notifications},
        CU_TEST_INFO_NULL,
    };
    return th_run("catalog", tests);
}
