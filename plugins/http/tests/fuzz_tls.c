/*
 * fuzz_tls.c - libFuzzer target over the HTTPS connection layer (tls.c):
 * arbitrary bytes from a client, cut into reads of a size the input picks,
 * go through tbh_tls_feed as conn.c hands them over, with the server's
 * output drained after each read as conn.c writes it. The certificate is an
 * EC key made in memory at start-up and loaded through tbh_tls_ctx_load
 * (the agent's own config path), so nothing is committed.
 *
 *   make fuzz-http-tls && plugins/http/tests/fuzz_tls -max_total_time=60
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "tls.h"

static tbh_tls_ctx_t *make_ctx(void)
{
    char dir[] = "/tmp/fuzz_tls.XXXXXX";
    if (!mkdtemp(dir))
        abort();
    char cert[64], key[64];
    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    if (!pk || !x)
        abort();
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, pk);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"fuzz", -1, -1, 0);
    X509_set_issuer_name(x, name);
    if (!X509_sign(x, pk, EVP_sha256()))
        abort();
    FILE *f = fopen(cert, "w");
    FILE *g = fopen(key, "w");
    if (!f || !g || !PEM_write_X509(f, x) || !PEM_write_PrivateKey(g, pk, NULL, NULL, 0, NULL, NULL))
        abort();
    fclose(f);
    fclose(g);
    X509_free(x);
    EVP_PKEY_free(pk);
    json_t *agent = json_pack("{s:s,s:s}", "cert_file", cert, "key_file", key);
    tbh_tls_ctx_t *ctx = NULL;
    char *err = NULL;
    if (tbh_tls_ctx_load(agent, NULL, &ctx, &err) != 0) {
        fprintf(stderr, "fuzz_tls: %s\n", err ? err : "?");
        abort();
    }
    json_decref(agent);
    unlink(cert);
    unlink(key);
    rmdir(dir);
    return ctx;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static tbh_tls_ctx_t *ctx; /* libFuzzer's one-time set-up, fuzzer process only */
    if (!ctx)
        ctx = make_ctx();
    if (size < 1)
        return 0;
    size_t chunk = (size_t)data[0] + 1;
    data++;
    size--;
    tbh_tls_t *t = tbh_tls_new(ctx);
    if (!t)
        return 0;
    tbh_buf_t plain = TBH_BUF_INIT;
    for (size_t off = 0; off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        const char *why;
        int rc = tbh_tls_feed(t, (const char *)data + off, n, &plain, &why);
        size_t outlen;
        free(tbh_tls_take_output(t, &outlen));
        if (rc < 0)
            break;
    }
    tbh_buf_free(&plain);
    tbh_tls_free(t);
    return 0;
}
