/* server/raft/raft.h - Tribune's Raft protocol as a pure state machine.
 *
 * No I/O, no clock, no global state. The glue (libuv transport + storage,
 * or the deterministic simulator) drives it:
 *   inputs : tb__raft_step (received message), tb__raft_tick (one clock
 *            tick), tb__raft_propose, tb__raft_read_index, membership and
 *            transfer requests, tb__raft_snapshot_done (FSM took a snapshot)
 *   outputs: tb__raft_ready fills a batch: hard state and entries to
 *            persist (everything proposed since the previous batch: group
 *            commit), messages to send, committed entries to apply, a
 *            received snapshot to install, ReadIndex results, a snapshot
 *            request. The glue persists (fsync) the batch, THEN sends its
 *            messages and applies its committed entries, and acknowledges
 *            with tb__raft_advance. Only one batch is outstanding at a time;
 *            everything that happens meanwhile goes into the next batch.
 * Pointers in a batch or a message stay valid until the next call into
 * the raft (the glue encodes or copies them at once).
 */
#ifndef TB_RAFT_RAFT_H
#define TB_RAFT_RAFT_H

#include <stddef.h>
#include <stdint.h>

#define TB_RAFT_MAX_SERVERS 16 /* voters + learners in one configuration */
#define TB_RAFT_MAX_INFLIGHT 64 /* hard cap of the per-peer AppendEntries window */

enum tb__raft_role { TB_RAFT_FOLLOWER, TB_RAFT_PRECANDIDATE, TB_RAFT_CANDIDATE, TB_RAFT_LEADER };

enum tb__raft_entry_type {
	TB_RAFT_ENTRY_NORMAL = 1, /* an FSM command */
	TB_RAFT_ENTRY_NOOP = 2,   /* appended by each new leader; not given to the FSM */
	TB_RAFT_ENTRY_CONF = 3,   /* a full configuration (tb__raft_conf_encode) */
};

enum tb__raft_msg_type {
	TB_RAFT_MSG_APP = 1,        /* AppendEntries (index/log_term = previous entry) */
	TB_RAFT_MSG_APP_RESP,       /* index = match (or rejected prev index), hint_* on reject */
	TB_RAFT_MSG_VOTE,           /* index/log_term = candidate's last entry */
	TB_RAFT_MSG_VOTE_RESP,
	TB_RAFT_MSG_PREVOTE,        /* term = the term the candidate would use */
	TB_RAFT_MSG_PREVOTE_RESP,
	TB_RAFT_MSG_HEARTBEAT,      /* commit, ctx = read round */
	TB_RAFT_MSG_HEARTBEAT_RESP, /* ctx = read round echoed */
	TB_RAFT_MSG_SNAP,           /* one chunk of InstallSnapshot */
	TB_RAFT_MSG_SNAP_RESP,      /* index = snapshot index, hint_index = next offset, reject */
	TB_RAFT_MSG_TIMEOUT_NOW,    /* leadership transfer: campaign now */
	TB_RAFT_MSG_READ_INDEX,     /* follower -> leader, ctx = caller's read context */
	TB_RAFT_MSG_READ_INDEX_RESP,/* index = read index (0 + reject = refused), ctx echoed */
	TB_RAFT_MSG_TYPE_MAX = TB_RAFT_MSG_READ_INDEX_RESP
};

typedef struct {
	uint64_t index, term;
	uint8_t type;
	const uint8_t *data;
	uint32_t len;
} tb__raft_entry_t;

typedef struct {
	uint32_t n;
	struct {
		uint64_t id;
		uint8_t voter; /* 0 = non-voting learner */
	} s[TB_RAFT_MAX_SERVERS];
} tb__raft_conf_t;

typedef struct {
	uint8_t type, reject;
	uint64_t from, to, term;
	uint64_t index, log_term, commit;
	uint64_t hint_index, hint_term;
	uint64_t ctx;
	const tb__raft_entry_t *entries;
	uint32_t n_entries;
	/* TB_RAFT_MSG_SNAP */
	uint64_t snap_index, snap_term, offset, total;
	uint8_t done;
	tb__raft_conf_t conf;
	const uint8_t *data;
	uint32_t len;
} tb__raft_msg_t;

typedef struct {
	uint64_t term, vote;
} tb__raft_hard_t;

typedef struct {
	uint64_t ctx, index; /* serve the read once applied >= index; index 0 = refused */
} tb__raft_read_t;

typedef struct {
	uint64_t index, term;
	tb__raft_conf_t conf;
} tb__raft_snap_meta_t;

typedef struct {
	/* persist first (fsync) */
	int hard_changed;
	tb__raft_hard_t hard;
	/* entries[0].index may be <= the last persisted index: the storage
	 * truncates from there first */
	const tb__raft_entry_t *entries;
	size_t n_entries;
	/* a snapshot received from the leader: persist, restore the FSM from it,
	 * and drop the whole log (it restarts after snap.index) */
	int has_snapshot;
	tb__raft_snap_meta_t snap;
	const uint8_t *snap_data;
	size_t snap_len;
	/* then send. The first n_early may go out before the batch is
	 * persisted (AppendEntries, heartbeats and snapshot chunks of a leader
	 * acknowledge nothing; sending them early overlaps the leader's fsync
	 * with the followers'); the rest only after. */
	const tb__raft_msg_t *msgs;
	size_t n_msgs, n_early;
	/* then apply, in order (NOOP/CONF entries are included: the FSM skips
	 * them but may record their index) */
	const tb__raft_entry_t *committed;
	size_t n_committed;
	const tb__raft_read_t *reads;
	size_t n_reads;
	/* the FSM should take a snapshot at its applied index and call
	 * tb__raft_snapshot_done */
	int want_snapshot;
} tb__raft_ready_t;

typedef struct {
	uint64_t id;
	uint64_t seed;              /* PRNG for randomized election timeouts */
	unsigned election_ticks;    /* base election timeout; randomized in [e, 2e) */
	unsigned heartbeat_ticks;
	unsigned max_inflight;      /* AppendEntries messages in flight per peer */
	unsigned max_batch;         /* entries per AppendEntries */
	uint32_t max_batch_bytes;
	uint32_t snap_chunk;        /* InstallSnapshot chunk size */
	uint64_t snap_threshold;    /* entries applied since the last snapshot before asking for one */
	uint64_t snap_trailing;     /* entries kept in the log after a snapshot */
	uint64_t catchup_max_lag;   /* a learner is promotable when this close to the leader */
	int pre_vote, check_quorum, lease_read;
} tb__raft_opts_t;

void tb__raft_opts_default(tb__raft_opts_t *o);

typedef struct tb__raft tb__raft_t;

/* Create a node from what storage recovered: hard state, newest snapshot
 * (meta + data, may be NULL/index 0), and the log entries after it. A brand
 * new cluster passes a snapshot meta with index 0 and the initial
 * configuration (bootstrap), or an empty conf to wait to be added. Entries
 * are copied. Returns NULL on allocation failure or inconsistent input. */
tb__raft_t *tb__raft_new(const tb__raft_opts_t *opts, const tb__raft_hard_t *hs,
                         const tb__raft_snap_meta_t *snap, const uint8_t *snap_data,
                         size_t snap_len, const tb__raft_entry_t *ents, size_t n);
void tb__raft_free(tb__raft_t *r);

int tb__raft_step(tb__raft_t *r, const tb__raft_msg_t *m);
void tb__raft_tick(tb__raft_t *r);

/* errors returned by requests */
#define TB_RAFT_OK 0
#define TB_RAFT_ENOTLEADER (-1)
#define TB_RAFT_EBUSY (-2)     /* config change pending / transfer in progress */
#define TB_RAFT_EINVAL (-3)
#define TB_RAFT_ENOMEM (-4)
#define TB_RAFT_EAGAIN (-5)    /* learner not caught up yet */

/* Leader only. Copies data; *index = the entry's log index. */
int tb__raft_propose(tb__raft_t *r, const void *data, uint32_t len, uint64_t *index);
/* Linearizable read: the result (ctx, index) comes in a later batch. */
int tb__raft_read_index(tb__raft_t *r, uint64_t ctx);
/* Membership (leader only, one change at a time). */
int tb__raft_add_learner(tb__raft_t *r, uint64_t id);
int tb__raft_promote(tb__raft_t *r, uint64_t id);
int tb__raft_remove(tb__raft_t *r, uint64_t id);
int tb__raft_transfer(tb__raft_t *r, uint64_t to);

/* Output batch. Returns 1 when rd holds work, 0 when there is nothing (or
 * a batch is still outstanding). */
int tb__raft_ready(tb__raft_t *r, tb__raft_ready_t *rd);
/* The previous batch is persisted, sent and applied. */
void tb__raft_advance(tb__raft_t *r);
/* The FSM snapshotted at `index` (<= applied); raft keeps a copy of the data
 * to send to slow followers and compacts its log. */
int tb__raft_snapshot_done(tb__raft_t *r, uint64_t index, const void *data, size_t len);

/* Introspection. */
enum tb__raft_role tb__raft_role(const tb__raft_t *r);
uint64_t tb__raft_id(const tb__raft_t *r);
uint64_t tb__raft_term(const tb__raft_t *r);
uint64_t tb__raft_leader(const tb__raft_t *r);
uint64_t tb__raft_commit(const tb__raft_t *r);
uint64_t tb__raft_applied(const tb__raft_t *r);
uint64_t tb__raft_last_index(const tb__raft_t *r);
uint64_t tb__raft_first_index(const tb__raft_t *r); /* first entry held in memory */
uint64_t tb__raft_snap_index(const tb__raft_t *r);
const tb__raft_entry_t *tb__raft_entry(const tb__raft_t *r, uint64_t index); /* NULL if not held */
const tb__raft_conf_t *tb__raft_conf(const tb__raft_t *r);
/* The newest snapshot (what the glue writes next to its data). */
void tb__raft_snapshot_meta(const tb__raft_t *r, tb__raft_snap_meta_t *m);
uint64_t tb__raft_match(const tb__raft_t *r, uint64_t peer); /* leader view */
/* Ticks since this follower last heard from its leader (0 on a leader):
 * X-Consul-LastContact for stale reads. */
unsigned tb__raft_since_leader(const tb__raft_t *r);

/* Configuration helpers. */
int tb__raft_conf_find(const tb__raft_conf_t *c, uint64_t id); /* slot or -1 */
size_t tb__raft_conf_encode(const tb__raft_conf_t *c, uint8_t *buf, size_t cap);
int tb__raft_conf_decode(const uint8_t *buf, size_t len, tb__raft_conf_t *c);

/* Wire codec (codec.c): version 1, little-endian fixed layout. */
#define TB_RAFT_WIRE_VERSION 1
#define TB_RAFT_MAX_FRAME (64u << 20)
size_t tb__raft_msg_size(const tb__raft_msg_t *m);
size_t tb__raft_msg_encode(const tb__raft_msg_t *m, uint8_t *buf, size_t cap);
/* Decodes buf into *m; data pointers point into buf, the entry array is
 * allocated (tb__raft_msg_release frees it). Returns 0, or -1 on a
 * malformed frame (nothing to release). */
int tb__raft_msg_decode(const uint8_t *buf, size_t len, tb__raft_msg_t *m);
void tb__raft_msg_release(tb__raft_msg_t *m);

/* CRC32C (Castagnoli), used by the codec's users and the storage. */
uint32_t tb__crc32c(uint32_t crc, const void *buf, size_t len);

#endif
