/*
 * http.c - the CLI's HTTP client of the local agent (libcurl). Resolves the
 * agent address and token as Consul's CLI does (flag, then TRIBUNE_HTTP_*,
 * then CONSUL_HTTP_*, then 127.0.0.1:8500; libcurl is loaded on the first
 * request, curl_api.h), HTTPS options (-ca-file ...,
 * CONSUL_CACERT ..., CONSUL_HTTP_SSL, CONSUL_HTTP_SSL_VERIFY), adds ?dc= and ?stale, and turns
 * transport failures into one-line messages. Also a JSON loader that keeps
 * uint64 values (KV Flags above 2^63) exact.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_int.h"
#include "cli/curl_api.h"

/* ------------------------------------------------------------ addresses */

typedef struct target {
    char *base;      /* "http://127.0.0.1:8500" */
    char *hostport;  /* "127.0.0.1:8500" for messages */
    char *unix_path; /* unix:///path */
} target_t;

static void target_free(target_t *t)
{
    free(t->base);
    free(t->hostport);
    free(t->unix_path);
}

static int target_parse(const char *addr, int ssl, target_t *t)
{
    memset(t, 0, sizeof(*t));
    if (strncmp(addr, "unix://", 7) == 0) {
        t->unix_path = strdup(addr + 7);
        t->base = strdup("http://localhost");
        t->hostport = strdup(addr);
    } else {
        const char *scheme = ssl ? "https" : "http";
        const char *rest = addr;
        if (strncmp(addr, "http://", 7) == 0) {
            rest = addr + 7;
        } else if (strncmp(addr, "https://", 8) == 0) {
            scheme = "https";
            rest = addr + 8;
        }
        size_t n = strcspn(rest, "/");
        t->hostport = strndup(rest, n);
        if (asprintf(&t->base, "%s://%.*s", scheme, (int)n, rest) < 0)
            t->base = NULL;
    }
    return (t->base && t->hostport) ? 0 : -1;
}

static const char *env_first(const char *a, const char *b)
{
    const char *v = getenv(a);
    if (v && *v)
        return v;
    v = getenv(b);
    return (v && *v) ? v : NULL;
}

/* A flag, else the environment variable. */
static const char *opt_env(const char *flag, const char *env)
{
    if (flag && *flag)
        return flag;
    const char *v = getenv(env);
    return (v && *v) ? v : NULL;
}

/* HTTPS options as Consul's CLI reads them. */
static void set_tls(const tb__curl_api_t *cu, CURL *h, const tb__http_opts_t *o)
{
    const char *v;
    if ((v = opt_env(o->ca_file, "CONSUL_CACERT")))
        cu->easy_setopt(h, CURLOPT_CAINFO, v);
    if ((v = opt_env(o->ca_path, "CONSUL_CAPATH")))
        cu->easy_setopt(h, CURLOPT_CAPATH, v);
    if ((v = opt_env(o->client_cert, "CONSUL_CLIENT_CERT")))
        cu->easy_setopt(h, CURLOPT_SSLCERT, v);
    if ((v = opt_env(o->client_key, "CONSUL_CLIENT_KEY")))
        cu->easy_setopt(h, CURLOPT_SSLKEY, v);
    const char *verify = getenv("CONSUL_HTTP_SSL_VERIFY");
    if (verify && *verify && tb__parse_bool(verify) == 0) {
        cu->easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        cu->easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
}

/* -tls-server-name: the certificate is verified against (and SNI names)
 * `name` while the TCP connection still goes to the address given: the URL
 * carries the name, CURLOPT_CONNECT_TO routes it. Rewrites t->base and
 * returns the route ("name:port:host:port"), or NULL to leave things as
 * they are. */
static char *sni_route(target_t *t, const char *name)
{
    if (!name || t->unix_path || strncmp(t->base, "https://", 8) != 0)
        return NULL;
    const char *colon = strrchr(t->hostport, ':');
    const char *bracket = strrchr(t->hostport, ']');
    const char *port = colon && (!bracket || colon > bracket) ? colon + 1 : "443";
    int hlen = colon && (!bracket || colon > bracket) ? (int)(colon - t->hostport)
                                                      : (int)strlen(t->hostport);
    char *route, *base;
    if (asprintf(&route, "%s:%s:%.*s:%s", name, port, hlen, t->hostport, port) < 0)
        return NULL;
    if (asprintf(&base, "https://%s:%s", name, port) < 0) {
        free(route);
        return NULL;
    }
    free(t->base);
    t->base = base;
    return route;
}

/* The token: -token, -token-file, then the environment. malloc'd or NULL. */
static char *resolve_token(const tb__http_opts_t *o, char **err)
{
    if (o->token && *o->token)
        return strdup(o->token);
    const char *file = o->token_file;
    if (file == NULL || *file == '\0') {
        const char *env = env_first("TRIBUNE_HTTP_TOKEN", "CONSUL_HTTP_TOKEN");
        if (env)
            return strdup(env);
        file = env_first("TRIBUNE_HTTP_TOKEN_FILE", "CONSUL_HTTP_TOKEN_FILE");
    }
    if (file == NULL)
        return NULL;
    FILE *f = fopen(file, "r");
    if (f == NULL) {
        if (asprintf(err, "failed to read token file %s: %s", file, strerror(errno)) < 0)
            *err = NULL;
        return NULL;
    }
    char buf[512];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && isspace((unsigned char)buf[n - 1]))
        buf[--n] = '\0';
    return strdup(buf);
}

/* ------------------------------------------------------------ escaping */

char *tb__url_escape(const char *s, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(3 * n + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' ||
            (keep_slash && c == '/')) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}

/* ------------------------------------------------------------ requests */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    tb__buf_t *b = arg;
    size_t n = size * nmemb;
    return tb__buf_add(b, ptr, n) == 0 ? n : 0;
}

int tb__http_do(const tb__http_opts_t *o, const char *method, const char *path,
                const char *query, const void *body, size_t blen, tb__http_resp_t *r)
{
    memset(r, 0, sizeof(*r));
    const char *addr = o->addr && *o->addr ? o->addr
                                           : env_first("TRIBUNE_HTTP_ADDR", "CONSUL_HTTP_ADDR");
    if (addr == NULL)
        addr = "127.0.0.1:8500";
    const char *ssl_env = getenv("CONSUL_HTTP_SSL");
    target_t t;
    if (target_parse(addr, ssl_env && tb__parse_bool(ssl_env) == 1, &t) != 0) {
        target_free(&t);
        r->err = strdup("out of memory");
        return -1;
    }
    char *token_err = NULL;
    char *token = resolve_token(o, &token_err);
    if (token_err) {
        r->err = token_err;
        target_free(&t);
        return -1;
    }
    tb__curl_api_t cu;
    if (tb__curl_open(&cu, &r->err) != 0) {
        if (!r->err)
            r->err = strdup("cannot load libcurl");
        free(token);
        target_free(&t);
        return -1;
    }
    char *route = sni_route(&t, opt_env(o->tls_server_name, "CONSUL_TLS_SERVER_NAME"));
    struct curl_slist *connect_to = route ? cu.slist_append(NULL, route) : NULL;
    free(route);

    tb__buf_t url = {0};
    tb__buf_printf(&url, "%s%s", t.base, path);
    char sep = '?';
    if (query && *query) {
        tb__buf_printf(&url, "?%s", query);
        sep = '&';
    }
    if (o->datacenter && *o->datacenter) {
        char *dc = tb__url_escape(o->datacenter, 0);
        tb__buf_printf(&url, "%cdc=%s", sep, dc ? dc : "");
        free(dc);
        sep = '&';
    }
    if (o->stale)
        tb__buf_printf(&url, "%cstale", sep);

    tb__buf_t resp = {0};
    tb__buf_add(&resp, "", 0);
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs = NULL;
    CURL *h = cu.easy_init();
    int rc = -1;
    if (h == NULL || url.s == NULL || resp.s == NULL) {
        r->err = strdup("out of memory");
        goto done;
    }
    if (token) {
        char *hdr;
        if (asprintf(&hdr, "X-Consul-Token: %s", token) >= 0) {
            hdrs = cu.slist_append(hdrs, hdr);
            free(hdr);
        }
    }
    cu.easy_setopt(h, CURLOPT_URL, url.s);
    cu.easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    cu.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    cu.easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    cu.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    cu.easy_setopt(h, CURLOPT_WRITEDATA, &resp);
    cu.easy_setopt(h, CURLOPT_USERAGENT, "tribune-cli");
    if (t.unix_path)
        cu.easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, t.unix_path);
    set_tls(&cu, h, o);
    if (connect_to)
        cu.easy_setopt(h, CURLOPT_CONNECT_TO, connect_to);
    if (strcmp(method, "GET") != 0) {
        cu.easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        if (body != NULL || strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0) {
            cu.easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
            cu.easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
            /* no "Expect: 100-continue" round trip for large values */
            hdrs = cu.slist_append(hdrs, "Expect:");
            hdrs = cu.slist_append(hdrs, "Content-Type:");
        }
    }
    if (hdrs)
        cu.easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);

    CURLcode cc = cu.easy_perform(h);
    if (cc != CURLE_OK) {
        long oserr = 0;
        cu.easy_getinfo(h, CURLINFO_OS_ERRNO, &oserr);
        int ok;
        if (cc == CURLE_COULDNT_CONNECT && oserr != 0)
            ok = asprintf(&r->err, "connect to %s failed: %s", t.hostport,
                          strerror((int)oserr));
        else
            ok = asprintf(&r->err, "%s %s: %s", method, url.s,
                          errbuf[0] ? errbuf : cu.easy_strerror(cc));
        if (ok < 0)
            r->err = strdup("request failed");
        goto done;
    }
    cu.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    r->body = resp.s;
    r->len = resp.len;
    resp.s = NULL;
    rc = 0;
done:
    if (h)
        cu.easy_cleanup(h);
    cu.slist_free_all(hdrs);
    cu.slist_free_all(connect_to);
    free(resp.s);
    free(url.s);
    free(token);
    target_free(&t);
    tb__curl_close(&cu);
    return rc;
}

void tb__http_resp_free(tb__http_resp_t *r)
{
    free(r->body);
    free(r->err);
    memset(r, 0, sizeof(*r));
}

char *tb__http_status_error(const tb__http_resp_t *r)
{
    char *s;
    size_t n = r->len;
    while (n > 0 && (r->body[n - 1] == '\n' || r->body[n - 1] == '\r'))
        n--;
    if (asprintf(&s, "Unexpected response code: %ld (%.*s)", r->status, (int)n,
                 r->body ? r->body : "") < 0)
        return NULL;
    return s;
}

/* ------------------------------------------------------------ JSON */

/* Does the digit run [p, p+n) exceed INT64_MAX? */
static int beyond_int64(const char *p, size_t n)
{
    static const char max[] = "9223372036854775807";
    while (n > 1 && *p == '0') {
        p++;
        n--;
    }
    if (n != sizeof(max) - 1)
        return n > sizeof(max) - 1;
    return memcmp(p, max, n) > 0;
}

json_t *tb__json_loads_u64(const char *text, size_t len, json_error_t *e)
{
    tb__buf_t b = {0};
    if (tb__buf_add(&b, "", 0) != 0)
        return NULL;
    size_t i = 0, copied = 0;
    while (i < len) {
        char ch = text[i];
        if (ch == '"') {
            /* skip the string, honouring escapes */
            i++;
            while (i < len && text[i] != '"') {
                if (text[i] == '\\')
                    i++;
                i++;
            }
            i++;
        } else if (ch >= '0' && ch <= '9' && (i == 0 || text[i - 1] != '-')) {
            size_t s = i;
            while (i < len && text[i] >= '0' && text[i] <= '9')
                i++;
            int integer = !(i < len && (text[i] == '.' || text[i] == 'e' || text[i] == 'E'));
            if (integer && beyond_int64(text + s, i - s)) {
                tb__buf_add(&b, text + copied, s - copied);
                tb__buf_add(&b, "\"", 1);
                tb__buf_add(&b, text + s, i - s);
                tb__buf_add(&b, "\"", 1);
                copied = i;
            }
            /* skip the rest of a real number */
            while (i < len && (text[i] == '.' || text[i] == 'e' || text[i] == 'E' ||
                               text[i] == '+' || text[i] == '-' ||
                               (text[i] >= '0' && text[i] <= '9')))
                i++;
        } else {
            i++;
        }
    }
    if (len > copied)
        tb__buf_add(&b, text + copied, len - copied);
    json_t *j = b.s ? json_loadb(b.s, b.len, 0, e) : NULL;
    free(b.s);
    return j;
}

uint64_t tb__json_u64(const json_t *v)
{
    if (json_is_integer(v))
        return (uint64_t)json_integer_value(v);
    if (json_is_string(v))
        return (uint64_t)strtoull(json_string_value(v), NULL, 10);
    if (json_is_real(v))
        return (uint64_t)json_real_value(v);
    return 0;
}
