/*
 * rpc_int.h - the server-port RPC of the endpoint layer (port 8300):
 * the frame codec (rpc_codec.c, pure bytes, fuzzed), the listener and
 * server side of the forwarding RPC (rpc.c) and the caller side: server
 * list, connection pool and the routing decision of run_call (forward.c).
 *
 * Wire: a connection opens with one byte selecting its kind (TB__RPC_RAFT
 * or TB__RPC_FORWARD, node.h). A forwarding connection then carries
 * frames both ways:
 *   u32 length of what follows | u8 version (1) | u8 type | u64 request id
 *   | payload
 * (little-endian). The caller multiplexes many requests over one
 * connection by id; a blocking query hangs on the server while others
 * flow. Strings are u32 length + bytes + NUL (0xffffffff = NULL), so the
 * decoder hands out views into the frame without copying. Both sides
 * write the frames of one loop turn in one write per connection.
 */
#ifndef TB_RPC_INT_H
#define TB_RPC_INT_H

#include <stddef.h>
#include <stdint.h>
#include <tribune/plugin.h>

#include "endpoint/endpoint_int.h"

#define TB__RPC_VERSION 1
#define TB__RPC_HDR 14
/* Largest frame either side accepts: a catalog dump of 10k+ nodes fits. */
#define TB__RPC_MAX_FRAME (64u << 20)
/* client -> server -> leader, plus one retry after a leader change */
#define TB__RPC_MAX_HOPS 3

enum { TB__RPC_REQ = 1, TB__RPC_RESP = 2, TB__RPC_CANCEL = 3 };
enum { TB__RPC_GENERIC = 0, TB__RPC_KV_READ = 1, TB__RPC_KV_WRITE = 2 };

/* A decoded request: every pointer is a view into the frame. */
typedef struct tb__rpc_req {
    uint8_t kind;           /* TB__RPC_GENERIC ... */
    uint8_t hops;           /* servers it already went through */
    tb_query_opts_t opts;
    const char *method;     /* GENERIC */
    const char *args;       /* GENERIC: compact JSON text */
    size_t args_len;
    tb_kv_read_t kvr;       /* KV_READ */
    tb_kv_write_t kvw;      /* KV_WRITE */
} tb__rpc_req_t;

/* A decoded response: r.json is unset (json text in json/json_len), r.kv
 * is malloc'd (free with tb__rpc_resp_clear), its strings are views. */
typedef struct tb__rpc_resp {
    tb_result_t r;
    const char *json;
    size_t json_len;
    tb_kv_entry_t *kv;
} tb__rpc_resp_t;

typedef struct tb__rpc_frame {
    uint8_t type;
    uint64_t id;
    const uint8_t *payload;
    size_t len;
} tb__rpc_frame_t;

/* Encoders append one whole frame (header included) to out. 0, or -1 out
 * of memory / too large. */
int tb__rpc_enc_req(tb__buf_t *out, uint64_t id, const tb__rpc_req_t *req);
int tb__rpc_enc_resp(tb__buf_t *out, uint64_t id, const tb_result_t *r, const char *json,
                     size_t json_len);
int tb__rpc_enc_cancel(tb__buf_t *out, uint64_t id);

int tb__rpc_dec_req(const uint8_t *p, size_t len, tb__rpc_req_t *out);
int tb__rpc_dec_resp(const uint8_t *p, size_t len, tb__rpc_resp_t *out);
void tb__rpc_resp_clear(tb__rpc_resp_t *r);

/* Stream reassembly. get_space hands the read callback room for at least
 * `want` more bytes (libuv reads straight into it); next returns 1 with a
 * frame (valid until the next get_space), 0 when more bytes are needed, -1
 * with *err on a malformed stream (bad version, type or size). */
typedef struct tb__rpc_reader {
    uint8_t *buf;
    size_t off, len, cap;
} tb__rpc_reader_t;

uint8_t *tb__rpc_reader_space(tb__rpc_reader_t *rd, size_t want, size_t *got);
int tb__rpc_reader_next(tb__rpc_reader_t *rd, tb__rpc_frame_t *f, const char **err);
void tb__rpc_reader_free(tb__rpc_reader_t *rd);

/* ------------------------------------------------------------ rpc.c */
typedef struct tb__rpc_srv tb__rpc_srv_t;
/* Write data (malloc'd, taken over and freed once written) on a stream.
 * -1 when the write could not start (data freed). */
int tb__rpc_write(uv_stream_t *s, uint8_t *data, size_t len);
/* Listen on bind_addr:ports.server (sets ep->rpc). -1 with *err. */
int tb__rpc_listen(tb__endpoint_t *ep, char **err);
void tb__rpc_stop(tb__rpc_srv_t *s);
void tb__rpc_free(tb__rpc_srv_t *s);

/* ------------------------------------------------------------ forward.c */
typedef struct tb__fwd tb__fwd_t;
tb__fwd_t *tb__fwd_new(tb__endpoint_t *ep);
/* Fail every forwarded call with TB_UNAVAILABLE and close connections. */
void tb__fwd_stop(tb__fwd_t *f);
void tb__fwd_free(tb__fwd_t *f);
void tb__fwd_server_seen(tb__fwd_t *f, const char *addr, int alive);
/* Routing of a call about to run (run_call): 0 run here, 1 taken over
 * (forwarded or waiting on a read barrier), -1 refused (o filled). */
int tb__fwd_route(tb__fwd_t *f, tb_call_t *c, int needs_state, tb__ep_out_t *o);
/* A cancelled call that was forwarded: tell the server, forget the id. */
void tb__fwd_cancel(tb__fwd_t *f, tb_call_t *c);

#endif
