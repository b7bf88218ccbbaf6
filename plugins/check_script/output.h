/*
 * output.h - check output capture shared by the check plugins: keep the
 * LAST `cap` bytes of a stream (Consul's circular buffer), render them with
 * Consul's "Captured <kept> of <total> bytes" prefix, and make any byte
 * string valid UTF-8 (JSON cannot carry raw bytes; Go's encoder likewise
 * writes U+FFFD for invalid sequences). Pure: no sockets, no libuv.
 */
#ifndef CHECK_OUTPUT_H
#define CHECK_OUTPUT_H

#include <stddef.h>
#include <stdint.h>

typedef struct outbuf {
    char *buf;
    size_t cap;   /* bytes kept at most */
    size_t start; /* index of the oldest kept byte */
    size_t len;   /* bytes kept */
    uint64_t total; /* bytes seen */
} outbuf_t;

int outbuf_init(outbuf_t *o, size_t cap);
void outbuf_append(outbuf_t *o, const char *data, size_t n);
/* The kept bytes as valid UTF-8, malloc'd. When some were dropped: Consul's
 * "Captured <kept> of <total> bytes\n...\n" and the last bytes, the whole
 * no longer than cap (the core caps outputs at output_max_size). */
char *outbuf_render(const outbuf_t *o);
void outbuf_free(outbuf_t *o);

/* A malloc'd copy of s[0..n) with invalid UTF-8 and NUL bytes replaced by
 * U+FFFD. */
char *utf8_sanitize(const char *s, size_t n);

#endif
