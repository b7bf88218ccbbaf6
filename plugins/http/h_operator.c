/*
 * h_operator.c - the operator routes that do not fit the generic JSON call
 * (spec/http-api.md §8): DELETE /v1/operator/raft/peer?id=|address=,
 * POST /v1/operator/raft/transfer-leader[?id=], and GET/PUT /v1/snapshot,
 * whose body is the binary archive (gzip'd tar). The core's Snapshot.*
 * methods carry the archive as base64 in JSON; the conversion happens here.
 */
#include "server.h"

#include <stdlib.h>
#include <string.h>

/* A query parameter copied into args; 0, or -1 after answering 400. */
static int query_arg(tbh_conn_t *c, const char *param, const char *key)
{
    const char *v = tbh_query_get(&c->x.query, param);
    if (!v)
        return 0;
    json_t *s = json_string(v);
    if (!s) {
        tbh_send_text(c, 400, "Request decode failed: invalid UTF-8");
        return -1;
    }
    json_object_set_new(c->x.args, key, s);
    return 0;
}

static void on_peer(void *arg, const tb_result_t *r)
{
    tbh_conn_t *c = arg;
    c->x.call = NULL;
    if (r->status != TB_OK) {
        tbh_send_text(c, tbh_status_code(r->status), tbh_status_body(r->status, r->error));
        return;
    }
    if (strcmp(c->x.route->rpc, "Operator.RaftTransferLeader") == 0) {
        tbh_buf_t b = TBH_BUF_INIT;
        tbh_buf_adds(&b, c->x.pretty ? "{\n    \"Success\": true\n}" : "{\"Success\":true}");
        tbh_send(c, 200, "application/json", &b);
        return;
    }
    tbh_send_text(c, 200, "");
}

static void on_snapshot(void *arg, const tb_result_t *r)
{
    tbh_conn_t *c = arg;
    tbh_server_t *s = c->srv;
    c->x.call = NULL;
    if (r->status != TB_OK) {
        tbh_send_text(c, tbh_status_code(r->status), tbh_status_body(r->status, r->error));
        return;
    }
    if (c->rp.req.method == HTTP_PUT) {
        tbh_send_text(c, 200, "");
        return;
    }
    json_t *a = json_object_get(r->json, "Archive");
    void *raw = NULL;
    size_t len = 0;
    if (!json_is_string(a) ||
        s->api->base64_decode(json_string_value(a), json_string_length(a), &raw, &len) != 0) {
        tbh_send_text(c, 500, "snapshot: the core returned no archive");
        return;
    }
    tbh_add_header(c, "X-Consul-Index: %llu", (unsigned long long)(r->index ? r->index : 1));
    tbh_add_header(c, "X-Consul-KnownLeader: %s", r->known_leader ? "true" : "false");
    tbh_add_header(c, "X-Consul-LastContact: %llu", (unsigned long long)r->last_contact_ms);
    tbh_buf_t b = TBH_BUF_INIT;
    tbh_buf_add(&b, raw, len);
    free(raw);
    tbh_send(c, 200, "application/x-gzip", &b);
}

void tbh_operator_handle(tbh_conn_t *c)
{
    tbh_exchange_t *x = &c->x;
    tbh_server_t *s = c->srv;
    const tbh_request_t *rq = &c->rp.req;
    if (tbh_common_opts(c, x->route->flags) != 0)
        return;
    x->args = json_object();
    if (!x->args) {
        tbh_send_text(c, 500, "out of memory");
        return;
    }
    tb_result_cb cb = on_peer;
    if (strncmp(x->route->rpc, "Snapshot.", 9) == 0) {
        cb = on_snapshot;
        if (rq->method == HTTP_PUT) {
            if (!rq->body.len) {
                tbh_send_text(c, 400, "Missing snapshot archive in the request body");
                return;
            }
            char *b64 = s->api->base64_encode(rq->body.data, rq->body.len);
            json_t *v = b64 ? json_string(b64) : NULL;
            free(b64);
            if (!v) {
                tbh_send_text(c, 500, "out of memory");
                return;
            }
            json_object_set_new(x->args, "Archive", v);
        }
    } else if (query_arg(c, "id", "ID") != 0 || query_arg(c, "address", "Address") != 0) {
        return;
    }
    const char *rpc = x->route->rpc;
    if (strcmp(rpc, "Snapshot.Save") == 0 && rq->method == HTTP_PUT)
        rpc = "Snapshot.Restore";
    x->call = s->api->call(s->self, rpc, x->args, &x->opts, cb, c);
    if (!x->call)
        tbh_send_text(c, 500, "out of memory");
}
