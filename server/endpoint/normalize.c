/*
 * normalize.c - request bodies arrive in any case (python-consul sends
 * lowercase keys, the Go client PascalCase, config files snake_case). This
 * file maps them onto the canonical PascalCase shapes the state store
 * stores, validates what Consul validates, and fills Consul's defaults.
 */
#include "tb_autoconf.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint/endpoint_int.h"

/* Compare ignoring case and underscores: "service_id" == "ServiceID". */
static int name_eq(const char *a, const char *b)
{
    for (;;) {
        while (*a == '_') a++;
        while (*b == '_') b++;
        if (!*a || !*b) return !*a && !*b;
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return 0;
        a++, b++;
    }
}

json_t *tb__jget(const json_t *obj, const char *name)
{
    if (!json_is_object(obj)) return NULL;
    json_t *v = json_object_get(obj, name);
    if (v) return v;
    const char *k;
    json_t *val;
    json_object_foreach((json_t *)obj, k, val) {
        if (name_eq(k, name)) return val;
    }
    return NULL;
}

const char *tb__jstr(const json_t *obj, const char *name)
{
    json_t *v = tb__jget(obj, name);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

json_t *tb__lowercase_keys(const json_t *in)
{
    if (json_is_object(in)) {
        json_t *o = json_object();
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)in, k, v) {
            char *lk = strdup(k);
            if (!lk) continue;
            for (char *p = lk; *p; p++) *p = (char)tolower((unsigned char)*p);
            json_object_set_new(o, lk, tb__lowercase_keys(v));
            free(lk);
        }
        return o;
    }
    if (json_is_array(in)) {
        json_t *a = json_array();
        size_t i;
        json_t *v;
        json_array_foreach(in, i, v) json_array_append_new(a, tb__lowercase_keys(v));
        return a;
    }
    return json_deep_copy(in);
}

static char *errf(const char *fmt, const char *arg)
{
    char buf[256];
    snprintf(buf, sizeof buf, fmt, arg ? arg : "");
    return strdup(buf);
}

/* Copy a string field; wrong type is a 400 like Go's decoder. */
static int copy_str(json_t *out, const json_t *in, const char *name, char **err)
{
    json_t *v = tb__jget(in, name);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) {
        *err = errf("Request decode failed: %s: expected a string", name);
        return -1;
    }
    json_object_set(out, name, v);
    return 0;
}

static int copy_int(json_t *out, const json_t *in, const char *name, char **err)
{
    json_t *v = tb__jget(in, name);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v)) {
        *err = errf("Request decode failed: %s: expected an integer", name);
        return -1;
    }
    json_object_set(out, name, v);
    return 0;
}

static int copy_bool(json_t *out, const json_t *in, const char *name, char **err)
{
    json_t *v = tb__jget(in, name);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) {
        *err = errf("Request decode failed: %s: expected a boolean", name);
        return -1;
    }
    json_object_set(out, name, v);
    return 0;
}

/* A map of string -> string (Meta, NodeMeta, TaggedAddresses in catalog). */
static int copy_strmap(json_t *out, const json_t *in, const char *name, char **err)
{
    json_t *v = tb__jget(in, name);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_object(v)) {
        *err = errf("Request decode failed: %s: expected an object", name);
        return -1;
    }
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x) {
        if (!json_is_string(x)) {
            *err = errf("Request decode failed: %s: values must be strings", name);
            return -1;
        }
    }
    json_object_set(out, name, v);
    return 0;
}

static int copy_any_object(json_t *out, const json_t *in, const char *name, char **err)
{
    json_t *v = tb__jget(in, name);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_object(v)) {
        *err = errf("Request decode failed: %s: expected an object", name);
        return -1;
    }
    json_object_set(out, name, v);
    return 0;
}

static int valid_status(const char *s)
{
    return !strcmp(s, "passing") || !strcmp(s, "warning") || !strcmp(s, "critical");
}

static json_t *norm_check(const json_t *in, const char *node, char **err)
{
    json_t *c = json_object();
    if (copy_str(c, in, "Node", err) || copy_str(c, in, "CheckID", err) ||
        copy_str(c, in, "Name", err) || copy_str(c, in, "Status", err) ||
        copy_str(c, in, "Notes", err) || copy_str(c, in, "Output", err) ||
        copy_str(c, in, "ServiceID", err) || copy_str(c, in, "Type", err) ||
        copy_str(c, in, "Interval", err) || copy_str(c, in, "Timeout", err) ||
        copy_any_object(c, in, "Definition", err))
        goto fail;
    if (!tb__jstr(in, "CheckID") && tb__jstr(in, "ID")) json_object_set(c, "CheckID", tb__jget(in, "ID"));
    if (!json_object_get(c, "Node")) json_object_set_new(c, "Node", json_string(node));
    if (!json_object_get(c, "Name")) {
        *err = strdup("Must provide check name");
        goto fail;
    }
    if (!json_object_get(c, "CheckID")) json_object_set(c, "CheckID", json_object_get(c, "Name"));
    const char *st = json_string_value(json_object_get(c, "Status"));
    if (!st || !*st) json_object_set_new(c, "Status", json_string("critical"));
    else if (!valid_status(st)) {
        *err = errf("Invalid check status: \"%s\"", st);
        goto fail;
    }
    return c;
fail:
    json_decref(c);
    return NULL;
}

json_t *tb__norm_register(const json_t *in, const char *dc, char **err)
{
    *err = NULL;
    if (!json_is_object(in)) {
        *err = strdup("Request decode failed: body must be a JSON object");
        return NULL;
    }
    json_t *r = json_object();
    if (copy_str(r, in, "ID", err) || copy_str(r, in, "Node", err) ||
        copy_str(r, in, "Address", err) || copy_str(r, in, "Datacenter", err) ||
        copy_strmap(r, in, "TaggedAddresses", err) || copy_strmap(r, in, "NodeMeta", err) ||
        copy_bool(r, in, "SkipNodeUpdate", err))
        goto fail;
    const char *node = json_string_value(json_object_get(r, "Node"));
    if (!node || !*node) {
        *err = strdup("Must provide node");
        goto fail;
    }
    const char *addr = json_string_value(json_object_get(r, "Address"));
    if ((!addr || !*addr) && !json_is_true(json_object_get(r, "SkipNodeUpdate"))) {
        *err = strdup("Must provide address if SkipNodeUpdate is not set");
        goto fail;
    }
    const char *rdc = json_string_value(json_object_get(r, "Datacenter"));
    if (!rdc || !*rdc) json_object_set_new(r, "Datacenter", json_string(dc));

    json_t *svc = tb__jget(in, "Service");
    if (svc && !json_is_null(svc)) {
        if (!json_is_object(svc)) {
            *err = strdup("Request decode failed: Service: expected an object");
            goto fail;
        }
        json_t *s = json_object();
        json_object_set_new(r, "Service", s);
        if (copy_str(s, svc, "ID", err) || copy_str(s, svc, "Service", err) ||
            copy_str(s, svc, "Address", err) || copy_int(s, svc, "Port", err) ||
            copy_strmap(s, svc, "Meta", err) || copy_any_object(s, svc, "TaggedAddresses", err) ||
            copy_any_object(s, svc, "Weights", err) ||
            copy_bool(s, svc, "EnableTagOverride", err) || copy_str(s, svc, "Kind", err))
            goto fail;
        json_t *tags = tb__jget(svc, "Tags");
        json_t *t = json_array();
        json_object_set_new(s, "Tags", t);
        if (tags && !json_is_null(tags)) {
            size_t i;
            json_t *x;
            if (!json_is_array(tags)) {
                *err = strdup("Request decode failed: Tags: expected an array of strings");
                goto fail;
            }
            json_array_foreach(tags, i, x) {
                if (!json_is_string(x)) {
                    *err = strdup("Request decode failed: Tags: expected an array of strings");
                    goto fail;
                }
                json_array_append(t, x);
            }
        }
        const char *name = json_string_value(json_object_get(s, "Service"));
        if (!name || !*name) {
            *err = strdup("Must provide service name");
            goto fail;
        }
        const char *id = json_string_value(json_object_get(s, "ID"));
        if (!id || !*id) json_object_set(s, "ID", json_object_get(s, "Service"));
        json_t *w = json_object_get(s, "Weights");
        if (!w) json_object_set_new(s, "Weights", json_pack("{s:i,s:i}", "Passing", 1, "Warning", 1));
        if (!json_object_get(s, "Port")) json_object_set_new(s, "Port", json_integer(0));
    }

    json_t *checks = json_array();
    json_object_set_new(r, "Checks", checks);
    json_t *one = tb__jget(in, "Check");
    if (one && !json_is_null(one)) {
        if (!json_is_object(one)) {
            *err = strdup("Request decode failed: Check: expected an object");
            goto fail;
        }
        json_t *c = norm_check(one, node, err);
        if (!c) goto fail;
        json_array_append_new(checks, c);
    }
    json_t *many = tb__jget(in, "Checks");
    if (many && !json_is_null(many)) {
        size_t i;
        json_t *x;
        if (!json_is_array(many)) {
            *err = strdup("Request decode failed: Checks: expected an array");
            goto fail;
        }
        json_array_foreach(many, i, x) {
            json_t *c = json_is_object(x) ? norm_check(x, node, err) : NULL;
            if (!c) {
                if (!*err) *err = strdup("Request decode failed: Checks: expected objects");
                goto fail;
            }
            json_array_append_new(checks, c);
        }
    }
    return r;
fail:
    json_decref(r);
    return NULL;
}

json_t *tb__norm_deregister(const json_t *in, const char *dc, char **err)
{
    *err = NULL;
    if (!json_is_object(in)) {
        *err = strdup("Request decode failed: body must be a JSON object");
        return NULL;
    }
    json_t *r = json_object();
    if (copy_str(r, in, "Node", err) || copy_str(r, in, "ServiceID", err) ||
        copy_str(r, in, "CheckID", err) || copy_str(r, in, "Datacenter", err)) {
        json_decref(r);
        return NULL;
    }
    const char *node = json_string_value(json_object_get(r, "Node"));
    if (!node || !*node) {
        json_decref(r);
        *err = strdup("Must provide node");
        return NULL;
    }
    if (!json_object_get(r, "Datacenter")) json_object_set_new(r, "Datacenter", json_string(dc));
    return r;
}
