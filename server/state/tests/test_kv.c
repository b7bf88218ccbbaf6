/*
 * test_kv.c - unit tests of the KV area (kv.c, and session.c for locks):
 * every verb and its edge cases, index rules (never 0, never backwards
 * after deletes, key index vs table index), keys with separator, and the
 * watch notifications of KV writes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

#define SEMAPHORE_FLAGS 16210313421097356768ULL

static void add_node(tb__state_t *st, const char *node)
{
    char body[256];
    snprintf(body, sizeof(body), "{\"Node\":\"%s\",\"Address\":\"127.0.0.1\"}", node);
    CU_ASSERT_EQUAL_FATAL(th_json(st, TB__CMD_REGISTER, body, 0, NULL), TB_OK);
}

static void add_session(tb__state_t *st, const char *id, const char *node, long long delay_ns,
                        const char *behavior)
{
    char body[512];
    snprintf(body, sizeof(body),
             "{\"Op\":\"create\",\"Session\":{\"ID\":\"%s\",\"Node\":\"%s\",\"LockDelay\":%lld,"
             "\"Behavior\":\"%s\"}}",
             id, node, delay_ns, behavior);
    CU_ASSERT_EQUAL_FATAL(th_json(st, TB__CMD_SESSION, body, 0, NULL), TB_OK);
}

static void destroy_session(tb__state_t *st, const char *id, int64_t now)
{
    char body[256];
    snprintf(body, sizeof(body), "{\"Op\":\"destroy\",\"Session\":{\"ID\":\"%s\"}}", id);
    CU_ASSERT_EQUAL(th_json(st, TB__CMD_SESSION, body, now, NULL), TB_OK);
}

/* Expect key to hold value (NULL = exists with empty value). */
static tb_kv_entry_t expect_key(tb__state_t *st, tb__kv_rows_t *rows, const char *key,
                                const char *value)
{
    uint64_t idx;
    tb_kv_entry_t none = {0};
    if (!th_get(st, key, rows, &idx)) {
        CU_FAIL("key missing");
        return none;
    }
    tb_kv_entry_t e = rows->v[0];
    CU_ASSERT_STRING_EQUAL(e.key, key);
    if (value) {
        CU_ASSERT_EQUAL(e.value_len, strlen(value));
        CU_ASSERT(e.value && memcmp(e.value, value, e.value_len) == 0);
    } else {
        CU_ASSERT_PTR_NULL(e.value);
        CU_ASSERT_EQUAL(e.value_len, 0);
    }
    CU_ASSERT_EQUAL(idx, e.modify_index);
    return e;
}

static int key_exists(tb__state_t *st, const char *key)
{
    tb__kv_rows_t rows;
    int found = th_get(st, key, &rows, NULL);
    tb__kv_rows_free(&rows);
    return found;
}

static void test_set_get(void)
{
    tb__state_t *st = th_open(NULL);
    tb__kv_rows_t rows;
    uint64_t idx = 0;
    /* empty store: index is 1, never 0 */
    CU_ASSERT_EQUAL(th_get(st, "missing", &rows, &idx), 0);
    CU_ASSERT_EQUAL(idx, 1);
    tb__kv_rows_free(&rows);

    CU_ASSERT_EQUAL(th_kv(st, TB_KV_SET, "a/b", "hello", 42, 0, NULL, 0, NULL), 1); /* idx 1 */
    tb_kv_entry_t e = expect_key(st, &rows, "a/b", "hello");
    CU_ASSERT_EQUAL(e.flags, 42);
    CU_ASSERT_EQUAL(e.create_index, 1);
    CU_ASSERT_EQUAL(e.modify_index, 1);
    CU_ASSERT_EQUAL(e.lock_index, 0);
    CU_ASSERT_PTR_NULL(e.session);
    tb__kv_rows_free(&rows);

    /* overwrite: CreateIndex kept, ModifyIndex moves; empty value reads as NULL */
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_SET, "a/b", "", SEMAPHORE_FLAGS, 0, NULL, 0, NULL), 1);
    e = expect_key(st, &rows, "a/b", NULL);
    CU_ASSERT_EQUAL(e.flags, SEMAPHORE_FLAGS); /* > 2^63 survives */
    CU_ASSERT_EQUAL(e.create_index, 1);
    CU_ASSERT_EQUAL(e.modify_index, 2);
    tb__kv_rows_free(&rows);

    /* binary value with NUL bytes */
    tb_kv_write_t op = {sizeof(op), TB_KV_SET, "bin", "\0\1\2\0", 4, UINT64_MAX, 0, NULL};
    tb__buf_t b;
    CU_ASSERT_EQUAL_FATAL(tb__cmd_encode_kv(&op, 0, &b), 0);
    tb__apply_result_t res;
    CU_ASSERT_EQUAL(tb__fsm_apply(st, 3, b.data, b.len, &res), 0);
    tb__apply_result_clear(&res);
    tb__buf_free(&b);
    CU_ASSERT_EQUAL_FATAL(th_get(st, "bin", &rows, &idx), 1);
    CU_ASSERT_EQUAL(rows.v[0].value_len, 4);
    CU_ASSERT(memcmp(rows.v[0].value, "\0\1\2\0", 4) == 0);
    CU_ASSERT_EQUAL(rows.v[0].flags, UINT64_MAX);
    tb__kv_rows_free(&rows);

    /* missing key: the kv table index */
    CU_ASSERT_EQUAL(th_get(st, "missing", &rows, &idx), 0);
    CU_ASSERT_EQUAL(idx, 3);
    tb__kv_rows_free(&rows);
    /* existing key: its own ModifyIndex, not the table's */
    CU_ASSERT_EQUAL(th_get(st, "a/b", &rows, &idx), 1);
    CU_ASSERT_EQUAL(idx, 2);
    tb__kv_rows_free(&rows);

    /* empty key refused; invalid UTF-8 key refused */
    tb_status_t s;
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_SET, "", "x", 0, 0, NULL, 0, &s), 0);
    CU_ASSERT_EQUAL(s, TB_BAD_REQUEST);
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_SET, "bad\xff", "x", 0, 0, NULL, 0, &s), 0);
    CU_ASSERT_EQUAL(s, TB_BAD_REQUEST);
    CU_ASSERT_EQUAL(th_get(st, "missing", &rows, &idx), 0);
    CU_ASSERT_EQUAL(idx, 3); /* refusals did not move the kv index */
    tb__kv_rows_free(&rows);
    tb__state_close(st);
}

static void test_cas(void)
{
    tb__state_t *st = th_open(NULL);
    tb__kv_rows_t rows;
    /* cas 0: create only if absent */
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_CAS, "k", "one", 0, 0, NULL, 0, NULL), 1); /* idx 1 */
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_CAS, "k", "two", 0, 0, NULL, 0, NULL), 0); /* idx 2 */
    expect_key(st, &rows, "k", "one");
    tb__kv_rows_free(&rows);
    /* cas N: only if ModifyIndex == N */
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_CAS, "k", "three", 0, 7, NULL, 0, NULL), 0); /* 3 */
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_CAS, "k", "four", 5, 1, NULL, 0, NULL), 1);  /* 4 */
    tb_kv_entry_t e = expect_key(st, &rows, "k", "four");
    CU_ASSERT_EQUAL(e.modify_index, 4);
    CU_ASSERT_EQUAL(e.create_index, 1);
    CU_ASSERT_EQUAL(e.flags, 5);
    tb__kv_rows_free(&rows);
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_CAS, "k", "five", 0, 1, NULL, 0, NULL), 0); /* stale */
    /* cas N on a missing key fails */
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_CAS, "nokey", "x", 0, 4, NULL, 0, NULL), 0);
    CU_ASSERT_FALSE(key_exists(st, "nokey"));
    tb__state_close(st);
}

static void test_lock_unlock(void)
{
    tb__state_t *st = th_open(NULL);
    add_node(st, "n1");
    add_session(st, "s1", "n1", 0, "release");
    add_session(st, "s2", "n1", 0, "release");
    tb__kv_rows_t rows;
    tb_status_t s;

    /* session required and must exist */
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_LOCK, "lock", "v", 0, 0, NULL, 0, &s), 0);
    CU_ASSERT_EQUAL(s, TB_BAD_REQUEST);
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_LOCK, "lock", "v", 0, 0, "nope", 0, &s), 0);
    CU_ASSERT_EQUAL(s, TB_BAD_REQUEST);
    CU_ASSERT_FALSE(key_exists(st, "lock"));

    /* acquire a missing key: created, LockIndex 1 */
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_LOCK, "lock", "v1", 3, 0, "s1", 0, &s), 1);
    CU_ASSERT_EQUAL(s, TB_OK);
    tb_kv_entry_t e = expect_key(st, &rows, "lock", "v1");
    CU_ASSERT_EQUAL(e.lock_index, 1);
    CU_ASSERT_EQUAL(e.flags, 3);
    CU_ASSERT_STRING_EQUAL(e.session, "s1");
    uint64_t created = e.create_index;
    tb__kv_rows_free(&rows);

    /* re-acquire by the holder: value written, LockIndex unchanged */
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_LOCK, "lock", "v2", 4, 0, "s1", 0, NULL), 1);
    e = expect_key(st, &rows, "lock", "v2");
    CU_ASSERT_EQUAL(e.lock_index, 1);
    CU_ASSERT_EQUAL(e.flags, 4);
    tb__kv_rows_free(&rows);

    /* another session: refused, nothing written */
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_LOCK, "lock", "other", 0, 0, "s2", 0, &s), 0);
    CU_ASSERT_EQUAL(s, TB_OK);
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_UNLOCK, "lock", "other", 0, 0, "s2", 0, NULL), 0);
    e = expect_key(st, &rows, "lock", "v2");
    CU_ASSERT_STRING_EQUAL(e.session, "s1");
    tb__kv_rows_free(&rows);

    /* a plain set on a locked key keeps the lock */
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_SET, "lock", "plain", 0, 0, NULL, 0, NULL), 1);
    e = expect_key(st, &rows, "lock", "plain");
    CU_ASSERT_STRING_EQUAL(e.session, "s1");
    CU_ASSERT_EQUAL(e.lock_index, 1);
    tb__kv_rows_free(&rows);

    /* release by the holder: Session cleared, LockIndex kept, value written */
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_UNLOCK, "lock", "released", 9, 0, "s1", 0, NULL), 1);
    e = expect_key(st, &rows, "lock", "released");
    CU_ASSERT_PTR_NULL(e.session);
    CU_ASSERT_EQUAL(e.lock_index, 1);
    CU_ASSERT_EQUAL(e.flags, 9);
    CU_ASSERT_EQUAL(e.create_index, created);
    tb__kv_rows_free(&rows);
    /* unlock of an unlocked key fails */
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_UNLOCK, "lock", "x", 0, 0, "s1", 0, NULL), 0);
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_UNLOCK, "nokey", "x", 0, 0, "s1", 0, NULL), 0);

    /* a voluntary release sets no lock-delay: s2 acquires at once; LockIndex 2 */
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_LOCK, "lock", "mine", 0, 0, "s2", 0, NULL), 1);
    e = expect_key(st, &rows, "lock", "mine");
    CU_ASSERT_EQUAL(e.lock_index, 2);
    CU_ASSERT_STRING_EQUAL(e.session, "s2");
    tb__kv_rows_free(&rows);
    tb__state_close(st);
}

static void test_lock_delay_after_destroy(void)
{
    tb__state_t *st = th_open(NULL);
    add_node(st, "n1");
    add_session(st, "s1", "n1", 15000000000LL, "release"); /* 15 s */
    add_session(st, "s2", "n1", 0, "release");
    tb__kv_rows_t rows;
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_LOCK, "leader", "me", 0, 0, "s1", 1000, NULL), 1);
    destroy_session(st, "s1", 1000);

    /* released by invalidation: no holder shown, LockIndex kept */
    tb_kv_entry_t e = expect_key(st, &rows, "leader", "me");
    CU_ASSERT_PTR_NULL(e.session);
    CU_ASSERT_EQUAL(e.lock_index, 1);
    CU_ASSERT_EQUAL(e.modify_index, tb__state_last_index(st));
    tb__kv_rows_free(&rows);

    /* within the delay (by the command's clock): refused */
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_LOCK, "leader", "x", 0, 0, "s2", 2000, NULL), 0);
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_LOCK, "leader", "x", 0, 0, "s2", 15999, NULL), 0);
    e = expect_key(st, &rows, "leader", "me");
    CU_ASSERT_PTR_NULL(e.session);
    tb__kv_rows_free(&rows);
    /* a plain set is not blocked by the delay */
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_SET, "leader", "set", 0, 0, NULL, 3000, NULL), 1);
    /* from its end on (1000 + 15 s): acquired */
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_LOCK, "leader", "x", 0, 0, "s2", 16000, NULL), 1);
    e = expect_key(st, &rows, "leader", "x");
    CU_ASSERT_STRING_EQUAL(e.session, "s2");
    CU_ASSERT_EQUAL(e.lock_index, 2);
    tb__kv_rows_free(&rows);

    /* the delay is capped at 60 s */
    add_session(st, "s3", "n1", 3600000000000LL, "release"); /* 1 h */
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_LOCK, "capped", "v", 0, 0, "s3", 0, NULL), 1);
    destroy_session(st, "s3", 0);
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_LOCK, "capped", "v", 0, 0, "s2", 59999, NULL), 0);
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_LOCK, "capped", "v", 0, 0, "s2", 60000, NULL), 1);

    /* LockDelay 0: acquirable at once after invalidation */
    add_session(st, "s4", "n1", 0, "release");
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_LOCK, "nodelay", "v", 0, 0, "s4", 0, NULL), 1);
    destroy_session(st, "s4", 0);
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_LOCK, "nodelay", "v", 0, 0, "s2", 0, NULL), 1);

    /* Behavior delete: held keys are deleted (with the delay set too) */
    add_session(st, "s5", "n1", 5000000000LL, "delete");
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_LOCK, "ephemeral", "v", 0, 0, "s5", 0, NULL), 1);
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_LOCK, "ephemeral2", "v", 0, 0, "s5", 0, NULL), 1);
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_SET, "unrelated", "v", 0, 0, NULL, 0, NULL), 1);
    destroy_session(st, "s5", 0);
    CU_ASSERT_FALSE(key_exists(st, "ephemeral"));
    CU_ASSERT_FALSE(key_exists(st, "ephemeral2"));
    CU_ASSERT_TRUE(key_exists(st, "unrelated"));
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_LOCK, "ephemeral", "v", 0, 0, "s2", 4999, NULL), 0);
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_LOCK, "ephemeral", "v", 0, 0, "s2", 5000, NULL), 1);

    /* a destroyed session can no longer acquire */
    tb_status_t s;
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_LOCK, "other", "v", 0, 0, "s1", 99999, &s), 0);
    CU_ASSERT_EQUAL(s, TB_BAD_REQUEST);
    tb__state_close(st);
}

static void test_deletes(void)
{
    tb__state_t *st = th_open(NULL);
    const char *keys[] = {"a", "a/1", "a/2", "a/sub/3", "a0", "ab", "b/1"};
    for (size_t i = 0; i < 7; i++)
        CU_ASSERT_EQUAL(th_kv(st, TB_KV_SET, keys[i], "v", 0, 0, NULL, 0, NULL), 1);
    /* delete: applied even when missing */
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_DELETE, "a/1", NULL, 0, 0, NULL, 0, NULL), 1);
    CU_ASSERT_FALSE(key_exists(st, "a/1"));
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_DELETE, "a/1", NULL, 0, 0, NULL, 0, NULL), 1);

    /* delete-cas: 0 never deletes, N only when ModifyIndex == N */
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_DELETE_CAS, "a/2", NULL, 0, 0, NULL, 0, NULL), 0);
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_DELETE_CAS, "nokey", NULL, 0, 0, NULL, 0, NULL), 0);
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_DELETE_CAS, "a/2", NULL, 0, 2, NULL, 0, NULL), 0);
    CU_ASSERT_TRUE(key_exists(st, "a/2"));
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_DELETE_CAS, "a/2", NULL, 0, 3, NULL, 0, NULL), 1);
    CU_ASSERT_FALSE(key_exists(st, "a/2"));

    /* delete-tree: only keys under the prefix (not "a", "a0", "ab") */
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_DELETE_TREE, "a/", NULL, 0, 0, NULL, 0, NULL), 1);
    CU_ASSERT_FALSE(key_exists(st, "a/sub/3"));
    CU_ASSERT_TRUE(key_exists(st, "a"));
    CU_ASSERT_TRUE(key_exists(st, "a0"));
    CU_ASSERT_TRUE(key_exists(st, "ab"));
    CU_ASSERT_TRUE(key_exists(st, "b/1"));
    /* delete-tree "" deletes everything */
    CU_ASSERT_EQUAL(th_kv(st, TB_KV_DELETE_TREE, "", NULL, 0, 0, NULL, 0, NULL), 1);
    tb__kv_rows_t rows;
    uint64_t idx;
    CU_ASSERT_EQUAL(tb__state_kv_list(st, "", &rows, &idx), 0);
    CU_ASSERT_EQUAL(rows.n, 0);
    CU_ASSERT_EQUAL(idx, tb__state_last_index(st));
    tb__kv_rows_free(&rows);
    tb__state_close(st);
}

static void test_index_rules(void)
{
    tb__state_t *st = th_open(NULL);
    tb__kv_rows_t rows;
    uint64_t idx = 0;
    CU_ASSERT_EQUAL(tb__state_kv_list(st, "", &rows, &idx), 0);
    CU_ASSERT_EQUAL(idx, 1);
    tb__kv_rows_free(&rows);

    th_kv(st, TB_KV_SET, "x/1", "v", 0, 0, NULL, 0, NULL); /* 1 */
    th_kv(st, TB_KV_SET, "x/2", "v", 0, 0, NULL, 0, NULL); /* 2 */
    th_kv(st, TB_KV_SET, "y/1", "v", 0, 0, NULL, 0, NULL); /* 3 */
    CU_ASSERT_EQUAL(tb__state_kv_list(st, "x/", &rows, &idx), 0);
    CU_ASSERT_EQUAL(rows.n, 2);
    CU_ASSERT_EQUAL(idx, 2); /* max over the prefix, not the table's 3 */
    tb__kv_rows_free(&rows);

    /* deleting the max-index key must not move the index backwards */
    th_kv(st, TB_KV_DELETE, "x/2", NULL, 0, 0, NULL, 0, NULL); /* 4 */
    CU_ASSERT_EQUAL(tb__state_kv_list(st, "x/", &rows, &idx), 0);
    CU_ASSERT_EQUAL(rows.n, 1);
    CU_ASSERT_EQUAL(idx, 4);
    tb__kv_rows_free(&rows);
    json_t *keys;
    CU_ASSERT_EQUAL(tb__state_kv_keys(st, "x/", NULL, &keys, &idx), 0);
    CU_ASSERT_EQUAL(idx, 4);
    json_decref(keys);
    /* a deleted-then-empty prefix keeps the tombstone index */
    th_kv(st, TB_KV_DELETE, "x/1", NULL, 0, 0, NULL, 0, NULL); /* 5 */
    th_kv(st, TB_KV_SET, "z", "v", 0, 0, NULL, 0, NULL);        /* 6 */
    CU_ASSERT_EQUAL(tb__state_kv_list(st, "x/", &rows, &idx), 0);
    CU_ASSERT_EQUAL(rows.n, 0);
    CU_ASSERT_EQUAL(idx, 5);
    tb__kv_rows_free(&rows);
    /* prefix never written: the table index */
    CU_ASSERT_EQUAL(tb__state_kv_list(st, "never/", &rows, &idx), 0);
    CU_ASSERT_EQUAL(idx, 6);
    tb__kv_rows_free(&rows);
    /* a missing single key after a delete: table index (moved by the delete) */
    th_kv(st, TB_KV_DELETE, "z", NULL, 0, 0, NULL, 0, NULL); /* 7 */
    CU_ASSERT_EQUAL(th_get(st, "z", &rows, &idx), 0);
    CU_ASSERT_EQUAL(idx, 7);
    tb__kv_rows_free(&rows);
    /* a failed CAS does not move the kv index */
    th_kv(st, TB_KV_CAS, "y/1", "v", 0, 99, NULL, 0, NULL); /* 8, refused */
    CU_ASSERT_EQUAL(th_get(st, "nothing", &rows, &idx), 0);
    CU_ASSERT_EQUAL(idx, 7);
    tb__kv_rows_free(&rows);
    tb__state_close(st);
}

static void test_list_and_keys(void)
{
    tb__state_t *st = th_open(NULL);
    const char *keys[] = {"b", "a/f/", "a/b/d", "a/e", "a/b/c", "a", "a/b/c/deep", "c\xc3\xa9"};
    for (size_t i = 0; i < 8; i++)
        th_kv(st, TB_KV_SET, keys[i], "v", 0, 0, NULL, 0, NULL);
    tb__kv_rows_t rows;
    uint64_t idx;
    CU_ASSERT_EQUAL(tb__state_kv_list(st, "a/", &rows, &idx), 0);
    CU_ASSERT_EQUAL_FATAL(rows.n, 5);
    const char *sorted[] = {"a/b/c", "a/b/c/deep", "a/b/d", "a/e", "a/f/"};
    for (size_t i = 0; i < 5; i++)
        CU_ASSERT_STRING_EQUAL(rows.v[i].key, sorted[i]);
    tb__kv_rows_free(&rows);

    struct {
        const char *prefix, *sep, *want;
    } cases[] = {
        {"a/", "/", "[\"a/b/\",\"a/e\",\"a/f/\"]"},
        {"", "/", "[\"a\",\"a/\",\"b\",\"c\\u00e9\"]"},
        {"a/b", "/", "[\"a/b/\"]"},
        {"a/", NULL, "[\"a/b/c\",\"a/b/c/deep\",\"a/b/d\",\"a/e\",\"a/f/\"]"},
        {"a/", "", "[\"a/b/c\",\"a/b/c/deep\",\"a/b/d\",\"a/e\",\"a/f/\"]"},
        {"a/b/", "c/", "[\"a/b/c\",\"a/b/c/\",\"a/b/d\"]"},
        {"nothing", "/", "[]"},
        {"", NULL, "[\"a\",\"a/b/c\",\"a/b/c/deep\",\"a/b/d\",\"a/e\",\"a/f/\",\"b\",\"c\\u00e9\"]"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *got = NULL, *want = th_j(cases[i].want);
        CU_ASSERT_EQUAL(tb__state_kv_keys(st, cases[i].prefix, cases[i].sep, &got, &idx), 0);
        if (!json_equal(got, want)) {
            char *g = json_dumps(got, JSON_COMPACT);
            fprintf(stderr, "\n  keys(%s, %s) = %s, want %s\n", cases[i].prefix,
                    cases[i].sep ? cases[i].sep : "NULL", g, cases[i].want);
            free(g);
            CU_FAIL("keys mismatch");
        }
        CU_ASSERT(idx >= 1);
        json_decref(got);
        json_decref(want);
    }
    tb__state_close(st);
}

static void test_kv_notifications(void)
{
    tb__watch_reg_t *reg = tb__watch_reg_new();
    tb__state_t *st = th_open(reg);
    add_node(st, "n1");
    add_session(st, "s1", "n1", 0, "release");
    int key = 0, prefix = 0, other = 0, table = 0, nodes = 0;
    tb__watch_t *wk = tb__watch_new(reg, th_count_cb, &key);
    tb__watch_t *wp = tb__watch_new(reg, th_count_cb, &prefix);
    tb__watch_t *wo = tb__watch_new(reg, th_count_cb, &other);
    tb__watch_t *wt = tb__watch_new(reg, th_count_cb, &table);
    tb__watch_t *wn = tb__watch_new(reg, th_count_cb, &nodes);
#define ARM()                                          \
    do {                                               \
        tb__watch_on(wk, TB__WATCH_KV_KEY, "app/x");   \
        tb__watch_on(wp, TB__WATCH_KV_PREFIX, "app/"); \
        tb__watch_on(wo, TB__WATCH_KV_PREFIX, "db/");  \
        tb__watch_on(wt, TB__WATCH_TABLE, "kv");       \
        tb__watch_on(wn, TB__WATCH_TABLE, "nodes");    \
    } while (0)
    ARM();
    tb__watch_flush(reg);
    th_kv(st, TB_KV_SET, "app/x", "v", 0, 0, NULL, 0, NULL);
    CU_ASSERT_EQUAL(tb__watch_flush(reg), 3);
    CU_ASSERT_EQUAL(key, 1);
    CU_ASSERT_EQUAL(prefix, 1);
    CU_ASSERT_EQUAL(table, 1);
    CU_ASSERT_EQUAL(other, 0);
    CU_ASSERT_EQUAL(nodes, 0);
    ARM();
    /* failed CAS and refused lock: nothing changed, nobody wakes */
    th_kv(st, TB_KV_CAS, "app/x", "v", 0, 999, NULL, 0, NULL);
    th_kv(st, TB_KV_LOCK, "app/x", "v", 0, 0, "ghost", 0, NULL);
    th_kv(st, TB_KV_DELETE, "app/missing", NULL, 0, 0, NULL, 0, NULL);
    CU_ASSERT_EQUAL(tb__watch_flush(reg), 0);
    /* a sibling key wakes the prefix and table watchers only */
    th_kv(st, TB_KV_SET, "app/y", "v", 0, 0, NULL, 0, NULL);
    CU_ASSERT_EQUAL(tb__watch_flush(reg), 2);
    CU_ASSERT_EQUAL(key, 1);
    CU_ASSERT_EQUAL(prefix, 2);
    ARM();
    /* session invalidation releasing a key wakes that key's watchers */
    th_kv(st, TB_KV_LOCK, "db/leader", "v", 0, 0, "s1", 0, NULL);
    tb__watch_flush(reg);
    CU_ASSERT_EQUAL(other, 1);
    ARM();
    destroy_session(st, "s1", 0);
    tb__watch_flush(reg);
    CU_ASSERT_EQUAL(other, 2);
    CU_ASSERT_EQUAL(key, 1);
    /* delete-tree wakes every deleted key */
    ARM();
    th_kv(st, TB_KV_DELETE_TREE, "app/", NULL, 0, 0, NULL, 0, NULL);
    tb__watch_flush(reg);
    CU_ASSERT_EQUAL(key, 2);
    CU_ASSERT_EQUAL(prefix, 3);
    CU_ASSERT_EQUAL(other, 2);
#undef ARM
    tb__watch_free(wk);
    tb__watch_free(wp);
    tb__watch_free(wo);
    tb__watch_free(wt);
    tb__watch_free(wn);
    tb__state_close(st);
    tb__watch_reg_free(reg);
}

int main(void)
{
    static const CU_TestInfo tests[] = {
        {"set and get", test_set_get},
        {"cas 0 and N", test_cas},
        {"lock and unlock", test_lock_unlock},
        {"lock-delay after invalidation, behaviors", test_lock_delay_after_destroy},
        {"delete, delete-cas, delete-tree", test_deletes},
        {"index rules", test_index_rules},
        {"recursive list and keys with separator", test_list_and_keys},
        {"KV watch notifications", test_kv_notifications},
        CU_TEST_INFO_NULL,
    };
    return th_run("kv", tests);
}
