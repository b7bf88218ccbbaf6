/*
 * test_session.c - unit tests of the session area (session.c): create and
 * its refusals (node, checks, critical checks, behavior), default
 * NodeChecks, destroy, invalidation when a listed check goes critical or
 * away or the node is deregistered, the JSON shape, reads and the TTL list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static tb_status_t sess(tb__state_t *st, const char *json, char **err)
{
    return th_json(st, TB__CMD_SESSION, json, 0, err);
}

static tb_status_t reg(tb__state_t *st, const char *json)
{
    return th_json(st, TB__CMD_REGISTER, json, 0, NULL);
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

static size_t count_sessions(tb__state_t *st)
{
    uint64_t idx;
    json_t *l = tb__state_session_list(st, &idx);
    size_t n = json_array_size(l);
    json_decref(l);
    return n;
}

static void test_create_and_shape(void)
{
    tb__state_t *st = th_open(NULL);
    CU_ASSERT_EQUAL(reg(st, "{\"Node\":\"n1\",\"Address\":\"127.0.0.1\"}"), TB_OK); /* 1 */

    /* the result carries the ID */
    json_t *body = th_j("{\"Op\":\"create\",\"Session\":{\"ID\":\"aaaa\",\"Node\":\"n1\","
                        "\"Name\":\"lock\",\"LockDelay\":15000000000,\"TTL\":\"30s\"}}");
    tb__buf_t b;
    CU_ASSERT_EQUAL_FATAL(tb__cmd_encode_json(TB__CMD_SESSION, body, 0, &b), 0);
    json_decref(body);
    tb__apply_result_t res;
    CU_ASSERT_EQUAL(tb__fsm_apply(st, 2, b.data, b.len, &res), 0);
    tb__buf_free(&b);
    CU_ASSERT_EQUAL(res.status, TB_OK);
    CU_ASSERT_EQUAL(res.applied, 1);
    CU_ASSERT(json_is(res.json, "{\"ID\":\"aaaa\"}"));
    tb__apply_result_clear(&res);

    uint64_t idx;
    json_t *got = tb__state_session_get(st, "aaaa", &idx);
    CU_ASSERT_EQUAL(idx, 2);
    /* no serfHealth on the node: default NodeChecks is [] */
    CU_ASSERT(json_is(got, "[{\"ID\":\"aaaa\",\"Name\":\"lock\",\"Node\":\"n1\","
                           "\"LockDelay\":15000000000,\"Behavior\":\"release\",\"TTL\":\"30s\","
                           "\"Checks\":[],\"NodeChecks\":[],\"ServiceChecks\":null,"
                           "\"CreateIndex\":2,\"ModifyIndex\":2}]"));
    json_decref(got);
    got = tb__state_session_get(st, "nope", &idx);
    CU_ASSERT(json_is(got, "[]"));
    CU_ASSERT_EQUAL(idx, 2);
    json_decref(got);

    /* with serfHealth registered it becomes the default */
    CU_ASSERT_EQUAL(reg(st, "{\"Node\":\"n1\",\"Address\":\"127.0.0.1\",\"Check\":{"
                            "\"CheckID\":\"serfHealth\",\"Status\":\"passing\"}}"),
                    TB_OK); /* 3 */
    CU_ASSERT_EQUAL(sess(st, "{\"Op\":\"create\",\"Session\":{\"ID\":\"bbbb\",\"Node\":\"n1\","
                             "\"Behavior\":\"delete\"}}", NULL),
                    TB_OK); /* 4 */
    got = tb__state_session_get(st, "bbbb", &idx);
    CU_ASSERT(json_is(json_object_get(json_array_get(got, 0), "NodeChecks"), "[\"serfHealth\"]"));
    CU_ASSERT(json_is(json_object_get(json_array_get(got, 0), "Checks"), "[\"serfHealth\"]"));
    CU_ASSERT(json_is(json_object_get(json_array_get(got, 0), "Behavior"), "\"delete\""));
    json_decref(got);
    /* explicit empty list: no checks */
    CU_ASSERT_EQUAL(sess(st, "{\"Op\":\"create\",\"Session\":{\"ID\":\"cccc\",\"Node\":\"n1\","
                             "\"NodeChecks\":[]}}", NULL),
                    TB_OK); /* 5 */
    /* legacy Checks, and ServiceChecks */
    CU_ASSERT_EQUAL(reg(st, "{\"Node\":\"n1\",\"Address\":\"127.0.0.1\",\"Service\":{"
                            "\"Service\":\"web\"},\"Check\":{\"CheckID\":\"webchk\","
                            "\"Status\":\"passing\",\"ServiceID\":\"web\"}}"),
                    TB_OK); /* 6 */
    CU_ASSERT_EQUAL(sess(st, "{\"Op\":\"create\",\"Session\":{\"ID\":\"dddd\",\"Node\":\"n1\","
                             "\"Checks\":[\"serfHealth\"],\"ServiceChecks\":[{\"ID\":\"webchk\","
                             "\"Namespace\":\"\"}]}}", NULL),
                    TB_OK); /* 7 */
    got = tb__state_session_get(st, "dddd", &idx);
    CU_ASSERT(json_is(json_object_get(json_array_get(got, 0), "ServiceChecks"),
                      "[{\"ID\":\"webchk\",\"Namespace\":\"\"}]"));
    json_decref(got);

    /* reads */
    got = tb__state_session_list(st, &idx);
    CU_ASSERT_EQUAL(json_array_size(got), 4);
    CU_ASSERT(json_is(json_object_get(json_array_get(got, 0), "ID"), "\"aaaa\""));
    CU_ASSERT_EQUAL(idx, 7);
    json_decref(got);
    got = tb__state_node_sessions(st, "n1", &idx);
    CU_ASSERT_EQUAL(json_array_size(got), 4);
    json_decref(got);
    got = tb__state_node_sessions(st, "n2", &idx);
    CU_ASSERT(json_is(got, "[]"));
    json_decref(got);
    got = tb__state_session_ttls(st);
    CU_ASSERT(json_is(got, "[{\"ID\":\"aaaa\",\"TTL\":\"30s\"}]"));
    json_decref(got);
    tb__state_close(st);
}

static void test_create_refusals(void)
{
    tb__state_t *st = th_open(NULL);
    char *err = NULL;
    CU_ASSERT_EQUAL(sess(st, "{\"Op\":\"create\",\"Session\":{\"ID\":\"x\",\"Node\":\"n1\"}}", &err),
                    TB_BAD_REQUEST);
    CU_ASSERT_STRING_EQUAL(err, "Missing node registration");
    free(err);
    CU_ASSERT_EQUAL(reg(st, "{\"Node\":\"n1\",\"Address\":\"127.0.0.1\",\"Checks\":["
                            "{\"CheckID\":\"bad\",\"Status\":\"critical\"},"
                            "{\"CheckID\":\"ok\",\"Status\":\"passing\"}]}"),
                    TB_OK);
    CU_ASSERT_EQUAL(sess(st, "{\"Op\":\"create\",\"Session\":{\"ID\":\"x\",\"Node\":\"n1\","
                             "\"NodeChecks\":[\"ok\",\"missing\"]}}", &err),
                    TB_BAD_REQUEST);
    CU_ASSERT_STRING_EQUAL(err, "Missing check 'missing' registration");
    free(err);
    CU_ASSERT_EQUAL(sess(st, "{\"Op\":\"create\",\"Session\":{\"ID\":\"x\",\"Node\":\"n1\","
                             "\"NodeChecks\":[\"bad\"]}}", &err),
                    TB_BAD_REQUEST);
    CU_ASSERT_STRING_EQUAL(err, "Check 'bad' is in critical state");
    free(err);
    CU_ASSERT_EQUAL(sess(st, "{\"Op\":\"create\",\"Session\":{\"ID\":\"x\",\"Node\":\"n1\","
                             "\"ServiceChecks\":[{\"ID\":\"bad\"}]}}", NULL),
                    TB_BAD_REQUEST);
    CU_ASSERT_EQUAL(sess(st, "{\"Op\":\"create\",\"Session\":{\"ID\":\"x\",\"Node\":\"n1\","
                             "\"Behavior\":\"explode\"}}", NULL),
                    TB_BAD_REQUEST);
    CU_ASSERT_EQUAL(sess(st, "{\"Op\":\"create\",\"Session\":{\"Node\":\"n1\"}}", NULL),
                    TB_BAD_REQUEST);
    CU_ASSERT_EQUAL(sess(st, "{\"Op\":\"renew\",\"Session\":{\"ID\":\"x\"}}", NULL),
                    TB_BAD_REQUEST);
    CU_ASSERT_EQUAL(sess(st, "{\"Op\":\"create\"}", NULL), TB_BAD_REQUEST);
    CU_ASSERT_EQUAL(count_sessions(st), 0);
    /* duplicate ID */
    CU_ASSERT_EQUAL(sess(st, "{\"Op\":\"create\",\"Session\":{\"ID\":\"x\",\"Node\":\"n1\"}}", NULL),
                    TB_OK);
    CU_ASSERT_EQUAL(sess(st, "{\"Op\":\"create\",\"Session\":{\"ID\":\"x\",\"Node\":\"n1\"}}", NULL),
                    TB_BAD_REQUEST);
    CU_ASSERT_EQUAL(count_sessions(st), 1);
    /* destroy unknown: success, nothing happens; destroy known */
    CU_ASSERT_EQUAL(sess(st, "{\"Op\":\"destroy\",\"Session\":{\"ID\":\"zzz\"}}", NULL), TB_OK);
    CU_ASSERT_EQUAL(count_sessions(st), 1);
    CU_ASSERT_EQUAL(sess(st, "{\"Op\":\"destroy\",\"Session\":{\"ID\":\"x\"}}", NULL), TB_OK);
    CU_ASSERT_EQUAL(count_sessions(st), 0);
    uint64_t idx;
    json_t *l = tb__state_session_list(st, &idx);
    CU_ASSERT_EQUAL(idx, tb__state_last_index(st)); /* the delete moved the index */
    json_decref(l);
    tb__state_close(st);
}

static void test_invalidation(void)
{
    tb__watch_reg_t *wr = tb__watch_reg_new();
    tb__state_t *st = th_open(wr);
    CU_ASSERT_EQUAL(reg(st, "{\"Node\":\"n1\",\"Address\":\"127.0.0.1\",\"Checks\":["
                            "{\"CheckID\":\"serfHealth\",\"Status\":\"passing\"},"
                            "{\"CheckID\":\"disk\",\"Status\":\"passing\"}]}"),
                    TB_OK);
    CU_ASSERT_EQUAL(reg(st, "{\"Node\":\"n2\",\"Address\":\"127.0.0.2\"}"), TB_OK);
    CU_ASSERT_EQUAL(sess(st, "{\"Op\":\"create\",\"Session\":{\"ID\":\"s-serf\",\"Node\":\"n1\"}}", NULL),
                    TB_OK);
    CU_ASSERT_EQUAL(sess(st, "{\"Op\":\"create\",\"Session\":{\"ID\":\"s-disk\",\"Node\":\"n1\","
                             "\"NodeChecks\":[\"disk\"],\"LockDelay\":1000000000}}", NULL),
                    TB_OK);
    CU_ASSERT_EQUAL(sess(st, "{\"Op\":\"create\",\"Session\":{\"ID\":\"s-n2\",\"Node\":\"n2\"}}", NULL),
                    TB_OK);
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_LOCK, "held-by-disk", "v", 0, 0, "s-disk", 0, NULL), 1);
    int fired = 0, other = 0;
    tb__watch_t *w = tb__watch_new(wr, th_count_cb, &fired);
    tb__watch_t *wo = tb__watch_new(wr, th_count_cb, &other);
    tb__watch_on(w, TB__WATCH_SESSION, "s-disk");
    tb__watch_on(wo, TB__WATCH_SESSION, "s-serf");

    /* disk goes warning: nothing; critical: s-disk invalidated, its lock released */
    CU_ASSERT_EQUAL(reg(st, "{\"Node\":\"n1\",\"Address\":\"127.0.0.1\",\"SkipNodeUpdate\":true,"
                            "\"Check\":{\"CheckID\":\"disk\",\"Status\":\"warning\"}}"),
                    TB_OK);
    CU_ASSERT_EQUAL(count_sessions(st), 3);
    CU_ASSERT_EQUAL(reg(st, "{\"Node\":\"n1\",\"Address\":\"127.0.0.1\",\"SkipNodeUpdate\":true,"
                            "\"Check\":{\"CheckID\":\"disk\",\"Status\":\"critical\"}}"),
                    TB_OK);
    CU_ASSERT_EQUAL(count_sessions(st), 2);
    tb__watch_flush(wr);
    CU_ASSERT_EQUAL(fired, 1);
    CU_ASSERT_EQUAL(other, 0);
    tb__kv_rows_t rows;
    CU_ASSERT_EQUAL_FATAL(th_get(st, "held-by-disk", &rows, NULL), 1);
    CU_ASSERT_PTR_NULL(rows.v[0].session);
    tb__kv_rows_free(&rows);

    /* deregistering the serfHealth check invalidates s-serf */
    CU_ASSERT_EQUAL(th_json(st, TB__CMD_DEREGISTER, "{\"Node\":\"n1\",\"CheckID\":\"serfHealth\"}",
                            0, NULL),
                    TB_OK);
    tb__watch_flush(wr);
    CU_ASSERT_EQUAL(other, 1);
    CU_ASSERT_EQUAL(count_sessions(st), 1);

    /* deregistering n2 invalidates its session */
    CU_ASSERT_EQUAL(th_json(st, TB__CMD_DEREGISTER, "{\"Node\":\"n2\"}", 0, NULL), TB_OK);
    CU_ASSERT_EQUAL(count_sessions(st), 0);
    tb__watch_free(w);
    tb__watch_free(wo);
    tb__state_close(st);
    tb__watch_reg_free(wr);
}

int main(void)
{
    static const CU_TestInfo tests[] = {
        {"create, shape and reads", test_create_and_shape},
        {"create refusals, destroy", test_create_refusals},
        {"invalidation by check and node", test_invalidation},
        CU_TEST_INFO_NULL,
    };
    return th_run("session", tests);
}
