/*
 * test_wire.c - the gossip codec against three real serf 0.9.4 captures.
 *
 * For every UDP datagram and TCP stream direction of the pcaps in
 * tests/data/ (copied from shared/testdata/gossip), the decoder must
 * produce the same layer/kind string as the independent reference decoder
 * (tests/data/RUN-kinds.txt, from decoded.txt), verify every CRC, and every
 * LZW buffer must re-encode byte for byte. vectors.json gives the fields of
 * one message per kind: each is compared, and every message without Go maps
 * is re-encoded and compared byte for byte. Then hostile inputs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <jansson.h>

#include "gossip/wire.h"

#ifndef TB_GOSSIP_TESTDATA
#define TB_GOSSIP_TESTDATA "server/gossip/tests/data"
#endif

static const char *const runs[] = { "plain", "compressed", "encrypted" };

/* ------------------------------------------------------------ helpers */

static uint8_t *read_file(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", TB_GOSSIP_TESTDATA, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)n + 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    if (p)
        p[n] = 0;
    *len = (size_t)n;
    return p;
}

static size_t unhex(const char *h, uint8_t *out, size_t max)
{
    size_t n = strlen(h) / 2;
    if (n > max)
        return (size_t)-1;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
    return n;
}

static void keyring_load(tb__gw_keyring_t *kr)
{
    tb__gw_keyring_init(kr);
    const char *files[] = { "key.txt", "key2.txt" };
    for (int i = 0; i < 2; i++) {
        size_t n;
        char *k = (char *)read_file(files[i], &n);
        CU_ASSERT_PTR_NOT_NULL_FATAL(k);
        CU_ASSERT_EQUAL(tb__gw_keyring_add_base64(kr, k), 0);
        free(k);
    }
    CU_ASSERT_EQUAL(kr->n, 2);
}

/* ----------------------------------------------------- kind strings */

typedef struct {
    char s[1024];
    int crc_bad, reencode_bad, decode_bad;
} kind_t;

static void cat(kind_t *k, const char *s)
{
    strncat(k->s, s, sizeof k->s - strlen(k->s) - 1);
}

static const char *const ml_names[] = { "ping", "indirectPing", "ack", "suspect", "alive",
                                        "dead", "pushPull", "compound", "user", "compress",
                                        "encrypt", "nack", "hasCrc", "err" };
static const char *const serf_names[] = { "leave", "join", "pushPull", "userEvent", "query",
                                          "queryResponse", "conflictResponse", "keyRequest",
                                          "keyResponse", "relay" };

static void serf_kind(const uint8_t *b, size_t n, kind_t *k)
{
    tb__gw_serf_msg_t m;
    if (n < 1 || b[0] > 9) {
        cat(k, "serf/?");
        k->decode_bad++;
        return;
    }
    cat(k, "serf/");
    if (tb__gw_serf_decode(b, n, &m)) {
        cat(k, serf_names[b[0]]);
        cat(k, "(undecodable)");
        k->decode_bad++;
        return;
    }
    if (m.type == TB__SERF_RELAY) {
        cat(k, "relay(");
        cat(k, m.inner.n && m.inner.p[0] <= 9 ? serf_names[m.inner.p[0]] : "?");
        cat(k, ")");
    } else {
        cat(k, serf_names[m.type]);
    }
    if (m.type == TB__SERF_QUERY) {
        if (m.name.n >= 6 && memcmp(m.name.p, "_serf_", 6) == 0) {
            char nm[64];
            snprintf(nm, sizeof nm, "(%.*s)", (int)m.name.n, m.name.p);
            cat(k, nm);
        } else if (m.filters.p && m.filters.n > 1) {
            cat(k, "(filtered)");
        }
    }
    if (m.type == TB__SERF_QUERY_RESPONSE) {
        if (m.flags & 1)
            cat(k, "(ack)");
        else if (m.payload.n && (m.payload.p[0] == 6 || m.payload.p[0] == 8))
            cat(k, m.payload.p[0] == 6 ? "(conflictResponse)" : "(keyResponse)");
    }
    if (m.type == TB__SERF_USER_EVENT && !m.cc)
        cat(k, "(cc=false)");
    /* deterministic encodings re-encode byte for byte */
    tb__gw_buf_t out;
    tb__gw_buf_init(&out);
    if (tb__gw_serf_encode(&m, &out) || out.len != n || memcmp(out.data, b, n))
        k->reencode_bad++;
    tb__gw_buf_free(&out);
}

static void ml_kind(const uint8_t *b, size_t n, kind_t *k)
{
    if (n < 1) {
        cat(k, "empty");
        k->decode_bad++;
        return;
    }
    uint8_t t = b[0];
    if (t == TB__GW_HAS_CRC) {
        tb__gw_bytes_t in;
        int r = tb__gw_crc_open(b, n, &in);
        if (r == TB__GW_ECRC) {
            k->crc_bad++;
            in.p = b + 5;
            in.n = n - 5;
        }
        cat(k, "crc+");
        ml_kind(in.p, in.n, k);
    } else if (t == TB__GW_COMPOUND) {
        tb__gw_bytes_t parts[255];
        int tr, c = tb__gw_compound_split(b, n, parts, 255, &tr);
        if (c < 0 || tr) {
            k->decode_bad++;
            return;
        }
        cat(k, "compound[");
        for (int i = 0; i < c; i++) {
            if (i)
                cat(k, ",");
            ml_kind(parts[i].p, parts[i].n, k);
        }
        cat(k, "]");
    } else if (t == TB__GW_COMPRESS) {
        tb__gw_buf_t z, again;
        tb__gw_buf_init(&z);
        tb__gw_buf_init(&again);
        if (tb__gw_compress_open(b, n, TB__GW_UDP_MAX, &z)) {
            k->decode_bad++;
        } else {
            cat(k, "lzw+");
            /* the whole compress message re-encodes identically */
            if (tb__gw_compress_wrap(z.data, z.len, &again) || again.len != n ||
                memcmp(again.data, b, n))
                k->reencode_bad++;
            ml_kind(z.data, z.len, k);
        }
        tb__gw_buf_free(&z);
        tb__gw_buf_free(&again);
    } else if (t == TB__GW_USER) {
        cat(k, "user/");
        serf_kind(b + 1, n - 1, k);
    } else {
        tb__gw_msg_t m;
        if (t > 13 || tb__gw_msg_decode(b, n, &m)) {
            k->decode_bad++;
            cat(k, "?");
            return;
        }
        cat(k, ml_names[t]);
        if (t == TB__GW_DEAD && m.node.n == m.from.n && !memcmp(m.node.p, m.from.p, m.node.n))
            cat(k, "(leave:Node==From)");
        if (t == TB__GW_PING && !m.source_addr.p)
            cat(k, "(no-source)");
        if (t == TB__GW_ACK && m.payload.n)
            cat(k, "(+payload)");
        tb__gw_buf_t out;
        tb__gw_buf_init(&out);
        if (tb__gw_msg_encode(&m, &out) || out.len != n || memcmp(out.data, b, n))
            k->reencode_bad++;
        tb__gw_buf_free(&out);
    }
}

static void stream_kind(const tb__gw_keyring_t *kr, const uint8_t *b, size_t n, kind_t *k)
{
    tb__gw_stream_msg_t sm;
    int r = tb__gw_stream_decode(kr, true, b, n, &sm);
    if (r) {
        cat(k, "stream/undecodable");
        k->decode_bad++;
        tb__gw_stream_msg_free(&sm);
        return;
    }
    if (sm.encrypted) {
        char v[16];
        snprintf(v, sizeof v, "enc(v%d)+", sm.enc_version);
        cat(k, v);
    }
    if (sm.compressed)
        cat(k, "lzw+");
    cat(k, "stream/");
    if (sm.type == TB__GW_PUSH_PULL) {
        cat(k, sm.pp.join ? "pushPull(join=true)" : "pushPull(join=false)");
        /* node states carry Meta as opaque bytes: the message re-encodes */
        tb__gw_buf_t out;
        tb__gw_buf_init(&out);
        tb__gw_push_pull_encode(sm.pp.join, sm.pp.nodes, sm.pp.n_nodes, sm.pp.user_state.p,
                                sm.pp.user_state.n, &out);
        if (out.len != sm.plain.len && !(sm.plain.len == 0 && out.len == n))
            k->reencode_bad++;
        else if (memcmp(out.data, sm.plain.len ? sm.plain.data : b, out.len))
            k->reencode_bad++;
        tb__gw_buf_free(&out);
        /* the serf user state decodes, with its 512-slot event ring */
        tb__gw_serf_pp_t spp;
        if (sm.pp.user_state.n &&
            (tb__gw_serf_pp_decode(sm.pp.user_state.p, sm.pp.user_state.n, &spp) ||
             spp.events_slots != 512 || spp.ltime == 0))
            k->decode_bad++;
        else if (sm.pp.user_state.n)
            tb__gw_serf_pp_free(&spp);
    } else if (sm.type == TB__GW_USER) {
        cat(k, "user/");
        serf_kind(sm.user.p, sm.user.n, k);
    } else {
        cat(k, ml_names[sm.type]);
    }
    tb__gw_stream_msg_free(&sm);
}

/* ------------------------------------------------------------- pcap */

typedef struct {
    uint32_t src, dst;
    uint16_t sp, dp;
    int first_frame;
    size_t nseg;
    struct seg {
        uint32_t seq;
        const uint8_t *p;
        size_t n;
    } *segs;
} stream_t;

typedef struct {
    int frame;
    char proto[4];
    char kind[1024];
} expect_t;

static int cmp_seg(const void *a, const void *b)
{
    const struct seg *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int run_capture(const char *run)
{
    char name[128];
    size_t plen, klen;
    snprintf(name, sizeof name, "%s.pcap", run);
    uint8_t *pcap = read_file(name, &plen);
    snprintf(name, sizeof name, "%s-kinds.txt", run);
    char *kinds = (char *)read_file(name, &klen);
    CU_ASSERT_PTR_NOT_NULL_FATAL(pcap);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kinds);
    tb__gw_keyring_t kr;
    bool enc = strcmp(run, "encrypted") == 0;
    if (enc)
        keyring_load(&kr);

    /* expectations */
    size_t nexp = 0, cap = 1024;
    expect_t *exp = calloc(cap, sizeof *exp);
    char *save = NULL;
    for (char *line = strtok_r(kinds, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (nexp == cap)
            exp = realloc(exp, (cap *= 2) * sizeof *exp);
        sscanf(line, "%d %3s %1023s", &exp[nexp].frame, exp[nexp].proto, exp[nexp].kind);
        nexp++;
    }
    int matched = 0, mismatched = 0, crc_bad = 0, re_bad = 0, dec_bad = 0;
    stream_t *streams = calloc(256, sizeof *streams);
    size_t nstreams = 0;

    CU_ASSERT_FATAL(plen >= 24 && pcap[0] == 0xd4 && pcap[1] == 0xc3); /* LE, usec */
    CU_ASSERT_EQUAL_FATAL(pcap[20], 1);                                 /* Ethernet */
    size_t pos = 24;
    int frame = 0;
    while (pos + 16 <= plen) {
        uint32_t caplen = pcap[pos + 8] | pcap[pos + 9] << 8 | pcap[pos + 10] << 16 |
                          (uint32_t)pcap[pos + 11] << 24;
        const uint8_t *f = pcap + pos + 16;
        pos += 16 + caplen;
        frame++;
        if (pos > plen || caplen < 34 || f[12] != 0x08 || f[13] != 0x00)
            continue;
        const uint8_t *ip = f + 14;
        if (ip[0] >> 4 != 4)
            continue;
        size_t ihl = (size_t)(ip[0] & 15) * 4, tot = (size_t)ip[2] << 8 | ip[3];
        if (tot > caplen - 14 || tot < ihl)
            continue;
        const uint8_t *l4 = ip + ihl;
        size_t l4n = tot - ihl;
        uint32_t src = (uint32_t)ip[12] << 24 | ip[13] << 16 | ip[14] << 8 | ip[15];
        uint32_t dst = (uint32_t)ip[16] << 24 | ip[17] << 16 | ip[18] << 8 | ip[19];
        uint16_t sp = (uint16_t)(l4[0] << 8 | l4[1]), dp = (uint16_t)(l4[2] << 8 | l4[3]);
        if (ip[9] == 17) {
            kind_t k = { "", 0, 0, 0 };
            const uint8_t *pl = l4 + 8;
            size_t pn = l4n - 8;
            tb__gw_buf_t plain;
            tb__gw_buf_init(&plain);
            if (enc) {
                int ki;
                if (tb__gw_open(&kr, pl, pn, NULL, 0, &plain, &ki) == 0) {
                    cat(&k, "enc+udp/");
                    ml_kind(plain.data, plain.len, &k);
                } else {
                    cat(&k, "udp/undecryptable");
                }
            } else {
                cat(&k, "udp/");
                ml_kind(pl, pn, &k);
            }
            tb__gw_buf_free(&plain);
            crc_bad += k.crc_bad;
            re_bad += k.reencode_bad;
            dec_bad += k.decode_bad;
            bool found = false;
            for (size_t i = 0; i < nexp; i++)
                if (exp[i].frame == frame && strcmp(exp[i].proto, "udp") == 0) {
                    found = true;
                    if (strcmp(exp[i].kind, k.s) == 0)
                        matched++;
                    else {
                        mismatched++;
                        fprintf(stderr, "%s frame %d: got %s want %s\n", run, frame, k.s,
                                exp[i].kind);
                    }
                }
            if (!found)
                mismatched++;
        } else if (ip[9] == 6) {
            stream_t *s = NULL;
            for (size_t i = 0; i < nstreams; i++)
                if (streams[i].src == src && streams[i].dst == dst && streams[i].sp == sp &&
                    streams[i].dp == dp)
                    s = &streams[i];
            if (!s) {
                CU_ASSERT_FATAL(nstreams < 256);
                s = &streams[nstreams++];
                s->src = src;
                s->dst = dst;
                s->sp = sp;
                s->dp = dp;
                s->first_frame = frame;
            }
            uint32_t seq = (uint32_t)l4[4] << 24 | l4[5] << 16 | l4[6] << 8 | l4[7];
            size_t off = (size_t)(l4[12] >> 4) * 4;
            if (off >= l4n)
                continue;
            bool dup = false;
            for (size_t i = 0; i < s->nseg; i++)
                dup |= s->segs[i].seq == seq;
            if (dup)
                continue;
            s->segs = realloc(s->segs, (s->nseg + 1) * sizeof *s->segs);
            s->segs[s->nseg].seq = seq;
            s->segs[s->nseg].p = l4 + off;
            s->segs[s->nseg++].n = l4n - off;
        }
    }
    for (size_t i = 0; i < nstreams; i++) {
        stream_t *s = &streams[i];
        if (s->nseg) {
            qsort(s->segs, s->nseg, sizeof *s->segs, cmp_seg);
            tb__gw_buf_t all;
            tb__gw_buf_init(&all);
            for (size_t j = 0; j < s->nseg; j++)
                tb__gw_buf_put(&all, s->segs[j].p, s->segs[j].n);
            kind_t k = { "tcp/", 0, 0, 0 };
            stream_kind(enc ? &kr : NULL, all.data, all.len, &k);
            re_bad += k.reencode_bad;
            dec_bad += k.decode_bad;
            bool found = false;
            for (size_t e = 0; e < nexp; e++)
                if (exp[e].frame == s->first_frame && strcmp(exp[e].proto, "tcp") == 0 &&
                    strcmp(exp[e].kind, k.s) == 0) {
                    found = true;
                    exp[e].frame = -1; /* two directions may start on one frame */
                    break;
                }
            if (found)
                matched++;
            else {
                mismatched++;
                fprintf(stderr, "%s tcp frame %d: got %s\n", run, s->first_frame, k.s);
            }
            tb__gw_buf_free(&all);
        }
        free(s->segs);
    }
    fprintf(stderr, "  %s: %d items match the reference decoder, %d differ (of %zu)\n", run,
            matched, mismatched, nexp);
    CU_ASSERT_EQUAL(mismatched, 0);
    CU_ASSERT_EQUAL((size_t)matched, nexp);
    CU_ASSERT_EQUAL(crc_bad, 0);
    CU_ASSERT_EQUAL(re_bad, 0);
    CU_ASSERT_EQUAL(dec_bad, 0);
    free(streams);
    free(exp);
    free(kinds);
    free(pcap);
    return matched;
}

static void test_capture_plain(void)
{
    CU_ASSERT(run_capture("plain") > 500);
}

static void test_capture_compressed(void)
{
    CU_ASSERT(run_capture("compressed") > 300);
}

static void test_capture_encrypted(void)
{
    CU_ASSERT(run_capture("encrypted") > 500);
}

/* ------------------------------------------------------ vector fields */

typedef struct {
    int kind; /* 0 none, 1 int, 2 bytes, 3 bool */
    uint64_t i;
    tb__gw_bytes_t b;
    bool v;
} fv_t;

static fv_t fv_i(uint64_t i)
{
    fv_t f = { 1, i, { NULL, 0 }, false };
    return f;
}

static fv_t fv_b(tb__gw_bytes_t b)
{
    fv_t f = { 2, 0, b, false };
    return f;
}

static fv_t fv_bool(bool v)
{
    fv_t f = { 3, 0, { NULL, 0 }, v };
    return f;
}

static fv_t ml_field(const tb__gw_msg_t *m, const char *k)
{
    fv_t none = { 0, 0, { NULL, 0 }, false };
    tb__gw_bytes_t vsn = { m->vsn, m->vsn_len };
    if (!strcmp(k, "SeqNo")) return fv_i(m->seq);
    if (!strcmp(k, "Node")) return fv_b(m->node);
    if (!strcmp(k, "SourceAddr")) return fv_b(m->source_addr);
    if (!strcmp(k, "SourceNode")) return fv_b(m->source_node);
    if (!strcmp(k, "SourcePort")) return fv_i(m->source_port);
    if (!strcmp(k, "Nack")) return fv_bool(m->nack);
    if (!strcmp(k, "Target")) return fv_b(m->target);
    if (!strcmp(k, "Port")) return fv_i(m->port);
    if (!strcmp(k, "Payload")) return fv_b(m->payload);
    if (!strcmp(k, "From")) return fv_b(m->from);
    if (!strcmp(k, "Incarnation")) return fv_i(m->incarnation);
    if (!strcmp(k, "Addr")) return fv_b(m->addr);
    if (!strcmp(k, "Meta")) return fv_b(m->meta);
    if (!strcmp(k, "Vsn")) return fv_b(vsn);
    if (!strcmp(k, "Error")) return fv_b(m->error);
    return none;
}

static fv_t serf_field(const tb__gw_serf_msg_t *m, const char *k)
{
    fv_t none = { 0, 0, { NULL, 0 }, false };
    if (!strcmp(k, "LTime")) return fv_i(m->ltime);
    if (!strcmp(k, "Node")) return fv_b(m->node);
    if (!strcmp(k, "Prune")) return fv_bool(m->prune);
    if (!strcmp(k, "CC")) return fv_bool(m->cc);
    if (!strcmp(k, "Name")) return fv_b(m->name);
    if (!strcmp(k, "Payload")) return fv_b(m->payload);
    if (!strcmp(k, "Addr")) return fv_b(m->addr);
    if (!strcmp(k, "Flags")) return fv_i(m->flags);
    if (!strcmp(k, "ID")) return fv_i(m->id);
    if (!strcmp(k, "Port")) return fv_i(m->port);
    if (!strcmp(k, "RelayFactor")) return fv_i(m->relay_factor);
    if (!strcmp(k, "SourceNode")) return fv_b(m->source_node);
    if (!strcmp(k, "Timeout")) return fv_i((uint64_t)m->timeout_ns);
    if (!strcmp(k, "From")) return fv_b(m->from);
    if (!strcmp(k, "Key")) return fv_b(m->key);
    return none;
}

static int fields_checked;

/* Compare one JSON field value with a decoded one; returns 0 if equal. */
static int cmp_field(const char *key, json_t *jv, fv_t f)
{
    uint8_t hb[4096];
    if (f.kind == 0) {
        fprintf(stderr, "unknown field %s\n", key);
        return 1;
    }
    fields_checked++;
    if (json_is_integer(jv))
        return f.kind != 1 || f.i != (uint64_t)json_integer_value(jv);
    if (json_is_boolean(jv))
        return f.kind != 3 || f.v != json_is_true(jv);
    if (json_is_null(jv))
        return f.kind != 2 || f.b.p != NULL;
    if (json_is_string(jv)) {
        size_t n = json_string_length(jv);
        return f.kind != 2 || !f.b.p || f.b.n != n || memcmp(f.b.p, json_string_value(jv), n);
    }
    if (json_is_object(jv) && json_object_get(jv, "hex")) {
        size_t n = unhex(json_string_value(json_object_get(jv, "hex")), hb, sizeof hb);
        return f.kind != 2 || !f.b.p || f.b.n != n || memcmp(f.b.p, hb, n);
    }
    fprintf(stderr, "field %s: unhandled JSON type\n", key);
    return 1;
}

static int check_fields(json_t *fields, fv_t (*get)(const void *, const char *), const void *m)
{
    const char *key;
    json_t *jv;
    int bad = 0;
    json_object_foreach(fields, key, jv) {
        if (key[0] == '=' || !strcmp(key, "Filters") || !strcmp(key, "Events"))
            continue;
        if (!strcmp(key, "StatusLTimes") || !strcmp(key, "LeftMembers"))
            continue;
        if (cmp_field(key, jv, get(m, key))) {
            fprintf(stderr, "field %s differs\n", key);
            bad++;
        }
    }
    return bad;
}

static fv_t ml_get(const void *m, const char *k)
{
    return ml_field(m, k);
}

static fv_t serf_get(const void *m, const char *k)
{
    return serf_field(m, k);
}

static int leaves;

/* Recursively visit a decoded layer of vectors.json. */
static int check_layer(json_t *l)
{
    uint8_t b[70000];
    int bad = 0;
    json_t *x;
    if ((x = json_object_get(l, "inner")))
        bad += check_layer(x);
    if ((x = json_object_get(l, "parts"))) {
        size_t i;
        json_t *p;
        json_array_foreach(x, i, p) bad += check_layer(p);
    }
    if ((x = json_object_get(l, "serf")))
        bad += check_layer(x);
    json_t *hex = json_object_get(l, "hex"), *fields = json_object_get(l, "fields");
    if (!hex || !fields || strstr(json_string_value(hex), "|"))
        return bad;
    size_t n = unhex(json_string_value(hex), b, sizeof b);
    if (json_object_get(l, "serfType")) {
        tb__gw_serf_msg_t m;
        if (tb__gw_serf_decode(b, n, &m))
            return bad + 1;
        leaves++;
        bad += check_fields(fields, serf_get, &m);
        json_t *flt = json_object_get(fields, "Filters");
        if (json_is_array(flt)) {
            tb__gw_filter_t fl[8];
            int c = tb__gw_filters_decode(m.filters, fl, 8);
            bad += c != (int)json_array_size(flt);
        }
    } else if (json_object_get(l, "type")) {
        tb__gw_msg_t m;
        if (tb__gw_msg_decode(b, n, &m))
            return bad + 1;
        leaves++;
        bad += check_fields(fields, ml_get, &m);
    }
    return bad;
}

static void test_vectors(void)
{
    tb__gw_keyring_t kr;
    keyring_load(&kr);
    for (int r = 0; r < 3; r++) {
        char name[128];
        size_t len;
        snprintf(name, sizeof name, "%s-vectors.json", runs[r]);
        char *text = (char *)read_file(name, &len);
        CU_ASSERT_PTR_NOT_NULL_FATAL(text);
        json_t *root = json_loads(text, 0, NULL);
        free(text);
        CU_ASSERT_PTR_NOT_NULL_FATAL(root);
        size_t i;
        json_t *v;
        int bad = 0;
        json_array_foreach(json_object_get(root, "vectors"), i, v) {
            json_t *msg = json_object_get(v, "msg"), *enc = json_object_get(v, "encrypt");
            int b1 = check_layer(msg);
            /* encrypted UDP: our open gives the recorded plaintext */
            if (enc && json_object_get(v, "udpPayloadHex")) {
                static uint8_t raw[70000], pt[70000];
                size_t rn = unhex(json_string_value(json_object_get(v, "udpPayloadHex")), raw,
                                  sizeof raw);
                size_t pn = unhex(json_string_value(json_object_get(enc, "plaintextHex")), pt,
                                  sizeof pt);
                tb__gw_buf_t out;
                tb__gw_buf_init(&out);
                int ki = -1;
                b1 += tb__gw_open(&kr, raw, rn, NULL, 0, &out, &ki) != 0 || out.len != pn ||
                      memcmp(out.data, pt, pn) != 0 ||
                      ki != json_integer_value(json_object_get(enc, "keyIndex"));
                tb__gw_buf_free(&out);
            }
            if (b1)
                fprintf(stderr, "%s: vector %s differs\n", runs[r],
                        json_string_value(json_object_get(v, "kind")));
            bad += b1;
        }
        CU_ASSERT_EQUAL(bad, 0);
        json_decref(root);
    }
    fprintf(stderr, "  vectors: %d messages, %d fields compared\n", leaves, fields_checked);
    CU_ASSERT(leaves > 100);
    CU_ASSERT(fields_checked > 500);
}

/* ------------------------------------------------- golden spec bytes */

static void test_spec_examples(void)
{
    uint8_t b[256];
    /* §3.4 alive for c with CRC */
    size_t n = unhex("0c90f0da7d0486a441646472a47f4d010dab496e6361726e6174696f6e01a44d657461a2"
                     "ff80a44e6f6465a163a4506f7274cd1f0aa356736ea6010502020505", b, sizeof b);
    tb__gw_bytes_t in;
    CU_ASSERT_EQUAL(tb__gw_crc_open(b, n, &in), 0);
    tb__gw_msg_t m;
    CU_ASSERT_EQUAL(tb__gw_msg_decode(in.p, in.n, &m), 0);
    CU_ASSERT_EQUAL(m.type, TB__GW_ALIVE);
    CU_ASSERT_EQUAL(m.incarnation, 1);
    CU_ASSERT_EQUAL(m.port, 7946);
    CU_ASSERT_EQUAL(m.vsn_len, 6);
    CU_ASSERT_EQUAL(m.vsn[4], 5);
    CU_ASSERT(m.node.n == 1 && m.node.p[0] == 'c');
    tb__gw_buf_t out;
    tb__gw_buf_init(&out);
    CU_ASSERT_EQUAL(tb__gw_crc_wrap(in.p, in.n, &out), 0);
    CU_ASSERT(out.len == n && memcmp(out.data, b, n) == 0);
    tb__gw_buf_free(&out);
    /* a flipped bit fails the CRC */
    b[10] ^= 1;
    CU_ASSERT_EQUAL(tb__gw_crc_open(b, n, &in), TB__GW_ECRC);
    CU_ASSERT_EQUAL(tb__gw_packet_walk(b, n, NULL, NULL), TB__GW_ECRC);

    /* §3.3: empty input encodes as clear + eof = 00 03 02 */
    CU_ASSERT_EQUAL(tb__gw_lzw_encode(NULL, 0, &out), 0);
    CU_ASSERT(out.len == 3 && out.data[0] == 0 && out.data[1] == 3 && out.data[2] == 2);
    tb__gw_buf_free(&out);

    /* tags: ff + map, and the legacy role string */
    tb__gw_tag_t t[4];
    n = unhex("ff81a4726f6c65a26462", b, sizeof b);
    CU_ASSERT_EQUAL(tb__gw_tags_decode(b, n, t, 4), 1);
    CU_ASSERT(t[0].value.n == 2 && memcmp(t[0].value.p, "db", 2) == 0);
    CU_ASSERT_EQUAL(tb__gw_tags_encode(t, 1, &out), 0);
    CU_ASSERT(out.len == n && memcmp(out.data, b, n) == 0);
    tb__gw_buf_free(&out);
    CU_ASSERT_EQUAL(tb__gw_tags_decode((const uint8_t *)"web", 3, t, 4), 1);
    CU_ASSERT(t[0].key.n == 4 && memcmp(t[0].key.p, "role", 4) == 0);
}

/* ------------------------------------------------- encryption round trip */

static void test_keyring_and_seal(void)
{
    tb__gw_keyring_t kr, other;
    keyring_load(&kr);
    tb__gw_keyring_init(&other);
    CU_ASSERT_EQUAL(tb__gw_keyring_add_base64(&other, "ZROjXVdYECttCdUWmhu85QxUBc9Z7DAr0oNlq9L3eRU="), 0);
    const uint8_t msg[] = "\x00\x81\xa5SeqNo\x01";
    const uint8_t nonce[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
    for (int v = 0; v <= 1; v++) {
        tb__gw_buf_t ct, pt;
        tb__gw_buf_init(&ct);
        tb__gw_buf_init(&pt);
        CU_ASSERT_EQUAL(tb__gw_seal(&kr, v, nonce, msg, sizeof msg - 1, NULL, 0, &ct), 0);
        CU_ASSERT_EQUAL(ct.data[0], v);
        CU_ASSERT_EQUAL(ct.len, v ? sizeof msg - 1 + 29 : 16 + 29);
        int ki = -1;
        CU_ASSERT_EQUAL(tb__gw_open(&kr, ct.data, ct.len, NULL, 0, &pt, &ki), 0);
        CU_ASSERT_EQUAL(ki, 0);
        CU_ASSERT(pt.len == sizeof msg - 1 && memcmp(pt.data, msg, pt.len) == 0);
        /* a ring without the primary refuses it; with AAD mismatch too */
        CU_ASSERT_EQUAL(tb__gw_open(&other, ct.data, ct.len, NULL, 0, &pt, &ki), TB__GW_EKEY);
        CU_ASSERT_EQUAL(tb__gw_open(&kr, ct.data, ct.len, (const uint8_t *)"x", 1, &pt, &ki),
                        TB__GW_EKEY);
        tb__gw_buf_free(&ct);
        tb__gw_buf_free(&pt);
    }
    /* the second key decrypts after `use` made it primary on the sender */
    tb__gw_keyring_t sender = kr;
    CU_ASSERT_EQUAL(tb__gw_keyring_use(&sender, other.key[0], 32), 0);
    CU_ASSERT_EQUAL(tb__gw_keyring_remove(&sender, other.key[0], 32), TB__GW_EMALFORMED);
    tb__gw_buf_t ct, pt;
    tb__gw_buf_init(&ct);
    tb__gw_buf_init(&pt);
    CU_ASSERT_EQUAL(tb__gw_frame_seal(&sender, nonce, msg, sizeof msg - 1, &ct), 0);
    CU_ASSERT_EQUAL(ct.data[0], TB__GW_ENCRYPT);
    int ki = -1;
    size_t used = 0;
    CU_ASSERT_EQUAL(tb__gw_frame_open(&kr, ct.data, ct.len, &pt, &used, &ki), 0);
    CU_ASSERT_EQUAL(ki, 1);
    CU_ASSERT_EQUAL(used, ct.len);
    CU_ASSERT_EQUAL(tb__gw_frame_open(&kr, ct.data, ct.len - 1, &pt, &used, &ki), TB__GW_ETRUNC);
    /* stream rules: encrypted without a ring, clear with a ring */
    tb__gw_stream_msg_t sm;
    CU_ASSERT_EQUAL(tb__gw_stream_decode(NULL, true, ct.data, ct.len, &sm), TB__GW_EKEY);
    tb__gw_stream_msg_free(&sm);
    CU_ASSERT_EQUAL(tb__gw_stream_decode(&kr, true, msg, sizeof msg - 1, &sm), TB__GW_EKEY);
    tb__gw_stream_msg_free(&sm);
    CU_ASSERT_EQUAL(tb__gw_stream_decode(&kr, true, ct.data, ct.len, &sm), 0);
    CU_ASSERT_EQUAL(sm.type, TB__GW_PING);
    CU_ASSERT_EQUAL(sm.msg.seq, 1);
    tb__gw_stream_msg_free(&sm);
    /* labels (memberlist >= 0.5): UDP aad = label, stream aad = header + label */
    ct.len = pt.len = 0;
    const uint8_t label[] = "partition-a";
    CU_ASSERT_EQUAL(tb__gw_label_wrap(label, sizeof label - 1, &ct), 0);
    CU_ASSERT_EQUAL(tb__gw_seal(&kr, 1, nonce, msg, sizeof msg - 1, label, sizeof label - 1, &ct),
                    0);
    tb__gw_bytes_t lb, rest;
    CU_ASSERT_EQUAL(tb__gw_label_strip(ct.data, ct.len, &lb, &rest), 0);
    CU_ASSERT(lb.n == sizeof label - 1 && memcmp(lb.p, label, lb.n) == 0);
    CU_ASSERT_EQUAL(tb__gw_open(&kr, rest.p, rest.n, lb.p, lb.n, &pt, &ki), 0);
    CU_ASSERT_EQUAL(tb__gw_open(&kr, rest.p, rest.n, NULL, 0, &pt, &ki), TB__GW_EKEY);
    ct.len = 0;
    CU_ASSERT_EQUAL(tb__gw_frame_seal_label(&kr, nonce, msg, sizeof msg - 1, label,
                                            sizeof label - 1, &ct), 0);
    CU_ASSERT_EQUAL(tb__gw_frame_open_label(&kr, ct.data, ct.len, label, sizeof label - 1, &pt,
                                            &used, &ki), 0);
    CU_ASSERT(pt.len == sizeof msg - 1 && memcmp(pt.data, msg, pt.len) == 0);
    CU_ASSERT_EQUAL(tb__gw_frame_open(&kr, ct.data, ct.len, &pt, &used, &ki), TB__GW_EKEY);
    CU_ASSERT_EQUAL(tb__gw_label_wrap(label, 0, &ct), TB__GW_EOVERSIZE);
    tb__gw_buf_free(&ct);
    tb__gw_buf_free(&pt);
}

/* ---------------------------------------------------------- LZW round trip */

static void test_lzw_roundtrip(void)
{
    /* > 4 KB of mixed data forces interior clear codes and every width */
    size_t n = 50000;
    uint8_t *in = malloc(n);
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245 + 12345;
        in[i] = (i / 700) % 2 ? (uint8_t)(x >> 24) : (uint8_t)("gossip"[i % 6]);
    }
    tb__gw_buf_t z, back;
    tb__gw_buf_init(&z);
    tb__gw_buf_init(&back);
    CU_ASSERT_EQUAL(tb__gw_lzw_encode(in, n, &z), 0);
    CU_ASSERT_EQUAL(tb__gw_lzw_decode(z.data, z.len, n, &back), 0);
    CU_ASSERT(back.len == n && memcmp(back.data, in, n) == 0);
    back.len = 0;
    /* output limit and truncation */
    CU_ASSERT_EQUAL(tb__gw_lzw_decode(z.data, z.len, n - 1, &back), TB__GW_EOVERSIZE);
    back.len = 0;
    CU_ASSERT_EQUAL(tb__gw_lzw_decode(z.data, z.len / 2, n, &back), TB__GW_ETRUNC);
    tb__gw_buf_free(&z);
    tb__gw_buf_free(&back);
    free(in);
}

/* ---------------------------------------------------------- hostile input */

static int count_leaf(void *ctx, const uint8_t *m, size_t n)
{
    tb__gw_msg_t msg;
    (void)ctx;
    if (m[0] == TB__GW_USER) {
        tb__gw_serf_msg_t s;
        tb__gw_serf_decode(m + 1, n - 1, &s);
        return 0;
    }
    return tb__gw_msg_decode(m, n, &msg);
}

static void test_bad_input(void)
{
    uint8_t b[64];
    tb__gw_msg_t m;
    size_t n = unhex("0085a44e6f6465a161a55365714e6f37aa536f7572636541646472a47f4d010c", b,
                     sizeof b);
    /* every truncation of a ping is refused, never read past the end */
    for (size_t i = 0; i < n; i++)
        CU_ASSERT(tb__gw_msg_decode(b, i, &m) < 0);
    /* unknown type, wrong field type, huge array counts, bad msgpack byte */
    const char *bad[] = {
        "ff00",                     /* unknown memberlist type */
        "0081a5536571 4e6f a3616263", /* SeqNo as string: filtered below */
        "00dd7fffffff",             /* array of 2^31 elements in 6 bytes */
        "00dfffffffff",             /* map of 2^32 pairs */
        "00c1",                     /* never-used msgpack byte */
        "0781",                     /* compound with a missing length table */
        "0c00000000",               /* crc of nothing, wrong */
        "0982a4416c676f01a3427566a0", /* unknown compression algo */
        "0982a4416c676f00a3427566a20001", /* LZW without eof */
        "0291919191919191919191919191919191919191919191919191919191919191", /* deep */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char h[128];
        size_t k = 0;
        for (const char *p = bad[i]; *p; p++)
            if (*p != ' ')
                h[k++] = *p;
        h[k] = 0;
        n = unhex(h, b, sizeof b);
        int r = tb__gw_packet_walk(b, n, count_leaf, NULL);
        if (r >= 0)
            fprintf(stderr, "accepted: %s\n", bad[i]);
        CU_ASSERT(r < 0);
    }
    /* a compound whose parts are cut short keeps its complete leading
     * parts (memberlist logs and counts the rest): here none */
    n = unhex("07020005000500", b, sizeof b);
    CU_ASSERT_EQUAL(tb__gw_packet_walk(b, n, count_leaf, NULL), 0);
    /* CRC layers nested beyond the depth limit */
    tb__gw_buf_t deep, next;
    tb__gw_buf_init(&deep);
    tb__gw_buf_put(&deep, "\x0b\x81\xa5SeqNo\x01", 9); /* nack */
    CU_ASSERT_EQUAL(tb__gw_packet_walk(deep.data, deep.len, count_leaf, NULL), 1);
    for (int i = 0; i < 12; i++) {
        tb__gw_buf_init(&next);
        tb__gw_crc_wrap(deep.data, deep.len, &next);
        tb__gw_buf_free(&deep);
        deep = next;
    }
    CU_ASSERT_EQUAL(tb__gw_packet_walk(deep.data, deep.len, count_leaf, NULL), TB__GW_EDEPTH);
    tb__gw_buf_free(&deep);
    /* wrong-key and short encrypted input */
    tb__gw_keyring_t kr;
    tb__gw_buf_t out;
    tb__gw_buf_init(&out);
    tb__gw_keyring_init(&kr);
    CU_ASSERT_EQUAL(tb__gw_keyring_add(&kr, (const uint8_t *)"0123456789abcdef", 16), 0);
    CU_ASSERT_EQUAL(tb__gw_keyring_add(&kr, (const uint8_t *)"short", 5), TB__GW_EMALFORMED);
    memset(b, 0x01, sizeof b);
    CU_ASSERT_EQUAL(tb__gw_open(&kr, b, sizeof b, NULL, 0, &out, NULL), TB__GW_EKEY);
    CU_ASSERT_EQUAL(tb__gw_open(&kr, b, 10, NULL, 0, &out, NULL), TB__GW_ETRUNC);
    /* oversized stream frame */
    const uint8_t big[] = { 0x0a, 0x7f, 0xff, 0xff, 0xff, 1 };
    CU_ASSERT_EQUAL(tb__gw_frame_open(&kr, big, sizeof big, &out, NULL, NULL), TB__GW_EOVERSIZE);
    tb__gw_buf_free(&out);
    /* a push/pull header claiming more nodes than bytes: incomplete */
    n = unhex("0683a44a6f696ec3a54e6f646573ce00100000ac5573657253746174654c656e00", b, sizeof b);
    tb__gw_push_pull_t pp;
    CU_ASSERT_EQUAL(tb__gw_push_pull_decode(b, n, &pp, NULL), TB__GW_ETRUNC);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("gossip_wire", NULL, NULL);
    CU_add_test(s, "capture plain", test_capture_plain);
    CU_add_test(s, "capture compressed", test_capture_compressed);
    CU_add_test(s, "capture encrypted", test_capture_encrypted);
    CU_add_test(s, "vectors.json fields", test_vectors);
    CU_add_test(s, "spec examples", test_spec_examples);
    CU_add_test(s, "keyring and AES-GCM", test_keyring_and_seal);
    CU_add_test(s, "LZW round trip", test_lzw_roundtrip);
    CU_add_test(s, "bad input", test_bad_input);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
