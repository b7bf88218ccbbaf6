/*
 * kv.c - the KV area of the state store: Consul's KVS.Apply verbs (set,
 * cas, lock, unlock, delete, delete-tree, delete-cas) and the typed reads
 * (get, recursive list, keys with separator).
 *
 * Deletes leave a tombstone (key, index) so that the index of a prefix
 * list moves forward when a key under it disappears; writing the key again
 * drops its tombstone (the new ModifyIndex is larger anyway). Tombstones
 * are never reaped yet (Consul reaps them after tombstone_ttl through a
 * leader command).
 *
 * Flags are stored as the int64 with the same bits as the uint64.
 */
#include <stdlib.h>
#include <string.h>

#include "state/state_int.h"

typedef struct kvrow {
    int exists;
    uint64_t flags, lock_index, create_index, modify_index;
    char *session; /* malloc'd or NULL */
} kvrow_t;

/* ---------------------------------------------------------------- prefix ranges */

/* The smallest string greater than every string starting with prefix, or
 * NULL when there is none (empty prefix, or all bytes 0xff). */
static char *prefix_upper(const char *prefix)
{
    size_t n = strlen(prefix);
    while (n && (unsigned char)prefix[n - 1] == 0xff)
        n--;
    if (!n)
        return NULL;
    char *u = malloc(n + 1);
    if (!u)
        return NULL;
    memcpy(u, prefix, n);
    u[n - 1] = (char)((unsigned char)u[n - 1] + 1);
    u[n] = 0;
    return u;
}

/* Choose between the bounded and the open-ended form of a range query and
 * bind the prefix. *upper is what the caller frees. */
static sqlite3_stmt *range_stmt(tb__state_t *st, const char *bounded, const char *open,
                                const char *prefix, char **upper)
{
    *upper = prefix_upper(prefix);
    sqlite3_stmt *s = tb__st_sql(st, *upper ? bounded : open);
    if (!s)
        return NULL;
    sqlite3_bind_text(s, 1, prefix, -1, SQLITE_TRANSIENT);
    if (*upper)
        sqlite3_bind_text(s, 2, *upper, -1, SQLITE_STATIC);
    return s;
}

/* ---------------------------------------------------------------- writes */

static int kv_load(tb__state_t *st, const char *key, kvrow_t *r)
{
    memset(r, 0, sizeof(*r));
    sqlite3_stmt *s = tb__st_sql(st, "SELECT flags, lock_index, session, create_index,"
                                     " modify_index FROM kv WHERE key = ?1");
    if (!s)
        return -1;
    tb__bind_text(s, 1, key);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        r->exists = 1;
        r->flags = tb__col_u64(s, 0);
        r->lock_index = tb__col_u64(s, 1);
        if (sqlite3_column_type(s, 2) != SQLITE_NULL && !(r->session = strdup(tb__col_text(s, 2))))
            rc = SQLITE_NOMEM;
        r->create_index = tb__col_u64(s, 3);
        r->modify_index = tb__col_u64(s, 4);
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int kv_write(tb__state_t *st, const char *key, const void *value, size_t len,
                    uint64_t flags, uint64_t lock_index, const char *session,
                    uint64_t create_index)
{
    sqlite3_stmt *s = tb__st_sql(
        st, "INSERT INTO kv(key, value, flags, lock_index, session, create_index, modify_index)"
            " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(key) DO UPDATE SET"
            " value = excluded.value, flags = excluded.flags, lock_index = excluded.lock_index,"
            " session = excluded.session, modify_index = excluded.modify_index");
    if (!s)
        return -1;
    tb__bind_text(s, 1, key);
    if (len)
        sqlite3_bind_blob64(s, 2, value, len, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, 2); /* empty value reads back as NULL ("Value": null) */
    tb__bind_u64(s, 3, flags);
    tb__bind_u64(s, 4, lock_index);
    tb__bind_text(s, 5, session && *session ? session : NULL);
    tb__bind_u64(s, 6, create_index);
    tb__bind_u64(s, 7, st->idx);
    if (tb__st_exec(s))
        return -1;
    s = tb__st_sql(st, "DELETE FROM kv_tombstones WHERE key = ?1");
    if (!s)
        return -1;
    tb__bind_text(s, 1, key);
    if (tb__st_exec(s))
        return -1;
    tb__st_changed(st, TB__TBL_KV);
    return tb__st_note(st, TB__WATCH_KV_KEY, key);
}

int tb__kv_delete_key(tb__state_t *st, const char *key)
{
    sqlite3_stmt *s = tb__st_sql(st, "DELETE FROM kv WHERE key = ?1");
    if (!s)
        return -1;
    tb__bind_text(s, 1, key);
    if (tb__st_exec(s))
        return -1;
    if (sqlite3_changes(st->db) == 0)
        return 0;
    s = tb__st_sql(st, "INSERT INTO kv_tombstones(key, modify_index) VALUES(?1, ?2)"
                       " ON CONFLICT(key) DO UPDATE SET modify_index = excluded.modify_index");
    if (!s)
        return -1;
    tb__bind_text(s, 1, key);
    tb__bind_u64(s, 2, st->idx);
    if (tb__st_exec(s))
        return -1;
    tb__st_changed(st, TB__TBL_KV);
    return tb__st_note(st, TB__WATCH_KV_KEY, key);
}

static int session_exists(tb__state_t *st, const char *id, int *exists)
{
    sqlite3_stmt *s = tb__st_sql(st, "SELECT 1 FROM sessions WHERE id = ?1");
    if (!s)
        return -1;
    tb__bind_text(s, 1, id);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    *exists = rc == SQLITE_ROW;
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* 1 while the key is in a lock-delay after an invalidation, else 0 (and
 * an expired delay is dropped). -1 on error. */
static int in_lock_delay(tb__state_t *st, const char *key)
{
    sqlite3_stmt *s = tb__st_sql(st, "SELECT until_ms FROM kv_lock_delay WHERE key = ?1");
    if (!s)
        return -1;
    tb__bind_text(s, 1, key);
    int rc = sqlite3_step(s);
    int64_t until = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    if (rc != SQLITE_ROW)
        return rc == SQLITE_DONE ? 0 : -1;
    if (until > st->now_ms)
        return 1;
    s = tb__st_sql(st, "DELETE FROM kv_lock_delay WHERE key = ?1");
    if (!s)
        return -1;
    tb__bind_text(s, 1, key);
    return tb__st_exec(s);
}

static int delete_tree(tb__state_t *st, const char *prefix)
{
    char *upper;
    sqlite3_stmt *s = range_stmt(st, "SELECT key FROM kv WHERE key >= ?1 AND key < ?2",
                                 "SELECT key FROM kv WHERE key >= ?1", prefix, &upper);
    if (!s) {
        free(upper);
        return -1;
    }
    /* collect first: the deletes reuse statements and modify kv */
    char **keys = NULL;
    size_t n = 0, cap = 0;
    int rc, err = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **k = realloc(keys, cap * sizeof(*k));
            if (!k) {
                err = 1;
                break;
            }
            keys = k;
        }
        if (!(keys[n] = strdup(tb__col_text(s, 0)))) {
            err = 1;
            break;
        }
        n++;
    }
    if (rc != SQLITE_DONE)
        err = 1;
    sqlite3_reset(s);
    free(upper);
    for (size_t i = 0; i < n; i++) {
        if (!err && tb__kv_delete_key(st, keys[i]))
            err = 1;
        free(keys[i]);
    }
    free(keys);
    return err ? -1 : 0;
}

int tb__kv_apply(tb__state_t *st, const tb_kv_write_t *op, tb__apply_result_t *res)
{
    const char *key = op->key ? op->key : "";
    if (!*key && op->verb != TB_KV_DELETE_TREE)
        return tb__refuse(res, TB_BAD_REQUEST, "Missing key name");
    /* keys are echoed in JSON (keys lists, errors), which must be UTF-8 */
    if (!tb__utf8_valid(key, strlen(key)))
        return tb__refuse(res, TB_BAD_REQUEST, "Invalid key: not valid UTF-8");
    if (op->verb == TB_KV_DELETE_TREE)
        return delete_tree(st, key) ? tb__st_fail(st, res) : 0;

    kvrow_t r;
    if (kv_load(st, key, &r)) {
        free(r.session);
        return tb__st_fail(st, res);
    }
    int rc = 0;
    res->applied = 1;
    switch (op->verb) {
    case TB_KV_CAS:
        if (op->index == 0 ? r.exists : (!r.exists || r.modify_index != op->index)) {
            res->applied = 0;
            break;
        }
        /* fall through */
    case TB_KV_SET:
        /* a plain set keeps an existing lock */
        rc = kv_write(st, key, op->value, op->value_len, op->flags, r.lock_index, r.session,
                      r.exists ? r.create_index : st->idx);
        break;
    case TB_KV_LOCK: {
        if (!op->session || !*op->session) {
            rc = tb__refuse(res, TB_BAD_REQUEST, "Missing session");
            break;
        }
        int ok;
        if ((rc = session_exists(st, op->session, &ok)))
            break;
        if (!ok) {
            rc = tb__refuse(res, TB_BAD_REQUEST, "Invalid session \"%s\"", op->session);
            break;
        }
        if (r.session) {
            if (strcmp(r.session, op->session) != 0) {
                res->applied = 0; /* held by another session */
                break;
            }
            /* re-acquired by its holder: LockIndex unchanged */
            rc = kv_write(st, key, op->value, op->value_len, op->flags, r.lock_index, r.session,
                          r.create_index);
            break;
        }
        int delayed = in_lock_delay(st, key);
        if (delayed) {
            if (delayed < 0)
                rc = -1;
            res->applied = 0;
            break;
        }
        rc = kv_write(st, key, op->value, op->value_len, op->flags, r.lock_index + 1,
                      op->session, r.exists ? r.create_index : st->idx);
        break;
    }
    case TB_KV_UNLOCK:
        if (!r.session || !op->session || strcmp(r.session, op->session) != 0) {
            res->applied = 0;
            break;
        }
        rc = kv_write(st, key, op->value, op->value_len, op->flags, r.lock_index, NULL,
                      r.create_index);
        break;
    case TB_KV_DELETE_CAS:
        /* index 0 never deletes: no row has ModifyIndex 0 */
        if (!r.exists || r.modify_index != op->index) {
            res->applied = 0;
            break;
        }
        /* fall through */
    case TB_KV_DELETE:
        rc = tb__kv_delete_key(st, key);
        break;
    default:
        rc = tb__refuse(res, TB_BAD_REQUEST, "Invalid KV verb %d", (int)op->verb);
        break;
    }
    free(r.session);
    if (rc < 0 && res->status == TB_OK)
        return tb__st_fail(st, res);
    return rc;
}

/* ---------------------------------------------------------------- reads */

void tb__kv_rows_free(tb__kv_rows_t *rows)
{
    if (!rows)
        return;
    void **blocks = rows->storage;
    for (size_t i = 0; i < rows->n; i++)
        free(blocks[i]);
    free(blocks);
    free(rows->v);
    memset(rows, 0, sizeof(*rows));
}

/* Columns: key, value, flags, lock_index, session, create_index, modify_index. */
static int rows_add(tb__kv_rows_t *rows, size_t *cap, sqlite3_stmt *s)
{
    if (rows->n == *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        tb_kv_entry_t *v = realloc(rows->v, c * sizeof(*v));
        if (!v)
            return -1;
        rows->v = v;
        void **b = realloc(rows->storage, c * sizeof(*b));
        if (!b)
            return -1;
        rows->storage = b;
        *cap = c;
    }
    const char *key = tb__col_text(s, 0);
    size_t kl = strlen(key);
    const void *val = sqlite3_column_blob(s, 1);
    size_t vl = val ? (size_t)sqlite3_column_bytes(s, 1) : 0;
    int has_sess = sqlite3_column_type(s, 4) != SQLITE_NULL;
    const char *sess = has_sess ? tb__col_text(s, 4) : "";
    size_t sl = strlen(sess);
    char *blk = malloc(kl + 1 + vl + sl + 1);
    if (!blk)
        return -1;
    tb_kv_entry_t *e = &rows->v[rows->n];
    memcpy(blk, key, kl + 1);
    e->key = blk;
    e->value = NULL;
    e->value_len = vl;
    if (vl) {
        memcpy(blk + kl + 1, val, vl);
        e->value = blk + kl + 1;
    }
    char *sp = blk + kl + 1 + vl;
    memcpy(sp, sess, sl + 1);
    e->session = has_sess ? sp : NULL;
    e->flags = tb__col_u64(s, 2);
    e->lock_index = tb__col_u64(s, 3);
    e->create_index = tb__col_u64(s, 5);
    e->modify_index = tb__col_u64(s, 6);
    ((void **)rows->storage)[rows->n++] = blk;
    return 0;
}

static uint64_t at_least_1(uint64_t v)
{
    return v ? v : 1;
}

int tb__state_kv_get(tb__state_t *st, const char *key, tb__kv_rows_t *out, uint64_t *index)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *s = tb__st_sql(st, "SELECT key, value, flags, lock_index, session,"
                                     " create_index, modify_index FROM kv WHERE key = ?1");
    if (!s || !key)
        return -1;
    tb__bind_text(s, 1, key);
    size_t cap = 0;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW && rows_add(out, &cap, s))
        rc = SQLITE_NOMEM;
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        tb__kv_rows_free(out);
        return -1;
    }
    if (index)
        *index = at_least_1(out->n ? out->v[0].modify_index
                                   : tb__st_table_index(st, TB__TBL_KV));
    return 0;
}

/* Max ModifyIndex of the keys and tombstones under prefix, else the kv
 * table index; at least 1. */
static int prefix_index(tb__state_t *st, const char *prefix, uint64_t *index)
{
    char *upper;
    sqlite3_stmt *s = range_stmt(
        st,
        "SELECT max(m) FROM (SELECT max(modify_index) AS m FROM kv WHERE key >= ?1 AND key < ?2"
        " UNION ALL SELECT max(modify_index) FROM kv_tombstones WHERE key >= ?1 AND key < ?2)",
        "SELECT max(m) FROM (SELECT max(modify_index) AS m FROM kv WHERE key >= ?1"
        " UNION ALL SELECT max(modify_index) FROM kv_tombstones WHERE key >= ?1)",
        prefix, &upper);
    if (!s) {
        free(upper);
        return -1;
    }
    int rc = sqlite3_step(s);
    uint64_t v = rc == SQLITE_ROW ? tb__col_u64(s, 0) : 0;
    sqlite3_reset(s);
    free(upper);
    if (rc != SQLITE_ROW)
        return -1;
    *index = at_least_1(v ? v : tb__st_table_index(st, TB__TBL_KV));
    return 0;
}

int tb__state_kv_list(tb__state_t *st, const char *prefix, tb__kv_rows_t *out, uint64_t *index)
{
    memset(out, 0, sizeof(*out));
    if (!prefix)
        prefix = "";
    char *upper;
    sqlite3_stmt *s = range_stmt(
        st,
        "SELECT key, value, flags, lock_index, session, create_index, modify_index FROM kv"
        " WHERE key >= ?1 AND key < ?2 ORDER BY key",
        "SELECT key, value, flags, lock_index, session, create_index, modify_index FROM kv"
        " WHERE key >= ?1 ORDER BY key",
        prefix, &upper);
    if (!s) {
        free(upper);
        return -1;
    }
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (rows_add(out, &cap, s)) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    sqlite3_reset(s);
    free(upper);
    uint64_t idx = 1;
    if (rc != SQLITE_DONE || prefix_index(st, prefix, &idx)) {
        tb__kv_rows_free(out);
        return -1;
    }
    if (index)
        *index = idx;
    return 0;
}

int tb__state_kv_keys(tb__state_t *st, const char *prefix, const char *sep, json_t **out,
                      uint64_t *index)
{
    *out = NULL;
    if (!prefix)
        prefix = "";
    size_t plen = strlen(prefix);
    size_t seplen = sep ? strlen(sep) : 0;
    char *upper;
    sqlite3_stmt *s = range_stmt(st, "SELECT key FROM kv WHERE key >= ?1 AND key < ?2 ORDER BY key",
                                 "SELECT key FROM kv WHERE key >= ?1 ORDER BY key", prefix, &upper);
    json_t *arr = json_array();
    if (!s || !arr) {
        free(upper);
        json_decref(arr);
        return -1;
    }
    /* keys come sorted, so equal truncations are adjacent */
    const char *last = NULL;
    size_t lastlen = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *k = tb__col_text(s, 0);
        size_t kl = strlen(k);
        if (seplen) {
            const char *hit = strstr(k + plen, sep);
            if (hit)
                kl = (size_t)(hit - k) + seplen;
        }
        if (last && lastlen == kl && memcmp(last, k, kl) == 0)
            continue;
        json_t *js = json_stringn(k, kl);
        if (!js || json_array_append_new(arr, js)) {
            rc = SQLITE_NOMEM;
            break;
        }
        last = json_string_value(json_array_get(arr, json_array_size(arr) - 1));
        lastlen = kl;
    }
    sqlite3_reset(s);
    free(upper);
    uint64_t idx = 1;
    if (rc != SQLITE_DONE || prefix_index(st, prefix, &idx)) {
        json_decref(arr);
        return -1;
    }
    if (index)
        *index = idx;
    *out = arr;
    return 0;
}
