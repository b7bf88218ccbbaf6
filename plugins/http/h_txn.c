/*
 * h_txn.c - PUT /v1/txn (spec/http-api.md §9): the body is a JSON array of
 * operations handed to the core's Txn.Apply. Big uint64 Flags survive the
 * trip through jansson via txnjson.c. 200 with {"Results","Errors":null},
 * 409 with {"Results":null,"Errors":[...]} on rollback, 400/413 as text.
 */
#include "kvjson.h"
#include "server.h"
#include "txnjson.h"

#include <stdlib.h>
#include <string.h>

static void on_txn(void *arg, const tb_result_t *r)
{
    tbh_conn_t *c = arg;
    c->x.call = NULL;
    if ((r->status == TB_OK || r->status == TB_CONFLICT) && r->json) {
        tbh_buf_t b = TBH_BUF_INIT;
        if (tbh_json_render(&b, r->json, c->x.pretty) != 0) {
            tbh_buf_free(&b);
            tbh_send_text(c, 500, "failed to encode the response");
            return;
        }
        tbh_txn_unmark(&b);
        tbh_add_header(c, "X-Consul-KnownLeader: %s", r->known_leader ? "true" : "false");
        tbh_add_header(c, "X-Consul-LastContact: %llu", (unsigned long long)r->last_contact_ms);
        tbh_send(c, r->status == TB_OK ? 200 : 409, "application/json", &b);
        return;
    }
    tbh_send_text(c, tbh_status_code(r->status), tbh_status_body(r->status, r->error));
}

void tbh_txn_handle(tbh_conn_t *c)
{
    tbh_exchange_t *x = &c->x;
    tbh_server_t *s = c->srv;
    const tbh_request_t *rq = &c->rp.req;
    x->opts.size = sizeof(x->opts);
    size_t tlen;
    const char *tok = tbh_pick_token(tbh_query_get(&x->query, "token"), rq->x_consul_token,
                                     rq->authorization, &tlen);
    if (tok) {
        if (!(x->token = strndup(tok, tlen))) {
            tbh_send_text(c, 500, "out of memory");
            return;
        }
        x->opts.token = x->token;
    }
    const char *dc = tbh_query_get(&x->query, "dc");
    if (dc && *dc)
        x->opts.datacenter = dc;

    tbh_buf_t text = TBH_BUF_INIT;
    if (tbh_txn_mark_bigints(rq->body.data ? rq->body.data : "", rq->body.len, &text) != 0) {
        tbh_buf_free(&text);
        tbh_send_text(c, 500, "out of memory");
        return;
    }
    json_error_t err;
    json_t *ops = text.len ? json_loadb(text.data, text.len, JSON_DISABLE_EOF_CHECK, &err) : NULL;
    tbh_buf_free(&text);
    if (!ops || !json_is_array(ops)) {
        tbh_buf_t m = TBH_BUF_INIT;
        tbh_buf_printf(&m, "Failed to parse body: %s",
                       !rq->body.len ? "EOF" : ops ? "expected a JSON array of operations" : err.text);
        json_decref(ops);
        tbh_send_text(c, 400, m.data ? m.data : "Failed to parse body");
        tbh_buf_free(&m);
        return;
    }
    x->args = json_pack("{s:o}", "Ops", ops);
    if (!x->args) {
        tbh_send_text(c, 500, "out of memory");
        return;
    }
    x->call = s->api->call(s->self, "Txn.Apply", x->args, &x->opts, on_txn, c);
    if (!x->call)
        tbh_send_text(c, 500, "out of memory");
}
