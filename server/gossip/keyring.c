/*
 * keyring.c - serf's keyring queries as the agent answers and aggregates
 * them (see keyring.h). The wire bodies follow spec/gossip-wire.md §9.2:
 * keyRequest (7) inside the query payload, keyResponse (8) inside the
 * response payload, go-msgpack dialect (raw strings, sorted keys).
 */
#include "gossip/keyring.h"

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/tb_config.h"

static const char *const qnames[] = {"_serf_list-keys", "_serf_install-key", "_serf_use-key",
                                     "_serf_remove-key"};

const char *tb__keyring_query_name(int op)
{
    return op >= 0 && op <= TB__KEYOP_REMOVE ? qnames[op] : NULL;
}

int tb__keyring_request(int op, const uint8_t *key, size_t len, tb__gw_buf_t *out)
{
    if (op == TB__KEYOP_LIST) return 0;
    tb__gw_serf_msg_t m;
    memset(&m, 0, sizeof m);
    m.type = TB__SERF_KEY_REQUEST;
    m.key.p = key;
    m.key.n = len;
    return tb__gw_serf_encode(&m, out);
}

static int buf_write(void *data, const char *p, size_t n)
{
    return tb__gw_buf_put(data, p, n) ? -1 : 0;
}

static void pk_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_v4raw(pk, n);
    msgpack_pack_v4raw_body(pk, s, n);
}

int tb__keyring_save(const tb__gw_keyring_t *kr, const char *path)
{
    if (!path) return 0;
    json_t *arr = json_array();
    for (int i = 0; arr && i < kr->n; i++) {
        char *b = tb__base64_encode(kr->key[i], kr->key_len[i]);
        json_array_append_new(arr, b ? json_string(b) : json_null());
        free(b);
    }
    int r = arr ? json_dump_file(arr, path, JSON_COMPACT) : -1;
    json_decref(arr);
    return r;
}

/* 08 | {"Keys": [b64...], "Message", "PrimaryKey", "Result"} */
static int encode_response(const tb__gw_keyring_t *kr, int result, const char *msg,
                           tb__gw_buf_t *out)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, buf_write);
    uint8_t t = TB__SERF_KEY_RESPONSE;
    tb__gw_buf_put(out, &t, 1);
    msgpack_pack_map(&pk, 4);
    pk_str(&pk, "Keys");
    msgpack_pack_array(&pk, (size_t)kr->n);
    for (int i = 0; i < kr->n; i++) {
        char *b = tb__base64_encode(kr->key[i], kr->key_len[i]);
        pk_str(&pk, b ? b : "");
        free(b);
    }
    pk_str(&pk, "Message");
    pk_str(&pk, msg);
    pk_str(&pk, "PrimaryKey");
    char *b = kr->n ? tb__base64_encode(kr->key[0], kr->key_len[0]) : NULL;
    pk_str(&pk, b ? b : "");
    free(b);
    pk_str(&pk, "Result");
    if (result) msgpack_pack_true(&pk);
    else msgpack_pack_false(&pk);
    return out->oom ? -1 : 0;
}

int tb__keyring_answer(tb__gw_keyring_t *kr, int encrypted, const char *path,
                       const char *qname, const uint8_t *payload, size_t len, tb__gw_buf_t *out)
{
    int op = -1;
    for (int i = 0; i <= TB__KEYOP_REMOVE; i++)
        if (!strcmp(qname, qnames[i])) op = i;
    if (op < 0) return -1;
    /* serf's messages (internal_query.go / memberlist keyring.go) */
    if (!encrypted)
        return encode_response(kr, 0, "No keyring to modify (encryption not enabled)", out);
    if (op == TB__KEYOP_LIST) return encode_response(kr, 1, "", out);
    tb__gw_serf_msg_t m;
    if (!payload || tb__gw_serf_decode(payload, len, &m) || m.type != TB__SERF_KEY_REQUEST)
        return encode_response(kr, 0, "Failed to decode key request", out);
    if (m.key.n != 16 && m.key.n != 24 && m.key.n != 32)
        return encode_response(kr, 0, "key size must be 16, 24 or 32 bytes", out);
    const char *msg = "";
    if (op == TB__KEYOP_INSTALL) {
        if (tb__gw_keyring_add(kr, m.key.p, m.key.n)) msg = "keyring is full";
    } else if (op == TB__KEYOP_USE) {
        if (tb__gw_keyring_use(kr, m.key.p, m.key.n)) msg = "Requested key is not in the keyring";
    } else {
        if (kr->n && kr->key_len[0] == m.key.n && !memcmp(kr->key[0], m.key.p, m.key.n))
            msg = "Removing the primary key is not allowed";
        else if (tb__gw_keyring_remove(kr, m.key.p, m.key.n))
            msg = "Requested key is not in the keyring";
    }
    if (!*msg && tb__keyring_save(kr, path) != 0) msg = "Failed to write keyring file";
    return encode_response(kr, !*msg, msg, out);
}

void tb__keyring_tally_init(tb__keyring_tally_t *t, int wan, size_t num_nodes)
{
    memset(t, 0, sizeof *t);
    t->wan = wan;
    t->num_nodes = num_nodes;
    t->keys = json_object();
    t->primary = json_object();
    t->messages = json_object();
}

void tb__keyring_tally_free(tb__keyring_tally_t *t)
{
    json_decref(t->keys);
    json_decref(t->primary);
    json_decref(t->messages);
    memset(t, 0, sizeof *t);
}

static const msgpack_object *mget(const msgpack_object *o, const char *k)
{
    size_t n = strlen(k);
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *key = &o->via.map.ptr[i].key;
        if ((key->type == MSGPACK_OBJECT_STR || key->type == MSGPACK_OBJECT_BIN) &&
            key->via.str.size == n && !memcmp(key->via.str.ptr, k, n))
            return &o->via.map.ptr[i].val;
    }
    return NULL;
}

static int mstr(const msgpack_object *o, char *buf, size_t n)
{
    if (!o || (o->type != MSGPACK_OBJECT_STR && o->type != MSGPACK_OBJECT_BIN) ||
        o->via.str.size >= n)
        return -1;
    memcpy(buf, o->via.str.ptr, o->via.str.size);
    buf[o->via.str.size] = 0;
    return 0;
}

static void count(json_t *obj, const char *key)
{
    json_int_t v = json_integer_value(json_object_get(obj, key));
    json_object_set_new(obj, key, json_integer(v + 1));
}

void tb__keyring_tally_add(tb__keyring_tally_t *t, const char *from, const uint8_t *payload,
                           size_t len)
{
    t->num_resp++;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    const msgpack_object *o = NULL;
    if (len > 1 && payload[0] == TB__SERF_KEY_RESPONSE &&
        msgpack_unpack_next(&u, (const char *)payload + 1, len - 1, NULL) == MSGPACK_UNPACK_SUCCESS &&
        u.data.type == MSGPACK_OBJECT_MAP)
        o = &u.data;
    const msgpack_object *res = o ? mget(o, "Result") : NULL;
    const msgpack_object *keys = o ? mget(o, "Keys") : NULL;
    char buf[512];
    if (!res || res->type != MSGPACK_OBJECT_BOOLEAN) {
        t->num_err++;
        json_object_set_new(t->messages, from, json_string("Failed to decode response"));
    } else {
        if (!res->via.boolean) {
            t->num_err++;
            json_object_set_new(t->messages, from,
                                json_string(mstr(mget(o, "Message"), buf, sizeof buf) ? "?" : buf));
        }
        if (keys && keys->type == MSGPACK_OBJECT_ARRAY)
            for (uint32_t i = 0; i < keys->via.array.size; i++)
                if (!mstr(&keys->via.array.ptr[i], buf, sizeof buf)) count(t->keys, buf);
        if (!mstr(mget(o, "PrimaryKey"), buf, sizeof buf) && *buf) count(t->primary, buf);
    }
    msgpack_unpacked_destroy(&u);
}

json_t *tb__keyring_tally_json(const tb__keyring_tally_t *t, const char *dc)
{
    json_t *r = json_pack("{s:b,s:s,s:s,s:s,s:O,s:O,s:O,s:I}", "WAN", t->wan, "Datacenter", dc,
                          "Segment", "", "Partition", "", "Messages", t->messages, "Keys",
                          t->keys, "PrimaryKeys", t->primary, "NumNodes",
                          (json_int_t)t->num_nodes);
    /* serf's KeyManager: every node must answer with success */
    if (r && (t->num_err || t->num_resp < t->num_nodes)) {
        char e[128];
        if (t->num_err)
            snprintf(e, sizeof e, "%zu/%zu nodes reported failure", t->num_err, t->num_nodes);
        else
            snprintf(e, sizeof e, "%zu/%zu nodes reported success", t->num_resp, t->num_nodes);
        json_object_set_new(r, "Error", json_string(e));
    }
    return r;
}
