/*
 * fuzz_dns.c - libFuzzer target over the dns plugin's whole query path
 * without sockets: the first input byte picks UDP or TCP and the option
 * set, the rest is a query packet handed to tbd_handle against a server
 * whose cache holds a service (with 40 instances), a node and the node
 * table. Checks that a UDP reply never exceeds what the client allowed
 * and that every reply parses. Also feeds the bytes to dnsw_read_name at
 * every offset. Build: make fuzz-dns.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "fake_catalog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t last_len;

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
    (void)s, (void)c, (void)p;
    last_len = n;
}
int tbd_forward(tbd_server_t *s, const dnsw_query_t *q, const uint8_t *pkt, size_t len,
                tbd_client_t *c)
{
    (void)s, (void)q, (void)pkt, (void)len, (void)c;
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

static uint64_t f_now(tb_plugin_t *self)
{
    (void)self;
    return 0;
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
static int f_dur(const char *s, uint64_t *ns)
{
    *ns = (uint64_t)atoi(s) * 1000000000ull;
    return 0;
}

static tb_api_t api;
static tbd_server_t *servers[4];

static const char *const configs[4] = {
    "{}",
    "{\"alt_domain\":\"alt.example.\",\"dns_config\":{\"enable_truncate\":true,"
    "\"only_passing\":true,\"udp_answer_limit\":8}}",
    "{\"dns_config\":{\"disable_compression\":true,\"a_record_limit\":2},"
    "\"recursors\":[\"127.0.0.1:1\"]}",
    "{\"domain\":\"x.\",\"server\":true,\"node_name\":\"srv\"}",
};

static void setup(void)
{
    api.size = sizeof api;
    api.catalog_read = fk_catalog_read;
    api.call_cancel = fk_cancel;
    api.now_ms = f_now;
    api.log = f_log;
    api.timer_start = f_timer_start;
    api.timer_stop = f_timer_stop;
    /* 40 instances: hostnames, IPv6 and own service addresses, tags,
     * warnings, node meta that needs escaping */
    fk_view_t *svc = fk_new(), *node = fk_new();
    for (int i = 1; i <= 40; i++) {
        char name[32], k[16];
        snprintf(name, sizeof name, "n%d.rack", i);
        snprintf(k, sizeof k, "k%d", i);
        size_t nd = fk_node(svc, name, i % 7 == 0 ? "host.example.com" : "10.1.1.1", k, "v`=");
        char tag[16];
        snprintf(tag, sizeof tag, "t%d", i % 4);
        fk_service(svc, nd, i % 3 == 0 ? "2001:db8::1" : i % 5 == 0 ? "192.0.2.9" : "", i, tag,
                   i % 6 == 0 ? TB_CHECK_WARNING : TB_CHECK_PASSING);
    }
    fk_node(node, "n1", "10.0.0.1", "a", "b");
    for (int k = 0; k < 4; k++) {
        tbd_server_t *s = calloc(1, sizeof *s);
        s->api = &api;
        s->rng = 42;
        json_t *a = json_loads(configs[k], 0, NULL);
        char *err = NULL;
        if (tbd_settings_load(&s->cfg, a, NULL, f_dur, &err) != 0)
            abort();
        json_decref(a);
        int created;
        tbd_cache_get(s, TBD_E_SERVICE, "web", "", &created);
        fk_complete(svc, TB_OK, 7);
        tbd_cache_get(s, TBD_E_NODE, "n1", "", &created);
        fk_complete(node, TB_OK, 7);
        tbd_cache_get(s, TBD_E_NODES, "", "", &created);
        fk_complete(node, TB_OK, 7);
        servers[k] = s;
    }
    free(svc);
    free(node);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!servers[0])
        setup();
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    tbd_server_t *s = servers[sel & 3];
    int tcp = (sel & 4) != 0;
    data++, size--;
    uint8_t name[DNSW_MAX_NAME];
    for (size_t off = 0; off < size && off < 64; off++) {
        size_t o = off;
        dnsw_read_name(data, size, &o, name);
    }
    tbd_client_t c;
    memset(&c, 0, sizeof c);
    c.udp = tcp ? NULL : (uv_udp_t *)&c;
    last_len = 0;
    tbd_handle(s, data, size, &c);
    /* a name not in the cache left a pending call: answer it (empty) */
    if (fk.cb)
        fk_complete(NULL, TB_OK, 7);
    if (last_len && !tcp) {
        dnsw_query_t q;
        size_t limit = 512;
        if (dnsw_parse_query(data, size, &q) == DNSW_OK && q.has_edns)
            limit = q.udp_size;
        if (last_len > limit)
            abort(); /* amplification */
    }
    return 0;
}
