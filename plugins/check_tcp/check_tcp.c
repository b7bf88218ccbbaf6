/*
 * check_tcp.c - the bundled "tcp" check type.
 *
 *   {"check": {"id": "db", "name": "db port", "tcp": "localhost:5432", "interval": "10s"}}
 *
 * One probe resolves the host with uv_getaddrinfo (threadpool, never the
 * loop), then connects to each address in turn until one accepts, as Go's
 * dialer does. Outputs follow Consul: "TCP connect <target>: Success", else
 * Go's dial error ("dial tcp 127.0.0.1:1: connect: connection refused").
 * The core enforces the timeout; the probe also keeps its own timer so a
 * connect that the kernel would leave pending for minutes is torn down.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>

#include <tribune/plugin.h>

#include "tcp_addr.h"

TB_PLUGIN_MAGIC("check_tcp", "1.0.0")

typedef struct tcp_probe tcp_probe_t;

typedef struct check_tcp {
    const tb_api_t *api;
    tb_plugin_t *self;
    tcp_probe_t *active; /* probes not yet reported, for stop */
} check_tcp_t;

struct tcp_probe {
    const tb_api_t *api;
    check_tcp_t *owner;
    tb_probe_t *probe; /* NULL once reported */
    tcp_probe_t *prev, *next;
    char target[300];
    char host[260], port[8];
    uv_getaddrinfo_t gai;
    int gai_pending;
    struct addrinfo *res, *cur;
    struct addrinfo nai;           /* a numeric host: no resolver round trip */
    struct sockaddr_storage nsa;
    uv_tcp_t tcp;
    uv_connect_t conn;
    uv_timer_t timer;
    int handles; /* open libuv handles; freed at 0 with no request pending */
    char lasterr[400];
};

static int tcp_validate(void *arg, const json_t *def, char **errmsg)
{
    (void)arg;
    const json_t *v = json_object_get(def, "tcp");
    char host[260], port[8], buf[512];
    const char *why;
    if (!json_is_string(v)) {
        *errmsg = strdup("tcp: expected a \"host:port\" string");
        return -1;
    }
    if (tcp_addr_split(json_string_value(v), host, sizeof host, port, sizeof port, &why) != 0) {
        snprintf(buf, sizeof buf, "tcp: \"%.300s\": %s", json_string_value(v), why);
        *errmsg = strdup(buf);
        return -1;
    }
    return 0;
}

static void probe_maybe_free(tcp_probe_t *tp)
{
    if (tp->handles == 0 && !tp->gai_pending && !tp->probe) {
        if (tp->res) uv_freeaddrinfo(tp->res);
        free(tp);
    }
}

static void handle_closed(uv_handle_t *h)
{
    tcp_probe_t *tp = h->data;
    tp->handles--;
    probe_maybe_free(tp);
}

/* Report once, then tear everything down; the struct goes with the last
 * close callback. Never touches the plugin afterwards (stop may free it). */
static void finish(tcp_probe_t *tp, tb_check_status_t st, const char *out)
{
    if (!tp->probe) return;
    tb_probe_t *p = tp->probe;
    tp->probe = NULL;
    if (tp->prev) tp->prev->next = tp->next;
    else tp->owner->active = tp->next;
    if (tp->next) tp->next->prev = tp->prev;
    tp->prev = tp->next = NULL;
    if (tp->gai_pending) uv_cancel((uv_req_t *)&tp->gai);
    if (!uv_is_closing((uv_handle_t *)&tp->timer))
        uv_close((uv_handle_t *)&tp->timer, handle_closed);
    if (tp->handles > 1 && !uv_is_closing((uv_handle_t *)&tp->tcp))
        uv_close((uv_handle_t *)&tp->tcp, handle_closed);
    tp->api->probe_done(p, st, out);
    probe_maybe_free(tp);
}

static void addr_name(const struct addrinfo *ai, char *buf, size_t n)
{
    char ip[64] = "?";
    int port = 0;
    if (ai->ai_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const void *)ai->ai_addr;
        uv_ip6_name(s, ip, sizeof ip);
        port = ntohs(s->sin6_port);
        snprintf(buf, n, "[%s]:%d", ip, port);
    } else {
        const struct sockaddr_in *s = (const void *)ai->ai_addr;
        uv_ip4_name(s, ip, sizeof ip);
        port = ntohs(s->sin_port);
        snprintf(buf, n, "%s:%d", ip, port);
    }
}

static void on_connect(uv_connect_t *req, int status);

static void connect_next(tcp_probe_t *tp)
{
    uv_loop_t *loop = tp->timer.loop;
    for (; tp->cur; tp->cur = tp->cur->ai_next) {
        if (tp->cur->ai_family != AF_INET && tp->cur->ai_family != AF_INET6) continue;
        int rc = uv_tcp_init(loop, &tp->tcp);
        if (rc < 0) break;
        tp->tcp.data = tp;
        tp->handles++;
        tp->conn.data = tp;
        rc = uv_tcp_connect(&tp->conn, &tp->tcp, tp->cur->ai_addr, on_connect);
        if (rc == 0) return;
        char a[80];
        addr_name(tp->cur, a, sizeof a);
        snprintf(tp->lasterr, sizeof tp->lasterr, "dial tcp %s: connect: %s", a, uv_strerror(rc));
        /* Synchronous failure (bad address family ...): report it. */
        uv_close((uv_handle_t *)&tp->tcp, handle_closed);
        finish(tp, TB_CHECK_CRITICAL, tp->lasterr);
        return;
    }
    finish(tp, TB_CHECK_CRITICAL, tp->lasterr[0] ? tp->lasterr : "dial tcp: no usable address");
}

static void retry_closed(uv_handle_t *h)
{
    tcp_probe_t *tp = h->data;
    tp->handles--;
    if (tp->probe) connect_next(tp);
    else probe_maybe_free(tp);
}

static void on_connect(uv_connect_t *req, int status)
{
    tcp_probe_t *tp = req->data;
    if (!tp->probe) return; /* torn down: the close callback frees */
    if (status == 0) {
        char out[400];
        snprintf(out, sizeof out, "TCP connect %s: Success", tp->target);
        finish(tp, TB_CHECK_PASSING, out);
        return;
    }
    char a[80];
    addr_name(tp->cur, a, sizeof a);
    snprintf(tp->lasterr, sizeof tp->lasterr, "dial tcp %s: connect: %s", a, uv_strerror(status));
    tp->cur = tp->cur->ai_next;
    if (tp->cur) uv_close((uv_handle_t *)&tp->tcp, retry_closed);
    else finish(tp, TB_CHECK_CRITICAL, tp->lasterr);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    tcp_probe_t *tp = req->data;
    tp->gai_pending = 0;
    tp->res = res;
    if (!tp->probe) {
        probe_maybe_free(tp);
        return;
    }
    if (status < 0 || !res) {
        char out[400];
        snprintf(out, sizeof out, "dial tcp: lookup %s: %s", tp->host,
                 status < 0 ? uv_strerror(status) : "no such host");
        finish(tp, TB_CHECK_CRITICAL, out);
        return;
    }
    tp->cur = res;
    connect_next(tp);
}

static void on_timeout(uv_timer_t *t)
{
    tcp_probe_t *tp = t->data;
    char out[400];
    snprintf(out, sizeof out, "dial tcp %s: i/o timeout", tp->target);
    finish(tp, TB_CHECK_CRITICAL, out);
}

static int tcp_probe(void *arg, tb_probe_t *probe, char **errmsg)
{
    check_tcp_t *ct = arg;
    const tb_api_t *api = ct->api;
    const char *target = json_string_value(json_object_get(api->probe_definition(probe), "tcp"));
    const char *why = "missing";
    tcp_probe_t *tp = calloc(1, sizeof *tp);
    if (!tp) {
        *errmsg = strdup("check_tcp: out of memory");
        return -1;
    }
    if (!target || tcp_addr_split(target, tp->host, sizeof tp->host, tp->port, sizeof tp->port,
                                  &why) != 0) {
        char buf[400];
        snprintf(buf, sizeof buf, "tcp: %s", why);
        *errmsg = strdup(buf);
        free(tp);
        return -1;
    }
    snprintf(tp->target, sizeof tp->target, "%s", target);
    tp->api = api;
    tp->owner = ct;
    tp->probe = probe;
    uv_loop_t *loop = api->loop(ct->self);
    uv_timer_init(loop, &tp->timer);
    tp->timer.data = tp;
    tp->handles = 1;
    tp->gai.data = tp;
    tp->next = ct->active;
    if (ct->active) ct->active->prev = tp;
    ct->active = tp;
    uint64_t to = api->probe_timeout_ms(probe);
    uv_timer_start(&tp->timer, on_timeout, to ? to : 10000, 0);
    /* An IP literal needs no resolver (the thread pool round trip is the
     * larger part of a probe's cost at thousands of checks). */
    int port = atoi(tp->port);
    if (uv_ip4_addr(tp->host, port, (struct sockaddr_in *)&tp->nsa) == 0 ||
        uv_ip6_addr(tp->host, port, (struct sockaddr_in6 *)&tp->nsa) == 0) {
        tp->nai.ai_family = tp->nsa.ss_family;
        tp->nai.ai_socktype = SOCK_STREAM;
        tp->nai.ai_addr = (struct sockaddr *)&tp->nsa;
        tp->nai.ai_addrlen = tp->nsa.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                            : sizeof(struct sockaddr_in);
        tp->cur = &tp->nai;
        connect_next(tp); /* may report at once: allowed by the SDK */
        return 0;
    }
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    int rc = uv_getaddrinfo(loop, &tp->gai, on_resolved, tp->host, tp->port, &hints);
    if (rc < 0) {
        char buf[400];
        snprintf(buf, sizeof buf, "dial tcp: lookup %s: %s", tp->host, uv_strerror(rc));
        finish(tp, TB_CHECK_CRITICAL, buf);
        return 0;
    }
    tp->gai_pending = 1;
    return 0;
}

static void check_tcp_stop(tb_plugin_t *self, void *arg)
{
    (void)self;
    check_tcp_t *ct = arg;
    while (ct->active) finish(ct->active, TB_CHECK_CRITICAL, "agent shutting down");
    free(ct);
}

TB_EXPORT int tb_plugin_init(tb_plugin_t *self, const tb_api_t *api, char **errmsg)
{
    check_tcp_t *ct = calloc(1, sizeof *ct);
    if (!ct) {
        *errmsg = strdup("out of memory");
        return -1;
    }
    ct->api = api;
    ct->self = self;
    tb_plugin_ops_t ops = {
        .size = sizeof ops,
        .version = TB_PLUGIN_OPS_VERSION,
        .stop = check_tcp_stop,
        .arg = ct,
    };
    tb_check_type_desc_t type = {
        .size = sizeof type,
        .version = TB_CHECK_TYPE_DESC_VERSION,
        .name = "tcp",
        .config_key = "tcp",
        .validate = tcp_validate,
        .probe = tcp_probe,
        .arg = ct,
    };
    if (api->set_ops(self, &ops) != 0 || api->register_check_type(self, &type) != 0) {
        free(ct);
        *errmsg = strdup("cannot register the \"tcp\" check type (already claimed?)");
        return -1;
    }
    return 0;
}
