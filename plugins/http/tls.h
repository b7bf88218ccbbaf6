/*
 * tls.h - HTTPS for the http plugin: the server context built from
 * Consul's TLS keys (tls.https > legacy top-level keys > tls.defaults) and
 * the TLS layer that conn.c puts under a connection accepted on the
 * ports.https listener. OpenSSL works on memory BIOs only: conn.c hands it
 * the bytes libuv read and gets back plaintext; responses are encrypted and
 * written with uv_write. No OpenSSL call ever touches the socket or blocks.
 */
#ifndef TBH_TLS_H
#define TBH_TLS_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "router.h"
#include "util.h"

typedef struct tbh_tls_ctx tbh_tls_ctx_t;
typedef struct tbh_tls tbh_tls_t;
struct tbh_conn;

/* Build the context from the merged agent config: certificate, key,
 * CA, verify_incoming, tls_min_version, tls_cipher_suites and
 * limits.https_handshake_timeout. Returns 0, or -1 with a malloc'd *err
 * that starts with the key ("cert_file: cannot read /x: ..."). */
int tbh_tls_ctx_load(const json_t *agent, tbh_duration_fn dur, tbh_tls_ctx_t **out, char **err);
void tbh_tls_ctx_free(tbh_tls_ctx_t *ctx);
uint64_t tbh_tls_handshake_ms(const tbh_tls_ctx_t *ctx);

/* A server-side TLS session for one connection; NULL when out of memory. */
tbh_tls_t *tbh_tls_new(tbh_tls_ctx_t *ctx);
void tbh_tls_free(tbh_tls_t *t);

/* The socket-free core of tbh_tls_read (also the fuzz target's entry):
 * decrypt ciphertext into *plain. 0, 1 when this completed the handshake,
 * -1 when the session failed (*why). What OpenSSL wants to send waits in
 * the session until tbh_tls_take_output. */
int tbh_tls_feed(tbh_tls_t *t, const char *data, size_t len, tbh_buf_t *plain,
                 const char **why);
/* The ciphertext waiting to be sent (malloc'd; NULL and 0 when none). */
char *tbh_tls_take_output(tbh_tls_t *t, size_t *len);

/* Ciphertext from the socket: decrypts into c->pending and sends what the
 * handshake needs. 0, 1 when this completed the handshake, or -1 when the
 * session failed (garbage, plain HTTP, a refused client certificate):
 * *why says why for the log. */
int tbh_tls_read(struct tbh_conn *c, const char *data, size_t len, const char **why);
/* Encrypt bufs and write them; cb(req, status) runs once the ciphertext
 * has been written (req and cb may be NULL). 0, or a libuv error and cb
 * is never called. */
int tbh_tls_write(struct tbh_conn *c, uv_write_t *req, const uv_buf_t *bufs, unsigned n,
                  uv_write_cb cb);
/* Queue a close_notify alert before the write side is shut. */
void tbh_tls_close_notify(struct tbh_conn *c);

#endif
