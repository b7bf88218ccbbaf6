/*
 * test_rpc_codec.c - CUnit tests of the forwarding RPC frames (rpc_int.h):
 * requests and responses survive a round trip (binary values, 64-bit
 * flags, NULL strings), the stream reader reassembles frames split at
 * every byte, and every truncation, trailing byte, bad version, size or
 * count is refused.
 */
#include "tb_autoconf.h"

#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint/rpc_int.h"

static const char BIN[] = {'v', 0, 1, (char)0xff};

static void frame_of(const tb__buf_t *b, tb__rpc_frame_t *f)
{
    tb__rpc_reader_t rd = {0};
    size_t got;
    uint8_t *p = tb__rpc_reader_space(&rd, b->len, &got);
    memcpy(p, b->data, b->len);
    rd.len += b->len;
    const char *err = NULL;
    CU_ASSERT_EQUAL_FATAL(tb__rpc_reader_next(&rd, f, &err), 1);
    /* keep the bytes alive with the caller's buffer: point into it */
    f->payload = b->data + TB__RPC_HDR;
    tb__rpc_reader_free(&rd);
}

static void test_req_kinds(void)
{
    tb__rpc_req_t q, d;
    memset(&q, 0, sizeof q);
    q.kind = TB__RPC_GENERIC;
    q.hops = 1;
    q.opts.min_index = 42;
    q.opts.wait_ms = 5000;
    q.opts.consistency = TB_CONSISTENCY_STALE;
    q.opts.max_stale_ms = 7;
    q.opts.token = "tok";
    q.method = "Catalog.Register";
    q.args = "{\"Node\":\"n\"}";
    q.args_len = strlen(q.args);
    tb__buf_t b = {0};
    CU_ASSERT_EQUAL(tb__rpc_enc_req(&b, 99, &q), 0);
    tb__rpc_frame_t f;
    frame_of(&b, &f);
    CU_ASSERT_EQUAL(f.type, TB__RPC_REQ);
    CU_ASSERT_EQUAL(f.id, 99);
    CU_ASSERT_EQUAL_FATAL(tb__rpc_dec_req(f.payload, f.len, &d), 0);
    CU_ASSERT_EQUAL(d.kind, TB__RPC_GENERIC);
    CU_ASSERT_EQUAL(d.hops, 1);
    CU_ASSERT_EQUAL(d.opts.min_index, 42);
    CU_ASSERT_EQUAL(d.opts.wait_ms, 5000);
    CU_ASSERT_EQUAL(d.opts.consistency, TB_CONSISTENCY_STALE);
    CU_ASSERT_EQUAL(d.opts.max_stale_ms, 7);
    CU_ASSERT_STRING_EQUAL(d.opts.token, "tok");
    CU_ASSERT_PTR_NULL(d.opts.datacenter);
    CU_ASSERT_STRING_EQUAL(d.method, "Catalog.Register");
    CU_ASSERT_EQUAL(d.args_len, q.args_len);
    CU_ASSERT_STRING_EQUAL(d.args, q.args);
    free(b.data);

    memset(&q, 0, sizeof q);
    q.kind = TB__RPC_KV_READ;
    q.kvr.mode = TB_KV_KEYS;
    q.kvr.key = "a/";
    q.kvr.separator = "/";
    memset(&b, 0, sizeof b);
    CU_ASSERT_EQUAL(tb__rpc_enc_req(&b, 1, &q), 0);
    frame_of(&b, &f);
    CU_ASSERT_EQUAL_FATAL(tb__rpc_dec_req(f.payload, f.len, &d), 0);
    CU_ASSERT_EQUAL(d.kvr.mode, TB_KV_KEYS);
    CU_ASSERT_STRING_EQUAL(d.kvr.key, "a/");
    CU_ASSERT_STRING_EQUAL(d.kvr.separator, "/");
    free(b.data);

    memset(&q, 0, sizeof q);
    q.kind = TB__RPC_KV_WRITE;
    q.kvw.verb = TB_KV_LOCK;
    q.kvw.key = "k";
    q.kvw.value = BIN;
    q.kvw.value_len = sizeof BIN;
    q.kvw.flags = UINT64_MAX;
    q.kvw.index = 5;
    q.kvw.session = "s";
    memset(&b, 0, sizeof b);
    CU_ASSERT_EQUAL(tb__rpc_enc_req(&b, 2, &q), 0);
    frame_of(&b, &f);
    CU_ASSERT_EQUAL_FATAL(tb__rpc_dec_req(f.payload, f.len, &d), 0);
    CU_ASSERT_EQUAL(d.kvw.verb, TB_KV_LOCK);
    CU_ASSERT_EQUAL(d.kvw.value_len, sizeof BIN);
    CU_ASSERT(memcmp(d.kvw.value, BIN, sizeof BIN) == 0);
    CU_ASSERT_EQUAL(d.kvw.flags, UINT64_MAX);
    CU_ASSERT_EQUAL(d.kvw.index, 5);
    CU_ASSERT_STRING_EQUAL(d.kvw.session, "s");
    /* every truncation and a trailing byte are refused */
    for (size_t l = 0; l < f.len; l++) CU_ASSERT_EQUAL(tb__rpc_dec_req(f.payload, l, &d), -1);
    uint8_t *longer = malloc(f.len + 1);
    memcpy(longer, f.payload, f.len);
    longer[f.len] = 0;
    CU_ASSERT_EQUAL(tb__rpc_dec_req(longer, f.len + 1, &d), -1);
    free(longer);
    free(b.data);

    /* an unknown kind does not encode */
    memset(&q, 0, sizeof q);
    q.kind = 9;
    memset(&b, 0, sizeof b);
    CU_ASSERT_EQUAL(tb__rpc_enc_req(&b, 3, &q), -1);
    CU_ASSERT_EQUAL(b.len, 0);
    free(b.data);
}

static void test_resp(void)
{
    tb_kv_entry_t rows[2];
    memset(rows, 0, sizeof rows);
    rows[0].key = "a";
    rows[0].value = BIN;
    rows[0].value_len = sizeof BIN;
    rows[0].flags = UINT64_MAX;
    rows[0].lock_index = 1;
    rows[0].create_index = 2;
    rows[0].modify_index = 3;
    rows[0].session = "sess";
    rows[1].key = ""; /* the smallest row there is */
    tb_result_t r;
    memset(&r, 0, sizeof r);
    r.status = TB_NOT_FOUND;
    r.error = "nope";
    r.index = 77;
    r.known_leader = 1;
    r.last_contact_ms = 12;
    r.effective_consistency = TB_CONSISTENCY_CONSISTENT;
    r.applied = 1;
    r.kv = rows;
    r.kv_count = 2;
    tb__buf_t b = {0};
    CU_ASSERT_EQUAL(tb__rpc_enc_resp(&b, 5, &r, "[1,2]", 5), 0);
    tb__rpc_frame_t f;
    frame_of(&b, &f);
    CU_ASSERT_EQUAL(f.type, TB__RPC_RESP);
    tb__rpc_resp_t d;
    CU_ASSERT_EQUAL_FATAL(tb__rpc_dec_resp(f.payload, f.len, &d), 0);
    CU_ASSERT_EQUAL(d.r.status, TB_NOT_FOUND);
    CU_ASSERT_STRING_EQUAL(d.r.error, "nope");
    CU_ASSERT_EQUAL(d.r.index, 77);
    CU_ASSERT_EQUAL(d.r.known_leader, 1);
    CU_ASSERT_EQUAL(d.r.last_contact_ms, 12);
    CU_ASSERT_EQUAL(d.r.effective_consistency, TB_CONSISTENCY_CONSISTENT);
    CU_ASSERT_EQUAL(d.r.applied, 1);
    CU_ASSERT_EQUAL(d.json_len, 5);
    CU_ASSERT_STRING_EQUAL(d.json, "[1,2]");
    CU_ASSERT_EQUAL_FATAL(d.r.kv_count, 2);
    CU_ASSERT_STRING_EQUAL(d.r.kv[0].key, "a");
    CU_ASSERT_EQUAL(d.r.kv[0].value_len, sizeof BIN);
    CU_ASSERT(memcmp(d.r.kv[0].value, BIN, sizeof BIN) == 0);
    CU_ASSERT_EQUAL(d.r.kv[0].flags, UINT64_MAX);
    CU_ASSERT_EQUAL(d.r.kv[0].modify_index, 3);
    CU_ASSERT_STRING_EQUAL(d.r.kv[0].session, "sess");
    CU_ASSERT_STRING_EQUAL(d.r.kv[1].key, "");
    CU_ASSERT_PTR_NULL(d.r.kv[1].value);
    CU_ASSERT_PTR_NULL(d.r.kv[1].session);
    tb__rpc_resp_clear(&d);
    for (size_t l = 0; l < f.len; l++) {
        CU_ASSERT_EQUAL(tb__rpc_dec_resp(f.payload, l, &d), -1);
        CU_ASSERT_PTR_NULL(d.kv);
    }
    /* a row count the frame cannot hold */
    uint8_t *p = (uint8_t *)f.payload;
    size_t cnt_at = 1 + 4 + 5 + 8 + 1 + 8 + 1 + 1 + 4 + 6;
    CU_ASSERT_EQUAL(p[cnt_at], 2);
    p[cnt_at] = 200;
    CU_ASSERT_EQUAL(tb__rpc_dec_resp(f.payload, f.len, &d), -1);
    p[cnt_at] = 2;
    /* a string without its terminator, a key hiding a NUL */
    p[cnt_at + 4 + 4 + 1] = 'a';
    CU_ASSERT_EQUAL(tb__rpc_dec_resp(f.payload, f.len, &d), -1);
    p[cnt_at + 4 + 4 + 1] = 0;
    p[cnt_at + 4 + 4] = 0;
    CU_ASSERT_EQUAL(tb__rpc_dec_resp(f.payload, f.len, &d), -1);
    free(b.data);
}

static void test_reader(void)
{
    tb__buf_t b = {0};
    tb_result_t r;
    memset(&r, 0, sizeof r);
    CU_ASSERT_EQUAL(tb__rpc_enc_resp(&b, 1, &r, NULL, 0), 0);
    CU_ASSERT_EQUAL(tb__rpc_enc_cancel(&b, 2), 0);
    CU_ASSERT_EQUAL(tb__rpc_enc_resp(&b, 3, &r, "{}", 2), 0);
    /* byte by byte: three frames in order, never early */
    tb__rpc_reader_t rd = {0};
    tb__rpc_frame_t f;
    const char *err = NULL;
    uint64_t ids[3];
    int nf = 0;
    for (size_t i = 0; i < b.len; i++) {
        size_t got;
        uint8_t *sp = tb__rpc_reader_space(&rd, 1, &got);
        CU_ASSERT_FATAL(sp != NULL && got >= 1);
        *sp = b.data[i];
        rd.len++;
        int rc;
        while ((rc = tb__rpc_reader_next(&rd, &f, &err)) == 1) {
            if (nf < 3) ids[nf] = f.id;
            nf++;
        }
        CU_ASSERT_EQUAL(rc, 0);
    }
    CU_ASSERT_EQUAL_FATAL(nf, 3);
    CU_ASSERT(ids[0] == 1 && ids[1] == 2 && ids[2] == 3);
    tb__rpc_reader_free(&rd);

    /* bad version, unknown type, too large, too small */
    const uint8_t bad[][6] = {{10, 0, 0, 0, 9, 1},
                              {10, 0, 0, 0, 1, 7},
                              {0xff, 0xff, 0xff, 0xff, 1, 1},
                              {3, 0, 0, 0, 1, 1}};
    for (size_t k = 0; k < 4; k++) {
        tb__rpc_reader_t r2 = {0};
        size_t got;
        memcpy(tb__rpc_reader_space(&r2, 6, &got), bad[k], 6);
        r2.len = 6;
        err = NULL;
        CU_ASSERT_EQUAL(tb__rpc_reader_next(&r2, &f, &err), -1);
        CU_ASSERT_PTR_NOT_NULL(err);
        tb__rpc_reader_free(&r2);
    }
    free(b.data);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("rpc_codec", NULL, NULL);
    CU_add_test(s, "request kinds round trip, truncations refused", test_req_kinds);
    CU_add_test(s, "response round trip, hostile fields refused", test_resp);
    CU_add_test(s, "stream reassembly and bad headers", test_reader);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
