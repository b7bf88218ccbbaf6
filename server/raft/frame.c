/*
 * frame.c - the Raft transport's framing and hello frame (node_int.h),
 * kept free of libuv and of the node so the fuzz target can drive it
 * alone. Everything a peer sends is checked here: frame length against
 * TB_RAFT_MAX_FRAME, the payload's CRC32C, and every hello field's type
 * and size.
 */
#include "tb_autoconf.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raft/le.h"
#include "raft/node_int.h"

void tb__rf_header(uint8_t *hdr, const uint8_t *payload, size_t len)
{
    put32(hdr, (uint32_t)len);
    put32(hdr + 4, tb__crc32c(0, payload, len));
}

void tb__rf_rx_free(tb__rf_rx_t *rx)
{
    free(rx->buf);
    memset(rx, 0, sizeof *rx);
}

int tb__rf_feed(tb__rf_rx_t *rx, const uint8_t *p, size_t n, tb__rf_frame_cb cb, void *ctx,
                char *err, size_t errlen)
{
    if (rx->len + n > rx->cap) {
        size_t nc = rx->cap ? rx->cap : 4096;
        while (nc < rx->len + n) nc *= 2;
        uint8_t *nb = realloc(rx->buf, nc);
        if (!nb) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        rx->buf = nb;
        rx->cap = nc;
    }
    if (n) memcpy(rx->buf + rx->len, p, n);
    rx->len += n;
    size_t off = 0;
    int rc = 0;
    while (rx->len - off >= TB__RF_HDR) {
        uint32_t len = get32(rx->buf + off);
        if (len > TB_RAFT_MAX_FRAME) {
            snprintf(err, errlen, "frame of %u bytes exceeds the %u byte limit", len,
                     TB_RAFT_MAX_FRAME);
            rc = -1;
            break;
        }
        if (rx->len - off - TB__RF_HDR < len) break;
        const uint8_t *payload = rx->buf + off + TB__RF_HDR;
        if (tb__crc32c(0, payload, len) != get32(rx->buf + off + 4)) {
            snprintf(err, errlen, "frame checksum mismatch");
            rc = -1;
            break;
        }
        off += TB__RF_HDR + len;
        if (cb(ctx, payload, len) != 0) {
            snprintf(err, errlen, "malformed frame");
            rc = -1;
            break;
        }
    }
    if (rc == 0 && off) {
        memmove(rx->buf, rx->buf + off, rx->len - off);
        rx->len -= off;
    }
    /* Large buffers of a finished burst are given back. */
    if (rc == 0 && rx->len == 0 && rx->cap > (1u << 20)) tb__rf_rx_free(rx);
    return rc;
}

uint64_t tb__rf_id_of(const char *node_id)
{
    if (!node_id || strlen(node_id) != 36) return 0;
    uint64_t v = 0;
    int digits = 0;
    for (int i = 0; i < 36; i++) {
        char c = node_id[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') return 0;
            continue;
        }
        int d = c >= '0' && c <= '9' ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) return 0;
        if (digits++ < 16) v = v << 4 | (uint64_t)d;
    }
    return v;
}

/* Copy a string member into a fixed buffer; missing is "" when optional. */
static int get_str(json_t *o, const char *k, char *dst, size_t cap, int required)
{
    json_t *v = json_object_get(o, k);
    if (!v) {
        dst[0] = 0;
        return required ? -1 : 0;
    }
    if (!json_is_string(v) || json_string_length(v) >= cap) return -1;
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return strlen(dst) == json_string_length(v) ? 0 : -1; /* no embedded NUL */
}

static int get_int(json_t *o, const char *k, int *dst, int max)
{
    json_t *v = json_object_get(o, k);
    if (!v) {
        *dst = 0;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max) return -1;
    *dst = (int)json_integer_value(v);
    return 0;
}

int tb__rf_hello_decode(const uint8_t *p, size_t n, tb__rf_hello_t *h, char *err, size_t errlen)
{
    memset(h, 0, sizeof *h);
    json_error_t je;
    json_t *o = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &je);
    const char *what = NULL;
    if (!o || !json_is_object(o)) what = "hello is not a JSON object";
    else if (get_int(o, "Version", &h->version, 1000) || h->version == 0) what = "bad hello Version";
    else if (h->version != TB__RF_VERSION) what = "unsupported hello version";
    else if (get_str(o, "ID", h->node_id, sizeof h->node_id, 1) || !tb__rf_id_of(h->node_id))
        what = "bad hello ID";
    else if (get_str(o, "Node", h->name, sizeof h->name, 0)) what = "bad hello Node";
    else if (get_str(o, "Address", h->addr, sizeof h->addr, 1) || !h->addr[0])
        what = "bad hello Address";
    else if (get_str(o, "Datacenter", h->dc, sizeof h->dc, 0)) what = "bad hello Datacenter";
    else if (get_int(o, "Expect", &h->expect, 1000)) what = "bad hello Expect";
    else if (get_int(o, "HasState", &h->has_state, 1)) what = "bad hello HasState";
    json_t *srv = o ? json_object_get(o, "Servers") : NULL;
    if (!what && srv && (!json_is_array(srv) || json_array_size(srv) > TB__RF_MAX_SERVERS))
        what = "bad hello Servers";
    size_t i;
    json_t *s;
    if (!what && srv) json_array_foreach(srv, i, s) {
        tb__rf_server_t *d = &h->servers[h->n_servers];
        if (!json_is_object(s) || get_str(s, "ID", d->node_id, sizeof d->node_id, 1) ||
            !tb__rf_id_of(d->node_id) || get_str(s, "Node", d->name, sizeof d->name, 0) ||
            get_str(s, "Address", d->addr, sizeof d->addr, 1) || !d->addr[0] ||
            get_int(s, "Expect", &d->expect, 1000)) {
            what = "bad hello Servers entry";
            break;
        }
        h->n_servers++;
    }
    json_decref(o);
    if (what) {
        snprintf(err, errlen, "%s", what);
        return -1;
    }
    return 0;
}

uint8_t *tb__rf_hello_frame(const tb__rf_hello_t *h, size_t *len)
{
    json_t *srv = json_array();
    for (size_t i = 0; i < h->n_servers; i++)
        json_array_append_new(srv, json_pack("{s:s,s:s,s:s,s:i}", "ID", h->servers[i].node_id,
                                             "Node", h->servers[i].name, "Address",
                                             h->servers[i].addr, "Expect", h->servers[i].expect));
    json_t *o = json_pack("{s:i,s:s,s:s,s:s,s:s,s:i,s:i,s:o}", "Version", h->version, "ID",
                          h->node_id, "Node", h->name, "Address", h->addr, "Datacenter", h->dc,
                          "Expect", h->expect, "HasState", h->has_state, "Servers", srv);
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!txt) return NULL;
    size_t tl = strlen(txt);
    uint8_t *f = malloc(TB__RF_HDR + tl);
    if (f) {
        memcpy(f + TB__RF_HDR, txt, tl);
        tb__rf_header(f, f + TB__RF_HDR, tl);
        *len = TB__RF_HDR + tl;
    }
    free(txt);
    return f;
}
