/*
 * server.h - the http plugin's live state on the agent loop: listeners,
 * connections and the one in-flight exchange (request + endpoint call) of
 * each connection. conn.c owns sockets, timers and response writing;
 * handlers.c turns a parsed request into an endpoint call and a response;
 * http.c is the plugin entry (init, start, reload, stop).
 *
 * Ownership: the tbh_server_t is allocated at init and freed after stop,
 * once the last listener and connection handle has closed. A connection
 * is freed in its close callbacks; closing it cancels its call first, so
 * a completion callback never sees a freed connection.
 */
#ifndef TBH_SERVER_H
#define TBH_SERVER_H

#include <tribune/plugin.h>

#include "request.h"
#include "router.h"
#include "settings.h"
#include "tls.h"
#include "util.h"

typedef struct tbh_server tbh_server_t;
typedef struct tbh_conn tbh_conn_t;

/* A response body shared by reference (render_cache.c): one rendering of
 * a result, written to every waiter that gets that result. */
typedef struct tbh_body {
    size_t refs;
    size_t len;
    char data[]; /* NUL-terminated */
} tbh_body_t;

#define TBH_RC_SLOTS 8
typedef struct tbh_rc_slot {
    const json_t *json; /* a reference: the address stays this object's */
    int pretty;
    tbh_body_t *body;
    uint64_t used;      /* rc_tick of the last hit (LRU) */
} tbh_rc_slot_t;

typedef union tbh_stream {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
} tbh_stream_t;

typedef struct tbh_listener {
    tbh_stream_t h;
    tbh_server_t *srv;
    struct tbh_listener *next;
    int is_unix;
    int is_tls;      /* the ports.https listener */
    char *unix_path; /* removed when the listener closes */
    char name[96];   /* "127.0.0.1:8500", "[::1]:8500", "unix:///path" */
} tbh_listener_t;

/* Open connections of one client IP (limits.http_max_conns_per_client). */
typedef struct tbh_client {
    struct tbh_client *next;
    uint64_t conns;
    char ip[48];
} tbh_client_t;

#define TBH_CLIENT_BUCKETS 64

/* One request being answered. Everything the call borrows (token, dc,
 * args, the KV key and value) lives here until the call completes or is
 * cancelled. */
typedef struct tbh_exchange {
    const tbh_route_t *route;
    char *path;           /* decoded URL path */
    const char *rest;     /* path remainder after a prefix route */
    tbh_query_t query;
    tb_query_opts_t opts;
    char *token;
    json_t *args;
    tb_call_t *call;      /* in flight, or NULL */
    int kv_read_mode;     /* tb_kv_read_mode_t, or -1 for a write */
    int kv_verb;          /* tb_kv_verb_t for a write */
    int raw;              /* ?raw on a single-key GET */
    int pretty;
    uint64_t start_ms;
    tb_log_watch_t *monitor; /* /v1/agent/monitor stream (h_monitor.c) */
} tbh_exchange_t;

typedef enum tbh_cstate {
    TBH_CS_IDLE = 0,  /* waiting for a request (idle timeout) */
    TBH_CS_READING,   /* a request is arriving (header/body timeout) */
    TBH_CS_HANDLING,  /* dispatched, maybe waiting for the endpoint layer */
    TBH_CS_WRITING,   /* response being written */
    TBH_CS_LINGER,    /* response written, write side shut: draining until EOF */
    TBH_CS_CLOSING
} tbh_cstate_t;

/* Connection timeouts (conn.c). Every kind has one duration, so a list
 * per kind, appended to when armed, stays in deadline order, and one loop
 * timer for the server (at the earliest head) serves every connection: a
 * uv_timer_t each would be 152 bytes per idle blocking query. */
typedef enum tbh_tkind {
    TBH_TO_IDLE = 0,  /* keep-alive without a request */
    TBH_TO_HEADER,    /* whole header section */
    TBH_TO_BODY,      /* between pieces of body */
    TBH_TO_LINGER,    /* drain after "Connection: close" */
    TBH_TO_HANDSHAKE, /* HTTPS handshake */
    TBH_TO_KINDS
} tbh_tkind_t;

typedef struct tbh_tlist {
    tbh_conn_t *head, *tail;
} tbh_tlist_t;

struct tbh_conn {
    tbh_stream_t h;
    tbh_conn_t *tprev, *tnext; /* in srv->tl[tkind] while a timeout is armed */
    uint64_t deadline;         /* loop ms */
    int tkind;                 /* tbh_tkind_t, or -1: no timeout armed */
    tbh_server_t *srv;
    tbh_conn_t *prev, *next;
    tbh_client_t *client;  /* NULL: not counted (unix socket, refused) */
    tbh_reqparser_t rp;
    tbh_buf_t pending;     /* received while a request is in progress */
    size_t pending_off;
    tbh_cstate_t state;
    int reading;
    int peer_eof;
    int close_after;       /* close once the response is written */
    int timer_phase;       /* which READING timeout is armed: 0 none, 1 header, 2 body */
    tbh_exchange_t x;
    tbh_buf_t hdrs;        /* extra header lines of the response being built */
    tbh_tls_t *tls;        /* HTTPS: the TLS layer under the stream (tls.c) */
};

struct tbh_server {
    tb_plugin_t *self;
    const tb_api_t *api;
    uv_loop_t *loop;
    tbh_settings_t cfg;
    tbh_tls_ctx_t *tls_ctx;   /* NULL unless ports.https is on */
    uint64_t kv_max;          /* api->kv_max_value_size */
    uint64_t max_body;        /* any other body: max(kv_max, 1 MiB) + slack */
    size_t max_header_bytes;
    uint64_t header_timeout_ms, body_timeout_ms, idle_timeout_ms, linger_ms;
    size_t max_pending;       /* pipelined bytes buffered while busy */
    tbh_listener_t *listeners;
    tbh_conn_t *conns;
    size_t nconns;
    tbh_client_t *clients[TBH_CLIENT_BUCKETS];
    size_t open_handles;      /* listeners, connections and timer not yet closed */
    uv_timer_t timer;         /* connection timeouts; opened on first use */
    int timer_open;
    tbh_tlist_t tl[TBH_TO_KINDS];
    int started;
    int stopping;
    /* render_cache.c: recent JSON results and their shared bytes */
    tbh_rc_slot_t rc[TBH_RC_SLOTS];
    uint64_t rc_tick;
};

/* ---- http.c ---- */
/* Free the server once stopping and nothing is open. */
void tbh_server_maybe_free(tbh_server_t *s);

/* ---- conn.c ---- */
/* Bind every address of cfg. Returns 0 with the new listeners, or -1 with
 * *err ("http: cannot listen on 127.0.0.1:8500: address already in use")
 * after closing what it opened. */
int tbh_listen(tbh_server_t *s, const tbh_settings_t *cfg, tbh_listener_t **out, char **err);
void tbh_listeners_close(tbh_listener_t *list);
/* Close every connection now (stop): cancels in-flight calls. */
void tbh_conns_close_all(tbh_server_t *s);
void tbh_conn_close(tbh_conn_t *c);
/* Close the timeout timer (stopping, once no connection is left). */
void tbh_timer_close(tbh_server_t *s);
/* uv_write for response bytes: through the TLS layer on HTTPS. */
int tbh_conn_write(tbh_conn_t *c, uv_write_t *req, const uv_buf_t *bufs, unsigned n,
                   uv_write_cb cb);

/* Response building, for handlers.c. tbh_send takes body's storage. */
void tbh_add_header(tbh_conn_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tbh_send(tbh_conn_t *c, int code, const char *ctype, tbh_buf_t *body);
/* As tbh_send with a shared body: takes the caller's reference. */
void tbh_send_shared(tbh_conn_t *c, int code, const char *ctype, tbh_body_t *body);
void tbh_send_text(tbh_conn_t *c, int code, const char *text);

/* ---- handlers.c ---- */
/* Answer the complete request in c->rp.req (the connection is HANDLING). */
void tbh_dispatch(tbh_conn_t *c);
/* Cancel the call in flight, if any, and free the exchange. */
void tbh_exchange_reset(tbh_conn_t *c);

/* ---- h_agent.c (routes with TBH_R_AGENT) ---- */
/* Before the call: query parameters into args. 0, or -1 after answering. */
int tbh_agent_args(tbh_conn_t *c);
/* On completion: 1 when it answered (health statuses), else 0. */
int tbh_agent_result(tbh_conn_t *c, const tb_result_t *r);

/* ---- drain.c ---- */
/* Stop: let responses being written finish, close every other connection. */
void tbh_conns_drain(tbh_server_t *s);

/* ---- render_cache.c ---- */
/* v rendered as tbh_json_render does, as a new reference (NULL when out
 * of memory). Objects and arrays render once while cached: later calls
 * with the same object share the bytes (coalesced blocking queries). */
tbh_body_t *tbh_render_shared(tbh_server_t *s, const json_t *v, int pretty);
void tbh_render_cache_free(tbh_server_t *s);
tbh_body_t *tbh_body_new(const char *p, size_t len);
tbh_body_t *tbh_body_ref(tbh_body_t *b);
void tbh_body_unref(tbh_body_t *b);

/* ---- h_monitor.c ---- */
void tbh_monitor_handle(tbh_conn_t *c);
/* End the log stream of c, if any (tbh_exchange_reset). */
void tbh_monitor_stop(tbh_conn_t *c);

/* ---- h_txn.c ---- */
void tbh_txn_handle(tbh_conn_t *c);

/* ---- handlers.c ---- */
/* token, dc and (for TBH_R_QUERY routes) consistency/index/wait into
 * c->x.opts. 0, or -1 after answering 400. */
int tbh_common_opts(tbh_conn_t *c, unsigned flags);

/* ---- h_operator.c ---- */
void tbh_operator_handle(tbh_conn_t *c);

#endif
