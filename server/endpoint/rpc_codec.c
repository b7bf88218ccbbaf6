/*
 * rpc_codec.c - frames of the forwarding RPC (layout in rpc_int.h): pure
 * encoding and bounds-checked decoding, no I/O and no allocation beyond
 * the output buffer and a response's row array, so the fuzz target
 * (tests/fuzz_rpc.c) covers everything a peer can send.
 */
#include "tb_autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "endpoint/rpc_int.h"
#include "raft/le.h"

#define NULL_LEN 0xffffffffu

/* ------------------------------------------------------------ writer */

typedef struct wr {
    tb__buf_t *b;
    int bad;
} wr_t;

static uint8_t *wr_room(wr_t *w, size_t n)
{
    tb__buf_t *b = w->b;
    if (w->bad) return NULL;
    if (n > TB__RPC_MAX_FRAME) { /* the frame would be refused anyway */
        w->bad = 1;
        return NULL;
    }
    if (b->len + n > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->len + n) nc *= 2;
        uint8_t *d = realloc(b->data, nc);
        if (!d) {
            w->bad = 1;
            return NULL;
        }
        b->data = d;
        b->cap = nc;
    }
    uint8_t *p = b->data + b->len;
    b->len += n;
    return p;
}

static void w8(wr_t *w, uint8_t v)
{
    uint8_t *p = wr_room(w, 1);
    if (p) *p = v;
}

static void w64(wr_t *w, uint64_t v)
{
    uint8_t *p = wr_room(w, 8);
    if (p) put64(p, v);
}

static void wbytes(wr_t *w, const void *d, size_t n, int is_null)
{
    if (n >= NULL_LEN) {
        w->bad = 1;
        return;
    }
    uint8_t *p = wr_room(w, 4 + (is_null ? 0 : n + 1));
    if (!p) return;
    put32(p, is_null ? NULL_LEN : (uint32_t)n);
    if (is_null) return;
    if (n) memcpy(p + 4, d, n);
    p[4 + n] = 0;
}

static void wstr(wr_t *w, const char *s) { wbytes(w, s, s ? strlen(s) : 0, s == NULL); }

static size_t frame_begin(wr_t *w, uint8_t type, uint64_t id)
{
    size_t start = w->b->len;
    uint8_t *p = wr_room(w, TB__RPC_HDR);
    if (!p) return start;
    p[4] = TB__RPC_VERSION;
    p[5] = type;
    put64(p + 6, id);
    return start;
}

static int frame_end(wr_t *w, size_t start)
{
    size_t n = w->bad ? 0 : w->b->len - start - 4;
    if (w->bad || n > TB__RPC_MAX_FRAME) {
        w->b->len = start; /* drop the partial frame, keep what was before */
        return -1;
    }
    put32(w->b->data + start, (uint32_t)n);
    return 0;
}

static void w_opts(wr_t *w, const tb_query_opts_t *o)
{
    w64(w, o->min_index);
    w64(w, o->wait_ms);
    w8(w, (uint8_t)o->consistency);
    w64(w, o->max_stale_ms);
    wstr(w, o->token);
    wstr(w, o->datacenter);
}

int tb__rpc_enc_req(tb__buf_t *out, uint64_t id, const tb__rpc_req_t *q)
{
    wr_t w = {out, 0};
    size_t start = frame_begin(&w, TB__RPC_REQ, id);
    w8(&w, q->kind);
    w8(&w, q->hops);
    w_opts(&w, &q->opts);
    switch (q->kind) {
    case TB__RPC_GENERIC:
        wstr(&w, q->method);
        wbytes(&w, q->args, q->args_len, q->args == NULL);
        break;
    case TB__RPC_KV_READ:
        w8(&w, (uint8_t)q->kvr.mode);
        wstr(&w, q->kvr.key);
        wstr(&w, q->kvr.separator);
        break;
    case TB__RPC_KV_WRITE:
        w8(&w, (uint8_t)q->kvw.verb);
        wstr(&w, q->kvw.key);
        wbytes(&w, q->kvw.value, q->kvw.value_len, q->kvw.value == NULL);
        w64(&w, q->kvw.flags);
        w64(&w, q->kvw.index);
        wstr(&w, q->kvw.session);
        break;
    default:
        w.bad = 1;
    }
    return frame_end(&w, start);
}

int tb__rpc_enc_resp(tb__buf_t *out, uint64_t id, const tb_result_t *r, const char *json,
                     size_t json_len)
{
    wr_t w = {out, 0};
    size_t start = frame_begin(&w, TB__RPC_RESP, id);
    w8(&w, (uint8_t)r->status);
    wstr(&w, r->error);
    w64(&w, r->index);
    w8(&w, r->known_leader ? 1 : 0);
    w64(&w, r->last_contact_ms);
    w8(&w, (uint8_t)r->effective_consistency);
    w8(&w, r->applied ? 1 : 0);
    wbytes(&w, json, json_len, json == NULL);
    uint8_t *p = wr_room(&w, 4);
    if (p) put32(p, (uint32_t)r->kv_count);
    for (size_t i = 0; i < r->kv_count; i++) {
        const tb_kv_entry_t *e = &r->kv[i];
        wstr(&w, e->key);
        wbytes(&w, e->value, e->value_len, e->value == NULL);
        w64(&w, e->flags);
        w64(&w, e->lock_index);
        w64(&w, e->create_index);
        w64(&w, e->modify_index);
        wstr(&w, e->session);
    }
    return frame_end(&w, start);
}

int tb__rpc_enc_cancel(tb__buf_t *out, uint64_t id)
{
    wr_t w = {out, 0};
    size_t start = frame_begin(&w, TB__RPC_CANCEL, id);
    return frame_end(&w, start);
}

/* ------------------------------------------------------------ reader */

typedef struct rd {
    const uint8_t *p;
    size_t len, off;
    int bad;
} rd_t;

static const uint8_t *rd_take(rd_t *r, size_t n)
{
    if (r->bad || r->len - r->off < n) {
        r->bad = 1;
        return NULL;
    }
    const uint8_t *p = r->p + r->off;
    r->off += n;
    return p;
}

static uint8_t r8(rd_t *r)
{
    const uint8_t *p = rd_take(r, 1);
    return p ? *p : 0;
}

static uint64_t r64(rd_t *r)
{
    const uint8_t *p = rd_take(r, 8);
    return p ? get64(p) : 0;
}

/* Bytes with their NUL terminator checked: NULL for the null marker. */
static const char *rbytes(rd_t *r, size_t *n)
{
    const uint8_t *p = rd_take(r, 4);
    *n = 0;
    if (!p) return NULL;
    uint32_t l = get32(p);
    if (l == NULL_LEN) return NULL;
    const uint8_t *d = rd_take(r, (size_t)l + 1);
    if (!d || d[l] != 0) {
        r->bad = 1;
        return NULL;
    }
    *n = l;
    return (const char *)d;
}

/* A string must not hide a NUL inside (C users would see a shorter one). */
static const char *rstr(rd_t *r)
{
    size_t n;
    const char *s = rbytes(r, &n);
    if (s && memchr(s, 0, n)) r->bad = 1;
    return r->bad ? NULL : s;
}

int tb__rpc_dec_req(const uint8_t *p, size_t len, tb__rpc_req_t *q)
{
    rd_t r = {p, len, 0, 0};
    memset(q, 0, sizeof *q);
    q->kind = r8(&r);
    q->hops = r8(&r);
    q->opts.size = sizeof q->opts;
    q->opts.min_index = r64(&r);
    q->opts.wait_ms = r64(&r);
    uint8_t cons = r8(&r);
    if (cons > TB_CONSISTENCY_STALE) return -1;
    q->opts.consistency = (tb_consistency_t)cons;
    q->opts.max_stale_ms = r64(&r);
    q->opts.token = rstr(&r);
    q->opts.datacenter = rstr(&r);
    switch (q->kind) {
    case TB__RPC_GENERIC:
        q->method = rstr(&r);
        q->args = rbytes(&r, &q->args_len);
        if (!q->method) r.bad = 1;
        break;
    case TB__RPC_KV_READ: {
        uint8_t m = r8(&r);
        if (m > TB_KV_KEYS) return -1;
        q->kvr.size = sizeof q->kvr;
        q->kvr.mode = (tb_kv_read_mode_t)m;
        q->kvr.key = rstr(&r);
        q->kvr.separator = rstr(&r);
        if (!q->kvr.key) r.bad = 1;
        break;
    }
    case TB__RPC_KV_WRITE: {
        uint8_t v = r8(&r);
        if (v > TB_KV_DELETE_CAS) return -1;
        q->kvw.size = sizeof q->kvw;
        q->kvw.verb = (tb_kv_verb_t)v;
        q->kvw.key = rstr(&r);
        q->kvw.value = rbytes(&r, &q->kvw.value_len);
        q->kvw.flags = r64(&r);
        q->kvw.index = r64(&r);
        q->kvw.session = rstr(&r);
        if (!q->kvw.key) r.bad = 1;
        break;
    }
    default:
        return -1;
    }
    /* Trailing bytes are refused too: a version bump adds a new version. */
    return r.bad || r.off != r.len ? -1 : 0;
}

int tb__rpc_dec_resp(const uint8_t *p, size_t len, tb__rpc_resp_t *o)
{
    rd_t r = {p, len, 0, 0};
    memset(o, 0, sizeof *o);
    uint8_t st = r8(&r);
    if (st > TB_INTERNAL) return -1;
    o->r.status = (tb_status_t)st;
    o->r.error = rstr(&r);
    o->r.index = r64(&r);
    uint8_t kl = r8(&r);
    o->r.last_contact_ms = r64(&r);
    uint8_t cons = r8(&r);
    uint8_t ap = r8(&r);
    /* one encoding per value: flags are 0 or 1 */
    if (kl > 1 || ap > 1 || cons > TB_CONSISTENCY_STALE) return -1;
    o->r.known_leader = kl;
    o->r.effective_consistency = (tb_consistency_t)cons;
    o->r.applied = ap;
    o->json = rbytes(&r, &o->json_len);
    const uint8_t *c = rd_take(&r, 4);
    if (!c || r.bad) return -1;
    uint32_t n = get32(c);
    /* Each row takes at least 45 bytes (key "", null value and session,
     * four u64): a hostile count cannot make us allocate more than the
     * frame justifies. */
    if (n > (r.len - r.off) / 45) return -1;
    if (n) {
        o->kv = calloc(n, sizeof *o->kv);
        if (!o->kv) return -1;
    }
    for (uint32_t i = 0; i < n && !r.bad; i++) {
        tb_kv_entry_t *e = &o->kv[i];
        e->key = rstr(&r);
        e->value = rbytes(&r, &e->value_len);
        e->flags = r64(&r);
        e->lock_index = r64(&r);
        e->create_index = r64(&r);
        e->modify_index = r64(&r);
        e->session = rstr(&r);
        if (!e->key) r.bad = 1;
    }
    o->r.kv = o->kv;
    o->r.kv_count = n;
    if (r.bad || r.off != r.len) {
        tb__rpc_resp_clear(o);
        return -1;
    }
    return 0;
}

void tb__rpc_resp_clear(tb__rpc_resp_t *r)
{
    free(r->kv);
    memset(r, 0, sizeof *r);
}

/* ------------------------------------------------------------ stream */

uint8_t *tb__rpc_reader_space(tb__rpc_reader_t *rd, size_t want, size_t *got)
{
    if (rd->off) {
        /* Frames handed out before are consumed: slide the rest down. */
        memmove(rd->buf, rd->buf + rd->off, rd->len - rd->off);
        rd->len -= rd->off;
        rd->off = 0;
    }
    if (rd->cap - rd->len < want) {
        size_t nc = rd->cap ? rd->cap : 4096;
        while (nc - rd->len < want) nc *= 2;
        uint8_t *b = realloc(rd->buf, nc);
        if (!b) {
            *got = 0;
            return NULL;
        }
        rd->buf = b;
        rd->cap = nc;
    }
    *got = rd->cap - rd->len;
    return rd->buf + rd->len;
}

int tb__rpc_reader_next(tb__rpc_reader_t *rd, tb__rpc_frame_t *f, const char **err)
{
    size_t avail = rd->len - rd->off;
    if (avail < 4) return 0;
    const uint8_t *p = rd->buf + rd->off;
    uint32_t n = get32(p);
    if (n < TB__RPC_HDR - 4 || n > TB__RPC_MAX_FRAME) {
        *err = "bad frame length";
        return -1;
    }
    if (avail < 6) return 0;
    if (p[4] != TB__RPC_VERSION) {
        *err = "unsupported frame version";
        return -1;
    }
    if (p[5] < TB__RPC_REQ || p[5] > TB__RPC_CANCEL) {
        *err = "unknown frame type";
        return -1;
    }
    if (avail < (size_t)n + 4) return 0;
    f->type = p[5];
    f->id = get64(p + 6);
    f->payload = p + TB__RPC_HDR;
    f->len = (size_t)n + 4 - TB__RPC_HDR;
    rd->off += (size_t)n + 4;
    return 1;
}

void tb__rpc_reader_free(tb__rpc_reader_t *rd)
{
    free(rd->buf);
    memset(rd, 0, sizeof *rd);
}
