/*
 * state.c - the store's skeleton (state.h): opening the in-memory SQLite
 * database and its schema, the prepared-statement cache, the index table,
 * and tb__fsm_apply, which decodes a command and runs it in one transaction.
 *
 * Watch notifications are queued while a command runs and handed to the
 * registry only after COMMIT, so a refused or failed command (rolled back)
 * wakes nobody. Apply never reads the clock: commands carry now_ms.
 *
 * The kv, catalog and session areas live in kv.c, catalog.c and session.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/state_int.h"

const char *const tb__tbl_names[TB__TBL_COUNT] = {"nodes", "services", "checks", "kv",
                                                  "sessions"};

/* Node and service names compare case-insensitively, as in Consul; keys,
 * IDs and check IDs are exact. */
static const char SCHEMA[] =
    "CREATE TABLE idx(name TEXT PRIMARY KEY, idx INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE nodes(id TEXT NOT NULL DEFAULT '', node TEXT NOT NULL COLLATE NOCASE PRIMARY KEY,"
    " address TEXT NOT NULL DEFAULT '', datacenter TEXT NOT NULL DEFAULT '',"
    " tagged_addresses TEXT, meta TEXT,"
    " create_index INTEGER NOT NULL, modify_index INTEGER NOT NULL);"
    "CREATE INDEX nodes_by_id ON nodes(id) WHERE id <> '';"
    "CREATE TABLE services(node TEXT NOT NULL COLLATE NOCASE, service_id TEXT NOT NULL,"
    " name TEXT NOT NULL COLLATE NOCASE, tags TEXT, address TEXT NOT NULL DEFAULT '',"
    " port INTEGER NOT NULL DEFAULT 0, meta TEXT, tagged_addresses TEXT, weights TEXT,"
    " enable_tag_override INTEGER NOT NULL DEFAULT 0,"
    " create_index INTEGER NOT NULL, modify_index INTEGER NOT NULL,"
    " PRIMARY KEY(node, service_id));"
    "CREATE INDEX services_by_name ON services(name, node, service_id);"
    "CREATE TABLE checks(node TEXT NOT NULL COLLATE NOCASE, check_id TEXT NOT NULL,"
    " name TEXT NOT NULL DEFAULT '', status TEXT NOT NULL, notes TEXT NOT NULL DEFAULT '',"
    " output TEXT NOT NULL DEFAULT '', service_id TEXT NOT NULL DEFAULT '',"
    " service_name TEXT NOT NULL DEFAULT '' COLLATE NOCASE, service_tags TEXT,"
    " type TEXT NOT NULL DEFAULT '', interval TEXT NOT NULL DEFAULT '',"
    " timeout TEXT NOT NULL DEFAULT '', definition TEXT,"
    " create_index INTEGER NOT NULL, modify_index INTEGER NOT NULL,"
    " PRIMARY KEY(node, check_id));"
    "CREATE INDEX checks_by_node_service ON checks(node, service_id);"
    "CREATE INDEX checks_by_service ON checks(service_name, node, check_id);"
    "CREATE INDEX checks_by_status ON checks(status, node, check_id);"
    "CREATE TABLE kv(key TEXT NOT NULL PRIMARY KEY, value BLOB, flags INTEGER NOT NULL,"
    " lock_index INTEGER NOT NULL, session TEXT,"
    " create_index INTEGER NOT NULL, modify_index INTEGER NOT NULL);"
    "CREATE INDEX kv_by_session ON kv(session) WHERE session IS NOT NULL;"
    "CREATE TABLE kv_tombstones(key TEXT NOT NULL PRIMARY KEY, modify_index INTEGER NOT NULL)"
    " WITHOUT ROWID;"
    "CREATE TABLE kv_lock_delay(key TEXT NOT NULL PRIMARY KEY, until_ms INTEGER NOT NULL)"
    " WITHOUT ROWID;"
    "CREATE TABLE sessions(id TEXT NOT NULL PRIMARY KEY, name TEXT NOT NULL DEFAULT '',"
    " node TEXT NOT NULL COLLATE NOCASE, lock_delay_ns INTEGER NOT NULL,"
    " behavior TEXT NOT NULL, ttl TEXT NOT NULL DEFAULT '', checks TEXT, node_checks TEXT,"
    " service_checks TEXT, create_index INTEGER NOT NULL, modify_index INTEGER NOT NULL);"
    "CREATE INDEX sessions_by_node ON sessions(node);"
    "CREATE TABLE session_checks(session TEXT NOT NULL, node TEXT NOT NULL COLLATE NOCASE,"
    " check_id TEXT NOT NULL, PRIMARY KEY(session, check_id)) WITHOUT ROWID;"
    "CREATE INDEX session_checks_by_check ON session_checks(node, check_id);"
    /* the index of the last applied command (refusals and no-ops included) */
    "CREATE TABLE applied(one INTEGER PRIMARY KEY CHECK(one = 1), idx INTEGER NOT NULL);"
    "INSERT INTO applied VALUES(1, 0);"
    "PRAGMA user_version = 1;"; /* TB__STATE_SCHEMA_VERSION */

/* ---------------------------------------------------------------- helpers */

int tb__bind_text(sqlite3_stmt *s, int i, const char *v)
{
    return v ? sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(s, i);
}

int tb__bind_u64(sqlite3_stmt *s, int i, uint64_t v)
{
    return sqlite3_bind_int64(s, i, (sqlite3_int64)v); /* uint64 bit pattern */
}

const char *tb__col_text(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? (const char *)t : "";
}

uint64_t tb__col_u64(sqlite3_stmt *s, int i)
{
    return (uint64_t)sqlite3_column_int64(s, i);
}

json_t *tb__col_json(sqlite3_stmt *s, int i, json_t *dflt)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    if (t) {
        json_t *v = json_loads((const char *)t, JSON_DECODE_ANY, NULL);
        if (v && !json_is_null(v)) {
            json_decref(dflt);
            return v;
        }
        json_decref(v);
    }
    return dflt;
}

char *tb__json_canon(const json_t *v)
{
    if (!v || json_is_null(v))
        return NULL;
    return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

static char *vfmt(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (s)
        vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

int tb__refuse(tb__apply_result_t *res, tb_status_t status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    free(res->error);
    res->error = vfmt(fmt, ap);
    va_end(ap);
    res->status = status;
    res->applied = 0;
    return 1;
}

int tb__st_fail(tb__state_t *st, tb__apply_result_t *res)
{
    if (res)
        tb__refuse(res, TB_INTERNAL, "state store: %s", sqlite3_errmsg(st->db));
    return -1;
}

/* ---------------------------------------------------------------- statement cache */

static size_t slot_of(const char *sql, size_t cap)
{
    uintptr_t h = (uintptr_t)sql;
    h ^= h >> 17;
    h *= (uintptr_t)0x9E3779B97F4A7C15ULL;
    return (size_t)(h >> 7) & (cap - 1);
}

static int cache_grow(tb__state_t *st)
{
    size_t cap = st->capstmts ? st->capstmts * 2 : 128;
    tb__stmt_slot_t *n = calloc(cap, sizeof(*n));
    if (!n)
        return -1;
    for (size_t i = 0; i < st->capstmts; i++) {
        if (!st->stmts[i].sql)
            continue;
        size_t j = slot_of(st->stmts[i].sql, cap);
        while (n[j].sql)
            j = (j + 1) & (cap - 1);
        n[j] = st->stmts[i];
    }
    free(st->stmts);
    st->stmts = n;
    st->capstmts = cap;
    return 0;
}

sqlite3_stmt *tb__st_sql(tb__state_t *st, const char *sql)
{
    if (st->nstmts * 2 >= st->capstmts && cache_grow(st))
        return NULL;
    size_t j = slot_of(sql, st->capstmts);
    while (st->stmts[j].sql && st->stmts[j].sql != sql)
        j = (j + 1) & (st->capstmts - 1);
    if (st->stmts[j].sql) {
        sqlite3_stmt *s = st->stmts[j].stmt;
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        return s;
    }
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK)
        return NULL;
    st->stmts[j].sql = sql;
    st->stmts[j].stmt = s;
    st->nstmts++;
    return s;
}

int tb__st_exec(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

uint64_t tb__st_table_index(tb__state_t *st, enum tb__tbl t)
{
    sqlite3_stmt *s = tb__st_sql(st, "SELECT idx FROM idx WHERE name = ?1");
    if (!s)
        return 0;
    sqlite3_bind_text(s, 1, tb__tbl_names[t], -1, SQLITE_STATIC);
    uint64_t v = sqlite3_step(s) == SQLITE_ROW ? tb__col_u64(s, 0) : 0;
    sqlite3_reset(s);
    return v;
}

uint64_t tb__st_max_index(tb__state_t *st, unsigned mask)
{
    uint64_t m = 1;
    for (int t = 0; t < TB__TBL_COUNT; t++) {
        if (mask & (1u << t)) {
            uint64_t v = tb__st_table_index(st, (enum tb__tbl)t);
            if (v > m)
                m = v;
        }
    }
    return m;
}

void tb__st_changed(tb__state_t *st, enum tb__tbl t)
{
    st->changed |= 1u << t;
}

int tb__st_note(tb__state_t *st, tb__watch_kind_t kind, const char *name)
{
    if (!st->watches)
        return 0;
    /* consecutive duplicates are common (a node's checks, one service) */
    if (st->nnotes && st->notes[st->nnotes - 1].kind == kind &&
        strcmp(st->notes[st->nnotes - 1].name, name) == 0)
        return 0;
    if (st->nnotes == st->capnotes) {
        size_t cap = st->capnotes ? st->capnotes * 2 : 16;
        tb__note_t *n = realloc(st->notes, cap * sizeof(*n));
        if (!n)
            return -1;
        st->notes = n;
        st->capnotes = cap;
    }
    char *c = strdup(name);
    if (!c)
        return -1;
    st->notes[st->nnotes].kind = kind;
    st->notes[st->nnotes].name = c;
    st->nnotes++;
    return 0;
}

static void notes_drop(tb__state_t *st)
{
    for (size_t i = 0; i < st->nnotes; i++)
        free(st->notes[i].name);
    st->nnotes = 0;
    st->changed = 0;
}

/* ---------------------------------------------------------------- lifecycle */

static int set_err(char **err, const char *what, sqlite3 *db)
{
    if (err) {
        const char *m = db ? sqlite3_errmsg(db) : "out of memory";
        size_t n = strlen(what) + strlen(m) + 3;
        *err = malloc(n);
        if (*err)
            snprintf(*err, n, "%s: %s", what, m);
    }
    return -1;
}

int tb__state_open(tb__state_t **out, tb__watch_reg_t *watches, char **err)
{
    *out = NULL;
    if (err)
        *err = NULL;
    tb__state_t *st = calloc(1, sizeof(*st));
    if (!st)
        return set_err(err, "state store", NULL);
    st->watches = watches;
    if (sqlite3_open_v2(":memory:", &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        set_err(err, "state store: open", st->db);
        tb__state_close(st);
        return -1;
    }
    if (sqlite3_exec(st->db, SCHEMA, NULL, NULL, NULL) != SQLITE_OK) {
        set_err(err, "state store: schema", st->db);
        tb__state_close(st);
        return -1;
    }
    *out = st;
    return 0;
}

void tb__st_cache_clear(tb__state_t *st)
{
    for (size_t i = 0; i < st->capstmts; i++)
        if (st->stmts[i].stmt)
            sqlite3_finalize(st->stmts[i].stmt);
    free(st->stmts);
    st->stmts = NULL;
    st->nstmts = st->capstmts = 0;
}

void tb__state_close(tb__state_t *st)
{
    if (!st)
        return;
    tb__st_cache_clear(st);
    notes_drop(st);
    free(st->notes);
    sqlite3_close(st->db);
    free(st);
}

uint64_t tb__state_last_index(tb__state_t *st)
{
    return st ? st->last_index : 0;
}

/* ---------------------------------------------------------------- FSM */

void tb__apply_result_clear(tb__apply_result_t *r)
{
    if (!r)
        return;
    free(r->error);
    json_decref(r->json);
    memset(r, 0, sizeof(*r));
}

static int set_applied(tb__state_t *st, uint64_t index)
{
    sqlite3_stmt *s = tb__st_sql(st, "UPDATE applied SET idx = ?1 WHERE one = 1");
    if (!s)
        return -1;
    tb__bind_u64(s, 1, index);
    return tb__st_exec(s);
}

static int bump_tables(tb__state_t *st)
{
    for (int t = 0; t < TB__TBL_COUNT; t++) {
        if (!(st->changed & (1u << t)))
            continue;
        sqlite3_stmt *s = tb__st_sql(
            st, "INSERT INTO idx(name, idx) VALUES(?1, ?2)"
                " ON CONFLICT(name) DO UPDATE SET idx = excluded.idx");
        if (!s)
            return -1;
        sqlite3_bind_text(s, 1, tb__tbl_names[t], -1, SQLITE_STATIC);
        tb__bind_u64(s, 2, st->idx);
        if (tb__st_exec(s))
            return -1;
    }
    return 0;
}

static void emit_notes(tb__state_t *st)
{
    if (!st->watches)
        return;
    for (int t = 0; t < TB__TBL_COUNT; t++)
        if (st->changed & (1u << t))
            tb__watch_notify(st->watches, TB__WATCH_TABLE, tb__tbl_names[t]);
    for (size_t i = 0; i < st->nnotes; i++)
        tb__watch_notify(st->watches, st->notes[i].kind, st->notes[i].name);
}

static int exec_sql(tb__state_t *st, const char *sql)
{
    sqlite3_stmt *s = tb__st_sql(st, sql);
    return s ? tb__st_exec(s) : -1;
}

static int dispatch(tb__state_t *st, const tb__cmd_t *cmd, tb__apply_result_t *res)
{
    switch (cmd->type) {
    case TB__CMD_NOOP:
        return 0;
    case TB__CMD_KVS:
        return tb__kv_apply(st, &cmd->kv, res);
    case TB__CMD_REGISTER:
        return tb__catalog_register(st, cmd->body, res);
    case TB__CMD_DEREGISTER:
        return tb__catalog_deregister(st, cmd->body, res);
    case TB__CMD_SESSION:
        return tb__session_apply(st, cmd->body, res);
    case TB__CMD_TXN:
        return tb__txn_apply(st, &cmd->up.data.via.array.ptr[0], res);
    case TB__CMD_RESTORE:
        break; /* handled before the transaction */
    }
    return tb__refuse(res, TB_INTERNAL, "unknown command type %u", (unsigned)cmd->type);
}

int tb__fsm_apply(tb__state_t *st, uint64_t index, const void *data, size_t len,
                  tb__apply_result_t *res)
{
    memset(res, 0, sizeof(*res));
    if (index <= st->last_index) {
        tb__refuse(res, TB_INTERNAL,
                   "apply index %llu is not after the last applied index %llu",
                   (unsigned long long)index, (unsigned long long)st->last_index);
        return -1;
    }
    tb__cmd_t cmd;
    char *err = NULL;
    if (tb__cmd_decode(data, len, &cmd, &err)) {
        tb__refuse(res, TB_INTERNAL, "refused command at index %llu: %s",
                   (unsigned long long)index, err ? err : "out of memory");
        free(err);
        tb__cmd_clear(&cmd);
        return -1;
    }
    st->idx = index;
    st->now_ms = cmd.now_ms;
    notes_drop(st);
    res->status = TB_OK;
    res->applied = 1;
    if (cmd.type == TB__CMD_RESTORE) { /* swaps the connection: no transaction */
        int rc = tb__state_restore_apply(st, index, cmd.blob, cmd.blob_len, res);
        tb__cmd_clear(&cmd);
        if (rc < 0)
            return -1;
        if (rc > 0 && set_applied(st, index)) {
            tb__st_fail(st, res);
            return -1;
        }
        st->last_index = index;
        return 0;
    }
    if (exec_sql(st, "BEGIN")) {
        tb__st_fail(st, res);
        tb__cmd_clear(&cmd);
        return -1;
    }
    int rc = dispatch(st, &cmd, res);
    tb__cmd_clear(&cmd);
    if (rc == 0 && (bump_tables(st) || set_applied(st, index)))
        rc = tb__st_fail(st, res);
    if (rc == 0 && exec_sql(st, "COMMIT"))
        rc = tb__st_fail(st, res);
    if (rc != 0) {
        exec_sql(st, "ROLLBACK");
        notes_drop(st);
        if (rc < 0)
            return -1;
        /* a deterministic refusal still consumes its log index */
        if (set_applied(st, index)) {
            tb__st_fail(st, res);
            return -1;
        }
        st->last_index = index;
        return 0;
    }
    st->last_index = index;
    emit_notes(st);
    notes_drop(st);
    return 0;
}

/* ---------------------------------------------------------------- body fields */

static int field_type(tb__apply_result_t *res, const char *key, const char *what)
{
    return tb__refuse(res, TB_BAD_REQUEST, "Invalid field \"%s\": expected %s", key, what);
}

int tb__jf_str(const json_t *o, const char *key, const char *dflt, const char **out,
               tb__apply_result_t *res)
{
    const json_t *v = json_object_get(o, key);
    *out = dflt;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return field_type(res, key, "a string");
    *out = json_string_value(v);
    return 0;
}

int tb__jf_obj(const json_t *o, const char *key, const json_t **out, tb__apply_result_t *res)
{
    const json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return field_type(res, key, "an object");
    *out = v;
    return 0;
}

int tb__jf_arr(const json_t *o, const char *key, const json_t **out, tb__apply_result_t *res)
{
    const json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return field_type(res, key, "an array");
    *out = v;
    return 0;
}

int tb__jf_int(const json_t *o, const char *key, json_int_t dflt, json_int_t *out,
               tb__apply_result_t *res)
{
    const json_t *v = json_object_get(o, key);
    *out = dflt;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v))
        return field_type(res, key, "an integer");
    *out = json_integer_value(v);
    return 0;
}

int tb__jf_bool(const json_t *o, const char *key, int dflt, int *out, tb__apply_result_t *res)
{
    const json_t *v = json_object_get(o, key);
    *out = dflt;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return field_type(res, key, "a boolean");
    *out = json_is_true(v);
    return 0;
}

/* ---------------------------------------------------------------- string lists */

void tb__strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

int tb__st_collect(sqlite3_stmt *s, char ***out, size_t *n)
{
    char **v = NULL;
    size_t cnt = 0, cap = 0;
    int rc, err = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (cnt == cap) {
            cap = cap ? cap * 2 : 8;
            char **nv = realloc(v, cap * sizeof(*nv));
            if (!nv) {
                err = 1;
                break;
            }
            v = nv;
        }
        if (!(v[cnt] = strdup(tb__col_text(s, 0)))) {
            err = 1;
            break;
        }
        cnt++;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        err = 1;
    sqlite3_reset(s);
    if (err) {
        tb__strv_free(v, cnt);
        *out = NULL;
        *n = 0;
        return -1;
    }
    *out = v;
    *n = cnt;
    return 0;
}

int tb__utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t n;
        unsigned min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1, min = 0x80, c &= 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2, min = 0x800, c &= 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3, min = 0x10000, c &= 0x07;
        } else {
            return 0;
        }
        if (len - i - 1 < n)
            return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            c = (c << 6) | (s[i + k] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return 0;
        i += n + 1;
    }
    return 1;
}
