/*
 * request.h - assembles HTTP/1.x requests from a byte stream with
 * http-parser 2.9, enforcing the header and body limits. One request at a
 * time: the parser stops when a request is complete so pipelined requests
 * are answered in order; tbh_reqparser_next() readies the next one. No
 * I/O here, so the same code runs under the fuzzer.
 */
#ifndef TBH_REQUEST_H
#define TBH_REQUEST_H

#include <http_parser.h>
#include <stdint.h>

#include "util.h"

typedef enum tbh_perr {
    TBH_PERR_NONE = 0,
    TBH_PERR_MALFORMED = 1, /* 400 */
    TBH_PERR_HEADERS = 2,   /* 431: request line + headers over the limit */
    TBH_PERR_BODY = 3,      /* 413: body over the limit */
    TBH_PERR_NOMEM = 4      /* 500 */
} tbh_perr_t;

typedef struct tbh_request {
    enum http_method method;
    unsigned short http_major, http_minor;
    tbh_buf_t url;         /* request target as sent */
    char *x_consul_token;  /* first X-Consul-Token header, or NULL */
    char *authorization;   /* first Authorization header, or NULL */
    int expect_continue;   /* Expect: 100-continue */
    tbh_buf_t body;
    int is_kv_put;         /* PUT /v1/kv/...: body limited to kv_max */
    int keep_alive;        /* valid once complete */
    int upgrade;           /* Upgrade/CONNECT: the stream stops being HTTP */
} tbh_request_t;

typedef struct tbh_reqparser tbh_reqparser_t;
typedef void (*tbh_headers_cb)(tbh_reqparser_t *rp, void *arg);

/* What only a request being read needs: allocated with its first byte,
 * freed once it is complete, so a connection whose request is being
 * answered (a blocking query, for minutes) keeps none of it. */
typedef struct tbh_pstate {
    http_parser parser;
    size_t header_bytes;  /* request line + headers so far */
    char field[24];       /* header being read */
    size_t field_len;
    int field_long;
    int in_value;
    tbh_buf_t value;
} tbh_pstate_t;

struct tbh_reqparser {
    tbh_pstate_t *ps;         /* NULL between requests */
    tbh_request_t req;
    size_t max_header_bytes;  /* request line + headers we keep */
    uint64_t max_body;        /* any body */
    uint64_t kv_max;          /* KV PUT body (413 "Value exceeds N byte limit") */
    tbh_headers_cb on_headers;/* after the headers, before the body (100-continue) */
    void *arg;

    int started;       /* the current request has begun */
    int headers_done;
    int snapshot_put;  /* PUT /v1/snapshot: a larger body limit */
    int complete;      /* a whole request is ready; the parser is paused */
    int body_seen;     /* body bytes arrived since the caller last cleared it */
    tbh_perr_t error;
    const char *error_text;
};

/* Limits: max_header_bytes, max_body, kv_max. */
void tbh_reqparser_init(tbh_reqparser_t *rp, size_t max_header_bytes, uint64_t max_body,
                        uint64_t kv_max);
void tbh_reqparser_free(tbh_reqparser_t *rp);

/* Parse up to len bytes. Returns how many were consumed; stops early when
 * a request completes (rp->complete) or on an error (rp->error). */
size_t tbh_reqparser_feed(tbh_reqparser_t *rp, const char *data, size_t len);

/* Drop the completed request; the next feed starts a new one. */
void tbh_reqparser_next(tbh_reqparser_t *rp);

/* Path of the request target without query, or NULL: [*off, *off+*len). */
int tbh_url_split(const char *url, size_t len, int is_connect, size_t *path_off, size_t *path_len,
                  size_t *query_off, size_t *query_len);

#endif
