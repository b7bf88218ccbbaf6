/* server/raft/tests/test_codec.c - CUnit tests of the Raft wire codec and
 * CRC32C: round trips of every message kind, rejection of truncated,
 * extended and malformed frames, and bit flips that must never crash. */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include "raft/raft.h"

static tb__raft_entry_t ents[3];
static const char *payload[3] = {"alpha", "", "gamma-gamma"};

static void sample_app(tb__raft_msg_t *m)
{
	memset(m, 0, sizeof(*m));
	m->type = TB_RAFT_MSG_APP;
	m->from = 1;
	m->to = 2;
	m->term = 5;
	m->index = 10;
	m->log_term = 4;
	m->commit = 9;
	for (int i = 0; i < 3; i++) {
		ents[i].index = 11 + (uint64_t)i;
		ents[i].term = i ? 5 : 4;
		ents[i].type = i == 1 ? TB_RAFT_ENTRY_NOOP : TB_RAFT_ENTRY_NORMAL;
		ents[i].data = (const uint8_t *)payload[i];
		ents[i].len = (uint32_t)strlen(payload[i]);
	}
	m->entries = ents;
	m->n_entries = 3;
}

static void sample_snap(tb__raft_msg_t *m)
{
	static const uint8_t chunk[] = "0123456789";
	memset(m, 0, sizeof(*m));
	m->type = TB_RAFT_MSG_SNAP;
	m->from = 3;
	m->to = 1;
	m->term = 8;
	m->snap_index = 500;
	m->snap_term = 7;
	m->offset = 20;
	m->total = 30;
	m->done = 1;
	m->conf.n = 2;
	m->conf.s[0].id = 3;
	m->conf.s[0].voter = 1;
	m->conf.s[1].id = 77;
	m->data = chunk;
	m->len = 10;
}

static uint8_t *enc(const tb__raft_msg_t *m, size_t *len)
{
	*len = tb__raft_msg_size(m);
	uint8_t *b = malloc(*len);
	CU_ASSERT_EQUAL(tb__raft_msg_encode(m, b, *len), *len);
	return b;
}

static void test_roundtrip(void)
{
	tb__raft_msg_t m, d;
	size_t len;
	sample_app(&m);
	uint8_t *b = enc(&m, &len);
	CU_ASSERT_EQUAL_FATAL(tb__raft_msg_decode(b, len, &d), 0);
	CU_ASSERT_EQUAL(d.type, TB_RAFT_MSG_APP);
	CU_ASSERT_EQUAL(d.term, 5);
	CU_ASSERT_EQUAL(d.index, 10);
	CU_ASSERT_EQUAL(d.log_term, 4);
	CU_ASSERT_EQUAL(d.commit, 9);
	CU_ASSERT_EQUAL_FATAL(d.n_entries, 3);
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(d.entries[i].index, ents[i].index);
		CU_ASSERT_EQUAL(d.entries[i].term, ents[i].term);
		CU_ASSERT_EQUAL(d.entries[i].type, ents[i].type);
		CU_ASSERT_EQUAL(d.entries[i].len, ents[i].len);
		if (ents[i].len)
			CU_ASSERT(memcmp(d.entries[i].data, ents[i].data, ents[i].len) == 0);
	}
	tb__raft_msg_release(&d);
	free(b);

	sample_snap(&m);
	b = enc(&m, &len);
	CU_ASSERT_EQUAL_FATAL(tb__raft_msg_decode(b, len, &d), 0);
	CU_ASSERT_EQUAL(d.snap_index, 500);
	CU_ASSERT_EQUAL(d.snap_term, 7);
	CU_ASSERT_EQUAL(d.offset, 20);
	CU_ASSERT_EQUAL(d.total, 30);
	CU_ASSERT_EQUAL(d.done, 1);
	CU_ASSERT_EQUAL(d.conf.n, 2);
	CU_ASSERT_EQUAL(d.conf.s[1].id, 77);
	CU_ASSERT_EQUAL(d.conf.s[1].voter, 0);
	CU_ASSERT(d.len == 10 && memcmp(d.data, "0123456789", 10) == 0);
	tb__raft_msg_release(&d);
	free(b);

	/* every other type is header-only */
	for (uint8_t t = TB_RAFT_MSG_APP_RESP; t <= TB_RAFT_MSG_TYPE_MAX; t++) {
		if (t == TB_RAFT_MSG_SNAP)
			continue;
		memset(&m, 0, sizeof(m));
		m.type = t;
		m.from = 9;
		m.to = 4;
		m.term = 3;
		m.reject = 1;
		m.hint_index = 42;
		m.hint_term = 2;
		m.ctx = 0xfeedULL;
		b = enc(&m, &len);
		CU_ASSERT_EQUAL(len, 4 + 72 + 4);
		CU_ASSERT_EQUAL_FATAL(tb__raft_msg_decode(b, len, &d), 0);
		CU_ASSERT_EQUAL(d.type, t);
		CU_ASSERT_EQUAL(d.reject, 1);
		CU_ASSERT_EQUAL(d.hint_index, 42);
		CU_ASSERT_EQUAL(d.ctx, 0xfeedULL);
		free(b);
	}
}

static void test_malformed(void)
{
	tb__raft_msg_t m, d;
	size_t len;
	sample_app(&m);
	uint8_t *b = enc(&m, &len);
	/* every truncation and an extra trailing byte are refused */
	for (size_t n = 0; n < len; n++)
		CU_ASSERT_EQUAL(tb__raft_msg_decode(b, n, &d), -1);
	uint8_t *x = malloc(len + 1);
	memcpy(x, b, len);
	x[len] = 0;
	CU_ASSERT_EQUAL(tb__raft_msg_decode(x, len + 1, &d), -1);
	free(x);
	/* wrong version, unknown type */
	b[0] = 2;
	CU_ASSERT_EQUAL(tb__raft_msg_decode(b, len, &d), -1);
	b[0] = TB_RAFT_WIRE_VERSION;
	b[1] = 99;
	CU_ASSERT_EQUAL(tb__raft_msg_decode(b, len, &d), -1);
	b[1] = TB_RAFT_MSG_APP;
	/* entry count larger than the frame */
	b[76] = 0xff;
	b[77] = 0xff;
	CU_ASSERT_EQUAL(tb__raft_msg_decode(b, len, &d), -1);
	free(b);
	/* entries that do not follow index */
	ents[1].index = 20;
	b = enc(&m, &len);
	CU_ASSERT_EQUAL(tb__raft_msg_decode(b, len, &d), -1);
	free(b);
	sample_app(&m);
	/* an entry from a later term than the message */
	ents[2].term = 6;
	b = enc(&m, &len);
	CU_ASSERT_EQUAL(tb__raft_msg_decode(b, len, &d), -1);
	free(b);
	/* snapshot chunk running past its total */
	sample_snap(&m);
	m.total = 25;
	b = enc(&m, &len);
	CU_ASSERT_EQUAL(tb__raft_msg_decode(b, len, &d), -1);
	free(b);
	/* a configuration listing a server twice */
	sample_snap(&m);
	m.conf.s[1].id = 3;
	b = enc(&m, &len);
	CU_ASSERT_EQUAL(tb__raft_msg_decode(b, len, &d), -1);
	free(b);
}

static void test_bitflips(void)
{
	tb__raft_msg_t m, d;
	size_t len;
	sample_snap(&m);
	uint8_t *s = enc(&m, &len);
	sample_app(&m);
	size_t alen;
	uint8_t *a = enc(&m, &alen);
	unsigned ok = 0;
	for (size_t i = 0; i < alen * 8; i++) {
		a[i / 8] ^= (uint8_t)(1u << (i % 8));
		if (tb__raft_msg_decode(a, alen, &d) == 0) {
			ok++;
			tb__raft_msg_release(&d);
		}
		a[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	for (size_t i = 0; i < len * 8; i++) {
		s[i / 8] ^= (uint8_t)(1u << (i % 8));
		if (tb__raft_msg_decode(s, len, &d) == 0)
			tb__raft_msg_release(&d);
		s[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	/* flips in ids and counters still decode: the codec is not a checksum */
	CU_ASSERT(ok > 0);
	free(a);
	free(s);
}

static void test_crc32c(void)
{
	/* RFC 3720 B.4 check value */
	CU_ASSERT_EQUAL(tb__crc32c(0, "123456789", 9), 0xe3069283u);
	uint8_t z[32] = {0};
	CU_ASSERT_EQUAL(tb__crc32c(0, z, 32), 0x8a9136aau);
	/* incremental == one shot */
	CU_ASSERT_EQUAL(tb__crc32c(tb__crc32c(0, "1234", 4), "56789", 5), 0xe3069283u);
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("raft-codec", NULL, NULL);
	CU_add_test(s, "round trips", test_roundtrip);
	CU_add_test(s, "malformed frames refused", test_malformed);
	CU_add_test(s, "bit flips do not crash", test_bitflips);
	CU_add_test(s, "crc32c check values", test_crc32c);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned f = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return f ? 1 : 0;
}
