/*
 * test_server.c - the http plugin end to end on real 127.0.0.1 sockets,
 * against the fake agent of fakeapi.c: routing answers, KV over the typed
 * calls, generic calls and their args, headers, keep-alive and pipelining,
 * 100-continue, 400/413/429, timeouts, blocking queries woken or abandoned
 * (the call is cancelled), reload, bind failure, and a stop that leaves no
 * handle open (run under valgrind for leaks).
 */
#include <CUnit/Basic.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fakeapi.h"
#include "server.h"

/* ------------------------------------------------------------ client side */

typedef struct resp {
    int status;
    tbh_buf_t headers; /* "name: value\n", names lowercased */
    tbh_buf_t body;
    int complete;
    int in_value;
    char hval[512]; /* last header looked up */
} resp_t;

typedef struct cli {
    int fd;
    http_parser p;
    tbh_buf_t in;
    size_t off;
    resp_t *r;
    int eof;
} cli_t;

static int r_field(http_parser *p, const char *at, size_t n)
{
    resp_t *r = ((cli_t *)p->data)->r;
    if (r->in_value)
        tbh_buf_addc(&r->headers, '\n');
    r->in_value = 0;
    for (size_t i = 0; i < n; i++)
        tbh_buf_addc(&r->headers, (char)(at[i] >= 'A' && at[i] <= 'Z' ? at[i] + 32 : at[i]));
    return 0;
}

static int r_value(http_parser *p, const char *at, size_t n)
{
    resp_t *r = ((cli_t *)p->data)->r;
    if (!r->in_value)
        tbh_buf_adds(&r->headers, ": ");
    r->in_value = 1;
    tbh_buf_add(&r->headers, at, n);
    return 0;
}

static int r_headers_done(http_parser *p)
{
    resp_t *r = ((cli_t *)p->data)->r;
    if (r->in_value)
        tbh_buf_addc(&r->headers, '\n');
    r->in_value = 0;
    r->status = p->status_code;
    return 0;
}

static int r_body(http_parser *p, const char *at, size_t n)
{
    tbh_buf_add(&((cli_t *)p->data)->r->body, at, n);
    return 0;
}

static int r_done(http_parser *p)
{
    ((cli_t *)p->data)->r->complete = 1;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings rsettings = {
    .on_header_field = r_field,
    .on_header_value = r_value,
    .on_headers_complete = r_headers_done,
    .on_body = r_body,
    .on_message_complete = r_done,
};

static int cli_open(cli_t *c, int port)
{
    memset(c, 0, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    http_parser_init(&c->p, HTTP_RESPONSE);
    c->p.data = c;
    return 0;
}

static void cli_close(cli_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    tbh_buf_free(&c->in);
}

static void cli_send(cli_t *c, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void cli_sends(cli_t *c, const char *s)
{
    cli_send(c, s, strlen(s));
}

/* Wait for more bytes: 1 got some, 0 EOF, -1 timeout/error. */
static int cli_fill(cli_t *c, int timeout_ms)
{
    struct pollfd pfd = {c->fd, POLLIN, 0};
    if (poll(&pfd, 1, timeout_ms) <= 0)
        return -1;
    char buf[65536];
    ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
    if (n < 0)
        return -1;
    if (n == 0) {
        c->eof = 1;
        return 0;
    }
    tbh_buf_add(&c->in, buf, (size_t)n);
    return 1;
}

static void resp_free(resp_t *r)
{
    tbh_buf_free(&r->headers);
    tbh_buf_free(&r->body);
    memset(r, 0, sizeof(*r));
}

/* Read one response (pipelined ones stay buffered). 0 or -1. */
static int cli_read(cli_t *c, resp_t *r, int timeout_ms)
{
    memset(r, 0, sizeof(*r));
    c->r = r;
    http_parser_pause(&c->p, 0);
    for (;;) {
        if (c->off < c->in.len) {
            size_t n = http_parser_execute(&c->p, &rsettings, c->in.data + c->off, c->in.len - c->off);
            c->off += n;
            if (r->complete)
                return 0;
            if (HTTP_PARSER_ERRNO(&c->p) != HPE_OK)
                return -1;
        }
        int rc = cli_fill(c, timeout_ms);
        if (rc <= 0)
            return -1;
    }
}

/* The server closed the connection (EOF within timeout). */
static int cli_wait_eof(cli_t *c, int timeout_ms)
{
    while (!c->eof) {
        if (cli_fill(c, timeout_ms) < 0)
            return 0;
    }
    return 1;
}

static const char *hget(resp_t *r, const char *name)
{
    char *out = r->hval;
    size_t n = strlen(name);
    const char *p = r->headers.data;
    while (p && *p) {
        const char *e = strchr(p, '\n');
        if (!e)
            break;
        if ((size_t)(e - p) > n + 2 && strncmp(p, name, n) == 0 && p[n] == ':') {
            snprintf(out, sizeof(r->hval), "%.*s", (int)(e - p - n - 2), p + n + 2);
            return out;
        }
        p = e + 1;
    }
    return NULL;
}

static const char *body(const resp_t *r)
{
    return r->body.data ? r->body.data : "";
}

/* ------------------------------------------------------------ environment */

typedef struct env {
    fake_core_t core;
    tbh_server_t *srv;
    int port;
} env_t;

static json_t *agent_cfg(int port, int maxconns, int dev)
{
    return json_pack("{s:{s:i},s:s,s:{s:i},s:b,s:{s:s}}", "ports", "http", port, "client_addr",
                     "127.0.0.1", "limits", "http_max_conns_per_client", maxconns, "dev_mode",
                     dev, "acl", "default_policy", "allow");
}

static int listener_port(tbh_server_t *s)
{
    struct sockaddr_in a;
    int len = sizeof(a);
    if (!s->listeners || uv_tcp_getsockname(&s->listeners->h.tcp, (struct sockaddr *)&a, &len))
        return -1;
    return ntohs(a.sin_port);
}

static int env_start_cfg(env_t *e, json_t *cfg, uint64_t kv_max)
{
    char *err = NULL;
    memset(e, 0, sizeof(*e));
    int rc = fake_init(&e->core, cfg, NULL, &err);
    json_decref(cfg);
    if (rc != 0) {
        fprintf(stderr, "init: %s\n", err);
        free(err);
        return -1;
    }
    e->core.kv_max = kv_max;
    e->srv = e->core.ops.arg;
    e->srv->kv_max = kv_max; /* the fake's limit, as apply_limits would read it */
    e->srv->max_body = 1 << 20;
    if (fake_start(&e->core, &err) != 0) {
        fprintf(stderr, "start: %s\n", err);
        free(err);
        return -1;
    }
    e->port = listener_port(e->srv);
    fake_run(&e->core);
    return 0;
}

static int env_start(env_t *e)
{
    return env_start_cfg(e, agent_cfg(0, 200, 0), 524288);
}

static void env_stop(env_t *e)
{
    CU_ASSERT_EQUAL(fake_stop_and_free(&e->core), 0); /* every handle closed */
}

/* One request on a fresh connection. */
static int one(env_t *e, const char *raw, resp_t *r)
{
    cli_t c;
    if (cli_open(&c, e->port) != 0)
        return -1;
    cli_sends(&c, raw);
    int rc = cli_read(&c, r, 5000);
    cli_close(&c);
    return rc;
}

static int get(env_t *e, const char *path, resp_t *r)
{
    char raw[2048];
    snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
    return one(e, raw, r);
}

static int put(env_t *e, const char *path, const char *data, resp_t *r)
{
    char raw[4096];
    snprintf(raw, sizeof(raw), "PUT %s HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n%s", path,
             strlen(data), data);
    return one(e, raw, r);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------ tests */

static void test_basics(void)
{
    env_t e;
    resp_t r;
    CU_ASSERT_EQUAL_FATAL(env_start(&e), 0);

    CU_ASSERT_EQUAL_FATAL(get(&e, "/", &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(body(&r), "Consul Agent");
    CU_ASSERT_PTR_NOT_NULL(hget(&r, "date"));
    CU_ASSERT_STRING_EQUAL(hget(&r, "x-consul-default-acl-policy"), "allow");
    resp_free(&r);

    CU_ASSERT_EQUAL_FATAL(get(&e, "/v1/nope", &r), 0);
    CU_ASSERT_EQUAL(r.status, 404);
    CU_ASSERT_EQUAL(r.body.len, 0);
    resp_free(&r);

    CU_ASSERT_EQUAL_FATAL(one(&e, "POST /v1/kv/a HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &r), 0);
    CU_ASSERT_EQUAL(r.status, 405);
    CU_ASSERT_STRING_EQUAL(body(&r), "method POST not allowed");
    CU_ASSERT_STRING_EQUAL(hget(&r, "allow"), "OPTIONS,GET,PUT,DELETE");
    resp_free(&r);

    CU_ASSERT_EQUAL_FATAL(one(&e, "OPTIONS /v1/status/leader HTTP/1.1\r\n\r\n", &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(hget(&r, "allow"), "OPTIONS,GET");
    resp_free(&r);

    CU_ASSERT_EQUAL_FATAL(get(&e, "/v1/kv/a//b/./c?raw", &r), 0);
    CU_ASSERT_EQUAL(r.status, 301);
    CU_ASSERT_STRING_EQUAL(hget(&r, "location"), "/v1/kv/a/b/c?raw");
    resp_free(&r);
    CU_ASSERT_EQUAL_FATAL(get(&e, "/v1/kv", &r), 0);
    CU_ASSERT_EQUAL(r.status, 301);
    CU_ASSERT_STRING_EQUAL(hget(&r, "location"), "/v1/kv/");
    resp_free(&r);

    /* HEAD: headers with the length, no body (read raw: no parser knows it was HEAD) */
    cli_t c;
    CU_ASSERT_EQUAL_FATAL(cli_open(&c, e.port), 0);
    cli_sends(&c, "HEAD / HTTP/1.1\r\nConnection: close\r\n\r\n");
    while (cli_fill(&c, 2000) > 0)
        ;
    CU_ASSERT_PTR_NOT_NULL(strstr(c.in.data, "Content-Length: 12\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(c.in.data, "Connection: close\r\n"));
    CU_ASSERT_PTR_NULL(strstr(c.in.data, "Consul Agent"));
    cli_close(&c);
    env_stop(&e);
}

static void test_kv(void)
{
    env_t e;
    resp_t r;
    CU_ASSERT_EQUAL_FATAL(env_start(&e), 0);

    CU_ASSERT_EQUAL_FATAL(get(&e, "/v1/kv/?keys", &r), 0);
    CU_ASSERT_EQUAL(r.status, 200); /* keys at the root with nothing: [] */
    CU_ASSERT_STRING_EQUAL(body(&r), "[]");
    resp_free(&r);

    CU_ASSERT_EQUAL_FATAL(put(&e, "/v1/kv/app/lock?flags=16210313421097356768", "bar", &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(body(&r), "true");
    CU_ASSERT_STRING_EQUAL(hget(&r, "content-type"), "application/json");
    resp_free(&r);

    CU_ASSERT_EQUAL_FATAL(get(&e, "/v1/kv/app/lock", &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(body(&r),
                           "[{\"LockIndex\":0,\"Key\":\"app/lock\",\"Flags\":16210313421097356768,"
                           "\"Value\":\"YmFy\",\"CreateIndex\":1,\"ModifyIndex\":1}]");
    CU_ASSERT_STRING_EQUAL(hget(&r, "x-consul-index"), "1");
    CU_ASSERT_STRING_EQUAL(hget(&r, "x-consul-knownleader"), "true");
    CU_ASSERT_STRING_EQUAL(hget(&r, "x-consul-lastcontact"), "0");
    CU_ASSERT_STRING_EQUAL(hget(&r, "x-consul-effective-consistency"), "leader");
    resp_free(&r);

    CU_ASSERT_EQUAL_FATAL(get(&e, "/v1/kv/app/lock?raw", &r), 0);
    CU_ASSERT_STRING_EQUAL(body(&r), "bar");
    CU_ASSERT_STRING_EQUAL(hget(&r, "content-type"), "text/plain");
    CU_ASSERT_STRING_EQUAL(hget(&r, "x-content-type-options"), "nosniff");
    CU_ASSERT_STRING_EQUAL(hget(&r, "content-security-policy"), "sandbox");
    resp_free(&r);

    CU_ASSERT_EQUAL_FATAL(get(&e, "/v1/kv/missing", &r), 0);
    CU_ASSERT_EQUAL(r.status, 404);
    CU_ASSERT_STRING_EQUAL(hget(&r, "x-consul-index"), "1"); /* python-consul reads it */
    CU_ASSERT_EQUAL(r.body.len, 0);
    resp_free(&r);

    CU_ASSERT_EQUAL_FATAL(get(&e, "/v1/kv/", &r), 0);
    CU_ASSERT_EQUAL(r.status, 400);
    CU_ASSERT_STRING_EQUAL(body(&r), "Missing key name");
    resp_free(&r);

    CU_ASSERT_EQUAL_FATAL(put(&e, "/v1/kv/app/empty", "", &r), 0);
    CU_ASSERT_STRING_EQUAL(body(&r), "true");
    resp_free(&r);
    CU_ASSERT_EQUAL_FATAL(put(&e, "/v1/kv/other", "x", &r), 0);
    resp_free(&r);

    CU_ASSERT_EQUAL_FATAL(get(&e, "/v1/kv/app/?recurse&pretty", &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(body(&r), "\n        \"Key\": \"app/empty\",\n"
                                            "        \"Flags\": 0,\n        \"Value\": null,\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(body(&r), "\"Key\": \"app/lock\""));
    CU_ASSERT_PTR_NULL(strstr(body(&r), "other"));
    CU_ASSERT_EQUAL(body(&r)[r.body.len - 1], '\n');
    resp_free(&r);

    CU_ASSERT_EQUAL_FATAL(get(&e, "/v1/kv/?keys&separator=/", &r), 0);
    CU_ASSERT_STRING_EQUAL(body(&r), "[\"app/\",\"other\"]");
    resp_free(&r);
    CU_ASSERT_EQUAL_FATAL(get(&e, "/v1/kv/nothing?keys", &r), 0);
    CU_ASSERT_EQUAL(r.status, 404);
    resp_free(&r);

    /* cas=0 on an existing key is refused; cas with the right index applies */
    CU_ASSERT_EQUAL_FATAL(put(&e, "/v1/kv/other?cas=0", "y", &r), 0);
    CU_ASSERT_STRING_EQUAL(body(&r), "false");
    resp_free(&r);
    CU_ASSERT_EQUAL_FATAL(put(&e, "/v1/kv/other?cas=3", "y", &r), 0);
    CU_ASSERT_STRING_EQUAL(body(&r), "true");
    resp_free(&r);

    CU_ASSERT_EQUAL_FATAL(put(&e, "/v1/kv/other?release=s&cas=1&acquire=x", "", &r), 0);
    CU_ASSERT_EQUAL(r.status, 400);
    CU_ASSERT_STRING_EQUAL(body(&r), "Conflicting flags: acquire=x&cas=1&release=s");
    resp_free(&r);
    CU_ASSERT_EQUAL_FATAL(put(&e, "/v1/kv/other?flags=x", "", &r), 0);
    CU_ASSERT_EQUAL(r.status, 400);
    CU_ASSERT_STRING_EQUAL(body(&r), "strconv.ParseUint: parsing \"x\": invalid syntax");
    resp_free(&r);
    CU_ASSERT_EQUAL_FATAL(one(&e, "DELETE /v1/kv/other?recurse&cas=1 HTTP/1.1\r\n\r\n", &r), 0);
    CU_ASSERT_EQUAL(r.status, 400);
    resp_free(&r);

    /* acquire / release */
    CU_ASSERT_EQUAL_FATAL(put(&e, "/v1/kv/lk?acquire=s1", "v", &r), 0);
    CU_ASSERT_STRING_EQUAL(body(&r), "true");
    resp_free(&r);
    CU_ASSERT_EQUAL_FATAL(put(&e, "/v1/kv/lk?acquire=s2", "v", &r), 0);
    CU_ASSERT_STRING_EQUAL(body(&r), "false");
    resp_free(&r);
    CU_ASSERT_EQUAL_FATAL(get(&e, "/v1/kv/lk", &r), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(body(&r), "\"LockIndex\":1,"));
    CU_ASSERT_PTR_NOT_NULL(strstr(body(&r), "\"Session\":\"s1\""));
    resp_free(&r);
    CU_ASSERT_EQUAL_FATAL(put(&e, "/v1/kv/lk?release=s1", "v", &r), 0);
    CU_ASSERT_STRING_EQUAL(body(&r), "true");
    resp_free(&r);

    /* token and dc reach the endpoint layer */
    CU_ASSERT_EQUAL_FATAL(one(&e, "DELETE /v1/kv/app?recurse&dc=dc2 HTTP/1.1\r\n"
                                  "X-Consul-Token: hdr-token\r\n\r\n",
                              &r),
                          0);
    CU_ASSERT_STRING_EQUAL(body(&r), "true");
    fake_record_t rec;
    fake_record(&e.core, &rec);
    CU_ASSERT_STRING_EQUAL(rec.method, "KVS.Apply/5"); /* TB_KV_DELETE_TREE */
    CU_ASSERT_STRING_EQUAL(rec.token, "hdr-token");
    CU_ASSERT_STRING_EQUAL(rec.dc, "dc2");
    free(rec.args);
    resp_free(&r);
    CU_ASSERT_EQUAL_FATAL(get(&e, "/v1/kv/app/lock", &r), 0);
    CU_ASSERT_EQUAL(r.status, 404);
    resp_free(&r);

    CU_ASSERT_EQUAL_FATAL(get(&e, "/v1/kv/x?stale&consistent", &r), 0);
    CU_ASSERT_EQUAL(r.status, 400);
    CU_ASSERT_STRING_EQUAL(body(&r), "Cannot specify ?stale with ?consistent, conflicting semantics.");
    resp_free(&r);
    CU_ASSERT_EQUAL_FATAL(get(&e, "/v1/kv/x?wait=10", &r), 0);
    CU_ASSERT_STRING_EQUAL(body(&r), "Invalid wait time");
    resp_free(&r);
    CU_ASSERT_EQUAL_FATAL(get(&e, "/v1/kv/x?index=abc", &r), 0);
    CU_ASSERT_STRING_EQUAL(body(&r), "Invalid index");
    resp_free(&r);
    env_stop(&e);
}

static void test_pipelining(void)
{
    env_t e;
    resp_t r;
    cli_t c;
    CU_ASSERT_EQUAL_FATAL(env_start(&e), 0);
    CU_ASSERT_EQUAL_FATAL(cli_open(&c, e.port), 0);
    /* three requests in one segment: answered in order on one connection */
    cli_sends(&c, "PUT /v1/kv/p HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"
                  "GET /v1/kv/p?raw HTTP/1.1\r\n\r\n"
                  "GET /v1/nope HTTP/1.1\r\n\r\n");
    CU_ASSERT_EQUAL_FATAL(cli_read(&c, &r, 5000), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(body(&r), "true");
    resp_free(&r);
    CU_ASSERT_EQUAL_FATAL(cli_read(&c, &r, 5000), 0);
    CU_ASSERT_STRING_EQUAL(body(&r), "hi");
    resp_free(&r);
    CU_ASSERT_EQUAL_FATAL(cli_read(&c, &r, 5000), 0);
    CU_ASSERT_EQUAL(r.status, 404);
    CU_ASSERT_PTR_NULL(hget(&r, "connection"));
    resp_free(&r);
    /* still open: keep-alive */
    cli_sends(&c, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
    CU_ASSERT_EQUAL_FATAL(cli_read(&c, &r, 5000), 0);
    CU_ASSERT_STRING_EQUAL(hget(&r, "connection"), "close");
    resp_free(&r);
    CU_ASSERT_TRUE(cli_wait_eof(&c, 3000));
    cli_close(&c);

    /* HTTP/1.0: closed unless keep-alive is asked for */
    CU_ASSERT_EQUAL_FATAL(cli_open(&c, e.port), 0);
    cli_sends(&c, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    CU_ASSERT_EQUAL_FATAL(cli_read(&c, &r, 5000), 0);
    CU_ASSERT_STRING_EQUAL(hget(&r, "connection"), "keep-alive");
    resp_free(&r);
    cli_sends(&c, "GET / HTTP/1.0\r\n\r\n");
    CU_ASSERT_EQUAL_FATAL(cli_read(&c, &r, 5000), 0);
    CU_ASSERT_STRING_EQUAL(hget(&r, "connection"), "close");
    resp_free(&r);
    CU_ASSERT_TRUE(cli_wait_eof(&c, 3000));
    cli_close(&c);
    env_stop(&e);
}

static void test_errors(void)
{
    env_t e;
    resp_t r;
    cli_t c;
    CU_ASSERT_EQUAL_FATAL(env_start_cfg(&e, agent_cfg(0, 200, 0), 1000), 0);

    /* KV body over the limit: 413 at once, no body read, connection closed */
    CU_ASSERT_EQUAL_FATAL(cli_open(&c, e.port), 0);
    cli_sends(&c, "PUT /v1/kv/big HTTP/1.1\r\nContent-Length: 1001\r\n\r\n");
    CU_ASSERT_EQUAL_FATAL(cli_read(&c, &r, 5000), 0);
    CU_ASSERT_EQUAL(r.status, 413);
    CU_ASSERT_STRING_EQUAL(body(&r), "Value exceeds 1000 byte limit");
    CU_ASSERT_STRING_EQUAL(hget(&r, "connection"), "close");
    resp_free(&r);
    CU_ASSERT_TRUE(cli_wait_eof(&c, 3000));
    cli_close(&c);

    /* 100-continue: the interim answer, then the body, then the result */
    CU_ASSERT_EQUAL_FATAL(cli_open(&c, e.port), 0);
    cli_sends(&c, "PUT /v1/kv/c HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
    CU_ASSERT_EQUAL_FATAL(cli_read(&c, &r, 5000), 0);
    CU_ASSERT_EQUAL(r.status, 100);
    resp_free(&r);
    cli_sends(&c, "abc");
    CU_ASSERT_EQUAL_FATAL(cli_read(&c, &r, 5000), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(body(&r), "true");
    resp_free(&r);
    /* ... and a too-large one gets 413 instead of 100 */
    cli_sends(&c, "PUT /v1/kv/c HTTP/1.1\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n");
    CU_ASSERT_EQUAL_FATAL(cli_read(&c, &r, 5000), 0);
    CU_ASSERT_EQUAL(r.status, 413);
    resp_free(&r);
    cli_close(&c);

    /* malformed HTTP: 400 with a short text, then close */
    CU_ASSERT_EQUAL_FATAL(cli_open(&c, e.port), 0);
    cli_sends(&c, "GET / HTTP/1.1\r\nBad Header\r\n\r\n");
    CU_ASSERT_EQUAL_FATAL(cli_read(&c, &r, 5000), 0);
    CU_ASSERT_EQUAL(r.status, 400);
    CU_ASSERT_NSTRING_EQUAL(body(&r), "Bad Request", 11);
    resp_free(&r);
    CU_ASSERT_TRUE(cli_wait_eof(&c, 3000));
    cli_close(&c);

    CU_ASSERT_EQUAL_FATAL(get(&e, "/v1/kv/bad%zzescape", &r), 0);
    CU_ASSERT_EQUAL(r.status, 400);
    resp_free(&r);
    CU_ASSERT_EQUAL_FATAL(get(&e, "/v1/kv/nul%00key", &r), 0);
    CU_ASSERT_EQUAL(r.status, 400);
    resp_free(&r);

    /* the agent is unaffected */
    CU_ASSERT_EQUAL_FATAL(get(&e, "/v1/kv/c?raw", &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(body(&r), "abc");
    resp_free(&r);
    env_stop(&e);
}

static void test_generic_calls(void)
{
    env_t e;
    resp_t r;
    fake_record_t rec;
    CU_ASSERT_EQUAL_FATAL(env_start(&e), 0);

    json_t *nodes = json_pack("[{s:s}]", "Node", "n1");
    fake_script(&e.core, TB_OK, NULL, nodes, 0);
    CU_ASSERT_EQUAL_FATAL(get(&e, "/v1/catalog/service/web?tag=a&tag=b%20c&token=qt", &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(body(&r), "[{\"Node\":\"n1\"}]");
    CU_ASSERT_STRING_EQUAL(hget(&r, "x-consul-index"), "1"); /* 0 is never sent */
    fake_record(&e.core, &rec);
    CU_ASSERT_STRING_EQUAL(rec.method, "Catalog.ServiceNodes");
    CU_ASSERT_STRING_EQUAL(rec.args, "{\"ServiceName\":\"web\",\"ServiceTags\":[\"a\",\"b c\"]}");
    CU_ASSERT_STRING_EQUAL(rec.token, "qt");
    free(rec.args);
    resp_free(&r);

    CU_ASSERT_EQUAL_FATAL(one(&e, "GET /v1/health/service/web?passing HTTP/1.1\r\n"
                                  "Authorization: Bearer bt\r\n\r\n", &r), 0);
    fake_record(&e.core, &rec);
    CU_ASSERT_STRING_EQUAL(rec.method, "Health.ServiceNodes");
    CU_ASSERT_STRING_EQUAL(rec.args,
                           "{\"ServiceName\":\"web\",\"ServiceTags\":[],\"PassingOnly\":true}");
    CU_ASSERT_STRING_EQUAL(rec.token, "bt");
    free(rec.args);
    resp_free(&r);
    CU_ASSERT_EQUAL_FATAL(get(&e, "/v1/health/service/web?passing=maybe", &r), 0);
    CU_ASSERT_EQUAL(r.status, 400);
    CU_ASSERT_STRING_EQUAL(body(&r), "Invalid value for ?passing");
    resp_free(&r);
    CU_ASSERT_EQUAL_FATAL(get(&e, "/v1/health/state/", &r), 0);
    CU_ASSERT_EQUAL(r.status, 400);
    CU_ASSERT_STRING_EQUAL(body(&r), "Missing check state");
    resp_free(&r);

    CU_ASSERT_EQUAL_FATAL(get(&e, "/v1/catalog/nodes?pretty&stale&index=0&wait=3s", &r), 0);
    CU_ASSERT_STRING_EQUAL(body(&r), "[\n    {\n        \"Node\": \"n1\"\n    }\n]\n");
    CU_ASSERT_STRING_EQUAL(hget(&r, "x-consul-effective-consistency"), "stale");
    fake_record(&e.core, &rec);
    CU_ASSERT_EQUAL(rec.opts.consistency, TB_CONSISTENCY_STALE);
    CU_ASSERT(rec.opts.wait_ms == 3000);
    free(rec.args);
    resp_free(&r);
    json_decref(nodes);

    /* bodies: JSON object as args; empty body only where Consul allows it */
    fake_script(&e.core, TB_OK, NULL, json_true(), 7);
    CU_ASSERT_EQUAL_FATAL(put(&e, "/v1/catalog/register", "{\"node\":\"n2\",\"address\":\"a\"}", &r), 0);
    CU_ASSERT_STRING_EQUAL(body(&r), "true");
    CU_ASSERT_PTR_NULL(hget(&r, "x-consul-index")); /* writes carry no query meta */
    fake_record(&e.core, &rec);
    CU_ASSERT_STRING_EQUAL(rec.args, "{\"node\":\"n2\",\"address\":\"a\"}");
    free(rec.args);
    resp_free(&r);
    CU_ASSERT_EQUAL_FATAL(put(&e, "/v1/catalog/register", "{\"node\":", &r), 0);
    CU_ASSERT_EQUAL(r.status, 400);
    CU_ASSERT_NSTRING_EQUAL(body(&r), "Request decode failed: ", 23);
    resp_free(&r);
    CU_ASSERT_EQUAL_FATAL(put(&e, "/v1/catalog/register", "", &r), 0);
    CU_ASSERT_STRING_EQUAL(body(&r), "Request decode failed: EOF");
    resp_free(&r);
    CU_ASSERT_EQUAL_FATAL(put(&e, "/v1/session/create", "", &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    fake_record(&e.core, &rec);
    CU_ASSERT_STRING_EQUAL(rec.method, "Session.Create");
    CU_ASSERT_STRING_EQUAL(rec.args, "{}");
    free(rec.args);
    resp_free(&r);
    CU_ASSERT_EQUAL_FATAL(put(&e, "/v1/agent/reload", "", &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_EQUAL(r.body.len, 0);
    resp_free(&r);
    CU_ASSERT_EQUAL_FATAL(get(&e, "/v1/agent/members?wan", &r), 0);
    fake_record(&e.core, &rec);
    CU_ASSERT_STRING_EQUAL(rec.args, "{\"WAN\":true}");
    free(rec.args);
    resp_free(&r);

    /* null result is 200 null (unknown catalog node) */
    fake_script(&e.core, TB_OK, NULL, NULL, 4);
    CU_ASSERT_EQUAL_FATAL(get(&e, "/v1/catalog/node/ghost", &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(body(&r), "null");
    CU_ASSERT_STRING_EQUAL(hget(&r, "x-consul-index"), "4");
    resp_free(&r);

    /* statuses */
    fake_script(&e.core, TB_NOT_FOUND, NULL, NULL, 9);
    CU_ASSERT_EQUAL_FATAL(get(&e, "/v1/session/info/abc", &r), 0);
    CU_ASSERT_EQUAL(r.status, 404);
    CU_ASSERT_STRING_EQUAL(hget(&r, "x-consul-index"), "9");
    resp_free(&r);
    fake_script(&e.core, TB_NOT_FOUND, "Session id 'abc' not found", NULL, 9);
    CU_ASSERT_EQUAL_FATAL(put(&e, "/v1/session/renew/abc", "", &r), 0);
    CU_ASSERT_EQUAL(r.status, 404);
    CU_ASSERT_STRING_EQUAL(body(&r), "Session id 'abc' not found");
    resp_free(&r);
    fake_script(&e.core, TB_NO_LEADER, "raft says no", NULL, 0);
    CU_ASSERT_EQUAL_FATAL(get(&e, "/v1/catalog/nodes", &r), 0);
    CU_ASSERT_EQUAL(r.status, 500);
    CU_ASSERT_STRING_EQUAL(body(&r), "No cluster leader");
    resp_free(&r);
    fake_script(&e.core, TB_PERMISSION_DENIED, NULL, NULL, 0);
    CU_ASSERT_EQUAL_FATAL(get(&e, "/v1/agent/self", &r), 0);
    CU_ASSERT_EQUAL(r.status, 403);
    CU_ASSERT_STRING_EQUAL(body(&r), "Permission denied");
    resp_free(&r);
    fake_script(&e.core, TB_NO_PATH, NULL, NULL, 0);
    CU_ASSERT_EQUAL_FATAL(get(&e, "/v1/status/leader?dc=nowhere", &r), 0);
    CU_ASSERT_EQUAL(r.status, 500);
    CU_ASSERT_STRING_EQUAL(body(&r), "No path to datacenter");
    resp_free(&r);
    env_stop(&e);
}

static void test_blocking(void)
{
    env_t e;
    resp_t r;
    cli_t c, w;
    fake_record_t rec;
    CU_ASSERT_EQUAL_FATAL(env_start(&e), 0);
    CU_ASSERT_EQUAL_FATAL(put(&e, "/v1/kv/b", "1", &r), 0);
    resp_free(&r);

    /* woken by a write on another connection */
    CU_ASSERT_EQUAL_FATAL(cli_open(&c, e.port), 0);
    cli_sends(&c, "GET /v1/kv/b?index=1&wait=10s HTTP/1.1\r\n\r\n");
    sleep_ms(100);
    CU_ASSERT_EQUAL(cli_fill(&c, 100), -1); /* still waiting */
    CU_ASSERT_EQUAL_FATAL(put(&e, "/v1/kv/b", "2", &r), 0);
    resp_free(&r);
    CU_ASSERT_EQUAL_FATAL(cli_read(&c, &r, 5000), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(hget(&r, "x-consul-index"), "2");
    CU_ASSERT_PTR_NOT_NULL(strstr(body(&r), "\"Value\":\"Mg==\""));
    resp_free(&r);

    /* the client leaves mid-wait: the call is cancelled at once */
    cli_sends(&c, "GET /v1/kv/b?index=2&wait=60s HTTP/1.1\r\n\r\n");
    sleep_ms(100);
    fake_record(&e.core, &rec);
    CU_ASSERT_EQUAL(rec.inflight, 1);
    CU_ASSERT(rec.opts.min_index == 2 && rec.opts.wait_ms == 60000);
    free(rec.args);
    cli_close(&c);
    for (int i = 0; i < 100; i++) {
        fake_record(&e.core, &rec);
        free(rec.args);
        if (rec.cancelled)
            break;
        sleep_ms(20);
    }
    CU_ASSERT_EQUAL(rec.cancelled, 1);
    CU_ASSERT_EQUAL(rec.inflight, 0);

    /* stop with a blocking query in flight: cancelled, every handle closed */
    CU_ASSERT_EQUAL_FATAL(cli_open(&w, e.port), 0);
    cli_sends(&w, "GET /v1/kv/b?index=99&wait=60s HTTP/1.1\r\n\r\n");
    sleep_ms(100);
    fake_record(&e.core, &rec);
    CU_ASSERT_EQUAL(rec.inflight, 1);
    env_stop(&e);
    CU_ASSERT_TRUE(cli_wait_eof(&w, 3000));
    cli_close(&w);
}

static void set_short_timeouts(fake_core_t *core, void *arg)
{
    tbh_server_t *s = core->ops.arg;
    (void)arg;
    s->idle_timeout_ms = 150;
    s->header_timeout_ms = 150;
}

static void test_timeouts_and_limits(void)
{
    env_t e;
    resp_t r;
    cli_t a, b, c;
    CU_ASSERT_EQUAL_FATAL(env_start_cfg(&e, agent_cfg(0, 2, 0), 524288), 0);

    /* per-client limit: the third connection from 127.0.0.1 gets 429 */
    CU_ASSERT_EQUAL_FATAL(cli_open(&a, e.port), 0);
    CU_ASSERT_EQUAL_FATAL(cli_open(&b, e.port), 0);
    cli_sends(&a, "GET / HTTP/1.1\r\n\r\n"); /* make sure both are accepted */
    CU_ASSERT_EQUAL(cli_read(&a, &r, 5000), 0);
    resp_free(&r);
    cli_sends(&b, "GET / HTTP/1.1\r\n\r\n");
    CU_ASSERT_EQUAL(cli_read(&b, &r, 5000), 0);
    resp_free(&r);
    CU_ASSERT_EQUAL_FATAL(cli_open(&c, e.port), 0);
    CU_ASSERT_EQUAL_FATAL(cli_read(&c, &r, 5000), 0);
    CU_ASSERT_EQUAL(r.status, 429);
    CU_ASSERT_PTR_NOT_NULL(strstr(body(&r), "too many concurrent connections"));
    resp_free(&r);
    cli_close(&c);
    cli_close(&a);
    sleep_ms(100);
    CU_ASSERT_EQUAL_FATAL(get(&e, "/", &r), 0); /* a slot is free again */
    CU_ASSERT_EQUAL(r.status, 200);
    resp_free(&r);
    cli_close(&b);

    fake_exec(&e.core, set_short_timeouts, NULL);
    /* idle keep-alive connection closed by the server */
    CU_ASSERT_EQUAL_FATAL(cli_open(&a, e.port), 0);
    CU_ASSERT_TRUE(cli_wait_eof(&a, 2000));
    cli_close(&a);
    /* slow headers: closed without an answer */
    CU_ASSERT_EQUAL_FATAL(cli_open(&a, e.port), 0);
    cli_sends(&a, "GET /v1/kv/slow HTTP/1.1\r\nHost:");
    sleep_ms(60);
    cli_sends(&a, " x\r\n");
    CU_ASSERT_TRUE(cli_wait_eof(&a, 2000));
    CU_ASSERT_EQUAL(a.in.len, 0);
    cli_close(&a);
    env_stop(&e);
}

static void test_dev_mode_and_reload(void)
{
    env_t e;
    resp_t r;
    CU_ASSERT_EQUAL_FATAL(env_start_cfg(&e, agent_cfg(0, 200, 1), 524288), 0);
    json_t *self = json_pack("{s:s}", "a", "b");
    fake_script(&e.core, TB_OK, NULL, self, 0);
    json_decref(self);
    CU_ASSERT_EQUAL_FATAL(get(&e, "/v1/agent/self", &r), 0);
    CU_ASSERT_STRING_EQUAL(body(&r), "{\n    \"a\": \"b\"\n}\n"); /* dev: always pretty */
    resp_free(&r);
    char *logs = fake_logs(&e.core);
    CU_ASSERT_PTR_NOT_NULL(strstr(logs, "listening on 127.0.0.1:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(logs, "request finished: method=GET url=/v1/agent/self"));
    free(logs);
    env_stop(&e);
}

static void test_token_redacted(void)
{
    env_t e;
    resp_t r;
    CU_ASSERT_EQUAL_FATAL(env_start(&e), 0);
    CU_ASSERT_EQUAL_FATAL(get(&e, "/v1/kv/a?token=secret-token&stale", &r), 0);
    resp_free(&r);
    char *logs = fake_logs(&e.core);
    CU_ASSERT_PTR_NULL(strstr(logs, "secret-token"));
    CU_ASSERT_PTR_NOT_NULL(strstr(logs, "url=/v1/kv/a?token=<hidden>&stale"));
    free(logs);
    env_stop(&e);
}

static void test_bind_failure(void)
{
    /* hold a port, then ask the plugin for it */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CU_ASSERT_EQUAL_FATAL(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    CU_ASSERT_EQUAL_FATAL(listen(fd, 1), 0);
    socklen_t len = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    int port = ntohs(a.sin_port);

    fake_core_t core;
    char *err = NULL;
    json_t *cfg = agent_cfg(port, 200, 0);
    CU_ASSERT_EQUAL_FATAL(fake_init(&core, cfg, NULL, &err), 0);
    json_decref(cfg);
    CU_ASSERT_EQUAL(fake_start(&core, &err), -1);
    char want[128];
    snprintf(want, sizeof(want), "http: cannot listen on 127.0.0.1:%d: address already in use", port);
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_STRING_EQUAL(err, want);
    free(err);
    /* stop is owed after a failed start too: it frees the plugin */
    CU_ASSERT_EQUAL(fake_free_unstarted(&core), 0);
    close(fd);
}

static void test_bad_config(void)
{
    fake_core_t core;
    char *err = NULL;
    json_t *cfg = agent_cfg(0, 200, 0);
    json_t *own = json_pack("{s:i}", "foo", 1);
    CU_ASSERT_EQUAL(fake_init(&core, cfg, own, &err), -1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_STRING_EQUAL(err, "/etc/test.json: plugin_config.http.foo: unknown key");
    free(err);
    CU_ASSERT_EQUAL(fake_free_unstarted(&core), 0);
    json_decref(own);
    json_decref(cfg);
}

static void test_disabled(void)
{
    fake_core_t core;
    char *err = NULL;
    json_t *cfg = agent_cfg(-1, 200, 0);
    CU_ASSERT_EQUAL_FATAL(fake_init(&core, cfg, NULL, &err), 0);
    json_decref(cfg);
    CU_ASSERT_EQUAL(fake_start(&core, &err), 0);
    tbh_server_t *s = core.ops.arg;
    CU_ASSERT_PTR_NULL(s->listeners);
    fake_run(&core);
    CU_ASSERT_EQUAL(fake_stop_and_free(&core), 0);
}

typedef struct reload_arg {
    int rc;
    char *err;
} reload_arg_t;

static void do_reload(fake_core_t *core, void *arg)
{
    reload_arg_t *ra = arg;
    ra->rc = core->ops.reload(&core->plugin, core->ops.arg, &ra->err);
}

static void test_reload(void)
{
    env_t e;
    resp_t r;
    CU_ASSERT_EQUAL_FATAL(env_start(&e), 0);
    int old = e.port;
    /* new agent config: dev_mode on and another address -> rebinds */
    json_t *next = json_pack("{s:{s:i},s:s,s:b}", "ports", "http", 0, "client_addr",
                             "127.0.0.2", "dev_mode", 1);
    json_t *prev = e.core.agent_cfg;
    e.core.agent_cfg = next;
    reload_arg_t ra = {0, NULL};
    fake_exec(&e.core, do_reload, &ra);
    CU_ASSERT_EQUAL(ra.rc, 0);
    free(ra.err);
    json_decref(prev);
    CU_ASSERT_TRUE(e.srv->cfg.pretty);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e.srv->listeners);
    /* the old port no longer answers */
    sleep_ms(50);
    cli_t c;
    CU_ASSERT_NOT_EQUAL(cli_open(&c, old), 0);
    cli_close(&c);
    struct sockaddr_in a;
    int len = sizeof(a);
    uv_tcp_getsockname(&e.srv->listeners->h.tcp, (struct sockaddr *)&a, &len);
    CU_ASSERT_EQUAL(a.sin_addr.s_addr, htonl(0x7f000002));
    /* a bad config is refused and the old one stays */
    json_t *bad = json_pack("{s:{s:s}}", "ports", "http", "x");
    prev = e.core.agent_cfg;
    e.core.agent_cfg = bad;
    fake_exec(&e.core, do_reload, &ra);
    CU_ASSERT_EQUAL(ra.rc, -1);
    CU_ASSERT_PTR_NOT_NULL(ra.err && strstr(ra.err, "ports.http: must be an integer"));
    free(ra.err);
    e.core.agent_cfg = prev;
    json_decref(bad);
    CU_ASSERT_TRUE(e.srv->cfg.pretty);
    (void)r;
    env_stop(&e);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite s = CU_add_suite("http-server", NULL, NULL);
    CU_add_test(s, "basics", test_basics);
    CU_add_test(s, "kv", test_kv);
    CU_add_test(s, "pipelining and keep-alive", test_pipelining);
    CU_add_test(s, "errors and limits", test_errors);
    CU_add_test(s, "generic calls", test_generic_calls);
    CU_add_test(s, "blocking queries", test_blocking);
    CU_add_test(s, "timeouts and per-client limit", test_timeouts_and_limits);
    CU_add_test(s, "dev mode", test_dev_mode_and_reload);
    CU_add_test(s, "token redacted in logs", test_token_redacted);
    CU_add_test(s, "bind failure", test_bind_failure);
    CU_add_test(s, "bad config", test_bad_config);
    CU_add_test(s, "disabled", test_disabled);
    CU_add_test(s, "reload", test_reload);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
