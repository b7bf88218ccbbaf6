/*
 * runtime.c - gossip pools of a real agent: libuv UDP + TCP around the
 * socket-free serf/swim state machines (serf.h), one pool for the LAN
 * (ports.serf_lan, every agent) and one for the WAN (ports.serf_wan,
 * servers). Each input (datagram, stream message, timer) feeds the state
 * machine, then every queued output is sent and every serf event handled
 * (logged as Consul does, server discovery, user events, reconciliation).
 * Encryption happens here: datagrams are sealed/opened whole, streams per
 * message in 0a frames (wire.h). Outgoing stream messages are LZW-compressed
 * as memberlist's; outgoing datagrams are not (CRC-wrapped by swim.c,
 * which memberlist accepts either way).
 */
#include "tb_autoconf.h"

#include <errno.h>
#include <msgpack.h>
#include <openssl/rand.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/checks.h"
#include "endpoint/endpoint.h"
#include "endpoint/members.h"
#include "gossip/keyring.h"
#include "gossip/runtime.h"
#include "gossip/serf.h"
#include "raft/node.h"

#define EVENTS_KEPT 256        /* Consul's per-agent user event buffer */
#define RECONCILE_MS 60000     /* Consul's reconcile_interval */
#define LEAVE_MAX_MS 5000      /* cap on the graceful leave at shutdown */
#define STREAMS_IN_MAX 128     /* memberlist refuses more concurrent push/pulls */
#define USER_EVENT_PREFIX "consul:event:"
#define MAX_TAGS 32

typedef struct pool pool_t;

enum { ST_IN = 1, ST_PUSH_PULL, ST_PING };

typedef struct stream {
    pool_t *p;
    int kind;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t creq;
    uv_write_t wreq;
    uint32_t id;
    int closing, open_handles, finished;
    uint8_t *out;          /* request (or reply) being written */
    size_t outlen;
    tb__gw_buf_t in;
    struct stream *next, *prev;
} stream_t;

typedef struct join {
    tb__gossip_t *g;
    tb__gossip_join_cb cb;
    void *arg;
    size_t pending;  /* stream ids still open */
    uint32_t ids[16];
    size_t nids;
    int ok;
    char *error;
    struct join *next;
} join_t;

struct pool {
    tb__gossip_t *g;
    int wan, active;
    const char *module;     /* log module */
    char *name;             /* our member name in this pool */
    uint16_t port;
    tb__serf_t *serf;
    uv_udp_t udp;
    uv_tcp_t listener;
    uv_timer_t timer;
    int handles;            /* open uv handles of the pool */
    tb__gw_keyring_t kr;
    int encrypted, verify_in, verify_out;
    char *keyring_path;
    char *snapshot_path;    /* data_dir/serf/local.snapshot (remote. for the WAN) */
    FILE *snapshot;         /* appended on member events */
    json_t *previous;       /* "ip:port" of members alive before a restart */
    uv_timer_t retry_timer; /* retry_join / retry_join_wan */
    json_t *retry_addrs;    /* still to contact; NULL once joined */
    int retry_attempts;
    stream_t *streams;
    size_t n_in;
    uint8_t rbuf[65536];
    uint64_t bad_packets, bytes_in, bytes_out;
    uint64_t last_warn_ms;
};

/* A keyring operation in flight: one query per pool (LAN, and WAN on
 * servers), tallied until every member answered or the query timed out. */
typedef struct keyop {
    tb__gossip_keyring_cb cb;
    void *arg;
    uint32_t id[2];
    int waiting[2];
    tb__keyring_tally_t tally[2];
    struct keyop *next;
} keyop_t;

typedef struct reconciled {
    char *name;
    int status; /* what we last wrote: 1 alive, 4 failed, 3 gone */
} reconciled_t;

struct tb__gossip {
    tb__agent_t *a;
    pool_t lan, wan;
    json_t *events;          /* UserEvent objects, oldest first */
    uv_timer_t reconcile_timer, leave_timer;
    join_t *joins;
    keyop_t *keyops;
    reconciled_t *rec;
    size_t nrec, caprec;
    int was_leader;
    int leaving, stopped, exit_after_leave;
    uint64_t leave_started_ms;
};

static uint64_t now_ms(const pool_t *p) { return uv_now(&p->g->a->loop); }

static void pool_flush(pool_t *p);
static void pool_tick(uv_timer_t *t);
static void reconcile_all(tb__gossip_t *g);

/* ------------------------------------------------------------ addresses */

static void ip_text(const uint8_t *a, size_t alen, char *out, size_t n)
{
    if (alen == 4)
        uv_inet_ntop(AF_INET, a, out, n);
    else if (alen == 16)
        uv_inet_ntop(AF_INET6, a, out, n);
    else
        snprintf(out, n, "?");
}

static int to_sockaddr(const uint8_t *a, size_t alen, uint16_t port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (alen == 4) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        memcpy(&s4->sin_addr, a, 4);
        return 0;
    }
    if (alen == 16) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        memcpy(&s6->sin6_addr, a, 16);
        return 0;
    }
    return -1;
}

/* "ip", "ip:port", "[v6]:port", "v6". Numeric addresses only. */
static int parse_hostport(const char *s, uint16_t defport, uint8_t *addr, uint8_t *alen,
                          uint16_t *port)
{
    char host[64];
    const char *ps = NULL;
    *port = defport;
    if (s[0] == '[') {
        const char *e = strchr(s, ']');
        if (!e || (size_t)(e - s - 1) >= sizeof host) return -1;
        memcpy(host, s + 1, (size_t)(e - s - 1));
        host[e - s - 1] = 0;
        if (e[1] == ':') ps = e + 2;
        else if (e[1]) return -1;
    } else {
        const char *c = strchr(s, ':');
        if (c && strchr(c + 1, ':')) c = NULL; /* bare IPv6 */
        size_t hl = c ? (size_t)(c - s) : strlen(s);
        if (hl >= sizeof host) return -1;
        memcpy(host, s, hl);
        host[hl] = 0;
        if (c) ps = c + 1;
    }
    if (ps) {
        char *end;
        long v = strtol(ps, &end, 10);
        if (!*ps || *end || v <= 0 || v > 65535) return -1;
        *port = (uint16_t)v;
    }
    if (uv_inet_pton(AF_INET, host, addr) == 0) {
        *alen = 4;
        return 0;
    }
    if (uv_inet_pton(AF_INET6, host, addr) == 0) {
        *alen = 16;
        return 0;
    }
    return -1;
}

/* ------------------------------------------------------------ sending */

static void random_nonce(uint8_t nonce[12])
{
    if (RAND_bytes(nonce, 12) != 1) {
        /* Never reuse a GCM nonce silently: fall back to the kernel. */
        FILE *f = fopen("/dev/urandom", "rb");
        if (!f || fread(nonce, 1, 12, f) != 12) abort();
        fclose(f);
    }
}

static void udp_send(pool_t *p, const uint8_t *addr, size_t alen, uint16_t port,
                     const uint8_t *buf, size_t len)
{
    struct sockaddr_storage ss;
    if (to_sockaddr(addr, alen, port, &ss) != 0) return;
    tb__gw_buf_t enc;
    tb__gw_buf_init(&enc);
    if (p->encrypted && p->verify_out) {
        uint8_t nonce[12];
        random_nonce(nonce);
        if (tb__gw_seal(&p->kr, 1, nonce, buf, len, NULL, 0, &enc) != 0) {
            tb__gw_buf_free(&enc);
            return;
        }
        buf = enc.data;
        len = enc.len;
    }
    uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
    /* Gossip is lossy by design: a full socket buffer drops the packet
     * (memberlist does the same with a failed WriteTo). */
    if (uv_udp_try_send(&p->udp, &b, 1, (const struct sockaddr *)&ss) > 0) p->bytes_out += len;
    tb__gw_buf_free(&enc);
}

/* Wrap a clear stream message for the wire (0a frame when encrypting). */
static uint8_t *stream_wrap(pool_t *p, uint8_t *msg, size_t len, size_t *outlen)
{
    /* memberlist compresses every stream message (EnableCompression, the
     * serf default): a push/pull of 100 members shrinks about 4x. */
    tb__gw_buf_t z;
    tb__gw_buf_init(&z);
    if (tb__gw_compress_wrap(msg, len, &z) == 0 && !z.oom && z.len < len) {
        free(msg);
        msg = tb__gw_buf_steal(&z, &len);
    }
    tb__gw_buf_free(&z);
    if (!(p->encrypted && p->verify_out)) {
        *outlen = len;
        return msg;
    }
    tb__gw_buf_t f;
    tb__gw_buf_init(&f);
    uint8_t nonce[12];
    random_nonce(nonce);
    int rc = tb__gw_frame_seal(&p->kr, nonce, msg, len, &f);
    free(msg);
    if (rc != 0) {
        tb__gw_buf_free(&f);
        return NULL;
    }
    return tb__gw_buf_steal(&f, outlen);
}

/* ------------------------------------------------------------ streams */

static void stream_handle_closed(uv_handle_t *h)
{
    stream_t *s = h->data;
    if (--s->open_handles > 0) return;
    pool_t *p = s->p;
    if (s->prev) s->prev->next = s->next;
    else p->streams = s->next;
    if (s->next) s->next->prev = s->prev;
    if (s->kind == ST_IN) p->n_in--;
    free(s->out);
    tb__gw_buf_free(&s->in);
    free(s);
    if (--p->handles == 0 && p->g->stopped) {
        /* last handle of a stopped pool: nothing more to do */
    }
}

static void join_stream_done(tb__gossip_t *g, uint32_t id, int ok, const char *err);

static void stream_close(stream_t *s)
{
    if (s->closing) return;
    s->closing = 1;
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, stream_handle_closed);
    uv_close((uv_handle_t *)&s->tcp, stream_handle_closed);
}

/* An outgoing exchange ended: report it to the state machine once. */
static void stream_finish(stream_t *s, const tb__gw_stream_msg_t *sm, const char *why)
{
    if (s->finished) return;
    s->finished = 1;
    pool_t *p = s->p;
    uint64_t now = now_ms(p);
    if (s->kind == ST_PUSH_PULL) {
        int rc = tb__serf_stream_reply(p->serf, now, s->id, sm);
        char e[160];
        if (!sm) snprintf(e, sizeof e, "%s", why ? why : "stream failed");
        else if (sm->type == TB__GW_ERR)
            snprintf(e, sizeof e, "remote error: %.*s", (int)sm->msg.error.n,
                     sm->msg.error.p ? (const char *)sm->msg.error.p : "");
        else snprintf(e, sizeof e, "push/pull refused (%d)", rc);
        join_stream_done(p->g, s->id, sm && rc == 0, e);
        if (!sm || rc != 0)
            tb__log(&p->g->a->log, TB_LOG_DEBUG, p->module, "memberlist: push/pull failed: %s", e);
    } else if (s->kind == ST_PING) {
        int ok = sm && sm->type == TB__GW_ACK && sm->msg.seq == s->id;
        tb__swim_tcp_ping_result(tb__serf_swim(p->serf), now, s->id, ok);
    }
    pool_flush(p);
}

static void stream_alloc(uv_handle_t *h, size_t sug, uv_buf_t *b)
{
    (void)sug;
    stream_t *s = h->data;
    if (s->in.cap - s->in.len < 4096) {
        size_t ncap = s->in.cap ? s->in.cap * 2 : 8192;
        uint8_t *n = realloc(s->in.data, ncap);
        if (!n) {
            *b = uv_buf_init(NULL, 0);
            return;
        }
        s->in.data = n;
        s->in.cap = ncap;
    }
    *b = uv_buf_init((char *)s->in.data + s->in.len, (unsigned)(s->in.cap - s->in.len));
}

static void reply_written(uv_write_t *w, int status)
{
    (void)status;
    stream_close(w->data);
}

static void stream_log_bad(pool_t *p, const char *what, int rc)
{
    uint64_t now = now_ms(p);
    p->bad_packets++;
    /* One line per 10 s at most: a hostile peer must not flood the log. */
    if (now - p->last_warn_ms >= 10000 || !p->last_warn_ms) {
        p->last_warn_ms = now;
        tb__log(&p->g->a->log, TB_LOG_ERROR, p->module, "memberlist: %s: %s (%llu dropped so far)",
                what, rc == TB__GW_EKEY
                          ? (p->encrypted ? "no installed key decrypts it, or it is not encrypted"
                                          : "remote state is encrypted and encryption is not "
                                            "configured")
                          : tb__gw_strerror(rc),
                (unsigned long long)p->bad_packets);
    }
}

static void stream_on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    (void)b;
    stream_t *s = st->data;
    pool_t *p = s->p;
    if (s->closing) return;
    if (nread < 0) {
        if (s->kind != ST_IN) stream_finish(s, NULL, uv_strerror((int)nread));
        stream_close(s);
        return;
    }
    s->in.len += (size_t)nread;
    p->bytes_in += (size_t)nread;
    if (s->in.len > TB__GW_STREAM_MAX + 64) {
        if (s->kind != ST_IN) stream_finish(s, NULL, "stream too large");
        stream_close(s);
        return;
    }
    tb__gw_stream_msg_t sm;
    memset(&sm, 0, sizeof sm);
    int rc = tb__gw_stream_decode(p->encrypted ? &p->kr : NULL, p->encrypted && p->verify_in,
                                  s->in.data, s->in.len, &sm);
    if (rc == TB__GW_ETRUNC) {
        tb__gw_stream_msg_free(&sm);
        return; /* wait for more */
    }
    uv_read_stop(st);
    if (rc != 0) {
        stream_log_bad(p, s->kind == ST_IN ? "failed to receive stream" : "failed to read reply",
                       rc);
        tb__gw_stream_msg_free(&sm);
        if (s->kind != ST_IN) stream_finish(s, NULL, tb__gw_strerror(rc));
        stream_close(s);
        return;
    }
    if (s->kind != ST_IN) {
        stream_finish(s, &sm, NULL);
        tb__gw_stream_msg_free(&sm);
        stream_close(s);
        return;
    }
    tb__gw_buf_t reply;
    tb__gw_buf_init(&reply);
    tb__swim_stream_request(tb__serf_swim(p->serf), now_ms(p), &sm, &reply);
    tb__gw_stream_msg_free(&sm);
    pool_flush(p);
    if (!reply.len) {
        tb__gw_buf_free(&reply);
        stream_close(s);
        return;
    }
    size_t n;
    uint8_t *msg = tb__gw_buf_steal(&reply, &n);
    s->out = stream_wrap(p, msg, n, &s->outlen);
    if (!s->out) {
        stream_close(s);
        return;
    }
    uv_buf_t wb = uv_buf_init((char *)s->out, (unsigned)s->outlen);
    s->wreq.data = s;
    p->bytes_out += s->outlen;
    if (uv_write(&s->wreq, st, &wb, 1, reply_written) != 0) stream_close(s);
}

static void stream_timeout(uv_timer_t *t)
{
    stream_t *s = t->data;
    if (s->kind != ST_IN) stream_finish(s, NULL, "i/o timeout");
    stream_close(s);
}

static stream_t *stream_new(pool_t *p, int kind)
{
    stream_t *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->p = p;
    s->kind = kind;
    tb__gw_buf_init(&s->in);
    uv_tcp_init(&p->g->a->loop, &s->tcp);
    uv_timer_init(&p->g->a->loop, &s->timer);
    s->tcp.data = s->timer.data = s;
    s->open_handles = 2;
    p->handles++;
    s->next = p->streams;
    if (p->streams) p->streams->prev = s;
    p->streams = s;
    tb__swim_profile_t prof;
    tb__swim_profile(p->wan ? TB__SWIM_PROFILE_WAN : TB__SWIM_PROFILE_LAN, &prof);
    uv_timer_start(&s->timer, stream_timeout, prof.tcp_timeout_ms, 0);
    return s;
}

static void request_written(uv_write_t *w, int status)
{
    stream_t *s = w->data;
    if (s->closing) return;
    if (status < 0) {
        stream_finish(s, NULL, uv_strerror(status));
        stream_close(s);
        return;
    }
    uv_read_start((uv_stream_t *)&s->tcp, stream_alloc, stream_on_read);
}

static void connected(uv_connect_t *c, int status)
{
    stream_t *s = c->data;
    if (s->closing) return;
    if (status < 0) {
        stream_finish(s, NULL, uv_strerror(status));
        stream_close(s);
        return;
    }
    uv_buf_t wb = uv_buf_init((char *)s->out, (unsigned)s->outlen);
    s->wreq.data = s;
    s->p->bytes_out += s->outlen;
    if (uv_write(&s->wreq, (uv_stream_t *)&s->tcp, &wb, 1, request_written) != 0) {
        stream_finish(s, NULL, "write failed");
        stream_close(s);
    }
}

static void stream_open(pool_t *p, const tb__swim_out_t *o)
{
    stream_t *s = stream_new(p, o->kind == TB__SWIM_OUT_PUSH_PULL ? ST_PUSH_PULL : ST_PING);
    if (!s) {
        free(o->buf);
        return;
    }
    s->id = o->id;
    s->out = stream_wrap(p, o->buf, o->len, &s->outlen);
    struct sockaddr_storage ss;
    s->creq.data = s;
    if (!s->out || to_sockaddr(o->addr, o->addr_len, o->port, &ss) != 0 ||
        uv_tcp_connect(&s->creq, &s->tcp, (const struct sockaddr *)&ss, connected) != 0) {
        stream_finish(s, NULL, "connect failed");
        stream_close(s);
    }
}

static void on_accept(uv_stream_t *srv, int status)
{
    pool_t *p = srv->data;
    if (status < 0) return;
    stream_t *s = stream_new(p, ST_IN);
    if (!s) return;
    p->n_in++;
    if (uv_accept(srv, (uv_stream_t *)&s->tcp) != 0 || p->n_in > STREAMS_IN_MAX) {
        stream_close(s);
        return;
    }
    uv_read_start((uv_stream_t *)&s->tcp, stream_alloc, stream_on_read);
}

/* ------------------------------------------------------------ UDP */

static void udp_alloc(uv_handle_t *h, size_t sug, uv_buf_t *b)
{
    (void)sug;
    pool_t *p = h->data;
    *b = uv_buf_init((char *)p->rbuf, sizeof p->rbuf);
}

static void udp_recv(uv_udp_t *u, ssize_t nread, const uv_buf_t *b, const struct sockaddr *from,
                     unsigned flags)
{
    pool_t *p = u->data;
    if (nread <= 0 || !from || (flags & UV_UDP_PARTIAL)) return;
    p->bytes_in += (size_t)nread;
    const uint8_t *buf = (const uint8_t *)b->base;
    size_t len = (size_t)nread;
    tb__gw_buf_t clear;
    tb__gw_buf_init(&clear);
    if (p->encrypted) {
        int ki;
        int rc = tb__gw_open(&p->kr, buf, len, NULL, 0, &clear, &ki);
        if (rc == 0) {
            buf = clear.data;
            len = clear.len;
        } else if (p->verify_in) {
            stream_log_bad(p, "decrypt packet failed", TB__GW_EKEY);
            tb__gw_buf_free(&clear);
            return;
        }
    }
    uint8_t ip[16];
    size_t alen;
    uint16_t port;
    if (from->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)from;
        memcpy(ip, &s4->sin_addr, 4);
        alen = 4;
        port = ntohs(s4->sin_port);
    } else {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)from;
        memcpy(ip, &s6->sin6_addr, 16);
        alen = 16;
        port = ntohs(s6->sin6_port);
    }
    int rc = tb__swim_recv_udp(tb__serf_swim(p->serf), now_ms(p), ip, alen, port, buf, len);
    if (rc < 0) stream_log_bad(p, "bad packet", rc);
    tb__gw_buf_free(&clear);
    pool_flush(p);
}

/* ------------------------------------------------------------ tags */

static int tag_get(const uint8_t *meta, size_t len, const char *key, char *out, size_t n)
{
    tb__gw_tag_t tags[MAX_TAGS];
    int nt = tb__gw_tags_decode(meta, len, tags, MAX_TAGS);
    size_t kl = strlen(key);
    for (int i = 0; i < nt; i++) {
        if (tags[i].key.n == kl && memcmp(tags[i].key.p, key, kl) == 0) {
            size_t vl = tags[i].value.n < n - 1 ? tags[i].value.n : n - 1;
            if (vl) memcpy(out, tags[i].value.p, vl);
            out[vl] = 0;
            return 0;
        }
    }
    out[0] = 0;
    return -1;
}

/* Consul's tags: role, dc, segment, id, vsn, vsn_min, vsn_max, build and,
 * on servers, port, raft_vsn, wan_join_port, bootstrap / expect. */
static int build_tags(pool_t *p, tb__gw_buf_t *out)
{
    const tb__config_t *c = p->g->a->config;
    char build[128], port[16], expect[16], wjp[16];
    snprintf(build, sizeof build, "%s:%s", tb__version(), tb__revision());
    snprintf(port, sizeof port, "%d", c->port_server);
    snprintf(expect, sizeof expect, "%d", c->bootstrap_expect);
    snprintf(wjp, sizeof wjp, "%d", c->port_serf_wan);
    const char *kv[MAX_TAGS][2];
    int n = 0;
#define T(k, v) (kv[n][0] = (k), kv[n][1] = (v), n++)
    T("role", c->server ? "consul" : "node");
    T("dc", c->datacenter);
    if (!p->wan) T("segment", "");
    T("id", c->node_id ? c->node_id : "");
    T("vsn", "2");
    T("vsn_min", "2");
    T("vsn_max", "3");
    T("build", build);
    if (c->server) {
        T("port", port);
        T("raft_vsn", "3");
        if (!p->wan) T("wan_join_port", wjp);
        if (c->bootstrap || c->dev) T("bootstrap", "1");
        else if (c->bootstrap_expect) T("expect", expect);
    }
#undef T
    tb__gw_tag_t tags[MAX_TAGS];
    for (int i = 0; i < n; i++) {
        tags[i].key.p = (const uint8_t *)kv[i][0];
        tags[i].key.n = strlen(kv[i][0]);
        tags[i].value.p = (const uint8_t *)kv[i][1];
        tags[i].value.n = strlen(kv[i][1]);
    }
    return tb__gw_tags_encode(tags, n, out);
}

/* ------------------------------------------------------------ joins */

static void join_finish(tb__gossip_t *g, join_t *j)
{
    join_t **pp = &g->joins;
    while (*pp && *pp != j) pp = &(*pp)->next;
    if (*pp) *pp = j->next;
    if (j->cb) j->cb(j->arg, j->ok ? j->ok : -1, j->ok ? NULL : j->error);
    free(j->error);
    free(j);
}

static void join_stream_done(tb__gossip_t *g, uint32_t id, int ok, const char *err)
{
    for (join_t *j = g->joins; j; j = j->next) {
        for (size_t i = 0; i < j->nids; i++) {
            if (j->ids[i] != id) continue;
            j->ids[i] = 0;
            if (ok) j->ok++;
            else if (!j->error && err) j->error = strdup(err);
            if (--j->pending == 0) join_finish(g, j);
            return;
        }
    }
}

int tb__gossip_join(tb__gossip_t *g, int wan, const char *const *addrs, size_t n,
                    tb__gossip_join_cb cb, void *arg, char **err)
{
    pool_t *p = wan ? &g->wan : &g->lan;
    char e[300];
    if (!p->active) {
        *err = strdup(wan ? "WAN gossip is only available on servers" : "gossip is not running");
        return -1;
    }
    if (n == 0 || n > 16) {
        *err = strdup(n ? "at most 16 addresses per join" : "no address to join");
        return -1;
    }
    join_t *j = calloc(1, sizeof *j);
    if (!j) {
        *err = strdup("out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t ip[16], alen;
        uint16_t port;
        if (parse_hostport(addrs[i], p->port, ip, &alen, &port) != 0) {
            snprintf(e, sizeof e, "invalid address %s: expected ip or ip:port", addrs[i]);
            free(j);
            *err = strdup(e);
            return -1;
        }
        j->ids[j->nids++] = tb__serf_join(p->serf, now_ms(p), ip, alen, port);
    }
    j->g = g;
    j->cb = cb;
    j->arg = arg;
    j->pending = j->nids;
    j->next = g->joins;
    g->joins = j;
    tb__log(&g->a->log, TB_LOG_INFO, "agent", "(%s) joining: %zu address(es)", wan ? "WAN" : "LAN",
            n);
    pool_flush(p);
    return 0;
}

void tb__gossip_join_cancel(tb__gossip_t *g, void *arg)
{
    for (join_t *j = g ? g->joins : NULL; j; j = j->next)
        if (j->arg == arg) j->cb = NULL;
}

/* start_join[_wan] (once) and retry_join[_wan] (every retry_interval[_wan],
 * up to retry_max[_wan] attempts). */
static void retry_stop(pool_t *p)
{
    json_decref(p->retry_addrs);
    p->retry_addrs = NULL;
    uv_timer_stop(&p->retry_timer);
}

static void retry_done(void *arg, int joined, const char *error)
{
    pool_t *p = arg;
    tb__agent_t *a = p->g->a;
    const char *pool = p->wan ? "WAN" : "LAN";
    if (joined > 0) {
        tb__log(&a->log, TB_LOG_INFO, "agent", "Join cluster completed (%s). Synced with %d "
                "initial agents", pool, joined);
        retry_stop(p);
        return;
    }
    json_int_t max = json_integer_value(json_object_get(a->config->merged,
                                                        p->wan ? "retry_max_wan" : "retry_max"));
    tb__log(&a->log, TB_LOG_WARN, "agent", "Join cluster failed (%s), will retry: %s", pool,
            error ? error : "no node contacted");
    if (max > 0 && p->retry_attempts >= max) {
        tb__log(&a->log, TB_LOG_ERROR, "agent", "Join cluster failed %d times (%s), giving up",
                p->retry_attempts, pool);
        retry_stop(p);
    }
}

static void start_join_done(void *arg, int joined, const char *error)
{
    pool_t *p = arg;
    if (joined > 0)
        tb__log(&p->g->a->log, TB_LOG_INFO, "agent", "Join completed (%s). Synced with %d initial "
                "agents", p->wan ? "WAN" : "LAN", joined);
    else
        tb__log(&p->g->a->log, TB_LOG_ERROR, "agent", "Failed to join the start_join%s "
                "addresses: %s", p->wan ? "_wan" : "", error ? error : "no node contacted");
}

/* Up to 16 strings of a JSON array. */
static size_t addr_list(const json_t *arr, const char **list)
{
    size_t n = 0, i;
    json_t *v;
    json_array_foreach(arr, i, v)
        if (n < 16 && json_is_string(v)) list[n++] = json_string_value(v);
    return n;
}

static void retry_tick(uv_timer_t *t)
{
    pool_t *p = t->data;
    if (!p->retry_addrs || p->g->stopped) {
        uv_timer_stop(t);
        return;
    }
    const char *list[16];
    size_t n = addr_list(p->retry_addrs, list);
    p->retry_attempts++;
    char *err = NULL;
    if (tb__gossip_join(p->g, p->wan, list, n, retry_done, p, &err) != 0) {
        tb__log(&p->g->a->log, TB_LOG_ERROR, "agent", "Join cluster failed: %s", err);
        free(err);
        retry_stop(p);
    }
}

/* Start the configured joins of one pool. -1 with *err on a bad address. */
static int pool_joins(pool_t *p, char **err)
{
    const json_t *m = p->g->a->config->merged;
    const char *list[16];
    size_t n = addr_list(json_object_get(m, p->wan ? "start_join_wan" : "start_join"), list);
    if (n && tb__gossip_join(p->g, p->wan, list, n, start_join_done, p, err) != 0) return -1;
    json_t *retry = json_object_get(m, p->wan ? "retry_join_wan" : "retry_join");
    if (json_array_size(retry)) {
        p->retry_addrs = json_deep_copy(retry);
        uint64_t ns = 30ULL * 1000000000ULL;
        const char *iv = json_string_value(
            json_object_get(m, p->wan ? "retry_interval_wan" : "retry_interval"));
        if (iv) tb__parse_duration(iv, &ns);
        uint64_t ms = ns / 1000000ULL;
        uv_timer_start(&p->retry_timer, retry_tick, 0, ms ? ms : 1000);
    }
    return 0;
}

/* ------------------------------------------------------------ events */

static char *b64(const void *p, size_t n) { return tb__base64_encode(p, n); }

static void mp_str(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* Consul's structs.UserEvent in msgpack (a map keyed by field names). */
static int encode_user_event(const json_t *ev, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    static const char *const names[] = {"ID", "Name", "NodeFilter", "ServiceFilter", "TagFilter"};
    msgpack_pack_map(&pk, 8);
    for (size_t i = 0; i < 5; i++) {
        mp_str(&pk, names[i], strlen(names[i]));
        const char *v = jstr(ev, names[i]);
        mp_str(&pk, v, strlen(v));
    }
    mp_str(&pk, "Payload", 7);
    const char *pl = json_string_value(json_object_get(ev, "Payload"));
    void *raw = NULL;
    size_t rl = 0;
    if (pl && tb__base64_decode(pl, strlen(pl), &raw, &rl) != 0) return -1;
    if (raw) {
        msgpack_pack_bin(&pk, rl);
        msgpack_pack_bin_body(&pk, raw, rl);
    } else {
        msgpack_pack_nil(&pk);
    }
    free(raw);
    mp_str(&pk, "Version", 7);
    msgpack_pack_int(&pk, 1);
    mp_str(&pk, "LTime", 5);
    msgpack_pack_uint64(&pk, 0);
    return 0;
}

static json_t *mp_to_str(const msgpack_object *o)
{
    if (o->type == MSGPACK_OBJECT_STR) return json_stringn(o->via.str.ptr, o->via.str.size);
    if (o->type == MSGPACK_OBJECT_BIN) return json_stringn(o->via.bin.ptr, o->via.bin.size);
    return NULL;
}

/* A received serf user event as Consul's UserEvent JSON. Consul events
 * carry their UserEvent; plain serf events show their raw name/payload. */
static json_t *decode_user_event(const tb__serf_event_t *e)
{
    json_t *ev = json_pack("{s:s,s:s,s:n,s:s,s:s,s:s,s:i,s:I}", "ID", "", "Name", e->name,
                           "Payload", "NodeFilter", "", "ServiceFilter", "", "TagFilter", "",
                           "Version", 1, "LTime", (json_int_t)e->ltime);
    if (!ev) return NULL;
    size_t plen = strlen(USER_EVENT_PREFIX);
    if (strncmp(e->name, USER_EVENT_PREFIX, plen) != 0 || e->payload_len > 65536) {
        if (e->payload_len) {
            char *p = b64(e->payload, e->payload_len);
            if (p) json_object_set_new(ev, "Payload", json_string(p));
            free(p);
        }
        return ev;
    }
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    int ok = msgpack_unpack_next(&u, (const char *)e->payload, e->payload_len, &off) ==
                 MSGPACK_UNPACK_SUCCESS &&
             u.data.type == MSGPACK_OBJECT_MAP;
    for (uint32_t i = 0; ok && i < u.data.via.map.size; i++) {
        const msgpack_object *k = &u.data.via.map.ptr[i].key, *v = &u.data.via.map.ptr[i].val;
        if (k->type != MSGPACK_OBJECT_STR) continue;
        char key[32];
        size_t kl = k->via.str.size < sizeof key - 1 ? k->via.str.size : sizeof key - 1;
        memcpy(key, k->via.str.ptr, kl);
        key[kl] = 0;
        if (!strcmp(key, "Payload")) {
            if (v->type == MSGPACK_OBJECT_BIN || v->type == MSGPACK_OBJECT_STR) {
                const char *ptr = v->type == MSGPACK_OBJECT_BIN ? v->via.bin.ptr : v->via.str.ptr;
                size_t n = v->type == MSGPACK_OBJECT_BIN ? v->via.bin.size : v->via.str.size;
                char *p = b64(ptr, n);
                if (p) json_object_set_new(ev, "Payload", json_string(p));
                free(p);
            }
        } else if (!strcmp(key, "ID") || !strcmp(key, "Name") || !strcmp(key, "NodeFilter") ||
                   !strcmp(key, "ServiceFilter") || !strcmp(key, "TagFilter")) {
            json_t *s = mp_to_str(v);
            if (s) json_object_set_new(ev, key, s);
        }
    }
    msgpack_unpacked_destroy(&u);
    if (!ok) {
        json_decref(ev);
        return NULL;
    }
    return ev;
}

static int re_match(const char *re, const char *s)
{
    regex_t r;
    if (!re || !*re) return 1;
    if (regcomp(&r, re, REG_EXTENDED | REG_NOSUB) != 0) return 0;
    int m = regexec(&r, s, 0, NULL, 0) == 0;
    regfree(&r);
    return m;
}

/* Consul's shouldProcessUserEvent: node, service and tag filters. */
static int event_for_us(tb__gossip_t *g, const json_t *ev)
{
    if (!re_match(jstr(ev, "NodeFilter"), g->a->config->node_name)) return 0;
    const char *sf = jstr(ev, "ServiceFilter"), *tf = jstr(ev, "TagFilter");
    if (!*sf) return 1;
    json_t *svcs = g->a->checks ? tb__checks_agent_services(g->a->checks) : NULL;
    const char *id;
    json_t *s;
    int found = 0;
    json_object_foreach(svcs, id, s) {
        if (!re_match(sf, jstr(s, "Service"))) continue;
        if (!*tf) {
            found = 1;
            break;
        }
        size_t i;
        json_t *t;
        json_array_foreach(json_object_get(s, "Tags"), i, t)
            if (json_is_string(t) && re_match(tf, json_string_value(t))) found = 1;
        if (found) break;
    }
    json_decref(svcs);
    return found;
}

static void got_user_event(tb__gossip_t *g, const tb__serf_event_t *e)
{
    json_t *ev = decode_user_event(e);
    if (!ev) {
        tb__log(&g->a->log, TB_LOG_WARN, "agent", "Failed to decode event: %s", e->name);
        return;
    }
    tb__log(&g->a->log, TB_LOG_DEBUG, "agent", "new event: event_name=%s event_id=%s",
            jstr(ev, "Name"), jstr(ev, "ID"));
    if (!event_for_us(g, ev)) {
        json_decref(ev);
        return;
    }
    json_array_append_new(g->events, ev);
    while (json_array_size(g->events) > EVENTS_KEPT) json_array_remove(g->events, 0);
    /* Wake blocked /v1/event/list queries (a pseudo table of the registry). */
    if (g->a->endpoint) tb__ep_events_changed(g->a->endpoint);
}

int tb__gossip_fire(tb__gossip_t *g, json_t *ev, char **err)
{
    pool_t *p = &g->lan;
    const char *name = jstr(ev, "Name");
    if (!p->active) {
        *err = strdup("gossip is not running");
        return -1;
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    if (encode_user_event(ev, &sb) != 0) {
        msgpack_sbuffer_destroy(&sb);
        *err = strdup("invalid payload");
        return -1;
    }
    char full[600];
    snprintf(full, sizeof full, "%s%s", USER_EVENT_PREFIX, name);
    int rc = tb__serf_user_event(p->serf, now_ms(p), full, (const uint8_t *)sb.data, sb.size,
                                 false);
    msgpack_sbuffer_destroy(&sb);
    if (rc != 0) {
        *err = strdup("user event exceeds limit of 512 bytes");
        return -1;
    }
    json_object_set_new(ev, "Version", json_integer(1));
    json_object_set_new(ev, "LTime", json_integer(0));
    pool_flush(p);
    return 0;
}

json_t *tb__gossip_events(tb__gossip_t *g, const char *name)
{
    json_t *out = json_array();
    size_t i;
    json_t *ev;
    json_array_foreach(g ? g->events : NULL, i, ev)
        if (!name || !*name || !strcmp(name, jstr(ev, "Name")))
            json_array_append(out, ev);
    return out;
}

uint64_t tb__gossip_events_index(const json_t *list)
{
    size_t n = json_array_size(list);
    if (!n) return 1;
    const char *id = jstr(json_array_get(list, n - 1), "ID");
    char hex[33];
    size_t k = 0;
    for (const char *c = id; *c && k < 32; c++)
        if (*c != '-') hex[k++] = *c;
    hex[k] = 0;
    if (k != 32) return 1;
    char a[17], b[17];
    memcpy(a, hex, 16);
    a[16] = 0;
    memcpy(b, hex + 16, 16);
    b[16] = 0;
    uint64_t x = strtoull(a, NULL, 16) ^ strtoull(b, NULL, 16);
    return x ? x : 1;
}

/* ------------------------------------------------------------ reconcile */

static void rec_done(void *arg, const tb_result_t *r)
{
    tb__gossip_t *g = arg;
    if (r->status != TB_OK && r->status != TB_UNAVAILABLE)
        tb__log(&g->a->log, TB_LOG_WARN, "agent.leader", "failed to reconcile member: %s",
                r->error ? r->error : "?");
}

static reconciled_t *rec_find(tb__gossip_t *g, const char *name, int add)
{
    for (size_t i = 0; i < g->nrec; i++)
        if (!strcmp(g->rec[i].name, name)) return &g->rec[i];
    if (!add) return NULL;
    if (g->nrec == g->caprec) {
        size_t nc = g->caprec ? g->caprec * 2 : 16;
        reconciled_t *n = realloc(g->rec, nc * sizeof *n);
        if (!n) return NULL;
        g->rec = n;
        g->caprec = nc;
    }
    reconciled_t *r = &g->rec[g->nrec];
    if (!(r->name = strdup(name))) return NULL;
    r->status = 0;
    g->nrec++;
    return r;
}

static void rec_clear(tb__gossip_t *g)
{
    for (size_t i = 0; i < g->nrec; i++) free(g->rec[i].name);
    g->nrec = 0;
}

/* Consul's leader: alive -> node + serfHealth passing (+ the consul
 * service of a server), failed -> serfHealth critical, left/reaped ->
 * node deregistered. Writes only when the status differs from the last
 * one written by this leader. */
static void reconcile_member(tb__gossip_t *g, const tb__serf_member_t *m, int reaped)
{
    tb__agent_t *a = g->a;
    if (!a->endpoint || a->stopping || !tb__agent_is_leader(a)) return;
    char dc[128], role[16], port[16], id[64], ip[64];
    tag_get(m->meta, m->meta_len, "dc", dc, sizeof dc);
    if (strcmp(dc, a->config->datacenter) != 0) return;
    int status = reaped || m->status == TB__SERF_STATUS_LEFT ? 3 : m->status;
    if (status != 1 && status != 3 && status != 4) return;
    reconciled_t *r = rec_find(g, m->name, 1);
    if (r && r->status == status) return;
    if (r) r->status = status;
    int self = !strcmp(m->name, a->config->node_name);
    if (status == 3) {
        if (self) return; /* our own leave: the next leader reaps us */
        char sid[64];
        tag_get(m->meta, m->meta_len, "role", role, sizeof role);
        tag_get(m->meta, m->meta_len, "id", sid, sizeof sid);
        if (a->raft && !strcmp(role, "consul")) tb__raftnode_server_left(a->raft, sid);
        json_t *b = json_pack("{s:s,s:s}", "Datacenter", dc, "Node", m->name);
        tb__endpoint_call(a->endpoint, "Catalog.Deregister", b, NULL, rec_done, g);
        json_decref(b);
        tb__log(&a->log, TB_LOG_INFO, "agent.leader", "deregistering member: member=%s reason=%s",
                m->name, reaped ? "reaped" : "left");
        return;
    }
    json_t *chk = json_pack("{s:s,s:s,s:s,s:s}", "CheckID", "serfHealth", "Name",
                            "Serf Health Status", "Status", status == 1 ? "passing" : "critical",
                            "Output",
                            status == 1 ? "Agent alive and reachable"
                                        : "Agent not live or unreachable");
    if (self && a->checks) {
        /* Our own node: the agent's node body (meta, tagged addresses). */
        tb__sync_serf_health(a->checks, chk);
        return;
    }
    tag_get(m->meta, m->meta_len, "role", role, sizeof role);
    tag_get(m->meta, m->meta_len, "port", port, sizeof port);
    tag_get(m->meta, m->meta_len, "id", id, sizeof id);
    ip_text(m->addr, m->addr_len, ip, sizeof ip);
    json_t *b = json_pack("{s:s,s:s,s:s,s:s,s:b,s:o}", "Datacenter", dc, "Node", m->name, "ID", id,
                          "Address", ip, "SkipNodeUpdate", 1, "Check", chk);
    if (!strcmp(role, "consul") && status == 1)
        json_object_set_new(b, "Service", json_pack("{s:s,s:s,s:[],s:i}", "ID", "consul",
                                                    "Service", "consul", "Tags", "Port",
                                                    atoi(port)));
    tb__endpoint_call(a->endpoint, "Catalog.Register", b, NULL, rec_done, g);
    json_decref(b);
}

static void reconcile_all(tb__gossip_t *g)
{
    int leader = tb__agent_is_leader(g->a);
    if (leader && !g->was_leader) rec_clear(g); /* a new leader checks everything */
    g->was_leader = leader;
    if (!leader || !g->lan.active) return;
    for (size_t i = 0; i < tb__serf_num_members(g->lan.serf); i++)
        reconcile_member(g, tb__serf_member_at(g->lan.serf, i), 0);
}

static void reconcile_tick(uv_timer_t *t)
{
    tb__gossip_t *g = t->data;
    /* The periodic pass rewrites everything (repairs edits behind our back). */
    rec_clear(g);
    reconcile_all(g);
}

/* ------------------------------------------------------------ events out */

static void server_seen(tb__gossip_t *g, const tb__serf_member_t *m)
{
    tb__agent_t *a = g->a;
    char role[16], dc[128], id[64], port[16], expect[16], ip[64], addr[96];
    tag_get(m->meta, m->meta_len, "role", role, sizeof role);
    tag_get(m->meta, m->meta_len, "dc", dc, sizeof dc);
    if (strcmp(role, "consul") || strcmp(dc, a->config->datacenter)) return;
    tag_get(m->meta, m->meta_len, "id", id, sizeof id);
    tag_get(m->meta, m->meta_len, "port", port, sizeof port);
    int exp = 0;
    if (tag_get(m->meta, m->meta_len, "expect", expect, sizeof expect) == 0) exp = atoi(expect);
    else if (tag_get(m->meta, m->meta_len, "bootstrap", expect, sizeof expect) == 0) exp = 1;
    ip_text(m->addr, m->addr_len, ip, sizeof ip);
    snprintf(addr, sizeof addr, m->addr_len == 16 ? "[%s]:%s" : "%s:%s", ip, port);
    int alive = m->status == TB__SERF_STATUS_ALIVE;
    /* Client agents forward to the alive servers; Raft learns its peers. */
    if (a->endpoint && !a->stopping) tb__endpoint_server_seen(a->endpoint, addr, alive);
    if (a->raft && alive) tb__raftnode_server_seen(a->raft, id, m->name, addr, exp);
}

/* ------------------------------------------------------------ snapshot */

/* serf's snapshot lines: "alive: <name> <ip:port>", "not-alive: <name>",
 * "leave". Read at start (members alive before a restart, unless we left
 * and rejoin_after_leave is off), rewritten compacted, then appended on
 * every member event. */
static void snapshot_open(pool_t *p)
{
    tb__agent_t *a = p->g->a;
    json_t *alive = json_object();
    FILE *f = fopen(p->snapshot_path, "r");
    int left = 0;
    if (f) {
        char line[1024];
        while (fgets(line, sizeof line, f)) {
            line[strcspn(line, "\n")] = 0;
            char name[512], addr[256];
            if (sscanf(line, "alive: %511s %255s", name, addr) == 2) {
                json_object_set_new(alive, name, json_string(addr));
                left = 0;
            } else if (sscanf(line, "not-alive: %511s", name) == 1) {
                json_object_del(alive, name);
            } else if (!strcmp(line, "leave")) {
                left = 1;
            }
        }
        fclose(f);
    }
    json_object_del(alive, p->name);
    if (left && !json_is_true(json_object_get(a->config->merged, "rejoin_after_leave"))) {
        tb__log(&a->log, TB_LOG_INFO, p->module,
                "serf: Ignoring previous node cluster snapshot due to leave (rejoin_after_leave "
                "is off)");
        json_object_clear(alive);
    }
    /* Compact: the alive members only. */
    p->snapshot = fopen(p->snapshot_path, "w");
    if (!p->snapshot) {
        tb__log(&a->log, TB_LOG_WARN, p->module, "serf: cannot write snapshot %s: %s",
                p->snapshot_path, strerror(errno));
        json_decref(alive);
        return;
    }
    p->previous = json_array();
    const char *name;
    json_t *v;
    json_object_foreach(alive, name, v) {
        fprintf(p->snapshot, "alive: %s %s\n", name, json_string_value(v));
        json_array_append(p->previous, v);
        tb__log(&a->log, TB_LOG_INFO, p->module,
                "serf: Attempting re-join to previously known node: %s: %s", name,
                json_string_value(v));
    }
    fflush(p->snapshot);
    json_decref(alive);
}

static void snapshot_note(pool_t *p, const tb__serf_event_t *e)
{
    if (!p->snapshot || !strcmp(e->name, p->name)) return;
    char ip[64];
    ip_text(e->addr, e->addr_len, ip, sizeof ip);
    if (e->type == TB__SERF_EV_MEMBER_JOIN || e->type == TB__SERF_EV_MEMBER_UPDATE)
        fprintf(p->snapshot, e->addr_len == 16 ? "alive: %s [%s]:%u\n" : "alive: %s %s:%u\n",
                e->name, ip, e->port);
    else
        fprintf(p->snapshot, "not-alive: %s\n", e->name);
    fflush(p->snapshot);
}

/* ------------------------------------------------------------ keyring ops */

/* Another member (or we) asks about our keyring: apply and answer. */
static void keyring_query(pool_t *p, const tb__serf_event_t *e)
{
    tb__gw_buf_t b;
    tb__gw_buf_init(&b);
    int had = p->kr.n;
    if (tb__keyring_answer(&p->kr, p->encrypted, p->keyring_path, e->name, e->payload,
                           e->payload_len, &b) == 0) {
        if (p->kr.n != had || strcmp(e->name, "_serf_list-keys"))
            tb__log(&p->g->a->log, TB_LOG_INFO, p->module, "serf: Received %s query", e->name);
        tb__serf_respond(p->serf, e, b.data, b.len);
    }
    tb__gw_buf_free(&b);
}

static void keyop_finish(tb__gossip_t *g, keyop_t *k, const char *error)
{
    for (keyop_t **pp = &g->keyops; *pp; pp = &(*pp)->next)
        if (*pp == k) {
            *pp = k->next;
            break;
        }
    /* Consul lists the WAN pool first, then the LAN pool of the dc */
    json_t *res = json_array();
    for (int w = 1; w >= 0; w--)
        if (k->tally[w].keys)
            json_array_append_new(res, tb__keyring_tally_json(&k->tally[w],
                                                              g->a->config->datacenter));
    if (k->cb) k->cb(k->arg, error ? NULL : res, error);
    json_decref(res);
    tb__keyring_tally_free(&k->tally[0]);
    tb__keyring_tally_free(&k->tally[1]);
    free(k);
}

static void keyring_progress(pool_t *p, const tb__serf_event_t *e)
{
    for (keyop_t *k = p->g->keyops; k; k = k->next) {
        if (!k->waiting[p->wan] || k->id[p->wan] != e->query_id) continue;
        tb__keyring_tally_t *t = &k->tally[p->wan];
        if (e->type == TB__SERF_EV_QUERY_RESPONSE)
            tb__keyring_tally_add(t, e->name, e->payload, e->payload_len);
        /* every member answered: no need to wait for the timeout */
        if (e->type == TB__SERF_EV_QUERY_DONE || t->num_resp >= t->num_nodes)
            k->waiting[p->wan] = 0;
        if (!k->waiting[0] && !k->waiting[1]) keyop_finish(p->g, k, NULL);
        return;
    }
}

int tb__gossip_keyring(tb__gossip_t *g, int op, const char *key_b64, tb__gossip_keyring_cb cb,
                       void *arg, char **err)
{
    uint8_t *raw = NULL;
    size_t rlen = 0;
    if (op != TB__KEYOP_LIST) {
        void *d = NULL;
        if (!key_b64 || !*key_b64 ||
            tb__base64_decode(key_b64, strlen(key_b64), &d, &rlen) != 0) {
            free(d);
            *err = strdup("Invalid key: not valid base64");
            return -1;
        }
        raw = d;
        if (rlen != 16 && rlen != 24 && rlen != 32) {
            free(raw);
            *err = strdup("Invalid key: key size must be 16, 24 or 32 bytes");
            return -1;
        }
    }
    keyop_t *k = calloc(1, sizeof *k);
    tb__gw_buf_t req;
    tb__gw_buf_init(&req);
    if (!k || tb__keyring_request(op, raw, rlen, &req) != 0) {
        free(k);
        free(raw);
        tb__gw_buf_free(&req);
        *err = strdup("out of memory");
        return -1;
    }
    free(raw);
    k->cb = cb;
    k->arg = arg;
    k->next = g->keyops;
    g->keyops = k;
    for (int w = 0; w < 2; w++) {
        pool_t *p = w ? &g->wan : &g->lan;
        if (!p->active) continue;
        uint32_t id = 0; /* serf: a random 31-bit id (no CSPRNG needed) */
        if (uv_random(NULL, NULL, &id, sizeof id, 0, NULL) != 0) id = (uint32_t)uv_hrtime();
        id &= 0x7fffffff;
        tb__keyring_tally_init(&k->tally[w], w, tb__serf_num_nodes(p->serf));
        k->id[w] = id;
        k->waiting[w] = 1;
        if (tb__serf_query(p->serf, now_ms(p), tb__keyring_query_name(op), req.data, req.len, id,
                           tb__serf_query_timeout_ms(p->serf)) != 0)
            k->waiting[w] = 0;
    }
    tb__gw_buf_free(&req);
    if (!k->waiting[0] && !k->waiting[1]) {
        /* never answer inside the call: the caller has not deferred yet */
        g->keyops = k->next;
        tb__keyring_tally_free(&k->tally[0]);
        tb__keyring_tally_free(&k->tally[1]);
        free(k);
        *err = strdup("cannot send the keyring query");
        return -1;
    }
    /* the local answers and the broadcasts go out now */
    pool_flush(&g->lan);
    pool_flush(&g->wan);
    return 0;
}

static void handle_event(pool_t *p, const tb__serf_event_t *e)
{
    tb__gossip_t *g = p->g;
    static const char *const kinds[] = {"", "EventMemberJoin", "EventMemberLeave",
                                        "EventMemberFailed", "EventMemberUpdate",
                                        "EventMemberReap"};
    if (e->type >= TB__SERF_EV_MEMBER_JOIN && e->type <= TB__SERF_EV_MEMBER_REAP) {
        char ip[64];
        ip_text(e->addr, e->addr_len, ip, sizeof ip);
        tb__log(&g->a->log, TB_LOG_INFO, p->module, "serf: %s: %s %s", kinds[e->type], e->name, ip);
        snapshot_note(p, e);
        const tb__serf_member_t *m = tb__serf_member(p->serf, e->name);
        if (p->wan) return;
        if (m) server_seen(g, m);
        if (m && e->type != TB__SERF_EV_MEMBER_UPDATE)
            reconcile_member(g, m, e->type == TB__SERF_EV_MEMBER_REAP);
        else if (!m && e->type == TB__SERF_EV_MEMBER_REAP) {
            tb__serf_member_t gone = {0};
            gone.name = e->name;
            gone.meta = e->payload;
            gone.meta_len = e->payload_len;
            gone.status = TB__SERF_STATUS_LEFT;
            reconcile_member(g, &gone, 1);
        }
    } else if (e->type == TB__SERF_EV_USER && !p->wan) {
        got_user_event(g, e);
    } else if (e->type == TB__SERF_EV_QUERY) {
        keyring_query(p, e);
    } else if (e->type == TB__SERF_EV_QUERY_RESPONSE || e->type == TB__SERF_EV_QUERY_DONE) {
        keyring_progress(p, e);
    } else if (e->type == TB__SERF_EV_NAME_CONFLICT) {
        char ip[64];
        ip_text(e->addr, e->addr_len, ip, sizeof ip);
        tb__log(&g->a->log, TB_LOG_ERROR, p->module,
                "serf: Node name conflicts with another node at %s:%u. Node names must be "
                "unique!",
                ip, e->port);
    }
}

/* Send everything the state machine queued, handle its events, re-arm. */
static void pool_flush(pool_t *p)
{
    if (!p->active) return;
    tb__swim_t *sw = tb__serf_swim(p->serf);
    tb__swim_out_t o;
    while (tb__swim_poll(sw, &o)) {
        if (o.kind == TB__SWIM_OUT_UDP) {
            udp_send(p, o.addr, o.addr_len, o.port, o.buf, o.len);
            free(o.buf);
        } else {
            stream_open(p, &o);
        }
    }
    tb__serf_event_t ev;
    while (tb__serf_poll(p->serf, &ev)) {
        handle_event(p, &ev);
        tb__serf_event_clear(&ev);
    }
    if (p->g->stopped && !p->g->leaving) return;
    uint64_t dl = tb__serf_next_deadline(p->serf), now = now_ms(p);
    /* Never 0: libuv runs a timer re-armed with 0 inside its own callback
     * again at once, without returning to the loop (a deadline the state
     * machine leaves in the past while leaving would spin forever). */
    uint64_t wait = dl > now ? dl - now : 10;
    if (wait > 1000) wait = 1000;
    uv_timer_start(&p->timer, pool_tick, wait, 0);
}

static void pool_tick(uv_timer_t *t)
{
    pool_t *p = t->data;
    tb__serf_tick(p->serf, now_ms(p));
    /* A new Raft leader reconciles every member at once (the tick runs at
     * least once a second). */
    if (!p->wan && tb__agent_is_leader(p->g->a) != p->g->was_leader && !p->g->stopped)
        reconcile_all(p->g);
    pool_flush(p);
}

/* ------------------------------------------------------------ keyring */

static int keyring_load(pool_t *p, const char *encrypt, char **err)
{
    tb__agent_t *a = p->g->a;
    char e[600];
    tb__gw_keyring_init(&p->kr);
    if (p->keyring_path) {
        json_error_t je;
        json_t *keys = json_load_file(p->keyring_path, 0, &je);
        if (keys) {
            size_t i;
            json_t *k;
            json_array_foreach(keys, i, k) {
                if (!json_is_string(k) || tb__gw_keyring_add_base64(&p->kr, json_string_value(k))) {
                    snprintf(e, sizeof e, "%s: key %zu is not a base64 AES key", p->keyring_path,
                             i);
                    json_decref(keys);
                    *err = strdup(e);
                    return -1;
                }
            }
            json_decref(keys);
            if (p->kr.n) {
                if (encrypt && *encrypt)
                    tb__log(&a->log, TB_LOG_WARN, "agent",
                            "%s keyring exists but -encrypt given, using keyring",
                            p->wan ? "WAN" : "LAN");
                p->encrypted = 1;
                return 0;
            }
        } else if (access(p->keyring_path, F_OK) == 0) {
            snprintf(e, sizeof e, "%s: %s", p->keyring_path, je.text);
            *err = strdup(e);
            return -1;
        }
    }
    if (!encrypt || !*encrypt) return 0;
    if (tb__gw_keyring_add_base64(&p->kr, encrypt) != 0) {
        *err = strdup("encrypt: not a base64-encoded 16, 24 or 32 byte key");
        return -1;
    }
    p->encrypted = 1;
    if (p->keyring_path) {
        /* Persist the initial key as Consul does: later runs read the file. */
        FILE *f = fopen(p->keyring_path, "w");
        if (f) {
            fprintf(f, "[\"%s\"]\n", encrypt);
            fclose(f);
        }
    }
    return 0;
}

/* ------------------------------------------------------------ pools */

static void pool_handle_closed(uv_handle_t *h)
{
    pool_t *p = h->data;
    p->handles--;
}

static int pool_start(tb__gossip_t *g, pool_t *p, int wan, char **err)
{
    tb__agent_t *a = g->a;
    const tb__config_t *c = a->config;
    char e[4400];
    p->g = g;
    p->wan = wan;
    p->port = (uint16_t)(wan ? c->port_serf_wan : c->port_serf_lan);
    p->module = wan ? "agent.server.serf.wan"
                    : c->server ? "agent.server.serf.lan" : "agent.client.serf.lan";
    if (wan) {
        size_t n = strlen(c->node_name) + strlen(c->datacenter) + 2;
        if ((p->name = malloc(n))) snprintf(p->name, n, "%s.%s", c->node_name, c->datacenter);
    } else {
        p->name = strdup(c->node_name);
    }
    const json_t *m = c->merged;
    p->verify_in = !json_is_false(json_object_get(m, "encrypt_verify_incoming"));
    p->verify_out = !json_is_false(json_object_get(m, "encrypt_verify_outgoing"));
    if (c->data_dir && *c->data_dir) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/serf", c->data_dir);
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            snprintf(e, sizeof e, "cannot create %s: %s", dir, strerror(errno));
            *err = strdup(e);
            return -1;
        }
        size_t n = strlen(dir) + 32;
        if ((p->keyring_path = malloc(n)))
            snprintf(p->keyring_path, n, "%s/%s", dir, wan ? "remote.keyring" : "local.keyring");
        if ((p->snapshot_path = malloc(n)))
            snprintf(p->snapshot_path, n, "%s/%s", dir, wan ? "remote.snapshot" : "local.snapshot");
    }
    if (!p->name || keyring_load(p, json_string_value(json_object_get(m, "encrypt")), err) != 0) {
        if (!*err) *err = strdup("out of memory");
        return -1;
    }
    /* bind_addr for the sockets, the advertise address on the wire */
    const char *bind = c->bind_addr && *c->bind_addr ? c->bind_addr : "0.0.0.0";
    const char *adv = wan ? json_string_value(json_object_get(m, "advertise_addr_wan")) : NULL;
    if (!adv || !*adv) adv = c->advertise_addr && *c->advertise_addr ? c->advertise_addr : bind;
    struct sockaddr_storage ss;
    int rc = uv_ip4_addr(bind, p->port, (struct sockaddr_in *)&ss);
    if (rc != 0) rc = uv_ip6_addr(bind, p->port, (struct sockaddr_in6 *)&ss);
    if (rc != 0) {
        snprintf(e, sizeof e, "bind_addr %s: not an IP address", bind);
        *err = strdup(e);
        return -1;
    }
    tb__serf_config_t sc;
    tb__serf_defaults(&sc, wan ? TB__SWIM_PROFILE_WAN : TB__SWIM_PROFILE_LAN);
    sc.swim.name = p->name;
    uint16_t dummy;
    if (parse_hostport(adv, p->port, sc.swim.addr, &sc.swim.addr_len, &dummy) != 0) {
        snprintf(e, sizeof e, "advertise address %s: not an IP address", adv);
        *err = strdup(e);
        return -1;
    }
    sc.swim.port = p->port;
    sc.swim.encrypted = p->encrypted != 0;
    /* The kernel's bytes, not RAND_bytes: a SWIM seed needs no CSPRNG, and
     * OpenSSL's first use loads its config and providers (~1.5 MiB of
     * resident text) in every agent, encrypted pool or not. */
    if (uv_random(NULL, NULL, &sc.swim.seed, sizeof sc.swim.seed, 0, NULL) != 0)
        sc.swim.seed = (uint64_t)uv_hrtime() ^ (uint64_t)getpid();
    sc.reconnect_timeout_ms = 72ULL * 3600 * 1000; /* Consul: reconnect_timeout 72h */
    tb__gw_buf_t tags;
    tb__gw_buf_init(&tags);
    build_tags(p, &tags);
    sc.swim.meta = tags.data;
    sc.swim.meta_len = tags.len;
    p->serf = tb__serf_new(&sc, uv_now(&a->loop));
    tb__gw_buf_free(&tags);
    if (!p->serf) {
        *err = strdup("out of memory");
        return -1;
    }
    uv_udp_init(&a->loop, &p->udp);
    uv_tcp_init(&a->loop, &p->listener);
    uv_timer_init(&a->loop, &p->timer);
    p->udp.data = p->listener.data = p->timer.data = p;
    p->handles += 3;
    p->active = 1;
    int brc = uv_udp_bind(&p->udp, (const struct sockaddr *)&ss, 0);
    if (brc == 0) brc = uv_tcp_bind(&p->listener, (const struct sockaddr *)&ss, 0);
    if (brc == 0) brc = uv_listen((uv_stream_t *)&p->listener, 128, on_accept);
    if (brc != 0) {
        snprintf(e, sizeof e, "serf_%s: cannot bind %s:%u: %s", wan ? "wan" : "lan", bind,
                 p->port, uv_strerror(brc));
        *err = strdup(e);
        return -1;
    }
    /* Large socket buffers: a burst of gossip after a join must not drop. */
    int sz = 2 * 1024 * 1024;
    uv_send_buffer_size((uv_handle_t *)&p->udp, &sz);
    sz = 2 * 1024 * 1024;
    uv_recv_buffer_size((uv_handle_t *)&p->udp, &sz);
    uv_udp_recv_start(&p->udp, udp_alloc, udp_recv);
    uv_timer_start(&p->timer, pool_tick, 0, 0);
    if (p->snapshot_path) snapshot_open(p);
    tb__log(&a->log, TB_LOG_INFO, p->module, "serf: %s pool on %s:%u (advertise %s)%s",
            wan ? "WAN" : "LAN", bind, p->port, adv, p->encrypted ? ", encrypted" : "");
    return 0;
}

static void pool_close(pool_t *p)
{
    if (!p->active) return;
    p->active = 0;
    uv_timer_stop(&p->timer);
    uv_close((uv_handle_t *)&p->udp, pool_handle_closed);
    uv_close((uv_handle_t *)&p->listener, pool_handle_closed);
    uv_close((uv_handle_t *)&p->timer, pool_handle_closed);
    for (stream_t *s = p->streams; s; s = s->next) stream_close(s);
}

static void pool_free(pool_t *p)
{
    if (p->serf) tb__serf_free(p->serf);
    free(p->name);
    free(p->keyring_path);
    free(p->snapshot_path);
    if (p->snapshot) fclose(p->snapshot);
    json_decref(p->previous);
    json_decref(p->retry_addrs);
}

/* ------------------------------------------------------------ lifecycle */

static void rejoin_done(void *arg, int joined, const char *error)
{
    pool_t *p = arg;
    if (joined > 0)
        tb__log(&p->g->a->log, TB_LOG_INFO, p->module,
                "serf: Re-joined to %d previously known node(s)", joined);
    else
        tb__log(&p->g->a->log, TB_LOG_WARN, p->module,
                "serf: Failed to re-join any previously known node: %s", error ? error : "?");
}

tb__gossip_t *tb__gossip_start(tb__agent_t *a, char **err)
{
    tb__gossip_t *g = calloc(1, sizeof *g);
    *err = NULL;
    if (!g || !(g->events = json_array())) {
        free(g);
        *err = strdup("out of memory");
        return NULL;
    }
    g->a = a;
    uv_timer_init(&a->loop, &g->lan.retry_timer);
    uv_timer_init(&a->loop, &g->wan.retry_timer);
    g->lan.retry_timer.data = &g->lan;
    g->wan.retry_timer.data = &g->wan;
    uv_timer_init(&a->loop, &g->reconcile_timer);
    uv_timer_init(&a->loop, &g->leave_timer);
    g->reconcile_timer.data = g->leave_timer.data = g;
    if (pool_start(g, &g->lan, 0, err) != 0 ||
        (a->config->server && pool_start(g, &g->wan, 1, err) != 0)) {
        tb__gossip_stop(g, 0);
        return g; /* caller frees after the loop closed the handles */
    }
    if (pool_joins(&g->lan, err) != 0 || (g->wan.active && pool_joins(&g->wan, err) != 0)) {
        tb__gossip_stop(g, 0);
        return g;
    }
    /* Members alive before a restart (snapshot), as serf's handleRejoin. */
    for (int w = 0; w < 2; w++) {
        pool_t *p = w ? &g->wan : &g->lan;
        const char *list[16];
        size_t n = 0, i;
        json_t *v;
        json_array_foreach(p->active ? p->previous : NULL, i, v)
            if (n < 16) list[n++] = json_string_value(v);
        char *e2 = NULL;
        if (n && tb__gossip_join(g, w, list, n, rejoin_done, p, &e2) != 0) {
            tb__log(&a->log, TB_LOG_WARN, p->module, "serf: rejoin failed: %s", e2);
            free(e2);
        }
    }
    uv_timer_start(&g->reconcile_timer, reconcile_tick, RECONCILE_MS, RECONCILE_MS);
    reconcile_all(g);
    return g;
}

int tb__gossip_should_leave(const tb__gossip_t *g, int signum)
{
    const json_t *m = g->a->config->merged;
    if (g->exit_after_leave) return 1;
    if (signum == SIGINT) return !json_is_true(json_object_get(m, "skip_leave_on_interrupt"));
    return json_is_true(json_object_get(m, "leave_on_terminate"));
}

static void finish_stop(tb__gossip_t *g)
{
    g->leaving = 0;
    uv_timer_stop(&g->leave_timer);
    uv_close((uv_handle_t *)&g->leave_timer, NULL);
    pool_close(&g->lan);
    pool_close(&g->wan);
}

/* Left, or nobody else is alive to hear it (serf skips the wait then). */
static int pool_left(pool_t *p)
{
    return !p->active || tb__serf_leave_done(p->serf) ||
           !tb__swim_others_alive(tb__serf_swim(p->serf));
}

static void leave_poll(uv_timer_t *t)
{
    tb__gossip_t *g = t->data;
    int done = pool_left(&g->lan) && pool_left(&g->wan);
    int late = uv_now(&g->a->loop) - g->leave_started_ms >= LEAVE_MAX_MS;
    if (!done && !late) return;
    tb__log(&g->a->log, TB_LOG_INFO, "agent", "graceful leave %s", done ? "complete" : "timed out");
    finish_stop(g);
}

void tb__gossip_stop(tb__gossip_t *g, int leave)
{
    if (!g || g->stopped) return;
    g->stopped = 1;
    while (g->keyops) keyop_finish(g, g->keyops, "agent is shutting down");
    /* Pending joins fail now: their HTTP callers are going away too. */
    while (g->joins) {
        join_t *j = g->joins;
        j->ok = 0;
        if (!j->error) j->error = strdup("agent is shutting down");
        join_finish(g, j);
    }
    retry_stop(&g->lan);
    retry_stop(&g->wan);
    uv_timer_stop(&g->reconcile_timer);
    uv_close((uv_handle_t *)&g->lan.retry_timer, NULL);
    uv_close((uv_handle_t *)&g->wan.retry_timer, NULL);
    uv_close((uv_handle_t *)&g->reconcile_timer, NULL);
    if (leave && (g->lan.active || g->wan.active)) {
        tb__log(&g->a->log, TB_LOG_INFO, "agent", "Gracefully leaving the cluster");
        g->leaving = 1;
        g->leave_started_ms = uv_now(&g->a->loop);
        /* A left member does not rejoin on restart (rejoin_after_leave). */
        for (int w = 0; w < 2; w++) {
            pool_t *p = w ? &g->wan : &g->lan;
            if (p->active && p->snapshot) fputs("leave\n", p->snapshot), fflush(p->snapshot);
        }
        if (g->lan.active) tb__serf_leave(g->lan.serf, g->leave_started_ms);
        if (g->wan.active) tb__serf_leave(g->wan.serf, g->leave_started_ms);
        pool_flush(&g->lan);
        pool_flush(&g->wan);
        /* Poll every 50 ms; LEAVE_MAX_MS caps the wait. */
        uv_timer_start(&g->leave_timer, leave_poll, 50, 50);
        return;
    }
    finish_stop(g);
}

int tb__gossip_running(const tb__gossip_t *g) { return g && g->lan.active; }

void tb__gossip_free(tb__gossip_t *g)
{
    if (!g) return;
    pool_free(&g->lan);
    pool_free(&g->wan);
    rec_clear(g);
    free(g->rec);
    json_decref(g->events);
    free(g);
}

void tb__gossip_leave_and_exit(tb__gossip_t *g)
{
    g->exit_after_leave = 1;
    /* The agent's SIGTERM path sees exit_after_leave and leaves first. */
    uv_kill(uv_os_getpid(), SIGTERM);
}

int tb__gossip_force_leave(tb__gossip_t *g, const char *node, int prune, int wan, char **err)
{
    pool_t *p = wan ? &g->wan : &g->lan;
    char e[300];
    if (!p->active) {
        *err = strdup(wan ? "WAN gossip is only available on servers" : "gossip is not running");
        return -1;
    }
    if (!tb__serf_member(p->serf, node)) {
        snprintf(e, sizeof e, "agent: No node found with name '%s'", node);
        *err = strdup(e);
        return -1;
    }
    if (tb__serf_force_leave(p->serf, now_ms(p), node, prune != 0) != 0) {
        snprintf(e, sizeof e, "cannot force %s to leave", node);
        *err = strdup(e);
        return -1;
    }
    tb__log(&g->a->log, TB_LOG_INFO, "agent", "Force leaving node: node=%s", node);
    pool_flush(p);
    return 0;
}

/* ------------------------------------------------------------ views */

static json_t *member_json(pool_t *p, const tb__serf_member_t *m)
{
    char ip[64];
    ip_text(m->addr, m->addr_len, ip, sizeof ip);
    json_t *tags = json_object();
    tb__gw_tag_t t[MAX_TAGS];
    int nt = tb__gw_tags_decode(m->meta, m->meta_len, t, MAX_TAGS);
    for (int i = 0; i < nt; i++) {
        char *k = strndup(t[i].key.p ? (const char *)t[i].key.p : "", t[i].key.n);
        json_t *v = json_stringn(t[i].value.p ? (const char *)t[i].value.p : "", t[i].value.n);
        if (k && v) json_object_set_new(tags, k, v);
        else json_decref(v);
        free(k);
    }
    const tb__swim_node_t *n = tb__swim_find(tb__serf_swim(p->serf), m->name, strlen(m->name));
    static const uint8_t dflt[6] = {1, 5, 2, 2, 5, 5};
    const uint8_t *v = n ? n->vsn : dflt;
    return json_pack("{s:s,s:s,s:i,s:o,s:i,s:i,s:i,s:i,s:i,s:i,s:i}", "Name", m->name, "Addr", ip,
                     "Port", m->port, "Tags", tags, "Status", m->status, "ProtocolMin", v[0],
                     "ProtocolMax", v[1], "ProtocolCur", v[2], "DelegateMin", v[3],
                     "DelegateMax", v[4], "DelegateCur", v[5]);
}

json_t *tb__gossip_members(tb__gossip_t *g, int wan)
{
    json_t *out = json_array();
    pool_t *p = g ? (wan ? &g->wan : &g->lan) : NULL;
    if (!p || !p->serf) return out;
    for (size_t i = 0; i < tb__serf_num_members(p->serf); i++) {
        const tb__serf_member_t *m = tb__serf_member_at(p->serf, i);
        if (m->status == TB__SERF_STATUS_NONE) continue;
        json_array_append_new(out, member_json(p, m));
    }
    return out;
}

json_t *tb__gossip_stats(tb__gossip_t *g, int wan)
{
    pool_t *p = g ? (wan ? &g->wan : &g->lan) : NULL;
    if (!p || !p->serf) return NULL;
    size_t alive = 0, failed = 0, left = 0;
    for (size_t i = 0; i < tb__serf_num_members(p->serf); i++) {
        int st = tb__serf_member_at(p->serf, i)->status;
        alive += st == TB__SERF_STATUS_ALIVE;
        failed += st == TB__SERF_STATUS_FAILED;
        left += st == TB__SERF_STATUS_LEFT;
    }
    const tb__swim_stats_t *s = tb__swim_stats(tb__serf_swim(p->serf));
    char b[8][32];
    snprintf(b[0], 32, "%zu", alive);
    snprintf(b[1], 32, "%zu", failed);
    snprintf(b[2], 32, "%zu", left);
    snprintf(b[3], 32, "%llu", (unsigned long long)tb__serf_clock(p->serf));
    snprintf(b[4], 32, "%llu", (unsigned long long)tb__serf_event_clock(p->serf));
    snprintf(b[5], 32, "%llu", (unsigned long long)tb__serf_query_clock(p->serf));
    snprintf(b[6], 32, "%d", tb__swim_health_score(tb__serf_swim(p->serf)));
    snprintf(b[7], 32, "%llu", (unsigned long long)(p->bad_packets + s->bad_packets));
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "members", b[0], "failed", b[1],
                     "left", b[2], "member_time", b[3], "event_time", b[4], "query_time", b[5],
                     "health_score", b[6], "bad_packets", b[7], "encrypted",
                     p->encrypted ? "true" : "false");
}
