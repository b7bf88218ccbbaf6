/*
 * config.c - builds the agent configuration (see tb_config.h and
 * spec/agent-config.md): defaults, then -dev defaults, then each
 * -config-file/-config-dir source in command-line order, then the flags.
 * Every source is checked against the key table (schema.c) before it is
 * merged, so each error names the file and the key. Merge rule: a later
 * scalar wins, arrays append, objects merge key by key. After the merge come
 * the derived defaults (addresses, leave behaviour, node_id), the checks
 * that span keys, and the typed view the core uses.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "config/tb_config.h"
#include "config/schema.h"
#include "agent/log.h"

#ifndef TB_PLUGIN_DIR
#define TB_PLUGIN_DIR "/usr/local/lib/tribune/plugins-1"
#endif
#ifndef TB_BUNDLED_PLUGINS
#define TB_BUNDLED_PLUGINS ""
#endif

#define SRC_DEFAULTS "defaults"
#define SRC_FLAGS "command line"

/* Consul's defaults (spec/agent-config.md §3, dns.md §8). node_name,
 * plugin_dir and the keys derived from others are filled in by code. */
static const char default_config[] =
    "{"
    "\"datacenter\":\"dc1\","
    "\"server\":false,\"bootstrap\":false,\"bootstrap_expect\":0,"
    "\"bind_addr\":\"0.0.0.0\",\"client_addr\":\"127.0.0.1\","
    "\"addresses\":{},"
    "\"ports\":{\"dns\":8600,\"http\":8500,\"https\":-1,\"grpc\":-1,\"serf_lan\":8301,"
    "\"serf_wan\":8302,\"server\":8300,\"sidecar_min_port\":21000,\"sidecar_max_port\":21255,"
    "\"expose_min_port\":21500,\"expose_max_port\":21755},"
    "\"retry_join\":[],\"retry_join_wan\":[],\"retry_interval\":\"30s\","
    "\"retry_interval_wan\":\"30s\",\"retry_max\":0,\"retry_max_wan\":0,"
    "\"start_join\":[],\"start_join_wan\":[],\"rejoin_after_leave\":false,"
    "\"reconnect_timeout\":\"72h\",\"reconnect_timeout_wan\":\"72h\","
    "\"encrypt\":\"\",\"encrypt_verify_incoming\":true,\"encrypt_verify_outgoing\":true,"
    "\"disable_keyring_file\":false,"
    "\"log_level\":\"INFO\",\"log_json\":false,\"log_file\":\"\",\"enable_syslog\":false,"
    "\"syslog_facility\":\"LOCAL0\","
    "\"enable_script_checks\":false,\"enable_local_script_checks\":false,"
    "\"disable_remote_exec\":true,"
    "\"domain\":\"consul.\",\"alt_domain\":\"\",\"recursors\":[],"
    "\"dns_config\":{\"allow_stale\":true,\"max_stale\":\"87600h\",\"node_ttl\":\"0s\","
    "\"service_ttl\":{},\"enable_truncate\":false,\"only_passing\":false,"
    "\"udp_answer_limit\":3,\"a_record_limit\":0,\"recursor_strategy\":\"sequential\","
    "\"recursor_timeout\":\"2s\",\"disable_compression\":false,"
    "\"enable_additional_node_meta_txt\":true,"
    "\"soa\":{\"expire\":86400,\"min_ttl\":0,\"refresh\":3600,\"retry\":600},"
    "\"use_cache\":false,\"cache_max_age\":\"0s\"},"
    "\"acl\":{\"enabled\":false,\"default_policy\":\"allow\",\"down_policy\":\"extend-cache\","
    "\"token_ttl\":\"30s\",\"policy_ttl\":\"30s\",\"role_ttl\":\"30s\","
    "\"enable_token_persistence\":false,\"enable_key_list_policy\":false,"
    "\"enable_token_replication\":false,\"tokens\":{}},"
    "\"ui_config\":{\"enabled\":false,\"dir\":\"\",\"content_path\":\"/ui/\"},"
    "\"node_meta\":{},\"services\":[],\"checks\":[],\"watches\":[],"
    "\"session_ttl_min\":\"10s\",\"check_update_interval\":\"5m\","
    "\"check_output_max_size\":4096,\"discard_check_output\":false,"
    "\"default_query_time\":\"300s\",\"max_query_time\":\"600s\","
    "\"discovery_max_stale\":\"0s\",\"translate_wan_addrs\":false,"
    "\"disable_update_check\":false,\"disable_anonymous_signature\":false,"
    "\"enable_debug\":false,\"disable_coordinates\":false,\"disable_host_node_id\":true,"
    "\"raft_protocol\":3,"
    "\"performance\":{\"raft_multiplier\":5,\"leave_drain_time\":\"5s\","
    "\"rpc_hold_timeout\":\"7s\"},"
    "\"autopilot\":{\"cleanup_dead_servers\":true,\"last_contact_threshold\":\"200ms\","
    "\"max_trailing_logs\":250,\"server_stabilization_time\":\"10s\"},"
    "\"limits\":{\"http_max_conns_per_client\":200,\"https_handshake_timeout\":\"5s\","
    "\"rpc_handshake_timeout\":\"5s\",\"rpc_max_conns_per_client\":100,\"rpc_rate\":-1,"
    "\"rpc_max_burst\":1000,\"kv_max_value_size\":524288,\"txn_max_req_len\":524288},"
    /* http_config.response_headers (default {}) is left unset: the http
     * plugin of this revision crashes on an empty object, and unset means
     * the same. */
    "\"http_config\":{\"block_endpoints\":[],"
    "\"allow_write_http_from\":[],\"use_cache\":true,\"max_header_bytes\":0},"
    "\"telemetry\":{\"prometheus_retention_time\":\"0s\",\"disable_hostname\":false,"
    "\"metrics_prefix\":\"consul\",\"statsd_address\":\"\",\"statsite_address\":\"\","
    "\"dogstatsd_addr\":\"\",\"dogstatsd_tags\":[],\"prefix_filter\":[],"
    "\"filter_default\":true},"
    "\"connect\":{\"enabled\":false},"
    "\"tls\":{\"defaults\":{\"ca_file\":\"\",\"ca_path\":\"\",\"cert_file\":\"\","
    "\"key_file\":\"\",\"verify_incoming\":false,\"verify_outgoing\":false,"
    "\"tls_min_version\":\"TLSv1_2\"}},"
    "\"raft_snapshot_threshold\":16384,\"raft_snapshot_interval\":\"30s\","
    "\"raft_trailing_logs\":10000,"
    "\"dev_mode\":false,"
    "\"plugins\":[],\"plugin_config\":{}"
    "}";

/* What -dev changes (spec/agent-config.md §2). */
static const char dev_config[] =
    "{"
    "\"server\":true,\"bootstrap\":true,"
    "\"bind_addr\":\"127.0.0.1\",\"client_addr\":\"127.0.0.1\","
    "\"log_level\":\"DEBUG\",\"ports\":{\"grpc\":8502},"
    "\"ui_config\":{\"enabled\":true},\"enable_debug\":true,"
    "\"disable_keyring_file\":true,\"connect\":{\"enabled\":true},"
    "\"dev_mode\":true"
    "}";

/* ------------------------------------------------------------ errors */

typedef struct build_ctx {
    char *err;
} build_ctx_t;

static int fail(build_ctx_t *c, const char *fmt, ...) TB_PRINTF(2, 3);
static int fail(build_ctx_t *c, const char *fmt, ...)
{
    if (c->err != NULL)
        return -1; /* keep the first error */
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&c->err, fmt, ap) < 0)
        c->err = NULL;
    va_end(ap);
    if (c->err == NULL)
        c->err = strdup("out of memory");
    return -1;
}

/* ------------------------------------------------------------ args */

tb__config_args_t *tb__config_args_new(void)
{
    tb__config_args_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    a->flags = json_object();
    if (a->flags == NULL) {
        free(a);
        return NULL;
    }
    return a;
}

int tb__config_args_add_src(tb__config_args_t *a, tb__config_src_kind_t kind, const char *path)
{
    tb__config_src_t *n = realloc(a->srcs, (a->nsrcs + 1) * sizeof(*n));
    if (n == NULL)
        return -1;
    a->srcs = n;
    char *p = strdup(path);
    if (p == NULL)
        return -1;
    a->srcs[a->nsrcs].kind = kind;
    a->srcs[a->nsrcs].path = p;
    a->nsrcs++;
    return 0;
}

void tb__config_args_free(tb__config_args_t *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->nsrcs; i++)
        free(a->srcs[i].path);
    free(a->srcs);
    json_decref(a->flags);
    free(a);
}

/* ------------------------------------------------------------ type checks */

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    default: return "null";
    }
}

static int check_value(build_ctx_t *c, const char *src, const char *path,
                       const tb__key_spec_t *spec, const json_t *v);

static int check_object(build_ctx_t *c, const char *src, const char *prefix,
                        const tb__key_spec_t *table, int strict, const json_t *obj)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        char path[512];
        if (prefix[0])
            snprintf(path, sizeof(path), "%s.%s", prefix, k);
        else
            snprintf(path, sizeof(path), "%s", k);
        const tb__key_spec_t *spec = NULL;
        for (const tb__key_spec_t *s = table; s && s->name; s++) {
            if (strcmp(s->name, k) == 0) {
                spec = s;
                break;
            }
        }
        if (spec == NULL) {
            if (strict)
                return fail(c, "%s: unknown key \"%s\"", src, path);
            continue; /* a loosely checked block: newer Consul keys pass */
        }
        if (check_value(c, src, path, spec, v) != 0)
            return -1;
    }
    return 0;
}

static int expect(build_ctx_t *c, const char *src, const char *path, const char *what,
                  const json_t *v)
{
    return fail(c, "%s: %s: expected %s, got %s", src, path, what, type_name(v));
}

static int check_duration(build_ctx_t *c, const char *src, const char *path, const json_t *v)
{
    uint64_t ns;
    if (!json_is_string(v))
        return expect(c, src, path, "a duration string such as \"10s\"", v);
    if (tb__parse_duration(json_string_value(v), &ns) != 0)
        return fail(c, "%s: %s: invalid duration \"%s\" (use Go syntax such as \"10s\", \"1m30s\")",
                    src, path, json_string_value(v));
    return 0;
}

static int check_value(build_ctx_t *c, const char *src, const char *path,
                       const tb__key_spec_t *spec, const json_t *v)
{
    size_t i;
    json_t *e;
    const char *k;
    char sub[560];
    switch (spec->kind) {
    case TB__K_STR:
        if (!json_is_string(v))
            return expect(c, src, path, "a string", v);
        break;
    case TB__K_INT:
        if (!json_is_integer(v))
            return expect(c, src, path, "an integer", v);
        break;
    case TB__K_NUM:
        if (!json_is_number(v))
            return expect(c, src, path, "a number", v);
        break;
    case TB__K_BOOL:
        if (!json_is_boolean(v))
            return expect(c, src, path, "a boolean", v);
        break;
    case TB__K_DUR:
        if (check_duration(c, src, path, v) != 0)
            return -1;
        break;
    case TB__K_STRLIST:
        if (!json_is_array(v))
            return expect(c, src, path, "an array of strings", v);
        json_array_foreach(v, i, e) {
            if (!json_is_string(e)) {
                snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
                return expect(c, src, sub, "a string", e);
            }
        }
        break;
    case TB__K_STRMAP:
    case TB__K_DURMAP:
    case TB__K_OBJMAP:
        if (!json_is_object(v))
            return expect(c, src, path, "an object", v);
        json_object_foreach((json_t *)v, k, e) {
            snprintf(sub, sizeof(sub), "%s.%s", path, k);
            if (spec->kind == TB__K_STRMAP && !json_is_string(e))
                return expect(c, src, sub, "a string", e);
            if (spec->kind == TB__K_OBJMAP && !json_is_object(e))
                return expect(c, src, sub, "an object", e);
            if (spec->kind == TB__K_DURMAP && check_duration(c, src, sub, e) != 0)
                return -1;
        }
        break;
    case TB__K_OBJ:
        if (!json_is_object(v))
            return expect(c, src, path, "an object", v);
        if (check_object(c, src, path, spec->sub, spec->strict, v) != 0)
            return -1;
        break;
    case TB__K_DEF:
        if (!json_is_object(v))
            return expect(c, src, path, "an object", v);
        break;
    case TB__K_DEFS:
        if (!json_is_array(v))
            return expect(c, src, path, "an array of objects", v);
        json_array_foreach(v, i, e) {
            if (!json_is_object(e)) {
                snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
                return expect(c, src, sub, "an object", e);
            }
        }
        break;
    case TB__K_LIST:
        if (!json_is_array(v))
            return expect(c, src, path, "an array", v);
        break;
    case TB__K_ANY:
        break;
    }
    if (spec->check != NULL) {
        char why[400];
        why[0] = '\0';
        if (spec->check(v, why, sizeof(why)) != 0)
            return fail(c, "%s: %s: %s", src, path, why);
    }
    return 0;
}

/* ------------------------------------------------------------ merging */

/* Later scalar wins, arrays append, objects merge key by key. `src` is
 * only read: everything taken from it is copied. */
static int merge_into(json_t *dst, const json_t *src)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)src, k, v) {
        json_t *d = json_object_get(dst, k);
        if (json_is_object(d) && json_is_object(v)) {
            if (merge_into(d, v) != 0)
                return -1;
        } else if (json_is_array(d) && json_is_array(v)) {
            size_t i;
            json_t *e;
            json_array_foreach(v, i, e) {
                if (json_array_append_new(d, json_deep_copy(e)) != 0)
                    return -1;
            }
        } else if (json_object_set_new(dst, k, json_deep_copy(v)) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Fold the singular `service`/`check` of one source into its plural list. */
static int normalize_singular(json_t *obj, const char *one, const char *many)
{
    json_t *def = json_object_get(obj, one);
    if (def == NULL)
        return 0;
    json_t *list = json_object_get(obj, many);
    if (list == NULL) {
        list = json_array();
        if (list == NULL || json_object_set_new(obj, many, list) != 0)
            return -1;
    }
    if (json_array_append(list, def) != 0)
        return -1;
    return json_object_del(obj, one);
}

/* Check one source (a file's object or the flags) and merge it. */
static int apply_source(build_ctx_t *c, json_t *merged, json_t *origins, json_t *obj,
                        const char *src)
{
    if (check_object(c, src, "", tb__config_schema(), 1, obj) != 0)
        return -1;
    if (normalize_singular(obj, "service", "services") != 0 ||
        normalize_singular(obj, "check", "checks") != 0)
        return fail(c, "out of memory");
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) json_object_set_new(origins, k, json_string(src));
    if (merge_into(merged, obj) != 0)
        return fail(c, "out of memory");
    return 0;
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int load_file(build_ctx_t *c, json_t *merged, json_t *origins, const char *path)
{
    if (has_suffix(path, ".hcl"))
        return fail(c, "%s: HCL is not supported: Tribune reads JSON configuration only "
                       "(convert this file to .json)", path);
    if (!has_suffix(path, ".json"))
        return fail(c, "%s: unsupported file type: configuration files must end in .json", path);
    json_error_t jerr;
    json_t *obj = json_load_file(path, 0, &jerr);
    if (obj == NULL) {
        if (access(path, R_OK) != 0)
            return fail(c, "%s: %s", path, strerror(errno));
        return fail(c, "%s: invalid JSON at line %d, column %d: %s", path, jerr.line,
                    jerr.column, jerr.text);
    }
    if (!json_is_object(obj)) {
        json_decref(obj);
        return fail(c, "%s: expected a JSON object at the top level", path);
    }
    int rc = apply_source(c, merged, origins, obj, path);
    json_decref(obj);
    return rc;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A directory: its *.json files in lexical order, not recursed; anything
 * else (including .hcl) is skipped, as Consul skips unknown extensions. */
static int load_dir(build_ctx_t *c, json_t *merged, json_t *origins, const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return fail(c, "%s: %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!has_suffix(de->d_name, ".json"))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(names, cap * sizeof(*nn));
            if (nn == NULL) {
                rc = fail(c, "out of memory");
                break;
            }
            names = nn;
        }
        if ((names[n] = strdup(de->d_name)) == NULL) {
            rc = fail(c, "out of memory");
            break;
        }
        n++;
    }
    closedir(d);
    if (rc == 0)
        qsort(names, n, sizeof(*names), cmp_names);
    for (size_t i = 0; i < n; i++) {
        if (rc == 0) {
            char *path;
            if (asprintf(&path, "%s%s%s", dir, has_suffix(dir, "/") ? "" : "/", names[i]) < 0) {
                rc = fail(c, "out of memory");
            } else {
                struct stat st;
                /* follow symlinks; skip sub-directories named *.json */
                if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
                    rc = load_file(c, merged, origins, path);
                free(path);
            }
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

static int load_source(build_ctx_t *c, json_t *merged, json_t *origins,
                       const tb__config_src_t *src)
{
    struct stat st;
    if (stat(src->path, &st) != 0)
        return fail(c, "%s: %s", src->path, strerror(errno));
    /* Like Consul, either flag accepts a file or a directory. */
    if (S_ISDIR(st.st_mode))
        return load_dir(c, merged, origins, src->path);
    return load_file(c, merged, origins, src->path);
}

/* ------------------------------------------------------------ derived values */

static int is_default(const json_t *origins, const char *key)
{
    const char *o = json_string_value(json_object_get(origins, key));
    return o == NULL || strcmp(o, SRC_DEFAULTS) == 0;
}

static int is_private_v4(uint32_t a)
{
    return (a >> 24) == 10 || (a >> 20) == 0xac1 /* 172.16/12 */ ||
           (a >> 16) == 0xc0a8 /* 192.168/16 */ || (a >> 22) == 0x191 /* 100.64/10 */;
}

/* Consul advertises the host's private IPv4 when bound to 0.0.0.0. We take
 * the first one (Consul refuses several; we prefer to start) and fall back
 * to loopback. */
static void pick_advertise(char *buf, size_t len)
{
    snprintf(buf, len, "127.0.0.1");
    struct ifaddrs *ifs;
    if (getifaddrs(&ifs) != 0)
        return;
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET)
            continue;
        struct in_addr a = ((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr;
        if (is_private_v4(ntohl(a.s_addr))) {
            inet_ntop(AF_INET, &a, buf, (socklen_t)len);
            break;
        }
    }
    freeifaddrs(ifs);
}

static int random_uuid(build_ctx_t *c, char out[37])
{
    unsigned char b[16];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(c, "node_id: cannot open /dev/urandom: %s", strerror(errno));
    size_t got = 0;
    while (got < sizeof(b)) {
        ssize_t r = read(fd, b + got, sizeof(b) - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            close(fd);
            return fail(c, "node_id: cannot read /dev/urandom");
        }
        got += (size_t)r;
    }
    close(fd);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
    return 0;
}

static int mkdir_p(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, mode) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    if (mkdir(buf, mode) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

/* node_id: the configured one, else <data_dir>/node-id, else a new random
 * UUID that is written there for the next start. */
static int resolve_node_id(build_ctx_t *c, json_t *merged, const char *data_dir, int persist)
{
    if (json_object_get(merged, "node_id") != NULL)
        return 0; /* checked by the key table */
    char id[37];
    char *file = NULL;
    if (data_dir != NULL) {
        if (asprintf(&file, "%s/node-id", data_dir) < 0)
            return fail(c, "out of memory");
        FILE *f = fopen(file, "r");
        if (f != NULL) {
            char buf[128];
            size_t n = fread(buf, 1, sizeof(buf) - 1, f);
            fclose(f);
            buf[n] = '\0';
            while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
                buf[--n] = '\0';
            if (!tb__config_is_uuid(buf)) {
                fail(c, "%s: invalid node ID \"%s\": must be a UUID", file, buf);
                free(file);
                return -1;
            }
            free(file);
            return json_object_set_new(merged, "node_id", json_string(buf)) == 0
                       ? 0
                       : fail(c, "out of memory");
        }
    }
    if (random_uuid(c, id) != 0) {
        free(file);
        return -1;
    }
    if (file != NULL && persist) {
        char *tmp = NULL;
        int ok = mkdir_p(data_dir, 0700) == 0 && asprintf(&tmp, "%s.tmp", file) >= 0;
        if (ok) {
            int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            ok = fd >= 0;
            if (ok) {
                ok = write(fd, id, 36) == 36;
                ok = close(fd) == 0 && ok;
            }
            ok = ok && rename(tmp, file) == 0;
            if (!ok)
                unlink(tmp);
        }
        if (!ok) {
            fail(c, "%s: cannot write node ID: %s", file, strerror(errno));
            free(tmp);
            free(file);
            return -1;
        }
        free(tmp);
    }
    free(file);
    return json_object_set_new(merged, "node_id", json_string(id)) == 0 ? 0
                                                                        : fail(c, "out of memory");
}

static int fill_derived(build_ctx_t *c, json_t *merged, json_t *origins)
{
    int server = json_is_true(json_object_get(merged, "server"));
    /* Servers stay in the cluster on SIGTERM and on SIGINT; clients leave. */
    if (is_default(origins, "leave_on_terminate"))
        json_object_set_new(merged, "leave_on_terminate", json_boolean(!server));
    if (is_default(origins, "skip_leave_on_interrupt"))
        json_object_set_new(merged, "skip_leave_on_interrupt", json_boolean(server));
    if (json_object_get(merged, "primary_datacenter") == NULL) {
        json_t *legacy = json_object_get(merged, "acl_datacenter");
        json_object_set(merged, "primary_datacenter",
                        legacy ? legacy : json_object_get(merged, "datacenter"));
    }

    /* Listeners default to client_addr. */
    json_t *addrs = json_object_get(merged, "addresses");
    json_t *client = json_object_get(merged, "client_addr");
    static const char *const listeners[] = {"dns", "http", "https", "grpc"};
    for (size_t i = 0; i < sizeof(listeners) / sizeof(listeners[0]); i++)
        if (json_object_get(addrs, listeners[i]) == NULL)
            json_object_set(addrs, listeners[i], client);

    if (json_object_get(merged, "advertise_addr") == NULL) {
        const char *bind = json_string_value(json_object_get(merged, "bind_addr"));
        char buf[INET_ADDRSTRLEN];
        if (strcmp(bind, "0.0.0.0") == 0) {
            pick_advertise(buf, sizeof(buf));
            json_object_set_new(merged, "advertise_addr", json_string(buf));
        } else {
            json_object_set_new(merged, "advertise_addr", json_string(bind));
        }
    }
    if (json_object_get(merged, "advertise_addr_wan") == NULL)
        json_object_set(merged, "advertise_addr_wan", json_object_get(merged, "advertise_addr"));
    if (json_object_get(merged, "plugin_dir") == NULL)
        json_object_set_new(merged, "plugin_dir", json_string(TB_PLUGIN_DIR));
    return c->err ? -1 : 0;
}

static const char *origin_of(const json_t *origins, const char *key)
{
    const char *o = json_string_value(json_object_get(origins, key));
    return o ? o : SRC_DEFAULTS;
}

/* Checks that span several keys. */
static int check_merged(build_ctx_t *c, const json_t *merged, const json_t *origins, int dev)
{
    int server = json_is_true(json_object_get(merged, "server"));
    int bootstrap = json_is_true(json_object_get(merged, "bootstrap"));
    json_int_t expect = json_integer_value(json_object_get(merged, "bootstrap_expect"));
    if (bootstrap && expect > 0)
        return fail(c, "%s: bootstrap_expect: cannot be combined with bootstrap "
                       "(bootstrap_expect > 0 and bootstrap = true are mutually exclusive)",
                    origin_of(origins, "bootstrap_expect"));
    if (bootstrap && !server)
        return fail(c, "%s: bootstrap: requires server = true", origin_of(origins, "bootstrap"));
    if (expect > 0 && !server)
        return fail(c, "%s: bootstrap_expect: requires server = true",
                    origin_of(origins, "bootstrap_expect"));

    const char *data_dir = json_string_value(json_object_get(merged, "data_dir"));
    if (!dev && (data_dir == NULL || data_dir[0] == '\0'))
        return fail(c, "data_dir: required unless -dev");
    if (data_dir != NULL && data_dir[0] != '\0') {
        struct stat st;
        if (stat(data_dir, &st) == 0 && !S_ISDIR(st.st_mode))
            return fail(c, "%s: data_dir: %s is not a directory", origin_of(origins, "data_dir"),
                        data_dir);
    }

    uint64_t def_ns, max_ns;
    tb__parse_duration(json_string_value(json_object_get(merged, "default_query_time")), &def_ns);
    tb__parse_duration(json_string_value(json_object_get(merged, "max_query_time")), &max_ns);
    if (def_ns == 0)
        return fail(c, "%s: default_query_time: must be greater than zero",
                    origin_of(origins, "default_query_time"));
    if (max_ns == 0)
        return fail(c, "%s: max_query_time: must be greater than zero",
                    origin_of(origins, "max_query_time"));
    return 0;
}

/* ------------------------------------------------------------ typed view */

static const char *str_or_null(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return (s != NULL && s[0] != '\0') ? s : NULL;
}

static int port_of(const json_t *ports, const char *k)
{
    json_t *v = json_object_get(ports, k);
    return v ? (int)json_integer_value(v) : -1;
}

static uint64_t ms_of(const json_t *o, const char *k)
{
    uint64_t ns = 0;
    tb__parse_duration(json_string_value(json_object_get(o, k)), &ns);
    return ns / 1000000ULL;
}

static void fill_typed(tb__config_t *cfg)
{
    const json_t *m = cfg->merged;
    cfg->dev = json_is_true(json_object_get(m, "dev_mode"));
    cfg->datacenter = json_string_value(json_object_get(m, "datacenter"));
    cfg->node_name = json_string_value(json_object_get(m, "node_name"));
    cfg->node_id = json_string_value(json_object_get(m, "node_id"));
    cfg->data_dir = cfg->dev ? NULL : str_or_null(m, "data_dir");
    cfg->bind_addr = json_string_value(json_object_get(m, "bind_addr"));
    cfg->client_addr = json_string_value(json_object_get(m, "client_addr"));
    cfg->advertise_addr = json_string_value(json_object_get(m, "advertise_addr"));
    cfg->plugin_dir = json_string_value(json_object_get(m, "plugin_dir"));
    cfg->pid_file = str_or_null(m, "pid_file");
    cfg->server = json_is_true(json_object_get(m, "server"));
    cfg->bootstrap = json_is_true(json_object_get(m, "bootstrap"));
    cfg->bootstrap_expect = (int)json_integer_value(json_object_get(m, "bootstrap_expect"));
    cfg->log_level = tb__log_level_parse(json_string_value(json_object_get(m, "log_level")));
    cfg->log_json = json_is_true(json_object_get(m, "log_json"));
    const json_t *ports = json_object_get(m, "ports");
    cfg->port_http = port_of(ports, "http");
    cfg->port_https = port_of(ports, "https");
    cfg->port_dns = port_of(ports, "dns");
    cfg->port_server = port_of(ports, "server");
    cfg->port_serf_lan = port_of(ports, "serf_lan");
    cfg->port_serf_wan = port_of(ports, "serf_wan");
    cfg->port_grpc = port_of(ports, "grpc");
    cfg->kv_max_value_size =
        (uint64_t)json_integer_value(json_object_get(json_object_get(m, "limits"),
                                                     "kv_max_value_size"));
    cfg->default_query_time_ms = ms_of(m, "default_query_time");
    cfg->max_query_time_ms = ms_of(m, "max_query_time");
    cfg->session_ttl_min_ms = ms_of(m, "session_ttl_min");
}

/* ------------------------------------------------------------ build */

static json_t *parse_const(const char *text)
{
    json_error_t e;
    return json_loads(text, 0, &e);
}

int tb__config_build(const tb__config_args_t *args, tb__config_t **out, char **err)
{
    build_ctx_t c = {NULL};
    *out = NULL;
    if (err)
        *err = NULL;

    json_t *merged = parse_const(default_config);
    json_t *origins = json_object();
    if (merged == NULL || origins == NULL) {
        fail(&c, "out of memory");
        goto failed;
    }
    char host[256];
    if (gethostname(host, sizeof(host)) != 0) {
        fail(&c, "node_name: cannot read the host name: %s", strerror(errno));
        goto failed;
    }
    host[sizeof(host) - 1] = '\0';
    json_object_set_new(merged, "node_name", json_string(host));
    json_object_set_new(merged, "plugin_dir", json_string(TB_PLUGIN_DIR));
    {
        const char *k;
        json_t *v;
        json_object_foreach(merged, k, v) json_object_set_new(origins, k, json_string(SRC_DEFAULTS));
    }

    if (args->dev) {
        json_t *dev = parse_const(dev_config);
        if (dev == NULL || merge_into(merged, dev) != 0) {
            json_decref(dev);
            fail(&c, "out of memory");
            goto failed;
        }
        json_decref(dev);
    }

    for (size_t i = 0; i < args->nsrcs; i++)
        if (load_source(&c, merged, origins, &args->srcs[i]) != 0)
            goto failed;

    if (args->flags != NULL && json_object_size(args->flags) > 0) {
        /* checked and normalized on a copy: args stay reusable for reload */
        json_t *flags = json_deep_copy(args->flags);
        if (flags == NULL) {
            fail(&c, "out of memory");
            goto failed;
        }
        int rc = apply_source(&c, merged, origins, flags, SRC_FLAGS);
        json_decref(flags);
        if (rc != 0)
            goto failed;
    }

    if (fill_derived(&c, merged, origins) != 0)
        goto failed;
    if (check_merged(&c, merged, origins, args->dev) != 0)
        goto failed;
    {
        const char *data_dir = args->dev ? NULL : str_or_null(merged, "data_dir");
        if (resolve_node_id(&c, merged, data_dir, !args->no_persist) != 0)
            goto failed;
    }

    tb__config_t *cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL) {
        fail(&c, "out of memory");
        goto failed;
    }
    cfg->merged = merged;
    cfg->origins = origins;
    fill_typed(cfg);
    *out = cfg;
    return 0;

failed:
    json_decref(merged);
    json_decref(origins);
    if (err)
        *err = c.err;
    else
        free(c.err);
    return -1;
}

void tb__config_free(tb__config_t *cfg)
{
    if (cfg == NULL)
        return;
    json_decref(cfg->merged);
    json_decref(cfg->origins);
    free(cfg);
}

/* ------------------------------------------------------------ plugins */

/* "http", "/x/y/http.so" and "http.la" all name the plugin "http". */
static size_t plugin_stem(const char *s, const char **start)
{
    const char *slash = strrchr(s, '/');
    const char *b = slash ? slash + 1 : s;
    size_t n = strlen(b);
    if (n > 3 && (strcmp(b + n - 3, ".so") == 0 || strcmp(b + n - 3, ".la") == 0))
        n -= 3;
    *start = b;
    return n;
}

static int plugin_listed(const json_t *list, const char *name, size_t nlen)
{
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
        const char *s;
        size_t n = plugin_stem(json_string_value(e), &s);
        if (n == nlen && memcmp(s, name, n) == 0)
            return 1;
    }
    return 0;
}

json_t *tb__config_plugin_list(const tb__config_t *cfg)
{
    json_t *list = json_array();
    if (list == NULL)
        return NULL;
    size_t i;
    json_t *e;
    /* Listed entries are kept as given (the same entry twice, as lists
     * append across files, loads once); two files with one plugin name are
     * the loader's to refuse by name. Bundled plugins yield to a listed one
     * of the same name. */
    json_array_foreach(json_object_get(cfg->merged, "plugins"), i, e) {
        size_t j;
        json_t *x;
        int seen = 0;
        json_array_foreach(list, j, x) seen |= json_equal(x, e);
        if (!seen)
            json_array_append(list, e);
    }
    if (cfg->dev) {
        const char *p = TB_BUNDLED_PLUGINS;
        while (*p) {
            while (*p == ' ')
                p++;
            const char *w = p;
            while (*p && *p != ' ')
                p++;
            if (p > w && !plugin_listed(list, w, (size_t)(p - w)))
                json_array_append_new(list, json_stringn(w, (size_t)(p - w)));
        }
    }
    return list;
}
