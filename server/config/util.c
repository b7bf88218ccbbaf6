/*
 * util.c - small parsers shared by the core, the CLI and (through the SDK
 * table) the plugins: Go duration syntax as Consul's configs and query
 * strings use it, and standard padded base64 for KV values.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/tb_config.h"

/* ------------------------------------------------------------ durations */

static const struct {
    const char *name;
    uint64_t ns;
} duration_units[] = {
    {"ns", 1ULL},
    {"us", 1000ULL},
    {"\xc2\xb5s", 1000ULL}, /* U+00B5 micro sign */
    {"\xce\xbcs", 1000ULL}, /* U+03BC greek small letter mu */
    {"ms", 1000000ULL},
    {"s", 1000000000ULL},
    {"m", 60ULL * 1000000000ULL},
    {"h", 3600ULL * 1000000000ULL},
};

/* Go caps durations at the int64 range; so do we. */
#define DURATION_MAX ((uint64_t)INT64_MAX)

int tb__parse_duration(const char *s, uint64_t *ns)
{
    if (s == NULL || ns == NULL)
        return -1;
    if (*s == '+')
        s++;
    else if (*s == '-')
        return -1; /* negative durations make no sense in a config */
    /* Go accepts a bare "0" as the one unit-less duration. */
    if (strcmp(s, "0") == 0) {
        *ns = 0;
        return 0;
    }
    if (*s == '\0')
        return -1;

    uint64_t total = 0;
    while (*s != '\0') {
        /* integer part */
        uint64_t v = 0;
        int digits = 0;
        while (*s >= '0' && *s <= '9') {
            uint64_t d = (uint64_t)(*s - '0');
            if (v > (DURATION_MAX - d) / 10)
                return -1; /* overflow */
            v = v * 10 + d;
            s++;
            digits++;
        }
        /* fraction: keep as many digits as fit, ignore the rest like Go */
        uint64_t frac = 0, scale = 1;
        int overflowed = 0;
        if (*s == '.') {
            s++;
            while (*s >= '0' && *s <= '9') {
                if (!overflowed) {
                    if (frac > (DURATION_MAX - 9) / 10 || scale > DURATION_MAX / 10) {
                        overflowed = 1;
                    } else {
                        frac = frac * 10 + (uint64_t)(*s - '0');
                        scale *= 10;
                    }
                }
                s++;
                digits++;
            }
        }
        if (digits == 0)
            return -1; /* ".s" or a unit with no number */

        /* unit: everything up to the next digit or '.' */
        const char *u = s;
        while (*s != '\0' && *s != '.' && !(*s >= '0' && *s <= '9'))
            s++;
        size_t ulen = (size_t)(s - u);
        if (ulen == 0)
            return -1; /* missing unit */
        uint64_t unit = 0;
        for (size_t i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++) {
            if (strlen(duration_units[i].name) == ulen &&
                memcmp(duration_units[i].name, u, ulen) == 0) {
                unit = duration_units[i].ns;
                break;
            }
        }
        if (unit == 0)
            return -1;

        if (v > DURATION_MAX / unit)
            return -1;
        v *= unit;
        if (frac > 0) {
            /* Same arithmetic as Go's time.ParseDuration, so a fractional
             * value rounds exactly as Consul's does. */
            uint64_t add = (uint64_t)((double)frac * ((double)unit / (double)scale));
            if (v > DURATION_MAX - add)
                return -1;
            v += add;
        }
        if (total > DURATION_MAX - v)
            return -1;
        total += v;
    }
    *ns = total;
    return 0;
}

/* ------------------------------------------------------------ base64 */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *tb__base64_encode(const void *data, size_t len)
{
    const unsigned char *in = data;
    size_t olen = 4 * ((len + 2) / 3);
    char *out = malloc(olen + 1);
    if (out == NULL)
        return NULL;
    size_t i = 0, o = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];
        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = b64_alphabet[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int tb__base64_decode(const char *s, size_t len, void **out, size_t *outlen)
{
    if (s == NULL && len > 0)
        return -1;
    /* Like Go's decoder, line breaks are ignored; everything else must be
     * alphabet, with padding only at the very end. */
    unsigned char *buf = malloc(len / 4 * 3 + 4);
    if (buf == NULL)
        return -1;
    uint32_t quad[4];
    int q = 0, pad = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r' || c == '\n')
            continue;
        if (c == '=') {
            /* padding may only fill positions 2 or 3 of the last quantum */
            if (q < 2)
                goto bad;
            pad++;
            quad[q++] = 0;
        } else {
            int v = b64_value(c);
            if (v < 0 || pad > 0)
                goto bad;
            quad[q++] = (uint32_t)v;
        }
        if (q == 4) {
            uint32_t v = (quad[0] << 18) | (quad[1] << 12) | (quad[2] << 6) | quad[3];
            buf[o++] = (unsigned char)(v >> 16);
            if (pad < 2)
                buf[o++] = (unsigned char)(v >> 8);
            if (pad < 1)
                buf[o++] = (unsigned char)v;
            q = 0;
            if (pad > 0) {
                /* nothing but line breaks may follow the padding */
                for (size_t j = i + 1; j < len; j++)
                    if (s[j] != '\r' && s[j] != '\n')
                        goto bad;
                break;
            }
        }
    }
    if (q != 0)
        goto bad; /* truncated quantum or missing padding */
    buf[o] = '\0';
    *out = buf;
    *outlen = o;
    return 0;
bad:
    free(buf);
    return -1;
}
