/*
 * httpreq.h - the socket-free half of check_http: URL parsing, request
 * rendering, redirect target resolution and Consul's status mapping.
 */
#ifndef CHECK_HTTPREQ_H
#define CHECK_HTTPREQ_H

#include <stddef.h>
#include <jansson.h>
#include <tribune/plugin.h>

typedef struct hurl {
    int tls;            /* https */
    char host[256];     /* without brackets: for DNS, SNI, verification */
    char port[8];       /* explicit or 80/443 */
    char authority[300];/* host[:port] as written: the Host header */
    char *target;       /* path?query, "/" when empty; malloc'd */
} hurl_t;

/* 0, or -1 with a static reason. */
int hurl_parse(const char *url, hurl_t *u, const char **why);
void hurl_free(hurl_t *u);

/* Validate a header object {name: [values]} (a lone string is accepted):
 * 0, or -1 with a static reason. Values must not carry CR/LF. */
int http_headers_check(const json_t *headers, const char **why);

/* The request bytes (HTTP/1.1, Connection: close). Consul's defaults
 * (User-Agent "Consul Health Check", and Accept, Consul's text types first)
 * apply unless the headers set them; a "host" header replaces Host. */
char *http_build_request(const char *method, const hurl_t *u, const json_t *headers,
                         const char *body, size_t body_len, size_t *len);

/* Resolve a Location value against the URL it came from; malloc'd. */
char *http_resolve_location(const char *base, const char *location);

/* 2xx passing, 429 warning, else critical. */
tb_check_status_t http_status_map(int code);

/* Go's error prefix for a method: "Get", "Post", ... into buf. */
void http_method_title(const char *method, char *buf, size_t n);

#endif
