/*
 * conn.c - listeners and HTTP/1.1 connections of the http plugin on the
 * agent's libuv loop: accept (with the per-client limit), read and parse,
 * one request at a time (pipelined requests wait in `pending` and are
 * answered in order), write responses, keep-alive, timeouts, and closing
 * that cancels the in-flight endpoint call. See server.h for ownership.
 * Connections of the ports.https listener put tls.c between the stream and
 * everything here: reads are decrypted into `pending`, writes go through
 * tbh_conn_write.
 */
#include "server.h"

#include <stdarg.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK 65536

static void conn_process(tbh_conn_t *c);
static void conn_linger(tbh_conn_t *c);
static void peer_name(tbh_conn_t *c, char *ip, size_t iplen, char *peer, size_t peerlen);

/* ------------------------------------------------------------ clients */

static size_t client_bucket(const char *ip)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)ip; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % TBH_CLIENT_BUCKETS;
}

static tbh_client_t *client_get(tbh_server_t *s, const char *ip)
{
    size_t b = client_bucket(ip);
    for (tbh_client_t *cl = s->clients[b]; cl; cl = cl->next)
        if (strcmp(cl->ip, ip) == 0)
            return cl;
    tbh_client_t *cl = calloc(1, sizeof(*cl));
    if (!cl)
        return NULL;
    snprintf(cl->ip, sizeof(cl->ip), "%s", ip);
    cl->next = s->clients[b];
    s->clients[b] = cl;
    return cl;
}

static void client_release(tbh_server_t *s, tbh_client_t *cl)
{
    if (--cl->conns > 0)
        return;
    tbh_client_t **pp = &s->clients[client_bucket(cl->ip)];
    while (*pp && *pp != cl)
        pp = &(*pp)->next;
    if (*pp)
        *pp = cl->next;
    free(cl);
}

/* ------------------------------------------------------------ closing */

static void conn_free(tbh_conn_t *c)
{
    tbh_server_t *s = c->srv;
    tbh_exchange_reset(c);
    tbh_reqparser_free(&c->rp);
    tbh_buf_free(&c->pending);
    tbh_buf_free(&c->hdrs);
    tbh_tls_free(c->tls);
    if (c->client)
        client_release(s, c->client);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    s->open_handles--;
    free(c);
    tbh_server_maybe_free(s);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
    conn_free(h->data);
}

static void disarm(tbh_conn_t *c);

void tbh_conn_close(tbh_conn_t *c)
{
    if (c->state == TBH_CS_CLOSING)
        return;
    c->state = TBH_CS_CLOSING;
    /* the client is gone: its call must never complete into freed memory */
    tbh_exchange_reset(c);
    disarm(c);
    uv_close(&c->h.handle, on_conn_handle_closed);
}

void tbh_conns_close_all(tbh_server_t *s)
{
    tbh_conn_t *c = s->conns;
    while (c) {
        tbh_conn_t *next = c->next;
        tbh_conn_close(c);
        c = next;
    }
}

/* ------------------------------------------------------------ timers */

static void disarm(tbh_conn_t *c)
{
    if (c->tkind < 0)
        return;
    tbh_tlist_t *l = &c->srv->tl[c->tkind];
    if (c->tprev)
        c->tprev->tnext = c->tnext;
    else
        l->head = c->tnext;
    if (c->tnext)
        c->tnext->tprev = c->tprev;
    else
        l->tail = c->tprev;
    c->tprev = c->tnext = NULL;
    c->tkind = -1;
}

/* Close every connection whose timeout has passed (idle keep-alive, slow
 * headers or body, a linger that never saw EOF: just close, as Go's
 * server does), then wait for the earliest one left. A head is the
 * earliest of its list; after a reload changed the handshake timeout a
 * later entry may be earlier and closes late by at most the change. */
static void on_timer(uv_timer_t *t)
{
    tbh_server_t *s = t->data;
    uint64_t now = uv_now(s->loop), next = UINT64_MAX;
    for (int k = 0; k < TBH_TO_KINDS; k++) {
        tbh_conn_t *c;
        while ((c = s->tl[k].head) && c->deadline <= now) {
            disarm(c);
            tbh_conn_close(c);
        }
        if (c && c->deadline < next)
            next = c->deadline;
    }
    if (next != UINT64_MAX)
        uv_timer_start(&s->timer, on_timer, next - now, 0);
}

static void arm(tbh_conn_t *c, tbh_tkind_t kind, uint64_t ms)
{
    tbh_server_t *s = c->srv;
    disarm(c);
    if (!s->timer_open) {
        uv_timer_init(s->loop, &s->timer);
        s->timer.data = s;
        s->timer_open = 1;
        s->open_handles++;
    }
    uint64_t now = uv_now(s->loop);
    c->deadline = now + ms;
    c->tkind = (int)kind;
    tbh_tlist_t *l = &s->tl[kind];
    c->tprev = l->tail;
    if (l->tail)
        l->tail->tnext = c;
    else
        l->head = c;
    l->tail = c;
    /* a timer that fires with nothing due just re-arms for the next */
    if (!uv_is_active((uv_handle_t *)&s->timer) || uv_timer_get_due_in(&s->timer) > ms)
        uv_timer_start(&s->timer, on_timer, ms, 0);
}

static void on_server_timer_closed(uv_handle_t *h)
{
    tbh_server_t *s = h->data;
    s->open_handles--;
    tbh_server_maybe_free(s);
}

void tbh_timer_close(tbh_server_t *s)
{
    if (!s->timer_open)
        return;
    s->timer_open = 0;
    uv_close((uv_handle_t *)&s->timer, on_server_timer_closed);
}

/* ------------------------------------------------------------ reading */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    buf->base = malloc(READ_CHUNK);
    buf->len = buf->base ? READ_CHUNK : 0;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

static void read_start(tbh_conn_t *c)
{
    if (!c->reading && c->state != TBH_CS_CLOSING) {
        if (uv_read_start(&c->h.stream, on_alloc, on_read) == 0)
            c->reading = 1;
    }
}

static void read_stop(tbh_conn_t *c)
{
    if (c->reading) {
        uv_read_stop(&c->h.stream);
        c->reading = 0;
    }
}

static size_t pending_len(const tbh_conn_t *c)
{
    return c->pending.len - c->pending_off;
}

/* HTTPS: decrypt into pending. Plain HTTP, garbage or a refused client
 * certificate end the connection here (Go's server closes too). */
static int tls_input(tbh_conn_t *c, const char *data, size_t len)
{
    const char *why;
    int rc = tbh_tls_read(c, data, len, &why);
    if (rc < 0) {
        tbh_server_t *s = c->srv;
        if (s->api->log_enabled(s->self, TB_LOG_DEBUG)) {
            char ip[64], peer[80];
            peer_name(c, ip, sizeof(ip), peer, sizeof(peer));
            s->api->log(s->self, TB_LOG_DEBUG, "TLS from %s failed: %s", peer,
                        why ? why : "error");
        }
        return -1;
    }
    if (rc == 1 && c->state == TBH_CS_IDLE)
        arm(c, TBH_TO_IDLE, c->srv->idle_timeout_ms); /* handshake done: keep-alive rules from now */
    return 0;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    tbh_conn_t *c = st->data;
    if (nread > 0 && c->state != TBH_CS_LINGER && c->state != TBH_CS_CLOSING) {
        if (c->tls ? tls_input(c, buf->base, (size_t)nread) != 0
                   : tbh_buf_add(&c->pending, buf->base, (size_t)nread) != 0) {
            free(buf->base);
            tbh_conn_close(c);
            return;
        }
    }
    free(buf->base);
    if (nread == 0 || c->state == TBH_CS_CLOSING)
        return;
    if (nread < 0) {
        if (nread != UV_EOF || c->state == TBH_CS_LINGER) {
            tbh_conn_close(c);
            return;
        }
        c->peer_eof = 1;
        read_stop(c);
        if (c->state == TBH_CS_HANDLING &&
            ((c->x.call && c->x.opts.min_index > 0) || c->x.monitor)) {
            /* the client left a blocking query: drop it now, not in 10 min */
            tbh_conn_close(c);
        } else if (c->state == TBH_CS_IDLE || c->state == TBH_CS_READING) {
            /* nothing to answer: a partial request dies with the stream */
            tbh_conn_close(c);
        }
        /* else: finish the response, answer what is buffered, then close */
        return;
    }
    if (c->state == TBH_CS_LINGER)
        return; /* draining after an error: discard */
    if (c->state == TBH_CS_IDLE || c->state == TBH_CS_READING)
        conn_process(c);
    else if (pending_len(c) > c->srv->max_pending)
        read_stop(c); /* pipelining far ahead: let TCP push back */
}

/* Parser hook between headers and body. */
static void on_headers(tbh_reqparser_t *rp, void *arg)
{
    tbh_conn_t *c = arg;
    const http_parser *p = &rp->ps->parser;
    int has_body = (p->flags & F_CHUNKED) ||
                   (p->content_length != ULLONG_MAX && p->content_length > 0);
    if (rp->req.expect_continue && has_body && p->http_major == 1 && p->http_minor >= 1) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        uv_buf_t b = uv_buf_init((char *)cont, sizeof(cont) - 1);
        /* small and the socket is idle: try_write needs no request object */
        if (c->tls ? tbh_tls_write(c, NULL, &b, 1, NULL) != 0
                   : uv_try_write(&c->h.stream, &b, 1) != (int)b.len)
            c->close_after = 1; /* cannot continue cleanly: the client will retry */
    }
}

static void respond_parse_error(tbh_conn_t *c)
{
    tbh_reqparser_t *rp = &c->rp;
    tbh_buf_t body = TBH_BUF_INIT;
    int code;
    c->close_after = 1;
    switch (rp->error) {
    case TBH_PERR_HEADERS:
        code = 431;
        tbh_buf_adds(&body, "Request Header Fields Too Large");
        break;
    case TBH_PERR_BODY:
        code = 413;
        if (rp->req.is_kv_put)
            tbh_buf_printf(&body, "Value exceeds %llu byte limit", (unsigned long long)rp->kv_max);
        else
            tbh_buf_printf(&body, "Request body exceeds %llu byte limit",
                           (unsigned long long)rp->max_body);
        break;
    case TBH_PERR_NOMEM:
        code = 500;
        tbh_buf_adds(&body, "out of memory");
        break;
    default:
        code = 400;
        tbh_buf_printf(&body, "Bad Request: %s", rp->error_text ? rp->error_text : "malformed");
        break;
    }
    c->state = TBH_CS_HANDLING;
    tbh_send(c, code, "text/plain; charset=utf-8", &body);
}

/* Feed buffered bytes to the parser while no request is in progress. */
static void conn_process(tbh_conn_t *c)
{
    tbh_server_t *s = c->srv;
    while ((c->state == TBH_CS_IDLE || c->state == TBH_CS_READING) && pending_len(c) > 0) {
        size_t n = tbh_reqparser_feed(&c->rp, c->pending.data + c->pending_off, pending_len(c));
        c->pending_off += n;
        tbh_reqparser_t *rp = &c->rp;
        if (rp->error) {
            c->pending_off = c->pending.len; /* nothing after garbage is trusted */
            disarm(c);
            respond_parse_error(c);
            break;
        }
        if (rp->started && c->state == TBH_CS_IDLE) {
            c->state = TBH_CS_READING;
            c->timer_phase = 1;
            arm(c, TBH_TO_HEADER, s->header_timeout_ms); /* whole header section, not per byte */
        }
        if (rp->headers_done && (c->timer_phase != 2 || rp->body_seen)) {
            c->timer_phase = 2;
            rp->body_seen = 0;
            arm(c, TBH_TO_BODY, s->body_timeout_ms); /* body: inactivity */
        }
        if (rp->complete) {
            disarm(c);
            c->timer_phase = 0;
            c->state = TBH_CS_HANDLING;
            tbh_dispatch(c);
            break;
        }
        if (n == 0)
            break;
    }
    /* compact what was consumed */
    if (c->pending_off == c->pending.len) {
        /* no buffer kept per idle or blocked connection: with 20,000
         * blocking queries that is 2.5 MB for nothing */
        c->pending_off = 0;
        tbh_buf_free(&c->pending);
    } else if (c->pending_off > c->pending.len / 2) {
        memmove(c->pending.data, c->pending.data + c->pending_off, pending_len(c));
        c->pending.len -= c->pending_off;
        c->pending_off = 0;
        c->pending.data[c->pending.len] = '\0';
    }
    if (c->state == TBH_CS_IDLE && c->peer_eof)
        tbh_conn_close(c);
}

/* ------------------------------------------------------------ writing */

typedef struct tbh_write {
    uv_write_t req;
    tbh_conn_t *conn;
    char *head;
    char *body;
    tbh_body_t *shared; /* instead of body: a reference to a shared rendering */
} tbh_write_t;

/* The response has been written: next request, or close. */
static void conn_finish(tbh_conn_t *c)
{
    tbh_exchange_reset(c);
    if (c->close_after || c->srv->stopping) {
        conn_linger(c);
        return;
    }
    tbh_reqparser_next(&c->rp);
    c->state = TBH_CS_IDLE;
    arm(c, TBH_TO_IDLE, c->srv->idle_timeout_ms);
    if (!c->peer_eof)
        read_start(c);
    conn_process(c);
}

static void on_write(uv_write_t *req, int status)
{
    tbh_write_t *w = (tbh_write_t *)req;
    tbh_conn_t *c = w->conn;
    free(w->head);
    free(w->body);
    tbh_body_unref(w->shared);
    free(w);
    if (c->state == TBH_CS_CLOSING)
        return;
    if (status < 0) {
        tbh_conn_close(c);
        return;
    }
    conn_finish(c);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    tbh_conn_t *c = req->data;
    free(req); /* libuv calls back (ECANCELED) before closing the stream */
    if (c->state == TBH_CS_CLOSING)
        return;
    if (status < 0)
        tbh_conn_close(c);
}

/* Half-close and drain: closing with unread input would reset the
 * connection and the client could lose the response we just wrote. */
static void conn_linger(tbh_conn_t *c)
{
    c->state = TBH_CS_LINGER;
    c->pending.len = c->pending_off = 0;
    if (c->tls && !c->peer_eof)
        tbh_tls_close_notify(c);
    /* allocated here, not in every connection: few ever linger */
    uv_shutdown_t *sd = c->peer_eof ? NULL : malloc(sizeof(*sd));
    if (sd)
        sd->data = c;
    if (!sd || uv_shutdown(sd, &c->h.stream, on_shutdown) != 0) {
        free(sd);
        tbh_conn_close(c);
        return;
    }
    read_start(c);
    arm(c, TBH_TO_LINGER, c->srv->linger_ms);
}

void tbh_add_header(tbh_conn_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[1024];
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(tmp)) { /* long Location: format again at size */
        char *big = malloc((size_t)n + 1);
        if (!big)
            return;
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        tbh_buf_add(&c->hdrs, big, (size_t)n);
        free(big);
    } else {
        tbh_buf_add(&c->hdrs, tmp, (size_t)n);
    }
    tbh_buf_add(&c->hdrs, "\r\n", 2);
}

static void http_date(char out[32])
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    snprintf(out, 32, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
             months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* The request line for the debug log, with any ?token= value hidden. */
static void log_request(tbh_conn_t *c, int code)
{
    tbh_server_t *s = c->srv;
    const tb_api_t *api = s->api;
    if (!api->log_enabled(s->self, TB_LOG_DEBUG))
        return;
    const tbh_request_t *r = &c->rp.req;
    char ip[64], peer[80];
    peer_name(c, ip, sizeof(ip), peer, sizeof(peer));
    tbh_buf_t u = TBH_BUF_INIT;
    const char *url = r->url.data ? r->url.data : "";
    for (const char *p = url; *p;) {
        const char *t = strstr(p, "token=");
        if (!t || !(t > url && (t[-1] == '?' || t[-1] == '&'))) {
            if (!t) {
                tbh_buf_adds(&u, p);
                break;
            }
            tbh_buf_add(&u, p, (size_t)(t + 6 - p));
            p = t + 6;
            continue;
        }
        tbh_buf_add(&u, p, (size_t)(t + 6 - p));
        tbh_buf_adds(&u, "<hidden>");
        p = t + 6;
        while (*p && *p != '&')
            p++;
    }
    api->log(s->self, TB_LOG_DEBUG,
             "request finished: method=%s url=%s from=%s status=%d latency=%llums",
             http_method_str(r->method), u.data ? u.data : "", peer, code,
             (unsigned long long)(uv_now(s->loop) - c->x.start_ms));
    tbh_buf_free(&u);
}

/* The response: headers built here, then the body, either owned (body,
 * taken) or shared by reference (shared, the caller's reference taken). */
static void send_response(tbh_conn_t *c, int code, const char *ctype, tbh_buf_t *body,
                          tbh_body_t *shared)
{
    tbh_server_t *s = c->srv;
    const tbh_request_t *r = &c->rp.req;
    if (c->state == TBH_CS_CLOSING) {
        if (body)
            tbh_buf_free(body);
        tbh_body_unref(shared);
        return;
    }
    int keep = !c->close_after && r->keep_alive && !r->upgrade && !s->stopping &&
               !(c->peer_eof && pending_len(c) == 0);
    if (!keep)
        c->close_after = 1;
    size_t blen = shared ? shared->len : body ? body->len : 0;
    char date[32];
    http_date(date);

    tbh_buf_t h = TBH_BUF_INIT;
    tbh_buf_reserve(&h, 256 + c->hdrs.len); /* one allocation for the usual head */
    tbh_buf_printf(&h, "HTTP/1.1 %d %s\r\nDate: %s\r\n", code, tbh_reason(code), date);
    if (s->cfg.extra_headers)
        tbh_buf_adds(&h, s->cfg.extra_headers);
    if (ctype)
        tbh_buf_printf(&h, "Content-Type: %s\r\n", ctype);
    if (c->hdrs.len)
        tbh_buf_add(&h, c->hdrs.data, c->hdrs.len);
    tbh_buf_adds(&h, "Content-Length: ");
    tbh_buf_addu64(&h, blen);
    tbh_buf_adds(&h, "\r\n");
    if (!keep)
        tbh_buf_adds(&h, "Connection: close\r\n");
    else if (r->http_major == 1 && r->http_minor == 0)
        tbh_buf_adds(&h, "Connection: keep-alive\r\n");
    tbh_buf_adds(&h, "\r\n");
    tbh_buf_free(&c->hdrs);

    tbh_write_t *w = calloc(1, sizeof(*w));
    if (h.failed || !w) {
        tbh_buf_free(&h);
        if (body)
            tbh_buf_free(body);
        tbh_body_unref(shared);
        free(w);
        tbh_conn_close(c);
        return;
    }
    log_request(c, code);
    w->conn = c;
    uv_buf_t bufs[2];
    size_t hlen;
    w->head = tbh_buf_steal(&h, &hlen);
    bufs[0] = uv_buf_init(w->head, (unsigned)hlen);
    unsigned nbufs = 1;
    if (r->method != HTTP_HEAD && blen > 0) {
        if (shared) {
            w->shared = shared;
            bufs[1] = uv_buf_init(shared->data, (unsigned)blen);
        } else {
            w->body = tbh_buf_steal(body, NULL);
            bufs[1] = uv_buf_init(w->body, (unsigned)blen);
        }
        nbufs = 2;
    } else {
        if (body)
            tbh_buf_free(body);
        tbh_body_unref(shared);
    }
    c->state = TBH_CS_WRITING;
    if (tbh_conn_write(c, &w->req, bufs, nbufs, on_write) != 0) {
        free(w->head);
        free(w->body);
        tbh_body_unref(w->shared);
        free(w);
        tbh_conn_close(c);
    }
}

void tbh_send(tbh_conn_t *c, int code, const char *ctype, tbh_buf_t *body)
{
    send_response(c, code, ctype, body, NULL);
}

void tbh_send_shared(tbh_conn_t *c, int code, const char *ctype, tbh_body_t *body)
{
    send_response(c, code, ctype, NULL, body);
}

int tbh_conn_write(tbh_conn_t *c, uv_write_t *req, const uv_buf_t *bufs, unsigned n,
                   uv_write_cb cb)
{
    if (c->tls)
        return tbh_tls_write(c, req, bufs, n, cb);
    return uv_write(req, &c->h.stream, bufs, n, cb);
}

void tbh_send_text(tbh_conn_t *c, int code, const char *text)
{
    tbh_buf_t b = TBH_BUF_INIT;
    tbh_buf_adds(&b, text);
    tbh_send(c, code, *text ? "text/plain; charset=utf-8" : NULL, &b);
}

/* ------------------------------------------------------------ accepting */

/* The client's address into ip (empty for a unix socket) and, when peer
 * is not NULL, "ip:port" into peer. Asked of the kernel when needed (the
 * client accounting at accept, log lines) rather than kept per connection:
 * 64 bytes for each of tens of thousands of idle blocking queries. */
static void peer_name(tbh_conn_t *c, char *ip, size_t iplen, char *peer, size_t peerlen)
{
    char tmp[64];
    if (!peer) {
        peer = tmp;
        peerlen = sizeof(tmp);
    }
    ip[0] = '\0';
    if (c->h.handle.type == UV_NAMED_PIPE) {
        snprintf(peer, peerlen, "@");
        return;
    }
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&ss, &len) != 0) {
        snprintf(peer, peerlen, "?");
        return;
    }
    if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
        uv_ip6_name(a, ip, iplen);
        snprintf(peer, peerlen, "[%s]:%u", ip, ntohs(a->sin6_port));
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        uv_ip4_name(a, ip, iplen);
        snprintf(peer, peerlen, "%s:%u", ip, ntohs(a->sin_port));
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    tbh_listener_t *l = server->data;
    tbh_server_t *s = l->srv;
    if (status < 0) {
        s->api->log(s->self, TB_LOG_WARN, "accept on %s: %s", l->name, uv_strerror(status));
        return;
    }
    tbh_conn_t *c = calloc(1, sizeof(*c));
    if (!c)
        return; /* the connection stays in the backlog until memory returns */
    int rc = l->is_unix ? uv_pipe_init(s->loop, &c->h.pipe, 0) : uv_tcp_init(s->loop, &c->h.tcp);
    if (rc != 0) {
        free(c);
        return;
    }
    c->srv = s;
    c->h.handle.data = c;
    c->tkind = -1;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    s->open_handles++;
    tbh_reqparser_init(&c->rp, s->max_header_bytes, s->max_body, s->kv_max);
    c->rp.on_headers = on_headers;
    c->rp.arg = c;
    c->x.start_ms = uv_now(s->loop);
    if (uv_accept(server, &c->h.stream) != 0) {
        tbh_conn_close(c);
        return;
    }
    if (!l->is_unix)
        uv_tcp_nodelay(&c->h.tcp, 1);
    char ip[48]; /* INET6_ADDRSTRLEN, as tbh_client_t.ip */
    peer_name(c, ip, sizeof(ip), NULL, 0);
    if (l->is_tls) {
        c->tls = s->tls_ctx ? tbh_tls_new(s->tls_ctx) : NULL;
        if (!c->tls) {
            tbh_conn_close(c);
            return;
        }
    }
    if (ip[0]) {
        tbh_client_t *cl = client_get(s, ip);
        if (!cl) {
            tbh_conn_close(c);
            return;
        }
        if (s->cfg.max_conns_per_client && cl->conns >= s->cfg.max_conns_per_client) {
            /* Consul's connlimit answer; this connection is not counted
             * (cl->conns >= 1 here, so the entry stays owned by the others) */
            if (c->tls) { /* no handshake to answer over: just close */
                tbh_conn_close(c);
                return;
            }
            c->rp.req.keep_alive = 0;
            c->rp.req.method = HTTP_GET;
            c->state = TBH_CS_HANDLING;
            tbh_send_text(c, 429,
                          "Your IP is issuing too many concurrent connections, please rate limit "
                          "your calls\n");
            return;
        }
        cl->conns++;
        c->client = cl;
    }
    c->state = TBH_CS_IDLE;
    /* HTTPS: limits.https_handshake_timeout until the handshake is done */
    if (c->tls)
        arm(c, TBH_TO_HANDSHAKE, tbh_tls_handshake_ms(s->tls_ctx));
    else
        arm(c, TBH_TO_IDLE, s->idle_timeout_ms);
    read_start(c);
    if (!c->reading)
        tbh_conn_close(c);
}

/* ------------------------------------------------------------ listeners */

static void on_listener_closed(uv_handle_t *h)
{
    tbh_listener_t *l = h->data;
    tbh_server_t *s = l->srv;
    if (l->unix_path)
        unlink(l->unix_path);
    free(l->unix_path);
    free(l);
    s->open_handles--;
    tbh_server_maybe_free(s);
}

void tbh_listeners_close(tbh_listener_t *list)
{
    while (list) {
        tbh_listener_t *next = list->next;
        uv_close(&list->h.handle, on_listener_closed);
        list = next;
    }
}

static int listen_one(tbh_server_t *s, const char *addr, int port, tbh_listener_t *l)
{
    int rc;
    if (strncmp(addr, "unix://", 7) == 0) {
        const char *path = addr + 7;
        struct stat st;
        l->is_unix = 1;
        snprintf(l->name, sizeof(l->name), "%s", addr);
        rc = uv_pipe_init(s->loop, &l->h.pipe, 0);
        if (rc != 0)
            return rc;
        s->open_handles++;
        /* a stale socket from a previous run; never remove anything else */
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
            unlink(path);
        rc = uv_pipe_bind(&l->h.pipe, path);
        if (rc == 0) {
            l->unix_path = strdup(path);
            if (!l->unix_path)
                return UV_ENOMEM;
        }
    } else {
        struct sockaddr_storage ss;
        int v6 = strchr(addr, ':') != NULL;
        if (v6) {
            rc = uv_ip6_addr(addr, port, (struct sockaddr_in6 *)&ss);
            snprintf(l->name, sizeof(l->name), "[%s]:%d", addr, port);
        } else {
            rc = uv_ip4_addr(addr, port, (struct sockaddr_in *)&ss);
            snprintf(l->name, sizeof(l->name), "%s:%d", addr, port);
        }
        if (rc != 0)
            return rc;
        rc = uv_tcp_init(s->loop, &l->h.tcp);
        if (rc != 0)
            return rc;
        s->open_handles++;
        rc = uv_tcp_bind(&l->h.tcp, (const struct sockaddr *)&ss, v6 ? UV_TCP_IPV6ONLY : 0);
    }
    if (rc == 0)
        rc = uv_listen(&l->h.stream, 511, on_connection);
    if (rc == 0 && !l->is_unix && port == 0) {
        /* port 0 (tests): name the port the kernel chose */
        struct sockaddr_storage ss;
        int len = sizeof(ss);
        if (uv_tcp_getsockname(&l->h.tcp, (struct sockaddr *)&ss, &len) == 0) {
            char ip[64];
            if (ss.ss_family == AF_INET6) {
                uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(ip));
                snprintf(l->name, sizeof(l->name), "[%s]:%u", ip,
                         ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
            } else {
                uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
                snprintf(l->name, sizeof(l->name), "%s:%u", ip,
                         ntohs(((struct sockaddr_in *)&ss)->sin_port));
            }
        }
    }
    return rc;
}

/* Bind addrs[0..n) on port, appending to *tail. 0, or -1 with *err. */
static int listen_set(tbh_server_t *s, char *const *addrs, size_t n, int port, int tls,
                      tbh_listener_t ***tail, char **err)
{
    for (size_t i = 0; i < n; i++) {
        tbh_listener_t *l = calloc(1, sizeof(*l));
        if (!l) {
            *err = strdup("http: out of memory");
            return -1;
        }
        l->srv = s;
        l->h.handle.data = l;
        l->is_tls = tls;
        size_t before = s->open_handles;
        int rc = listen_one(s, addrs[i], port, l);
        if (rc != 0) {
            tbh_buf_t b = TBH_BUF_INIT;
            tbh_buf_printf(&b, "http: cannot listen on %s: %s", l->name, uv_strerror(rc));
            *err = tbh_buf_steal(&b, NULL);
            if (s->open_handles > before)
                uv_close(&l->h.handle, on_listener_closed); /* frees l */
            else
                free(l);
            return -1;
        }
        **tail = l;
        *tail = &l->next;
    }
    return 0;
}

int tbh_listen(tbh_server_t *s, const tbh_settings_t *cfg, tbh_listener_t **out, char **err)
{
    tbh_listener_t *list = NULL, **tail = &list;
    *out = NULL;
    if ((cfg->port >= 0 && listen_set(s, cfg->addrs, cfg->naddrs, cfg->port, 0, &tail, err)) ||
        (cfg->https_port >= 0 &&
         listen_set(s, cfg->https_addrs, cfg->nhttps_addrs, cfg->https_port, 1, &tail, err))) {
        tbh_listeners_close(list);
        return -1;
    }
    for (tbh_listener_t *l = list; l; l = l->next)
        s->api->log(s->self, TB_LOG_INFO, "listening on %s%s", l->name,
                    l->is_tls ? " (https)" : "");
    *out = list;
    return 0;
}
