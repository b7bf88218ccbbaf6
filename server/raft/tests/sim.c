/* server/raft/tests/sim.c - deterministic simulator for server/raft.
 *
 * One seed = one world: 3..5 initial voters (up to SIM_MAXN nodes with the
 * learners added later) in one process, driven by a seeded PRNG. Every
 * message goes through the wire codec and a simulated network that loses,
 * duplicates, delays and reorders; partitions come and heal; nodes crash
 * (losing whatever their outstanding batch had not synced, sometimes keeping
 * a torn prefix of it) and restart from their simulated disk; leaders add,
 * promote and remove servers and transfer leadership during all that.
 * Clients write, compare-and-swap and read (ReadIndex) a single register.
 *
 * After every step: election safety, log matching, leader completeness,
 * commit agreement and state-machine safety. At the end: the client
 * history must be linearizable (Wing & Gong search with memoisation).
 *
 *   sim --seed N [-v]        replay one seed (-v traces every event)
 *   sim --start S --count C  run seeds S..S+C-1 (prints failing seeds)
 * Exit status 1 if any seed failed.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "raft/raft.h"

#define SIM_MAXN 7
#define MAX_OPS 48
#define INF UINT64_MAX

typedef struct {
	uint64_t s;
} rng_t;

static uint64_t rnd(rng_t *g)
{
	uint64_t z = (g->s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}
static unsigned below(rng_t *g, unsigned n) { return n ? (unsigned)(rnd(g) % n) : 0; }
static int chance(rng_t *g, double p) { return (double)(rnd(g) >> 11) * (1.0 / 9007199254740992.0) < p; }

typedef struct {
	tb__raft_entry_t e; /* data owned */
} dent_t;

typedef struct {
	/* disk */
	tb__raft_hard_t hs;
	tb__raft_snap_meta_t snap;
	uint8_t *snap_data;
	size_t snap_len;
	tb__raft_entry_t *ents;
	size_t n, cap;
} disk_t;

typedef struct {
	uint8_t *buf;
	size_t len;
} blob_t;

typedef struct {
	int has;
	uint64_t sync_at;
	int hard_changed;
	tb__raft_hard_t hard;
	tb__raft_entry_t *ents;
	size_t n_ents;
	int has_snap;
	tb__raft_snap_meta_t snap;
	uint8_t *snap_data;
	size_t snap_len;
	blob_t *msgs;
	size_t n_msgs;
	tb__raft_entry_t *com;
	size_t n_com;
	tb__raft_read_t *reads;
	size_t n_reads;
	int want_snap;
} batch_t;

typedef struct {
	uint64_t op, index;
} pendread_t;

typedef struct {
	int exists, up;
	uint64_t id;
	tb__raft_t *r;
	disk_t d;
	batch_t b;
	uint64_t restart_at, crash_at;
	unsigned tick_period, tick_phase;
	/* FSM */
	int64_t value;
	uint64_t applied;
	pendread_t rq[MAX_OPS];
	size_t n_rq;
	int side; /* partition side */
	uint64_t sig[5]; /* log shape at the last full check */
} node_t;

typedef struct {
	uint64_t from, to, at;
	blob_t b;
} net_t;

enum { OP_WRITE = 1, OP_CAS = 2, OP_READ = 3 };

typedef struct {
	int kind, client;
	int64_t a, b;
	uint64_t inv, resp; /* resp INF = indeterminate */
	int64_t out;        /* read value / cas ok */
	int dropped;        /* known not to have taken effect */
	int done;
	uint64_t node, index, deadline;
} op_t;

typedef struct {
	uint64_t term, hash;
	int64_t value;
} rec_t;

typedef struct {
	uint64_t key_i, key_t, hash, prevterm;
} lm_t;

typedef struct {
	uint64_t seed;
	int verbose;
	rng_t g;
	uint64_t now, end;
	node_t nodes[SIM_MAXN];
	int initial;
	net_t *net;
	size_t n_net, net_cap;
	double loss, dup, leader_kill;
	int lease; /* lease reads on, with clock drift bounded to 5 % */
	unsigned disk_slow; /* fsync latency spread in steps */
	int calm; /* no more crashes, partitions or membership changes */
	unsigned knobs[5]; /* inflight window, batch, chunk, snapshot threshold, trailing */
	unsigned max_delay;
	int partitioned;
	uint64_t heal_at;
	op_t ops[MAX_OPS];
	int n_ops;
	int client_busy[4];
	/* checkers */
	uint64_t *leader_of_term;
	size_t lot_cap;
	uint64_t *committed; /* term of each globally committed index */
	size_t com_cap, com_hi;
	uint64_t *cterm; /* lowest current term of a server that saw it committed */
	size_t cterm_cap;
	rec_t *applied;
	size_t app_cap;
	lm_t *lm;
	size_t lm_cap, lm_n;
	char fail[256];
	/* stats */
	uint64_t elections, snaps_sent, crashes, confchanges, reads_ok, writes_ok;
} world_t;

static void failf(world_t *w, const char *fmt, ...)
{
	if (w->fail[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->fail, sizeof(w->fail), fmt, ap);
	va_end(ap);
}

static void trace(world_t *w, const char *fmt, ...)
{
	if (!w->verbose)
		return;
	va_list ap;
	va_start(ap, fmt);
	printf("[%6" PRIu64 "] ", w->now);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
}

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q) {
		fprintf(stderr, "sim: out of memory\n");
		exit(2);
	}
	return q;
}

static uint8_t *dupbytes(const void *p, size_t n)
{
	uint8_t *q = xrealloc(NULL, n);
	if (n)
		memcpy(q, p, n);
	return q;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

static uint64_t ent_hash(const tb__raft_entry_t *e)
{
	uint64_t h = fnv(0xcbf29ce484222325ULL, &e->type, 1);
	return fnv(h, e->data, e->len);
}

/* ---- disk ---- */

static void disk_truncate(disk_t *d, uint64_t from)
{
	while (d->n && d->ents[d->n - 1].index >= from) {
		d->n--;
		free((void *)d->ents[d->n].data);
	}
}

static void disk_append(disk_t *d, const tb__raft_entry_t *e)
{
	if (d->n && e->index != d->ents[d->n - 1].index + 1)
		disk_truncate(d, 0); /* cannot happen with a correct raft; keep the model sane */
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 32;
		d->ents = xrealloc(d->ents, d->cap * sizeof(*d->ents));
	}
	d->ents[d->n] = *e;
	d->ents[d->n].data = dupbytes(e->data, e->len);
	d->n++;
}

static void disk_compact(disk_t *d, uint64_t keep_from)
{
	size_t k = 0;
	while (k < d->n && d->ents[k].index < keep_from)
		free((void *)d->ents[k++].data);
	memmove(d->ents, d->ents + k, (d->n - k) * sizeof(*d->ents));
	d->n -= k;
}

static void disk_free(disk_t *d)
{
	disk_truncate(d, 0);
	free(d->ents);
	free(d->snap_data);
	memset(d, 0, sizeof(*d));
}

/* ---- batches ---- */

static void batch_free(batch_t *b)
{
	for (size_t i = 0; i < b->n_ents; i++)
		free((void *)b->ents[i].data);
	free(b->ents);
	free(b->snap_data);
	for (size_t i = 0; i < b->n_msgs; i++)
		free(b->msgs[i].buf);
	free(b->msgs);
	for (size_t i = 0; i < b->n_com; i++)
		free((void *)b->com[i].data);
	free(b->com);
	free(b->reads);
	memset(b, 0, sizeof(*b));
}

static tb__raft_entry_t *copy_ents(const tb__raft_entry_t *e, size_t n)
{
	tb__raft_entry_t *c = xrealloc(NULL, n * sizeof(*c));
	for (size_t i = 0; i < n; i++) {
		c[i] = e[i];
		c[i].data = dupbytes(e[i].data, e[i].len);
	}
	return c;
}

static void send_blob(world_t *w, uint64_t from, uint64_t to, const blob_t *b);

static void take_batch(world_t *w, node_t *nd)
{
	tb__raft_ready_t rd;
	if (nd->b.has || !tb__raft_ready(nd->r, &rd))
		return;
	batch_t *b = &nd->b;
	b->has = 1;
	b->sync_at = w->now + 1 + below(&w->g, 3 + w->disk_slow);
	b->hard_changed = rd.hard_changed;
	b->hard = rd.hard;
	b->ents = copy_ents(rd.entries, rd.n_entries);
	b->n_ents = rd.n_entries;
	b->has_snap = rd.has_snapshot;
	if (rd.has_snapshot) {
		b->snap = rd.snap;
		b->snap_data = dupbytes(rd.snap_data, rd.snap_len);
		b->snap_len = rd.snap_len;
	}
	b->msgs = xrealloc(NULL, rd.n_msgs * sizeof(*b->msgs));
	/* half the worlds send the early messages before the fsync */
	size_t early = w->seed % 2 ? rd.n_early : 0;
	for (size_t i = 0; i < rd.n_msgs; i++) {
		size_t sz = tb__raft_msg_size(&rd.msgs[i]);
		blob_t bl = {xrealloc(NULL, sz), 0};
		bl.len = tb__raft_msg_encode(&rd.msgs[i], bl.buf, sz);
		if (bl.len != sz)
			failf(w, "encode size mismatch");
		if (i < early) {
			send_blob(w, nd->id, rd.msgs[i].to, &bl);
			free(bl.buf);
		} else {
			b->msgs[b->n_msgs++] = bl;
		}
	}
	b->com = copy_ents(rd.committed, rd.n_committed);
	b->n_com = rd.n_committed;
	b->reads = (tb__raft_read_t *)(void *)dupbytes(rd.reads, rd.n_reads * sizeof(*rd.reads));
	b->n_reads = rd.n_reads;
	b->want_snap = rd.want_snapshot;
}

static void persist(node_t *nd, size_t n_ents, int hard)
{
	batch_t *b = &nd->b;
	if (hard && b->hard_changed)
		nd->d.hs = b->hard;
	if (b->has_snap) {
		nd->d.snap = b->snap;
		free(nd->d.snap_data);
		nd->d.snap_data = dupbytes(b->snap_data, b->snap_len);
		nd->d.snap_len = b->snap_len;
		disk_truncate(&nd->d, 0);
	}
	if (n_ents)
		disk_truncate(&nd->d, b->ents[0].index);
	for (size_t i = 0; i < n_ents; i++)
		disk_append(&nd->d, &b->ents[i]);
}

/* ---- network ---- */

static node_t *node_by_id(world_t *w, uint64_t id)
{
	for (int i = 0; i < SIM_MAXN; i++)
		if (w->nodes[i].exists && w->nodes[i].id == id)
			return &w->nodes[i];
	return NULL;
}

static void net_push(world_t *w, uint64_t from, uint64_t to, const blob_t *b)
{
	if (w->n_net == w->net_cap) {
		w->net_cap = w->net_cap ? w->net_cap * 2 : 64;
		w->net = xrealloc(w->net, w->net_cap * sizeof(*w->net));
	}
	net_t *n = &w->net[w->n_net++];
	n->from = from;
	n->to = to;
	n->at = w->now + 1 + below(&w->g, w->max_delay);
	n->b.len = b->len;
	n->b.buf = dupbytes(b->buf, b->len);
}

static void send_blob(world_t *w, uint64_t from, uint64_t to, const blob_t *b)
{
	if (chance(&w->g, w->loss))
		return;
	net_push(w, from, to, b);
	if (chance(&w->g, w->dup))
		net_push(w, from, to, b);
}

/* ---- FSM (a register) ---- */

static op_t *op_by_id(world_t *w, uint64_t id)
{
	return id >= 1 && id <= (uint64_t)w->n_ops ? &w->ops[id - 1] : NULL;
}

static void finish_op(world_t *w, op_t *o, int64_t out)
{
	if (o->done)
		return;
	o->done = 1;
	o->resp = w->now;
	o->out = out;
	w->client_busy[o->client] = 0;
}

static void serve_reads(world_t *w, node_t *nd)
{
	size_t k = 0;
	for (size_t i = 0; i < nd->n_rq; i++) {
		if (nd->applied >= nd->rq[i].index) {
			op_t *o = op_by_id(w, nd->rq[i].op);
			if (o && !o->done && o->deadline >= w->now) {
				finish_op(w, o, nd->value);
				w->reads_ok++;
			}
		} else {
			nd->rq[k++] = nd->rq[i];
		}
	}
	nd->n_rq = k;
}

static void fsm_apply(world_t *w, node_t *nd, const tb__raft_entry_t *e)
{
	if (e->index != nd->applied + 1) {
		failf(w, "node %" PRIu64 " applies %" PRIu64 " after %" PRIu64, nd->id, e->index, nd->applied);
		return;
	}
	nd->applied = e->index;
	int64_t res = 0;
	uint64_t opid = 0;
	if (e->type == TB_RAFT_ENTRY_NORMAL && e->len == 21) {
		int64_t a, b;
		uint32_t id32;
		memcpy(&id32, e->data + 1, 4);
		memcpy(&a, e->data + 5, 8);
		memcpy(&b, e->data + 13, 8);
		opid = id32;
		if (e->data[0] == OP_WRITE) {
			nd->value = a;
		} else if (e->data[0] == OP_CAS) {
			res = nd->value == a;
			if (res)
				nd->value = b;
		}
	}
	/* state-machine safety: every server applies the same entry and
	 * reaches the same state at every index */
	if (e->index >= w->app_cap) {
		size_t nc = w->app_cap ? w->app_cap : 256;
		while (nc <= e->index)
			nc *= 2;
		w->applied = xrealloc(w->applied, nc * sizeof(*w->applied));
		memset(w->applied + w->app_cap, 0, (nc - w->app_cap) * sizeof(*w->applied));
		w->app_cap = nc;
	}
	rec_t *rc = &w->applied[e->index];
	uint64_t h = ent_hash(e);
	if (rc->term == 0) {
		rc->term = e->term;
		rc->hash = h;
		rc->value = nd->value;
	} else if (rc->term != e->term || rc->hash != h || rc->value != nd->value) {
		failf(w, "state machine safety: index %" PRIu64 " term %" PRIu64 "/%" PRIu64 " on node %" PRIu64,
		      e->index, e->term, rc->term, nd->id);
	}
	op_t *o = op_by_id(w, opid);
	if (o && !o->done && o->node == nd->id && o->index == e->index) {
		finish_op(w, o, res);
		w->writes_ok++;
	}
	/* a proposal whose slot holds another entry was overwritten: it never
	 * takes effect */
	for (int i = 0; i < w->n_ops; i++) {
		op_t *x = &w->ops[i];
		if (!x->done && x->kind != OP_READ && x->node == nd->id && x->index == e->index &&
		    (uint64_t)(i + 1) != opid) {
			x->dropped = 1;
			finish_op(w, x, 0);
		}
	}
	serve_reads(w, nd);
}

static void snap_encode(const node_t *nd, uint8_t *buf)
{
	/* 40 bytes so that a 16-byte chunk size gives three chunks */
	memset(buf, 0xab, 40);
	memcpy(buf, &nd->value, 8);
	memcpy(buf + 8, &nd->applied, 8);
}

/* ---- node lifecycle ---- */

static void opts_for(world_t *w, node_t *nd, tb__raft_opts_t *o)
{
	tb__raft_opts_default(o);
	o->id = nd->id;
	o->seed = w->seed * 31 + nd->id + w->now;
	o->election_ticks = 10;
	o->heartbeat_ticks = 2;
	o->max_inflight = w->knobs[0];
	o->max_batch = w->knobs[1];
	o->snap_chunk = w->knobs[2];
	o->snap_threshold = w->knobs[3];
	o->snap_trailing = w->knobs[4];
	o->catchup_max_lag = 4;
	o->pre_vote = w->seed % 7 != 3;
	o->check_quorum = w->seed % 5 != 2;
	if (w->lease) {
		o->check_quorum = 1;
		o->lease_read = 1;
	}
}

static void node_start(world_t *w, node_t *nd)
{
	tb__raft_opts_t o;
	opts_for(w, nd, &o);
	nd->r = tb__raft_new(&o, &nd->d.hs, &nd->d.snap, nd->d.snap_data, nd->d.snap_len, nd->d.ents, nd->d.n);
	if (!nd->r) {
		failf(w, "node %" PRIu64 " failed to start", nd->id);
		return;
	}
	nd->up = 1;
	nd->value = 0;
	nd->applied = nd->d.snap.index;
	if (nd->d.snap.index && nd->d.snap_len >= 16)
		memcpy(&nd->value, nd->d.snap_data, 8);
	nd->n_rq = 0;
	nd->tick_period = w->lease ? 20 + below(&w->g, 2) : 16 + below(&w->g, 8);
	nd->tick_phase = below(&w->g, nd->tick_period);
	trace(w, "node %" PRIu64 " starts: term %" PRIu64 " snap %" PRIu64 " log %zu", nd->id, nd->d.hs.term,
	      nd->d.snap.index, nd->d.n);
}

static void node_crash(world_t *w, node_t *nd)
{
	batch_t *b = &nd->b;
	if (b->has) {
		/* what the outstanding batch left on disk: nothing, the hard state,
		 * a torn prefix of its entries, or all of it */
		unsigned k = below(&w->g, 4);
		if (k == 1)
			persist(nd, 0, 1);
		else if (k == 2 && (b->n_ents || b->has_snap))
			persist(nd, below(&w->g, (unsigned)b->n_ents + 1), chance(&w->g, 0.5));
		else if (k == 3)
			persist(nd, b->n_ents, 1);
	}
	batch_free(b);
	tb__raft_free(nd->r);
	nd->r = NULL;
	nd->up = 0;
	nd->crash_at = 0;
	nd->restart_at = w->now + 50 + below(&w->g, 800);
	w->crashes++;
	trace(w, "node %" PRIu64 " crashes", nd->id);
}

static void sync_batch(world_t *w, node_t *nd)
{
	batch_t *b = &nd->b;
	persist(nd, b->n_ents, 1);
	for (size_t i = 0; i < b->n_msgs; i++) {
		tb__raft_msg_t m;
		if (tb__raft_msg_decode(b->msgs[i].buf, b->msgs[i].len, &m)) {
			failf(w, "own frame does not decode");
			continue;
		}
		uint64_t to = m.to;
		tb__raft_msg_release(&m);
		send_blob(w, nd->id, to, &b->msgs[i]);
	}
	if (b->has_snap) {
		nd->applied = b->snap.index;
		memcpy(&nd->value, b->snap_data, 8);
		w->snaps_sent++;
		trace(w, "node %" PRIu64 " installed snapshot %" PRIu64, nd->id, b->snap.index);
	}
	for (size_t i = 0; i < b->n_com; i++)
		fsm_apply(w, nd, &b->com[i]);
	for (size_t i = 0; i < b->n_reads; i++) {
		op_t *o = op_by_id(w, b->reads[i].ctx);
		if (!o || o->done)
			continue;
		if (b->reads[i].index == 0) {
			o->dropped = 1;
			finish_op(w, o, 0);
		} else if (nd->n_rq < MAX_OPS) {
			nd->rq[nd->n_rq].op = o - w->ops + 1;
			nd->rq[nd->n_rq].index = b->reads[i].index;
			nd->n_rq++;
		}
	}
	serve_reads(w, nd);
	int want = b->want_snap;
	batch_free(b);
	tb__raft_advance(nd->r);
	if (want && nd->applied > tb__raft_snap_index(nd->r)) {
		uint8_t buf[40];
		snap_encode(nd, buf);
		if (tb__raft_snapshot_done(nd->r, nd->applied, buf, sizeof(buf)) == 0) {
			tb__raft_snapshot_meta(nd->r, &nd->d.snap);
			free(nd->d.snap_data);
			nd->d.snap_data = dupbytes(buf, sizeof(buf));
			nd->d.snap_len = sizeof(buf);
			disk_compact(&nd->d, tb__raft_first_index(nd->r));
		}
	}
}

/* ---- checks ---- */

static void grow_u64(uint64_t **a, size_t *cap, size_t need)
{
	if (need < *cap)
		return;
	size_t nc = *cap ? *cap : 64;
	while (nc <= need)
		nc *= 2;
	*a = xrealloc(*a, nc * sizeof(**a));
	memset(*a + *cap, 0, (nc - *cap) * sizeof(**a));
	*cap = nc;
}

static lm_t *lm_slot(world_t *w, uint64_t i, uint64_t t)
{
	if (w->lm_n * 2 >= w->lm_cap) {
		size_t oc = w->lm_cap;
		lm_t *old = w->lm;
		w->lm_cap = oc ? oc * 2 : 1024;
		w->lm = calloc(w->lm_cap, sizeof(*w->lm));
		if (!w->lm)
			exit(2);
		w->lm_n = 0;
		for (size_t k = 0; k < oc; k++)
			if (old[k].key_t) {
				lm_t *s = lm_slot(w, old[k].key_i, old[k].key_t);
				*s = old[k];
				w->lm_n++;
			}
		free(old);
	}
	size_t h = (size_t)((i * 0x9e3779b97f4a7c15ULL) ^ (t * 0xc2b2ae3d27d4eb4fULL)) & (w->lm_cap - 1);
	while (w->lm[h].key_t && !(w->lm[h].key_i == i && w->lm[h].key_t == t))
		h = (h + 1) & (w->lm_cap - 1);
	return &w->lm[h];
}

static void check(world_t *w)
{
	for (int k = 0; k < SIM_MAXN; k++) {
		node_t *nd = &w->nodes[k];
		if (!nd->up)
			continue;
		tb__raft_t *r = nd->r;
		uint64_t term = tb__raft_term(r);
		/* election safety */
		if (tb__raft_role(r) == TB_RAFT_LEADER) {
			grow_u64(&w->leader_of_term, &w->lot_cap, term);
			if (w->leader_of_term[term] == 0) {
				w->leader_of_term[term] = nd->id;
				w->elections++;
				/* new leaders die young now and then: the interesting
				 * histories (Figure 8 of the Raft paper) need that */
				if (w->leader_kill && chance(&w->g, w->leader_kill))
					nd->crash_at = w->now + 2 + below(&w->g, 80);
				trace(w, "node %" PRIu64 " leads term %" PRIu64, nd->id, term);
			} else if (w->leader_of_term[term] != nd->id) {
				failf(w, "election safety: %" PRIu64 " and %" PRIu64 " lead term %" PRIu64,
				      w->leader_of_term[term], nd->id, term);
			}
		}
		/* log matching: an (index, term) names one entry, whose
		 * predecessor always has the same term. Rescanned when the log's
		 * shape changed, and every 64 steps anyway. */
		uint64_t first = tb__raft_first_index(r), last = tb__raft_last_index(r);
		const tb__raft_entry_t *le = tb__raft_entry(r, last);
		uint64_t sig[5] = {first, last, le ? le->term : 0, tb__raft_commit(r), term};
		if (!memcmp(sig, nd->sig, sizeof(sig)) && w->now % 64)
			continue;
		memcpy(nd->sig, sig, sizeof(sig));
		for (uint64_t i = first; i <= last; i++) {
			const tb__raft_entry_t *e = tb__raft_entry(r, i);
			const tb__raft_entry_t *p = i > first ? tb__raft_entry(r, i - 1) : NULL;
			uint64_t pt = p ? p->term : UINT64_MAX; /* unknown for the first held entry */
			lm_t *s = lm_slot(w, i, e->term);
			uint64_t h = ent_hash(e);
			if (!s->key_t) {
				s->key_i = i;
				s->key_t = e->term;
				s->hash = h;
				s->prevterm = pt;
				w->lm_n++;
			} else {
				if (s->hash != h)
					failf(w, "log matching: entry %" PRIu64 "/%" PRIu64 " differs on node %" PRIu64, i,
					      e->term, nd->id);
				if (pt != UINT64_MAX) {
					if (s->prevterm == UINT64_MAX)
						s->prevterm = pt;
					else if (s->prevterm != pt)
						failf(w, "log matching: prefix of %" PRIu64 "/%" PRIu64 " differs on node %" PRIu64,
						      i, e->term, nd->id);
				}
			}
		}
		/* commit agreement: what any server considers committed is fixed */
		uint64_t c = tb__raft_commit(r);
		for (uint64_t i = c > 256 ? c - 256 : 1; i <= c; i++) {
			const tb__raft_entry_t *e = tb__raft_entry(r, i);
			if (!e)
				continue;
			grow_u64(&w->committed, &w->com_cap, i);
			grow_u64(&w->cterm, &w->cterm_cap, i);
			if (!w->cterm[i] || term < w->cterm[i])
				w->cterm[i] = term;
			if (!w->committed[i])
				w->committed[i] = e->term;
			else if (w->committed[i] != e->term)
				failf(w, "committed entry %" PRIu64 " has term %" PRIu64 " on node %" PRIu64 ", %" PRIu64
				      " elsewhere", i, e->term, nd->id, w->committed[i]);
			if (i > w->com_hi)
				w->com_hi = i;
		}
		/* leader completeness */
		if (tb__raft_role(r) == TB_RAFT_LEADER) {
			for (uint64_t i = first; i <= w->com_hi && i < w->com_cap; i++) {
				/* leaders of terms before the commit was seen may lack it */
				if (!w->committed[i] || term < w->cterm[i])
					continue;
				const tb__raft_entry_t *e = tb__raft_entry(r, i);
				if (!e || e->term != w->committed[i])
					failf(w, "leader completeness: leader %" PRIu64 " term %" PRIu64 " lacks committed %" PRIu64,
					      nd->id, term, i);
			}
		}
	}
}

/* ---- linearizability of the register history ---- */

typedef struct {
	uint64_t *keys; /* (mask, value) pairs hashed */
	int64_t *vals;
	size_t cap, n;
} memo_t;

static int memo_seen(memo_t *m, uint64_t mask, int64_t v)
{
	if (m->n * 2 >= m->cap) {
		size_t oc = m->cap;
		uint64_t *ok = m->keys;
		int64_t *ov = m->vals;
		m->cap = oc ? oc * 2 : 4096;
		m->keys = calloc(m->cap, sizeof(*m->keys));
		m->vals = calloc(m->cap, sizeof(*m->vals));
		if (!m->keys || !m->vals)
			exit(2);
		m->n = 0;
		for (size_t i = 0; i < oc; i++)
			if (ok[i])
				memo_seen(m, ok[i] - 1, ov[i]);
		free(ok);
		free(ov);
	}
	size_t h = (size_t)(((mask + 1) * 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)v * 0xc2b2ae3d27d4eb4fULL)) &
	           (m->cap - 1);
	while (m->keys[h]) {
		if (m->keys[h] == mask + 1 && m->vals[h] == v)
			return 1;
		h = (h + 1) & (m->cap - 1);
	}
	m->keys[h] = mask + 1;
	m->vals[h] = v;
	m->n++;
	return 0;
}

typedef struct {
	const op_t *ops[64];
	int n;
	uint64_t required;
	memo_t memo;
	long budget;
} lin_t;

static int lin_search(lin_t *L, uint64_t mask, int64_t v)
{
	if ((mask & L->required) == L->required)
		return 1;
	if (--L->budget < 0 || memo_seen(&L->memo, mask, v))
		return 0;
	uint64_t minresp = INF;
	for (int i = 0; i < L->n; i++)
		if (!(mask >> i & 1) && L->ops[i]->resp < minresp)
			minresp = L->ops[i]->resp;
	/* definite operations first: indeterminate ones are optional, so a
	 * linearizable history is usually found without placing them */
	for (int j = 0; j < 2 * L->n; j++) {
		int i = j % L->n;
		if (mask >> i & 1 || (j < L->n) != (L->ops[i]->resp != INF))
			continue;
		const op_t *o = L->ops[i];
		if (o->inv > minresp)
			continue; /* something must be linearized before it */
		int64_t nv = v;
		int indet = o->resp == INF;
		if (o->kind == OP_READ) {
			if (o->out != v)
				continue;
		} else if (o->kind == OP_WRITE) {
			nv = o->a;
		} else {
			int ok = v == o->a;
			if (!indet && ok != (int)o->out)
				continue;
			if (ok)
				nv = o->b;
		}
		if (lin_search(L, mask | (1ULL << i), nv))
			return 1;
	}
	return 0;
}

static int cmp_inv(const void *a, const void *b)
{
	const op_t *x = *(const op_t *const *)a, *y = *(const op_t *const *)b;
	return x->inv < y->inv ? -1 : x->inv > y->inv;
}

static int linearizable(world_t *w, int *checked)
{
	lin_t L;
	memset(&L, 0, sizeof(L));
	for (int i = 0; i < w->n_ops && L.n < 64; i++) {
		const op_t *o = &w->ops[i];
		if (o->dropped)
			continue;
		if (o->kind == OP_READ && o->resp == INF)
			continue; /* an unanswered read has no effect */
		L.ops[L.n++] = o;
	}
	qsort(L.ops, (size_t)L.n, sizeof(L.ops[0]), cmp_inv);
	for (int i = 0; i < L.n; i++)
		if (L.ops[i]->resp != INF)
			L.required |= 1ULL << i;
	L.budget = 2000000;
	int ok = lin_search(&L, 0, 0);
	*checked = L.n;
	if (!ok && L.budget < 0)
		ok = -1; /* gave up: reported, not a failure */
	free(L.memo.keys);
	free(L.memo.vals);
	return ok;
}

/* ---- world ---- */

static void start_op(world_t *w, int client)
{
	if (w->n_ops >= MAX_OPS)
		return;
	node_t *cand[SIM_MAXN];
	int nc = 0;
	for (int i = 0; i < SIM_MAXN; i++)
		if (w->nodes[i].up)
			cand[nc++] = &w->nodes[i];
	if (!nc)
		return;
	/* clients mostly find the leader, sometimes ask a follower */
	node_t *nd = cand[below(&w->g, (unsigned)nc)];
	for (int i = 0; i < nc; i++)
		if (tb__raft_role(cand[i]->r) == TB_RAFT_LEADER && chance(&w->g, 0.8))
			nd = cand[i];
	op_t *o = &w->ops[w->n_ops];
	memset(o, 0, sizeof(*o));
	uint64_t id = (uint64_t)w->n_ops + 1;
	o->client = client;
	o->inv = w->now;
	o->resp = INF;
	o->node = nd->id;
	o->deadline = w->now + 600;
	unsigned k = below(&w->g, 10);
	o->kind = k < 4 ? OP_WRITE : k < 6 ? OP_CAS : OP_READ;
	o->a = (int64_t)id;
	if (o->kind == OP_CAS) {
		/* compare against a value that was written recently */
		o->a = 0;
		for (int i = w->n_ops - 1; i >= 0 && i >= w->n_ops - 4; i--)
			if (w->ops[i].kind == OP_WRITE || w->ops[i].kind == OP_CAS)
				o->a = w->ops[i].kind == OP_WRITE ? w->ops[i].a : w->ops[i].b;
		o->b = (int64_t)id + 1000;
	}
	w->n_ops++;
	w->client_busy[client] = 1;
	if (o->kind == OP_READ) {
		trace(w, "client %d read #%" PRIu64 " at node %" PRIu64, client, id, nd->id);
		tb__raft_read_index(nd->r, id);
		return;
	}
	uint8_t cmd[21];
	cmd[0] = (uint8_t)o->kind;
	uint32_t id32 = (uint32_t)id;
	memcpy(cmd + 1, &id32, 4);
	memcpy(cmd + 5, &o->a, 8);
	memcpy(cmd + 13, &o->b, 8);
	if (tb__raft_propose(nd->r, cmd, sizeof(cmd), &o->index)) {
		o->dropped = 1;
		finish_op(w, o, 0);
		return;
	}
	trace(w, "client %d op #%" PRIu64 " kind %d (%" PRId64 ",%" PRId64 ") at node %" PRIu64 " index %" PRIu64,
	      client, id, o->kind, o->a, o->b, nd->id, o->index);
}

static node_t *leader_node(world_t *w)
{
	node_t *best = NULL;
	for (int i = 0; i < SIM_MAXN; i++) {
		node_t *nd = &w->nodes[i];
		if (nd->up && tb__raft_role(nd->r) == TB_RAFT_LEADER &&
		    (!best || tb__raft_term(nd->r) > tb__raft_term(best->r)))
			best = nd;
	}
	return best;
}

static void membership(world_t *w)
{
	node_t *l = leader_node(w);
	if (!l)
		return;
	const tb__raft_conf_t *c = tb__raft_conf(l->r);
	unsigned k = below(&w->g, 4);
	if (k == 0) {
		for (int i = 0; i < SIM_MAXN; i++) {
			node_t *nd = &w->nodes[i];
			if (nd->exists)
				continue;
			if (tb__raft_add_learner(l->r, (uint64_t)i + 1) == 0) {
				nd->exists = 1;
				nd->id = (uint64_t)i + 1;
				node_start(w, nd);
				w->confchanges++;
				trace(w, "leader %" PRIu64 " adds learner %d", l->id, i + 1);
			}
			return;
		}
	} else if (k == 1) {
		for (uint32_t i = 0; i < c->n; i++)
			if (!c->s[i].voter) {
				uint64_t id = c->s[i].id;
				if (tb__raft_promote(l->r, id) == 0) {
					w->confchanges++;
					trace(w, "leader %" PRIu64 " promotes %" PRIu64, l->id, id);
				}
				return;
			}
	} else if (k == 2) {
		unsigned nv = 0;
		for (uint32_t i = 0; i < c->n; i++)
			nv += c->s[i].voter;
		if (nv <= 3 || c->n == 0)
			return;
		uint64_t id = c->s[below(&w->g, c->n)].id;
		if (tb__raft_remove(l->r, id) == 0) {
			w->confchanges++;
			trace(w, "leader %" PRIu64 " removes %" PRIu64, l->id, id);
		}
	} else {
		if (c->n == 0)
			return;
		uint64_t id = c->s[below(&w->g, c->n)].id;
		if (id != l->id && tb__raft_transfer(l->r, id) == 0)
			trace(w, "leader %" PRIu64 " transfers to %" PRIu64, l->id, id);
	}
}

static void step_world(world_t *w)
{
	/* deliver due messages, in random order */
	for (size_t pass = 0; pass < 2 && w->n_net; pass++) {
		size_t i = below(&w->g, (unsigned)w->n_net);
		for (size_t n = 0; n < w->n_net; n++, i = (i + 1) % w->n_net) {
			net_t *m = &w->net[i];
			if (m->at > w->now)
				continue;
			net_t cur = *m;
			w->net[i] = w->net[--w->n_net];
			node_t *dst = node_by_id(w, cur.to), *src = node_by_id(w, cur.from);
			int cut = w->partitioned && src && dst && src->side != dst->side;
			if (dst && dst->up && !cut) {
				tb__raft_msg_t msg;
				if (tb__raft_msg_decode(cur.b.buf, cur.b.len, &msg) == 0) {
					tb__raft_step(dst->r, &msg);
					tb__raft_msg_release(&msg);
				} else {
					failf(w, "frame does not decode");
				}
			}
			free(cur.b.buf);
			break;
		}
	}
	for (int i = 0; i < SIM_MAXN; i++) {
		node_t *nd = &w->nodes[i];
		if (!nd->exists)
			continue;
		if (!nd->up) {
			if (w->now >= nd->restart_at)
				node_start(w, nd);
			continue;
		}
		if (nd->crash_at && nd->crash_at <= w->now && !w->calm) {
			nd->crash_at = 0;
			node_crash(w, nd);
			continue;
		}
		if ((w->now + nd->tick_phase) % nd->tick_period == 0)
			tb__raft_tick(nd->r);
		if (nd->b.has && nd->b.sync_at <= w->now)
			sync_batch(w, nd);
		take_batch(w, nd);
	}
	/* client deadlines */
	for (int i = 0; i < w->n_ops; i++) {
		op_t *o = &w->ops[i];
		if (!o->done && o->deadline < w->now) {
			o->done = 1; /* indeterminate: resp stays INF */
			w->client_busy[o->client] = 0;
		}
	}
	for (int c = 0; c < 3; c++)
		if (!w->client_busy[c] && w->now > 300 && chance(&w->g, 0.02))
			start_op(w, c);
	/* faults */
	if (!w->calm && chance(&w->g, 0.0015)) {
		node_t *nd = &w->nodes[below(&w->g, SIM_MAXN)];
		/* half the crashes hit a node with a batch in flight */
		if (chance(&w->g, 0.5))
			for (int i = 0, k = (int)below(&w->g, SIM_MAXN); i < SIM_MAXN; i++)
				if (w->nodes[(k + i) % SIM_MAXN].b.has) {
					nd = &w->nodes[(k + i) % SIM_MAXN];
					break;
				}
		if (nd->up)
			node_crash(w, nd);
	}
	if (!w->calm && !w->partitioned && chance(&w->g, 0.0008)) {
		w->partitioned = 1;
		node_t *l = leader_node(w);
		for (int i = 0; i < SIM_MAXN; i++)
			w->nodes[i].side = (int)below(&w->g, 2);
		/* half the time: the leader alone in a minority, where stale
		 * reads and lost writes would show */
		if (l && chance(&w->g, 0.5))
			for (int i = 0; i < SIM_MAXN; i++)
				w->nodes[i].side = &w->nodes[i] == l;
		w->heal_at = w->now + 200 + below(&w->g, 1500);
		trace(w, "partition");
	}
	if (w->partitioned && w->now >= w->heal_at) {
		w->partitioned = 0;
		trace(w, "heal");
	}
	if (!w->calm && chance(&w->g, 0.002))
		membership(w);
	for (int i = 0; i < SIM_MAXN; i++) {
		node_t *nd = &w->nodes[i];
		if (nd->up)
			take_batch(w, nd);
	}
}

static int run_seed(uint64_t seed, int verbose, uint64_t steps, int quiet)
{
	world_t *w = calloc(1, sizeof(*w));
	if (!w)
		return 2;
	w->seed = seed;
	w->verbose = verbose;
	w->g.s = seed * 0x2545f4914f6cdd1dULL + 1;
	w->initial = chance(&w->g, 0.5) ? 3 : 5;
	w->loss = (double)below(&w->g, 20) / 100.0;
	w->dup = (double)below(&w->g, 6) / 100.0;
	w->max_delay = 2 + below(&w->g, 8);
	w->leader_kill = (double)below(&w->g, 4) * 0.2;
	w->lease = seed % 3 == 0;
	w->disk_slow = below(&w->g, 40);
	w->knobs[0] = 1 + below(&w->g, 8);
	w->knobs[1] = 1 + below(&w->g, 12);
	w->knobs[2] = 8 + below(&w->g, 40);
	w->knobs[3] = 8 + below(&w->g, 40);
	w->knobs[4] = below(&w->g, 10);
	w->end = steps;
	tb__raft_conf_t conf;
	memset(&conf, 0, sizeof(conf));
	for (int i = 0; i < w->initial; i++) {
		conf.s[i].id = (uint64_t)i + 1;
		conf.s[i].voter = 1;
	}
	conf.n = (uint32_t)w->initial;
	for (int i = 0; i < w->initial; i++) {
		node_t *nd = &w->nodes[i];
		nd->exists = 1;
		nd->id = (uint64_t)i + 1;
		nd->d.snap.conf = conf; /* bootstrap: every initial server knows the voters */
		node_start(w, nd);
	}
	for (w->now = 0; w->now < w->end && !w->fail[0]; w->now++) {
		step_world(w);
		check(w);
	}
	/* quiet period: heal, restart everyone, let the cluster settle so
	 * that outstanding operations finish */
	w->partitioned = 0;
	w->loss = 0;
	w->leader_kill = 0;
	uint64_t stop = w->now + 3000;
	for (; w->now < stop && !w->fail[0]; w->now++) {
		for (int i = 0; i < SIM_MAXN; i++)
			if (w->nodes[i].exists && !w->nodes[i].up)
				w->nodes[i].restart_at = w->now;
		step_world(w);
		check(w);
	}
	/* liveness once the faults stop: a leader exists, a new entry commits
	 * and every member of the configuration applies it */
	uint64_t mark = 0, deadline = w->now + 4000;
	node_t *ml = NULL;
	w->calm = 1;
	for (int i = 0; i < SIM_MAXN; i++)
		if (w->nodes[i].exists && !w->nodes[i].up)
			node_start(w, &w->nodes[i]);
	for (; w->now < deadline && !w->fail[0]; w->now++) {
		node_t *l = leader_node(w);
		if (mark == 0 && l) {
			uint64_t idx;
			if (tb__raft_propose(l->r, "mark", 4, &idx) == 0) {
				mark = idx;
				ml = l;
				trace(w, "liveness mark at %" PRIu64 " on leader %" PRIu64, idx, l->id);
			}
		}
		/* lost leadership first, or it was a stale leader (cut off from a
		 * newer one, e.g. removed while check-quorum is off): again */
		if (mark && (!ml->up || tb__raft_role(ml->r) != TB_RAFT_LEADER || (l && l != ml)))
			mark = 0;
		if (mark) {
			const tb__raft_conf_t *c = tb__raft_conf(ml->r);
			uint32_t done = 0;
			for (uint32_t i = 0; i < c->n; i++) {
				node_t *nd = node_by_id(w, c->s[i].id);
				done += nd && nd->up && nd->applied >= mark;
			}
			if (done == c->n)
				break;
		}
		step_world(w);
		check(w);
	}
	if (!w->fail[0] && w->now >= deadline)
		failf(w, "liveness: no leader committed and spread an entry within 4000 quiet steps");
	int checked = 0, lin = 1;
	if (!w->fail[0]) {
		lin = linearizable(w, &checked);
		if (lin == 0)
			failf(w, "history of %d operations is not linearizable", checked);
	}
	if (w->fail[0] && verbose)
		for (int i = 0; i < SIM_MAXN; i++) {
			node_t *nd = &w->nodes[i];
			if (!nd->exists || !nd->up)
				continue;
			const tb__raft_conf_t *c = tb__raft_conf(nd->r);
			printf("node %" PRIu64 ": role %d term %" PRIu64 " leader %" PRIu64 " commit %" PRIu64
			       " applied %" PRIu64 " last %" PRIu64 " first %" PRIu64 " conf",
			       nd->id, (int)tb__raft_role(nd->r), tb__raft_term(nd->r), tb__raft_leader(nd->r),
			       tb__raft_commit(nd->r), nd->applied, tb__raft_last_index(nd->r),
			       tb__raft_first_index(nd->r));
			for (uint32_t k = 0; k < c->n; k++)
				printf(" %" PRIu64 "%s(m%" PRIu64 ")", c->s[k].id, c->s[k].voter ? "" : "L",
				       tb__raft_match(nd->r, c->s[k].id));
			printf("\n");
		}
	if (w->fail[0] && verbose)
		for (int i = 0; i < w->n_ops; i++) {
			const op_t *o = &w->ops[i];
			printf("op #%d client %d %s(%" PRId64 ",%" PRId64 ") at node %" PRIu64 ": invoked %" PRIu64, i + 1,
			       o->client, o->kind == OP_WRITE ? "write" : o->kind == OP_CAS ? "cas" : "read", o->a, o->b,
			       o->node, o->inv);
			if (o->dropped)
				printf(", no effect\n");
			else if (o->resp == INF)
				printf(", indeterminate\n");
			else
				printf(", returned %" PRId64 " at %" PRIu64 "\n", o->out, o->resp);
		}
	int rc = w->fail[0] ? 1 : 0;
	if (rc)
		printf("FAIL seed=%" PRIu64 ": %s (replay: sim --seed %" PRIu64 " -v)\n", seed, w->fail, seed);
	else if (!quiet)
		printf("seed %" PRIu64 ": ok, %d nodes, %" PRIu64 " leaders, %" PRIu64 " crashes, %" PRIu64
		       " conf changes, %" PRIu64 " snapshots installed, %" PRIu64 " writes + %" PRIu64
		       " reads acknowledged, %d ops checked%s\n",
		       seed, w->initial, w->elections, w->crashes, w->confchanges, w->snaps_sent, w->writes_ok,
		       w->reads_ok, checked, lin < 0 ? " (linearizability search gave up)" : "");
	for (int i = 0; i < SIM_MAXN; i++) {
		node_t *nd = &w->nodes[i];
		batch_free(&nd->b);
		tb__raft_free(nd->r);
		disk_free(&nd->d);
	}
	for (size_t i = 0; i < w->n_net; i++)
		free(w->net[i].b.buf);
	free(w->net);
	free(w->leader_of_term);
	free(w->committed);
	free(w->cterm);
	free(w->applied);
	free(w->lm);
	free(w);
	return rc;
}

int main(int argc, char **argv)
{
	uint64_t start = 1, count = 200, steps = 6000;
	int verbose = 0, single = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			start = strtoull(argv[++i], NULL, 10);
			count = 1;
			single = 1;
		} else if (!strcmp(argv[i], "--start") && i + 1 < argc) {
			start = strtoull(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--count") && i + 1 < argc) {
			count = strtoull(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--steps") && i + 1 < argc) {
			steps = strtoull(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "-v")) {
			verbose = 1;
		} else {
			fprintf(stderr, "usage: sim [--seed N [-v] | --start S --count C] [--steps N]\n");
			return 2;
		}
	}
	uint64_t failed = 0;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint64_t s = start; s < start + count; s++)
		failed += run_seed(s, verbose, steps, !single) != 0;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double el = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("sim: %" PRIu64 " seeds from %" PRIu64 ", %" PRIu64 " failed, %.2f s (%.0f seeds/s)\n", count, start,
	       failed, el, (double)count / (el > 0 ? el : 1e-9));
	return failed ? 1 : 0;
}
