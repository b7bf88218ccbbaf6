/*
 * cmd.c - Raft command encoding (state.h): byte 0 = type, byte 1 = version,
 * then one msgpack object.
 *   KVS:                      [verb, key, value(bin), flags, index, session|nil, now_ms]
 *   REGISTER/DEREGISTER/SESSION: [body (JSON as msgpack), now_ms]
 *   RESTORE:                  [blob(bin), now_ms]
 *   NOOP:                     no body, or any well-formed object (ignored)
 *
 * Commands come from the Raft log, which a bug, a disk error or a newer
 * peer can fill with anything, so decoding trusts nothing. A bounded
 * pre-scan checks that the body is exactly one msgpack object, nested at
 * most MP_MAX_DEPTH deep, with every length and element count covered by
 * the bytes that remain, before msgpack-c unpacks it: a 5-byte "array of
 * 4 billion elements" is refused here rather than becoming a 96 GB
 * allocation inside msgpack-c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/state_int.h"

#define MP_MAX_DEPTH 31  /* below msgpack-c's fixed unpack stack (32) */
#define JSON_MAX_DEPTH 28 /* leaves room for the command's own array */

/* ---------------------------------------------------------------- buffers */

void tb__buf_free(tb__buf_t *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static int buf_write(void *data, const char *p, size_t n)
{
    tb__buf_t *b = data;
    if (n > SIZE_MAX - b->len)
        return -1;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n)
            cap = cap > SIZE_MAX / 2 ? b->len + n : cap * 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d)
            return -1;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

static int buf_start(tb__buf_t *out, uint8_t type)
{
    out->data = NULL;
    out->len = out->cap = 0;
    const char hdr[2] = {(char)type, TB__CMD_VERSION};
    return buf_write(out, hdr, 2);
}

int tb__cmd_start(tb__buf_t *out, uint8_t type)
{
    return buf_start(out, type);
}

int tb__cmd_buf_write(void *data, const char *p, size_t n)
{
    return buf_write(data, p, n);
}

/* ---------------------------------------------------------------- JSON -> msgpack */

static int pack_json(msgpack_packer *pk, const json_t *v, int depth)
{
    if (depth > JSON_MAX_DEPTH)
        return -1;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *e;
        if (msgpack_pack_map(pk, json_object_size(v)))
            return -1;
        json_object_foreach((json_t *)v, k, e) {
            size_t kl = strlen(k);
            if (msgpack_pack_str(pk, kl) || msgpack_pack_str_body(pk, k, kl) ||
                pack_json(pk, e, depth + 1))
                return -1;
        }
        return 0;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *e;
        if (msgpack_pack_array(pk, json_array_size(v)))
            return -1;
        json_array_foreach(v, i, e) {
            if (pack_json(pk, e, depth + 1))
                return -1;
        }
        return 0;
    }
    case JSON_STRING: {
        size_t l = json_string_length(v);
        return msgpack_pack_str(pk, l) || msgpack_pack_str_body(pk, json_string_value(v), l);
    }
    case JSON_INTEGER:
        return msgpack_pack_int64(pk, (int64_t)json_integer_value(v));
    case JSON_REAL:
        return msgpack_pack_double(pk, json_real_value(v));
    case JSON_TRUE:
        return msgpack_pack_true(pk);
    case JSON_FALSE:
        return msgpack_pack_false(pk);
    case JSON_NULL:
        return msgpack_pack_nil(pk);
    }
    return -1;
}

int tb__mp_pack_json(msgpack_packer *pk, const json_t *v)
{
    return pack_json(pk, v, 3); /* nested in [ops, now] > ops > op */
}

int tb__cmd_encode_json(uint8_t type, const json_t *body, int64_t now_ms, tb__buf_t *out)
{
    if (!out)
        return -1;
    if (type != TB__CMD_NOOP && type != TB__CMD_REGISTER && type != TB__CMD_DEREGISTER &&
        type != TB__CMD_SESSION) {
        out->data = NULL;
        out->len = out->cap = 0;
        return -1;
    }
    if (buf_start(out, type))
        return -1;
    if (type == TB__CMD_NOOP && !body)
        return 0;
    if (!json_is_object(body))
        goto fail;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, buf_write);
    if (msgpack_pack_array(&pk, 2) || pack_json(&pk, body, 1) || msgpack_pack_int64(&pk, now_ms))
        goto fail;
    return 0;
fail:
    tb__buf_free(out);
    return -1;
}

int tb__cmd_encode_kv(const tb_kv_write_t *op, int64_t now_ms, tb__buf_t *out)
{
    if (!out)
        return -1;
    out->data = NULL;
    out->len = out->cap = 0;
    if (!op || !op->key || (op->value_len && !op->value) || (unsigned)op->verb > TB_KV_DELETE_CAS)
        return -1;
    if (buf_start(out, TB__CMD_KVS))
        return -1;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, buf_write);
    size_t kl = strlen(op->key);
    int rc = msgpack_pack_array(&pk, 7) || msgpack_pack_uint8(&pk, (uint8_t)op->verb) ||
             msgpack_pack_str(&pk, kl) || msgpack_pack_str_body(&pk, op->key, kl) ||
             msgpack_pack_bin(&pk, op->value_len) ||
             (op->value_len && msgpack_pack_bin_body(&pk, op->value, op->value_len)) ||
             msgpack_pack_uint64(&pk, op->flags) || msgpack_pack_uint64(&pk, op->index);
    if (!rc) {
        if (op->session) {
            size_t sl = strlen(op->session);
            rc = msgpack_pack_str(&pk, sl) || msgpack_pack_str_body(&pk, op->session, sl);
        } else {
            rc = msgpack_pack_nil(&pk);
        }
    }
    if (!rc)
        rc = msgpack_pack_int64(&pk, now_ms);
    if (rc) {
        tb__buf_free(out);
        return -1;
    }
    return 0;
}

int tb__cmd_encode_restore(const void *blob, size_t len, int64_t now_ms, tb__buf_t *out)
{
    if (!out)
        return -1;
    out->data = NULL;
    out->len = out->cap = 0;
    if ((len && !blob) || len > UINT32_MAX || buf_start(out, TB__CMD_RESTORE))
        return -1;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, buf_write);
    if (msgpack_pack_array(&pk, 2) || msgpack_pack_bin(&pk, len) ||
        (len && msgpack_pack_bin_body(&pk, blob, len)) || msgpack_pack_int64(&pk, now_ms)) {
        tb__buf_free(out);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- bounded pre-scan */

static int be_len(const uint8_t *p, size_t len, size_t *off, int width, uint64_t *v)
{
    if (len - *off < (size_t)width)
        return -1;
    uint64_t x = 0;
    for (int i = 0; i < width; i++)
        x = (x << 8) | p[*off + (size_t)i];
    *off += (size_t)width;
    *v = x;
    return 0;
}

static int skip_bytes(size_t len, size_t *off, uint64_t n)
{
    if (n > len - *off)
        return -1;
    *off += (size_t)n;
    return 0;
}

/* Walk one object at p[*off]. Refuses ext types (never produced) and 0xc1. */
static int mp_scan(const uint8_t *p, size_t len, size_t *off, int depth)
{
    if (*off >= len || depth > MP_MAX_DEPTH)
        return -1;
    uint8_t b = p[(*off)++];
    uint64_t n = 0;
    int is_map = 0;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        return 0;
    if (b >= 0xa0 && b <= 0xbf)
        return skip_bytes(len, off, b & 0x1f);
    if (b >= 0x80 && b <= 0x8f) {
        n = b & 0x0f;
        is_map = 1;
        goto container;
    }
    if (b >= 0x90 && b <= 0x9f) {
        n = b & 0x0f;
        goto container;
    }
    switch (b) {
    case 0xcc: case 0xd0: return skip_bytes(len, off, 1);
    case 0xcd: case 0xd1: return skip_bytes(len, off, 2);
    case 0xce: case 0xd2: case 0xca: return skip_bytes(len, off, 4);
    case 0xcf: case 0xd3: case 0xcb: return skip_bytes(len, off, 8);
    case 0xc4: case 0xd9:
        return be_len(p, len, off, 1, &n) ? -1 : skip_bytes(len, off, n);
    case 0xc5: case 0xda:
        return be_len(p, len, off, 2, &n) ? -1 : skip_bytes(len, off, n);
    case 0xc6: case 0xdb:
        return be_len(p, len, off, 4, &n) ? -1 : skip_bytes(len, off, n);
    case 0xdc:
        if (be_len(p, len, off, 2, &n))
            return -1;
        goto container;
    case 0xdd:
        if (be_len(p, len, off, 4, &n))
            return -1;
        goto container;
    case 0xde:
        if (be_len(p, len, off, 2, &n))
            return -1;
        is_map = 1;
        goto container;
    case 0xdf:
        if (be_len(p, len, off, 4, &n))
            return -1;
        is_map = 1;
        goto container;
    default:
        return -1; /* 0xc1, ext, fixext */
    }
container:
    if (is_map)
        n *= 2;
    if (n > len - *off) /* every element takes at least one byte */
        return -1;
    for (uint64_t i = 0; i < n; i++)
        if (mp_scan(p, len, off, depth + 1))
            return -1;
    return 0;
}

/* ---------------------------------------------------------------- msgpack -> JSON */

static int has_nul(const char *p, size_t n)
{
    return n && memchr(p, 0, n) != NULL;
}

static json_t *mp_to_json(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return json_null();
    case MSGPACK_OBJECT_BOOLEAN:
        return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 > (uint64_t)INT64_MAX)
            return NULL;
        return json_integer((json_int_t)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return json_integer((json_int_t)o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return json_real(o->via.f64); /* NULL for NaN/inf */
    case MSGPACK_OBJECT_STR:
        /* NUL inside a string would silently truncate names later: refuse;
         * json_stringn refuses invalid UTF-8 */
        if (has_nul(o->via.str.ptr, o->via.str.size))
            return NULL;
        return o->via.str.size ? json_stringn(o->via.str.ptr, o->via.str.size) : json_string("");
    case MSGPACK_OBJECT_ARRAY: {
        json_t *a = json_array();
        for (uint32_t i = 0; a && i < o->via.array.size; i++) {
            json_t *e = mp_to_json(&o->via.array.ptr[i]);
            if (!e || json_array_append_new(a, e)) {
                json_decref(a);
                return NULL;
            }
        }
        return a;
    }
    case MSGPACK_OBJECT_MAP: {
        json_t *m = json_object();
        for (uint32_t i = 0; m && i < o->via.map.size; i++) {
            const msgpack_object *k = &o->via.map.ptr[i].key;
            if (k->type != MSGPACK_OBJECT_STR || has_nul(k->via.str.ptr, k->via.str.size)) {
                json_decref(m);
                return NULL;
            }
            json_t *e = mp_to_json(&o->via.map.ptr[i].val);
            if (!e || json_object_setn_new(m, k->via.str.size ? k->via.str.ptr : "",
                                           k->via.str.size, e)) {
                json_decref(m);
                return NULL;
            }
        }
        return m;
    }
    default:
        return NULL; /* bin, ext */
    }
}

json_t *tb__mp_to_json(const msgpack_object *o)
{
    return mp_to_json(o);
}

/* ---------------------------------------------------------------- decode */

static int fail(char **err, const char *msg)
{
    if (err)
        *err = strdup(msg);
    return -1;
}

static char *str_dup(const msgpack_object *o)
{
    if (o->type != MSGPACK_OBJECT_STR || has_nul(o->via.str.ptr, o->via.str.size))
        return NULL;
    char *s = malloc(o->via.str.size + 1);
    if (!s)
        return NULL;
    if (o->via.str.size)
        memcpy(s, o->via.str.ptr, o->via.str.size);
    s[o->via.str.size] = 0;
    return s;
}

static int get_i64(const msgpack_object *o, int64_t *v)
{
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *v = o->via.i64;
        return 0;
    }
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= (uint64_t)INT64_MAX) {
        *v = (int64_t)o->via.u64;
        return 0;
    }
    return -1;
}

void tb__cmd_clear(tb__cmd_t *cmd)
{
    if (!cmd)
        return;
    free(cmd->kv_key);
    free(cmd->kv_session);
    json_decref(cmd->body);
    if (cmd->have_up)
        msgpack_unpacked_destroy(&cmd->up);
    memset(cmd, 0, sizeof(*cmd));
}

int tb__cmd_decode(const void *data, size_t len, tb__cmd_t *cmd, char **err)
{
    memset(cmd, 0, sizeof(*cmd));
    if (err)
        *err = NULL;
    const uint8_t *p = data;
    if (!data || len < 2)
        return fail(err, "command too short");
    cmd->type = p[0];
    char msg[80];
    if (cmd->type > TB__CMD_RESTORE) {
        snprintf(msg, sizeof(msg), "unknown command type %u", (unsigned)p[0]);
        return fail(err, msg);
    }
    if (p[1] != TB__CMD_VERSION) {
        snprintf(msg, sizeof(msg), "unsupported version %u of command type %u", (unsigned)p[1],
                 (unsigned)p[0]);
        return fail(err, msg);
    }
    if (cmd->type == TB__CMD_NOOP && len == 2)
        return 0;
    size_t off = 2;
    if (mp_scan(p, len, &off, 0) || off != len)
        return fail(err, "malformed command body");
    msgpack_unpacked_init(&cmd->up);
    cmd->have_up = 1;
    size_t uoff = 2;
    if (msgpack_unpack_next(&cmd->up, (const char *)p, len, &uoff) != MSGPACK_UNPACK_SUCCESS ||
        uoff != len)
        return fail(err, "malformed command body");
    const msgpack_object *o = &cmd->up.data;
    if (cmd->type == TB__CMD_NOOP)
        return 0;
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return fail(err, "command body is not an array");
    const msgpack_object *a = o->via.array.ptr;
    if (cmd->type == TB__CMD_KVS) {
        if (o->via.array.size != 7)
            return fail(err, "KVS command: wrong field count");
        if (a[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER || a[0].via.u64 > TB_KV_DELETE_CAS)
            return fail(err, "KVS command: bad verb");
        if (!(cmd->kv_key = str_dup(&a[1])))
            return fail(err, "KVS command: bad key");
        if (a[2].type == MSGPACK_OBJECT_BIN) {
            cmd->kv.value = a[2].via.bin.size ? a[2].via.bin.ptr : NULL;
            cmd->kv.value_len = a[2].via.bin.size;
        } else if (a[2].type != MSGPACK_OBJECT_NIL) {
            return fail(err, "KVS command: bad value");
        }
        if (a[3].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
            a[4].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
            return fail(err, "KVS command: bad flags or index");
        if (a[5].type != MSGPACK_OBJECT_NIL && !(cmd->kv_session = str_dup(&a[5])))
            return fail(err, "KVS command: bad session");
        if (get_i64(&a[6], &cmd->now_ms))
            return fail(err, "KVS command: bad timestamp");
        cmd->kv.size = sizeof(cmd->kv);
        cmd->kv.verb = (tb_kv_verb_t)a[0].via.u64;
        cmd->kv.key = cmd->kv_key;
        cmd->kv.flags = a[3].via.u64;
        cmd->kv.index = a[4].via.u64;
        cmd->kv.session = cmd->kv_session;
        return 0;
    }
    if (o->via.array.size != 2)
        return fail(err, "command: wrong field count");
    if (cmd->type == TB__CMD_RESTORE) { /* the blob is checked when applied */
        if (a[0].type != MSGPACK_OBJECT_BIN)
            return fail(err, "RESTORE command: blob is not binary");
        if (get_i64(&a[1], &cmd->now_ms))
            return fail(err, "command: bad timestamp");
        cmd->blob = a[0].via.bin.ptr;
        cmd->blob_len = a[0].via.bin.size;
        return 0;
    }
    if (cmd->type == TB__CMD_TXN) { /* ops are decoded one by one by txn.c */
        if (a[0].type != MSGPACK_OBJECT_ARRAY)
            return fail(err, "TXN command: ops is not an array");
        if (get_i64(&a[1], &cmd->now_ms))
            return fail(err, "command: bad timestamp");
        return 0;
    }
    if (a[0].type != MSGPACK_OBJECT_MAP)
        return fail(err, "command body is not an object");
    if (get_i64(&a[1], &cmd->now_ms))
        return fail(err, "command: bad timestamp");
    if (!(cmd->body = mp_to_json(&a[0])))
        return fail(err, "command body is not valid JSON");
    return 0;
}
