/*
 * serf.c - serf 0.9.4's membership/event layer over tb__swim (spec
 * gossip-wire.md §9): Lamport clocks, intents, user events, queries,
 * push/pull user state, reconnect and reaping. No I/O, no clock.
 *
 * Received serf messages that are new to us are re-broadcast byte for byte
 * (so LTime and names survive unchanged), through three transmit-limited
 * queues in serf's order: intents, queries, events.
 */
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gossip/serf.h"

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

#define EVENT_BUFFER 512
#define QUERY_BUFFER 512
#define MAX_INTENTS 4096

typedef struct {
    uint8_t *buf;
    size_t len;
    uint32_t transmits;
    uint64_t round;
} sq_item_t;

typedef struct {
    sq_item_t *v;
    size_t n, cap;
} squeue_t;

typedef struct {
    uint64_t ltime;
    size_t n;
    struct {
        uint8_t *name, *payload;
        size_t name_len, payload_len;
    } *ev;
} ev_slot_t;

typedef struct {
    uint64_t ltime;
    size_t n;
    uint32_t *ids;
} q_slot_t;

/* A query we sent: responses are collected until its deadline, once per
 * responding node (serf's QueryResponse dedup). */
typedef struct {
    uint32_t id;
    uint64_t ltime, deadline;
    char **from;
    size_t n_from;
} pending_q_t;

typedef struct {
    char *node;
    uint64_t ltime;
    int type; /* TB__SERF_JOIN / TB__SERF_LEAVE */
    uint64_t when_ms;
} intent_t;

struct tb__serf {
    tb__serf_config_t cfg;
    tb__swim_t *sw;
    uint64_t now;

    tb__serf_member_t **members;
    size_t n_members, cap_members;
    tb__serf_member_t **hash;
    size_t hash_cap;

    uint64_t clock, event_clock, query_clock;
    uint64_t event_min_time, query_min_time;
    ev_slot_t events[EVENT_BUFFER];
    q_slot_t queries[QUERY_BUFFER];

    intent_t *intents;
    size_t n_intents, cap_intents;

    squeue_t q_intents, q_queries, q_events;
    uint64_t round;
    uint8_t *last_taken; /* scratch for get_broadcasts */

    tb__serf_event_t *out;
    size_t n_out, cap_out, out_head;

    uint32_t *join_ids;
    size_t n_join_ids;

    pending_q_t *pq;
    size_t n_pq;

    bool leaving, left_ml;
    uint64_t leave_deadline;
    uint64_t next_reap, next_reconnect;
    uint64_t rng;
};

/* --------------------------------------------------------- utilities */

static uint64_t rnd(tb__serf_t *s)
{
    uint64_t x = s->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static void witness(uint64_t *clock, uint64_t v)
{
    if (v >= *clock)
        *clock = v + 1;
}

static uint8_t *dup_bytes(const void *p, size_t n)
{
    uint8_t *d = malloc(n + 1);
    if (d) {
        if (n)
            mcpy(d, p, n);
        d[n] = 0;
    }
    return d;
}

void tb__serf_event_clear(tb__serf_event_t *ev)
{
    free(ev->name);
    free(ev->payload);
    memset(ev, 0, sizeof *ev);
}

static void push_event(tb__serf_t *s, int type, const void *name, size_t nlen,
                       const void *payload, size_t plen, uint64_t ltime)
{
    if (s->n_out == s->cap_out) {
        size_t cap = s->cap_out ? s->cap_out * 2 : 16;
        tb__serf_event_t *p = realloc(s->out, cap * sizeof *p);
        if (!p)
            return;
        s->out = p;
        s->cap_out = cap;
    }
    tb__serf_event_t *e = &s->out[s->n_out++];
    memset(e, 0, sizeof *e);
    e->type = type;
    e->name = (char *)dup_bytes(name, nlen);
    e->payload = plen ? dup_bytes(payload, plen) : NULL;
    e->payload_len = plen;
    e->ltime = ltime;
}

bool tb__serf_poll(tb__serf_t *s, tb__serf_event_t *ev)
{
    if (s->out_head >= s->n_out) {
        s->out_head = s->n_out = 0;
        return false;
    }
    *ev = s->out[s->out_head++];
    return true;
}

/* ------------------------------------------------------------ members */

static uint32_t hname(const char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)p[i]) * 16777619u;
    return h;
}

static void mhash_put(tb__serf_member_t **h, size_t cap, tb__serf_member_t *m)
{
    size_t j = hname(m->name, strlen(m->name)) & (cap - 1);
    while (h[j])
        j = (j + 1) & (cap - 1);
    h[j] = m;
}

static int mhash_rebuild(tb__serf_t *s, size_t cap)
{
    tb__serf_member_t **h = calloc(cap, sizeof *h);
    if (!h)
        return -1;
    for (size_t i = 0; i < s->n_members; i++)
        mhash_put(h, cap, s->members[i]);
    free(s->hash);
    s->hash = h;
    s->hash_cap = cap;
    return 0;
}

static tb__serf_member_t *mfind(const tb__serf_t *s, const void *name, size_t n)
{
    if (!s->hash_cap)
        return NULL;
    size_t j = hname(name, n) & (s->hash_cap - 1);
    while (s->hash[j]) {
        tb__serf_member_t *m = s->hash[j];
        if (strlen(m->name) == n && mcmp(m->name, name, n) == 0)
            return m;
        j = (j + 1) & (s->hash_cap - 1);
    }
    return NULL;
}

static tb__serf_member_t *madd(tb__serf_t *s, const void *name, size_t n)
{
    if (s->n_members == s->cap_members) {
        size_t cap = s->cap_members ? s->cap_members * 2 : 16;
        tb__serf_member_t **p = realloc(s->members, cap * sizeof *p);
        if (!p)
            return NULL;
        s->members = p;
        s->cap_members = cap;
    }
    tb__serf_member_t *m = calloc(1, sizeof *m);
    if (!m || !(m->name = (char *)dup_bytes(name, n))) {
        free(m);
        return NULL;
    }
    s->members[s->n_members++] = m;
    if (s->n_members * 2 > s->hash_cap)
        mhash_rebuild(s, s->hash_cap ? s->hash_cap * 2 : 32);
    else
        mhash_put(s->hash, s->hash_cap, m);
    return m;
}

static void mfree(tb__serf_member_t *m)
{
    free(m->name);
    free(m->meta);
    free(m);
}

static void mset_node(tb__serf_member_t *m, const tb__swim_node_t *n)
{
    mcpy(m->addr, n->addr, 16);
    m->addr_len = n->addr_len;
    m->port = n->port;
    free(m->meta);
    m->meta = n->meta_len ? dup_bytes(n->meta, n->meta_len) : NULL;
    m->meta_len = m->meta ? n->meta_len : 0;
}

static void member_event(tb__serf_t *s, int type, const tb__serf_member_t *m)
{
    push_event(s, type, m->name, strlen(m->name), m->meta, m->meta_len, m->status_ltime);
    tb__serf_event_t *e = &s->out[s->n_out - 1];
    mcpy(e->addr, m->addr, 16);
    e->addr_len = m->addr_len;
    e->port = m->port;
}

/* ------------------------------------------------------------ intents */

static intent_t *intent_find(tb__serf_t *s, const void *node, size_t n)
{
    for (size_t i = 0; i < s->n_intents; i++)
        if (strlen(s->intents[i].node) == n && !mcmp(s->intents[i].node, node, n))
            return &s->intents[i];
    return NULL;
}

/* recentIntents: newest LTime per node wins. Returns true if it changed. */
static bool intent_upsert(tb__serf_t *s, const void *node, size_t n, int type, uint64_t ltime)
{
    intent_t *in = intent_find(s, node, n);
    if (in) {
        if (ltime <= in->ltime)
            return false;
        in->ltime = ltime;
        in->type = type;
        in->when_ms = s->now;
        return true;
    }
    if (s->n_intents >= MAX_INTENTS)
        return false;
    if (s->n_intents == s->cap_intents) {
        size_t cap = s->cap_intents ? s->cap_intents * 2 : 16;
        intent_t *p = realloc(s->intents, cap * sizeof *p);
        if (!p)
            return false;
        s->intents = p;
        s->cap_intents = cap;
    }
    intent_t *e = &s->intents[s->n_intents++];
    e->node = (char *)dup_bytes(node, n);
    e->ltime = ltime;
    e->type = type;
    e->when_ms = s->now;
    return true;
}

/* ------------------------------------------------------------- queues */

static void squeue_add(squeue_t *q, const uint8_t *buf, size_t len)
{
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 8;
        sq_item_t *p = realloc(q->v, cap * sizeof *p);
        if (!p)
            return;
        q->v = p;
        q->cap = cap;
    }
    sq_item_t *it = &q->v[q->n];
    if (!(it->buf = dup_bytes(buf, len)))
        return;
    it->len = len;
    it->transmits = 0;
    it->round = 0;
    q->n++;
}

static void squeue_free(squeue_t *q)
{
    for (size_t i = 0; i < q->n; i++)
        free(q->v[i].buf);
    free(q->v);
    memset(q, 0, sizeof *q);
}

/* Fewest transmits first (one pass per transmit count, so a long queue
 * costs O(queue) per packet); items reaching the limit are dropped at the
 * next call, as the slices handed out must stay valid until then. */
static size_t squeue_take(tb__serf_t *s, squeue_t *q, size_t overhead, size_t *room,
                          tb__gw_bytes_t *out, size_t max, uint32_t lim)
{
    size_t got = 0;
    uint32_t lo = UINT32_MAX;
    for (size_t i = 0; i < q->n; i++)
        if (q->v[i].transmits < lo)
            lo = q->v[i].transmits;
    for (uint32_t t = lo; t < lim && got < max && *room > overhead; t++) {
        for (size_t i = 0; i < q->n && got < max; i++) {
            sq_item_t *it = &q->v[i];
            if (it->transmits != t || it->round == s->round || it->len + overhead > *room)
                continue;
            it->round = s->round;
            it->transmits++;
            out[got].p = it->buf;
            out[got].n = it->len;
            got++;
            *room -= it->len + overhead;
        }
    }
    return got;
}

static void squeue_prune(squeue_t *q, uint32_t lim, size_t keep_max)
{
    for (size_t i = 0; i < q->n;) {
        if (q->v[i].transmits >= lim) {
            free(q->v[i].buf);
            q->v[i] = q->v[--q->n];
        } else {
            i++;
        }
    }
    while (q->n > keep_max) { /* MaxQueueDepth: oldest first */
        free(q->v[0].buf);
        memmove(q->v, q->v + 1, (q->n - 1) * sizeof *q->v);
        q->n--;
    }
}

static uint32_t serf_limit(const tb__serf_t *s)
{
    size_t n = s->cfg.swim.n_hint ? s->cfg.swim.n_hint : s->n_members;
    return tb__swim_retransmit_limit(s->cfg.swim.profile.retransmit_mult, n ? n : 1);
}

static size_t d_get_broadcasts(void *ctx, size_t overhead, size_t limit, tb__gw_bytes_t *out,
                               size_t max)
{
    tb__serf_t *s = ctx;
    uint32_t lim = serf_limit(s);
    /* the slices of the previous call are no longer in use: prune now */
    squeue_prune(&s->q_intents, lim, 4096);
    squeue_prune(&s->q_queries, lim, 4096);
    squeue_prune(&s->q_events, lim, 4096);
    s->round++;
    size_t room = limit, n = 0;
    n += squeue_take(s, &s->q_intents, overhead, &room, out + n, max - n, lim);
    n += squeue_take(s, &s->q_queries, overhead, &room, out + n, max - n, lim);
    n += squeue_take(s, &s->q_events, overhead, &room, out + n, max - n, lim);
    return n;
}

/* ------------------------------------------------------ serf handlers */

static bool handle_join_intent(tb__serf_t *s, const tb__gw_serf_msg_t *m)
{
    if (m->node.n == 0)
        return false;
    witness(&s->clock, m->ltime);
    tb__serf_member_t *mb = mfind(s, m->node.p, m->node.n);
    if (!mb)
        return intent_upsert(s, m->node.p, m->node.n, TB__SERF_JOIN, m->ltime);
    if (m->ltime <= mb->status_ltime)
        return false;
    mb->status_ltime = m->ltime;
    if (mb->status == TB__SERF_STATUS_LEAVING)
        mb->status = TB__SERF_STATUS_ALIVE;
    return true;
}

static void broadcast_join(tb__serf_t *s, uint64_t ltime)
{
    tb__gw_serf_msg_t m;
    memset(&m, 0, sizeof m);
    m.type = TB__SERF_JOIN;
    m.ltime = ltime;
    const tb__swim_node_t *me = tb__swim_local(s->sw);
    m.node.p = (const uint8_t *)me->name;
    m.node.n = me->name_len;
    witness(&s->clock, ltime);
    handle_join_intent(s, &m);
    tb__gw_buf_t b;
    tb__gw_buf_init(&b);
    if (tb__gw_serf_encode(&m, &b) == 0)
        squeue_add(&s->q_intents, b.data, b.len);
    tb__gw_buf_free(&b);
}

static void prune_member(tb__serf_t *s, tb__serf_member_t *mb)
{
    for (size_t i = 0; i < s->n_members; i++)
        if (s->members[i] == mb) {
            member_event(s, TB__SERF_EV_MEMBER_REAP, mb);
            s->members[i] = s->members[--s->n_members];
            mfree(mb);
            mhash_rebuild(s, s->hash_cap);
            return;
        }
}

static bool handle_leave_intent(tb__serf_t *s, const tb__gw_serf_msg_t *m)
{
    if (m->node.n == 0)
        return false;
    witness(&s->clock, m->ltime);
    tb__serf_member_t *mb = mfind(s, m->node.p, m->node.n);
    if (!mb)
        return intent_upsert(s, m->node.p, m->node.n, TB__SERF_LEAVE, m->ltime);
    if (m->ltime <= mb->status_ltime)
        return false;
    const tb__swim_node_t *me = tb__swim_local(s->sw);
    if (m->node.n == me->name_len && !mcmp(m->node.p, me->name, me->name_len) &&
        !s->leaving) {
        broadcast_join(s, s->clock); /* refute */
        return false;
    }
    switch (mb->status) {
    case TB__SERF_STATUS_ALIVE:
        mb->status = TB__SERF_STATUS_LEAVING;
        mb->status_ltime = m->ltime;
        break;
    case TB__SERF_STATUS_FAILED:
        mb->status = TB__SERF_STATUS_LEFT;
        mb->status_ltime = m->ltime;
        member_event(s, TB__SERF_EV_MEMBER_LEAVE, mb); /* forced */
        break;
    case TB__SERF_STATUS_LEAVING:
    case TB__SERF_STATUS_LEFT:
        break;
    default:
        return false;
    }
    if (m->prune && mb->status != TB__SERF_STATUS_LEAVING)
        prune_member(s, mb);
    return true;
}

static bool handle_user_event(tb__serf_t *s, const tb__gw_serf_msg_t *m)
{
    witness(&s->event_clock, m->ltime);
    if (m->ltime < s->event_min_time)
        return false;
    uint64_t cur = s->event_clock;
    if (cur > EVENT_BUFFER && m->ltime < cur - EVENT_BUFFER)
        return false; /* too old */
    ev_slot_t *slot = &s->events[m->ltime % EVENT_BUFFER];
    if (slot->n && slot->ltime == m->ltime) {
        for (size_t i = 0; i < slot->n; i++)
            if (slot->ev[i].name_len == m->name.n && slot->ev[i].payload_len == m->payload.n &&
                (!m->name.n || !mcmp(slot->ev[i].name, m->name.p, m->name.n)) &&
                (!m->payload.n || !mcmp(slot->ev[i].payload, m->payload.p, m->payload.n)))
                return false; /* duplicate */
    } else {
        for (size_t i = 0; i < slot->n; i++) {
            free(slot->ev[i].name);
            free(slot->ev[i].payload);
        }
        slot->n = 0;
        slot->ltime = m->ltime;
    }
    void *p = realloc(slot->ev, (slot->n + 1) * sizeof *slot->ev);
    if (!p)
        return false;
    slot->ev = p;
    slot->ev[slot->n].name = dup_bytes(m->name.p, m->name.n);
    slot->ev[slot->n].name_len = m->name.n;
    slot->ev[slot->n].payload = dup_bytes(m->payload.p, m->payload.n);
    slot->ev[slot->n].payload_len = m->payload.n;
    slot->n++;
    if (!s->cfg.no_events) {
        push_event(s, TB__SERF_EV_USER, m->name.p, m->name.n, m->payload.p, m->payload.n,
                   m->ltime);
        s->out[s->n_out - 1].cc = m->cc;
    }
    return true;
}

/* Query filters: node list and tag regexps (POSIX ERE for Go's RE2). */
static bool query_filters_match(tb__serf_t *s, const tb__gw_serf_msg_t *m)
{
    tb__gw_filter_t f[8];
    int n = tb__gw_filters_decode(m->filters, f, 8);
    if (n < 0)
        return false;
    const tb__swim_node_t *me = tb__swim_local(s->sw);
    for (int i = 0; i < n; i++) {
        if (f[i].type == 0) {
            bool found = false;
            for (int k = 0; k < f[i].n_names; k++)
                found |= f[i].names[k].n == me->name_len &&
                         !mcmp(f[i].names[k].p, me->name, me->name_len);
            if (!found)
                return false;
        } else if (f[i].type == 1) {
            tb__gw_tag_t tags[64];
            int nt = tb__gw_tags_decode(me->meta, me->meta_len, tags, 64);
            char val[512] = "", expr[512];
            for (int k = 0; k < nt; k++)
                if (tags[k].key.n == f[i].tag.n && !mcmp(tags[k].key.p, f[i].tag.p, f[i].tag.n))
                    snprintf(val, sizeof val, "%.*s", (int)tags[k].value.n,
                             (const char *)tags[k].value.p);
            snprintf(expr, sizeof expr, "%.*s", (int)f[i].expr.n, (const char *)f[i].expr.p);
            regex_t re;
            if (regcomp(&re, expr, REG_EXTENDED | REG_NOSUB))
                return false;
            int r = regexec(&re, val, 0, NULL, 0);
            regfree(&re);
            if (r)
                return false;
        } else {
            return false;
        }
    }
    return true;
}

static bool handle_query(tb__serf_t *s, const tb__gw_serf_msg_t *m)
{
    witness(&s->query_clock, m->ltime);
    if (m->ltime < s->query_min_time)
        return false;
    uint64_t cur = s->query_clock;
    if (cur > QUERY_BUFFER && m->ltime < cur - QUERY_BUFFER)
        return false;
    q_slot_t *slot = &s->queries[m->ltime % QUERY_BUFFER];
    if (slot->n && slot->ltime == m->ltime) {
        for (size_t i = 0; i < slot->n; i++)
            if (slot->ids[i] == m->id)
                return false;
    } else {
        slot->n = 0;
        slot->ltime = m->ltime;
    }
    uint32_t *ids = realloc(slot->ids, (slot->n + 1) * sizeof *ids);
    if (!ids)
        return false;
    slot->ids = ids;
    slot->ids[slot->n++] = m->id;
    bool rebroadcast = !(m->flags & 2);
    if (!query_filters_match(s, m))
        return rebroadcast;
    if ((m->flags & 1) && m->addr.n && m->addr.n <= 16) {
        tb__gw_serf_msg_t ack;
        memset(&ack, 0, sizeof ack);
        ack.type = TB__SERF_QUERY_RESPONSE;
        ack.flags = 1;
        ack.id = m->id;
        ack.ltime = m->ltime;
        const tb__swim_node_t *me = tb__swim_local(s->sw);
        ack.from.p = (const uint8_t *)me->name;
        ack.from.n = me->name_len;
        tb__gw_buf_t b;
        tb__gw_buf_init(&b);
        if (tb__gw_serf_encode(&ack, &b) == 0)
            tb__swim_send_user(s->sw, m->addr.p, m->addr.n, m->port, b.data, b.len);
        tb__gw_buf_free(&b);
    }
    bool internal = m->name.n >= 6 && !mcmp(m->name.p, "_serf_", 6);
    /* serf answers its keyring queries itself; here the agent owns the
     * keyring, so they are surfaced (never to user handlers) */
    bool key_query = internal && m->name.n > 4 &&
                     (!mcmp(m->name.p + m->name.n - 4, "-key", 4) ||
                      !mcmp(m->name.p + m->name.n - 5, "-keys", 5));
    if ((!internal || key_query) && !s->cfg.no_events) {
        push_event(s, TB__SERF_EV_QUERY, m->name.p, m->name.n, m->payload.p, m->payload.n,
                   m->ltime);
        tb__serf_event_t *e = &s->out[s->n_out - 1];
        e->query_id = m->id;
        mcpy(e->addr, m->addr.p, m->addr.n <= 16 ? m->addr.n : 0);
        e->addr_len = (uint8_t)(m->addr.n <= 16 ? m->addr.n : 0);
        e->port = m->port;
    }
    return rebroadcast;
}

static void handle_query_response(tb__serf_t *s, const tb__gw_serf_msg_t *m)
{
    if (m->flags & 1)
        return; /* acks: nobody here asks for them */
    for (size_t i = 0; i < s->n_pq; i++) {
        pending_q_t *q = &s->pq[i];
        if (q->id != m->id || q->ltime != m->ltime)
            continue;
        for (size_t k = 0; k < q->n_from; k++)
            if (strlen(q->from[k]) == m->from.n && !mcmp(q->from[k], m->from.p, m->from.n))
                return; /* duplicate (relayed) response */
        char **f = realloc(q->from, (q->n_from + 1) * sizeof *f);
        if (!f)
            return;
        q->from = f;
        if (!(f[q->n_from] = (char *)dup_bytes(m->from.p, m->from.n)))
            return;
        q->n_from++;
        push_event(s, TB__SERF_EV_QUERY_RESPONSE, m->from.p, m->from.n, m->payload.p,
                   m->payload.n, m->ltime);
        s->out[s->n_out - 1].query_id = m->id;
        return;
    }
}

static void pq_free(pending_q_t *q)
{
    for (size_t k = 0; k < q->n_from; k++)
        free(q->from[k]);
    free(q->from);
}

static void d_notify_msg(void *ctx, const uint8_t *buf, size_t len)
{
    tb__serf_t *s = ctx;
    tb__gw_serf_msg_t m;
    if (tb__gw_serf_decode(buf, len, &m))
        return; /* unknown or malformed: dropped */
    bool rebroadcast = false;
    squeue_t *q = &s->q_intents;
    switch (m.type) {
    case TB__SERF_LEAVE:
        rebroadcast = handle_leave_intent(s, &m);
        break;
    case TB__SERF_JOIN:
        rebroadcast = handle_join_intent(s, &m);
        break;
    case TB__SERF_USER_EVENT:
        rebroadcast = handle_user_event(s, &m);
        q = &s->q_events;
        break;
    case TB__SERF_QUERY:
        rebroadcast = handle_query(s, &m);
        q = &s->q_queries;
        break;
    case TB__SERF_RELAY:
        if (m.dest_ip.n && m.dest_ip.n <= 16 && m.inner.n)
            tb__swim_send_user(s->sw, m.dest_ip.p, m.dest_ip.n, m.dest_port, m.inner.p,
                               m.inner.n);
        break;
    case TB__SERF_QUERY_RESPONSE:
        handle_query_response(s, &m);
        break;
    default:
        break;
    }
    if (rebroadcast)
        squeue_add(q, buf, len);
}

/* --------------------------------------------------- memberlist events */

static void d_notify_join(void *ctx, const tb__swim_node_t *n)
{
    tb__serf_t *s = ctx;
    tb__serf_member_t *mb = mfind(s, n->name, n->name_len);
    if (!mb && !(mb = madd(s, n->name, n->name_len)))
        return;
    mset_node(mb, n);
    mb->status = TB__SERF_STATUS_ALIVE;
    mb->leave_time_ms = 0;
    intent_t *in = intent_find(s, n->name, n->name_len);
    if (in && in->ltime > mb->status_ltime) {
        mb->status_ltime = in->ltime;
        if (in->type == TB__SERF_LEAVE)
            mb->status = TB__SERF_STATUS_LEAVING;
    }
    member_event(s, TB__SERF_EV_MEMBER_JOIN, mb);
}

static void d_notify_leave(void *ctx, const tb__swim_node_t *n)
{
    tb__serf_t *s = ctx;
    tb__serf_member_t *mb = mfind(s, n->name, n->name_len);
    if (!mb)
        return;
    mb->leave_time_ms = s->now;
    if (mb->status == TB__SERF_STATUS_LEAVING || n->state == TB__SWIM_LEFT) {
        mb->status = TB__SERF_STATUS_LEFT;
        member_event(s, TB__SERF_EV_MEMBER_LEAVE, mb);
    } else {
        mb->status = TB__SERF_STATUS_FAILED;
        member_event(s, TB__SERF_EV_MEMBER_FAILED, mb);
    }
}

static void d_notify_update(void *ctx, const tb__swim_node_t *n)
{
    tb__serf_t *s = ctx;
    tb__serf_member_t *mb = mfind(s, n->name, n->name_len);
    if (!mb)
        return;
    mset_node(mb, n);
    member_event(s, TB__SERF_EV_MEMBER_UPDATE, mb);
}

static void d_notify_conflict(void *ctx, const tb__swim_node_t *known, const tb__gw_msg_t *a)
{
    tb__serf_t *s = ctx;
    if (known != tb__swim_local(s->sw))
        return; /* serf only acts on conflicts about itself */
    push_event(s, TB__SERF_EV_NAME_CONFLICT, known->name, known->name_len, NULL, 0, 0);
    tb__serf_event_t *e = &s->out[s->n_out - 1];
    if (a->addr.n <= 16) {
        mcpy(e->addr, a->addr.p, a->addr.n);
        e->addr_len = (uint8_t)a->addr.n;
    }
    e->port = a->port;
}

/* ------------------------------------------------------- push / pull */

static int d_local_state(void *ctx, bool join, tb__gw_buf_t *out)
{
    tb__serf_t *s = ctx;
    (void)join;
    tb__gw_serf_pp_t pp;
    memset(&pp, 0, sizeof pp);
    pp.ltime = s->clock;
    pp.event_ltime = s->event_clock;
    pp.query_ltime = s->query_clock;
    pp.status_name = calloc(s->n_members + 1, sizeof *pp.status_name);
    pp.status_ltime = calloc(s->n_members + 1, sizeof *pp.status_ltime);
    pp.left = calloc(s->n_members + 1, sizeof *pp.left);
    size_t nev = 0;
    for (int i = 0; i < EVENT_BUFFER; i++)
        nev += s->events[i].n;
    pp.events = calloc(nev + 1, sizeof *pp.events);
    int r = TB__GW_ENOMEM;
    if (pp.status_name && pp.status_ltime && pp.left && pp.events) {
        for (size_t i = 0; i < s->n_members; i++) {
            tb__serf_member_t *m = s->members[i];
            pp.status_name[pp.n_status].p = (const uint8_t *)m->name;
            pp.status_name[pp.n_status].n = strlen(m->name);
            pp.status_ltime[pp.n_status++] = m->status_ltime;
            if (m->status == TB__SERF_STATUS_LEFT)
                pp.left[pp.n_left++] = pp.status_name[pp.n_status - 1];
        }
        for (int i = 0; i < EVENT_BUFFER; i++)
            for (size_t k = 0; k < s->events[i].n; k++) {
                tb__gw_serf_event_t *e = &pp.events[pp.n_events++];
                e->ltime = s->events[i].ltime;
                e->name.p = s->events[i].ev[k].name;
                e->name.n = s->events[i].ev[k].name_len;
                e->payload.p = s->events[i].ev[k].payload;
                e->payload.n = s->events[i].ev[k].payload_len;
            }
        r = tb__gw_serf_pp_encode(&pp, EVENT_BUFFER, out);
    }
    free(pp.status_name);
    free(pp.status_ltime);
    free(pp.left);
    free(pp.events);
    return r;
}

static void d_merge_remote_state(void *ctx, const uint8_t *buf, size_t len, bool join)
{
    tb__serf_t *s = ctx;
    tb__gw_serf_pp_t pp;
    if (tb__gw_serf_pp_decode(buf, len, &pp))
        return;
    if (pp.ltime > 0)
        witness(&s->clock, pp.ltime - 1);
    if (pp.event_ltime > 0)
        witness(&s->event_clock, pp.event_ltime - 1);
    if (pp.query_ltime > 0)
        witness(&s->query_clock, pp.query_ltime - 1);
    for (size_t i = 0; i < pp.n_status; i++) {
        bool left = false;
        for (size_t k = 0; k < pp.n_left && !left; k++)
            left = pp.left[k].n == pp.status_name[i].n &&
                   !mcmp(pp.left[k].p, pp.status_name[i].p, pp.left[k].n);
        tb__gw_serf_msg_t m;
        memset(&m, 0, sizeof m);
        m.node = pp.status_name[i];
        if (left) {
            m.type = TB__SERF_LEAVE;
            m.ltime = pp.status_ltime[i] + 1;
            handle_leave_intent(s, &m);
        } else {
            m.type = TB__SERF_JOIN;
            m.ltime = pp.status_ltime[i];
            handle_join_intent(s, &m);
        }
    }
    /* a join does not replay old events (serf join -replay=false) */
    if (join && pp.event_ltime > s->event_min_time)
        s->event_min_time = pp.event_ltime;
    for (size_t i = 0; i < pp.n_events; i++) {
        tb__gw_serf_msg_t m;
        memset(&m, 0, sizeof m);
        m.type = TB__SERF_USER_EVENT;
        m.ltime = pp.events[i].ltime;
        m.name = pp.events[i].name;
        m.payload = pp.events[i].payload;
        handle_user_event(s, &m);
    }
    tb__gw_serf_pp_free(&pp);
}

/* ----------------------------------------------------------- public */

void tb__serf_defaults(tb__serf_config_t *cfg, int profile)
{
    memset(cfg, 0, sizeof *cfg);
    tb__swim_profile(profile, &cfg->swim.profile);
    cfg->reap_interval_ms = 15000;
    cfg->reconnect_interval_ms = 30000;
    cfg->reconnect_timeout_ms = 24ULL * 3600 * 1000;
    cfg->tombstone_timeout_ms = 24ULL * 3600 * 1000;
    cfg->recent_intent_ms = 5 * 60 * 1000;
    cfg->broadcast_timeout_ms = 5000;
    cfg->user_event_size_limit = 512;
}

tb__serf_t *tb__serf_new(const tb__serf_config_t *cfg, uint64_t now)
{
    tb__serf_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->cfg = *cfg;
    s->now = now;
    s->rng = (cfg->swim.seed ? cfg->swim.seed : 1) ^ 0xA5A5A5A5DEADBEEFULL;
    tb__swim_config_t sc = cfg->swim;
    sc.delegate.ctx = s;
    sc.delegate.notify_join = d_notify_join;
    sc.delegate.notify_leave = d_notify_leave;
    sc.delegate.notify_update = d_notify_update;
    sc.delegate.notify_conflict = d_notify_conflict;
    sc.delegate.notify_msg = d_notify_msg;
    sc.delegate.get_broadcasts = d_get_broadcasts;
    sc.delegate.local_state = d_local_state;
    sc.delegate.merge_remote_state = d_merge_remote_state;
    s->clock = s->event_clock = s->query_clock = 1;
    s->sw = tb__swim_new(&sc, now);
    if (!s->sw) {
        tb__serf_free(s);
        return NULL;
    }
    /* memberlist reports the local node as a join too */
    d_notify_join(s, tb__swim_local(s->sw));
    s->next_reap = now + cfg->reap_interval_ms;
    s->next_reconnect = now + cfg->reconnect_interval_ms;
    return s;
}

void tb__serf_free(tb__serf_t *s)
{
    if (!s)
        return;
    tb__swim_free(s->sw);
    for (size_t i = 0; i < s->n_members; i++)
        mfree(s->members[i]);
    free(s->members);
    free(s->hash);
    for (int i = 0; i < EVENT_BUFFER; i++) {
        for (size_t k = 0; k < s->events[i].n; k++) {
            free(s->events[i].ev[k].name);
            free(s->events[i].ev[k].payload);
        }
        free(s->events[i].ev);
    }
    for (int i = 0; i < QUERY_BUFFER; i++)
        free(s->queries[i].ids);
    for (size_t i = 0; i < s->n_intents; i++)
        free(s->intents[i].node);
    free(s->intents);
    squeue_free(&s->q_intents);
    squeue_free(&s->q_queries);
    squeue_free(&s->q_events);
    for (size_t i = s->out_head; i < s->n_out; i++)
        tb__serf_event_clear(&s->out[i]);
    free(s->out);
    free(s->join_ids);
    for (size_t i = 0; i < s->n_pq; i++)
        pq_free(&s->pq[i]);
    free(s->pq);
    free(s);
}

tb__swim_t *tb__serf_swim(tb__serf_t *s)
{
    return s->sw;
}

void tb__serf_tick(tb__serf_t *s, uint64_t now)
{
    s->now = now;
    if (s->leaving && !s->left_ml &&
        (s->q_intents.n == 0 || now >= s->leave_deadline)) {
        tb__swim_leave(s->sw, now);
        s->left_ml = true;
    }
    tb__swim_tick(s->sw, now);
    for (size_t i = 0; i < s->n_pq;) {
        if (now < s->pq[i].deadline) {
            i++;
            continue;
        }
        push_event(s, TB__SERF_EV_QUERY_DONE, "", 0, NULL, 0, s->pq[i].ltime);
        s->out[s->n_out - 1].query_id = s->pq[i].id;
        pq_free(&s->pq[i]);
        s->pq[i] = s->pq[--s->n_pq];
    }
    if (now >= s->next_reap) {
        s->next_reap = now + s->cfg.reap_interval_ms;
        for (size_t i = 0; i < s->n_members;) {
            tb__serf_member_t *m = s->members[i];
            uint64_t limit = m->status == TB__SERF_STATUS_FAILED ? s->cfg.reconnect_timeout_ms
                             : m->status == TB__SERF_STATUS_LEFT ? s->cfg.tombstone_timeout_ms
                                                                 : 0;
            if (limit && now - m->leave_time_ms > limit) {
                prune_member(s, m); /* swaps the last member into i */
                continue;
            }
            i++;
        }
        for (size_t i = 0; i < s->n_intents;) {
            if (now - s->intents[i].when_ms > s->cfg.recent_intent_ms) {
                free(s->intents[i].node);
                s->intents[i] = s->intents[--s->n_intents];
            } else {
                i++;
            }
        }
    }
    if (now >= s->next_reconnect) {
        s->next_reconnect = now + s->cfg.reconnect_interval_ms;
        size_t failed = 0, alive = 0;
        for (size_t i = 0; i < s->n_members; i++) {
            failed += s->members[i]->status == TB__SERF_STATUS_FAILED;
            alive += s->members[i]->status == TB__SERF_STATUS_ALIVE;
        }
        /* probability failed/alive, one random failed member */
        if (failed && alive && (double)(rnd(s) % 1000000) / 1e6 < (double)failed / alive) {
            size_t pick = rnd(s) % failed;
            for (size_t i = 0; i < s->n_members; i++) {
                tb__serf_member_t *m = s->members[i];
                if (m->status != TB__SERF_STATUS_FAILED || pick--)
                    continue;
                tb__swim_join(s->sw, now, m->addr, m->addr_len, m->port);
                break;
            }
        }
    }
}

uint64_t tb__serf_next_deadline(const tb__serf_t *s)
{
    uint64_t t = tb__swim_next_deadline(s->sw);
    if (s->next_reap < t)
        t = s->next_reap;
    if (s->next_reconnect < t)
        t = s->next_reconnect;
    for (size_t i = 0; i < s->n_pq; i++)
        if (s->pq[i].deadline < t)
            t = s->pq[i].deadline;
    return t;
}

uint32_t tb__serf_join(tb__serf_t *s, uint64_t now, const uint8_t *addr, size_t alen,
                       uint16_t port)
{
    uint32_t id = tb__swim_join(s->sw, now, addr, alen, port);
    uint32_t *p = realloc(s->join_ids, (s->n_join_ids + 1) * sizeof *p);
    if (p) {
        s->join_ids = p;
        s->join_ids[s->n_join_ids++] = id;
    }
    return id;
}

int tb__serf_stream_reply(tb__serf_t *s, uint64_t now, uint32_t id, const tb__gw_stream_msg_t *sm)
{
    s->now = now;
    int r = tb__swim_stream_reply(s->sw, now, id, sm);
    for (size_t i = 0; i < s->n_join_ids; i++) {
        if (s->join_ids[i] != id)
            continue;
        s->join_ids[i] = s->join_ids[--s->n_join_ids];
        if (r == 0)
            broadcast_join(s, s->clock);
        break;
    }
    return r;
}

void tb__serf_leave(tb__serf_t *s, uint64_t now)
{
    if (s->leaving)
        return;
    s->now = now;
    tb__gw_serf_msg_t m;
    memset(&m, 0, sizeof m);
    m.type = TB__SERF_LEAVE;
    m.ltime = s->clock++;
    const tb__swim_node_t *me = tb__swim_local(s->sw);
    m.node.p = (const uint8_t *)me->name;
    m.node.n = me->name_len;
    s->leaving = true;
    handle_leave_intent(s, &m);
    tb__gw_buf_t b;
    tb__gw_buf_init(&b);
    if (tb__gw_serf_encode(&m, &b) == 0)
        squeue_add(&s->q_intents, b.data, b.len);
    tb__gw_buf_free(&b);
    s->leave_deadline = now + s->cfg.broadcast_timeout_ms;
}

bool tb__serf_leave_done(const tb__serf_t *s)
{
    return s->left_ml && tb__swim_leave_done(s->sw);
}

int tb__serf_force_leave(tb__serf_t *s, uint64_t now, const char *node, bool prune)
{
    s->now = now;
    tb__gw_serf_msg_t m;
    memset(&m, 0, sizeof m);
    m.type = TB__SERF_LEAVE;
    m.ltime = s->clock++;
    m.node.p = (const uint8_t *)node;
    m.node.n = strlen(node);
    m.prune = prune;
    tb__gw_buf_t b;
    tb__gw_buf_init(&b);
    int r = tb__gw_serf_encode(&m, &b);
    if (r == 0) {
        handle_leave_intent(s, &m);
        squeue_add(&s->q_intents, b.data, b.len);
    }
    tb__gw_buf_free(&b);
    return r;
}

int tb__serf_user_event(tb__serf_t *s, uint64_t now, const char *name, const uint8_t *payload,
                        size_t len, bool cc)
{
    s->now = now;
    size_t nl = strlen(name);
    if (nl + len > s->cfg.user_event_size_limit)
        return TB__GW_EOVERSIZE;
    tb__gw_serf_msg_t m;
    memset(&m, 0, sizeof m);
    m.type = TB__SERF_USER_EVENT;
    m.ltime = s->event_clock;
    m.name.p = (const uint8_t *)name;
    m.name.n = nl;
    m.payload.p = payload ? payload : (const uint8_t *)"";
    m.payload.n = len;
    m.cc = cc;
    tb__gw_buf_t b;
    tb__gw_buf_init(&b);
    int r = tb__gw_serf_encode(&m, &b);
    if (r == 0 && b.len > s->cfg.user_event_size_limit + 64)
        r = TB__GW_EOVERSIZE;
    if (r == 0) {
        s->event_clock++;
        handle_user_event(s, &m);
        squeue_add(&s->q_events, b.data, b.len);
    }
    tb__gw_buf_free(&b);
    return r;
}

int tb__serf_set_tags(tb__serf_t *s, uint64_t now, const tb__gw_tag_t *tags, int n)
{
    tb__gw_buf_t b;
    tb__gw_buf_init(&b);
    int r = tb__gw_tags_encode(tags, n, &b);
    if (r == 0)
        r = b.len > TB__GW_META_MAX ? TB__GW_EOVERSIZE : tb__swim_set_meta(s->sw, now, b.data, b.len);
    if (r == 0) {
        tb__serf_member_t *me = mfind(s, tb__swim_local(s->sw)->name,
                                      tb__swim_local(s->sw)->name_len);
        if (me)
            mset_node(me, tb__swim_local(s->sw));
    }
    tb__gw_buf_free(&b);
    return r;
}

size_t tb__serf_queue_len(const tb__serf_t *s)
{
    return tb__swim_queue_len(s->sw) + s->q_intents.n + s->q_queries.n + s->q_events.n;
}

size_t tb__serf_num_members(const tb__serf_t *s)
{
    return s->n_members;
}

const tb__serf_member_t *tb__serf_member_at(const tb__serf_t *s, size_t i)
{
    return i < s->n_members ? s->members[i] : NULL;
}

const tb__serf_member_t *tb__serf_member(const tb__serf_t *s, const char *name)
{
    return mfind(s, name, strlen(name));
}

uint64_t tb__serf_clock(const tb__serf_t *s)
{
    return s->clock;
}

uint64_t tb__serf_event_clock(const tb__serf_t *s)
{
    return s->event_clock;
}

uint64_t tb__serf_query_clock(const tb__serf_t *s)
{
    return s->query_clock;
}

uint64_t tb__serf_query_timeout_ms(const tb__serf_t *s)
{
    /* serf: GossipInterval x QueryTimeoutMult (16) x ceil(log10(n+1)) */
    uint64_t scale = 1;
    for (size_t n = s->n_members + 1; n > 10; n = (n + 9) / 10)
        scale++;
    return (uint64_t)s->cfg.swim.profile.gossip_interval_ms * 16 * scale;
}

int tb__serf_query(tb__serf_t *s, uint64_t now, const char *name, const uint8_t *payload,
                   size_t len, uint32_t id, uint64_t timeout_ms)
{
    s->now = now;
    const tb__swim_node_t *me = tb__swim_local(s->sw);
    tb__gw_serf_msg_t m;
    memset(&m, 0, sizeof m);
    m.type = TB__SERF_QUERY;
    m.ltime = s->query_clock;
    m.id = id;
    m.name.p = (const uint8_t *)name;
    m.name.n = strlen(name);
    m.payload.p = payload ? payload : (const uint8_t *)"";
    m.payload.n = len;
    m.addr.p = me->addr;
    m.addr.n = me->addr_len;
    m.port = me->port;
    m.source_node.p = (const uint8_t *)me->name;
    m.source_node.n = me->name_len;
    m.timeout_ns = (int64_t)timeout_ms * 1000000;
    pending_q_t *pq = realloc(s->pq, (s->n_pq + 1) * sizeof *pq);
    if (!pq)
        return TB__GW_ENOMEM;
    s->pq = pq;
    tb__gw_buf_t b;
    tb__gw_buf_init(&b);
    int r = tb__gw_serf_encode(&m, &b);
    if (r == 0 && b.len > 1024)
        r = TB__GW_EOVERSIZE; /* serf's QuerySizeLimit */
    if (r == 0) {
        pending_q_t *q = &s->pq[s->n_pq++];
        memset(q, 0, sizeof *q);
        q->id = id;
        q->ltime = m.ltime;
        q->deadline = now + timeout_ms;
        handle_query(s, &m); /* we answer our own query too */
        squeue_add(&s->q_queries, b.data, b.len);
    }
    tb__gw_buf_free(&b);
    return r;
}

int tb__serf_respond(tb__serf_t *s, const tb__serf_event_t *q, const uint8_t *payload,
                     size_t len)
{
    if (!q->addr_len)
        return TB__GW_EMALFORMED;
    const tb__swim_node_t *me = tb__swim_local(s->sw);
    tb__gw_serf_msg_t m;
    memset(&m, 0, sizeof m);
    m.type = TB__SERF_QUERY_RESPONSE;
    m.id = q->query_id;
    m.ltime = q->ltime;
    m.from.p = (const uint8_t *)me->name;
    m.from.n = me->name_len;
    m.payload.p = payload ? payload : (const uint8_t *)"";
    m.payload.n = len;
    tb__gw_buf_t b;
    tb__gw_buf_init(&b);
    int r = tb__gw_serf_encode(&m, &b);
    if (r == 0 && b.len > 1024 + 64)
        r = TB__GW_EOVERSIZE; /* serf's QueryResponseSizeLimit */
    if (r == 0)
        tb__swim_send_user(s->sw, q->addr, q->addr_len, q->port, b.data, b.len);
    tb__gw_buf_free(&b);
    return r;
}

size_t tb__serf_num_nodes(const tb__serf_t *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_members; i++)
        n += s->members[i]->status != TB__SERF_STATUS_LEFT;
    return n;
}
