/*
 * state_int.h - internals shared by the state store's files (not a
 * contract): the store struct, the prepared-statement cache, the decoded
 * command, the per-apply change log that becomes watch notifications at
 * COMMIT, and the per-area apply and JSON helpers.
 */
#ifndef TB_STATE_INT_H
#define TB_STATE_INT_H

#include <sqlite3.h>
#include <msgpack.h>

#include "state/state.h"

/* PRAGMA user_version of the schema; a snapshot of another version is refused. */
#define TB__STATE_SCHEMA_VERSION 1

/* Tables whose index is kept in the index table (bit numbers). */
enum tb__tbl {
    TB__TBL_NODES = 0,
    TB__TBL_SERVICES,
    TB__TBL_CHECKS,
    TB__TBL_KV,
    TB__TBL_SESSIONS,
    TB__TBL_COUNT
};
extern const char *const tb__tbl_names[TB__TBL_COUNT];

/* A pending watch notification (emitted only when the apply commits). */
typedef struct tb__note {
    tb__watch_kind_t kind;
    char *name;
} tb__note_t;

typedef struct tb__stmt_slot {
    const char *sql; /* the literal's address is the cache key */
    sqlite3_stmt *stmt;
} tb__stmt_slot_t;

struct tb__state {
    sqlite3 *db;
    tb__watch_reg_t *watches; /* may be NULL: no notifications */
    tb__stmt_slot_t *stmts;
    size_t nstmts, capstmts;  /* open-addressed, capstmts a power of two */
    uint64_t last_index;
    /* during one apply */
    uint64_t idx;
    int64_t now_ms;
    unsigned changed;         /* bitmask of enum tb__tbl */
    tb__note_t *notes;
    size_t nnotes, capnotes;
};

/* ---------------------------------------------------------------- commands */

typedef struct tb__cmd {
    uint8_t type;
    int64_t now_ms;
    tb_kv_write_t kv;   /* KVS: key/session malloc'd, value points into `up` */
    char *kv_key, *kv_session;
    json_t *body;       /* JSON-bodied commands */
    const void *blob;   /* RESTORE: points into the command bytes */
    size_t blob_len;
    msgpack_unpacked up;
    int have_up;
} tb__cmd_t;

/* Decode a command. 0, or -1 with *err (malloc'd); always tb__cmd_clear. */
int tb__cmd_decode(const void *data, size_t len, tb__cmd_t *cmd, char **err);
void tb__cmd_clear(tb__cmd_t *cmd);

/* Shared with txn.c: command header, buffer writer, JSON <-> msgpack. */
int tb__cmd_start(tb__buf_t *out, uint8_t type);
int tb__cmd_buf_write(void *data, const char *p, size_t n);
int tb__mp_pack_json(msgpack_packer *pk, const json_t *v);
json_t *tb__mp_to_json(const msgpack_object *o); /* NULL when not JSON-able */

/* ---------------------------------------------------------------- store helpers */

/* Finalize and forget every cached statement (before closing the connection). */
void tb__st_cache_clear(tb__state_t *st);
/* The RESTORE command (snapshot.c): 0 swapped in, 1 refused (res says why,
 * store unchanged), -1 internal error. Runs outside any transaction. */
int tb__state_restore_apply(tb__state_t *st, uint64_t index, const void *data, size_t len,
                            tb__apply_result_t *res);

/* The cached statement for this SQL literal, reset and unbound; NULL on
 * error (prepare failure). */
sqlite3_stmt *tb__st_sql(tb__state_t *st, const char *sql);
/* Run a cached statement that returns no rows. 0 or -1. */
int tb__st_exec(sqlite3_stmt *s);
/* Current index of a table (0 if never written). */
uint64_t tb__st_table_index(tb__state_t *st, enum tb__tbl t);
/* Max of several table indexes, at least 1. */
uint64_t tb__st_max_index(tb__state_t *st, unsigned tbl_mask);
/* Record that the apply changed a table (index table + TABLE watch). */
void tb__st_changed(tb__state_t *st, enum tb__tbl t);
/* Queue a watch notification for COMMIT. 0 or -1 (out of memory). */
int tb__st_note(tb__state_t *st, tb__watch_kind_t kind, const char *name);

/* Bind helpers: NULL text binds SQL NULL. */
int tb__bind_text(sqlite3_stmt *s, int i, const char *v);
int tb__bind_u64(sqlite3_stmt *s, int i, uint64_t v);
const char *tb__col_text(sqlite3_stmt *s, int i); /* "" for NULL */
uint64_t tb__col_u64(sqlite3_stmt *s, int i);
/* Column holding JSON text -> new reference; `dflt` (stolen) when NULL/invalid. */
json_t *tb__col_json(sqlite3_stmt *s, int i, json_t *dflt);

/* Canonical JSON text (sorted keys, compact) or NULL for NULL/json null. */
char *tb__json_canon(const json_t *v);

/* Set *res to a refusal. Always returns 1 (so handlers can `return tb__refuse(...)`). */
int tb__refuse(tb__apply_result_t *res, tb_status_t status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Set *res to an internal SQLite failure. Always returns -1. */
int tb__st_fail(tb__state_t *st, tb__apply_result_t *res);

/* Normalized JSON body fields. Each returns 0, or 1 after setting a
 * TB_BAD_REQUEST refusal naming the field. Absent or null -> default. */
int tb__jf_str(const json_t *o, const char *key, const char *dflt, const char **out,
               tb__apply_result_t *res);
int tb__jf_obj(const json_t *o, const char *key, const json_t **out, tb__apply_result_t *res);
int tb__jf_arr(const json_t *o, const char *key, const json_t **out, tb__apply_result_t *res);
int tb__jf_int(const json_t *o, const char *key, json_int_t dflt, json_int_t *out,
               tb__apply_result_t *res);
int tb__jf_bool(const json_t *o, const char *key, int dflt, int *out, tb__apply_result_t *res);

/* Step a cached statement and collect column 0 of every row (strings).
 * Resets it. 0 or -1. Collect before modifying what is being read. */
int tb__st_collect(sqlite3_stmt *s, char ***out, size_t *n);
void tb__strv_free(char **v, size_t n);

/* Valid UTF-8 (what JSON output needs)? */
int tb__utf8_valid(const char *s, size_t len);

/* ---------------------------------------------------------------- apply handlers
 * Each returns 0 (commit), 1 (refused: rollback, res says why) or -1
 * (internal error: rollback, res says why). */
int tb__kv_apply(tb__state_t *st, const tb_kv_write_t *op, tb__apply_result_t *res);
int tb__catalog_register(tb__state_t *st, const json_t *body, tb__apply_result_t *res);
int tb__catalog_deregister(tb__state_t *st, const json_t *body, tb__apply_result_t *res);
int tb__session_apply(tb__state_t *st, const json_t *body, tb__apply_result_t *res);
/* ops: the decoded command's operation array (txn.c) */
int tb__txn_apply(tb__state_t *st, const msgpack_object *ops, tb__apply_result_t *res);

/* Shared by catalog and kv: */
/* Delete one KV key (row + tombstone + notes). 0, -1 on SQL error. */
int tb__kv_delete_key(tb__state_t *st, const char *key);
/* Invalidate one session (release or delete its keys, lock-delay, remove). */
int tb__session_invalidate(tb__state_t *st, const char *id);
/* Invalidate every session that lists check (node, check_id). */
int tb__session_invalidate_check(tb__state_t *st, const char *node, const char *check_id);
/* Invalidate every session of a node. */
int tb__session_invalidate_node(tb__state_t *st, const char *node);

#endif
