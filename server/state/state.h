/*
 * state.h - the replicated state store (DESIGN.md §5): an in-memory SQLite
 * database that is the Raft FSM. Writes arrive only as encoded, versioned
 * commands through tb__fsm_apply() (the dev server applies them directly with
 * increasing indexes; Raft will feed the same entry point). Reads return
 * Consul-shaped JSON (catalog, health, sessions) or typed KV rows, plus the
 * index to report as X-Consul-Index. Every apply notifies the watch registry
 * with exactly the keys whose query results may have changed.
 */
#ifndef TB_STATE_H
#define TB_STATE_H

#include <stdint.h>
#include <stddef.h>
#include <jansson.h>
#include <tribune/plugin.h>
#include "watch.h"

typedef struct tb__state tb__state_t;

/* ---------------------------------------------------------------- buffers */

typedef struct tb__buf {
    uint8_t *data;
    size_t len, cap;
} tb__buf_t;

void tb__buf_free(tb__buf_t *b);

/* ---------------------------------------------------------------- commands */

/* Command = type byte, version byte, msgpack body. Unknown type or version:
 * refused (apply returns TB_INTERNAL with a message), never a crash. */
enum tb__cmd_type {
    TB__CMD_NOOP = 0,
    TB__CMD_REGISTER = 1,   /* catalog register: normalized JSON body */
    TB__CMD_DEREGISTER = 2, /* catalog deregister: {Node, ServiceID?, CheckID?} */
    TB__CMD_KVS = 3,        /* tb_kv_write_t */
    TB__CMD_SESSION = 4,    /* {Op:"create"|"destroy", Session:{...}} */
    TB__CMD_TXN = 5,        /* tb__txn_op_t list, all-or-nothing (txn.c) */
    TB__CMD_RESTORE = 6     /* a tb__state_serialize blob replacing the whole store */
};
#define TB__CMD_VERSION 1

/* Every command carries the proposer's wall clock (unix ms) so apply never
 * reads the clock (lock-delay, session timestamps). */
int tb__cmd_encode_kv(const tb_kv_write_t *op, int64_t now_ms, tb__buf_t *out);
/* For REGISTER, DEREGISTER, SESSION: body is the normalized JSON described
 * below (PascalCase keys as Consul's structs). NOOP: body may be NULL.
 *   REGISTER   {Node, Address, ID, Datacenter, TaggedAddresses{}, NodeMeta{},
 *               SkipNodeUpdate, Service{ID, Service, Tags[], Address, Port,
 *               Meta{}, TaggedAddresses{}, Weights{}, EnableTagOverride},
 *               Check{Node, CheckID, Name, Status, Notes, Output, ServiceID,
 *               Type, Interval, Timeout, Definition{}}, Checks[Check...]}
 *               CheckID defaults to Name, Status to "critical".
 *   DEREGISTER {Node, ServiceID?, CheckID?}: ServiceID wins; neither = node.
 *   SESSION    {Op:"create", Session:{ID (chosen by the proposer), Name, Node,
 *               LockDelay (ns), Behavior, TTL, NodeChecks[], ServiceChecks
 *               [{ID, Namespace}]}} or {Op:"destroy", Session:{ID}}.
 * Node and service names compare case-insensitively (as Consul); keys, IDs
 * and check IDs exactly. */
int tb__cmd_encode_json(uint8_t type, const json_t *body, int64_t now_ms, tb__buf_t *out);

/* TXN (Consul's /v1/txn): operations applied in order in one transaction.
 * KV ops use key/value/flags/index/session with Consul's KV verbs ("set",
 * "cas", "lock", "unlock", "get", "get-or-empty", "get-tree", "check-index",
 * "check-session", "check-not-exists", "delete", "delete-tree",
 * "delete-cas"); Node/Service/Check ops use body (Consul's object,
 * PascalCase) with "set", "cas", "get", "delete", "delete-cas"; key is the
 * node name for Service and Check ops; index the expected ModifyIndex.
 * Apply result: json {"Results":[...],"Errors":null} (TB_OK), or status
 * TB_CONFLICT with {"Results":null,"Errors":[{"OpIndex":n,"What":".."}]}
 * and nothing changed. Flags > INT64_MAX appear in results as the string
 * TB__TXN_BIG_MARK followed by the decimal digits. */
enum tb__txn_kind { TB__TXN_KV = 0, TB__TXN_NODE = 1, TB__TXN_SERVICE = 2, TB__TXN_CHECK = 3 };
#define TB__TXN_BIG_MARK "\001"
typedef struct tb__txn_op {
    enum tb__txn_kind kind;
    const char *verb;
    const char *key;
    const void *value; /* NULL = no value */
    size_t value_len;
    uint64_t flags, index;
    const char *session;
    const json_t *body;
} tb__txn_op_t;
int tb__cmd_encode_txn(const tb__txn_op_t *ops, size_t n, int64_t now_ms, tb__buf_t *out);
/* RESTORE (PUT /v1/snapshot): applying it at index N replaces the store with
 * the blob's rows (their own Create/ModifyIndex) and sets the applied index
 * and every table index to N, then marks every watch. A blob that
 * tb__state_restore would refuse is a deterministic TB_BAD_REQUEST refusal
 * with the same message; the store is unchanged. */
int tb__cmd_encode_restore(const void *blob, size_t len, int64_t now_ms, tb__buf_t *out);

/* A uint64 as JSON: an integer, or TB__TXN_BIG_MARK + digits above INT64_MAX. */
json_t *tb__txn_u64_json(uint64_t v);

/* ---------------------------------------------------------------- lifecycle */

/* Open an empty in-memory store. Returns 0 or -1 with *err (malloc'd). */
int tb__state_open(tb__state_t **out, tb__watch_reg_t *watches, char **err);
void tb__state_close(tb__state_t *st);

/* Highest index applied so far (0 when empty). */
uint64_t tb__state_last_index(tb__state_t *st);

/* ---------------------------------------------------------------- snapshots */

/* The whole store as one blob (sqlite3_serialize; its applied index is
 * inside). 0 with *data (malloc'd, free()) and *len, or -1 (out of memory). */
int tb__state_serialize(tb__state_t *st, uint8_t **data, size_t *len);
/* Replace the whole store with a blob from tb__state_serialize (the Raft
 * node's snapshot install and recovery); tb__state_last_index becomes the
 * blob's applied index. The blob is checked first (SQLite header and size,
 * integrity check, schema version and exact schema): a damaged or foreign
 * one is refused with -1 and *err (malloc'd, one line) and nothing changes.
 * On success every armed watch is marked; tb__watch_flush fires them, as
 * after tb__fsm_apply. */
int tb__state_restore(tb__state_t *st, const void *data, size_t len, char **err);
/* The same checks without restoring (refuse a bad blob before proposing a
 * RESTORE); *index (may be NULL) = the blob's applied index. 0 or -1. */
int tb__state_check(tb__state_t *st, const void *data, size_t len, uint64_t *index, char **err);

/* ---------------------------------------------------------------- FSM */

typedef struct tb__apply_result {
    tb_status_t status; /* TB_OK, or a deterministic refusal (TB_BAD_REQUEST ...) */
    char *error;        /* malloc'd message when status != TB_OK */
    int applied;        /* KVS: 1 done, 0 CAS/lock refused; others 1 when TB_OK */
    json_t *json;       /* owned: e.g. session create -> {"ID":...}; may be NULL */
} tb__apply_result_t;

void tb__apply_result_clear(tb__apply_result_t *r);

/* Apply one command at `index` (> last index). Deterministic, in one SQLite
 * transaction: either all of it or nothing. Notifies watches (pending until
 * tb__watch_flush) only when it commits. Always fills *res; returns 0, or -1
 * only when the command could not be decoded (res->status TB_INTERNAL).
 * Also -1 (TB_INTERNAL, nothing changed) when index <= last index or SQLite
 * fails. A deterministic refusal (TB_BAD_REQUEST: unknown session, missing
 * node ...) returns 0, changes nothing but still moves the last index. */
int tb__fsm_apply(tb__state_t *st, uint64_t index, const void *cmd, size_t len,
                  tb__apply_result_t *res);

/* ---------------------------------------------------------------- KV reads */

typedef struct tb__kv_rows {
    tb_kv_entry_t *v;
    size_t n;
    void *storage; /* owned strings/blobs */
} tb__kv_rows_t;

void tb__kv_rows_free(tb__kv_rows_t *rows);

/* Keys must be valid UTF-8 (writes of other keys are refused with
 * TB_BAD_REQUEST: they could not be echoed in JSON).
 * *index: the key's ModifyIndex if it exists, else the kv table index
 * (which also moves on deletes). Never 0 once anything was written. */
int tb__state_kv_get(tb__state_t *st, const char *key, tb__kv_rows_t *out, uint64_t *index);
/* Sorted by key. *index = max ModifyIndex over the prefix including
 * tombstones, else the kv table index. */
int tb__state_kv_list(tb__state_t *st, const char *prefix, tb__kv_rows_t *out, uint64_t *index);
/* JSON array of strings; with separator, each key is cut after the first
 * separator following the prefix (inclusive), deduplicated. */
int tb__state_kv_keys(tb__state_t *st, const char *prefix, const char *sep, json_t **out,
                      uint64_t *index);

/* ---------------------------------------------------------------- catalog reads */
/* Each returns a new reference (Consul's JSON shapes, see spec/http-api.md
 * §5/§6) and sets *index to the max of the relevant table indexes. NULL only
 * on internal error. */
json_t *tb__state_nodes(tb__state_t *st, uint64_t *index);                 /* [Node] */
json_t *tb__state_services(tb__state_t *st, uint64_t *index);              /* {name:[tags]} */
json_t *tb__state_service_nodes(tb__state_t *st, const char *service,
                                const json_t *tags, uint64_t *index);       /* [CatalogService] */
/* {"Node":Node,"Services":{id:AgentService}} or json_null() for an unknown node */
json_t *tb__state_node_services(tb__state_t *st, const char *node, uint64_t *index);
json_t *tb__state_health_service(tb__state_t *st, const char *service, const json_t *tags,
                                 int passing_only, uint64_t *index);        /* [ServiceEntry] */
json_t *tb__state_node_checks(tb__state_t *st, const char *node, uint64_t *index);
json_t *tb__state_service_checks(tb__state_t *st, const char *service, uint64_t *index);
/* state: "any", "passing", "warning", "critical" (NULL for any other) */
json_t *tb__state_checks_in_state(tb__state_t *st, const char *state, uint64_t *index);

/* ---------------------------------------------------------------- sessions */
json_t *tb__state_session_get(tb__state_t *st, const char *id, uint64_t *index);   /* [] or [S] */
json_t *tb__state_session_list(tb__state_t *st, uint64_t *index);
json_t *tb__state_node_sessions(tb__state_t *st, const char *node, uint64_t *index);
/* For the endpoint layer's TTL timers (renewal and expiry are not commands):
 * [{"ID":..,"TTL":"15s"}] for every session with a TTL, sorted by ID, e.g. to
 * re-arm timers after a restore or on becoming leader. Expire one by
 * proposing a SESSION {Op:"destroy"}. NULL on internal error. */
json_t *tb__state_session_ttls(tb__state_t *st);

#endif
