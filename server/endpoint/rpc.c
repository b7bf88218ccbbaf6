/*
 * rpc.c - the server port (8300) of every server agent, -dev included: the
 * first byte of a connection selects Raft (handed to the node, node.h) or
 * the forwarding RPC, served here. Each request frame becomes an ordinary
 * endpoint call (so blocking, consistency and apply work as for local
 * surfaces); its result goes back as a response frame with the same id.
 * A cancel frame or a dropped connection cancels the calls still running.
 * A malformed stream closes the connection with a warning; the agent is
 * unaffected.
 */
#include "tb_autoconf.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "endpoint/rpc_int.h"
#include "raft/node.h"

/* Room offered to each read: small frames batch, big ones grow the buffer. */
#define READ_CHUNK 65536

typedef struct sconn sconn_t;

/* One request running as an endpoint call. */
typedef struct job {
    sconn_t *conn;
    uint64_t id;
    tb_call_t *call;
    struct job *next, *prev;
} job_t;

struct sconn {
    tb__rpc_srv_t *srv;
    uv_tcp_t *tcp;        /* malloc'd: Raft takes it over as is */
    int kind;             /* 0 until the first byte, then TB__RPC_FORWARD */
    int closing;
    char peer[64];
    tb__rpc_reader_t rd;
    tb__buf_t outq;       /* responses of this loop turn, one write */
    int dirty;            /* on srv->dirty */
    sconn_t *dnext;
    job_t *jobs;
    sconn_t *next, *prev;
};

struct tb__rpc_srv {
    tb__endpoint_t *ep;
    uv_tcp_t listener;
    int stopped;
    sconn_t *conns;
    sconn_t *dirty;       /* connections with responses to write */
    uv_prepare_t flush;
};

static tb__logger_t *logger(tb__rpc_srv_t *s) { return &s->ep->agent->log; }

/* ------------------------------------------------------------ connections */

static void conn_closed(uv_handle_t *h)
{
    sconn_t *c = h->data;
    free(h);
    tb__rpc_reader_free(&c->rd);
    free(c->outq.data);
    free(c);
}

static void conn_unlink(sconn_t *c)
{
    tb__rpc_srv_t *s = c->srv;
    if (c->prev) c->prev->next = c->next;
    else if (s->conns == c) s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->next = c->prev = NULL;
}

static void job_unlink(job_t *j)
{
    sconn_t *c = j->conn;
    if (j->prev) j->prev->next = j->next;
    else c->jobs = j->next;
    if (j->next) j->next->prev = j->prev;
}

static void conn_close(sconn_t *c)
{
    if (c->closing) return;
    c->closing = 1;
    /* The callers went away: their calls stop here (blocking queries
     * leave the heap, nothing is answered). */
    while (c->jobs) {
        job_t *j = c->jobs;
        job_unlink(j);
        tb__endpoint_cancel(j->call);
        free(j);
    }
    conn_unlink(c);
    if (c->dirty) { /* freed in the close callback: off the flush list now */
        sconn_t **pp = &c->srv->dirty;
        while (*pp != c) pp = &(*pp)->dnext;
        *pp = c->dnext;
        c->dirty = 0;
    }
    uv_close((uv_handle_t *)c->tcp, conn_closed);
}

typedef struct wreq {
    uv_write_t req;
    uint8_t *data;
} wreq_t;

static void write_done(uv_write_t *req, int status)
{
    wreq_t *w = (wreq_t *)req;
    (void)status; /* a broken connection shows up on its read side */
    free(w->data);
    free(w);
}

int tb__rpc_write(uv_stream_t *s, uint8_t *data, size_t len)
{
    wreq_t *w = malloc(sizeof *w);
    if (!w) {
        free(data);
        return -1;
    }
    w->data = data;
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    if (uv_write(&w->req, s, &b, 1, write_done) != 0) {
        free(data);
        free(w);
        return -1;
    }
    return 0;
}

/* Responses completed in one loop turn leave in one write per connection
 * (the prepare phase runs after the endpoint's queue, before the poll). */
static void flush_cb(uv_prepare_t *p)
{
    tb__rpc_srv_t *s = p->data;
    sconn_t *c;
    while ((c = s->dirty)) {
        s->dirty = c->dnext;
        c->dnext = NULL;
        c->dirty = 0;
        uint8_t *d = c->outq.data;
        size_t n = c->outq.len;
        memset(&c->outq, 0, sizeof c->outq);
        if (n && tb__rpc_write((uv_stream_t *)c->tcp, d, n) != 0) conn_close(c);
        else if (!n) free(d);
    }
    uv_prepare_stop(p);
}

static void mark_dirty(sconn_t *c)
{
    tb__rpc_srv_t *s = c->srv;
    if (c->dirty || c->closing) return;
    c->dirty = 1;
    c->dnext = s->dirty;
    s->dirty = c;
    if (!uv_is_active((uv_handle_t *)&s->flush)) uv_prepare_start(&s->flush, flush_cb);
}

/* ------------------------------------------------------------ requests */

static void job_done(void *arg, const tb_result_t *r)
{
    job_t *j = arg;
    sconn_t *c = j->conn;
    job_unlink(j);
    char *json = r->json ? json_dumps(r->json, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    int rc = tb__rpc_enc_resp(&c->outq, j->id, r, json, json ? strlen(json) : 0);
    free(json);
    if (rc != 0) {
        /* Too large or out of memory: the caller still gets an answer. */
        tb_result_t e = *r;
        e.status = TB_INTERNAL;
        e.error = "rpc error: result too large to forward";
        e.json = NULL;
        e.kv = NULL;
        e.kv_count = 0;
        rc = tb__rpc_enc_resp(&c->outq, j->id, &e, NULL, 0);
    }
    free(j);
    if (rc == 0) mark_dirty(c);
}

static int start_request(sconn_t *c, const tb__rpc_frame_t *f)
{
    tb__endpoint_t *ep = c->srv->ep;
    tb__rpc_req_t q;
    if (tb__rpc_dec_req(f->payload, f->len, &q) != 0) return -1;
    job_t *j = calloc(1, sizeof *j);
    if (!j) return -1;
    j->conn = c;
    j->id = f->id;
    tb_call_t *call = NULL;
    if (q.kind == TB__RPC_GENERIC) {
        json_t *args = NULL;
        if (q.args) {
            json_error_t jerr;
            args = json_loadb(q.args, q.args_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
            if (!args) {
                free(j);
                return -1;
            }
        }
        call = tb__endpoint_call(ep, q.method, args, &q.opts, job_done, j);
        json_decref(args);
    } else if (q.kind == TB__RPC_KV_READ) {
        call = tb__endpoint_kv_read(ep, &q.kvr, &q.opts, job_done, j);
    } else {
        call = tb__endpoint_kv_write(ep, &q.kvw, &q.opts, job_done, j);
    }
    if (!call) {
        free(j);
        return -1;
    }
    /* Queued, not run yet: the routing sees how far it travelled. */
    call->hops = (uint8_t)(q.hops + 1);
    j->call = call;
    j->next = c->jobs;
    if (c->jobs) c->jobs->prev = j;
    c->jobs = j;
    return 0;
}

static void cancel_request(sconn_t *c, uint64_t id)
{
    for (job_t *j = c->jobs; j; j = j->next)
        if (j->id == id) {
            job_unlink(j);
            tb__endpoint_cancel(j->call);
            free(j);
            return;
        }
}

/* ------------------------------------------------------------ reading */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    sconn_t *c = h->data;
    size_t got;
    (void)hint;
    uint8_t *p = tb__rpc_reader_space(&c->rd, READ_CHUNK, &got);
    *buf = uv_buf_init((char *)p, p ? (unsigned)got : 0);
}

static void handover_raft(sconn_t *c)
{
    tb__raftnode_t *node = c->srv->ep->agent->raft;
    if (!node) {
        tb__log(logger(c->srv), TB_LOG_DEBUG, "rpc", "raft connection from %s: not a raft server",
                c->peer);
        conn_close(c);
        return;
    }
    uv_tcp_t *tcp = c->tcp;
    uv_read_stop((uv_stream_t *)tcp);
    conn_unlink(c);
    tcp->data = NULL;
    /* The node owns the handle from here; the bytes after the selector
     * byte came with the first read. */
    tb__raftnode_accept(node, tcp, c->rd.buf + c->rd.off, c->rd.len - c->rd.off);
    tb__rpc_reader_free(&c->rd);
    free(c);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    sconn_t *c = st->data;
    (void)buf;
    if (n < 0) {
        if (n != UV_EOF)
            tb__log(logger(c->srv), TB_LOG_DEBUG, "rpc", "connection from %s: %s", c->peer,
                    uv_strerror((int)n));
        conn_close(c);
        return;
    }
    c->rd.len += (size_t)n;
    if (!c->kind && c->rd.len > c->rd.off) {
        uint8_t first = c->rd.buf[c->rd.off++];
        if (first == TB__RPC_RAFT) {
            handover_raft(c);
            return;
        }
        if (first != TB__RPC_FORWARD) {
            tb__log(logger(c->srv), TB_LOG_DEBUG, "rpc",
                    "connection from %s: unknown protocol byte 0x%02x", c->peer, first);
            conn_close(c);
            return;
        }
        c->kind = TB__RPC_FORWARD;
    }
    tb__rpc_frame_t f;
    const char *err = NULL;
    int rc;
    while (!c->closing && (rc = tb__rpc_reader_next(&c->rd, &f, &err)) == 1) {
        if (f.type == TB__RPC_REQ) {
            if (start_request(c, &f) != 0) {
                err = "malformed request";
                rc = -1;
                break;
            }
        } else if (f.type == TB__RPC_CANCEL) {
            cancel_request(c, f.id);
        } else {
            err = "unexpected response frame";
            rc = -1;
            break;
        }
    }
    if (rc < 0 && !c->closing) {
        tb__log(logger(c->srv), TB_LOG_WARN, "rpc", "closing connection from %s: %s", c->peer,
                err ? err : "bad frame");
        conn_close(c);
    }
}

static void on_connection(uv_stream_t *l, int status)
{
    tb__rpc_srv_t *s = l->data;
    if (status < 0) {
        tb__log(logger(s), TB_LOG_WARN, "rpc", "accept: %s", uv_strerror(status));
        return;
    }
    sconn_t *c = calloc(1, sizeof *c);
    uv_tcp_t *tcp = malloc(sizeof *tcp);
    if (!c || !tcp || uv_tcp_init(&s->ep->agent->loop, tcp) != 0) {
        free(c);
        free(tcp);
        return;
    }
    c->srv = s;
    c->tcp = tcp;
    tcp->data = c;
    if (uv_accept(l, (uv_stream_t *)tcp) != 0) {
        uv_close((uv_handle_t *)tcp, conn_closed);
        return;
    }
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    snprintf(c->peer, sizeof c->peer, "?");
    if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &sl) == 0) {
        char ip[INET6_ADDRSTRLEN] = "?";
        int port = 0;
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *in = (struct sockaddr_in *)&ss;
            uv_ip4_name(in, ip, sizeof ip);
            port = ntohs(in->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
            uv_ip6_name(in6, ip, sizeof ip);
            port = ntohs(in6->sin6_port);
        }
        snprintf(c->peer, sizeof c->peer, "%s:%d", ip, port);
    }
    uv_tcp_nodelay(tcp, 1);
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    uv_read_start((uv_stream_t *)tcp, on_alloc, on_read);
}

/* ------------------------------------------------------------ listener */

int tb__rpc_listen(tb__endpoint_t *ep, char **err)
{
    const tb__config_t *cfg = ep->agent->config;
    const char *host = cfg->bind_addr && *cfg->bind_addr ? cfg->bind_addr : "0.0.0.0";
    char msg[512];
    struct sockaddr_storage sa;
    int rc;
    if (cfg->port_server <= 0 || cfg->port_server > 65535) {
        snprintf(msg, sizeof msg, "ports.server: %d is not a valid port", cfg->port_server);
        goto fail;
    }
    if (uv_ip4_addr(host, cfg->port_server, (struct sockaddr_in *)&sa) != 0 &&
        uv_ip6_addr(host, cfg->port_server, (struct sockaddr_in6 *)&sa) != 0) {
        snprintf(msg, sizeof msg, "bind_addr: %s is not an IP address", host);
        goto fail;
    }
    tb__rpc_srv_t *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(msg, sizeof msg, "out of memory");
        goto fail;
    }
    /* Owned by the endpoint from here, even when the bind fails: the
     * listener handle closes with the loop run before the endpoint is
     * freed. */
    ep->rpc = s;
    s->ep = ep;
    uv_prepare_init(&ep->agent->loop, &s->flush);
    s->flush.data = s;
    uv_tcp_init(&ep->agent->loop, &s->listener);
    s->listener.data = s;
    rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&sa, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&s->listener, 511, on_connection);
    if (rc != 0) {
        snprintf(msg, sizeof msg, "rpc: cannot listen on %s:%d (server port): %s", host,
                 cfg->port_server, uv_strerror(rc));
        tb__rpc_stop(s);
        goto fail;
    }
    tb__log(&ep->agent->log, TB_LOG_INFO, "rpc", "server RPC listening on %s:%d", host,
            cfg->port_server);
    return 0;
fail:
    if (err) *err = strdup(msg);
    return -1;
}

void tb__rpc_stop(tb__rpc_srv_t *s)
{
    if (!s || s->stopped) return;
    s->stopped = 1;
    uv_close((uv_handle_t *)&s->listener, NULL);
    while (s->conns) conn_close(s->conns);
    uv_close((uv_handle_t *)&s->flush, NULL);
}

void tb__rpc_free(tb__rpc_srv_t *s) { free(s); }
