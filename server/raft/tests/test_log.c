/* server/raft/tests/test_log.c - CUnit tests of the segment log, the hard
 * state and snapshot files: round trips, torn tails, bit flips, gaps,
 * truncation, compaction, atomic replacement. */
#include <CUnit/Basic.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "raft/log.h"

static char dir[256];

static void rm_rf(const char *d)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", d);
}

static void fresh(void)
{
	static int n;
	snprintf(dir, sizeof(dir), "/tmp/tb-raftlog-%d-%d", (int)getpid(), n++);
	rm_rf(dir);
}

static void mkent(tb__raft_entry_t *e, uint64_t i, uint64_t t, char *buf)
{
	int n = snprintf(buf, 64, "entry-%" PRIu64 "-term-%" PRIu64, i, t);
	e->index = i;
	e->term = t;
	e->type = TB_RAFT_ENTRY_NORMAL;
	e->data = (const uint8_t *)buf;
	e->len = (uint32_t)n;
}

/* writes entries [from, to] in term t, in batches of 7, synced */
static void write_range(tb__raft_log_t *l, uint64_t from, uint64_t to, uint64_t t)
{
	char bufs[7][64];
	tb__raft_entry_t e[7];
	for (uint64_t i = from; i <= to;) {
		size_t n = 0;
		for (; n < 7 && i <= to; n++, i++)
			mkent(&e[n], i, t, bufs[n]);
		CU_ASSERT_EQUAL_FATAL(tb__raft_log_append(l, e, n), 0);
	}
	CU_ASSERT_EQUAL_FATAL(tb__raft_log_sync(l), 0);
}

static void check_entries(tb__raft_log_t *l, uint64_t first, uint64_t last, uint64_t t_from, uint64_t t)
{
	size_t n;
	const tb__raft_entry_t *e = tb__raft_log_entries(l, &n);
	CU_ASSERT_EQUAL_FATAL(n, last - first + 1);
	for (size_t k = 0; k < n; k++) {
		char buf[64];
		tb__raft_entry_t x;
		uint64_t i = first + k;
		mkent(&x, i, i >= t_from ? t : 1, buf);
		CU_ASSERT_EQUAL(e[k].index, i);
		CU_ASSERT_EQUAL(e[k].term, x.term);
		CU_ASSERT_EQUAL(e[k].len, x.len);
		CU_ASSERT(e[k].len == x.len && memcmp(e[k].data, x.data, x.len) == 0);
	}
}

static char *newest_segment(void)
{
	static char path[512];
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "ls %s/seg-*.log | tail -1", dir);
	FILE *p = popen(cmd, "r");
	path[0] = 0;
	if (p) {
		if (!fgets(path, sizeof(path), p))
			path[0] = 0;
		pclose(p);
	}
	path[strcspn(path, "\n")] = 0;
	return path;
}

static char *nth_segment(int k)
{
	static char path[512];
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "ls %s/seg-*.log | sed -n %dp", dir, k);
	FILE *p = popen(cmd, "r");
	path[0] = 0;
	if (p) {
		if (!fgets(path, sizeof(path), p))
			path[0] = 0;
		pclose(p);
	}
	path[strcspn(path, "\n")] = 0;
	return path;
}

static off_t fsize(const char *p)
{
	struct stat st;
	return stat(p, &st) ? -1 : st.st_size;
}

static void flip(const char *p, off_t off)
{
	int fd = open(p, O_RDWR);
	CU_ASSERT_FATAL(fd >= 0);
	uint8_t b;
	CU_ASSERT_EQUAL(pread(fd, &b, 1, off), 1);
	b ^= 0x10;
	CU_ASSERT_EQUAL(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

static void test_roundtrip(void)
{
	fresh();
	tb__raft_log_t *l;
	tb__raft_log_report_t rep;
	CU_ASSERT_EQUAL_FATAL(tb__raft_log_open(dir, 0, 512, &l, &rep), 0);
	write_range(l, 1, 100, 1);
	CU_ASSERT_EQUAL(tb__raft_log_last(l), 100);
	tb__raft_log_close(l);
	CU_ASSERT_EQUAL_FATAL(tb__raft_log_open(dir, 0, 512, &l, &rep), 0);
	CU_ASSERT_EQUAL(rep.status, TB_RAFT_LOG_CLEAN);
	CU_ASSERT_EQUAL(tb__raft_log_first(l), 1);
	CU_ASSERT_EQUAL(tb__raft_log_last(l), 100);
	check_entries(l, 1, 100, 1000, 1);
	CU_ASSERT(nth_segment(3)[0] != 0); /* small segments: several files */
	/* appending after a reopen continues the same log */
	write_range(l, 101, 120, 1);
	tb__raft_log_close(l);
	CU_ASSERT_EQUAL_FATAL(tb__raft_log_open(dir, 0, 512, &l, &rep), 0);
	check_entries(l, 1, 120, 1000, 1);
	tb__raft_log_close(l);
	rm_rf(dir);
}

static void test_torn_tail(void)
{
	fresh();
	tb__raft_log_t *l;
	tb__raft_log_report_t rep;
	CU_ASSERT_EQUAL_FATAL(tb__raft_log_open(dir, 0, 512, &l, &rep), 0);
	write_range(l, 1, 50, 1);
	tb__raft_log_close(l);
	/* cut the newest segment in the middle of its last record */
	char *seg = newest_segment();
	off_t sz = fsize(seg);
	CU_ASSERT_EQUAL_FATAL(truncate(seg, sz - 5), 0);
	CU_ASSERT_EQUAL_FATAL(tb__raft_log_open(dir, 0, 512, &l, &rep), 0);
	CU_ASSERT_EQUAL(rep.status, TB_RAFT_LOG_TORN);
	CU_ASSERT_STRING_EQUAL(rep.file, seg);
	CU_ASSERT(rep.offset > 0 && (off_t)rep.offset < sz - 5);
	check_entries(l, 1, 49, 1000, 1);
	/* the torn bytes are gone from disk; appending 50 again works */
	CU_ASSERT_EQUAL(fsize(seg), (off_t)rep.offset);
	write_range(l, 50, 60, 1);
	tb__raft_log_close(l);
	CU_ASSERT_EQUAL_FATAL(tb__raft_log_open(dir, 0, 512, &l, &rep), 0);
	CU_ASSERT_EQUAL(rep.status, TB_RAFT_LOG_CLEAN);
	check_entries(l, 1, 60, 1000, 1);
	tb__raft_log_close(l);

	/* a bit flip in the very last record is a torn write too */
	seg = newest_segment();
	flip(seg, fsize(seg) - 3);
	CU_ASSERT_EQUAL_FATAL(tb__raft_log_open(dir, 0, 512, &l, &rep), 0);
	CU_ASSERT_EQUAL(rep.status, TB_RAFT_LOG_TORN);
	check_entries(l, 1, 59, 1000, 1);
	tb__raft_log_close(l);
	rm_rf(dir);
}

static void test_corruption(void)
{
	fresh();
	tb__raft_log_t *l;
	tb__raft_log_report_t rep;
	CU_ASSERT_EQUAL_FATAL(tb__raft_log_open(dir, 0, 4096, &l, &rep), 0);
	write_range(l, 1, 40, 1);
	tb__raft_log_close(l);
	/* flip a byte inside record 10's data: valid records follow it */
	char seg[512];
	snprintf(seg, sizeof(seg), "%s", nth_segment(1));
	off_t off = 16;
	for (int i = 1; i < 10; i++) {
		char b[64];
		tb__raft_entry_t e;
		mkent(&e, (uint64_t)i, 1, b);
		off += 8 + 17 + e.len;
	}
	flip(seg, off + 8 + 17 + 2);
	CU_ASSERT_EQUAL(tb__raft_log_open(dir, 0, 4096, &l, &rep), -1);
	CU_ASSERT_PTR_NULL(l);
	CU_ASSERT_EQUAL(rep.status, TB_RAFT_LOG_CORRUPT);
	CU_ASSERT_STRING_EQUAL(rep.file, seg);
	CU_ASSERT_EQUAL(rep.offset, (uint64_t)off);
	CU_ASSERT(strstr(rep.msg, "checksum") != NULL);
	/* with repair the valid prefix survives; the damaged entry never comes back */
	CU_ASSERT_EQUAL_FATAL(tb__raft_log_open(dir, TB_RAFT_LOG_REPAIR, 4096, &l, &rep), 0);
	CU_ASSERT_EQUAL(rep.status, TB_RAFT_LOG_CORRUPT);
	check_entries(l, 1, 9, 1000, 1);
	tb__raft_log_close(l);
	CU_ASSERT_EQUAL_FATAL(tb__raft_log_open(dir, 0, 4096, &l, &rep), 0);
	CU_ASSERT_EQUAL(rep.status, TB_RAFT_LOG_CLEAN);
	check_entries(l, 1, 9, 1000, 1);
	tb__raft_log_close(l);
	rm_rf(dir);

	/* a missing middle segment is a gap: refused */
	fresh();
	CU_ASSERT_EQUAL_FATAL(tb__raft_log_open(dir, 0, 512, &l, &rep), 0);
	write_range(l, 1, 100, 1);
	tb__raft_log_close(l);
	CU_ASSERT_EQUAL(unlink(nth_segment(2)), 0);
	CU_ASSERT_EQUAL(tb__raft_log_open(dir, 0, 512, &l, &rep), -1);
	CU_ASSERT_EQUAL(rep.status, TB_RAFT_LOG_CORRUPT);
	CU_ASSERT(strstr(rep.msg, "gap") != NULL);
	rm_rf(dir);
}

static void test_truncate_compact(void)
{
	fresh();
	tb__raft_log_t *l;
	tb__raft_log_report_t rep;
	CU_ASSERT_EQUAL_FATAL(tb__raft_log_open(dir, 0, 512, &l, &rep), 0);
	write_range(l, 1, 100, 1);
	/* a new leader overwrites 41.. with term 2 entries */
	write_range(l, 41, 70, 2);
	CU_ASSERT_EQUAL(tb__raft_log_last(l), 70);
	tb__raft_log_close(l);
	CU_ASSERT_EQUAL_FATAL(tb__raft_log_open(dir, 0, 512, &l, &rep), 0);
	CU_ASSERT_EQUAL(rep.status, TB_RAFT_LOG_CLEAN);
	check_entries(l, 1, 70, 41, 2);
	/* compaction removes whole segments only */
	CU_ASSERT_EQUAL(tb__raft_log_compact(l, 50), 0);
	CU_ASSERT_EQUAL(tb__raft_log_sync(l), 0);
	uint64_t f = tb__raft_log_first(l);
	CU_ASSERT(f > 1 && f <= 50);
	tb__raft_log_close(l);
	CU_ASSERT_EQUAL_FATAL(tb__raft_log_open(dir, 0, 512, &l, &rep), 0);
	CU_ASSERT_EQUAL(tb__raft_log_first(l), f);
	check_entries(l, f, 70, 41, 2);
	/* reset (snapshot install) then a log that starts anywhere */
	CU_ASSERT_EQUAL(tb__raft_log_reset(l), 0);
	write_range(l, 500, 510, 3);
	tb__raft_log_close(l);
	CU_ASSERT_EQUAL_FATAL(tb__raft_log_open(dir, 0, 512, &l, &rep), 0);
	CU_ASSERT_EQUAL(tb__raft_log_first(l), 500);
	check_entries(l, 500, 510, 0, 3);
	tb__raft_log_close(l);
	rm_rf(dir);
}

static void test_hard_state(void)
{
	fresh();
	CU_ASSERT_EQUAL(mkdir(dir, 0700), 0);
	tb__raft_hard_t hs = {7, 3}, got;
	tb__raft_log_report_t rep;
	memset(&rep, 0, sizeof(rep));
	CU_ASSERT_EQUAL(tb__raft_hard_load(dir, &got, &rep), 0);
	CU_ASSERT_EQUAL(got.term, 0);
	CU_ASSERT_EQUAL(tb__raft_hard_save(dir, &hs), 0);
	hs.term = 8;
	hs.vote = 0;
	CU_ASSERT_EQUAL(tb__raft_hard_save(dir, &hs), 0);
	CU_ASSERT_EQUAL(tb__raft_hard_load(dir, &got, &rep), 0);
	CU_ASSERT_EQUAL(got.term, 8);
	CU_ASSERT_EQUAL(got.vote, 0);
	char p[300];
	snprintf(p, sizeof(p), "%s/hardstate", dir);
	flip(p, 6);
	CU_ASSERT_EQUAL(tb__raft_hard_load(dir, &got, &rep), -1);
	CU_ASSERT_EQUAL(rep.status, TB_RAFT_LOG_CORRUPT);
	rm_rf(dir);
}

static void test_snapshots(void)
{
	fresh();
	CU_ASSERT_EQUAL(mkdir(dir, 0700), 0);
	tb__raft_snap_meta_t m, got;
	memset(&m, 0, sizeof(m));
	m.conf.n = 2;
	m.conf.s[0].id = 1;
	m.conf.s[0].voter = 1;
	m.conf.s[1].id = 9;
	uint8_t *data;
	size_t len;
	tb__raft_log_report_t rep;
	memset(&rep, 0, sizeof(rep));
	CU_ASSERT_EQUAL(tb__raft_snap_load(dir, &got, &data, &len, &rep), 0);
	for (uint64_t i = 1; i <= 3; i++) {
		char buf[32];
		m.index = i * 100;
		m.term = i;
		int n = snprintf(buf, sizeof(buf), "state at %" PRIu64, m.index);
		CU_ASSERT_EQUAL(tb__raft_snap_save(dir, &m, buf, (size_t)n), 0);
	}
	CU_ASSERT_EQUAL(tb__raft_snap_load(dir, &got, &data, &len, &rep), 1);
	CU_ASSERT_EQUAL(got.index, 300);
	CU_ASSERT_EQUAL(got.term, 3);
	CU_ASSERT_EQUAL(got.conf.n, 2);
	CU_ASSERT_EQUAL(got.conf.s[1].id, 9);
	CU_ASSERT_EQUAL(got.conf.s[1].voter, 0);
	CU_ASSERT(len == 12 && memcmp(data, "state at 300", 12) == 0);
	free(data);
	/* only the two newest are kept */
	char p[400];
	snprintf(p, sizeof(p), "%s/snap-%020d-%020d.snap", dir, 100, 1);
	CU_ASSERT_EQUAL(access(p, F_OK), -1);
	/* damage the newest: the loader reports it and falls back */
	snprintf(p, sizeof(p), "%s/snap-%020d-%020d.snap", dir, 300, 3);
	flip(p, fsize(p) - 8);
	CU_ASSERT_EQUAL(tb__raft_snap_load(dir, &got, &data, &len, &rep), 1);
	CU_ASSERT_EQUAL(got.index, 200);
	CU_ASSERT_EQUAL(rep.status, TB_RAFT_LOG_CORRUPT);
	CU_ASSERT_STRING_EQUAL(rep.file, p);
	free(data);
	/* a truncated file is refused too */
	snprintf(p, sizeof(p), "%s/snap-%020d-%020d.snap", dir, 200, 2);
	CU_ASSERT_EQUAL(truncate(p, 30), 0);
	CU_ASSERT_EQUAL(tb__raft_snap_load(dir, &got, &data, &len, &rep), 0);
	CU_ASSERT_EQUAL(got.index, 0);
	rm_rf(dir);
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("raft-log", NULL, NULL);
	CU_add_test(s, "append, close, reopen", test_roundtrip);
	CU_add_test(s, "torn tail is cut and reported", test_torn_tail);
	CU_add_test(s, "corruption is refused or repaired", test_corruption);
	CU_add_test(s, "truncate, compact, reset", test_truncate_compact);
	CU_add_test(s, "hard state atomic file", test_hard_state);
	CU_add_test(s, "snapshot files", test_snapshots);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned f = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return f ? 1 : 0;
}
