/*
 * schema.c - the table of agent configuration keys Tribune accepts: every
 * key of Consul's JSON config (spec/agent-config.md §3, plus the ones real
 * Consul configs commonly carry) and Tribune's own plugin keys, each with
 * its JSON type and, where it matters, a value check. Keys the core does not
 * act on yet are still listed so existing configs load; unknown keys are
 * errors. The tables are const: the checker in config.c walks them.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/schema.h"
#include "agent/log.h"

/* ------------------------------------------------------------ value checks */

static int v_datacenter(const json_t *v, char *why, size_t n)
{
    const char *s = json_string_value(v);
    if (*s == '\0') {
        snprintf(why, n, "cannot be empty");
        return -1;
    }
    for (const char *p = s; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_')) {
            snprintf(why, n,
                     "invalid value \"%s\": only lowercase letters, digits, '-' and '_' are allowed",
                     s);
            return -1;
        }
    }
    return 0;
}

static int v_node_name(const json_t *v, char *why, size_t n)
{
    const char *s = json_string_value(v);
    if (*s == '\0') {
        snprintf(why, n, "cannot be empty");
        return -1;
    }
    for (const char *p = s; *p; p++) {
        if (isspace((unsigned char)*p) || *p == '"' || *p == '\'') {
            snprintf(why, n, "invalid value \"%s\": whitespace and quotes are not allowed", s);
            return -1;
        }
    }
    return 0;
}

static int v_log_level(const json_t *v, char *why, size_t n)
{
    if (tb__log_level_parse(json_string_value(v)) < 0) {
        snprintf(why, n, "invalid value \"%s\": use trace, debug, info, warn or error",
                 json_string_value(v));
        return -1;
    }
    return 0;
}

static int v_port(const json_t *v, char *why, size_t n)
{
    json_int_t p = json_integer_value(v);
    if (p < -1 || p > 65535) {
        snprintf(why, n, "must be between -1 and 65535, got %" JSON_INTEGER_FORMAT, p);
        return -1;
    }
    return 0;
}

static int v_nonneg(const json_t *v, char *why, size_t n)
{
    if (json_integer_value(v) < 0) {
        snprintf(why, n, "must not be negative, got %" JSON_INTEGER_FORMAT, json_integer_value(v));
        return -1;
    }
    return 0;
}

static int v_raft_multiplier(const json_t *v, char *why, size_t n)
{
    json_int_t m = json_integer_value(v);
    if (m < 0 || m > 10) {
        snprintf(why, n, "must be between 0 and 10, got %" JSON_INTEGER_FORMAT, m);
        return -1;
    }
    return 0;
}

int tb__config_is_uuid(const char *s)
{
    static const int dash[] = {8, 13, 18, 23};
    if (strlen(s) != 36)
        return 0;
    for (int i = 0, d = 0; i < 36; i++) {
        if (d < 4 && i == dash[d]) {
            if (s[i] != '-')
                return 0;
            d++;
        } else if (!isxdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

static int v_uuid(const json_t *v, char *why, size_t n)
{
    if (!tb__config_is_uuid(json_string_value(v))) {
        snprintf(why, n, "invalid value \"%s\": must be a UUID", json_string_value(v));
        return -1;
    }
    return 0;
}

static int v_encrypt(const json_t *v, char *why, size_t n)
{
    const char *s = json_string_value(v);
    if (*s == '\0')
        return 0;
    void *key;
    size_t len;
    if (tb__base64_decode(s, strlen(s), &key, &len) != 0) {
        snprintf(why, n, "invalid key: not base64");
        return -1;
    }
    free(key);
    if (len != 16 && len != 24 && len != 32) {
        snprintf(why, n, "invalid key: must be 16, 24 or 32 bytes, got %zu", len);
        return -1;
    }
    return 0;
}

static int v_one_of(const json_t *v, char *why, size_t n, const char *const *allowed)
{
    const char *s = json_string_value(v);
    for (size_t i = 0; allowed[i]; i++)
        if (strcmp(s, allowed[i]) == 0)
            return 0;
    int off = snprintf(why, n, "invalid value \"%s\": use", s);
    for (size_t i = 0; allowed[i] && off > 0 && (size_t)off < n; i++)
        off += snprintf(why + off, n - (size_t)off, "%s %s", i ? "," : "", allowed[i]);
    return -1;
}

static int v_acl_policy(const json_t *v, char *why, size_t n)
{
    static const char *const allowed[] = {"allow", "deny", NULL};
    return v_one_of(v, why, n, allowed);
}

static int v_acl_down_policy(const json_t *v, char *why, size_t n)
{
    static const char *const allowed[] = {"allow", "deny", "extend-cache", "async-cache", NULL};
    return v_one_of(v, why, n, allowed);
}

static int v_recursor_strategy(const json_t *v, char *why, size_t n)
{
    static const char *const allowed[] = {"sequential", "random", NULL};
    return v_one_of(v, why, n, allowed);
}

/* node_meta: at most 64 pairs; keys [A-Za-z0-9_-]{1,128} without the
 * reserved "consul-" prefix; values up to 512 bytes. */
static int v_node_meta(const json_t *v, char *why, size_t n)
{
    if (json_object_size(v) > 64) {
        snprintf(why, n, "at most 64 key/value pairs are allowed, got %zu", json_object_size(v));
        return -1;
    }
    const char *k;
    json_t *val;
    json_object_foreach((json_t *)v, k, val) {
        size_t kl = strlen(k);
        if (kl == 0 || kl > 128) {
            snprintf(why, n, "key \"%s\": must be 1 to 128 characters", k);
            return -1;
        }
        for (const char *p = k; *p; p++) {
            if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-') {
                snprintf(why, n, "key \"%s\": only letters, digits, '-' and '_' are allowed", k);
                return -1;
            }
        }
        if (strncmp(k, "consul-", 7) == 0) {
            snprintf(why, n, "key \"%s\": the \"consul-\" prefix is reserved", k);
            return -1;
        }
        if (json_string_length(val) > 512) {
            snprintf(why, n, "value of \"%s\": at most 512 characters", k);
            return -1;
        }
    }
    return 0;
}

static int v_nonempty_strings(const json_t *v, char *why, size_t n)
{
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        if (json_string_length(e) == 0) {
            snprintf(why, n, "entry %zu is empty", i);
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------ tables */

#define END {NULL, 0, NULL, 0, NULL}
#define STRICT 1
#define LOOSE 0

static const tb__key_spec_t k_ports[] = {
    {"dns", TB__K_INT, NULL, 0, v_port},
    {"http", TB__K_INT, NULL, 0, v_port},
    {"https", TB__K_INT, NULL, 0, v_port},
    {"grpc", TB__K_INT, NULL, 0, v_port},
    {"grpc_tls", TB__K_INT, NULL, 0, v_port},
    {"serf_lan", TB__K_INT, NULL, 0, v_port},
    {"serf_wan", TB__K_INT, NULL, 0, v_port},
    {"server", TB__K_INT, NULL, 0, v_port},
    {"sidecar_min_port", TB__K_INT, NULL, 0, v_port},
    {"sidecar_max_port", TB__K_INT, NULL, 0, v_port},
    {"expose_min_port", TB__K_INT, NULL, 0, v_port},
    {"expose_max_port", TB__K_INT, NULL, 0, v_port},
    {"proxy_min_port", TB__K_INT, NULL, 0, v_port},
    {"proxy_max_port", TB__K_INT, NULL, 0, v_port},
    END,
};

static const tb__key_spec_t k_addresses[] = {
    {"dns", TB__K_STR, NULL, 0, NULL},
    {"http", TB__K_STR, NULL, 0, NULL},
    {"https", TB__K_STR, NULL, 0, NULL},
    {"grpc", TB__K_STR, NULL, 0, NULL},
    {"grpc_tls", TB__K_STR, NULL, 0, NULL},
    END,
};

static const tb__key_spec_t k_limits[] = {
    {"http_max_conns_per_client", TB__K_INT, NULL, 0, NULL},
    {"https_handshake_timeout", TB__K_DUR, NULL, 0, NULL},
    {"rpc_handshake_timeout", TB__K_DUR, NULL, 0, NULL},
    {"rpc_client_timeout", TB__K_DUR, NULL, 0, NULL},
    {"rpc_max_conns_per_client", TB__K_INT, NULL, 0, NULL},
    {"rpc_rate", TB__K_NUM, NULL, 0, NULL},
    {"rpc_max_burst", TB__K_INT, NULL, 0, NULL},
    {"kv_max_value_size", TB__K_INT, NULL, 0, v_nonneg},
    {"txn_max_req_len", TB__K_INT, NULL, 0, v_nonneg},
    END,
};

static const tb__key_spec_t k_performance[] = {
    {"raft_multiplier", TB__K_INT, NULL, 0, v_raft_multiplier},
    {"leave_drain_time", TB__K_DUR, NULL, 0, NULL},
    {"rpc_hold_timeout", TB__K_DUR, NULL, 0, NULL},
    END,
};

static const tb__key_spec_t k_autopilot[] = {
    {"cleanup_dead_servers", TB__K_BOOL, NULL, 0, NULL},
    {"last_contact_threshold", TB__K_DUR, NULL, 0, NULL},
    {"max_trailing_logs", TB__K_INT, NULL, 0, NULL},
    {"min_quorum", TB__K_INT, NULL, 0, NULL},
    {"server_stabilization_time", TB__K_DUR, NULL, 0, NULL},
    {"redundancy_zone_tag", TB__K_STR, NULL, 0, NULL},
    {"disable_upgrade_migration", TB__K_BOOL, NULL, 0, NULL},
    {"upgrade_version_tag", TB__K_STR, NULL, 0, NULL},
    END,
};

static const tb__key_spec_t k_soa[] = {
    {"expire", TB__K_INT, NULL, 0, v_nonneg},
    {"min_ttl", TB__K_INT, NULL, 0, v_nonneg},
    {"refresh", TB__K_INT, NULL, 0, v_nonneg},
    {"retry", TB__K_INT, NULL, 0, v_nonneg},
    END,
};

static const tb__key_spec_t k_dns_config[] = {
    {"allow_stale", TB__K_BOOL, NULL, 0, NULL},
    {"max_stale", TB__K_DUR, NULL, 0, NULL},
    {"node_ttl", TB__K_DUR, NULL, 0, NULL},
    {"service_ttl", TB__K_DURMAP, NULL, 0, NULL},
    {"enable_truncate", TB__K_BOOL, NULL, 0, NULL},
    {"only_passing", TB__K_BOOL, NULL, 0, NULL},
    {"udp_answer_limit", TB__K_INT, NULL, 0, v_nonneg},
    {"a_record_limit", TB__K_INT, NULL, 0, v_nonneg},
    {"recursor_strategy", TB__K_STR, NULL, 0, v_recursor_strategy},
    {"recursor_timeout", TB__K_DUR, NULL, 0, NULL},
    {"disable_compression", TB__K_BOOL, NULL, 0, NULL},
    {"enable_additional_node_meta_txt", TB__K_BOOL, NULL, 0, NULL},
    {"soa", TB__K_OBJ, k_soa, STRICT, NULL},
    {"use_cache", TB__K_BOOL, NULL, 0, NULL},
    {"cache_max_age", TB__K_DUR, NULL, 0, NULL},
    {"prefer_namespace", TB__K_BOOL, NULL, 0, NULL},
    END,
};

static const tb__key_spec_t k_http_config[] = {
    {"block_endpoints", TB__K_STRLIST, NULL, 0, NULL},
    {"response_headers", TB__K_STRMAP, NULL, 0, NULL},
    {"allow_write_http_from", TB__K_STRLIST, NULL, 0, NULL},
    {"use_cache", TB__K_BOOL, NULL, 0, NULL},
    {"max_header_bytes", TB__K_INT, NULL, 0, v_nonneg},
    END,
};

static const tb__key_spec_t k_telemetry[] = {
    {"prometheus_retention_time", TB__K_DUR, NULL, 0, NULL},
    {"disable_hostname", TB__K_BOOL, NULL, 0, NULL},
    {"metrics_prefix", TB__K_STR, NULL, 0, NULL},
    {"statsd_address", TB__K_STR, NULL, 0, NULL},
    {"statsite_address", TB__K_STR, NULL, 0, NULL},
    {"dogstatsd_addr", TB__K_STR, NULL, 0, NULL},
    {"dogstatsd_tags", TB__K_STRLIST, NULL, 0, NULL},
    {"prefix_filter", TB__K_STRLIST, NULL, 0, NULL},
    {"filter_default", TB__K_BOOL, NULL, 0, NULL},
    END,
};

static const tb__key_spec_t k_ui_config[] = {
    {"enabled", TB__K_BOOL, NULL, 0, NULL},
    {"dir", TB__K_STR, NULL, 0, NULL},
    {"content_path", TB__K_STR, NULL, 0, NULL},
    END,
};

static const tb__key_spec_t k_acl_tokens[] = {
    {"initial_management", TB__K_STR, NULL, 0, NULL},
    {"master", TB__K_STR, NULL, 0, NULL},
    {"default", TB__K_STR, NULL, 0, NULL},
    {"agent", TB__K_STR, NULL, 0, NULL},
    {"agent_recovery", TB__K_STR, NULL, 0, NULL},
    {"agent_master", TB__K_STR, NULL, 0, NULL},
    {"replication", TB__K_STR, NULL, 0, NULL},
    END,
};

static const tb__key_spec_t k_acl[] = {
    {"enabled", TB__K_BOOL, NULL, 0, NULL},
    {"default_policy", TB__K_STR, NULL, 0, v_acl_policy},
    {"down_policy", TB__K_STR, NULL, 0, v_acl_down_policy},
    {"token_ttl", TB__K_DUR, NULL, 0, NULL},
    {"policy_ttl", TB__K_DUR, NULL, 0, NULL},
    {"role_ttl", TB__K_DUR, NULL, 0, NULL},
    {"enable_token_persistence", TB__K_BOOL, NULL, 0, NULL},
    {"enable_key_list_policy", TB__K_BOOL, NULL, 0, NULL},
    {"enable_token_replication", TB__K_BOOL, NULL, 0, NULL},
    {"tokens", TB__K_OBJ, k_acl_tokens, LOOSE, NULL},
    END,
};

static const tb__key_spec_t k_connect[] = {
    {"enabled", TB__K_BOOL, NULL, 0, NULL},
    END,
};

static const tb__key_spec_t k_top[] = {
    /* identity and mode */
    {"datacenter", TB__K_STR, NULL, 0, v_datacenter},
    {"primary_datacenter", TB__K_STR, NULL, 0, v_datacenter},
    {"node_name", TB__K_STR, NULL, 0, v_node_name},
    {"node_id", TB__K_STR, NULL, 0, v_uuid},
    {"node_meta", TB__K_STRMAP, NULL, 0, v_node_meta},
    {"data_dir", TB__K_STR, NULL, 0, NULL},
    {"server", TB__K_BOOL, NULL, 0, NULL},
    {"bootstrap", TB__K_BOOL, NULL, 0, NULL},
    {"bootstrap_expect", TB__K_INT, NULL, 0, v_nonneg},
    {"server_name", TB__K_STR, NULL, 0, NULL},
    {"segment", TB__K_STR, NULL, 0, NULL},
    {"segments", TB__K_LIST, NULL, 0, NULL},
    {"read_replica", TB__K_BOOL, NULL, 0, NULL},
    {"non_voting_server", TB__K_BOOL, NULL, 0, NULL},
    {"disable_host_node_id", TB__K_BOOL, NULL, 0, NULL},
    {"pid_file", TB__K_STR, NULL, 0, NULL},
    /* addresses and ports */
    {"bind_addr", TB__K_STR, NULL, 0, NULL},
    {"client_addr", TB__K_STR, NULL, 0, NULL},
    {"advertise_addr", TB__K_STR, NULL, 0, NULL},
    {"advertise_addr_ipv4", TB__K_STR, NULL, 0, NULL},
    {"advertise_addr_ipv6", TB__K_STR, NULL, 0, NULL},
    {"advertise_addr_wan", TB__K_STR, NULL, 0, NULL},
    {"advertise_addr_wan_ipv4", TB__K_STR, NULL, 0, NULL},
    {"advertise_addr_wan_ipv6", TB__K_STR, NULL, 0, NULL},
    {"serf_lan", TB__K_STR, NULL, 0, NULL},
    {"serf_wan", TB__K_STR, NULL, 0, NULL},
    {"serf_lan_allowed_cidrs", TB__K_STRLIST, NULL, 0, NULL},
    {"serf_wan_allowed_cidrs", TB__K_STRLIST, NULL, 0, NULL},
    {"addresses", TB__K_OBJ, k_addresses, STRICT, NULL},
    {"ports", TB__K_OBJ, k_ports, STRICT, NULL},
    {"unix_sockets", TB__K_ANY, NULL, 0, NULL},
    {"translate_wan_addrs", TB__K_BOOL, NULL, 0, NULL},
    /* joining and leaving */
    {"retry_join", TB__K_STRLIST, NULL, 0, NULL},
    {"retry_join_wan", TB__K_STRLIST, NULL, 0, NULL},
    {"retry_interval", TB__K_DUR, NULL, 0, NULL},
    {"retry_interval_wan", TB__K_DUR, NULL, 0, NULL},
    {"retry_max", TB__K_INT, NULL, 0, v_nonneg},
    {"retry_max_wan", TB__K_INT, NULL, 0, v_nonneg},
    {"start_join", TB__K_STRLIST, NULL, 0, NULL},
    {"start_join_wan", TB__K_STRLIST, NULL, 0, NULL},
    {"rejoin_after_leave", TB__K_BOOL, NULL, 0, NULL},
    {"leave_on_terminate", TB__K_BOOL, NULL, 0, NULL},
    {"skip_leave_on_interrupt", TB__K_BOOL, NULL, 0, NULL},
    {"reconnect_timeout", TB__K_DUR, NULL, 0, NULL},
    {"reconnect_timeout_wan", TB__K_DUR, NULL, 0, NULL},
    {"advertise_reconnect_timeout", TB__K_DUR, NULL, 0, NULL},
    {"primary_gateways", TB__K_STRLIST, NULL, 0, NULL},
    {"primary_gateways_interval", TB__K_DUR, NULL, 0, NULL},
    /* gossip encryption */
    {"encrypt", TB__K_STR, NULL, 0, v_encrypt},
    {"encrypt_verify_incoming", TB__K_BOOL, NULL, 0, NULL},
    {"encrypt_verify_outgoing", TB__K_BOOL, NULL, 0, NULL},
    {"disable_keyring_file", TB__K_BOOL, NULL, 0, NULL},
    /* logging */
    {"log_level", TB__K_STR, NULL, 0, v_log_level},
    {"log_json", TB__K_BOOL, NULL, 0, NULL},
    {"log_file", TB__K_STR, NULL, 0, NULL},
    {"log_rotate_duration", TB__K_DUR, NULL, 0, NULL},
    {"log_rotate_bytes", TB__K_INT, NULL, 0, v_nonneg},
    {"log_rotate_max_files", TB__K_INT, NULL, 0, NULL},
    {"enable_syslog", TB__K_BOOL, NULL, 0, NULL},
    {"syslog_facility", TB__K_STR, NULL, 0, NULL},
    /* checks and exec */
    {"enable_script_checks", TB__K_BOOL, NULL, 0, NULL},
    {"enable_local_script_checks", TB__K_BOOL, NULL, 0, NULL},
    {"disable_remote_exec", TB__K_BOOL, NULL, 0, NULL},
    {"check_update_interval", TB__K_DUR, NULL, 0, NULL},
    {"check_output_max_size", TB__K_INT, NULL, 0, v_nonneg},
    {"discard_check_output", TB__K_BOOL, NULL, 0, NULL},
    {"enable_agent_tls_for_checks", TB__K_BOOL, NULL, 0, NULL},
    /* DNS */
    {"domain", TB__K_STR, NULL, 0, NULL},
    {"alt_domain", TB__K_STR, NULL, 0, NULL},
    {"recursors", TB__K_STRLIST, NULL, 0, v_nonempty_strings},
    {"dns_config", TB__K_OBJ, k_dns_config, LOOSE, NULL},
    /* ACL (block and legacy top-level keys) */
    {"acl", TB__K_OBJ, k_acl, LOOSE, NULL},
    {"acl_datacenter", TB__K_STR, NULL, 0, v_datacenter},
    {"acl_default_policy", TB__K_STR, NULL, 0, v_acl_policy},
    {"acl_down_policy", TB__K_STR, NULL, 0, v_acl_down_policy},
    {"acl_token", TB__K_STR, NULL, 0, NULL},
    {"acl_agent_token", TB__K_STR, NULL, 0, NULL},
    {"acl_agent_master_token", TB__K_STR, NULL, 0, NULL},
    {"acl_master_token", TB__K_STR, NULL, 0, NULL},
    {"acl_replication_token", TB__K_STR, NULL, 0, NULL},
    {"acl_ttl", TB__K_DUR, NULL, 0, NULL},
    {"acl_enforce_version_8", TB__K_BOOL, NULL, 0, NULL},
    {"acl_enable_key_list_policy", TB__K_BOOL, NULL, 0, NULL},
    {"enable_acl_replication", TB__K_BOOL, NULL, 0, NULL},
    /* UI */
    {"ui", TB__K_BOOL, NULL, 0, NULL},
    {"ui_dir", TB__K_STR, NULL, 0, NULL},
    {"ui_content_path", TB__K_STR, NULL, 0, NULL},
    {"ui_config", TB__K_OBJ, k_ui_config, LOOSE, NULL},
    /* definitions */
    {"service", TB__K_DEF, NULL, 0, NULL},
    {"services", TB__K_DEFS, NULL, 0, NULL},
    {"check", TB__K_DEF, NULL, 0, NULL},
    {"checks", TB__K_DEFS, NULL, 0, NULL},
    {"watches", TB__K_DEFS, NULL, 0, NULL},
    {"config_entries", TB__K_ANY, NULL, 0, NULL},
    /* blocking queries, sessions, limits */
    {"session_ttl_min", TB__K_DUR, NULL, 0, NULL},
    {"default_query_time", TB__K_DUR, NULL, 0, NULL},
    {"max_query_time", TB__K_DUR, NULL, 0, NULL},
    {"discovery_max_stale", TB__K_DUR, NULL, 0, NULL},
    {"limits", TB__K_OBJ, k_limits, LOOSE, NULL},
    {"http_config", TB__K_OBJ, k_http_config, LOOSE, NULL},
    {"performance", TB__K_OBJ, k_performance, LOOSE, NULL},
    {"autopilot", TB__K_OBJ, k_autopilot, LOOSE, NULL},
    {"telemetry", TB__K_OBJ, k_telemetry, LOOSE, NULL},
    {"connect", TB__K_OBJ, k_connect, LOOSE, NULL},
    {"cache", TB__K_ANY, NULL, 0, NULL},
    {"rpc", TB__K_ANY, NULL, 0, NULL},
    {"use_streaming_backend", TB__K_BOOL, NULL, 0, NULL},
    /* raft */
    {"raft_protocol", TB__K_INT, NULL, 0, NULL},
    {"raft_snapshot_threshold", TB__K_INT, NULL, 0, v_nonneg},
    {"raft_snapshot_interval", TB__K_DUR, NULL, 0, NULL},
    {"raft_trailing_logs", TB__K_INT, NULL, 0, v_nonneg},
    {"raft_logstore", TB__K_ANY, NULL, 0, NULL},
    /* TLS (block and legacy top-level keys) */
    {"tls", TB__K_ANY, NULL, 0, NULL},
    {"ca_file", TB__K_STR, NULL, 0, NULL},
    {"ca_path", TB__K_STR, NULL, 0, NULL},
    {"cert_file", TB__K_STR, NULL, 0, NULL},
    {"key_file", TB__K_STR, NULL, 0, NULL},
    {"verify_incoming", TB__K_BOOL, NULL, 0, NULL},
    {"verify_incoming_rpc", TB__K_BOOL, NULL, 0, NULL},
    {"verify_incoming_https", TB__K_BOOL, NULL, 0, NULL},
    {"verify_outgoing", TB__K_BOOL, NULL, 0, NULL},
    {"verify_server_hostname", TB__K_BOOL, NULL, 0, NULL},
    {"tls_min_version", TB__K_STR, NULL, 0, NULL},
    {"tls_cipher_suites", TB__K_STR, NULL, 0, NULL},
    {"tls_prefer_server_cipher_suites", TB__K_BOOL, NULL, 0, NULL},
    {"auto_encrypt", TB__K_ANY, NULL, 0, NULL},
    {"auto_config", TB__K_ANY, NULL, 0, NULL},
    /* misc Consul keys accepted as no-ops */
    {"enable_debug", TB__K_BOOL, NULL, 0, NULL},
    {"disable_coordinates", TB__K_BOOL, NULL, 0, NULL},
    {"disable_update_check", TB__K_BOOL, NULL, 0, NULL},
    {"disable_anonymous_signature", TB__K_BOOL, NULL, 0, NULL},
    {"disable_http_unprintable_char_filter", TB__K_BOOL, NULL, 0, NULL},
    {"enable_central_service_config", TB__K_BOOL, NULL, 0, NULL},
    {"auto_reload_config", TB__K_BOOL, NULL, 0, NULL},
    {"license_path", TB__K_STR, NULL, 0, NULL},
    {"audit", TB__K_ANY, NULL, 0, NULL},
    {"experiments", TB__K_STRLIST, NULL, 0, NULL},
    {"peering", TB__K_ANY, NULL, 0, NULL},
    {"xds", TB__K_ANY, NULL, 0, NULL},
    {"locality", TB__K_ANY, NULL, 0, NULL},
    {"reporting", TB__K_ANY, NULL, 0, NULL},
    /* Tribune's own keys */
    {"plugins", TB__K_STRLIST, NULL, 0, v_nonempty_strings},
    {"plugin_dir", TB__K_STR, NULL, 0, NULL},
    {"plugin_config", TB__K_OBJMAP, NULL, 0, NULL},
    END,
};

const tb__key_spec_t *tb__config_schema(void)
{
    return k_top;
}
