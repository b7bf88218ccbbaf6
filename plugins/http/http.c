/*
 * http.c - entry point of the bundled `http` plugin: Consul's HTTP API
 * (/v1/kv, catalog, health, session, status, agent) on ports.http of every
 * client_addr, and over TLS on ports.https when that is set (tls.c). tb_plugin_init validates the configuration and registers
 * the surface and lifecycle ops; start binds, reload re-reads the limits
 * and rebinds when the addresses changed, stop closes everything and the
 * state is freed when the last handle has closed.
 */
#include "tb_autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.1.0"
#endif

TB_PLUGIN_MAGIC("http", PACKAGE_VERSION)

#define MIB (1024u * 1024u)

/* Limits that are not configuration (yet): Go's server defaults where
 * Consul relies on them, tighter where it leaves a slow client unbounded. */
#define HEADER_BYTES (1 * MIB)      /* Go's DefaultMaxHeaderBytes */
#define HEADER_TIMEOUT_MS 30000u    /* whole header section */
#define BODY_TIMEOUT_MS 30000u      /* between two pieces of body */
#define IDLE_TIMEOUT_MS 300000u     /* keep-alive connection without a request */
#define LINGER_MS 1000u             /* drain after an error before closing */
#define BODY_SLACK (64u * 1024u)

static void apply_limits(tbh_server_t *s)
{
    s->kv_max = s->api->kv_max_value_size(s->self);
    s->max_body = (s->kv_max > MIB ? s->kv_max : MIB) + BODY_SLACK;
}

void tbh_server_maybe_free(tbh_server_t *s)
{
    if (!s->stopping)
        return;
    if (s->nconns == 0)
        tbh_timer_close(s); /* no timeout left to serve */
    if (s->open_handles > 0)
        return;
    for (size_t i = 0; i < TBH_CLIENT_BUCKETS; i++) {
        while (s->clients[i]) { /* normally empty: every connection released its entry */
            tbh_client_t *n = s->clients[i]->next;
            free(s->clients[i]);
            s->clients[i] = n;
        }
    }
    tbh_settings_free(&s->cfg);
    tbh_tls_ctx_free(s->tls_ctx);
    tbh_render_cache_free(s);
    free(s);
}

/* Settings errors start with the key ("ports.http: ..."); name the file
 * that set its top-level key in front, as the SDK asks. With ports.https
 * on, the certificate and key are loaded here too, so a bad one refuses
 * start-up (or the reload) with one line. */
static int load_settings(tbh_server_t *s, tbh_settings_t *out, tbh_tls_ctx_t **tls,
                         char **errmsg)
{
    char *err = NULL;
    const json_t *agent = s->api->agent_config(s->self);
    *tls = NULL;
    if (tbh_settings_load(out, agent, s->api->config(s->self), s->api->parse_duration, &err) ==
        0) {
        if (out->https_port < 0 ||
            tbh_tls_ctx_load(agent, s->api->parse_duration, tls, &err) == 0)
            return 0;
        tbh_settings_free(out);
    }
    char top[64];
    size_t n = err ? strcspn(err, ".:") : 0;
    snprintf(top, sizeof(top), "%.*s", (int)(n < sizeof(top) ? n : sizeof(top) - 1),
             err ? err : "");
    const char *origin = s->api->config_origin(s->self, top);
    tbh_buf_t b = TBH_BUF_INIT;
    if (origin && strcmp(origin, "defaults") != 0)
        tbh_buf_printf(&b, "%s: ", origin);
    tbh_buf_adds(&b, err ? err : "invalid configuration");
    free(err);
    *errmsg = tbh_buf_steal(&b, NULL);
    return -1;
}

static int http_start(tb_plugin_t *self, void *arg, char **errmsg)
{
    tbh_server_t *s = arg;
    (void)self;
    s->started = 1;
    if (s->cfg.port < 0 && s->cfg.https_port < 0) {
        s->api->log(s->self, TB_LOG_INFO, "disabled (ports.http is -1)");
        return 0;
    }
    if (tbh_listen(s, &s->cfg, &s->listeners, errmsg) == 0)
        return 0;
    /* The core calls stop for every initialised plugin, started or not:
     * stop closes what tbh_listen opened and frees us. */
    return -1;
}

static int http_reload(tb_plugin_t *self, void *arg, char **errmsg)
{
    tbh_server_t *s = arg;
    tbh_settings_t next;
    tbh_tls_ctx_t *tls;
    (void)self;
    if (load_settings(s, &next, &tls, errmsg) != 0)
        return -1;
    if (s->started && !s->stopping && !tbh_settings_same_listeners(&s->cfg, &next)) {
        tbh_listener_t *fresh = NULL;
        /* bind the new set first: on failure the old one keeps serving */
        if (tbh_listen(s, &next, &fresh, errmsg) != 0) {
            tbh_settings_free(&next);
            tbh_tls_ctx_free(tls);
            return -1;
        }
        tbh_listeners_close(s->listeners);
        s->listeners = fresh;
    }
    tbh_settings_free(&s->cfg);
    s->cfg = next;
    /* new handshakes use the new certificate; open sessions keep theirs */
    tbh_tls_ctx_free(s->tls_ctx);
    s->tls_ctx = tls;
    apply_limits(s); /* new connections get the new limits */
    return 0;
}

static void http_stop(tb_plugin_t *self, void *arg)
{
    tbh_server_t *s = arg;
    (void)self;
    s->stopping = 1;
    tbh_listeners_close(s->listeners);
    s->listeners = NULL;
    tbh_conns_drain(s); /* finish responses being written, close the rest */
    tbh_server_maybe_free(s);
}

int tb_plugin_init(tb_plugin_t *self, const tb_api_t *api, char **errmsg)
{
    if (!TB_API_HAS(api, base64_decode)) {
        *errmsg = strdup("http: the agent's plugin API is older than SDK 1.0");
        return -1;
    }
    tbh_server_t *s = calloc(1, sizeof(*s));
    if (!s) {
        *errmsg = strdup("http: out of memory");
        return -1;
    }
    s->self = self;
    s->api = api;
    s->loop = api->loop(self);
    s->max_header_bytes = HEADER_BYTES;
    s->header_timeout_ms = HEADER_TIMEOUT_MS;
    s->body_timeout_ms = BODY_TIMEOUT_MS;
    s->idle_timeout_ms = IDLE_TIMEOUT_MS;
    s->linger_ms = LINGER_MS;
    apply_limits(s);
    s->max_pending = s->max_body;
    if (load_settings(s, &s->cfg, &s->tls_ctx, errmsg) != 0) {
        free(s);
        return -1;
    }
    static const tb_surface_desc_t surface = {
        sizeof(tb_surface_desc_t), TB_SURFACE_DESC_VERSION, "http",
        "Consul-compatible HTTP API (/v1/kv, catalog, health, session, status, agent)"};
    const tb_plugin_ops_t ops = {sizeof(tb_plugin_ops_t), TB_PLUGIN_OPS_VERSION, http_start,
                                 http_reload, http_stop, s};
    if (api->register_surface(self, &surface) != 0 || api->set_ops(self, &ops) != 0) {
        *errmsg = strdup("http: cannot register with the agent");
        tbh_settings_free(&s->cfg);
        tbh_tls_ctx_free(s->tls_ctx);
        free(s);
        return -1;
    }
    return 0;
}
