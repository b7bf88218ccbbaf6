/*
 * handlers.c - turns one parsed request into Consul's answer: routing
 * results (301/404/405/OPTIONS), the common options, the KV endpoint over
 * the typed api->kv_read / api->kv_write, and every other endpoint as a
 * generic api->call with a JSON args object (spec/http-api.md §1-§8).
 * Completion callbacks build the response; they never run inside the call.
 */
#include "h_gossip.h"
#include "kvjson.h"
#include "server.h"

#include <stdlib.h>
#include <string.h>

#define CT_JSON "application/json"
#define CT_TEXT "text/plain; charset=utf-8"

void tbh_exchange_reset(tbh_conn_t *c)
{
    tbh_exchange_t *x = &c->x;
    if (x->call) {
        c->srv->api->call_cancel(x->call);
        x->call = NULL;
    }
    tbh_monitor_stop(c);
    free(x->path);
    tbh_query_free(&x->query);
    free(x->token);
    if (x->args)
        json_decref(x->args);
    memset(x, 0, sizeof(*x));
}

/* ------------------------------------------------------------ helpers */

static void send_json(tbh_conn_t *c, const json_t *v)
{
    tbh_body_t *b = tbh_render_shared(c->srv, v, c->x.pretty);
    if (!b) {
        tbh_send_text(c, 500, "failed to encode the response");
        return;
    }
    tbh_send_shared(c, 200, CT_JSON, b);
}

static void send_bool(tbh_conn_t *c, int v)
{
    tbh_buf_t b = TBH_BUF_INIT;
    tbh_buf_adds(&b, v ? "true" : "false");
    if (c->x.pretty)
        tbh_buf_addc(&b, '\n');
    tbh_send(c, 200, CT_JSON, &b);
}

/* A failed call (anything but OK / NOT_FOUND). */
static void send_status(tbh_conn_t *c, const tb_result_t *r)
{
    tbh_send_text(c, tbh_status_code(r->status), tbh_status_body(r->status, r->error));
}

/* Blocking-query headers, on 200 and 404 alike (clients read the index
 * of a 404, and an index of 0 sends them into a hot loop). */
static void meta_headers(tbh_conn_t *c, const tb_result_t *r)
{
    static const char *const modes[] = {"leader", "consistent", "stale"};
    unsigned mode = (unsigned)r->effective_consistency;
    /* appended directly: every woken waiter formats these (no printf) */
    tbh_buf_t *h = &c->hdrs;
    tbh_buf_reserve(h, 256);
    tbh_buf_adds(h, "X-Consul-Index: ");
    tbh_buf_addu64(h, r->index ? r->index : 1);
    tbh_buf_adds(h, r->known_leader ? "\r\nX-Consul-KnownLeader: true\r\n"
                                    : "\r\nX-Consul-KnownLeader: false\r\n");
    tbh_buf_adds(h, "X-Consul-LastContact: ");
    tbh_buf_addu64(h, r->last_contact_ms);
    tbh_buf_adds(h, "\r\nX-Consul-Effective-Consistency: ");
    tbh_buf_adds(h, modes[mode < 3 ? mode : 0]);
    tbh_buf_adds(h, "\r\n");
}

static void html_escape(tbh_buf_t *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            tbh_buf_adds(b, "&amp;");
            break;
        case '<':
            tbh_buf_adds(b, "&lt;");
            break;
        case '>':
            tbh_buf_adds(b, "&gt;");
            break;
        case '"':
            tbh_buf_adds(b, "&#34;");
            break;
        case '\'':
            tbh_buf_adds(b, "&#39;");
            break;
        default:
            tbh_buf_addc(b, *s);
        }
    }
}

/* Go's http.Redirect with 301. */
static void send_redirect(tbh_conn_t *c, const char *location)
{
    tbh_add_header(c, "Location: %s", location);
    tbh_buf_t b = TBH_BUF_INIT;
    if (c->rp.req.method == HTTP_GET) {
        tbh_buf_adds(&b, "<a href=\"");
        html_escape(&b, location);
        tbh_buf_adds(&b, "\">Moved Permanently</a>.\n\n");
        tbh_send(c, 301, "text/html; charset=utf-8", &b);
    } else {
        tbh_send(c, 301, NULL, &b);
    }
}

static void send_allow(tbh_conn_t *c, unsigned allow)
{
    tbh_buf_t a = TBH_BUF_INIT;
    tbh_allow_header(allow, &a);
    tbh_add_header(c, "Allow: %s", a.data ? a.data : "OPTIONS");
    tbh_buf_free(&a);
}

/* token, dc and (for query routes) consistency/index/wait. Returns 0, or
 * -1 after answering 400. */
int tbh_common_opts(tbh_conn_t *c, unsigned flags)
{
    tbh_exchange_t *x = &c->x;
    const tbh_request_t *r = &c->rp.req;
    tbh_server_t *s = c->srv;
    x->opts.size = sizeof(x->opts);
    size_t tlen;
    const char *tok =
        tbh_pick_token(tbh_query_get(&x->query, "token"), r->x_consul_token, r->authorization, &tlen);
    if (tok) {
        x->token = strndup(tok, tlen);
        if (!x->token) {
            tbh_send_text(c, 500, "out of memory");
            return -1;
        }
        x->opts.token = x->token;
    }
    const char *dc = tbh_query_get(&x->query, "dc");
    if (dc && *dc)
        x->opts.datacenter = dc;
    if (flags & TBH_R_QUERY) {
        char *err = NULL;
        if (tbh_parse_query_opts(&x->query, s->api->parse_duration, (flags & TBH_R_DISCOVERY) != 0,
                                 s->cfg.discovery_stale_ms, &x->opts, &err) != 0) {
            tbh_send_text(c, 400, err ? err : "Bad request");
            free(err);
            return -1;
        }
    }
    return 0;
}

static void call_failed(tbh_conn_t *c)
{
    /* NULL only when the core is out of memory: no callback will come */
    tbh_send_text(c, 500, "out of memory");
}

/* ------------------------------------------------------------ KV */

static void on_kv_read(void *arg, const tb_result_t *r)
{
    tbh_conn_t *c = arg;
    tbh_exchange_t *x = &c->x;
    x->call = NULL;
    if (r->status != TB_OK && r->status != TB_NOT_FOUND) {
        send_status(c, r);
        return;
    }
    meta_headers(c, r);
    if (r->status == TB_NOT_FOUND) {
        tbh_send_text(c, 404, "");
        return;
    }
    if (x->kv_read_mode == TB_KV_KEYS) {
        size_t n = json_is_array(r->json) ? json_array_size(r->json) : 0;
        if (n == 0 && x->rest[0] != '\0') {
            tbh_send_text(c, 404, "");
            return;
        }
        if (n == 0) { /* never null: clients iterate the list */
            json_t *empty = json_array();
            send_json(c, empty);
            json_decref(empty);
            return;
        }
        send_json(c, r->json);
        return;
    }
    if (r->kv_count == 0 || !r->kv) {
        tbh_send_text(c, 404, "");
        return;
    }
    tbh_buf_t b = TBH_BUF_INIT;
    if (x->raw && x->kv_read_mode == TB_KV_GET) {
        tbh_buf_add(&b, r->kv[0].value ? r->kv[0].value : "", r->kv[0].value_len);
        tbh_add_header(c, "X-Content-Type-Options: nosniff");
        tbh_add_header(c, "Content-Security-Policy: sandbox");
        tbh_send(c, 200, "text/plain", &b);
        return;
    }
    if (tbh_kv_render(&b, r->kv, r->kv_count, x->pretty) != 0) {
        tbh_buf_free(&b);
        tbh_send_text(c, 500, "failed to encode the response");
        return;
    }
    tbh_send(c, 200, CT_JSON, &b);
}

static void on_kv_write(void *arg, const tb_result_t *r)
{
    tbh_conn_t *c = arg;
    tbh_exchange_t *x = &c->x;
    x->call = NULL;
    if (r->status != TB_OK) {
        if (r->status == TB_NOT_FOUND)
            tbh_send_text(c, 404, r->error ? r->error : "");
        else
            send_status(c, r);
        return;
    }
    /* Consul reports the outcome only for the conditional verbs */
    int v = x->kv_verb == TB_KV_SET || x->kv_verb == TB_KV_DELETE ||
            x->kv_verb == TB_KV_DELETE_TREE || r->applied;
    send_bool(c, v);
}

/* Consul's conflictingFlags: 400 "Conflicting flags: <all params>". */
static int conflicting(tbh_conn_t *c, const char *a, const char *b, const char *d)
{
    const char *names[] = {a, b, d};
    int found = 0;
    for (size_t i = 0; i < 3; i++) {
        if (!names[i] || !tbh_query_has(&c->x.query, names[i]))
            continue;
        if (found) {
            tbh_buf_t m = TBH_BUF_INIT;
            tbh_buf_adds(&m, "Conflicting flags: ");
            tbh_query_encode(&c->x.query, &m);
            tbh_send_text(c, 400, m.data ? m.data : "Conflicting flags");
            tbh_buf_free(&m);
            return 1;
        }
        found = 1;
    }
    return 0;
}

/* Go's strconv error text, as Consul returns it for ?flags= / ?cas=. */
static int parse_u64_param(tbh_conn_t *c, const char *name, uint64_t *out)
{
    const char *v = tbh_query_get(&c->x.query, name);
    int rc = tbh_parse_u64(v, out);
    if (rc == 0)
        return 0;
    tbh_buf_t m = TBH_BUF_INIT;
    tbh_buf_printf(&m, "strconv.ParseUint: parsing \"%s\": %s", v,
                   rc == -2 ? "value out of range" : "invalid syntax");
    tbh_send_text(c, 400, m.data ? m.data : "Invalid number");
    tbh_buf_free(&m);
    return -1;
}

static void kv_handle(tbh_conn_t *c)
{
    tbh_exchange_t *x = &c->x;
    tbh_server_t *s = c->srv;
    const tbh_request_t *r = &c->rp.req;
    const char *key = x->rest;
    if (tbh_common_opts(c, x->route->flags) != 0)
        return;

    if (r->method == HTTP_GET) {
        tb_kv_read_t rd = {sizeof(rd), TB_KV_GET, key, NULL};
        if (tbh_query_has(&x->query, "keys")) {
            rd.mode = TB_KV_KEYS;
            /* the historic misspelling is still read; the right one wins */
            const char *sep = tbh_query_get(&x->query, "seperator");
            if (tbh_query_has(&x->query, "separator"))
                sep = tbh_query_get(&x->query, "separator");
            rd.separator = sep;
        } else if (tbh_query_has(&x->query, "recurse")) {
            rd.mode = TB_KV_RECURSE;
        } else if (!*key) {
            tbh_send_text(c, 400, "Missing key name");
            return;
        }
        x->kv_read_mode = (int)rd.mode;
        x->raw = tbh_query_has(&x->query, "raw");
        x->call = s->api->kv_read(s->self, &rd, &x->opts, on_kv_read, c);
        if (!x->call)
            call_failed(c);
        return;
    }

    tb_kv_write_t wr = {sizeof(wr), TB_KV_SET, key, NULL, 0, 0, 0, NULL};
    x->kv_read_mode = -1;
    if (r->method == HTTP_PUT) {
        if (!*key) {
            tbh_send_text(c, 400, "Missing key name");
            return;
        }
        if (conflicting(c, "cas", "acquire", "release"))
            return;
        if (tbh_query_has(&x->query, "flags") && parse_u64_param(c, "flags", &wr.flags) != 0)
            return;
        if (tbh_query_has(&x->query, "cas")) {
            if (parse_u64_param(c, "cas", &wr.index) != 0)
                return;
            wr.verb = TB_KV_CAS;
        }
        if (tbh_query_has(&x->query, "acquire")) {
            wr.verb = TB_KV_LOCK;
            wr.session = tbh_query_get(&x->query, "acquire");
        }
        if (tbh_query_has(&x->query, "release")) {
            wr.verb = TB_KV_UNLOCK;
            wr.session = tbh_query_get(&x->query, "release");
        }
        if (r->body.len > s->kv_max) { /* chunked bodies are only known now */
            tbh_buf_t m = TBH_BUF_INIT;
            tbh_buf_printf(&m, "Value exceeds %llu byte limit", (unsigned long long)s->kv_max);
            tbh_send_text(c, 413, m.data ? m.data : "Value too large");
            tbh_buf_free(&m);
            return;
        }
        wr.value = r->body.len ? r->body.data : NULL;
        wr.value_len = r->body.len;
    } else { /* DELETE */
        if (conflicting(c, "recurse", "cas", NULL))
            return;
        wr.verb = TB_KV_DELETE;
        if (tbh_query_has(&x->query, "recurse"))
            wr.verb = TB_KV_DELETE_TREE;
        else if (!*key) {
            tbh_send_text(c, 400, "Missing key name");
            return;
        }
        if (tbh_query_has(&x->query, "cas")) {
            if (parse_u64_param(c, "cas", &wr.index) != 0)
                return;
            wr.verb = TB_KV_DELETE_CAS;
        }
    }
    x->kv_verb = (int)wr.verb;
    x->call = s->api->kv_write(s->self, &wr, &x->opts, on_kv_write, c);
    if (!x->call)
        call_failed(c);
}

/* ------------------------------------------------------------ generic calls */

static void on_call(void *arg, const tb_result_t *r)
{
    tbh_conn_t *c = arg;
    tbh_exchange_t *x = &c->x;
    unsigned flags = x->route->flags;
    x->call = NULL;
    if ((flags & TBH_R_AGENT) && tbh_agent_result(c, r))
        return;
    if (r->status == TB_OK || r->status == TB_NOT_FOUND) {
        if (flags & TBH_R_BLOCKING)
            meta_headers(c, r);
        if (r->status == TB_NOT_FOUND)
            tbh_send_text(c, 404, r->error ? r->error : "");
        else if (flags & TBH_R_NO_RESULT)
            tbh_send_text(c, 200, "");
        else if ((flags & TBH_R_TEXT) && json_is_string(r->json)) {
            tbh_buf_t b = TBH_BUF_INIT;
            tbh_buf_add(&b, json_string_value(r->json), json_string_length(r->json));
            tbh_send(c, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
        }
        else
            send_json(c, r->json);
        return;
    }
    send_status(c, r);
}

/* A JSON string from request text (args must be valid UTF-8). */
static int set_string(tbh_conn_t *c, json_t *obj, const char *key, const char *v)
{
    json_t *s = json_string(v);
    if (!s) {
        tbh_send_text(c, 400, "Request decode failed: invalid UTF-8");
        return -1;
    }
    json_object_set_new(obj, key, s);
    return 0;
}

static int body_args(tbh_conn_t *c, unsigned flags)
{
    tbh_exchange_t *x = &c->x;
    const tbh_buf_t *body = &c->rp.req.body;
    size_t i = 0;
    while (i < body->len && strchr(" \t\r\n", body->data[i]))
        i++;
    if (i == body->len) {
        if (flags & TBH_R_BODY_OPT) {
            x->args = json_object();
            return 0;
        }
        tbh_send_text(c, 400, "Request decode failed: EOF");
        return -1;
    }
    json_error_t err;
    /* like Go's json.Decoder: one value, whatever follows it */
    x->args = json_loadb(body->data, body->len, JSON_DISABLE_EOF_CHECK, &err);
    if (!x->args) {
        tbh_buf_t m = TBH_BUF_INIT;
        tbh_buf_printf(&m, "Request decode failed: %s", err.text);
        tbh_send_text(c, 400, m.data ? m.data : "Request decode failed");
        tbh_buf_free(&m);
        return -1;
    }
    if (!json_is_object(x->args)) {
        tbh_send_text(c, 400, "Request decode failed: expected a JSON object");
        return -1;
    }
    return 0;
}

/* ?filter -> "Filter", every ?node-meta=k:v -> "NodeMetaFilters" {k:v}
 * (the endpoint layer applies both to list results). */
static int filter_args(tbh_conn_t *c)
{
    tbh_exchange_t *x = &c->x;
    json_t *meta = NULL;
    for (size_t i = 0; i < x->query.n; i++) {
        const char *k = x->query.v[i].key, *v = x->query.v[i].value;
        if (strcmp(k, "filter") == 0) {
            if (set_string(c, x->args, "Filter", v) != 0)
                goto fail;
        } else if (strcmp(k, "node-meta") == 0) {
            const char *colon = strchr(v, ':');
            char *mk = strndup(v, colon ? (size_t)(colon - v) : strlen(v));
            json_t *mv = json_string(colon ? colon + 1 : "");
            if (!meta)
                meta = json_object();
            if (!mk || !mv || !meta || json_object_set_new(meta, mk, mv) != 0) {
                free(mk);
                tbh_send_text(c, 400, "Request decode failed: invalid UTF-8");
                goto fail;
            }
            free(mk);
        }
    }
    if (meta)
        json_object_set_new(x->args, "NodeMetaFilters", meta);
    return 0;
fail:
    json_decref(meta);
    return -1;
}

static void call_handle(tbh_conn_t *c)
{
    tbh_exchange_t *x = &c->x;
    tbh_server_t *s = c->srv;
    const tbh_route_t *rt = x->route;
    if (tbh_common_opts(c, rt->flags) != 0)
        return;
    if (rt->flags & TBH_R_BODY) {
        if (body_args(c, rt->flags) != 0)
            return;
    } else {
        x->args = json_object();
    }
    if (!x->args) {
        tbh_send_text(c, 500, "out of memory");
        return;
    }
    if (rt->arg) {
        if (!*x->rest) {
            tbh_send_text(c, 400, rt->missing ? rt->missing : "Missing name");
            return;
        }
        if (set_string(c, x->args, rt->arg, x->rest) != 0)
            return;
    }
    if (rt->flags & TBH_R_TAGS) {
        json_t *tags = json_array();
        json_object_set_new(x->args, "ServiceTags", tags);
        for (size_t i = 0; i < x->query.n; i++) {
            if (strcmp(x->query.v[i].key, "tag") != 0)
                continue;
            json_t *t = json_string(x->query.v[i].value);
            if (!t) {
                tbh_send_text(c, 400, "Request decode failed: invalid UTF-8");
                return;
            }
            json_array_append_new(tags, t);
        }
    }
    if (rt->flags & TBH_R_PASSING) {
        int passing;
        if (tbh_query_bool(&x->query, "passing", &passing) != 0) {
            tbh_send_text(c, 400, "Invalid value for ?passing");
            return;
        }
        json_object_set_new(x->args, "PassingOnly", json_boolean(passing));
    }
    if (rt->flags & TBH_R_WAN)
        json_object_set_new(x->args, "WAN", json_boolean(tbh_query_has(&x->query, "wan")));
    if (filter_args(c) != 0)
        return;
    if ((rt->flags & TBH_R_TEXT) && tbh_query_get(&x->query, "format") &&
        set_string(c, x->args, "Format", tbh_query_get(&x->query, "format")) != 0)
        return;
    if ((rt->flags & TBH_R_AGENT) && tbh_agent_args(c) != 0)
        return;
    if ((rt->flags & TBH_R_GOSSIP) && tbh_gossip_args(c) != 0)
        return;
    x->call = s->api->call(s->self, rt->rpc, x->args, &x->opts, on_call, c);
    if (!x->call) {
        call_failed(c);
        return;
    }
    /* the call holds its own reference, which the endpoint layer may swap
     * for an equal tree shared by every waiter of the same query */
    json_decref(x->args);
    x->args = NULL;
}

/* ------------------------------------------------------------ dispatch */

void tbh_dispatch(tbh_conn_t *c)
{
    tbh_server_t *s = c->srv;
    tbh_exchange_t *x = &c->x;
    const tbh_request_t *r = &c->rp.req;
    const char *url = r->url.data ? r->url.data : "";
    size_t po, pl, qo, ql;
    x->start_ms = uv_now(s->loop);

    if (r->method == HTTP_OPTIONS && strcmp(url, "*") == 0) {
        tbh_send_text(c, 200, ""); /* Go's globalOptionsHandler */
        return;
    }
    if (tbh_url_split(url, r->url.len, r->method == HTTP_CONNECT, &po, &pl, &qo, &ql) != 0) {
        c->close_after = 1;
        tbh_send_text(c, 400, "Bad Request: malformed request URI");
        return;
    }
    size_t plen = 0;
    int rc = pl ? tbh_unescape(url + po, pl, 0, &x->path, &plen) : (x->path = strdup("/")) ? 0 : -2;
    if (rc == -2) {
        tbh_send_text(c, 500, "out of memory");
        return;
    }
    if (rc != 0 || strlen(x->path) != plen) {
        c->close_after = 1;
        tbh_send_text(c, 400, rc != 0 ? "Bad Request: invalid URL escape"
                                      : "Bad Request: NUL in request path");
        return;
    }
    if (tbh_query_parse(&x->query, url + qo, ql) != 0) {
        tbh_send_text(c, 500, "out of memory");
        return;
    }
    x->pretty = s->cfg.pretty || tbh_query_has(&x->query, "pretty");

    char *rawq = ql ? strndup(url + qo, ql) : NULL;
    tbh_match_t m;
    tbh_route_result_t res = tbh_route(http_method_str(r->method), x->path, rawq, &m);
    free(rawq);
    switch (res) {
    case TBH_ROUTE_REDIRECT:
        send_redirect(c, m.location);
        free(m.location);
        return;
    case TBH_ROUTE_NOT_FOUND:
        tbh_send_text(c, 404, "");
        return;
    case TBH_ROUTE_BAD_METHOD: {
        send_allow(c, m.allow);
        tbh_buf_t b = TBH_BUF_INIT;
        tbh_buf_printf(&b, "method %s not allowed", http_method_str(r->method));
        tbh_send(c, 405, CT_TEXT, &b);
        return;
    }
    case TBH_ROUTE_OPTIONS:
        send_allow(c, m.allow);
        tbh_send_text(c, 200, "");
        return;
    case TBH_ROUTE_NOMEM:
        tbh_send_text(c, 500, "out of memory");
        return;
    case TBH_ROUTE_FOUND:
        break;
    }
    x->route = m.route;
    x->rest = m.rest;
    switch (m.route->ep) {
    case TBH_EP_INDEX:
        tbh_send_text(c, 200, "Consul Agent");
        return;
    case TBH_EP_KV:
        kv_handle(c);
        return;
    case TBH_EP_CALL:
        call_handle(c);
        return;
    case TBH_EP_TXN:
        tbh_txn_handle(c);
        return;
    case TBH_EP_MONITOR:
        tbh_monitor_handle(c);
        return;
    case TBH_EP_OPERATOR:
        tbh_operator_handle(c);
        return;
    }
}
