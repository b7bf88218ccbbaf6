/* server/raft/raft.c - the Raft protocol as a pure state machine (raft.h).
 *
 * Follows the Raft dissertation (Ongaro 2014) and the structure of etcd's
 * raft: pre-vote and check-quorum with leader stickiness, a no-op entry per
 * new term, commit by counting only current-term entries, per-peer flow
 * control (probe / replicate / snapshot states with an inflight window),
 * fast backtracking with conflict (index, term) hints, ReadIndex through
 * heartbeat rounds plus an optional lease, chunked InstallSnapshot, log
 * compaction behind a trailing window, single-server membership changes
 * (a configuration takes effect when appended) and TimeoutNow transfer.
 *
 * Persistence contract: a batch from tb__raft_ready is persisted before its
 * messages are sent, so every response that acknowledges entries or a vote
 * leaves only after the matching fsync. The leader counts itself in the
 * commit quorum only up to its own persisted (stable) index.
 */
#include <stdlib.h>
#include <string.h>

#include "raft/raft.h"

enum { PR_PROBE, PR_REPLICATE, PR_SNAPSHOT };

#define ROUND_RING 256

typedef struct {
	uint64_t id;
	uint64_t match, next;
	int state, paused, active;
	uint64_t infl[TB_RAFT_MAX_INFLIGHT];
	unsigned infl_start, infl_count;
	uint64_t acked_round;
	uint64_t hb_match; /* match at the previous heartbeat answer */
	/* snapshot transfer */
	uint64_t snap_index, snap_offset;
	unsigned snap_wait;
} peer_t;

typedef struct {
	tb__raft_msg_t m;
	uint64_t ent_lo; /* first entry index when m.n_entries > 0 (pointers set in ready) */
	uint64_t snap_off; /* data = snap_data + snap_off for SNAP */
} outmsg_t;

typedef struct {
	uint64_t ctx, index, round, from; /* from = 0: local */
} pread_t;

typedef struct {
	uint64_t index;
	tb__raft_conf_t conf;
} confhist_t;

struct tb__raft {
	tb__raft_opts_t o;
	uint64_t id, prng;
	uint64_t term, vote, leader;
	enum tb__raft_role role;
	int hard_changed;

	/* log: log[i].index == off_index + 1 + i */
	tb__raft_entry_t *log;
	size_t log_n, log_cap;
	uint64_t off_index, off_term; /* the entry before log[0] (compacted) */
	uint64_t snap_index, snap_term;
	tb__raft_conf_t snap_conf;
	uint8_t *snap_data;
	size_t snap_len;
	uint64_t commit, applied, stable, handed, flight_last;
	int flight, flight_snap, snap_requested;
	uint64_t apply_hi;

	tb__raft_conf_t conf;
	uint64_t conf_index;
	confhist_t *ch;
	size_t ch_n, ch_cap;

	peer_t peers[TB_RAFT_MAX_SERVERS];
	uint8_t votes[TB_RAFT_MAX_SERVERS]; /* 0 none, 1 granted, 2 rejected */

	unsigned elapsed, hb_elapsed, timeout;
	uint64_t now;
	uint64_t transfer_to;
	int need_bcast;
	int fresh;    /* started less than an election timeout ago (lease safety) */
	unsigned since_leader; /* ticks since the leader was last heard */
	int no_lease; /* a TimeoutNow went out this term: another leader may follow */

	/* ReadIndex */
	uint64_t round;
	uint64_t round_tick[ROUND_RING];
	pread_t *pr;
	size_t pr_n, pr_cap;

	/* snapshot being received */
	uint8_t *rx;
	size_t rx_len, rx_cap;
	uint64_t rx_index, rx_term;
	/* installed snapshot waiting to be handed out */
	int inst_pending;
	uint8_t *inst_data;
	size_t inst_len;
	tb__raft_snap_meta_t inst_meta;
	/* handed out in the outstanding batch (freed on advance) */
	uint8_t *inst_flight;
	size_t inst_flight_len;
	uint64_t inst_flight_index;

	/* outputs */
	outmsg_t *out;
	size_t out_n, out_cap;
	tb__raft_msg_t *fl;
	size_t fl_cap;
	tb__raft_read_t *rd;
	size_t rd_n, rd_cap;
	tb__raft_read_t *rdf;
	size_t rdf_cap;
};

/* ---- small helpers ---- */

static uint64_t prng_next(tb__raft_t *r)
{
	uint64_t z = (r->prng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void reset_timeout(tb__raft_t *r)
{
	r->elapsed = 0;
	r->timeout = r->o.election_ticks + (unsigned)(prng_next(r) % r->o.election_ticks);
}

static int grow(void **p, size_t *cap, size_t need, size_t elt)
{
	if (need <= *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : 16;
	while (nc < need)
		nc *= 2;
	void *np = realloc(*p, nc * elt);
	if (!np)
		return -1;
	*p = np;
	*cap = nc;
	return 0;
}

static uint64_t last_index(const tb__raft_t *r)
{
	return r->off_index + r->log_n;
}

static const tb__raft_entry_t *ent(const tb__raft_t *r, uint64_t i)
{
	if (i <= r->off_index || i > last_index(r))
		return NULL;
	return &r->log[i - r->off_index - 1];
}

/* 0 when unknown (compacted or beyond the end); index 0 has term 0 */
static uint64_t term_at(const tb__raft_t *r, uint64_t i, int *ok)
{
	*ok = 1;
	if (i == r->off_index)
		return r->off_term;
	const tb__raft_entry_t *e = ent(r, i);
	if (e)
		return e->term;
	*ok = 0;
	return 0;
}

static uint64_t last_term(const tb__raft_t *r)
{
	int ok;
	return term_at(r, last_index(r), &ok);
}

int tb__raft_conf_find(const tb__raft_conf_t *c, uint64_t id)
{
	for (uint32_t i = 0; i < c->n; i++)
		if (c->s[i].id == id)
			return (int)i;
	return -1;
}

static unsigned nvoters(const tb__raft_conf_t *c)
{
	unsigned n = 0;
	for (uint32_t i = 0; i < c->n; i++)
		n += c->s[i].voter ? 1u : 0u;
	return n;
}

static int is_voter(const tb__raft_t *r, uint64_t id)
{
	int s = tb__raft_conf_find(&r->conf, id);
	return s >= 0 && r->conf.s[s].voter;
}

size_t tb__raft_conf_encode(const tb__raft_conf_t *c, uint8_t *buf, size_t cap)
{
	size_t need = 1 + (size_t)c->n * 9;
	if (cap < need)
		return need;
	buf[0] = (uint8_t)c->n;
	for (uint32_t i = 0; i < c->n; i++) {
		for (int b = 0; b < 8; b++)
			buf[1 + i * 9 + (uint32_t)b] = (uint8_t)(c->s[i].id >> (8 * b));
		buf[1 + i * 9 + 8] = c->s[i].voter ? 1 : 0;
	}
	return need;
}

int tb__raft_conf_decode(const uint8_t *buf, size_t len, tb__raft_conf_t *c)
{
	memset(c, 0, sizeof(*c));
	if (len < 1 || buf[0] > TB_RAFT_MAX_SERVERS || len != 1 + (size_t)buf[0] * 9)
		return -1;
	c->n = buf[0];
	for (uint32_t i = 0; i < c->n; i++) {
		uint64_t id = 0;
		for (int b = 0; b < 8; b++)
			id |= (uint64_t)buf[1 + i * 9 + (uint32_t)b] << (8 * b);
		if (id == 0 || buf[1 + i * 9 + 8] > 1)
			return -1;
		for (uint32_t j = 0; j < i; j++)
			if (c->s[j].id == id)
				return -1;
		c->s[i].id = id;
		c->s[i].voter = buf[1 + i * 9 + 8];
	}
	return 0;
}

/* ---- outputs ---- */

static outmsg_t *send_msg(tb__raft_t *r, uint8_t type, uint64_t to)
{
	if (grow((void **)&r->out, &r->out_cap, r->out_n + 1, sizeof(*r->out)))
		return NULL; /* dropped: the protocol tolerates message loss */
	outmsg_t *o = &r->out[r->out_n++];
	memset(o, 0, sizeof(*o));
	o->m.type = type;
	o->m.from = r->id;
	o->m.to = to;
	o->m.term = r->term;
	return o;
}

static void read_out(tb__raft_t *r, uint64_t ctx, uint64_t index)
{
	if (grow((void **)&r->rd, &r->rd_cap, r->rd_n + 1, sizeof(*r->rd)))
		return;
	r->rd[r->rd_n].ctx = ctx;
	r->rd[r->rd_n].index = index;
	r->rd_n++;
}

/* Drop queued AppendEntries that refer to entries no longer held as they
 * were (truncated at `from` or compacted up to off_index): like loss. */
static void drop_stale_out(tb__raft_t *r, uint64_t from)
{
	size_t w = 0;
	for (size_t i = 0; i < r->out_n; i++) {
		outmsg_t *o = &r->out[i];
		if (o->m.type == TB_RAFT_MSG_APP && o->m.n_entries &&
		    (o->ent_lo <= r->off_index || o->ent_lo + o->m.n_entries - 1 >= from))
			continue;
		r->out[w++] = *o;
	}
	r->out_n = w;
}

static void drop_snap_out(tb__raft_t *r)
{
	size_t w = 0;
	for (size_t i = 0; i < r->out_n; i++)
		if (r->out[i].m.type != TB_RAFT_MSG_SNAP)
			r->out[w++] = r->out[i];
	r->out_n = w;
}

/* ---- configuration ---- */

static tb__raft_conf_t conf_at(const tb__raft_t *r, uint64_t index)
{
	const tb__raft_conf_t *c = &r->snap_conf;
	for (size_t i = 0; i < r->ch_n; i++)
		if (r->ch[i].index <= index)
			c = &r->ch[i].conf;
	return *c;
}

static void rebuild_peers(tb__raft_t *r)
{
	peer_t old[TB_RAFT_MAX_SERVERS];
	memcpy(old, r->peers, sizeof(old));
	for (uint32_t i = 0; i < r->conf.n; i++) {
		peer_t *p = &r->peers[i];
		uint64_t id = r->conf.s[i].id;
		int found = 0;
		for (uint32_t j = 0; j < TB_RAFT_MAX_SERVERS; j++)
			if (old[j].id == id) {
				*p = old[j];
				found = 1;
				break;
			}
		if (!found) {
			memset(p, 0, sizeof(*p));
			p->id = id;
			p->next = last_index(r) + 1;
			p->state = PR_PROBE;
			p->active = 1;
		}
	}
	for (uint32_t i = r->conf.n; i < TB_RAFT_MAX_SERVERS; i++)
		memset(&r->peers[i], 0, sizeof(r->peers[i]));
}

static void set_conf(tb__raft_t *r, const tb__raft_conf_t *c, uint64_t index)
{
	r->conf = *c;
	r->conf_index = index;
	rebuild_peers(r);
}

static int conf_entry_appended(tb__raft_t *r, const tb__raft_entry_t *e)
{
	tb__raft_conf_t c;
	if (tb__raft_conf_decode(e->data, e->len, &c))
		return 0; /* malformed configuration: ignored on every server alike */
	if (grow((void **)&r->ch, &r->ch_cap, r->ch_n + 1, sizeof(*r->ch)))
		return -1;
	r->ch[r->ch_n].index = e->index;
	r->ch[r->ch_n].conf = c;
	r->ch_n++;
	set_conf(r, &c, e->index);
	return 0;
}

static void recompute_conf(tb__raft_t *r)
{
	if (r->ch_n)
		set_conf(r, &r->ch[r->ch_n - 1].conf, r->ch[r->ch_n - 1].index);
	else
		set_conf(r, &r->snap_conf, r->snap_index);
}

/* ---- log mutation ---- */

static int append_entry(tb__raft_t *r, uint64_t term, uint8_t type, const void *data, uint32_t len)
{
	if (grow((void **)&r->log, &r->log_cap, r->log_n + 1, sizeof(*r->log)))
		return -1;
	uint8_t *copy = NULL;
	if (len) {
		copy = malloc(len);
		if (!copy)
			return -1;
		memcpy(copy, data, len);
	}
	tb__raft_entry_t *e = &r->log[r->log_n];
	e->index = last_index(r) + 1;
	e->term = term;
	e->type = type;
	e->data = copy;
	e->len = len;
	r->log_n++;
	if (type == TB_RAFT_ENTRY_CONF && conf_entry_appended(r, e)) {
		r->log_n--;
		free(copy);
		return -1;
	}
	return 0;
}

static void truncate_from(tb__raft_t *r, uint64_t from)
{
	while (last_index(r) >= from && r->log_n) {
		r->log_n--;
		free((void *)r->log[r->log_n].data);
	}
	int confchg = 0;
	while (r->ch_n && r->ch[r->ch_n - 1].index >= from) {
		r->ch_n--;
		confchg = 1;
	}
	if (confchg)
		recompute_conf(r);
	if (r->stable >= from)
		r->stable = from - 1;
	if (r->handed >= from)
		r->handed = from - 1;
	if (r->flight_last >= from)
		r->flight_last = from - 1;
	drop_stale_out(r, from);
}

/* Drop entries up to and including `upto` (keeps its term as off_term). */
static void compact_to(tb__raft_t *r, uint64_t upto)
{
	if (upto <= r->off_index || upto > last_index(r))
		return;
	int ok;
	uint64_t t = term_at(r, upto, &ok);
	size_t n = (size_t)(upto - r->off_index);
	for (size_t i = 0; i < n; i++)
		free((void *)r->log[i].data);
	memmove(r->log, r->log + n, (r->log_n - n) * sizeof(*r->log));
	r->log_n -= n;
	r->off_index = upto;
	r->off_term = t;
	/* configurations at or below the snapshot live in snap_conf */
	size_t w = 0;
	for (size_t i = 0; i < r->ch_n; i++)
		if (r->ch[i].index > r->snap_index)
			r->ch[w++] = r->ch[i];
	r->ch_n = w;
	drop_stale_out(r, UINT64_MAX);
}

/* ---- role transitions ---- */

static void refuse_reads(tb__raft_t *r)
{
	for (size_t i = 0; i < r->pr_n; i++)
		if (r->pr[i].from == 0)
			read_out(r, r->pr[i].ctx, 0);
	r->pr_n = 0;
}

static void become_follower(tb__raft_t *r, uint64_t term, uint64_t lead)
{
	if (term != r->term) {
		r->term = term;
		r->vote = 0;
		r->hard_changed = 1;
	}
	if (r->role == TB_RAFT_LEADER)
		refuse_reads(r);
	r->role = TB_RAFT_FOLLOWER;
	r->leader = lead;
	r->transfer_to = 0;
	reset_timeout(r);
}

static void send_vote_requests(tb__raft_t *r, int pre, int force)
{
	for (uint32_t i = 0; i < r->conf.n; i++) {
		if (!r->conf.s[i].voter || r->conf.s[i].id == r->id)
			continue;
		outmsg_t *o = send_msg(r, pre ? TB_RAFT_MSG_PREVOTE : TB_RAFT_MSG_VOTE, r->conf.s[i].id);
		if (!o)
			continue;
		o->m.term = pre ? r->term + 1 : r->term;
		o->m.index = last_index(r);
		o->m.log_term = last_term(r);
		o->m.ctx = force ? 1 : 0;
	}
}

static void become_leader(tb__raft_t *r);

/* Returns 1 when the tally is decided: +1 won, -1 lost. */
static int tally(tb__raft_t *r)
{
	unsigned g = 0, rej = 0, q = nvoters(&r->conf) / 2 + 1;
	for (uint32_t i = 0; i < r->conf.n; i++) {
		if (!r->conf.s[i].voter)
			continue;
		g += r->votes[i] == 1;
		rej += r->votes[i] == 2;
	}
	if (g >= q)
		return 1;
	if (rej >= q)
		return -1;
	return 0;
}

static void campaign(tb__raft_t *r, int pre, int force);

static void record_vote(tb__raft_t *r, uint64_t id, int granted)
{
	int s = tb__raft_conf_find(&r->conf, id);
	if (s >= 0 && !r->votes[s])
		r->votes[s] = granted ? 1 : 2;
}

static void campaign(tb__raft_t *r, int pre, int force)
{
	if (!is_voter(r, r->id))
		return;
	memset(r->votes, 0, sizeof(r->votes));
	if (pre) {
		r->role = TB_RAFT_PRECANDIDATE;
		r->leader = 0;
		reset_timeout(r);
	} else {
		r->role = TB_RAFT_CANDIDATE;
		r->term++;
		r->vote = r->id;
		r->leader = 0;
		r->hard_changed = 1;
		reset_timeout(r);
	}
	record_vote(r, r->id, 1);
	if (tally(r) == 1) {
		if (pre)
			campaign(r, 0, force);
		else
			become_leader(r);
		return;
	}
	send_vote_requests(r, pre, force);
}

static int committed_in_term(const tb__raft_t *r)
{
	int ok;
	return term_at(r, r->commit, &ok) == r->term && ok;
}

static void bcast_heartbeat(tb__raft_t *r);

static void become_leader(tb__raft_t *r)
{
	r->role = TB_RAFT_LEADER;
	r->leader = r->id;
	r->transfer_to = 0;
	r->no_lease = 0;
	r->hb_elapsed = 0;
	r->elapsed = 0;
	r->pr_n = 0;
	for (uint32_t i = 0; i < r->conf.n; i++) {
		peer_t *p = &r->peers[i];
		uint64_t id = p->id;
		memset(p, 0, sizeof(*p));
		p->id = id;
		p->next = last_index(r) + 1;
		p->state = PR_PROBE;
		p->active = 1;
	}
	/* the no-op lets the commit rule (current-term entries only) commit
	 * everything before it */
	append_entry(r, r->term, TB_RAFT_ENTRY_NOOP, NULL, 0);
	r->need_bcast = 1;
}

/* ---- replication (leader) ---- */

static peer_t *peer_of(tb__raft_t *r, uint64_t id)
{
	int s = tb__raft_conf_find(&r->conf, id);
	return s >= 0 ? &r->peers[s] : NULL;
}

static int infl_full(const tb__raft_t *r, const peer_t *p)
{
	unsigned w = r->o.max_inflight;
	if (w == 0 || w > TB_RAFT_MAX_INFLIGHT)
		w = TB_RAFT_MAX_INFLIGHT;
	return p->infl_count >= w;
}

static void infl_add(peer_t *p, uint64_t last)
{
	p->infl[(p->infl_start + p->infl_count) % TB_RAFT_MAX_INFLIGHT] = last;
	p->infl_count++;
}

static void infl_free_to(peer_t *p, uint64_t index)
{
	while (p->infl_count && p->infl[p->infl_start] <= index) {
		p->infl_start = (p->infl_start + 1) % TB_RAFT_MAX_INFLIGHT;
		p->infl_count--;
	}
}

static void send_snap_chunk(tb__raft_t *r, peer_t *p)
{
	outmsg_t *o = send_msg(r, TB_RAFT_MSG_SNAP, p->id);
	if (!o)
		return;
	uint64_t left = r->snap_len - p->snap_offset;
	uint32_t n = left > r->o.snap_chunk ? r->o.snap_chunk : (uint32_t)left;
	o->m.snap_index = r->snap_index;
	o->m.snap_term = r->snap_term;
	o->m.conf = r->snap_conf;
	o->m.offset = p->snap_offset;
	o->m.total = r->snap_len;
	o->m.len = n;
	o->snap_off = p->snap_offset;
	o->m.done = p->snap_offset + n == r->snap_len;
	p->snap_wait = 0;
}

static void start_snapshot(tb__raft_t *r, peer_t *p)
{
	if (!r->snap_data && r->snap_index > 0)
		return; /* nothing to send until the FSM snapshots */
	p->state = PR_SNAPSHOT;
	p->snap_index = r->snap_index;
	p->snap_offset = 0;
	p->infl_count = 0;
	send_snap_chunk(r, p);
}

/* Sends one AppendEntries to p; returns 1 if a message went out. */
static int send_append(tb__raft_t *r, peer_t *p, int allow_empty)
{
	if (p->id == r->id || p->state == PR_SNAPSHOT || p->paused)
		return 0;
	if (p->state == PR_REPLICATE && infl_full(r, p))
		return 0;
	uint64_t prev = p->next - 1;
	int ok;
	uint64_t pt = term_at(r, prev, &ok);
	if (!ok) {
		start_snapshot(r, p);
		return 0;
	}
	uint64_t li = last_index(r);
	uint32_t n = 0;
	uint64_t bytes = 0;
	while (p->next + n <= li && n < r->o.max_batch) {
		bytes += ent(r, p->next + n)->len;
		if (n > 0 && bytes > r->o.max_batch_bytes)
			break;
		n++;
	}
	if (n == 0 && !allow_empty)
		return 0;
	outmsg_t *o = send_msg(r, TB_RAFT_MSG_APP, p->id);
	if (!o)
		return 0;
	o->m.index = prev;
	o->m.log_term = pt;
	o->m.commit = r->commit;
	o->m.n_entries = n;
	o->ent_lo = p->next;
	if (p->state == PR_REPLICATE) {
		if (n) {
			p->next += n;
			infl_add(p, p->next - 1);
		}
	} else {
		p->paused = 1;
	}
	return 1;
}

static void send_all_append(tb__raft_t *r, peer_t *p, int allow_empty)
{
	if (send_append(r, p, allow_empty))
		while (p->state == PR_REPLICATE && p->next <= last_index(r) && send_append(r, p, 0))
			;
}

static void bcast_append(tb__raft_t *r)
{
	for (uint32_t i = 0; i < r->conf.n; i++)
		if (r->peers[i].id != r->id)
			send_all_append(r, &r->peers[i], 1);
}

static void bcast_heartbeat(tb__raft_t *r)
{
	r->round++;
	r->round_tick[r->round % ROUND_RING] = r->now;
	for (uint32_t i = 0; i < r->conf.n; i++) {
		peer_t *p = &r->peers[i];
		if (p->id == r->id)
			continue;
		outmsg_t *o = send_msg(r, TB_RAFT_MSG_HEARTBEAT, p->id);
		if (!o)
			continue;
		o->m.commit = p->match < r->commit ? p->match : r->commit;
		o->m.ctx = r->round;
	}
}

static int cmp_u64_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

/* The largest value held by a quorum of voters (self counts `self_val`). */
static uint64_t quorum_value(const tb__raft_t *r, int which)
{
	uint64_t v[TB_RAFT_MAX_SERVERS];
	unsigned n = 0;
	for (uint32_t i = 0; i < r->conf.n; i++) {
		if (!r->conf.s[i].voter)
			continue;
		const peer_t *p = &r->peers[i];
		if (p->id == r->id)
			v[n++] = which ? r->round : r->stable;
		else
			v[n++] = which ? p->acked_round : p->match;
	}
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(v[0]), cmp_u64_desc);
	return v[n / 2];
}

static void release_reads(tb__raft_t *r);

static void step_down_if_removed(tb__raft_t *r)
{
	if (r->role == TB_RAFT_LEADER && !is_voter(r, r->id) && r->commit >= r->conf_index)
		become_follower(r, r->term, 0);
}

static void assign_waiting_reads(tb__raft_t *r);

static int maybe_commit(tb__raft_t *r)
{
	uint64_t n = quorum_value(r, 0);
	int ok;
	if (n > r->commit && term_at(r, n, &ok) == r->term && ok) {
		int first = !committed_in_term(r);
		r->commit = n;
		if (first)
			assign_waiting_reads(r);
		step_down_if_removed(r);
		return 1;
	}
	return 0;
}

/* ---- ReadIndex ---- */

static int lease_valid(const tb__raft_t *r)
{
	if (!r->o.lease_read || !r->o.check_quorum || r->no_lease || r->transfer_to)
		return 0;
	uint64_t q = quorum_value(r, 1);
	if (q == 0 || r->round - q >= ROUND_RING)
		return 0;
	/* followers do not start or grant an election for election_ticks
	 * after hearing round q; keep a margin for clock drift */
	uint64_t until = r->round_tick[q % ROUND_RING] + r->o.election_ticks * 4 / 5;
	return r->now < until;
}

static void read_ready(tb__raft_t *r, const pread_t *p)
{
	if (p->from == 0) {
		read_out(r, p->ctx, p->index);
	} else {
		outmsg_t *o = send_msg(r, TB_RAFT_MSG_READ_INDEX_RESP, p->from);
		if (o) {
			o->m.index = p->index;
			o->m.ctx = p->ctx;
		}
	}
}

static void release_reads(tb__raft_t *r)
{
	uint64_t q = quorum_value(r, 1);
	size_t w = 0;
	for (size_t i = 0; i < r->pr_n; i++) {
		if (r->pr[i].round && r->pr[i].round <= q)
			read_ready(r, &r->pr[i]);
		else
			r->pr[w++] = r->pr[i];
	}
	r->pr_n = w;
}

static void assign_waiting_reads(tb__raft_t *r)
{
	int any = 0;
	for (size_t i = 0; i < r->pr_n; i++)
		if (!r->pr[i].round)
			any = 1;
	if (!any)
		return;
	bcast_heartbeat(r);
	for (size_t i = 0; i < r->pr_n; i++)
		if (!r->pr[i].round) {
			r->pr[i].round = r->round;
			r->pr[i].index = r->commit;
		}
	release_reads(r);
}

static int leader_read(tb__raft_t *r, uint64_t ctx, uint64_t from)
{
	pread_t p = {.ctx = ctx, .from = from, .index = r->commit};
	if (committed_in_term(r)) {
		if (nvoters(&r->conf) == 1 || lease_valid(r)) {
			read_ready(r, &p);
			return 0;
		}
		/* served by the next heartbeat round, broadcast in ready(): one
		 * round for every read queued before it goes out */
		p.round = r->round + 1;
	}
	if (grow((void **)&r->pr, &r->pr_cap, r->pr_n + 1, sizeof(*r->pr)))
		return TB_RAFT_ENOMEM;
	r->pr[r->pr_n++] = p;
	return 0;
}

int tb__raft_read_index(tb__raft_t *r, uint64_t ctx)
{
	if (r->role == TB_RAFT_LEADER)
		return leader_read(r, ctx, 0);
	if (r->leader && r->role == TB_RAFT_FOLLOWER) {
		outmsg_t *o = send_msg(r, TB_RAFT_MSG_READ_INDEX, r->leader);
		if (!o)
			return TB_RAFT_ENOMEM;
		o->m.ctx = ctx;
		return 0;
	}
	read_out(r, ctx, 0);
	return TB_RAFT_ENOTLEADER;
}

/* ---- message handlers ---- */

static void reply_app(tb__raft_t *r, uint64_t to, uint64_t index, int reject, uint64_t hi, uint64_t ht)
{
	outmsg_t *o = send_msg(r, TB_RAFT_MSG_APP_RESP, to);
	if (!o)
		return;
	o->m.index = index;
	o->m.reject = (uint8_t)reject;
	o->m.hint_index = hi;
	o->m.hint_term = ht;
}

/* largest index <= i whose term is <= t (etcd's findConflictByTerm) */
static uint64_t conflict_by_term(const tb__raft_t *r, uint64_t i, uint64_t t, uint64_t *tt)
{
	for (;;) {
		int ok;
		uint64_t x = term_at(r, i, &ok);
		if (!ok) {
			*tt = 0;
			return i;
		}
		if (x <= t || i == 0) {
			*tt = x;
			return i;
		}
		i--;
	}
}

static void handle_append(tb__raft_t *r, const tb__raft_msg_t *m)
{
	if (m->index < r->commit) {
		reply_app(r, m->from, r->commit, 0, 0, 0);
		return;
	}
	int ok;
	uint64_t t = term_at(r, m->index, &ok);
	if (!ok || t != m->log_term) {
		uint64_t hi = m->index < last_index(r) ? m->index : last_index(r), ht;
		hi = conflict_by_term(r, hi, m->log_term, &ht);
		reply_app(r, m->from, m->index, 1, hi, ht);
		return;
	}
	for (uint32_t i = 0; i < m->n_entries; i++) {
		const tb__raft_entry_t *e = &m->entries[i];
		if (e->index != m->index + 1 + i)
			return; /* malformed batch: ignore */
		uint64_t et = term_at(r, e->index, &ok);
		if (ok && e->index <= last_index(r)) {
			if (et == e->term)
				continue;
			if (e->index <= r->commit)
				return; /* would rewrite a committed entry: refuse */
			truncate_from(r, e->index);
		} else if (e->index <= r->off_index) {
			continue; /* compacted: committed, hence matching */
		}
		if (append_entry(r, e->term, e->type, e->data, e->len))
			return; /* out of memory: no ack; the leader retries */
	}
	uint64_t lastnew = m->index + m->n_entries;
	uint64_t nc = m->commit < lastnew ? m->commit : lastnew;
	if (nc > r->commit)
		r->commit = nc;
	reply_app(r, m->from, lastnew, 0, 0, 0);
}

static void handle_snapshot(tb__raft_t *r, const tb__raft_msg_t *m)
{
	outmsg_t *o;
	int ok;
	uint64_t t = term_at(r, m->snap_index, &ok);
	if (m->snap_index <= r->commit || (ok && t == m->snap_term)) {
		/* the log already holds the snapshot's last entry: no install,
		 * it is committed; report what is persisted */
		if (m->snap_index > r->commit)
			r->commit = m->snap_index;
		uint64_t idx = r->commit < r->stable ? r->commit : r->stable;
		reply_app(r, m->from, idx, 0, 0, 0);
		return;
	}
	if (m->offset == 0) {
		r->rx_len = 0;
		r->rx_index = m->snap_index;
		r->rx_term = m->snap_term;
	}
	if (m->snap_index != r->rx_index || m->snap_term != r->rx_term || m->offset != r->rx_len ||
	    m->offset + m->len > m->total) {
		o = send_msg(r, TB_RAFT_MSG_SNAP_RESP, m->from);
		if (o) {
			o->m.index = m->snap_index;
			o->m.reject = 1;
			o->m.hint_index = m->snap_index == r->rx_index ? r->rx_len : 0;
		}
		return;
	}
	if (grow((void **)&r->rx, &r->rx_cap, r->rx_len + m->len + 1, 1))
		return;
	if (m->len)
		memcpy(r->rx + r->rx_len, m->data, m->len);
	r->rx_len += m->len;
	if (!m->done || r->rx_len != m->total) {
		o = send_msg(r, TB_RAFT_MSG_SNAP_RESP, m->from);
		if (o) {
			o->m.index = m->snap_index;
			o->m.hint_index = r->rx_len;
		}
		return;
	}
	/* complete: the whole log is replaced by the snapshot */
	truncate_from(r, r->off_index + 1);
	r->ch_n = 0;
	r->off_index = r->snap_index = m->snap_index;
	r->off_term = r->snap_term = m->snap_term;
	r->snap_conf = m->conf;
	recompute_conf(r);
	free(r->inst_data);
	r->inst_data = r->rx;
	r->inst_len = r->rx_len;
	r->rx = NULL;
	r->rx_len = r->rx_cap = 0;
	r->inst_meta.index = m->snap_index;
	r->inst_meta.term = m->snap_term;
	r->inst_meta.conf = m->conf;
	r->inst_pending = 1;
	/* until the batch is persisted this node serves no snapshot */
	free(r->snap_data);
	r->snap_data = NULL;
	r->snap_len = 0;
	drop_snap_out(r);
	r->commit = r->applied = r->apply_hi = m->snap_index;
	r->handed = m->snap_index;
	/* the ack leaves with the batch that persists the snapshot */
	reply_app(r, m->from, m->snap_index, 0, 0, 0);
}

static void leader_app_resp(tb__raft_t *r, peer_t *p, const tb__raft_msg_t *m)
{
	p->active = 1;
	if (m->index > last_index(r))
		return; /* acknowledges entries this leader never sent: ignore */
	if (m->reject) {
		if (m->index <= p->match)
			return; /* stale */
		if (p->state == PR_PROBE && m->index != p->next - 1)
			return; /* stale probe answer */
		if (p->state == PR_SNAPSHOT)
			return;
		uint64_t probe = m->hint_index, tt;
		if (m->hint_term > 0)
			probe = conflict_by_term(r, m->hint_index, m->hint_term, &tt);
		uint64_t nx = probe + 1 < m->index ? probe + 1 : m->index;
		if (nx < p->match + 1)
			nx = p->match + 1;
		p->next = nx;
		p->state = PR_PROBE;
		p->paused = 0;
		p->infl_count = 0;
		send_all_append(r, p, 1);
		return;
	}
	infl_free_to(p, m->index);
	if (m->index > p->match) {
		p->match = m->index;
		if (p->next < p->match + 1)
			p->next = p->match + 1;
		if (p->state == PR_PROBE) {
			p->state = PR_REPLICATE;
			p->next = p->match + 1;
			p->infl_count = 0;
		} else if (p->state == PR_SNAPSHOT && p->match >= p->snap_index) {
			p->state = PR_REPLICATE;
			p->next = p->match + 1;
			p->infl_count = 0;
		}
		p->paused = 0;
		if (maybe_commit(r) && r->role == TB_RAFT_LEADER)
			bcast_append(r);
		if (r->role != TB_RAFT_LEADER)
			return;
		if (r->transfer_to == p->id && p->match == last_index(r)) {
			send_msg(r, TB_RAFT_MSG_TIMEOUT_NOW, p->id);
			r->no_lease = 1;
		}
	} else if (p->state == PR_PROBE) {
		p->paused = 0;
	}
	send_all_append(r, p, 0);
}

static void leader_snap_resp(tb__raft_t *r, peer_t *p, const tb__raft_msg_t *m)
{
	p->active = 1;
	if (p->state != PR_SNAPSHOT || m->index != p->snap_index || p->snap_index != r->snap_index)
		return;
	if (m->reject) {
		p->snap_offset = m->hint_index <= r->snap_len ? m->hint_index : 0;
	} else {
		if (m->hint_index <= p->snap_offset || m->hint_index > r->snap_len)
			return; /* duplicate */
		p->snap_offset = m->hint_index;
	}
	if (p->snap_offset < r->snap_len || m->reject)
		send_snap_chunk(r, p);
}

static int log_ok(const tb__raft_t *r, const tb__raft_msg_t *m)
{
	uint64_t lt = last_term(r);
	return m->log_term > lt || (m->log_term == lt && m->index >= last_index(r));
}

int tb__raft_step(tb__raft_t *r, const tb__raft_msg_t *m)
{
	if (!m || m->to != r->id || m->from == 0 || m->from == r->id || m->type == 0 ||
	    m->type > TB_RAFT_MSG_TYPE_MAX)
		return TB_RAFT_EINVAL;
	if (m->term > r->term) {
		int vote_like = m->type == TB_RAFT_MSG_VOTE || m->type == TB_RAFT_MSG_PREVOTE;
		if (vote_like) {
			int force = m->ctx == 1;
			/* with leases, a restarted server also waits an election
			 * timeout: it may have acknowledged a lease before the crash */
			int in_lease = r->o.check_quorum && r->elapsed < r->o.election_ticks &&
			               (r->leader != 0 || (r->fresh && r->o.lease_read));
			if (!force && in_lease)
				return 0; /* leader stickiness: a live leader is not disrupted */
		}
		if (m->type == TB_RAFT_MSG_PREVOTE) {
			/* never change term on a pre-vote */
		} else if (m->type == TB_RAFT_MSG_PREVOTE_RESP && !m->reject) {
			/* granted pre-votes carry the future term */
		} else if (m->type == TB_RAFT_MSG_APP || m->type == TB_RAFT_MSG_HEARTBEAT ||
		           m->type == TB_RAFT_MSG_SNAP) {
			become_follower(r, m->term, m->from);
		} else {
			/* a higher term from a candidate (or an answer) does not
			 * restart the election timer: only a leader's message or a
			 * granted vote does (Figure 2 of the paper). Otherwise
			 * candidates with stale logs that keep raising the term
			 * would keep the up-to-date servers from ever standing. */
			unsigned el = r->elapsed, to = r->timeout;
			become_follower(r, m->term, 0);
			r->elapsed = el;
			r->timeout = to;
		}
	} else if (m->term < r->term) {
		if ((r->o.check_quorum || r->o.pre_vote) &&
		    (m->type == TB_RAFT_MSG_APP || m->type == TB_RAFT_MSG_HEARTBEAT)) {
			reply_app(r, m->from, 0, 0, 0, 0); /* tells a stale leader our term */
		} else if (m->type == TB_RAFT_MSG_PREVOTE) {
			outmsg_t *o = send_msg(r, TB_RAFT_MSG_PREVOTE_RESP, m->from);
			if (o)
				o->m.reject = 1;
		}
		return 0;
	}

	switch (m->type) {
	case TB_RAFT_MSG_VOTE:
	case TB_RAFT_MSG_PREVOTE: {
		int pre = m->type == TB_RAFT_MSG_PREVOTE;
		int can = r->vote == m->from || (r->vote == 0 && r->leader == 0) || (pre && m->term > r->term);
		outmsg_t *o = send_msg(r, pre ? TB_RAFT_MSG_PREVOTE_RESP : TB_RAFT_MSG_VOTE_RESP, m->from);
		if (!o)
			return TB_RAFT_ENOMEM;
		if (can && log_ok(r, m)) {
			o->m.term = m->term;
			if (!pre) {
				r->vote = m->from;
				r->hard_changed = 1;
				r->elapsed = 0;
			}
		} else {
			o->m.reject = 1;
		}
		return 0;
	}
	default:
		break;
	}

	switch (r->role) {
	case TB_RAFT_LEADER: {
		peer_t *p = peer_of(r, m->from);
		if (!p)
			return 0;
		switch (m->type) {
		case TB_RAFT_MSG_APP_RESP:
			leader_app_resp(r, p, m);
			break;
		case TB_RAFT_MSG_HEARTBEAT_RESP:
			p->active = 1;
			if (m->ctx > p->acked_round && m->ctx <= r->round)
				p->acked_round = m->ctx;
			if (p->state == PR_PROBE)
				p->paused = 0;
			/* a pipeline that made no progress for a whole heartbeat
			 * interval lost a message: probe again from match */
			if (p->state == PR_REPLICATE && p->match == p->hb_match && p->next > p->match + 1) {
				p->state = PR_PROBE;
				p->next = p->match + 1;
				p->infl_count = 0;
				p->paused = 0;
			}
			p->hb_match = p->match;
			if (p->match < last_index(r) || p->state == PR_PROBE)
				send_all_append(r, p, 0);
			if (p->state == PR_SNAPSHOT && p->snap_wait > r->o.election_ticks)
				send_snap_chunk(r, p);
			release_reads(r);
			break;
		case TB_RAFT_MSG_SNAP_RESP:
			leader_snap_resp(r, p, m);
			break;
		case TB_RAFT_MSG_READ_INDEX:
			leader_read(r, m->ctx, m->from);
			break;
		default:
			break;
		}
		return 0;
	}
	case TB_RAFT_CANDIDATE:
	case TB_RAFT_PRECANDIDATE: {
		int pre = r->role == TB_RAFT_PRECANDIDATE;
		if ((pre && m->type == TB_RAFT_MSG_PREVOTE_RESP && m->term == r->term + 1) ||
		    (!pre && m->type == TB_RAFT_MSG_VOTE_RESP)) {
			if (pre && m->reject)
				return 0;
			record_vote(r, m->from, !m->reject);
			int t = tally(r);
			if (t == 1) {
				if (pre)
					campaign(r, 0, 0);
				else
					become_leader(r);
			} else if (t == -1) {
				become_follower(r, r->term, 0);
			}
			return 0;
		}
		if (pre && m->type == TB_RAFT_MSG_PREVOTE_RESP && m->reject && m->term == r->term) {
			record_vote(r, m->from, 0);
			if (tally(r) == -1)
				become_follower(r, r->term, 0);
			return 0;
		}
		if (m->type == TB_RAFT_MSG_APP || m->type == TB_RAFT_MSG_HEARTBEAT || m->type == TB_RAFT_MSG_SNAP)
			become_follower(r, r->term, m->from);
		else
			return 0;
	}
	/* fall through */
	case TB_RAFT_FOLLOWER:
		switch (m->type) {
		case TB_RAFT_MSG_APP:
			r->elapsed = 0;
			r->since_leader = 0;
			r->leader = m->from;
			handle_append(r, m);
			break;
		case TB_RAFT_MSG_HEARTBEAT: {
			r->elapsed = 0;
			r->since_leader = 0;
			r->leader = m->from;
			if (m->commit > r->commit && m->commit <= last_index(r))
				r->commit = m->commit;
			outmsg_t *o = send_msg(r, TB_RAFT_MSG_HEARTBEAT_RESP, m->from);
			if (o)
				o->m.ctx = m->ctx;
			break;
		}
		case TB_RAFT_MSG_SNAP:
			r->elapsed = 0;
			r->since_leader = 0;
			r->leader = m->from;
			handle_snapshot(r, m);
			break;
		case TB_RAFT_MSG_TIMEOUT_NOW:
			if (is_voter(r, r->id))
				campaign(r, 0, 1);
			break;
		case TB_RAFT_MSG_READ_INDEX_RESP:
			read_out(r, m->ctx, m->reject ? 0 : m->index);
			break;
		case TB_RAFT_MSG_READ_INDEX: {
			outmsg_t *o = send_msg(r, TB_RAFT_MSG_READ_INDEX_RESP, m->from);
			if (o) {
				o->m.ctx = m->ctx;
				o->m.reject = 1;
			}
			break;
		}
		default:
			break;
		}
		return 0;
	}
	return 0;
}

void tb__raft_tick(tb__raft_t *r)
{
	r->now++;
	if (r->fresh && r->now >= r->o.election_ticks)
		r->fresh = 0;
	if (r->role != TB_RAFT_LEADER) {
		if (r->since_leader < UINT32_MAX)
			r->since_leader++;
		if (++r->elapsed >= r->timeout) {
			r->elapsed = 0;
			if (is_voter(r, r->id))
				campaign(r, r->o.pre_vote, 0);
			else
				reset_timeout(r);
		}
		return;
	}
	for (uint32_t i = 0; i < r->conf.n; i++)
		if (r->peers[i].state == PR_SNAPSHOT)
			r->peers[i].snap_wait++;
	if (++r->hb_elapsed >= r->o.heartbeat_ticks) {
		r->hb_elapsed = 0;
		bcast_heartbeat(r);
	}
	if (++r->elapsed >= r->o.election_ticks) {
		r->elapsed = 0;
		r->transfer_to = 0; /* a transfer that did not finish is abandoned */
		if (r->o.check_quorum) {
			unsigned act = 0, q = nvoters(&r->conf) / 2 + 1;
			for (uint32_t i = 0; i < r->conf.n; i++) {
				if (!r->conf.s[i].voter)
					continue;
				if (r->peers[i].id == r->id || r->peers[i].active)
					act++;
			}
			for (uint32_t i = 0; i < r->conf.n; i++)
				r->peers[i].active = 0;
			if (act < q)
				become_follower(r, r->term, 0);
		}
	}
}

/* ---- requests ---- */

int tb__raft_propose(tb__raft_t *r, const void *data, uint32_t len, uint64_t *index)
{
	if (r->role != TB_RAFT_LEADER)
		return TB_RAFT_ENOTLEADER;
	if (r->transfer_to)
		return TB_RAFT_EBUSY;
	if (append_entry(r, r->term, TB_RAFT_ENTRY_NORMAL, data, len))
		return TB_RAFT_ENOMEM;
	if (index)
		*index = last_index(r);
	r->need_bcast = 1;
	return 0;
}

static int conf_change(tb__raft_t *r, const tb__raft_conf_t *c)
{
	uint8_t buf[1 + TB_RAFT_MAX_SERVERS * 9];
	size_t n = tb__raft_conf_encode(c, buf, sizeof(buf));
	if (append_entry(r, r->term, TB_RAFT_ENTRY_CONF, buf, (uint32_t)n))
		return TB_RAFT_ENOMEM;
	r->need_bcast = 1;
	return 0;
}

static int conf_check(tb__raft_t *r)
{
	if (r->role != TB_RAFT_LEADER)
		return TB_RAFT_ENOTLEADER;
	/* one change at a time, and only after this term's first commit (the
	 * single-server change bug in the dissertation's errata) */
	if (r->conf_index > r->commit || !committed_in_term(r) || r->transfer_to)
		return TB_RAFT_EBUSY;
	return 0;
}

int tb__raft_add_learner(tb__raft_t *r, uint64_t id)
{
	int e = conf_check(r);
	if (e)
		return e;
	if (id == 0 || tb__raft_conf_find(&r->conf, id) >= 0 || r->conf.n >= TB_RAFT_MAX_SERVERS)
		return TB_RAFT_EINVAL;
	tb__raft_conf_t c = r->conf;
	c.s[c.n].id = id;
	c.s[c.n].voter = 0;
	c.n++;
	return conf_change(r, &c);
}

int tb__raft_promote(tb__raft_t *r, uint64_t id)
{
	int e = conf_check(r);
	if (e)
		return e;
	int s = tb__raft_conf_find(&r->conf, id);
	if (s < 0 || r->conf.s[s].voter)
		return TB_RAFT_EINVAL;
	const peer_t *p = &r->peers[s];
	if (p->match + r->o.catchup_max_lag < last_index(r) || p->state != PR_REPLICATE)
		return TB_RAFT_EAGAIN;
	tb__raft_conf_t c = r->conf;
	c.s[s].voter = 1;
	return conf_change(r, &c);
}

int tb__raft_remove(tb__raft_t *r, uint64_t id)
{
	int e = conf_check(r);
	if (e)
		return e;
	int s = tb__raft_conf_find(&r->conf, id);
	if (s < 0)
		return TB_RAFT_EINVAL;
	tb__raft_conf_t c = r->conf;
	if (c.s[s].voter && nvoters(&c) == 1)
		return TB_RAFT_EINVAL;
	for (uint32_t i = (uint32_t)s; i + 1 < c.n; i++)
		c.s[i] = c.s[i + 1];
	c.n--;
	return conf_change(r, &c);
}

int tb__raft_transfer(tb__raft_t *r, uint64_t to)
{
	if (r->role != TB_RAFT_LEADER)
		return TB_RAFT_ENOTLEADER;
	if (to == r->id || !is_voter(r, to))
		return TB_RAFT_EINVAL;
	if (r->transfer_to)
		return TB_RAFT_EBUSY;
	r->transfer_to = to;
	r->elapsed = 0;
	peer_t *p = peer_of(r, to);
	if (p->match == last_index(r)) {
		send_msg(r, TB_RAFT_MSG_TIMEOUT_NOW, to);
		r->no_lease = 1;
	} else
		send_all_append(r, p, 0);
	return 0;
}

/* ---- batches ---- */

int tb__raft_ready(tb__raft_t *r, tb__raft_ready_t *rd)
{
	memset(rd, 0, sizeof(*rd));
	if (r->flight)
		return 0;
	if (r->role == TB_RAFT_LEADER) {
		int want_round = 0;
		for (size_t i = 0; i < r->pr_n; i++)
			if (r->pr[i].round == r->round + 1)
				want_round = 1;
		if (want_round)
			bcast_heartbeat(r);
		if (r->need_bcast)
			bcast_append(r);
		r->need_bcast = 0;
		/* the leader's own entries count once this batch is persisted */
	}
	if (r->hard_changed) {
		rd->hard_changed = 1;
		rd->hard.term = r->term;
		rd->hard.vote = r->vote;
	}
	uint64_t li = last_index(r);
	uint64_t from = r->handed + 1;
	if (from <= r->off_index)
		from = r->off_index + 1;
	if (li >= from) {
		rd->entries = ent(r, from);
		rd->n_entries = (size_t)(li - from + 1);
	}
	if (r->inst_pending) {
		rd->has_snapshot = 1;
		rd->snap = r->inst_meta;
		rd->snap_data = r->inst_data;
		rd->snap_len = r->inst_len;
	}
	/* messages */
	if (r->out_n) {
		if (grow((void **)&r->fl, &r->fl_cap, r->out_n, sizeof(*r->fl)))
			return 0;
		/* two passes: the early-sendable messages first */
		size_t k = 0;
		for (int pass = 0; pass < 2; pass++)
			for (size_t i = 0; i < r->out_n; i++) {
				outmsg_t *o = &r->out[i];
				int early = o->m.type == TB_RAFT_MSG_APP || o->m.type == TB_RAFT_MSG_HEARTBEAT ||
				            o->m.type == TB_RAFT_MSG_SNAP;
				if (early != (pass == 0))
					continue;
				r->fl[k] = o->m;
				if (o->m.type == TB_RAFT_MSG_APP && o->m.n_entries)
					r->fl[k].entries = ent(r, o->ent_lo);
				if (o->m.type == TB_RAFT_MSG_SNAP)
					r->fl[k].data = r->snap_data + o->snap_off;
				k++;
				if (pass == 0)
					rd->n_early = k;
			}
		rd->msgs = r->fl;
		rd->n_msgs = r->out_n;
	}
	uint64_t hi = r->commit < r->stable ? r->commit : r->stable;
	if (hi > r->applied) {
		rd->committed = ent(r, r->applied + 1);
		rd->n_committed = (size_t)(hi - r->applied);
	}
	r->apply_hi = hi > r->applied ? hi : r->applied;
	if (r->rd_n) {
		tb__raft_read_t *t = r->rdf;
		size_t tc = r->rdf_cap;
		r->rdf = r->rd;
		r->rdf_cap = r->rd_cap;
		r->rd = t;
		r->rd_cap = tc;
		rd->reads = r->rdf;
		rd->n_reads = r->rd_n;
		r->rd_n = 0;
	}
	if (!r->snap_requested && r->o.snap_threshold && r->apply_hi >= r->snap_index + r->o.snap_threshold) {
		rd->want_snapshot = 1;
		r->snap_requested = 1;
	}
	if (!rd->hard_changed && !rd->n_entries && !rd->has_snapshot && !rd->n_msgs && !rd->n_committed &&
	    !rd->n_reads && !rd->want_snapshot)
		return 0;
	r->flight = 1;
	r->flight_snap = rd->has_snapshot;
	r->flight_last = li;
	r->handed = li;
	r->hard_changed = 0;
	r->out_n = 0;
	if (r->inst_pending) {
		r->inst_pending = 0;
		free(r->inst_flight);
		r->inst_flight = r->inst_data;
		r->inst_flight_len = r->inst_len;
		r->inst_flight_index = r->inst_meta.index;
		r->inst_data = NULL;
	}
	return 1;
}

void tb__raft_advance(tb__raft_t *r)
{
	if (!r->flight)
		return;
	r->flight = 0;
	if (r->flight_snap) {
		/* the installed snapshot is now the one this node can serve */
		if (r->inst_flight_index == r->snap_index && !r->inst_pending) {
			free(r->snap_data);
			r->snap_data = r->inst_flight;
			r->snap_len = r->inst_flight_len;
			r->inst_flight = NULL;
		}
		if (r->stable < r->inst_flight_index)
			r->stable = r->inst_flight_index;
		free(r->inst_flight);
		r->inst_flight = NULL;
	} else {
		free(r->inst_flight);
		r->inst_flight = NULL;
	}
	if (r->flight_last > r->stable)
		r->stable = r->flight_last;
	if (r->stable > last_index(r))
		r->stable = last_index(r);
	if (r->apply_hi > r->applied)
		r->applied = r->apply_hi;
	if (r->role == TB_RAFT_LEADER && maybe_commit(r) && r->role == TB_RAFT_LEADER)
		bcast_append(r);
}

int tb__raft_snapshot_done(tb__raft_t *r, uint64_t index, const void *data, size_t len)
{
	r->snap_requested = 0;
	if (index <= r->snap_index || index > r->applied)
		return TB_RAFT_EINVAL;
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy)
		return TB_RAFT_ENOMEM;
	if (len)
		memcpy(copy, data, len);
	drop_snap_out(r);
	int ok;
	r->snap_term = term_at(r, index, &ok);
	r->snap_conf = conf_at(r, index);
	r->snap_index = index;
	free(r->snap_data);
	r->snap_data = copy;
	r->snap_len = len;
	/* peers in the middle of an older snapshot restart with this one */
	for (uint32_t i = 0; i < r->conf.n; i++)
		if (r->peers[i].state == PR_SNAPSHOT)
			r->peers[i].state = PR_PROBE, r->peers[i].paused = 0;
	if (index > r->o.snap_trailing)
		compact_to(r, index - r->o.snap_trailing);
	size_t w = 0;
	for (size_t i = 0; i < r->ch_n; i++)
		if (r->ch[i].index > r->snap_index)
			r->ch[w++] = r->ch[i];
	r->ch_n = w;
	return 0;
}

/* ---- construction ---- */

void tb__raft_opts_default(tb__raft_opts_t *o)
{
	memset(o, 0, sizeof(*o));
	o->election_ticks = 10;
	o->heartbeat_ticks = 1;
	o->max_inflight = 32;
	o->max_batch = 256;
	o->max_batch_bytes = 1u << 20;
	o->snap_chunk = 1u << 20;
	o->snap_threshold = 16384;
	o->snap_trailing = 1024;
	o->catchup_max_lag = 64;
	o->pre_vote = 1;
	o->check_quorum = 1;
}

tb__raft_t *tb__raft_new(const tb__raft_opts_t *opts, const tb__raft_hard_t *hs,
                         const tb__raft_snap_meta_t *snap, const uint8_t *snap_data,
                         size_t snap_len, const tb__raft_entry_t *ents, size_t n)
{
	if (!opts || opts->id == 0 || opts->election_ticks < 2 || opts->heartbeat_ticks == 0 ||
	    opts->heartbeat_ticks >= opts->election_ticks || opts->max_batch == 0 || opts->snap_chunk == 0)
		return NULL;
	tb__raft_t *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->o = *opts;
	r->id = opts->id;
	r->prng = opts->seed ^ (opts->id * 0x9e3779b97f4a7c15ULL);
	if (snap) {
		r->snap_index = r->off_index = snap->index;
		r->snap_term = r->off_term = snap->term;
		r->snap_conf = snap->conf;
		if (snap_data && snap->index) {
			r->snap_data = malloc(snap_len ? snap_len : 1);
			if (!r->snap_data)
				goto fail;
			memcpy(r->snap_data, snap_data, snap_len);
			r->snap_len = snap_len;
		}
	}
	r->commit = r->applied = r->apply_hi = r->snap_index;
	set_conf(r, &r->snap_conf, r->snap_index);
	for (size_t i = 0; i < n && r->snap_index; i++)
		if (ents[i].index == r->snap_index && ents[i].term != r->snap_term)
			n = 0; /* a log older than the snapshot (crash during an install) */
	for (size_t i = 0; i < n; i++) {
		if (ents[i].index <= r->snap_index)
			continue;
		if (ents[i].index != last_index(r) + 1 || ents[i].term < last_term(r))
			break; /* a gap or a term going back: use the valid prefix */
		if (append_entry(r, ents[i].term, ents[i].type, ents[i].data, ents[i].len))
			goto fail;
	}
	r->stable = r->handed = last_index(r);
	if (hs) {
		r->term = hs->term;
		r->vote = hs->vote;
	}
	if (last_term(r) > r->term) {
		/* the hard state lagged the log (crash between the two writes) */
		r->term = last_term(r);
		r->vote = 0;
		r->hard_changed = 1;
	}
	r->role = TB_RAFT_FOLLOWER;
	r->fresh = 1;
	reset_timeout(r);
	return r;
fail:
	tb__raft_free(r);
	return NULL;
}

void tb__raft_free(tb__raft_t *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->log_n; i++)
		free((void *)r->log[i].data);
	free(r->log);
	free(r->ch);
	free(r->snap_data);
	free(r->pr);
	free(r->rx);
	free(r->inst_data);
	free(r->inst_flight);
	free(r->out);
	free(r->fl);
	free(r->rd);
	free(r->rdf);
	free(r);
}

/* ---- introspection ---- */

enum tb__raft_role tb__raft_role(const tb__raft_t *r) { return r->role; }
uint64_t tb__raft_id(const tb__raft_t *r) { return r->id; }
uint64_t tb__raft_term(const tb__raft_t *r) { return r->term; }
uint64_t tb__raft_leader(const tb__raft_t *r) { return r->leader; }
uint64_t tb__raft_commit(const tb__raft_t *r) { return r->commit; }
uint64_t tb__raft_applied(const tb__raft_t *r) { return r->applied; }
uint64_t tb__raft_last_index(const tb__raft_t *r) { return last_index(r); }
uint64_t tb__raft_first_index(const tb__raft_t *r) { return r->off_index + 1; }
uint64_t tb__raft_snap_index(const tb__raft_t *r) { return r->snap_index; }
const tb__raft_entry_t *tb__raft_entry(const tb__raft_t *r, uint64_t index) { return ent(r, index); }
const tb__raft_conf_t *tb__raft_conf(const tb__raft_t *r) { return &r->conf; }

void tb__raft_snapshot_meta(const tb__raft_t *r, tb__raft_snap_meta_t *m)
{
	m->index = r->snap_index;
	m->term = r->snap_term;
	m->conf = r->snap_conf;
}

unsigned tb__raft_since_leader(const tb__raft_t *r)
{
	return r->role == TB_RAFT_LEADER ? 0 : r->since_leader;
}

uint64_t tb__raft_match(const tb__raft_t *r, uint64_t peer)
{
	int s = tb__raft_conf_find(&r->conf, peer);
	if (s < 0)
		return 0;
	return peer == r->id ? r->stable : r->peers[s].match;
}
