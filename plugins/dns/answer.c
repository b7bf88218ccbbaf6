/*
 * answer.c - the dns plugin's hot path: parse the query, classify the
 * name, look the entry up in the cache, shuffle, write the reply
 * (spec/dns.md §2-§6). Replies are sized before they are written: the
 * number of answers that fit the client's limit (512, its EDNS payload
 * size, or 65523 on TCP) is computed from exact record sizes, so a reply
 * is never larger than the client allowed and is written in one pass.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dns.h"

/* Writer context: where the domain sits in the message for pointers. */
typedef struct rctx {
    dnsw_buf_t b;
    const dnsw_query_t *q;
    const tbd_settings_t *cfg;
    int comp;
    size_t dom_at;          /* offset of the domain in the message, 0 = not yet */
    const uint8_t *dom;     /* the domain's wire form for full writes */
    size_t dom_len;
    uint16_t n_an, n_ns, n_ar;
} rctx_t;

static void rctx_init(rctx_t *c, tbd_server_t *s, const dnsw_query_t *q,
                      const tbd_qinfo_t *qi, size_t cap)
{
    c->b.p = s->out;
    c->b.len = 0;
    c->b.cap = cap;
    c->b.over = 0;
    c->q = q;
    c->cfg = &s->cfg;
    c->comp = !s->cfg.disable_compression;
    c->n_an = c->n_ns = c->n_ar = 0;
    if (qi && qi->kind != TBD_Q_OUTSIDE && qi->kind != TBD_Q_PTR) {
        c->dom_at = DNSW_HDR + qi->dom_off;
        c->dom = q->qname + qi->dom_off;
        c->dom_len = q->qname_len - qi->dom_off;
    } else {
        c->dom_at = 0;
        c->dom = s->cfg.domain;
        c->dom_len = s->cfg.domain_len;
    }
}

static size_t size_domain(const rctx_t *c)
{
    return c->comp && c->dom_at ? 2 : c->dom_len;
}

static void put_domain(rctx_t *c)
{
    if (c->comp && c->dom_at) {
        dnsw_put_ptr(&c->b, c->dom_at);
        return;
    }
    if (c->comp && c->b.len < 0x3FFF)
        c->dom_at = c->b.len;
    dnsw_put(&c->b, c->dom, c->dom_len);
}

static size_t size_owner(const rctx_t *c)
{
    return c->comp ? 2 : c->q->qname_len;
}

static void put_owner(rctx_t *c)
{
    if (c->comp)
        dnsw_put_ptr(&c->b, DNSW_HDR);
    else
        dnsw_put(&c->b, c->q->qname, c->q->qname_len);
}

static void put_question(rctx_t *c)
{
    dnsw_put(&c->b, c->q->qname, c->q->qname_len);
    dnsw_put16(&c->b, c->q->qtype);
    dnsw_put16(&c->b, c->q->qclass);
}

/* Labels of a text name (dots split), no root. */
static void put_text_labels(rctx_t *c, const char *t)
{
    while (*t) {
        size_t n = strcspn(t, ".");
        if (n > DNSW_MAX_LABEL)
            n = DNSW_MAX_LABEL;
        if (n) {
            dnsw_put8(&c->b, (uint8_t)n);
            dnsw_put(&c->b, t, n);
        }
        t += n;
        if (*t == '.')
            t++;
    }
}

static size_t opt_size(const dnsw_query_t *q)
{
    if (!q->has_edns)
        return 0;
    return 11 + (q->has_ecs ? 8 + q->ecs_addr_len : 0);
}

static void put_opt(rctx_t *c, uint8_t ext_rcode, int ecs_scope)
{
    const dnsw_query_t *q = c->q;
    if (!q->has_edns)
        return;
    dnsw_put8(&c->b, 0);
    dnsw_put16(&c->b, DNSW_T_OPT);
    dnsw_put16(&c->b, q->udp_size);
    dnsw_put8(&c->b, ext_rcode);
    dnsw_put8(&c->b, 0); /* version */
    dnsw_put16(&c->b, 0);
    dnsw_put16(&c->b, (uint16_t)(q->has_ecs ? 8 + q->ecs_addr_len : 0));
    if (q->has_ecs) {
        dnsw_put16(&c->b, 8);
        dnsw_put16(&c->b, (uint16_t)(4 + q->ecs_addr_len));
        dnsw_put16(&c->b, q->ecs_family);
        dnsw_put8(&c->b, q->ecs_source);
        dnsw_put8(&c->b, (uint8_t)(ecs_scope ? q->ecs_source : 0));
        dnsw_put(&c->b, q->ecs_addr, q->ecs_addr_len);
    }
    c->n_ar++;
}

static size_t soa_size(const rctx_t *c)
{
    size_t d = size_domain(c) ? (c->comp ? 2 : c->dom_len) : c->dom_len;
    /* owner + fixed + "ns"+dom + "hostmaster"+dom + 5 x u32 */
    return d + 10 + 3 + d + 11 + d + 20;
}

static void put_soa(rctx_t *c)
{
    put_domain(c);
    size_t rd = dnsw_rr_begin(&c->b, DNSW_T_SOA, c->cfg->soa_min);
    put_text_labels(c, "ns");
    put_domain(c);
    put_text_labels(c, "hostmaster");
    put_domain(c);
    dnsw_put32(&c->b, (uint32_t)time(NULL));
    dnsw_put32(&c->b, c->cfg->soa_refresh);
    dnsw_put32(&c->b, c->cfg->soa_retry);
    dnsw_put32(&c->b, c->cfg->soa_expire);
    dnsw_put32(&c->b, c->cfg->soa_min);
    dnsw_rr_end(&c->b, rd);
}

static void put_ip_rr(rctx_t *c, const tbd_ip_t *ip, uint32_t ttl)
{
    size_t rd = dnsw_rr_begin(&c->b, ip->fam == 4 ? DNSW_T_A : DNSW_T_AAAA, ttl);
    dnsw_put(&c->b, ip->b, ip->fam == 4 ? 4 : 16);
    dnsw_rr_end(&c->b, rd);
}

static void finish(rctx_t *c, uint16_t flags, uint8_t rcode, int ecs_scope)
{
    put_opt(c, (uint8_t)(rcode >> 4), ecs_scope);
    uint16_t f = (uint16_t)(DNSW_F_QR | (c->q->flags & (0x7800u | DNSW_F_RD)) | DNSW_F_AA |
                            flags | (rcode & 0xF));
    if (c->cfg->nrecursors)
        f |= DNSW_F_RA;
    dnsw_set16(&c->b, 2, f);
    dnsw_set16(&c->b, 4, 1);
    dnsw_set16(&c->b, 6, c->n_an);
    dnsw_set16(&c->b, 8, c->n_ns);
    dnsw_set16(&c->b, 10, c->n_ar);
}

static size_t limit_of(const dnsw_query_t *q, int tcp)
{
    if (tcp)
        return 65523;
    if (q->has_edns)
        return q->udp_size > 65467 ? 65467 : q->udp_size;
    return 512;
}

size_t tbd_render_rcode(tbd_server_t *s, const dnsw_query_t *q, int with_question,
                        uint8_t rcode, int tcp)
{
    dnsw_buf_t b = {s->out, 0, limit_of(q, tcp), 0};
    dnsw_put_reply_header(&b, q, 0, (uint8_t)(rcode & 0xF));
    if (with_question) {
        dnsw_put(&b, q->qname, q->qname_len);
        dnsw_put16(&b, q->qtype);
        dnsw_put16(&b, q->qclass);
        dnsw_set16(&b, 4, 1);
    }
    if (q->has_edns || rcode > 15) {
        /* BADVERS and friends need an OPT to carry the upper rcode bits */
        dnsw_put8(&b, 0);
        dnsw_put16(&b, DNSW_T_OPT);
        dnsw_put16(&b, q->udp_size < 512 ? 512 : q->udp_size);
        dnsw_put8(&b, (uint8_t)(rcode >> 4));
        dnsw_put8(&b, 0);
        dnsw_put16(&b, 0);
        dnsw_put16(&b, 0);
        dnsw_set16(&b, 10, 1);
    }
    return b.over ? 0 : b.len;
}

/* Start a reply: header and question. */
static void begin(rctx_t *c)
{
    dnsw_put_reply_header(&c->b, c->q, 0, 0);
    put_question(c);
}

/* NXDOMAIN, or NOERROR with no answer: SOA in authority (if it fits). */
static size_t render_empty(tbd_server_t *s, const dnsw_query_t *q, const tbd_qinfo_t *qi,
                           int tcp, uint8_t rcode)
{
    rctx_t c;
    rctx_init(&c, s, q, qi, limit_of(q, tcp));
    begin(&c);
    if (c.b.len + soa_size(&c) + opt_size(q) <= c.b.cap) {
        put_soa(&c);
        c.n_ns = 1;
    }
    finish(&c, 0, rcode, 0);
    return c.b.over ? 0 : c.b.len;
}

/* The NS set: this agent when it is a server (no gossip yet to find others). */
static void put_ns_records(rctx_t *c, int in_answer, size_t *target_at)
{
    size_t rd;
    put_domain(c);
    rd = dnsw_rr_begin(&c->b, DNSW_T_NS, c->cfg->node_ttl);
    *target_at = c->b.len;
    put_text_labels(c, c->cfg->node_name);
    put_text_labels(c, "node");
    put_text_labels(c, c->cfg->dc_orig);
    put_domain(c);
    dnsw_rr_end(&c->b, rd);
    if (in_answer)
        c->n_an++;
    else
        c->n_ns++;
}

static void put_glue(rctx_t *c, size_t target_at)
{
    tbd_ip_t ip;
    if (tbd_parse_ip(c->cfg->advertise, &ip) != 0)
        return;
    if (c->comp && target_at < 0x3FFF) {
        dnsw_put_ptr(&c->b, target_at);
    } else {
        put_text_labels(c, c->cfg->node_name);
        put_text_labels(c, "node");
        put_text_labels(c, c->cfg->dc_orig);
        dnsw_put(&c->b, c->dom, c->dom_len);
    }
    put_ip_rr(c, &ip, c->cfg->node_ttl);
    c->n_ar++;
}

static size_t render_soa_ns(tbd_server_t *s, const dnsw_query_t *q, const tbd_qinfo_t *qi,
                            int tcp)
{
    rctx_t c;
    size_t at = 0;
    rctx_init(&c, s, q, qi, limit_of(q, tcp) - opt_size(q));
    begin(&c);
    int servers = s->cfg.server && s->cfg.node_name[0];
    if (q->qtype == DNSW_T_SOA) {
        put_soa(&c);
        c.n_an = 1;
        if (servers)
            put_ns_records(&c, 0, &at);
    } else if (servers) {
        put_ns_records(&c, 1, &at);
    }
    if (servers)
        put_glue(&c, at);
    if (c.b.over)
        return render_empty(s, q, qi, tcp, DNSW_SERVFAIL);
    c.b.cap += opt_size(q);
    finish(&c, 0, 0, 0);
    return c.b.len;
}

static size_t render_addr(tbd_server_t *s, const dnsw_query_t *q, const tbd_qinfo_t *qi,
                          int tcp)
{
    rctx_t c;
    tbd_ip_t ip;
    rctx_init(&c, s, q, qi, limit_of(q, tcp));
    begin(&c);
    ip.fam = (uint8_t)qi->family;
    memcpy(ip.b, qi->ip, 16);
    put_owner(&c);
    put_ip_rr(&c, &ip, s->cfg.node_ttl);
    if ((q->qtype == DNSW_T_A && ip.fam == 4) || (q->qtype == DNSW_T_AAAA && ip.fam == 6) ||
        q->qtype == DNSW_T_ANY)
        c.n_an = 1;
    else
        c.n_ar = 1; /* other qtypes: the record goes to Additional */
    finish(&c, 0, 0, 0);
    return c.b.over ? 0 : c.b.len;
}

static int want_ip(uint16_t qtype, const tbd_ip_t *ip)
{
    return qtype == DNSW_T_ANY || (qtype == DNSW_T_A && ip->fam == 4) ||
           (qtype == DNSW_T_AAAA && ip->fam == 6);
}

/* Write the TXT records of a meta blob with owner written by `owner`. */
static unsigned put_meta(rctx_t *c, const uint8_t *blob, size_t len, uint32_t ttl,
                         size_t owner_at, int owner_q)
{
    unsigned n = 0;
    for (size_t i = 0; i + 2 <= len;) {
        size_t rdlen = (size_t)blob[i] << 8 | blob[i + 1];
        if (owner_q)
            put_owner(c);
        else
            dnsw_put_ptr(&c->b, owner_at);
        size_t rd = dnsw_rr_begin(&c->b, DNSW_T_TXT, ttl);
        dnsw_put(&c->b, blob + i + 2, rdlen);
        dnsw_rr_end(&c->b, rd);
        i += 2 + rdlen;
        n++;
    }
    return n;
}

static size_t render_node(tbd_server_t *s, const dnsw_query_t *q, const tbd_qinfo_t *qi,
                          const tbd_entry_t *e, int tcp)
{
    if (!e->exists)
        return render_empty(s, q, qi, tcp, DNSW_NXDOMAIN);
    uint32_t ttl = s->cfg.node_ttl;
    size_t lim = limit_of(q, tcp) - opt_size(q);
    for (int pass = 0; pass < 3; pass++) {
        rctx_t c;
        rctx_init(&c, s, q, qi, lim);
        begin(&c);
        int addr_q = q->qtype == DNSW_T_A || q->qtype == DNSW_T_AAAA || q->qtype == DNSW_T_ANY;
        if (addr_q && e->node_has_ip && want_ip(q->qtype, &e->node_ip)) {
            put_owner(&c);
            put_ip_rr(&c, &e->node_ip, ttl);
            c.n_an++;
        } else if (addr_q && e->node_host && q->qtype != DNSW_T_ANY) {
            uint8_t w[DNSW_MAX_NAME];
            char host[DNSW_MAX_NAME + 1];
            snprintf(host, sizeof host, "%s", e->node_host);
            size_t hl = strlen(host);
            if (hl && host[hl - 1] == '.')
                host[hl - 1] = 0;
            int wl = dnsw_name_from_text(host, w);
            if (wl > 0) {
                put_owner(&c);
                size_t rd = dnsw_rr_begin(&c.b, DNSW_T_CNAME, ttl);
                dnsw_put(&c.b, w, (size_t)wl);
                dnsw_rr_end(&c.b, rd);
                c.n_an++;
            }
        }
        if (pass < 2 && (q->qtype == DNSW_T_TXT || q->qtype == DNSW_T_ANY))
            c.n_an = (uint16_t)(c.n_an + put_meta(&c, e->meta, e->meta_len, ttl, 0, 1));
        else if (pass < 1 && c.n_an && s->cfg.meta_txt)
            c.n_ar = (uint16_t)(c.n_ar + put_meta(&c, e->meta, e->meta_len, ttl, 0, 1));
        if (c.b.over)
            continue;
        if (c.n_an == 0)
            return render_empty(s, q, qi, tcp, DNSW_NOERROR);
        c.b.cap += opt_size(q);
        finish(&c, pass && s->cfg.enable_truncate && !tcp ? DNSW_F_TC : 0, 0, 0);
        return c.b.len;
    }
    return render_empty(s, q, qi, tcp, DNSW_NOERROR);
}

/* Partial Fisher-Yates: the first k slots become a uniform random pick. */
static void shuffle_ptrs(tbd_server_t *s, void **a, size_t n, size_t k)
{
    for (size_t i = 0; i < k && i + 1 < n; i++) {
        size_t j = i + tbd_rand(s) % (n - i);
        void *t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

static size_t srv_target_size(const rctx_t *c, const tbd_srv_t *r)
{
    return r->kind == TBD_T_HOST ? r->tlen : (size_t)r->tlen + size_domain(c);
}

static size_t meta_size(const uint8_t *blob, size_t len, size_t owner, unsigned *count)
{
    size_t t = 0;
    *count = 0;
    for (size_t i = 0; i + 2 <= len;) {
        size_t rdlen = (size_t)blob[i] << 8 | blob[i + 1];
        t += owner + 10 + rdlen;
        i += 2 + rdlen;
        (*count)++;
    }
    return t;
}

static size_t render_service(tbd_server_t *s, const dnsw_query_t *q, const tbd_qinfo_t *qi,
                             tbd_entry_t *e, int tcp)
{
    const tbd_settings_t *cfg = &s->cfg;
    if (!e->exists)
        return render_empty(s, q, qi, tcp, DNSW_NXDOMAIN);
    uint32_t ttl = tbd_service_ttl(cfg, e->name);
    int srv = q->qtype == DNSW_T_SRV;
    int addr = q->qtype == DNSW_T_A || q->qtype == DNSW_T_AAAA || q->qtype == DNSW_T_ANY;
    if (!srv && !addr)
        return render_empty(s, q, qi, tcp, DNSW_NOERROR);
    size_t avail = srv ? e->nsrv : e->nips;
    size_t cap = avail;
    if (!tcp && !q->has_edns) {
        size_t u = cfg->udp_answer_limit ? cfg->udp_answer_limit : 8;
        if (u > 8)
            u = 8;
        if (cap > u)
            cap = u;
    }
    if (srv && cap > 1024u) /* also bounds tat[] below */
        cap = 1024u;
    if (tcp && cap > 4096u)
        cap = 4096u;
    if (addr && cfg->a_record_limit && cap > cfg->a_record_limit)
        cap = cfg->a_record_limit;

    rctx_t c;
    size_t lim = limit_of(q, tcp) - opt_size(q);
    rctx_init(&c, s, q, qi, lim);
    size_t used = DNSW_HDR + q->qname_len + 4;
    size_t owner = size_owner(&c);
    size_t n = 0;
    int cut = cap < avail;

    if (addr) {
        /* IPv4 first then IPv6 in e->ips (n4 of them); each family is
         * shuffled in place, partially: only the slots we send. */
        size_t lo[2], hi[2], nr = 0, matching = 0;
        if (q->qtype != DNSW_T_AAAA)
            lo[nr] = 0, hi[nr] = e->n4, nr++;
        if (q->qtype != DNSW_T_A)
            lo[nr] = e->n4, hi[nr] = e->nips, nr++;
        for (size_t r = 0; r < nr; r++)
            matching += hi[r] - lo[r];
        begin(&c);
        tbd_ip_t *ips = e->ips;
        int full = 0;
        for (size_t r = 0; r < nr && !full; r++) {
            size_t m = hi[r] - lo[r];
            for (size_t i = 0; i < m && n < cap; i++) {
                size_t j = i + tbd_rand(s) % (m - i);
                tbd_ip_t t = ips[lo[r] + i];
                ips[lo[r] + i] = ips[lo[r] + j];
                ips[lo[r] + j] = t;
                size_t sz = owner + 10 + (ips[lo[r] + i].fam == 4 ? 4 : 16);
                if (used + sz > lim) {
                    full = 1;
                    break;
                }
                used += sz;
                put_owner(&c);
                put_ip_rr(&c, &ips[lo[r] + i], ttl);
                n++;
            }
        }
        cut = n < matching;
        c.n_an = (uint16_t)n;
        if (n == 0 && e->nhosts && q->qtype != DNSW_T_ANY) {
            /* only hostnames: one CNAME */
            uint8_t w[DNSW_MAX_NAME];
            char host[DNSW_MAX_NAME + 1];
            snprintf(host, sizeof host, "%s", e->hosts[tbd_rand(s) % e->nhosts]);
            size_t hl = strlen(host);
            if (hl && host[hl - 1] == '.')
                host[hl - 1] = 0;
            int wl = dnsw_name_from_text(host, w);
            if (wl > 0 && used + owner + 10 + (size_t)wl <= lim) {
                put_owner(&c);
                size_t rd = dnsw_rr_begin(&c.b, DNSW_T_CNAME, ttl);
                dnsw_put(&c.b, w, (size_t)wl);
                dnsw_rr_end(&c.b, rd);
                c.n_an = 1;
            }
        }
        if (c.n_an == 0)
            return render_empty(s, q, qi, tcp, DNSW_NOERROR);
    } else {
        shuffle_ptrs(s, (void **)e->srv, e->nsrv, cap);
        size_t add = 0; /* additional section bytes for the chosen targets */
        for (size_t i = 0; i < cap; i++) {
            const tbd_srv_t *r = e->srv[i];
            size_t t = srv_target_size(&c, r);
            size_t sz = owner + 10 + 6 + t;
            size_t ad = 0;
            if (r->kind != TBD_T_HOST) {
                size_t aown = c.comp ? 2 : t;
                ad = aown + 10 + (r->ip.fam == 4 ? 4 : 16);
                unsigned mc;
                if (r->kind == TBD_T_NODE && cfg->meta_txt)
                    ad += meta_size(r->meta, r->meta_len, aown, &mc);
            }
            if (used + sz + add + ad > lim) {
                /* the SRV itself may still fit without its additional */
                cut = 1;
                break;
            }
            used += sz;
            add += ad;
            n++;
        }
        begin(&c);
        size_t tat[1024];
        for (size_t i = 0; i < n; i++) {
            const tbd_srv_t *r = e->srv[i];
            put_owner(&c);
            size_t rd = dnsw_rr_begin(&c.b, DNSW_T_SRV, ttl);
            dnsw_put16(&c.b, 1);
            dnsw_put16(&c.b, r->weight);
            dnsw_put16(&c.b, r->port);
            tat[i < 1024 ? i : 1023] = c.b.len;
            dnsw_put(&c.b, r->target, r->tlen);
            if (r->kind != TBD_T_HOST)
                put_domain(&c);
            dnsw_rr_end(&c.b, rd);
        }
        c.n_an = (uint16_t)n;
        for (size_t i = 0; i < n; i++) {
            const tbd_srv_t *r = e->srv[i];
            if (r->kind == TBD_T_HOST)
                continue;
            size_t at = tat[i < 1024 ? i : 1023];
            if (c.comp && at < 0x3FFF) {
                dnsw_put_ptr(&c.b, at);
            } else {
                dnsw_put(&c.b, r->target, r->tlen);
                dnsw_put(&c.b, c.dom, c.dom_len);
            }
            put_ip_rr(&c, &r->ip, ttl);
            c.n_ar++;
            if (r->kind == TBD_T_NODE && cfg->meta_txt && r->meta_len) {
                if (c.comp && at < 0x3FFF) {
                    c.n_ar = (uint16_t)(c.n_ar + put_meta(&c, r->meta, r->meta_len, ttl, at, 0));
                }
            }
        }
    }
    if (c.b.over) /* sizing and writing disagree: never send an oversized reply */
        return tbd_render_rcode(s, q, 1, DNSW_SERVFAIL, tcp);
    c.b.cap += opt_size(q);
    finish(&c, cut && cfg->enable_truncate && !tcp ? DNSW_F_TC : 0, 0, 1);
    return c.b.len;
}

static size_t render_ptr(tbd_server_t *s, const dnsw_query_t *q, const tbd_qinfo_t *qi,
                         const char *name, const char *type, int tcp)
{
    rctx_t c;
    rctx_init(&c, s, q, qi, limit_of(q, tcp) - opt_size(q));
    begin(&c);
    put_owner(&c);
    size_t rd = dnsw_rr_begin(&c.b, DNSW_T_PTR, 0);
    put_text_labels(&c, name);
    put_text_labels(&c, type);
    put_text_labels(&c, s->cfg.dc_orig);
    put_domain(&c);
    dnsw_rr_end(&c.b, rd);
    c.n_an = 1;
    if (c.b.over)
        return render_empty(s, q, qi, tcp, DNSW_NXDOMAIN);
    c.b.cap += opt_size(q);
    finish(&c, 0, 0, 0);
    return c.b.len;
}

size_t tbd_render(tbd_server_t *s, const dnsw_query_t *q, const tbd_qinfo_t *qi,
                  const tbd_entry_t *e, int tcp)
{
    if (q->qtype == DNSW_T_SOA || q->qtype == DNSW_T_NS)
        return render_soa_ns(s, q, qi, tcp);
    switch (qi->kind) {
    case TBD_Q_APEX:
        return render_empty(s, q, qi, tcp, DNSW_NOERROR);
    case TBD_Q_ADDR:
        return render_addr(s, q, qi, tcp);
    case TBD_Q_NODE:
        return render_node(s, q, qi, e, tcp);
    case TBD_Q_SERVICE:
        return render_service(s, q, qi, (tbd_entry_t *)e, tcp);
    default:
        return render_empty(s, q, qi, tcp, DNSW_NXDOMAIN);
    }
}

/* PTR: catalog nodes first, then addresses of services we follow. */
static int ptr_lookup(tbd_server_t *s, const tbd_qinfo_t *qi, const char **name,
                      const char **type)
{
    const tbd_entry_t *e = s->nodes_entry;
    size_t alen = qi->family == 4 ? 4 : 16;
    for (size_t i = 0; e && i < e->nptrs; i++)
        if (e->ptrs[i].ip.fam == qi->family && memcmp(e->ptrs[i].ip.b, qi->ip, alen) == 0) {
            *name = e->ptrs[i].node;
            *type = "node";
            return 1;
        }
    for (size_t b = 0; b < TBD_BUCKETS; b++)
        for (const tbd_entry_t *x = s->buckets[b]; x; x = x->next) {
            if (x->kind != TBD_E_SERVICE || !x->loaded || x->tag[0])
                continue;
            for (size_t i = 0; i < x->nips; i++)
                if (x->ips[i].fam == qi->family && memcmp(x->ips[i].b, qi->ip, alen) == 0) {
                    *name = x->name;
                    *type = "service";
                    return 1;
                }
        }
    return 0;
}

void tbd_handle(tbd_server_t *s, const uint8_t *pkt, size_t len, tbd_client_t *c)
{
    dnsw_query_t q;
    tbd_qinfo_t qi;
    int tcp = c->udp == NULL;
    size_t n = 0;
    dnsw_verdict_t v = dnsw_parse_query(pkt, len, &q);
    if (v == DNSW_DROP)
        return;
    if (v == DNSW_ERROR) {
        n = tbd_render_rcode(s, &q, 0, q.rcode, tcp);
        goto send;
    }
    if (q.qtype == DNSW_T_AXFR || q.qtype == DNSW_T_IXFR) {
        n = tbd_render_rcode(s, &q, 1, DNSW_NOTIMP, tcp);
        goto send;
    }
    tbd_classify(&s->cfg, &q, &qi);
    tbd_entry_t *e = NULL;
    int created = 0;
    switch (qi.kind) {
    case TBD_Q_OUTSIDE:
        if (s->cfg.nrecursors && tbd_forward(s, &q, pkt, len, c) == 0)
            return;
        n = tbd_render_rcode(s, &q, 1, s->cfg.nrecursors ? DNSW_SERVFAIL : DNSW_REFUSED, tcp);
        goto send;
    case TBD_Q_PTR: {
        e = tbd_cache_get(s, TBD_E_NODES, "", "", &created);
        if (!e) {
            n = tbd_render_rcode(s, &q, 1, DNSW_SERVFAIL, tcp);
            goto send;
        }
        if (!e->loaded) {
            tbd_cache_wait(e, pkt, len, c);
            return;
        }
        const char *name, *type;
        if (q.qtype != DNSW_T_PTR && q.qtype != DNSW_T_ANY) {
            n = render_empty(s, &q, &qi, tcp, DNSW_NOERROR);
        } else if (ptr_lookup(s, &qi, &name, &type)) {
            n = render_ptr(s, &q, &qi, name, type, tcp);
        } else if (s->cfg.nrecursors && tbd_forward(s, &q, pkt, len, c) == 0) {
            return;
        } else {
            n = render_empty(s, &q, &qi, tcp, DNSW_NXDOMAIN);
        }
        goto send;
    }
    case TBD_Q_NODE:
    case TBD_Q_SERVICE:
        if (q.qtype == DNSW_T_SOA || q.qtype == DNSW_T_NS)
            break;
        e = tbd_cache_get(s, qi.kind == TBD_Q_NODE ? TBD_E_NODE : TBD_E_SERVICE, qi.name,
                          qi.tag, &created);
        if (!e) {
            n = tbd_render_rcode(s, &q, 1, DNSW_SERVFAIL, tcp);
            goto send;
        }
        if (!e->loaded) {
            tbd_cache_wait(e, pkt, len, c);
            return;
        }
        break;
    default:
        break;
    }
    n = tbd_render(s, &q, &qi, e, tcp);
send:
    if (n)
        tbd_send(s, c, s->out, n);
}
