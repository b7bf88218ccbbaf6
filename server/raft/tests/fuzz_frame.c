/* server/raft/tests/fuzz_frame.c - libFuzzer target for what a peer sends
 * on the server port after the Raft byte: the frame splitter (length limit,
 * CRC32C), the hello (first frame) and the message decoder (later frames).
 * The input is fed in pieces whose sizes come from its first byte, as TCP
 * would split it; frames are also checksummed afresh so the fuzzer gets past
 * the CRC. Built by `make fuzz-raft-frame` (clang, ASan + UBSan). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "raft/node_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
	int got_hello;
} conn_t;

static int on_frame(void *ctx, const uint8_t *p, size_t len)
{
	conn_t *c = ctx;
	char err[128];
	if (!c->got_hello) {
		tb__rf_hello_t *h = malloc(sizeof(*h));
		if (!h)
			return -1;
		int rc = tb__rf_hello_decode(p, len, h, err, sizeof(err));
		free(h);
		c->got_hello = rc == 0;
		return rc;
	}
	tb__raft_msg_t m;
	if (tb__raft_msg_decode(p, len, &m) != 0)
		return -1;
	tb__raft_msg_release(&m);
	return 0;
}

static void feed(const uint8_t *data, size_t size, size_t step)
{
	conn_t c = {0};
	tb__rf_rx_t rx = {0};
	char err[160];
	for (size_t off = 0; off < size; off += step) {
		size_t n = size - off < step ? size - off : step;
		if (tb__rf_feed(&rx, data + off, n, on_frame, &c, err, sizeof(err)) != 0)
			break;
	}
	tb__rf_rx_free(&rx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t step = (size_t)data[0] + 1;
	data++, size--;
	feed(data, size, step);
	/* the same bytes as one hello frame and one message frame with good
	 * checksums, so the decoders see the fuzzer's bytes too */
	uint8_t *buf = malloc(2 * (TB__RF_HDR + size) + 1);
	if (!buf)
		return 0;
	size_t half = size / 2;
	memcpy(buf + TB__RF_HDR, data, half);
	tb__rf_header(buf, buf + TB__RF_HDR, half);
	size_t o = TB__RF_HDR + half;
	memcpy(buf + o + TB__RF_HDR, data + half, size - half);
	tb__rf_header(buf + o, buf + o + TB__RF_HDR, size - half);
	feed(buf, o + TB__RF_HDR + size - half, step);
	free(buf);
	return 0;
}
