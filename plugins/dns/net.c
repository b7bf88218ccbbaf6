/*
 * net.c - the dns plugin's sockets: one UDP and one TCP listener per
 * address, pipelined TCP connections (2-byte length framing, idle
 * timeout), and asynchronous forwarding of outside names to `recursors`
 * over UDP (per-recursor timeout, then the next one; all failed: SERVFAIL;
 * the upstream answer is relayed unchanged but for the query ID).
 * Queries arrive in recvmmsg batches; the replies to one batch leave in one
 * sendmmsg when the batch ends.
 */
#define _GNU_SOURCE /* sendmmsg */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dns.h"

#define TCP_IDLE_MS 10000u
#define TCP_MAX_CONNS 1024u
#define MAX_FORWARDS 4096u

static void handle_closed(uv_handle_t *h)
{
    tbd_server_t *s = h->data;
    s->open_handles--;
    tbd_server_maybe_free(s);
}

/* ---------------------------------------------------------------- send */

typedef struct send_req {
    uv_udp_send_t req;
    uint8_t data[];
} send_req_t;

static void udp_sent(uv_udp_send_t *req, int status)
{
    (void)status;
    free(req);
}

typedef struct write_req {
    uv_write_t req;
    tbd_conn_t *conn;
    uint8_t data[];
} write_req_t;

static void conn_unref(tbd_conn_t *c);

static void tcp_written(uv_write_t *req, int status)
{
    write_req_t *w = (write_req_t *)req;
    (void)status;
    conn_unref(w->conn);
    free(w);
}

/* One UDP reply now, or queued on the handle (copied) when the socket is
 * full. */
static void udp_send_one(uv_udp_t *h, const uint8_t *p, size_t n, const struct sockaddr *to)
{
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
    int r = uv_udp_try_send(h, &b, 1, to);
    if (r >= 0 || (r != UV_EAGAIN && r != UV_ENOSYS))
        return;
    send_req_t *q = malloc(sizeof *q + n);
    if (!q)
        return;
    memcpy(q->data, p, n);
    b = uv_buf_init((char *)q->data, (unsigned)n);
    if (uv_udp_send(&q->req, h, &b, 1, to, udp_sent))
        free(q);
}

/* Replies to the queries of one recvmmsg batch: the kernel's per-syscall
 * cost is paid once per batch instead of once per reply. */
#define BATCH_BYTES 65536u
struct tbd_sendbatch {
    int active;   /* inside a batch: tbd_send appends */
    unsigned n;
    size_t used;
    struct mmsghdr msgs[TBD_MMSG];
    struct iovec iov[TBD_MMSG];
    struct sockaddr_storage addr[TBD_MMSG];
    uint8_t buf[BATCH_BYTES];
};

static void batch_flush(tbd_listener_t *l)
{
    struct tbd_sendbatch *b = l->batch;
    uv_os_fd_t fd;
    unsigned i = 0;
    if (!b->n || uv_fileno((uv_handle_t *)&l->udp, &fd) != 0)
        goto done;
    while (i < b->n) {
        int r = sendmmsg(fd, b->msgs + i, b->n - i, 0);
        if (r > 0) {
            i += (unsigned)r;
        } else if (r < 0 && errno == EINTR) {
            continue;
        } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* socket full: the rest waits in libuv's send queue */
            for (; i < b->n; i++)
                udp_send_one(&l->udp, b->iov[i].iov_base, b->iov[i].iov_len,
                             (const struct sockaddr *)&b->addr[i]);
        } else {
            i++; /* this destination failed (as try_send would): skip it */
        }
    }
done:
    b->n = 0;
    b->used = 0;
}

/* 1 when the reply was taken into the batch. */
static int batch_add(tbd_listener_t *l, const uint8_t *p, size_t n, const struct sockaddr_storage *to)
{
    struct tbd_sendbatch *b = l->batch;
    if (!b || !b->active || n > BATCH_BYTES)
        return 0;
    if (b->n == TBD_MMSG || b->used + n > BATCH_BYTES)
        batch_flush(l);
    memcpy(b->buf + b->used, p, n);
    b->iov[b->n].iov_base = b->buf + b->used;
    b->iov[b->n].iov_len = n;
    b->addr[b->n] = *to;
    struct msghdr *h = &b->msgs[b->n].msg_hdr;
    memset(h, 0, sizeof *h);
    h->msg_name = &b->addr[b->n];
    h->msg_namelen = to->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                : sizeof(struct sockaddr_in);
    h->msg_iov = &b->iov[b->n];
    h->msg_iovlen = 1;
    b->used += n;
    b->n++;
    return 1;
}

void tbd_send(tbd_server_t *s, tbd_client_t *c, const uint8_t *p, size_t n)
{
    (void)s;
    if (c->udp) {
        if (!batch_add(c->udp->data, p, n, &c->addr))
            udp_send_one(c->udp, p, n, (const struct sockaddr *)&c->addr);
        return;
    }
    tbd_conn_t *conn = c->conn;
    if (!conn || conn->closing || n > 65535)
        return;
    write_req_t *w = malloc(sizeof *w + n + 2);
    if (!w)
        return;
    w->data[0] = (uint8_t)(n >> 8);
    w->data[1] = (uint8_t)n;
    memcpy(w->data + 2, p, n);
    w->conn = conn;
    conn->refs++;
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)(n + 2));
    if (uv_write(&w->req, (uv_stream_t *)&conn->tcp, &b, 1, tcp_written)) {
        conn->refs--;
        free(w);
    }
}

/* ---------------------------------------------------------------- TCP */

static void conn_maybe_free(tbd_conn_t *c)
{
    if (!c->closing || c->open_handles || c->refs)
        return;
    tbd_server_t *s = c->s;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c->buf);
    free(c);
    tbd_server_maybe_free(s);
}

static void conn_unref(tbd_conn_t *c)
{
    c->refs--;
    conn_maybe_free(c);
}

void tbd_client_hold(tbd_client_t *c)
{
    if (c->conn)
        c->conn->refs++;
}

void tbd_client_release(tbd_client_t *c)
{
    if (c->conn)
        conn_unref(c->conn);
    c->conn = NULL;
}

static void conn_handle_closed(uv_handle_t *h)
{
    tbd_conn_t *c = h->data;
    c->open_handles--;
    conn_maybe_free(c);
}

static void conn_close(tbd_conn_t *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
    uv_close((uv_handle_t *)&c->idle, conn_handle_closed);
}

static void conn_idle(uv_timer_t *t)
{
    conn_close(t->data);
}

static void conn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    tbd_conn_t *c = h->data;
    (void)hint;
    size_t want = c->len + 16384;
    if (want > c->cap) {
        uint8_t *nb = realloc(c->buf, want);
        if (!nb) {
            *buf = uv_buf_init(NULL, 0);
            return;
        }
        c->buf = nb;
        c->cap = want;
    }
    *buf = uv_buf_init((char *)c->buf + c->len, (unsigned)(c->cap - c->len));
}

static void conn_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    tbd_conn_t *c = st->data;
    (void)buf;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    c->len += (size_t)nread;
    uv_timer_again(&c->idle);
    size_t off = 0;
    c->refs++; /* handling may close us */
    while (!c->closing && c->len - off >= 2) {
        size_t fl = (size_t)c->buf[off] << 8 | c->buf[off + 1];
        if (fl == 0) {
            conn_close(c);
            break;
        }
        if (c->len - off - 2 < fl)
            break;
        tbd_client_t cl;
        memset(&cl, 0, sizeof cl);
        cl.conn = c;
        tbd_handle(c->s, c->buf + off + 2, fl, &cl);
        off += 2 + fl;
    }
    if (off) {
        memmove(c->buf, c->buf + off, c->len - off);
        c->len -= off;
    }
    conn_unref(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    tbd_listener_t *l = server->data;
    tbd_server_t *s = l->s;
    if (status < 0 || s->stopping)
        return;
    size_t n = 0;
    for (tbd_conn_t *x = s->conns; x; x = x->next)
        n++;
    tbd_conn_t *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->s = s;
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->idle);
    c->tcp.data = c->idle.data = c;
    c->open_handles = 2;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    if (n >= TCP_MAX_CONNS || uv_accept(server, (uv_stream_t *)&c->tcp) != 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read) != 0) {
        conn_close(c);
        return;
    }
    uv_timer_start(&c->idle, conn_idle, TCP_IDLE_MS, TCP_IDLE_MS);
}

void tbd_conns_close_all(tbd_server_t *s)
{
    for (tbd_conn_t *c = s->conns; c; c = c->next)
        conn_close(c);
}

/* ---------------------------------------------------------------- UDP */

static void udp_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    tbd_listener_t *l = h->data;
    (void)hint;
    /* room for a recvmmsg batch (libuv splits it in 64 KiB slots); free
     * again once the batch's callbacks ran (answers go to s->out) */
    *buf = uv_buf_init((char *)l->s->mbuf, sizeof l->s->mbuf);
}

static void udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                     const struct sockaddr *addr, unsigned flags)
{
    tbd_listener_t *l = h->data;
    if (nread <= 0 || !addr) {
        /* the end of a recvmmsg batch (or nothing more to read) */
        if (l->batch && l->batch->active) {
            batch_flush(l);
            l->batch->active = 0;
        }
        return;
    }
    if (l->batch && (flags & UV_UDP_MMSG_CHUNK))
        l->batch->active = 1;
    tbd_client_t c;
    c.udp = h;
    c.conn = NULL;
    memcpy(&c.addr, addr, addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                       : sizeof(struct sockaddr_in));
    tbd_handle(l->s, (const uint8_t *)buf->base, (size_t)nread, &c);
}

static void listener_closed(uv_handle_t *h)
{
    tbd_listener_t *l = h->data;
    tbd_server_t *s = l->s;
    if (h == (uv_handle_t *)&l->udp)
        l->udp_open = 0;
    else
        l->tcp_open = 0;
    s->open_handles--;
    if (!l->udp_open && !l->tcp_open) {
        free(l->batch);
        free(l);
    }
    tbd_server_maybe_free(s);
}

void tbd_listeners_close(tbd_listener_t *l)
{
    while (l) {
        tbd_listener_t *next = l->next;
        int u = l->udp_open, t = l->tcp_open;
        if (!u && !t) {
            free(l->batch);
            free(l);
        }
        if (u)
            uv_close((uv_handle_t *)&l->udp, listener_closed);
        if (t)
            uv_close((uv_handle_t *)&l->tcp, listener_closed);
        l = next;
    }
}

int tbd_listen(tbd_server_t *s, const tbd_settings_t *cfg, tbd_listener_t **out, char **errmsg)
{
    *out = NULL;
    for (size_t i = 0; i < cfg->naddrs; i++) {
        struct sockaddr_storage ss;
        const char *a = cfg->addrs[i];
        if (uv_ip4_addr(a, cfg->port, (struct sockaddr_in *)&ss) != 0 &&
            uv_ip6_addr(a, cfg->port, (struct sockaddr_in6 *)&ss) != 0)
            goto fail_addr;
        tbd_listener_t *l = calloc(1, sizeof *l);
        if (!l)
            goto fail_addr;
        l->s = s;
        l->batch = calloc(1, sizeof *l->batch); /* NULL: one sendmsg per reply */
        l->next = *out;
        *out = l;
        uv_udp_init_ex(s->loop, &l->udp, (unsigned)ss.ss_family | UV_UDP_RECVMMSG);
        l->udp.data = l;
        l->udp_open = 1;
        s->open_handles++;
        uv_tcp_init(s->loop, &l->tcp);
        l->tcp.data = l;
        l->tcp_open = 1;
        s->open_handles++;
        int r = uv_udp_bind(&l->udp, (const struct sockaddr *)&ss, 0);
        if (!r) {
            /* a large receive buffer absorbs bursts from many clients */
            int rb = 4 * 1024 * 1024;
            uv_recv_buffer_size((uv_handle_t *)&l->udp, &rb);
            r = uv_udp_recv_start(&l->udp, udp_alloc, udp_recv);
        }
        if (!r)
            r = uv_tcp_bind(&l->tcp, (const struct sockaddr *)&ss, 0);
        if (!r)
            r = uv_listen((uv_stream_t *)&l->tcp, 128, on_connection);
        if (r) {
            char m[300];
            snprintf(m, sizeof m, "dns: cannot listen on %s:%d: %s", a, cfg->port,
                     uv_strerror(r));
            *errmsg = strdup(m);
            tbd_listeners_close(*out);
            *out = NULL;
            return -1;
        }
        s->api->log(s->self, TB_LOG_INFO, "listening on %s:%d (udp, tcp)", a, cfg->port);
        continue;
    fail_addr:
        *errmsg = strdup("dns: cannot set up a listener");
        tbd_listeners_close(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- forwarding */

static void fwd_closed(uv_handle_t *h)
{
    tbd_fwd_t *f = h->data;
    tbd_server_t *s = f->s;
    tbd_client_release(&f->client);
    free(f);
    s->open_handles--;
    tbd_server_maybe_free(s);
}

static void fwd_finish(tbd_fwd_t *f)
{
    tbd_server_t *s = f->s;
    tbd_fwd_t **pp = &s->fwds;
    while (*pp && *pp != f)
        pp = &(*pp)->next;
    if (*pp)
        *pp = f->next;
    uv_close((uv_handle_t *)&f->timer, fwd_closed);
}

static void fwd_fail(tbd_fwd_t *f)
{
    dnsw_query_t q;
    if (dnsw_parse_query(f->pkt, f->len, &q) == DNSW_OK) {
        q.id = f->client_id;
        size_t n = tbd_render_rcode(f->s, &q, 1, DNSW_SERVFAIL, f->client.udp == NULL);
        if (n)
            tbd_send(f->s, &f->client, f->s->out, n);
    }
    fwd_finish(f);
}

static int fwd_send(tbd_fwd_t *f)
{
    tbd_server_t *s = f->s;
    while (f->tries < s->cfg.nrecursors) {
        const struct sockaddr *to = (const struct sockaddr *)&s->cfg.recursors[f->at];
        uv_buf_t b = uv_buf_init((char *)f->pkt, (unsigned)f->len);
        int r = uv_udp_try_send(&s->fwd_udp, &b, 1, to);
        if (r >= 0)
            return 0;
        f->tries++;
        f->at = (f->at + 1) % s->cfg.nrecursors;
    }
    return -1;
}

static void fwd_timeout(uv_timer_t *t)
{
    tbd_fwd_t *f = t->data;
    tbd_server_t *s = f->s;
    f->tries++;
    f->at = (f->at + 1) % s->cfg.nrecursors;
    if (f->tries >= s->cfg.nrecursors || fwd_send(f) != 0)
        fwd_fail(f);
    else
        uv_timer_start(&f->timer, fwd_timeout, s->cfg.recursor_timeout_ms, 0);
}

static int same_addr(const struct sockaddr *a, const struct sockaddr_storage *b)
{
    if (a->sa_family != b->ss_family)
        return 0;
    if (a->sa_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port &&
           memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
}

static void fwd_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    tbd_server_t *s = h->data;
    (void)hint;
    *buf = uv_buf_init((char *)s->rbuf, sizeof s->rbuf);
}

static void fwd_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                     const struct sockaddr *addr, unsigned flags)
{
    tbd_server_t *s = h->data;
    uint8_t *p = (uint8_t *)buf->base;
    (void)flags;
    if (nread < DNSW_HDR || !addr)
        return;
    uint16_t id = (uint16_t)(p[0] << 8 | p[1]);
    tbd_fwd_t *f = s->fwds;
    while (f && !(f->up_id == id && same_addr(addr, &s->cfg.recursors[f->at])))
        f = f->next;
    if (!f || !(p[2] & 0x80))
        return;
    int rcode = p[3] & 0xF;
    if (rcode != DNSW_NOERROR && rcode != DNSW_NXDOMAIN) {
        /* try the next recursor now */
        uv_timer_stop(&f->timer);
        fwd_timeout(&f->timer);
        return;
    }
    p[0] = (uint8_t)(f->client_id >> 8);
    p[1] = (uint8_t)f->client_id;
    size_t n = (size_t)nread;
    if (f->client.udp && n > f->limit) {
        /* never larger than the client allowed: header only, TC set */
        p[2] |= 0x02;
        memset(p + 4, 0, 8);
        n = DNSW_HDR;
    }
    tbd_send(s, &f->client, p, n);
    fwd_finish(f);
}

static int fwd_open(tbd_server_t *s)
{
    if (s->fwd_open)
        return 0;
    struct sockaddr_storage any;
    memset(&any, 0, sizeof any);
    if (s->cfg.recursors[0].ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (void *)&any;
        a->sin6_family = AF_INET6;
    } else {
        struct sockaddr_in *a = (void *)&any;
        a->sin_family = AF_INET;
    }
    uv_udp_init(s->loop, &s->fwd_udp);
    s->fwd_udp.data = s;
    s->fwd_open = 1;
    s->open_handles++;
    if (uv_udp_bind(&s->fwd_udp, (const struct sockaddr *)&any, 0) != 0 ||
        uv_udp_recv_start(&s->fwd_udp, fwd_alloc, fwd_recv) != 0) {
        s->fwd_open = 0;
        uv_close((uv_handle_t *)&s->fwd_udp, handle_closed);
        return -1;
    }
    return 0;
}

int tbd_forward(tbd_server_t *s, const dnsw_query_t *q, const uint8_t *pkt, size_t len,
                tbd_client_t *c)
{
    size_t n = 0;
    for (tbd_fwd_t *x = s->fwds; x; x = x->next)
        n++;
    if (s->stopping || n >= MAX_FORWARDS || !s->cfg.nrecursors || fwd_open(s) != 0)
        return -1;
    tbd_fwd_t *f = calloc(1, sizeof *f + len);
    if (!f)
        return -1;
    f->s = s;
    f->client = *c;
    tbd_client_hold(&f->client);
    f->client_id = q->id;
    f->limit = (uint16_t)(q->has_edns ? (q->udp_size > 65467 ? 65467 : q->udp_size) : 512);
    for (int tries = 0; tries < 16; tries++) {
        f->up_id = (uint16_t)tbd_rand(s);
        tbd_fwd_t *x = s->fwds;
        while (x && x->up_id != f->up_id)
            x = x->next;
        if (!x)
            break;
    }
    f->len = len;
    memcpy(f->pkt, pkt, len);
    f->pkt[0] = (uint8_t)(f->up_id >> 8);
    f->pkt[1] = (uint8_t)f->up_id;
    f->at = s->cfg.recursor_random ? tbd_rand(s) % s->cfg.nrecursors : 0;
    uv_timer_init(s->loop, &f->timer);
    f->timer.data = f;
    s->open_handles++;
    f->next = s->fwds;
    s->fwds = f;
    if (fwd_send(f) != 0) {
        fwd_finish(f);
        return -1;
    }
    uv_timer_start(&f->timer, fwd_timeout, s->cfg.recursor_timeout_ms, 0);
    return 0;
}

void tbd_forwards_close(tbd_server_t *s)
{
    while (s->fwds)
        fwd_finish(s->fwds);
    if (s->fwd_open) {
        s->fwd_open = 0;
        uv_close((uv_handle_t *)&s->fwd_udp, handle_closed);
    }
}
