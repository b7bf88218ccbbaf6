/*
 * test_swim.c - unit tests of the SWIM/Lifeguard and serf state machines:
 * timing formulas, ping/ack, refutation, suspicion timeouts, leave vs
 * failure, probe failure with awareness, push/pull join between two
 * instances, serf intents, Lamport clocks and user-event dedup. Packets are
 * fed in and popped out by hand; time is a plain number.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "gossip/serf.h"

static const uint8_t ip_a[4] = { 127, 77, 1, 11 }, ip_b[4] = { 127, 77, 1, 12 },
                     ip_c[4] = { 127, 77, 1, 13 };

typedef struct {
    int joins, leaves, updates, msgs;
    uint8_t last_state;
} counts_t;

static void c_join(void *ctx, const tb__swim_node_t *n)
{
    ((counts_t *)ctx)->joins++;
    (void)n;
}

static void c_leave(void *ctx, const tb__swim_node_t *n)
{
    ((counts_t *)ctx)->leaves++;
    ((counts_t *)ctx)->last_state = n->state;
}

static void c_update(void *ctx, const tb__swim_node_t *n)
{
    ((counts_t *)ctx)->updates++;
    (void)n;
}

static tb__swim_t *mk(const char *name, const uint8_t ip[4], counts_t *c)
{
    tb__swim_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.name = name;
    memcpy(cfg.addr, ip, 4);
    cfg.addr_len = 4;
    cfg.port = 7946;
    cfg.seed = 42;
    tb__swim_profile(TB__SWIM_PROFILE_LAN, &cfg.profile);
    cfg.delegate.ctx = c;
    cfg.delegate.notify_join = c_join;
    cfg.delegate.notify_leave = c_leave;
    cfg.delegate.notify_update = c_update;
    return tb__swim_new(&cfg, 0);
}

static void feed(tb__swim_t *sw, uint64_t now, const tb__gw_msg_t *m)
{
    tb__gw_buf_t b;
    tb__gw_buf_init(&b);
    CU_ASSERT_EQUAL(tb__gw_msg_encode(m, &b), 0);
    CU_ASSERT(tb__swim_recv_udp(sw, now, ip_a, 4, 7946, b.data, b.len) >= 0);
    tb__gw_buf_free(&b);
}

static void alive(tb__swim_t *sw, uint64_t now, const char *name, const uint8_t ip[4],
                  uint32_t inc, const char *meta)
{
    tb__gw_msg_t m;
    memset(&m, 0, sizeof m);
    m.type = TB__GW_ALIVE;
    m.node.p = (const uint8_t *)name;
    m.node.n = strlen(name);
    m.addr.p = ip;
    m.addr.n = 4;
    m.incarnation = inc;
    m.meta.p = (const uint8_t *)meta;
    m.meta.n = strlen(meta);
    m.port = 7946;
    static const uint8_t v[6] = { 1, 5, 2, 2, 5, 5 };
    memcpy(m.vsn, v, 6);
    m.vsn_len = 6;
    feed(sw, now, &m);
}

static void sd(tb__swim_t *sw, uint64_t now, uint8_t type, const char *node, const char *from,
               uint32_t inc)
{
    tb__gw_msg_t m;
    memset(&m, 0, sizeof m);
    m.type = type;
    m.node.p = (const uint8_t *)node;
    m.node.n = strlen(node);
    m.from.p = (const uint8_t *)from;
    m.from.n = strlen(from);
    m.incarnation = inc;
    feed(sw, now, &m);
}

static void drain(tb__swim_t *sw)
{
    tb__swim_out_t o;
    while (tb__swim_poll(sw, &o))
        free(o.buf);
}

/* Find the first leaf of a given type in a clear packet. */
typedef struct {
    uint8_t type;
    tb__gw_msg_t m;
    int found;
    uint8_t copy[2048];
} find_t;

static int find_leaf(void *ctx, const uint8_t *buf, size_t len)
{
    find_t *f = ctx;
    if (!f->found && buf[0] == f->type && len <= sizeof f->copy) {
        memcpy(f->copy, buf, len);
        if (tb__gw_msg_decode(f->copy, len, &f->m) == 0)
            f->found = 1;
    }
    return 0;
}

static void test_formulas(void)
{
    CU_ASSERT_EQUAL(tb__swim_retransmit_limit(4, 3), 4);
    CU_ASSERT_EQUAL(tb__swim_retransmit_limit(4, 10), 8);
    CU_ASSERT_EQUAL(tb__swim_retransmit_limit(4, 100), 12);
    CU_ASSERT_EQUAL(tb__swim_retransmit_limit(4, 200), 12);
    CU_ASSERT_EQUAL(tb__swim_retransmit_limit(4, 1000), 16);
    tb__swim_profile_t p;
    uint64_t mn, mx;
    tb__swim_profile(TB__SWIM_PROFILE_LAN, &p);
    tb__swim_suspicion_bounds(&p, 10, &mn, &mx);
    CU_ASSERT(mn == 4000 && mx == 24000);
    tb__swim_suspicion_bounds(&p, 3, &mn, &mx);
    CU_ASSERT_EQUAL(mn, 4000);
    tb__swim_suspicion_bounds(&p, 100, &mn, &mx);
    CU_ASSERT(mn == 8000 && mx == 48000);
    tb__swim_profile(TB__SWIM_PROFILE_WAN, &p);
    CU_ASSERT(p.probe_interval_ms == 5000 && p.probe_timeout_ms == 3000 &&
              p.suspicion_mult == 6 && p.gossip_nodes == 4 && p.gossip_interval_ms == 500);
}

static void test_ping_ack(void)
{
    counts_t c = { 0 };
    tb__swim_t *sw = mk("b", ip_b, &c);
    drain(sw);
    /* the captured ping c -> b (SeqNo 1, SourceAddr 127.77.1.13:7946) */
    static const char hex[] = "0085a44e6f6465a162a55365714e6f01aa536f7572636541646472a47f4d010d"
                              "aa536f757263654e6f6465a163aa536f75726365506f7274cd1f0a";
    uint8_t b[128];
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        b[i] = (uint8_t)v;
    }
    CU_ASSERT_EQUAL(tb__swim_recv_udp(sw, 10, ip_a, 4, 1234, b, n), 1);
    tb__swim_out_t o;
    CU_ASSERT_FATAL(tb__swim_poll(sw, &o));
    CU_ASSERT_EQUAL(o.kind, TB__SWIM_OUT_UDP);
    CU_ASSERT(o.addr_len == 4 && memcmp(o.addr, ip_c, 4) == 0 && o.port == 7946);
    find_t f = { TB__GW_ACK, { 0 }, 0, { 0 } };
    tb__gw_packet_walk(o.buf, o.len, find_leaf, &f);
    CU_ASSERT(f.found && f.m.seq == 1);
    free(o.buf);
    drain(sw);
    /* a ping for another name is not answered */
    b[8] = 'x';
    tb__swim_recv_udp(sw, 11, ip_a, 4, 1234, b, n);
    CU_ASSERT_FALSE(tb__swim_poll(sw, &o));
    tb__swim_free(sw);
}

static void test_membership_and_refute(void)
{
    counts_t c = { 0 };
    tb__swim_t *sw = mk("a", ip_a, &c);
    alive(sw, 1, "b", ip_b, 1, "");
    alive(sw, 1, "c", ip_c, 1, "");
    CU_ASSERT_EQUAL(c.joins, 2);
    CU_ASSERT_EQUAL(tb__swim_num_alive(sw), 3);
    alive(sw, 2, "b", ip_b, 1, ""); /* same incarnation: ignored */
    CU_ASSERT_EQUAL(c.updates, 0);
    alive(sw, 3, "b", ip_b, 2, "\xff\x80"); /* new tags */
    CU_ASSERT_EQUAL(c.updates, 1);
    /* a different address for a known name is a conflict, not a takeover */
    alive(sw, 4, "b", ip_c, 9, "");
    CU_ASSERT(memcmp(tb__swim_find(sw, "b", 1)->addr, ip_b, 4) == 0);
    /* suspicion of ourselves is refuted above the accusation */
    sd(sw, 5, TB__GW_SUSPECT, "a", "b", 3);
    CU_ASSERT_EQUAL(tb__swim_local(sw)->incarnation, 4);
    CU_ASSERT_EQUAL(tb__swim_local(sw)->state, TB__SWIM_ALIVE);
    CU_ASSERT_EQUAL(tb__swim_health_score(sw), 1);
    /* dead about us too */
    sd(sw, 6, TB__GW_DEAD, "a", "c", 4);
    CU_ASSERT_EQUAL(tb__swim_local(sw)->incarnation, 5);
    /* dead with From == Node means left; from another node, dead */
    sd(sw, 7, TB__GW_DEAD, "c", "c", 1);
    CU_ASSERT_EQUAL(tb__swim_find(sw, "c", 1)->state, TB__SWIM_LEFT);
    CU_ASSERT_EQUAL(c.last_state, TB__SWIM_LEFT);
    sd(sw, 8, TB__GW_DEAD, "b", "c", 2);
    CU_ASSERT_EQUAL(tb__swim_find(sw, "b", 1)->state, TB__SWIM_DEAD);
    CU_ASSERT_EQUAL(c.leaves, 2);
    /* a left node may come back with a new incarnation: join again */
    alive(sw, 9, "c", ip_c, 2, "");
    CU_ASSERT_EQUAL(tb__swim_find(sw, "c", 1)->state, TB__SWIM_ALIVE);
    CU_ASSERT_EQUAL(c.joins, 3);
    tb__swim_free(sw);
}

static void test_suspicion_timeout(void)
{
    counts_t c = { 0 };
    tb__swim_t *sw = mk("a", ip_a, &c);
    alive(sw, 0, "b", ip_b, 1, "");
    alive(sw, 0, "c", ip_c, 1, "");
    /* n = 3: k = 0 confirmations expected, timeout = min = 4 s */
    sd(sw, 1000, TB__GW_SUSPECT, "c", "b", 1);
    CU_ASSERT_EQUAL(tb__swim_find(sw, "c", 1)->state, TB__SWIM_SUSPECT);
    tb__swim_tick(sw, 4999);
    CU_ASSERT_EQUAL(tb__swim_find(sw, "c", 1)->state, TB__SWIM_SUSPECT);
    tb__swim_tick(sw, 5000);
    CU_ASSERT_EQUAL(tb__swim_find(sw, "c", 1)->state, TB__SWIM_DEAD);
    CU_ASSERT_EQUAL(c.leaves, 1);
    /* a refutation before the timeout clears the suspicion */
    sd(sw, 6000, TB__GW_SUSPECT, "b", "c", 1);
    alive(sw, 6500, "b", ip_b, 2, "");
    tb__swim_tick(sw, 20000);
    CU_ASSERT_EQUAL(tb__swim_find(sw, "b", 1)->state, TB__SWIM_ALIVE);
    tb__swim_free(sw);
}

static void test_confirmations_shorten(void)
{
    counts_t c = { 0 };
    tb__swim_t *sw = mk("n0", ip_a, &c);
    uint8_t ip[4] = { 10, 0, 0, 0 };
    char name[8];
    for (int i = 1; i < 10; i++) {
        ip[3] = (uint8_t)i;
        snprintf(name, sizeof name, "n%d", i);
        alive(sw, 0, name, ip, 1, "");
    }
    /* n = 10: min 4 s, max 24 s, k = 2; two confirmations bring it to min */
    sd(sw, 0, TB__GW_SUSPECT, "n9", "n1", 1);
    tb__swim_tick(sw, 5000);
    CU_ASSERT_EQUAL(tb__swim_find(sw, "n9", 2)->state, TB__SWIM_SUSPECT);
    sd(sw, 5000, TB__GW_SUSPECT, "n9", "n2", 1);
    sd(sw, 5000, TB__GW_SUSPECT, "n9", "n2", 1); /* duplicate: not counted */
    tb__swim_tick(sw, 5001);
    CU_ASSERT_EQUAL(tb__swim_find(sw, "n9", 2)->state, TB__SWIM_SUSPECT);
    sd(sw, 5001, TB__GW_SUSPECT, "n9", "n3", 1);
    tb__swim_tick(sw, 5002);
    CU_ASSERT_EQUAL(tb__swim_find(sw, "n9", 2)->state, TB__SWIM_DEAD);
    tb__swim_free(sw);
}

static void test_probe_failure(void)
{
    counts_t c = { 0 };
    tb__swim_t *sw = mk("a", ip_a, &c);
    alive(sw, 0, "b", ip_b, 1, "");
    drain(sw);
    uint64_t t = 0;
    int pings = 0, tcp = 0;
    /* b never answers: ping, then TCP fallback, then suspicion */
    for (t = 0; t < 2500 && tb__swim_find(sw, "b", 1)->state == TB__SWIM_ALIVE; t += 10) {
        tb__swim_tick(sw, t);
        tb__swim_out_t o;
        while (tb__swim_poll(sw, &o)) {
            find_t f = { TB__GW_PING, { 0 }, 0, { 0 } };
            if (o.kind == TB__SWIM_OUT_UDP) {
                tb__gw_packet_walk(o.buf, o.len, find_leaf, &f);
                pings += f.found;
            }
            tcp += o.kind == TB__SWIM_OUT_TCP_PING;
            free(o.buf);
        }
    }
    CU_ASSERT(pings >= 1);
    CU_ASSERT_EQUAL(tcp, 1);
    CU_ASSERT_EQUAL(tb__swim_find(sw, "b", 1)->state, TB__SWIM_SUSPECT);
    CU_ASSERT_EQUAL(tb__swim_health_score(sw), 1);
    CU_ASSERT_EQUAL(tb__swim_stats(sw)->probe_failures, 1);
    tb__swim_free(sw);
}

/* After every tick the next deadline lies in the future: the runtime arms
 * its timer with it, and a deadline in the past made it spin while a node
 * left with failed members (no probes while leaving, next_probe stayed
 * behind) or with push/pull disabled. */
static void check_deadlines(tb__swim_t *sw, uint64_t now, uint64_t until)
{
    int bad = 0;
    while (now < until) {
        tb__swim_tick(sw, now);
        drain(sw);
        uint64_t t = tb__swim_next_deadline(sw);
        bad += t <= now;
        now = t > now ? t : now + 1;
    }
    CU_ASSERT_EQUAL(bad, 0);
}

static void test_deadline_future(void)
{
    counts_t c = { 0 };
    tb__swim_t *sw = mk("a", ip_a, &c);
    alive(sw, 0, "b", ip_b, 1, "");
    alive(sw, 0, "c", ip_c, 1, "");
    sd(sw, 100, TB__GW_DEAD, "c", "b", 1); /* c failed */
    sd(sw, 100, TB__GW_SUSPECT, "b", "c", 1);
    check_deadlines(sw, 100, 3000);
    tb__swim_leave(sw, 3000);
    check_deadlines(sw, 3000, 60000);
    tb__swim_free(sw);

    /* push/pull disabled (interval 0) */
    tb__swim_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.name = "d";
    memcpy(cfg.addr, ip_a, 4);
    cfg.addr_len = 4;
    cfg.port = 7946;
    tb__swim_profile(TB__SWIM_PROFILE_LAN, &cfg.profile);
    cfg.profile.push_pull_interval_ms = 0;
    sw = tb__swim_new(&cfg, 0);
    alive(sw, 0, "b", ip_b, 1, "");
    check_deadlines(sw, 0, 40000);
    tb__swim_free(sw);
}

/* Leaving with one live peer (and a failed one): the leave is not done
 * until our dead message went out; the interop test saw serf keep the
 * member "leaving" because the wait counted the live peer as ourselves. */
static void test_leave_waits_for_last_peer(void)
{
    counts_t c = { 0 };
    tb__swim_t *sw = mk("a", ip_a, &c);
    alive(sw, 0, "b", ip_b, 1, "");
    alive(sw, 0, "c", ip_c, 1, "");
    sd(sw, 100, TB__GW_DEAD, "c", "b", 1); /* c failed, b alive */
    drain(sw);
    CU_ASSERT_TRUE(tb__swim_others_alive(sw));
    tb__swim_leave(sw, 200);
    CU_ASSERT_FALSE(tb__swim_leave_done(sw));
    uint64_t now = 200;
    for (int i = 0; i < 200 && !tb__swim_leave_done(sw); i++) {
        now += 50;
        tb__swim_tick(sw, now);
        drain(sw);
    }
    CU_ASSERT_TRUE(tb__swim_leave_done(sw));
    tb__swim_free(sw);
}

/* A join is followed by one push/pull with a random member after
 * 2 probe intervals, long before the periodic one (gsim: members that
 * joined concurrently missed each other for 30 s without it). */
static int count_push_pulls(tb__swim_t *sw, uint64_t now)
{
    int n = 0;
    tb__swim_tick(sw, now);
    tb__swim_out_t o;
    while (tb__swim_poll(sw, &o)) {
        n += o.kind == TB__SWIM_OUT_PUSH_PULL;
        free(o.buf);
    }
    return n;
}

static void test_join_followup(void)
{
    counts_t c = { 0 };
    tb__swim_t *sw = mk("a", ip_a, &c);
    tb__swim_join(sw, 1000, ip_b, 4, 7946);
    drain(sw);
    alive(sw, 1010, "b", ip_b, 1, "");
    alive(sw, 1010, "c", ip_c, 1, "");
    CU_ASSERT(tb__swim_next_deadline(sw) <= 3000);
    CU_ASSERT_EQUAL(count_push_pulls(sw, 1010), 0);
    CU_ASSERT_EQUAL(count_push_pulls(sw, 2990), 0);
    /* neither answered our probes here: one of them is suspected by the
     * tick below, the other gets the push/pull */
    alive(sw, 2995, "b", ip_b, 5, "");
    alive(sw, 2995, "c", ip_c, 5, "");
    CU_ASSERT_EQUAL(count_push_pulls(sw, 3000), 1);
    tb__swim_free(sw);
}

/* ---------------------------------------------------------------- serf */

static tb__serf_t *mk_serf(const char *name, const uint8_t ip[4])
{
    tb__serf_config_t c;
    tb__serf_defaults(&c, TB__SWIM_PROFILE_LAN);
    c.swim.name = name;
    memcpy(c.swim.addr, ip, 4);
    c.swim.addr_len = 4;
    c.swim.port = 7946;
    c.swim.seed = 7;
    return tb__serf_new(&c, 0);
}

static int count_events(tb__serf_t *s, int type)
{
    tb__serf_event_t ev;
    int n = 0;
    while (tb__serf_poll(s, &ev)) {
        n += ev.type == type;
        tb__serf_event_clear(&ev);
    }
    return n;
}

static void test_serf_join_and_events(void)
{
    tb__serf_t *a = mk_serf("a", ip_a), *b = mk_serf("b", ip_b);
    tb__swim_t *sa = tb__serf_swim(a), *sb = tb__serf_swim(b);
    drain(sa);
    drain(sb);
    count_events(a, 0);
    count_events(b, 0);
    /* b joins a: push/pull both ways */
    uint32_t id = tb__serf_join(b, 10, ip_a, 4, 7946);
    tb__swim_out_t o;
    CU_ASSERT_FATAL(tb__swim_poll(sb, &o));
    CU_ASSERT(o.kind == TB__SWIM_OUT_PUSH_PULL && o.join && o.id == id);
    tb__gw_stream_msg_t req, rep;
    CU_ASSERT_EQUAL_FATAL(tb__gw_stream_decode(NULL, false, o.buf, o.len, &req), 0);
    tb__gw_buf_t reply;
    tb__gw_buf_init(&reply);
    CU_ASSERT_EQUAL(tb__swim_stream_request(sa, 20, &req, &reply), 0);
    CU_ASSERT_EQUAL_FATAL(tb__gw_stream_decode(NULL, false, reply.data, reply.len, &rep), 0);
    CU_ASSERT(rep.pp.join);
    CU_ASSERT_EQUAL(tb__serf_stream_reply(b, 30, id, &rep), 0);
    tb__gw_stream_msg_free(&req);
    tb__gw_stream_msg_free(&rep);
    tb__gw_buf_free(&reply);
    free(o.buf);
    CU_ASSERT_EQUAL(tb__serf_num_members(a), 2);
    CU_ASSERT_EQUAL(tb__serf_num_members(b), 2);
    CU_ASSERT_EQUAL(tb__serf_member(a, "b")->status, TB__SERF_STATUS_ALIVE);
    CU_ASSERT_EQUAL(count_events(a, TB__SERF_EV_MEMBER_JOIN), 1);
    /* the join intent went into b's queue: the clock moved past it */
    CU_ASSERT_EQUAL(tb__serf_clock(b), 2);
    CU_ASSERT(tb__serf_queue_len(b) > 0);

    /* a user event from the capture (LTime 1, "deploy" "v1") delivered
     * once; the second copy is a duplicate; the clock witnessed it */
    static const uint8_t ev[] = "\x08\x03\x84\xa2" "CC" "\xc3\xa5" "LTime" "\x01\xa4" "Name"
                                "\xa6" "deploy" "\xa7" "Payload" "\xa2" "v1";
    count_events(b, 0);
    tb__swim_recv_udp(sb, 40, ip_a, 4, 7946, ev, sizeof ev - 1);
    tb__swim_recv_udp(sb, 41, ip_a, 4, 7946, ev, sizeof ev - 1);
    CU_ASSERT_EQUAL(count_events(b, TB__SERF_EV_USER), 1);
    CU_ASSERT_EQUAL(tb__serf_event_clock(b), 2);
    /* our own events get increasing LTimes and are delivered locally */
    CU_ASSERT_EQUAL(tb__serf_user_event(b, 50, "restart", (const uint8_t *)"now", 3, false), 0);
    CU_ASSERT_EQUAL(tb__serf_event_clock(b), 3);
    CU_ASSERT_EQUAL(count_events(b, TB__SERF_EV_USER), 1);
    char big[600];
    memset(big, 'x', sizeof big);
    CU_ASSERT_EQUAL(tb__serf_user_event(b, 50, "big", (const uint8_t *)big, sizeof big, true),
                    TB__GW_EOVERSIZE);

    /* a leave intent about ourselves is refuted with a fresh join */
    uint64_t clk = tb__serf_clock(b);
    static const uint8_t lv[] = "\x08\x00\x83\xa5" "LTime" "\x09\xa4" "Node" "\xa1" "b"
                                "\xa5" "Prune" "\xc2";
    tb__swim_recv_udp(sb, 60, ip_a, 4, 7946, lv, sizeof lv - 1);
    CU_ASSERT_EQUAL(tb__serf_member(b, "b")->status, TB__SERF_STATUS_ALIVE);
    CU_ASSERT(tb__serf_clock(b) > clk && tb__serf_clock(b) >= 10);
    /* a leave intent about a: leaving, then memberlist's dead -> left */
    static const uint8_t la[] = "\x08\x00\x83\xa5" "LTime" "\x14\xa4" "Node" "\xa1" "a"
                                "\xa5" "Prune" "\xc2";
    tb__swim_recv_udp(sb, 70, ip_a, 4, 7946, la, sizeof la - 1);
    CU_ASSERT_EQUAL(tb__serf_member(b, "a")->status, TB__SERF_STATUS_LEAVING);
    sd(sb, 80, TB__GW_DEAD, "a", "a", tb__swim_find(sb, "a", 1)->incarnation);
    CU_ASSERT_EQUAL(tb__serf_member(b, "a")->status, TB__SERF_STATUS_LEFT);
    CU_ASSERT_EQUAL(count_events(b, TB__SERF_EV_MEMBER_LEAVE), 1);
    tb__serf_free(a);
    tb__serf_free(b);
}

static void test_serf_reap(void)
{
    tb__serf_t *a = mk_serf("a", ip_a);
    tb__swim_t *sa = tb__serf_swim(a);
    alive(sa, 0, "b", ip_b, 1, "");
    sd(sa, 100, TB__GW_DEAD, "b", "c", 1);
    CU_ASSERT_EQUAL(tb__serf_member(a, "b")->status, TB__SERF_STATUS_FAILED);
    tb__serf_tick(a, 16000);
    CU_ASSERT_PTR_NOT_NULL(tb__serf_member(a, "b"));
    /* reconnect_timeout 24 h, then the next reap */
    tb__serf_tick(a, 24ULL * 3600 * 1000 + 16000);
    tb__serf_tick(a, 24ULL * 3600 * 1000 + 32000);
    CU_ASSERT_PTR_NULL(tb__serf_member(a, "b"));
    CU_ASSERT_EQUAL(count_events(a, TB__SERF_EV_MEMBER_REAP), 1);
    /* someone else claims our name: reported, not taken over */
    alive(sa, 100000000, "a", ip_c, 50, "");
    CU_ASSERT(memcmp(tb__swim_local(sa)->addr, ip_a, 4) == 0);
    CU_ASSERT_EQUAL(tb__swim_local(sa)->incarnation, 1);
    CU_ASSERT_EQUAL(count_events(a, TB__SERF_EV_NAME_CONFLICT), 1);
    tb__serf_free(a);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("gossip_swim", NULL, NULL);
    CU_add_test(s, "timing formulas", test_formulas);
    CU_add_test(s, "ping and ack", test_ping_ack);
    CU_add_test(s, "membership and refutation", test_membership_and_refute);
    CU_add_test(s, "suspicion timeout", test_suspicion_timeout);
    CU_add_test(s, "confirmations shorten suspicion", test_confirmations_shorten);
    CU_add_test(s, "probe failure", test_probe_failure);
    CU_add_test(s, "next deadline in the future", test_deadline_future);
    CU_add_test(s, "leave waits for the last live peer", test_leave_waits_for_last_peer);
    CU_add_test(s, "push/pull after a join", test_join_followup);
    CU_add_test(s, "serf join, events, intents", test_serf_join_and_events);
    CU_add_test(s, "serf reap", test_serf_reap);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
