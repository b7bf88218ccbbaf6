/*
 * test_txn.c - unit tests of the TXN command (txn.c): encoding round trip,
 * KV verbs and their results, all-or-nothing rollback with Errors (no
 * change, no watch firing), big Flags, catalog verbs, and malformed
 * commands refused without a crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

#define BIG_FLAGS 16210313421097356768ULL

static tb__txn_op_t kv(const char *verb, const char *key, const char *value, uint64_t flags,
                       uint64_t index)
{
    tb__txn_op_t o = {TB__TXN_KV, verb, key, value, value ? strlen(value) : 0, flags, index,
                      NULL, NULL};
    return o;
}

/* Apply ops at the next index; status out, result json returned (owned). */
static json_t *apply(tb__state_t *st, const tb__txn_op_t *ops, size_t n, tb_status_t *status)
{
    tb__buf_t b;
    CU_ASSERT_EQUAL_FATAL(tb__cmd_encode_txn(ops, n, 1000, &b), 0);
    tb__apply_result_t res;
    int rc = tb__fsm_apply(st, tb__state_last_index(st) + 1, b.data, b.len, &res);
    tb__buf_free(&b);
    CU_ASSERT_EQUAL(rc, 0);
    *status = res.status;
    json_t *j = res.json;
    res.json = NULL;
    tb__apply_result_clear(&res);
    return j;
}

static void test_kv_verbs(void)
{
    tb__state_t *st = th_open(NULL);
    tb_status_t status;
    tb__txn_op_t ops[] = {
        kv("set", "a", "one", 7, 0),
        kv("set", "b", "two", BIG_FLAGS, 0),
        kv("get", "a", NULL, 0, 0),
        kv("get-tree", "", NULL, 0, 0),
        kv("check-not-exists", "c", NULL, 0, 0),
        kv("delete", "zzz", NULL, 0, 0),
    };
    json_t *j = apply(st, ops, 6, &status);
    CU_ASSERT_EQUAL(status, TB_OK);
    json_t *r = json_object_get(j, "Results");
    CU_ASSERT_TRUE(json_is_null(json_object_get(j, "Errors")));
    /* set, set, get, get-tree (2 keys); check-not-exists and delete: none */
    CU_ASSERT_EQUAL(json_array_size(r), 5);
    json_t *set0 = json_object_get(json_array_get(r, 0), "KV");
    CU_ASSERT_TRUE(json_is_null(json_object_get(set0, "Value")));
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(set0, "Flags")), 7);
    json_t *get = json_object_get(json_array_get(r, 2), "KV");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(get, "Value")), "b25l");
    /* big Flags come back exactly, as the marker string */
    json_t *big = json_object_get(json_object_get(json_array_get(r, 4), "KV"), "Flags");
    CU_ASSERT_STRING_EQUAL(json_string_value(big), TB__TXN_BIG_MARK "16210313421097356768");
    json_decref(j);

    tb__kv_rows_t rows;
    CU_ASSERT_EQUAL(th_get(st, "b", &rows, NULL), 1);
    if (rows.n)
        CU_ASSERT_EQUAL(rows.v[0].flags, BIG_FLAGS);
    uint64_t mi = rows.n ? rows.v[0].modify_index : 0;
    tb__kv_rows_free(&rows);

    /* cas at the right index, check-index, delete-cas */
    tb__txn_op_t ops2[] = {
        kv("check-index", "b", NULL, 0, mi),
        kv("cas", "b", "three", 1, mi),
        kv("delete-cas", "a", NULL, 0, mi),
    };
    j = apply(st, ops2, 3, &status);
    CU_ASSERT_EQUAL(status, TB_OK);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "Results")), 2);
    json_decref(j);
    CU_ASSERT_EQUAL(th_get(st, "a", &rows, NULL), 0);
    tb__kv_rows_free(&rows);
    tb__state_close(st);
}

static void test_rollback(void)
{
    tb__watch_reg_t *reg = tb__watch_reg_new();
    tb__state_t *st = th_open(reg);
    tb_status_t status;
    tb__txn_op_t set = kv("set", "k", "v", 0, 0);
    json_decref(apply(st, &set, 1, &status));
    int fired = 0;
    tb__watch_t *w = tb__watch_new(reg, th_count_cb, &fired);
    CU_ASSERT_EQUAL(tb__watch_on(w, TB__WATCH_KV_KEY, "k"), 0);
    CU_ASSERT_EQUAL(tb__watch_on(w, TB__WATCH_KV_KEY, "n"), 0);
    tb__txn_op_t ops[] = {
        kv("set", "n", "new", 0, 0),
        kv("delete", "k", NULL, 0, 0),
        kv("cas", "k", "x", 0, 999), /* k is gone: stale */
    };
    json_t *j = apply(st, ops, 3, &status);
    CU_ASSERT_EQUAL(status, TB_CONFLICT);
    CU_ASSERT_TRUE(json_is_null(json_object_get(j, "Results")));
    json_t *e = json_array_get(json_object_get(j, "Errors"), 0);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(e, "OpIndex")), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(json_string_value(json_object_get(e, "What")), "stale"));
    json_decref(j);
    tb__watch_flush(reg);
    CU_ASSERT_EQUAL(fired, 0);
    tb__kv_rows_t rows;
    CU_ASSERT_EQUAL(th_get(st, "k", &rows, NULL), 1); /* delete rolled back */
    tb__kv_rows_free(&rows);
    CU_ASSERT_EQUAL(th_get(st, "n", &rows, NULL), 0); /* set rolled back */
    tb__kv_rows_free(&rows);

    /* failing reads and unknown verbs also roll back */
    tb__txn_op_t bad[][2] = {
        {kv("set", "n", "x", 0, 0), kv("get", "missing", NULL, 0, 0)},
        {kv("set", "n", "x", 0, 0), kv("check-not-exists", "k", NULL, 0, 0)},
        {kv("set", "n", "x", 0, 0), kv("frobnicate", "k", NULL, 0, 0)},
        {kv("set", "n", "x", 0, 0), kv("lock", "k", "x", 0, 0)},
        {kv("set", "n", "x", 0, 0), kv("set", "", "x", 0, 0)},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        j = apply(st, bad[i], 2, &status);
        CU_ASSERT_EQUAL(status, TB_CONFLICT);
        json_decref(j);
        CU_ASSERT_EQUAL(th_get(st, "n", &rows, NULL), 0);
        tb__kv_rows_free(&rows);
    }
    /* the apply committed a write: the watcher fires now */
    json_decref(apply(st, &set, 1, &status));
    tb__watch_flush(reg);
    CU_ASSERT_EQUAL(fired, 1);
    tb__watch_free(w);
    tb__state_close(st);
    tb__watch_reg_free(reg);
}

static void test_catalog_ops(void)
{
    tb__state_t *st = th_open(NULL);
    tb_status_t status;
    json_t *node = th_j("{\"Node\":\"n1\",\"Address\":\"127.0.0.1\",\"Meta\":{\"env\":\"x\"}}");
    json_t *svc = th_j("{\"ID\":\"web1\",\"Service\":\"web\",\"Port\":80}");
    json_t *chk = th_j("{\"CheckID\":\"c1\",\"Name\":\"c1\",\"Status\":\"passing\","
                       "\"ServiceID\":\"web1\"}");
    tb__txn_op_t ops[] = {
        {TB__TXN_NODE, "set", NULL, NULL, 0, 0, 0, NULL, node},
        {TB__TXN_SERVICE, "set", "n1", NULL, 0, 0, 0, NULL, svc},
        {TB__TXN_CHECK, "set", "n1", NULL, 0, 0, 0, NULL, chk},
        {TB__TXN_SERVICE, "get", "n1", NULL, 0, 0, 0, NULL, svc},
    };
    json_t *j = apply(st, ops, 4, &status);
    CU_ASSERT_EQUAL(status, TB_OK);
    json_t *r = json_object_get(j, "Results");
    CU_ASSERT_EQUAL(json_array_size(r), 4);
    CU_ASSERT_STRING_EQUAL(
        json_string_value(json_object_get(json_object_get(json_array_get(r, 0), "Node"), "Node")),
        "n1");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(
                        json_object_get(json_array_get(r, 3), "Service"), "Port")),
                    80);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(
                               json_object_get(json_array_get(r, 2), "Check"), "Status")),
                           "passing");
    json_decref(j);
    /* service on an unknown node: rolled back */
    tb__txn_op_t bad[] = {
        {TB__TXN_NODE, "delete", NULL, NULL, 0, 0, 0, NULL, node},
        {TB__TXN_SERVICE, "set", "nx", NULL, 0, 0, 0, NULL, svc},
    };
    j = apply(st, bad, 2, &status);
    CU_ASSERT_EQUAL(status, TB_CONFLICT);
    json_decref(j);
    uint64_t idx;
    json_t *nodes = tb__state_nodes(st, &idx);
    CU_ASSERT_EQUAL(json_array_size(nodes), 1); /* the node delete rolled back */
    json_decref(nodes);
    /* delete-cas with a stale index fails; delete works */
    tb__txn_op_t del[] = {{TB__TXN_SERVICE, "delete-cas", "n1", NULL, 0, 0, 12345, NULL, svc}};
    j = apply(st, del, 1, &status);
    CU_ASSERT_EQUAL(status, TB_CONFLICT);
    json_decref(j);
    del[0].verb = "delete";
    j = apply(st, del, 1, &status);
    CU_ASSERT_EQUAL(status, TB_OK);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "Results")), 0);
    json_decref(j);
    json_decref(node);
    json_decref(svc);
    json_decref(chk);
    tb__state_close(st);
}

static void test_malformed(void)
{
    tb__state_t *st = th_open(NULL);
    tb__apply_result_t res;
    /* TXN header with a body that is not [ops, now] */
    const uint8_t junk[] = {TB__CMD_TXN, TB__CMD_VERSION, 0x92, 0x01, 0x02};
    CU_ASSERT_EQUAL(th_raw(st, 1, junk, sizeof(junk), &res), -1);
    CU_ASSERT_EQUAL(res.status, TB_INTERNAL);
    tb__apply_result_clear(&res);
    /* [[[1]], 0]: an op of the wrong shape */
    const uint8_t badop[] = {TB__CMD_TXN, TB__CMD_VERSION, 0x92, 0x91, 0x91, 0x01, 0x00};
    th_raw(st, 2, badop, sizeof(badop), &res);
    CU_ASSERT_EQUAL(res.status, TB_INTERNAL);
    tb__apply_result_clear(&res);
    /* encoder refuses an unknown kind */
    tb__txn_op_t o = kv("set", "a", "b", 0, 0);
    o.kind = (enum tb__txn_kind)9;
    tb__buf_t b;
    CU_ASSERT_EQUAL(tb__cmd_encode_txn(&o, 1, 0, &b), -1);
    /* empty txn: OK with no results */
    tb_status_t status;
    json_t *j = apply(st, NULL, 0, &status);
    CU_ASSERT_EQUAL(status, TB_OK);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "Results")), 0);
    json_decref(j);
    tb__state_close(st);
}

int main(void)
{
    static const CU_TestInfo tests[] = {
        {"KV verbs, results and big flags", test_kv_verbs},
        {"all-or-nothing rollback", test_rollback},
        {"node, service and check verbs", test_catalog_ops},
        {"malformed commands", test_malformed},
        CU_TEST_INFO_NULL,
    };
    return th_run("txn", tests);
}
