/*
 * test_endpoint.c - CUnit tests of the endpoint layer against a real
 * in-memory state store and a real libuv loop: callbacks never run inside
 * the call, writes apply with increasing indexes, blocking queries wake on
 * a relevant write only, time out with the same index, can be cancelled,
 * and errors map to the right statuses.
 */
#include "tb_autoconf.h"

#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "endpoint/endpoint.h"
#include "state/state.h"
#include "state/watch.h"

typedef struct got {
    int calls;
    tb_status_t status;
    uint64_t index;
    int applied;
    json_t *json;
    char *value;
    uint64_t at_ms;
} got_t;

static tb__agent_t *ag;

static void got_cb(void *arg, const tb_result_t *r)
{
    got_t *g = arg;
    g->calls++;
    g->status = r->status;
    g->index = r->index;
    g->applied = r->applied;
    json_decref(g->json);
    g->json = r->json ? json_incref(r->json) : NULL;
    free(g->value);
    g->value = NULL;
    if (r->kv_count && r->kv[0].value)
        g->value = strndup(r->kv[0].value, r->kv[0].value_len);
    g->at_ms = uv_now(&ag->loop);
}

static void got_clear(got_t *g)
{
    json_decref(g->json);
    free(g->value);
    memset(g, 0, sizeof *g);
}

/* Run the loop until the counter moves or the time is up. */
static void run_until(int *counter, int want, uint64_t max_ms)
{
    uint64_t end = uv_now(&ag->loop) + max_ms;
    while (*counter < want && uv_now(&ag->loop) < end) {
        uv_run(&ag->loop, UV_RUN_NOWAIT);
        uv_sleep(1);
        uv_update_time(&ag->loop);
    }
}

static tb__config_t *make_config(int server)
{
    tb__config_t *c = calloc(1, sizeof *c);
    c->merged = json_pack("{s:s,s:s}", "datacenter", "dc1", "node_name", "node1");
    c->origins = json_object();
    c->datacenter = "dc1";
    c->node_name = "node1";
    c->node_id = "11111111-2222-3333-4444-555555555555";
    c->advertise_addr = "127.0.0.1";
    c->client_addr = "127.0.0.1";
    c->server = server;
    c->dev = server;
    c->port_server = 8300;
    c->port_serf_lan = 8301;
    c->kv_max_value_size = 524288;
    c->default_query_time_ms = 300000;
    c->max_query_time_ms = 600000;
    c->session_ttl_min_ms = 10000;
    return c;
}

static void agent_up(int server)
{
    ag = calloc(1, sizeof *ag);
    uv_loop_init(&ag->loop);
    ag->config = make_config(server);
    tb__logger_init(&ag->log, TB_LOG_ERROR, 0, stderr);
    ag->watches = tb__watch_reg_new();
    char *err = NULL;
    if (server) CU_ASSERT_FATAL(tb__state_open(&ag->state, ag->watches, &err) == 0);
    ag->endpoint = tb__endpoint_new(ag);
    CU_ASSERT_FATAL(ag->endpoint != NULL);
}

static void agent_down(void)
{
    tb__endpoint_shutdown(ag->endpoint);
    uv_run(&ag->loop, UV_RUN_DEFAULT);
    tb__endpoint_free(ag->endpoint);
    if (ag->state) tb__state_close(ag->state);
    tb__watch_reg_free(ag->watches);
    uv_loop_close(&ag->loop);
    json_decref(ag->config->merged);
    json_decref(ag->config->origins);
    free(ag->config);
    free(ag);
    ag = NULL;
}

static void put(const char *key, const char *val, got_t *g)
{
    tb_kv_write_t w = {sizeof w, TB_KV_SET, key, val, strlen(val), 0, 0, NULL};
    int before = g->calls;
    CU_ASSERT_PTR_NOT_NULL(tb__endpoint_kv_write(ag->endpoint, &w, NULL, got_cb, g));
    CU_ASSERT_EQUAL(g->calls, before); /* never inside the call */
    run_until(&g->calls, before + 1, 2000);
    CU_ASSERT_EQUAL(g->calls, before + 1);
}

static tb_call_t *get_blocking(const char *key, uint64_t index, uint64_t wait_ms, got_t *g)
{
    tb_kv_read_t r = {sizeof r, TB_KV_GET, key, NULL};
    tb_query_opts_t o = {sizeof o, index, wait_ms, TB_CONSISTENCY_DEFAULT, 0, NULL, NULL};
    return tb__endpoint_kv_read(ag->endpoint, &r, &o, got_cb, g);
}

static void test_write_read(void)
{
    agent_up(1);
    got_t w = {0}, r = {0};
    put("a/b", "hello", &w);
    CU_ASSERT_EQUAL(w.status, TB_OK);
    CU_ASSERT_EQUAL(w.applied, 1);
    uint64_t i1 = w.index;
    CU_ASSERT(i1 >= 1);
    put("a/c", "x", &w);
    CU_ASSERT(w.index > i1);
    get_blocking("a/b", 0, 0, &r);
    run_until(&r.calls, 1, 2000);
    CU_ASSERT_EQUAL(r.status, TB_OK);
    CU_ASSERT_STRING_EQUAL(r.value ? r.value : "", "hello");
    CU_ASSERT_EQUAL(r.index, i1);
    got_t m = {0};
    get_blocking("missing", 0, 0, &m);
    run_until(&m.calls, 1, 2000);
    CU_ASSERT_EQUAL(m.status, TB_NOT_FOUND);
    CU_ASSERT(m.index >= 1);
    got_clear(&w), got_clear(&r), got_clear(&m);
    agent_down();
}

static void test_blocking_woken_by_write(void)
{
    agent_up(1);
    got_t w = {0}, b = {0};
    put("k", "v1", &w);
    uint64_t idx = w.index;
    get_blocking("k", idx, 10000, &b);
    run_until(&b.calls, 1, 100);
    CU_ASSERT_EQUAL(b.calls, 0); /* still blocked */
    CU_ASSERT_EQUAL(tb__endpoint_waiting(ag->endpoint), 1);
    uint64_t t0 = uv_now(&ag->loop);
    put("k", "v2", &w);
    run_until(&b.calls, 1, 2000);
    CU_ASSERT_EQUAL(b.calls, 1);
    CU_ASSERT(b.at_ms - t0 < 1000);
    CU_ASSERT(b.index > idx);
    CU_ASSERT_STRING_EQUAL(b.value ? b.value : "", "v2");
    CU_ASSERT_EQUAL(tb__endpoint_waiting(ag->endpoint), 0);
    got_clear(&w), got_clear(&b);
    agent_down();
}

static void test_blocking_not_woken_by_other_key(void)
{
    agent_up(1);
    got_t w = {0}, b = {0};
    put("a", "1", &w);
    uint64_t idx = w.index;
    get_blocking("a", idx, 400, &b);
    put("b", "2", &w); /* another key: the waiter on "a" must stay */
    run_until(&b.calls, 1, 150);
    CU_ASSERT_EQUAL(b.calls, 0);
    /* It times out (400ms + up to 1/16 jitter) with the unchanged index. */
    uint64_t t0 = uv_now(&ag->loop);
    run_until(&b.calls, 1, 3000);
    CU_ASSERT_EQUAL(b.calls, 1);
    CU_ASSERT_EQUAL(b.status, TB_OK);
    CU_ASSERT_EQUAL(b.index, idx);
    CU_ASSERT(uv_now(&ag->loop) - t0 < 1000);
    got_clear(&w), got_clear(&b);
    agent_down();
}

static void test_blocking_prefix_and_cancel(void)
{
    agent_up(1);
    got_t w = {0}, p = {0}, c = {0};
    put("app/x", "1", &w);
    tb_kv_read_t r = {sizeof r, TB_KV_RECURSE, "app/", NULL};
    tb_query_opts_t o = {sizeof o, w.index, 10000, TB_CONSISTENCY_DEFAULT, 0, NULL, NULL};
    tb__endpoint_kv_read(ag->endpoint, &r, &o, got_cb, &p);
    tb_call_t *cc = get_blocking("app/x", w.index, 10000, &c);
    run_until(&p.calls, 1, 100);
    CU_ASSERT_EQUAL(tb__endpoint_waiting(ag->endpoint), 2);
    tb__endpoint_cancel(cc);
    CU_ASSERT_EQUAL(tb__endpoint_waiting(ag->endpoint), 1);
    put("app/y", "2", &w); /* under the prefix */
    run_until(&p.calls, 1, 2000);
    CU_ASSERT_EQUAL(p.calls, 1);
    CU_ASSERT_EQUAL(c.calls, 0); /* cancelled: never called */
    got_clear(&w), got_clear(&p), got_clear(&c);
    agent_down();
}

static void test_catalog_and_errors(void)
{
    agent_up(1);
    got_t g = {0};
    json_t *reg = json_loads("{\"node\":\"n1\",\"address\":\"127.0.0.2\","
                             "\"service\":{\"service\":\"web\",\"port\":80,\"tags\":[\"v1\"]},"
                             "\"check\":{\"name\":\"c\",\"status\":\"passing\",\"serviceid\":\"web\"}}",
                             0, NULL);
    tb__endpoint_call(ag->endpoint, "Catalog.Register", reg, NULL, got_cb, &g);
    json_decref(reg);
    run_until(&g.calls, 1, 2000);
    CU_ASSERT_EQUAL(g.status, TB_OK);
    CU_ASSERT(json_is_true(g.json));

    json_t *q = json_pack("{s:s,s:b}", "ServiceName", "web", "PassingOnly", 1);
    tb__endpoint_call(ag->endpoint, "Health.ServiceNodes", q, NULL, got_cb, &g);
    json_decref(q);
    run_until(&g.calls, 2, 2000);
    CU_ASSERT_EQUAL(g.status, TB_OK);
    CU_ASSERT_EQUAL(json_array_size(g.json), 1);

    /* A register without a node is a 400 and changes nothing. */
    json_t *bad = json_pack("{s:s}", "Address", "1.2.3.4");
    tb__endpoint_call(ag->endpoint, "Catalog.Register", bad, NULL, got_cb, &g);
    json_decref(bad);
    run_until(&g.calls, 3, 2000);
    CU_ASSERT_EQUAL(g.status, TB_BAD_REQUEST);

    tb__endpoint_call(ag->endpoint, "No.Such", NULL, NULL, got_cb, &g);
    run_until(&g.calls, 4, 2000);
    CU_ASSERT_EQUAL(g.status, TB_BAD_REQUEST);

    tb_query_opts_t o = {sizeof o, 0, 0, TB_CONSISTENCY_DEFAULT, 0, NULL, "dc9"};
    tb__endpoint_call(ag->endpoint, "Catalog.ListNodes", NULL, &o, got_cb, &g);
    run_until(&g.calls, 5, 2000);
    CU_ASSERT_EQUAL(g.status, TB_NO_PATH);

    /* Oversized value: 413, nothing written. */
    size_t big = ag->config->kv_max_value_size + 1;
    char *v = calloc(1, big);
    tb_kv_write_t w = {sizeof w, TB_KV_SET, "big", v, big, 0, 0, NULL};
    tb__endpoint_kv_write(ag->endpoint, &w, NULL, got_cb, &g);
    run_until(&g.calls, 6, 2000);
    CU_ASSERT_EQUAL(g.status, TB_TOO_LARGE);
    free(v);
    got_t r = {0};
    get_blocking("big", 0, 0, &r);
    run_until(&r.calls, 1, 2000);
    CU_ASSERT_EQUAL(r.status, TB_NOT_FOUND);
    got_clear(&g), got_clear(&r);
    agent_down();
}

static void test_session_lock(void)
{
    agent_up(1);
    got_t g = {0};
    json_t *reg = json_pack("{s:s,s:s}", "Node", "node1", "Address", "127.0.0.1");
    tb__endpoint_call(ag->endpoint, "Catalog.Register", reg, NULL, got_cb, &g);
    json_decref(reg);
    run_until(&g.calls, 1, 2000);
    json_t *sargs = json_pack("{s:s}", "LockDelay", "0s");
    tb__endpoint_call(ag->endpoint, "Session.Create", sargs, NULL, got_cb, &g);
    json_decref(sargs);
    run_until(&g.calls, 2, 2000);
    CU_ASSERT_EQUAL_FATAL(g.status, TB_OK);
    char *sid = strdup(json_string_value(json_object_get(g.json, "ID")));
    CU_ASSERT_EQUAL(strlen(sid), 36);
    tb_kv_write_t w = {sizeof w, TB_KV_LOCK, "lock", "me", 2, 0, 0, sid};
    tb__endpoint_kv_write(ag->endpoint, &w, NULL, got_cb, &g);
    run_until(&g.calls, 3, 2000);
    CU_ASSERT_EQUAL(g.applied, 1);
    tb_kv_write_t w2 = {sizeof w2, TB_KV_LOCK, "lock", "other", 5, 0, 0, "nope"};
    tb__endpoint_kv_write(ag->endpoint, &w2, NULL, got_cb, &g);
    run_until(&g.calls, 4, 2000);
    CU_ASSERT(g.status != TB_OK || g.applied == 0);
    json_t *d = json_pack("{s:s}", "ID", sid);
    tb__endpoint_call(ag->endpoint, "Session.Renew", d, NULL, got_cb, &g);
    run_until(&g.calls, 5, 2000);
    CU_ASSERT_EQUAL(g.status, TB_OK);
    tb__endpoint_call(ag->endpoint, "Session.Destroy", d, NULL, got_cb, &g);
    run_until(&g.calls, 6, 2000);
    CU_ASSERT_EQUAL(g.status, TB_OK);
    tb__endpoint_call(ag->endpoint, "Session.Renew", d, NULL, got_cb, &g);
    run_until(&g.calls, 7, 2000);
    CU_ASSERT_EQUAL(g.status, TB_NOT_FOUND);
    json_decref(d);
    free(sid);
    got_clear(&g);
    agent_down();
}

static void test_client_without_server(void)
{
    agent_up(0);
    got_t g = {0};
    tb__endpoint_call(ag->endpoint, "Catalog.ListNodes", NULL, NULL, got_cb, &g);
    run_until(&g.calls, 1, 2000);
    CU_ASSERT_EQUAL(g.status, TB_NO_LEADER);
    tb__endpoint_call(ag->endpoint, "Agent.Self", NULL, NULL, got_cb, &g);
    run_until(&g.calls, 2, 2000);
    CU_ASSERT_EQUAL(g.status, TB_OK);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(g.json, "Config"),
                                                             "NodeName")),
                           "node1");
    got_clear(&g);
    agent_down();
}

static void test_shutdown_answers_waiters(void)
{
    agent_up(1);
    got_t w = {0}, b = {0};
    put("s", "1", &w);
    get_blocking("s", w.index, 60000, &b);
    run_until(&b.calls, 1, 50);
    CU_ASSERT_EQUAL(b.calls, 0);
    tb__endpoint_shutdown(ag->endpoint);
    CU_ASSERT_EQUAL(b.calls, 1);
    CU_ASSERT_EQUAL(b.status, TB_UNAVAILABLE);
    got_clear(&w), got_clear(&b);
    agent_down();
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("endpoint", NULL, NULL);
    CU_add_test(s, "write then read", test_write_read);
    CU_add_test(s, "blocking query woken by a write", test_blocking_woken_by_write);
    CU_add_test(s, "blocking query not woken by another key", test_blocking_not_woken_by_other_key);
    CU_add_test(s, "prefix waiter and cancel", test_blocking_prefix_and_cancel);
    CU_add_test(s, "catalog, health and errors", test_catalog_and_errors);
    CU_add_test(s, "sessions and locks", test_session_lock);
    CU_add_test(s, "client without server", test_client_without_server);
    CU_add_test(s, "shutdown answers waiters", test_shutdown_answers_waiters);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
