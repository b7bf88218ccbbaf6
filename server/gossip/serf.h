/*
 * serf.h - serf 0.9.4's layer over memberlist as a pure state machine:
 * Lamport clocks (members, events, queries), join/leave intents, tags as
 * node meta, user events with the 512-slot recent-event buffer and dedup,
 * query dedup/rebroadcast/acks, failed-member reconnect and reaping.
 *
 * It owns a tb__swim_t and is its delegate; the caller drives I/O through
 * tb__serf_swim() (recv/poll/stream) and ticks tb__serf_tick (which ticks
 * the swim too). Member and user events are popped with tb__serf_poll.
 * Queries we send collect their responses until the timeout; keyring
 * queries are answered by the agent (runtime.c, keyring.c).
 */
#ifndef TB_GOSSIP_SERF_H
#define TB_GOSSIP_SERF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gossip/swim.h"
#include "gossip/wire.h"

enum {
    TB__SERF_STATUS_NONE = 0, TB__SERF_STATUS_ALIVE = 1, TB__SERF_STATUS_LEAVING = 2,
    TB__SERF_STATUS_LEFT = 3, TB__SERF_STATUS_FAILED = 4
};

enum {
    TB__SERF_EV_MEMBER_JOIN = 1, TB__SERF_EV_MEMBER_LEAVE, TB__SERF_EV_MEMBER_FAILED,
    TB__SERF_EV_MEMBER_UPDATE, TB__SERF_EV_MEMBER_REAP, TB__SERF_EV_USER, TB__SERF_EV_QUERY,
    /* another address claims our name: the agent runs serf's
     * _serf_conflict query (majority decides); nothing is taken over */
    TB__SERF_EV_NAME_CONFLICT,
    /* a response to our query (name = responder, payload, query_id) */
    TB__SERF_EV_QUERY_RESPONSE,
    /* our query's timeout passed: no more responses (query_id) */
    TB__SERF_EV_QUERY_DONE
};

typedef struct {
    int type;
    char *name;        /* member name, or event/query name */
    uint8_t *payload;  /* user event/query payload; member: its meta */
    size_t payload_len;
    uint64_t ltime;
    bool cc;
    uint32_t query_id;
    uint8_t addr[16];  /* member address / query origin */
    uint8_t addr_len;
    uint16_t port;
} tb__serf_event_t;

void tb__serf_event_clear(tb__serf_event_t *ev);

typedef struct {
    char *name;
    uint8_t addr[16];
    uint8_t addr_len;
    uint16_t port;
    uint8_t *meta;
    size_t meta_len;
    int status;
    uint64_t status_ltime;
    uint64_t leave_time_ms; /* when it failed or left */
} tb__serf_member_t;

typedef struct {
    tb__swim_config_t swim;        /* delegate is filled in by serf */
    uint32_t reap_interval_ms;     /* 15 s */
    uint32_t reconnect_interval_ms;/* 30 s */
    uint64_t reconnect_timeout_ms; /* 24 h */
    uint64_t tombstone_timeout_ms; /* 24 h */
    uint32_t recent_intent_ms;     /* 5 min */
    uint32_t broadcast_timeout_ms; /* 5 s */
    size_t user_event_size_limit;  /* 512 */
    bool no_events;                /* drop USER events from the poll queue */
} tb__serf_config_t;

/* Fill serf's defaults and a memberlist profile. */
void tb__serf_defaults(tb__serf_config_t *cfg, int profile);

typedef struct tb__serf tb__serf_t;

tb__serf_t *tb__serf_new(const tb__serf_config_t *cfg, uint64_t now_ms);
void tb__serf_free(tb__serf_t *s);
tb__swim_t *tb__serf_swim(tb__serf_t *s);

void tb__serf_tick(tb__serf_t *s, uint64_t now_ms);
uint64_t tb__serf_next_deadline(const tb__serf_t *s);

/* memberlist join (push/pull); pass the reply to tb__serf_stream_reply,
 * which broadcasts our join intent once a join succeeded. */
uint32_t tb__serf_join(tb__serf_t *s, uint64_t now_ms, const uint8_t *addr, size_t alen,
                       uint16_t port);
int tb__serf_stream_reply(tb__serf_t *s, uint64_t now_ms, uint32_t id,
                          const tb__gw_stream_msg_t *sm);
/* Graceful leave: leave intent now, memberlist leave once it went out (or
 * after broadcast_timeout). leave_done when both are through. */
void tb__serf_leave(tb__serf_t *s, uint64_t now_ms);
bool tb__serf_leave_done(const tb__serf_t *s);
/* force-leave: a leave intent about another member. */
int tb__serf_force_leave(tb__serf_t *s, uint64_t now_ms, const char *node, bool prune);
/* Fire a user event. */
int tb__serf_user_event(tb__serf_t *s, uint64_t now_ms, const char *name, const uint8_t *payload,
                        size_t len, bool cc);
/* Replace our tags. */
int tb__serf_set_tags(tb__serf_t *s, uint64_t now_ms, const tb__gw_tag_t *tags, int n);

/* Queued broadcasts, memberlist's and serf's. */
size_t tb__serf_queue_len(const tb__serf_t *s);

bool tb__serf_poll(tb__serf_t *s, tb__serf_event_t *ev);

/* serf's default query timeout for the current pool size. */
uint64_t tb__serf_query_timeout_ms(const tb__serf_t *s);
/* Send a query (our address as the reply address, no ack requested) and
 * process it locally too; id is the caller's random 31-bit id. Responses
 * come back as TB__SERF_EV_QUERY_RESPONSE events, one per node, then one
 * TB__SERF_EV_QUERY_DONE after timeout_ms. */
int tb__serf_query(tb__serf_t *s, uint64_t now_ms, const char *name, const uint8_t *payload,
                   size_t len, uint32_t id, uint64_t timeout_ms);
/* Answer a TB__SERF_EV_QUERY event (a Flags 0 response to its origin).
 * `_serf_*-key(s)` queries are surfaced for the agent's keyring. */
int tb__serf_respond(tb__serf_t *s, const tb__serf_event_t *q, const uint8_t *payload,
                     size_t len);
/* Members not in the left state (serf's NumNodes for keyring answers). */
size_t tb__serf_num_nodes(const tb__serf_t *s);

size_t tb__serf_num_members(const tb__serf_t *s);
const tb__serf_member_t *tb__serf_member_at(const tb__serf_t *s, size_t i);
const tb__serf_member_t *tb__serf_member(const tb__serf_t *s, const char *name);
uint64_t tb__serf_clock(const tb__serf_t *s);
uint64_t tb__serf_event_clock(const tb__serf_t *s);
uint64_t tb__serf_query_clock(const tb__serf_t *s);

#endif
