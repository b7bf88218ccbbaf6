/*
 * tb_config.h - agent configuration: JSON files and directories merged as
 * spec/agent-config.md says (later scalars win, lists append, objects merge
 * key by key; directories load *.json in lexical order, not recursed), then
 * command-line flags on top, then validation that names the file and key.
 * The result is the merged JSON (every default filled in, Consul's
 * snake_case keys) that plugins read through the SDK, plus typed fields the
 * core uses, plus the origin (file) of each top-level key.
 */
#ifndef TB_CONFIG_H
#define TB_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* One configuration source, in command-line order. */
typedef enum tb__config_src_kind {
    TB__CFG_FILE = 0, /* -config-file */
    TB__CFG_DIR = 1,  /* -config-dir */
} tb__config_src_kind_t;

typedef struct tb__config_src {
    tb__config_src_kind_t kind;
    char *path;
} tb__config_src_t;

/* What `tribune agent` (or `tribune validate`) collected from its flags. */
typedef struct tb__config_args {
    tb__config_src_t *srcs;
    size_t nsrcs;
    int dev;          /* -dev */
    json_t *flags;    /* config keys set by flags (-node -> node_name ...), owned */
    int no_persist;   /* `tribune validate`: never create data_dir or node-id */
} tb__config_args_t;

/* A zeroed, heap-allocated args value with an empty `flags` object. */
tb__config_args_t *tb__config_args_new(void);
/* Append a -config-file/-config-dir source (path copied). 0 or -1 (ENOMEM). */
int tb__config_args_add_src(tb__config_args_t *a, tb__config_src_kind_t kind, const char *path);
/* Free the sources, the flags and `a` itself (it came from tb__config_args_new). */
void tb__config_args_free(tb__config_args_t *a);

typedef struct tb__config {
    json_t *merged;   /* the full merged config object (owned); besides Consul's
                         keys it has "dev_mode" (bool, set only by -dev) and
                         Tribune's "plugins", "plugin_dir", "plugin_config" */
    json_t *origins;  /* top-level key -> "path" | "command line" | "defaults" (owned) */

    /* Typed view of what the core needs (pointers into `merged`). */
    const char *datacenter;
    const char *node_name;
    const char *node_id;
    const char *data_dir;     /* NULL in -dev */
    const char *bind_addr;
    const char *client_addr;
    const char *advertise_addr;
    const char *plugin_dir;
    const char *pid_file;     /* NULL when unset */
    int dev;
    int server;
    int bootstrap;
    int bootstrap_expect;
    int log_level;            /* tb_log_level_t */
    int log_json;
    int port_http, port_https, port_dns, port_server, port_serf_lan, port_serf_wan, port_grpc;
    uint64_t kv_max_value_size;
    uint64_t default_query_time_ms;
    uint64_t max_query_time_ms;
    uint64_t session_ttl_min_ms;
} tb__config_t;

/* Build the configuration from defaults, -dev defaults, sources and flags.
 * Returns 0, or -1 with *err (malloc'd) like
 *   "/etc/tribune.d/a.json: ports.http: expected an integer, got string". */
int tb__config_build(const tb__config_args_t *args, tb__config_t **out, char **err);
void tb__config_free(tb__config_t *cfg);

/* Parse a Go duration ("10s", "1m30s", "9.87s", "300ms"; no unit = error).
 * Returns 0 and *ns, or -1. */
int tb__parse_duration(const char *s, uint64_t *ns);

/* Base64 (standard alphabet, padded) for KV values and the SDK table. */
char *tb__base64_encode(const void *data, size_t len);
int tb__base64_decode(const char *s, size_t len, void **out, size_t *outlen);

/* The plugins to load: `plugins` (names or paths) and, with -dev, every
 * bundled plugin. Returns a new JSON array of strings. */
json_t *tb__config_plugin_list(const tb__config_t *cfg);

#endif
