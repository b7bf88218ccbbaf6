/*
 * txn.c - the endpoint method Txn.Apply (Consul's PUT /v1/txn): validates
 * the operation list (limit, verbs' required fields, base64 values, value
 * size, uint64 Flags) and encodes one TXN command, which the state store
 * applies all-or-nothing (server/state/txn.c). Request errors are 400/413
 * before anything is proposed; operation failures come back from the
 * apply as TB_CONFLICT (409) with Consul's {"Results","Errors"} body.
 *
 * Args: {"Ops":[{"KV":{"Verb","Key","Value"(base64),"Flags","Index",
 * "Session"}} | {"Node":{"Verb","Node":{...}}} | {"Service":{"Verb","Node",
 * "Service":{...}}} | {"Check":{"Verb","Check":{...}}}]}. Member names
 * match case-insensitively. Flags above INT64_MAX arrive as the string
 * TB__TXN_BIG_MARK + digits (jansson cannot hold them; doc/sdk.md).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "agent/agent.h"
#include "config/tb_config.h"
#include "endpoint/endpoint_int.h"

#define TXN_MAX_OPS 128

typedef struct scratch {
    tb__txn_op_t *ops;
    void **values;  /* decoded KV values */
    json_t **bodies;
    size_t n;
} scratch_t;

static void scratch_free(scratch_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->values[i]);
        json_decref(s->bodies[i]);
    }
    free(s->ops);
    free(s->values);
    free(s->bodies);
}

/* A non-negative integer field: JSON integer, or (big) marker string. */
static int get_u64(const json_t *o, const char *name, uint64_t *out)
{
    const json_t *v = tb__jget(o, name);
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0)
            return -1;
        *out = (uint64_t)json_integer_value(v);
        return 0;
    }
    const char *s = json_string_value(v);
    size_t ml = strlen(TB__TXN_BIG_MARK);
    if (!s || strncmp(s, TB__TXN_BIG_MARK, ml) || !s[ml])
        return -1;
    for (const char *p = s + ml; *p; p++)
        if (*p < '0' || *p > '9')
            return -1;
    errno = 0;
    unsigned long long x = strtoull(s + ml, NULL, 10);
    if (errno)
        return -1;
    *out = (uint64_t)x;
    return 0;
}

/* Copy the known members of a catalog object under their canonical names. */
static json_t *canon(const json_t *in, const char *const *names)
{
    json_t *o = json_object();
    for (; o && *names; names++) {
        json_t *v = tb__jget(in, *names);
        if (v && !json_is_null(v))
            json_object_set(o, *names, v);
    }
    return o;
}

static const char *const NODE_F[] = {"ID", "Node", "Address", "Datacenter", "TaggedAddresses",
                                     "Meta", NULL};
static const char *const SVC_F[] = {"ID", "Service", "Tags", "Address", "Port", "Meta",
                                    "TaggedAddresses", "Weights", "EnableTagOverride", NULL};
static const char *const CHECK_F[] = {"Node", "CheckID", "Name", "Status", "Notes", "Output",
                                      "ServiceID", "Type", "Interval", "Timeout", "Definition",
                                      NULL};

/* One op. Returns 0, or fills out (400/413) and returns -1. */
static int parse_op(tb__endpoint_t *ep, const json_t *e, size_t i, scratch_t *s,
                    tb__ep_out_t *out)
{
    tb__txn_op_t *op = &s->ops[i];
    static const char *const kinds[] = {"KV", "Node", "Service", "Check"};
    const json_t *body = NULL;
    int nkinds = 0;
    for (int k = 0; k < 4; k++) {
        const json_t *v = tb__jget(e, kinds[k]);
        if (v && !json_is_null(v)) {
            body = v;
            op->kind = (enum tb__txn_kind)k;
            nkinds++;
        }
    }
    if (!json_is_object(e) || nkinds != 1 || !json_is_object(body)) {
        tb__ep_fail(out, TB_BAD_REQUEST,
                    "Failed to parse body: operation %zu must have exactly one of KV, Node, "
                    "Service or Check",
                    i);
        return -1;
    }
    op->verb = tb__jstr(body, "Verb");
    if (!op->verb) {
        tb__ep_fail(out, TB_BAD_REQUEST, "Failed to parse body: operation %zu: missing Verb", i);
        return -1;
    }
    if (op->kind == TB__TXN_KV) {
        op->key = tb__jstr(body, "Key");
        op->session = tb__jstr(body, "Session");
        if (!op->key)
            op->key = "";
        if (get_u64(body, "Flags", &op->flags) || get_u64(body, "Index", &op->index)) {
            tb__ep_fail(out, TB_BAD_REQUEST,
                        "Failed to parse body: operation %zu: Flags and Index must be "
                        "unsigned integers",
                        i);
            return -1;
        }
        const json_t *val = tb__jget(body, "Value");
        if (val && !json_is_null(val)) {
            if (!json_is_string(val)) {
                tb__ep_fail(out, TB_BAD_REQUEST,
                            "Failed to parse body: operation %zu: Value must be base64", i);
                return -1;
            }
            size_t len = 0;
            if (tb__base64_decode(json_string_value(val), json_string_length(val), &s->values[i],
                                  &len)) {
                tb__ep_fail(out, TB_BAD_REQUEST,
                            "Failed to parse body: operation %zu: illegal base64 data in Value",
                            i);
                return -1;
            }
            if (len > ep->agent->config->kv_max_value_size) {
                tb__ep_fail(out, TB_TOO_LARGE,
                            "Value for key \"%s\" is too large (%zu > %" PRIu64 " bytes)",
                            op->key, len, ep->agent->config->kv_max_value_size);
                return -1;
            }
            op->value = s->values[i];
            op->value_len = len;
        }
        return 0;
    }
    const json_t *obj = tb__jget(body, kinds[op->kind]);
    if (!json_is_object(obj)) {
        tb__ep_fail(out, TB_BAD_REQUEST, "Failed to parse body: operation %zu: missing %s", i,
                    kinds[op->kind]);
        return -1;
    }
    s->bodies[i] = canon(obj, op->kind == TB__TXN_NODE      ? NODE_F
                              : op->kind == TB__TXN_SERVICE ? SVC_F
                                                            : CHECK_F);
    if (!s->bodies[i]) {
        tb__ep_fail(out, TB_INTERNAL, "out of memory");
        return -1;
    }
    if (op->kind == TB__TXN_NODE && !json_object_get(s->bodies[i], "Datacenter"))
        json_object_set_new(s->bodies[i], "Datacenter",
                            json_string(ep->agent->config->datacenter));
    op->body = s->bodies[i];
    if (get_u64(obj, "ModifyIndex", &op->index)) {
        tb__ep_fail(out, TB_BAD_REQUEST, "Failed to parse body: operation %zu: bad ModifyIndex",
                    i);
        return -1;
    }
    if (op->kind == TB__TXN_SERVICE)
        op->key = tb__jstr(body, "Node");
    else if (op->kind == TB__TXN_CHECK)
        op->key = tb__jstr(obj, "Node");
    return 0;
}

void tb__m_txn_apply(tb__endpoint_t *ep, const json_t *args, tb__ep_out_t *out, tb__buf_t *cmd)
{
    const json_t *ops = tb__jget(args, "Ops");
    if (!json_is_array(ops)) {
        tb__ep_fail(out, TB_BAD_REQUEST, "Failed to parse body: expected an array of operations");
        return;
    }
    size_t n = json_array_size(ops);
    if (n > TXN_MAX_OPS) {
        tb__ep_fail(out, TB_TOO_LARGE, "Transaction contains too many operations (%zu > %d)", n,
                    TXN_MAX_OPS);
        return;
    }
    scratch_t s = {calloc(n ? n : 1, sizeof(tb__txn_op_t)), calloc(n ? n : 1, sizeof(void *)),
                   calloc(n ? n : 1, sizeof(json_t *)), n};
    if (!s.ops || !s.values || !s.bodies) {
        tb__ep_fail(out, TB_INTERNAL, "out of memory");
        scratch_free(&s);
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (parse_op(ep, json_array_get(ops, i), i, &s, out)) {
            scratch_free(&s);
            return;
        }
    struct timeval tv;
    gettimeofday(&tv, NULL);
    int64_t now = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
    if (tb__cmd_encode_txn(s.ops, n, now, cmd) != 0)
        tb__ep_fail(out, TB_INTERNAL, "cannot encode command");
    scratch_free(&s);
}
