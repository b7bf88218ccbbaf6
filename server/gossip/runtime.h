/*
 * runtime.h - the gossip pools inside a real agent: the libuv glue that
 * drives the socket-free serf/swim state machines (serf.h) over UDP and
 * TCP on bind_addr:ports.serf_lan (every agent) and ports.serf_wan
 * (servers), with the keyring (encrypt, data_dir/serf/local.keyring),
 * Consul's member tags, start_join/retry_join, graceful leave, server
 * discovery from tags, Consul user events (/v1/event) and the leader's
 * reconciliation of members into the catalog (serfHealth).
 */
#ifndef TB_GOSSIP_RUNTIME_H
#define TB_GOSSIP_RUNTIME_H

#include <stdint.h>
#include <jansson.h>
#include <tribune/plugin.h>

struct tb__agent;
typedef struct tb__gossip tb__gossip_t;

/* Bind the pools and start ticking, joining and reconciling. Returns NULL
 * with *err (malloc'd, one line) when a socket cannot be bound or the
 * keyring is unusable. */
tb__gossip_t *tb__gossip_start(struct tb__agent *a, char **err);
/* Shutdown: leave the pools first when `leave` (Consul's
 * leave_on_terminate / skip_leave_on_interrupt decide, see
 * tb__gossip_should_leave), then close every handle. Pending joins fail.
 * The loop must run afterwards. */
void tb__gossip_stop(tb__gossip_t *g, int leave);
void tb__gossip_free(tb__gossip_t *g);
/* 1 while the LAN pool runs (the leader then owns serfHealth). */
int tb__gossip_running(const tb__gossip_t *g);
/* Whether a signal (SIGINT/SIGTERM) means a graceful leave. */
int tb__gossip_should_leave(const tb__gossip_t *g, int signum);

/* /v1/agent/members: Consul's Member objects (new reference). */
json_t *tb__gossip_members(tb__gossip_t *g, int wan);
/* /v1/agent/self Stats serf_lan / serf_wan: {members, failed, left, ...}. */
json_t *tb__gossip_stats(tb__gossip_t *g, int wan);

/* Join the addresses ("ip[:port]", port defaults to the pool's); cb gets
 * the number of nodes contacted, or -1 and an error text. */
typedef void (*tb__gossip_join_cb)(void *arg, int joined, const char *error);
int tb__gossip_join(tb__gossip_t *g, int wan, const char *const *addrs, size_t n,
                    tb__gossip_join_cb cb, void *arg, char **err);
/* Cancel the callback of pending joins that carry arg. */
void tb__gossip_join_cancel(tb__gossip_t *g, void *arg);
/* /v1/agent/leave: leave every pool, then stop the agent. */
void tb__gossip_leave_and_exit(tb__gossip_t *g);
/* /v1/agent/force-leave/<node>. Returns 0, or -1 with *err. */
int tb__gossip_force_leave(tb__gossip_t *g, const char *node, int prune, int wan, char **err);

/* /v1/operator/keyring: run a keyring query (op = TB__KEYOP_* of
 * keyring.h; key base64 for install/use/remove) in the LAN pool and, on
 * servers, the WAN pool. cb gets Consul's KeyringResponse list (WAN first),
 * or NULL and an error. Returns -1 with *err for a bad key. */
typedef void (*tb__gossip_keyring_cb)(void *arg, json_t *responses, const char *error);
int tb__gossip_keyring(tb__gossip_t *g, int op, const char *key_b64, tb__gossip_keyring_cb cb,
                       void *arg, char **err);

/* /v1/event/fire: gossip a Consul user event ("consul:event:<name>", the
 * msgpack UserEvent as payload). ev holds ID, Name, Payload (base64 or
 * null), NodeFilter, ServiceFilter, TagFilter; Version/LTime are set.
 * Returns 0, or -1 with *err (malloc'd). */
int tb__gossip_fire(tb__gossip_t *g, json_t *ev, char **err);
/* /v1/event/list: the events received (oldest first), optionally of one
 * name (new reference). */
json_t *tb__gossip_events(tb__gossip_t *g, const char *name);
/* Consul's event-list index of such a list (XOR of the halves of the
 * newest event's UUID; 1 when empty). */
uint64_t tb__gossip_events_index(const json_t *list);

#endif
