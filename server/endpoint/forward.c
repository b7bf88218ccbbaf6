/*
 * forward.c - where a call runs, and the caller side of the forwarding
 * RPC (frames: rpc_int.h; the server side: rpc.c).
 *
 * Routing (doc/forwarding.md): a client agent has no state store and
 * sends every state call to a known server; a Raft follower sends writes
 * and default/consistent reads to the leader and answers ?stale reads
 * itself; the leader answers default reads from its state (lease) and
 * runs ?consistent reads after the read barrier; -dev answers everything.
 *
 * One TCP connection per server address carries any number of requests,
 * matched to their calls by id. A dropped connection fails the calls it
 * carried at once ("rpc error: ...": a write may have been applied) and
 * the next attempt waits out a backoff that doubles up to 2 s, so a dead
 * server costs callers nothing but the error. A call that was never sent
 * is safe to retry: on a Raft server it waits (up to 7 s, Consul's
 * rpc_hold_timeout) for a leader it can reach, as it does when no leader
 * is known; a client agent with other servers tries those.
 */
#include "tb_autoconf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "endpoint/rpc_int.h"
#include "raft/node.h"

#define NBUCKET 1024
#define READ_CHUNK 65536
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
#define HOLD_MS 7000     /* Consul's rpc_hold_timeout */
#define HOLD_RETRY_MS 50 /* how often held calls look for a leader again */

enum { FC_DOWN = 0, FC_RESOLVING, FC_CONNECTING, FC_UP };

typedef struct tb__fwd_conn fconn_t;
struct tb__fwd_conn {
    tb__fwd_t *f;
    char *addr;            /* "host:port" or "[v6]:port" */
    uv_tcp_t *tcp;         /* malloc'd; NULL when down */
    int state;
    uint64_t gen;          /* bumped per attempt: stale callbacks ignore */
    int reading;           /* in on_read: conn_down must not free rd */
    tb__rpc_reader_t rd;
    tb__buf_t outq;        /* frames not written yet (this loop turn, or connecting) */
    int dirty;             /* on f->dirty: flush before the loop polls */
    fconn_t *dnext;
    uint64_t retry_at;     /* loop ms: no new attempt before */
    uint64_t backoff_ms;
    char err[200];         /* why the last attempt failed */
    tb_call_t *calls;      /* forwarded on this connection */
    fconn_t *next;
};

typedef struct server {
    char *addr;
    int alive;
} server_t;

struct tb__fwd {
    tb__endpoint_t *ep;
    fconn_t *conns;
    server_t *servers;     /* client agents: where to forward */
    size_t nservers, cur;
    uint64_t next_id;
    tb_call_t *tab[NBUCKET];
    tb_call_t *held;       /* waiting for a leader (fnext/fprev links) */
    uv_timer_t hold_timer;
    fconn_t *dirty;        /* connections with frames to write */
    uv_prepare_t flush;    /* writes them, one write per connection and turn */
    int stopped;
};

typedef struct creq {
    uv_connect_t req;
    fconn_t *fc;
    uint64_t gen;
} creq_t;

typedef struct greq {
    uv_getaddrinfo_t req;
    fconn_t *fc;
    uint64_t gen;
} greq_t;

static tb__agent_t *agent_of(tb__fwd_t *f) { return f->ep->agent; }

/* ------------------------------------------------------------ id table */

static void tab_put(tb__fwd_t *f, tb_call_t *c)
{
    size_t b = c->fwd_id & (NBUCKET - 1);
    c->hnext = f->tab[b];
    f->tab[b] = c;
}

static tb_call_t *tab_take(tb__fwd_t *f, uint64_t id)
{
    tb_call_t **pp = &f->tab[id & (NBUCKET - 1)];
    for (; *pp; pp = &(*pp)->hnext)
        if ((*pp)->fwd_id == id) {
            tb_call_t *c = *pp;
            *pp = c->hnext;
            c->hnext = NULL;
            return c;
        }
    return NULL;
}

static void conn_link(fconn_t *fc, tb_call_t *c)
{
    c->fwd_conn = fc;
    c->fprev = NULL;
    c->fnext = fc->calls;
    if (fc->calls) fc->calls->fprev = c;
    fc->calls = c;
}

static void conn_unlink(tb_call_t *c)
{
    fconn_t *fc = c->fwd_conn;
    if (c->fprev) c->fprev->fnext = c->fnext;
    else fc->calls = c->fnext;
    if (c->fnext) c->fnext->fprev = c->fprev;
    c->fnext = c->fprev = NULL;
    c->fwd_conn = NULL;
}

/* Forget a forwarded call (answered, failed or cancelled). */
static void untrack(tb__fwd_t *f, tb_call_t *c)
{
    tab_take(f, c->fwd_id);
    conn_unlink(c);
}

static void fail_call(tb_call_t *c, tb_status_t st, const char *fmt, ...) TB_PRINTF(3, 4);
static void fail_call(tb_call_t *c, tb_status_t st, const char *fmt, ...)
{
    tb__ep_out_t o;
    memset(&o, 0, sizeof o);
    char buf[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    tb__ep_fail(&o, st, "%s", buf);
    tb__ep_finish(c, &o);
}

/* ------------------------------------------------------------ holding */

static void hold_tick(uv_timer_t *t);

/* Can c wait for another try? Raft servers wait for a reachable leader; a
 * client agent only retries when it has another server to try. */
static int may_hold(tb__fwd_t *f, tb_call_t *c)
{
    tb__agent_t *a = agent_of(f);
    if (f->stopped || (!a->raft && f->nservers < 2)) return 0;
    uint64_t now = uv_now(&a->loop);
    if (!c->hold_until) c->hold_until = now + HOLD_MS;
    return now < c->hold_until;
}

/* Park c until the next retry tick: 1, or 0 when it may not wait. */
static int hold(tb__fwd_t *f, tb_call_t *c)
{
    if (!may_hold(f, c)) return 0;
    c->state = CS_FORWARDED; /* cancel finds it here: fwd_conn NULL */
    c->fwd_id = 0;
    c->fwd_conn = NULL;
    c->fprev = NULL;
    c->fnext = f->held;
    if (f->held) f->held->fprev = c;
    f->held = c;
    if (!uv_is_active((uv_handle_t *)&f->hold_timer))
        uv_timer_start(&f->hold_timer, hold_tick, HOLD_RETRY_MS, 0);
    return 1;
}

static void held_unlink(tb__fwd_t *f, tb_call_t *c)
{
    if (c->fprev) c->fprev->fnext = c->fnext;
    else f->held = c->fnext;
    if (c->fnext) c->fnext->fprev = c->fprev;
    c->fnext = c->fprev = NULL;
}

static void hold_tick(uv_timer_t *t)
{
    tb__fwd_t *f = t->data;
    /* Route them again (run_call): a leader may be known or reachable now;
     * those still stuck come back here until their time is up. */
    while (f->held) {
        tb_call_t *c = f->held;
        held_unlink(f, c);
        tb__ep_resume(c);
    }
}

/* ------------------------------------------------------------ addresses */

/* "host", "host:port", "[v6]:port" or "v6" -> "host:<port>" / "[v6]:<port>"
 * (the port of a join address is gossip's; RPC uses the server port). */
static char *server_addr(const char *join, int port)
{
    char host[256];
    const char *p = join;
    size_t n;
    if (*p == '[') {
        const char *e = strchr(p, ']');
        if (!e) return NULL;
        n = (size_t)(e - p - 1);
        p++;
    } else {
        const char *c1 = strchr(p, ':');
        n = c1 && !strchr(c1 + 1, ':') ? (size_t)(c1 - p) : strlen(p);
    }
    if (n == 0 || n >= sizeof host) return NULL;
    memcpy(host, p, n);
    host[n] = 0;
    char out[300];
    snprintf(out, sizeof out, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
    return strdup(out);
}

/* Split "host:port" / "[v6]:port" into host and port. */
static int split_addr(const char *addr, char *host, size_t hl, int *port)
{
    const char *colon;
    if (*addr == '[') {
        const char *e = strchr(addr, ']');
        if (!e || e[1] != ':' || (size_t)(e - addr - 1) >= hl) return -1;
        memcpy(host, addr + 1, (size_t)(e - addr - 1));
        host[e - addr - 1] = 0;
        colon = e + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon || (size_t)(colon - addr) >= hl) return -1;
        memcpy(host, addr, (size_t)(colon - addr));
        host[colon - addr] = 0;
    }
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || p <= 0 || p > 65535) return -1;
    *port = (int)p;
    return 0;
}

static void add_server(tb__fwd_t *f, const char *addr, int alive)
{
    for (size_t i = 0; i < f->nservers; i++)
        if (strcmp(f->servers[i].addr, addr) == 0) {
            f->servers[i].alive = alive;
            return;
        }
    server_t *n = realloc(f->servers, (f->nservers + 1) * sizeof *n);
    if (!n) return;
    f->servers = n;
    if (!(n[f->nservers].addr = strdup(addr))) return;
    n[f->nservers++].alive = alive;
}

void tb__fwd_server_seen(tb__fwd_t *f, const char *addr, int alive)
{
    if (f && addr && *addr) add_server(f, addr, alive);
}

tb__fwd_t *tb__fwd_new(tb__endpoint_t *ep)
{
    tb__fwd_t *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->ep = ep;
    uv_timer_init(&ep->agent->loop, &f->hold_timer);
    f->hold_timer.data = f;
    uv_prepare_init(&ep->agent->loop, &f->flush);
    f->flush.data = f;
    const tb__config_t *cfg = ep->agent->config;
    /* Until gossip feeds servers from serf tags, the join addresses are
     * the client agents' servers. */
    static const char *const keys[] = {"retry_join", "start_join"};
    for (size_t k = 0; k < 2 && cfg->merged; k++) {
        json_t *arr = json_object_get(cfg->merged, keys[k]), *v;
        size_t i;
        json_array_foreach(arr, i, v) {
            const char *s = json_string_value(v);
            /* cloud auto-join ("provider=aws ...") is not ours */
            if (!s || !*s || strchr(s, '=') || strchr(s, ' ')) continue;
            char *a = server_addr(s, cfg->port_server);
            if (a) add_server(f, a, 1);
            free(a);
        }
    }
    return f;
}

/* ------------------------------------------------------------ connections */

static void handle_free(uv_handle_t *h) { free(h); }

static void conn_write(fconn_t *fc, uint8_t *data, size_t len)
{
    /* a failed write shows up as a read error, which fails the calls */
    tb__rpc_write((uv_stream_t *)fc->tcp, data, len);
}

/* Every request of one loop turn goes out in one write per connection:
 * the prepare phase runs after the endpoint's queue and before the poll. */
static void flush_cb(uv_prepare_t *p)
{
    tb__fwd_t *f = p->data;
    fconn_t *fc;
    while ((fc = f->dirty)) {
        f->dirty = fc->dnext;
        fc->dnext = NULL;
        fc->dirty = 0;
        if (fc->state == FC_UP && fc->outq.len) {
            conn_write(fc, fc->outq.data, fc->outq.len);
            memset(&fc->outq, 0, sizeof fc->outq);
        }
    }
    uv_prepare_stop(p);
}

static void mark_dirty(fconn_t *fc)
{
    tb__fwd_t *f = fc->f;
    if (fc->state != FC_UP || fc->dirty) return; /* connecting: on_connect writes */
    fc->dirty = 1;
    fc->dnext = f->dirty;
    f->dirty = fc;
    if (!uv_is_active((uv_handle_t *)&f->flush)) uv_prepare_start(&f->flush, flush_cb);
}

/* The connection broke or never came up: fail its calls, back off. */
static void conn_down(fconn_t *fc, tb_status_t st, const char *fmt, ...) TB_PRINTF(3, 4);
static void conn_down(fconn_t *fc, tb_status_t st, const char *fmt, ...)
{
    tb__fwd_t *f = fc->f;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fc->err, sizeof fc->err, fmt, ap);
    va_end(ap);
    if (fc->tcp) uv_close((uv_handle_t *)fc->tcp, handle_free);
    fc->tcp = NULL;
    int was_up = fc->state == FC_UP;
    /* Calls queued while connecting were never sent: safe to retry. */
    int unsent = !was_up;
    fc->state = FC_DOWN;
    fc->gen++;
    if (!fc->reading) {
        fc->rd.off = fc->rd.len = 0;
    }
    fc->outq.len = 0;
    if (was_up) fc->backoff_ms = 0; /* it worked: first retry soon */
    fc->backoff_ms = fc->backoff_ms ? fc->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (fc->backoff_ms > BACKOFF_MAX_MS) fc->backoff_ms = BACKOFF_MAX_MS;
    fc->retry_at = uv_now(&agent_of(f)->loop) + fc->backoff_ms;
    tb__log(&agent_of(f)->log, f->stopped ? TB_LOG_DEBUG : TB_LOG_WARN, "rpc", "%s", fc->err);
    /* Rotate a client agent's choice away from this server. */
    if (f->nservers && strcmp(f->servers[f->cur % f->nservers].addr, fc->addr) == 0)
        f->cur = (f->cur + 1) % f->nservers;
    while (fc->calls) {
        tb_call_t *c = fc->calls;
        untrack(f, c);
        if (!unsent || !hold(f, c)) fail_call(c, st, "%s", fc->err);
    }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    fconn_t *fc = h->data;
    size_t got;
    (void)hint;
    uint8_t *p = tb__rpc_reader_space(&fc->rd, READ_CHUNK, &got);
    *buf = uv_buf_init((char *)p, p ? (unsigned)got : 0);
}

static void deliver(tb__fwd_t *f, const tb__rpc_frame_t *fr, fconn_t *fc)
{
    tb__rpc_resp_t resp;
    if (tb__rpc_dec_resp(fr->payload, fr->len, &resp) != 0) {
        conn_down(fc, TB_UNAVAILABLE, "rpc error: malformed response from %s", fc->addr);
        return;
    }
    tb_call_t *c = tab_take(f, fr->id);
    if (!c) { /* cancelled meanwhile */
        tb__rpc_resp_clear(&resp);
        return;
    }
    conn_unlink(c);
    json_t *json = NULL;
    if (resp.json) {
        json_error_t jerr;
        json = json_loadb(resp.json, resp.json_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        if (!json) {
            tb__rpc_resp_clear(&resp);
            fail_call(c, TB_INTERNAL, "rpc error: bad result from %s: %s", fc->addr, jerr.text);
            return;
        }
    }
    resp.r.json = json;
    tb__ep_deliver(c, &resp.r);
    json_decref(json);
    tb__rpc_resp_clear(&resp);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    fconn_t *fc = st->data;
    tb__fwd_t *f = fc->f;
    (void)buf;
    if (n < 0) {
        conn_down(fc, TB_UNAVAILABLE, "rpc error: connection to %s lost: %s", fc->addr,
                  n == UV_EOF ? "closed by the server" : uv_strerror((int)n));
        return;
    }
    fc->rd.len += (size_t)n;
    uint64_t gen = fc->gen;
    tb__rpc_frame_t fr;
    const char *err = NULL;
    int rc;
    fc->reading = 1;
    /* A callback may cancel or forward more calls; stop if the connection
     * went down meanwhile (gen moved). */
    while (fc->gen == gen && (rc = tb__rpc_reader_next(&fc->rd, &fr, &err)) == 1) {
        if (fr.type != TB__RPC_RESP) {
            rc = -1;
            err = "unexpected frame type";
            break;
        }
        deliver(f, &fr, fc);
    }
    fc->reading = 0;
    if (fc->gen != gen) {
        fc->rd.off = fc->rd.len = 0;
        return;
    }
    if (rc < 0) conn_down(fc, TB_UNAVAILABLE, "rpc error: bad stream from %s: %s", fc->addr, err);
}

static void on_connect(uv_connect_t *req, int status)
{
    creq_t *cr = (creq_t *)req;
    fconn_t *fc = cr->fc;
    uint64_t gen = cr->gen;
    free(cr);
    if (status == UV_ECANCELED || fc->gen != gen) return;
    if (status < 0) {
        conn_down(fc, TB_UNAVAILABLE, "rpc error: failed to connect to %s: %s", fc->addr,
                  uv_strerror(status));
        return;
    }
    fc->state = FC_UP;
    fc->backoff_ms = 0;
    uv_tcp_nodelay(fc->tcp, 1);
    /* the selector byte, then whatever was asked while connecting */
    uint8_t *d = malloc(fc->outq.len + 1);
    if (d) {
        d[0] = TB__RPC_FORWARD;
        if (fc->outq.len) memcpy(d + 1, fc->outq.data, fc->outq.len);
        conn_write(fc, d, fc->outq.len + 1);
    }
    fc->outq.len = 0;
    tb__log(&agent_of(fc->f)->log, TB_LOG_DEBUG, "rpc", "connected to %s", fc->addr);
    uv_read_start((uv_stream_t *)fc->tcp, on_alloc, on_read);
}

static void start_connect(fconn_t *fc, const struct sockaddr *sa)
{
    tb__agent_t *a = agent_of(fc->f);
    creq_t *cr = malloc(sizeof *cr);
    fc->tcp = malloc(sizeof *fc->tcp);
    if (!cr || !fc->tcp) {
        free(cr);
        free(fc->tcp);
        fc->tcp = NULL;
        conn_down(fc, TB_UNAVAILABLE, "rpc error: out of memory");
        return;
    }
    uv_tcp_init(&a->loop, fc->tcp);
    fc->tcp->data = fc;
    cr->fc = fc;
    cr->gen = fc->gen;
    fc->state = FC_CONNECTING;
    int rc = uv_tcp_connect(&cr->req, fc->tcp, sa, on_connect);
    if (rc != 0) {
        free(cr);
        conn_down(fc, TB_UNAVAILABLE, "rpc error: failed to connect to %s: %s", fc->addr,
                  uv_strerror(rc));
    }
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    greq_t *g = (greq_t *)req;
    fconn_t *fc = g->fc;
    uint64_t gen = g->gen;
    free(g);
    if (status == UV_ECANCELED || fc->gen != gen || fc->f->stopped) {
        uv_freeaddrinfo(res);
        return;
    }
    if (status < 0 || !res) {
        uv_freeaddrinfo(res);
        conn_down(fc, TB_UNAVAILABLE, "rpc error: cannot resolve %s: %s", fc->addr,
                  uv_strerror(status));
        return;
    }
    start_connect(fc, res->ai_addr);
    uv_freeaddrinfo(res);
}

/* Start connecting (the caller queues its frame on outq). */
static void conn_open(fconn_t *fc)
{
    char host[256], port_s[8];
    int port;
    struct sockaddr_storage sa;
    fc->gen++;
    if (split_addr(fc->addr, host, sizeof host, &port) != 0) {
        conn_down(fc, TB_UNAVAILABLE, "rpc error: bad server address %s", fc->addr);
        return;
    }
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&sa) == 0 ||
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&sa) == 0) {
        start_connect(fc, (struct sockaddr *)&sa);
        return;
    }
    greq_t *g = malloc(sizeof *g);
    if (!g) {
        conn_down(fc, TB_UNAVAILABLE, "rpc error: out of memory");
        return;
    }
    g->fc = fc;
    g->gen = fc->gen;
    snprintf(port_s, sizeof port_s, "%d", port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    fc->state = FC_RESOLVING;
    int rc = uv_getaddrinfo(&agent_of(fc->f)->loop, &g->req, on_resolved, host, port_s, &hints);
    if (rc != 0) {
        free(g);
        conn_down(fc, TB_UNAVAILABLE, "rpc error: cannot resolve %s: %s", fc->addr,
                  uv_strerror(rc));
    }
}

static fconn_t *conn_get(tb__fwd_t *f, const char *addr)
{
    for (fconn_t *fc = f->conns; fc; fc = fc->next)
        if (strcmp(fc->addr, addr) == 0) return fc;
    fconn_t *fc = calloc(1, sizeof *fc);
    if (!fc || !(fc->addr = strdup(addr))) {
        free(fc);
        return NULL;
    }
    fc->f = f;
    fc->next = f->conns;
    f->conns = fc;
    return fc;
}

/* Usable now: up, coming up, or down with its backoff over. */
static int conn_ready(tb__fwd_t *f, fconn_t *fc)
{
    return fc->state != FC_DOWN || uv_now(&agent_of(f)->loop) >= fc->retry_at;
}

/* ------------------------------------------------------------ forwarding */

static int encode(tb__fwd_t *f, tb_call_t *c, uint64_t id, tb__buf_t *b)
{
    tb__agent_t *a = agent_of(f);
    tb__rpc_req_t q;
    memset(&q, 0, sizeof q);
    q.hops = c->hops;
    q.opts = c->opts;
    char *args = NULL;
    if (c->kind == CALL_GENERIC) {
        q.kind = TB__RPC_GENERIC;
        q.method = c->method->name;
        json_t *body = json_incref(c->args);
        /* A session belongs to the agent it was created through. */
        if (!a->state && strcmp(q.method, "Session.Create") == 0 && json_is_object(body)) {
            const char *node = tb__jstr(body, "Node");
            if (!node || !*node) {
                json_t *cp = json_copy(body);
                json_decref(body);
                body = cp;
                if (body) json_object_set_new(body, "Node", json_string(a->config->node_name));
            }
        }
        args = body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        json_decref(body);
        if (!args) return -1;
        q.args = args;
        q.args_len = strlen(args);
    } else if (c->kind == CALL_KV_READ) {
        q.kind = TB__RPC_KV_READ;
        q.kvr = c->kvr;
    } else {
        q.kind = TB__RPC_KV_WRITE;
        q.kvw = c->kvw;
    }
    int rc = tb__rpc_enc_req(b, id, &q);
    free(args);
    return rc;
}

/* Send c over fc: 1 forwarded (or held: may_wait), -1 refused (o filled). */
static int forward_to(tb__fwd_t *f, tb_call_t *c, fconn_t *fc, int may_wait, tb__ep_out_t *o)
{
    if (!fc) {
        tb__ep_fail(o, TB_INTERNAL, "out of memory");
        return -1;
    }
    if (!conn_ready(f, fc)) {
        if (may_wait && hold(f, c)) return 1;
        tb__ep_fail(o, TB_UNAVAILABLE, "%s", fc->err);
        return -1;
    }
    if (fc->state == FC_DOWN) {
        conn_open(fc);
        if (fc->state == FC_DOWN) { /* failed at once */
            if (may_wait && hold(f, c)) return 1;
            tb__ep_fail(o, TB_UNAVAILABLE, "%s", fc->err);
            return -1;
        }
    }
    uint64_t id = ++f->next_id;
    if (encode(f, c, id, &fc->outq) != 0) {
        tb__ep_fail(o, TB_TOO_LARGE, "rpc error: request too large to forward");
        return -1;
    }
    mark_dirty(fc);
    c->state = CS_FORWARDED;
    c->fwd_id = id;
    tab_put(f, c);
    conn_link(fc, c);
    return 1;
}

static int forward_to_servers(tb__fwd_t *f, tb_call_t *c, tb__ep_out_t *o)
{
    fconn_t *first = NULL;
    /* The current server unless it is known dead or backing off; then the
     * next one that can be tried. */
    for (size_t k = 0; k < f->nservers; k++) {
        size_t i = (f->cur + k) % f->nservers;
        if (!f->servers[i].alive) continue;
        fconn_t *fc = conn_get(f, f->servers[i].addr);
        if (!fc) continue;
        if (!first) first = fc;
        if (conn_ready(f, fc)) {
            f->cur = i;
            return forward_to(f, c, fc, 1, o);
        }
    }
    if (first) return forward_to(f, c, first, 0, o); /* fails with its error */
    /* Consul's words for a client agent without servers */
    tb__ep_fail(o, TB_NO_LEADER, "No known Consul servers");
    return -1;
}

static void barrier_done(void *arg, tb_status_t st)
{
    tb_call_t *c = arg;
    if (c->cancelled) {
        tb__ep_drop(c);
        return;
    }
    if (st != TB_OK) {
        c->state = CS_RUNNING;
        fail_call(c, TB_NO_LEADER, "No cluster leader");
        return;
    }
    c->routed = 1;
    tb__ep_resume(c);
}

int tb__fwd_route(tb__fwd_t *f, tb_call_t *c, int needs_state, tb__ep_out_t *o)
{
    tb__agent_t *a = agent_of(f);
    int generic = c->kind == CALL_GENERIC;
    int is_write = c->kind == CALL_KV_WRITE || (generic && c->method->write);
    if (!a->state) {
        /* Client agent: state calls and Status.* go to a server. */
        if (needs_state || (generic && strncmp(c->method->name, "Status.", 7) == 0))
            return forward_to_servers(f, c, o);
        return 0;
    }
    if (!a->raft || !needs_state) {
        c->routed = 1; /* -dev, or local agent data */
        return 0;
    }
    if (tb__raftnode_is_leader(a->raft)) {
        if (!is_write && c->opts.consistency == TB_CONSISTENCY_CONSISTENT) {
            c->state = CS_BARRIER;
            if (tb__raftnode_read_barrier(a->raft, barrier_done, c) != TB_OK) {
                c->state = CS_RUNNING;
                tb__ep_fail(o, TB_NO_LEADER, "No cluster leader");
                return -1;
            }
            return 1;
        }
        c->routed = 1; /* default reads: the leader's lease */
        return 0;
    }
    const char *leader = tb__raftnode_leader_addr(a->raft);
    /* ?stale reads are answered by any server, unless ?max_stale says this
     * one is too far behind and a leader can be asked instead. Calls with
     * side effects (Session.Renew: no watch) always go to the leader. */
    int readable = c->kind == CALL_KV_READ || (generic && c->method->watch);
    if (!is_write && readable && c->opts.consistency == TB_CONSISTENCY_STALE) {
        uint64_t lc = tb__raftnode_last_contact_ms(a->raft);
        if (!leader || !c->opts.max_stale_ms || lc <= c->opts.max_stale_ms) {
            c->routed = 1;
            return 0;
        }
    }
    if (!leader && hold(f, c)) return 1; /* an election may be under way */
    if (!leader || c->hops >= TB__RPC_MAX_HOPS) {
        tb__ep_fail(o, TB_NO_LEADER, "No cluster leader");
        return -1;
    }
    return forward_to(f, c, conn_get(f, leader), 1, o);
}

void tb__fwd_cancel(tb__fwd_t *f, tb_call_t *c)
{
    fconn_t *fc = c->fwd_conn;
    uint64_t id = c->fwd_id;
    if (!fc) {
        held_unlink(f, c);
        return;
    }
    untrack(f, c);
    if (!fc || fc->state == FC_DOWN) return; /* the server dropped it already */
    /* The server drops the call (a blocking query leaves its heap). */
    if (tb__rpc_enc_cancel(&fc->outq, id) == 0) mark_dirty(fc);
}

/* ------------------------------------------------------------ lifecycle */

void tb__fwd_stop(tb__fwd_t *f)
{
    if (!f || f->stopped) return;
    f->stopped = 1;
    for (fconn_t *fc = f->conns; fc; fc = fc->next)
        if (fc->state != FC_DOWN || fc->calls)
            conn_down(fc, TB_UNAVAILABLE, "agent is shutting down");
    while (f->held) {
        tb_call_t *c = f->held;
        held_unlink(f, c);
        fail_call(c, TB_UNAVAILABLE, "agent is shutting down");
    }
    uv_close((uv_handle_t *)&f->hold_timer, NULL);
    uv_close((uv_handle_t *)&f->flush, NULL);
}

void tb__fwd_free(tb__fwd_t *f)
{
    if (!f) return;
    while (f->conns) {
        fconn_t *fc = f->conns;
        f->conns = fc->next;
        tb__rpc_reader_free(&fc->rd);
        free(fc->outq.data);
        free(fc->addr);
        free(fc);
    }
    for (size_t i = 0; i < f->nservers; i++) free(f->servers[i].addr);
    free(f->servers);
    free(f);
}
