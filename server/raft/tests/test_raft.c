/* server/raft/tests/test_raft.c - CUnit scenarios for the Raft state
 * machine on a tiny in-test network (messages pass through the codec):
 * election, replication, check-quorum, pre-vote, ReadIndex, lease reads,
 * leadership transfer, snapshots to a new learner and its promotion. */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raft/raft.h"

#define N 5

typedef struct {
	uint64_t to;
	uint8_t *buf;
	size_t len;
} wire_t;

typedef struct {
	int n;
	tb__raft_t *r[N + 1];
	int cut[N + 1][N + 1];
	wire_t q[4096];
	size_t nq;
	uint64_t applied_normal[N + 1];
	uint64_t last_read_ctx[N + 1], last_read_index[N + 1];
	int installs[N + 1];
	unsigned rejects; /* AppendEntries rejections seen on the wire */
} cl_t;

static tb__raft_opts_t opts(uint64_t id)
{
	tb__raft_opts_t o;
	tb__raft_opts_default(&o);
	o.id = id;
	o.seed = 42;
	o.election_ticks = 10;
	o.heartbeat_ticks = 2;
	o.snap_chunk = 3;
	return o;
}

static void cl_add(cl_t *c, uint64_t id, int voters, tb__raft_opts_t *o)
{
	tb__raft_snap_meta_t sm;
	memset(&sm, 0, sizeof(sm));
	for (int i = 0; i < voters; i++) {
		sm.conf.s[i].id = (uint64_t)i + 1;
		sm.conf.s[i].voter = 1;
	}
	sm.conf.n = (uint32_t)voters;
	tb__raft_hard_t hs = {0, 0};
	c->r[id] = tb__raft_new(o, &hs, &sm, NULL, 0, NULL, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c->r[id]);
}

static void cl_init(cl_t *c, int n, int lease)
{
	memset(c, 0, sizeof(*c));
	c->n = n;
	for (int i = 1; i <= n; i++) {
		tb__raft_opts_t o = opts((uint64_t)i);
		o.lease_read = lease;
		o.snap_threshold = 10;
		o.snap_trailing = 2;
		cl_add(c, (uint64_t)i, n, &o);
	}
}

static void cl_free(cl_t *c)
{
	for (int i = 1; i <= N; i++)
		tb__raft_free(c->r[i]);
	for (size_t i = 0; i < c->nq; i++)
		free(c->q[i].buf);
}

/* one round: every node emits its batch (persisted at once), then all
 * queued messages are delivered. Returns the number of messages moved. */
static size_t cl_round(cl_t *c)
{
	size_t moved = 0;
	for (int i = 1; i <= N; i++) {
		tb__raft_t *r = c->r[i];
		tb__raft_ready_t rd;
		if (!r || !tb__raft_ready(r, &rd))
			continue;
		if (rd.has_snapshot)
			c->installs[i]++;
		for (size_t k = 0; k < rd.n_msgs; k++) {
			if (c->cut[i][rd.msgs[k].to] || c->nq == 4096)
				continue;
			if (rd.msgs[k].type == TB_RAFT_MSG_APP_RESP && rd.msgs[k].reject)
				c->rejects++;
			wire_t *w = &c->q[c->nq++];
			w->to = rd.msgs[k].to;
			w->len = tb__raft_msg_size(&rd.msgs[k]);
			w->buf = malloc(w->len);
			tb__raft_msg_encode(&rd.msgs[k], w->buf, w->len);
		}
		for (size_t k = 0; k < rd.n_committed; k++)
			if (rd.committed[k].type == TB_RAFT_ENTRY_NORMAL)
				c->applied_normal[i]++;
		for (size_t k = 0; k < rd.n_reads; k++) {
			c->last_read_ctx[i] = rd.reads[k].ctx;
			c->last_read_index[i] = rd.reads[k].index;
		}
		int want = rd.want_snapshot;
		tb__raft_advance(r);
		if (want)
			tb__raft_snapshot_done(r, tb__raft_applied(r), "snapshot-data", 13);
	}
	size_t nq = c->nq;
	c->nq = 0;
	for (size_t k = 0; k < nq; k++) {
		tb__raft_msg_t m;
		wire_t *w = &c->q[k];
		if (w->to <= N && c->r[w->to] && tb__raft_msg_decode(w->buf, w->len, &m) == 0) {
			tb__raft_step(c->r[w->to], &m);
			tb__raft_msg_release(&m);
			moved++;
		}
		free(w->buf);
	}
	return moved;
}

static void cl_settle(cl_t *c)
{
	for (int i = 0; i < 200 && cl_round(c); i++)
		;
	cl_round(c);
}

static void cl_tick(cl_t *c, int ticks)
{
	for (int t = 0; t < ticks; t++) {
		for (int i = 1; i <= N; i++)
			if (c->r[i])
				tb__raft_tick(c->r[i]);
		cl_round(c);
		cl_round(c);
	}
}

static int cl_leader(cl_t *c)
{
	int l = 0;
	for (int i = 1; i <= N; i++)
		if (c->r[i] && tb__raft_role(c->r[i]) == TB_RAFT_LEADER &&
		    (!l || tb__raft_term(c->r[i]) > tb__raft_term(c->r[l])))
			l = i;
	return l;
}

static void isolate(cl_t *c, int id, int on)
{
	for (int i = 1; i <= N; i++)
		c->cut[id][i] = c->cut[i][id] = on;
}

static void test_single_node(void)
{
	cl_t c;
	cl_init(&c, 1, 0);
	cl_tick(&c, 25);
	CU_ASSERT_EQUAL_FATAL(tb__raft_role(c.r[1]), TB_RAFT_LEADER);
	uint64_t idx;
	CU_ASSERT_EQUAL(tb__raft_propose(c.r[1], "x", 1, &idx), 0);
	cl_settle(&c);
	CU_ASSERT_EQUAL(tb__raft_commit(c.r[1]), idx);
	CU_ASSERT_EQUAL(c.applied_normal[1], 1);
	CU_ASSERT_EQUAL(tb__raft_read_index(c.r[1], 77), 0);
	cl_settle(&c);
	CU_ASSERT_EQUAL(c.last_read_ctx[1], 77);
	CU_ASSERT_EQUAL(c.last_read_index[1], idx);
	cl_free(&c);
}

static void test_replication(void)
{
	cl_t c;
	cl_init(&c, 3, 0);
	cl_tick(&c, 30);
	int l = cl_leader(&c);
	CU_ASSERT_FATAL(l != 0);
	/* group commit: everything proposed before the batch is one batch */
	for (int i = 0; i < 20; i++)
		CU_ASSERT_EQUAL(tb__raft_propose(c.r[l], "abc", 3, NULL), 0);
	tb__raft_ready_t rd;
	CU_ASSERT_EQUAL_FATAL(tb__raft_ready(c.r[l], &rd), 1);
	CU_ASSERT_EQUAL(rd.n_entries, 20);
	/* nothing more until the glue acknowledges the batch */
	tb__raft_ready_t rd2;
	CU_ASSERT_EQUAL(tb__raft_ready(c.r[l], &rd2), 0);
	tb__raft_advance(c.r[l]);
	/* that batch's messages were never sent (lost): the pipeline notices
	 * at the next heartbeat answers and probes again */
	cl_tick(&c, 6);
	cl_settle(&c);
	for (int i = 1; i <= 3; i++) {
		CU_ASSERT_EQUAL(c.applied_normal[i], 20);
		CU_ASSERT_EQUAL(tb__raft_leader(c.r[i]), (uint64_t)l);
	}
	/* followers refuse proposals */
	int f = l % 3 + 1;
	CU_ASSERT_EQUAL(tb__raft_propose(c.r[f], "z", 1, NULL), TB_RAFT_ENOTLEADER);
	cl_free(&c);
}

static void test_check_quorum_and_prevote(void)
{
	cl_t c;
	cl_init(&c, 3, 0);
	cl_tick(&c, 30);
	int l = cl_leader(&c);
	CU_ASSERT_FATAL(l != 0);
	uint64_t term = tb__raft_term(c.r[l]);
	/* an isolated follower cannot raise its term: pre-vote fails */
	int f = l % 3 + 1;
	isolate(&c, f, 1);
	cl_tick(&c, 60);
	CU_ASSERT_EQUAL(tb__raft_term(c.r[f]), term);
	CU_ASSERT(tb__raft_since_leader(c.r[f]) >= 60);
	isolate(&c, f, 0);
	cl_tick(&c, 5);
	CU_ASSERT_EQUAL(cl_leader(&c), l);
	CU_ASSERT_EQUAL(tb__raft_term(c.r[l]), term);
	CU_ASSERT(tb__raft_since_leader(c.r[l % 3 + 1]) <= 2);
	/* an isolated leader steps down (check-quorum) and the others elect */
	isolate(&c, l, 1);
	cl_tick(&c, 40);
	CU_ASSERT_NOT_EQUAL(tb__raft_role(c.r[l]), TB_RAFT_LEADER);
	int nl = cl_leader(&c);
	CU_ASSERT(nl != 0 && nl != l);
	cl_free(&c);
}

static void test_read_index(void)
{
	cl_t c;
	cl_init(&c, 3, 0);
	cl_tick(&c, 30);
	int l = cl_leader(&c);
	CU_ASSERT_FATAL(l != 0);
	cl_settle(&c);
	/* without a heartbeat quorum no read is served */
	isolate(&c, l, 1);
	CU_ASSERT_EQUAL(tb__raft_read_index(c.r[l], 5), 0);
	cl_round(&c);
	cl_round(&c);
	CU_ASSERT_NOT_EQUAL(c.last_read_ctx[l], 5);
	isolate(&c, l, 0);
	cl_tick(&c, 2);
	cl_settle(&c);
	CU_ASSERT_EQUAL(c.last_read_ctx[l], 5);
	CU_ASSERT_EQUAL(c.last_read_index[l], tb__raft_commit(c.r[l]));
	/* a follower's read goes through the leader */
	int f = l % 3 + 1;
	CU_ASSERT_EQUAL(tb__raft_read_index(c.r[f], 6), 0);
	cl_settle(&c);
	cl_tick(&c, 2);
	CU_ASSERT_EQUAL(c.last_read_ctx[f], 6);
	CU_ASSERT(c.last_read_index[f] > 0);
	cl_free(&c);
}

static void test_lease_read(void)
{
	cl_t c;
	cl_init(&c, 3, 1);
	cl_tick(&c, 30);
	int l = cl_leader(&c);
	CU_ASSERT_FATAL(l != 0);
	cl_tick(&c, 2);
	/* fresh lease: served at once even while cut off */
	isolate(&c, l, 1);
	CU_ASSERT_EQUAL(tb__raft_read_index(c.r[l], 9), 0);
	cl_round(&c);
	CU_ASSERT_EQUAL(c.last_read_ctx[l], 9);
	/* the lease runs out before anyone else could be elected */
	for (int t = 0; t < 9; t++)
		tb__raft_tick(c.r[l]);
	cl_round(&c);
	if (tb__raft_role(c.r[l]) == TB_RAFT_LEADER) {
		CU_ASSERT_EQUAL(tb__raft_read_index(c.r[l], 10), 0);
		cl_round(&c);
		CU_ASSERT_NOT_EQUAL(c.last_read_ctx[l], 10);
	}
	cl_free(&c);
}

static void test_transfer(void)
{
	cl_t c;
	cl_init(&c, 3, 0);
	cl_tick(&c, 30);
	int l = cl_leader(&c);
	CU_ASSERT_FATAL(l != 0);
	int to = l % 3 + 1;
	CU_ASSERT_EQUAL(tb__raft_transfer(c.r[l], (uint64_t)to), 0);
	CU_ASSERT_EQUAL(tb__raft_propose(c.r[l], "x", 1, NULL), TB_RAFT_EBUSY);
	cl_settle(&c);
	CU_ASSERT_EQUAL(cl_leader(&c), to);
	CU_ASSERT_EQUAL(tb__raft_transfer(c.r[l], (uint64_t)l), TB_RAFT_ENOTLEADER);
	cl_free(&c);
}

static void test_snapshot_learner(void)
{
	cl_t c;
	cl_init(&c, 3, 0);
	cl_tick(&c, 30);
	int l = cl_leader(&c);
	CU_ASSERT_FATAL(l != 0);
	for (int k = 0; k < 5; k++) {
		for (int i = 0; i < 10; i++)
			tb__raft_propose(c.r[l], "value", 5, NULL);
		cl_settle(&c);
	}
	CU_ASSERT(tb__raft_snap_index(c.r[l]) > 0);
	CU_ASSERT(tb__raft_first_index(c.r[l]) > 1); /* compacted */
	/* a new server joins as a learner and gets the snapshot in chunks */
	tb__raft_opts_t o = opts(4);
	tb__raft_snap_meta_t sm;
	memset(&sm, 0, sizeof(sm));
	tb__raft_hard_t hs = {0, 0};
	c.r[4] = tb__raft_new(&o, &hs, &sm, NULL, 0, NULL, 0);
	CU_ASSERT_EQUAL(tb__raft_add_learner(c.r[l], 4), 0);
	CU_ASSERT_EQUAL(tb__raft_promote(c.r[l], 4), TB_RAFT_EBUSY); /* change still pending */
	cl_settle(&c);
	cl_tick(&c, 3);
	CU_ASSERT_EQUAL(c.installs[4], 1);
	CU_ASSERT_EQUAL(tb__raft_role(c.r[4]), TB_RAFT_FOLLOWER);
	CU_ASSERT_EQUAL(tb__raft_last_index(c.r[4]), tb__raft_last_index(c.r[l]));
	/* learners do not count: conf has 3 voters + 1 learner */
	CU_ASSERT_EQUAL(tb__raft_conf(c.r[l])->n, 4);
	CU_ASSERT_EQUAL(tb__raft_promote(c.r[l], 4), 0);
	cl_settle(&c);
	const tb__raft_conf_t *cf = tb__raft_conf(c.r[4]);
	int s = tb__raft_conf_find(cf, 4);
	CU_ASSERT(s >= 0 && cf->s[s].voter == 1);
	/* and a voter can be removed */
	int f = l % 3 + 1;
	CU_ASSERT_EQUAL(tb__raft_remove(c.r[l], (uint64_t)f), 0);
	cl_settle(&c);
	CU_ASSERT_EQUAL(tb__raft_conf_find(tb__raft_conf(c.r[l]), (uint64_t)f), -1);
	tb__raft_propose(c.r[l], "after", 5, NULL);
	cl_settle(&c);
	CU_ASSERT_EQUAL(c.applied_normal[4] + 0 > 0, 1);
	cl_free(&c);
}

static void test_fast_backtracking(void)
{
	cl_t c;
	cl_init(&c, 3, 0);
	for (int i = 1; i <= 3; i++) {
		tb__raft_free(c.r[i]);
		tb__raft_opts_t o = opts((uint64_t)i);
		o.snap_threshold = 0;
		o.max_batch = 16;
		tb__raft_snap_meta_t sm;
		memset(&sm, 0, sizeof(sm));
		sm.conf.n = 3;
		for (uint32_t k = 0; k < 3; k++) {
			sm.conf.s[k].id = k + 1;
			sm.conf.s[k].voter = 1;
		}
		tb__raft_hard_t hs = {0, 0};
		c.r[i] = tb__raft_new(&o, &hs, &sm, NULL, 0, NULL, 0);
	}
	cl_tick(&c, 30);
	int l = cl_leader(&c);
	CU_ASSERT_FATAL(l != 0);
	/* the old leader, cut off, appends 200 entries that never commit */
	isolate(&c, l, 1);
	for (int i = 0; i < 200; i++)
		tb__raft_propose(c.r[l], "stale", 5, NULL);
	cl_settle(&c);
	cl_tick(&c, 40);
	int l2 = cl_leader(&c);
	CU_ASSERT_FATAL(l2 != 0 && l2 != l);
	for (int k = 0; k < 10; k++) {
		for (int i = 0; i < 30; i++)
			tb__raft_propose(c.r[l2], "fresh", 5, NULL);
		cl_settle(&c);
	}
	/* a third leader, whose view of the old one starts at its log's end */
	int l3 = 6 - l - l2;
	CU_ASSERT_EQUAL(tb__raft_transfer(c.r[l2], (uint64_t)l3), 0);
	cl_settle(&c);
	CU_ASSERT_EQUAL_FATAL(cl_leader(&c), l3);
	l2 = l3;
	/* heal: the old leader's divergent tail is found with a handful of
	 * rejections (conflict hints skip the whole stale term), not ~300 */
	c.rejects = 0;
	isolate(&c, l, 0);
	cl_tick(&c, 6);
	cl_settle(&c);
	CU_ASSERT(c.rejects >= 1 && c.rejects <= 3);
	CU_ASSERT_EQUAL(tb__raft_last_index(c.r[l]), tb__raft_last_index(c.r[l2]));
	CU_ASSERT_EQUAL(tb__raft_commit(c.r[l]), tb__raft_commit(c.r[l2]));
	/* and its log is now the leader's, entry for entry */
	unsigned same = 0;
	for (uint64_t i = 1; i <= tb__raft_last_index(c.r[l2]); i++) {
		const tb__raft_entry_t *a = tb__raft_entry(c.r[l], i), *b = tb__raft_entry(c.r[l2], i);
		same += a && b && a->term == b->term && a->len == b->len &&
			(a->len == 0 || !memcmp(a->data, b->data, a->len)); /* no-op entries have no data */
	}
	CU_ASSERT_EQUAL(same, tb__raft_last_index(c.r[l2]));
	cl_free(&c);
}

static void deliver(tb__raft_t *r, uint8_t type, uint64_t from, uint64_t term, uint64_t index)
{
	tb__raft_msg_t m;
	memset(&m, 0, sizeof(m));
	m.type = type;
	m.from = from;
	m.to = tb__raft_id(r);
	m.term = term;
	m.index = index;
	CU_ASSERT_EQUAL(tb__raft_step(r, &m), 0);
}

/* Figure 8 of the Raft paper: a leader of term 4 must not commit the
 * term-2 entry it finds on a majority; only its own no-op does that. */
static void test_commit_rule_figure8(void)
{
	tb__raft_opts_t o = opts(1);
	tb__raft_snap_meta_t sm;
	memset(&sm, 0, sizeof(sm));
	sm.conf.n = 5;
	for (uint32_t k = 0; k < 5; k++) {
		sm.conf.s[k].id = k + 1;
		sm.conf.s[k].voter = 1;
	}
	tb__raft_entry_t log[2] = {{1, 1, TB_RAFT_ENTRY_NORMAL, (const uint8_t *)"a", 1},
	                           {2, 2, TB_RAFT_ENTRY_NORMAL, (const uint8_t *)"b", 1}};
	tb__raft_hard_t hs = {3, 0};
	tb__raft_t *r = tb__raft_new(&o, &hs, &sm, NULL, 0, log, 2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	for (int i = 0; i < 25 && tb__raft_role(r) == TB_RAFT_FOLLOWER; i++)
		tb__raft_tick(r);
	CU_ASSERT_EQUAL_FATAL(tb__raft_role(r), TB_RAFT_PRECANDIDATE);
	deliver(r, TB_RAFT_MSG_PREVOTE_RESP, 2, 4, 0);
	deliver(r, TB_RAFT_MSG_PREVOTE_RESP, 3, 4, 0);
	CU_ASSERT_EQUAL_FATAL(tb__raft_role(r), TB_RAFT_CANDIDATE);
	CU_ASSERT_EQUAL(tb__raft_term(r), 4);
	deliver(r, TB_RAFT_MSG_VOTE_RESP, 2, 4, 0);
	deliver(r, TB_RAFT_MSG_VOTE_RESP, 3, 4, 0);
	CU_ASSERT_EQUAL_FATAL(tb__raft_role(r), TB_RAFT_LEADER);
	CU_ASSERT_EQUAL(tb__raft_last_index(r), 3); /* the no-op */
	tb__raft_ready_t rd;
	while (tb__raft_ready(r, &rd))
		tb__raft_advance(r);
	/* servers 2 and 3 hold index 2 (term 2): a majority with the leader */
	deliver(r, TB_RAFT_MSG_APP_RESP, 2, 4, 2);
	deliver(r, TB_RAFT_MSG_APP_RESP, 3, 4, 2);
	CU_ASSERT_EQUAL(tb__raft_commit(r), 0);
	/* once the no-op is on a majority, everything up to it commits */
	deliver(r, TB_RAFT_MSG_APP_RESP, 2, 4, 3);
	CU_ASSERT_EQUAL(tb__raft_commit(r), 0);
	deliver(r, TB_RAFT_MSG_APP_RESP, 3, 4, 3);
	CU_ASSERT_EQUAL(tb__raft_commit(r), 3);
	tb__raft_free(r);
}

/* A vote is persisted before it is sent, even without a term change. */
static void test_vote_persisted(void)
{
	tb__raft_opts_t o = opts(1);
	tb__raft_snap_meta_t sm;
	memset(&sm, 0, sizeof(sm));
	sm.conf.n = 3;
	for (uint32_t k = 0; k < 3; k++) {
		sm.conf.s[k].id = k + 1;
		sm.conf.s[k].voter = 1;
	}
	tb__raft_hard_t hs = {5, 0};
	tb__raft_t *r = tb__raft_new(&o, &hs, &sm, NULL, 0, NULL, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	tb__raft_msg_t m;
	memset(&m, 0, sizeof(m));
	m.type = TB_RAFT_MSG_VOTE;
	m.from = 2;
	m.to = 1;
	m.term = 5;
	CU_ASSERT_EQUAL(tb__raft_step(r, &m), 0);
	tb__raft_ready_t rd;
	CU_ASSERT_EQUAL_FATAL(tb__raft_ready(r, &rd), 1);
	CU_ASSERT_EQUAL(rd.hard_changed, 1);
	CU_ASSERT_EQUAL(rd.hard.term, 5);
	CU_ASSERT_EQUAL(rd.hard.vote, 2);
	CU_ASSERT_EQUAL_FATAL(rd.n_msgs, 1);
	CU_ASSERT_EQUAL(rd.msgs[0].type, TB_RAFT_MSG_VOTE_RESP);
	CU_ASSERT_EQUAL(rd.msgs[0].reject, 0);
	CU_ASSERT_EQUAL(rd.n_early, 0); /* only after the fsync */
	tb__raft_advance(r);
	/* the same term, another candidate: refused */
	m.from = 3;
	CU_ASSERT_EQUAL(tb__raft_step(r, &m), 0);
	CU_ASSERT_EQUAL_FATAL(tb__raft_ready(r, &rd), 1);
	CU_ASSERT_EQUAL(rd.msgs[0].reject, 1);
	tb__raft_advance(r);
	tb__raft_free(r);
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("raft", NULL, NULL);
	CU_add_test(s, "single node commits and reads", test_single_node);
	CU_add_test(s, "replication with group commit", test_replication);
	CU_add_test(s, "check-quorum and pre-vote", test_check_quorum_and_prevote);
	CU_add_test(s, "ReadIndex needs a heartbeat quorum", test_read_index);
	CU_add_test(s, "lease read", test_lease_read);
	CU_add_test(s, "leadership transfer", test_transfer);
	CU_add_test(s, "snapshot to a learner, promote, remove", test_snapshot_learner);
	CU_add_test(s, "fast backtracking over a divergent tail", test_fast_backtracking);
	CU_add_test(s, "commit rule (Figure 8)", test_commit_rule_figure8);
	CU_add_test(s, "votes are persisted before they are sent", test_vote_persisted);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned f = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return f ? 1 : 0;
}
