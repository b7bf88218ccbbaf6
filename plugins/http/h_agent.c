/*
 * h_agent.c - the agent's local-state endpoints (spec/http-api.md §4):
 * service and check registration, TTL pass/warn/fail/update, maintenance,
 * local service health. Routes carry TBH_R_AGENT; handlers.c calls
 * tbh_agent_args() before the endpoint call (query parameters and bodies
 * into the Agent.* args) and tbh_agent_result() on completion (health
 * answers are 200/429/503 by aggregated status, optionally as text).
 * python-consul 0.7.1 sends GET for deregister and pass/warn/fail: those
 * routes accept it.
 */
#include "kvjson.h"
#include "server.h"

#include <stdlib.h>
#include <string.h>

#define CT_JSON "application/json"
#define CT_TEXT "text/plain"

static int is_rpc(const tbh_conn_t *c, const char *name)
{
    return strcmp(c->x.route->rpc, name) == 0;
}

/* Go's strconv.ParseBool. */
static int parse_bool(const char *s, int *out)
{
    static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < 6; i++) {
        if (!strcmp(s, t[i])) {
            *out = 1;
            return 0;
        }
        if (!strcmp(s, f[i])) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

static int put_str(tbh_conn_t *c, const char *key, const char *v)
{
    json_t *s = json_string(v ? v : "");
    if (!s) {
        tbh_send_text(c, 400, "Request decode failed: invalid UTF-8");
        return -1;
    }
    json_object_set_new(c->x.args, key, s);
    return 0;
}

/* Wrap the body as args[key]. */
static int wrap(tbh_conn_t *c, const char *key)
{
    json_t *a = json_object();
    if (!a) {
        tbh_send_text(c, 500, "out of memory");
        return -1;
    }
    json_object_set_new(a, key, c->x.args);
    c->x.args = a;
    return 0;
}

int tbh_agent_args(tbh_conn_t *c)
{
    tbh_exchange_t *x = &c->x;
    if (is_rpc(c, "Agent.ServiceRegister")) {
        if (wrap(c, "Service") != 0) return -1;
        int rep = 0;
        if (tbh_query_bool(&x->query, "replace-existing-checks", &rep) != 0) {
            tbh_send_text(c, 400, "Invalid value for replace-existing-checks");
            return -1;
        }
        json_object_set_new(x->args, "ReplaceExistingChecks", json_boolean(rep));
        return 0;
    }
    if (is_rpc(c, "Agent.CheckRegister")) return wrap(c, "Check");
    if (is_rpc(c, "Agent.CheckUpdate") && !(x->route->flags & TBH_R_BODY)) {
        /* /check/pass|warn|fail/<id>?note= */
        const char *p = x->route->pattern;
        const char *st = strstr(p, "/pass/") ? "passing" : strstr(p, "/warn/") ? "warning"
                                                                                 : "critical";
        if (put_str(c, "Status", st) != 0) return -1;
        return put_str(c, "Output", tbh_query_get(&x->query, "note"));
    }
    if (is_rpc(c, "Agent.Maintenance") || is_rpc(c, "Agent.ServiceMaintenance")) {
        const char *e = tbh_query_get(&x->query, "enable");
        int en;
        if (!e || !*e) {
            tbh_send_text(c, 400, "Missing value for enable");
            return -1;
        }
        if (parse_bool(e, &en) != 0) {
            tbh_send_text(c, 400, "Invalid value for enable");
            return -1;
        }
        json_object_set_new(x->args, "Enable", json_boolean(en));
        const char *reason = tbh_query_get(&x->query, "reason");
        return reason ? put_str(c, "Reason", reason) : 0;
    }
    return 0;
}

static int status_code(const char *agg)
{
    if (!agg || !strcmp(agg, "passing")) return 200;
    if (!strcmp(agg, "warning")) return 429;
    return 503; /* critical, maintenance */
}

static void send_code_json(tbh_conn_t *c, int code, const json_t *v)
{
    tbh_buf_t b = TBH_BUF_INIT;
    if (tbh_json_render(&b, v, c->x.pretty) != 0) {
        tbh_buf_free(&b);
        tbh_send_text(c, 500, "failed to encode the response");
        return;
    }
    tbh_send(c, code, CT_JSON, &b);
}

static void send_code_text(tbh_conn_t *c, int code, const char *text)
{
    tbh_buf_t b = TBH_BUF_INIT;
    tbh_buf_adds(&b, text);
    tbh_send(c, code, CT_TEXT, &b);
}

int tbh_agent_result(tbh_conn_t *c, const tb_result_t *r)
{
    tbh_exchange_t *x = &c->x;
    const char *fmt = tbh_query_get(&x->query, "format");
    int text = fmt && !strcmp(fmt, "text");
    if (is_rpc(c, "Agent.HealthServiceByID")) {
        if (r->status == TB_NOT_FOUND) {
            if (text) {
                send_code_text(c, 404, r->error ? r->error : "");
            } else {
                json_t *j = json_pack("{s:s,s:n,s:n}", "AggregatedStatus", "critical", "Service",
                                      "Checks");
                send_code_json(c, 404, j);
                json_decref(j);
            }
            return 1;
        }
        if (r->status != TB_OK) return 0;
        const char *agg = json_string_value(json_object_get(r->json, "AggregatedStatus"));
        if (text) send_code_text(c, status_code(agg), agg ? agg : "");
        else send_code_json(c, status_code(agg), r->json);
        return 1;
    }
    if (is_rpc(c, "Agent.HealthServiceByName")) {
        if (r->status != TB_OK) return 0;
        /* The worst status of all instances decides; none is a 404. */
        int code = 404;
        const char *agg = NULL;
        size_t i;
        json_t *e;
        json_array_foreach(r->json, i, e) {
            const char *s = json_string_value(json_object_get(e, "AggregatedStatus"));
            int sc = status_code(s);
            if (code == 404 || code < sc) {
                code = sc;
                agg = s;
            }
        }
        if (text) {
            if (code == 404) {
                tbh_buf_t b = TBH_BUF_INIT;
                tbh_buf_printf(&b, "ServiceName %s Not Found", x->rest);
                tbh_send(c, 404, CT_TEXT, &b);
            } else {
                send_code_text(c, code, agg ? agg : "");
            }
        } else {
            send_code_json(c, code, r->json);
        }
        return 1;
    }
    return 0;
}
