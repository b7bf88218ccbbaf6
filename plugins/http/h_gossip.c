/*
 * h_gossip.c - the gossip routes' arguments (spec/http-api.md §4, §7):
 * /v1/event/fire/<name> takes its payload as the raw body (base64 in the
 * args, null when empty) and ?node ?service ?tag regex filters;
 * /v1/event/list ?name and the ?index it must differ from (the event
 * index is a hash, so the endpoint blocks only while they are equal);
 * force-leave ?prune; /v1/operator/keyring: the verb picks the operation
 * (GET list, POST install, PUT use, DELETE remove), the body {"Key"}.
 */
#include "h_gossip.h"
#include "kvjson.h"

#include <stdlib.h>
#include <string.h>

static int put(tbh_conn_t *c, const char *key, const char *v)
{
    json_t *s = json_string(v ? v : "");
    if (!s) {
        tbh_send_text(c, 400, "Request decode failed: invalid UTF-8");
        return -1;
    }
    json_object_set_new(c->x.args, key, s);
    return 0;
}

int tbh_gossip_args(tbh_conn_t *c)
{
    tbh_exchange_t *x = &c->x;
    const char *rpc = x->route->rpc;
    if (!strcmp(rpc, "Event.Fire")) {
        static const char *const q[][2] = {
            {"node", "NodeFilter"}, {"service", "ServiceFilter"}, {"tag", "TagFilter"}};
        for (size_t i = 0; i < 3; i++) {
            const char *v = tbh_query_get(&x->query, q[i][0]);
            if (v && put(c, q[i][1], v) != 0) return -1;
        }
        const tbh_buf_t *body = &c->rp.req.body;
        if (body->len) {
            tbh_buf_t b = TBH_BUF_INIT;
            if (tbh_base64(&b, body->data, body->len) != 0 || b.failed) {
                tbh_buf_free(&b);
                tbh_send_text(c, 500, "out of memory");
                return -1;
            }
            json_object_set_new(x->args, "Payload", json_string(b.data));
            tbh_buf_free(&b);
        }
        return 0;
    }
    if (!strcmp(rpc, "Event.List")) {
        const char *v = tbh_query_get(&x->query, "name");
        if (v && put(c, "Name", v) != 0) return -1;
        json_object_set_new(x->args, "MinIndex", json_integer((json_int_t)x->opts.min_index));
        return 0;
    }
    if (!strcmp(rpc, "Operator.Keyring")) {
        int m = c->rp.req.method;
        const char *op = m == HTTP_POST ? "install" : m == HTTP_PUT ? "use"
                         : m == HTTP_DELETE ? "remove" : "list";
        json_t *k = json_object_get(x->args, "Key");
        if (strcmp(op, "list") && !json_is_string(k)) {
            tbh_send_text(c, 400, "Request decode failed: missing \"Key\"");
            return -1;
        }
        json_object_set_new(x->args, "Operation", json_string(op));
        return 0;
    }
    if (!strcmp(rpc, "Agent.ForceLeave")) {
        int prune = 0;
        if (tbh_query_bool(&x->query, "prune", &prune) != 0) {
            tbh_send_text(c, 400, "Invalid value for ?prune");
            return -1;
        }
        json_object_set_new(x->args, "Prune", json_boolean(prune));
    }
    if (!strcmp(rpc, "Agent.Members")) {
        const char *v = tbh_query_get(&x->query, "segment");
        if (v && put(c, "Segment", v) != 0) return -1;
    }
    return 0;
}
