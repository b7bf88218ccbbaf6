/*
 * txn.c - the TXN command (Consul's /v1/txn, Txn.Apply): a list of KV,
 * Node, Service and Check operations applied all-or-nothing inside the one
 * SQLite transaction tb__fsm_apply opens. Every operation sees the writes
 * of the ones before it; the first failing operation refuses the whole
 * command with TB_CONFLICT (409) and {"Results":null,"Errors":[...]}, so
 * the rollback wakes no watcher.
 *
 * Encoding (after the type/version bytes): [ops, now_ms], each op
 *   [kind, verb, key, value(bin)|nil, flags, index, session|nil, body|nil]
 * with kind 0 KV, 1 Node, 2 Service, 3 Check; body is the Node, Service or
 * Check object (JSON as msgpack, PascalCase keys) for the catalog kinds.
 *
 * Flags above INT64_MAX cannot be a jansson integer; results carry them
 * as the string TB__TXN_BIG_MARK + decimal digits (state.h), which the http
 * plugin turns back into a bare JSON number.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "state/state_int.h"

/* ---------------------------------------------------------------- encoding */

static int pk_str(msgpack_packer *pk, const char *s)
{
    if (!s)
        return msgpack_pack_nil(pk);
    size_t n = strlen(s);
    return msgpack_pack_str(pk, n) || msgpack_pack_str_body(pk, s, n);
}

int tb__cmd_encode_txn(const tb__txn_op_t *ops, size_t n, int64_t now_ms, tb__buf_t *out)
{
    if (!out)
        return -1;
    out->data = NULL;
    out->len = out->cap = 0;
    if (!ops && n)
        return -1;
    if (tb__cmd_start(out, TB__CMD_TXN))
        return -1;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, tb__cmd_buf_write);
    int rc = msgpack_pack_array(&pk, 2) || msgpack_pack_array(&pk, (uint32_t)n);
    for (size_t i = 0; !rc && i < n; i++) {
        const tb__txn_op_t *o = &ops[i];
        if ((unsigned)o->kind > TB__TXN_CHECK || !o->verb || (o->value_len && !o->value)) {
            rc = -1;
            break;
        }
        rc = msgpack_pack_array(&pk, 8) || msgpack_pack_uint8(&pk, (uint8_t)o->kind) ||
             pk_str(&pk, o->verb) || pk_str(&pk, o->key ? o->key : "");
        if (!rc)
            rc = o->value ? (msgpack_pack_bin(&pk, o->value_len) ||
                             (o->value_len && msgpack_pack_bin_body(&pk, o->value, o->value_len)))
                          : msgpack_pack_nil(&pk);
        if (!rc)
            rc = msgpack_pack_uint64(&pk, o->flags) || msgpack_pack_uint64(&pk, o->index) ||
                 pk_str(&pk, o->session);
        if (!rc)
            rc = o->body ? tb__mp_pack_json(&pk, o->body) : msgpack_pack_nil(&pk);
    }
    if (!rc)
        rc = msgpack_pack_int64(&pk, now_ms);
    if (rc) {
        tb__buf_free(out);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- decoded op */

typedef struct op {
    unsigned kind;
    char verb[24];
    char *key, *session;
    const void *value;
    size_t value_len;
    int has_value;
    uint64_t flags, index;
    json_t *body;
} op_t;

static void op_clear(op_t *o)
{
    free(o->key);
    free(o->session);
    json_decref(o->body);
    memset(o, 0, sizeof(*o));
}

static char *mp_strdup(const msgpack_object *o)
{
    if (o->type != MSGPACK_OBJECT_STR || memchr(o->via.str.ptr, 0, o->via.str.size))
        return NULL;
    char *s = malloc(o->via.str.size + 1);
    if (!s)
        return NULL;
    if (o->via.str.size)
        memcpy(s, o->via.str.ptr, o->via.str.size);
    s[o->via.str.size] = 0;
    return s;
}

/* 0, or -1: malformed (the whole command is refused as TB_INTERNAL). */
static int op_decode(const msgpack_object *m, op_t *o)
{
    memset(o, 0, sizeof(*o));
    if (m->type != MSGPACK_OBJECT_ARRAY || m->via.array.size != 8)
        return -1;
    const msgpack_object *a = m->via.array.ptr;
    if (a[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER || a[0].via.u64 > TB__TXN_CHECK)
        return -1;
    o->kind = (unsigned)a[0].via.u64;
    if (a[1].type != MSGPACK_OBJECT_STR || a[1].via.str.size >= sizeof(o->verb))
        return -1;
    memcpy(o->verb, a[1].via.str.ptr, a[1].via.str.size);
    o->verb[a[1].via.str.size] = 0;
    if (!(o->key = mp_strdup(&a[2])))
        return -1;
    if (a[3].type == MSGPACK_OBJECT_BIN) {
        o->value = a[3].via.bin.size ? a[3].via.bin.ptr : NULL;
        o->value_len = a[3].via.bin.size;
        o->has_value = 1;
    } else if (a[3].type != MSGPACK_OBJECT_NIL) {
        return -1;
    }
    if (a[4].type != MSGPACK_OBJECT_POSITIVE_INTEGER || a[5].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return -1;
    o->flags = a[4].via.u64;
    o->index = a[5].via.u64;
    if (a[6].type != MSGPACK_OBJECT_NIL && !(o->session = mp_strdup(&a[6])))
        return -1;
    if (a[7].type == MSGPACK_OBJECT_MAP) {
        if (!(o->body = tb__mp_to_json(&a[7])))
            return -1;
    } else if (a[7].type != MSGPACK_OBJECT_NIL) {
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- results */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static json_t *b64_json(const void *data, size_t len)
{
    if (!data || !len)
        return json_null();
    const unsigned char *p = data;
    size_t olen = (len + 2) / 3 * 4;
    char *s = malloc(olen + 1);
    if (!s)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        s[j++] = B64[(v >> 18) & 63];
        s[j++] = B64[(v >> 12) & 63];
        s[j++] = i + 1 < len ? B64[(v >> 6) & 63] : '=';
        s[j++] = i + 2 < len ? B64[v & 63] : '=';
    }
    s[j] = 0;
    json_t *r = json_stringn(s, j);
    free(s);
    return r;
}

json_t *tb__txn_u64_json(uint64_t v)
{
    if (v <= (uint64_t)INT64_MAX)
        return json_integer((json_int_t)v);
    char buf[32];
    snprintf(buf, sizeof(buf), "%s%" PRIu64, TB__TXN_BIG_MARK, v);
    return json_string(buf);
}

/* {"KV":KVPair}; Value only for the get verbs (as Consul). */
static json_t *kv_result(const tb_kv_entry_t *e, int with_value)
{
    json_t *kv = json_object();
    if (!kv)
        return NULL;
    json_object_set_new(kv, "LockIndex", json_integer((json_int_t)e->lock_index));
    json_object_set_new(kv, "Key", json_string(e->key));
    json_object_set_new(kv, "Flags", tb__txn_u64_json(e->flags));
    json_object_set_new(kv, "Value", with_value ? b64_json(e->value, e->value_len) : json_null());
    if (e->session)
        json_object_set_new(kv, "Session", json_string(e->session));
    json_object_set_new(kv, "CreateIndex", json_integer((json_int_t)e->create_index));
    json_object_set_new(kv, "ModifyIndex", json_integer((json_int_t)e->modify_index));
    return json_pack("{s:o}", "KV", kv);
}

typedef struct txn {
    tb__state_t *st;
    json_t *results;
    size_t opi;
    char *what; /* first error */
} txn_t;

static int op_error(txn_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int op_error(txn_t *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char buf[512];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    free(t->what);
    t->what = strdup(buf);
    return 1;
}

/* Append the current entry of `key` (if any). */
static int push_kv(txn_t *t, const char *key, int with_value)
{
    tb__kv_rows_t rows;
    if (tb__state_kv_get(t->st, key, &rows, NULL))
        return -1;
    int rc = 0;
    if (rows.n) {
        json_t *r = kv_result(&rows.v[0], with_value);
        rc = (!r || json_array_append_new(t->results, r)) ? -1 : 0;
    }
    tb__kv_rows_free(&rows);
    return rc;
}

/* Run a KV write through the ordinary KVS apply. 0 done, 2 not applied
 * (CAS/lock refused), 1 refused with a message, -1 internal. */
static int kv_write(txn_t *t, const op_t *o, tb_kv_verb_t verb)
{
    tb_kv_write_t w;
    memset(&w, 0, sizeof(w));
    w.size = sizeof(w);
    w.verb = verb;
    w.key = o->key;
    w.value = o->value;
    w.value_len = o->value_len;
    w.flags = o->flags;
    w.index = o->index;
    w.session = o->session;
    tb__apply_result_t r;
    memset(&r, 0, sizeof(r));
    int rc = tb__kv_apply(t->st, &w, &r);
    if (rc == 1)
        op_error(t, "%s", r.error ? r.error : "refused");
    else if (rc == 0 && !r.applied)
        rc = 2;
    tb__apply_result_clear(&r);
    return rc;
}

static int kv_op(txn_t *t, const op_t *o)
{
    const char *k = o->key;
    const char *v = o->verb;
    if (!*k && strcmp(v, "delete-tree") && strcmp(v, "get-tree"))
        return op_error(t, "Missing key name");
    if (!tb__utf8_valid(k, strlen(k)))
        return op_error(t, "Invalid key: not valid UTF-8");
    tb__kv_rows_t rows;
    int rc;
    if (!strcmp(v, "get") || !strcmp(v, "get-or-empty") || !strcmp(v, "check-index") ||
        !strcmp(v, "check-session") || !strcmp(v, "check-not-exists")) {
        if (tb__state_kv_get(t->st, k, &rows, NULL))
            return -1;
        const tb_kv_entry_t *e = rows.n ? &rows.v[0] : NULL;
        rc = 0;
        if (!strcmp(v, "check-not-exists")) {
            if (e)
                rc = op_error(t, "key \"%s\" exists", k);
        } else if (!e && strcmp(v, "get-or-empty")) {
            rc = op_error(t, "key \"%s\" doesn't exist", k);
        } else if (!strcmp(v, "check-index") && e->modify_index != o->index) {
            rc = op_error(t, "current modify index %" PRIu64 " != %" PRIu64, e->modify_index,
                          o->index);
        } else if (!strcmp(v, "check-session") &&
                   strcmp(e->session ? e->session : "", o->session ? o->session : "")) {
            rc = op_error(t, "current session \"%s\" != \"%s\"", e->session ? e->session : "",
                          o->session ? o->session : "");
        }
        if (!rc && e) {
            json_t *r = kv_result(e, !strncmp(v, "get", 3));
            if (!r || json_array_append_new(t->results, r))
                rc = -1;
        }
        tb__kv_rows_free(&rows);
        return rc;
    }
    if (!strcmp(v, "get-tree")) {
        if (tb__state_kv_list(t->st, k, &rows, NULL))
            return -1;
        rc = 0;
        for (size_t i = 0; !rc && i < rows.n; i++) {
            json_t *r = kv_result(&rows.v[i], 1);
            if (!r || json_array_append_new(t->results, r))
                rc = -1;
        }
        tb__kv_rows_free(&rows);
        return rc;
    }
    static const struct {
        const char *name;
        tb_kv_verb_t verb;
        const char *fail;
    } writes[] = {
        {"set", TB_KV_SET, NULL},
        {"cas", TB_KV_CAS, "failed to set key \"%s\", index is stale"},
        {"lock", TB_KV_LOCK, "failed to lock key \"%s\", lock is already held"},
        {"unlock", TB_KV_UNLOCK,
         "failed to unlock key \"%s\", lock isn't held, or is held by another session"},
        {"delete", TB_KV_DELETE, NULL},
        {"delete-tree", TB_KV_DELETE_TREE, NULL},
        {"delete-cas", TB_KV_DELETE_CAS, "failed to delete key \"%s\", index is stale"},
    };
    for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++) {
        if (strcmp(v, writes[i].name))
            continue;
        if ((writes[i].verb == TB_KV_LOCK || writes[i].verb == TB_KV_UNLOCK) &&
            (!o->session || !*o->session))
            return op_error(t, "Missing session");
        rc = kv_write(t, o, writes[i].verb);
        if (rc == 2)
            return op_error(t, writes[i].fail ? writes[i].fail : "failed on key \"%s\"", k);
        if (rc)
            return rc;
        /* deletes yield no result; other writes the entry without Value */
        if (writes[i].verb < TB_KV_DELETE && push_kv(t, k, 0))
            return -1;
        return 0;
    }
    return op_error(t, "unknown KV verb \"%s\"", v);
}

/* ---------------------------------------------------------------- catalog ops */

static json_t *find_node(tb__state_t *st, const char *name)
{
    json_t *all = tb__state_nodes(st, NULL);
    json_t *n, *hit = NULL;
    size_t i;
    json_array_foreach(all, i, n) {
        if (!strcasecmp(json_string_value(json_object_get(n, "Node")), name)) {
            hit = json_incref(n);
            break;
        }
    }
    json_decref(all);
    return hit;
}

static json_t *find_service(tb__state_t *st, const char *node, const char *id)
{
    json_t *ns = tb__state_node_services(st, node, NULL);
    json_t *s = json_incref(json_object_get(json_object_get(ns, "Services"), id));
    json_decref(ns);
    return s;
}

static json_t *find_check(tb__state_t *st, const char *node, const char *id)
{
    json_t *all = tb__state_node_checks(st, node, NULL);
    json_t *c, *hit = NULL;
    size_t i;
    json_array_foreach(all, i, c) {
        if (!strcmp(json_string_value(json_object_get(c, "CheckID")), id)) {
            hit = json_incref(c);
            break;
        }
    }
    json_decref(all);
    return hit;
}

static const char *bstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* Node/Service/Check: set, cas, get, delete, delete-cas (Consul's txn verbs). */
static int catalog_op(txn_t *t, const op_t *o)
{
    static const char *const kinds[] = {"KV", "Node", "Service", "Check"};
    const char *kind = kinds[o->kind];
    const char *v = o->verb;
    if (!o->body)
        return op_error(t, "missing %s definition", kind);
    const char *node = o->kind == TB__TXN_NODE ? bstr(o->body, "Node") : o->key;
    const char *id = o->kind == TB__TXN_SERVICE ? bstr(o->body, "ID")
                   : o->kind == TB__TXN_CHECK ? bstr(o->body, "CheckID") : "";
    if (o->kind == TB__TXN_SERVICE && !*id)
        id = bstr(o->body, "Service");
    if (o->kind == TB__TXN_CHECK && !*id)
        id = bstr(o->body, "Name");
    if (o->kind == TB__TXN_CHECK && !*node)
        node = bstr(o->body, "Node");
    if (!*node)
        return op_error(t, "Must provide node");
    if (o->kind != TB__TXN_NODE && !*id)
        return op_error(t, "Must provide %s ID", kind);

    json_t *cur = o->kind == TB__TXN_NODE      ? find_node(t->st, node)
                : o->kind == TB__TXN_SERVICE ? find_service(t->st, node, id)
                                             : find_check(t->st, node, id);
    int rc = 0;
    uint64_t cur_idx = cur ? (uint64_t)json_integer_value(json_object_get(cur, "ModifyIndex")) : 0;
    int is_set = !strcmp(v, "set") || !strcmp(v, "cas");
    int is_del = !strcmp(v, "delete") || !strcmp(v, "delete-cas");
    if (!is_set && !is_del && strcmp(v, "get")) {
        rc = op_error(t, "unknown %s verb \"%s\"", kind, v);
    } else if (!strcmp(v, "get")) {
        if (!cur)
            rc = op_error(t, "%s \"%s\" doesn't exist", kind, *id ? id : node);
    } else if ((!strcmp(v, "cas") || !strcmp(v, "delete-cas")) &&
               (o->index ? cur_idx != o->index : cur != NULL)) {
        rc = op_error(t, "failed to %s %s \"%s\", index is stale", is_set ? "set" : "delete",
                      kind, *id ? id : node);
    } else if (is_set) {
        json_t *reg;
        if (o->kind == TB__TXN_NODE) {
            reg = json_pack("{s:s,s:s,s:s,s:s,s:O?,s:O?}", "Node", node, "Address",
                            bstr(o->body, "Address"), "ID", bstr(o->body, "ID"), "Datacenter",
                            bstr(o->body, "Datacenter"),
                            "TaggedAddresses", json_object_get(o->body, "TaggedAddresses"),
                            "NodeMeta", json_object_get(o->body, "Meta"));
        } else {
            json_t *n = find_node(t->st, node);
            json_decref(n);
            if (!n) {
                json_decref(cur);
                return op_error(t, "node \"%s\" doesn't exist", node);
            }
            reg = json_pack("{s:s,s:b,s:O}", "Node", node, "SkipNodeUpdate", 1,
                            o->kind == TB__TXN_SERVICE ? "Service" : "Check", o->body);
            if (reg && o->kind == TB__TXN_CHECK)
                json_object_set_new(json_object_get(reg, "Check"), "Node", json_string(node));
        }
        tb__apply_result_t r;
        memset(&r, 0, sizeof(r));
        rc = reg ? tb__catalog_register(t->st, reg, &r) : -1;
        json_decref(reg);
        if (rc == 1)
            op_error(t, "%s", r.error ? r.error : "refused");
        tb__apply_result_clear(&r);
        json_decref(cur);
        cur = NULL;
        if (!rc)
            cur = o->kind == TB__TXN_NODE      ? find_node(t->st, node)
                : o->kind == TB__TXN_SERVICE ? find_service(t->st, node, id)
                                             : find_check(t->st, node, id);
    } else if (cur) { /* delete of an absent object is a no-op, as Consul */
        json_t *dereg = json_pack("{s:s}", "Node", node);
        if (dereg && o->kind == TB__TXN_SERVICE)
            json_object_set_new(dereg, "ServiceID", json_string(id));
        if (dereg && o->kind == TB__TXN_CHECK)
            json_object_set_new(dereg, "CheckID", json_string(id));
        tb__apply_result_t r;
        memset(&r, 0, sizeof(r));
        rc = dereg ? tb__catalog_deregister(t->st, dereg, &r) : -1;
        json_decref(dereg);
        if (rc == 1)
            op_error(t, "%s", r.error ? r.error : "refused");
        tb__apply_result_clear(&r);
        json_decref(cur);
        cur = NULL;
    }
    if (!rc && cur && !is_del) {
        json_t *r = json_object();
        if (!r || json_object_set(r, kind, cur) || json_array_append_new(t->results, r))
            rc = -1;
    }
    json_decref(cur);
    return rc;
}

/* ---------------------------------------------------------------- apply */

int tb__txn_apply(tb__state_t *st, const msgpack_object *ops, tb__apply_result_t *res)
{
    if (ops->type != MSGPACK_OBJECT_ARRAY)
        return tb__refuse(res, TB_INTERNAL, "TXN command: ops is not an array");
    txn_t t = {st, json_array(), 0, NULL};
    if (!t.results)
        return tb__refuse(res, TB_INTERNAL, "out of memory");
    int rc = 0;
    for (uint32_t i = 0; !rc && i < ops->via.array.size; i++) {
        op_t o;
        t.opi = i;
        if (op_decode(&ops->via.array.ptr[i], &o)) {
            op_clear(&o);
            json_decref(t.results);
            return tb__refuse(res, TB_INTERNAL, "TXN command: malformed operation %u", i);
        }
        rc = o.kind == TB__TXN_KV ? kv_op(&t, &o) : catalog_op(&t, &o);
        op_clear(&o);
    }
    if (rc < 0) {
        json_decref(t.results);
        free(t.what);
        return res->status == TB_OK ? tb__st_fail(st, res) : -1;
    }
    json_decref(res->json);
    if (rc) {
        json_decref(t.results);
        res->json = json_pack("{s:n,s:[{s:I,s:s}]}", "Results", "Errors", "OpIndex",
                              (json_int_t)t.opi, "What", t.what ? t.what : "failed");
        tb__refuse(res, TB_CONFLICT, "Transaction rolled back: op %zu: %s", t.opi,
                   t.what ? t.what : "failed");
        free(t.what);
        return 1;
    }
    res->json = json_pack("{s:o,s:n}", "Results", t.results, "Errors");
    return 0;
}
