/*
 * output.c - bounded output capture and UTF-8 repair for check plugins.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"

int outbuf_init(outbuf_t *o, size_t cap)
{
    memset(o, 0, sizeof *o);
    o->cap = cap ? cap : 4096;
    o->buf = malloc(o->cap);
    return o->buf ? 0 : -1;
}

void outbuf_append(outbuf_t *o, const char *data, size_t n)
{
    o->total += n;
    if (n >= o->cap) {
        memcpy(o->buf, data + (n - o->cap), o->cap);
        o->start = 0;
        o->len = o->cap;
        return;
    }
    for (size_t i = 0; i < n;) {
        size_t end = (o->start + o->len) % o->cap;
        if (o->len == o->cap) { /* full: overwrite the oldest */
            size_t chunk = o->cap - o->start;
            if (chunk > n - i) chunk = n - i;
            memcpy(o->buf + o->start, data + i, chunk);
            o->start = (o->start + chunk) % o->cap;
            i += chunk;
        } else {
            size_t room = (end >= o->start ? o->cap - end : o->start - end);
            size_t chunk = room < n - i ? room : n - i;
            memcpy(o->buf + end, data + i, chunk);
            o->len += chunk;
            i += chunk;
        }
    }
}

char *outbuf_render(const outbuf_t *o)
{
    char head[96] = "";
    size_t keep = o->len;
    if (o->total > o->len) {
        /* The core caps every output at output_max_size, so the prefix comes
         * out of the budget: prefix + kept bytes == cap. */
        int hl = snprintf(head, sizeof head, "Captured %zu of %llu bytes\n...\n", o->len,
                          (unsigned long long)o->total);
        if ((size_t)hl + 16 <= o->len) {
            keep = o->len - (size_t)hl;
            snprintf(head, sizeof head, "Captured %zu of %llu bytes\n...\n", keep,
                     (unsigned long long)o->total);
        } else
            head[0] = '\0'; /* too small for a prefix: the tail alone */
    }
    size_t hl = strlen(head);
    char *flat = malloc(hl + keep + 1);
    if (!flat) return NULL;
    memcpy(flat, head, hl);
    /* the last `keep` bytes of the ring, oldest first */
    size_t from = (o->start + (o->len - keep)) % o->cap;
    size_t first = o->cap - from < keep ? o->cap - from : keep;
    memcpy(flat + hl, o->buf + from, first);
    memcpy(flat + hl + first, o->buf, keep - first);
    char *out = utf8_sanitize(flat, hl + keep);
    free(flat);
    return out;
}

void outbuf_free(outbuf_t *o)
{
    free(o->buf);
    o->buf = NULL;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0x01 && c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;       /* no overlongs */
        else if (c == 0xED) hi = 0x9F;  /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        else if (c == 0xF4) hi = 0x8F;  /* <= U+10FFFF */
    } else
        return 0;
    if (n < len) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return len;
}

char *utf8_sanitize(const char *s, size_t n)
{
    char *out = malloc(n * 3 + 1); /* each bad byte becomes 3 */
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq((const unsigned char *)s + i, n - i);
        if (l) {
            memcpy(out + o, s + i, l);
            o += l;
            i += l;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    out[o] = '\0';
    return out;
}
