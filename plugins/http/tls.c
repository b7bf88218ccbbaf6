/*
 * tls.c - HTTPS for the http plugin (see tls.h). The context follows
 * Consul's precedence for each key: tls.https.<key>, then the legacy
 * top-level key, then tls.defaults.<key> (the built-in defaults always
 * carry a tls.defaults block, so a legacy key the user set must win over
 * it). Each connection has an SSL with a memory BIO for input and one for
 * output; conn.c stays in charge of the socket, timers and keep-alive, so
 * HTTPS shares every request-handling path with HTTP.
 */
#include "tls.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "server.h"

#define READ_PLAIN 16384
#define MAX_RECORD 16384 /* TLS plaintext record limit */

struct tbh_tls_ctx {
    SSL_CTX *ctx;
    uint64_t handshake_ms;
};

struct tbh_tls {
    SSL *ssl;
    BIO *in, *out; /* owned by ssl */
    int established;
    int failed;
};

/* ------------------------------------------------------------ configuration */

static int errf(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int errf(char **err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[768];
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    *err = strdup(tmp);
    return -1;
}

/* The newest OpenSSL reason on the queue, for messages. */
static const char *ssl_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    return r ? r : "unknown error";
}

static const json_t *obj_get(const json_t *o, const char *k)
{
    return json_is_object(o) ? json_object_get(o, k) : NULL;
}

/* One key by precedence: a non-empty string (or a boolean when `boolean`).
 * *name is the key as the user wrote it, for messages. */
static int tls_key(const json_t *agent, const char *key, int boolean, const json_t **val,
                   char name[64], char **err)
{
    const json_t *tls = json_object_get(agent, "tls");
    const json_t *cand[3] = {obj_get(obj_get(tls, "https"), key), json_object_get(agent, key),
                             obj_get(obj_get(tls, "defaults"), key)};
    const char *fmt[3] = {"tls.https.%s", "%s", "tls.defaults.%s"};
    *val = NULL;
    if (tls && !json_is_object(tls) && !json_is_null(tls))
        return errf(err, "tls: must be an object");
    for (int i = 0; i < 3; i++) {
        const json_t *v = cand[i];
        if (!v || json_is_null(v))
            continue;
        snprintf(name, 64, fmt[i], key);
        if (boolean ? !json_is_boolean(v) : !json_is_string(v))
            return errf(err, "%s: must be a %s", name, boolean ? "boolean" : "string");
        if (!boolean && !*json_string_value(v))
            continue;
        *val = v;
        return 0;
    }
    snprintf(name, 64, "tls.defaults.%s", key);
    return 0;
}

static int readable(const char *key, const char *path, char **err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return errf(err, "%s: cannot read %s: %s", key, path, strerror(errno));
    fclose(f);
    return 0;
}

static int parse_min_version(const char *v, int *out)
{
    static const struct {
        const char *name;
        int version;
    } names[] = {{"TLSv1_0", TLS1_VERSION},   {"tls10", TLS1_VERSION},
                 {"TLSv1_1", TLS1_1_VERSION}, {"tls11", TLS1_1_VERSION},
                 {"TLSv1_2", TLS1_2_VERSION}, {"tls12", TLS1_2_VERSION},
                 {"TLSv1_3", TLS1_3_VERSION}, {"tls13", TLS1_3_VERSION}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(v, names[i].name) == 0) {
            *out = names[i].version;
            return 0;
        }
    return -1;
}

/* Consul takes Go's cipher suite names (TLS 1.2 and below only). */
static const char *openssl_cipher(const char *go, size_t n)
{
    static const struct {
        const char *go, *ossl;
    } map[] = {
        {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"},
        {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"},
        {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", "ECDHE-ECDSA-CHACHA20-POLY1305"},
        {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"},
        {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"},
        {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"},
        {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "ECDHE-RSA-CHACHA20-POLY1305"},
        {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305"},
        {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA"},
        {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA"},
        {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"},
        {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"},
        {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "ECDHE-ECDSA-AES128-SHA256"},
        {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-SHA256"},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strlen(map[i].go) == n && strncmp(map[i].go, go, n) == 0)
            return map[i].ossl;
    return NULL;
}

static int set_ciphers(SSL_CTX *ctx, const char *key, const char *list, int min_version,
                       char **err)
{
    if (min_version >= TLS1_3_VERSION)
        return errf(err, "%s: cannot be set with tls_min_version TLSv1_3 (TLS 1.3 suites are "
                         "not configurable)", key);
    tbh_buf_t b = TBH_BUF_INIT;
    for (const char *p = list; *p;) {
        p += strspn(p, ", ");
        size_t n = strcspn(p, ", ");
        if (n == 0)
            break;
        const char *o = openssl_cipher(p, n);
        if (!o) {
            tbh_buf_free(&b);
            return errf(err, "%s: unsupported cipher suite \"%.*s\"", key, (int)n, p);
        }
        if (b.len)
            tbh_buf_addc(&b, ':');
        tbh_buf_adds(&b, o);
        p += n;
    }
    int ok = b.data && !b.failed && SSL_CTX_set_cipher_list(ctx, b.data) == 1;
    tbh_buf_free(&b);
    return ok ? 0 : errf(err, "%s: no usable cipher suite", key);
}

static int load_ctx(SSL_CTX *ctx, const json_t *agent, char **err)
{
    const json_t *cert, *key, *cafile, *capath, *minv, *ciphers, *vin, *vin_https;
    char ncert[64], nkey[64], ncafile[64], ncapath[64], nminv[64], nciph[64], nvin[64], nvh[64];
    if (tls_key(agent, "cert_file", 0, &cert, ncert, err) || tls_key(agent, "key_file", 0, &key, nkey, err) ||
        tls_key(agent, "ca_file", 0, &cafile, ncafile, err) ||
        tls_key(agent, "ca_path", 0, &capath, ncapath, err) ||
        tls_key(agent, "tls_min_version", 0, &minv, nminv, err) ||
        tls_key(agent, "tls_cipher_suites", 0, &ciphers, nciph, err) ||
        tls_key(agent, "verify_incoming", 1, &vin, nvin, err) ||
        tls_key(agent, "verify_incoming_https", 1, &vin_https, nvh, err))
        return -1;
    if (!cert || !key)
        return errf(err, "ports.https: the HTTPS listener needs %s (top level, tls.defaults or "
                         "tls.https)", !cert && !key ? "cert_file and key_file"
                                                     : !cert ? "cert_file" : "key_file");
    const char *certp = json_string_value(cert), *keyp = json_string_value(key);
    if (readable(ncert, certp, err) || readable(nkey, keyp, err))
        return -1;
    if (SSL_CTX_use_certificate_chain_file(ctx, certp) != 1)
        return errf(err, "%s: cannot load the certificate in %s: %s", ncert, certp, ssl_reason());
    int key_ok = SSL_CTX_use_PrivateKey_file(ctx, keyp, SSL_FILETYPE_PEM) == 1;
    if (!key_ok && ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH)
        return errf(err, "%s: cannot load the private key in %s: %s", nkey, keyp, ssl_reason());
    if (!key_ok || SSL_CTX_check_private_key(ctx) != 1)
        return errf(err, "%s: the key in %s does not match the certificate in %s", nkey, keyp,
                    certp);

    int version = TLS1_2_VERSION;
    if (minv && parse_min_version(json_string_value(minv), &version) != 0)
        return errf(err, "%s: invalid version \"%s\" (TLSv1_0, TLSv1_1, TLSv1_2 or TLSv1_3)",
                    nminv, json_string_value(minv));
    SSL_CTX_set_min_proto_version(ctx, version);
    if (ciphers && set_ciphers(ctx, nciph, json_string_value(ciphers), version, err) != 0)
        return -1;

    /* tls.https.verify_incoming decides alone; otherwise any of the legacy
     * keys or tls.defaults turns client certificates on (Consul's OR). */
    int verify;
    const json_t *https_vin = obj_get(obj_get(json_object_get(agent, "tls"), "https"),
                                      "verify_incoming");
    if (json_is_boolean(https_vin))
        verify = json_is_true(https_vin);
    else
        verify = json_is_true(obj_get(obj_get(json_object_get(agent, "tls"), "defaults"),
                                      "verify_incoming")) ||
                 json_is_true(json_object_get(agent, "verify_incoming")) ||
                 json_is_true(vin_https);
    const char *caf = cafile ? json_string_value(cafile) : NULL;
    const char *cap = capath ? json_string_value(capath) : NULL;
    if (caf && readable(ncafile, caf, err))
        return -1;
    if ((caf || cap) && SSL_CTX_load_verify_locations(ctx, caf, cap) != 1)
        return errf(err, "%s: cannot load the CA certificates in %s: %s", caf ? ncafile : ncapath,
                    caf ? caf : cap, ssl_reason());
    if (verify) {
        if (!caf && !cap)
            return errf(err, "%s: client certificates need ca_file or ca_path",
                        json_is_boolean(https_vin) ? "tls.https.verify_incoming" : nvin);
        if (caf) {
            STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(caf);
            if (names)
                SSL_CTX_set_client_CA_list(ctx, names);
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    return 0;
}

int tbh_tls_ctx_load(const json_t *agent, tbh_duration_fn dur, tbh_tls_ctx_t **out, char **err)
{
    *out = NULL;
    *err = NULL;
    tbh_tls_ctx_t *t = calloc(1, sizeof(*t));
    if (!t)
        return errf(err, "http: out of memory");
    t->handshake_ms = 5000;
    const json_t *lim = json_object_get(agent, "limits");
    const json_t *hs = json_is_object(lim) ? json_object_get(lim, "https_handshake_timeout") : NULL;
    if (hs && !json_is_null(hs)) {
        uint64_t ns;
        if (!json_is_string(hs) || tbh_parse_duration(dur, json_string_value(hs), &ns) != 0 ||
            ns == 0) {
            free(t);
            return errf(err, "limits.https_handshake_timeout: must be a duration such as \"5s\"");
        }
        t->handshake_ms = ns / 1000000u + (ns % 1000000u ? 1 : 0);
    }
    ERR_clear_error();
    t->ctx = SSL_CTX_new(TLS_server_method());
    if (!t->ctx) {
        free(t);
        return errf(err, "http: cannot create a TLS context: %s", ssl_reason());
    }
    SSL_CTX_set_mode(t->ctx, SSL_MODE_RELEASE_BUFFERS); /* idle keep-alive conns stay small */
    SSL_CTX_set_options(t->ctx, SSL_OP_NO_RENEGOTIATION);
    if (load_ctx(t->ctx, agent, err) != 0) {
        ERR_clear_error();
        tbh_tls_ctx_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

void tbh_tls_ctx_free(tbh_tls_ctx_t *ctx)
{
    if (!ctx)
        return;
    SSL_CTX_free(ctx->ctx); /* sessions still open hold their own reference */
    free(ctx);
}

uint64_t tbh_tls_handshake_ms(const tbh_tls_ctx_t *ctx)
{
    return ctx->handshake_ms;
}

/* ------------------------------------------------------------ sessions */

tbh_tls_t *tbh_tls_new(tbh_tls_ctx_t *ctx)
{
    tbh_tls_t *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->ssl = SSL_new(ctx->ctx);
    t->in = BIO_new(BIO_s_mem());
    t->out = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->in || !t->out) {
        BIO_free(t->in);
        BIO_free(t->out);
        SSL_free(t->ssl);
        free(t);
        return NULL;
    }
    SSL_set_bio(t->ssl, t->in, t->out);
    SSL_set_accept_state(t->ssl);
    return t;
}

void tbh_tls_free(tbh_tls_t *t)
{
    if (!t)
        return;
    SSL_free(t->ssl); /* frees both BIOs */
    free(t);
}

typedef struct tls_write {
    uv_write_t req;
    uv_write_t *orig; /* the caller's request, handed back to its callback */
    uv_write_cb cb;
    char *data;
} tls_write_t;

static void on_tls_write(uv_write_t *req, int status)
{
    tls_write_t *w = (tls_write_t *)req;
    if (w->cb)
        w->cb(w->orig, status);
    free(w->data);
    free(w);
}

char *tbh_tls_take_output(tbh_tls_t *t, size_t *len)
{
    size_t n = BIO_ctrl_pending(t->out);
    char *data = n ? malloc(n) : NULL;
    if (data && BIO_read(t->out, data, (int)n) != (int)n) {
        free(data);
        data = NULL;
    }
    *len = data ? n : 0;
    return data;
}

/* Write whatever OpenSSL put into the output BIO. With a callback a write
 * is queued even when there is nothing to send, so the callback runs. */
static int flush(tbh_conn_t *c, uv_write_t *orig, uv_write_cb cb)
{
    tbh_tls_t *t = c->tls;
    if (BIO_ctrl_pending(t->out) == 0 && !cb)
        return 0;
    size_t n;
    char *data = tbh_tls_take_output(t, &n);
    tls_write_t *w = calloc(1, sizeof(*w));
    if (!w || (!data && BIO_ctrl_pending(t->out) > 0)) {
        free(w);
        free(data);
        return UV_ENOMEM;
    }
    w->orig = orig;
    w->cb = cb;
    w->data = data;
    uv_buf_t b = uv_buf_init(data, (unsigned)n);
    int rc = uv_write(&w->req, &c->h.stream, &b, 1, on_tls_write);
    if (rc != 0) {
        free(data);
        free(w);
    }
    return rc;
}

int tbh_tls_feed(tbh_tls_t *t, const char *data, size_t len, tbh_buf_t *plain,
                 const char **why)
{
    *why = NULL;
    if (t->failed)
        return -1;
    if (BIO_write(t->in, data, (int)len) != (int)len) {
        *why = "out of memory";
        t->failed = 1;
        return -1;
    }
    int was = t->established;
    char buf[READ_PLAIN];
    ERR_clear_error();
    for (;;) {
        int n = SSL_read(t->ssl, buf, sizeof(buf));
        if (n > 0) {
            if (tbh_buf_add(plain, buf, (size_t)n) != 0) {
                *why = "out of memory";
                t->failed = 1;
                return -1;
            }
            continue;
        }
        int e = SSL_get_error(t->ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_ZERO_RETURN)
            break; /* all input used; close_notify: the TCP EOF follows */
        t->failed = 1;
        *why = ssl_reason();
        ERR_clear_error();
        return -1;
    }
    if (!t->established && SSL_is_init_finished(t->ssl))
        t->established = 1;
    return t->established && !was ? 1 : 0;
}

int tbh_tls_read(tbh_conn_t *c, const char *data, size_t len, const char **why)
{
    int rc = tbh_tls_feed(c->tls, data, len, &c->pending, why);
    /* handshake records, or the alert that tells a failed client why */
    if (flush(c, NULL, NULL) != 0 && rc >= 0) {
        *why = "cannot write";
        return -1;
    }
    return rc;
}

int tbh_tls_write(tbh_conn_t *c, uv_write_t *req, const uv_buf_t *bufs, unsigned n,
                  uv_write_cb cb)
{
    tbh_tls_t *t = c->tls;
    if (t->failed || !t->established)
        return UV_EPROTO; /* responses follow requests, which need the handshake */
    ERR_clear_error();
    /* Headers and a body that fit one record go out as one record (half
     * the framing and AEAD calls of one record each). */
    char one[MAX_RECORD];
    size_t total = 0;
    for (unsigned i = 0; i < n; i++)
        total += bufs[i].len;
    uv_buf_t joined;
    if (n > 1 && total <= sizeof(one)) {
        size_t off = 0;
        for (unsigned i = 0; i < n; i++) {
            memcpy(one + off, bufs[i].base, bufs[i].len);
            off += bufs[i].len;
        }
        joined = uv_buf_init(one, (unsigned)total);
        bufs = &joined;
        n = 1;
    }
    for (unsigned i = 0; i < n; i++) {
        /* a memory BIO takes everything: SSL_write never writes partially */
        if (bufs[i].len > 0 && SSL_write(t->ssl, bufs[i].base, (int)bufs[i].len) <= 0) {
            t->failed = 1;
            ERR_clear_error();
            return UV_EPROTO;
        }
    }
    return flush(c, req, cb);
}

void tbh_tls_close_notify(tbh_conn_t *c)
{
    tbh_tls_t *t = c->tls;
    if (t->failed || !t->established)
        return;
    ERR_clear_error();
    SSL_shutdown(t->ssl);
    ERR_clear_error();
    flush(c, NULL, NULL);
}
