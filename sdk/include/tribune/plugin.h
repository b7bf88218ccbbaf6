/*
 * tribune/plugin.h - the Tribune plugin SDK (public, stable, versioned).
 *
 * A plugin is a shared object loaded by the agent at start-up. It declares
 * itself with TB_PLUGIN_MAGIC() and exports tb_plugin_init(). Everything it
 * can do in the agent goes through the tb_api_t table handed to init: it
 * links no core symbols. The table only grows at the end; TB_API_HAS()
 * tells whether the running core has an entry newer than 1.0.
 *
 * This header includes only standard headers, <uv.h> and <jansson.h>.
 * doc/sdk.md documents every entry and the SDK version it arrived in.
 */
#ifndef TRIBUNE_PLUGIN_H
#define TRIBUNE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <time.h>
#include <sys/types.h>
#include <uv.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- version */

#define TB_PRODUCT "tribune"
#define TB_SDK_MAJOR 1
#define TB_SDK_MINOR 0

#if defined(__GNUC__)
#define TB_EXPORT __attribute__((visibility("default")))
#define TB_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define TB_EXPORT
#define TB_PRINTF(f, a)
#endif

/* ---------------------------------------------------------------- magic */

/*
 * The magic block. Its layout is fixed for SDK major 1: fields are only
 * appended and `len` says how much of it a plugin knows. The loader reads
 * product and SDK version first and refuses a wrong product, another major,
 * or a minor newer than the core's, naming each field that differs.
 */
typedef struct tb_plugin_magic {
    uint32_t len;            /* sizeof(tb_plugin_magic_t) at build time */
    uint16_t sdk_major;      /* TB_SDK_MAJOR the plugin was built with */
    uint16_t sdk_minor;      /* TB_SDK_MINOR the plugin was built with */
    char product[16];        /* TB_PRODUCT, NUL-padded */
    uint16_t sizeof_pointer; /* build facts, compared like nginx's signature */
    uint16_t sizeof_size_t;
    uint16_t sizeof_time_t;
    uint16_t sizeof_off_t;
    const char *name;        /* plugin name, e.g. "http" */
    const char *version;     /* plugin's own version string */
} tb_plugin_magic_t;

#define TB_PLUGIN_MAGIC_SYMBOL "tb_plugin_magic"
#define TB_PLUGIN_INIT_SYMBOL "tb_plugin_init"

/* Declare once per plugin, at file scope. */
#define TB_PLUGIN_MAGIC(pname, pversion)                                      \
    TB_EXPORT const tb_plugin_magic_t *tb_plugin_magic(void);                 \
    TB_EXPORT const tb_plugin_magic_t *tb_plugin_magic(void)                  \
    {                                                                         \
        static const tb_plugin_magic_t m = {                                  \
            sizeof(tb_plugin_magic_t), TB_SDK_MAJOR, TB_SDK_MINOR,            \
            TB_PRODUCT, (uint16_t)sizeof(void *), (uint16_t)sizeof(size_t),   \
            (uint16_t)sizeof(time_t), (uint16_t)sizeof(off_t), (pname),       \
            (pversion)};                                                      \
        return &m;                                                            \
    }

/* ---------------------------------------------------------------- basics */

typedef struct tb_plugin tb_plugin_t; /* the core's record of one plugin */
typedef struct tb_api tb_api_t;
typedef struct tb_call tb_call_t;     /* an in-flight endpoint call */
typedef struct tb_timer tb_timer_t;
typedef struct tb_probe tb_probe_t;   /* one run of a check */
typedef struct tb_handler_run tb_handler_run_t; /* one run of a handler */

typedef enum tb_log_level {
    TB_LOG_TRACE = 0,
    TB_LOG_DEBUG = 1,
    TB_LOG_INFO = 2,
    TB_LOG_WARN = 3,
    TB_LOG_ERROR = 4
} tb_log_level_t;

/* Result status of an endpoint call. Surfaces map them to their protocol
 * (the http plugin: 200, 404, 400, 413, 403, 500, 409). */
typedef enum tb_status {
    TB_OK = 0,
    TB_NOT_FOUND = 1,         /* 404, result still carries index */
    TB_BAD_REQUEST = 2,       /* 400, error says why */
    TB_TOO_LARGE = 3,         /* 413 */
    TB_PERMISSION_DENIED = 4, /* 403 */
    TB_NO_LEADER = 5,         /* 500 "No cluster leader" */
    TB_NO_PATH = 6,           /* 500 "No path to datacenter" */
    TB_CONFLICT = 7,          /* 409 (txn rollback) */
    TB_UNAVAILABLE = 8,       /* 503/500: agent shutting down */
    TB_INTERNAL = 9           /* 500, error says why */
} tb_status_t;

typedef enum tb_consistency {
    TB_CONSISTENCY_DEFAULT = 0, /* "leader" */
    TB_CONSISTENCY_CONSISTENT = 1,
    TB_CONSISTENCY_STALE = 2
} tb_consistency_t;

typedef enum tb_check_status {
    TB_CHECK_PASSING = 0,
    TB_CHECK_WARNING = 1,
    TB_CHECK_CRITICAL = 2
} tb_check_status_t;

/* Options common to every endpoint call (Consul's QueryOptions). */
typedef struct tb_query_opts {
    uint32_t size;              /* sizeof(tb_query_opts_t) */
    uint64_t min_index;         /* blocking: wait while result index <= this; 0 = no block */
    uint64_t wait_ms;           /* blocking wait; 0 = default_query_time; capped at max_query_time */
    tb_consistency_t consistency;
    uint64_t max_stale_ms;      /* with TB_CONSISTENCY_STALE; 0 = none */
    const char *token;          /* ACL token or NULL */
    const char *datacenter;     /* target dc or NULL for the agent's */
} tb_query_opts_t;

/* One KV entry as a typed, read-only view (no JSON on the KV hot path,
 * and Flags keep their full uint64 range). */
typedef struct tb_kv_entry {
    const char *key;
    const void *value;   /* NULL when the value is empty */
    size_t value_len;
    uint64_t flags;
    uint64_t lock_index;
    uint64_t create_index;
    uint64_t modify_index;
    const char *session; /* NULL when the key is not held */
} tb_kv_entry_t;

/* The result handed to a completion callback. Everything in it is borrowed
 * and valid only during the callback: json_incref() what you keep. */
typedef struct tb_result {
    tb_status_t status;
    const char *error;      /* message when status != TB_OK (may be NULL) */
    uint64_t index;         /* X-Consul-Index; never 0 */
    int known_leader;       /* X-Consul-KnownLeader */
    uint64_t last_contact_ms; /* X-Consul-LastContact */
    tb_consistency_t effective_consistency;
    json_t *json;           /* generic calls: the result value (see doc/sdk.md) */
    const tb_kv_entry_t *kv;/* KV reads (TB_KV_GET, TB_KV_RECURSE) */
    size_t kv_count;
    int applied;            /* KV writes: 1 = done, 0 = CAS/lock refused */
    /* since 1.0 (pre-release): catalog_read's typed view (NULL otherwise) */
    const struct tb_catalog_view *catalog;
} tb_result_t;

typedef void (*tb_result_cb)(void *arg, const tb_result_t *result);

/* KV reads */
typedef enum tb_kv_read_mode {
    TB_KV_GET = 0,     /* one key: kv/kv_count 0 or 1 */
    TB_KV_RECURSE = 1, /* every key under the prefix, sorted */
    TB_KV_KEYS = 2     /* json array of key names, truncated at separator */
} tb_kv_read_mode_t;

typedef struct tb_kv_read {
    uint32_t size;          /* sizeof(tb_kv_read_t) */
    tb_kv_read_mode_t mode;
    const char *key;        /* key or prefix ("" allowed for RECURSE/KEYS) */
    const char *separator;  /* TB_KV_KEYS only; NULL or "" = none */
} tb_kv_read_t;

/* KV writes (Consul's KVS.Apply verbs) */
typedef enum tb_kv_verb {
    TB_KV_SET = 0,
    TB_KV_CAS = 1,         /* index = expected ModifyIndex; 0 = create only */
    TB_KV_LOCK = 2,        /* acquire with session */
    TB_KV_UNLOCK = 3,      /* release with session */
    TB_KV_DELETE = 4,
    TB_KV_DELETE_TREE = 5,
    TB_KV_DELETE_CAS = 6   /* index = expected ModifyIndex */
} tb_kv_verb_t;

typedef struct tb_kv_write {
    uint32_t size;          /* sizeof(tb_kv_write_t) */
    tb_kv_verb_t verb;
    const char *key;
    const void *value;
    size_t value_len;
    uint64_t flags;
    uint64_t index;
    const char *session;
} tb_kv_write_t;

/* Typed read-only catalog views (api->catalog_read, since 1.0 pre-release):
 * the DNS hot path reads the catalog without JSON. Everything is borrowed
 * and valid only during the callback, like the KV rows. */
typedef struct tb_pair {
    const char *key;
    const char *value;
} tb_pair_t;

/* A service's tagged address ("lan_ipv4": {Address, Port}). */
typedef struct tb_service_addr {
    const char *key;
    const char *address;
    int port;
} tb_service_addr_t;

typedef struct tb_catalog_node {
    const char *id;                     /* node ID, "" when none */
    const char *name;                   /* as registered */
    const char *address;
    const char *datacenter;
    const tb_pair_t *tagged_addresses;  /* "lan", "wan", ... -> address */
    size_t ntagged_addresses;
    const tb_pair_t *meta;              /* node meta, in registration order */
    size_t nmeta;
    uint64_t create_index, modify_index;
} tb_catalog_node_t;

typedef struct tb_catalog_service {
    const tb_catalog_node_t *node;      /* into the view's nodes[] */
    const char *id;
    const char *name;
    const char *address;                /* "" = use the node's address */
    int port;
    const char *const *tags;
    size_t ntags;
    const tb_pair_t *meta;
    size_t nmeta;
    const tb_service_addr_t *tagged_addresses;
    size_t ntagged_addresses;
    int weight_passing, weight_warning; /* Weights (1/1 when not set) */
    /* TB_CATALOG_SERVICE_NODES: worst status of the node's and the
     * service's checks (any status other than passing or critical counts
     * as warning; no checks = passing). Other kinds: TB_CHECK_PASSING. */
    tb_check_status_t status;
    uint64_t create_index, modify_index;
} tb_catalog_service_t;

typedef struct tb_catalog_view {
    const tb_catalog_node_t *nodes;     /* distinct nodes, sorted by name */
    size_t nnodes;
    const tb_catalog_service_t *services; /* sorted by node, then ID */
    size_t nservices;
} tb_catalog_view_t;

typedef enum tb_catalog_read_kind {
    /* Instances of service `name` with their nodes and aggregated health
     * (Health.ServiceNodes): filtered by `tag` and `passing_only`. */
    TB_CATALOG_SERVICE_NODES = 0,
    /* Node `name` and its services (Catalog.NodeServices); TB_NOT_FOUND
     * with an empty view for an unknown node. */
    TB_CATALOG_NODE = 1,
    /* Every node, no services (Catalog.ListNodes). */
    TB_CATALOG_NODES = 2
} tb_catalog_read_kind_t;

typedef struct tb_catalog_read {
    uint32_t size;          /* sizeof(tb_catalog_read_t) */
    tb_catalog_read_kind_t kind;
    const char *name;       /* service or node name (case-insensitive) */
    const char *tag;        /* SERVICE_NODES: only instances with this tag
                               (case-insensitive); NULL or "" = any */
    int passing_only;       /* SERVICE_NODES: only instances whose checks all pass */
} tb_catalog_read_t;

/* ---------------------------------------------------------------- descriptors */

/* Plugin lifecycle. init is tb_plugin_init itself (validate config, register).
 * start: bind sockets and start timers on the agent loop.
 * reload: SIGHUP with the new merged config (own section, agent config).
 * stop: close every handle; free state in the close callbacks. The core runs
 * the loop until all handles are closed. stop is called once for every
 * plugin whose init succeeded, even when start never ran (another plugin
 * refused to start): free init-time state there too. */
#define TB_PLUGIN_OPS_VERSION 1
typedef struct tb_plugin_ops {
    uint32_t size;    /* sizeof(tb_plugin_ops_t) */
    uint32_t version; /* TB_PLUGIN_OPS_VERSION */
    int (*start)(tb_plugin_t *self, void *arg, char **errmsg);
    int (*reload)(tb_plugin_t *self, void *arg, char **errmsg);
    void (*stop)(tb_plugin_t *self, void *arg);
    void *arg;
} tb_plugin_ops_t;

/* A surface: something users talk to (http, dns, rpc). */
#define TB_SURFACE_DESC_VERSION 1
typedef struct tb_surface_desc {
    uint32_t size;
    uint32_t version;        /* TB_SURFACE_DESC_VERSION */
    const char *name;        /* "http" */
    const char *description; /* one line for `tribune info` */
} tb_surface_desc_t;

/* A check type: runs one probe at a time per check; the core schedules. */
#define TB_CHECK_TYPE_DESC_VERSION 1
typedef struct tb_check_type_desc {
    uint32_t size;
    uint32_t version;        /* TB_CHECK_TYPE_DESC_VERSION */
    const char *name;        /* HealthCheck "Type", e.g. "tcp" */
    const char *config_key;  /* definition key that selects the type, e.g. "tcp"
                                (matched case-insensitively) */
    /* Validate a check definition (lowercased keys). Return 0 or -1 with *errmsg
     * (malloc'd) naming the key. May be NULL. */
    int (*validate)(void *arg, const json_t *definition, char **errmsg);
    /* Start one probe. Report with api->probe_done() exactly once, now or
     * later on the loop. Return 0, or -1 with *errmsg (the check goes critical). */
    int (*probe)(void *arg, tb_probe_t *probe, char **errmsg);
    void *arg;
} tb_check_type_desc_t;

/* An event/watch handler type ("script", "http"). */
#define TB_HANDLER_TYPE_DESC_VERSION 1
typedef struct tb_handler_type_desc {
    uint32_t size;
    uint32_t version;        /* TB_HANDLER_TYPE_DESC_VERSION */
    const char *name;        /* handler_type value, e.g. "script" */
    int (*validate)(void *arg, const json_t *definition, char **errmsg);
    /* Run once with api->handler_input(); finish with api->handler_done(). */
    int (*run)(void *arg, tb_handler_run_t *run, char **errmsg);
    void *arg;
} tb_handler_type_desc_t;

typedef void (*tb_timer_cb)(void *arg);

/* One agent log line (api->log_watch); NUL-terminated, ends with '\n'. */
typedef struct tb_log_watch tb_log_watch_t;
/* OR'd into log_watch's level: lines in the agent's JSON form
 * ({"@level","@message","@module","@timestamp"}) instead of text. */
#define TB_LOG_WATCH_JSON 0x100
typedef void (*tb_log_line_cb)(void *arg, tb_log_level_t level, const char *line);

/* ---------------------------------------------------------------- the API table */

/*
 * Function table handed to tb_plugin_init. APPEND ONLY: never reorder,
 * never remove. Entries added after 1.0 are grouped under "since 1.N" and
 * must be tested with TB_API_HAS before use.
 */
struct tb_api {
    size_t size;          /* sizeof(tb_api_t) in the running core */
    uint16_t sdk_major;   /* core's SDK version */
    uint16_t sdk_minor;

    /* ---- since 1.0: identity and configuration ---- */
    uv_loop_t *(*loop)(tb_plugin_t *self);
    const char *(*name)(tb_plugin_t *self);
    /* The plugin's own section: plugin_config.<name> (an object, maybe empty). */
    const json_t *(*config)(tb_plugin_t *self);
    /* The merged, read-only agent config with Consul's snake_case keys and
     * every default filled in (ports.http, client_addr, ...). */
    const json_t *(*agent_config)(tb_plugin_t *self);
    /* The file (or "command line", "defaults") that set a top-level config
     * key, for error messages. Never NULL. */
    const char *(*config_origin)(tb_plugin_t *self, const char *top_level_key);

    /* ---- since 1.0: logging ---- */
    void (*log)(tb_plugin_t *self, tb_log_level_t level, const char *fmt, ...) TB_PRINTF(3, 4);
    void (*vlog)(tb_plugin_t *self, tb_log_level_t level, const char *fmt, va_list ap);
    int (*log_enabled)(tb_plugin_t *self, tb_log_level_t level);

    /* ---- since 1.0: registration (only during tb_plugin_init) ---- */
    int (*set_ops)(tb_plugin_t *self, const tb_plugin_ops_t *ops);
    int (*register_surface)(tb_plugin_t *self, const tb_surface_desc_t *desc);
    int (*register_check_type)(tb_plugin_t *self, const tb_check_type_desc_t *desc);
    int (*register_handler_type)(tb_plugin_t *self, const tb_handler_type_desc_t *desc);

    /* ---- since 1.0: timers on the agent loop ---- */
    /* One-shot when repeat_ms == 0. Stopped timers are freed by the core. */
    tb_timer_t *(*timer_start)(tb_plugin_t *self, uint64_t timeout_ms, uint64_t repeat_ms,
                               tb_timer_cb cb, void *arg);
    void (*timer_stop)(tb_timer_t *timer);
    uint64_t (*now_ms)(tb_plugin_t *self); /* loop time, monotonic */

    /* ---- since 1.0: endpoint layer (asynchronous; the callback never runs
     * inside the call, always later on the loop; exactly once unless
     * cancelled) ---- */
    /* Generic call: method "Catalog.Register" etc.; args is borrowed. */
    tb_call_t *(*call)(tb_plugin_t *self, const char *method, json_t *args,
                       const tb_query_opts_t *opts, tb_result_cb cb, void *arg);
    tb_call_t *(*kv_read)(tb_plugin_t *self, const tb_kv_read_t *req,
                          const tb_query_opts_t *opts, tb_result_cb cb, void *arg);
    tb_call_t *(*kv_write)(tb_plugin_t *self, const tb_kv_write_t *req,
                           const tb_query_opts_t *opts, tb_result_cb cb, void *arg);
    /* Cancel an in-flight call (client went away); its callback never runs. */
    void (*call_cancel)(tb_call_t *call);

    /* ---- since 1.0: check probes ---- */
    const json_t *(*probe_definition)(tb_probe_t *probe); /* lowercased keys */
    uint64_t (*probe_timeout_ms)(tb_probe_t *probe);
    void (*probe_done)(tb_probe_t *probe, tb_check_status_t status, const char *output);

    /* ---- since 1.0: handler runs ---- */
    const json_t *(*handler_definition)(tb_handler_run_t *run);
    const json_t *(*handler_input)(tb_handler_run_t *run);
    uint64_t (*handler_index)(tb_handler_run_t *run);
    void (*handler_done)(tb_handler_run_t *run, int status);

    /* ---- since 1.0: limits the surfaces enforce ---- */
    uint64_t (*kv_max_value_size)(tb_plugin_t *self);

    /* ---- since 1.0: utilities shared with the core ---- */
    /* Go duration syntax ("10s", "1m30s", "9.87s", "300ms"); no unit is an
     * error. Returns 0 and *ns, or -1. */
    int (*parse_duration)(const char *s, uint64_t *ns);
    /* Standard base64 with padding. encode: malloc'd NUL-terminated string.
     * decode: 0 with malloc'd *out (NUL-terminated, *outlen excludes it), or
     * -1 on invalid input. */
    char *(*base64_encode)(const void *data, size_t len);
    int (*base64_decode)(const char *s, size_t len, void **out, size_t *outlen);

    /* ---- since 1.0 (pre-release) ---- */
    /* Agent log stream (/v1/agent/monitor): cb gets every log line at or
     * above `level` (with the newline), on the loop, until log_unwatch,
     * also lines below the agent's own log level. Text lines unless level
     * carries TB_LOG_WATCH_JSON, whatever the agent's -log-json. cb must
     * not log. NULL when out of memory. */
    tb_log_watch_t *(*log_watch)(tb_plugin_t *self, tb_log_level_t level, tb_log_line_cb cb,
                                 void *arg);
    void (*log_unwatch)(tb_plugin_t *self, tb_log_watch_t *watch);

    /* Typed catalog read (tb_catalog_read_t): the result's `catalog` is a
     * tb_catalog_view_t, its `json` NULL. Blocks on min_index, honours the
     * consistency options, goes through the endpoint layer (ACLs,
     * forwarding) like `call`. NULL when out of memory or req is invalid. */
    tb_call_t *(*catalog_read)(tb_plugin_t *self, const tb_catalog_read_t *req,
                               const tb_query_opts_t *opts, tb_result_cb cb, void *arg);

    /* New entries go here, under a "since 1.N" comment. */
};

/* Does the running core's table have `member`? */
#define TB_API_HAS(api, member) \
    (offsetof(tb_api_t, member) + sizeof(((tb_api_t *)0)->member) <= (api)->size)

/* Every plugin exports this (besides the magic). Return 0, or -1 with
 * *errmsg set to a malloc'd message (the agent then refuses to start). */
TB_EXPORT int tb_plugin_init(tb_plugin_t *self, const tb_api_t *api, char **errmsg);
typedef int (*tb_plugin_init_fn)(tb_plugin_t *self, const tb_api_t *api, char **errmsg);
typedef const tb_plugin_magic_t *(*tb_plugin_magic_fn)(void);

#ifdef __cplusplus
}
#endif
#endif /* TRIBUNE_PLUGIN_H */
