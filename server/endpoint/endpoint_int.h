/*
 * endpoint_int.h - internals shared by the endpoint layer's files:
 * endpoint.c (call lifecycle, blocking queries, deadlines), methods.c
 * (the method table: catalog, health, session, status, agent) and
 * normalize.c (case-insensitive request bodies -> canonical JSON).
 */
#ifndef TB_ENDPOINT_INT_H
#define TB_ENDPOINT_INT_H

#include <uv.h>
#include "endpoint/endpoint.h"
#include "state/state.h"
#include "state/watch.h"

struct tb__agent;

enum { CALL_GENERIC = 0, CALL_KV_READ = 1, CALL_KV_WRITE = 2 };
/* CS_FORWARDED: sent to a server (forward.c); CS_BARRIER: a consistent
 * read waiting for the Raft read barrier before it runs here. */
enum { CS_QUEUED = 0, CS_BLOCKED = 1, CS_RUNNING = 2, CS_FORWARDED = 3, CS_BARRIER = 4 };
/* CS_APPLYING: a write proposed to Raft; the node's callback completes it.
 * CS_DEFERRED: a method that completes later (tb__ep_defer). */
enum { CS_APPLYING = 5, CS_DEFERRED = 6 };

/* What a method handler produces. */
typedef struct tb__ep_out {
    tb_status_t status;
    char *error;        /* malloc'd */
    json_t *json;       /* owned */
    uint64_t index;
    int applied;
    tb__kv_rows_t rows; /* KV reads */
    int blockable;      /* 1 when the result may be waited on */
    tb_call_t *call;    /* the call the method runs for (tb__ep_defer) */
    int deferred;       /* set by tb__ep_defer: no answer now */
} tb__ep_out_t;

typedef struct tb__method {
    const char *name;
    /* ACL resource checked before running ("node", "service", "key",
     * "session", "agent", "operator" or NULL); allow-all until ACLs land. */
    const char *acl_resource;
    int needs_state; /* refused with "No cluster leader" on a client without servers */
    int write;
    /* Reads: fill out (json + index). Writes: encode a command into cmd,
     * or fill out directly (no state change). */
    void (*run)(tb__endpoint_t *ep, const json_t *args, tb__ep_out_t *out, tb__buf_t *cmd);
    /* Blocking: subscribe the waiter to the keys this query depends on. */
    int (*watch)(tb__watch_t *w, const json_t *args);
} tb__method_t;

struct tb_call {
    tb__endpoint_t *ep;
    int kind;
    int state;
    const tb__method_t *method;
    json_t *args;
    union { /* by kind: a call is one KV read or one KV write (32 B a waiter) */
        tb_kv_read_t kvr;
        tb_kv_write_t kvw;
    };
    char *key, *sep, *session;
    void *value;
    tb_query_opts_t opts;
    char *token, *dc;
    tb_result_cb cb;
    void *arg;
    int timed_out;
    uint64_t deadline;   /* loop ms; 0 = not in the heap */
    size_t heap_pos;
    tb__watch_t *watch;
    tb_call_t *qnext, *qprev;
    uint64_t chash;      /* coalesce.c: hash of the read, 0 until computed */
    /* routing (forward.c) */
    int routed;                /* decided to run here: blocking re-runs stay */
    int cancelled;             /* cancelled while the read barrier holds it */
    uint8_t hops;              /* servers it came through (RPC) */
    uint64_t fwd_id;           /* CS_FORWARDED: request id on fwd_conn */
    struct tb__fwd_conn *fwd_conn;
    tb_call_t *fnext, *fprev;  /* forward.c: calls on fwd_conn */
    tb_call_t *hnext;          /* forward.c: id hash chain */
    uint64_t hold_until;       /* forward.c: loop ms a call may wait for a leader */
    struct tb__ep_out *applying; /* CS_APPLYING: the result so far (raft servers) */
    int waited_writes;           /* read-your-writes wait done (endpoint.c) */
    /* catalog_view.c: a typed catalog read is a generic read whose
     * completion converts the result and calls these */
    tb_result_cb view_cb;
    void *view_arg;
    int view_kind;
};

/* A deadline heap entry; call is NULL once the call left (endpoint.c). */
typedef struct tb__deadline {
    uint64_t at;
    tb_call_t *call;
} tb__deadline_t;

typedef struct tb__ttl {
    char *id;
    uint64_t ttl_ms;
    uint64_t deadline;
} tb__ttl_t;

/* Counters since start (agent_info.c: /v1/agent/metrics). */
typedef struct tb__ep_stats {
    uint64_t calls, kv_reads, kv_writes, applies, blocked;
} tb__ep_stats_t;

struct tb__endpoint {
    struct tb__agent *agent;
    uv_idle_t idle;
    uv_timer_t timer;      /* earliest blocking deadline */
    uv_timer_t ttl_timer;  /* session TTL sweep */
    tb_call_t *qhead, *qtail;
    struct tb__deadline *heap;  /* blocked calls by deadline (endpoint.c) */
    size_t nheap, capheap, ndead;
    size_t nblocked;
    uint64_t rng;
    uint64_t applied_index;
    tb__ttl_t *ttls;
    size_t nttls;
    int closing;
    struct tb__ep_cache *cache; /* coalesce.c: reads shared within a queue turn */
    uint64_t coalesced;         /* reads answered from it (metrics) */
    tb__ep_stats_t stats;
    struct tb__rpc_srv *rpc;    /* server port listener (rpc.c), servers only */
    struct tb__fwd *fwd;        /* forwarding: server list, connection pool */
};

/* endpoint.c */
uint64_t tb__ep_random(tb__endpoint_t *ep);
/* Apply a command built by a write method for call c: -dev applies it
 * through the FSM with the next index (0, out final); a Raft leader
 * proposes it and returns 1: the call completes from the node's callback
 * once the entry is applied (out moved into the call). */
int tb__ep_apply(tb__endpoint_t *ep, tb_call_t *c, tb__buf_t *cmd, tb__ep_out_t *out);
void tb__ep_fail(tb__ep_out_t *out, tb_status_t st, const char *fmt, ...) TB_PRINTF(3, 4);
/* Hand a call's result to its caller and free the call (forwarded results
 * pass through as the server sent them). */
void tb__ep_deliver(tb_call_t *c, const tb_result_t *r);
/* Complete with o (then cleared), as a local run would. */
void tb__ep_finish(tb_call_t *c, tb__ep_out_t *o);
/* A method whose outcome comes later (an operator change committing, a
 * join dialing, an archive built off the loop; reads only without a watch)
 * takes its call with tb__ep_defer and leaves out empty (NULL: answer now).
 * The call waits, cancellation only marks it, until the method's callback
 * passes the outcome to tb__ep_deferred_done (o cleared there). */
tb_call_t *tb__ep_defer(tb__ep_out_t *out);
void tb__ep_deferred_done(tb_call_t *c, tb__ep_out_t *o);
/* Put a call (back) on the run queue. */
void tb__ep_resume(tb_call_t *c);
/* Free a call that is in no queue, without answering it. */
void tb__ep_drop(tb_call_t *c);
/* Session TTL bookkeeping (methods.c -> endpoint.c). */
void tb__ep_ttl_set(tb__endpoint_t *ep, const char *id, uint64_t ttl_ms);
int tb__ep_ttl_renew(tb__endpoint_t *ep, const char *id);
void tb__ep_ttl_drop(tb__endpoint_t *ep, const char *id);

/* methods.c */
const tb__method_t *tb__ep_method(const char *name);

/* agent_methods.c: Agent.* over the local state (server/agent/checks.c) */
#define TB__AGENT_METHOD(fn) \
    void fn(tb__endpoint_t *ep, const json_t *args, tb__ep_out_t *out, tb__buf_t *cmd)
TB__AGENT_METHOD(tb__m_agent_service_register);
TB__AGENT_METHOD(tb__m_agent_service_deregister);
TB__AGENT_METHOD(tb__m_agent_check_register);
TB__AGENT_METHOD(tb__m_agent_check_deregister);
TB__AGENT_METHOD(tb__m_agent_check_update);
TB__AGENT_METHOD(tb__m_agent_service);
TB__AGENT_METHOD(tb__m_agent_health_by_name);
TB__AGENT_METHOD(tb__m_agent_health_by_id);
TB__AGENT_METHOD(tb__m_agent_maintenance);
TB__AGENT_METHOD(tb__m_agent_service_maintenance);

/* filter.c: apply args "Filter" (?filter) and "NodeMetaFilters" ({k:v},
 * ?node-meta) to a read's result; a bad expression becomes the 400. */
void tb__ep_filter_out(const json_t *args, tb__ep_out_t *out);

/* coord.c: Coordinate.* and Catalog.NodeServiceList */
void tb__m_coord_datacenters(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out, tb__buf_t *c);
void tb__m_coord_nodes(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out, tb__buf_t *c);
void tb__m_coord_node(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out, tb__buf_t *c);
void tb__m_node_service_list(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out, tb__buf_t *c);
int tb__w_coord_nodes(tb__watch_t *w, const json_t *a);
int tb__w_coord_node(tb__watch_t *w, const json_t *a);

/* coalesce.c: run a read through the per-turn cache: 1 when *o is shared
 * (borrowed: do not clear it), 0 when *o is the caller's own. */
int tb__ep_shared_read(tb__endpoint_t *ep, tb_call_t *c, tb__ep_out_t *o,
                       void (*run)(tb_call_t *c, tb__ep_out_t *o));
void tb__ep_cache_clear(tb__endpoint_t *ep);
void tb__ep_cache_free(tb__endpoint_t *ep);

/* agent_info.c: Agent.Metrics ({"Format":"prometheus"} -> text as a JSON
 * string), Agent.Host */
void tb__m_agent_metrics(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out, tb__buf_t *c);
void tb__m_agent_host(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out, tb__buf_t *c);

/* operator.c: Operator.Raft* and Snapshot.Save/Restore (archive as base64
 * "Archive" in args and result) */
TB__AGENT_METHOD(tb__m_raft_configuration);
TB__AGENT_METHOD(tb__m_raft_remove_peer);
TB__AGENT_METHOD(tb__m_raft_transfer_leader);
TB__AGENT_METHOD(tb__m_snapshot_save);
TB__AGENT_METHOD(tb__m_snapshot_restore);

/* txn.c: Txn.Apply */
void tb__m_txn_apply(tb__endpoint_t *ep, const json_t *args, tb__ep_out_t *out, tb__buf_t *cmd);

/* normalize.c */
/* Case- and underscore-insensitive member lookup ("serviceid" == "ServiceID"
 * == "service_id"). */
json_t *tb__jget(const json_t *obj, const char *name);
const char *tb__jstr(const json_t *obj, const char *name);
/* Canonical catalog register / deregister / session bodies, or NULL with
 * *err (malloc'd) for a 400. */
json_t *tb__norm_register(const json_t *in, const char *dc, char **err);
json_t *tb__norm_deregister(const json_t *in, const char *dc, char **err);
/* RFC 4122 v4 UUID from the endpoint's PRNG seeded from /dev/urandom. */
void tb__ep_uuid(tb__endpoint_t *ep, char out[37]);

#endif
