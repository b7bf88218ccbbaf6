/*
 * names.c - settings, question-name classification, service_ttl rules and
 * node-meta TXT encoding for the dns plugin (see names.h and
 * spec/dns.md §1, §6, §8). Labels are parsed right to left: the first type
 * label splits the parts (left) from the datacenter suffix (right).
 */
#include "names.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int errf(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int errf(char **err, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    *err = strdup(tmp);
    return -1;
}

static const json_t *get2(const json_t *root, const char *a, const char *b)
{
    const json_t *o = json_object_get(root, a);
    return json_is_object(o) ? json_object_get(o, b) : NULL;
}

static char *lower_dup(const char *s)
{
    char *d = strdup(s ? s : "");
    for (char *p = d; p && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return d;
}

/* A duration value: Go syntax string, or a number of seconds. */
static int get_dur_ms(const json_t *v, tbd_duration_fn dur, uint64_t def_ms, uint64_t *ms)
{
    uint64_t ns;
    *ms = def_ms;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *ms = (uint64_t)json_integer_value(v) * 1000u;
        return 0;
    }
    if (json_is_string(v) && dur(json_string_value(v), &ns) == 0) {
        *ms = ns / 1000000u;
        return 0;
    }
    return -1;
}

static int get_bool(const json_t *o, const char *k, int def)
{
    const json_t *v = json_object_get(o, k);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

static int get_uint(const json_t *o, const char *k, unsigned def)
{
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) && json_integer_value(v) >= 0 ? (unsigned)json_integer_value(v)
                                                             : def;
}

static int domain_wire(const char *text, uint8_t *out, size_t *len, unsigned *labels)
{
    char buf[DNSW_MAX_NAME + 2];
    size_t n = strlen(text);
    if (n == 0 || n > DNSW_MAX_NAME)
        return -1;
    snprintf(buf, sizeof buf, "%s", text);
    for (char *p = buf; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (n > 1 && buf[n - 1] == '.')
        buf[n - 1] = 0;
    int l = dnsw_name_from_text(buf, out);
    if (l < 0)
        return -1;
    *len = (size_t)l;
    *labels = 0;
    for (size_t i = 0; out[i]; i += (size_t)out[i] + 1)
        (*labels)++;
    return 0;
}

static int parse_recursor(const char *r, struct sockaddr_storage *ss)
{
    char host[128];
    int port = 53;
    memset(ss, 0, sizeof *ss);
    const char *colon = strrchr(r, ':');
    if (r[0] == '[') { /* [v6]:port */
        const char *e = strchr(r, ']');
        if (!e || (size_t)(e - r - 1) >= sizeof host)
            return -1;
        memcpy(host, r + 1, (size_t)(e - r - 1));
        host[e - r - 1] = 0;
        if (e[1] == ':')
            port = atoi(e + 2);
    } else if (colon && strchr(r, ':') == colon) { /* v4:port */
        if ((size_t)(colon - r) >= sizeof host)
            return -1;
        memcpy(host, r, (size_t)(colon - r));
        host[colon - r] = 0;
        port = atoi(colon + 1);
    } else {
        snprintf(host, sizeof host, "%s", r);
    }
    if (port <= 0 || port > 65535)
        return -1;
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        return 0;
    }
    return -1;
}

static int load_addrs(tbd_settings_t *s, const json_t *agent, char **err)
{
    const json_t *v = get2(agent, "addresses", "dns");
    if (!v || !json_is_string(v))
        v = json_object_get(agent, "client_addr");
    const char *list = json_is_string(v) ? json_string_value(v) : "127.0.0.1";
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        size_t n = strcspn(p, " \t");
        char *a = strndup(p, n);
        char **nv = realloc(s->addrs, (s->naddrs + 1) * sizeof *nv);
        if (!a || !nv) {
            free(a);
            if (nv)
                s->addrs = nv;
            return errf(err, "addresses.dns: out of memory");
        }
        s->addrs = nv;
        s->addrs[s->naddrs++] = a;
        unsigned char tmp[16];
        if (inet_pton(AF_INET, a, tmp) != 1 && inet_pton(AF_INET6, a, tmp) != 1)
            return errf(err, "addresses.dns: invalid address \"%s\"", a);
        p += n;
    }
    if (!s->naddrs)
        return errf(err, "addresses.dns: no address");
    return 0;
}

int tbd_settings_load(tbd_settings_t *s, const json_t *agent, const json_t *own,
                      tbd_duration_fn dur, char **err)
{
    memset(s, 0, sizeof *s);
    if (own && json_is_object(own) && json_object_size(own) > 0)
        return errf(err, "plugin_config.dns.%s: unknown key",
                    json_object_iter_key(json_object_iter((json_t *)own)));
    const json_t *v = get2(agent, "ports", "dns");
    s->port = json_is_integer(v) ? (int)json_integer_value(v) : 8600;
    if (s->port > 65535 || s->port < -1 || s->port == 0)
        return errf(err, "ports.dns: invalid port %d", s->port);
    if (s->port > 0 && load_addrs(s, agent, err) != 0)
        return -1;
    v = json_object_get(agent, "domain");
    if (domain_wire(json_is_string(v) ? json_string_value(v) : "consul.", s->domain,
                    &s->domain_len, &s->domain_labels) != 0 || s->domain_labels == 0)
        return errf(err, "domain: invalid domain name");
    v = json_object_get(agent, "alt_domain");
    if (json_is_string(v) && *json_string_value(v)) {
        if (domain_wire(json_string_value(v), s->alt, &s->alt_len, &s->alt_labels) != 0 ||
            s->alt_labels == 0)
            return errf(err, "alt_domain: invalid domain name");
    }
    v = json_object_get(agent, "datacenter");
    s->dc = lower_dup(json_is_string(v) ? json_string_value(v) : "dc1");
    s->dc_orig = strdup(json_is_string(v) ? json_string_value(v) : "dc1");
    v = json_object_get(agent, "node_name");
    s->node_name = strdup(json_is_string(v) ? json_string_value(v) : "");
    v = json_object_get(agent, "advertise_addr");
    s->advertise = strdup(json_is_string(v) ? json_string_value(v) : "127.0.0.1");
    s->server = json_is_true(json_object_get(agent, "server"));
    if (!s->dc || !s->dc_orig || !s->node_name || !s->advertise)
        return errf(err, "dns: out of memory");

    const json_t *rec = json_object_get(agent, "recursors");
    if (json_is_array(rec) && json_array_size(rec)) {
        s->recursors = calloc(json_array_size(rec), sizeof *s->recursors);
        if (!s->recursors)
            return errf(err, "recursors: out of memory");
        size_t i;
        json_t *r;
        json_array_foreach(rec, i, r) {
            if (!json_is_string(r) || parse_recursor(json_string_value(r), &s->recursors[i]))
                return errf(err, "recursors: invalid recursor address \"%s\" (IP or IP:port)",
                            json_is_string(r) ? json_string_value(r) : "?");
            s->nrecursors++;
        }
    }

    const json_t *dc = json_object_get(agent, "dns_config");
    if (!json_is_object(dc))
        dc = NULL;
    s->allow_stale = get_bool(dc, "allow_stale", 1);
    s->enable_truncate = get_bool(dc, "enable_truncate", 0);
    s->only_passing = get_bool(dc, "only_passing", 0);
    s->disable_compression = get_bool(dc, "disable_compression", 0);
    s->meta_txt = get_bool(dc, "enable_additional_node_meta_txt", 1);
    s->udp_answer_limit = (unsigned)get_uint(dc, "udp_answer_limit", 3);
    s->a_record_limit = (unsigned)get_uint(dc, "a_record_limit", 0);
    v = json_object_get(dc, "recursor_strategy");
    s->recursor_random = json_is_string(v) && strcmp(json_string_value(v), "random") == 0;
    uint64_t ms;
    if (get_dur_ms(json_object_get(dc, "recursor_timeout"), dur, 2000, &ms))
        return errf(err, "dns_config.recursor_timeout: invalid duration");
    s->recursor_timeout_ms = ms ? ms : 2000;
    if (get_dur_ms(json_object_get(dc, "max_stale"), dur, 87600ull * 3600 * 1000, &ms))
        return errf(err, "dns_config.max_stale: invalid duration");
    s->max_stale_ms = ms;
    if (get_dur_ms(json_object_get(dc, "node_ttl"), dur, 0, &ms))
        return errf(err, "dns_config.node_ttl: invalid duration");
    s->node_ttl = (uint32_t)(ms / 1000);
    const json_t *st = json_object_get(dc, "service_ttl");
    if (json_is_object(st) && json_object_size(st)) {
        s->ttl_rules = calloc(json_object_size(st), sizeof *s->ttl_rules);
        if (!s->ttl_rules)
            return errf(err, "dns_config.service_ttl: out of memory");
        const char *k;
        json_t *tv;
        json_object_foreach((json_t *)st, k, tv) {
            if (get_dur_ms(tv, dur, 0, &ms))
                return errf(err, "dns_config.service_ttl.%s: invalid duration", k);
            if (strcmp(k, "*") == 0) {
                s->has_star = 1;
                s->star_ttl = (uint32_t)(ms / 1000);
                continue;
            }
            tbd_ttl_rule_t *r = &s->ttl_rules[s->nttl_rules++];
            r->name = lower_dup(k);
            if (!r->name)
                return errf(err, "dns_config.service_ttl: out of memory");
            size_t n = strlen(r->name);
            if (n && r->name[n - 1] == '*') {
                r->prefix = 1;
                r->name[n - 1] = 0;
            }
            r->ttl = (uint32_t)(ms / 1000);
        }
    }
    const json_t *soa = json_object_get(dc, "soa");
    s->soa_expire = (uint32_t)get_uint(soa, "expire", 86400);
    s->soa_min = (uint32_t)get_uint(soa, "min_ttl", 0);
    s->soa_refresh = (uint32_t)get_uint(soa, "refresh", 3600);
    s->soa_retry = (uint32_t)get_uint(soa, "retry", 600);
    return 0;
}

void tbd_settings_free(tbd_settings_t *s)
{
    for (size_t i = 0; i < s->naddrs; i++)
        free(s->addrs[i]);
    free(s->addrs);
    for (size_t i = 0; i < s->nttl_rules; i++)
        free(s->ttl_rules[i].name);
    free(s->ttl_rules);
    free(s->recursors);
    free(s->dc);
    free(s->dc_orig);
    free(s->node_name);
    free(s->advertise);
    memset(s, 0, sizeof *s);
}

int tbd_settings_same_listeners(const tbd_settings_t *a, const tbd_settings_t *b)
{
    if (a->port != b->port || a->naddrs != b->naddrs)
        return 0;
    for (size_t i = 0; i < a->naddrs; i++)
        if (strcmp(a->addrs[i], b->addrs[i]))
            return 0;
    return 1;
}

/* Exact name, then the longest matching prefix*, then "*", else 0. */
uint32_t tbd_service_ttl(const tbd_settings_t *s, const char *service)
{
    const tbd_ttl_rule_t *best = NULL;
    for (size_t i = 0; i < s->nttl_rules; i++) {
        const tbd_ttl_rule_t *r = &s->ttl_rules[i];
        if (!r->prefix && strcmp(r->name, service) == 0)
            return r->ttl;
        if (r->prefix && strncmp(r->name, service, strlen(r->name)) == 0 &&
            (!best || strlen(r->name) > strlen(best->name)))
            best = r;
    }
    if (best)
        return best->ttl;
    return s->has_star ? s->star_ttl : 0;
}

/* ---------------------------------------------------------------- classify */

static int label_is(const dnsw_query_t *q, unsigned i, const char *word)
{
    size_t n;
    const uint8_t *l = dnsw_label(q, i, &n);
    return n == strlen(word) && strncasecmp((const char *)l, word, n) == 0;
}

/* Does the question end with the wire domain d (nl labels)? */
static int ends_with(const dnsw_query_t *q, const uint8_t *d, size_t dlen, unsigned nl)
{
    if (q->nlabels < nl)
        return 0;
    size_t off = q->lab_off[q->nlabels - nl];
    if (q->qname_len - off != dlen)
        return 0;
    for (size_t i = 0; i < dlen; i++)
        if (tolower(q->qname[off + i]) != d[i])
            return 0;
    return 1;
}

/* Append labels [from, to) lowercased and dot-joined. */
static int join_labels(const dnsw_query_t *q, unsigned from, unsigned to, char *out, size_t cap)
{
    size_t o = 0;
    for (unsigned i = from; i < to; i++) {
        size_t n;
        const uint8_t *l = dnsw_label(q, i, &n);
        if (o + n + 2 > cap)
            return -1;
        if (i > from)
            out[o++] = '.';
        for (size_t j = 0; j < n; j++) {
            if (l[j] == 0)
                return -1; /* no NULs in names we look up */
            out[o++] = (char)tolower(l[j]);
        }
    }
    out[o] = 0;
    return 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static void classify_ptr(const dnsw_query_t *q, tbd_qinfo_t *o)
{
    /* d.c.b.a.in-addr.arpa or 32 nibbles.ip6.arpa */
    if (q->nlabels == 6 && label_is(q, 4, "in-addr") && label_is(q, 5, "arpa")) {
        for (unsigned i = 0; i < 4; i++) {
            size_t n;
            const uint8_t *l = dnsw_label(q, i, &n);
            if (n < 1 || n > 3)
                return;
            unsigned v = 0;
            for (size_t j = 0; j < n; j++) {
                if (l[j] < '0' || l[j] > '9')
                    return;
                v = v * 10 + (unsigned)(l[j] - '0');
            }
            if (v > 255)
                return;
            o->ip[3 - i] = (uint8_t)v;
        }
        o->family = 4;
        o->kind = TBD_Q_PTR;
    } else if (q->nlabels == 34 && label_is(q, 32, "ip6") && label_is(q, 33, "arpa")) {
        memset(o->ip, 0, 16);
        for (unsigned i = 0; i < 32; i++) {
            size_t n;
            const uint8_t *l = dnsw_label(q, i, &n);
            int h = n == 1 ? hexval(l[0]) : -1;
            if (h < 0)
                return;
            unsigned nib = 31 - i;
            o->ip[nib / 2] |= (uint8_t)(nib % 2 ? h : h << 4);
        }
        o->family = 6;
        o->kind = TBD_Q_PTR;
    }
}

static const char *const type_labels[] = {"service", "connect", "virtual", "ingress",
                                          "node",    "query",   "addr"};

void tbd_classify(const tbd_settings_t *s, const dnsw_query_t *q, tbd_qinfo_t *o)
{
    memset(o, 0, offsetof(tbd_qinfo_t, name));
    o->name[0] = o->tag[0] = 0;
    o->kind = TBD_Q_OUTSIDE;
    unsigned dl;
    if (ends_with(q, s->domain, s->domain_len, s->domain_labels)) {
        dl = s->domain_labels;
    } else if (s->alt_len && ends_with(q, s->alt, s->alt_len, s->alt_labels)) {
        dl = s->alt_labels;
        o->alt = 1;
    } else {
        classify_ptr(q, o);
        return;
    }
    unsigned k = q->nlabels - dl; /* labels before the domain */
    o->dom_off = q->lab_off[k];
    o->kind = TBD_Q_NX;
    if (k == 0) {
        o->kind = TBD_Q_APEX;
        return;
    }
    /* the rightmost type label */
    int t = -1;
    size_t ti = 0;
    for (int i = (int)k - 1; i >= 0 && t < 0; i--)
        for (size_t j = 0; j < sizeof type_labels / sizeof *type_labels; j++)
            if (label_is(q, (unsigned)i, type_labels[j])) {
                t = i;
                ti = j;
                break;
            }
    unsigned parts_end, suffix_from;
    if (t < 0) {
        /* _svc._tag[.dc] without "service" (SRV clients) */
        size_t n0, n1;
        if (k >= 2 && q->qtype == DNSW_T_SRV && *dnsw_label(q, 0, &n0) == '_' &&
            *dnsw_label(q, 1, &n1) == '_') {
            ti = 0;
            parts_end = 2;
            suffix_from = 2;
        } else {
            return; /* NXDOMAIN */
        }
    } else {
        parts_end = (unsigned)t;
        suffix_from = (unsigned)t + 1;
    }
    /* datacenter suffix: nothing, <dc> or <dc>.dc */
    unsigned ns = k - suffix_from;
    if (ns > 2 || (ns == 2 && !label_is(q, suffix_from + 1, "dc")))
        return;
    if (ns >= 1 && !label_is(q, suffix_from, s->dc))
        return; /* unknown datacenter (no WAN federation yet) */
    if (parts_end == 0)
        return;
    const char *type = type_labels[ti];
    if (strcmp(type, "node") == 0) {
        if (join_labels(q, 0, parts_end, o->name, sizeof o->name))
            return;
        o->kind = TBD_Q_NODE;
    } else if (strcmp(type, "service") == 0) {
        size_t n0, n1;
        if (parts_end == 2 && *dnsw_label(q, 0, &n0) == '_' && *dnsw_label(q, 1, &n1) == '_' &&
            n0 > 1 && n1 > 1) {
            join_labels(q, 0, 1, o->name, sizeof o->name);
            join_labels(q, 1, 2, o->tag, sizeof o->tag);
            memmove(o->name, o->name + 1, strlen(o->name));
            memmove(o->tag, o->tag + 1, strlen(o->tag));
            if (strcmp(o->tag, "tcp") == 0)
                o->tag[0] = 0;
        } else {
            if (join_labels(q, parts_end - 1, parts_end, o->name, sizeof o->name))
                return;
            if (parts_end > 1 && join_labels(q, 0, parts_end - 1, o->tag, sizeof o->tag))
                return;
        }
        if (!o->name[0])
            return;
        o->kind = TBD_Q_SERVICE;
    } else if (strcmp(type, "addr") == 0) {
        size_t n;
        const uint8_t *l = dnsw_label(q, 0, &n);
        if (parts_end != 1 || (n != 8 && n != 32))
            return;
        for (size_t i = 0; i < n; i += 2) {
            int hi = hexval(l[i]), lo = hexval(l[i + 1]);
            if (hi < 0 || lo < 0)
                return;
            o->ip[i / 2] = (uint8_t)(hi << 4 | lo);
        }
        o->family = n == 8 ? 4 : 6;
        o->kind = TBD_Q_ADDR;
    }
    /* query, connect, virtual, ingress: not served (no prepared queries or
     * mesh in this agent): NXDOMAIN */
}

/* ---------------------------------------------------------------- TXT */

static void txt_append(uint8_t **blob, size_t *len, const char *s, size_t n)
{
    /* character-strings of at most 255 bytes each */
    size_t rd = n + (n / 255) + 1;
    if (rd > 65535)
        return;
    uint8_t *nb = realloc(*blob, *len + 2 + rd);
    if (!nb)
        return;
    *blob = nb;
    uint8_t *p = nb + *len;
    p[0] = (uint8_t)(rd >> 8);
    p[1] = (uint8_t)rd;
    p += 2;
    size_t i = 0;
    do {
        size_t c = n - i > 255 ? 255 : n - i;
        *p++ = (uint8_t)c;
        memcpy(p, s + i, c);
        p += c;
        i += c;
    } while (i < n);
    *len = (size_t)(p - nb);
}

size_t tbd_meta_txt(const tb_pair_t *meta, size_t nmeta, uint8_t **blob, size_t *bloblen)
{
    size_t count = 0;
    for (size_t m = 0; m < nmeta; m++) {
        const char *k = meta[m].key ? meta[m].key : "";
        const char *val = meta[m].value ? meta[m].value : "";
        size_t kl = strlen(k), vl = strlen(val);
        char *buf = malloc(2 * (kl + vl) + 4);
        if (!buf)
            continue;
        size_t o = 0;
        if (strncmp(k, "rfc1035-", 8) != 0) {
            for (size_t i = 0; i < kl; i++) {
                char c = k[i];
                if (c == '`')
                    buf[o++] = '`';
                else if (c == '=' || (c == ' ' && (i == 0 || i == kl - 1)))
                    buf[o++] = '`';
                buf[o++] = c;
            }
            buf[o++] = '=';
            for (size_t i = 0; i < vl; i++) {
                if (val[i] == '`')
                    buf[o++] = '`';
                buf[o++] = val[i];
            }
        } else {
            memcpy(buf, val, vl);
            o = vl;
        }
        txt_append(blob, bloblen, buf, o);
        free(buf);
        count++;
    }
    return count;
}
