/*
 * check_http.c - the bundled "http" check type: an HTTP/1.1 client on the
 * agent loop (libuv + http-parser), HTTPS through OpenSSL memory BIOs.
 *
 *   {"check": {"id": "api", "name": "api", "http": "https://localhost:8443/health",
 *              "method": "POST", "header": {"X-Token": ["s3cr3t"]}, "body": "{}",
 *              "tls_skip_verify": false, "tls_server_name": "api.internal",
 *              "disable_redirects": false, "interval": "10s", "timeout": "2s"}}
 *
 * As Consul: 2xx passing, 429 warning, anything else critical; output
 * "HTTP GET <url>: 200 OK Output: <first output_max_size bytes of body>";
 * transport errors as Go prints them ("Get \"<url>\": dial tcp ...").
 * Redirects: Consul (Go's client) follows up to 10 unless
 * disable_redirects, and spec/agent-config.md lists that key, so that is
 * the behaviour here; with disable_redirects the 3xx itself is the result
 * (critical). One probe = resolve (uv_getaddrinfo), connect, [TLS
 * handshake], write, read until the response ends or enough body arrived;
 * the probe's own timer tears everything down at the timeout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netdb.h>
#include <arpa/inet.h>

#include <http_parser.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <tribune/plugin.h>

#include "httpreq.h"
#include "output.h"

TB_PLUGIN_MAGIC("check_http", "1.0.0")

#define MAX_REDIRECTS 10

typedef struct http_probe hprobe_t;

typedef struct check_http {
    const tb_api_t *api;
    tb_plugin_t *self;
    SSL_CTX *ctx_verify, *ctx_noverify;
    hprobe_t *active;
} check_http_t;

struct http_probe {
    const tb_api_t *api;
    check_http_t *owner;
    tb_probe_t *probe; /* NULL once reported */
    hprobe_t *prev, *next;
    json_t *def;       /* our reference: headers and body live here */
    char *orig_url, *url;
    char method[32], orig_method[32];
    const char *body;
    size_t body_len;
    int skip_verify, follow, redirects;
    const char *server_name;
    size_t max_out;
    SSL_CTX *ctx;
    /* the current attempt */
    hurl_t u;
    uv_timer_t timer;
    uv_getaddrinfo_t gai;
    int gai_pending;
    struct addrinfo *res, *cur;
    struct addrinfo nai;           /* an IP literal: no resolver round trip */
    struct sockaddr_storage nsa;
    uv_tcp_t tcp;
    uv_connect_t creq;
    int handles, tcp_open;
    char *req;
    size_t req_len;
    SSL *ssl;
    int handshaken, sent;
    http_parser parser;
    int status_code, complete, enough;
    char reason[128];
    char hfield[16];   /* current header name, enough to spot Location */
    int hfield_len, in_location;
    char *location;
    char *bodybuf;
    size_t bodylen;
};

/* ------------------------------------------------------------ validate */

static int fail_key(char **errmsg, const char *key, const char *why)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s: %s", key, why);
    *errmsg = strdup(buf);
    return -1;
}

static int http_validate(void *arg, const json_t *def, char **errmsg)
{
    (void)arg;
    const char *why;
    hurl_t u;
    const json_t *v = json_object_get(def, "http");
    if (!json_is_string(v)) return fail_key(errmsg, "http", "expected a URL string");
    if (hurl_parse(json_string_value(v), &u, &why) != 0) {
        char buf[512];
        snprintf(buf, sizeof buf, "http: \"%.300s\": %s", json_string_value(v), why);
        *errmsg = strdup(buf);
        hurl_free(&u);
        return -1;
    }
    hurl_free(&u);
    v = json_object_get(def, "method");
    if (v && !json_is_null(v)) {
        const char *m = json_string_value(v);
        if (!m || !*m || strlen(m) >= 32 || strspn(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-") != strlen(m))
            return fail_key(errmsg, "method", "expected an HTTP method name");
    }
    if (http_headers_check(json_object_get(def, "header"), &why) != 0)
        return fail_key(errmsg, "header", why);
    v = json_object_get(def, "body");
    if (v && !json_is_null(v) && !json_is_string(v)) return fail_key(errmsg, "body", "expected a string");
    v = json_object_get(def, "tls_server_name");
    if (v && !json_is_null(v) && !json_is_string(v))
        return fail_key(errmsg, "tls_server_name", "expected a string");
    static const char *const bools[] = {"tls_skip_verify", "disable_redirects"};
    for (size_t i = 0; i < 2; i++) {
        v = json_object_get(def, bools[i]);
        if (v && !json_is_null(v) && !json_is_boolean(v)) return fail_key(errmsg, bools[i], "expected true or false");
    }
    return 0;
}

/* ------------------------------------------------------------ teardown */

static void maybe_free(hprobe_t *hp)
{
    if (hp->handles || hp->gai_pending || hp->probe) return;
    if (hp->res) uv_freeaddrinfo(hp->res);
    if (hp->ssl) SSL_free(hp->ssl);
    hurl_free(&hp->u);
    json_decref(hp->def);
    free(hp->orig_url);
    free(hp->url);
    free(hp->req);
    free(hp->location);
    free(hp->bodybuf);
    free(hp);
}

static void handle_closed(uv_handle_t *h)
{
    hprobe_t *hp = h->data;
    hp->handles--;
    maybe_free(hp);
}

static void close_tcp(hprobe_t *hp, uv_close_cb cb)
{
    if (hp->tcp_open) {
        hp->tcp_open = 0;
        uv_close((uv_handle_t *)&hp->tcp, cb);
    }
}

static void finish(hprobe_t *hp, tb_check_status_t st, const char *out)
{
    if (!hp->probe) return;
    tb_probe_t *p = hp->probe;
    hp->probe = NULL;
    if (hp->prev) hp->prev->next = hp->next;
    else hp->owner->active = hp->next;
    if (hp->next) hp->next->prev = hp->prev;
    hp->prev = hp->next = NULL;
    if (hp->gai_pending) uv_cancel((uv_req_t *)&hp->gai);
    uv_close((uv_handle_t *)&hp->timer, handle_closed);
    close_tcp(hp, handle_closed);
    char *safe = utf8_sanitize(out, strlen(out));
    hp->api->probe_done(p, st, safe ? safe : "");
    free(safe);
    maybe_free(hp);
}

/* Go's client error: Get "<url>": <what> */
static void fail(hprobe_t *hp, const char *what)
{
    char m[16], out[1024];
    http_method_title(hp->orig_method, m, sizeof m);
    snprintf(out, sizeof out, "%s \"%s\": %s", m, hp->orig_url, what);
    finish(hp, TB_CHECK_CRITICAL, out);
}

/* ------------------------------------------------------------ response */

static int on_status(http_parser *p, const char *at, size_t n)
{
    hprobe_t *hp = p->data;
    size_t l = strlen(hp->reason);
    if (l + n >= sizeof hp->reason) n = sizeof hp->reason - l - 1;
    memcpy(hp->reason + l, at, n);
    hp->reason[l + n] = '\0';
    return 0;
}

/* in_location: 0 reading a field name, 1 in another value, 2 in Location */
static int on_hfield(http_parser *p, const char *at, size_t n)
{
    hprobe_t *hp = p->data;
    if (hp->in_location != 0) { /* a value ended: a new field begins */
        hp->hfield_len = 0;
        hp->in_location = 0;
    }
    for (size_t i = 0; i < n; i++)
        if (hp->hfield_len < (int)sizeof hp->hfield - 1) hp->hfield[hp->hfield_len++] = at[i];
        else hp->hfield_len = sizeof hp->hfield; /* too long: not Location */
    return 0;
}

static int on_hvalue(http_parser *p, const char *at, size_t n)
{
    hprobe_t *hp = p->data;
    if (hp->in_location == 0) {
        int is_loc = hp->hfield_len == 8 && strncasecmp(hp->hfield, "location", 8) == 0;
        hp->hfield_len = 0;
        hp->in_location = is_loc ? 2 : 1;
        if (is_loc) {
            free(hp->location);
            hp->location = strdup("");
        }
    }
    if (hp->in_location == 2 && hp->location) {
        size_t l = strlen(hp->location);
        char *nl = realloc(hp->location, l + n + 1);
        if (!nl) return 0;
        memcpy(nl + l, at, n);
        nl[l + n] = '\0';
        hp->location = nl;
    }
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    hprobe_t *hp = p->data;
    hp->status_code = (int)p->status_code;
    return strcmp(hp->method, "HEAD") == 0 ? 1 : 0; /* no body to a HEAD */
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    hprobe_t *hp = p->data;
    size_t room = hp->max_out - hp->bodylen;
    if (n > room) n = room;
    memcpy(hp->bodybuf + hp->bodylen, at, n);
    hp->bodylen += n;
    if (hp->bodylen >= hp->max_out) {
        hp->enough = 1; /* Consul reads at most output_max_size bytes */
        http_parser_pause(p, 1);
    }
    return 0;
}

static int on_message_complete(http_parser *p)
{
    hprobe_t *hp = p->data;
    hp->complete = 1;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_status = on_status,
    .on_header_field = on_hfield,
    .on_header_value = on_hvalue,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void start_attempt(hprobe_t *hp);

static void redirect_closed(uv_handle_t *h)
{
    hprobe_t *hp = h->data;
    hp->handles--;
    if (hp->probe) start_attempt(hp);
    else maybe_free(hp);
}

static int is_redirect(int code)
{
    return code == 301 || code == 302 || code == 303 || code == 307 || code == 308;
}

/* The response ended (or enough of its body arrived). */
static void response_done(hprobe_t *hp)
{
    if (is_redirect(hp->status_code) && hp->follow && hp->location && *hp->location) {
        if (hp->redirects >= MAX_REDIRECTS) {
            fail(hp, "stopped after 10 redirects");
            return;
        }
        char *next = http_resolve_location(hp->url, hp->location);
        if (!next) {
            fail(hp, "out of memory");
            return;
        }
        hp->redirects++;
        free(hp->url);
        hp->url = next;
        /* Go: 301/302/303 turn into GET without a body; 307/308 keep both. */
        if (hp->status_code <= 303 && strcmp(hp->method, "HEAD") != 0) {
            strcpy(hp->method, "GET");
            hp->body = NULL;
            hp->body_len = 0;
        }
        close_tcp(hp, redirect_closed);
        return;
    }
    char *body = utf8_sanitize(hp->bodybuf, hp->bodylen);
    char head[1024];
    int hl = snprintf(head, sizeof head, "HTTP %s %s: %d %s Output: ", hp->orig_method,
                      hp->orig_url, hp->status_code, hp->reason);
    if (hl < 0) hl = 0;
    if ((size_t)hl >= sizeof head) hl = (int)sizeof head - 1;
    if (body) {
        /* The core caps the whole output at output_max_size: the body gets
         * what the status line leaves, cut on a character boundary. */
        size_t budget = hp->max_out > (size_t)hl ? hp->max_out - (size_t)hl : 0;
        size_t bl = strlen(body);
        if (bl > budget) {
            size_t cut = budget;
            while (cut > 0 && ((unsigned char)body[cut] & 0xC0) == 0x80) cut--;
            body[cut] = '\0';
        }
    }
    size_t ol = (size_t)hl + (body ? strlen(body) : 0) + 1;
    char *out = malloc(ol);
    if (out) snprintf(out, ol, "%s%s", head, body ? body : "");
    finish(hp, http_status_map(hp->status_code), out ? out : "out of memory");
    free(out);
    free(body);
}

/* Feed plaintext response bytes; len 0 means the peer closed. */
static void feed(hprobe_t *hp, const char *data, size_t len)
{
    if (hp->complete || hp->enough) return;
    size_t used = http_parser_execute(&hp->parser, &parser_settings, data, len);
    enum http_errno e = HTTP_PARSER_ERRNO(&hp->parser);
    if (hp->complete || hp->enough) {
        response_done(hp);
        return;
    }
    if ((e != HPE_OK && e != HPE_PAUSED) || (len && used != len)) {
        char buf[256];
        snprintf(buf, sizeof buf, "malformed HTTP response: %s", http_errno_description(e));
        fail(hp, buf);
        return;
    }
    if (len == 0) fail(hp, hp->status_code ? "unexpected EOF" : "EOF");
}

/* ------------------------------------------------------------ transport */

typedef struct wreq {
    uv_write_t req;
    char data[];
} wreq_t;

static void on_written(uv_write_t *req, int status)
{
    (void)status; /* errors show up as a failed read */
    free(req);
}

static int send_raw(hprobe_t *hp, const char *data, size_t len)
{
    wreq_t *w = malloc(sizeof *w + len);
    if (!w) return -1;
    memcpy(w->data, data, len);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&hp->tcp, &b, 1, on_written) != 0) {
        free(w);
        return -1;
    }
    return 0;
}

/* Move whatever OpenSSL wants to send onto the socket. */
static void tls_flush(hprobe_t *hp)
{
    BIO *wbio = SSL_get_wbio(hp->ssl);
    char buf[16384];
    int n;
    while ((n = BIO_read(wbio, buf, sizeof buf)) > 0) send_raw(hp, buf, (size_t)n);
}

static void tls_error(hprobe_t *hp)
{
    char what[512];
    /* With tls_skip_verify the result may still record a failed check. */
    long vr = hp->skip_verify ? X509_V_OK : SSL_get_verify_result(hp->ssl);
    unsigned long e = ERR_get_error();
    if (vr != X509_V_OK)
        snprintf(what, sizeof what, "tls: failed to verify certificate: x509: %s",
                 X509_verify_cert_error_string(vr));
    else if (e) {
        char eb[256];
        ERR_error_string_n(e, eb, sizeof eb);
        snprintf(what, sizeof what, "tls: %s", eb);
    } else
        snprintf(what, sizeof what, "tls: handshake failed");
    ERR_clear_error();
    fail(hp, what);
}

/* Drive the TLS state machine after new ciphertext arrived (or at start). */
static void tls_pump(hprobe_t *hp, int eof)
{
    if (!hp->handshaken) {
        int rc = SSL_do_handshake(hp->ssl);
        if (rc != 1) {
            int err = SSL_get_error(hp->ssl, rc);
            tls_flush(hp);
            if (err == SSL_ERROR_WANT_READ && !eof) return;
            tls_error(hp);
            return;
        }
        hp->handshaken = 1;
    }
    if (!hp->sent) {
        hp->sent = 1;
        if (SSL_write(hp->ssl, hp->req, (int)hp->req_len) <= 0) {
            tls_error(hp);
            return;
        }
    }
    tls_flush(hp);
    char buf[16384];
    for (;;) {
        int n = SSL_read(hp->ssl, buf, sizeof buf);
        if (n > 0) {
            feed(hp, buf, (size_t)n);
            if (!hp->probe || hp->complete || hp->enough) return;
            continue;
        }
        int err = SSL_get_error(hp->ssl, n);
        tls_flush(hp);
        if (err == SSL_ERROR_WANT_READ && !eof) return;
        ERR_clear_error();
        /* close_notify, or a peer that just closed: the end of the body */
        feed(hp, NULL, 0);
        return;
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    buf->base = malloc(16384);
    buf->len = buf->base ? 16384 : 0;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    hprobe_t *hp = s->data;
    if (!hp->probe || !hp->tcp_open) {
        free(buf->base);
        return;
    }
    if (n > 0) {
        if (hp->ssl) {
            BIO_write(SSL_get_rbio(hp->ssl), buf->base, (int)n);
            tls_pump(hp, 0);
        } else
            feed(hp, buf->base, (size_t)n);
    } else if (n < 0) {
        uv_read_stop(s);
        if (n != UV_EOF) {
            char what[256];
            snprintf(what, sizeof what, "read tcp: %s", uv_strerror((int)n));
            free(buf->base);
            fail(hp, what);
            return;
        }
        if (hp->ssl) tls_pump(hp, 1);
        else feed(hp, NULL, 0);
    }
    free(buf->base);
}

static int is_ip(const char *h)
{
    unsigned char b[16];
    return inet_pton(AF_INET, h, b) == 1 || inet_pton(AF_INET6, h, b) == 1;
}

static void on_connect(uv_connect_t *req, int status);

static void addr_name(const struct addrinfo *ai, char *buf, size_t n)
{
    char ip[64] = "?";
    if (ai->ai_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const void *)ai->ai_addr;
        uv_ip6_name(s, ip, sizeof ip);
        snprintf(buf, n, "[%s]:%d", ip, ntohs(s->sin6_port));
    } else {
        const struct sockaddr_in *s = (const void *)ai->ai_addr;
        uv_ip4_name(s, ip, sizeof ip);
        snprintf(buf, n, "%s:%d", ip, ntohs(s->sin_port));
    }
}

static void connect_next(hprobe_t *hp);

static void retry_closed(uv_handle_t *h)
{
    hprobe_t *hp = h->data;
    hp->handles--;
    if (hp->probe) connect_next(hp);
    else maybe_free(hp);
}

static void connect_next(hprobe_t *hp)
{
    while (hp->cur && hp->cur->ai_family != AF_INET && hp->cur->ai_family != AF_INET6)
        hp->cur = hp->cur->ai_next;
    if (!hp->cur) {
        fail(hp, "dial tcp: no usable address");
        return;
    }
    uv_tcp_init(hp->timer.loop, &hp->tcp);
    hp->tcp.data = hp;
    hp->tcp_open = 1;
    hp->handles++;
    hp->creq.data = hp;
    int rc = uv_tcp_connect(&hp->creq, &hp->tcp, hp->cur->ai_addr, on_connect);
    if (rc != 0) {
        char a[80], what[256];
        addr_name(hp->cur, a, sizeof a);
        snprintf(what, sizeof what, "dial tcp %s: connect: %s", a, uv_strerror(rc));
        fail(hp, what);
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    hprobe_t *hp = req->data;
    if (!hp->probe || !hp->tcp_open) return;
    if (status != 0) {
        char a[80], what[256];
        addr_name(hp->cur, a, sizeof a);
        hp->cur = hp->cur->ai_next;
        if (hp->cur) {
            close_tcp(hp, retry_closed);
            return;
        }
        snprintf(what, sizeof what, "dial tcp %s: connect: %s", a, uv_strerror(status));
        fail(hp, what);
        return;
    }
    uv_tcp_nodelay(&hp->tcp, 1);
    uv_read_start((uv_stream_t *)&hp->tcp, on_alloc, on_read);
    if (!hp->u.tls) {
        hp->sent = 1;
        if (send_raw(hp, hp->req, hp->req_len) != 0) fail(hp, "write: cannot queue the request");
        return;
    }
    hp->ssl = SSL_new(hp->ctx);
    BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
    if (!hp->ssl || !rb || !wb) {
        BIO_free(rb);
        BIO_free(wb);
        fail(hp, "tls: out of memory");
        return;
    }
    SSL_set_bio(hp->ssl, rb, wb);
    SSL_set_connect_state(hp->ssl);
    const char *name = hp->server_name && *hp->server_name ? hp->server_name : hp->u.host;
    if (!is_ip(name)) SSL_set_tlsext_host_name(hp->ssl, name);
    if (!hp->skip_verify) {
        if (is_ip(name)) X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(hp->ssl), name);
        else SSL_set1_host(hp->ssl, name);
    }
    tls_pump(hp, 0);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    hprobe_t *hp = req->data;
    hp->gai_pending = 0;
    hp->res = res;
    if (!hp->probe) {
        maybe_free(hp);
        return;
    }
    if (status < 0 || !res) {
        char what[400];
        snprintf(what, sizeof what, "dial tcp: lookup %s: %s", hp->u.host,
                 status < 0 ? uv_strerror(status) : "no such host");
        fail(hp, what);
        return;
    }
    hp->cur = res;
    connect_next(hp);
}

/* One request to hp->url: reset the per-attempt state and resolve. */
static void start_attempt(hprobe_t *hp)
{
    const char *why;
    if (hp->res) uv_freeaddrinfo(hp->res);
    hp->res = hp->cur = NULL;
    if (hp->ssl) SSL_free(hp->ssl);
    hp->ssl = NULL;
    hurl_free(&hp->u);
    free(hp->req);
    hp->req = NULL;
    free(hp->location);
    hp->location = NULL;
    hp->handshaken = hp->sent = hp->status_code = hp->complete = hp->enough = 0;
    hp->reason[0] = '\0';
    hp->hfield_len = hp->in_location = 0;
    hp->bodylen = 0;
    if (hurl_parse(hp->url, &hp->u, &why) != 0) {
        fail(hp, why);
        return;
    }
    hp->req = http_build_request(hp->method, &hp->u, json_object_get(hp->def, "header"), hp->body,
                                 hp->body_len, &hp->req_len);
    if (!hp->req) {
        fail(hp, "out of memory");
        return;
    }
    http_parser_init(&hp->parser, HTTP_RESPONSE);
    hp->parser.data = hp;
    int port = atoi(hp->u.port);
    if (uv_ip4_addr(hp->u.host, port, (struct sockaddr_in *)&hp->nsa) == 0 ||
        uv_ip6_addr(hp->u.host, port, (struct sockaddr_in6 *)&hp->nsa) == 0) {
        memset(&hp->nai, 0, sizeof hp->nai);
        hp->nai.ai_family = hp->nsa.ss_family;
        hp->nai.ai_socktype = SOCK_STREAM;
        hp->nai.ai_addr = (struct sockaddr *)&hp->nsa;
        hp->nai.ai_addrlen = hp->nsa.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                            : sizeof(struct sockaddr_in);
        hp->cur = &hp->nai;
        connect_next(hp);
        return;
    }
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    hp->gai.data = hp;
    int rc = uv_getaddrinfo(hp->timer.loop, &hp->gai, on_resolved, hp->u.host, hp->u.port, &hints);
    if (rc < 0) {
        char what[400];
        snprintf(what, sizeof what, "dial tcp: lookup %s: %s", hp->u.host, uv_strerror(rc));
        fail(hp, what);
        return;
    }
    hp->gai_pending = 1;
}

static void on_timeout(uv_timer_t *t)
{
    hprobe_t *hp = t->data;
    fail(hp, "context deadline exceeded (Client.Timeout exceeded while awaiting headers)");
}

static int http_probe(void *arg, tb_probe_t *probe, char **errmsg)
{
    check_http_t *ch = arg;
    const tb_api_t *api = ch->api;
    const json_t *def = api->probe_definition(probe);
    const char *url = json_string_value(json_object_get(def, "http"));
    const char *m = json_string_value(json_object_get(def, "method"));
    hprobe_t *hp = calloc(1, sizeof *hp);
    if (!hp || !url) {
        free(hp);
        *errmsg = strdup(url ? "check_http: out of memory" : "http: missing");
        return -1;
    }
    hp->api = api;
    hp->owner = ch;
    hp->def = json_incref((json_t *)def);
    hp->orig_url = strdup(url);
    hp->url = strdup(url);
    snprintf(hp->method, sizeof hp->method, "%s", m && *m ? m : "GET");
    for (char *c = hp->method; *c; c++)
        if (*c >= 'a' && *c <= 'z') *c = (char)(*c - 'a' + 'A');
    strcpy(hp->orig_method, hp->method);
    hp->body = json_string_value(json_object_get(def, "body"));
    hp->body_len = hp->body ? json_string_length(json_object_get(def, "body")) : 0;
    hp->skip_verify = json_is_true(json_object_get(def, "tls_skip_verify"));
    hp->follow = !json_is_true(json_object_get(def, "disable_redirects"));
    hp->server_name = json_string_value(json_object_get(def, "tls_server_name"));
    hp->ctx = hp->skip_verify ? ch->ctx_noverify : ch->ctx_verify;
    json_int_t mx = json_integer_value(json_object_get(def, "output_max_size"));
    if (mx <= 0)
        mx = json_integer_value(json_object_get(api->agent_config(ch->self), "check_output_max_size"));
    hp->max_out = mx > 0 ? (size_t)mx : 4096;
    hp->bodybuf = malloc(hp->max_out);
    if (!hp->orig_url || !hp->url || !hp->bodybuf) {
        hp->probe = NULL;
        maybe_free(hp);
        *errmsg = strdup("check_http: out of memory");
        return -1;
    }
    hp->probe = probe;
    uv_timer_init(api->loop(ch->self), &hp->timer);
    hp->timer.data = hp;
    hp->handles = 1;
    hp->next = ch->active;
    if (ch->active) ch->active->prev = hp;
    ch->active = hp;
    uint64_t to = api->probe_timeout_ms(probe);
    uv_timer_start(&hp->timer, on_timeout, to ? to : 10000, 0);
    start_attempt(hp); /* may already have reported: that is fine */
    return 0;
}

/* ------------------------------------------------------------ lifecycle */

static void check_http_stop(tb_plugin_t *self, void *arg)
{
    (void)self;
    check_http_t *ch = arg;
    while (ch->active) finish(ch->active, TB_CHECK_CRITICAL, "agent shutting down");
    SSL_CTX_free(ch->ctx_verify);
    SSL_CTX_free(ch->ctx_noverify);
    free(ch);
}

static SSL_CTX *make_ctx(int verify)
{
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());
    if (!c) return NULL;
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION); /* Consul's default floor */
    if (verify) {
        SSL_CTX_set_default_verify_paths(c);
        SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
    } else
        SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
    return c;
}

TB_EXPORT int tb_plugin_init(tb_plugin_t *self, const tb_api_t *api, char **errmsg)
{
    check_http_t *ch = calloc(1, sizeof *ch);
    if (!ch) {
        *errmsg = strdup("out of memory");
        return -1;
    }
    ch->api = api;
    ch->self = self;
    ch->ctx_verify = make_ctx(1);
    ch->ctx_noverify = make_ctx(0);
    if (!ch->ctx_verify || !ch->ctx_noverify) {
        SSL_CTX_free(ch->ctx_verify);
        SSL_CTX_free(ch->ctx_noverify);
        free(ch);
        *errmsg = strdup("check_http: cannot create the OpenSSL contexts");
        return -1;
    }
    tb_plugin_ops_t ops = {
        .size = sizeof ops, .version = TB_PLUGIN_OPS_VERSION, .stop = check_http_stop, .arg = ch};
    tb_check_type_desc_t type = {
        .size = sizeof type,
        .version = TB_CHECK_TYPE_DESC_VERSION,
        .name = "http",
        .config_key = "http",
        .validate = http_validate,
        .probe = http_probe,
        .arg = ch,
    };
    if (api->set_ops(self, &ops) != 0 || api->register_check_type(self, &type) != 0) {
        SSL_CTX_free(ch->ctx_verify);
        SSL_CTX_free(ch->ctx_noverify);
        free(ch);
        *errmsg = strdup("cannot register the \"http\" check type (already claimed?)");
        return -1;
    }
    return 0;
}
