/*
 * fuzz_request.c - libFuzzer target over the http plugin's request path
 * without sockets: bytes are fed to the request assembler in chunks (the
 * first input byte picks the chunk size, as reads split arbitrarily), and
 * every complete request goes through URL splitting, path decoding and
 * cleaning, query decoding, routing, Consul's option parsing, the token
 * pick and the JSON/KVPair renderers. Build: make fuzz-http.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kvjson.h"
#include "request.h"
#include "router.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Accepts "<digits>(ms|s|m|h)" pieces, enough to reach both branches. */
static int fuzz_duration(const char *s, uint64_t *ns)
{
    uint64_t total = 0;
    if (!*s)
        return -1;
    while (*s) {
        uint64_t v = 0;
        if (*s < '0' || *s > '9')
            return -1;
        while (*s >= '0' && *s <= '9')
            v = v * 10 + (uint64_t)(*s++ - '0');
        if (s[0] == 'm' && s[1] == 's') {
            total += v * 1000000u;
            s += 2;
        } else if (*s == 's' || *s == 'm' || *s == 'h') {
            total += v * (*s == 's' ? 1000000000u : *s == 'm' ? 60000000000u : 3600000000000u);
            s++;
        } else {
            return -1;
        }
    }
    *ns = total;
    return 0;
}

static void exercise(const tbh_request_t *r)
{
    const char *url = r->url.data ? r->url.data : "";
    size_t po, pl, qo, ql;
    if (tbh_url_split(url, r->url.len, r->method == HTTP_CONNECT, &po, &pl, &qo, &ql) != 0)
        return;
    char *path = NULL;
    size_t plen = 0;
    if (tbh_unescape(url + po, pl, 0, &path, &plen) != 0)
        return;
    tbh_query_t q = {0};
    tbh_query_parse(&q, url + qo, ql);
    char *rawq = ql ? strndup(url + qo, ql) : NULL;

    tbh_match_t m;
    tbh_route_result_t res = tbh_route(http_method_str(r->method), path, rawq, &m);
    tbh_buf_t out = TBH_BUF_INIT;
    if (res == TBH_ROUTE_REDIRECT) {
        /* a redirect target must be stable: cleaning it again changes nothing */
        char *again = tbh_clean_path(path);
        free(again);
        free(m.location);
    } else if (res == TBH_ROUTE_FOUND || res == TBH_ROUTE_BAD_METHOD) {
        tbh_allow_header(m.allow, &out);
        tbh_buf_free(&out);
    }

    tb_query_opts_t opts;
    memset(&opts, 0, sizeof(opts));
    char *err = NULL;
    tbh_parse_query_opts(&q, fuzz_duration, 1, 1000, &opts, &err);
    free(err);
    int passing;
    tbh_query_bool(&q, "passing", &passing);
    size_t tlen;
    tbh_pick_token(tbh_query_get(&q, "token"), r->x_consul_token, r->authorization, &tlen);
    tbh_query_encode(&q, &out);
    tbh_buf_free(&out);

    /* render the decoded path as a key and the body as its value */
    tb_kv_entry_t e = {path, r->body.data, r->body.len, UINT64_MAX, 1, 2, 3,
                       tbh_query_get(&q, "acquire")};
    tbh_kv_render(&out, &e, 1, 0);
    tbh_buf_free(&out);
    tbh_kv_render(&out, &e, 1, 1);
    tbh_buf_free(&out);
    tbh_json_string(&out, path, plen);
    tbh_buf_free(&out);

    free(rawq);
    tbh_query_free(&q);
    free(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t chunk = (size_t)(data[0] % 64) + 1;
    const char *in = (const char *)data + 1;
    size--;
    tbh_reqparser_t rp;
    tbh_reqparser_init(&rp, 8192, 4096, 1024);
    size_t off = 0;
    while (off < size) {
        size_t len = size - off < chunk ? size - off : chunk;
        size_t n = tbh_reqparser_feed(&rp, in + off, len);
        off += n;
        if (rp.error)
            break;
        if (rp.complete) {
            exercise(&rp.req);
            if (!rp.req.keep_alive || rp.req.upgrade)
                break;
            tbh_reqparser_next(&rp);
            continue;
        }
        if (n == 0)
            break;
    }
    tbh_reqparser_free(&rp);
    return 0;
}
