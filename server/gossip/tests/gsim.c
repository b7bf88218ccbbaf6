/*
 * gsim.c - gossip simulator: thousands of serf/SWIM instances (the real
 * state machines and the real wire codec) in one process over a simulated
 * network with loss and delay, deterministic for a given seed.
 *
 * Phases on one cluster: (1) N nodes join a seed node, time until every
 * node sees N alive members; (2) one user event, time until 99.9 % / 100 %
 * of the nodes delivered it; (3) packet loss (5 %) for a while with no
 * failures: suspicions raised and false deaths; (4) one node crashes: time
 * until the first node suspects it, the first and the last declare it dead.
 * --view V skips the joins and gives every node a random partial view of V
 * members (for 10,000 nodes, whose full views would need ~30 GB) and runs
 * the event phase only.
 *
 * `gsim --check` is the short version for `make check`: small cluster,
 * asserts bounds and exits non-zero on a miss. Figures: contrib/bench/
 * gossip-sim.
 */
#include <math.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gossip/serf.h"

typedef struct {
    uint64_t at;
    uint32_t dst, src;
    int kind; /* 1 udp, 2 stream request, 3 stream reply, 4 stream failed */
    uint32_t id;
    uint8_t *buf;
    size_t len;
} pkt_t;

typedef struct {
    pkt_t *h;
    size_t n, cap;
} heap_t;

typedef struct {
    size_t n;
    tb__serf_t **node;
    bool *down;
    uint64_t *got_event;
    heap_t q;
    uint64_t now, rng;
    double loss;
    uint32_t dmin, dmax;
    uint64_t sent, dropped;
} sim_t;

static uint64_t srnd(sim_t *s)
{
    uint64_t x = s->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static void addr_of(uint32_t i, uint8_t a[4])
{
    a[0] = 10;
    a[1] = (uint8_t)(i >> 16);
    a[2] = (uint8_t)(i >> 8);
    a[3] = (uint8_t)i;
}

static uint32_t index_of(const uint8_t *a, size_t n)
{
    if (n != 4 || a[0] != 10)
        return UINT32_MAX;
    return (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
}

static void heap_push(heap_t *q, pkt_t p)
{
    if (q->n == q->cap) {
        q->cap = q->cap ? q->cap * 2 : 1024;
        q->h = realloc(q->h, q->cap * sizeof *q->h);
    }
    size_t i = q->n++;
    while (i && q->h[(i - 1) / 2].at > p.at) {
        q->h[i] = q->h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    q->h[i] = p;
}

static pkt_t heap_pop(heap_t *q)
{
    pkt_t top = q->h[0], last = q->h[--q->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= q->n)
            break;
        if (c + 1 < q->n && q->h[c + 1].at < q->h[c].at)
            c++;
        if (q->h[c].at >= last.at)
            break;
        q->h[i] = q->h[c];
        i = c;
    }
    if (q->n)
        q->h[i] = last;
    return top;
}

static uint64_t delay(sim_t *s)
{
    return s->dmin + srnd(s) % (s->dmax - s->dmin + 1);
}

static void send(sim_t *s, uint32_t src, uint32_t dst, int kind, uint32_t id, uint8_t *buf,
                 size_t len, uint64_t extra)
{
    pkt_t p = { s->now + delay(s) + extra, dst, src, kind, id, buf, len };
    heap_push(&s->q, p);
}

/* Collect every node's outputs into the network. */
static void flush_node(sim_t *s, uint32_t i)
{
    tb__swim_t *sw = tb__serf_swim(s->node[i]);
    tb__swim_out_t o;
    while (tb__swim_poll(sw, &o)) {
        uint32_t dst = index_of(o.addr, o.addr_len);
        if (dst >= s->n) {
            free(o.buf);
            continue;
        }
        if (o.kind == TB__SWIM_OUT_UDP) {
            s->sent++;
            if (s->loss > 0 && (double)(srnd(s) % 1000000) / 1e6 < s->loss) {
                s->dropped++;
                free(o.buf);
                continue;
            }
            send(s, i, dst, 1, 0, o.buf, o.len, 0);
        } else if (o.kind == TB__SWIM_OUT_PUSH_PULL) {
            send(s, i, dst, 2, o.id, o.buf, o.len, 0);
        } else { /* TCP ping: answered unless the target is down */
            bool ok = !s->down[dst];
            free(o.buf);
            if (ok)
                tb__swim_tcp_ping_result(sw, s->now + 2 * delay(s), o.id, true);
        }
    }
}

static void deliver(sim_t *s, pkt_t *p)
{
    uint32_t d = p->dst;
    if (s->down[d]) {
        if (p->kind == 2) /* connection refused: the initiator hears of it */
            send(s, d, p->src, 4, p->id, NULL, 0, 0);
        free(p->buf);
        return;
    }
    tb__serf_t *sf = s->node[d];
    tb__swim_t *sw = tb__serf_swim(sf);
    uint8_t a[4];
    addr_of(p->src, a);
    if (p->kind == 1) {
        tb__swim_recv_udp(sw, s->now, a, 4, 7946, p->buf, p->len);
    } else if (p->kind == 2) {
        tb__gw_stream_msg_t sm;
        tb__gw_buf_t reply;
        tb__gw_buf_init(&reply);
        if (tb__gw_stream_decode(NULL, false, p->buf, p->len, &sm) == 0)
            tb__swim_stream_request(sw, s->now, &sm, &reply);
        tb__gw_stream_msg_free(&sm);
        if (reply.len) {
            size_t n;
            uint8_t *b = tb__gw_buf_steal(&reply, &n);
            send(s, d, p->src, 3, p->id, b, n, 0);
        } else {
            tb__gw_buf_free(&reply);
            send(s, d, p->src, 4, p->id, NULL, 0, 0);
        }
    } else if (p->kind == 3) {
        tb__gw_stream_msg_t sm;
        if (tb__gw_stream_decode(NULL, false, p->buf, p->len, &sm) == 0)
            tb__serf_stream_reply(sf, s->now, p->id, &sm);
        tb__gw_stream_msg_free(&sm);
    } else {
        tb__serf_stream_reply(sf, s->now, p->id, NULL);
    }
    free(p->buf);
    flush_node(s, d);
}

/* Pop serf events; record the first user-event delivery per node. */
static void drain_events(sim_t *s, uint32_t i)
{
    tb__serf_event_t ev;
    while (tb__serf_poll(s->node[i], &ev)) {
        if (ev.type == TB__SERF_EV_USER && !s->got_event[i])
            s->got_event[i] = s->now;
        tb__serf_event_clear(&ev);
    }
}

static void run_until(sim_t *s, uint64_t t_end, uint32_t step)
{
    while (s->now < t_end) {
        uint64_t next = s->now + step;
        while (s->q.n && s->q.h[0].at <= next) {
            pkt_t p = heap_pop(&s->q);
            if (p.at > s->now)
                s->now = p.at;
            deliver(s, &p);
        }
        s->now = next;
        for (uint32_t i = 0; i < s->n; i++) {
            if (s->down[i])
                continue;
            tb__serf_tick(s->node[i], s->now);
            flush_node(s, i);
            drain_events(s, i);
        }
    }
}

static tb__serf_t *make_node(uint32_t i, uint64_t seed, size_t n_hint, bool no_tcp_ping)
{
    tb__serf_config_t c;
    char name[32];
    tb__serf_defaults(&c, TB__SWIM_PROFILE_LAN);
    snprintf(name, sizeof name, "node-%05u", i);
    c.swim.name = name;
    addr_of(i, c.swim.addr);
    c.swim.addr_len = 4;
    c.swim.port = 7946;
    c.swim.seed = seed * 1000003ULL + i + 1;
    c.swim.n_hint = n_hint;
    c.swim.profile.disable_tcp_pings = no_tcp_ping;
    return tb__serf_new(&c, 0);
}

static size_t count_converged(sim_t *s, size_t want)
{
    size_t c = 0;
    for (uint32_t i = 0; i < s->n; i++)
        if (!s->down[i] && tb__swim_num_alive(tb__serf_swim(s->node[i])) == want)
            c++;
    return c;
}

typedef struct {
    double join_s, drain_s, ev999_s, ev100_s, suspect_first_s, dead_first_s, dead_all_s;
    uint64_t fp_suspicions, fp_deaths, fp_probes, fp_failures;
    double wall_s;
} result_t;

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t sum_stat(sim_t *s, size_t off)
{
    uint64_t t = 0;
    for (uint32_t i = 0; i < s->n; i++)
        t += *(const uint64_t *)((const char *)tb__swim_stats(tb__serf_swim(s->node[i])) + off);
    return t;
}

/* Fire one event at node 0; time to 99.9 % and 100 % of the live nodes. */
static void event_phase(sim_t *s, result_t *r, uint32_t step)
{
    memset(s->got_event, 0, s->n * sizeof *s->got_event);
    uint64_t t0 = s->now;
    tb__serf_user_event(s->node[0], s->now, "deploy", (const uint8_t *)"v1", 2, false);
    flush_node(s, 0);
    size_t live = 0;
    for (uint32_t i = 0; i < s->n; i++)
        live += !s->down[i];
    size_t need999 = (size_t)ceil(0.999 * (double)live);
    r->ev999_s = r->ev100_s = -1;
    while (s->now < t0 + 30000) {
        run_until(s, s->now + step, step);
        size_t got = 0;
        for (uint32_t i = 0; i < s->n; i++)
            got += !s->down[i] && s->got_event[i];
        if (r->ev999_s < 0 && got >= need999) {
            uint64_t mx = 0;
            /* the 99.9th percentile delivery time */
            uint64_t *t = malloc(s->n * sizeof *t);
            size_t k = 0;
            for (uint32_t i = 0; i < s->n; i++)
                if (s->got_event[i])
                    t[k++] = s->got_event[i];
            for (size_t a = 0; a < need999; a++) { /* partial selection */
                size_t m = a;
                for (size_t b = a + 1; b < k; b++)
                    if (t[b] < t[m])
                        m = b;
                uint64_t x = t[a];
                t[a] = t[m];
                t[m] = x;
                mx = t[a];
            }
            free(t);
            r->ev999_s = (double)(mx - t0) / 1000.0;
        }
        if (got == live) {
            uint64_t mx = 0;
            for (uint32_t i = 0; i < s->n; i++)
                if (s->got_event[i] > mx)
                    mx = s->got_event[i];
            r->ev100_s = (double)(mx - t0) / 1000.0;
            break;
        }
    }
}

static void sim_free(sim_t *s)
{
    for (uint32_t i = 0; i < s->n; i++)
        tb__serf_free(s->node[i]);
    while (s->q.n) {
        pkt_t p = heap_pop(&s->q);
        free(p.buf);
    }
    free(s->q.h);
    free(s->node);
    free(s->down);
    free(s->got_event);
}

static int run(size_t n, uint64_t seed, size_t view, double fp_loss, uint32_t fp_secs,
               bool no_tcp_ping, result_t *r)
{
    sim_t s;
    memset(&s, 0, sizeof s);
    memset(r, 0, sizeof *r);
    double w0 = wall();
    s.n = n;
    s.rng = seed * 0x9E3779B97F4A7C15ULL + 7;
    s.dmin = 1;
    s.dmax = 5;
    s.node = calloc(n, sizeof *s.node);
    s.down = calloc(n, sizeof *s.down);
    s.got_event = calloc(n, sizeof *s.got_event);
    const uint32_t step = 5;
    for (uint32_t i = 0; i < n; i++)
        s.node[i] = make_node(i, seed, view ? n : 0, no_tcp_ping);

    if (view) {
        /* partial views: feed V random members' alive messages, then drop
         * the resulting broadcasts (a converged, quiet cluster) */
        for (uint32_t i = 0; i < n; i++) {
            tb__swim_t *sw = tb__serf_swim(s.node[i]);
            bool all = view >= n - 1;
            for (size_t k = 0; k < (all ? n : view); k++) {
                uint32_t j = all ? (uint32_t)k : (uint32_t)(srnd(&s) % n);
                if (j == i)
                    continue;
                const tb__swim_node_t *me = tb__swim_local(tb__serf_swim(s.node[j]));
                tb__gw_msg_t m;
                memset(&m, 0, sizeof m);
                m.type = TB__GW_ALIVE;
                m.addr.p = me->addr;
                m.addr.n = 4;
                m.incarnation = me->incarnation;
                m.node.p = (const uint8_t *)me->name;
                m.node.n = me->name_len;
                m.port = me->port;
                memcpy(m.vsn, me->vsn, 6);
                m.vsn_len = 6;
                m.meta.p = (const uint8_t *)"";
                tb__gw_buf_t b;
                tb__gw_buf_init(&b);
                tb__gw_msg_encode(&m, &b);
                tb__swim_recv_udp(sw, 0, me->addr, 4, 7946, b.data, b.len);
                tb__gw_buf_free(&b);
            }
            tb__swim_drop_broadcasts(sw);
            tb__swim_out_t o;
            while (tb__swim_poll(sw, &o))
                free(o.buf);
            drain_events(&s, i);
        }
        event_phase(&s, r, step);
        r->wall_s = wall() - w0;
        sim_free(&s);
        return 0;
    }

    /* (1) joins: one per 5 ms to node 0 */
    uint8_t a0[4];
    addr_of(0, a0);
    uint64_t last_join = 0;
    for (uint32_t i = 1; i < n; i++) {
        run_until(&s, s.now + step, step);
        tb__serf_join(s.node[i], s.now, a0, 4, 7946);
        flush_node(&s, i);
        last_join = s.now;
    }
    r->join_s = -1;
    while (s.now < last_join + 120000) {
        run_until(&s, s.now + 100, step);
        if (count_converged(&s, n) == n) {
            r->join_s = (double)(s.now - last_join) / 1000.0;
            break;
        }
    }
    if (r->join_s < 0)
        fprintf(stderr, "join: only %zu of %zu converged\n", count_converged(&s, n), n);
    /* let the broadcast queues drain (a quiet cluster, as after a minute) */
    uint64_t td = s.now;
    r->drain_s = -1;
    while (s.now < td + 180000) {
        run_until(&s, s.now + 500, step);
        size_t q = 0;
        for (uint32_t i = 0; i < n; i++)
            q += tb__serf_queue_len(s.node[i]);
        if (q == 0) {
            r->drain_s = (double)(s.now - last_join) / 1000.0;
            break;
        }
    }

    /* (2) one user event */
    event_phase(&s, r, step);

    /* (3) loss without failures */
    uint64_t su0 = sum_stat(&s, offsetof(tb__swim_stats_t, suspicions));
    uint64_t de0 = sum_stat(&s, offsetof(tb__swim_stats_t, deaths));
    uint64_t pr0 = sum_stat(&s, offsetof(tb__swim_stats_t, probes));
    uint64_t pf0 = sum_stat(&s, offsetof(tb__swim_stats_t, probe_failures));
    s.loss = fp_loss;
    run_until(&s, s.now + (uint64_t)fp_secs * 1000, step);
    s.loss = 0;
    r->fp_suspicions = sum_stat(&s, offsetof(tb__swim_stats_t, suspicions)) - su0;
    r->fp_deaths = sum_stat(&s, offsetof(tb__swim_stats_t, deaths)) - de0;
    r->fp_probes = sum_stat(&s, offsetof(tb__swim_stats_t, probes)) - pr0;
    r->fp_failures = sum_stat(&s, offsetof(tb__swim_stats_t, probe_failures)) - pf0;
    run_until(&s, s.now + 20000, step); /* heal: refutations spread */

    /* (4) crash one node */
    uint32_t victim = (uint32_t)(n / 2);
    s.down[victim] = true;
    uint64_t t0 = s.now;
    const tb__swim_node_t *vme = tb__swim_local(tb__serf_swim(s.node[victim]));
    r->suspect_first_s = r->dead_first_s = r->dead_all_s = -1;
    while (s.now < t0 + 180000) {
        run_until(&s, s.now + 50, step);
        size_t susp = 0, dead = 0, live = 0;
        for (uint32_t i = 0; i < n; i++) {
            if (s.down[i])
                continue;
            live++;
            const tb__swim_node_t *x = tb__swim_find(tb__serf_swim(s.node[i]), vme->name,
                                                     vme->name_len);
            if (!x || x->state >= TB__SWIM_DEAD)
                dead++;
            else if (x->state == TB__SWIM_SUSPECT)
                susp++;
        }
        double t = (double)(s.now - t0) / 1000.0;
        if (r->suspect_first_s < 0 && (susp || dead))
            r->suspect_first_s = t;
        if (r->dead_first_s < 0 && dead)
            r->dead_first_s = t;
        if (dead == live) {
            r->dead_all_s = t;
            break;
        }
    }
    r->wall_s = wall() - w0;
    sim_free(&s);
    return 0;
}

static void print(size_t n, size_t view, double loss, const result_t *r)
{
    if (view) {
        printf("nodes=%zu view=%zu event_99.9%%=%.3fs event_100%%=%.3fs wall=%.1fs\n", n, view,
               r->ev999_s, r->ev100_s, r->wall_s);
        return;
    }
    printf("nodes=%zu join_converge=%.2fs queues_empty=%.1fs event_99.9%%=%.3fs event_100%%=%.3fs "
           "loss=%.0f%%: probes=%llu failed_probes=%llu (%.3f%%) suspicions=%llu "
           "false_deaths=%llu | crash: first_suspect=%.2fs first_dead=%.2fs all_dead=%.2fs "
           "wall=%.1fs\n",
           n, r->join_s, r->drain_s, r->ev999_s, r->ev100_s, loss * 100, (unsigned long long)r->fp_probes,
           (unsigned long long)r->fp_failures,
           r->fp_probes ? 100.0 * (double)r->fp_failures / (double)r->fp_probes : 0.0,
           (unsigned long long)r->fp_suspicions, (unsigned long long)r->fp_deaths,
           r->suspect_first_s, r->dead_first_s, r->dead_all_s, r->wall_s);
}

int main(int argc, char **argv)
{
    size_t n = 1000, view = 0;
    uint64_t seed = 1;
    double loss = 0.05;
    uint32_t fp_secs = 60;
    bool check = false, no_tcp_ping = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--check"))
            check = true;
        else if (!strcmp(argv[i], "--nodes") && i + 1 < argc)
            n = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--no-tcp-ping"))
            no_tcp_ping = true;
        else if (!strcmp(argv[i], "--view") && i + 1 < argc)
            view = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--loss") && i + 1 < argc)
            loss = strtod(argv[++i], NULL);
        else if (!strcmp(argv[i], "--loss-secs") && i + 1 < argc)
            fp_secs = (uint32_t)strtoul(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: gsim [--check] [--nodes N] [--seed S] [--view V] "
                            "[--loss P] [--loss-secs S] [--no-tcp-ping]\n");
            return 2;
        }
    }
    if (n < 4 || n > 60000)
        return 2;
    result_t r;
    if (check) {
        /* make check: 50 nodes, bounds that a broken protocol misses */
        n = 200;
        fp_secs = 20;
        run(n, seed, 0, loss, fp_secs, no_tcp_ping, &r);
        print(n, 0, loss, &r);
        result_t again;
        run(n, seed, 0, loss, fp_secs, no_tcp_ping, &again);
        int bad = 0;
        bad += r.join_s < 0 || r.join_s > 30;
        bad += r.ev100_s < 0 || r.ev100_s > 3;
        bad += r.fp_deaths != 0;
        bad += r.dead_first_s < 0 || r.dead_all_s < 0 || r.dead_all_s > 60;
        /* Lifeguard: nobody declares death before the minimum suspicion
         * timeout (4 x log10(n) x 1 s) */
        tb__swim_profile_t lan;
        uint64_t smin, smax;
        tb__swim_profile(TB__SWIM_PROFILE_LAN, &lan);
        tb__swim_suspicion_bounds(&lan, n, &smin, &smax);
        bad += r.dead_first_s >= 0 && r.dead_first_s * 1000 < (double)smin;
        /* same seed, same run */
        bad += again.join_s != r.join_s || again.ev100_s != r.ev100_s ||
               again.fp_suspicions != r.fp_suspicions || again.dead_all_s != r.dead_all_s;
        /* concurrent joins at N = 50, the size where a rumour's 8 transmits
         * most often miss one node: every seed converges by the join's
         * follow-up push/pull (2 s), not the periodic one (30 s; seeds 3, 5,
         * 13 and 17 took 19-43 s before it) */
        for (uint64_t sd = 1; sd <= 20; sd++) {
            result_t j;
            run(50, sd, 0, loss, 1, no_tcp_ping, &j);
            if (j.join_s < 0 || j.join_s > 5) {
                fprintf(stderr, "gsim --check: 50 nodes, seed %llu: join took %.2f s\n",
                        (unsigned long long)sd, j.join_s);
                bad++;
            }
        }
        if (bad)
            fprintf(stderr, "gsim --check: %d bound(s) missed\n", bad);
        return bad ? 1 : 0;
    }
    run(n, seed, view, loss, fp_secs, no_tcp_ping, &r);
    print(n, view, loss, &r);
    return 0;
}
