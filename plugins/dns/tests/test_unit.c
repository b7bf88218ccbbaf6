/*
 * test_unit.c - CUnit tests of the dns plugin without sockets: the wire
 * codec (compression pointers, label and name limits, EDNS, bad input),
 * name classification, TTL rules, TXT encoding, and the query path
 * (tbd_handle) against a fake endpoint: health filtering, tag filtering,
 * limits and truncation, NXDOMAIN vs NOERROR+SOA, and the cache (a loaded
 * name makes no endpoint call; a blocking query follows it).
 */
#include <CUnit/Basic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "fake_catalog.h"

/* ---------------------------------------------------------------- stubs */

static uint8_t sent[65536];
static size_t sent_len;
static int nsent, nforward;

uint32_t tbd_rand(tbd_server_t *s)
{
    uint64_t x = s->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s->rng = x;
    return (uint32_t)((x * 2685821657736338717ull) >> 32);
}
void tbd_send(tbd_server_t *s, tbd_client_t *c, const uint8_t *p, size_t n)
{
    (void)s, (void)c;
    memcpy(sent, p, n);
    sent_len = n;
    nsent++;
}
int tbd_forward(tbd_server_t *s, const dnsw_query_t *q, const uint8_t *pkt, size_t len,
                tbd_client_t *c)
{
    (void)s, (void)q, (void)pkt, (void)len, (void)c;
    nforward++;
    return 0;
}
void tbd_client_hold(tbd_client_t *c)
{
    (void)c;
}
void tbd_client_release(tbd_client_t *c)
{
    (void)c;
}
void tbd_server_maybe_free(tbd_server_t *s)
{
    (void)s;
}

/* The fake endpoint (fake_catalog.h): calls are recorded; the test
 * completes them with typed views. */
static uint64_t fake_now;

static uint64_t f_now(tb_plugin_t *self)
{
    (void)self;
    return fake_now;
}
static void f_log(tb_plugin_t *self, tb_log_level_t l, const char *fmt, ...)
{
    (void)self, (void)l, (void)fmt;
}
static void f_timer_stop(tb_timer_t *t)
{
    (void)t;
}
static tb_timer_t *f_timer_start(tb_plugin_t *self, uint64_t a, uint64_t b, tb_timer_cb cb,
                                 void *arg)
{
    (void)self, (void)a, (void)b, (void)cb, (void)arg;
    return NULL;
}

static int fake_duration(const char *s, uint64_t *ns)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s)
        return -1;
    *ns = (uint64_t)(v * (strcmp(end, "h") == 0 ? 3600e9 : strcmp(end, "m") == 0 ? 60e9
                                                          : strcmp(end, "ms") == 0 ? 1e6
                                                                                   : 1e9));
    return 0;
}

static tb_api_t api;
static tbd_server_t *srv;

static void server_new(const char *agent_json)
{
    memset(&api, 0, sizeof api);
    api.size = sizeof api;
    api.catalog_read = fk_catalog_read;
    api.call_cancel = fk_cancel;
    api.now_ms = f_now;
    api.log = f_log;
    api.timer_start = f_timer_start;
    api.timer_stop = f_timer_stop;
    srv = calloc(1, sizeof *srv);
    srv->api = &api;
    srv->rng = 12345;
    json_t *a = json_loads(agent_json ? agent_json : "{}", 0, NULL);
    char *err = NULL;
    CU_ASSERT_FATAL(tbd_settings_load(&srv->cfg, a, NULL, fake_duration, &err) == 0);
    json_decref(a);
    fk.ncalls = 0;
    fk.cb = NULL;
}

static void server_free(void)
{
    tbd_cache_clear(srv);
    tbd_settings_free(&srv->cfg);
    free(srv);
    srv = NULL;
}

/* ---------------------------------------------------------------- helpers */

static size_t mkquery(uint8_t *p, const char *name, uint16_t qtype, int edns, uint16_t size)
{
    dnsw_buf_t b = {p, 0, 4096, 0};
    dnsw_put16(&b, 0x1234);
    dnsw_put16(&b, 0x0100);
    dnsw_put16(&b, 1);
    dnsw_put16(&b, 0);
    dnsw_put16(&b, 0);
    dnsw_put16(&b, edns ? 1 : 0);
    uint8_t w[256];
    int n = dnsw_name_from_text(name, w);
    dnsw_put(&b, w, (size_t)n);
    dnsw_put16(&b, qtype);
    dnsw_put16(&b, 1);
    if (edns) {
        dnsw_put8(&b, 0);
        dnsw_put16(&b, DNSW_T_OPT);
        dnsw_put16(&b, size);
        dnsw_put32(&b, 0);
        dnsw_put16(&b, 0);
    }
    return b.len;
}

typedef struct parsed {
    int rcode, tc, aa;
    int an, ns, ar;
    int types_an[64];
    char an_data[64][300];
} parsed_t;

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static int parse_resp(const uint8_t *p, size_t n, parsed_t *o)
{
    memset(o, 0, sizeof *o);
    if (n < 12)
        return -1;
    o->rcode = p[3] & 0xF;
    o->tc = (p[2] & 0x02) != 0;
    o->aa = (p[2] & 0x04) != 0;
    o->an = rd16(p + 6);
    o->ns = rd16(p + 8);
    o->ar = rd16(p + 10);
    size_t off = 12;
    uint8_t name[256];
    for (int i = 0; i < rd16(p + 4); i++) {
        if (dnsw_read_name(p, n, &off, name) < 0)
            return -1;
        off += 4;
    }
    int total = o->an + o->ns + o->ar;
    for (int i = 0; i < total; i++) {
        if (dnsw_read_name(p, n, &off, name) < 0 || off + 10 > n)
            return -1;
        uint16_t type = rd16(p + off), rdlen = rd16(p + off + 8);
        size_t rdo = off + 10;
        if (rdo + rdlen > n)
            return -1;
        if (i < o->an && i < 64) {
            o->types_an[i] = type;
            if (type == DNSW_T_A)
                snprintf(o->an_data[i], 300, "%u.%u.%u.%u", p[rdo], p[rdo + 1], p[rdo + 2],
                         p[rdo + 3]);
            else if (type == DNSW_T_SRV || type == DNSW_T_PTR || type == DNSW_T_CNAME) {
                size_t t = rdo + (type == DNSW_T_SRV ? 6 : 0);
                uint8_t tn[256];
                if (dnsw_read_name(p, n, &t, tn) < 0)
                    return -1;
                dnsw_name_to_text(tn, o->an_data[i], 300);
            } else if (type == DNSW_T_TXT) {
                snprintf(o->an_data[i], 300, "%.*s", p[rdo], (const char *)p + rdo + 1);
            }
        }
        off = rdo + rdlen;
    }
    return off == n ? 0 : -1;
}

static int ask(const char *name, uint16_t qtype, int edns, uint16_t size, int tcp, parsed_t *o)
{
    uint8_t q[512];
    size_t n = mkquery(q, name, qtype, edns, size);
    tbd_client_t c;
    memset(&c, 0, sizeof c);
    c.udp = tcp ? NULL : (uv_udp_t *)&c;
    int before = nsent;
    sent_len = 0;
    tbd_handle(srv, q, n, &c);
    if (nsent == before)
        return -1;
    return parse_resp(sent, sent_len, o);
}

/* ---------------------------------------------------------------- codec */

static void test_names_compression(void)
{
    /* header + "a.b." at 12, then a pointer name "c" -> 12 */
    uint8_t m[64] = {0};
    size_t o = 12;
    uint8_t ab[] = {1, 'a', 1, 'b', 0};
    memcpy(m + o, ab, sizeof ab);
    o += sizeof ab;
    size_t p2 = o;
    m[o++] = 1;
    m[o++] = 'c';
    m[o++] = 0xC0;
    m[o++] = 12;
    uint8_t out[256];
    size_t off = p2;
    int n = dnsw_read_name(m, o, &off, out);
    CU_ASSERT_EQUAL(n, 7);
    CU_ASSERT_EQUAL(off, o);
    CU_ASSERT(memcmp(out, "\1c\1a\1b\0", 7) == 0);
    /* self pointer, forward pointer: rejected (no loops) */
    uint8_t loop[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xC0, 12};
    off = 12;
    CU_ASSERT_EQUAL(dnsw_read_name(loop, sizeof loop, &off, out), -1);
    uint8_t fwd[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xC0, 14, 1, 'x', 0};
    off = 12;
    CU_ASSERT_EQUAL(dnsw_read_name(fwd, sizeof fwd, &off, out), -1);
    /* two pointers that chase each other */
    uint8_t mutual[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xC0, 14, 0xC0, 12};
    off = 14;
    CU_ASSERT_EQUAL(dnsw_read_name(mutual, sizeof mutual, &off, out), -1);
    /* truncated pointer and truncated label */
    uint8_t tr[] = {1, 'a', 0xC0};
    off = 0;
    CU_ASSERT_EQUAL(dnsw_read_name(tr, sizeof tr, &off, out), -1);
    uint8_t tl[] = {5, 'a', 'b'};
    off = 0;
    CU_ASSERT_EQUAL(dnsw_read_name(tl, sizeof tl, &off, out), -1);
}

static void test_names_limits(void)
{
    uint8_t m[600];
    uint8_t out[256];
    size_t off = 0;
    /* a 64-byte label */
    m[0] = 64;
    memset(m + 1, 'a', 64);
    m[65] = 0;
    CU_ASSERT_EQUAL(dnsw_read_name(m, 66, &off, out), -1);
    /* a 63-byte label is fine */
    m[0] = 63;
    m[64] = 0;
    off = 0;
    CU_ASSERT_EQUAL(dnsw_read_name(m, 65, &off, out), 65);
    /* 255 bytes ok, 257 not: 4 labels of 63 = 256 + root */
    size_t o = 0;
    for (int i = 0; i < 3; i++) {
        m[o++] = 63;
        memset(m + o, 'x', 63);
        o += 63;
    }
    m[o++] = 61;
    memset(m + o, 'y', 61);
    o += 61;
    m[o++] = 0;
    off = 0;
    CU_ASSERT_EQUAL(dnsw_read_name(m, o, &off, out), 255);
    m[3 * 64] = 62;
    memmove(m + 3 * 64 + 63, m + 3 * 64 + 62, 1);
    m[3 * 64 + 62] = 'y';
    m[3 * 64 + 63] = 0;
    off = 0;
    CU_ASSERT_EQUAL(dnsw_read_name(m, 3 * 64 + 64, &off, out), -1);
    /* extended label types 0x40/0x80 */
    uint8_t ext[] = {0x41, 'a', 0};
    off = 0;
    CU_ASSERT_EQUAL(dnsw_read_name(ext, sizeof ext, &off, out), -1);
}

static void test_parse_query(void)
{
    uint8_t q[600];
    dnsw_query_t d;
    size_t n = mkquery(q, "web.service.consul", DNSW_T_A, 0, 0);
    CU_ASSERT_EQUAL(dnsw_parse_query(q, n, &d), DNSW_OK);
    CU_ASSERT_EQUAL(d.nlabels, 3);
    CU_ASSERT_EQUAL(d.qtype, DNSW_T_A);
    CU_ASSERT_FALSE(d.has_edns);
    CU_ASSERT_EQUAL(dnsw_parse_query(q, 11, &d), DNSW_DROP);
    CU_ASSERT_EQUAL(dnsw_parse_query(q, n - 1, &d), DNSW_ERROR);
    CU_ASSERT_EQUAL(d.rcode, DNSW_FORMERR);
    q[2] |= 0x80; /* QR */
    CU_ASSERT_EQUAL(dnsw_parse_query(q, n, &d), DNSW_DROP);
    q[2] &= 0x7F;
    q[5] = 2; /* QDCOUNT 2 */
    CU_ASSERT_EQUAL(dnsw_parse_query(q, n, &d), DNSW_ERROR);
    CU_ASSERT_EQUAL(d.rcode, DNSW_FORMERR);
    q[5] = 0;
    CU_ASSERT_EQUAL(dnsw_parse_query(q, n, &d), DNSW_ERROR);
    q[5] = 1;
    q[2] |= 0x10; /* opcode 2 */
    CU_ASSERT_EQUAL(dnsw_parse_query(q, n, &d), DNSW_ERROR);
    CU_ASSERT_EQUAL(d.rcode, DNSW_NOTIMP);
    q[2] &= (uint8_t)~0x10;
    q[n - 1] = 3; /* class CH */
    CU_ASSERT_EQUAL(dnsw_parse_query(q, n, &d), DNSW_ERROR);
    CU_ASSERT_EQUAL(d.rcode, DNSW_NOTIMP);
    /* EDNS with a payload size and client subnet */
    n = mkquery(q, "web.service.consul", DNSW_T_A, 1, 4096);
    CU_ASSERT_EQUAL(dnsw_parse_query(q, n, &d), DNSW_OK);
    CU_ASSERT(d.has_edns && d.udp_size == 4096);
    /* add ECS 192.0.2.0/24 */
    q[n - 2] = 0;
    q[n - 1] = 11;
    uint8_t ecs[] = {0, 8, 0, 7, 0, 1, 24, 0, 192, 0, 2};
    memcpy(q + n, ecs, sizeof ecs);
    CU_ASSERT_EQUAL(dnsw_parse_query(q, n + sizeof ecs, &d), DNSW_OK);
    CU_ASSERT(d.has_ecs && d.ecs_source == 24 && d.ecs_addr_len == 3);
    /* tiny advertised size is raised to 512; version 1 is BADVERS */
    n = mkquery(q, "x.consul", DNSW_T_A, 1, 100);
    CU_ASSERT_EQUAL(dnsw_parse_query(q, n, &d), DNSW_OK);
    CU_ASSERT_EQUAL(d.udp_size, 512);
    q[n - 5] = 1;
    CU_ASSERT_EQUAL(dnsw_parse_query(q, n, &d), DNSW_ERROR);
    CU_ASSERT_EQUAL(d.rcode, DNSW_BADVERS);
}

/* ---------------------------------------------------------------- names */

static void classify(const tbd_settings_t *s, const char *name, uint16_t qtype, tbd_qinfo_t *qi)
{
    uint8_t q[600];
    dnsw_query_t d;
    size_t n = mkquery(q, name, qtype, 0, 0);
    CU_ASSERT_FATAL(dnsw_parse_query(q, n, &d) == DNSW_OK);
    tbd_classify(s, &d, qi);
}

static void test_classify(void)
{
    server_new("{\"alt_domain\":\"example.\",\"datacenter\":\"DC1\"}");
    tbd_settings_t *s = &srv->cfg;
    tbd_qinfo_t qi;
    classify(s, "a.b.node.consul", DNSW_T_A, &qi);
    CU_ASSERT(qi.kind == TBD_Q_NODE && strcmp(qi.name, "a.b") == 0);
    classify(s, "Web.Service.dc1.Consul", DNSW_T_A, &qi);
    CU_ASSERT(qi.kind == TBD_Q_SERVICE && strcmp(qi.name, "web") == 0 && !qi.tag[0]);
    classify(s, "v1.web.service.dc1.dc.consul", DNSW_T_A, &qi);
    CU_ASSERT(qi.kind == TBD_Q_SERVICE && strcmp(qi.tag, "v1") == 0);
    classify(s, "a.b.web.service.consul", DNSW_T_A, &qi);
    CU_ASSERT(qi.kind == TBD_Q_SERVICE && strcmp(qi.tag, "a.b") == 0);
    classify(s, "_web._tcp.service.consul", DNSW_T_SRV, &qi);
    CU_ASSERT(qi.kind == TBD_Q_SERVICE && strcmp(qi.name, "web") == 0 && !qi.tag[0]);
    classify(s, "_web._v1.service.consul", DNSW_T_SRV, &qi);
    CU_ASSERT(qi.kind == TBD_Q_SERVICE && strcmp(qi.tag, "v1") == 0);
    classify(s, "_web._tcp.consul", DNSW_T_SRV, &qi);
    CU_ASSERT(qi.kind == TBD_Q_SERVICE && strcmp(qi.name, "web") == 0);
    classify(s, "_web._tcp.consul", DNSW_T_A, &qi);
    CU_ASSERT(qi.kind == TBD_Q_NX);
    classify(s, "web.service.dc2.consul", DNSW_T_A, &qi);
    CU_ASSERT(qi.kind == TBD_Q_NX);
    classify(s, "web.service.dc1.xx.consul", DNSW_T_A, &qi);
    CU_ASSERT(qi.kind == TBD_Q_NX);
    classify(s, "foo.consul", DNSW_T_A, &qi);
    CU_ASSERT(qi.kind == TBD_Q_NX);
    classify(s, "consul", DNSW_T_SOA, &qi);
    CU_ASSERT(qi.kind == TBD_Q_APEX);
    classify(s, "c000020a.addr.dc1.consul", DNSW_T_A, &qi);
    CU_ASSERT(qi.kind == TBD_Q_ADDR && qi.family == 4 && qi.ip[0] == 192 && qi.ip[3] == 10);
    classify(s, "20010db8000000000000000000000001.addr.consul", DNSW_T_AAAA, &qi);
    CU_ASSERT(qi.kind == TBD_Q_ADDR && qi.family == 6 && qi.ip[15] == 1);
    classify(s, "zz00020a.addr.consul", DNSW_T_A, &qi);
    CU_ASSERT(qi.kind == TBD_Q_NX);
    classify(s, "web.service.example", DNSW_T_A, &qi);
    CU_ASSERT(qi.kind == TBD_Q_SERVICE && qi.alt);
    classify(s, "10.2.0.192.in-addr.arpa", DNSW_T_PTR, &qi);
    CU_ASSERT(qi.kind == TBD_Q_PTR && qi.family == 4 && qi.ip[0] == 192 && qi.ip[3] == 10);
    classify(s, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
             DNSW_T_PTR, &qi);
    CU_ASSERT(qi.kind == TBD_Q_PTR && qi.family == 6 && qi.ip[0] == 0x20 && qi.ip[15] == 1);
    classify(s, "www.example.org", DNSW_T_A, &qi);
    CU_ASSERT(qi.kind == TBD_Q_OUTSIDE);
    classify(s, "x.query.consul", DNSW_T_A, &qi);
    CU_ASSERT(qi.kind == TBD_Q_NX);
    server_free();
}

static void test_ttl_and_txt(void)
{
    server_new("{\"dns_config\":{\"node_ttl\":\"10s\",\"service_ttl\":{\"*\":\"5s\","
               "\"web\":\"30s\",\"db*\":\"7s\",\"dbx*\":\"8s\"}}}");
    CU_ASSERT_EQUAL(srv->cfg.node_ttl, 10);
    CU_ASSERT_EQUAL(tbd_service_ttl(&srv->cfg, "web"), 30);
    CU_ASSERT_EQUAL(tbd_service_ttl(&srv->cfg, "dbxy"), 8);
    CU_ASSERT_EQUAL(tbd_service_ttl(&srv->cfg, "dba"), 7);
    CU_ASSERT_EQUAL(tbd_service_ttl(&srv->cfg, "other"), 5);
    server_free();
    const tb_pair_t m[] = {{"a=b", "c`d"}, {" k ", "v"}, {"rfc1035-x", "raw"}};
    uint8_t *blob = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL(tbd_meta_txt(m, 3, &blob, &len), 3);
    char all[256] = "";
    for (size_t i = 0; i + 2 < len;) {
        size_t rd = (size_t)blob[i] << 8 | blob[i + 1];
        strncat(all, (char *)blob + i + 3, blob[i + 2]);
        strcat(all, "|");
        i += 2 + rd;
    }
    CU_ASSERT_STRING_EQUAL(all, "a`=b=c``d|` k` =v|raw|");
    free(blob);
}

/* ---------------------------------------------------------------- query path */

/* n instances of "web" on node<i> 10.0.<i/250>.<i%250>; statuses per
 * instance ('c' critical, 'w' warning, else passing). */
static fk_view_t *service_view(int n, const char *statuses, const char *tag_of_first)
{
    fk_view_t *v = fk_new();
    for (int i = 1; i <= n; i++) {
        char name[32], addr[32];
        tb_check_status_t st = TB_CHECK_PASSING;
        if (statuses && (int)strlen(statuses) >= i)
            st = statuses[i - 1] == 'c'   ? TB_CHECK_CRITICAL
                 : statuses[i - 1] == 'w' ? TB_CHECK_WARNING
                                          : TB_CHECK_PASSING;
        snprintf(name, sizeof name, "node%d", i);
        snprintf(addr, sizeof addr, "10.0.%d.%d", i / 250, i % 250);
        size_t nd = fk_node(v, name, addr, NULL, NULL);
        fk_service(v, nd, "", 8000 + i, i == 1 ? tag_of_first : NULL, st);
    }
    return v;
}

static void load_service(const char *name, uint16_t qtype, const fk_view_t *v, parsed_t *o)
{
    CU_ASSERT_EQUAL(ask(name, qtype, 0, 0, 0, o), -1); /* waits for the endpoint */
    CU_ASSERT_EQUAL(fk.kind, TB_CATALOG_SERVICE_NODES);
    CU_ASSERT_EQUAL(fk.min_index, 0);
    fk_complete(v, TB_OK, 10);
    /* the waiter was answered, and a blocking query follows the name */
    CU_ASSERT_EQUAL(fk.min_index, 10);
    CU_ASSERT_PTR_NOT_NULL(fk.cb);
    parse_resp(sent, sent_len, o);
}

static void test_service_health_and_limits(void)
{
    server_new(NULL);
    parsed_t r;
    fk_view_t *j = service_view(5, "pcwpp", "V1");
    load_service("web.service.consul", DNSW_T_A, j, &r);
    CU_ASSERT_EQUAL(r.rcode, 0);
    CU_ASSERT_EQUAL(r.an, 3); /* udp_answer_limit */
    CU_ASSERT(r.aa);
    int calls = fk.ncalls;
    /* EDNS: no count cut; the critical one never shows */
    CU_ASSERT_EQUAL(ask("web.service.consul", DNSW_T_A, 1, 4096, 0, &r), 0);
    CU_ASSERT_EQUAL(r.an, 4);
    for (int i = 0; i < r.an; i++)
        CU_ASSERT(strcmp(r.an_data[i], "10.0.0.2") != 0);
    CU_ASSERT_EQUAL(fk.ncalls, calls); /* served from the cache */
    /* SRV: weights from Weights.Passing/Warning, targets with Additional */
    CU_ASSERT_EQUAL(ask("web.service.consul", DNSW_T_SRV, 1, 4096, 0, &r), 0);
    CU_ASSERT_EQUAL(r.an, 4);
    CU_ASSERT_EQUAL(r.ar, 5); /* 4 A + OPT */
    CU_ASSERT(strstr(r.an_data[0], ".node.dc1.consul.") != NULL);
    /* tag filter, case-insensitive */
    CU_ASSERT_EQUAL(ask("v1.web.service.consul", DNSW_T_A, 0, 0, 0, &r), -1);
    CU_ASSERT_STRING_EQUAL(fk.tag, "v1"); /* the core filters by tag */
    fk_complete(j, TB_OK, 10);
    parse_resp(sent, sent_len, &r);
    CU_ASSERT_EQUAL(r.an, 1);
    CU_ASSERT_STRING_EQUAL(r.an_data[0], "10.0.0.1");
    /* AAAA for an IPv4-only service: NOERROR, empty, SOA */
    CU_ASSERT_EQUAL(ask("web.service.consul", DNSW_T_AAAA, 0, 0, 0, &r), 0);
    CU_ASSERT(r.rcode == 0 && r.an == 0 && r.ns == 1);
    /* TCP: everything */
    CU_ASSERT_EQUAL(ask("web.service.consul", DNSW_T_A, 0, 0, 1, &r), 0);
    CU_ASSERT_EQUAL(r.an, 4);
    free(j);
    server_free();

    server_new("{\"dns_config\":{\"only_passing\":true,\"a_record_limit\":2}}");
    j = service_view(5, "pcwpp", NULL);
    load_service("web.service.consul", DNSW_T_A, j, &r);
    CU_ASSERT_EQUAL(ask("web.service.consul", DNSW_T_A, 0, 0, 1, &r), 0);
    CU_ASSERT_EQUAL(r.an, 2); /* a_record_limit on TCP too */
    CU_ASSERT_EQUAL(ask("web.service.consul", DNSW_T_SRV, 0, 0, 1, &r), 0);
    CU_ASSERT_EQUAL(r.an, 3); /* only passing; SRV not limited by a_record_limit */
    free(j);
    /* all critical: NXDOMAIN with SOA */
    j = service_view(2, "cc", NULL);
    load_service("db.service.consul", DNSW_T_A, j, &r);
    CU_ASSERT_EQUAL(r.rcode, DNSW_NXDOMAIN);
    CU_ASSERT_EQUAL(r.ns, 1);
    free(j);
    server_free();
}

static void test_truncation_and_shuffle(void)
{
    server_new("{\"dns_config\":{\"enable_truncate\":true,\"udp_answer_limit\":8}}");
    parsed_t r;
    fk_view_t *j = service_view(300, NULL, NULL);
    load_service("web.service.consul", DNSW_T_SRV, j, &r);
    CU_ASSERT(sent_len <= 512);
    CU_ASSERT(r.tc);
    /* EDNS 1232: many more, still within the limit */
    CU_ASSERT_EQUAL(ask("web.service.consul", DNSW_T_SRV, 1, 1232, 0, &r), 0);
    CU_ASSERT(sent_len <= 1232 && r.an > 8 && r.tc);
    CU_ASSERT_EQUAL(r.ar, r.an + 1);
    CU_ASSERT_EQUAL(ask("web.service.consul", DNSW_T_A, 1, 65000, 0, &r), 0);
    CU_ASSERT_EQUAL(r.an, 300);
    CU_ASSERT(!r.tc);
    /* shuffling: the first answer changes across queries */
    char first[300];
    int differ = 0;
    ask("web.service.consul", DNSW_T_A, 0, 0, 0, &r);
    snprintf(first, sizeof first, "%s", r.an_data[0]);
    for (int i = 0; i < 20; i++) {
        ask("web.service.consul", DNSW_T_A, 0, 0, 0, &r);
        differ += strcmp(first, r.an_data[0]) != 0;
        CU_ASSERT(sent_len <= 512);
    }
    CU_ASSERT(differ > 10);
    free(j);
    server_free();
    /* default: silently trimmed, no TC */
    server_new(NULL);
    j = service_view(300, NULL, NULL);
    load_service("web.service.consul", DNSW_T_SRV, j, &r);
    CU_ASSERT(!r.tc && r.an == 3);
    free(j);
    server_free();
}

static void test_nodes_and_codes(void)
{
    server_new(NULL);
    parsed_t r;
    fk_view_t *v = fk_new();
    fk_node(v, "n1", "192.0.2.1", "k", "v");
    CU_ASSERT_EQUAL(ask("n1.node.consul", DNSW_T_A, 0, 0, 0, &r), -1);
    CU_ASSERT(fk.kind == TB_CATALOG_NODE && strcmp(fk.name, "n1") == 0);
    fk_complete(v, TB_OK, 5);
    parse_resp(sent, sent_len, &r);
    CU_ASSERT(r.rcode == 0 && r.an == 1 && r.ar == 1);
    CU_ASSERT_STRING_EQUAL(r.an_data[0], "192.0.2.1");
    CU_ASSERT_EQUAL(ask("n1.node.consul", DNSW_T_TXT, 0, 0, 0, &r), 0);
    CU_ASSERT(r.an == 1 && strcmp(r.an_data[0], "k=v") == 0);
    CU_ASSERT_EQUAL(ask("n1.node.consul", 15, 0, 0, 0, &r), 0);
    CU_ASSERT(r.rcode == 0 && r.an == 0 && r.ns == 1);
    CU_ASSERT_EQUAL(ask("nope.node.consul", DNSW_T_A, 0, 0, 0, &r), -1);
    fk_complete(NULL, TB_NOT_FOUND, 5);
    parse_resp(sent, sent_len, &r);
    CU_ASSERT_EQUAL(r.rcode, DNSW_NXDOMAIN);
    /* PTR via the node table */
    CU_ASSERT_EQUAL(ask("1.2.0.192.in-addr.arpa", DNSW_T_PTR, 0, 0, 0, &r), -1);
    CU_ASSERT_EQUAL(fk.kind, TB_CATALOG_NODES);
    fk_complete(v, TB_OK, 5);
    free(v);
    parse_resp(sent, sent_len, &r);
    CU_ASSERT(r.an == 1 && strcmp(r.an_data[0], "n1.node.dc1.consul.") == 0);
    CU_ASSERT_EQUAL(ask("9.9.9.9.in-addr.arpa", DNSW_T_PTR, 0, 0, 0, &r), 0);
    CU_ASSERT_EQUAL(r.rcode, DNSW_NXDOMAIN);
    /* outside the domain without recursors: REFUSED */
    CU_ASSERT_EQUAL(ask("www.example.org", DNSW_T_A, 0, 0, 0, &r), 0);
    CU_ASSERT_EQUAL(r.rcode, DNSW_REFUSED);
    CU_ASSERT_EQUAL(nforward, 0);
    /* unknown name forms and AXFR */
    CU_ASSERT_EQUAL(ask("x.y.consul", DNSW_T_A, 0, 0, 0, &r), 0);
    CU_ASSERT(r.rcode == DNSW_NXDOMAIN && r.ns == 1);
    CU_ASSERT_EQUAL(ask("consul", DNSW_T_AXFR, 0, 0, 1, &r), 0);
    CU_ASSERT_EQUAL(r.rcode, DNSW_NOTIMP);
    /* SOA for any name in the domain */
    CU_ASSERT_EQUAL(ask("whatever.service.consul", DNSW_T_SOA, 0, 0, 0, &r), 0);
    CU_ASSERT(r.rcode == 0 && r.an == 1 && r.types_an[0] == DNSW_T_SOA);
    /* addr: A answer; other qtypes put it in Additional */
    CU_ASSERT_EQUAL(ask("c000020a.addr.consul", DNSW_T_A, 0, 0, 0, &r), 0);
    CU_ASSERT(r.an == 1 && strcmp(r.an_data[0], "192.0.2.10") == 0);
    CU_ASSERT_EQUAL(ask("c000020a.addr.consul", DNSW_T_TXT, 0, 0, 0, &r), 0);
    CU_ASSERT(r.an == 0 && r.ar == 1);
    server_free();

    server_new("{\"recursors\":[\"127.0.0.1:5353\"]}");
    CU_ASSERT_EQUAL(ask("www.example.org", DNSW_T_A, 0, 0, 0, &r), -1);
    CU_ASSERT_EQUAL(nforward, 1);
    server_free();
}

int main(void)
{
    CU_pSuite s;
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    s = CU_add_suite("dns", NULL, NULL);
    CU_add_test(s, "name compression", test_names_compression);
    CU_add_test(s, "name limits", test_names_limits);
    CU_add_test(s, "query parsing and EDNS", test_parse_query);
    CU_add_test(s, "name classification", test_classify);
    CU_add_test(s, "ttl rules and TXT", test_ttl_and_txt);
    CU_add_test(s, "service health and limits", test_service_health_and_limits);
    CU_add_test(s, "truncation and shuffle", test_truncation_and_shuffle);
    CU_add_test(s, "nodes, PTR and response codes", test_nodes_and_codes);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned f = CU_get_number_of_failures();
    CU_cleanup_registry();
    return f ? 1 : 0;
}
