/*
 * node_unit.c - CUnit tests of the Raft node glue: the frame and hello
 * parser (frame.c) on split, joined, oversized, corrupt and malformed
 * input; and a real single-server node (-bootstrap) in one loop with its
 * data_dir on disk: writes through the endpoint complete once applied,
 * snapshots are taken and the log compacted, and a restart recovers the
 * state store from the snapshot plus the log.
 */
#define _GNU_SOURCE
#include "tb_autoconf.h"

#include <CUnit/Basic.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "endpoint/endpoint.h"
#include "raft/le.h"
#include "raft/node_int.h"
#include "state/state.h"
#include "state/watch.h"

/* ------------------------------------------------------------ frames */

typedef struct {
    int n;
    size_t lens[8];
    int refuse_at;
} frames_t;

static int on_frame(void *ctx, const uint8_t *p, size_t len)
{
    frames_t *f = ctx;
    (void)p;
    if (f->n < 8) f->lens[f->n] = len;
    f->n++;
    return f->n == f->refuse_at ? -1 : 0;
}

static size_t mk_frame(uint8_t *buf, const char *payload)
{
    size_t l = strlen(payload);
    memcpy(buf + TB__RF_HDR, payload, l);
    tb__rf_header(buf, buf + TB__RF_HDR, l);
    return TB__RF_HDR + l;
}

static void test_frames(void)
{
    uint8_t buf[256];
    char err[128];
    size_t a = mk_frame(buf, "hello");
    size_t b = mk_frame(buf + a, "");
    size_t c = mk_frame(buf + a + b, "third frame");
    frames_t f = {0};
    tb__rf_rx_t rx = {0};
    /* byte by byte */
    for (size_t i = 0; i < a + b + c; i++)
        CU_ASSERT_EQUAL(tb__rf_feed(&rx, buf + i, 1, on_frame, &f, err, sizeof err), 0);
    CU_ASSERT_EQUAL(f.n, 3);
    CU_ASSERT_EQUAL(f.lens[0], 5);
    CU_ASSERT_EQUAL(f.lens[1], 0);
    CU_ASSERT_EQUAL(f.lens[2], 11);
    CU_ASSERT_EQUAL(rx.len, 0);
    /* all at once */
    memset(&f, 0, sizeof f);
    CU_ASSERT_EQUAL(tb__rf_feed(&rx, buf, a + b + c, on_frame, &f, err, sizeof err), 0);
    CU_ASSERT_EQUAL(f.n, 3);
    /* the callback refusing a frame stops the stream */
    memset(&f, 0, sizeof f);
    f.refuse_at = 2;
    CU_ASSERT_EQUAL(tb__rf_feed(&rx, buf, a + b + c, on_frame, &f, err, sizeof err), -1);
    CU_ASSERT_EQUAL(f.n, 2);
    tb__rf_rx_free(&rx);
    /* a flipped payload byte fails the checksum */
    memset(&f, 0, sizeof f);
    buf[TB__RF_HDR + 1] ^= 1;
    CU_ASSERT_EQUAL(tb__rf_feed(&rx, buf, a, on_frame, &f, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "checksum"));
    CU_ASSERT_EQUAL(f.n, 0);
    tb__rf_rx_free(&rx);
    /* a length past the limit is refused before any allocation */
    put32(buf, TB_RAFT_MAX_FRAME + 1);
    CU_ASSERT_EQUAL(tb__rf_feed(&rx, buf, TB__RF_HDR, on_frame, &f, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "exceeds"));
    tb__rf_rx_free(&rx);
}

static void test_hello(void)
{
    tb__rf_hello_t h, g;
    char err[128];
    memset(&h, 0, sizeof h);
    h.version = TB__RF_VERSION;
    strcpy(h.node_id, "0123abcd-4567-89ab-cdef-0123456789ab");
    strcpy(h.name, "s1");
    strcpy(h.addr, "127.0.2.1:8300");
    strcpy(h.dc, "dc1");
    h.expect = 3;
    h.has_state = 1;
    h.n_servers = 1;
    strcpy(h.servers[0].node_id, "ffffffff-0000-0000-0000-000000000001");
    strcpy(h.servers[0].name, "s2");
    strcpy(h.servers[0].addr, "127.0.2.2:8300");
    h.servers[0].expect = 3;
    size_t len = 0;
    uint8_t *f = tb__rf_hello_frame(&h, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(get32(f), len - TB__RF_HDR);
    CU_ASSERT_EQUAL(tb__rf_hello_decode(f + TB__RF_HDR, len - TB__RF_HDR, &g, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(g.node_id, h.node_id);
    CU_ASSERT_STRING_EQUAL(g.addr, h.addr);
    CU_ASSERT_EQUAL(g.expect, 3);
    CU_ASSERT_EQUAL(g.has_state, 1);
    CU_ASSERT_EQUAL(g.n_servers, 1);
    CU_ASSERT_STRING_EQUAL(g.servers[0].name, "s2");
    free(f);
    CU_ASSERT_EQUAL(tb__rf_id_of(h.node_id), 0x0123abcd456789abULL);
    CU_ASSERT_EQUAL(tb__rf_id_of("0123abcd-4567-89ab-cdef-0123456789a"), 0);
    CU_ASSERT_EQUAL(tb__rf_id_of("0123abcd_4567-89ab-cdef-0123456789ab"), 0);
    CU_ASSERT_EQUAL(tb__rf_id_of("0123abcd-4567-89ab-cdef-0123456789ag"), 0);
    static const char *bad[] = {
        "",
        "[]",
        "{\"Version\":2,\"ID\":\"0123abcd-4567-89ab-cdef-0123456789ab\",\"Address\":\"a:1\"}",
        "{\"Version\":1,\"ID\":\"not-a-uuid\",\"Address\":\"a:1\"}",
        "{\"Version\":1,\"ID\":\"0123abcd-4567-89ab-cdef-0123456789ab\"}",
        "{\"Version\":1,\"ID\":\"0123abcd-4567-89ab-cdef-0123456789ab\",\"Address\":7}",
        "{\"Version\":1,\"ID\":\"0123abcd-4567-89ab-cdef-0123456789ab\",\"Address\":\"a:1\","
        "\"Expect\":-1}",
        "{\"Version\":1,\"ID\":\"0123abcd-4567-89ab-cdef-0123456789ab\",\"Address\":\"a:1\","
        "\"Servers\":[{\"ID\":\"x\",\"Address\":\"b:1\"}]}",
        "{\"Version\":1,\"Version\":1,\"ID\":\"0123abcd-4567-89ab-cdef-0123456789ab\","
        "\"Address\":\"a:1\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CU_ASSERT_EQUAL(tb__rf_hello_decode((const uint8_t *)bad[i], strlen(bad[i]), &g, err,
                                            sizeof err),
                        -1);
}

/* ------------------------------------------------------------ one node */

static tb__agent_t *ag;
static char dir[256];

typedef struct {
    int calls, ok;
    uint64_t last_index;
    int monotonic;
} puts_t;

static void put_cb(void *arg, const tb_result_t *r)
{
    puts_t *p = arg;
    p->calls++;
    if (r->status == TB_OK && r->applied) p->ok++;
    if (r->index <= p->last_index) p->monotonic = 0;
    p->last_index = r->index;
}

static int leader_now(void *x)
{
    (void)x;
    return tb__raftnode_is_leader(ag->raft);
}

static void run_until(int (*done)(void *), void *arg, uint64_t max_ms)
{
    uint64_t end = uv_now(&ag->loop) + max_ms;
    while (!done(arg) && uv_now(&ag->loop) < end) {
        uv_run(&ag->loop, UV_RUN_NOWAIT);
        uv_sleep(1);
        uv_update_time(&ag->loop);
    }
}

/* expect 0: -bootstrap; otherwise bootstrap_expect = expect.
 * interval: raft_snapshot_interval. */
static void node_up_cfg(int expect, const char *interval)
{
    ag = calloc(1, sizeof *ag);
    uv_loop_init(&ag->loop);
    tb__config_t *c = calloc(1, sizeof *c);
    c->merged = json_pack("{s:s,s:s,s:{s:i},s:i,s:s,s:i,s:[],s:[]}", "datacenter", "dc1",
                          "node_name", "n1", "performance", "raft_multiplier", 1,
                          "raft_snapshot_threshold", 20, "raft_snapshot_interval", interval,
                          "raft_trailing_logs", 5, "retry_join", "start_join");
    c->origins = json_object();
    c->datacenter = "dc1";
    c->node_name = "n1";
    c->node_id = "0badc0de-0000-4000-8000-000000000001";
    c->data_dir = dir;
    c->advertise_addr = "127.0.2.10";
    c->client_addr = "127.0.2.10";
    c->server = 1;
    c->bootstrap = expect == 0;
    c->bootstrap_expect = expect;
    c->port_server = 19310;
    c->kv_max_value_size = 524288;
    c->default_query_time_ms = 300000;
    c->max_query_time_ms = 600000;
    c->session_ttl_min_ms = 10000;
    ag->config = c;
    tb__logger_init(&ag->log, TB_LOG_ERROR, 0, stderr);
    ag->watches = tb__watch_reg_new();
    char *err = NULL;
    CU_ASSERT_FATAL(tb__state_open(&ag->state, ag->watches, &err) == 0);
    ag->endpoint = tb__endpoint_new(ag);
    CU_ASSERT_FATAL(ag->endpoint != NULL);
    ag->raft = tb__raftnode_start(ag, &err);
    if (!ag->raft) fprintf(stderr, "node: %s\n", err);
    CU_ASSERT_FATAL(ag->raft != NULL);
}

static void node_up(void) { node_up_cfg(0, "30ms"); }

static void node_down(void)
{
    tb__endpoint_shutdown(ag->endpoint);
    tb__raftnode_stop(ag->raft);
    uv_run(&ag->loop, UV_RUN_DEFAULT);
    tb__raftnode_free(ag->raft);
    tb__endpoint_free(ag->endpoint);
    tb__state_close(ag->state);
    tb__watch_reg_free(ag->watches);
    CU_ASSERT_EQUAL(uv_loop_close(&ag->loop), 0);
    json_decref(ag->config->merged);
    json_decref(ag->config->origins);
    free(ag->config);
    free(ag);
    ag = NULL;
}

static int count_files(const char *prefix)
{
    char path[300];
    snprintf(path, sizeof path, "%s/raft", dir);
    DIR *d = opendir(path);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) n++;
    if (d) closedir(d);
    return n;
}

static int has_snapshot(void *x)
{
    (void)x;
    return count_files("snap-") >= 1;
}

static int puts_done(void *x)
{
    puts_t *p = x;
    return p->calls >= 60;
}

static int applied_at_least(void *x)
{
    return tb__raftnode_applied_index(ag->raft) >= *(uint64_t *)x;
}

static void test_single_node(void)
{
    snprintf(dir, sizeof dir, "/tmp/tb-raftnode-%d", (int)getpid());
    CU_ASSERT_FATAL(mkdir(dir, 0700) == 0);
    node_up();
    /* a lone voter leads at once, without an election timeout */
    CU_ASSERT(tb__raftnode_is_leader(ag->raft));
    CU_ASSERT_FATAL(tb__raftnode_is_leader(ag->raft));
    /* 60 writes in one loop turn: group commit, each completes when applied */
    puts_t p = {0, 0, 0, 1};
    for (int i = 0; i < 60; i++) {
        char key[32], val[32];
        snprintf(key, sizeof key, "k/%02d", i);
        snprintf(val, sizeof val, "v%d", i);
        tb_kv_write_t w = {sizeof w, TB_KV_SET, key, val, strlen(val), 0, 0, NULL};
        CU_ASSERT_PTR_NOT_NULL(tb__endpoint_kv_write(ag->endpoint, &w, NULL, put_cb, &p));
    }
    CU_ASSERT_EQUAL(p.calls, 0);
    run_until(puts_done, &p, 5000);
    CU_ASSERT_EQUAL(p.calls, 60);
    CU_ASSERT_EQUAL(p.ok, 60);
    CU_ASSERT(p.monotonic);
    uint64_t last = p.last_index;
    CU_ASSERT_EQUAL(tb__state_last_index(ag->state), last);
    /* the threshold (20) asked for snapshots; they reach the disk with the
     * next batch */
    run_until(has_snapshot, NULL, 2000);
    CU_ASSERT(count_files("snap-") >= 1);
    json_t *conf = tb__raftnode_configuration(ag->raft);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(conf, "Servers")), 1);
    CU_ASSERT(json_is_true(json_object_get(json_array_get(json_object_get(conf, "Servers"), 0),
                                           "Leader")));
    json_decref(conf);
    node_down();

    /* restart: snapshot + log tail give back every key */
    node_up();
    run_until(leader_now, NULL, 3000);
    CU_ASSERT_FATAL(tb__raftnode_is_leader(ag->raft));
    run_until(applied_at_least, &last, 2000);
    CU_ASSERT(tb__state_last_index(ag->state) >= last);
    tb__kv_rows_t rows;
    uint64_t idx = 0;
    memset(&rows, 0, sizeof rows);
    CU_ASSERT_EQUAL(tb__state_kv_list(ag->state, "k/", &rows, &idx), 0);
    CU_ASSERT_EQUAL(rows.n, 60);
    if (rows.n == 60) CU_ASSERT_NSTRING_EQUAL(rows.v[59].value, "v59", 3);
    tb__kv_rows_free(&rows);
    /* a stopped node refuses writes at once */
    tb__raftnode_stop(ag->raft);
    CU_ASSERT_EQUAL(tb__raftnode_apply(ag->raft, "x", 1, NULL, NULL), TB_UNAVAILABLE);
    node_down();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CU_ASSERT_EQUAL(system(cmd), 0);
}

static int conf_size_is(void *x)
{
    return tb__raft_conf(ag->raft->r)->n == *(uint32_t *)x;
}

/* bootstrap_expect 2 with three servers known (itself and two seen by
 * discovery, all expecting 2): at least the expected number bootstraps,
 * as Consul does, with every one of them in the first configuration. */
static void test_bootstrap_expect_more(void)
{
    snprintf(dir, sizeof dir, "/tmp/tb-raftnode-x-%d", (int)getpid());
    CU_ASSERT_FATAL(mkdir(dir, 0700) == 0);
    node_up_cfg(2, "30ms");
    uint32_t want = 3;
    run_until(conf_size_is, &want, 300);
    CU_ASSERT_EQUAL(tb__raft_conf(ag->raft->r)->n, 0); /* alone: waits */
    tb__raftnode_server_seen(ag->raft, "21badc0d-0000-4000-8000-000000000021", "n21",
                             "127.0.2.21:19311", 2);
    tb__raftnode_server_seen(ag->raft, "22badc0d-0000-4000-8000-000000000022", "n22",
                             "127.0.2.22:19311", 2);
    run_until(conf_size_is, &want, 3000);
    CU_ASSERT_EQUAL(tb__raft_conf(ag->raft->r)->n, 3);
    json_t *peers = tb__raftnode_peers(ag->raft);
    CU_ASSERT_EQUAL(json_array_size(peers), 3);
    json_decref(peers);
    node_down();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CU_ASSERT_EQUAL(system(cmd), 0);
}

/* raft_snapshot_interval: past the threshold, the snapshot still waits for
 * the interval's check (a long one here: none within a second). */
static void test_snapshot_interval(void)
{
    snprintf(dir, sizeof dir, "/tmp/tb-raftnode-i-%d", (int)getpid());
    CU_ASSERT_FATAL(mkdir(dir, 0700) == 0);
    node_up_cfg(0, "1h");
    CU_ASSERT_FATAL(tb__raftnode_is_leader(ag->raft));
    puts_t p = {0, 0, 0, 1};
    for (int i = 0; i < 60; i++) {
        tb_kv_write_t w = {sizeof w, TB_KV_SET, "k", "v", 1, 0, 0, NULL};
        CU_ASSERT_PTR_NOT_NULL(tb__endpoint_kv_write(ag->endpoint, &w, NULL, put_cb, &p));
    }
    run_until(puts_done, &p, 5000);
    CU_ASSERT_EQUAL(p.ok, 60);
    run_until(has_snapshot, NULL, 1000);
    CU_ASSERT_EQUAL(count_files("snap-"), 0);
    node_down();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CU_ASSERT_EQUAL(system(cmd), 0);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("raft-node", NULL, NULL);
    CU_add_test(s, "frames", test_frames);
    CU_add_test(s, "hello", test_hello);
    CU_add_test(s, "single node", test_single_node);
    CU_add_test(s, "bootstrap_expect with more servers", test_bootstrap_expect_more);
    CU_add_test(s, "snapshot interval", test_snapshot_interval);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned f = CU_get_number_of_failures();
    CU_cleanup_registry();
    return f ? 1 : 0;
}
