/*
 * dns.c - entry point of the bundled `dns` plugin: Consul's DNS interface
 * (spec/dns.md) on UDP and TCP at ports.dns of addresses.dns/client_addr.
 * init reads the settings from the agent config and registers; start
 * binds; reload re-reads the settings, rebinds if the addresses changed
 * and drops the cache (TTL, health and domain rules may have changed);
 * stop closes everything and the state is freed with the last handle.
 */
#include "tb_autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dns.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.1.0"
#endif

TB_PLUGIN_MAGIC("dns", PACKAGE_VERSION)

/* xorshift64*: cheap per-query shuffling; not for secrets. */
uint32_t tbd_rand(tbd_server_t *s)
{
    uint64_t x = s->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s->rng = x;
    return (uint32_t)((x * 2685821657736338717ull) >> 32);
}

void tbd_server_maybe_free(tbd_server_t *s)
{
    if (!s->stopping || s->open_handles > 0 || s->conns)
        return;
    tbd_settings_free(&s->cfg);
    free(s);
}

static int load_settings(tbd_server_t *s, tbd_settings_t *out, char **errmsg)
{
    char *err = NULL;
    if (tbd_settings_load(out, s->api->agent_config(s->self), s->api->config(s->self),
                          s->api->parse_duration, &err) == 0)
        return 0;
    tbd_settings_free(out);
    char top[64];
    size_t n = err ? strcspn(err, ".:") : 0;
    snprintf(top, sizeof top, "%.*s", (int)(n < sizeof top ? n : sizeof top - 1),
             err ? err : "");
    const char *origin = s->api->config_origin(s->self, top);
    char msg[700];
    snprintf(msg, sizeof msg, "%s%s%s", origin && strcmp(origin, "defaults") ? origin : "",
             origin && strcmp(origin, "defaults") ? ": " : "", err ? err : "invalid configuration");
    free(err);
    *errmsg = strdup(msg);
    return -1;
}

static int dns_start(tb_plugin_t *self, void *arg, char **errmsg)
{
    tbd_server_t *s = arg;
    (void)self;
    s->started = 1;
    if (s->cfg.port < 0) {
        s->api->log(s->self, TB_LOG_INFO, "disabled (ports.dns is -1)");
        return 0;
    }
    return tbd_listen(s, &s->cfg, &s->listeners, errmsg);
}

static int dns_reload(tb_plugin_t *self, void *arg, char **errmsg)
{
    tbd_server_t *s = arg;
    tbd_settings_t next;
    (void)self;
    if (load_settings(s, &next, errmsg) != 0)
        return -1;
    /* waiters and forwards point at listeners: finish them first */
    tbd_cache_clear(s);
    tbd_forwards_close(s);
    if (s->started && !s->stopping && !tbd_settings_same_listeners(&s->cfg, &next)) {
        tbd_listener_t *fresh = NULL;
        tbd_listeners_close(s->listeners);
        s->listeners = NULL;
        if (next.port >= 0 && tbd_listen(s, &next, &fresh, errmsg) != 0) {
            tbd_settings_free(&s->cfg);
            s->cfg = next;
            return -1;
        }
        s->listeners = fresh;
    }
    tbd_settings_free(&s->cfg);
    s->cfg = next;
    return 0;
}

static void dns_stop(tb_plugin_t *self, void *arg)
{
    tbd_server_t *s = arg;
    (void)self;
    s->stopping = 1;
    tbd_cache_clear(s);
    tbd_forwards_close(s);
    tbd_listeners_close(s->listeners);
    s->listeners = NULL;
    tbd_conns_close_all(s);
    tbd_server_maybe_free(s);
}

int tb_plugin_init(tb_plugin_t *self, const tb_api_t *api, char **errmsg)
{
    if (!TB_API_HAS(api, catalog_read)) {
        *errmsg = strdup("dns: the agent's plugin API has no catalog_read (typed catalog "
                         "views, SDK 1.0): use an agent built from the same release");
        return -1;
    }
    tbd_server_t *s = calloc(1, sizeof *s);
    if (!s) {
        *errmsg = strdup("dns: out of memory");
        return -1;
    }
    s->self = self;
    s->api = api;
    s->loop = api->loop(self);
    s->rng = ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid() ^ (uint64_t)(uintptr_t)s;
    if (!s->rng)
        s->rng = 88172645463325252ull;
    if (load_settings(s, &s->cfg, errmsg) != 0) {
        free(s);
        return -1;
    }
    static const tb_surface_desc_t surface = {
        sizeof(tb_surface_desc_t), TB_SURFACE_DESC_VERSION, "dns",
        "Consul-compatible DNS interface (node, service, RFC 2782, addr, PTR; UDP and TCP)"};
    const tb_plugin_ops_t ops = {sizeof(tb_plugin_ops_t), TB_PLUGIN_OPS_VERSION, dns_start,
                                 dns_reload, dns_stop, s};
    if (api->register_surface(self, &surface) != 0 || api->set_ops(self, &ops) != 0) {
        *errmsg = strdup("dns: cannot register with the agent");
        tbd_settings_free(&s->cfg);
        free(s);
        return -1;
    }
    return 0;
}
