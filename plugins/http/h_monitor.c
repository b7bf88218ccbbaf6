/*
 * h_monitor.c - GET /v1/agent/monitor: the agent's log lines streamed as
 * a chunked text/plain response until the client goes away (Consul's
 * `consul monitor`). ?loglevel= picks the minimum level (default info),
 * also below the agent's own -log-level: the core builds those lines only
 * while someone watches them. ?logjson streams Consul's JSON lines
 * ({"@level","@message","@module","@timestamp"}) whatever -log-json says.
 *
 * The connection stays in HANDLING for the whole stream; each line is one
 * chunk written directly. A client that reads too slowly loses lines
 * (more than MAX_QUEUED bytes unsent), as Consul drops them, rather than
 * growing the agent's memory. The stream ends when the connection closes
 * (EOF, error, agent stop): tbh_exchange_reset removes the log watch.
 */
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_QUEUED (1u << 20)

typedef struct mwrite {
    uv_write_t req;
    char *data;
} mwrite_t;

static void on_mwrite(uv_write_t *req, int status)
{
    mwrite_t *w = (mwrite_t *)req;
    (void)status; /* a failed write surfaces as a read error: the conn closes */
    free(w->data);
    free(w);
}

static int write_raw(tbh_conn_t *c, char *data, size_t len)
{
    mwrite_t *w = malloc(sizeof(*w));
    if (!w) {
        free(data);
        return -1;
    }
    w->data = data;
    uv_buf_t b = uv_buf_init(data, (unsigned)len);
    if (tbh_conn_write(c, &w->req, &b, 1, on_mwrite) != 0) {
        free(data);
        free(w);
        return -1;
    }
    return 0;
}

static void on_line(void *arg, tb_log_level_t level, const char *line)
{
    tbh_conn_t *c = arg;
    (void)level;
    if (c->state == TBH_CS_CLOSING || uv_stream_get_write_queue_size(&c->h.stream) > MAX_QUEUED)
        return;
    size_t n = strlen(line);
    char *chunk = malloc(n + 32);
    if (!chunk)
        return;
    int h = snprintf(chunk, 32, "%zx\r\n", n);
    memcpy(chunk + h, line, n);
    memcpy(chunk + h + n, "\r\n", 2);
    write_raw(c, chunk, (size_t)h + n + 2); /* no logging here: we are inside the logger */
}

static int parse_level(const char *s, tb_log_level_t *out)
{
    static const struct {
        const char *name;
        tb_log_level_t level;
    } names[] = {{"trace", TB_LOG_TRACE}, {"debug", TB_LOG_DEBUG}, {"info", TB_LOG_INFO},
                 {"warn", TB_LOG_WARN},   {"warning", TB_LOG_WARN}, {"err", TB_LOG_ERROR},
                 {"error", TB_LOG_ERROR}};
    if (!s || !*s) {
        *out = TB_LOG_INFO;
        return 0;
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!strcasecmp(s, names[i].name)) {
            *out = names[i].level;
            return 0;
        }
    return -1;
}

void tbh_monitor_handle(tbh_conn_t *c)
{
    tbh_server_t *s = c->srv;
    tbh_exchange_t *x = &c->x;
    tb_log_level_t level;
    const char *lv = tbh_query_get(&x->query, "loglevel");
    if (parse_level(lv, &level) != 0) {
        tbh_buf_t m = TBH_BUF_INIT;
        tbh_buf_printf(&m, "Unknown log level: %s", lv);
        tbh_send_text(c, 400, m.data ? m.data : "Unknown log level");
        tbh_buf_free(&m);
        return;
    }
    if (!TB_API_HAS(s->api, log_unwatch) || !s->api->log_watch || !s->api->log_unwatch) {
        tbh_send_text(c, 500, "this agent cannot stream its logs");
        return;
    }
    int json = tbh_query_has(&x->query, "logjson");
    x->monitor = s->api->log_watch(
        s->self, (tb_log_level_t)((int)level | (json ? TB_LOG_WATCH_JSON : 0)), on_line, c);
    if (!x->monitor) {
        tbh_send_text(c, 500, "out of memory");
        return;
    }
    c->close_after = 1;
    tbh_buf_t h = TBH_BUF_INIT;
    tbh_buf_adds(&h, "HTTP/1.1 200 OK\r\n");
    if (s->cfg.extra_headers)
        tbh_buf_adds(&h, s->cfg.extra_headers);
    tbh_buf_adds(&h, "Content-Type: text/plain; charset=utf-8\r\n"
                     "Transfer-Encoding: chunked\r\nCache-Control: no-cache\r\n\r\n");
    size_t len;
    char *head = h.failed ? NULL : tbh_buf_steal(&h, &len);
    tbh_buf_free(&h);
    if (!head || write_raw(c, head, len) != 0)
        tbh_conn_close(c);
}

void tbh_monitor_stop(tbh_conn_t *c)
{
    if (c->x.monitor) {
        c->srv->api->log_unwatch(c->srv->self, c->x.monitor);
        c->x.monitor = NULL;
    }
}
