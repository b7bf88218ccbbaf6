/*
 * test_config.c - CUnit tests of tb__config_build: defaults, -dev, merge
 * rules (scalar override, list append, object merge, directory order),
 * .hcl refusal, error messages naming file and key, flags over files,
 * singular/plural definitions, node_id persistence and the plugin list.
 */
#define _GNU_SOURCE
#include <CUnit/Basic.h>
#include <jansson.h>
#include <string.h>

#include "config/tb_config.h"
#include "agent/log.h"
#include "testutil.h"

/* ------------------------------------------------------------ helpers */

static char *g_dir; /* per-test temp dir; set in setup (tests run one at a time) */

static tb__config_args_t *args_with(int dev)
{
    tb__config_args_t *a = tb__config_args_new();
    CU_ASSERT_FATAL(a != NULL);
    a->dev = dev;
    return a;
}

static void add_file(tb__config_args_t *a, const char *name, const char *text)
{
    char *p = tu_write(g_dir, name, text);
    CU_ASSERT_FATAL(p != NULL);
    CU_ASSERT_FATAL(tb__config_args_add_src(a, TB__CFG_FILE, p) == 0);
    free(p);
}

/* Build and expect success. */
static tb__config_t *build_ok(tb__config_args_t *a)
{
    tb__config_t *cfg = NULL;
    char *err = NULL;
    int rc = tb__config_build(a, &cfg, &err);
    if (rc != 0)
        fprintf(stderr, "\n  unexpected error: %s\n", err ? err : "(null)");
    CU_ASSERT_EQUAL(rc, 0);
    free(err);
    return cfg;
}

/* Build and expect an error containing every given fragment. */
static void build_fails(tb__config_args_t *a, const char *frag1, const char *frag2)
{
    tb__config_t *cfg = NULL;
    char *err = NULL;
    int rc = tb__config_build(a, &cfg, &err);
    CU_ASSERT_EQUAL(rc, -1);
    CU_ASSERT_PTR_NULL(cfg);
    CU_ASSERT_PTR_NOT_NULL(err);
    if (err != NULL) {
        if (frag1 && strstr(err, frag1) == NULL)
            fprintf(stderr, "\n  error \"%s\" lacks \"%s\"\n", err, frag1);
        if (frag2 && strstr(err, frag2) == NULL)
            fprintf(stderr, "\n  error \"%s\" lacks \"%s\"\n", err, frag2);
        CU_ASSERT(frag1 == NULL || strstr(err, frag1) != NULL);
        CU_ASSERT(frag2 == NULL || strstr(err, frag2) != NULL);
    }
    free(err);
    tb__config_free(cfg);
}

static const json_t *path_get(const json_t *root, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    const json_t *cur = root;
    for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok && cur;
         tok = strtok_r(NULL, ".", &save))
        cur = json_object_get(cur, tok);
    return cur;
}

static const char *sget(const tb__config_t *c, const char *path)
{
    return json_string_value(path_get(c->merged, path));
}

static json_int_t iget(const tb__config_t *c, const char *path)
{
    return json_integer_value(path_get(c->merged, path));
}

static int setup(void)
{
    g_dir = tu_tmpdir();
    return g_dir ? 0 : -1;
}

static int teardown(void)
{
    tu_rmtree(g_dir);
    g_dir = NULL;
    return 0;
}

/* Each test gets a fresh directory. */
#define FRESH() \
    do {        \
        teardown(); \
        CU_ASSERT_FATAL(setup() == 0); \
    } while (0)

/* ------------------------------------------------------------ defaults */

static void test_defaults(void)
{
    FRESH();
    tb__config_args_t *a = args_with(0);
    char *dd;
    CU_ASSERT_FATAL(asprintf(&dd, "{\"data_dir\": \"%s/data\"}", g_dir) > 0);
    add_file(a, "a.json", dd);
    free(dd);
    tb__config_t *c = build_ok(a);
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT_STRING_EQUAL(c->datacenter, "dc1");
    CU_ASSERT_STRING_EQUAL(c->client_addr, "127.0.0.1");
    CU_ASSERT_STRING_EQUAL(c->bind_addr, "0.0.0.0");
    CU_ASSERT_EQUAL(c->port_http, 8500);
    CU_ASSERT_EQUAL(c->port_dns, 8600);
    CU_ASSERT_EQUAL(c->port_https, -1);
    CU_ASSERT_EQUAL(c->port_grpc, -1);
    CU_ASSERT_EQUAL(c->port_serf_lan, 8301);
    CU_ASSERT_EQUAL(c->port_serf_wan, 8302);
    CU_ASSERT_EQUAL(c->port_server, 8300);
    CU_ASSERT_EQUAL(c->log_level, TB_LOG_INFO);
    CU_ASSERT_EQUAL(c->dev, 0);
    CU_ASSERT_EQUAL(c->server, 0);
    CU_ASSERT_EQUAL(c->kv_max_value_size, 524288);
    CU_ASSERT_EQUAL(c->default_query_time_ms, 300000);
    CU_ASSERT_EQUAL(c->max_query_time_ms, 600000);
    CU_ASSERT_EQUAL(c->session_ttl_min_ms, 10000);
    CU_ASSERT_PTR_NULL(c->pid_file);
    CU_ASSERT_PTR_NOT_NULL(c->data_dir);
    CU_ASSERT_STRING_EQUAL(sget(c, "domain"), "consul.");
    CU_ASSERT_STRING_EQUAL(sget(c, "check_update_interval"), "5m");
    CU_ASSERT_EQUAL(iget(c, "limits.txn_max_req_len"), 524288);
    CU_ASSERT_EQUAL(iget(c, "limits.http_max_conns_per_client"), 200);
    CU_ASSERT(json_is_true(path_get(c->merged, "disable_remote_exec")));
    CU_ASSERT(json_is_false(path_get(c->merged, "enable_script_checks")));
    CU_ASSERT(json_is_false(path_get(c->merged, "dev_mode")));
    CU_ASSERT_STRING_EQUAL(c->plugin_dir, TB_PLUGIN_DIR);
    /* derived: listeners default to client_addr, clients leave on SIGTERM */
    CU_ASSERT_STRING_EQUAL(sget(c, "addresses.http"), "127.0.0.1");
    CU_ASSERT_STRING_EQUAL(sget(c, "primary_datacenter"), "dc1");
    CU_ASSERT(json_is_true(path_get(c->merged, "leave_on_terminate")));
    CU_ASSERT(json_is_false(path_get(c->merged, "skip_leave_on_interrupt")));
    char host[256];
    gethostname(host, sizeof(host));
    host[255] = '\0';
    CU_ASSERT_STRING_EQUAL(c->node_name, host);
    /* origins */
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c->origins, "datacenter")),
                           "defaults");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c->origins, "domain")), "defaults");
    const char *o = json_string_value(json_object_get(c->origins, "data_dir"));
    CU_ASSERT(o != NULL && strstr(o, "/a.json") != NULL);
    tb__config_free(c);
    tb__config_args_free(a);
}

static void test_dev_defaults(void)
{
    FRESH();
    tb__config_args_t *a = args_with(1);
    tb__config_t *c = build_ok(a);
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT_EQUAL(c->dev, 1);
    CU_ASSERT_EQUAL(c->server, 1);
    CU_ASSERT_EQUAL(c->bootstrap, 1);
    CU_ASSERT_STRING_EQUAL(c->bind_addr, "127.0.0.1");
    CU_ASSERT_STRING_EQUAL(c->client_addr, "127.0.0.1");
    CU_ASSERT_STRING_EQUAL(c->advertise_addr, "127.0.0.1");
    CU_ASSERT_EQUAL(c->log_level, TB_LOG_DEBUG);
    CU_ASSERT_EQUAL(c->port_grpc, 8502);
    CU_ASSERT_EQUAL(c->port_http, 8500);
    CU_ASSERT_PTR_NULL(c->data_dir);
    CU_ASSERT(json_is_true(path_get(c->merged, "dev_mode")));
    /* servers do not leave on SIGTERM */
    CU_ASSERT(json_is_false(path_get(c->merged, "leave_on_terminate")));
    CU_ASSERT_PTR_NOT_NULL(c->node_id);
    tb__config_free(c);
    tb__config_args_free(a);
}

static void test_data_dir_required(void)
{
    FRESH();
    tb__config_args_t *a = args_with(0);
    build_fails(a, "data_dir: required unless -dev", NULL);
    tb__config_args_free(a);
}

/* ------------------------------------------------------------ merging */

static void test_merge_rules(void)
{
    FRESH();
    tb__config_args_t *a = args_with(1);
    add_file(a, "a.json",
             "{\"datacenter\":\"east\",\"retry_join\":[\"10.0.0.1\"],"
             "\"ports\":{\"http\":8501},\"node_meta\":{\"a\":\"1\"},"
             "\"plugin_config\":{\"http\":{\"x\":1}}}");
    add_file(a, "b.json",
             "{\"datacenter\":\"west\",\"retry_join\":[\"10.0.0.2\"],"
             "\"ports\":{\"dns\":8601},\"node_meta\":{\"b\":\"2\"},"
             "\"plugin_config\":{\"http\":{\"y\":2}}}");
    tb__config_t *c = build_ok(a);
    CU_ASSERT_FATAL(c != NULL);
    /* later scalar wins */
    CU_ASSERT_STRING_EQUAL(c->datacenter, "west");
    /* arrays append in order */
    const json_t *rj = path_get(c->merged, "retry_join");
    CU_ASSERT_EQUAL(json_array_size(rj), 2);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(rj, 0)), "10.0.0.1");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(rj, 1)), "10.0.0.2");
    /* objects merge key by key, defaults kept */
    CU_ASSERT_EQUAL(c->port_http, 8501);
    CU_ASSERT_EQUAL(c->port_dns, 8601);
    CU_ASSERT_EQUAL(c->port_serf_lan, 8301);
    CU_ASSERT_STRING_EQUAL(sget(c, "node_meta.a"), "1");
    CU_ASSERT_STRING_EQUAL(sget(c, "node_meta.b"), "2");
    CU_ASSERT_EQUAL(iget(c, "plugin_config.http.x"), 1);
    CU_ASSERT_EQUAL(iget(c, "plugin_config.http.y"), 2);
    const char *o = json_string_value(json_object_get(c->origins, "datacenter"));
    CU_ASSERT(o != NULL && strstr(o, "/b.json") != NULL);
    tb__config_free(c);
    tb__config_args_free(a);
}

static void test_dir_lexical_order(void)
{
    FRESH();
    char *sub;
    CU_ASSERT_FATAL(asprintf(&sub, "%s/conf.d", g_dir) > 0);
    CU_ASSERT_FATAL(mkdir(sub, 0700) == 0);
    /* written out of order on purpose; 10 sorts before 9 lexically */
    free(tu_write(sub, "9-last.json", "{\"node_name\":\"nine\",\"recursors\":[\"9.9.9.9\"]}"));
    free(tu_write(sub, "10-first.json", "{\"node_name\":\"ten\",\"recursors\":[\"1.0.0.1\"]}"));
    free(tu_write(sub, "README", "not json at all"));
    free(tu_write(sub, "x.hcl", "datacenter = \"nope\""));
    free(tu_write(sub, "notes.json.bak", "{broken"));
    char *nested;
    CU_ASSERT_FATAL(asprintf(&nested, "%s/nested", sub) > 0);
    CU_ASSERT_FATAL(mkdir(nested, 0700) == 0);
    free(tu_write(nested, "z.json", "{\"datacenter\":\"nested\"}"));
    free(nested);

    tb__config_args_t *a = args_with(1);
    CU_ASSERT_FATAL(tb__config_args_add_src(a, TB__CFG_DIR, sub) == 0);
    tb__config_t *c = build_ok(a);
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT_STRING_EQUAL(c->node_name, "nine");
    CU_ASSERT_STRING_EQUAL(c->datacenter, "dc1"); /* not recursed, .hcl skipped */
    const json_t *r = path_get(c->merged, "recursors");
    CU_ASSERT_EQUAL(json_array_size(r), 2);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(r, 0)), "1.0.0.1");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(r, 1)), "9.9.9.9");
    tb__config_free(c);
    tb__config_args_free(a);
    free(sub);
}

static void test_sources_in_command_line_order(void)
{
    FRESH();
    char *sub;
    CU_ASSERT_FATAL(asprintf(&sub, "%s/d", g_dir) > 0);
    CU_ASSERT_FATAL(mkdir(sub, 0700) == 0);
    free(tu_write(sub, "a.json", "{\"domain\":\"fromdir.\"}"));
    tb__config_args_t *a = args_with(1);
    CU_ASSERT_FATAL(tb__config_args_add_src(a, TB__CFG_DIR, sub) == 0);
    add_file(a, "file.json", "{\"domain\":\"fromfile.\"}");
    tb__config_t *c = build_ok(a);
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT_STRING_EQUAL(sget(c, "domain"), "fromfile.");
    tb__config_free(c);
    tb__config_args_free(a);
    free(sub);
}

static void test_hcl_refused(void)
{
    FRESH();
    tb__config_args_t *a = args_with(1);
    add_file(a, "agent.hcl", "datacenter = \"dc1\"\n");
    build_fails(a, "agent.hcl", "JSON");
    tb__config_args_free(a);

    a = args_with(1);
    add_file(a, "agent.conf", "{}");
    build_fails(a, "agent.conf", ".json");
    tb__config_args_free(a);
}

static void test_flags_beat_files(void)
{
    FRESH();
    tb__config_args_t *a = args_with(1);
    add_file(a, "a.json",
             "{\"node_name\":\"from-file\",\"ports\":{\"http\":9000,\"dns\":9600},"
             "\"retry_join\":[\"file\"],\"log_level\":\"warn\"}");
    json_object_set_new(a->flags, "node_name", json_string("from-flag"));
    json_t *ports = json_object();
    json_object_set_new(ports, "http", json_integer(9100));
    json_object_set_new(a->flags, "ports", ports);
    json_t *rj = json_array();
    json_array_append_new(rj, json_string("flag"));
    json_object_set_new(a->flags, "retry_join", rj);
    tb__config_t *c = build_ok(a);
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT_STRING_EQUAL(c->node_name, "from-flag");
    CU_ASSERT_EQUAL(c->port_http, 9100);
    CU_ASSERT_EQUAL(c->port_dns, 9600);
    CU_ASSERT_EQUAL(c->log_level, TB_LOG_WARN); /* file beats -dev's DEBUG */
    const json_t *list = path_get(c->merged, "retry_join");
    CU_ASSERT_EQUAL(json_array_size(list), 2);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(list, 1)), "flag");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c->origins, "node_name")),
                           "command line");
    tb__config_free(c);
    /* args are not consumed: a second build (SIGHUP reload) sees the same */
    c = build_ok(a);
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT_EQUAL(json_array_size(path_get(c->merged, "retry_join")), 2);
    tb__config_free(c);
    tb__config_args_free(a);
}

static void test_singular_plural(void)
{
    FRESH();
    tb__config_args_t *a = args_with(1);
    add_file(a, "a.json",
             "{\"service\":{\"name\":\"web\",\"Port\":80,\"check\":{\"ttl\":\"10s\"}},"
             "\"services\":[{\"name\":\"db\"}],"
             "\"check\":{\"id\":\"c1\",\"name\":\"c1\",\"ttl\":\"5s\",\"custom_plugin_key\":1}}");
    add_file(a, "b.json", "{\"checks\":[{\"id\":\"c2\",\"name\":\"c2\",\"tcp\":\"127.0.0.1:1\","
                          "\"interval\":\"10s\"}],\"service\":{\"name\":\"cache\"}}");
    tb__config_t *c = build_ok(a);
    CU_ASSERT_FATAL(c != NULL);
    const json_t *svcs = path_get(c->merged, "services");
    CU_ASSERT_EQUAL(json_array_size(svcs), 3);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(svcs, 0), "name")),
                           "db");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(svcs, 1), "name")),
                           "web");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(svcs, 2), "name")),
                           "cache");
    /* keys inside definitions are kept as written */
    CU_ASSERT_PTR_NOT_NULL(json_object_get(json_array_get(svcs, 1), "Port"));
    CU_ASSERT_PTR_NOT_NULL(json_object_get(json_array_get(svcs, 1), "check"));
    const json_t *checks = path_get(c->merged, "checks");
    CU_ASSERT_EQUAL(json_array_size(checks), 2);
    CU_ASSERT_PTR_NOT_NULL(json_object_get(json_array_get(checks, 0), "custom_plugin_key"));
    CU_ASSERT_PTR_NULL(json_object_get(c->merged, "service"));
    CU_ASSERT_PTR_NULL(json_object_get(c->merged, "check"));
    tb__config_free(c);
    tb__config_args_free(a);
}

/* ------------------------------------------------------------ errors */

static void test_error_unknown_key(void)
{
    FRESH();
    tb__config_args_t *a = args_with(1);
    add_file(a, "bad.json", "{\"datacenter\":\"dc1\",\"foo\":1}");
    build_fails(a, "bad.json: unknown key \"foo\"", NULL);
    tb__config_args_free(a);

    a = args_with(1);
    add_file(a, "bad2.json", "{\"ports\":{\"htp\":1}}");
    build_fails(a, "bad2.json: unknown key \"ports.htp\"", NULL);
    tb__config_args_free(a);

    /* dev_mode is set by -dev only */
    a = args_with(0);
    add_file(a, "bad3.json", "{\"dev_mode\":true}");
    build_fails(a, "bad3.json: unknown key \"dev_mode\"", NULL);
    tb__config_args_free(a);
}

static void test_error_wrong_type(void)
{
    FRESH();
    tb__config_args_t *a = args_with(1);
    add_file(a, "t.json", "{\"ports\":{\"http\":\"8500\"}}");
    build_fails(a, "t.json: ports.http: expected an integer, got string", NULL);
    tb__config_args_free(a);

    a = args_with(1);
    add_file(a, "t2.json", "{\"server\":\"yes\"}");
    build_fails(a, "t2.json: server: expected a boolean, got string", NULL);
    tb__config_args_free(a);

    a = args_with(1);
    add_file(a, "t3.json", "{\"retry_join\":[\"a\", 5]}");
    build_fails(a, "t3.json: retry_join[1]: expected a string, got integer", NULL);
    tb__config_args_free(a);

    a = args_with(1);
    add_file(a, "t4.json", "{\"services\":{\"name\":\"x\"}}");
    build_fails(a, "t4.json: services: expected an array", NULL);
    tb__config_args_free(a);

    a = args_with(1);
    add_file(a, "t5.json", "[1,2]");
    build_fails(a, "t5.json", "object");
    tb__config_args_free(a);

    a = args_with(1);
    add_file(a, "t6.json", "{\"datacenter\": ");
    build_fails(a, "t6.json", "line");
    tb__config_args_free(a);

    /* flags are checked too and blamed on the command line */
    a = args_with(1);
    json_object_set_new(a->flags, "log_level", json_string("loud"));
    build_fails(a, "command line: log_level: invalid value \"loud\"", NULL);
    tb__config_args_free(a);
}

static void test_error_bad_duration(void)
{
    FRESH();
    tb__config_args_t *a = args_with(1);
    add_file(a, "d.json", "{\"session_ttl_min\":\"10\"}");
    build_fails(a, "d.json: session_ttl_min: invalid duration \"10\"", NULL);
    tb__config_args_free(a);

    a = args_with(1);
    add_file(a, "d2.json", "{\"performance\":{\"leave_drain_time\":\"-5s\"}}");
    build_fails(a, "d2.json: performance.leave_drain_time: invalid duration", NULL);
    tb__config_args_free(a);

    a = args_with(1);
    add_file(a, "d3.json", "{\"dns_config\":{\"service_ttl\":{\"*\":\"5x\"}}}");
    build_fails(a, "d3.json: dns_config.service_ttl.*: invalid duration", NULL);
    tb__config_args_free(a);

    a = args_with(1);
    add_file(a, "d4.json", "{\"max_query_time\":600}");
    build_fails(a, "d4.json: max_query_time: expected a duration", "got integer");
    tb__config_args_free(a);
}

static void test_error_bad_port(void)
{
    FRESH();
    tb__config_args_t *a = args_with(1);
    add_file(a, "p.json", "{\"ports\":{\"dns\":70000}}");
    build_fails(a, "p.json: ports.dns: must be between -1 and 65535", "70000");
    tb__config_args_free(a);

    a = args_with(1);
    add_file(a, "p2.json", "{\"ports\":{\"https\":-2}}");
    build_fails(a, "p2.json: ports.https:", NULL);
    tb__config_args_free(a);

    /* -1 disables and is fine */
    a = args_with(1);
    add_file(a, "p3.json", "{\"ports\":{\"dns\":-1}}");
    tb__config_t *c = build_ok(a);
    CU_ASSERT(c != NULL && c->port_dns == -1);
    tb__config_free(c);
    tb__config_args_free(a);
}

static void test_error_values(void)
{
    FRESH();
    tb__config_args_t *a = args_with(1);
    add_file(a, "v.json", "{\"datacenter\":\"DC One\"}");
    build_fails(a, "v.json: datacenter: invalid value", NULL);
    tb__config_args_free(a);

    a = args_with(1);
    add_file(a, "v2.json", "{\"node_name\":\"my node\"}");
    build_fails(a, "v2.json: node_name:", "whitespace");
    tb__config_args_free(a);

    a = args_with(1);
    add_file(a, "v3.json", "{\"log_level\":\"verbose\"}");
    build_fails(a, "v3.json: log_level: invalid value \"verbose\"", NULL);
    tb__config_args_free(a);

    /* accepted log levels, any case */
    a = args_with(1);
    add_file(a, "v4.json", "{\"log_level\":\"TRACE\"}");
    tb__config_t *c = build_ok(a);
    CU_ASSERT(c != NULL && c->log_level == TB_LOG_TRACE);
    tb__config_free(c);
    tb__config_args_free(a);

    a = args_with(1);
    add_file(a, "v5.json", "{\"node_id\":\"not-a-uuid\"}");
    build_fails(a, "v5.json: node_id:", "UUID");
    tb__config_args_free(a);

    a = args_with(1);
    add_file(a, "v6.json", "{\"node_meta\":{\"consul-x\":\"1\"}}");
    build_fails(a, "v6.json: node_meta:", "reserved");
    tb__config_args_free(a);
}

static void test_error_bootstrap(void)
{
    FRESH();
    tb__config_args_t *a = args_with(1);
    add_file(a, "b.json", "{\"bootstrap_expect\":3}");
    build_fails(a, "b.json: bootstrap_expect:", "bootstrap");
    tb__config_args_free(a);

    a = args_with(0);
    add_file(a, "b2.json", "{\"data_dir\":\"/nonexistent/x\",\"bootstrap_expect\":3}");
    build_fails(a, "b2.json: bootstrap_expect: requires server", NULL);
    tb__config_args_free(a);

    a = args_with(0);
    add_file(a, "b3.json", "{\"data_dir\":\"/nonexistent/x\",\"bootstrap\":true}");
    build_fails(a, "b3.json: bootstrap: requires server", NULL);
    tb__config_args_free(a);
}

static void test_accepts_consul_keys(void)
{
    FRESH();
    /* a realistic Consul server config with keys the core ignores today */
    tb__config_args_t *a = args_with(1);
    add_file(a, "consul.json",
             "{\"datacenter\":\"dc1\",\"encrypt\":\"pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=\","
             "\"ui_config\":{\"enabled\":true},\"telemetry\":{\"prometheus_retention_time\":\"24h\","
             "\"disable_hostname\":true},\"acl\":{\"enabled\":true,\"default_policy\":\"deny\","
             "\"tokens\":{\"agent\":\"x\"}},\"performance\":{\"raft_multiplier\":1},"
             "\"tls\":{\"defaults\":{\"verify_incoming\":false}},\"connect\":{\"enabled\":true},"
             "\"limits\":{\"rpc_rate\":100.5,\"kv_max_value_size\":1024},"
             "\"dns_config\":{\"service_ttl\":{\"*\":\"5s\"},\"node_ttl\":\"10s\"},"
             "\"watches\":[{\"type\":\"key\",\"key\":\"x\",\"args\":[\"/bin/true\"]}],"
             "\"disable_update_check\":true,\"leave_on_terminate\":true,"
             "\"plugins\":[\"dns\"],\"plugin_dir\":\"/opt/p\"}");
    tb__config_t *c = build_ok(a);
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT_EQUAL(c->kv_max_value_size, 1024);
    CU_ASSERT_STRING_EQUAL(c->plugin_dir, "/opt/p");
    /* explicitly set: not overridden by the server default */
    CU_ASSERT(json_is_true(path_get(c->merged, "leave_on_terminate")));
    tb__config_free(c);
    tb__config_args_free(a);
}

/* ------------------------------------------------------------ node id */

static void test_node_id_persisted(void)
{
    FRESH();
    char *dd, *text;
    CU_ASSERT_FATAL(asprintf(&dd, "%s/data/sub", g_dir) > 0);
    CU_ASSERT_FATAL(asprintf(&text, "{\"data_dir\":\"%s\"}", dd) > 0);

    tb__config_args_t *a = args_with(0);
    add_file(a, "a.json", text);
    tb__config_t *c1 = build_ok(a);
    CU_ASSERT_FATAL(c1 != NULL);
    CU_ASSERT_EQUAL(strlen(c1->node_id), 36);
    CU_ASSERT_EQUAL(c1->node_id[14], '4'); /* version 4 */

    char *file;
    CU_ASSERT_FATAL(asprintf(&file, "%s/node-id", dd) > 0);
    FILE *f = fopen(file, "r");
    CU_ASSERT_FATAL(f != NULL);
    char buf[64] = "";
    CU_ASSERT(fgets(buf, sizeof(buf), f) != NULL);
    fclose(f);
    CU_ASSERT_STRING_EQUAL(buf, c1->node_id);

    tb__config_t *c2 = build_ok(a);
    CU_ASSERT_FATAL(c2 != NULL);
    CU_ASSERT_STRING_EQUAL(c2->node_id, c1->node_id);
    tb__config_free(c2);

    /* validate never writes: a fresh dir stays untouched */
    char *dd2, *text2;
    CU_ASSERT_FATAL(asprintf(&dd2, "%s/other", g_dir) > 0);
    CU_ASSERT_FATAL(asprintf(&text2, "{\"data_dir\":\"%s\"}", dd2) > 0);
    tb__config_args_t *v = args_with(0);
    v->no_persist = 1;
    add_file(v, "v.json", text2);
    tb__config_t *c3 = build_ok(v);
    CU_ASSERT(c3 != NULL && c3->node_id != NULL);
    struct stat st;
    CU_ASSERT(stat(dd2, &st) != 0);
    tb__config_free(c3);
    tb__config_args_free(v);

    /* a configured node_id wins */
    tb__config_args_t *b = args_with(0);
    add_file(b, "a.json", text);
    json_object_set_new(b->flags, "node_id", json_string("0b6e2f5c-3f1a-4c2e-9d7a-1234567890ab"));
    tb__config_t *c4 = build_ok(b);
    CU_ASSERT(c4 != NULL && strcmp(c4->node_id, "0b6e2f5c-3f1a-4c2e-9d7a-1234567890ab") == 0);
    tb__config_free(c4);
    tb__config_args_free(b);

    /* a corrupt node-id file is reported */
    f = fopen(file, "w");
    fputs("garbage", f);
    fclose(f);
    build_fails(a, "node-id", "UUID");

    tb__config_free(c1);
    tb__config_args_free(a);
    free(file);
    free(dd);
    free(text);
    free(dd2);
    free(text2);
}

/* ------------------------------------------------------------ plugins */

static int list_has(const json_t *l, const char *s)
{
    size_t i;
    json_t *e;
    json_array_foreach(l, i, e) if (strcmp(json_string_value(e), s) == 0) return 1;
    return 0;
}

static void test_plugin_list(void)
{
    FRESH();
    char *dd;
    CU_ASSERT_FATAL(asprintf(&dd, "{\"data_dir\":\"%s/d\",\"plugins\":[\"dns\"]}", g_dir) > 0);
    tb__config_args_t *a = args_with(0);
    add_file(a, "a.json", dd);
    json_t *pl = json_array();
    json_array_append_new(pl, json_string("/x/check_tcp.so"));
    json_object_set_new(a->flags, "plugins", pl);
    tb__config_t *c = build_ok(a);
    CU_ASSERT_FATAL(c != NULL);
    json_t *l = tb__config_plugin_list(c);
    CU_ASSERT_EQUAL(json_array_size(l), 2);
    CU_ASSERT(list_has(l, "dns"));
    CU_ASSERT(list_has(l, "/x/check_tcp.so"));
    CU_ASSERT(!list_has(l, "http")); /* bundled ones only with -dev */
    json_decref(l);
    tb__config_free(c);
    tb__config_args_free(a);

    /* -dev adds every bundled plugin not already listed */
    size_t nb = 0;
    for (const char *q = TB_BUNDLED_PLUGINS; *q;) {
        while (*q == ' ') q++;
        if (*q) nb++;
        while (*q && *q != ' ') q++;
    }
    a = args_with(1);
    add_file(a, "b.json", "{\"plugins\":[\"dns\"]}");
    c = build_ok(a);
    CU_ASSERT_FATAL(c != NULL);
    l = tb__config_plugin_list(c);
    CU_ASSERT(list_has(l, "dns"));
    CU_ASSERT(list_has(l, "http"));
    /* "dns" is bundled too: listed once */
    CU_ASSERT_EQUAL(json_array_size(l), strstr(TB_BUNDLED_PLUGINS, "dns") ? nb : nb + 1);
    json_decref(l);
    tb__config_free(c);
    tb__config_args_free(a);

    /* ... and no duplicate when the bundled one is listed by path */
    a = args_with(1);
    add_file(a, "c.json", "{\"plugins\":[\"/opt/http.so\"]}");
    c = build_ok(a);
    CU_ASSERT_FATAL(c != NULL);
    l = tb__config_plugin_list(c);
    CU_ASSERT_EQUAL(json_array_size(l), nb);
    CU_ASSERT(list_has(l, "/opt/http.so"));
    CU_ASSERT(!list_has(l, "http"));
    json_decref(l);
    tb__config_free(c);
    tb__config_args_free(a);
    free(dd);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("config", setup, teardown);
    CU_add_test(s, "defaults", test_defaults);
    CU_add_test(s, "-dev defaults", test_dev_defaults);
    CU_add_test(s, "data_dir required", test_data_dir_required);
    CU_add_test(s, "merge rules", test_merge_rules);
    CU_add_test(s, "directory lexical order", test_dir_lexical_order);
    CU_add_test(s, "sources in command-line order", test_sources_in_command_line_order);
    CU_add_test(s, ".hcl refused", test_hcl_refused);
    CU_add_test(s, "flags beat files", test_flags_beat_files);
    CU_add_test(s, "singular/plural", test_singular_plural);
    CU_add_test(s, "unknown key", test_error_unknown_key);
    CU_add_test(s, "wrong type", test_error_wrong_type);
    CU_add_test(s, "bad duration", test_error_bad_duration);
    CU_add_test(s, "bad port", test_error_bad_port);
    CU_add_test(s, "bad values", test_error_values);
    CU_add_test(s, "bootstrap rules", test_error_bootstrap);
    CU_add_test(s, "Consul keys accepted", test_accepts_consul_keys);
    CU_add_test(s, "node_id persisted", test_node_id_persisted);
    CU_add_test(s, "plugin list", test_plugin_list);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails == 0 ? 0 : 1;
}
