/*
 * settings.h - the http plugin's settings, read from the merged agent config
 * (ports.http, ports.https, client_addr, addresses.http(s), limits, dev_mode,
 * discovery_max_stale, acl.default_policy, http_config.response_headers)
 * and from its own section plugin_config.http, which has no keys yet.
 * Pure: validated here so tb_plugin_init and reload report one clear line.
 */
#ifndef TBH_SETTINGS_H
#define TBH_SETTINGS_H

#include <jansson.h>
#include <stdint.h>

#include "router.h"

typedef struct tbh_settings {
    int port;                     /* -1: HTTP disabled; 0: any free port (tests) */
    char **addrs;                 /* IP literals or "unix:///path" */
    size_t naddrs;
    int https_port;               /* ports.https: -1 (default) off, 0 any free port (tests) */
    char **https_addrs;           /* addresses.https, else client_addr */
    size_t nhttps_addrs;
    uint64_t max_conns_per_client;/* 0: unlimited */
    int pretty;                   /* dev_mode: every JSON response indented */
    uint64_t discovery_stale_ms;  /* discovery_max_stale */
    char *extra_headers;          /* "Name: value\r\n" lines added to every response */
} tbh_settings_t;

/* Returns 0, or -1 with *err (malloc'd) naming the key. */
int tbh_settings_load(tbh_settings_t *s, const json_t *agent, const json_t *own,
                      tbh_duration_fn dur, char **err);
void tbh_settings_free(tbh_settings_t *s);
/* Same port and bind addresses (no need to rebind on reload). */
int tbh_settings_same_listeners(const tbh_settings_t *a, const tbh_settings_t *b);

#endif
