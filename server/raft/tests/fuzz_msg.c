/* server/raft/tests/fuzz_msg.c - libFuzzer target: arbitrary bytes through
 * the wire decoder; whatever decodes is stepped into a fresh follower and a
 * fresh leader-elect node, whose output batch is then drained. Built by
 * `make fuzz-raft` (clang, ASan + UBSan). */
#include <stdint.h>
#include <string.h>

#include "raft/raft.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void drive(const tb__raft_msg_t *m, int lead)
{
	tb__raft_opts_t o;
	tb__raft_opts_default(&o);
	o.id = 1;
	o.snap_chunk = 4;
	tb__raft_snap_meta_t sm;
	memset(&sm, 0, sizeof(sm));
	sm.conf.n = 3;
	/* as leader: the only voter, with two learners whose (fuzzed)
	 * answers reach the leader's code paths */
	for (uint32_t i = 0; i < 3; i++) {
		sm.conf.s[i].id = i + 1;
		sm.conf.s[i].voter = !lead || i == 0;
	}
	tb__raft_hard_t hs = {1, 0};
	tb__raft_t *r = tb__raft_new(&o, &hs, &sm, NULL, 0, NULL, 0);
	if (!r)
		return;
	tb__raft_ready_t rd;
	if (lead) {
		for (int i = 0; i < 40; i++)
			tb__raft_tick(r);
		for (int i = 0; i < 3 && tb__raft_ready(r, &rd); i++)
			tb__raft_advance(r);
		tb__raft_propose(r, "x", 1, NULL);
		tb__raft_read_index(r, 1);
	}
	tb__raft_msg_t mm = *m;
	mm.to = 1;
	mm.term = m->term ? m->term : 1;
	tb__raft_step(r, &mm);
	for (int i = 0; i < 3 && tb__raft_ready(r, &rd); i++)
		tb__raft_advance(r);
	tb__raft_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tb__raft_msg_t m;
	if (tb__raft_msg_decode(data, size, &m))
		return 0;
	/* a decoded frame re-encodes to the same bytes */
	uint8_t buf[4096];
	if (size <= sizeof(buf)) {
		size_t n = tb__raft_msg_encode(&m, buf, sizeof(buf));
		if (n != size || memcmp(buf, data, size))
			__builtin_trap();
	}
	drive(&m, 0);
	drive(&m, 1);
	tb__raft_msg_release(&m);
	return 0;
}
