/*
 * agent_cmd.c - `tribune agent`: turns Consul's agent flags into config
 * sources and JSON keys (tb__config_args_t), builds the configuration and
 * hands both to tb__agent_run(). Flags that set config keys go through one
 * table (flag -> key path -> type) so the mapping is visible in one place.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_int.h"
#include "config/tb_config.h"
#include "agent/agent.h"

typedef enum val_type { V_STR, V_INT, V_BOOL, V_LIST, V_META, V_DUR } val_type_t;

/* What a config flag sets: a key path ("ports.http") and the value type. */
typedef struct key_target {
    const char *path;
    val_type_t type;
} key_target_t;

typedef struct agent_ctx {
    tb__config_args_t *args;
} agent_ctx_t;

static int set_err(char **err, const char *fmt, const char *a, const char *b)
{
    if (asprintf(err, fmt, a, b) < 0)
        *err = NULL;
    return -1;
}

/* Walk/create the objects of "a.b.c" and return the parent of "c". */
static json_t *parent_of(json_t *root, const char *path, const char **leaf)
{
    json_t *cur = root;
    const char *p = path;
    const char *dot;
    while ((dot = strchr(p, '.')) != NULL) {
        char part[64];
        snprintf(part, sizeof(part), "%.*s", (int)(dot - p), p);
        json_t *next = json_object_get(cur, part);
        if (!json_is_object(next)) {
            next = json_object();
            if (next == NULL || json_object_set_new(cur, part, next) != 0)
                return NULL;
        }
        cur = next;
        p = dot + 1;
    }
    *leaf = p;
    return cur;
}

static int on_config_flag(const tb__flag_t *f, const char *value, void *vctx, char **err)
{
    agent_ctx_t *ctx = vctx;
    const key_target_t *t = f->data;
    const char *leaf;
    json_t *parent = parent_of(ctx->args->flags, t->path, &leaf);
    if (parent == NULL)
        return set_err(err, "%s%s", "out of memory", "");
    json_t *v = NULL;
    switch (t->type) {
    case V_STR:
    case V_DUR:
        v = json_string(value);
        break;
    case V_INT: {
        char *end;
        errno = 0;
        long long n = strtoll(value, &end, 10);
        if (errno != 0 || end == value || *end != '\0')
            return set_err(err, "invalid value \"%s\" for flag -%s: parse error", value,
                           f->name);
        v = json_integer(n);
        break;
    }
    case V_BOOL: {
        int b = value ? tb__parse_bool(value) : 1;
        if (b < 0)
            return set_err(err, "invalid boolean value \"%s\" for -%s: parse error", value,
                           f->name);
        v = json_boolean(b);
        break;
    }
    case V_LIST: {
        json_t *list = json_object_get(parent, leaf);
        if (!json_is_array(list)) {
            list = json_array();
            if (list == NULL || json_object_set_new(parent, leaf, list) != 0)
                return set_err(err, "%s%s", "out of memory", "");
        }
        return json_array_append_new(list, json_string(value)) == 0
                   ? 0
                   : set_err(err, "%s%s", "out of memory", "");
    }
    case V_META: {
        /* -node-meta key:value (repeatable) */
        json_t *meta = json_object_get(parent, leaf);
        if (!json_is_object(meta)) {
            meta = json_object();
            if (meta == NULL || json_object_set_new(parent, leaf, meta) != 0)
                return set_err(err, "%s%s", "out of memory", "");
        }
        const char *colon = strchr(value, ':');
        char *key = colon ? strndup(value, (size_t)(colon - value)) : strdup(value);
        int rc = key ? json_object_set_new(meta, key, json_string(colon ? colon + 1 : "")) : -1;
        free(key);
        return rc == 0 ? 0 : set_err(err, "%s%s", "out of memory", "");
    }
    }
    if (v == NULL || json_object_set_new(parent, leaf, v) != 0)
        return set_err(err, "%s%s", "out of memory", "");
    return 0;
}

static int on_source_flag(const tb__flag_t *f, const char *value, void *vctx, char **err)
{
    agent_ctx_t *ctx = vctx;
    tb__config_src_kind_t kind = strcmp(f->name, "config-dir") == 0 ? TB__CFG_DIR : TB__CFG_FILE;
    if (tb__config_args_add_src(ctx->args, kind, value) != 0)
        return set_err(err, "%s%s", "out of memory", "");
    return 0;
}

static int on_dev_flag(const tb__flag_t *f, const char *value, void *vctx, char **err)
{
    agent_ctx_t *ctx = vctx;
    int b = value ? tb__parse_bool(value) : 1;
    if (b < 0)
        return set_err(err, "invalid boolean value \"%s\" for -%s: parse error", value, f->name);
    ctx->args->dev = b;
    return 0;
}

static int on_format_flag(const tb__flag_t *f, const char *value, void *vctx, char **err)
{
    if (strcmp(value, "json") == 0)
        return 0;
    return set_err(err, "==> -config-format=%s: %s", value,
                   "only \"json\" is supported (Tribune reads JSON configuration only)");
}

static int on_hcl_flag(const tb__flag_t *f, const char *value, void *vctx, char **err)
{
    return set_err(err, "%s%s",
                   "==> -hcl: HCL is not supported: Tribune reads JSON configuration only ",
                   "(use -config-file with a .json file)");
}

static const char agent_help[] =
    "Usage: tribune agent [options]\n\n"
    "  Starts the Tribune agent and runs until an interrupt is received. The\n"
    "  agent represents a single node in a cluster. Configuration comes from\n"
    "  JSON files (-config-file, -config-dir, in command-line order) and the\n"
    "  flags below, which take precedence.\n";

#define CFG(flag, kind, path, type, arg, use)                                                  \
    {flag, TB__F_FUNC, NULL, arg, use, on_config_flag, (kind), &(const key_target_t){path, type}, \
     0}

int tb__cmd_agent(int argc, char **argv)
{
    agent_ctx_t ctx = {tb__config_args_new()};
    if (ctx.args == NULL) {
        fprintf(stderr, "==> out of memory\n");
        return 1;
    }
    tb__flag_t flags[] = {
        {"dev", TB__F_FUNC, NULL, NULL,
         "Development mode: an in-memory server with every bundled plugin loaded.", on_dev_flag,
         0, NULL, 0},
        {"config-file", TB__F_FUNC, NULL, "<path>",
         "A JSON config file to load (repeatable, merged in order).", on_source_flag, 1, NULL,
         0},
        {"config-dir", TB__F_FUNC, NULL, "<path>",
         "A directory whose *.json files load in lexical order (repeatable).", on_source_flag,
         1, NULL, 0},
        {"config-format", TB__F_FUNC, NULL, "<json>", "Config file format: only \"json\".",
         on_format_flag, 1, NULL, 0},
        {"hcl", TB__F_FUNC, NULL, "<fragment>", "Not supported (Tribune reads JSON only).",
         on_hcl_flag, 1, NULL, 0},
        CFG("server", 0, "server", V_BOOL, NULL, "Switches the agent to server mode."),
        CFG("bootstrap", 0, "bootstrap", V_BOOL, NULL, "Self-elect as the only server."),
        CFG("bootstrap-expect", 1, "bootstrap_expect", V_INT, "<n>",
            "Wait for this many servers before bootstrapping."),
        CFG("node", 1, "node_name", V_STR, "<name>", "Name of this node (default: hostname)."),
        CFG("node-id", 1, "node_id", V_STR, "<uuid>", "Unique ID of this node (a UUID)."),
        CFG("node-meta", 1, "node_meta", V_META, "<key:value>",
            "Node metadata pair (repeatable)."),
        CFG("datacenter", 1, "datacenter", V_STR, "<name>", "Datacenter of the agent."),
        CFG("data-dir", 1, "data_dir", V_STR, "<path>", "Path to the data directory."),
        CFG("bind", 1, "bind_addr", V_STR, "<address>",
            "Address to bind gossip and server RPC to."),
        CFG("client", 1, "client_addr", V_STR, "<address>",
            "Address to bind the client surfaces (HTTP, DNS) to."),
        CFG("advertise", 1, "advertise_addr", V_STR, "<address>",
            "Address to advertise to the cluster."),
        CFG("advertise-wan", 1, "advertise_addr_wan", V_STR, "<address>",
            "Address to advertise on the WAN."),
        CFG("join", 1, "start_join", V_LIST, "<address>",
            "Address of an agent to join at start (repeatable)."),
        CFG("join-wan", 1, "start_join_wan", V_LIST, "<address>",
            "Address of a server to join over the WAN at start (repeatable)."),
        CFG("retry-join", 1, "retry_join", V_LIST, "<address>",
            "Address of an agent to join, retried until it works (repeatable)."),
        CFG("retry-join-wan", 1, "retry_join_wan", V_LIST, "<address>",
            "WAN address to join, retried (repeatable)."),
        CFG("retry-interval", 1, "retry_interval", V_DUR, "<duration>",
            "Time to wait between join attempts."),
        CFG("retry-max", 1, "retry_max", V_INT, "<n>", "Maximum number of join attempts."),
        CFG("rejoin", 0, "rejoin_after_leave", V_BOOL, NULL,
            "Ignore a previous leave and rejoin the cluster."),
        CFG("http-port", 1, "ports.http", V_INT, "<port>", "HTTP API port (-1 disables)."),
        CFG("https-port", 1, "ports.https", V_INT, "<port>", "HTTPS API port (-1 disables)."),
        CFG("dns-port", 1, "ports.dns", V_INT, "<port>", "DNS port (-1 disables)."),
        CFG("grpc-port", 1, "ports.grpc", V_INT, "<port>", "gRPC port (-1 disables)."),
        CFG("server-port", 1, "ports.server", V_INT, "<port>", "Server RPC port."),
        CFG("serf-lan-port", 1, "ports.serf_lan", V_INT, "<port>", "LAN gossip port."),
        CFG("serf-wan-port", 1, "ports.serf_wan", V_INT, "<port>", "WAN gossip port."),
        CFG("log-level", 1, "log_level", V_STR, "<level>",
            "Log level: trace, debug, info, warn or error."),
        CFG("log-json", 0, "log_json", V_BOOL, NULL, "Write logs as JSON lines."),
        CFG("log-file", 1, "log_file", V_STR, "<path>", "Also write logs to this file."),
        CFG("syslog", 0, "enable_syslog", V_BOOL, NULL, "Also log to syslog."),
        CFG("plugin-dir", 1, "plugin_dir", V_STR, "<path>",
            "Directory plugins are loaded from by name."),
        CFG("plugin", 1, "plugins", V_LIST, "<name-or-path>",
            "A plugin to load (repeatable; appends to \"plugins\")."),
        CFG("pid-file", 1, "pid_file", V_STR, "<path>", "Write the agent's PID to this file."),
        CFG("domain", 1, "domain", V_STR, "<domain>", "DNS domain (default \"consul.\")."),
        CFG("alt-domain", 1, "alt_domain", V_STR, "<domain>", "Alternate DNS domain."),
        CFG("recursor", 1, "recursors", V_LIST, "<address>",
            "Upstream DNS server (repeatable)."),
        CFG("encrypt", 1, "encrypt", V_STR, "<key>", "Gossip encryption key (base64)."),
        CFG("ui", 0, "ui_config.enabled", V_BOOL, NULL, "Enable the web UI."),
        CFG("enable-script-checks", 0, "enable_script_checks", V_BOOL, NULL,
            "Allow script checks from config files and the HTTP API."),
        CFG("enable-local-script-checks", 0, "enable_local_script_checks", V_BOOL, NULL,
            "Allow script checks from config files only."),
        CFG("disable-host-node-id", 0, "disable_host_node_id", V_BOOL, NULL,
            "Do not derive the node ID from the host (always true in Tribune)."),
        {NULL, 0, NULL, NULL, NULL, NULL, 0, NULL, 0},
    };
    int first;
    int rc = tb__flags_parse(flags, argc, argv, &first, agent_help, &ctx);
    if (rc != TB__FLAGS_OK) {
        tb__config_args_free(ctx.args);
        return rc == TB__FLAGS_HELP ? 0 : 1;
    }
    if (first < argc) {
        fprintf(stderr, "==> Unexpected argument: %s\n", argv[first]);
        tb__config_args_free(ctx.args);
        return 1;
    }
    tb__config_t *cfg = NULL;
    char *err = NULL;
    if (tb__config_build(ctx.args, &cfg, &err) != 0) {
        fprintf(stderr, "==> %s\n", err ? err : "invalid configuration");
        free(err);
        tb__config_args_free(ctx.args);
        return 1;
    }
    return tb__agent_run(cfg, ctx.args);
}
