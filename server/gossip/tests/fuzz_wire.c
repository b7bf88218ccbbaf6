/*
 * fuzz_wire.c - libFuzzer target over the gossip packet decoders (built only
 * by `make fuzz-gossip`, with clang -fsanitize=fuzzer,address,undefined).
 *
 * The first input byte picks the entry point; the rest is the packet. Any
 * bytes must give a clean error code: no crash, leak or out-of-bounds read.
 */
#include <stdint.h>
#include <string.h>

#include "gossip/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int leaf(void *ctx, const uint8_t *m, size_t n)
{
    (void)ctx;
    if (m[0] == TB__GW_USER) {
        tb__gw_serf_msg_t s;
        if (tb__gw_serf_decode(m + 1, n - 1, &s) == 0) {
            tb__gw_filter_t f[8];
            tb__gw_filters_decode(s.filters, f, 8);
            if (s.type == TB__SERF_RELAY && s.inner.n)
                tb__gw_serf_decode(s.inner.p, s.inner.n, &s);
            tb__gw_buf_t out;
            tb__gw_buf_init(&out);
            tb__gw_serf_encode(&s, &out);
            tb__gw_buf_free(&out);
        }
        return 0;
    }
    tb__gw_msg_t msg;
    if (tb__gw_msg_decode(m, n, &msg) == 0) {
        tb__gw_tag_t t[16];
        tb__gw_tags_decode(msg.meta.p, msg.meta.n, t, 16);
        tb__gw_buf_t out;
        tb__gw_buf_init(&out);
        tb__gw_msg_encode(&msg, &out);
        tb__gw_buf_free(&out);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    tb__gw_keyring_t kr;
    tb__gw_keyring_init(&kr);
    tb__gw_keyring_add(&kr, (const uint8_t *)"0123456789abcdef0123456789abcdef", 32);
    switch (data[0] % 6) {
    case 0:
        tb__gw_packet_walk(p, n, leaf, NULL);
        break;
    case 1: {
        tb__gw_stream_msg_t sm;
        if (tb__gw_stream_decode(NULL, false, p, n, &sm) == 0 && sm.pp.user_state.n) {
            tb__gw_serf_pp_t pp;
            if (tb__gw_serf_pp_decode(sm.pp.user_state.p, sm.pp.user_state.n, &pp) == 0)
                tb__gw_serf_pp_free(&pp);
        }
        tb__gw_stream_msg_free(&sm);
        break;
    }
    case 2: {
        tb__gw_buf_t out;
        tb__gw_buf_init(&out);
        if (tb__gw_open(&kr, p, n, NULL, 0, &out, NULL) == 0)
            tb__gw_packet_walk(out.data, out.len, leaf, NULL);
        tb__gw_buf_free(&out);
        tb__gw_stream_msg_t sm;
        tb__gw_stream_decode(&kr, true, p, n, &sm);
        tb__gw_stream_msg_free(&sm);
        break;
    }
    case 3: {
        tb__gw_serf_pp_t pp;
        if (tb__gw_serf_pp_decode(p, n, &pp) == 0) {
            tb__gw_buf_t out;
            tb__gw_buf_init(&out);
            tb__gw_serf_pp_encode(&pp, 512, &out);
            tb__gw_buf_free(&out);
            tb__gw_serf_pp_free(&pp);
        }
        break;
    }
    case 4: {
        tb__gw_buf_t out;
        tb__gw_buf_init(&out);
        tb__gw_lzw_decode(p, n, 1 << 20, &out);
        tb__gw_buf_free(&out);
        break;
    }
    default: {
        tb__gw_bytes_t label, rest;
        if (tb__gw_label_strip(p, n, &label, &rest) == 0)
            tb__gw_packet_walk(rest.p, rest.n, leaf, NULL);
        break;
    }
    }
    return 0;
}
