/*
 * util.h - small helpers of the http plugin: a growable byte buffer that
 * stays NUL-terminated and remembers allocation failure, and the URL
 * escaping rules of Go's net/url (which Consul's responses follow).
 * Pure code: no libuv, no agent; unit-tested and fuzzed.
 */
#ifndef TBH_UTIL_H
#define TBH_UTIL_H

#include <stddef.h>
#include <stdint.h>

typedef struct tbh_buf {
    char *data;  /* NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
    int failed;  /* an allocation failed: every later append is refused */
} tbh_buf_t;

#define TBH_BUF_INIT {NULL, 0, 0, 0}

/* Appends return 0, or -1 once an allocation has failed. */
int tbh_buf_reserve(tbh_buf_t *b, size_t extra);
int tbh_buf_add(tbh_buf_t *b, const void *p, size_t n);
int tbh_buf_adds(tbh_buf_t *b, const char *s);
int tbh_buf_addc(tbh_buf_t *b, char c);
int tbh_buf_addu64(tbh_buf_t *b, uint64_t v);
int tbh_buf_printf(tbh_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tbh_buf_free(tbh_buf_t *b);
/* Hand the storage to the caller (malloc'd, may be NULL when empty). */
char *tbh_buf_steal(tbh_buf_t *b, size_t *len);

/* Percent-decode s[0..n). plus: '+' means space (query strings) or stays
 * '+' (paths), as Go's QueryUnescape / PathUnescape. Returns 0 with a
 * malloc'd NUL-terminated *out (and *outlen), -1 on a malformed escape,
 * -2 when out of memory. */
int tbh_unescape(const char *s, size_t n, int plus, char **out, size_t *outlen);

/* Go's url.URL{Path: p}.EscapedPath() (for Location headers). */
int tbh_escape_path(tbh_buf_t *b, const char *s);
/* Go's url.QueryEscape (space becomes '+'). */
int tbh_escape_query(tbh_buf_t *b, const char *s);

/* Go's strconv.ParseUint(s, 10, 64): digits only, no sign, no overflow.
 * Returns 0, -1 on syntax, -2 when out of range. */
int tbh_parse_u64(const char *s, uint64_t *out);
/* Go's strconv.ParseBool. Returns 0, or -1 for anything else. */
int tbh_parse_bool(const char *s, int *out);

/* ASCII case-insensitive comparisons (header names, config keys). */
int tbh_strieq(const char *a, const char *b);
int tbh_strnieq(const char *a, size_t alen, const char *b);

#endif
