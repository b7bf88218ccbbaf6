/*
 * archive.c - the snapshot archive (archive.h): gzip (zlib) around a
 * ustar stream of meta.json, state.bin and SHA256SUMS (OpenSSL SHA-256).
 *
 * Reading trusts nothing: the inflated size is bounded, every tar header's
 * checksum and size are checked against what remains, and both files must
 * match their sums before anyone looks at state.bin. The blob itself is
 * checked again by tb__state_restore when it is applied.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "state/archive.h"
#include "state/state.h"

#define BLOCK 512

int tb__snap_err(char **err, const char *fmt, ...)
{
    if (err) {
        char buf[300];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        free(*err);
        *err = strdup(buf);
    }
    return -1;
}

static int buf_add(tb__buf_t *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d)
            return -1;
        b->data = d;
        b->cap = cap;
    }
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

static void sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (!EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) {
        memset(out, '0', 64); /* never matches a real sum */
        out[64] = 0;
        return;
    }
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

json_t *tb__snap_meta_json(const tb__snap_meta_t *m)
{
    return json_pack("{s:i,s:s,s:I,s:I,s:I}", "Version", m->version, "ID", m->id, "Index",
                     (json_int_t)m->index, "Term", (json_int_t)m->term, "Size",
                     (json_int_t)m->size);
}

/* ---------------------------------------------------------------- tar */

static unsigned header_sum(const uint8_t *h)
{
    unsigned s = 0;
    for (int i = 0; i < BLOCK; i++)
        s += (i >= 148 && i < 156) ? ' ' : h[i];
    return s;
}

static int tar_add(tb__buf_t *t, const char *name, const void *data, size_t len, int64_t mtime)
{
    uint8_t h[BLOCK];
    memset(h, 0, sizeof(h));
    snprintf((char *)h, 100, "%s", name);
    memcpy(h + 100, "0000644", 8);
    memcpy(h + 108, "0000000", 8);
    memcpy(h + 116, "0000000", 8);
    char num[24];
    snprintf(num, sizeof(num), "%011llo", (unsigned long long)len);
    memcpy(h + 124, num, 12);
    snprintf(num, sizeof(num), "%011llo", (unsigned long long)(mtime < 0 ? 0 : mtime));
    memcpy(h + 136, num, 12);
    h[156] = '0';
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    snprintf(num, sizeof(num), "%06o", header_sum(h));
    memcpy(h + 148, num, 7);
    h[155] = ' ';
    static const uint8_t zero[BLOCK];
    size_t pad = (BLOCK - len % BLOCK) % BLOCK;
    return buf_add(t, h, BLOCK) || buf_add(t, data, len) || buf_add(t, zero, pad);
}

/* Octal field (NUL/space terminated). -1 when not octal. */
static int octal(const uint8_t *p, size_t n, uint64_t *v)
{
    size_t i = 0;
    *v = 0;
    while (i < n && p[i] == ' ')
        i++;
    size_t start = i;
    for (; i < n && p[i] >= '0' && p[i] <= '7'; i++) {
        if (*v >> 60)
            return -1;
        *v = *v * 8 + (uint64_t)(p[i] - '0');
    }
    if (i == start || (i < n && p[i] != 0 && p[i] != ' '))
        return -1;
    return 0;
}

/* ---------------------------------------------------------------- gzip */

static int gzip(const tb__buf_t *in, tb__buf_t *out)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    /* level 1: state blobs are mostly empty page space, fast beats small */
    if (deflateInit2(&z, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    uLong bound = deflateBound(&z, (uLong)in->len);
    out->data = malloc(bound);
    if (!out->data) {
        deflateEnd(&z);
        return -1;
    }
    out->cap = bound;
    z.next_in = in->data;
    z.avail_in = (uInt)in->len;
    z.next_out = out->data;
    z.avail_out = (uInt)bound;
    int rc = deflate(&z, Z_FINISH);
    out->len = z.total_out;
    deflateEnd(&z);
    return rc == Z_STREAM_END ? 0 : -1;
}

static int gunzip(const void *data, size_t len, tb__buf_t *out, char **err)
{
    const uint8_t *p = data;
    if (len < 18 || p[0] != 0x1f || p[1] != 0x8b)
        return tb__snap_err(err, "snapshot archive: not gzip data");
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return tb__snap_err(err, "snapshot archive: out of memory");
    z.next_in = (Bytef *)(uintptr_t)data;
    z.avail_in = (uInt)len;
    int rc = Z_OK;
    uint8_t chunk[65536];
    while (rc != Z_STREAM_END) {
        z.next_out = chunk;
        z.avail_out = sizeof(chunk);
        rc = inflate(&z, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END) {
            inflateEnd(&z);
            if (rc == Z_BUF_ERROR)
                return tb__snap_err(err, "snapshot archive: gzip stream truncated after %zu bytes", len);
            return tb__snap_err(err, "snapshot archive: damaged gzip stream at byte %zu: %s",
                        (size_t)z.total_in, z.msg ? z.msg : "inflate error");
        }
        size_t got = sizeof(chunk) - z.avail_out;
        if (out->len + got > TB__SNAP_MAX_STATE + 64 * BLOCK) {
            inflateEnd(&z);
            return tb__snap_err(err, "snapshot archive: inflates past %llu bytes",
                        (unsigned long long)TB__SNAP_MAX_STATE);
        }
        if (buf_add(out, chunk, got)) {
            inflateEnd(&z);
            return tb__snap_err(err, "snapshot archive: out of memory");
        }
        if (rc == Z_OK && z.avail_in == 0 && got == 0) {
            inflateEnd(&z);
            return tb__snap_err(err, "snapshot archive: gzip stream truncated after %zu bytes", len);
        }
    }
    inflateEnd(&z);
    return 0;
}

/* ---------------------------------------------------------------- build */

int tb__snap_archive_build(const void *state, size_t len, uint64_t index, uint64_t term,
                           int64_t now_ms, uint8_t **outp, size_t *outlen)
{
    tb__buf_t o = {0}, *out = &o;
    *outp = NULL;
    *outlen = 0;
    tb__snap_meta_t m = {TB__SNAP_VERSION, "", index, term, len};
    snprintf(m.id, sizeof(m.id), "%" PRIu64 "-%" PRIu64 "-%lld", term, index,
             (long long)now_ms);
    json_t *mj = tb__snap_meta_json(&m);
    char *meta = mj ? json_dumps(mj, JSON_INDENT(1)) : NULL;
    json_decref(mj);
    if (!meta)
        return -1;
    char hm[65], hs[65], sums[200];
    sha256_hex(meta, strlen(meta), hm);
    sha256_hex(state, len, hs);
    snprintf(sums, sizeof(sums), "%s  meta.json\n%s  state.bin\n", hm, hs);
    tb__buf_t t = {0};
    static const uint8_t zero[2 * BLOCK];
    int64_t mtime = now_ms / 1000;
    int rc = tar_add(&t, "meta.json", meta, strlen(meta), mtime) ||
             tar_add(&t, "state.bin", state, len, mtime) ||
             tar_add(&t, "SHA256SUMS", sums, strlen(sums), mtime) ||
             buf_add(&t, zero, sizeof(zero));
    free(meta);
    if (!rc)
        rc = gzip(&t, out);
    tb__buf_free(&t);
    if (rc) {
        tb__buf_free(out);
        return -1;
    }
    *outp = o.data;
    *outlen = o.len;
    return 0;
}

/* ---------------------------------------------------------------- read */

typedef struct member {
    const uint8_t *data;
    size_t len;
    int seen;
} member_t;

/* The hex sum listed for name in SHA256SUMS, or NULL. */
static const char *sum_for(const member_t *sums, const char *name, char out[65])
{
    const char *p = (const char *)sums->data, *end = p + sums->len;
    size_t nl = strlen(name);
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        /* "<64 hex>  <name>" (or " *<name>" for binary mode) */
        if (eol - p == (ptrdiff_t)(66 + nl) && p[64] == ' ' && (p[65] == ' ' || p[65] == '*') &&
            memcmp(p + 66, name, nl) == 0) {
            memcpy(out, p, 64);
            out[64] = 0;
            return out;
        }
        p = eol + 1;
    }
    return NULL;
}

static int check_sum(const member_t *sums, const member_t *m, const char *name, char **err)
{
    char want[65], have[65];
    if (!sum_for(sums, name, want))
        return tb__snap_err(err, "snapshot archive: SHA256SUMS has no line for %s", name);
    sha256_hex(m->data, m->len, have);
    if (strcasecmp(want, have) != 0)
        return tb__snap_err(err, "snapshot archive: %s does not match its SHA-256 in SHA256SUMS", name);
    return 0;
}

static int parse_meta(const member_t *mf, tb__snap_meta_t *m, char **err)
{
    json_error_t je;
    json_t *j = json_loadb((const char *)mf->data, mf->len, 0, &je);
    if (!json_is_object(j)) {
        json_decref(j);
        return tb__snap_err(err, "snapshot archive: meta.json is not a JSON object");
    }
    json_t *ver = json_object_get(j, "Version"), *id = json_object_get(j, "ID");
    json_t *idx = json_object_get(j, "Index"), *term = json_object_get(j, "Term");
    json_t *size = json_object_get(j, "Size");
    int ok = json_is_integer(ver) && json_is_string(id) && json_is_integer(idx) &&
             json_is_integer(term) && json_is_integer(size) && json_integer_value(idx) >= 0 &&
             json_integer_value(term) >= 0 && json_integer_value(size) >= 0;
    if (ok) {
        m->version = (int)json_integer_value(ver);
        snprintf(m->id, sizeof(m->id), "%s", json_string_value(id));
        m->index = (uint64_t)json_integer_value(idx);
        m->term = (uint64_t)json_integer_value(term);
        m->size = (uint64_t)json_integer_value(size);
    }
    json_decref(j);
    if (!ok)
        return tb__snap_err(err, "snapshot archive: meta.json lacks Version, ID, Index, Term or Size");
    if (m->version != TB__SNAP_VERSION)
        return tb__snap_err(err, "snapshot archive: version %d, this build reads version %d", m->version,
                    TB__SNAP_VERSION);
    return 0;
}

int tb__snap_archive_read(const void *data, size_t len, uint8_t **state, size_t *state_len,
                          tb__snap_meta_t *meta, char **err)
{
    if (err)
        *err = NULL;
    if (state)
        *state = NULL;
    if (state_len)
        *state_len = 0;
    memset(meta, 0, sizeof(*meta));
    if (!data || !len)
        return tb__snap_err(err, "snapshot archive: empty");
    tb__buf_t t = {0};
    if (gunzip(data, len, &t, err))
        goto bad;
    member_t mf = {0}, sf = {0}, sums = {0};
    size_t off = 0;
    for (;;) {
        if (t.len - off < BLOCK) {
            tb__snap_err(err, "snapshot archive: tar stream truncated at offset %zu", off);
            goto bad;
        }
        const uint8_t *h = t.data + off;
        int all_zero = 1;
        for (int i = 0; i < BLOCK && all_zero; i++)
            all_zero = h[i] == 0;
        if (all_zero)
            break;
        uint64_t size, sum;
        if (octal(h + 148, 8, &sum) || sum != header_sum(h)) {
            tb__snap_err(err, "snapshot archive: bad tar header checksum at offset %zu", off);
            goto bad;
        }
        if (octal(h + 124, 12, &size) || size > t.len - off - BLOCK) {
            tb__snap_err(err, "snapshot archive: tar member at offset %zu runs past the end", off);
            goto bad;
        }
        char name[101];
        memcpy(name, h, 100);
        name[100] = 0;
        member_t *m = strcmp(name, "meta.json") == 0   ? &mf
                      : strcmp(name, "state.bin") == 0 ? &sf
                      : strcmp(name, "SHA256SUMS") == 0 ? &sums
                                                        : NULL;
        if (m && (h[156] == '0' || h[156] == 0)) {
            if (m->seen) {
                tb__snap_err(err, "snapshot archive: %s appears twice", name);
                goto bad;
            }
            m->data = h + BLOCK;
            m->len = (size_t)size;
            m->seen = 1;
        }
        off += BLOCK + ((size_t)size + BLOCK - 1) / BLOCK * BLOCK;
        if (off > t.len) {
            tb__snap_err(err, "snapshot archive: tar stream truncated at offset %zu", t.len);
            goto bad;
        }
    }
    const char *missing = !mf.seen ? "meta.json" : !sf.seen ? "state.bin" : !sums.seen ? "SHA256SUMS" : NULL;
    if (missing) {
        tb__snap_err(err, "snapshot archive: no %s in it", missing);
        goto bad;
    }
    if (check_sum(&sums, &mf, "meta.json", err) || check_sum(&sums, &sf, "state.bin", err) ||
        parse_meta(&mf, meta, err))
        goto bad;
    if (meta->size != sf.len) {
        tb__snap_err(err, "snapshot archive: meta.json says Size %llu, state.bin has %zu bytes",
             (unsigned long long)meta->size, sf.len);
        goto bad;
    }
    if (state) {
        *state = malloc(sf.len ? sf.len : 1);
        if (!*state) {
            tb__snap_err(err, "snapshot archive: out of memory");
            goto bad;
        }
        memcpy(*state, sf.data, sf.len);
    }
    if (state_len)
        *state_len = sf.len;
    tb__buf_free(&t);
    return 0;
bad:
    tb__buf_free(&t);
    return -1;
}
