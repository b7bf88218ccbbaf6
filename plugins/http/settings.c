/*
 * settings.c - reads and validates the http plugin's settings (see settings.h).
 * Defaults are Consul's, for a core that leaves a key unset.
 */
#include "settings.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int errf(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int errf(char **err, const char *fmt, ...)
{
    tbh_buf_t b = TBH_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    char tmp[512];
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    tbh_buf_adds(&b, tmp);
    *err = tbh_buf_steal(&b, NULL);
    return -1;
}

static const json_t *path2(const json_t *root, const char *a, const char *b)
{
    const json_t *o = json_object_get(root, a);
    return json_is_object(o) ? json_object_get(o, b) : NULL;
}

static int valid_addr(const char *a)
{
    unsigned char tmp[16];
    if (strncmp(a, "unix://", 7) == 0)
        return a[7] == '/';
    return inet_pton(AF_INET, a, tmp) == 1 || inet_pton(AF_INET6, a, tmp) == 1;
}

/* Split a space-separated address list (Consul's client_addr). */
static int split_addrs(char ***addrs, size_t *naddrs, const char *key, const char *list,
                       char **err)
{
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        const char *e = p;
        while (*e && *e != ' ' && *e != '\t')
            e++;
        char *a = strndup(p, (size_t)(e - p));
        char **v = a ? realloc(*addrs, (*naddrs + 1) * sizeof(*v)) : NULL;
        if (!v) {
            free(a);
            return errf(err, "%s: out of memory", key);
        }
        *addrs = v;
        (*addrs)[(*naddrs)++] = a;
        if (!valid_addr(a))
            return errf(err, "%s: invalid address \"%s\" (an IP address or unix:///path)", key, a);
        p = e;
    }
    if (*naddrs == 0)
        return errf(err, "%s: no address", key);
    return 0;
}

static int load_port(const json_t *agent, const char *name, int def, int *out, char **err)
{
    *out = def;
    const json_t *v = path2(agent, "ports", name);
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v))
            return errf(err, "ports.%s: must be an integer", name);
        json_int_t p = json_integer_value(v);
        if (p > 65535)
            return errf(err, "ports.%s: invalid port %lld", name, (long long)p);
        *out = p < 0 ? -1 : (int)p;
    }
    return 0;
}

/* addresses.<name> when set and non-empty, else client_addr. */
static int load_addrs(const json_t *agent, const char *name, char ***addrs, size_t *naddrs,
                      char **err)
{
    const char *list = "127.0.0.1", *key = "client_addr";
    const json_t *v = json_object_get(agent, "client_addr");
    if (v && !json_is_null(v)) {
        if (!json_is_string(v))
            return errf(err, "client_addr: must be a string");
        list = json_string_value(v);
    }
    v = path2(agent, "addresses", name);
    if (v && !json_is_null(v)) {
        if (!json_is_string(v))
            return errf(err, "addresses.%s: must be a string", name);
        if (*json_string_value(v)) {
            list = json_string_value(v);
            key = strcmp(name, "http") == 0 ? "addresses.http" : "addresses.https";
        }
    }
    return split_addrs(addrs, naddrs, key, list, err);
}

static int token_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && !strchr("()<>@,;:\\\"/[]?={}", c);
}

static int load_headers(tbh_settings_t *s, const json_t *hdrs, char **err)
{
    tbh_buf_t b = TBH_BUF_INIT;
    const char *name;
    const json_t *val;
    json_object_foreach((json_t *)hdrs, name, val) {
        int ok = *name != '\0';
        for (const char *c = name; *c; c++)
            ok = ok && token_char((unsigned char)*c);
        if (!ok) {
            tbh_buf_free(&b);
            return errf(err, "http_config.response_headers: invalid header name \"%s\"", name);
        }
        const char *v = json_string_value(val);
        if (!v || strpbrk(v, "\r\n")) {
            tbh_buf_free(&b);
            return errf(err, "http_config.response_headers.%s: must be a one-line string", name);
        }
        tbh_buf_printf(&b, "%s: %s\r\n", name, v);
    }
    if (b.failed) {
        tbh_buf_free(&b);
        return errf(err, "http_config.response_headers: out of memory");
    }
    s->extra_headers = tbh_buf_steal(&b, NULL);
    return 0;
}

static int load(tbh_settings_t *s, const json_t *agent, const json_t *own, tbh_duration_fn dur,
                char **err)
{
    if (own && !json_is_object(own))
        return errf(err, "plugin_config.http: must be an object");
    if (own && json_object_size(own) > 0) {
        const char *k = json_object_iter_key(json_object_iter((json_t *)own));
        return errf(err, "plugin_config.http.%s: unknown key", k);
    }

    if (load_port(agent, "http", 8500, &s->port, err) != 0 ||
        load_port(agent, "https", -1, &s->https_port, err) != 0 ||
        load_addrs(agent, "http", &s->addrs, &s->naddrs, err) != 0 ||
        (s->https_port >= 0 &&
         load_addrs(agent, "https", &s->https_addrs, &s->nhttps_addrs, err) != 0))
        return -1;

    const json_t *v;
    s->max_conns_per_client = 200;
    v = path2(agent, "limits", "http_max_conns_per_client");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return errf(err, "limits.http_max_conns_per_client: must be a non-negative integer");
        s->max_conns_per_client = (uint64_t)json_integer_value(v);
    }

    v = json_object_get(agent, "dev_mode");
    if (v && !json_is_null(v)) {
        if (!json_is_boolean(v))
            return errf(err, "dev_mode: must be a boolean");
        s->pretty = json_is_true(v);
    }

    v = json_object_get(agent, "discovery_max_stale");
    if (v && !json_is_null(v)) {
        uint64_t ns;
        if (!json_is_string(v) ||
            (*json_string_value(v) && tbh_parse_duration(dur, json_string_value(v), &ns) != 0))
            return errf(err, "discovery_max_stale: must be a duration such as \"5s\"");
        if (*json_string_value(v))
            s->discovery_stale_ms = ns / 1000000u + (ns % 1000000u ? 1 : 0);
    }

    tbh_buf_t hb = TBH_BUF_INIT;
    v = path2(agent, "acl", "default_policy");
    if (json_is_string(v))
        tbh_buf_printf(&hb, "X-Consul-Default-ACL-Policy: %s\r\n", json_string_value(v));
    v = path2(agent, "http_config", "response_headers");
    if (v && !json_is_null(v)) {
        if (!json_is_object(v)) {
            tbh_buf_free(&hb);
            return errf(err, "http_config.response_headers: must be an object");
        }
        if (load_headers(s, v, err) != 0) {
            tbh_buf_free(&hb);
            return -1;
        }
        tbh_buf_adds(&hb, s->extra_headers);
        free(s->extra_headers);
        s->extra_headers = NULL;
    }
    if (hb.failed) {
        tbh_buf_free(&hb);
        return errf(err, "http: out of memory");
    }
    s->extra_headers = tbh_buf_steal(&hb, NULL);
    return 0;
}

int tbh_settings_load(tbh_settings_t *s, const json_t *agent, const json_t *own,
                      tbh_duration_fn dur, char **err)
{
    memset(s, 0, sizeof(*s));
    *err = NULL;
    if (load(s, agent, own, dur, err) != 0) {
        tbh_settings_free(s);
        return -1;
    }
    return 0;
}

void tbh_settings_free(tbh_settings_t *s)
{
    for (size_t i = 0; i < s->naddrs; i++)
        free(s->addrs[i]);
    free(s->addrs);
    for (size_t i = 0; i < s->nhttps_addrs; i++)
        free(s->https_addrs[i]);
    free(s->https_addrs);
    free(s->extra_headers);
    memset(s, 0, sizeof(*s));
}

int tbh_settings_same_listeners(const tbh_settings_t *a, const tbh_settings_t *b)
{
    if (a->port != b->port || a->naddrs != b->naddrs || a->https_port != b->https_port ||
        a->nhttps_addrs != b->nhttps_addrs)
        return 0;
    for (size_t i = 0; i < a->naddrs; i++)
        if (strcmp(a->addrs[i], b->addrs[i]) != 0)
            return 0;
    for (size_t i = 0; i < a->nhttps_addrs; i++)
        if (strcmp(a->https_addrs[i], b->https_addrs[i]) != 0)
            return 0;
    return 1;
}
