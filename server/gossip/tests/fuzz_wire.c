/*
 * fuzz_wire.c - libFuzzer target over the gossip packet decoders (built only
 * by `make fuzz-gossip`, with clang -fsanitize=fuzzer,address,undefined).
 *
 * The first input byte picks the entry point; the rest is the packet. Any
 * bytes must give a clean error code: no crash, leak or out-of-bounds read.
 * Entry 6 feeds the packet to a serf/SWIM instance (state machines too).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gossip/serf.h"
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
    switch (data[0] % 7) {
    case 6: {
        tb__serf_config_t c;
        tb__serf_defaults(&c, TB__SWIM_PROFILE_LAN);
        c.swim.name = "b";
        c.swim.addr[0] = 127;
        c.swim.addr[3] = 2;
        c.swim.addr_len = 4;
        c.swim.port = 7946;
        tb__serf_t *s = tb__serf_new(&c, 0);
        if (!s)
            break;
        tb__swim_t *sw = tb__serf_swim(s);
        static const uint8_t a[4] = { 127, 0, 0, 1 };
        tb__swim_recv_udp(sw, 1, a, 4, 7946, p, n);
        tb__serf_tick(s, 100000);
        tb__swim_recv_udp(sw, 100001, a, 4, 7946, p, n);
        tb__gw_stream_msg_t sm;
        tb__gw_buf_t reply;
        tb__gw_buf_init(&reply);
        if (tb__gw_stream_decode(NULL, false, p, n, &sm) == 0)
            tb__swim_stream_request(sw, 100002, &sm, &reply);
        tb__gw_stream_msg_free(&sm);
        tb__gw_buf_free(&reply);
        tb__serf_tick(s, 200000);
        tb__swim_out_t o;
        while (tb__swim_poll(sw, &o))
            free(o.buf);
        tb__serf_event_t ev;
        while (tb__serf_poll(s, &ev))
            tb__serf_event_clear(&ev);
        tb__serf_free(s);
        break;
    }
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
