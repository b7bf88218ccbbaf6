/*
 * util.c - byte buffer, URL escaping and number/bool parsing shared by the
 * http plugin (see util.h). The escaping and parsing rules are Go's,
 * because clients are written against Consul's exact behaviour.
 */
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tbh_buf_reserve(tbh_buf_t *b, size_t extra)
{
    if (b->failed)
        return -1;
    if (extra > SIZE_MAX / 2 - b->len) {
        b->failed = 1;
        return -1;
    }
    size_t need = b->len + extra + 1; /* room for the NUL */
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int tbh_buf_add(tbh_buf_t *b, const void *p, size_t n)
{
    if (tbh_buf_reserve(b, n) != 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int tbh_buf_adds(tbh_buf_t *b, const char *s)
{
    return tbh_buf_add(b, s, strlen(s));
}

int tbh_buf_addc(tbh_buf_t *b, char c)
{
    return tbh_buf_add(b, &c, 1);
}

int tbh_buf_addu64(tbh_buf_t *b, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return tbh_buf_add(b, tmp + i, sizeof(tmp) - i);
}

int tbh_buf_printf(tbh_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || tbh_buf_reserve(b, (size_t)n) != 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void tbh_buf_free(tbh_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}

char *tbh_buf_steal(tbh_buf_t *b, size_t *len)
{
    char *p = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
    return p;
}

static int unhex(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int tbh_unescape(const char *s, size_t n, int plus, char **out, size_t *outlen)
{
    char *o = malloc(n + 1);
    if (!o)
        return -2;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            if (n - i < 3) { /* need two hex digits after '%' */
                free(o);
                return -1;
            }
            int hi = unhex((unsigned char)s[i + 1]);
            int lo = unhex((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0) {
                free(o);
                return -1;
            }
            o[j++] = (char)(hi * 16 + lo);
            i += 2;
        } else if (s[i] == '+' && plus) {
            o[j++] = ' ';
        } else {
            o[j++] = s[i];
        }
    }
    o[j] = '\0';
    *out = o;
    if (outlen)
        *outlen = j;
    return 0;
}

static int is_unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == '~';
}

static int add_pct(tbh_buf_t *b, unsigned char c)
{
    static const char hex[] = "0123456789ABCDEF";
    char t[3] = {'%', hex[c >> 4], hex[c & 15]};
    return tbh_buf_add(b, t, 3);
}

int tbh_escape_path(tbh_buf_t *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        /* Go's encodePath keeps the reserved set except '?' */
        if (is_unreserved(*p) || (*p != '?' && strchr("$&+,/:;=@", *p)))
            tbh_buf_addc(b, (char)*p);
        else
            add_pct(b, *p);
    }
    return b->failed ? -1 : 0;
}

int tbh_escape_query(tbh_buf_t *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (is_unreserved(*p))
            tbh_buf_addc(b, (char)*p);
        else if (*p == ' ')
            tbh_buf_addc(b, '+');
        else
            add_pct(b, *p);
    }
    return b->failed ? -1 : 0;
}

int tbh_parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s)
        return -1;
    uint64_t v = 0;
    int overflow = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            overflow = 1;
        else
            v = v * 10 + d;
    }
    if (overflow)
        return -2;
    *out = v;
    return 0;
}

int tbh_parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

int tbh_strieq(const char *a, const char *b)
{
    while (*a && *b && lower((unsigned char)*a) == lower((unsigned char)*b)) {
        a++;
        b++;
    }
    return *a == '\0' && *b == '\0';
}

int tbh_strnieq(const char *a, size_t alen, const char *b)
{
    size_t i = 0;
    for (; i < alen && b[i]; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return 0;
    return i == alen && b[i] == '\0';
}
