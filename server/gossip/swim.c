/*
 * swim.c - SWIM failure detection with Lifeguard and piggybacked
 * dissemination, following memberlist 0.2.2 (spec/gossip-wire.md §8).
 *
 * One struct per instance, no I/O and no clock: every entry point takes
 * now_ms, and packets to send are queued for tb__swim_poll. One probe is in
 * flight at a time (memberlist's probe loop is sequential); acks are matched
 * by sequence number to the probe or to indirect-ping relays we serve.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gossip/swim.h"

/* memcpy/memcmp that accept (NULL, 0): decoded nil fields are NULL slices. */
static inline void mcpy(void *d, const void *s, size_t n)
{
    if (n)
        memcpy(d, s, n);
}

static inline int mcmp(const void *a, const void *b, size_t n)
{
    return n ? memcmp(a, b, n) : 0;
}

/* -------------------------------------------------------------- types */

typedef struct {
    uint64_t start_ms, deadline_ms, min_ms, max_ms, change_ms;
    uint32_t k, n;
    size_t n_from;
    char **from;
} suspicion_t;

/* A queued memberlist broadcast. The queue is a list per transmit count
 * (fewest first, newest first within one), and each node points at the
 * message about it, so both selection and replacement are O(1)-ish even
 * with thousands of queued messages. */
#define TIERS 64
typedef struct bcast {
    struct bcast *prev, *next;
    uint8_t *buf;
    size_t len;
    tb__swim_node_t *owner; /* a newer message about it replaces this */
    uint32_t transmits;
    uint64_t round;         /* packet it was last taken for */
} bcast_t;

typedef struct {
    uint32_t local_seq, orig_seq;
    uint8_t addr[16];
    uint8_t alen;
    uint16_t port;
    bool nack;
    uint64_t deadline_ms;
} relay_t;

struct tb__swim {
    tb__swim_config_t cfg;
    char *name;
    uint8_t *meta;
    size_t meta_len;
    tb__swim_delegate_t d;
    uint64_t rng;

    tb__swim_node_t **nodes; /* nodes[i] owned */
    size_t n_nodes, cap_nodes;
    tb__swim_node_t **hash;  /* open addressing on the name */
    size_t hash_cap;
    size_t probe_index;
    tb__swim_node_t *me;
    size_t n_susp; /* running suspicion timers */

    uint32_t seq, incarnation;
    int awareness;
    bool leaving;

    /* the probe in flight */
    bool probing;
    int probe_phase; /* 1 direct, 2 indirect */
    uint32_t probe_seq;
    char *probe_target;
    uint64_t probe_start, probe_deadline;
    uint32_t expected_nacks, nacks;
    bool tcp_ok;
    uint64_t next_probe, next_gossip, next_push_pull;

    relay_t *relays;
    size_t n_relays, cap_relays;

    bcast_t *tier[TIERS];
    size_t n_q;
    uint64_t round;
    bcast_t *leave_msg;

    tb__swim_out_t *out;
    size_t n_out, cap_out, out_head;
    uint32_t stream_id;
    uint64_t pp_join_pending; /* stream ids of joins are tagged in out.join */

    tb__swim_stats_t stats;
};

static const uint8_t default_vsn[6] = { 1, 5, 2, 2, 5, 5 };

/* ------------------------------------------------------------ profiles */

void tb__swim_profile(int which, tb__swim_profile_t *p)
{
    memset(p, 0, sizeof *p);
    p->indirect_checks = 3;
    p->retransmit_mult = 4;
    p->suspicion_mult = 4;
    p->suspicion_max_timeout_mult = 6;
    p->push_pull_interval_ms = 30000;
    p->probe_interval_ms = 1000;
    p->probe_timeout_ms = 500;
    p->awareness_max = 8;
    p->gossip_nodes = 3;
    p->gossip_interval_ms = 200;
    p->gossip_to_dead_ms = 30000;
    p->tcp_timeout_ms = 10000;
    p->udp_buffer = 1400;
    if (which == TB__SWIM_PROFILE_WAN) {
        p->tcp_timeout_ms = 30000;
        p->suspicion_mult = 6;
        p->push_pull_interval_ms = 60000;
        p->probe_interval_ms = 5000;
        p->probe_timeout_ms = 3000;
        p->gossip_nodes = 4;
        p->gossip_interval_ms = 500;
        p->gossip_to_dead_ms = 60000;
    } else if (which == TB__SWIM_PROFILE_LOCAL) {
        p->tcp_timeout_ms = 1000;
        p->indirect_checks = 1;
        p->retransmit_mult = 2;
        p->suspicion_mult = 3;
        p->push_pull_interval_ms = 15000;
        p->probe_timeout_ms = 200;
        p->gossip_interval_ms = 100;
        p->gossip_to_dead_ms = 15000;
    }
}

uint32_t tb__swim_retransmit_limit(uint32_t mult, size_t n)
{
    return mult * (uint32_t)ceil(log10((double)n + 1.0));
}

void tb__swim_suspicion_bounds(const tb__swim_profile_t *p, size_t n, uint64_t *min_ms,
                               uint64_t *max_ms)
{
    double scale = log10(n > 1 ? (double)n : 1.0);
    if (scale < 1)
        scale = 1;
    *min_ms = (uint64_t)(p->suspicion_mult * scale * p->probe_interval_ms);
    *max_ms = p->suspicion_max_timeout_mult * *min_ms;
}

/* ------------------------------------------------------------- random */

uint64_t tb__swim_random(tb__swim_t *sw)
{
    /* xorshift64*: cheap, deterministic per seed */
    uint64_t x = sw->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    sw->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static size_t rnd(tb__swim_t *sw, size_t n)
{
    return n ? (size_t)(tb__swim_random(sw) % n) : 0;
}

/* ------------------------------------------------------------- nodes */

static uint32_t name_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static void hash_put(tb__swim_node_t **h, size_t cap, tb__swim_node_t *n)
{
    size_t j = name_hash(n->name, n->name_len) & (cap - 1);
    while (h[j])
        j = (j + 1) & (cap - 1);
    h[j] = n;
}

static int hash_rebuild(tb__swim_t *sw, size_t cap)
{
    tb__swim_node_t **h = calloc(cap, sizeof *h);
    if (!h)
        return -1;
    for (size_t i = 0; i < sw->n_nodes; i++)
        hash_put(h, cap, sw->nodes[i]);
    free(sw->hash);
    sw->hash = h;
    sw->hash_cap = cap;
    return 0;
}

static tb__swim_node_t *find(const tb__swim_t *sw, const uint8_t *name, size_t n)
{
    if (!sw->hash_cap)
        return NULL;
    size_t j = name_hash((const char *)name, n) & (sw->hash_cap - 1);
    while (sw->hash[j]) {
        tb__swim_node_t *x = sw->hash[j];
        if (x->name_len == n && mcmp(x->name, name, n) == 0)
            return x;
        j = (j + 1) & (sw->hash_cap - 1);
    }
    return NULL;
}

static bool is_me(const tb__swim_t *sw, tb__gw_bytes_t name)
{
    return name.n == sw->me->name_len && mcmp(name.p, sw->me->name, name.n) == 0;
}

static void free_suspicion(tb__swim_t *sw, tb__swim_node_t *n)
{
    suspicion_t *s = n->priv;
    if (!s)
        return;
    sw->n_susp--;
    for (size_t i = 0; i < s->n_from; i++)
        free(s->from[i]);
    free(s->from);
    free(s);
    n->priv = NULL;
}

static void node_free(tb__swim_t *sw, tb__swim_node_t *n)
{
    free_suspicion(sw, n);
    free(n->name);
    free(n->meta);
    free(n);
}

static int set_meta(tb__swim_node_t *n, const uint8_t *meta, size_t len)
{
    uint8_t *m = NULL;
    if (len) {
        m = malloc(len);
        if (!m)
            return -1;
        mcpy(m, meta, len);
    }
    free(n->meta);
    n->meta = m;
    n->meta_len = len;
    return 0;
}

/* New node, inserted into the probe order at a random position. */
static tb__swim_node_t *node_add(tb__swim_t *sw, const uint8_t *name, size_t len)
{
    if (sw->n_nodes == sw->cap_nodes) {
        size_t cap = sw->cap_nodes ? sw->cap_nodes * 2 : 16;
        tb__swim_node_t **p = realloc(sw->nodes, cap * sizeof *p);
        if (!p)
            return NULL;
        sw->nodes = p;
        sw->cap_nodes = cap;
    }
    tb__swim_node_t *n = calloc(1, sizeof *n);
    if (!n || !(n->name = malloc(len + 1))) {
        free(n);
        return NULL;
    }
    mcpy(n->name, name, len);
    n->name[len] = 0;
    n->name_len = len;
    n->state = TB__SWIM_DEAD;
    size_t i = sw->n_nodes++;
    sw->nodes[i] = n;
    /* swap with a random position so new nodes are probed soon */
    size_t j = rnd(sw, sw->n_nodes);
    sw->nodes[i] = sw->nodes[j];
    sw->nodes[j] = n;
    if (sw->n_nodes * 2 > sw->hash_cap) {
        if (hash_rebuild(sw, sw->hash_cap ? sw->hash_cap * 2 : 32))
            return NULL;
    } else {
        hash_put(sw->hash, sw->hash_cap, n);
    }
    return n;
}

/* ----------------------------------------------------------- outputs */

static void emit(tb__swim_t *sw, int kind, const uint8_t *addr, size_t alen, uint16_t port,
                 tb__gw_buf_t *b, uint32_t id, bool join)
{
    if (b->oom || !b->len) {
        tb__gw_buf_free(b);
        return;
    }
    if (sw->n_out == sw->cap_out) {
        size_t cap = sw->cap_out ? sw->cap_out * 2 : 16;
        tb__swim_out_t *p = realloc(sw->out, cap * sizeof *p);
        if (!p) {
            tb__gw_buf_free(b);
            return;
        }
        sw->out = p;
        sw->cap_out = cap;
    }
    tb__swim_out_t *o = &sw->out[sw->n_out++];
    memset(o, 0, sizeof *o);
    o->kind = kind;
    mcpy(o->addr, addr, alen > 16 ? 16 : alen);
    o->addr_len = (uint8_t)alen;
    o->port = port;
    o->id = id;
    o->join = join;
    o->buf = tb__gw_buf_steal(b, &o->len);
    if (kind == TB__SWIM_OUT_UDP) {
        sw->stats.udp_out++;
        sw->stats.bytes_out += o->len;
    }
}

void tb__swim_send_user(tb__swim_t *sw, const uint8_t *addr, size_t alen, uint16_t port,
                        const uint8_t *buf, size_t len)
{
    tb__gw_buf_t b;
    tb__gw_buf_init(&b);
    uint8_t t = TB__GW_USER;
    tb__gw_buf_put(&b, &t, 1);
    tb__gw_buf_put(&b, buf, len);
    emit(sw, TB__SWIM_OUT_UDP, addr, alen, port, &b, 0, false);
}

bool tb__swim_poll(tb__swim_t *sw, tb__swim_out_t *out)
{
    if (sw->out_head >= sw->n_out) {
        sw->out_head = sw->n_out = 0;
        return false;
    }
    *out = sw->out[sw->out_head++];
    return true;
}

/* -------------------------------------------------------- broadcasts */

static void q_unlink(tb__swim_t *sw, bcast_t *e)
{
    uint32_t t = e->transmits < TIERS ? e->transmits : TIERS - 1;
    if (e->prev)
        e->prev->next = e->next;
    else
        sw->tier[t] = e->next;
    if (e->next)
        e->next->prev = e->prev;
    e->prev = e->next = NULL;
}

static void q_push(tb__swim_t *sw, bcast_t *e)
{
    uint32_t t = e->transmits < TIERS ? e->transmits : TIERS - 1;
    e->prev = NULL;
    e->next = sw->tier[t];
    if (e->next)
        e->next->prev = e;
    sw->tier[t] = e;
}

static void q_drop(tb__swim_t *sw, bcast_t *e)
{
    q_unlink(sw, e);
    if (e->owner && e->owner->priv2 == e)
        e->owner->priv2 = NULL;
    if (sw->leave_msg == e)
        sw->leave_msg = NULL;
    free(e->buf);
    free(e);
    sw->n_q--;
}

/* Queue a memberlist message about node n, replacing an older one. */
static void broadcast(tb__swim_t *sw, tb__swim_node_t *n, tb__gw_buf_t *b, bool self_leave)
{
    if (b->oom) {
        tb__gw_buf_free(b);
        return;
    }
    if (n->priv2)
        q_drop(sw, n->priv2);
    bcast_t *e = calloc(1, sizeof *e);
    if (!e) {
        tb__gw_buf_free(b);
        return;
    }
    e->owner = n;
    e->buf = tb__gw_buf_steal(b, &e->len);
    n->priv2 = e;
    if (self_leave)
        sw->leave_msg = e;
    q_push(sw, e);
    sw->n_q++;
}

/* memberlist's TransmitLimitedQueue.GetBroadcasts: fewest transmits first,
 * newest first within a tier (memberlist prefers the largest that fits
 * there; member messages are all about the same size). Appends to parts. */
static int take_broadcasts(tb__swim_t *sw, size_t overhead, size_t limit, tb__gw_bytes_t *parts,
                           int max, uint8_t **tmp, int *ntmp)
{
    int n = 0;
    size_t used = 0;
    uint32_t lim = tb__swim_retransmit_limit(sw->cfg.profile.retransmit_mult,
                                             sw->cfg.n_hint ? sw->cfg.n_hint : sw->n_nodes);
    uint64_t round = ++sw->round;
    for (int t = 0; t < TIERS && n < max && sw->n_q; t++) {
        bcast_t *e = sw->tier[t];
        while (e && n < max) {
            bcast_t *next = e->next;
            if (e->round == round || used + e->len + overhead > limit) {
                e = next;
                continue;
            }
            uint8_t *copy = malloc(e->len);
            if (!copy)
                return n;
            mcpy(copy, e->buf, e->len);
            tmp[(*ntmp)++] = copy;
            parts[n].p = copy;
            parts[n].n = e->len;
            n++;
            used += e->len + overhead;
            e->round = round;
            q_unlink(sw, e);
            e->transmits++;
            if (e->transmits >= lim) { /* done: already unlinked */
                if (e->owner && e->owner->priv2 == e)
                    e->owner->priv2 = NULL;
                if (sw->leave_msg == e)
                    sw->leave_msg = NULL;
                free(e->buf);
                free(e);
                sw->n_q--;
            } else {
                q_push(sw, e);
            }
            e = next;
        }
    }
    /* then the delegate's (serf) messages, each prefixed with 08 */
    if (sw->d.get_broadcasts && n < max) {
        tb__gw_bytes_t dm[64];
        size_t room = limit > used ? limit - used : 0;
        size_t k = sw->d.get_broadcasts(sw->d.ctx, overhead + 1, room, dm,
                                        (size_t)(max - n) < 64 ? (size_t)(max - n) : 64);
        for (size_t i = 0; i < k; i++) {
            uint8_t *copy = malloc(dm[i].n + 1);
            if (!copy)
                break;
            copy[0] = TB__GW_USER;
            mcpy(copy + 1, dm[i].p, dm[i].n);
            tmp[(*ntmp)++] = copy;
            parts[n].p = copy;
            parts[n].n = dm[i].n + 1;
            n++;
        }
    }
    return n;
}

/* Send msg to addr, piggybacking broadcasts in a compound if any fit. */
static void send_msg(tb__swim_t *sw, const uint8_t *addr, size_t alen, uint16_t port,
                     tb__gw_buf_t *msg, bool crc)
{
    tb__gw_bytes_t parts[255];
    uint8_t *tmp[255];
    int ntmp = 0;
    size_t enc = sw->cfg.encrypted ? TB__GW_ENC_OVERHEAD : 0;
    size_t budget = sw->cfg.profile.udp_buffer;
    size_t need = msg->len + 2 + 2 + enc;
    int n = 0;
    if (budget > need)
        n = take_broadcasts(sw, 2, budget - need, parts + 1, 254, tmp, &ntmp);
    tb__gw_buf_t pkt;
    tb__gw_buf_init(&pkt);
    if (n == 0) {
        if (crc)
            tb__gw_crc_wrap(msg->data, msg->len, &pkt);
        else
            tb__gw_buf_put(&pkt, msg->data, msg->len);
    } else {
        parts[0].p = msg->data;
        parts[0].n = msg->len;
        tb__gw_buf_t c;
        tb__gw_buf_init(&c);
        tb__gw_compound_encode(parts, n + 1, &c);
        if (crc)
            tb__gw_crc_wrap(c.data, c.len, &pkt);
        else
            pkt = c, tb__gw_buf_init(&c);
        tb__gw_buf_free(&c);
    }
    for (int i = 0; i < ntmp; i++)
        free(tmp[i]);
    tb__gw_buf_free(msg);
    emit(sw, TB__SWIM_OUT_UDP, addr, alen, port, &pkt, 0, false);
}

/* --------------------------------------------------- message builders */

static tb__gw_bytes_t bs(const void *p, size_t n)
{
    tb__gw_bytes_t b = { p, n };
    return b;
}

static void enc_alive(tb__swim_t *sw, const tb__swim_node_t *n, tb__gw_buf_t *out)
{
    tb__gw_msg_t m;
    memset(&m, 0, sizeof m);
    m.type = TB__GW_ALIVE;
    m.addr = bs(n->addr, n->addr_len);
    m.incarnation = n->incarnation;
    m.meta = bs(n->meta ? n->meta : (const uint8_t *)"", n->meta_len);
    m.node = bs(n->name, n->name_len);
    m.port = n->port;
    mcpy(m.vsn, n->vsn, 6);
    m.vsn_len = 6;
    (void)sw;
    tb__gw_msg_encode(&m, out);
}

static void enc_sd(uint8_t type, const char *from, size_t flen, const tb__swim_node_t *n,
                   uint32_t inc, tb__gw_buf_t *out)
{
    tb__gw_msg_t m;
    memset(&m, 0, sizeof m);
    m.type = type;
    m.from = bs(from, flen);
    m.incarnation = inc;
    m.node = bs(n->name, n->name_len);
    tb__gw_msg_encode(&m, out);
}

static void enc_ping(tb__swim_t *sw, const tb__swim_node_t *target, uint32_t seq,
                     tb__gw_buf_t *out)
{
    tb__gw_msg_t m;
    memset(&m, 0, sizeof m);
    m.type = TB__GW_PING;
    m.node = bs(target->name, target->name_len);
    m.seq = seq;
    m.source_addr = bs(sw->me->addr, sw->me->addr_len);
    m.source_node = bs(sw->me->name, sw->me->name_len);
    m.source_port = sw->me->port;
    tb__gw_msg_encode(&m, out);
}

/* ----------------------------------------------------- state changes */

static void refute(tb__swim_t *sw, uint32_t accused)
{
    uint32_t inc = ++sw->incarnation;
    if (accused >= inc)
        inc = sw->incarnation = accused + 1;
    sw->me->incarnation = inc;
    if (sw->awareness < (int)sw->cfg.profile.awareness_max - 1)
        sw->awareness++;
    sw->stats.refutes++;
    tb__gw_buf_t b;
    tb__gw_buf_init(&b);
    enc_alive(sw, sw->me, &b);
    broadcast(sw, sw->me, &b, false);
}

static void start_suspicion(tb__swim_t *sw, tb__swim_node_t *n, const tb__gw_bytes_t from,
                            uint64_t now)
{
    suspicion_t *s = calloc(1, sizeof *s);
    if (!s)
        return;
    uint32_t k = sw->cfg.profile.suspicion_mult >= 2 ? sw->cfg.profile.suspicion_mult - 2 : 0;
    if (sw->n_nodes < 2 || sw->n_nodes - 2 < k)
        k = 0;
    tb__swim_suspicion_bounds(&sw->cfg.profile, sw->n_nodes, &s->min_ms, &s->max_ms);
    s->k = k;
    s->start_ms = now;
    s->change_ms = n->state_change_ms;
    s->deadline_ms = now + (k >= 1 ? s->max_ms : s->min_ms);
    s->from = malloc(sizeof *s->from);
    if (s->from && (s->from[0] = malloc(from.n + 1))) {
        mcpy(s->from[0], from.p, from.n);
        s->from[0][from.n] = 0;
        s->n_from = 1;
    }
    n->priv = s;
    sw->n_susp++;
}

/* A new independent confirmation shortens the timeout (Lifeguard). */
static bool confirm(suspicion_t *s, tb__gw_bytes_t from)
{
    if (s->n >= s->k)
        return false;
    for (size_t i = 0; i < s->n_from; i++)
        if (strlen(s->from[i]) == from.n && mcmp(s->from[i], from.p, from.n) == 0)
            return false;
    char **f = realloc(s->from, (s->n_from + 1) * sizeof *f);
    if (!f)
        return false;
    s->from = f;
    if (!(f[s->n_from] = malloc(from.n + 1)))
        return false;
    mcpy(f[s->n_from], from.p, from.n);
    f[s->n_from][from.n] = 0;
    s->n_from++;
    s->n++;
    double frac = log((double)s->n + 1.0) / log((double)s->k + 1.0);
    double t = (double)s->max_ms - frac * (double)(s->max_ms - s->min_ms);
    uint64_t timeout = t < (double)s->min_ms ? s->min_ms : (uint64_t)t;
    s->deadline_ms = s->start_ms + timeout;
    return true;
}

static void handle_alive(tb__swim_t *sw, const tb__gw_msg_t *a, uint64_t now, const uint8_t *raw,
                         size_t rawlen)
{
    bool local = is_me(sw, a->node);
    if (sw->leaving && local)
        return;
    if (a->vsn_len >= 3 && (a->vsn[0] == 0 || a->vsn[1] == 0 || a->vsn[0] > a->vsn[1]))
        return;
    if (a->meta.n > TB__GW_META_MAX || a->addr.n > 16 || a->node.n == 0)
        return;
    tb__swim_node_t *n = find(sw, a->node.p, a->node.n);
    bool updates_addr = false;
    if (!n) {
        if (!(n = node_add(sw, a->node.p, a->node.n)))
            return;
        mcpy(n->addr, a->addr.p, a->addr.n);
        n->addr_len = (uint8_t)a->addr.n;
        n->port = a->port;
        n->state_change_ms = now;
    } else if (n->addr_len != a->addr.n || mcmp(n->addr, a->addr.p, a->addr.n) ||
               n->port != a->port) {
        bool reclaim = n->state == TB__SWIM_LEFT ||
                       (n->state == TB__SWIM_DEAD && sw->cfg.profile.dead_node_reclaim_ms &&
                        now - n->state_change_ms > sw->cfg.profile.dead_node_reclaim_ms);
        if (!reclaim) {
            if (sw->d.notify_conflict)
                sw->d.notify_conflict(sw->d.ctx, n, a);
            return;
        }
        updates_addr = true;
    }
    if (!local && a->incarnation <= n->incarnation && !updates_addr && n->incarnation)
        return;
    if (local && a->incarnation < n->incarnation)
        return;
    free_suspicion(sw, n);
    if (local) {
        if (a->incarnation == n->incarnation && a->meta.n == n->meta_len &&
            (!a->meta.n || !mcmp(a->meta.p, n->meta, a->meta.n)) && a->vsn_len == 6 &&
            !mcmp(a->vsn, n->vsn, 6))
            return;
        refute(sw, a->incarnation);
        return;
    }
    tb__gw_buf_t b;
    tb__gw_buf_init(&b);
    tb__gw_buf_put(&b, raw, rawlen);
    broadcast(sw, n, &b, false);
    bool meta_changed = a->meta.n != n->meta_len ||
                        (a->meta.n && mcmp(a->meta.p, n->meta, a->meta.n));
    if (meta_changed)
        set_meta(n, a->meta.p, a->meta.n);
    if (a->vsn_len == 6)
        mcpy(n->vsn, a->vsn, 6);
    mcpy(n->addr, a->addr.p, a->addr.n);
    n->addr_len = (uint8_t)a->addr.n;
    n->port = a->port;
    n->incarnation = a->incarnation;
    uint8_t old = n->state;
    if (n->state != TB__SWIM_ALIVE) {
        n->state = TB__SWIM_ALIVE;
        n->state_change_ms = now;
    }
    if (old == TB__SWIM_DEAD || old == TB__SWIM_LEFT) {
        if (sw->d.notify_join)
            sw->d.notify_join(sw->d.ctx, n);
    } else if (meta_changed && sw->d.notify_update) {
        sw->d.notify_update(sw->d.ctx, n);
    }
}

static void handle_suspect(tb__swim_t *sw, const tb__gw_msg_t *s, uint64_t now,
                           const uint8_t *raw, size_t rawlen)
{
    tb__swim_node_t *n = find(sw, s->node.p, s->node.n);
    if (!n || s->incarnation < n->incarnation)
        return;
    if (n->priv) {
        if (confirm(n->priv, s->from)) {
            tb__gw_buf_t b;
            tb__gw_buf_init(&b);
            tb__gw_buf_put(&b, raw, rawlen);
            broadcast(sw, n, &b, false);
        }
        return;
    }
    if (n->state != TB__SWIM_ALIVE)
        return;
    if (n == sw->me) {
        refute(sw, s->incarnation);
        return;
    }
    tb__gw_buf_t b;
    tb__gw_buf_init(&b);
    tb__gw_buf_put(&b, raw, rawlen);
    broadcast(sw, n, &b, false);
    n->incarnation = s->incarnation;
    n->state = TB__SWIM_SUSPECT;
    n->state_change_ms = now;
    sw->stats.suspicions++;
    start_suspicion(sw, n, s->from, now);
}

static void handle_dead(tb__swim_t *sw, const tb__gw_msg_t *d, uint64_t now, const uint8_t *raw,
                        size_t rawlen)
{
    tb__swim_node_t *n = find(sw, d->node.p, d->node.n);
    if (!n || d->incarnation < n->incarnation)
        return;
    free_suspicion(sw, n);
    if (n->state == TB__SWIM_DEAD || n->state == TB__SWIM_LEFT)
        return;
    if (n == sw->me && !sw->leaving) {
        refute(sw, d->incarnation);
        return;
    }
    tb__gw_buf_t b;
    tb__gw_buf_init(&b);
    tb__gw_buf_put(&b, raw, rawlen);
    broadcast(sw, n, &b, n == sw->me);
    n->incarnation = d->incarnation;
    bool left = d->from.n == d->node.n && !mcmp(d->from.p, d->node.p, d->node.n);
    n->state = left ? TB__SWIM_LEFT : TB__SWIM_DEAD;
    n->state_change_ms = now;
    if (!left)
        sw->stats.deaths++;
    if (sw->d.notify_leave)
        sw->d.notify_leave(sw->d.ctx, n);
}

/* Apply a locally generated suspect/dead as if received. */
static void local_sd(tb__swim_t *sw, uint8_t type, tb__swim_node_t *n, uint32_t inc, uint64_t now)
{
    tb__gw_buf_t b;
    tb__gw_buf_init(&b);
    enc_sd(type, sw->me->name, sw->me->name_len, n, inc, &b);
    tb__gw_msg_t m;
    if (!b.oom && tb__gw_msg_decode(b.data, b.len, &m) == 0) {
        if (type == TB__GW_SUSPECT)
            handle_suspect(sw, &m, now, b.data, b.len);
        else
            handle_dead(sw, &m, now, b.data, b.len);
    }
    tb__gw_buf_free(&b);
}

/* ----------------------------------------------------- UDP handling */

static void send_ack(tb__swim_t *sw, const uint8_t *addr, size_t alen, uint16_t port,
                     uint32_t seq)
{
    tb__gw_msg_t m;
    memset(&m, 0, sizeof m);
    m.type = TB__GW_ACK;
    m.seq = seq;
    tb__gw_buf_t b;
    tb__gw_buf_init(&b);
    tb__gw_msg_encode(&m, &b);
    send_msg(sw, addr, alen, port, &b, false);
}

typedef struct {
    tb__swim_t *sw;
    uint64_t now;
    const uint8_t *addr;
    size_t alen;
    uint16_t port;
} rx_t;

static void handle_ack(tb__swim_t *sw, uint32_t seq, bool is_nack)
{
    if (sw->probing && seq == sw->probe_seq) {
        if (is_nack) {
            sw->nacks++;
            return;
        }
        /* success: awareness -1 */
        sw->probing = false;
        if (sw->awareness > 0)
            sw->awareness--;
        return;
    }
    for (size_t i = 0; i < sw->n_relays; i++) {
        relay_t *r = &sw->relays[i];
        if (r->local_seq != seq || is_nack)
            continue;
        send_ack(sw, r->addr, r->alen, r->port, r->orig_seq);
        sw->relays[i] = sw->relays[--sw->n_relays];
        return;
    }
}

static int on_leaf(void *ctx, const uint8_t *buf, size_t len)
{
    rx_t *rx = ctx;
    tb__swim_t *sw = rx->sw;
    tb__gw_msg_t m;
    int r = tb__gw_msg_decode(buf, len, &m);
    if (r)
        return r;
    switch (m.type) {
    case TB__GW_PING:
        if (m.node.n && !is_me(sw, m.node))
            return 0; /* meant for another node at our old address */
        if (m.source_addr.n && m.source_addr.n <= 16 && m.source_port)
            send_ack(sw, m.source_addr.p, m.source_addr.n, m.source_port, m.seq);
        else
            send_ack(sw, rx->addr, rx->alen, rx->port, m.seq);
        break;
    case TB__GW_INDIRECT_PING: {
        tb__swim_node_t *t = find(sw, m.node.p, m.node.n);
        if (m.target.n == 0 || m.target.n > 16 || sw->n_relays > 1024)
            return 0;
        uint32_t seq = ++sw->seq;
        tb__gw_msg_t p;
        memset(&p, 0, sizeof p);
        p.type = TB__GW_PING;
        p.node = m.node;
        p.seq = seq;
        p.source_addr = bs(sw->me->addr, sw->me->addr_len);
        p.source_node = bs(sw->me->name, sw->me->name_len);
        p.source_port = sw->me->port;
        tb__gw_buf_t b;
        tb__gw_buf_init(&b);
        tb__gw_msg_encode(&p, &b);
        uint16_t port = m.port ? m.port : sw->me->port;
        send_msg(sw, m.target.p, m.target.n, port, &b, false);
        (void)t;
        if (sw->n_relays == sw->cap_relays) {
            size_t cap = sw->cap_relays ? sw->cap_relays * 2 : 8;
            relay_t *rp = realloc(sw->relays, cap * sizeof *rp);
            if (!rp)
                return 0;
            sw->relays = rp;
            sw->cap_relays = cap;
        }
        relay_t *rl = &sw->relays[sw->n_relays++];
        memset(rl, 0, sizeof *rl);
        rl->local_seq = seq;
        rl->orig_seq = m.seq;
        if (m.source_addr.n && m.source_addr.n <= 16 && m.source_port) {
            mcpy(rl->addr, m.source_addr.p, m.source_addr.n);
            rl->alen = (uint8_t)m.source_addr.n;
            rl->port = m.source_port;
        } else {
            mcpy(rl->addr, rx->addr, rx->alen);
            rl->alen = (uint8_t)rx->alen;
            rl->port = rx->port;
        }
        rl->nack = m.nack;
        rl->deadline_ms = rx->now + sw->cfg.profile.probe_timeout_ms;
        break;
    }
    case TB__GW_ACK:
        handle_ack(sw, m.seq, false);
        break;
    case TB__GW_NACK:
        handle_ack(sw, m.seq, true);
        break;
    case TB__GW_SUSPECT:
        handle_suspect(sw, &m, rx->now, buf, len);
        break;
    case TB__GW_ALIVE:
        handle_alive(sw, &m, rx->now, buf, len);
        break;
    case TB__GW_DEAD:
        handle_dead(sw, &m, rx->now, buf, len);
        break;
    case TB__GW_USER:
        if (sw->d.notify_msg && m.payload.n)
            sw->d.notify_msg(sw->d.ctx, m.payload.p, m.payload.n);
        break;
    default:
        return TB__GW_ETYPE;
    }
    return 0;
}

int tb__swim_recv_udp(tb__swim_t *sw, uint64_t now_ms, const uint8_t *addr, size_t alen,
                      uint16_t port, const uint8_t *buf, size_t len)
{
    rx_t rx = { sw, now_ms, addr, alen > 16 ? 16 : alen, port };
    sw->stats.udp_in++;
    int r = tb__gw_packet_walk(buf, len, on_leaf, &rx);
    if (r < 0)
        sw->stats.bad_packets++;
    return r;
}

/* ----------------------------------------------------------- probing */

static tb__swim_node_t *next_probe_target(tb__swim_t *sw, uint64_t now)
{
    for (size_t tries = 0; tries <= sw->n_nodes; tries++) {
        if (sw->probe_index >= sw->n_nodes) {
            /* wrap: forget nodes dead for long, reshuffle */
            for (size_t i = 0; i < sw->n_nodes;) {
                tb__swim_node_t *n = sw->nodes[i];
                if (n != sw->me && n->state >= TB__SWIM_DEAD &&
                    now - n->state_change_ms > sw->cfg.profile.gossip_to_dead_ms) {
                    if (n->priv2)
                        q_drop(sw, n->priv2);
                    node_free(sw, n);
                    sw->nodes[i] = sw->nodes[--sw->n_nodes];
                } else {
                    i++;
                }
            }
            hash_rebuild(sw, sw->hash_cap);
            for (size_t i = sw->n_nodes; i > 1; i--) {
                size_t j = rnd(sw, i);
                tb__swim_node_t *t = sw->nodes[i - 1];
                sw->nodes[i - 1] = sw->nodes[j];
                sw->nodes[j] = t;
            }
            sw->probe_index = 0;
            continue;
        }
        tb__swim_node_t *n = sw->nodes[sw->probe_index++];
        if (n == sw->me || n->state == TB__SWIM_DEAD || n->state == TB__SWIM_LEFT)
            continue;
        return n;
    }
    return NULL;
}

static uint64_t scaled_interval(const tb__swim_t *sw)
{
    return (uint64_t)sw->cfg.profile.probe_interval_ms * (uint64_t)(sw->awareness + 1);
}

static void probe_start(tb__swim_t *sw, uint64_t now)
{
    tb__swim_node_t *t = next_probe_target(sw, now);
    if (!t)
        return;
    sw->stats.probes++;
    sw->probing = true;
    sw->probe_phase = 1;
    sw->probe_seq = ++sw->seq;
    free(sw->probe_target);
    sw->probe_target = strdup(t->name);
    sw->probe_start = now;
    sw->probe_deadline = now + sw->cfg.profile.probe_timeout_ms;
    sw->expected_nacks = sw->nacks = 0;
    sw->tcp_ok = false;
    tb__gw_buf_t ping;
    tb__gw_buf_init(&ping);
    enc_ping(sw, t, sw->probe_seq, &ping);
    if (t->state == TB__SWIM_ALIVE) {
        send_msg(sw, t->addr, t->addr_len, t->port, &ping, false);
    } else {
        /* suspect: tell it, so that it can refute quickly */
        tb__gw_buf_t s, c, pkt;
        tb__gw_buf_init(&s);
        tb__gw_buf_init(&c);
        tb__gw_buf_init(&pkt);
        enc_sd(TB__GW_SUSPECT, sw->me->name, sw->me->name_len, t, t->incarnation, &s);
        tb__gw_bytes_t parts[2] = { bs(ping.data, ping.len), bs(s.data, s.len) };
        tb__gw_compound_encode(parts, 2, &c);
        if (t->vsn[1] >= 5)
            tb__gw_crc_wrap(c.data, c.len, &pkt);
        else
            tb__gw_buf_put(&pkt, c.data, c.len);
        emit(sw, TB__SWIM_OUT_UDP, t->addr, t->addr_len, t->port, &pkt, 0, false);
        tb__gw_buf_free(&ping);
        tb__gw_buf_free(&s);
        tb__gw_buf_free(&c);
    }
}

static void probe_indirect(tb__swim_t *sw, uint64_t now)
{
    tb__swim_node_t *t = find(sw, (const uint8_t *)sw->probe_target, strlen(sw->probe_target));
    sw->probe_phase = 2;
    sw->probe_deadline = sw->probe_start + scaled_interval(sw);
    if (!t)
        return;
    sw->stats.indirect_probes++;
    /* k random alive peers, not us, not the target */
    uint32_t k = sw->cfg.profile.indirect_checks, got = 0;
    tb__swim_node_t *picked[16];
    for (size_t tries = 0; got < k && got < 16 && tries < 3 * sw->n_nodes + 8; tries++) {
        tb__swim_node_t *p = sw->nodes[rnd(sw, sw->n_nodes)];
        if (p == sw->me || p == t || p->state != TB__SWIM_ALIVE)
            continue;
        bool dup = false;
        for (uint32_t i = 0; i < got; i++)
            dup |= picked[i] == p;
        if (!dup)
            picked[got++] = p;
    }
    for (uint32_t i = 0; i < got; i++) {
        tb__gw_msg_t m;
        memset(&m, 0, sizeof m);
        m.type = TB__GW_INDIRECT_PING;
        m.seq = sw->probe_seq;
        m.node = bs(t->name, t->name_len);
        m.target = bs(t->addr, t->addr_len);
        m.port = t->port;
        m.nack = picked[i]->vsn[1] >= 4;
        m.source_addr = bs(sw->me->addr, sw->me->addr_len);
        m.source_node = bs(sw->me->name, sw->me->name_len);
        m.source_port = sw->me->port;
        if (m.nack)
            sw->expected_nacks++;
        tb__gw_buf_t b;
        tb__gw_buf_init(&b);
        tb__gw_msg_encode(&m, &b);
        send_msg(sw, picked[i]->addr, picked[i]->addr_len, picked[i]->port, &b, false);
    }
    if (!sw->cfg.profile.disable_tcp_pings && t->vsn[1] >= 3) {
        tb__gw_buf_t b;
        tb__gw_buf_init(&b);
        enc_ping(sw, t, sw->probe_seq, &b);
        emit(sw, TB__SWIM_OUT_TCP_PING, t->addr, t->addr_len, t->port, &b, sw->probe_seq, false);
    }
    (void)now;
}

static void probe_fail(tb__swim_t *sw, uint64_t now)
{
    sw->probing = false;
    if (sw->tcp_ok) {
        /* "was able to connect ... but other probes failed" */
        sw->stats.tcp_fallback_ok++;
        return;
    }
    sw->stats.probe_failures++;
    int delta = sw->expected_nacks ? (int)(sw->expected_nacks - (sw->nacks < sw->expected_nacks ?
                                                                 sw->nacks : sw->expected_nacks))
                                   : 1;
    sw->awareness += delta;
    if (sw->awareness > (int)sw->cfg.profile.awareness_max - 1)
        sw->awareness = (int)sw->cfg.profile.awareness_max - 1;
    tb__swim_node_t *t = find(sw, (const uint8_t *)sw->probe_target, strlen(sw->probe_target));
    /* on a node already suspect this counts as our confirmation */
    if (t && (t->state == TB__SWIM_ALIVE || t->state == TB__SWIM_SUSPECT))
        local_sd(sw, TB__GW_SUSPECT, t, t->incarnation, now);
}

void tb__swim_tcp_ping_result(tb__swim_t *sw, uint64_t now_ms, uint32_t seq, bool ok)
{
    (void)now_ms;
    if (sw->probing && seq == sw->probe_seq && ok)
        sw->tcp_ok = true;
}

/* ------------------------------------------------------------ gossip */

static void gossip(tb__swim_t *sw, uint64_t now)
{
    uint32_t want = sw->cfg.profile.gossip_nodes, got = 0;
    tb__swim_node_t *picked[16];
    for (size_t tries = 0; got < want && got < 16 && tries < 3 * sw->n_nodes + 8; tries++) {
        tb__swim_node_t *p = sw->nodes[rnd(sw, sw->n_nodes)];
        if (p == sw->me)
            continue;
        if (p->state >= TB__SWIM_DEAD &&
            now - p->state_change_ms > sw->cfg.profile.gossip_to_dead_ms)
            continue;
        if (p->state == TB__SWIM_LEFT)
            continue;
        bool dup = false;
        for (uint32_t i = 0; i < got; i++)
            dup |= picked[i] == p;
        if (!dup)
            picked[got++] = p;
    }
    size_t enc = sw->cfg.encrypted ? TB__GW_ENC_OVERHEAD : 0;
    size_t limit = sw->cfg.profile.udp_buffer - 2 - enc;
    for (uint32_t i = 0; i < got; i++) {
        tb__gw_bytes_t parts[255];
        uint8_t *tmp[255];
        int ntmp = 0;
        int n = take_broadcasts(sw, 2, limit, parts, 255, tmp, &ntmp);
        if (n == 0)
            break;
        tb__gw_buf_t c, pkt;
        tb__gw_buf_init(&c);
        tb__gw_buf_init(&pkt);
        if (n == 1)
            tb__gw_buf_put(&c, parts[0].p, parts[0].n);
        else
            tb__gw_compound_encode(parts, n, &c);
        tb__gw_crc_wrap(c.data, c.len, &pkt);
        for (int k = 0; k < ntmp; k++)
            free(tmp[k]);
        tb__gw_buf_free(&c);
        emit(sw, TB__SWIM_OUT_UDP, picked[i]->addr, picked[i]->addr_len, picked[i]->port, &pkt,
             0, false);
    }
}

/* ---------------------------------------------------------- push/pull */

static void local_push_pull(tb__swim_t *sw, bool join, tb__gw_buf_t *out)
{
    tb__gw_node_state_t *ns = calloc(sw->n_nodes + 1, sizeof *ns);
    if (!ns) {
        out->oom = true;
        return;
    }
    for (size_t i = 0; i < sw->n_nodes; i++) {
        tb__swim_node_t *n = sw->nodes[i];
        ns[i].name = bs(n->name, n->name_len);
        ns[i].addr = bs(n->addr, n->addr_len);
        ns[i].meta = bs(n->meta ? n->meta : (const uint8_t *)"", n->meta_len);
        ns[i].incarnation = n->incarnation;
        ns[i].port = n->port;
        ns[i].state = n->state;
        mcpy(ns[i].vsn, n->vsn, 6);
        ns[i].vsn_len = 6;
    }
    tb__gw_buf_t user;
    tb__gw_buf_init(&user);
    if (sw->d.local_state)
        sw->d.local_state(sw->d.ctx, join, &user);
    tb__gw_push_pull_encode(join, ns, sw->n_nodes, user.data, user.len, out);
    tb__gw_buf_free(&user);
    free(ns);
}

static void merge_remote(tb__swim_t *sw, uint64_t now, const tb__gw_push_pull_t *pp)
{
    for (size_t i = 0; i < pp->n_nodes; i++) {
        const tb__gw_node_state_t *s = &pp->nodes[i];
        tb__gw_msg_t m;
        tb__gw_buf_t b;
        memset(&m, 0, sizeof m);
        tb__gw_buf_init(&b);
        m.node = s->name;
        m.incarnation = s->incarnation;
        if (s->state == TB__GW_STATE_ALIVE) {
            m.type = TB__GW_ALIVE;
            m.addr = s->addr;
            m.meta = s->meta;
            m.port = s->port;
            mcpy(m.vsn, s->vsn, 6);
            m.vsn_len = s->vsn_len;
        } else if (s->state == TB__GW_STATE_LEFT) {
            m.type = TB__GW_DEAD;
            m.from = s->name;
        } else {
            /* a remote opinion of death is only a suspicion here */
            m.type = TB__GW_SUSPECT;
            m.from = bs(sw->me->name, sw->me->name_len);
        }
        tb__gw_msg_encode(&m, &b);
        tb__gw_msg_t d;
        if (!b.oom && tb__gw_msg_decode(b.data, b.len, &d) == 0) {
            if (d.type == TB__GW_ALIVE)
                handle_alive(sw, &d, now, b.data, b.len);
            else if (d.type == TB__GW_DEAD)
                handle_dead(sw, &d, now, b.data, b.len);
            else
                handle_suspect(sw, &d, now, b.data, b.len);
        }
        tb__gw_buf_free(&b);
    }
    if (sw->d.merge_remote_state && pp->user_state.n)
        sw->d.merge_remote_state(sw->d.ctx, pp->user_state.p, pp->user_state.n, pp->join);
}

/* memberlist verifyProtocol: every alive node's current versions must lie
 * inside the range all of them (local and remote) support. */
static int verify_protocol(const tb__swim_t *sw, const tb__gw_push_pull_t *pp)
{
    int lo[2] = { 0, 0 }, hi[2] = { 255, 255 };
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < sw->n_nodes + pp->n_nodes; i++) {
            const uint8_t *v;
            if (i < sw->n_nodes) {
                if (sw->nodes[i]->state != TB__SWIM_ALIVE)
                    continue;
                v = sw->nodes[i]->vsn;
            } else {
                const tb__gw_node_state_t *s = &pp->nodes[i - sw->n_nodes];
                if (s->state != TB__GW_STATE_ALIVE || s->vsn_len < 6)
                    continue;
                v = s->vsn;
            }
            for (int k = 0; k < 2; k++) {
                if (pass == 0) {
                    if (v[3 * k] > lo[k])
                        lo[k] = v[3 * k];
                    if (v[3 * k + 1] < hi[k])
                        hi[k] = v[3 * k + 1];
                } else if (v[3 * k + 2] < lo[k] || v[3 * k + 2] > hi[k]) {
                    return TB__GW_EMALFORMED;
                }
            }
        }
    }
    return 0;
}

int tb__swim_stream_request(tb__swim_t *sw, uint64_t now_ms, const tb__gw_stream_msg_t *sm,
                            tb__gw_buf_t *reply)
{
    if (sm->type == TB__GW_PING) {
        if (sm->msg.node.n && !is_me(sw, sm->msg.node))
            return TB__GW_EMALFORMED;
        tb__gw_msg_t a;
        memset(&a, 0, sizeof a);
        a.type = TB__GW_ACK;
        a.seq = sm->msg.seq;
        return tb__gw_msg_encode(&a, reply);
    }
    if (sm->type == TB__GW_USER) {
        if (sw->d.notify_msg && sm->user.n)
            sw->d.notify_msg(sw->d.ctx, sm->user.p, sm->user.n);
        return 0;
    }
    if (sm->type != TB__GW_PUSH_PULL)
        return TB__GW_ETYPE;
    sw->stats.push_pulls++;
    local_push_pull(sw, sm->pp.join, reply);
    int r = verify_protocol(sw, &sm->pp);
    if (r)
        return r;
    merge_remote(sw, now_ms, &sm->pp);
    return 0;
}

int tb__swim_stream_reply(tb__swim_t *sw, uint64_t now_ms, uint32_t id,
                          const tb__gw_stream_msg_t *sm)
{
    (void)id;
    if (!sm)
        return TB__GW_ETRUNC;
    if (sm->type == TB__GW_ERR)
        return TB__GW_EMALFORMED; /* "remote error" */
    if (sm->type != TB__GW_PUSH_PULL)
        return TB__GW_ETYPE;
    int r = verify_protocol(sw, &sm->pp);
    if (r)
        return r;
    sw->stats.push_pulls++;
    merge_remote(sw, now_ms, &sm->pp);
    return 0;
}

/* Members that join at about the same time learn of each other only from
 * gossip, and a rumour is sent retransmit_limit times per node that learns
 * it (8 at N = 11..100): with N^2/2 such pairs a node misses one member with
 * a probability that is not small at N ~ 50 (gsim: 2 seeds in 6), and then
 * waits for the periodic push/pull (30 s x scale). So one extra push/pull
 * with a random member 2 probe intervals after the join, when that member
 * has heard most of the join storm (gsim N = 50..200: all seeds <= 2 s). */
#define JOIN_FOLLOWUP_PROBES 2

uint32_t tb__swim_join(tb__swim_t *sw, uint64_t now_ms, const uint8_t *addr, size_t alen,
                       uint16_t port)
{
    uint64_t followup = now_ms + JOIN_FOLLOWUP_PROBES * (uint64_t)sw->cfg.profile.probe_interval_ms;
    if (sw->cfg.profile.push_pull_interval_ms && followup < sw->next_push_pull)
        sw->next_push_pull = followup;
    tb__gw_buf_t b;
    tb__gw_buf_init(&b);
    local_push_pull(sw, true, &b);
    uint32_t id = ++sw->stream_id;
    emit(sw, TB__SWIM_OUT_PUSH_PULL, addr, alen, port, &b, id, true);
    return id;
}

static uint64_t push_pull_scale(uint64_t interval, size_t n)
{
    if (n <= 32)
        return interval;
    double mult = ceil(log2((double)n) - log2(32.0)) + 1.0;
    return (uint64_t)(mult * (double)interval);
}

static void periodic_push_pull(tb__swim_t *sw)
{
    for (size_t tries = 0; tries < 3 * sw->n_nodes + 8; tries++) {
        tb__swim_node_t *p = sw->nodes[rnd(sw, sw->n_nodes)];
        if (p == sw->me || p->state != TB__SWIM_ALIVE)
            continue;
        tb__gw_buf_t b;
        tb__gw_buf_init(&b);
        local_push_pull(sw, false, &b);
        emit(sw, TB__SWIM_OUT_PUSH_PULL, p->addr, p->addr_len, p->port, &b, ++sw->stream_id,
             false);
        return;
    }
}

/* -------------------------------------------------------------- tick */

void tb__swim_tick(tb__swim_t *sw, uint64_t now)
{
    /* suspicion timers */
    for (size_t i = 0; sw->n_susp && i < sw->n_nodes; i++) {
        tb__swim_node_t *n = sw->nodes[i];
        suspicion_t *s = n->priv;
        if (!s || now < s->deadline_ms)
            continue;
        bool still = n->state == TB__SWIM_SUSPECT && n->state_change_ms == s->change_ms;
        free_suspicion(sw, n);
        if (still)
            local_sd(sw, TB__GW_DEAD, n, n->incarnation, now);
    }
    /* relays we serve: nack the originator if the target kept silent */
    for (size_t i = 0; i < sw->n_relays;) {
        relay_t *r = &sw->relays[i];
        if (now < r->deadline_ms) {
            i++;
            continue;
        }
        if (r->nack) {
            tb__gw_msg_t m;
            memset(&m, 0, sizeof m);
            m.type = TB__GW_NACK;
            m.seq = r->orig_seq;
            tb__gw_buf_t b;
            tb__gw_buf_init(&b);
            tb__gw_msg_encode(&m, &b);
            send_msg(sw, r->addr, r->alen, r->port, &b, false);
        }
        sw->relays[i] = sw->relays[--sw->n_relays];
    }
    /* probe in flight */
    if (sw->probing && now >= sw->probe_deadline) {
        if (sw->probe_phase == 1)
            probe_indirect(sw, now);
        else
            probe_fail(sw, now);
    }
    if (!sw->probing && now >= sw->next_probe && !sw->leaving) {
        uint64_t start = now;
        probe_start(sw, now);
        sw->next_probe = start + sw->cfg.profile.probe_interval_ms;
    }
    if (now >= sw->next_gossip) {
        gossip(sw, now);
        sw->next_gossip = now + sw->cfg.profile.gossip_interval_ms;
    }
    if (sw->cfg.profile.push_pull_interval_ms && now >= sw->next_push_pull) {
        periodic_push_pull(sw);
        sw->next_push_pull =
            now + push_pull_scale(sw->cfg.profile.push_pull_interval_ms, sw->n_nodes);
    }
}

/* Only timers that tb__swim_tick acts on and re-arms count: a leaving node
 * starts no probes (next_probe stays in the past) and push_pull_interval_ms
 * 0 disables push/pull, so either would otherwise make the deadline lie
 * behind `now` forever and the caller's timer spin. */
uint64_t tb__swim_next_deadline(const tb__swim_t *sw)
{
    uint64_t t = sw->next_gossip;
    if (sw->next_probe < t && !sw->probing && !sw->leaving)
        t = sw->next_probe;
    if (sw->probing && sw->probe_deadline < t)
        t = sw->probe_deadline;
    if (sw->cfg.profile.push_pull_interval_ms && sw->next_push_pull < t)
        t = sw->next_push_pull;
    for (size_t i = 0; i < sw->n_relays; i++)
        if (sw->relays[i].deadline_ms < t)
            t = sw->relays[i].deadline_ms;
    for (size_t i = 0; sw->n_susp && i < sw->n_nodes; i++) {
        const suspicion_t *s = sw->nodes[i]->priv;
        if (s && s->deadline_ms < t)
            t = s->deadline_ms;
    }
    return t;
}

/* ------------------------------------------------------- lifecycle */

tb__swim_t *tb__swim_new(const tb__swim_config_t *cfg, uint64_t now)
{
    tb__swim_t *sw = calloc(1, sizeof *sw);
    if (!sw)
        return NULL;
    sw->cfg = *cfg;
    sw->d = cfg->delegate;
    sw->rng = cfg->seed ? cfg->seed : 0x9E3779B97F4A7C15ULL;
    for (int i = 0; i < 4; i++)
        tb__swim_random(sw);
    size_t nl = strlen(cfg->name);
    tb__swim_node_t *me = node_add(sw, (const uint8_t *)cfg->name, nl);
    if (!me) {
        tb__swim_free(sw);
        return NULL;
    }
    sw->me = me;
    mcpy(me->addr, cfg->addr, cfg->addr_len);
    me->addr_len = cfg->addr_len;
    me->port = cfg->port;
    bool zero = true;
    for (int i = 0; i < 6; i++)
        zero &= cfg->vsn[i] == 0;
    mcpy(me->vsn, zero ? default_vsn : cfg->vsn, 6);
    set_meta(me, cfg->meta, cfg->meta_len);
    me->incarnation = sw->incarnation = 1;
    me->state = TB__SWIM_ALIVE;
    me->state_change_ms = now;
    sw->cfg.name = me->name;
    sw->cfg.meta = NULL;
    /* gossip our own alive like any other */
    tb__gw_buf_t b;
    tb__gw_buf_init(&b);
    enc_alive(sw, me, &b);
    broadcast(sw, me, &b, false);
    /* random stagger of the periodic timers */
    const tb__swim_profile_t *p = &cfg->profile;
    sw->next_probe = now + rnd(sw, p->probe_interval_ms);
    sw->next_gossip = now + rnd(sw, p->gossip_interval_ms);
    sw->next_push_pull = now + p->push_pull_interval_ms / 2 + rnd(sw, p->push_pull_interval_ms);
    return sw;
}

void tb__swim_free(tb__swim_t *sw)
{
    if (!sw)
        return;
    for (int t = 0; t < TIERS; t++)
        while (sw->tier[t])
            q_drop(sw, sw->tier[t]);
    for (size_t i = 0; i < sw->n_nodes; i++)
        node_free(sw, sw->nodes[i]);
    free(sw->nodes);
    free(sw->hash);
    for (size_t i = sw->out_head; i < sw->n_out; i++)
        free(sw->out[i].buf);
    free(sw->out);
    free(sw->relays);
    free(sw->probe_target);
    free(sw);
}

void tb__swim_leave(tb__swim_t *sw, uint64_t now_ms)
{
    if (sw->leaving)
        return;
    sw->leaving = true;
    tb__gw_buf_t b;
    tb__gw_buf_init(&b);
    enc_sd(TB__GW_DEAD, sw->me->name, sw->me->name_len, sw->me, sw->me->incarnation, &b);
    tb__gw_msg_t m;
    if (!b.oom && tb__gw_msg_decode(b.data, b.len, &m) == 0)
        handle_dead(sw, &m, now_ms, b.data, b.len);
    tb__gw_buf_free(&b);
}

bool tb__swim_leave_done(const tb__swim_t *sw)
{
    if (!sw->leaving)
        return false;
    if (!tb__swim_others_alive(sw))
        return true;
    return sw->leave_msg == NULL;
}

int tb__swim_set_meta(tb__swim_t *sw, uint64_t now_ms, const uint8_t *meta, size_t len)
{
    (void)now_ms;
    if (len > TB__GW_META_MAX)
        return TB__GW_EOVERSIZE;
    if (set_meta(sw->me, meta, len))
        return TB__GW_ENOMEM;
    sw->me->incarnation = ++sw->incarnation;
    tb__gw_buf_t b;
    tb__gw_buf_init(&b);
    enc_alive(sw, sw->me, &b);
    broadcast(sw, sw->me, &b, false);
    return 0;
}

size_t tb__swim_queue_len(const tb__swim_t *sw)
{
    return sw->n_q;
}

void tb__swim_drop_broadcasts(tb__swim_t *sw)
{
    for (int t = 0; t < TIERS; t++)
        while (sw->tier[t])
            q_drop(sw, sw->tier[t]);
}

size_t tb__swim_num_nodes(const tb__swim_t *sw)
{
    return sw->n_nodes;
}

const tb__swim_node_t *tb__swim_node_at(const tb__swim_t *sw, size_t i)
{
    return i < sw->n_nodes ? sw->nodes[i] : NULL;
}

const tb__swim_node_t *tb__swim_find(const tb__swim_t *sw, const char *name, size_t len)
{
    return find(sw, (const uint8_t *)name, len);
}

const tb__swim_node_t *tb__swim_local(const tb__swim_t *sw)
{
    return sw->me;
}

/* memberlist's anyAlive: our own entry is left while leaving, so a plain
 * count of 1 may be the one peer that still has to hear the leave. */
bool tb__swim_others_alive(const tb__swim_t *sw)
{
    for (size_t i = 0; i < sw->n_nodes; i++)
        if (sw->nodes[i] != sw->me &&
            (sw->nodes[i]->state == TB__SWIM_ALIVE || sw->nodes[i]->state == TB__SWIM_SUSPECT))
            return true;
    return false;
}

size_t tb__swim_num_alive(const tb__swim_t *sw)
{
    size_t n = 0;
    for (size_t i = 0; i < sw->n_nodes; i++)
        n += sw->nodes[i]->state == TB__SWIM_ALIVE || sw->nodes[i]->state == TB__SWIM_SUSPECT;
    return n;
}

int tb__swim_health_score(const tb__swim_t *sw)
{
    return sw->awareness;
}

const tb__swim_stats_t *tb__swim_stats(const tb__swim_t *sw)
{
    return &sw->stats;
}
