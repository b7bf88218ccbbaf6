/*
 * cache.c - the dns plugin's answer cache. One entry per node, per
 * (service, tag) and one for the node table (PTR). The first query for a
 * name creates the entry and waits for its first endpoint result; from
 * then on a blocking query (min_index = the entry's index) runs in the
 * background and recompiles the entry only when the data for that name
 * changed. Entries are compiled from the SDK's typed catalog view
 * (api->catalog_read): no JSON anywhere in the plugin's data path. Queries
 * for a loaded entry never call the endpoint. Entries nobody asked for in
 * TBD_IDLE_MS are dropped when their blocking query returns.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns.h"

static void fetch(tbd_entry_t *e);

static uint32_t hash_key(tbd_ekind_t kind, const char *name, const char *tag)
{
    uint32_t h = 2166136261u ^ (uint32_t)kind;
    for (const char *p = name; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    h = (h ^ 0xFFu) * 16777619u;
    for (const char *p = tag; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return h;
}

int tbd_parse_ip(const char *str, tbd_ip_t *ip)
{
    memset(ip, 0, sizeof *ip);
    if (!str)
        return -1;
    if (inet_pton(AF_INET, str, ip->b) == 1) {
        ip->fam = 4;
        return 0;
    }
    if (inet_pton(AF_INET6, str, ip->b) == 1) {
        ip->fam = 6;
        return 0;
    }
    return -1;
}

void tbd_entry_clear_data(tbd_entry_t *e)
{
    free(e->ips);
    for (size_t i = 0; i < e->nhosts; i++)
        free(e->hosts[i]);
    free(e->hosts);
    for (size_t i = 0; i < e->nsrv; i++) {
        free(e->srv[i]->meta);
        free(e->srv[i]);
    }
    free(e->srv);
    free(e->node_host);
    free(e->meta);
    free(e->node_name);
    for (size_t i = 0; i < e->nptrs; i++)
        free(e->ptrs[i].node);
    free(e->ptrs);
    e->ips = NULL;
    e->hosts = NULL;
    e->srv = NULL;
    e->node_host = NULL;
    e->meta = NULL;
    e->node_name = NULL;
    e->ptrs = NULL;
    e->nips = e->n4 = e->nhosts = e->nsrv = e->meta_len = e->nptrs = 0;
    e->node_has_ip = 0;
    e->exists = 0;
}

static int cmp_ip(const void *a, const void *b)
{
    const tbd_ip_t *x = a, *y = b;
    if (x->fam != y->fam)
        return x->fam - y->fam; /* IPv4 sorts first */
    return memcmp(x->b, y->b, 16);
}

static int cmp_srv(const void *a, const void *b)
{
    const tbd_srv_t *x = *(tbd_srv_t *const *)a, *y = *(tbd_srv_t *const *)b;
    if (x->tlen != y->tlen)
        return x->tlen - y->tlen;
    int c = memcmp(x->target, y->target, x->tlen);
    if (c)
        return c;
    if (x->port != y->port)
        return x->port - y->port;
    return cmp_ip(&x->ip, &y->ip);
}

/* Append text labels (split on dots) to a wire buffer; -1 if too long. */
static int add_labels(uint8_t *w, size_t *len, const char *t)
{
    while (*t) {
        size_t n = strcspn(t, ".");
        if (n > DNSW_MAX_LABEL || *len + 1 + n > DNSW_MAX_NAME - 1)
            return -1;
        if (n) {
            w[(*len)++] = (uint8_t)n;
            memcpy(w + *len, t, n);
            *len += n;
        }
        t += n;
        if (*t == '.')
            t++;
    }
    return 0;
}

void tbd_compile_service(tbd_entry_t *e, const tbd_settings_t *cfg, const tb_catalog_view_t *v)
{
    tbd_entry_clear_data(e);
    size_t n = v ? v->nservices : 0;
    if (!n)
        return;
    e->ips = calloc(n, sizeof *e->ips);
    e->hosts = calloc(n, sizeof *e->hosts);
    e->srv = calloc(n, sizeof *e->srv);
    if (!e->ips || !e->hosts || !e->srv)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        const tb_catalog_service_t *svc = &v->services[i];
        const tb_catalog_node_t *node = svc->node;
        /* the core filtered tag and passing_only; critical never shows */
        if (svc->status == TB_CHECK_CRITICAL ||
            (svc->status == TB_CHECK_WARNING && cfg->only_passing))
            continue;
        e->exists = 1;
        const char *saddr = svc->address ? svc->address : "";
        const char *naddr = node && node->address ? node->address : "";
        const char *addr = *saddr ? saddr : naddr;
        tbd_ip_t ip;
        int is_ip = tbd_parse_ip(addr, &ip) == 0;
        if (is_ip)
            e->ips[e->nips++] = ip;
        else if (*addr && (e->hosts[e->nhosts] = strdup(addr)))
            e->nhosts++;
        tbd_srv_t *r = calloc(1, sizeof *r);
        if (!r)
            goto oom;
        int wt = svc->status == TB_CHECK_WARNING ? svc->weight_warning : svc->weight_passing;
        r->weight = (uint16_t)(wt < 0 ? 0 : wt > 65535 ? 65535 : wt);
        r->port = (uint16_t)(svc->port < 0 || svc->port > 65535 ? 0 : svc->port);
        size_t tl = 0;
        int bad = 0;
        if (!is_ip) {
            r->kind = TBD_T_HOST;
            char host[DNSW_MAX_NAME + 1];
            snprintf(host, sizeof host, "%s", addr);
            size_t hl = strlen(host);
            if (hl && host[hl - 1] == '.')
                host[hl - 1] = 0;
            bad = !*host || add_labels(r->target, &tl, host) != 0;
            r->target[tl++] = 0;
        } else if (*saddr && strcmp(saddr, naddr) != 0) {
            /* a service address of its own (Consul: same as the node's
             * address still names the node) */
            r->kind = TBD_T_ADDR;
            char hex[33];
            size_t al = ip.fam == 4 ? 4 : 16;
            for (size_t k = 0; k < al; k++)
                snprintf(hex + 2 * k, 3, "%02x", ip.b[k]);
            bad = add_labels(r->target, &tl, hex) || add_labels(r->target, &tl, "addr") ||
                  add_labels(r->target, &tl, cfg->dc_orig);
            r->ip = ip;
        } else {
            r->kind = TBD_T_NODE;
            bad = !node || add_labels(r->target, &tl, node->name ? node->name : "") ||
                  add_labels(r->target, &tl, "node") ||
                  add_labels(r->target, &tl, cfg->dc_orig);
            r->ip = ip;
            if (node)
                tbd_meta_txt(node->meta, node->nmeta, &r->meta, &r->meta_len);
        }
        if (bad) {
            free(r->meta);
            free(r);
            continue;
        }
        r->tlen = (uint8_t)tl;
        e->srv[e->nsrv++] = r;
    }
    /* dedupe: addresses for A/AAAA, node+address+port for SRV */
    if (e->nips) {
        qsort(e->ips, e->nips, sizeof *e->ips, cmp_ip);
        size_t o = 1;
        for (size_t k = 1; k < e->nips; k++)
            if (cmp_ip(&e->ips[k], &e->ips[o - 1]))
                e->ips[o++] = e->ips[k];
        e->nips = o;
        while (e->n4 < e->nips && e->ips[e->n4].fam == 4)
            e->n4++;
    }
    if (e->nsrv) {
        qsort(e->srv, e->nsrv, sizeof *e->srv, cmp_srv);
        size_t o = 1;
        for (size_t k = 1; k < e->nsrv; k++) {
            if (cmp_srv(&e->srv[k], &e->srv[o - 1])) {
                e->srv[o++] = e->srv[k];
            } else {
                free(e->srv[k]->meta);
                free(e->srv[k]);
            }
        }
        e->nsrv = o;
    }
    return;
oom:
    tbd_entry_clear_data(e);
}

void tbd_compile_node(tbd_entry_t *e, const tb_catalog_view_t *v)
{
    tbd_entry_clear_data(e);
    if (!v || !v->nnodes)
        return;
    const tb_catalog_node_t *node = &v->nodes[0];
    e->exists = 1;
    e->node_name = strdup(node->name ? node->name : "");
    const char *addr = node->address ? node->address : "";
    if (tbd_parse_ip(addr, &e->node_ip) == 0)
        e->node_has_ip = 1;
    else if (*addr)
        e->node_host = strdup(addr);
    tbd_meta_txt(node->meta, node->nmeta, &e->meta, &e->meta_len);
}

void tbd_compile_nodes(tbd_entry_t *e, const tb_catalog_view_t *v)
{
    tbd_entry_clear_data(e);
    size_t n = v ? v->nnodes : 0;
    e->exists = 1;
    if (!n || !(e->ptrs = calloc(n, sizeof *e->ptrs)))
        return;
    for (size_t i = 0; i < n; i++) {
        tbd_ptr_t *p = &e->ptrs[e->nptrs];
        if (tbd_parse_ip(v->nodes[i].address, &p->ip) != 0)
            continue;
        if (!(p->node = strdup(v->nodes[i].name ? v->nodes[i].name : "")))
            continue;
        e->nptrs++;
    }
}

/* ---------------------------------------------------------------- entries */

static void unlink_entry(tbd_server_t *s, tbd_entry_t *e)
{
    tbd_entry_t **pp = &s->buckets[e->hash % TBD_BUCKETS];
    while (*pp && *pp != e)
        pp = &(*pp)->next;
    if (*pp)
        *pp = e->next;
    if (s->nodes_entry == e)
        s->nodes_entry = NULL;
    s->nentries--;
}

static void drop_waiters(tbd_entry_t *e)
{
    while (e->waiters) {
        tbd_waiter_t *w = e->waiters;
        e->waiters = w->next;
        tbd_client_release(&w->client);
        free(w);
    }
}

static void free_entry(tbd_entry_t *e)
{
    tbd_server_t *s = e->s;
    unlink_entry(s, e);
    if (e->call)
        s->api->call_cancel(e->call);
    if (e->retry)
        s->api->timer_stop(e->retry);
    drop_waiters(e);
    tbd_entry_clear_data(e);
    free(e->name);
    free(e->tag);
    free(e);
}

/* Answer everyone who waited for the first result (or SERVFAIL them). */
static void serve_waiters(tbd_entry_t *e)
{
    tbd_server_t *s = e->s;
    tbd_waiter_t *w = e->waiters;
    e->waiters = NULL;
    while (w) {
        tbd_waiter_t *next = w->next;
        if (e->loaded) {
            tbd_handle(s, w->pkt, w->len, &w->client);
        } else {
            dnsw_query_t q;
            if (dnsw_parse_query(w->pkt, w->len, &q) == DNSW_OK) {
                size_t n = tbd_render_rcode(s, &q, 1, DNSW_SERVFAIL, w->client.udp == NULL);
                if (n)
                    tbd_send(s, &w->client, s->out, n);
            }
        }
        tbd_client_release(&w->client);
        free(w);
        w = next;
    }
}

static void retry_cb(void *arg)
{
    tbd_entry_t *e = arg;
    e->retry = NULL;
    fetch(e);
}

static void on_result(void *arg, const tb_result_t *res)
{
    tbd_entry_t *e = arg;
    tbd_server_t *s = e->s;
    e->call = NULL;
    if (res->status == TB_OK || res->status == TB_NOT_FOUND) {
        e->errors = 0;
        if (!e->loaded || res->index != e->index) {
            if (e->kind == TBD_E_SERVICE)
                tbd_compile_service(e, &s->cfg, res->catalog);
            else if (e->kind == TBD_E_NODE)
                tbd_compile_node(e, res->status == TB_OK ? res->catalog : NULL);
            else
                tbd_compile_nodes(e, res->catalog);
        }
        e->index = res->index;
        e->loaded = 1;
        serve_waiters(e);
    } else {
        e->errors++;
        if (!e->loaded) {
            s->api->log(s->self, TB_LOG_WARN, "lookup of %s failed: %s", e->name,
                        res->error ? res->error : "endpoint error");
            serve_waiters(e);
            free_entry(e); /* the next query tries again */
            return;
        }
    }
    if (s->stopping)
        return;
    uint64_t now = s->api->now_ms(s->self);
    if (e->transient || (now - e->last_used_ms > TBD_IDLE_MS && e->kind != TBD_E_NODES)) {
        free_entry(e);
        return;
    }
    if (e->errors) {
        /* keep serving the last good data; back off up to 10 s */
        uint64_t d = 100u << (e->errors < 7 ? e->errors : 7);
        e->retry = s->api->timer_start(s->self, d > 10000 ? 10000 : d, 0, retry_cb, e);
        return;
    }
    fetch(e);
}

static void fetch(tbd_entry_t *e)
{
    tbd_server_t *s = e->s;
    tb_catalog_read_t req = {sizeof req, TB_CATALOG_NODES, NULL, NULL, 0};
    if (e->kind == TBD_E_SERVICE) {
        req.kind = TB_CATALOG_SERVICE_NODES;
        req.name = e->name;
        req.tag = e->tag;
        req.passing_only = s->cfg.only_passing;
    } else if (e->kind == TBD_E_NODE) {
        req.kind = TB_CATALOG_NODE;
        req.name = e->name;
    }
    tb_query_opts_t o = {sizeof o, 0, 0, TB_CONSISTENCY_DEFAULT, 0, NULL, NULL};
    if (e->loaded)
        o.min_index = e->index;
    if (s->cfg.allow_stale) {
        o.consistency = TB_CONSISTENCY_STALE;
        o.max_stale_ms = s->cfg.max_stale_ms;
    }
    e->call = s->api->catalog_read(s->self, &req, &o, on_result, e);
    if (!e->call) {
        e->errors++;
        if (!e->loaded) {
            serve_waiters(e);
            free_entry(e);
            return;
        }
        e->retry = s->api->timer_start(s->self, 1000, 0, retry_cb, e);
    }
}

tbd_entry_t *tbd_cache_get(tbd_server_t *s, tbd_ekind_t kind, const char *name,
                           const char *tag, int *created)
{
    uint32_t h = hash_key(kind, name, tag);
    *created = 0;
    for (tbd_entry_t *e = s->buckets[h % TBD_BUCKETS]; e; e = e->next)
        if (e->hash == h && e->kind == kind && strcmp(e->name, name) == 0 &&
            strcmp(e->tag, tag) == 0) {
            e->last_used_ms = s->api->now_ms(s->self);
            return e;
        }
    if (s->stopping)
        return NULL;
    tbd_entry_t *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->s = s;
    e->hash = h;
    e->kind = kind;
    e->name = strdup(name);
    e->tag = strdup(tag);
    if (!e->name || !e->tag) {
        free(e->name);
        free(e->tag);
        free(e);
        return NULL;
    }
    e->transient = s->nentries >= TBD_MAX_ENTRIES;
    e->last_used_ms = s->api->now_ms(s->self);
    e->next = s->buckets[h % TBD_BUCKETS];
    s->buckets[h % TBD_BUCKETS] = e;
    s->nentries++;
    if (kind == TBD_E_NODES)
        s->nodes_entry = e;
    *created = 1;
    fetch(e);
    /* fetch may have failed and freed e already: look it up again */
    for (tbd_entry_t *x = s->buckets[h % TBD_BUCKETS]; x; x = x->next)
        if (x == e)
            return e;
    return NULL;
}

void tbd_cache_wait(tbd_entry_t *e, const uint8_t *pkt, size_t len, tbd_client_t *c)
{
    size_t n = 0;
    for (tbd_waiter_t *w = e->waiters; w; w = w->next)
        n++;
    if (n >= 1024)
        return; /* a flood for one name: the client retries */
    tbd_waiter_t *w = malloc(sizeof *w + len);
    if (!w)
        return;
    w->client = *c;
    tbd_client_hold(&w->client);
    w->len = len;
    memcpy(w->pkt, pkt, len);
    w->next = e->waiters;
    e->waiters = w;
}

void tbd_cache_clear(tbd_server_t *s)
{
    for (size_t b = 0; b < TBD_BUCKETS; b++)
        while (s->buckets[b])
            free_entry(s->buckets[b]);
}
