/*
 * kvjson.c - KVPair rendering, Go-compatible string escaping and jansson
 * output into a tbh_buf_t (see kvjson.h).
 */
#include "kvjson.h"

#include <string.h>

static const char hexdig[] = "0123456789abcdef";

/* Length of the valid UTF-8 sequence at s (Go's utf8.DecodeRune rules:
 * no overlongs, no surrogates, nothing above U+10FFFF), 0 when invalid.
 * *cp receives the code point. */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    if (c < 0xc2 || c > 0xf4)
        return 0;
    size_t len = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    if (n < len)
        return 0;
    uint32_t v = c & (len == 2 ? 0x1f : len == 3 ? 0x0f : 0x07);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && v < 0x800) || (len == 4 && v < 0x10000) || v > 0x10ffff ||
        (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return len;
}

int tbh_json_string(tbh_buf_t *b, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, start = 0;
    tbh_buf_reserve(b, n + 2);
    tbh_buf_addc(b, '"');
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            if (c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&') {
                i++;
                continue;
            }
            tbh_buf_add(b, s + start, i - start);
            switch (c) {
            case '"':
                tbh_buf_add(b, "\\\"", 2);
                break;
            case '\\':
                tbh_buf_add(b, "\\\\", 2);
                break;
            case '\n':
                tbh_buf_add(b, "\\n", 2);
                break;
            case '\r':
                tbh_buf_add(b, "\\r", 2);
                break;
            case '\t':
                tbh_buf_add(b, "\\t", 2);
                break;
            default: {
                char u[6] = {'\\', 'u', '0', '0', hexdig[c >> 4], hexdig[c & 15]};
                tbh_buf_add(b, u, 6);
            }
            }
            start = ++i;
            continue;
        }
        uint32_t cp = 0;
        size_t len = utf8_seq(s + i, n - i, &cp);
        if (len == 0) {
            tbh_buf_add(b, s + start, i - start);
            tbh_buf_add(b, "\\ufffd", 6);
            start = ++i;
            continue;
        }
        if (cp == 0x2028 || cp == 0x2029) {
            /* valid JSON, but not valid JavaScript: Go escapes them */
            tbh_buf_add(b, s + start, i - start);
            tbh_buf_add(b, cp == 0x2028 ? "\\u2028" : "\\u2029", 6);
            i += len;
            start = i;
            continue;
        }
        i += len;
    }
    tbh_buf_add(b, s + start, n - start);
    tbh_buf_addc(b, '"');
    return b->failed ? -1 : 0;
}

int tbh_base64(tbh_buf_t *b, const void *data, size_t len)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = data;
    if (tbh_buf_reserve(b, (len + 2) / 3 * 4) != 0)
        return -1;
    char *o = b->data + b->len;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = tab[(v >> 6) & 63];
        *o++ = tab[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = i + 1 < len ? tab[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
    return 0;
}

/* One "Name": value separator in either layout. */
static void field(tbh_buf_t *b, int pretty, int first, const char *name)
{
    if (!first)
        tbh_buf_addc(b, ',');
    if (pretty)
        tbh_buf_adds(b, "\n        ");
    tbh_buf_addc(b, '"');
    tbh_buf_adds(b, name);
    tbh_buf_adds(b, pretty ? "\": " : "\":");
}

int tbh_kv_render(tbh_buf_t *b, const tb_kv_entry_t *e, size_t n, int pretty)
{
    if (n == 0) {
        tbh_buf_adds(b, pretty ? "[]\n" : "[]");
        return b->failed ? -1 : 0;
    }
    tbh_buf_addc(b, '[');
    for (size_t i = 0; i < n; i++) {
        const tb_kv_entry_t *kv = &e[i];
        if (i)
            tbh_buf_addc(b, ',');
        tbh_buf_adds(b, pretty ? "\n    {" : "{");
        field(b, pretty, 1, "LockIndex");
        tbh_buf_addu64(b, kv->lock_index);
        field(b, pretty, 0, "Key");
        tbh_json_string(b, kv->key ? kv->key : "", kv->key ? strlen(kv->key) : 0);
        field(b, pretty, 0, "Flags");
        tbh_buf_addu64(b, kv->flags);
        field(b, pretty, 0, "Value");
        if (kv->value && kv->value_len) {
            tbh_buf_addc(b, '"');
            tbh_base64(b, kv->value, kv->value_len);
            tbh_buf_addc(b, '"');
        } else {
            tbh_buf_adds(b, "null"); /* Go encodes an empty []byte as null */
        }
        if (kv->session && *kv->session) {
            field(b, pretty, 0, "Session");
            tbh_json_string(b, kv->session, strlen(kv->session));
        }
        field(b, pretty, 0, "CreateIndex");
        tbh_buf_addu64(b, kv->create_index);
        field(b, pretty, 0, "ModifyIndex");
        tbh_buf_addu64(b, kv->modify_index);
        tbh_buf_adds(b, pretty ? "\n    }" : "}");
    }
    tbh_buf_adds(b, pretty ? "\n]\n" : "]");
    return b->failed ? -1 : 0;
}

static int dump_cb(const char *buffer, size_t size, void *data)
{
    return tbh_buf_add(data, buffer, size);
}

int tbh_json_render(tbh_buf_t *b, const json_t *v, int pretty)
{
    if (!v) {
        tbh_buf_adds(b, pretty ? "null\n" : "null");
        return b->failed ? -1 : 0;
    }
    size_t flags = JSON_ENCODE_ANY | (pretty ? JSON_INDENT(4) : JSON_COMPACT);
    if (json_dump_callback(v, dump_cb, b, flags) != 0)
        return -1;
    if (pretty)
        tbh_buf_addc(b, '\n');
    return b->failed ? -1 : 0;
}
