/*
 * transport.c - the Raft node's TCP transport on the server port
 * (node_int.h has the wire). One outgoing connection per known server
 * carries our messages to it, reconnecting with backoff; connections the
 * server-port listener hands over (tb__raftnode_accept) carry the peers'
 * messages to us. Discovery dials each retry_join/start_join address once
 * its hello is answered, and every hello lists the servers the sender
 * knows, so a server that joins through any member learns them all.
 * A malformed frame closes that one connection with a warning.
 */
#include "tb_autoconf.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "raft/node_int.h"

#define MOD "agent.server.raft"
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 3000
#define READ_CHUNK 65536
/* Past this much unsent data to one peer, messages are dropped (Raft
 * retransmits) rather than queued without bound. */
#define MAX_QUEUED (32u << 20)

typedef struct wreq {
    uv_write_t req;
    uint8_t *data;
} wreq_t;

static void free_handle(uv_handle_t *h) { free(h); }

static void alloc_cb(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    (void)h, (void)sz;
    b->base = malloc(READ_CHUNK);
    b->len = b->base ? READ_CHUNK : 0;
}

static void write_done(uv_write_t *req, int status)
{
    (void)status; /* a broken connection shows up on its read side */
    wreq_t *w = (wreq_t *)req;
    free(w->data);
    free(w);
}

/* Takes ownership of data. */
static void write_raw(uv_tcp_t *tcp, uint8_t *data, size_t len)
{
    wreq_t *w = malloc(sizeof *w);
    if (!w) {
        free(data);
        return;
    }
    w->data = data;
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)tcp, &b, 1, write_done) != 0) {
        free(data);
        free(w);
    }
}

/* 0x01 (the Raft kind on the server port) then our hello. */
static void write_hello(tb__raftnode_t *n, uv_tcp_t *tcp, int kind_byte)
{
    tb__rf_hello_t *h = malloc(sizeof *h);
    if (!h) return;
    tb__rt_hello(n, h);
    size_t len = 0;
    uint8_t *f = tb__rf_hello_frame(h, &len);
    free(h);
    if (!f) return;
    if (kind_byte) {
        uint8_t *k = malloc(1);
        if (!k) {
            free(f);
            return;
        }
        k[0] = TB__RPC_RAFT;
        write_raw(tcp, k, 1);
    }
    write_raw(tcp, f, len);
}

static int split_host(const char *in, char *host, size_t cap)
{
    /* "host", "host:port" or "[v6]:port": the port is ignored (Raft dials
     * the server port). */
    const char *s = in, *e;
    if (*s == '[') {
        s++;
        e = strchr(s, ']');
        if (!e) return -1;
    } else {
        e = strrchr(s, ':');
        if (!e || strchr(s, ':') != e) e = s + strlen(s);
    }
    size_t l = (size_t)(e - s);
    if (l == 0 || l >= cap) return -1;
    memcpy(host, s, l);
    host[l] = 0;
    return 0;
}

static int parse_addr(const char *addr, struct sockaddr_in *sa)
{
    char host[64];
    const char *c = strrchr(addr, ':');
    if (!c || (size_t)(c - addr) >= sizeof host) return -1;
    memcpy(host, addr, (size_t)(c - addr));
    host[c - addr] = 0;
    int port = atoi(c + 1);
    if (port <= 0 || port > 65535) return -1;
    return uv_ip4_addr(host, port, sa);
}

/* ------------------------------------------------------------ peers */

static void peer_connect(tb__rpeer_t *p);

static void peer_retry_cb(uv_timer_t *t)
{
    tb__rpeer_t *p = t->data;
    if (!p->n->closed && !p->tcp && !p->removed) peer_connect(p);
}

static void peer_down(tb__rpeer_t *p)
{
    tb__raftnode_t *n = p->n;
    if (p->tcp) {
        uv_close((uv_handle_t *)p->tcp, free_handle);
        p->tcp = NULL;
    }
    p->connected = 0;
    tb__rf_rx_free(&p->rx);
    if (n->closed || p->removed) return;
    p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (p->backoff_ms > BACKOFF_MAX_MS) p->backoff_ms = BACKOFF_MAX_MS;
    uv_timer_start(&p->retry, peer_retry_cb, p->backoff_ms, 0);
}

static int peer_frame(void *ctx, const uint8_t *payload, size_t len)
{
    tb__rpeer_t *p = ctx;
    tb__rf_hello_t *h = malloc(sizeof *h);
    char err[128];
    if (!h) return -1;
    int rc = tb__rf_hello_decode(payload, len, h, err, sizeof err);
    if (rc == 0 && tb__rf_id_of(h->node_id) != p->id) {
        /* The address now belongs to another server: learn it. */
        tb__log(&p->n->a->log, TB_LOG_WARN, MOD, "server at %s is now %s (was %s)", p->addr,
                h->node_id, p->node_id);
    }
    if (rc == 0) {
        if (tb__rf_id_of(h->node_id) == p->id) {
            p->expect = h->expect;
            p->has_state = h->has_state;
        }
        for (size_t i = 0; i < h->n_servers; i++)
            tb__rt_seen(p->n, h->servers[i].node_id, h->servers[i].name, h->servers[i].addr,
                        h->servers[i].expect, -1);
    }
    free(h);
    return rc;
}

static void peer_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    tb__rpeer_t *p = s->data;
    char err[160];
    if (nread < 0) {
        free(b->base);
        tb__log(&p->n->a->log, TB_LOG_DEBUG, MOD, "connection to %s (%s) closed: %s", p->name,
                p->addr, uv_strerror((int)nread));
        peer_down(p);
        return;
    }
    int rc = tb__rf_feed(&p->rx, (const uint8_t *)b->base, (size_t)nread, peer_frame, p, err,
                         sizeof err);
    free(b->base);
    if (rc != 0) {
        tb__log(&p->n->a->log, TB_LOG_WARN, MOD, "closing connection to %s: %s", p->addr, err);
        peer_down(p);
    }
}

static void peer_connected(uv_connect_t *req, int status)
{
    tb__rpeer_t *p = req->data;
    uv_tcp_t *tcp = (uv_tcp_t *)req->handle;
    free(req);
    if (tcp != p->tcp || p->n->closed) return; /* closed meanwhile */
    if (status < 0) {
        if (p->backoff_ms >= BACKOFF_MAX_MS / 2)
            tb__log(&p->n->a->log, TB_LOG_DEBUG, MOD, "cannot connect to %s (%s): %s", p->name,
                    p->addr, uv_strerror(status));
        peer_down(p);
        return;
    }
    p->connected = 1;
    p->backoff_ms = 0;
    tb__log(&p->n->a->log, TB_LOG_DEBUG, MOD, "connected to %s (%s)", p->name, p->addr);
    write_hello(p->n, tcp, 1);
    uv_read_start((uv_stream_t *)tcp, alloc_cb, peer_read);
}

static void peer_connect(tb__rpeer_t *p)
{
    tb__raftnode_t *n = p->n;
    struct sockaddr_in sa;
    if (parse_addr(p->addr, &sa) != 0) {
        tb__log(&n->a->log, TB_LOG_WARN, MOD, "server %s has an unusable address %s", p->name,
                p->addr);
        return;
    }
    uv_tcp_t *tcp = malloc(sizeof *tcp);
    uv_connect_t *req = malloc(sizeof *req);
    if (!tcp || !req) {
        free(tcp);
        free(req);
        return;
    }
    uv_tcp_init(&n->a->loop, tcp);
    uv_tcp_nodelay(tcp, 1);
    tcp->data = p;
    req->data = p;
    p->tcp = tcp;
    if (uv_tcp_connect(req, tcp, (const struct sockaddr *)&sa, peer_connected) != 0) {
        free(req);
        peer_down(p);
    }
}

tb__rpeer_t *tb__rt_peer(tb__raftnode_t *n, uint64_t id)
{
    for (size_t i = 0; i < n->npeers; i++)
        if (n->peers[i]->id == id) return n->peers[i];
    return NULL;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

tb__rpeer_t *tb__rt_seen(tb__raftnode_t *n, const char *node_id, const char *name,
                         const char *addr, int expect, int has_state)
{
    uint64_t id = tb__rf_id_of(node_id);
    if (!id || id == n->id || !addr || !*addr || n->closed) return NULL;
    tb__rpeer_t *p = tb__rt_peer(n, id);
    if (p) {
        if (name && *name) copy_str(p->name, sizeof p->name, name);
        if (expect) p->expect = expect;
        if (has_state >= 0) p->has_state = has_state;
        if (strcmp(p->addr, addr) != 0) {
            tb__log(&n->a->log, TB_LOG_INFO, MOD, "server %s moved from %s to %s", p->name,
                    p->addr, addr);
            copy_str(p->addr, sizeof p->addr, addr);
            n->book_dirty = 1;
            peer_down(p);
            p->backoff_ms = 0;
        }
        return p;
    }
    tb__rpeer_t **np = realloc(n->peers, (n->npeers + 1) * sizeof *np);
    if (!np) return NULL;
    n->peers = np;
    p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = n;
    p->id = id;
    copy_str(p->node_id, sizeof p->node_id, node_id);
    copy_str(p->name, sizeof p->name, name && *name ? name : node_id);
    copy_str(p->addr, sizeof p->addr, addr);
    p->expect = expect;
    p->has_state = has_state > 0;
    uv_timer_init(&n->a->loop, &p->retry);
    p->retry.data = p;
    n->peers[n->npeers++] = p;
    n->book_dirty = 1;
    tb__log(&n->a->log, TB_LOG_INFO, MOD, "adding server %s (ID %s, Address %s)", p->name,
            p->node_id, p->addr);
    peer_connect(p);
    return p;
}

uint8_t *tb__rt_frame_msg(const tb__raft_msg_t *m, size_t *len)
{
    size_t sz = tb__raft_msg_size(m);
    uint8_t *f = malloc(TB__RF_HDR + sz);
    if (!f) return NULL;
    size_t w = tb__raft_msg_encode(m, f + TB__RF_HDR, sz);
    if (w == 0 || w > sz) {
        free(f);
        return NULL;
    }
    tb__rf_header(f, f + TB__RF_HDR, w);
    *len = TB__RF_HDR + w;
    return f;
}

void tb__rt_send_frame(tb__raftnode_t *n, uint64_t to, uint8_t *frame, size_t len)
{
    tb__rpeer_t *p = tb__rt_peer(n, to);
    if (!p || !p->connected || n->closed ||
        uv_stream_get_write_queue_size((uv_stream_t *)p->tcp) > MAX_QUEUED) {
        free(frame);
        return;
    }
    write_raw(p->tcp, frame, len);
}

void tb__rt_send(tb__raftnode_t *n, const tb__raft_msg_t *m)
{
    tb__rpeer_t *p = tb__rt_peer(n, m->to);
    if (!p || !p->connected) return; /* encode nothing for a peer that is down */
    size_t len = 0;
    uint8_t *f = tb__rt_frame_msg(m, &len);
    if (f) tb__rt_send_frame(n, m->to, f, len);
}

void tb__rt_hello(tb__raftnode_t *n, tb__rf_hello_t *h)
{
    const tb__config_t *c = n->a->config;
    memset(h, 0, sizeof *h);
    h->version = TB__RF_VERSION;
    copy_str(h->node_id, sizeof h->node_id, c->node_id);
    copy_str(h->name, sizeof h->name, c->node_name);
    copy_str(h->addr, sizeof h->addr, n->self_addr);
    copy_str(h->dc, sizeof h->dc, c->datacenter);
    h->expect = c->bootstrap_expect;
    h->has_state = tb__rn_has_state(n);
    for (size_t i = 0; i < n->npeers && h->n_servers < TB__RF_MAX_SERVERS; i++) {
        tb__rpeer_t *p = n->peers[i];
        if (p->removed) continue;
        tb__rf_server_t *s = &h->servers[h->n_servers++];
        copy_str(s->node_id, sizeof s->node_id, p->node_id);
        copy_str(s->name, sizeof s->name, p->name);
        copy_str(s->addr, sizeof s->addr, p->addr);
        s->expect = p->expect;
    }
}

/* ------------------------------------------------------------ incoming */

static void conn_closed(uv_handle_t *h)
{
    tb__rconn_t *c = h->data;
    tb__rf_rx_free(&c->rx);
    free(c);
    free(h);
}

static void conn_close(tb__rconn_t *c)
{
    tb__raftnode_t *n = c->n;
    if (c->prev) c->prev->next = c->next;
    else n->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    if (c->peer) {
        tb__rpeer_t *p = tb__rt_peer(n, c->peer);
        if (p && p->in_conns) p->in_conns--;
    }
    uv_close((uv_handle_t *)c->tcp, conn_closed);
}

static int hello_ok(tb__raftnode_t *n, const tb__rf_hello_t *h, const char *from)
{
    if (strcmp(h->dc, n->a->config->datacenter) != 0) {
        tb__log(&n->a->log, TB_LOG_WARN, MOD,
                "server %s (%s) is in datacenter %s, not %s: not joining it", h->name, from,
                h->dc, n->a->config->datacenter);
        return 0;
    }
    return 1;
}

static int conn_frame(void *ctx, const uint8_t *payload, size_t len)
{
    tb__rconn_t *c = ctx;
    tb__raftnode_t *n = c->n;
    char err[128];
    if (!c->got_hello) {
        tb__rf_hello_t *h = malloc(sizeof *h);
        if (!h) return -1;
        if (tb__rf_hello_decode(payload, len, h, err, sizeof err) != 0) {
            tb__log(&n->a->log, TB_LOG_WARN, MOD, "refusing a Raft connection: %s", err);
            free(h);
            return -1;
        }
        c->got_hello = 1;
        write_hello(n, c->tcp, 0);
        uint64_t id = tb__rf_id_of(h->node_id);
        if (id != n->id && hello_ok(n, h, h->addr)) {
            tb__rpeer_t *p = tb__rt_seen(n, h->node_id, h->name, h->addr, h->expect, h->has_state);
            if (p) {
                c->peer = id;
                p->in_conns++;
                if (p->removed) { /* it came back (restart, rejoin): it may be added again */
                    p->removed = p->leaving = 0;
                    n->book_dirty = 1;
                }
                if (!p->connected && p->tcp == NULL) {
                    /* it is back: reconnect now rather than at the end of the backoff */
                    uv_timer_stop(&p->retry);
                    p->backoff_ms = 0;
                    peer_retry_cb(&p->retry);
                }
            }
            for (size_t i = 0; i < h->n_servers; i++)
                tb__rt_seen(n, h->servers[i].node_id, h->servers[i].name, h->servers[i].addr,
                            h->servers[i].expect, -1);
        }
        free(h);
        return 0;
    }
    if (!c->peer) return -1; /* a discovery dial sends nothing after its hello */
    tb__raft_msg_t m;
    if (tb__raft_msg_decode(payload, len, &m) != 0) return -1;
    int bad = m.from != c->peer;
    if (!bad && m.to == n->id) tb__rn_step(n, &m);
    tb__raft_msg_release(&m);
    return bad ? -1 : 0;
}

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    tb__rconn_t *c = s->data;
    char err[160];
    if (nread < 0) {
        free(b->base);
        conn_close(c);
        return;
    }
    int rc = tb__rf_feed(&c->rx, (const uint8_t *)b->base, (size_t)nread, conn_frame, c, err,
                         sizeof err);
    free(b->base);
    if (rc != 0) {
        char peer[64] = "?";
        struct sockaddr_storage ss;
        int sl = sizeof ss;
        if (uv_tcp_getpeername(c->tcp, (struct sockaddr *)&ss, &sl) == 0 &&
            ss.ss_family == AF_INET)
            uv_ip4_name((struct sockaddr_in *)&ss, peer, sizeof peer);
        tb__log(&c->n->a->log, TB_LOG_WARN, MOD, "closing Raft connection from %s: %s", peer, err);
        conn_close(c);
    }
}

void tb__raftnode_accept(tb__raftnode_t *n, uv_tcp_t *conn, const uint8_t *head, size_t len)
{
    if (!n || n->closed) {
        uv_close((uv_handle_t *)conn, free_handle);
        return;
    }
    tb__rconn_t *c = calloc(1, sizeof *c);
    if (!c) {
        uv_close((uv_handle_t *)conn, free_handle);
        return;
    }
    c->tcp = conn;
    c->n = n;
    conn->data = c;
    c->next = n->conns;
    if (n->conns) n->conns->prev = c;
    n->conns = c;
    char err[160];
    if (len && tb__rf_feed(&c->rx, head, len, conn_frame, c, err, sizeof err) != 0) {
        tb__log(&n->a->log, TB_LOG_WARN, MOD, "closing Raft connection: %s", err);
        conn_close(c);
        return;
    }
    uv_read_start((uv_stream_t *)conn, alloc_cb, conn_read);
}

/* ------------------------------------------------------------ discovery */

static void join_try(tb__rjoin_t *j);

static void join_retry_cb(uv_timer_t *t)
{
    tb__rjoin_t *j = t->data;
    if (!j->n->closed && !j->done) join_try(j);
}

static void join_fail(tb__rjoin_t *j, const char *why)
{
    tb__raftnode_t *n = j->n;
    if (j->tcp) {
        uv_close((uv_handle_t *)j->tcp, free_handle);
        j->tcp = NULL;
    }
    tb__rf_rx_free(&j->rx);
    j->busy = 0;
    if (n->closed || j->done) return;
    if (why && j->backoff_ms >= BACKOFF_MAX_MS)
        tb__log(&n->a->log, TB_LOG_DEBUG, MOD, "join %s: %s (retrying)", j->host, why);
    j->backoff_ms = j->backoff_ms ? j->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (j->backoff_ms > BACKOFF_MAX_MS) j->backoff_ms = BACKOFF_MAX_MS;
    uv_timer_start(&j->retry, join_retry_cb, j->backoff_ms, 0);
}

static int join_frame(void *ctx, const uint8_t *payload, size_t len)
{
    tb__rjoin_t *j = ctx;
    tb__raftnode_t *n = j->n;
    tb__rf_hello_t *h = malloc(sizeof *h);
    char err[128];
    if (!h) return -1;
    int rc = tb__rf_hello_decode(payload, len, h, err, sizeof err);
    if (rc == 0) {
        j->done = 1;
        if (tb__rf_id_of(h->node_id) != n->id && hello_ok(n, h, j->host)) {
            tb__rt_seen(n, h->node_id, h->name, h->addr, h->expect, h->has_state);
            tb__log(&n->a->log, TB_LOG_INFO, MOD, "joined server %s at %s", h->name, j->host);
        }
        for (size_t i = 0; i < h->n_servers; i++)
            tb__rt_seen(n, h->servers[i].node_id, h->servers[i].name, h->servers[i].addr,
                        h->servers[i].expect, -1);
    }
    free(h);
    return rc;
}

static void join_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    tb__rjoin_t *j = s->data;
    char err[160];
    if (nread < 0) {
        free(b->base);
        join_fail(j, uv_strerror((int)nread));
        return;
    }
    int rc = tb__rf_feed(&j->rx, (const uint8_t *)b->base, (size_t)nread, join_frame, j, err,
                         sizeof err);
    free(b->base);
    if (rc != 0) {
        tb__log(&j->n->a->log, TB_LOG_WARN, MOD, "join %s: %s", j->host, err);
        join_fail(j, NULL);
    } else if (j->done) {
        join_fail(j, NULL); /* closes the discovery connection */
    }
}

static void join_connected(uv_connect_t *req, int status)
{
    tb__rjoin_t *j = req->data;
    uv_tcp_t *tcp = (uv_tcp_t *)req->handle;
    free(req);
    if (tcp != j->tcp || j->n->closed) return;
    if (status < 0) {
        join_fail(j, uv_strerror(status));
        return;
    }
    write_hello(j->n, tcp, 1);
    uv_read_start((uv_stream_t *)tcp, alloc_cb, join_read);
}

static void join_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *res)
{
    tb__rjoin_t *j = g->data;
    tb__raftnode_t *n = j->n;
    if (status < 0 || !res || n->closed) {
        if (res) uv_freeaddrinfo(res);
        if (status == UV_ECANCELED || n->closed) {
            j->busy = 0;
            return;
        }
        join_fail(j, status < 0 ? uv_strerror(status) : "no address");
        return;
    }
    j->tcp = malloc(sizeof *j->tcp);
    uv_connect_t *req = malloc(sizeof *req);
    if (!j->tcp || !req) {
        free(req);
        uv_freeaddrinfo(res);
        if (j->tcp) {
            free(j->tcp);
            j->tcp = NULL;
        }
        join_fail(j, "out of memory");
        return;
    }
    uv_tcp_init(&n->a->loop, j->tcp);
    j->tcp->data = j;
    req->data = j;
    int rc = uv_tcp_connect(req, j->tcp, res->ai_addr, join_connected);
    uv_freeaddrinfo(res);
    if (rc != 0) {
        free(req);
        join_fail(j, uv_strerror(rc));
    }
}

static void join_try(tb__rjoin_t *j)
{
    char port[16];
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof port, "%d", j->n->a->config->port_server);
    j->busy = 1;
    j->gai.data = j;
    int rc = uv_getaddrinfo(&j->n->a->loop, &j->gai, join_resolved, j->host, port, &hints);
    if (rc != 0) join_fail(j, uv_strerror(rc));
}

static void add_joins(tb__raftnode_t *n, const json_t *list)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) {
        char host[256];
        if (!json_is_string(v) || split_host(json_string_value(v), host, sizeof host) != 0) {
            tb__log(&n->a->log, TB_LOG_WARN, MOD, "ignoring join address %s",
                    json_is_string(v) ? json_string_value(v) : "(not a string)");
            continue;
        }
        tb__rjoin_t **nj = realloc(n->joins, (n->njoins + 1) * sizeof *nj);
        if (!nj) return;
        n->joins = nj;
        tb__rjoin_t *j = calloc(1, sizeof *j);
        if (!j) return;
        j->n = n;
        copy_str(j->host, sizeof j->host, host);
        uv_timer_init(&n->a->loop, &j->retry);
        j->retry.data = j;
        n->joins[n->njoins++] = j;
        join_try(j);
    }
}

int tb__rt_start(tb__raftnode_t *n, char **err)
{
    (void)err;
    const json_t *m = n->a->config->merged;
    add_joins(n, json_object_get(m, "start_join"));
    add_joins(n, json_object_get(m, "retry_join"));
    return 0;
}

void tb__rt_stop(tb__raftnode_t *n)
{
    for (size_t i = 0; i < n->njoins; i++) {
        tb__rjoin_t *j = n->joins[i];
        if (j->busy && !j->tcp) uv_cancel((uv_req_t *)&j->gai);
        if (j->tcp) {
            uv_close((uv_handle_t *)j->tcp, free_handle);
            j->tcp = NULL;
        }
        uv_close((uv_handle_t *)&j->retry, NULL);
    }
    for (size_t i = 0; i < n->npeers; i++) {
        tb__rpeer_t *p = n->peers[i];
        if (p->tcp) {
            uv_close((uv_handle_t *)p->tcp, free_handle);
            p->tcp = NULL;
        }
        p->connected = 0;
        uv_close((uv_handle_t *)&p->retry, NULL);
    }
    while (n->conns) conn_close(n->conns);
}

void tb__rt_free(tb__raftnode_t *n)
{
    for (size_t i = 0; i < n->njoins; i++) {
        tb__rf_rx_free(&n->joins[i]->rx);
        free(n->joins[i]);
    }
    free(n->joins);
    for (size_t i = 0; i < n->npeers; i++) {
        tb__rf_rx_free(&n->peers[i]->rx);
        free(n->peers[i]);
    }
    free(n->peers);
}
