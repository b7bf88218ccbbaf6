/*
 * request.c - http-parser callbacks that build one tbh_request_t at a time
 * (see request.h). Only the headers the plugin uses are kept; every byte
 * of the request line and headers still counts against the limit, so a
 * client cannot make the agent buffer without bound.
 */
#include "request.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define RP(p) ((tbh_reqparser_t *)(p)->data)

static void request_clear(tbh_request_t *r)
{
    tbh_buf_free(&r->url);
    tbh_buf_free(&r->body);
    free(r->x_consul_token);
    free(r->authorization);
    memset(r, 0, sizeof(*r));
}

static int fail(tbh_reqparser_t *rp, tbh_perr_t e, const char *text)
{
    if (!rp->error) {
        rp->error = e;
        rp->error_text = text;
    }
    return -1;
}

static int count_header(tbh_reqparser_t *rp, size_t n)
{
    rp->ps->header_bytes += n;
    if (rp->ps->header_bytes > rp->max_header_bytes)
        return fail(rp, TBH_PERR_HEADERS, "request headers too large");
    return 0;
}

/* The header whose name and value were just read is complete. */
static int finish_header(tbh_reqparser_t *rp)
{
    if (!rp->ps->in_value)
        return 0;
    rp->ps->in_value = 0;
    tbh_request_t *r = &rp->req;
    const char *v = rp->ps->value.data ? rp->ps->value.data : "";
    char **slot = NULL;
    if (!rp->ps->field_long && tbh_strnieq(rp->ps->field, rp->ps->field_len, "x-consul-token"))
        slot = &r->x_consul_token;
    else if (!rp->ps->field_long && tbh_strnieq(rp->ps->field, rp->ps->field_len, "authorization"))
        slot = &r->authorization;
    else if (!rp->ps->field_long && tbh_strnieq(rp->ps->field, rp->ps->field_len, "expect"))
        r->expect_continue = tbh_strieq(v, "100-continue");
    if (slot && !*slot) {
        /* Go's Header.Get: the first one wins */
        *slot = strdup(v);
        if (!*slot)
            return fail(rp, TBH_PERR_NOMEM, "out of memory");
    }
    rp->ps->field_len = 0;
    rp->ps->field_long = 0;
    rp->ps->value.len = 0;
    if (rp->ps->value.data)
        rp->ps->value.data[0] = '\0';
    return 0;
}

static int on_message_begin(http_parser *p)
{
    tbh_reqparser_t *rp = RP(p);
    rp->started = 1;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    tbh_reqparser_t *rp = RP(p);
    if (count_header(rp, len) != 0)
        return -1;
    if (tbh_buf_add(&rp->req.url, at, len) != 0)
        return fail(rp, TBH_PERR_NOMEM, "out of memory");
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    tbh_reqparser_t *rp = RP(p);
    if (count_header(rp, len) != 0 || finish_header(rp) != 0)
        return -1;
    if (rp->ps->field_len + len > sizeof(rp->ps->field)) {
        rp->ps->field_long = 1; /* no header we keep has a name this long */
    } else {
        memcpy(rp->ps->field + rp->ps->field_len, at, len);
        rp->ps->field_len += len;
    }
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    tbh_reqparser_t *rp = RP(p);
    if (count_header(rp, len) != 0)
        return -1;
    rp->ps->in_value = 1;
    if (tbh_buf_add(&rp->ps->value, at, len) != 0)
        return fail(rp, TBH_PERR_NOMEM, "out of memory");
    return 0;
}

static int is_kv_put(tbh_reqparser_t *rp)
{
    size_t po, pl, qo, ql;
    const tbh_request_t *r = &rp->req;
    if (r->method != HTTP_PUT || !r->url.data)
        return 0;
    if (tbh_url_split(r->url.data, r->url.len, 0, &po, &pl, &qo, &ql) != 0)
        return 0;
    return pl >= 7 && memcmp(r->url.data + po, "/v1/kv/", 7) == 0;
}

/* PUT /v1/snapshot carries a whole store: its own, larger limit. */
#define SNAPSHOT_MAX_BODY (256ULL * 1024 * 1024)

static int is_snapshot_put(tbh_reqparser_t *rp)
{
    size_t po, pl, qo, ql;
    const tbh_request_t *r = &rp->req;
    if (r->method != HTTP_PUT || !r->url.data ||
        tbh_url_split(r->url.data, r->url.len, 0, &po, &pl, &qo, &ql) != 0)
        return 0;
    return pl == 12 && memcmp(r->url.data + po, "/v1/snapshot", 12) == 0;
}

static uint64_t body_limit(tbh_reqparser_t *rp)
{
    if (rp->req.is_kv_put)
        return rp->kv_max;
    return rp->snapshot_put ? SNAPSHOT_MAX_BODY : rp->max_body;
}

static int on_headers_complete(http_parser *p)
{
    tbh_reqparser_t *rp = RP(p);
    if (finish_header(rp) != 0)
        return -1;
    /* the header value buffer is not kept while the request is answered
     * (a blocking query can wait for minutes) */
    tbh_buf_free(&rp->ps->value);
    tbh_request_t *r = &rp->req;
    r->method = (enum http_method)p->method;
    r->http_major = p->http_major;
    r->http_minor = p->http_minor;
    r->is_kv_put = is_kv_put(rp);
    rp->snapshot_put = is_snapshot_put(rp);
    rp->headers_done = 1;
    uint64_t limit = body_limit(rp);
    /* content_length is ULLONG_MAX when the body length is not announced */
    if ((p->flags & F_CHUNKED) == 0 && p->content_length != ULLONG_MAX &&
        p->content_length > limit)
        return fail(rp, TBH_PERR_BODY, "request body too large");
    if (rp->on_headers)
        rp->on_headers(rp, rp->arg);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    tbh_reqparser_t *rp = RP(p);
    tbh_request_t *r = &rp->req;
    uint64_t limit = body_limit(rp);
    rp->body_seen = 1;
    if (len > limit || r->body.len > limit - len)
        return fail(rp, TBH_PERR_BODY, "request body too large");
    if (tbh_buf_add(&r->body, at, len) != 0)
        return fail(rp, TBH_PERR_NOMEM, "out of memory");
    return 0;
}

static int on_message_complete(http_parser *p)
{
    tbh_reqparser_t *rp = RP(p);
    rp->complete = 1;
    rp->req.keep_alive = http_should_keep_alive(p);
    rp->req.upgrade = p->upgrade;
    /* hold the rest of the stream until this request is answered */
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void tbh_reqparser_init(tbh_reqparser_t *rp, size_t max_header_bytes, uint64_t max_body,
                        uint64_t kv_max)
{
    memset(rp, 0, sizeof(*rp));
    rp->max_header_bytes = max_header_bytes;
    rp->max_body = max_body;
    rp->kv_max = kv_max;
}

static void pstate_free(tbh_reqparser_t *rp)
{
    if (rp->ps) {
        tbh_buf_free(&rp->ps->value);
        free(rp->ps);
        rp->ps = NULL;
    }
}

void tbh_reqparser_free(tbh_reqparser_t *rp)
{
    request_clear(&rp->req);
    pstate_free(rp);
}

size_t tbh_reqparser_feed(tbh_reqparser_t *rp, const char *data, size_t len)
{
    if (rp->complete || rp->error || len == 0)
        return 0;
    if (!rp->ps) { /* a new request: a fresh parser */
        rp->ps = calloc(1, sizeof(*rp->ps));
        if (!rp->ps) {
            fail(rp, TBH_PERR_NOMEM, "out of memory");
            return 0;
        }
        http_parser_init(&rp->ps->parser, HTTP_REQUEST);
        rp->ps->parser.data = rp;
    }
    size_t n = http_parser_execute(&rp->ps->parser, &settings, data, len);
    enum http_errno e = HTTP_PARSER_ERRNO(&rp->ps->parser);
    if (e == HPE_PAUSED) {
        /* complete: the parser stopped at its end; the next request
         * (pipelined bytes stay with the caller) gets a new one */
        pstate_free(rp);
        return n;
    }
    if (e != HPE_OK) {
        if (e == HPE_HEADER_OVERFLOW)
            fail(rp, TBH_PERR_HEADERS, "request headers too large");
        else
            fail(rp, TBH_PERR_MALFORMED, http_errno_description(e));
        return n;
    }
    if (n < len && !rp->complete)
        fail(rp, TBH_PERR_MALFORMED, "unexpected data");
    return n;
}

void tbh_reqparser_next(tbh_reqparser_t *rp)
{
    request_clear(&rp->req);
    pstate_free(rp);
    rp->started = rp->headers_done = rp->complete = rp->body_seen = 0;
}

int tbh_url_split(const char *url, size_t len, int is_connect, size_t *path_off, size_t *path_len,
                  size_t *query_off, size_t *query_len)
{
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (http_parser_parse_url(url, len, is_connect, &u) != 0)
        return -1;
    *path_off = *path_len = *query_off = *query_len = 0;
    if (u.field_set & (1 << UF_PATH)) {
        *path_off = u.field_data[UF_PATH].off;
        *path_len = u.field_data[UF_PATH].len;
    }
    if (u.field_set & (1 << UF_QUERY)) {
        *query_off = u.field_data[UF_QUERY].off;
        *query_len = u.field_data[UF_QUERY].len;
    }
    return 0;
}
