/*
 * wire.c - DNS wire codec (see wire.h). Every read is bounds-checked
 * against the packet length; names are limited to 63-byte labels and 255
 * bytes; compression pointers may only point backwards, which makes loops
 * impossible without a hop counter.
 */
#include "wire.h"

#include <stdio.h>
#include <string.h>

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

int dnsw_read_name(const uint8_t *msg, size_t len, size_t *off, uint8_t *out)
{
    size_t pos = *off, outlen = 0;
    size_t end = 0;         /* where the name ends in the stream at *off */
    int jumped = 0;
    size_t limit = pos;     /* pointers must go strictly below this */
    for (;;) {
        if (pos >= len)
            return -1;
        uint8_t c = msg[pos];
        if ((c & 0xC0) == 0xC0) {
            if (pos + 1 >= len)
                return -1;
            size_t target = ((size_t)(c & 0x3F) << 8) | msg[pos + 1];
            if (!jumped)
                end = pos + 2;
            if (target >= limit)
                return -1; /* forward or self pointer: could loop */
            jumped = 1;
            limit = target;
            pos = target;
            continue;
        }
        if (c & 0xC0)
            return -1; /* 0x40/0x80: extended label types are not supported */
        if (c > DNSW_MAX_LABEL)
            return -1;
        if (outlen + 1 + c > DNSW_MAX_NAME)
            return -1;
        if (pos + 1 + c > len)
            return -1;
        memcpy(out + outlen, msg + pos, (size_t)c + 1);
        outlen += (size_t)c + 1;
        pos += (size_t)c + 1;
        if (c == 0)
            break;
    }
    *off = jumped ? end : pos;
    return (int)outlen;
}

/* Walk an RR list (answer/authority) without keeping anything. */
static int skip_rr(const uint8_t *msg, size_t len, size_t *off)
{
    uint8_t name[DNSW_MAX_NAME];
    if (dnsw_read_name(msg, len, off, name) < 0 || *off + 10 > len)
        return -1;
    size_t rdlen = rd16(msg + *off + 8);
    if (*off + 10 + rdlen > len)
        return -1;
    *off += 10 + rdlen;
    return 0;
}

static void parse_opt_options(const uint8_t *p, size_t n, dnsw_query_t *q)
{
    size_t i = 0;
    while (i + 4 <= n) {
        uint16_t code = rd16(p + i), olen = rd16(p + i + 2);
        if (i + 4 + olen > n)
            return;
        const uint8_t *d = p + i + 4;
        if (code == 8 && olen >= 4) { /* EDNS client subnet */
            uint16_t fam = rd16(d);
            uint8_t src = d[2];
            size_t alen = olen - 4u;
            size_t maxlen = fam == 1 ? 4 : fam == 2 ? 16 : 0;
            if (maxlen && alen <= maxlen && alen == (size_t)(src + 7) / 8) {
                q->has_ecs = 1;
                q->ecs_family = fam;
                q->ecs_source = src;
                memcpy(q->ecs_addr, d + 4, alen);
                q->ecs_addr_len = alen;
            }
        }
        i += 4u + olen;
    }
}

dnsw_verdict_t dnsw_parse_query(const uint8_t *msg, size_t len, dnsw_query_t *q)
{
    memset(q, 0, offsetof(dnsw_query_t, qname));
    q->qname_len = 0;
    q->nlabels = 0;
    q->has_edns = q->has_ecs = 0;
    q->udp_size = 512;
    if (len < DNSW_HDR)
        return DNSW_DROP;
    q->id = rd16(msg);
    q->flags = rd16(msg + 2);
    q->opcode = (uint8_t)((q->flags >> 11) & 0xF);
    if (q->flags & DNSW_F_QR)
        return DNSW_DROP; /* a response: never answer it (reflection loops) */
    uint16_t qd = rd16(msg + 4), an = rd16(msg + 6), ns = rd16(msg + 8), ar = rd16(msg + 10);
    if (q->opcode != 0) {
        q->rcode = DNSW_NOTIMP;
        return DNSW_ERROR;
    }
    q->rcode = DNSW_FORMERR;
    if (qd != 1)
        return DNSW_ERROR;
    size_t off = DNSW_HDR;
    int n = dnsw_read_name(msg, len, &off, q->qname);
    if (n < 0 || off + 4 > len)
        return DNSW_ERROR;
    q->qname_len = (size_t)n;
    for (size_t i = 0; q->qname[i] != 0; i += (size_t)q->qname[i] + 1)
        q->lab_off[q->nlabels++] = (uint8_t)i;
    q->qtype = rd16(msg + off);
    q->qclass = rd16(msg + off + 2);
    off += 4;
    for (unsigned i = 0; i < (unsigned)an + ns; i++)
        if (skip_rr(msg, len, &off) != 0)
            return DNSW_ERROR;
    for (unsigned i = 0; i < ar; i++) {
        uint8_t name[DNSW_MAX_NAME];
        if (dnsw_read_name(msg, len, &off, name) < 0 || off + 10 > len)
            return DNSW_ERROR;
        uint16_t type = rd16(msg + off), rdlen = rd16(msg + off + 8);
        if (off + 10 + rdlen > len)
            return DNSW_ERROR;
        if (type == DNSW_T_OPT) {
            if (q->has_edns || name[0] != 0)
                return DNSW_ERROR; /* two OPTs, or OPT not at the root */
            q->has_edns = 1;
            uint16_t sz = rd16(msg + off + 2);
            q->udp_size = sz < 512 ? 512 : sz;
            q->edns_version = msg[off + 5];
            q->edns_do = (msg[off + 6] & 0x80) != 0;
            parse_opt_options(msg + off + 10, rdlen, q);
        }
        off += 10u + rdlen;
    }
    if (q->has_edns && q->edns_version != 0) {
        q->rcode = DNSW_BADVERS;
        return DNSW_ERROR;
    }
    if (q->qclass != DNSW_C_IN && q->qclass != DNSW_C_ANY) {
        q->rcode = DNSW_NOTIMP;
        return DNSW_ERROR;
    }
    q->rcode = 0;
    return DNSW_OK;
}

/* ---------------------------------------------------------------- writer */

void dnsw_put(dnsw_buf_t *b, const void *p, size_t n)
{
    if (b->over || b->len + n > b->cap) {
        b->over = 1;
        return;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

void dnsw_put8(dnsw_buf_t *b, uint8_t v)
{
    dnsw_put(b, &v, 1);
}

void dnsw_put16(dnsw_buf_t *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    dnsw_put(b, x, 2);
}

void dnsw_put32(dnsw_buf_t *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    dnsw_put(b, x, 4);
}

void dnsw_put_ptr(dnsw_buf_t *b, size_t off)
{
    dnsw_put16(b, (uint16_t)(0xC000u | (off & 0x3FFFu)));
}

void dnsw_set16(dnsw_buf_t *b, size_t off, uint16_t v)
{
    if (off + 2 <= b->len) {
        b->p[off] = (uint8_t)(v >> 8);
        b->p[off + 1] = (uint8_t)v;
    }
}

size_t dnsw_rr_begin(dnsw_buf_t *b, uint16_t type, uint32_t ttl)
{
    uint8_t x[10] = {(uint8_t)(type >> 8), (uint8_t)type, 0, DNSW_C_IN,
                     (uint8_t)(ttl >> 24), (uint8_t)(ttl >> 16), (uint8_t)(ttl >> 8),
                     (uint8_t)ttl, 0, 0};
    dnsw_put(b, x, 10);
    return b->len - 2;
}

void dnsw_rr_end(dnsw_buf_t *b, size_t rdlen_off)
{
    if (!b->over)
        dnsw_set16(b, rdlen_off, (uint16_t)(b->len - rdlen_off - 2));
}

void dnsw_put_reply_header(dnsw_buf_t *b, const dnsw_query_t *q, uint16_t extra_flags,
                           uint8_t rcode)
{
    uint16_t f = (uint16_t)(DNSW_F_QR | (q->flags & (0x7800u | DNSW_F_RD)) | extra_flags |
                            (rcode & 0xF));
    dnsw_put16(b, q->id);
    dnsw_put16(b, f);
    dnsw_put16(b, 0);
    dnsw_put16(b, 0);
    dnsw_put16(b, 0);
    dnsw_put16(b, 0);
}

void dnsw_name_to_text(const uint8_t *name, char *out, size_t outlen)
{
    size_t o = 0;
    if (outlen == 0)
        return;
    if (name[0] == 0) {
        snprintf(out, outlen, ".");
        return;
    }
    for (size_t i = 0; name[i] && i < DNSW_MAX_NAME; i += (size_t)name[i] + 1) {
        for (size_t j = 1; j <= name[i]; j++) {
            unsigned char c = name[i + j];
            char tmp[5];
            if (c > 0x20 && c < 0x7f && c != '.' && c != '\\')
                tmp[0] = (char)c, tmp[1] = 0;
            else
                snprintf(tmp, sizeof tmp, "\\%03u", c);
            for (char *t = tmp; *t && o + 1 < outlen; t++)
                out[o++] = *t;
        }
        if (o + 1 < outlen)
            out[o++] = '.';
    }
    out[o] = 0;
}

int dnsw_name_from_text(const char *text, uint8_t *out)
{
    size_t o = 0;
    const char *p = text;
    if (strcmp(p, ".") == 0 || *p == 0) {
        out[0] = 0;
        return 1;
    }
    while (*p) {
        const char *e = strchr(p, '.');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0 || n > DNSW_MAX_LABEL || o + 1 + n + 1 > DNSW_MAX_NAME)
            return -1;
        out[o++] = (uint8_t)n;
        memcpy(out + o, p, n);
        o += n;
        p += n;
        if (*p == '.')
            p++;
    }
    out[o++] = 0;
    return (int)o;
}
