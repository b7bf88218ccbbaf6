/*
 * test_catalog_view.c - CUnit tests of the typed catalog views
 * (api->catalog_read, catalog_view.c) against a real in-memory state store
 * and a real libuv loop, through the plugin API table: service instances
 * with nodes, tags, meta, weights and aggregated health; tag and
 * passing-only filters; one node, unknown node, every node; blocking on
 * min_index woken by a write; cancel; bad requests.
 */
#include "tb_autoconf.h"

#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "endpoint/endpoint.h"
#include "plugin/plugin.h"
#include "state/state.h"
#include "state/watch.h"

static tb__agent_t *ag;
static tb_plugin_t plug;
static const tb_api_t *api;

/* What a callback saw, copied out of the borrowed view. */
typedef struct seen {
    int calls;
    tb_status_t status;
    uint64_t index;
    int json_null;
    size_t nnodes, nservices;
    char node0[64], addr0[64], meta0[64], svc_node0[64], tags0[64], svc_id[3][32];
    int status_of[3], wpass0, port0, same_node;
} seen_t;

static void seen_cb(void *arg, const tb_result_t *r)
{
    seen_t *s = arg;
    const tb_catalog_view_t *v = r->catalog;
    s->calls++;
    s->status = r->status;
    s->index = r->index;
    s->json_null = r->json == NULL;
    s->nnodes = v ? v->nnodes : 99;
    s->nservices = v ? v->nservices : 99;
    if (v && v->nnodes) {
        const tb_catalog_node_t *n = &v->nodes[0];
        snprintf(s->node0, sizeof s->node0, "%s", n->name);
        snprintf(s->addr0, sizeof s->addr0, "%s", n->address);
        if (n->nmeta)
            snprintf(s->meta0, sizeof s->meta0, "%s=%s", n->meta[0].key, n->meta[0].value);
    }
    if (v && v->nservices) {
        const tb_catalog_service_t *sv = &v->services[0];
        snprintf(s->svc_node0, sizeof s->svc_node0, "%s", sv->node->name);
        s->tags0[0] = 0;
        for (size_t i = 0; i < sv->ntags; i++) {
            strncat(s->tags0, sv->tags[i], sizeof s->tags0 - strlen(s->tags0) - 2);
            strcat(s->tags0, ",");
        }
        s->wpass0 = sv->weight_passing;
        s->port0 = sv->port;
        s->same_node = v->nservices > 1 && v->services[0].node == v->services[1].node;
        for (size_t i = 0; i < v->nservices && i < 3; i++) {
            snprintf(s->svc_id[i], sizeof s->svc_id[i], "%s", v->services[i].id);
            s->status_of[i] = (int)v->services[i].status;
        }
    }
}

static void run_until(int *counter, int want, uint64_t max_ms)
{
    uint64_t end = uv_now(&ag->loop) + max_ms;
    while (*counter < want && uv_now(&ag->loop) < end) {
        uv_run(&ag->loop, UV_RUN_NOWAIT);
        uv_sleep(1);
        uv_update_time(&ag->loop);
    }
}

static void agent_up(void)
{
    ag = calloc(1, sizeof *ag);
    uv_loop_init(&ag->loop);
    tb__config_t *c = calloc(1, sizeof *c);
    c->merged = json_pack("{s:s,s:s}", "datacenter", "dc1", "node_name", "node1");
    c->origins = json_object();
    c->datacenter = "dc1";
    c->node_name = "node1";
    c->advertise_addr = "127.0.0.1";
    c->server = c->dev = 1;
    c->kv_max_value_size = 524288;
    c->default_query_time_ms = 300000;
    c->max_query_time_ms = 600000;
    ag->config = c;
    tb__logger_init(&ag->log, TB_LOG_ERROR, 0, stderr);
    ag->watches = tb__watch_reg_new();
    char *err = NULL;
    CU_ASSERT_FATAL(tb__state_open(&ag->state, ag->watches, &err) == 0);
    ag->endpoint = tb__endpoint_new(ag);
    CU_ASSERT_FATAL(ag->endpoint != NULL);
    memset(&plug, 0, sizeof plug);
    plug.agent = ag;
    plug.name = "test";
    api = tb__api_table();
}

static void agent_down(void)
{
    tb__endpoint_shutdown(ag->endpoint);
    uv_run(&ag->loop, UV_RUN_DEFAULT);
    tb__endpoint_free(ag->endpoint);
    tb__state_close(ag->state);
    tb__watch_reg_free(ag->watches);
    uv_loop_close(&ag->loop);
    json_decref(ag->config->merged);
    json_decref(ag->config->origins);
    free(ag->config);
    free(ag);
    ag = NULL;
}

static void done_cb(void *arg, const tb_result_t *r)
{
    (void)r;
    ++*(int *)arg;
}

static void reg(const char *body)
{
    int n = 0;
    json_t *j = json_loads(body, 0, NULL);
    CU_ASSERT_FATAL(j != NULL);
    tb__endpoint_call(ag->endpoint, "Catalog.Register", j, NULL, done_cb, &n);
    json_decref(j);
    run_until(&n, 1, 2000);
    CU_ASSERT_EQUAL(n, 1);
}

/* n1 (meta rack=r1; a register sets the whole node) runs web-a (tag V1,
 * passing) and web-b (warning); n2 runs web-c (critical). */
static void load(void)
{
    reg("{\"Node\":\"n1\",\"Address\":\"10.0.0.1\",\"NodeMeta\":{\"rack\":\"r1\"},"
        "\"TaggedAddresses\":{\"wan\":\"192.0.2.1\"},"
        "\"Service\":{\"ID\":\"web-a\",\"Service\":\"web\",\"Port\":8080,\"Tags\":[\"V1\",\"x\"],"
        "\"Weights\":{\"Passing\":7,\"Warning\":2},\"Meta\":{\"m\":\"1\"}},"
        "\"Check\":{\"Name\":\"a\",\"Status\":\"passing\",\"ServiceID\":\"web-a\"}}");
    reg("{\"Node\":\"n1\",\"Address\":\"10.0.0.1\",\"NodeMeta\":{\"rack\":\"r1\"},"
        "\"Service\":{\"ID\":\"web-b\",\"Service\":"
        "\"web\",\"Port\":8081},\"Check\":{\"Name\":\"b\",\"Status\":\"warning\",\"ServiceID\":"
        "\"web-b\"}}");
    reg("{\"Node\":\"n2\",\"Address\":\"10.0.0.2\",\"Service\":{\"ID\":\"web-c\",\"Service\":"
        "\"web\",\"Port\":8082,\"Address\":\"10.9.9.9\"},\"Check\":{\"Name\":\"c\",\"Status\":"
        "\"critical\",\"ServiceID\":\"web-c\"}}");
}

static tb_call_t *read_view(tb_catalog_read_kind_t kind, const char *name, const char *tag,
                            int passing, uint64_t min_index, seen_t *s)
{
    tb_catalog_read_t r = {sizeof r, kind, name, tag, passing};
    tb_query_opts_t o = {sizeof o, min_index, 10000, TB_CONSISTENCY_DEFAULT, 0, NULL, NULL};
    int before = s->calls;
    tb_call_t *c = api->catalog_read(&plug, &r, &o, seen_cb, s);
    CU_ASSERT_EQUAL(s->calls, before); /* never inside the call */
    return c;
}

static void test_service_nodes(void)
{
    agent_up();
    CU_ASSERT(TB_API_HAS(api, catalog_read));
    load();
    seen_t s = {0};
    CU_ASSERT_PTR_NOT_NULL(read_view(TB_CATALOG_SERVICE_NODES, "web", NULL, 0, 0, &s));
    run_until(&s.calls, 1, 2000);
    CU_ASSERT_EQUAL(s.status, TB_OK);
    CU_ASSERT(s.json_null);
    CU_ASSERT(s.index >= 3);
    CU_ASSERT_EQUAL(s.nservices, 3);
    CU_ASSERT_EQUAL(s.nnodes, 2); /* one node struct per distinct node */
    CU_ASSERT(s.same_node);
    CU_ASSERT_STRING_EQUAL(s.node0, "n1");
    CU_ASSERT_STRING_EQUAL(s.addr0, "10.0.0.1");
    CU_ASSERT_STRING_EQUAL(s.meta0, "rack=r1");
    CU_ASSERT_STRING_EQUAL(s.svc_node0, "n1");
    CU_ASSERT_STRING_EQUAL(s.tags0, "V1,x,");
    CU_ASSERT_EQUAL(s.wpass0, 7);
    CU_ASSERT_EQUAL(s.port0, 8080);
    CU_ASSERT_STRING_EQUAL(s.svc_id[0], "web-a");
    CU_ASSERT_EQUAL(s.status_of[0], TB_CHECK_PASSING);
    CU_ASSERT_EQUAL(s.status_of[1], TB_CHECK_WARNING);
    CU_ASSERT_EQUAL(s.status_of[2], TB_CHECK_CRITICAL);

    /* tag filter is case-insensitive; passing_only drops warning and critical */
    seen_t t = {0}, p = {0}, none = {0};
    read_view(TB_CATALOG_SERVICE_NODES, "web", "v1", 0, 0, &t);
    read_view(TB_CATALOG_SERVICE_NODES, "web", NULL, 1, 0, &p);
    read_view(TB_CATALOG_SERVICE_NODES, "nosuch", NULL, 0, 0, &none);
    run_until(&none.calls, 1, 2000);
    CU_ASSERT(t.nservices == 1 && strcmp(t.svc_id[0], "web-a") == 0);
    CU_ASSERT(p.nservices == 1 && strcmp(p.svc_id[0], "web-a") == 0);
    CU_ASSERT(none.status == TB_OK && none.nservices == 0 && none.nnodes == 0);

    /* a missing name is the endpoint's 400, an unknown kind refused */
    seen_t bad = {0};
    read_view(TB_CATALOG_SERVICE_NODES, NULL, NULL, 0, 0, &bad);
    run_until(&bad.calls, 1, 2000);
    CU_ASSERT_EQUAL(bad.status, TB_BAD_REQUEST);
    CU_ASSERT_PTR_NULL(read_view((tb_catalog_read_kind_t)42, "web", NULL, 0, 0, &bad));
    tb_catalog_read_t tiny = {4, TB_CATALOG_NODES, NULL, NULL, 0};
    CU_ASSERT_PTR_NULL(api->catalog_read(&plug, &tiny, NULL, seen_cb, &bad));
    agent_down();
}

static void test_nodes(void)
{
    agent_up();
    load();
    seen_t n = {0}, u = {0}, all = {0};
    read_view(TB_CATALOG_NODE, "N1", NULL, 0, 0, &n); /* names are case-insensitive */
    read_view(TB_CATALOG_NODE, "ghost", NULL, 0, 0, &u);
    read_view(TB_CATALOG_NODES, NULL, NULL, 0, 0, &all);
    run_until(&all.calls, 1, 2000);
    CU_ASSERT_EQUAL(n.status, TB_OK);
    CU_ASSERT(n.nnodes == 1 && strcmp(n.node0, "n1") == 0);
    CU_ASSERT_EQUAL(n.nservices, 2);
    CU_ASSERT_STRING_EQUAL(n.meta0, "rack=r1");
    CU_ASSERT_EQUAL(u.status, TB_NOT_FOUND);
    CU_ASSERT(u.nnodes == 0 && u.index >= 1);
    CU_ASSERT_EQUAL(all.status, TB_OK);
    CU_ASSERT_EQUAL(all.nnodes, 2);
    CU_ASSERT_EQUAL(all.nservices, 0);
    agent_down();
}

static void test_blocking_and_cancel(void)
{
    agent_up();
    load();
    seen_t first = {0}, b = {0}, c = {0};
    read_view(TB_CATALOG_SERVICE_NODES, "web", NULL, 0, 0, &first);
    run_until(&first.calls, 1, 2000);
    read_view(TB_CATALOG_SERVICE_NODES, "web", NULL, 0, first.index, &b);
    tb_call_t *cc = read_view(TB_CATALOG_NODE, "n2", NULL, 0, first.index, &c);
    run_until(&b.calls, 1, 100);
    CU_ASSERT_EQUAL(b.calls, 0); /* blocked */
    CU_ASSERT_EQUAL(tb__endpoint_waiting(ag->endpoint), 2);
    api->call_cancel(cc); /* its callback never runs */
    CU_ASSERT_EQUAL(tb__endpoint_waiting(ag->endpoint), 1);
    reg("{\"Node\":\"n3\",\"Address\":\"10.0.0.3\",\"Service\":{\"ID\":\"web-d\",\"Service\":"
        "\"web\",\"Port\":8083}}");
    run_until(&b.calls, 1, 2000);
    CU_ASSERT_EQUAL(b.calls, 1);
    CU_ASSERT(b.index > first.index);
    CU_ASSERT_EQUAL(b.nservices, 4);
    CU_ASSERT_EQUAL(b.nnodes, 3);
    run_until(&c.calls, 1, 50);
    CU_ASSERT_EQUAL(c.calls, 0);
    agent_down();
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite s = CU_add_suite("catalog views", NULL, NULL);
    CU_add_test(s, "service instances, filters, bad requests", test_service_nodes);
    CU_add_test(s, "one node, unknown node, every node", test_nodes);
    CU_add_test(s, "blocking on min_index, cancel", test_blocking_and_cancel);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned f = CU_get_number_of_failures();
    CU_cleanup_registry();
    return f ? 1 : 0;
}
