/*
 * httpreq.c - URL parsing, request rendering and redirect resolution for
 * check_http (pure: http-parser's URL parser, no sockets).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>

#include "httpreq.h"

int hurl_parse(const char *url, hurl_t *u, const char **why)
{
    struct http_parser_url p;
    memset(u, 0, sizeof *u);
    http_parser_url_init(&p);
    if (!url || http_parser_parse_url(url, strlen(url), 0, &p) != 0) {
        *why = "not a valid URL";
        return -1;
    }
    if (!(p.field_set & (1 << UF_SCHEMA)) || !(p.field_set & (1 << UF_HOST))) {
        *why = "expected an absolute http:// or https:// URL";
        return -1;
    }
    const char *sch = url + p.field_data[UF_SCHEMA].off;
    size_t schl = p.field_data[UF_SCHEMA].len;
    if (schl == 4 && strncasecmp(sch, "http", 4) == 0) u->tls = 0;
    else if (schl == 5 && strncasecmp(sch, "https", 5) == 0) u->tls = 1;
    else {
        *why = "unsupported protocol scheme (http or https)";
        return -1;
    }
    size_t hl = p.field_data[UF_HOST].len;
    if (hl == 0 || hl >= sizeof u->host) {
        *why = "bad host in URL";
        return -1;
    }
    memcpy(u->host, url + p.field_data[UF_HOST].off, hl);
    u->host[hl] = '\0';
    /* authority = from the host (or its '[') to the end of the port */
    size_t a0 = p.field_data[UF_HOST].off, a1 = a0 + hl;
    if (a0 > 0 && url[a0 - 1] == '[') {
        a0--;
        a1++;
    }
    if (p.field_set & (1 << UF_PORT)) {
        a1 = p.field_data[UF_PORT].off + p.field_data[UF_PORT].len;
        snprintf(u->port, sizeof u->port, "%u", p.port);
        if (p.port == 0) {
            *why = "invalid port in URL";
            return -1;
        }
    } else
        strcpy(u->port, u->tls ? "443" : "80");
    if (a1 - a0 >= sizeof u->authority) {
        *why = "URL authority too long";
        return -1;
    }
    memcpy(u->authority, url + a0, a1 - a0);
    u->authority[a1 - a0] = '\0';
    const char *path = "/";
    size_t pl = 1;
    if (p.field_set & (1 << UF_PATH)) {
        path = url + p.field_data[UF_PATH].off;
        pl = p.field_data[UF_PATH].len;
    }
    size_t ql = (p.field_set & (1 << UF_QUERY)) ? p.field_data[UF_QUERY].len : 0;
    u->target = malloc(pl + ql + 2);
    if (!u->target) {
        *why = "out of memory";
        return -1;
    }
    memcpy(u->target, path, pl);
    u->target[pl] = '\0';
    if (p.field_set & (1 << UF_QUERY)) {
        strcat(u->target, "?");
        strncat(u->target, url + p.field_data[UF_QUERY].off, ql);
    }
    return 0;
}

void hurl_free(hurl_t *u)
{
    free(u->target);
    u->target = NULL;
}

static int value_ok(const char *s)
{
    return s && !strpbrk(s, "\r\n");
}

static int token_ok(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (!isgraph((unsigned char)*s) || strchr("()<>@,;:\\\"/[]?={}", *s)) return 0;
    return 1;
}

int http_headers_check(const json_t *headers, const char **why)
{
    const char *k;
    const json_t *v;
    if (!headers) return 0;
    if (!json_is_object(headers)) {
        *why = "expected an object {name: [values]}";
        return -1;
    }
    json_object_foreach((json_t *)headers, k, v) {
        if (!token_ok(k)) {
            *why = "invalid header name";
            return -1;
        }
        if (json_is_string(v)) {
            if (!value_ok(json_string_value(v))) goto bad;
            continue;
        }
        if (!json_is_array(v)) {
            *why = "header values must be a list of strings";
            return -1;
        }
        size_t i;
        const json_t *x;
        json_array_foreach(v, i, x) if (!json_is_string(x) || !value_ok(json_string_value(x))) goto bad;
    }
    return 0;
bad:
    *why = "header values must be strings without CR or LF";
    return -1;
}

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf_t;

static void sb_add(sbuf_t *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t c = (b->cap ? b->cap * 2 : 512);
        while (c < b->len + n + 1) c *= 2;
        char *np = realloc(b->p, c);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = c;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sbuf_t *b, const char *s) { sb_add(b, s, strlen(s)); }

static void sb_header(sbuf_t *b, const char *k, const char *v)
{
    sb_str(b, k);
    sb_str(b, ": ");
    sb_str(b, v);
    sb_str(b, "\r\n");
}

static const json_t *header_get(const json_t *h, const char *name)
{
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)h, k, v) if (strcasecmp(k, name) == 0) return v;
    return NULL;
}

static const char *first_value(const json_t *v)
{
    if (json_is_string(v)) return json_string_value(v);
    return json_string_value(json_array_get(v, 0));
}

char *http_build_request(const char *method, const hurl_t *u, const json_t *headers,
                         const char *body, size_t body_len, size_t *len)
{
    sbuf_t b = {0};
    char num[32];
    sb_str(&b, method);
    sb_str(&b, " ");
    sb_str(&b, u->target);
    sb_str(&b, " HTTP/1.1\r\n");
    const json_t *host = header_get(headers, "host");
    sb_header(&b, "Host", host && first_value(host) ? first_value(host) : u->authority);
    if (!header_get(headers, "user-agent")) sb_header(&b, "User-Agent", "Consul Health Check");
    if (!header_get(headers, "accept")) sb_header(&b, "Accept", "text/plain, text/*, */*");
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)headers, k, v) {
        if (!strcasecmp(k, "host") || !strcasecmp(k, "content-length") ||
            !strcasecmp(k, "connection") || !strcasecmp(k, "transfer-encoding"))
            continue;
        if (json_is_string(v)) sb_header(&b, k, json_string_value(v));
        size_t i;
        const json_t *x;
        json_array_foreach(v, i, x) sb_header(&b, k, json_string_value(x));
    }
    if (body_len || !strcmp(method, "POST") || !strcmp(method, "PUT") || !strcmp(method, "PATCH")) {
        snprintf(num, sizeof num, "%zu", body_len);
        sb_header(&b, "Content-Length", num);
    }
    sb_str(&b, "Connection: close\r\n\r\n");
    if (body_len) sb_add(&b, body, body_len);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}

char *http_resolve_location(const char *base, const char *loc)
{
    sbuf_t b = {0};
    const char *colon = strstr(loc, "://");
    const char *slash = strchr(loc, '/');
    if (colon && (!slash || colon < slash)) {
        sb_str(&b, loc); /* absolute */
        return b.p;
    }
    const char *bs = strstr(base, "://");
    if (!bs) return strdup(loc);
    if (loc[0] == '/' && loc[1] == '/') { /* scheme-relative */
        sb_add(&b, base, (size_t)(bs - base) + 1);
        sb_str(&b, loc);
        return b.p;
    }
    const char *path = strchr(bs + 3, '/');
    size_t origin = path ? (size_t)(path - base) : strlen(base);
    const char *q = strpbrk(bs + 3, "?#");
    if (q && (size_t)(q - base) < origin) origin = (size_t)(q - base);
    sb_add(&b, base, origin);
    if (loc[0] == '/') sb_str(&b, loc);
    else if (loc[0] == '?') {
        size_t pe = path ? strcspn(path, "?#") : 0;
        if (path) sb_add(&b, path, pe);
        else sb_str(&b, "/");
        sb_str(&b, loc);
    } else {
        /* relative: replace the last path segment */
        size_t pe = path ? strcspn(path, "?#") : 0;
        const char *last = NULL;
        for (size_t i = 0; path && i < pe; i++)
            if (path[i] == '/') last = path + i;
        if (last) sb_add(&b, path, (size_t)(last - path) + 1);
        else sb_str(&b, "/");
        sb_str(&b, loc);
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

tb_check_status_t http_status_map(int code)
{
    if (code >= 200 && code <= 299) return TB_CHECK_PASSING;
    if (code == 429) return TB_CHECK_WARNING;
    return TB_CHECK_CRITICAL;
}

void http_method_title(const char *method, char *buf, size_t n)
{
    snprintf(buf, n, "%s", method);
    for (size_t i = 1; buf[i]; i++) buf[i] = (char)tolower((unsigned char)buf[i]);
}
