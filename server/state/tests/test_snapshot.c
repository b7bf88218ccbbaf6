/*
 * test_snapshot.c - unit tests of whole-store snapshots (snapshot.c):
 * serialize/restore round trips (rows, indexes, sessions, later applies),
 * damaged or foreign blobs refused without changing anything, watches
 * woken by a restore, and the RESTORE command (encoding, index rules,
 * deterministic refusal of a bad blob), and the snapshot archive (build,
 * read, every kind of damage named).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#include <zlib.h>

#include "helpers.h"
#include "state/archive.h"
#include "state/state_int.h"

static void fill(tb__state_t *st)
{
    CU_ASSERT_EQUAL_FATAL(
        th_json(st, TB__CMD_REGISTER,
                "{\"Node\":\"n1\",\"Address\":\"10.0.0.1\",\"Service\":{\"Service\":\"web\","
                "\"Port\":80},\"Check\":{\"CheckID\":\"serfHealth\",\"Name\":\"Serf\","
                "\"Status\":\"passing\"}}",
                0, NULL),
        TB_OK);
    th_kv(st, TB_KV_SET, "a/1", "one", 7, 0, NULL, 0, NULL);
    th_kv(st, TB_KV_SET, "a/2", "two", 0, 0, NULL, 0, NULL);
    CU_ASSERT_EQUAL(th_json(st, TB__CMD_SESSION,
                            "{\"Op\":\"create\",\"Session\":{\"ID\":\"s-1\",\"Node\":\"n1\","
                            "\"LockDelay\":0,\"Behavior\":\"release\",\"TTL\":\"30s\","
                            "\"NodeChecks\":[\"serfHealth\"]}}",
                            0, NULL),
                    TB_OK);
}

/* The blob of a filled store (malloc'd). */
static uint8_t *filled_blob(size_t *len)
{
    tb__state_t *a = th_open(NULL);
    fill(a);
    uint8_t *blob = NULL;
    CU_ASSERT_EQUAL_FATAL(tb__state_serialize(a, &blob, len), 0);
    tb__state_close(a);
    return blob;
}

static void expect_value(tb__state_t *st, const char *key, const char *value)
{
    tb__kv_rows_t rows;
    uint64_t idx;
    int found = th_get(st, key, &rows, &idx);
    if (!value) {
        CU_ASSERT_FALSE(found);
    } else {
        CU_ASSERT_TRUE_FATAL(found);
        CU_ASSERT_EQUAL(rows.v[0].value_len, strlen(value));
        CU_ASSERT(memcmp(rows.v[0].value, value, strlen(value)) == 0);
    }
    tb__kv_rows_free(&rows);
}

static void test_round_trip(void)
{
    tb__state_t *a = th_open(NULL), *b = th_open(NULL);
    fill(a);
    /* a session_checks row: SQLite 3.40's integrity_check misreports its
     * NOT NULL columns (WITHOUT ROWID), which must not refuse the blob */
    sqlite3_stmt *q = NULL;
    sqlite3_prepare_v2(a->db, "SELECT count(*) FROM session_checks", -1, &q, NULL);
    CU_ASSERT_EQUAL(sqlite3_step(q), SQLITE_ROW);
    CU_ASSERT_EQUAL(sqlite3_column_int(q, 0), 1);
    sqlite3_finalize(q);
    uint8_t *blob;
    size_t len;
    CU_ASSERT_EQUAL_FATAL(tb__state_serialize(a, &blob, &len), 0);
    CU_ASSERT(len > 100);
    char *err = NULL;
    CU_ASSERT_EQUAL_FATAL(tb__state_restore(b, blob, len, &err), 0);
    CU_ASSERT_PTR_NULL(err);
    CU_ASSERT_EQUAL(tb__state_last_index(b), tb__state_last_index(a));
    expect_value(b, "a/1", "one");
    expect_value(b, "a/2", "two");
    uint64_t ia, ib;
    json_t *na = tb__state_service_nodes(a, "web", NULL, &ia);
    json_t *nb = tb__state_service_nodes(b, "web", NULL, &ib);
    CU_ASSERT(json_equal(na, nb));
    CU_ASSERT_EQUAL(ia, ib);
    json_decref(na);
    json_decref(nb);
    json_t *ttl = tb__state_session_ttls(b);
    CU_ASSERT_EQUAL(json_array_size(ttl), 1);
    json_decref(ttl);
    /* the restored store goes on applying after its index */
    th_kv(b, TB_KV_SET, "a/3", "three", 0, 0, NULL, 0, NULL);
    expect_value(b, "a/3", "three");
    CU_ASSERT_EQUAL(tb__state_last_index(b), tb__state_last_index(a) + 1);
    /* and restoring over a store with other content replaces it */
    th_kv(a, TB_KV_SET, "only/in/a", "x", 0, 0, NULL, 0, NULL);
    CU_ASSERT_EQUAL(tb__state_restore(a, blob, len, &err), 0);
    expect_value(a, "only/in/a", NULL);
    free(blob);
    tb__state_close(a);
    tb__state_close(b);
}

/* A refused blob leaves the store exactly as it was. */
static void expect_refused(tb__state_t *st, const void *blob, size_t len, const char *want)
{
    uint64_t before = tb__state_last_index(st);
    char *err = NULL;
    CU_ASSERT_EQUAL(tb__state_restore(st, blob, len, &err), -1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    if (!strstr(err, want))
        fprintf(stderr, "\nerror \"%s\" lacks \"%s\"\n", err, want);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
    free(err);
    CU_ASSERT_EQUAL(tb__state_last_index(st), before);
    expect_value(st, "a/1", "one");
}

static void test_damaged_refused(void)
{
    tb__state_t *a = th_open(NULL);
    fill(a);
    uint8_t *blob;
    size_t len;
    CU_ASSERT_EQUAL_FATAL(tb__state_serialize(a, &blob, &len), 0);
    tb__state_t *st = th_open(NULL);
    fill(st);

    expect_refused(st, NULL, 0, "not a state snapshot");
    expect_refused(st, "hello", 5, "not a state snapshot");
    expect_refused(st, blob, len - 1, "whole number");
    uint32_t page = (uint32_t)blob[16] << 8 | blob[17];
    expect_refused(st, blob, len - page, "header says");

    /* flip bytes inside every page after the first: b-tree damage */
    uint8_t *bad = malloc(len);
    memcpy(bad, blob, len);
    for (size_t off = page; off < len; off += page)
        memset(bad + off + 8, 0xa5, 64);
    expect_refused(st, bad, len, "damaged state snapshot");

    /* a valid SQLite database that is not our store */
    sqlite3 *db;
    sqlite3_open(":memory:", &db);
    sqlite3_exec(db, "PRAGMA user_version = 1; CREATE TABLE kv(key TEXT);", NULL, NULL, NULL);
    sqlite3_int64 n;
    unsigned char *foreign = sqlite3_serialize(db, "main", &n, 0);
    expect_refused(st, foreign, (size_t)n, "differ from this server's schema");
    sqlite3_free(foreign);
    sqlite3_exec(db, "PRAGMA user_version = 7", NULL, NULL, NULL);
    foreign = sqlite3_serialize(db, "main", &n, 0);
    expect_refused(st, foreign, (size_t)n, "schema version 7");
    sqlite3_free(foreign);
    sqlite3_close(db);

    /* our schema plus a trigger: refused (it would run on later writes) */
    tb__state_t *t = th_open(NULL);
    fill(t);
    sqlite3_exec(t->db, "CREATE TRIGGER evil AFTER INSERT ON kv BEGIN DELETE FROM kv; END;",
                 NULL, NULL, NULL);
    uint8_t *tb;
    size_t tl;
    CU_ASSERT_EQUAL_FATAL(tb__state_serialize(t, &tb, &tl), 0);
    expect_refused(st, tb, tl, "differ");
    free(tb);
    tb__state_close(t);

    free(bad);
    free(blob);
    tb__state_close(a);
    tb__state_close(st);
}

static void test_restore_wakes_watches(void)
{
    tb__watch_reg_t *reg = tb__watch_reg_new();
    tb__state_t *st = th_open(reg);
    size_t len;
    uint8_t *blob = filled_blob(&len);
    int fired = 0;
    tb__watch_t *w1 = tb__watch_new(reg, th_count_cb, &fired);
    tb__watch_t *w2 = tb__watch_new(reg, th_count_cb, &fired);
    tb__watch_on(w1, TB__WATCH_SESSION, "s-1");
    tb__watch_on(w2, TB__WATCH_SERVICE, "web");
    char *err = NULL;
    /* a refused blob wakes nobody */
    CU_ASSERT_EQUAL(tb__state_restore(st, blob, len / 2, &err), -1);
    free(err);
    CU_ASSERT_EQUAL(tb__watch_flush(reg), 0);
    CU_ASSERT_EQUAL(tb__state_restore(st, blob, len, &err), 0);
    CU_ASSERT_EQUAL(tb__watch_flush(reg), 2);
    CU_ASSERT_EQUAL(fired, 2);
    tb__watch_free(w1);
    tb__watch_free(w2);
    free(blob);
    tb__state_close(st);
    tb__watch_reg_free(reg);
}

static void test_restore_command(void)
{
    tb__watch_reg_t *reg = tb__watch_reg_new();
    tb__state_t *st = th_open(reg);
    size_t len;
    uint8_t *blob = filled_blob(&len);
    for (int i = 0; i < 20; i++)
        th_kv(st, TB_KV_SET, "other", "v", 0, 0, NULL, 0, NULL);
    uint64_t at = tb__state_last_index(st) + 1;
    CU_ASSERT(at > 10);

    tb__buf_t cmd;
    CU_ASSERT_EQUAL_FATAL(tb__cmd_encode_restore(blob, len, 1234, &cmd), 0);
    CU_ASSERT_EQUAL(cmd.data[0], TB__CMD_RESTORE);
    tb__cmd_t c;
    char *err = NULL;
    CU_ASSERT_EQUAL_FATAL(tb__cmd_decode(cmd.data, cmd.len, &c, &err), 0);
    CU_ASSERT_EQUAL(c.blob_len, len);
    CU_ASSERT(memcmp(c.blob, blob, len) == 0);
    CU_ASSERT_EQUAL(c.now_ms, 1234);
    tb__cmd_clear(&c);

    int fired = 0;
    tb__watch_t *w = tb__watch_new(reg, th_count_cb, &fired);
    tb__watch_on(w, TB__WATCH_KV_KEY, "other");
    tb__apply_result_t res;
    CU_ASSERT_EQUAL(tb__fsm_apply(st, at, cmd.data, cmd.len, &res), 0);
    CU_ASSERT_EQUAL(res.status, TB_OK);
    tb__apply_result_clear(&res);
    CU_ASSERT_EQUAL(tb__watch_flush(reg), 1);
    tb__watch_free(w);
    CU_ASSERT_EQUAL(tb__state_last_index(st), at);
    expect_value(st, "other", NULL);
    expect_value(st, "a/1", "one");
    /* rows keep their index; table indexes move to the command's */
    tb__kv_rows_t rows;
    uint64_t idx;
    CU_ASSERT_EQUAL(tb__state_kv_list(st, "", &rows, &idx), 0);
    CU_ASSERT_EQUAL(rows.n, 2);
    CU_ASSERT(rows.v[0].modify_index < at);
    tb__kv_rows_free(&rows);
    json_t *nodes = tb__state_nodes(st, &idx);
    CU_ASSERT_EQUAL(idx, at);
    json_decref(nodes);
    tb__buf_free(&cmd);

    /* a damaged blob: refused deterministically, index consumed, store kept */
    blob[len / 2] ^= 0xff;
    memset(blob + len - 200, 0x5a, 100);
    CU_ASSERT_EQUAL_FATAL(tb__cmd_encode_restore(blob, len - 1, 0, &cmd), 0);
    CU_ASSERT_EQUAL(tb__fsm_apply(st, at + 1, cmd.data, cmd.len, &res), 0);
    CU_ASSERT_EQUAL(res.status, TB_BAD_REQUEST);
    CU_ASSERT_PTR_NOT_NULL(res.error && strstr(res.error, "whole number"));
    tb__apply_result_clear(&res);
    CU_ASSERT_EQUAL(tb__state_last_index(st), at + 1);
    expect_value(st, "a/1", "one");
    CU_ASSERT_EQUAL(tb__watch_flush(reg), 0);
    tb__buf_free(&cmd);

    /* a RESTORE whose body is not binary */
    const uint8_t junk[] = {TB__CMD_RESTORE, TB__CMD_VERSION, 0x92, 0xa1, 'x', 0x00};
    CU_ASSERT_EQUAL(tb__fsm_apply(st, at + 2, junk, sizeof(junk), &res), -1);
    CU_ASSERT_EQUAL(res.status, TB_INTERNAL);
    tb__apply_result_clear(&res);

    free(blob);
    tb__state_close(st);
    tb__watch_reg_free(reg);
}

static void expect_archive_refused(const void *data, size_t len, const char *want)
{
    uint8_t *state = (uint8_t *)"x";
    tb__snap_meta_t m;
    char *err = NULL;
    CU_ASSERT_EQUAL(tb__snap_archive_read(data, len, &state, NULL, &m, &err), -1);
    CU_ASSERT_PTR_NULL(state);
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    if (!strstr(err, want))
        fprintf(stderr, "\nerror \"%s\" lacks \"%s\"\n", err, want);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
    free(err);
}

/* Inflate the archive, flip one byte of the tar stream, gzip it again. */
static void expect_archive_refused_at(const tb__buf_t *ar, size_t at, const char *want)
{
    size_t cap = 64 * 1024 * 1024;
    uint8_t *tar = malloc(cap);
    z_stream z;
    memset(&z, 0, sizeof(z));
    CU_ASSERT_EQUAL_FATAL(inflateInit2(&z, 16 + MAX_WBITS), Z_OK);
    z.next_in = ar->data;
    z.avail_in = (uInt)ar->len;
    z.next_out = tar;
    z.avail_out = (uInt)cap;
    CU_ASSERT_EQUAL_FATAL(inflate(&z, Z_FINISH), Z_STREAM_END);
    size_t tlen = z.total_out;
    inflateEnd(&z);
    tar[at] ^= 0x40;
    uint8_t *gz = malloc(tlen + 1024);
    memset(&z, 0, sizeof(z));
    CU_ASSERT_EQUAL_FATAL(deflateInit2(&z, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
                          Z_OK);
    z.next_in = tar;
    z.avail_in = (uInt)tlen;
    z.next_out = gz;
    z.avail_out = (uInt)(tlen + 1024);
    CU_ASSERT_EQUAL_FATAL(deflate(&z, Z_FINISH), Z_STREAM_END);
    expect_archive_refused(gz, z.total_out, want);
    deflateEnd(&z);
    free(gz);
    free(tar);
}

static void test_archive(void)
{
    size_t len;
    uint8_t *blob = filled_blob(&len);
    tb__buf_t ar;
    CU_ASSERT_EQUAL_FATAL(
        tb__snap_archive_build(blob, len, 42, 3, 1700000000123LL, &ar.data, &ar.len), 0);
    CU_ASSERT(ar.len < len); /* gzip'd */
    uint8_t *state = NULL;
    size_t slen = 0;
    tb__snap_meta_t m;
    char *err = NULL;
    CU_ASSERT_EQUAL_FATAL(tb__snap_archive_read(ar.data, ar.len, &state, &slen, &m, &err), 0);
    CU_ASSERT_EQUAL(slen, len);
    CU_ASSERT(memcmp(state, blob, len) == 0);
    CU_ASSERT_EQUAL(m.index, 42);
    CU_ASSERT_EQUAL(m.term, 3);
    CU_ASSERT_EQUAL(m.size, len);
    CU_ASSERT_EQUAL(m.version, TB__SNAP_VERSION);
    CU_ASSERT_STRING_EQUAL(m.id, "3-42-1700000000123");
    free(state);

    expect_archive_refused(NULL, 0, "empty");
    expect_archive_refused("plain text, not an archive", 26, "not gzip");
    expect_archive_refused(ar.data, ar.len / 2, "truncated");
    uint8_t *bad = malloc(ar.len);
    memcpy(bad, ar.data, ar.len);
    memset(bad + ar.len / 2, 0xee, 16);
    expect_archive_refused(bad, ar.len, "damaged gzip stream");
    free(bad);

    /* inside a valid gzip stream: a state.bin byte (after meta.json's
     * header + one data block + state.bin's header), then a tar header byte */
    expect_archive_refused_at(&ar, 3 * 512 + 100, "state.bin does not match its SHA-256");
    expect_archive_refused_at(&ar, 10, "bad tar header checksum at offset 0");
    tb__buf_free(&ar);
    free(blob);
}

int main(void)
{
    static const CU_TestInfo tests[] = {
        {"serialize/restore round trip", test_round_trip},
        {"damaged or foreign blobs refused", test_damaged_refused},
        {"restore wakes every watch", test_restore_wakes_watches},
        {"RESTORE command", test_restore_command},
        {"snapshot archive", test_archive},
        CU_TEST_INFO_NULL,
    };
    return th_run("snapshot", tests);
}
