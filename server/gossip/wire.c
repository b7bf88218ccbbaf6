/*
 * wire.c - memberlist/serf wire codec: msgpack bodies (libmsgpack-c),
 * compound, hasCrc, compress (Go LZW), AES-GCM (OpenSSL), TCP streams.
 *
 * Reading: every msgpack object is first checked by mp_check(), a bounds
 * scanner that tells "truncated" from "malformed" and refuses element
 * counts larger than the bytes left (msgpack-c would otherwise allocate
 * count * 24 bytes up front for a 5-byte hostile input). Only then does
 * msgpack_unpack_next() build the object tree; strings reference the input.
 * Writing: msgpack_packer with the v4 "raw" family, which is exactly
 * go-msgpack 0.5.5's dialect (no str8, no bin).
 */
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>
#include <openssl/evp.h>

#include "gossip/wire.h"

/* ------------------------------------------------------------ buffers */

void tb__gw_buf_init(tb__gw_buf_t *b)
{
    memset(b, 0, sizeof *b);
}

void tb__gw_buf_free(tb__gw_buf_t *b)
{
    free(b->data);
    tb__gw_buf_init(b);
}

static int buf_reserve(tb__gw_buf_t *b, size_t extra)
{
    if (b->oom)
        return TB__GW_ENOMEM;
    if (b->len + extra <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra)
        cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p) {
        b->oom = true;
        return TB__GW_ENOMEM;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int tb__gw_buf_put(tb__gw_buf_t *b, const void *p, size_t n)
{
    if (n == 0)
        return b->oom ? TB__GW_ENOMEM : 0;
    if (buf_reserve(b, n))
        return TB__GW_ENOMEM;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

static int buf_u8(tb__gw_buf_t *b, uint8_t v)
{
    return tb__gw_buf_put(b, &v, 1);
}

static int buf_be(tb__gw_buf_t *b, uint64_t v, int bytes)
{
    uint8_t t[8];
    for (int i = 0; i < bytes; i++)
        t[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
    return tb__gw_buf_put(b, t, (size_t)bytes);
}

uint8_t *tb__gw_buf_steal(tb__gw_buf_t *b, size_t *len)
{
    uint8_t *p = b->data;
    *len = b->len;
    tb__gw_buf_init(b);
    return p;
}

static uint32_t rd_be(const uint8_t *p, int bytes)
{
    uint32_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = (v << 8) | p[i];
    return v;
}

const char *tb__gw_strerror(int err)
{
    switch (err) {
    case TB__GW_OK: return "ok";
    case TB__GW_ETRUNC: return "truncated";
    case TB__GW_EOVERSIZE: return "oversized";
    case TB__GW_ECRC: return "checksum mismatch";
    case TB__GW_EKEY: return "no installed key could decrypt the message";
    case TB__GW_ETYPE: return "unknown message type";
    case TB__GW_EMALFORMED: return "malformed message";
    case TB__GW_ENOMEM: return "out of memory";
    case TB__GW_EDEPTH: return "layers nested too deeply";
    default: return "unknown error";
    }
}

/* ---------------------------------------------------- msgpack checking */

#define MP_MAX_DEPTH 24 /* below msgpack-c's own stack of 32 */

/* Validate one object at buf[*pos]; advance *pos past it. */
static int mp_check(const uint8_t *buf, size_t len, size_t *pos, int depth)
{
    if (depth > MP_MAX_DEPTH)
        return TB__GW_EMALFORMED;
    if (*pos >= len)
        return TB__GW_ETRUNC;
    uint8_t c = buf[(*pos)++];
    size_t left = len - *pos;
    uint64_t skip = 0, items = 0;
    if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3)
        return 0;
    if (c >= 0x80 && c <= 0x8f)
        items = 2u * (c & 0x0f);
    else if (c >= 0x90 && c <= 0x9f)
        items = c & 0x0f;
    else if (c >= 0xa0 && c <= 0xbf)
        skip = c & 0x1f;
    else {
        int lb = 0;
        switch (c) {
        case 0xc4: case 0xd9: lb = 1; break;                    /* bin8, str8 */
        case 0xc5: case 0xda: lb = 2; break;                    /* bin16, str16 */
        case 0xc6: case 0xdb: lb = 4; break;                    /* bin32, str32 */
        case 0xcc: case 0xd0: skip = 1; break;
        case 0xcd: case 0xd1: skip = 2; break;
        case 0xca: case 0xce: case 0xd2: skip = 4; break;
        case 0xcb: case 0xcf: case 0xd3: skip = 8; break;
        case 0xd4: skip = 2; break; case 0xd5: skip = 3; break;  /* fixext */
        case 0xd6: skip = 5; break; case 0xd7: skip = 9; break;
        case 0xd8: skip = 17; break;
        case 0xc7: lb = 1; skip = 1; break;                     /* ext8/16/32: + type */
        case 0xc8: lb = 2; skip = 1; break;
        case 0xc9: lb = 4; skip = 1; break;
        case 0xdc: lb = -2; break; case 0xdd: lb = -4; break;   /* arrays */
        case 0xde: lb = -12; break; case 0xdf: lb = -14; break; /* maps */
        default: return TB__GW_EMALFORMED;                      /* 0xc1 */
        }
        if (lb) {
            int nb = lb > 0 ? lb : (lb == -2 || lb == -12 ? 2 : 4);
            if (left < (size_t)nb)
                return TB__GW_ETRUNC;
            uint64_t v = rd_be(buf + *pos, nb);
            *pos += (size_t)nb;
            left -= (size_t)nb;
            if (lb > 0)
                skip += v;
            else if (lb == -2 || lb == -4)
                items = v;
            else
                items = 2 * v;
        }
    }
    if (skip) {
        if (skip > left)
            return TB__GW_ETRUNC;
        *pos += (size_t)skip;
        return 0;
    }
    /* Every element takes at least one byte: a count larger than what is
     * left cannot be satisfied by this buffer. For streams that may be a
     * short read, hence ETRUNC; the stream caps its total size. */
    if (items > left)
        return TB__GW_ETRUNC;
    for (uint64_t i = 0; i < items; i++) {
        int r = mp_check(buf, len, pos, depth + 1);
        if (r)
            return r;
    }
    return 0;
}

/* Unpack one object at buf[off]; *end = offset after it. */
static int mp_unpack(msgpack_unpacked *u, const uint8_t *buf, size_t len, size_t off,
                     size_t *end)
{
    size_t p = off;
    int r = mp_check(buf, len, &p, 0);
    if (r)
        return r;
    size_t o = off;
    msgpack_unpacked_init(u);
    msgpack_unpack_return ur = msgpack_unpack_next(u, (const char *)buf, p, &o);
    if (ur != MSGPACK_UNPACK_SUCCESS && ur != MSGPACK_UNPACK_EXTRA_BYTES) {
        msgpack_unpacked_destroy(u);
        return ur == MSGPACK_UNPACK_NOMEM_ERROR ? TB__GW_ENOMEM : TB__GW_EMALFORMED;
    }
    if (o != p) {
        msgpack_unpacked_destroy(u);
        return TB__GW_EMALFORMED;
    }
    if (end)
        *end = p;
    return 0;
}

/* ---------------------------------------------------- object accessors */

static bool key_is(const msgpack_object *k, const char *name)
{
    size_t n = strlen(name);
    if (k->type == MSGPACK_OBJECT_STR)
        return k->via.str.size == n && memcmp(k->via.str.ptr, name, n) == 0;
    if (k->type == MSGPACK_OBJECT_BIN)
        return k->via.bin.size == n && memcmp(k->via.bin.ptr, name, n) == 0;
    return false;
}

static const msgpack_object *map_get(const msgpack_object *o, const char *name)
{
    if (o->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (uint32_t i = 0; i < o->via.map.size; i++)
        if (key_is(&o->via.map.ptr[i].key, name))
            return &o->via.map.ptr[i].val;
    return NULL;
}

/* Absent or nil leave the zero value; a wrong type is an error. */
static int get_bytes(const msgpack_object *m, const char *name, tb__gw_bytes_t *out)
{
    const msgpack_object *o = map_get(m, name);
    out->p = NULL;
    out->n = 0;
    if (!o || o->type == MSGPACK_OBJECT_NIL)
        return 0;
    if (o->type == MSGPACK_OBJECT_STR) {
        out->p = (const uint8_t *)(o->via.str.ptr ? o->via.str.ptr : "");
        out->n = o->via.str.size;
        return 0;
    }
    if (o->type == MSGPACK_OBJECT_BIN) {
        out->p = (const uint8_t *)(o->via.bin.ptr ? o->via.bin.ptr : "");
        out->n = o->via.bin.size;
        return 0;
    }
    return TB__GW_EMALFORMED;
}

static int obj_uint(const msgpack_object *o, uint64_t max, uint64_t *v)
{
    *v = 0;
    if (!o || o->type == MSGPACK_OBJECT_NIL)
        return 0;
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > max)
        return TB__GW_EMALFORMED;
    *v = o->via.u64;
    return 0;
}

static int get_uint(const msgpack_object *m, const char *name, uint64_t max, uint64_t *v)
{
    return obj_uint(map_get(m, name), max, v);
}

static int get_u32(const msgpack_object *m, const char *name, uint32_t *v)
{
    uint64_t x;
    int r = get_uint(m, name, UINT32_MAX, &x);
    *v = (uint32_t)x;
    return r;
}

static int get_u16(const msgpack_object *m, const char *name, uint16_t *v)
{
    uint64_t x;
    int r = get_uint(m, name, UINT16_MAX, &x);
    *v = (uint16_t)x;
    return r;
}

static int get_i64(const msgpack_object *m, const char *name, int64_t *v)
{
    const msgpack_object *o = map_get(m, name);
    *v = 0;
    if (!o || o->type == MSGPACK_OBJECT_NIL)
        return 0;
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *v = o->via.i64;
        return 0;
    }
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX) {
        *v = (int64_t)o->via.u64;
        return 0;
    }
    return TB__GW_EMALFORMED;
}

static int get_bool(const msgpack_object *m, const char *name, bool *v)
{
    const msgpack_object *o = map_get(m, name);
    *v = false;
    if (!o || o->type == MSGPACK_OBJECT_NIL)
        return 0;
    if (o->type != MSGPACK_OBJECT_BOOLEAN)
        return TB__GW_EMALFORMED;
    *v = o->via.boolean;
    return 0;
}

static int get_vsn(const msgpack_object *m, uint8_t vsn[6], size_t *vlen)
{
    tb__gw_bytes_t b;
    *vlen = 0;
    memset(vsn, 0, 6);
    int r = get_bytes(m, "Vsn", &b);
    if (r)
        return r;
    if (b.n > 6)
        return TB__GW_EMALFORMED;
    if (b.n)
        memcpy(vsn, b.p, b.n);
    *vlen = b.n;
    return 0;
}

/* ------------------------------------------------------------ packing */

static int pk_write(void *data, const char *buf, size_t len)
{
    return tb__gw_buf_put(data, buf, len) ? -1 : 0;
}

static void pk_init(msgpack_packer *pk, tb__gw_buf_t *out)
{
    msgpack_packer_init(pk, out, pk_write);
}

static void pk_key(msgpack_packer *pk, const char *k)
{
    size_t n = strlen(k);
    msgpack_pack_v4raw(pk, n);
    msgpack_pack_v4raw_body(pk, k, n);
}

/* []byte / string: nil (p == NULL) -> c0, else raw. */
static void pk_bytes(msgpack_packer *pk, tb__gw_bytes_t b)
{
    if (!b.p) {
        msgpack_pack_nil(pk);
        return;
    }
    msgpack_pack_v4raw(pk, b.n);
    msgpack_pack_v4raw_body(pk, b.p, b.n);
}

/* Go strings are never nil: an absent string is "". */
static void pk_string(msgpack_packer *pk, tb__gw_bytes_t b)
{
    msgpack_pack_v4raw(pk, b.n);
    if (b.n)
        msgpack_pack_v4raw_body(pk, b.p, b.n);
}

static void pk_bool(msgpack_packer *pk, bool v)
{
    if (v)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
}

static int pk_done(tb__gw_buf_t *out)
{
    return out->oom ? TB__GW_ENOMEM : 0;
}

/* ------------------------------------------------ memberlist messages */

int tb__gw_msg_decode(const uint8_t *buf, size_t len, tb__gw_msg_t *m)
{
    memset(m, 0, sizeof *m);
    if (len < 1)
        return TB__GW_ETRUNC;
    m->type = buf[0];
    if (m->type == TB__GW_USER) {
        m->payload.p = buf + 1;
        m->payload.n = len - 1;
        return 0;
    }
    if (m->type > TB__GW_ERR || m->type == TB__GW_PUSH_PULL || m->type == TB__GW_COMPOUND ||
        m->type == TB__GW_COMPRESS || m->type == TB__GW_ENCRYPT || m->type == TB__GW_HAS_CRC)
        return TB__GW_ETYPE;
    msgpack_unpacked u;
    int r = mp_unpack(&u, buf, len, 1, NULL);
    if (r)
        return r;
    const msgpack_object *o = &u.data;
    if (o->type != MSGPACK_OBJECT_MAP) {
        msgpack_unpacked_destroy(&u);
        return TB__GW_EMALFORMED;
    }
    switch (m->type) {
    case TB__GW_PING:
    case TB__GW_INDIRECT_PING:
        r = get_bytes(o, "Node", &m->node) || get_u32(o, "SeqNo", &m->seq) ||
            get_bytes(o, "SourceAddr", &m->source_addr) ||
            get_bytes(o, "SourceNode", &m->source_node) ||
            get_u16(o, "SourcePort", &m->source_port);
        if (!r && m->type == TB__GW_INDIRECT_PING)
            r = get_bool(o, "Nack", &m->nack) || get_u16(o, "Port", &m->port) ||
                get_bytes(o, "Target", &m->target);
        break;
    case TB__GW_ACK:
        r = get_bytes(o, "Payload", &m->payload) || get_u32(o, "SeqNo", &m->seq);
        break;
    case TB__GW_NACK:
        r = get_u32(o, "SeqNo", &m->seq);
        break;
    case TB__GW_SUSPECT:
    case TB__GW_DEAD:
        r = get_bytes(o, "From", &m->from) || get_u32(o, "Incarnation", &m->incarnation) ||
            get_bytes(o, "Node", &m->node);
        break;
    case TB__GW_ALIVE:
        r = get_bytes(o, "Addr", &m->addr) || get_u32(o, "Incarnation", &m->incarnation) ||
            get_bytes(o, "Meta", &m->meta) || get_bytes(o, "Node", &m->node) ||
            get_u16(o, "Port", &m->port) || get_vsn(o, m->vsn, &m->vsn_len);
        break;
    case TB__GW_ERR:
        r = get_bytes(o, "Error", &m->error);
        break;
    default:
        r = TB__GW_ETYPE;
    }
    msgpack_unpacked_destroy(&u);
    return r ? TB__GW_EMALFORMED : 0;
}

int tb__gw_msg_encode(const tb__gw_msg_t *m, tb__gw_buf_t *out)
{
    msgpack_packer pk;
    pk_init(&pk, out);
    buf_u8(out, m->type);
    switch (m->type) {
    case TB__GW_PING:
    case TB__GW_INDIRECT_PING: {
        bool ind = m->type == TB__GW_INDIRECT_PING;
        size_t n = 2 + (m->source_addr.n > 0) + (m->source_node.n > 0) + (m->source_port > 0) +
                   (ind ? 3 : 0);
        msgpack_pack_map(&pk, n);
        if (ind) {
            pk_key(&pk, "Nack");
            pk_bool(&pk, m->nack);
        }
        pk_key(&pk, "Node");
        pk_string(&pk, m->node);
        if (ind) {
            pk_key(&pk, "Port");
            msgpack_pack_uint64(&pk, m->port);
        }
        pk_key(&pk, "SeqNo");
        msgpack_pack_uint64(&pk, m->seq);
        if (m->source_addr.n) {
            pk_key(&pk, "SourceAddr");
            pk_bytes(&pk, m->source_addr);
        }
        if (m->source_node.n) {
            pk_key(&pk, "SourceNode");
            pk_string(&pk, m->source_node);
        }
        if (m->source_port) {
            pk_key(&pk, "SourcePort");
            msgpack_pack_uint64(&pk, m->source_port);
        }
        if (ind) {
            pk_key(&pk, "Target");
            pk_bytes(&pk, m->target);
        }
        break;
    }
    case TB__GW_ACK:
        msgpack_pack_map(&pk, 2);
        pk_key(&pk, "Payload");
        pk_bytes(&pk, m->payload);
        pk_key(&pk, "SeqNo");
        msgpack_pack_uint64(&pk, m->seq);
        break;
    case TB__GW_NACK:
        msgpack_pack_map(&pk, 1);
        pk_key(&pk, "SeqNo");
        msgpack_pack_uint64(&pk, m->seq);
        break;
    case TB__GW_SUSPECT:
    case TB__GW_DEAD:
        msgpack_pack_map(&pk, 3);
        pk_key(&pk, "From");
        pk_string(&pk, m->from);
        pk_key(&pk, "Incarnation");
        msgpack_pack_uint64(&pk, m->incarnation);
        pk_key(&pk, "Node");
        pk_string(&pk, m->node);
        break;
    case TB__GW_ALIVE: {
        msgpack_pack_map(&pk, 6);
        pk_key(&pk, "Addr");
        pk_bytes(&pk, m->addr);
        pk_key(&pk, "Incarnation");
        msgpack_pack_uint64(&pk, m->incarnation);
        pk_key(&pk, "Meta");
        pk_bytes(&pk, m->meta);
        pk_key(&pk, "Node");
        pk_string(&pk, m->node);
        pk_key(&pk, "Port");
        msgpack_pack_uint64(&pk, m->port);
        pk_key(&pk, "Vsn");
        tb__gw_bytes_t v = { m->vsn, m->vsn_len };
        pk_bytes(&pk, v);
        break;
    }
    case TB__GW_ERR:
        msgpack_pack_map(&pk, 1);
        pk_key(&pk, "Error");
        pk_string(&pk, m->error);
        break;
    case TB__GW_USER:
        tb__gw_buf_put(out, m->payload.p, m->payload.n);
        break;
    default:
        return TB__GW_ETYPE;
    }
    return pk_done(out);
}

/* ------------------------------------------------------------ compound */

int tb__gw_compound_split(const uint8_t *buf, size_t len, tb__gw_bytes_t *parts, int max,
                          int *truncated)
{
    *truncated = 0;
    if (len < 2 || buf[0] != TB__GW_COMPOUND)
        return TB__GW_ETRUNC;
    int n = buf[1];
    if (len < 2 + 2 * (size_t)n)
        return TB__GW_ETRUNC;
    if (n > max)
        return TB__GW_EOVERSIZE;
    size_t off = 2 + 2 * (size_t)n;
    int got = 0;
    for (int i = 0; i < n; i++) {
        size_t l = rd_be(buf + 2 + 2 * i, 2);
        if (off + l > len) {
            *truncated = n - i;
            break;
        }
        parts[got].p = buf + off;
        parts[got].n = l;
        got++;
        off += l;
    }
    return got;
}

int tb__gw_compound_encode(const tb__gw_bytes_t *parts, int n, tb__gw_buf_t *out)
{
    if (n < 0 || n > 255)
        return TB__GW_EOVERSIZE;
    buf_u8(out, TB__GW_COMPOUND);
    buf_u8(out, (uint8_t)n);
    for (int i = 0; i < n; i++) {
        if (parts[i].n > UINT16_MAX)
            return TB__GW_EOVERSIZE;
        buf_be(out, parts[i].n, 2);
    }
    for (int i = 0; i < n; i++)
        tb__gw_buf_put(out, parts[i].p, parts[i].n);
    return pk_done(out);
}

/* ------------------------------------------------------------- CRC32 */

/* IEEE 802.3, reflected (0xEDB88320), one entry per byte value. */
static const uint32_t crc_table[256] = {
    0x00000000, 0x77073096, 0xEE0E612C, 0x990951BA, 0x076DC419, 0x706AF48F,
    0xE963A535, 0x9E6495A3, 0x0EDB8832, 0x79DCB8A4, 0xE0D5E91E, 0x97D2D988,
    0x09B64C2B, 0x7EB17CBD, 0xE7B82D07, 0x90BF1D91, 0x1DB71064, 0x6AB020F2,
    0xF3B97148, 0x84BE41DE, 0x1ADAD47D, 0x6DDDE4EB, 0xF4D4B551, 0x83D385C7,
    0x136C9856, 0x646BA8C0, 0xFD62F97A, 0x8A65C9EC, 0x14015C4F, 0x63066CD9,
    0xFA0F3D63, 0x8D080DF5, 0x3B6E20C8, 0x4C69105E, 0xD56041E4, 0xA2677172,
    0x3C03E4D1, 0x4B04D447, 0xD20D85FD, 0xA50AB56B, 0x35B5A8FA, 0x42B2986C,
    0xDBBBC9D6, 0xACBCF940, 0x32D86CE3, 0x45DF5C75, 0xDCD60DCF, 0xABD13D59,
    0x26D930AC, 0x51DE003A, 0xC8D75180, 0xBFD06116, 0x21B4F4B5, 0x56B3C423,
    0xCFBA9599, 0xB8BDA50F, 0x2802B89E, 0x5F058808, 0xC60CD9B2, 0xB10BE924,
    0x2F6F7C87, 0x58684C11, 0xC1611DAB, 0xB6662D3D, 0x76DC4190, 0x01DB7106,
    0x98D220BC, 0xEFD5102A, 0x71B18589, 0x06B6B51F, 0x9FBFE4A5, 0xE8B8D433,
    0x7807C9A2, 0x0F00F934, 0x9609A88E, 0xE10E9818, 0x7F6A0DBB, 0x086D3D2D,
    0x91646C97, 0xE6635C01, 0x6B6B51F4, 0x1C6C6162, 0x856530D8, 0xF262004E,
    0x6C0695ED, 0x1B01A57B, 0x8208F4C1, 0xF50FC457, 0x65B0D9C6, 0x12B7E950,
    0x8BBEB8EA, 0xFCB9887C, 0x62DD1DDF, 0x15DA2D49, 0x8CD37CF3, 0xFBD44C65,
    0x4DB26158, 0x3AB551CE, 0xA3BC0074, 0xD4BB30E2, 0x4ADFA541, 0x3DD895D7,
    0xA4D1C46D, 0xD3D6F4FB, 0x4369E96A, 0x346ED9FC, 0xAD678846, 0xDA60B8D0,
    0x44042D73, 0x33031DE5, 0xAA0A4C5F, 0xDD0D7CC9, 0x5005713C, 0x270241AA,
    0xBE0B1010, 0xC90C2086, 0x5768B525, 0x206F85B3, 0xB966D409, 0xCE61E49F,
    0x5EDEF90E, 0x29D9C998, 0xB0D09822, 0xC7D7A8B4, 0x59B33D17, 0x2EB40D81,
    0xB7BD5C3B, 0xC0BA6CAD, 0xEDB88320, 0x9ABFB3B6, 0x03B6E20C, 0x74B1D29A,
    0xEAD54739, 0x9DD277AF, 0x04DB2615, 0x73DC1683, 0xE3630B12, 0x94643B84,
    0x0D6D6A3E, 0x7A6A5AA8, 0xE40ECF0B, 0x9309FF9D, 0x0A00AE27, 0x7D079EB1,
    0xF00F9344, 0x8708A3D2, 0x1E01F268, 0x6906C2FE, 0xF762575D, 0x806567CB,
    0x196C3671, 0x6E6B06E7, 0xFED41B76, 0x89D32BE0, 0x10DA7A5A, 0x67DD4ACC,
    0xF9B9DF6F, 0x8EBEEFF9, 0x17B7BE43, 0x60B08ED5, 0xD6D6A3E8, 0xA1D1937E,
    0x38D8C2C4, 0x4FDFF252, 0xD1BB67F1, 0xA6BC5767, 0x3FB506DD, 0x48B2364B,
    0xD80D2BDA, 0xAF0A1B4C, 0x36034AF6, 0x41047A60, 0xDF60EFC3, 0xA867DF55,
    0x316E8EEF, 0x4669BE79, 0xCB61B38C, 0xBC66831A, 0x256FD2A0, 0x5268E236,
    0xCC0C7795, 0xBB0B4703, 0x220216B9, 0x5505262F, 0xC5BA3BBE, 0xB2BD0B28,
    0x2BB45A92, 0x5CB36A04, 0xC2D7FFA7, 0xB5D0CF31, 0x2CD99E8B, 0x5BDEAE1D,
    0x9B64C2B0, 0xEC63F226, 0x756AA39C, 0x026D930A, 0x9C0906A9, 0xEB0E363F,
    0x72076785, 0x05005713, 0x95BF4A82, 0xE2B87A14, 0x7BB12BAE, 0x0CB61B38,
    0x92D28E9B, 0xE5D5BE0D, 0x7CDCEFB7, 0x0BDBDF21, 0x86D3D2D4, 0xF1D4E242,
    0x68DDB3F8, 0x1FDA836E, 0x81BE16CD, 0xF6B9265B, 0x6FB077E1, 0x18B74777,
    0x88085AE6, 0xFF0F6A70, 0x66063BCA, 0x11010B5C, 0x8F659EFF, 0xF862AE69,
    0x616BFFD3, 0x166CCF45, 0xA00AE278, 0xD70DD2EE, 0x4E048354, 0x3903B3C2,
    0xA7672661, 0xD06016F7, 0x4969474D, 0x3E6E77DB, 0xAED16A4A, 0xD9D65ADC,
    0x40DF0B66, 0x37D83BF0, 0xA9BCAE53, 0xDEBB9EC5, 0x47B2CF7F, 0x30B5FFE9,
    0xBDBDF21C, 0xCABAC28A, 0x53B39330, 0x24B4A3A6, 0xBAD03605, 0xCDD70693,
    0x54DE5729, 0x23D967BF, 0xB3667A2E, 0xC4614AB8, 0x5D681B02, 0x2A6F2B94,
    0xB40BBE37, 0xC30C8EA1, 0x5A05DF1B, 0x2D02EF8D
};

uint32_t tb__gw_crc32(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c = (c >> 8) ^ crc_table[(c ^ p[i]) & 0xff];
    }
    return c ^ 0xFFFFFFFFu;
}

int tb__gw_crc_open(const uint8_t *buf, size_t len, tb__gw_bytes_t *inner)
{
    if (len < 5 || buf[0] != TB__GW_HAS_CRC)
        return TB__GW_ETRUNC;
    if (tb__gw_crc32(buf + 5, len - 5) != rd_be(buf + 1, 4))
        return TB__GW_ECRC;
    inner->p = buf + 5;
    inner->n = len - 5;
    return 0;
}

int tb__gw_crc_wrap(const uint8_t *msg, size_t len, tb__gw_buf_t *out)
{
    buf_u8(out, TB__GW_HAS_CRC);
    buf_be(out, tb__gw_crc32(msg, len), 4);
    tb__gw_buf_put(out, msg, len);
    return pk_done(out);
}

/* ---------------------------------------------------------------- LZW */

#define LZW_MAX_WIDTH 12
#define LZW_CLEAR 256u
#define LZW_EOF 257u
#define LZW_INVALID 0xffffu

/* A port of Go's compress/lzw reader (LSB, litWidth 8). */
int tb__gw_lzw_decode(const uint8_t *in, size_t n, size_t max, tb__gw_buf_t *out)
{
    uint16_t *prefix = malloc(4096 * sizeof *prefix);
    uint8_t *suffix = malloc(4096), *tmp = malloc(4096);
    int r = 0;
    if (!prefix || !suffix || !tmp) {
        r = TB__GW_ENOMEM;
        goto done;
    }
    uint32_t bits = 0, nbits = 0, width = 9, hi = LZW_EOF, overflow = 512;
    uint32_t last = LZW_INVALID;
    size_t pos = 0;
    for (;;) {
        while (nbits < width) {
            if (pos >= n) {
                r = TB__GW_ETRUNC; /* Go: unexpected EOF (no eof code) */
                goto done;
            }
            bits |= (uint32_t)in[pos++] << nbits;
            nbits += 8;
        }
        uint32_t code = bits & ((1u << width) - 1);
        bits >>= width;
        nbits -= width;
        if (code < LZW_CLEAR) {
            if (out->len + 1 > max) {
                r = TB__GW_EOVERSIZE;
                goto done;
            }
            buf_u8(out, (uint8_t)code);
            if (last != LZW_INVALID) {
                suffix[hi] = (uint8_t)code;
                prefix[hi] = (uint16_t)last;
            }
        } else if (code == LZW_CLEAR) {
            width = 9;
            hi = LZW_EOF;
            overflow = 512;
            last = LZW_INVALID;
            continue;
        } else if (code == LZW_EOF) {
            break;
        } else if (code <= hi) {
            uint32_t c = code;
            int i = 4095;
            if (code == hi && last != LZW_INVALID) {
                c = last;
                while (c >= LZW_CLEAR)
                    c = prefix[c];
                tmp[i--] = (uint8_t)c;
                c = last;
            } else if (code == hi) {
                r = TB__GW_EMALFORMED; /* hi is not defined yet */
                goto done;
            }
            while (c >= LZW_CLEAR) {
                if (i < 0) {
                    r = TB__GW_EMALFORMED;
                    goto done;
                }
                tmp[i--] = suffix[c];
                c = prefix[c];
            }
            if (i < 0) {
                r = TB__GW_EMALFORMED;
                goto done;
            }
            tmp[i] = (uint8_t)c;
            size_t cnt = 4096 - (size_t)i;
            if (out->len + cnt > max) {
                r = TB__GW_EOVERSIZE;
                goto done;
            }
            tb__gw_buf_put(out, tmp + i, cnt);
            if (last != LZW_INVALID) {
                suffix[hi] = (uint8_t)c;
                prefix[hi] = (uint16_t)last;
            }
        } else {
            r = TB__GW_EMALFORMED; /* invalid code */
            goto done;
        }
        last = code;
        hi++;
        if (hi >= overflow) {
            if (width == LZW_MAX_WIDTH) {
                last = LZW_INVALID;
                hi--;
            } else {
                width++;
                overflow = 1u << width;
            }
        }
    }
    if (out->oom)
        r = TB__GW_ENOMEM;
done:
    free(prefix);
    free(suffix);
    free(tmp);
    return r;
}

/* Go's compress/lzw writer, same hash table so the codes (and therefore
 * the bytes) are identical. */
#define LZW_TABLE 16384u
#define LZW_MAXCODE 4095u

typedef struct {
    tb__gw_buf_t *out;
    uint32_t bits, nbits, width, hi, overflow;
    uint32_t *table;
} lzw_w;

static void lzw_put(lzw_w *w, uint32_t c)
{
    w->bits |= c << w->nbits;
    w->nbits += w->width;
    while (w->nbits >= 8) {
        buf_u8(w->out, (uint8_t)w->bits);
        w->bits >>= 8;
        w->nbits -= 8;
    }
}

/* Returns true when the code space ran out and the table was reset. */
static bool lzw_inc_hi(lzw_w *w)
{
    w->hi++;
    if (w->hi == w->overflow) {
        w->width++;
        w->overflow <<= 1;
    }
    if (w->hi == LZW_MAXCODE) {
        lzw_put(w, LZW_CLEAR);
        w->width = 9;
        w->hi = LZW_EOF;
        w->overflow = 512;
        memset(w->table, 0, LZW_TABLE * sizeof *w->table);
        return true;
    }
    return false;
}

int tb__gw_lzw_encode(const uint8_t *in, size_t n, tb__gw_buf_t *out)
{
    lzw_w w = { out, 0, 0, 9, LZW_EOF, 512, calloc(LZW_TABLE, sizeof(uint32_t)) };
    if (!w.table)
        return TB__GW_ENOMEM;
    lzw_put(&w, LZW_CLEAR);
    if (n > 0) {
        uint32_t code = in[0];
        for (size_t k = 1; k < n; k++) {
            uint32_t lit = in[k], key = code << 8 | lit;
            uint32_t hash = ((key >> 12) ^ key) & (LZW_TABLE - 1);
            bool hit = false;
            for (uint32_t h = hash, t = w.table[hash]; t != 0;) {
                if (key == t >> 12) {
                    code = t & LZW_MAXCODE;
                    hit = true;
                    break;
                }
                h = (h + 1) & (LZW_TABLE - 1);
                t = w.table[h];
            }
            if (hit)
                continue;
            lzw_put(&w, code);
            code = lit;
            if (lzw_inc_hi(&w))
                continue;
            for (;;) {
                if (w.table[hash] == 0) {
                    w.table[hash] = (key << 12) | w.hi;
                    break;
                }
                hash = (hash + 1) & (LZW_TABLE - 1);
            }
        }
        lzw_put(&w, code);
        lzw_inc_hi(&w);
    }
    lzw_put(&w, LZW_EOF);
    if (w.nbits > 0)
        buf_u8(out, (uint8_t)w.bits);
    free(w.table);
    return pk_done(out);
}

int tb__gw_compress_open(const uint8_t *buf, size_t len, size_t max, tb__gw_buf_t *out)
{
    if (len < 1 || buf[0] != TB__GW_COMPRESS)
        return TB__GW_ETYPE;
    msgpack_unpacked u;
    int r = mp_unpack(&u, buf, len, 1, NULL);
    if (r)
        return r;
    uint64_t algo = 0;
    tb__gw_bytes_t data;
    if (u.data.type != MSGPACK_OBJECT_MAP || get_uint(&u.data, "Algo", UINT8_MAX, &algo) ||
        get_bytes(&u.data, "Buf", &data))
        r = TB__GW_EMALFORMED;
    else if (algo != 0)
        r = TB__GW_EMALFORMED; /* "Cannot decompress unknown algorithm" */
    else
        r = tb__gw_lzw_decode(data.p, data.n, max, out);
    msgpack_unpacked_destroy(&u);
    return r;
}

int tb__gw_compress_wrap(const uint8_t *msg, size_t len, tb__gw_buf_t *out)
{
    tb__gw_buf_t z;
    tb__gw_buf_init(&z);
    int r = tb__gw_lzw_encode(msg, len, &z);
    if (!r) {
        msgpack_packer pk;
        pk_init(&pk, out);
        buf_u8(out, TB__GW_COMPRESS);
        msgpack_pack_map(&pk, 2);
        pk_key(&pk, "Algo");
        msgpack_pack_uint64(&pk, 0);
        pk_key(&pk, "Buf");
        tb__gw_bytes_t b = { z.data ? z.data : (const uint8_t *)"", z.len };
        pk_bytes(&pk, b);
        r = pk_done(out);
    }
    tb__gw_buf_free(&z);
    return r;
}

/* ----------------------------------------------------------- keyring */

void tb__gw_keyring_init(tb__gw_keyring_t *kr)
{
    memset(kr, 0, sizeof *kr);
}

static int key_find(const tb__gw_keyring_t *kr, const uint8_t *key, size_t len)
{
    for (int i = 0; i < kr->n; i++)
        if (kr->key_len[i] == len && memcmp(kr->key[i], key, len) == 0)
            return i;
    return -1;
}

int tb__gw_keyring_add(tb__gw_keyring_t *kr, const uint8_t *key, size_t len)
{
    if (len != 16 && len != 24 && len != 32)
        return TB__GW_EMALFORMED;
    if (key_find(kr, key, len) >= 0)
        return 0;
    if (kr->n >= TB__GW_KEYS_MAX)
        return TB__GW_EOVERSIZE;
    memcpy(kr->key[kr->n], key, len);
    kr->key_len[kr->n++] = (uint8_t)len;
    return 0;
}

int tb__gw_keyring_add_base64(tb__gw_keyring_t *kr, const char *b64)
{
    uint8_t out[48];
    size_t n = strlen(b64);
    while (n && (b64[n - 1] == '\n' || b64[n - 1] == '\r' || b64[n - 1] == ' '))
        n--;
    if (n == 0 || n > 64 || n % 4)
        return TB__GW_EMALFORMED;
    int len = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)n);
    if (len < 0)
        return TB__GW_EMALFORMED;
    if (b64[n - 1] == '=')
        len--;
    if (n >= 2 && b64[n - 2] == '=')
        len--;
    return tb__gw_keyring_add(kr, out, (size_t)len);
}

int tb__gw_keyring_use(tb__gw_keyring_t *kr, const uint8_t *key, size_t len)
{
    int i = key_find(kr, key, len);
    if (i < 0)
        return TB__GW_EKEY;
    uint8_t k[32];
    uint8_t l = kr->key_len[i];
    memcpy(k, kr->key[i], l);
    for (; i > 0; i--) {
        memcpy(kr->key[i], kr->key[i - 1], 32);
        kr->key_len[i] = kr->key_len[i - 1];
    }
    memcpy(kr->key[0], k, l);
    kr->key_len[0] = l;
    return 0;
}

int tb__gw_keyring_remove(tb__gw_keyring_t *kr, const uint8_t *key, size_t len)
{
    int i = key_find(kr, key, len);
    if (i < 0)
        return TB__GW_EKEY;
    if (i == 0)
        return TB__GW_EMALFORMED; /* "Removing the primary key is not allowed" */
    for (; i + 1 < kr->n; i++) {
        memcpy(kr->key[i], kr->key[i + 1], 32);
        kr->key_len[i] = kr->key_len[i + 1];
    }
    kr->n--;
    return 0;
}

/* --------------------------------------------------------- AES-GCM */

static const EVP_CIPHER *gcm_for(size_t keylen)
{
    return keylen == 16 ? EVP_aes_128_gcm() : keylen == 24 ? EVP_aes_192_gcm()
                                                           : EVP_aes_256_gcm();
}

/* in = ciphertext || tag. Returns 0 on success. */
static int gcm_open1(const uint8_t *key, size_t keylen, const uint8_t *nonce,
                     const uint8_t *in, size_t n, const uint8_t *aad, size_t aad_len,
                     uint8_t *out)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int ok = 0, l;
    if (!c)
        return TB__GW_ENOMEM;
    size_t ct = n - 16;
    ok = EVP_DecryptInit_ex(c, gcm_for(keylen), NULL, key, nonce) == 1 &&
         (aad_len == 0 || EVP_DecryptUpdate(c, NULL, &l, aad, (int)aad_len) == 1) &&
         (ct == 0 || EVP_DecryptUpdate(c, out, &l, in, (int)ct) == 1) &&
         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, (void *)(in + ct)) == 1 &&
         EVP_DecryptFinal_ex(c, out + ct, &l) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : TB__GW_EKEY;
}

int tb__gw_open(const tb__gw_keyring_t *kr, const uint8_t *buf, size_t len,
                const uint8_t *aad, size_t aad_len, tb__gw_buf_t *out, int *key_index)
{
    if (!kr || kr->n == 0)
        return TB__GW_EKEY;
    if (len < TB__GW_ENC_OVERHEAD)
        return TB__GW_ETRUNC;
    if (buf[0] > 1)
        return TB__GW_EKEY; /* unknown encryption version */
    if (len - 13 > INT32_MAX)
        return TB__GW_EOVERSIZE;
    size_t ct = len - TB__GW_ENC_OVERHEAD;
    out->len = 0;
    if (buf_reserve(out, ct + 1))
        return TB__GW_ENOMEM;
    for (int i = 0; i < kr->n; i++) {
        if (gcm_open1(kr->key[i], kr->key_len[i], buf + 1, buf + 13, len - 13, aad, aad_len,
                      out->data) == 0) {
            out->len = ct;
            if (buf[0] == 0) { /* PKCS#7 padding */
                uint8_t p = ct ? out->data[ct - 1] : 0;
                if (p == 0 || p > 16 || p > ct)
                    return TB__GW_EMALFORMED;
                out->len = ct - p;
            }
            if (key_index)
                *key_index = i;
            return 0;
        }
    }
    return TB__GW_EKEY;
}

int tb__gw_seal(const tb__gw_keyring_t *kr, int version, const uint8_t nonce[12],
                const uint8_t *msg, size_t len, const uint8_t *aad, size_t aad_len,
                tb__gw_buf_t *out)
{
    if (!kr || kr->n == 0)
        return TB__GW_EKEY;
    if (len > INT32_MAX - 32)
        return TB__GW_EOVERSIZE;
    size_t pad = version == 0 ? 16 - len % 16 : 0;
    size_t pt = len + pad;
    if (buf_reserve(out, 1 + 12 + pt + 16 + 16))
        return TB__GW_ENOMEM;
    uint8_t *o = out->data + out->len;
    o[0] = (uint8_t)version;
    memcpy(o + 1, nonce, 12);
    uint8_t *plain = o + 13;
    if (len)
        memmove(plain, msg, len);
    memset(plain + len, (int)pad, pad);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int l, ok;
    if (!c)
        return TB__GW_ENOMEM;
    ok = EVP_EncryptInit_ex(c, gcm_for(kr->key_len[0]), NULL, kr->key[0], nonce) == 1 &&
         (aad_len == 0 || EVP_EncryptUpdate(c, NULL, &l, aad, (int)aad_len) == 1) &&
         (pt == 0 || EVP_EncryptUpdate(c, plain, &l, plain, (int)pt) == 1) &&
         EVP_EncryptFinal_ex(c, plain + pt, &l) == 1 &&
         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, plain + pt) == 1;
    EVP_CIPHER_CTX_free(c);
    if (!ok)
        return TB__GW_EKEY;
    out->len += 13 + pt + 16;
    return 0;
}

int tb__gw_frame_open_label(const tb__gw_keyring_t *kr, const uint8_t *buf, size_t len,
                            const uint8_t *label, size_t label_len, tb__gw_buf_t *out,
                            size_t *used, int *key_index)
{
    if (len < 5)
        return TB__GW_ETRUNC;
    if (buf[0] != TB__GW_ENCRYPT)
        return TB__GW_EKEY;
    if (label_len > 255)
        return TB__GW_EOVERSIZE;
    uint32_t n = rd_be(buf + 1, 4);
    if (n > TB__GW_STREAM_MAX)
        return TB__GW_EOVERSIZE;
    if (len - 5 < n)
        return TB__GW_ETRUNC;
    uint8_t aad[5 + 255];
    memcpy(aad, buf, 5);
    if (label_len)
        memcpy(aad + 5, label, label_len);
    int r = tb__gw_open(kr, buf + 5, n, aad, 5 + label_len, out, key_index);
    if (r == TB__GW_ETRUNC)
        r = TB__GW_EMALFORMED; /* the frame is complete but too short */
    if (!r && used)
        *used = 5 + (size_t)n;
    return r;
}

int tb__gw_frame_open(const tb__gw_keyring_t *kr, const uint8_t *buf, size_t len,
                      tb__gw_buf_t *out, size_t *used, int *key_index)
{
    return tb__gw_frame_open_label(kr, buf, len, NULL, 0, out, used, key_index);
}

int tb__gw_frame_seal_label(const tb__gw_keyring_t *kr, const uint8_t nonce[12],
                            const uint8_t *msg, size_t len, const uint8_t *label,
                            size_t label_len, tb__gw_buf_t *out)
{
    uint8_t aad[5 + 255];
    size_t n = 1 + 12 + len + 16;
    if (n > TB__GW_STREAM_MAX || label_len > 255)
        return TB__GW_EOVERSIZE;
    aad[0] = TB__GW_ENCRYPT;
    aad[1] = (uint8_t)(n >> 24);
    aad[2] = (uint8_t)(n >> 16);
    aad[3] = (uint8_t)(n >> 8);
    aad[4] = (uint8_t)n;
    if (label_len)
        memcpy(aad + 5, label, label_len);
    tb__gw_buf_put(out, aad, 5);
    return tb__gw_seal(kr, 1, nonce, msg, len, aad, 5 + label_len, out);
}

int tb__gw_frame_seal(const tb__gw_keyring_t *kr, const uint8_t nonce[12], const uint8_t *msg,
                      size_t len, tb__gw_buf_t *out)
{
    return tb__gw_frame_seal_label(kr, nonce, msg, len, NULL, 0, out);
}

int tb__gw_label_wrap(const uint8_t *label, size_t label_len, tb__gw_buf_t *out)
{
    if (label_len == 0 || label_len > 255)
        return TB__GW_EOVERSIZE;
    buf_u8(out, TB__GW_HAS_LABEL);
    buf_u8(out, (uint8_t)label_len);
    tb__gw_buf_put(out, label, label_len);
    return pk_done(out);
}

int tb__gw_label_strip(const uint8_t *buf, size_t len, tb__gw_bytes_t *label,
                       tb__gw_bytes_t *rest)
{
    label->p = NULL;
    label->n = 0;
    rest->p = buf;
    rest->n = len;
    if (len < 1 || buf[0] != TB__GW_HAS_LABEL)
        return 0;
    if (len < 2 || len < 2u + buf[1])
        return TB__GW_ETRUNC;
    if (buf[1] == 0)
        return TB__GW_EMALFORMED; /* "label header cannot be empty when present" */
    label->p = buf + 2;
    label->n = buf[1];
    rest->p = buf + 2 + buf[1];
    rest->n = len - 2 - buf[1];
    return 0;
}

/* ------------------------------------------------------------ push/pull */

static int node_state_decode(const msgpack_object *o, tb__gw_node_state_t *ns)
{
    uint64_t st;
    memset(ns, 0, sizeof *ns);
    if (o->type != MSGPACK_OBJECT_MAP)
        return TB__GW_EMALFORMED;
    if (get_bytes(o, "Name", &ns->name) || get_bytes(o, "Addr", &ns->addr) ||
        get_bytes(o, "Meta", &ns->meta) || get_u32(o, "Incarnation", &ns->incarnation) ||
        get_u16(o, "Port", &ns->port) || get_uint(o, "State", 255, &st) ||
        get_vsn(o, ns->vsn, &ns->vsn_len))
        return TB__GW_EMALFORMED;
    ns->state = (uint8_t)st;
    return 0;
}

int tb__gw_push_pull_decode(const uint8_t *buf, size_t len, tb__gw_push_pull_t *pp,
                            size_t *used)
{
    memset(pp, 0, sizeof *pp);
    if (len < 1)
        return TB__GW_ETRUNC;
    if (buf[0] != TB__GW_PUSH_PULL)
        return TB__GW_ETYPE;
    msgpack_unpacked u;
    size_t pos;
    int r = mp_unpack(&u, buf, len, 1, &pos);
    if (r)
        return r;
    uint64_t nodes = 0, ulen = 0;
    if (u.data.type != MSGPACK_OBJECT_MAP || get_bool(&u.data, "Join", &pp->join) ||
        get_uint(&u.data, "Nodes", INT32_MAX, &nodes) ||
        get_uint(&u.data, "UserStateLen", INT32_MAX, &ulen))
        r = TB__GW_EMALFORMED;
    msgpack_unpacked_destroy(&u);
    if (r)
        return r;
    if (ulen > TB__GW_STREAM_MAX || nodes > TB__GW_STREAM_MAX / 8)
        return TB__GW_EOVERSIZE;
    if (nodes > len - pos) /* each state takes at least one byte */
        return TB__GW_ETRUNC;
    pp->nodes = calloc(nodes ? nodes : 1, sizeof *pp->nodes);
    if (!pp->nodes)
        return TB__GW_ENOMEM;
    for (uint64_t i = 0; i < nodes; i++) {
        r = mp_unpack(&u, buf, len, pos, &pos);
        if (r)
            goto fail;
        r = node_state_decode(&u.data, &pp->nodes[i]);
        msgpack_unpacked_destroy(&u);
        if (r)
            goto fail;
        pp->n_nodes++;
    }
    if (len - pos < ulen) {
        r = TB__GW_ETRUNC;
        goto fail;
    }
    pp->user_state.p = ulen ? buf + pos : NULL;
    pp->user_state.n = ulen;
    if (used)
        *used = pos + ulen;
    return 0;
fail:
    tb__gw_push_pull_free(pp);
    return r;
}

void tb__gw_push_pull_free(tb__gw_push_pull_t *pp)
{
    free(pp->nodes);
    memset(pp, 0, sizeof *pp);
}

int tb__gw_push_pull_encode(bool join, const tb__gw_node_state_t *nodes, size_t n,
                            const uint8_t *user, size_t user_len, tb__gw_buf_t *out)
{
    msgpack_packer pk;
    pk_init(&pk, out);
    buf_u8(out, TB__GW_PUSH_PULL);
    msgpack_pack_map(&pk, 3);
    pk_key(&pk, "Join");
    pk_bool(&pk, join);
    pk_key(&pk, "Nodes");
    msgpack_pack_uint64(&pk, n);
    pk_key(&pk, "UserStateLen");
    msgpack_pack_uint64(&pk, user_len);
    for (size_t i = 0; i < n; i++) {
        const tb__gw_node_state_t *s = &nodes[i];
        msgpack_pack_map(&pk, 7);
        pk_key(&pk, "Addr");
        pk_bytes(&pk, s->addr);
        pk_key(&pk, "Incarnation");
        msgpack_pack_uint64(&pk, s->incarnation);
        pk_key(&pk, "Meta");
        pk_bytes(&pk, s->meta);
        pk_key(&pk, "Name");
        pk_string(&pk, s->name);
        pk_key(&pk, "Port");
        msgpack_pack_uint64(&pk, s->port);
        pk_key(&pk, "State");
        msgpack_pack_uint64(&pk, s->state);
        pk_key(&pk, "Vsn");
        tb__gw_bytes_t v = { s->vsn, s->vsn_len };
        pk_bytes(&pk, v);
    }
    tb__gw_buf_put(out, user, user_len);
    return pk_done(out);
}

/* -------------------------------------------------------------- streams */

int tb__gw_stream_decode(const tb__gw_keyring_t *kr, bool verify_incoming, const uint8_t *buf,
                         size_t len, tb__gw_stream_msg_t *sm)
{
    memset(sm, 0, sizeof *sm);
    tb__gw_buf_init(&sm->plain);
    if (len < 1)
        return TB__GW_ETRUNC;
    const uint8_t *p = buf;
    size_t n = len;
    int r;
    if (buf[0] == TB__GW_ENCRYPT) {
        if (!kr || kr->n == 0)
            return TB__GW_EKEY; /* remote state is encrypted, we have no key */
        int ki;
        if ((r = tb__gw_frame_open(kr, buf, len, &sm->plain, NULL, &ki)))
            return r;
        sm->encrypted = true;
        sm->enc_version = buf[5];
        p = sm->plain.data;
        n = sm->plain.len;
    } else if (kr && kr->n > 0 && verify_incoming) {
        return TB__GW_EKEY; /* encryption configured, remote is clear */
    }
    if (n < 1)
        return TB__GW_EMALFORMED;
    if (p[0] == TB__GW_COMPRESS) {
        tb__gw_buf_t z;
        tb__gw_buf_init(&z);
        r = tb__gw_compress_open(p, n, TB__GW_STREAM_MAX, &z);
        if (r) {
            tb__gw_buf_free(&z);
            return r == TB__GW_ETRUNC && !sm->encrypted ? r : (r == TB__GW_ETRUNC ?
                                                               TB__GW_EMALFORMED : r);
        }
        tb__gw_buf_free(&sm->plain);
        sm->plain = z;
        sm->compressed = true;
        p = z.data;
        n = z.len;
        if (n < 1)
            return TB__GW_EMALFORMED;
    }
    sm->type = p[0];
    switch (p[0]) {
    case TB__GW_PUSH_PULL:
        r = tb__gw_push_pull_decode(p, n, &sm->pp, NULL);
        break;
    case TB__GW_PING:
    case TB__GW_ACK:
    case TB__GW_ERR:
        r = tb__gw_msg_decode(p, n, &sm->msg);
        break;
    case TB__GW_USER: {
        msgpack_unpacked u;
        size_t pos;
        uint64_t ul = 0;
        r = mp_unpack(&u, p, n, 1, &pos);
        if (r)
            break;
        if (u.data.type != MSGPACK_OBJECT_MAP || get_uint(&u.data, "UserMsgLen", INT32_MAX, &ul))
            r = TB__GW_EMALFORMED;
        msgpack_unpacked_destroy(&u);
        if (!r && ul > TB__GW_STREAM_MAX)
            r = TB__GW_EOVERSIZE;
        else if (!r && n - pos < ul)
            r = TB__GW_ETRUNC;
        if (!r) {
            sm->user.p = p + pos;
            sm->user.n = ul;
        }
        break;
    }
    default:
        r = TB__GW_ETYPE;
    }
    /* Inside a complete frame or a decompressed buffer nothing more can come. */
    if (r == TB__GW_ETRUNC && (sm->encrypted || sm->compressed))
        r = TB__GW_EMALFORMED;
    return r;
}

void tb__gw_stream_msg_free(tb__gw_stream_msg_t *sm)
{
    tb__gw_push_pull_free(&sm->pp);
    tb__gw_buf_free(&sm->plain);
}

/* ---------------------------------------------------------------- tags */

int tb__gw_tags_decode(const uint8_t *meta, size_t len, tb__gw_tag_t *tags, int max)
{
    if (len == 0)
        return 0;
    if (meta[0] != 0xff) {
        if (max < 1)
            return TB__GW_EOVERSIZE;
        tags[0].key.p = (const uint8_t *)"role";
        tags[0].key.n = 4;
        tags[0].value.p = meta;
        tags[0].value.n = len;
        return 1;
    }
    msgpack_unpacked u;
    int r = mp_unpack(&u, meta, len, 1, NULL);
    if (r)
        return r;
    int n = 0;
    if (u.data.type == MSGPACK_OBJECT_NIL) {
        n = 0;
    } else if (u.data.type != MSGPACK_OBJECT_MAP) {
        n = TB__GW_EMALFORMED;
    } else {
        for (uint32_t i = 0; i < u.data.via.map.size; i++) {
            const msgpack_object *k = &u.data.via.map.ptr[i].key, *v = &u.data.via.map.ptr[i].val;
            if ((k->type != MSGPACK_OBJECT_STR && k->type != MSGPACK_OBJECT_BIN) ||
                (v->type != MSGPACK_OBJECT_STR && v->type != MSGPACK_OBJECT_BIN &&
                 v->type != MSGPACK_OBJECT_NIL)) {
                n = TB__GW_EMALFORMED;
                break;
            }
            if (n >= max) {
                n = TB__GW_EOVERSIZE;
                break;
            }
            /* str and bin share the layout of their union members */
            tags[n].key.p = (const uint8_t *)k->via.str.ptr;
            tags[n].key.n = k->via.str.size;
            tags[n].value.p = v->type == MSGPACK_OBJECT_NIL ? (const uint8_t *)""
                                                            : (const uint8_t *)v->via.str.ptr;
            tags[n].value.n = v->type == MSGPACK_OBJECT_NIL ? 0 : v->via.str.size;
            n++;
        }
    }
    msgpack_unpacked_destroy(&u);
    return n;
}

int tb__gw_tags_encode(const tb__gw_tag_t *tags, int n, tb__gw_buf_t *out)
{
    msgpack_packer pk;
    pk_init(&pk, out);
    buf_u8(out, 0xff);
    msgpack_pack_map(&pk, (size_t)n);
    for (int i = 0; i < n; i++) {
        pk_string(&pk, tags[i].key);
        pk_string(&pk, tags[i].value);
    }
    return pk_done(out);
}

/* ---------------------------------------------------------------- serf */

/* The raw bytes of the value of `key` in the map at buf[off] (already
 * validated by mp_unpack), so a field can be forwarded verbatim. */
static int map_raw_value(const uint8_t *buf, size_t len, size_t off, const char *key,
                         tb__gw_bytes_t *out)
{
    uint8_t c = buf[off];
    size_t pairs, p;
    if (c >= 0x80 && c <= 0x8f) {
        pairs = c & 15;
        p = off + 1;
    } else if (c == 0xde) {
        pairs = rd_be(buf + off + 1, 2);
        p = off + 3;
    } else if (c == 0xdf) {
        pairs = rd_be(buf + off + 1, 4);
        p = off + 5;
    } else {
        return TB__GW_EMALFORMED;
    }
    for (size_t i = 0; i < pairs; i++) {
        size_t ks = p, vs;
        if (mp_check(buf, len, &p, 0))
            return TB__GW_EMALFORMED;
        vs = p;
        if (mp_check(buf, len, &p, 0))
            return TB__GW_EMALFORMED;
        const uint8_t *k = buf + ks;
        size_t kl = strlen(key);
        /* keys are short strings: fixstr, str8 or bin8 */
        if ((k[0] == (0xa0 | kl) && vs - ks == kl + 1 && !memcmp(k + 1, key, kl)) ||
            ((k[0] == 0xd9 || k[0] == 0xc4) && k[1] == kl && vs - ks == kl + 2 &&
             !memcmp(k + 2, key, kl))) {
            out->p = buf + vs;
            out->n = p - vs;
            return 0;
        }
    }
    return 0;
}

int tb__gw_serf_decode(const uint8_t *buf, size_t len, tb__gw_serf_msg_t *m)
{
    memset(m, 0, sizeof *m);
    if (len < 1)
        return TB__GW_ETRUNC;
    m->type = buf[0];
    if (m->type > TB__SERF_RELAY || m->type == TB__SERF_PUSH_PULL ||
        m->type == TB__SERF_CONFLICT_RESPONSE || m->type == TB__SERF_KEY_RESPONSE)
        return TB__GW_ETYPE; /* unknown, or never sent on its own */
    msgpack_unpacked u;
    size_t end;
    int r = mp_unpack(&u, buf, len, 1, &end);
    if (r)
        return r;
    const msgpack_object *o = &u.data;
    if (o->type != MSGPACK_OBJECT_MAP) {
        msgpack_unpacked_destroy(&u);
        return TB__GW_EMALFORMED;
    }
    uint64_t rf = 0;
    switch (m->type) {
    case TB__SERF_LEAVE:
        r = get_bool(o, "Prune", &m->prune);
        /* fall through */
    case TB__SERF_JOIN:
        r = r || get_uint(o, "LTime", UINT64_MAX, &m->ltime) || get_bytes(o, "Node", &m->node);
        break;
    case TB__SERF_USER_EVENT:
        r = get_bool(o, "CC", &m->cc) || get_uint(o, "LTime", UINT64_MAX, &m->ltime) ||
            get_bytes(o, "Name", &m->name) || get_bytes(o, "Payload", &m->payload);
        break;
    case TB__SERF_QUERY: {
        const msgpack_object *f = map_get(o, "Filters");
        r = get_bytes(o, "Addr", &m->addr) || get_u32(o, "Flags", &m->flags) ||
            get_u32(o, "ID", &m->id) || get_uint(o, "LTime", UINT64_MAX, &m->ltime) ||
            get_bytes(o, "Name", &m->name) || get_bytes(o, "Payload", &m->payload) ||
            get_u16(o, "Port", &m->port) || get_uint(o, "RelayFactor", 255, &rf) ||
            get_bytes(o, "SourceNode", &m->source_node) ||
            get_i64(o, "Timeout", &m->timeout_ns);
        m->relay_factor = (uint8_t)rf;
        if (!r && f && f->type != MSGPACK_OBJECT_NIL) {
            if (f->type != MSGPACK_OBJECT_ARRAY) {
                r = TB__GW_EMALFORMED;
            } else {
                r = map_raw_value(buf, end, 1, "Filters", &m->filters);
            }
        }
        break;
    }
    case TB__SERF_QUERY_RESPONSE:
        r = get_u32(o, "Flags", &m->flags) || get_bytes(o, "From", &m->from) ||
            get_u32(o, "ID", &m->id) || get_uint(o, "LTime", UINT64_MAX, &m->ltime) ||
            get_bytes(o, "Payload", &m->payload);
        break;
    case TB__SERF_KEY_REQUEST:
        r = get_bytes(o, "Key", &m->key);
        break;
    case TB__SERF_RELAY: {
        const msgpack_object *d = map_get(o, "DestAddr");
        r = get_bytes(o, "DestName", &m->dest_name);
        if (!r && d && d->type != MSGPACK_OBJECT_NIL)
            r = d->type != MSGPACK_OBJECT_MAP || get_bytes(d, "IP", &m->dest_ip) ||
                get_u16(d, "Port", &m->dest_port) || get_bytes(d, "Zone", &m->dest_zone);
        m->inner.p = buf + end;
        m->inner.n = len - end;
        break;
    }
    default:
        r = TB__GW_ETYPE;
    }
    msgpack_unpacked_destroy(&u);
    return r ? TB__GW_EMALFORMED : 0;
}

int tb__gw_serf_encode(const tb__gw_serf_msg_t *m, tb__gw_buf_t *out)
{
    msgpack_packer pk;
    pk_init(&pk, out);
    buf_u8(out, m->type);
    switch (m->type) {
    case TB__SERF_JOIN:
    case TB__SERF_LEAVE:
        msgpack_pack_map(&pk, m->type == TB__SERF_LEAVE ? 3 : 2);
        pk_key(&pk, "LTime");
        msgpack_pack_uint64(&pk, m->ltime);
        pk_key(&pk, "Node");
        pk_string(&pk, m->node);
        if (m->type == TB__SERF_LEAVE) {
            pk_key(&pk, "Prune");
            pk_bool(&pk, m->prune);
        }
        break;
    case TB__SERF_USER_EVENT:
        msgpack_pack_map(&pk, 4);
        pk_key(&pk, "CC");
        pk_bool(&pk, m->cc);
        pk_key(&pk, "LTime");
        msgpack_pack_uint64(&pk, m->ltime);
        pk_key(&pk, "Name");
        pk_string(&pk, m->name);
        pk_key(&pk, "Payload");
        pk_bytes(&pk, m->payload);
        break;
    case TB__SERF_QUERY:
        msgpack_pack_map(&pk, 11);
        pk_key(&pk, "Addr");
        pk_bytes(&pk, m->addr);
        pk_key(&pk, "Filters");
        if (m->filters.p)
            tb__gw_buf_put(out, m->filters.p, m->filters.n);
        else
            msgpack_pack_nil(&pk);
        pk_key(&pk, "Flags");
        msgpack_pack_uint64(&pk, m->flags);
        pk_key(&pk, "ID");
        msgpack_pack_uint64(&pk, m->id);
        pk_key(&pk, "LTime");
        msgpack_pack_uint64(&pk, m->ltime);
        pk_key(&pk, "Name");
        pk_string(&pk, m->name);
        pk_key(&pk, "Payload");
        pk_bytes(&pk, m->payload);
        pk_key(&pk, "Port");
        msgpack_pack_uint64(&pk, m->port);
        pk_key(&pk, "RelayFactor");
        msgpack_pack_uint64(&pk, m->relay_factor);
        pk_key(&pk, "SourceNode");
        pk_string(&pk, m->source_node);
        pk_key(&pk, "Timeout");
        msgpack_pack_int64(&pk, m->timeout_ns);
        break;
    case TB__SERF_QUERY_RESPONSE:
        msgpack_pack_map(&pk, 5);
        pk_key(&pk, "Flags");
        msgpack_pack_uint64(&pk, m->flags);
        pk_key(&pk, "From");
        pk_string(&pk, m->from);
        pk_key(&pk, "ID");
        msgpack_pack_uint64(&pk, m->id);
        pk_key(&pk, "LTime");
        msgpack_pack_uint64(&pk, m->ltime);
        pk_key(&pk, "Payload");
        pk_bytes(&pk, m->payload);
        break;
    case TB__SERF_KEY_REQUEST:
        msgpack_pack_map(&pk, 1);
        pk_key(&pk, "Key");
        pk_bytes(&pk, m->key);
        break;
    case TB__SERF_RELAY:
        msgpack_pack_map(&pk, 2);
        pk_key(&pk, "DestAddr");
        msgpack_pack_map(&pk, 3);
        pk_key(&pk, "IP");
        pk_bytes(&pk, m->dest_ip);
        pk_key(&pk, "Port");
        msgpack_pack_uint64(&pk, m->dest_port);
        pk_key(&pk, "Zone");
        pk_string(&pk, m->dest_zone);
        pk_key(&pk, "DestName");
        pk_string(&pk, m->dest_name);
        tb__gw_buf_put(out, m->inner.p, m->inner.n);
        break;
    default:
        return TB__GW_ETYPE;
    }
    return pk_done(out);
}

int tb__gw_filters_decode(tb__gw_bytes_t filters, tb__gw_filter_t *out, int max)
{
    if (!filters.p)
        return 0;
    msgpack_unpacked u;
    int r = mp_unpack(&u, filters.p, filters.n, 0, NULL);
    if (r)
        return r;
    int n = 0;
    if (u.data.type != MSGPACK_OBJECT_ARRAY) {
        n = TB__GW_EMALFORMED;
        goto out;
    }
    for (uint32_t i = 0; i < u.data.via.array.size; i++) {
        const msgpack_object *e = &u.data.via.array.ptr[i];
        if (n >= max) {
            n = TB__GW_EOVERSIZE;
            goto out;
        }
        if ((e->type != MSGPACK_OBJECT_STR && e->type != MSGPACK_OBJECT_BIN) ||
            e->via.str.size < 1) {
            n = TB__GW_EMALFORMED;
            goto out;
        }
        const uint8_t *fb = (const uint8_t *)e->via.str.ptr;
        size_t fl = e->via.str.size;
        tb__gw_filter_t *f = &out[n];
        memset(f, 0, sizeof *f);
        f->type = fb[0];
        msgpack_unpacked fu;
        if (mp_unpack(&fu, fb, fl, 1, NULL)) {
            n = TB__GW_EMALFORMED;
            goto out;
        }
        int bad = 0;
        if (f->type == 0 && fu.data.type == MSGPACK_OBJECT_ARRAY) {
            for (uint32_t k = 0; k < fu.data.via.array.size; k++) {
                const msgpack_object *s = &fu.data.via.array.ptr[k];
                if ((s->type != MSGPACK_OBJECT_STR && s->type != MSGPACK_OBJECT_BIN) ||
                    f->n_names >= 16) {
                    bad = 1;
                    break;
                }
                f->names[f->n_names].p = (const uint8_t *)s->via.str.ptr;
                f->names[f->n_names++].n = s->via.str.size;
            }
        } else if (f->type == 1 && fu.data.type == MSGPACK_OBJECT_MAP) {
            bad = get_bytes(&fu.data, "Tag", &f->tag) || get_bytes(&fu.data, "Expr", &f->expr);
        } else {
            bad = 1;
        }
        msgpack_unpacked_destroy(&fu);
        if (bad) {
            n = TB__GW_EMALFORMED;
            goto out;
        }
        n++;
    }
out:
    msgpack_unpacked_destroy(&u);
    return n;
}

/* serf push/pull user state */

int tb__gw_serf_pp_decode(const uint8_t *buf, size_t len, tb__gw_serf_pp_t *pp)
{
    memset(pp, 0, sizeof *pp);
    if (len < 1)
        return TB__GW_ETRUNC;
    if (buf[0] != TB__SERF_PUSH_PULL)
        return TB__GW_ETYPE;
    msgpack_unpacked u;
    int r = mp_unpack(&u, buf, len, 1, NULL);
    if (r)
        return r;
    const msgpack_object *o = &u.data, *x;
    if (o->type != MSGPACK_OBJECT_MAP || get_uint(o, "LTime", UINT64_MAX, &pp->ltime) ||
        get_uint(o, "EventLTime", UINT64_MAX, &pp->event_ltime) ||
        get_uint(o, "QueryLTime", UINT64_MAX, &pp->query_ltime)) {
        r = TB__GW_EMALFORMED;
        goto out;
    }
    if ((x = map_get(o, "LeftMembers")) && x->type != MSGPACK_OBJECT_NIL) {
        if (x->type != MSGPACK_OBJECT_ARRAY) {
            r = TB__GW_EMALFORMED;
            goto out;
        }
        pp->left = calloc(x->via.array.size + 1, sizeof *pp->left);
        if (!pp->left) {
            r = TB__GW_ENOMEM;
            goto out;
        }
        for (uint32_t i = 0; i < x->via.array.size; i++) {
            const msgpack_object *s = &x->via.array.ptr[i];
            if (s->type != MSGPACK_OBJECT_STR && s->type != MSGPACK_OBJECT_BIN) {
                r = TB__GW_EMALFORMED;
                goto out;
            }
            pp->left[pp->n_left].p = (const uint8_t *)s->via.str.ptr;
            pp->left[pp->n_left++].n = s->via.str.size;
        }
    }
    if ((x = map_get(o, "StatusLTimes")) && x->type != MSGPACK_OBJECT_NIL) {
        if (x->type != MSGPACK_OBJECT_MAP) {
            r = TB__GW_EMALFORMED;
            goto out;
        }
        size_t n = x->via.map.size;
        pp->status_name = calloc(n + 1, sizeof *pp->status_name);
        pp->status_ltime = calloc(n + 1, sizeof *pp->status_ltime);
        if (!pp->status_name || !pp->status_ltime) {
            r = TB__GW_ENOMEM;
            goto out;
        }
        for (uint32_t i = 0; i < n; i++) {
            const msgpack_object *k = &x->via.map.ptr[i].key;
            if ((k->type != MSGPACK_OBJECT_STR && k->type != MSGPACK_OBJECT_BIN) ||
                obj_uint(&x->via.map.ptr[i].val, UINT64_MAX, &pp->status_ltime[i])) {
                r = TB__GW_EMALFORMED;
                goto out;
            }
            pp->status_name[i].p = (const uint8_t *)k->via.str.ptr;
            pp->status_name[i].n = k->via.str.size;
            pp->n_status++;
        }
    }
    if ((x = map_get(o, "Events")) && x->type != MSGPACK_OBJECT_NIL) {
        if (x->type != MSGPACK_OBJECT_ARRAY) {
            r = TB__GW_EMALFORMED;
            goto out;
        }
        pp->events_slots = x->via.array.size;
        size_t total = 0;
        for (uint32_t i = 0; i < x->via.array.size; i++) {
            const msgpack_object *ue = &x->via.array.ptr[i], *evs;
            if (ue->type == MSGPACK_OBJECT_NIL)
                continue;
            if (ue->type != MSGPACK_OBJECT_MAP) {
                r = TB__GW_EMALFORMED;
                goto out;
            }
            evs = map_get(ue, "Events");
            if (evs && evs->type == MSGPACK_OBJECT_ARRAY)
                total += evs->via.array.size;
        }
        pp->events = calloc(total + 1, sizeof *pp->events);
        if (!pp->events) {
            r = TB__GW_ENOMEM;
            goto out;
        }
        for (uint32_t i = 0; i < x->via.array.size; i++) {
            const msgpack_object *ue = &x->via.array.ptr[i], *evs;
            uint64_t lt;
            if (ue->type == MSGPACK_OBJECT_NIL)
                continue;
            if (get_uint(ue, "LTime", UINT64_MAX, &lt)) {
                r = TB__GW_EMALFORMED;
                goto out;
            }
            evs = map_get(ue, "Events");
            if (!evs || evs->type == MSGPACK_OBJECT_NIL)
                continue;
            if (evs->type != MSGPACK_OBJECT_ARRAY) {
                r = TB__GW_EMALFORMED;
                goto out;
            }
            for (uint32_t k = 0; k < evs->via.array.size; k++) {
                tb__gw_serf_event_t *e = &pp->events[pp->n_events];
                e->ltime = lt;
                if (evs->via.array.ptr[k].type != MSGPACK_OBJECT_MAP ||
                    get_bytes(&evs->via.array.ptr[k], "Name", &e->name) ||
                    get_bytes(&evs->via.array.ptr[k], "Payload", &e->payload)) {
                    r = TB__GW_EMALFORMED;
                    goto out;
                }
                pp->n_events++;
            }
        }
    }
out:
    msgpack_unpacked_destroy(&u);
    if (r)
        tb__gw_serf_pp_free(pp);
    return r;
}

void tb__gw_serf_pp_free(tb__gw_serf_pp_t *pp)
{
    free(pp->left);
    free(pp->status_name);
    free(pp->status_ltime);
    free(pp->events);
    memset(pp, 0, sizeof *pp);
}

int tb__gw_serf_pp_encode(const tb__gw_serf_pp_t *pp, size_t slots, tb__gw_buf_t *out)
{
    msgpack_packer pk;
    pk_init(&pk, out);
    buf_u8(out, TB__SERF_PUSH_PULL);
    msgpack_pack_map(&pk, 6);
    pk_key(&pk, "EventLTime");
    msgpack_pack_uint64(&pk, pp->event_ltime);
    pk_key(&pk, "Events");
    msgpack_pack_array(&pk, slots);
    for (size_t s = 0; s < slots; s++) {
        /* the events of this slot share one LTime (the newest seen there) */
        uint64_t lt = 0;
        size_t cnt = 0;
        for (size_t i = 0; i < pp->n_events; i++)
            if (pp->events[i].ltime % slots == s && pp->events[i].ltime >= lt)
                lt = pp->events[i].ltime;
        for (size_t i = 0; i < pp->n_events; i++)
            if (pp->events[i].ltime == lt && lt % slots == s)
                cnt++;
        if (!cnt) {
            msgpack_pack_nil(&pk);
            continue;
        }
        msgpack_pack_map(&pk, 2);
        pk_key(&pk, "Events");
        msgpack_pack_array(&pk, cnt);
        for (size_t i = 0; i < pp->n_events; i++) {
            if (pp->events[i].ltime != lt)
                continue;
            msgpack_pack_map(&pk, 2);
            pk_key(&pk, "Name");
            pk_string(&pk, pp->events[i].name);
            pk_key(&pk, "Payload");
            pk_bytes(&pk, pp->events[i].payload);
        }
        pk_key(&pk, "LTime");
        msgpack_pack_uint64(&pk, lt);
    }
    pk_key(&pk, "LTime");
    msgpack_pack_uint64(&pk, pp->ltime);
    pk_key(&pk, "LeftMembers");
    msgpack_pack_array(&pk, pp->n_left);
    for (size_t i = 0; i < pp->n_left; i++)
        pk_string(&pk, pp->left[i]);
    pk_key(&pk, "QueryLTime");
    msgpack_pack_uint64(&pk, pp->query_ltime);
    pk_key(&pk, "StatusLTimes");
    msgpack_pack_map(&pk, pp->n_status);
    for (size_t i = 0; i < pp->n_status; i++) {
        pk_string(&pk, pp->status_name[i]);
        msgpack_pack_uint64(&pk, pp->status_ltime[i]);
    }
    return pk_done(out);
}

/* ---------------------------------------------------------- packet walk */

static int walk(const uint8_t *buf, size_t len, tb__gw_leaf_cb cb, void *ctx, int depth)
{
    if (depth > TB__GW_MAX_DEPTH)
        return TB__GW_EDEPTH;
    if (len < 1)
        return TB__GW_ETRUNC;
    switch (buf[0]) {
    case TB__GW_HAS_CRC: {
        tb__gw_bytes_t in;
        int r = tb__gw_crc_open(buf, len, &in);
        return r ? r : walk(in.p, in.n, cb, ctx, depth + 1);
    }
    case TB__GW_COMPRESS: {
        tb__gw_buf_t z;
        tb__gw_buf_init(&z);
        int r = tb__gw_compress_open(buf, len, TB__GW_UDP_MAX, &z);
        if (r == TB__GW_ETRUNC)
            r = TB__GW_EMALFORMED;
        if (!r)
            r = walk(z.data, z.len, cb, ctx, depth + 1);
        tb__gw_buf_free(&z);
        return r;
    }
    case TB__GW_COMPOUND: {
        tb__gw_bytes_t parts[255];
        int trunc, total = 0;
        int n = tb__gw_compound_split(buf, len, parts, 255, &trunc);
        if (n < 0)
            return n;
        for (int i = 0; i < n; i++) {
            int r = walk(parts[i].p, parts[i].n, cb, ctx, depth + 1);
            if (r < 0)
                return r;
            total += r;
        }
        return total;
    }
    default: {
        int r = cb(ctx, buf, len);
        return r < 0 ? r : 1;
    }
    }
}

int tb__gw_packet_walk(const uint8_t *buf, size_t len, tb__gw_leaf_cb cb, void *ctx)
{
    return walk(buf, len, cb, ctx, 0);
}
