/*
 * swim.h - memberlist's SWIM + Lifeguard protocol as a pure state machine.
 *
 * No sockets and no clock: the caller feeds packets, stream messages and
 * the current time (ms) in, and pops packets to send out. Payloads in and
 * out are clear memberlist messages; the caller's I/O layer adds/removes
 * encryption (tb__gw_seal/open) and compression. That keeps one code path
 * for the agent (libuv, next part of issue 4) and the simulator
 * (tests/gsim.c), which runs thousands of instances deterministically.
 */
#ifndef TB_GOSSIP_SWIM_H
#define TB_GOSSIP_SWIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gossip/wire.h"

/* Timing/fanout profile (memberlist Default{LAN,WAN,Local}Config). */
typedef struct {
    uint32_t probe_interval_ms, probe_timeout_ms;
    uint32_t gossip_interval_ms, gossip_nodes;
    uint32_t gossip_to_dead_ms;
    uint32_t push_pull_interval_ms;
    uint32_t tcp_timeout_ms;
    uint32_t indirect_checks;
    uint32_t retransmit_mult;
    uint32_t suspicion_mult, suspicion_max_timeout_mult;
    uint32_t awareness_max;
    uint32_t udp_buffer;
    uint32_t dead_node_reclaim_ms; /* 0 = never */
    bool disable_tcp_pings;
} tb__swim_profile_t;

enum { TB__SWIM_PROFILE_LAN, TB__SWIM_PROFILE_WAN, TB__SWIM_PROFILE_LOCAL };
void tb__swim_profile(int which, tb__swim_profile_t *p);

/* Node states (same numbers as push/pull). */
enum { TB__SWIM_ALIVE = 0, TB__SWIM_SUSPECT = 1, TB__SWIM_DEAD = 2, TB__SWIM_LEFT = 3 };

/* A member as seen by this instance (read-only to callers). */
typedef struct {
    char *name;
    size_t name_len;
    uint8_t addr[16];
    uint8_t addr_len;
    uint16_t port;
    uint32_t incarnation;
    uint8_t state;
    uint64_t state_change_ms;
    uint8_t *meta;
    size_t meta_len;
    uint8_t vsn[6];
    void *priv;  /* suspicion timer */
    void *priv2; /* queued broadcast about this node */
} tb__swim_node_t;

/* Callbacks into the layer above (serf). Any may be NULL. */
typedef struct {
    void *ctx;
    void (*notify_join)(void *ctx, const tb__swim_node_t *n);
    void (*notify_leave)(void *ctx, const tb__swim_node_t *n);
    void (*notify_update)(void *ctx, const tb__swim_node_t *n);
    /* another address claims a known name (the local one: serf conflict) */
    void (*notify_conflict)(void *ctx, const tb__swim_node_t *known, const tb__gw_msg_t *alive);
    /* a memberlist user message (serf bytes, without the 08 type byte) */
    void (*notify_msg)(void *ctx, const uint8_t *buf, size_t len);
    /* Offer up to max messages (serf bytes) that together fit into limit
     * bytes, each costing its length + overhead. The slices stay valid
     * until the next call. Returns the count. */
    size_t (*get_broadcasts)(void *ctx, size_t overhead, size_t limit, tb__gw_bytes_t *out,
                             size_t max);
    /* push/pull user state */
    int (*local_state)(void *ctx, bool join, tb__gw_buf_t *out);
    void (*merge_remote_state)(void *ctx, const uint8_t *buf, size_t len, bool join);
} tb__swim_delegate_t;

typedef struct {
    const char *name;
    uint8_t addr[16];
    uint8_t addr_len;      /* 4 or 16 */
    uint16_t port;
    const uint8_t *meta;   /* serf tags (ff + msgpack map) */
    size_t meta_len;
    uint8_t vsn[6];        /* 0 -> serf 0.9.4's {1,5,2,2,5,5} */
    tb__swim_profile_t profile;
    bool encrypted;        /* reserve room for the encryption overhead */
    uint64_t seed;         /* randomness (shuffles, peer choice, stagger) */
    size_t n_hint;         /* cluster size for retransmit limits when this
                            * instance only knows part of it (simulator's
                            * partial views); 0 = the nodes it knows */
    tb__swim_delegate_t delegate;
} tb__swim_config_t;

/* Things to send. */
enum {
    TB__SWIM_OUT_UDP = 1,      /* datagram */
    TB__SWIM_OUT_PUSH_PULL,    /* open a stream, send buf, feed the reply to
                                * tb__swim_stream_reply(id) */
    TB__SWIM_OUT_TCP_PING      /* open a stream, send buf (a ping), report
                                * whether an ack with seq id came back via
                                * tb__swim_tcp_ping_result */
};

typedef struct {
    int kind;
    uint8_t addr[16];
    uint8_t addr_len;
    uint16_t port;
    uint8_t *buf; /* owned by the caller after tb__swim_poll */
    size_t len;
    uint32_t id;
    bool join;    /* PUSH_PULL: a join (vs periodic sync) */
} tb__swim_out_t;

/* Counters (for the log line rate limiter and metrics). */
typedef struct {
    uint64_t udp_in, udp_out, bad_packets, probes, probe_failures, indirect_probes;
    uint64_t tcp_fallback_ok, refutes, suspicions, deaths, push_pulls, bytes_out;
} tb__swim_stats_t;

typedef struct tb__swim tb__swim_t;

tb__swim_t *tb__swim_new(const tb__swim_config_t *cfg, uint64_t now_ms);
void tb__swim_free(tb__swim_t *sw);

/* Drive timers: probes, indirect probes, suspicion, gossip, push/pull. */
void tb__swim_tick(tb__swim_t *sw, uint64_t now_ms);
/* Earliest time tick has something to do. */
uint64_t tb__swim_next_deadline(const tb__swim_t *sw);

/* A clear datagram (after decryption) from addr:port. Returns the number
 * of messages handled or a negative tb__gw_err_t (dropped, counted). */
int tb__swim_recv_udp(tb__swim_t *sw, uint64_t now_ms, const uint8_t *addr, size_t alen,
                      uint16_t port, const uint8_t *buf, size_t len);
/* An inbound stream message (decoded with tb__gw_stream_decode). A reply
 * message, if any, is appended to reply (clear; the caller compresses/
 * encrypts it). Returns 0 or an error (the caller may answer with err). */
int tb__swim_stream_request(tb__swim_t *sw, uint64_t now_ms, const tb__gw_stream_msg_t *sm,
                            tb__gw_buf_t *reply);
/* The reply to our PUSH_PULL output id (NULL: the stream failed). Returns
 * 0 when the remote state was merged. */
int tb__swim_stream_reply(tb__swim_t *sw, uint64_t now_ms, uint32_t id,
                          const tb__gw_stream_msg_t *sm);
void tb__swim_tcp_ping_result(tb__swim_t *sw, uint64_t now_ms, uint32_t seq, bool ok);

/* Join via addr:port: emits a PUSH_PULL with join = true; returns its id. */
uint32_t tb__swim_join(tb__swim_t *sw, uint64_t now_ms, const uint8_t *addr, size_t alen,
                       uint16_t port);
/* Graceful leave: broadcast dead{me, From: me}. leave_done tells when the
 * message has been sent its retransmit limit (or nobody is alive). */
void tb__swim_leave(tb__swim_t *sw, uint64_t now_ms);
bool tb__swim_leave_done(const tb__swim_t *sw);
/* New meta (tags): new incarnation, broadcast alive. */
int tb__swim_set_meta(tb__swim_t *sw, uint64_t now_ms, const uint8_t *meta, size_t len);

/* Send a memberlist user message (08 | bytes) to addr:port, without CRC,
 * as memberlist's SendToAddress (serf query acks/responses, relays). */
void tb__swim_send_user(tb__swim_t *sw, const uint8_t *addr, size_t alen, uint16_t port,
                        const uint8_t *buf, size_t len);

/* Forget every queued broadcast (simulator: start from a quiet,
 * converged cluster). */
void tb__swim_drop_broadcasts(tb__swim_t *sw);

/* Broadcasts still queued (memberlist messages). */
size_t tb__swim_queue_len(const tb__swim_t *sw);

/* Pop one output; returns false when none is left. */
bool tb__swim_poll(tb__swim_t *sw, tb__swim_out_t *out);

/* Views. */
size_t tb__swim_num_nodes(const tb__swim_t *sw);
const tb__swim_node_t *tb__swim_node_at(const tb__swim_t *sw, size_t i);
const tb__swim_node_t *tb__swim_find(const tb__swim_t *sw, const char *name, size_t len);
const tb__swim_node_t *tb__swim_local(const tb__swim_t *sw);
size_t tb__swim_num_alive(const tb__swim_t *sw);
/* Another member than us is alive or suspect (leave waits for them). */
bool tb__swim_others_alive(const tb__swim_t *sw);
int tb__swim_health_score(const tb__swim_t *sw);
const tb__swim_stats_t *tb__swim_stats(const tb__swim_t *sw);
/* retransmit_mult * ceil(log10(n + 1)) */
uint32_t tb__swim_retransmit_limit(uint32_t mult, size_t n);
/* Lifeguard suspicion bounds for n nodes (ms). */
void tb__swim_suspicion_bounds(const tb__swim_profile_t *p, size_t n, uint64_t *min_ms,
                               uint64_t *max_ms);
uint64_t tb__swim_random(tb__swim_t *sw);

#endif
