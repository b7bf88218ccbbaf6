/*
 * test_cmd.c - unit tests of command encoding and decoding (cmd.c) and of
 * tb__fsm_apply's refusals: round trips, garbage (truncated, unknown type or
 * version, wrong types, hostile lengths and nesting) refused without
 * touching the store or waking anyone, and indexes that must increase.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "state/state_int.h"

static tb__buf_t enc_kv(tb_kv_verb_t verb, const char *key, const void *val, size_t len,
                        uint64_t flags, uint64_t index, const char *session, int64_t now)
{
    tb_kv_write_t op = {sizeof(op), verb, key, val, len, flags, index, session};
    tb__buf_t b;
    CU_ASSERT_EQUAL_FATAL(tb__cmd_encode_kv(&op, now, &b), 0);
    return b;
}

static void test_kv_round_trip(void)
{
    static const char val[] = {'a', 0, 'b', (char)0xff};
    tb__buf_t b = enc_kv(TB_KV_LOCK, "some/key", val, sizeof(val), 16210313421097356768ULL, 42,
                         "sess-1", -5);
    CU_ASSERT_EQUAL(b.data[0], TB__CMD_KVS);
    CU_ASSERT_EQUAL(b.data[1], TB__CMD_VERSION);
    tb__cmd_t c;
    char *err = NULL;
    CU_ASSERT_EQUAL_FATAL(tb__cmd_decode(b.data, b.len, &c, &err), 0);
    CU_ASSERT_EQUAL(c.type, TB__CMD_KVS);
    CU_ASSERT_EQUAL(c.kv.verb, TB_KV_LOCK);
    CU_ASSERT_STRING_EQUAL(c.kv.key, "some/key");
    CU_ASSERT_EQUAL(c.kv.value_len, sizeof(val));
    CU_ASSERT(memcmp(c.kv.value, val, sizeof(val)) == 0);
    CU_ASSERT_EQUAL(c.kv.flags, 16210313421097356768ULL);
    CU_ASSERT_EQUAL(c.kv.index, 42);
    CU_ASSERT_STRING_EQUAL(c.kv.session, "sess-1");
    CU_ASSERT_EQUAL(c.now_ms, -5);
    tb__cmd_clear(&c);
    tb__buf_free(&b);

    b = enc_kv(TB_KV_SET, "k", NULL, 0, 0, 0, NULL, 7);
    CU_ASSERT_EQUAL_FATAL(tb__cmd_decode(b.data, b.len, &c, &err), 0);
    CU_ASSERT_PTR_NULL(c.kv.value);
    CU_ASSERT_EQUAL(c.kv.value_len, 0);
    CU_ASSERT_PTR_NULL(c.kv.session);
    tb__cmd_clear(&c);
    tb__buf_free(&b);

    /* encoder refusals */
    tb_kv_write_t bad = {sizeof(bad), (tb_kv_verb_t)9, "k", NULL, 0, 0, 0, NULL};
    CU_ASSERT_EQUAL(tb__cmd_encode_kv(&bad, 0, &b), -1);
    bad.verb = TB_KV_SET;
    bad.key = NULL;
    CU_ASSERT_EQUAL(tb__cmd_encode_kv(&bad, 0, &b), -1);
}

static void test_json_round_trip(void)
{
    json_t *body = th_j("{\"Node\":\"n1\",\"Neg\":-42,\"Big\":9007199254740993,\"Real\":1.5,"
                        "\"T\":true,\"F\":false,\"Null\":null,\"Arr\":[1,\"two\",[3,{}]],"
                        "\"Obj\":{\"nested\":{\"deeper\":\"x\"}},\"Utf\":\"h\\u00e9\\u4e2d\"}");
    tb__buf_t b;
    CU_ASSERT_EQUAL_FATAL(tb__cmd_encode_json(TB__CMD_REGISTER, body, 1234567890123LL, &b), 0);
    tb__cmd_t c;
    char *err = NULL;
    CU_ASSERT_EQUAL_FATAL(tb__cmd_decode(b.data, b.len, &c, &err), 0);
    CU_ASSERT_EQUAL(c.type, TB__CMD_REGISTER);
    CU_ASSERT_EQUAL(c.now_ms, 1234567890123LL);
    CU_ASSERT(json_equal(c.body, body));
    tb__cmd_clear(&c);
    tb__buf_free(&b);

    /* refusals: not an object, a KVS type, unknown type, too deep */
    json_t *arr = json_array();
    CU_ASSERT_EQUAL(tb__cmd_encode_json(TB__CMD_REGISTER, arr, 0, &b), -1);
    CU_ASSERT_EQUAL(tb__cmd_encode_json(TB__CMD_KVS, body, 0, &b), -1);
    CU_ASSERT_EQUAL(tb__cmd_encode_json(77, body, 0, &b), -1);
    json_t *deep = json_object(), *cur = deep;
    for (int i = 0; i < 40; i++) {
        json_t *n = json_object();
        json_object_set_new(cur, "x", n);
        cur = n;
    }
    CU_ASSERT_EQUAL(tb__cmd_encode_json(TB__CMD_REGISTER, deep, 0, &b), -1);
    json_decref(deep);
    json_decref(arr);
    json_decref(body);

    /* NOOP with and without body */
    CU_ASSERT_EQUAL_FATAL(tb__cmd_encode_json(TB__CMD_NOOP, NULL, 0, &b), 0);
    CU_ASSERT_EQUAL(b.len, 2);
    CU_ASSERT_EQUAL(tb__cmd_decode(b.data, b.len, &c, &err), 0);
    tb__cmd_clear(&c);
    tb__buf_free(&b);
}

/* Apply garbage at index 2 on a store holding one key (index 1) and one
 * armed waiter: refused with TB_INTERNAL, nothing changes, nobody wakes. */
static void expect_refused(tb__state_t *st, tb__watch_reg_t *reg, const void *data, size_t len,
                           const char *what)
{
    int fired = 0;
    tb__watch_t *w = tb__watch_new(reg, th_count_cb, &fired);
    tb__watch_on(w, TB__WATCH_KV_PREFIX, "");
    tb__watch_on(w, TB__WATCH_TABLE, "nodes");
    tb__watch_on(w, TB__WATCH_TABLE, "sessions");
    uint64_t before = tb__state_last_index(st);
    tb__apply_result_t res;
    int rc = th_raw(st, before + 1, data, len, &res);
    if (rc != -1 || res.status != TB_INTERNAL)
        fprintf(stderr, "\n  not refused: %s\n", what);
    CU_ASSERT_EQUAL(rc, -1);
    CU_ASSERT_EQUAL(res.status, TB_INTERNAL);
    CU_ASSERT_PTR_NOT_NULL(res.error);
    tb__apply_result_clear(&res);
    CU_ASSERT_EQUAL(tb__state_last_index(st), before);
    CU_ASSERT_EQUAL(tb__watch_flush(reg), 0);
    CU_ASSERT_EQUAL(fired, 0);
    tb__watch_free(w);
    tb__kv_rows_t rows;
    uint64_t idx;
    CU_ASSERT_EQUAL(tb__state_kv_list(st, "", &rows, &idx), 0);
    CU_ASSERT_EQUAL(rows.n, 1);
    CU_ASSERT_EQUAL(idx, 1);
    tb__kv_rows_free(&rows);
}

static void test_garbage_refused(void)
{
    tb__watch_reg_t *reg = tb__watch_reg_new();
    tb__state_t *st = th_open(reg);
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_SET, "keep", "v", 0, 0, NULL, 0, NULL), 1);

    expect_refused(st, reg, "", 0, "empty");
    expect_refused(st, reg, "\x03", 1, "one byte");
    expect_refused(st, reg, "\x09\x01\xc0", 3, "unknown type");
    expect_refused(st, reg, "\xff\x01", 2, "type 255");
    expect_refused(st, reg, "\x01\x00\x80", 3, "version 0");

    /* every truncation of valid commands, and one byte too many */
    tb__buf_t b = enc_kv(TB_KV_SET, "victim/key", "value", 5, 7, 0, "s", 1);
    for (size_t n = 0; n < b.len; n++)
        expect_refused(st, reg, b.data, n, "truncated kv");
    uint8_t *longer = malloc(b.len + 1);
    memcpy(longer, b.data, b.len);
    longer[b.len] = 0xc0;
    expect_refused(st, reg, longer, b.len + 1, "trailing byte");
    free(longer);
    /* a valid command with a bumped version */
    b.data[1] = TB__CMD_VERSION + 1;
    expect_refused(st, reg, b.data, b.len, "wrong version");
    /* a KVS body under a SESSION type byte */
    b.data[1] = TB__CMD_VERSION;
    b.data[0] = TB__CMD_SESSION;
    expect_refused(st, reg, b.data, b.len, "kv body as session");
    tb__buf_free(&b);

    json_t *body = th_j("{\"Node\":\"n1\",\"Address\":\"127.0.0.1\"}");
    CU_ASSERT_EQUAL_FATAL(tb__cmd_encode_json(TB__CMD_REGISTER, body, 0, &b), 0);
    json_decref(body);
    for (size_t n = 2; n < b.len; n++)
        expect_refused(st, reg, b.data, n, "truncated register");
    b.data[0] = TB__CMD_KVS;
    expect_refused(st, reg, b.data, b.len, "register body as kv");
    tb__buf_free(&b);

    /* hand-made hostile bodies (length from the literal, without its NUL) */
#define B(w, lit) {w, lit, sizeof(lit) - 1}
    static const struct {
        const char *what;
        const char *bytes;
        size_t len;
    } bad[] = {
        B("array32 claiming 4G elements", "\x03\x01\xdd\xff\xff\xff\xff\xc0"),
        B("map32 claiming 4G pairs", "\x01\x01\xdf\xff\xff\xff\xff"),
        B("str32 longer than input", "\x03\x01\xdb\x7f\xff\xff\xff" "abc"),
        B("bin32 longer than input", "\x03\x01\xc6\x00\x01\x00\x00"),
        B("reserved byte 0xc1", "\x03\x01\xc1"),
        B("ext type", "\x03\x01\xd4\x01\x02"),
        B("kv body not an array", "\x03\x01\x81\xa1k\xc0"),
        B("kv wrong field count", "\x03\x01\x92\x00\xa1k"),
        /* [verb, key, value, flags, index, session, now] with one wrong type each */
        B("kv verb 99", "\x03\x01\x97\x63\xa1k\xc4\x00\x00\x00\xc0\x00"),
        B("kv verb negative", "\x03\x01\x97\xff\xa1k\xc4\x00\x00\x00\xc0\x00"),
        B("kv key int", "\x03\x01\x97\x00\x05\xc4\x00\x00\x00\xc0\x00"),
        B("kv key with NUL", "\x03\x01\x97\x00\xa3k\x00k\xc4\x00\x00\x00\xc0\x00"),
        B("kv value str", "\x03\x01\x97\x00\xa1k\xa1v\x00\x00\xc0\x00"),
        B("kv flags negative", "\x03\x01\x97\x00\xa1k\xc4\x00\xff\x00\xc0\x00"),
        B("kv index str", "\x03\x01\x97\x00\xa1k\xc4\x00\x00\xa1x\xc0\x00"),
        B("kv session int", "\x03\x01\x97\x00\xa1k\xc4\x00\x00\x00\x01\x00"),
        B("kv now too big", "\x03\x01\x97\x00\xa1k\xc4\x00\x00\x00\xc0"
                           "\xcf\xff\xff\xff\xff\xff\xff\xff\xff"),
        B("kv now float", "\x03\x01\x97\x00\xa1k\xc4\x00\x00\x00\xc0\xca\x00\x00\x00\x00"),
        B("json body array", "\x01\x01\x92\x90\x00"),
        B("json wrong count", "\x01\x01\x93\x80\x00\x00"),
        B("json int key", "\x01\x01\x92\x81\x01\x02\x00"),
        B("json bad utf-8", "\x01\x01\x92\x81\xa1k\xa1\xff\x00"),
        B("json bin value", "\x04\x01\x92\x81\xa1k\xc4\x01x\x00"),
        B("json uint64 > int64", "\x02\x01\x92\x81\xa1k\xcf\xff\xff\xff\xff\xff\xff\xff\xff\x00"),
        B("json NaN", "\x02\x01\x92\x81\xa1k\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00\x00"),
        B("json now missing", "\x01\x01\x91\x80"),
        B("noop junk", "\x00\x01\xc1"),
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_refused(st, reg, bad[i].bytes, bad[i].len, bad[i].what);
#undef B

    /* nesting deeper than the decoder allows */
    uint8_t deep[300];
    deep[0] = TB__CMD_REGISTER;
    deep[1] = TB__CMD_VERSION;
    memset(deep + 2, 0x91, sizeof(deep) - 3);
    deep[sizeof(deep) - 1] = 0xc0;
    expect_refused(st, reg, deep, sizeof(deep), "deep nesting");

    tb__state_close(st);
    tb__watch_reg_free(reg);
}

static void test_index_must_increase(void)
{
    tb__state_t *st = th_open(NULL);
    CU_ASSERT_EQUAL(tb__state_last_index(st), 0);
    tb__buf_t b = enc_kv(TB_KV_SET, "k", "1", 1, 0, 0, NULL, 0);
    tb__apply_result_t res;
    CU_ASSERT_EQUAL(th_raw(st, 5, b.data, b.len, &res), 0);
    CU_ASSERT_EQUAL(res.status, TB_OK);
    tb__apply_result_clear(&res);
    CU_ASSERT_EQUAL(tb__state_last_index(st), 5);
    tb__buf_free(&b);

    b = enc_kv(TB_KV_SET, "k", "2", 1, 0, 0, NULL, 0);
    CU_ASSERT_EQUAL(th_raw(st, 5, b.data, b.len, &res), -1);
    CU_ASSERT_EQUAL(res.status, TB_INTERNAL);
    tb__apply_result_clear(&res);
    CU_ASSERT_EQUAL(th_raw(st, 3, b.data, b.len, &res), -1);
    tb__apply_result_clear(&res);
    tb__kv_rows_t rows;
    uint64_t idx;
    CU_ASSERT_EQUAL_FATAL(th_get(st, "k", &rows, &idx), 1);
    CU_ASSERT_EQUAL(rows.v[0].value_len, 1);
    CU_ASSERT(memcmp(rows.v[0].value, "1", 1) == 0);
    CU_ASSERT_EQUAL(rows.v[0].modify_index, 5);
    tb__kv_rows_free(&rows);

    CU_ASSERT_EQUAL(th_raw(st, 6, b.data, b.len, &res), 0);
    tb__apply_result_clear(&res);
    CU_ASSERT_EQUAL(tb__state_last_index(st), 6);
    tb__buf_free(&b);

    /* a deterministic refusal consumes its index but changes nothing */
    b = enc_kv(TB_KV_LOCK, "k", "x", 1, 0, 0, "no-such-session", 0);
    CU_ASSERT_EQUAL(th_raw(st, 9, b.data, b.len, &res), 0);
    CU_ASSERT_EQUAL(res.status, TB_BAD_REQUEST);
    CU_ASSERT_STRING_EQUAL(res.error, "Invalid session \"no-such-session\"");
    CU_ASSERT_EQUAL(res.applied, 0);
    tb__apply_result_clear(&res);
    tb__buf_free(&b);
    CU_ASSERT_EQUAL(tb__state_last_index(st), 9);
    CU_ASSERT_EQUAL_FATAL(th_get(st, "k", &rows, &idx), 1);
    CU_ASSERT_EQUAL(rows.v[0].modify_index, 6);
    CU_ASSERT_EQUAL(idx, 6);
    tb__kv_rows_free(&rows);

    /* NOOP moves the applied index only */
    CU_ASSERT_EQUAL(th_raw(st, 10, "\x00\x01", 2, &res), 0);
    CU_ASSERT_EQUAL(res.status, TB_OK);
    tb__apply_result_clear(&res);
    CU_ASSERT_EQUAL(tb__state_last_index(st), 10);
    uint64_t ni;
    json_t *nodes = tb__state_nodes(st, &ni);
    CU_ASSERT_EQUAL(ni, 1);
    json_decref(nodes);
    tb__state_close(st);
}

int main(void)
{
    static const CU_TestInfo tests[] = {
        {"KV command round trip", test_kv_round_trip},
        {"JSON command round trip", test_json_round_trip},
        {"garbage is refused, store untouched", test_garbage_refused},
        {"apply index must increase", test_index_must_increase},
        CU_TEST_INFO_NULL,
    };
    return th_run("cmd", tests);
}
