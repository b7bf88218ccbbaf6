/*
 * node.h - a Raft server inside the agent: the glue between the pure
 * protocol (raft.h), the segment log and snapshot files (log.h) in
 * data_dir/raft/, the TCP transport on the server port and the FSM (the
 * state store). Everything runs on the agent's loop; fsync runs on the
 * libuv thread pool. This header is the contract the endpoint layer, the
 * operator/snapshot methods and the gossip runtime use; -dev agents have no
 * node (a->raft == NULL) and apply commands directly.
 *
 * Server IDs: the protocol's uint64 id is the first 16 hex digits of the
 * server's node-id UUID; the node keeps an address book (id -> node-id,
 * node name, "ip:port" of its server port) learned from hello frames and
 * discovery, persisted in data_dir/raft/peers.json.
 */
#ifndef TB_RAFT_NODE_H
#define TB_RAFT_NODE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <uv.h>
#include <tribune/plugin.h>

struct tb__agent;
struct tb__apply_result;
typedef struct tb__raftnode tb__raftnode_t;

/* Open data_dir/raft (recovering the log, hard state and newest snapshot
 * into the state store), listen on bind_addr:ports.server, start discovery
 * (retry_join / start_join addresses: a hello on their server port) and
 * ticking. Returns NULL with *err (malloc'd, one line) on failure. */
tb__raftnode_t *tb__raftnode_start(struct tb__agent *a, char **err);
/* Graceful stop: a leaving leader transfers leadership first; pending
 * proposals fail with TB_UNAVAILABLE; handles closed (run the loop after). */
void tb__raftnode_stop(tb__raftnode_t *n);
void tb__raftnode_free(tb__raftnode_t *n);

/* The server-port listener (owned by the forwarding RPC module, which also
 * runs on -dev servers) accepted a connection whose first byte selects
 * Raft (TB__RPC_RAFT = 0x01; the forwarding RPC is TB__RPC_FORWARD = 0x02,
 * as Consul selects its RPC kinds by a first byte). `head` holds the bytes
 * read after that first byte. The node takes the handle over (malloc'd
 * uv_tcp_t, reading stopped) and closes/frees it when done; on n == NULL
 * the caller closes it. Outgoing Raft connections write 0x01 first. */
#define TB__RPC_RAFT 0x01
#define TB__RPC_FORWARD 0x02
void tb__raftnode_accept(tb__raftnode_t *n, uv_tcp_t *conn, const uint8_t *head, size_t len);

/* A server was seen by discovery (hello on the server port, or a serf
 * member with role=consul tags). node_id is the UUID, addr "ip:port" of its
 * server port. expect = its bootstrap_expect (0 unknown). Idempotent. */
void tb__raftnode_server_seen(tb__raftnode_t *n, const char *node_id, const char *node_name,
                              const char *addr, int expect);

/* A server left the cluster gracefully or was reaped (serf): on the
 * leader it leaves the configuration, as Consul's leader removes the Raft
 * peer of a server member that left. Elsewhere a no-op. Idempotent. */
void tb__raftnode_server_left(tb__raftnode_t *n, const char *node_id);

/* Introspection (cheap, no allocation). */
int tb__raftnode_is_leader(const tb__raftnode_t *n);
/* "ip:port" of the current leader's server port, or NULL when unknown. */
const char *tb__raftnode_leader_addr(const tb__raftnode_t *n);
/* Milliseconds since this server last heard from a leader (0 on the
 * leader): X-Consul-LastContact of stale reads. */
uint64_t tb__raftnode_last_contact_ms(const tb__raftnode_t *n);
uint64_t tb__raftnode_applied_index(const tb__raftnode_t *n);
/* Term of the entry at the applied index (a snapshot's Term). */
uint64_t tb__raftnode_applied_term(const tb__raftnode_t *n);

/* Replicate one state-store command (tb__cmd_encode_*). Leader only:
 * returns TB_NO_LEADER/TB_UNAVAILABLE at once otherwise (the caller
 * forwards). cb runs on a later loop turn once the entry is committed and
 * applied here at `index` (res filled by tb__fsm_apply, owned by the node:
 * move what you keep), or with status != TB_OK when leadership was lost or
 * the node stopped before that. The watch registry has been flushed. */
typedef void (*tb__raftnode_apply_cb)(void *arg, tb_status_t status, uint64_t index,
                                      struct tb__apply_result *res);
tb_status_t tb__raftnode_apply(tb__raftnode_t *n, const void *cmd, size_t len,
                               tb__raftnode_apply_cb cb, void *arg);

/* Index of the newest entry this leader proposed (0 when none is
 * pending); cb of tb__raftnode_wait_applied runs once this server applied
 * `index` (status != TB_OK: leadership lost or the node stopped first). */
uint64_t tb__raftnode_proposed_index(const tb__raftnode_t *n);
typedef void (*tb__raftnode_read_cb)(void *arg, tb_status_t status);
tb_status_t tb__raftnode_wait_applied(tb__raftnode_t *n, uint64_t index, tb__raftnode_read_cb cb,
                                      void *arg);

/* Linearizable read barrier (ReadIndex; lease when enabled): cb runs once
 * this server has applied everything committed when the read began. Works
 * on followers too (asks the leader). status != TB_OK: no leader. */
tb_status_t tb__raftnode_read_barrier(tb__raftnode_t *n, tb__raftnode_read_cb cb, void *arg);

/* Operator API. */
/* /v1/operator/raft/configuration shape:
 * {"Servers":[{"ID","Node","Address","Leader","ProtocolVersion":"3","Voter"}],"Index"} */
json_t *tb__raftnode_configuration(const tb__raftnode_t *n);
/* /v1/status/peers: ["ip:port", ...] of the voters. */
json_t *tb__raftnode_peers(const tb__raftnode_t *n);
/* Remove a server by node-id or "ip:port" (leader only). cb runs when the
 * configuration change committed (or failed: status + message). */
typedef void (*tb__raftnode_done_cb)(void *arg, tb_status_t status, const char *error);
tb_status_t tb__raftnode_remove_peer(tb__raftnode_t *n, const char *id, const char *address,
                                     tb__raftnode_done_cb cb, void *arg);
/* Transfer leadership to node-id `id` (NULL: the most caught-up voter). */
tb_status_t tb__raftnode_transfer_leader(tb__raftnode_t *n, const char *id,
                                         tb__raftnode_done_cb cb, void *arg);

#endif
