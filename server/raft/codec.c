/* server/raft/codec.c - wire encoding of Raft messages, and CRC32C.
 *
 * Version 1, little-endian, fixed layout (every field always present, so a
 * frame is checked by arithmetic alone):
 *   u8 version, u8 type, u8 reject, u8 done,
 *   u64 from, to, term, index, log_term, commit, hint_index, hint_term, ctx,
 *   u32 n_entries, then per entry: u64 index, u64 term, u8 type, u32 len, data
 *   SNAP only: u64 snap_index, snap_term, offset, total,
 *              conf (u8 n, n x (u64 id, u8 voter)), u32 len, data
 * The decoder rejects anything that does not add up exactly: unknown version
 * or type, lengths past the end, trailing bytes, bad entry types, entries
 * that are not consecutive after `index`.
 */
#include <stdlib.h>
#include <string.h>

#include "raft/raft.h"
#include "raft/le.h"

#define HDR (4 + 9 * 8 + 4)
#define ENT_HDR (8 + 8 + 1 + 4)
#define MAX_ENTRIES (1u << 20)





size_t tb__raft_msg_size(const tb__raft_msg_t *m)
{
	size_t n = HDR;
	for (uint32_t i = 0; i < m->n_entries; i++)
		n += ENT_HDR + m->entries[i].len;
	if (m->type == TB_RAFT_MSG_SNAP)
		n += 32 + 1 + (size_t)m->conf.n * 9 + 4 + m->len;
	return n;
}

size_t tb__raft_msg_encode(const tb__raft_msg_t *m, uint8_t *buf, size_t cap)
{
	size_t need = tb__raft_msg_size(m);
	if (cap < need)
		return 0;
	uint8_t *p = buf;
	p[0] = TB_RAFT_WIRE_VERSION;
	p[1] = m->type;
	p[2] = m->reject;
	p[3] = m->done;
	p += 4;
	const uint64_t f[9] = {m->from, m->to, m->term, m->index, m->log_term,
	                       m->commit, m->hint_index, m->hint_term, m->ctx};
	for (int i = 0; i < 9; i++, p += 8)
		put64(p, f[i]);
	put32(p, m->n_entries);
	p += 4;
	for (uint32_t i = 0; i < m->n_entries; i++) {
		const tb__raft_entry_t *e = &m->entries[i];
		put64(p, e->index);
		put64(p + 8, e->term);
		p[16] = e->type;
		put32(p + 17, e->len);
		p += ENT_HDR;
		if (e->len)
			memcpy(p, e->data, e->len);
		p += e->len;
	}
	if (m->type == TB_RAFT_MSG_SNAP) {
		put64(p, m->snap_index);
		put64(p + 8, m->snap_term);
		put64(p + 16, m->offset);
		put64(p + 24, m->total);
		p += 32;
		p += tb__raft_conf_encode(&m->conf, p, 1 + (size_t)m->conf.n * 9);
		put32(p, m->len);
		p += 4;
		if (m->len)
			memcpy(p, m->data, m->len);
		p += m->len;
	}
	return (size_t)(p - buf);
}

int tb__raft_msg_decode(const uint8_t *buf, size_t len, tb__raft_msg_t *m)
{
	memset(m, 0, sizeof(*m));
	if (len < HDR || len > TB_RAFT_MAX_FRAME || buf[0] != TB_RAFT_WIRE_VERSION || buf[1] == 0 ||
	    buf[1] > TB_RAFT_MSG_TYPE_MAX || buf[2] > 1 || buf[3] > 1)
		return -1;
	m->type = buf[1];
	m->reject = buf[2];
	m->done = buf[3];
	const uint8_t *p = buf + 4, *end = buf + len;
	uint64_t *f[9] = {&m->from, &m->to, &m->term, &m->index, &m->log_term,
	                  &m->commit, &m->hint_index, &m->hint_term, &m->ctx};
	for (int i = 0; i < 9; i++, p += 8)
		*f[i] = get64(p);
	uint32_t n = get32(p);
	p += 4;
	if (n > MAX_ENTRIES || (n && m->type != TB_RAFT_MSG_APP) || (size_t)(end - p) / ENT_HDR < n)
		return -1;
	tb__raft_entry_t *ents = NULL;
	if (n) {
		ents = calloc(n, sizeof(*ents));
		if (!ents)
			return -1;
	}
	for (uint32_t i = 0; i < n; i++) {
		if ((size_t)(end - p) < ENT_HDR)
			goto bad;
		ents[i].index = get64(p);
		ents[i].term = get64(p + 8);
		ents[i].type = p[16];
		ents[i].len = get32(p + 17);
		p += ENT_HDR;
		if (ents[i].index != m->index + 1 + i || ents[i].type < TB_RAFT_ENTRY_NORMAL ||
		    ents[i].type > TB_RAFT_ENTRY_CONF || ents[i].term == 0 || ents[i].term > m->term ||
		    (i && ents[i].term < ents[i - 1].term) || (size_t)(end - p) < ents[i].len)
			goto bad;
		ents[i].data = ents[i].len ? p : NULL;
		p += ents[i].len;
	}
	m->entries = ents;
	m->n_entries = n;
	if (m->type == TB_RAFT_MSG_SNAP) {
		if ((size_t)(end - p) < 33)
			goto bad;
		m->snap_index = get64(p);
		m->snap_term = get64(p + 8);
		m->offset = get64(p + 16);
		m->total = get64(p + 24);
		p += 32;
		size_t cl = 1 + (size_t)p[0] * 9;
		if ((size_t)(end - p) < cl + 4 || tb__raft_conf_decode(p, cl, &m->conf))
			goto bad;
		p += cl;
		m->len = get32(p);
		p += 4;
		if ((size_t)(end - p) < m->len || m->offset > m->total || m->len > m->total - m->offset ||
		    m->snap_index == 0)
			goto bad;
		m->data = m->len ? p : NULL;
		p += m->len;
	}
	if (p != end)
		goto bad;
	return 0;
bad:
	free(ents);
	memset(m, 0, sizeof(*m));
	return -1;
}

void tb__raft_msg_release(tb__raft_msg_t *m)
{
	free((void *)m->entries);
	m->entries = NULL;
	m->n_entries = 0;
}

/* CRC32C (reflected polynomial 0x82F63B78), two nibble lookups per byte:
 * a 64-byte table instead of a 1 KiB one. */
static const uint32_t crc_nib[16] = {
	0x00000000, 0x105ec76f, 0x20bd8ede, 0x30e349b1, 0x417b1dbc, 0x5125dad3, 0x61c69362, 0x7198540d,
	0x82f63b78, 0x92a8fc17, 0xa24bb5a6, 0xb21572c9, 0xc38d26c4, 0xd3d3e1ab, 0xe330a81a, 0xf36e6f75,
};

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TB_CRC32C_HW 1
/* SSE 4.2's crc32 instruction computes exactly this CRC, 8 bytes at a time:
 * the log, the snapshots and every transport frame are checksummed, and the
 * nibble loop showed as 5-8 % of a server's CPU under write load. */
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p,
                                                              size_t len)
{
	uint64_t c = crc;
	for (; len >= 8; p += 8, len -= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
	}
	uint32_t c32 = (uint32_t)c;
	while (len--)
		c32 = __builtin_ia32_crc32qi(c32, *p++);
	return c32;
}
#endif

uint32_t tb__crc32c(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	crc = ~crc;
#ifdef TB_CRC32C_HW
	if (__builtin_cpu_supports("sse4.2"))
		return ~crc32c_hw(crc, p, len);
#endif
	while (len--) {
		crc ^= *p++;
		crc = (crc >> 4) ^ crc_nib[crc & 15];
		crc = (crc >> 4) ^ crc_nib[crc & 15];
	}
	return ~crc;
}
