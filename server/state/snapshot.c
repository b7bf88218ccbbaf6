/*
 * snapshot.c - the whole store as one blob (state.h, DESIGN.md §5): the
 * Raft node's snapshots, /v1/snapshot and the RESTORE command.
 *
 * Serialize is sqlite3_serialize of the in-memory database. Restore never
 * touches the live store until the blob has proven itself: it is loaded
 * into a second in-memory connection, checked (SQLite header and page
 * count, PRAGMA integrity_check, the schema version and the exact schema of
 * this build), and only then swapped in for the old connection. A damaged
 * or foreign blob is refused with a message and changes nothing. Because
 * the schema must match ours exactly, a crafted blob cannot bring triggers
 * or views that would run on later writes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/archive.h"
#include "state/state_int.h"

#define SQLITE_HEADER "SQLite format 3"

int tb__state_serialize(tb__state_t *st, uint8_t **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    sqlite3_int64 n = 0;
    unsigned char *s = sqlite3_serialize(st->db, "main", &n, 0);
    if (!s || n <= 0) {
        sqlite3_free(s);
        return -1;
    }
    /* copy so callers free() it like every other buffer in the core */
    uint8_t *c = malloc((size_t)n);
    if (c)
        memcpy(c, s, (size_t)n);
    sqlite3_free(s);
    if (!c)
        return -1;
    *data = c;
    *len = (size_t)n;
    return 0;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The header facts a truncated or foreign blob gets wrong. */
static int check_header(const uint8_t *p, size_t len, char **err)
{
    if (len < 100 || memcmp(p, SQLITE_HEADER, sizeof(SQLITE_HEADER)) != 0)
        return tb__snap_err(err, "not a state snapshot (no SQLite header)");
    uint32_t page = (uint32_t)p[16] << 8 | p[17];
    if (page == 1)
        page = 65536;
    if (page < 512 || (page & (page - 1)))
        return tb__snap_err(err, "damaged state snapshot: bad page size %u", page);
    if (len % page)
        return tb__snap_err(err, "damaged state snapshot: %zu bytes is not a whole number of %u-byte pages",
                      len, page);
    /* the in-header page count is valid when the version-valid-for number
     * matches the change counter (always so for serialized stores) */
    uint32_t pages = be32(p + 28);
    if (be32(p + 92) == be32(p + 24) && pages != len / page)
        return tb__snap_err(err, "damaged state snapshot: header says %u pages, blob holds %zu", pages,
                      len / page);
    return 0;
}

/* One row per schema object, as text, ordered: what must match exactly. */
static char *schema_text(sqlite3 *db)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT group_concat(type || ' ' || name || ' ' || tbl_name || ' ' ||"
                           " coalesce(sql, ''), char(10)) FROM"
                           " (SELECT * FROM sqlite_schema ORDER BY type, name)",
                           -1, &s, NULL) != SQLITE_OK)
        return NULL;
    char *out = NULL;
    if (sqlite3_step(s) == SQLITE_ROW)
        out = strdup(tb__col_text(s, 0));
    sqlite3_finalize(s);
    return out;
}

static int query_u64(sqlite3 *db, const char *sql, uint64_t *v)
{
    sqlite3_stmt *s = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) {
        *v = tb__col_u64(s, 0);
        rc = 0;
    }
    sqlite3_finalize(s);
    return rc;
}

/* PRAGMA integrity_check: b-trees, indexes, free lists. Its NOT NULL
 * findings are skipped: SQLite 3.40 reports them falsely for WITHOUT ROWID
 * tables whose key is not the leading columns (session_checks);
 * not_null_ok checks those constraints itself. 1 when sound. */
static int structure_ok(sqlite3 *db, char **err)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check(100)", -1, &s, NULL) != SQLITE_OK) {
        tb__snap_err(err, "damaged state snapshot: %s", sqlite3_errmsg(db));
        sqlite3_finalize(s);
        return 0;
    }
    int rc = SQLITE_DONE, ok = 1;
    while (ok && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *r = tb__col_text(s, 0);
        if (strcmp(r, "ok") != 0 && strncmp(r, "NULL value in ", 14) != 0) {
            tb__snap_err(err, "damaged state snapshot: %s", r);
            ok = 0;
        }
    }
    if (ok && rc != SQLITE_DONE) {
        tb__snap_err(err, "damaged state snapshot: %s", sqlite3_errmsg(db));
        ok = 0;
    }
    sqlite3_finalize(s);
    return ok;
}

/* Every NOT NULL column of every table holds no NULL (run after the schema
 * matched ours, so the names are our own). 1 when so. */
static int not_null_ok(sqlite3 *db, char **err)
{
    sqlite3_stmt *cols = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT m.name, c.name FROM sqlite_schema m, pragma_table_info(m.name) c"
                           " WHERE m.type = 'table' AND c.\"notnull\"",
                           -1, &cols, NULL) != SQLITE_OK) {
        tb__snap_err(err, "damaged state snapshot: %s", sqlite3_errmsg(db));
        sqlite3_finalize(cols);
        return 0;
    }
    int ok = 1;
    while (ok && sqlite3_step(cols) == SQLITE_ROW) {
        char *q = sqlite3_mprintf("SELECT 1 FROM \"%w\" WHERE \"%w\" IS NULL LIMIT 1",
                                  tb__col_text(cols, 0), tb__col_text(cols, 1));
        sqlite3_stmt *s = NULL;
        int found = !q || sqlite3_prepare_v2(db, q, -1, &s, NULL) != SQLITE_OK ||
                    sqlite3_step(s) != SQLITE_DONE;
        if (found) {
            tb__snap_err(err, "damaged state snapshot: NULL value in %s.%s", tb__col_text(cols, 0),
                   tb__col_text(cols, 1));
            ok = 0;
        }
        sqlite3_finalize(s);
        sqlite3_free(q);
    }
    sqlite3_finalize(cols);
    return ok;
}

/* Load and check a blob in its own connection. 0 with *out, or -1 with *err. */
static int load_blob(tb__state_t *st, const void *data, size_t len, sqlite3 **out,
                     uint64_t *applied, char **err)
{
    *out = NULL;
    if (!data)
        return tb__snap_err(err, "not a state snapshot (empty)");
    if (check_header(data, len, err))
        return -1;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        sqlite3_close(db);
        return tb__snap_err(err, "state snapshot: cannot open a database");
    }
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
    unsigned char *copy = sqlite3_malloc64(len);
    if (!copy) {
        sqlite3_close(db);
        return tb__snap_err(err, "state snapshot: out of memory (%zu bytes)", len);
    }
    memcpy(copy, data, len);
    /* FREEONCLOSE: the connection owns copy from here on, even on failure */
    if (sqlite3_deserialize(db, "main", copy, (sqlite3_int64)len, (sqlite3_int64)len,
                            SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE) !=
        SQLITE_OK) {
        tb__snap_err(err, "damaged state snapshot: %s", sqlite3_errmsg(db));
        sqlite3_close(db);
        return -1;
    }
    int ok = structure_ok(db, err);
    uint64_t ver = 0;
    if (ok && (query_u64(db, "PRAGMA user_version", &ver) || ver != TB__STATE_SCHEMA_VERSION)) {
        tb__snap_err(err, "state snapshot has schema version %llu, this server reads %d",
               (unsigned long long)ver, TB__STATE_SCHEMA_VERSION);
        ok = 0;
    }
    if (ok) {
        char *mine = schema_text(st->db), *theirs = schema_text(db);
        ok = mine && theirs && strcmp(mine, theirs) == 0;
        if (!ok)
            tb__snap_err(err, "state snapshot: its tables differ from this server's schema");
        free(mine);
        free(theirs);
    }
    if (ok && !not_null_ok(db, err))
        ok = 0;
    if (ok && query_u64(db, "SELECT idx FROM applied WHERE one = 1", applied)) {
        tb__snap_err(err, "state snapshot: no applied index");
        ok = 0;
    }
    if (!ok) {
        sqlite3_close(db);
        return -1;
    }
    *out = db;
    return 0;
}

/* Replace the live connection; every waiter is marked (flushed by the caller,
 * as after an apply) since any query result may differ now. */
static void swap_in(tb__state_t *st, sqlite3 *db, uint64_t applied)
{
    tb__st_cache_clear(st);
    sqlite3_close(st->db);
    st->db = db;
    st->last_index = applied;
    tb__watch_notify_all(st->watches);
}

int tb__state_check(tb__state_t *st, const void *data, size_t len, uint64_t *index, char **err)
{
    if (err)
        *err = NULL;
    sqlite3 *db;
    uint64_t applied = 0;
    if (load_blob(st, data, len, &db, &applied, err))
        return -1;
    sqlite3_close(db);
    if (index)
        *index = applied;
    return 0;
}

int tb__state_restore(tb__state_t *st, const void *data, size_t len, char **err)
{
    if (err)
        *err = NULL;
    sqlite3 *db;
    uint64_t applied = 0;
    if (load_blob(st, data, len, &db, &applied, err))
        return -1;
    swap_in(st, db, applied);
    return 0;
}

/* The RESTORE command at `index`: the blob's rows with their own
 * Create/ModifyIndex, but the applied index and every table index set to
 * `index`, so indexes seen by clients never go backwards and every blocking
 * query wakes. A damaged blob is a deterministic refusal. */
int tb__state_restore_apply(tb__state_t *st, uint64_t index, const void *data, size_t len,
                            tb__apply_result_t *res)
{
    char *err = NULL;
    sqlite3 *db;
    uint64_t applied = 0;
    if (load_blob(st, data, len, &db, &applied, &err)) {
        tb__refuse(res, TB_BAD_REQUEST, "%s", err ? err : "out of memory");
        free(err);
        return 1;
    }
    char sql[160];
    int rc = 0;
    snprintf(sql, sizeof(sql), "UPDATE applied SET idx = %llu WHERE one = 1",
             (unsigned long long)index);
    rc |= sqlite3_exec(db, sql, NULL, NULL, NULL);
    for (int t = 0; t < TB__TBL_COUNT && rc == SQLITE_OK; t++) {
        snprintf(sql, sizeof(sql),
                 "INSERT INTO idx(name, idx) VALUES('%s', %llu)"
                 " ON CONFLICT(name) DO UPDATE SET idx = excluded.idx",
                 tb__tbl_names[t], (unsigned long long)index);
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        tb__refuse(res, TB_INTERNAL, "state store: restore: %s", sqlite3_errmsg(db));
        sqlite3_close(db);
        return -1;
    }
    swap_in(st, db, index);
    return 0;
}
