/*
 * node_int.h - internals shared by the Raft node's files: node.c (driving
 * the protocol, storage on the thread pool, the FSM, bootstrap and
 * membership), transport.c (TCP connections on the server port) and
 * frame.c (the libuv-free frame and hello parser, also built into the
 * fuzz target).
 *
 * Wire on the server port, after the first byte 0x01 (TB__RPC_RAFT): a
 * sequence of frames `u32 len, u32 crc32c(payload), payload` (little
 * endian, len <= TB_RAFT_MAX_FRAME). The first frame each way is a hello
 * (JSON: version, node id, name, server address, datacenter,
 * bootstrap_expect, whether the sender has Raft state, the servers it
 * knows); every later frame is one tb__raft_msg_encode message. A
 * connection carries messages one way: each server sends on the
 * connection it dialed and receives on those it accepted.
 */
#ifndef TB_RAFT_NODE_INT_H
#define TB_RAFT_NODE_INT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "raft/log.h"
#include "raft/node.h"
#include "raft/raft.h"

/* ------------------------------------------------------------ frame.c */

#define TB__RF_HDR 8
#define TB__RF_VERSION 1
#define TB__RF_MAX_SERVERS 32

/* Receive buffer of one connection. */
typedef struct tb__rf_rx {
    uint8_t *buf;
    size_t len, cap;
} tb__rf_rx_t;

/* Called for each complete, checksummed frame; return -1 to stop (the
 * connection is closed). */
typedef int (*tb__rf_frame_cb)(void *ctx, const uint8_t *payload, size_t len);

/* Append bytes and hand over every complete frame. 0, or -1 with err set
 * (length above TB_RAFT_MAX_FRAME, checksum mismatch, or cb refused). */
int tb__rf_feed(tb__rf_rx_t *rx, const uint8_t *p, size_t n, tb__rf_frame_cb cb, void *ctx,
                char *err, size_t errlen);
void tb__rf_rx_free(tb__rf_rx_t *rx);
/* Fill the 8-byte header in front of a payload. */
void tb__rf_header(uint8_t *hdr, const uint8_t *payload, size_t len);

typedef struct tb__rf_server {
    char node_id[37], name[128], addr[64];
    int expect;
} tb__rf_server_t;

typedef struct tb__rf_hello {
    int version;
    char node_id[37], name[128], addr[64], dc[128];
    int expect, has_state;
    size_t n_servers;
    tb__rf_server_t servers[TB__RF_MAX_SERVERS];
} tb__rf_hello_t;

/* Strict: every field typed and bounded, the node id a UUID. */
int tb__rf_hello_decode(const uint8_t *p, size_t n, tb__rf_hello_t *h, char *err, size_t errlen);
/* A whole frame (header + JSON), malloc'd. */
uint8_t *tb__rf_hello_frame(const tb__rf_hello_t *h, size_t *len);
/* Raft id of a node-id UUID: its first 16 hex digits; 0 when malformed. */
uint64_t tb__rf_id_of(const char *node_id);

/* ------------------------------------------------------------ transport.c */

typedef struct tb__rpeer {
    struct tb__raftnode *n;
    uint64_t id;
    char node_id[37], name[128], addr[64];
    int expect, has_state;
    int removed;            /* out of the configuration (operator or leave): not re-added
                               until it says hello again */
    int leaving;            /* left the cluster: the leader removes it */
    uv_tcp_t *tcp;          /* outgoing connection, NULL while down */
    int connected;
    uv_timer_t retry;
    unsigned backoff_ms;
    tb__rf_rx_t rx;         /* the hello answer on the outgoing connection */
    unsigned in_conns;      /* accepted connections from it (it is alive) */
} tb__rpeer_t;

typedef struct tb__rjoin {
    struct tb__raftnode *n;
    char host[256];
    uv_getaddrinfo_t gai;
    uv_tcp_t *tcp;
    uv_timer_t retry;
    unsigned backoff_ms;
    int busy, done;
    tb__rf_rx_t rx;
} tb__rjoin_t;

typedef struct tb__rconn {
    uv_tcp_t *tcp;          /* malloc'd (handed over by the listener) */
    struct tb__raftnode *n;
    tb__rf_rx_t rx;
    int got_hello;
    uint64_t peer;
    struct tb__rconn *next, *prev;
} tb__rconn_t;

/* Start discovery (retry_join/start_join). Incoming connections arrive
 * from the server-port listener (endpoint/rpc.c) via tb__raftnode_accept. */
int tb__rt_start(struct tb__raftnode *n, char **err);
/* Close every handle (connections, timers, listener). */
void tb__rt_stop(struct tb__raftnode *n);
void tb__rt_free(struct tb__raftnode *n);
/* Encode and send one message to m->to (dropped when not connected: Raft
 * retransmits). */
void tb__rt_send(struct tb__raftnode *n, const tb__raft_msg_t *m);
/* Send an already framed buffer (ownership passes). */
void tb__rt_send_frame(struct tb__raftnode *n, uint64_t to, uint8_t *frame, size_t len);
/* Frame one message: malloc'd header + payload. */
uint8_t *tb__rt_frame_msg(const tb__raft_msg_t *m, size_t *len);
tb__rpeer_t *tb__rt_peer(struct tb__raftnode *n, uint64_t id);
/* Add or update a server in the address book; connects to it. */
tb__rpeer_t *tb__rt_seen(struct tb__raftnode *n, const char *node_id, const char *name,
                         const char *addr, int expect, int has_state);
/* Our own hello (with the servers we know). */
void tb__rt_hello(struct tb__raftnode *n, tb__rf_hello_t *h);

/* ------------------------------------------------------------ node.c */

typedef struct tb__rpending {
    uint64_t index, term;
    tb__raftnode_apply_cb cb;
    void *arg;
} tb__rpending_t;

typedef struct tb__rread {
    uint64_t ctx, index; /* index 0: not answered yet */
    tb__raftnode_read_cb cb;
    void *arg;
} tb__rread_t;

typedef struct tb__rdone {
    uint64_t id;       /* server removed / transfer target (0 = any) */
    int kind;          /* 1 remove, 2 transfer */
    uint64_t deadline; /* loop ms */
    tb__raftnode_done_cb cb;
    void *arg;
} tb__rdone_t;

struct tb__agent;

struct tb__raftnode {
    struct tb__agent *a;
    tb__raft_t *r;
    tb__raft_log_t *log;
    tb__raft_opts_t opts;
    char *dir;
    uint64_t id;
    char self_addr[64];
    uv_timer_t tick;
    uv_prepare_t prep;
    uv_check_t chk;
    unsigned tick_ms;
    uint64_t ticks;
    int busy;      /* a batch is on the thread pool */
    int stopping;  /* transferring leadership before closing */
    int closed;    /* handles closed: nothing runs any more */
    int failed;    /* storage failed: the node stops taking part */
    int was_leader;
    int lead_pending;     /* leader, store not caught up to lead_index yet */
    uint64_t lead_index;  /* this term's no-op entry */
    uint64_t last_leader;
    uint64_t stop_deadline;
    tb__rpeer_t **peers;
    size_t npeers;
    tb__rjoin_t **joins;
    size_t njoins;
    tb__rconn_t *conns;
    tb__rpending_t *pend;   /* proposals by index; [pend_head, npend) waiting */
    size_t npend, cappend, pend_head;
    tb__rread_t *reads;
    size_t nreads, capreads;
    uint64_t read_ctx;
    tb__rdone_t *dones;
    size_t ndones;
    char leader_addr[64];
    uint64_t applied;    /* last entry applied to the state store */
    uint64_t applied_term; /* its term (snapshot meta.json) */
    /* raft_snapshot_interval (0: snapshot as soon as raft asks): a snapshot
     * raft asked for waits for the next check, every interval plus up to
     * one interval of jitter, as Consul's raft checks its threshold */
    uint64_t snap_interval_ms, snap_check_at, snap_rng;
    int snap_wanted;
    uint64_t conf_index; /* index of the newest configuration entry applied */
    int book_dirty;      /* peers.json needs writing */
    int handles;         /* tick/prepare/check are initialized */
    /* a snapshot taken, waiting to be written by the next batch */
    int own_pending;
    tb__raft_snap_meta_t own_meta;
    uint8_t *own_data;
    size_t own_len;
};

/* Hand a received message to the protocol (transport -> node). */
void tb__rn_step(struct tb__raftnode *n, const tb__raft_msg_t *m);
/* The raft has state (a log, a configuration or a term): no bootstrap. */
int tb__rn_has_state(const struct tb__raftnode *n);

#endif
