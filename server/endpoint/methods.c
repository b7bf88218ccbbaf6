/*
 * methods.c - the endpoint layer's method table: Catalog.*, Health.*,
 * Session.*, Status.*, Agent.*. Reads ask the state store and say which
 * watch keys their answer depends on; writes validate and normalize their
 * arguments and encode a command (the caller applies it). doc/sdk.md lists
 * every method with its arguments and result.
 */
#include "tb_autoconf.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include "agent/agent.h"
#include "agent/checks.h"
#include "plugin/plugin.h"
#include "endpoint/endpoint_int.h"
#include "endpoint/members.h"
#include "gossip/runtime.h"
#include "raft/node.h"

#define STATE(ep) ((ep)->agent->state)
#define CFG(ep) ((ep)->agent->config)

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* A required string argument; 400 naming it when absent. */
static const char *need_str(const json_t *args, const char *name, tb__ep_out_t *out)
{
    const char *s = tb__jstr(args, name);
    if (!s || !*s) tb__ep_fail(out, TB_BAD_REQUEST, "Missing %s", name);
    return s && *s ? s : NULL;
}

static void read_done(tb__ep_out_t *out, json_t *j)
{
    out->blockable = 1;
    if (!j) tb__ep_fail(out, TB_INTERNAL, "state store read failed");
    out->json = j;
}

/* ------------------------------------------------------------ watch keys */

static int w_nodes(tb__watch_t *w, const json_t *a)
{
    (void)a;
    return tb__watch_on(w, TB__WATCH_TABLE, "nodes");
}
static int w_services(tb__watch_t *w, const json_t *a)
{
    (void)a;
    return tb__watch_on(w, TB__WATCH_TABLE, "services");
}
static int w_checks(tb__watch_t *w, const json_t *a)
{
    (void)a;
    return tb__watch_on(w, TB__WATCH_TABLE, "checks");
}
static int w_sessions(tb__watch_t *w, const json_t *a)
{
    (void)a;
    return tb__watch_on(w, TB__WATCH_TABLE, "sessions");
}
static int w_service(tb__watch_t *w, const json_t *a)
{
    const char *s = tb__jstr(a, "ServiceName");
    return tb__watch_on(w, TB__WATCH_SERVICE, s ? s : "");
}
static int w_node(tb__watch_t *w, const json_t *a)
{
    const char *s = tb__jstr(a, "Node");
    return tb__watch_on(w, TB__WATCH_NODE, s ? s : "");
}
static int w_session(tb__watch_t *w, const json_t *a)
{
    const char *s = tb__jstr(a, "ID");
    return tb__watch_on(w, TB__WATCH_SESSION, s ? s : "");
}

/* ------------------------------------------------------------ catalog */

/* Register and deregister: normalize the body (400 on error), refuse
 * another datacenter, encode the command; the reply is `true`. */
static void catalog_write(tb__endpoint_t *ep, const json_t *args, tb__ep_out_t *out,
                          tb__buf_t *cmd, uint8_t type,
                          json_t *(*norm)(const json_t *, const char *, char **))
{
    char *err = NULL;
    json_t *body = norm(args, CFG(ep)->datacenter, &err);
    if (!body) {
        tb__ep_fail(out, TB_BAD_REQUEST, "%s", err ? err : "invalid request");
        free(err);
        return;
    }
    if (strcmp(json_string_value(json_object_get(body, "Datacenter")), CFG(ep)->datacenter)) {
        tb__ep_fail(out, TB_NO_PATH, "No path to datacenter");
    } else if (tb__cmd_encode_json(type, body, now_ms(), cmd) != 0) {
        tb__ep_fail(out, TB_INTERNAL, "cannot encode command");
    } else {
        out->json = json_true();
    }
    json_decref(body);
}

static void m_register(tb__endpoint_t *ep, const json_t *args, tb__ep_out_t *out, tb__buf_t *cmd)
{
    catalog_write(ep, args, out, cmd, TB__CMD_REGISTER, tb__norm_register);
}

static void m_deregister(tb__endpoint_t *ep, const json_t *args, tb__ep_out_t *out,
                         tb__buf_t *cmd)
{
    catalog_write(ep, args, out, cmd, TB__CMD_DEREGISTER, tb__norm_deregister);
}

static void m_list_nodes(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out, tb__buf_t *c)
{
    (void)a, (void)c;
    read_done(out, tb__state_nodes(STATE(ep), &out->index));
}

static void m_list_services(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out, tb__buf_t *c)
{
    (void)a, (void)c;
    read_done(out, tb__state_services(STATE(ep), &out->index));
}

static const json_t *tags_arg(const json_t *a, tb__ep_out_t *out)
{
    json_t *t = tb__jget(a, "ServiceTags");
    if (t && !json_is_null(t) && !json_is_array(t)) {
        tb__ep_fail(out, TB_BAD_REQUEST, "ServiceTags must be an array");
        return NULL;
    }
    return t && json_is_array(t) ? t : NULL;
}

static void m_service_nodes(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out, tb__buf_t *c)
{
    (void)c;
    const char *svc = need_str(a, "ServiceName", out);
    if (!svc) return;
    const json_t *tags = tags_arg(a, out);
    if (out->status) return;
    read_done(out, tb__state_service_nodes(STATE(ep), svc, tags, &out->index));
}

static void m_node_services(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out, tb__buf_t *c)
{
    (void)c;
    const char *node = need_str(a, "Node", out);
    if (!node) return;
    read_done(out, tb__state_node_services(STATE(ep), node, &out->index));
}

static void m_datacenters(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out, tb__buf_t *c)
{
    (void)a, (void)c;
    out->json = json_pack("[s]", CFG(ep)->datacenter);
}

/* ------------------------------------------------------------ health */

static void m_health_service(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out,
                             tb__buf_t *c)
{
    (void)c;
    const char *svc = need_str(a, "ServiceName", out);
    if (!svc) return;
    const json_t *tags = tags_arg(a, out);
    if (out->status) return;
    int passing = json_is_true(tb__jget(a, "PassingOnly"));
    read_done(out, tb__state_health_service(STATE(ep), svc, tags, passing, &out->index));
}

static void m_node_checks(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out, tb__buf_t *c)
{
    (void)c;
    const char *node = need_str(a, "Node", out);
    if (!node) return;
    read_done(out, tb__state_node_checks(STATE(ep), node, &out->index));
}

static void m_service_checks(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out,
                             tb__buf_t *c)
{
    (void)c;
    const char *svc = need_str(a, "ServiceName", out);
    if (!svc) return;
    read_done(out, tb__state_service_checks(STATE(ep), svc, &out->index));
}

static void m_checks_in_state(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out,
                              tb__buf_t *c)
{
    (void)c;
    const char *st = need_str(a, "State", out);
    if (!st) return;
    if (strcmp(st, "any") && strcmp(st, "passing") && strcmp(st, "warning") &&
        strcmp(st, "critical")) {
        tb__ep_fail(out, TB_BAD_REQUEST, "Invalid check state \"%s\"", st);
        return;
    }
    read_done(out, tb__state_checks_in_state(STATE(ep), st, &out->index));
}

/* ------------------------------------------------------------ sessions */

/* LockDelay: a duration string or a number; values under 1000 mean seconds
 * (Consul's lockDelayMinThreshold); capped at 60s; 0 disables. */
static int parse_lock_delay(const json_t *v, uint64_t *ns, tb__ep_out_t *out)
{
    const uint64_t sec = 1000000000ULL;
    *ns = 15 * sec;
    if (!v || json_is_null(v)) return 0;
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0) goto bad;
        *ns = (uint64_t)json_integer_value(v);
    } else if (json_is_real(v)) {
        if (json_real_value(v) < 0) goto bad;
        *ns = (uint64_t)json_real_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        unsigned long long n = strtoull(s, &end, 10);
        if (*s && !*end) *ns = n;
        else if (tb__parse_duration(s, ns) != 0) goto bad;
    } else {
        goto bad;
    }
    if (*ns < 1000) *ns *= sec;
    if (*ns > 60 * sec) *ns = 60 * sec;
    return 0;
bad:
    tb__ep_fail(out, TB_BAD_REQUEST, "Request decode failed: invalid LockDelay");
    return -1;
}

static int str_array(json_t *dst, const char *name, const json_t *v, tb__ep_out_t *out)
{
    if (!v || json_is_null(v)) return 1; /* absent */
    size_t i;
    json_t *x;
    if (!json_is_array(v)) goto bad;
    json_array_foreach(v, i, x) if (!json_is_string(x)) goto bad;
    json_object_set(dst, name, (json_t *)v);
    return 0;
bad:
    tb__ep_fail(out, TB_BAD_REQUEST, "Request decode failed: %s must be an array of strings", name);
    return -1;
}

static void m_session_create(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out,
                             tb__buf_t *cmd)
{
    const tb__config_t *cfg = CFG(ep);
    if (a && !json_is_object(a) && !json_is_null(a)) {
        tb__ep_fail(out, TB_BAD_REQUEST, "Request decode failed: body must be a JSON object");
        return;
    }
    json_t *s = json_object();
    char id[37];
    tb__ep_uuid(ep, id);
    json_object_set_new(s, "ID", json_string(id));
    const char *name = tb__jstr(a, "Name");
    json_object_set_new(s, "Name", json_string(name ? name : ""));
    const char *node = tb__jstr(a, "Node");
    json_object_set_new(s, "Node", json_string(node && *node ? node : cfg->node_name));
    uint64_t ld;
    if (parse_lock_delay(tb__jget(a, "LockDelay"), &ld, out)) goto out;
    json_object_set_new(s, "LockDelay", json_integer((json_int_t)ld));
    const char *beh = tb__jstr(a, "Behavior");
    if (!beh || !*beh) beh = "release";
    if (strcmp(beh, "release") && strcmp(beh, "delete")) {
        tb__ep_fail(out, TB_BAD_REQUEST, "Invalid Behavior setting '%s'", beh);
        goto out;
    }
    json_object_set_new(s, "Behavior", json_string(beh));
    const char *ttl = tb__jstr(a, "TTL");
    uint64_t ttl_ns = 0;
    if (ttl && *ttl) {
        if (tb__parse_duration(ttl, &ttl_ns) != 0) {
            tb__ep_fail(out, TB_BAD_REQUEST, "Request decode failed: invalid TTL '%s'", ttl);
            goto out;
        }
        uint64_t min = cfg->session_ttl_min_ms * 1000000ULL, max = 86400ULL * 1000000000ULL;
        if (ttl_ns && (ttl_ns < min || ttl_ns > max)) {
            tb__ep_fail(out, TB_BAD_REQUEST,
                        "Invalid Session TTL '%llu', must be between [%llus=%llus]",
                        (unsigned long long)ttl_ns, (unsigned long long)(min / 1000000000ULL),
                        (unsigned long long)(max / 1000000000ULL));
            goto out;
        }
    }
    json_object_set_new(s, "TTL", json_string(ttl_ns ? ttl : ""));
    /* Checks (legacy) and NodeChecks both name node checks. */
    int r1 = str_array(s, "NodeChecks", tb__jget(a, "NodeChecks"), out);
    if (r1 < 0) goto out;
    if (r1 == 1) {
        int r2 = str_array(s, "NodeChecks", tb__jget(a, "Checks"), out);
        if (r2 < 0) goto out;
    }
    json_t *sc = tb__jget(a, "ServiceChecks");
    if (sc && !json_is_null(sc)) {
        if (!json_is_array(sc)) {
            tb__ep_fail(out, TB_BAD_REQUEST, "Request decode failed: ServiceChecks must be an array");
            goto out;
        }
        json_t *norm = json_array();
        size_t i;
        json_t *x;
        json_array_foreach(sc, i, x) {
            const char *cid = tb__jstr(x, "ID");
            if (!cid) {
                json_decref(norm);
                tb__ep_fail(out, TB_BAD_REQUEST, "Request decode failed: ServiceChecks need an ID");
                goto out;
            }
            const char *ns = tb__jstr(x, "Namespace");
            json_array_append_new(norm, json_pack("{s:s,s:s}", "ID", cid, "Namespace", ns ? ns : ""));
        }
        json_object_set_new(s, "ServiceChecks", norm);
    }
    json_t *body = json_pack("{s:s,s:O}", "Op", "create", "Session", s);
    if (tb__cmd_encode_json(TB__CMD_SESSION, body, now_ms(), cmd) != 0)
        tb__ep_fail(out, TB_INTERNAL, "cannot encode command");
    json_decref(body);
    if (!out->status) {
        out->json = json_pack("{s:s}", "ID", id);
        if (ttl_ns) tb__ep_ttl_set(ep, id, ttl_ns / 1000000ULL);
    }
out:
    json_decref(s);
}

static void m_session_destroy(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out,
                              tb__buf_t *cmd)
{
    const char *id = need_str(a, "ID", out);
    if (!id) return;
    json_t *body = json_pack("{s:s,s:{s:s}}", "Op", "destroy", "Session", "ID", id);
    if (tb__cmd_encode_json(TB__CMD_SESSION, body, now_ms(), cmd) != 0)
        tb__ep_fail(out, TB_INTERNAL, "cannot encode command");
    else
        out->json = json_true();
    json_decref(body);
    tb__ep_ttl_drop(ep, id);
}

static void m_session_get(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out, tb__buf_t *c)
{
    (void)c;
    const char *id = need_str(a, "ID", out);
    if (!id) return;
    read_done(out, tb__state_session_get(STATE(ep), id, &out->index));
}

static void m_session_list(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out, tb__buf_t *c)
{
    (void)a, (void)c;
    read_done(out, tb__state_session_list(STATE(ep), &out->index));
}

static void m_node_sessions(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out, tb__buf_t *c)
{
    (void)c;
    const char *node = need_str(a, "Node", out);
    if (!node) return;
    read_done(out, tb__state_node_sessions(STATE(ep), node, &out->index));
}

static void m_session_renew(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out, tb__buf_t *c)
{
    (void)c;
    const char *id = need_str(a, "ID", out);
    if (!id) return;
    json_t *j = tb__state_session_get(STATE(ep), id, &out->index);
    if (!j) {
        tb__ep_fail(out, TB_INTERNAL, "state store read failed");
        return;
    }
    if (json_array_size(j) == 0) {
        json_decref(j);
        /* Patroni recreates its session on this 404. */
        tb__ep_fail(out, TB_NOT_FOUND, "Session id '%s' not found", id);
        return;
    }
    tb__ep_ttl_renew(ep, id);
    out->json = j;
}

/* ------------------------------------------------------------ status */

static char *server_addr(tb__endpoint_t *ep)
{
    const tb__config_t *cfg = CFG(ep);
    char buf[300];
    snprintf(buf, sizeof buf, "%s:%d", cfg->advertise_addr ? cfg->advertise_addr : "127.0.0.1",
             cfg->port_server);
    return strdup(buf);
}

static void m_leader(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out, tb__buf_t *c)
{
    (void)a, (void)c;
    if (ep->agent->raft) {
        const char *l = tb__raftnode_leader_addr(ep->agent->raft);
        out->json = json_string(l ? l : "");
        return;
    }
    char *s = ep->agent->state ? server_addr(ep) : NULL;
    out->json = json_string(s ? s : "");
    free(s);
}

static void m_peers(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out, tb__buf_t *c)
{
    (void)a, (void)c;
    if (ep->agent->raft) {
        out->json = tb__raftnode_peers(ep->agent->raft);
        return;
    }
    out->json = json_array();
    if (ep->agent->state) {
        char *s = server_addr(ep);
        if (s) json_array_append_new(out->json, json_string(s));
        free(s);
    }
}

/* ------------------------------------------------------------ agent */

static json_t *member_json(tb__endpoint_t *ep)
{
    const tb__config_t *cfg = CFG(ep);
    char build[128], port[16];
    snprintf(build, sizeof build, "%s:%s", tb__version(), tb__revision());
    snprintf(port, sizeof port, "%d", cfg->port_server);
    json_t *tags = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "role",
                             cfg->server ? "consul" : "node", "dc", cfg->datacenter, "port", port,
                             "vsn", "2", "vsn_min", "2", "vsn_max", "3", "build", build, "id",
                             cfg->node_id ? cfg->node_id : "", "segment", "", "raft_vsn", "3");
    if (cfg->server && cfg->bootstrap) json_object_set_new(tags, "bootstrap", json_string("1"));
    if (cfg->server && cfg->bootstrap_expect) {
        char e[16];
        snprintf(e, sizeof e, "%d", cfg->bootstrap_expect);
        json_object_set_new(tags, "expect", json_string(e));
    }
    return json_pack("{s:s,s:s,s:i,s:o,s:i,s:i,s:i,s:i,s:i,s:i,s:i}", "Name", cfg->node_name,
                     "Addr", cfg->advertise_addr ? cfg->advertise_addr : "127.0.0.1", "Port",
                     cfg->port_serf_lan, "Tags", tags, "Status", 1, "ProtocolMin", 1,
                     "ProtocolMax", 5, "ProtocolCur", 2, "DelegateMin", 2, "DelegateMax", 5,
                     "DelegateCur", 4);
}

static void m_members(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out, tb__buf_t *c)
{
    if (tb__gossip_running(ep->agent->gossip)) {
        tb__m_members(ep, a, out, c);
        return;
    }
    out->json = json_array();
    /* Without gossip (a -dev agent whose port was taken) the LAN pool is
     * this agent; the WAN pool holds servers only. */
    if (!json_is_true(tb__jget(a, "WAN")) || CFG(ep)->server)
        json_array_append_new(out->json, member_json(ep));
}

static json_t *stats_json(tb__endpoint_t *ep)
{
    tb__agent_t *ag = ep->agent;
    const tb__config_t *cfg = ag->config;
    char buf[64];
    json_t *st = json_object();
    json_t *agent = json_object();
    snprintf(buf, sizeof buf, "%zu", ag->plugins ? ag->plugins->n : (size_t)0);
    json_object_set_new(agent, "plugins", json_string(buf));
    snprintf(buf, sizeof buf, "%zu", tb__endpoint_waiting(ep));
    json_object_set_new(agent, "blocking_queries", json_string(buf));
    if (ag->checks) {
        /* Anti-entropy: writes the edge-triggered sync saved (issue 7). */
        tb__checks_stats_t cs;
        tb__checks_get_stats(ag->checks, &cs);
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)cs.check_writes_saved);
        json_object_set_new(agent, "check_writes_saved", json_string(buf));
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)cs.catalog_writes);
        json_object_set_new(agent, "catalog_writes", json_string(buf));
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)cs.full_syncs);
        json_object_set_new(agent, "anti_entropy_syncs", json_string(buf));
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)cs.sync_repairs);
        json_object_set_new(agent, "anti_entropy_repairs", json_string(buf));
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)cs.check_runs);
        json_object_set_new(agent, "check_runs", json_string(buf));
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)cs.late_p99_ms);
        json_object_set_new(agent, "check_sched_late_p99_ms", json_string(buf));
    }
    json_object_set_new(st, "agent", agent);
    json_object_set_new(st, "build", json_pack("{s:s,s:s,s:s}", "prerelease", "", "revision",
                                               tb__revision(), "version", tb__version()));
    json_t *consul = json_object();
    json_object_set_new(consul, "server", json_string(cfg->server ? "true" : "false"));
    json_object_set_new(consul, "bootstrap", json_string(cfg->bootstrap ? "true" : "false"));
    json_object_set_new(consul, "known_datacenters", json_string("1"));
    if (ag->state) {
        char *addr = server_addr(ep);
        json_object_set_new(consul, "leader", json_string("true"));
        json_object_set_new(consul, "leader_addr", json_string(addr ? addr : ""));
        free(addr);
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)tb__state_last_index(ag->state));
        json_object_set_new(st, "raft", json_pack("{s:s,s:s,s:s,s:s}", "state", "Leader",
                                                  "applied_index", buf, "commit_index", buf,
                                                  "num_peers", "0"));
    } else {
        json_object_set_new(consul, "leader", json_string("false"));
        json_object_set_new(consul, "known_servers", json_string("0"));
    }
    json_object_set_new(st, "consul", consul);
    json_object_set_new(st, "runtime", json_pack("{s:s,s:s,s:s}", "arch",
                                                 sizeof(void *) == 8 ? "amd64" : "386", "os",
                                                 "linux", "version", "C11/libuv"));
    json_t *lan = tb__gossip_self_stats(ep, 0);
    json_object_set_new(st, "serf_lan", lan ? lan : json_pack("{s:s,s:s,s:s}", "members", "1",
                                                              "failed", "0", "left", "0"));
    if (cfg->server) {
        json_t *wan = tb__gossip_self_stats(ep, 1);
        json_object_set_new(st, "serf_wan", wan ? wan : json_pack("{s:s,s:s,s:s}", "members", "1",
                                                                  "failed", "0", "left", "0"));
    }
    return st;
}

static void m_self(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out, tb__buf_t *c)
{
    (void)a, (void)c;
    const tb__config_t *cfg = CFG(ep);
    json_t *conf = json_pack("{s:s,s:s,s:s,s:b,s:s,s:s,s:s}", "Datacenter", cfg->datacenter,
                             "NodeName", cfg->node_name, "NodeID",
                             cfg->node_id ? cfg->node_id : "", "Server", cfg->server,
                             "Revision", tb__revision(), "Version", tb__version(),
                             "PrimaryDatacenter", cfg->datacenter);
    json_t *dbg = json_object();
    json_t *plugins = json_array();
    tb__plugins_t *p = ep->agent->plugins;
    for (size_t i = 0; p && i < p->n; i++)
        json_array_append_new(plugins, json_pack("{s:s,s:s,s:s}", "Name", p->list[i]->name,
                                                 "Version", p->list[i]->version, "Path",
                                                 p->list[i]->path));
    json_object_set_new(dbg, "Plugins", plugins);
    json_object_set_new(dbg, "Datacenter", json_string(cfg->datacenter));
    json_object_set_new(dbg, "NodeName", json_string(cfg->node_name));
    json_object_set_new(dbg, "DevMode", json_boolean(cfg->dev));
    json_t *coord = json_pack("{s:[f,f,f,f,f,f,f,f],s:f,s:f,s:f}", "Vec", 0.0, 0.0, 0.0, 0.0, 0.0,
                              0.0, 0.0, 0.0, "Error", 1.5, "Adjustment", 0.0, "Height", 1e-05);
    json_t *meta = json_object_get(cfg->merged, "node_meta");
    meta = json_is_object(meta) ? json_incref(meta) : json_object();
    out->json = json_pack("{s:o,s:o,s:o,s:o,s:o,s:o}", "Config", conf, "DebugConfig", dbg, "Coord",
                          coord, "Member", member_json(ep), "Stats", stats_json(ep), "Meta", meta);
}

static void m_agent_services(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out, tb__buf_t *c)
{
    (void)a, (void)c;
    out->json = ep->agent->checks ? tb__checks_agent_services(ep->agent->checks) : json_object();
}

static void m_agent_checks(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out, tb__buf_t *c)
{
    (void)a, (void)c;
    out->json = ep->agent->checks ? tb__checks_agent_checks(ep->agent->checks) : json_object();
}

static void m_reload(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out, tb__buf_t *c)
{
    (void)a, (void)c;
    /* The same path as SIGHUP; errors are logged by the agent. */
    uv_kill(uv_os_getpid(), SIGHUP);
    (void)ep;
    out->json = json_true();
}

static void m_unknown(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out, tb__buf_t *c)
{
    (void)ep, (void)a, (void)c;
    tb__ep_fail(out, TB_BAD_REQUEST, "Unknown endpoint method");
}

/* ------------------------------------------------------------ the table */

static const tb__method_t methods[] = {
    /* name, acl resource, needs_state, write, run, watch */
    {"Catalog.Register", "node", 1, 1, m_register, NULL},
    {"Catalog.Deregister", "node", 1, 1, m_deregister, NULL},
    {"Catalog.ListNodes", "node", 1, 0, m_list_nodes, w_nodes},
    {"Catalog.ListServices", "service", 1, 0, m_list_services, w_services},
    {"Catalog.ServiceNodes", "service", 1, 0, m_service_nodes, w_service},
    {"Catalog.NodeServices", "node", 1, 0, m_node_services, w_node},
    {"Catalog.ListDatacenters", NULL, 0, 0, m_datacenters, NULL},
    {"Health.ServiceNodes", "service", 1, 0, m_health_service, w_service},
    {"Health.NodeChecks", "node", 1, 0, m_node_checks, w_node},
    {"Health.ServiceChecks", "service", 1, 0, m_service_checks, w_service},
    {"Health.ChecksInState", "node", 1, 0, m_checks_in_state, w_checks},
    {"Session.Create", "session", 1, 1, m_session_create, NULL},
    {"Session.Destroy", "session", 1, 1, m_session_destroy, NULL},
    {"Session.Get", "session", 1, 0, m_session_get, w_session},
    {"Session.List", "session", 1, 0, m_session_list, w_sessions},
    {"Session.NodeSessions", "session", 1, 0, m_node_sessions, w_sessions},
    {"Session.Renew", "session", 1, 0, m_session_renew, NULL},
    {"Status.Leader", NULL, 0, 0, m_leader, NULL},
    {"Status.Peers", NULL, 0, 0, m_peers, NULL},
    /* operator.c */
    {"Operator.RaftGetConfiguration", "operator", 1, 0, tb__m_raft_configuration, NULL},
    {"Operator.RaftRemovePeer", "operator", 1, 1, tb__m_raft_remove_peer, NULL},
    {"Operator.RaftTransferLeader", "operator", 1, 1, tb__m_raft_transfer_leader, NULL},
    {"Snapshot.Save", "operator", 1, 0, tb__m_snapshot_save, NULL},
    {"Snapshot.Restore", "operator", 1, 1, tb__m_snapshot_restore, NULL},
    {"Agent.Self", "agent", 0, 0, m_self, NULL},
    {"Agent.Members", "node", 0, 0, m_members, NULL},
    {"Agent.Services", "service", 0, 0, m_agent_services, NULL},
    {"Agent.Checks", "node", 0, 0, m_agent_checks, NULL},
    {"Agent.Reload", "agent", 0, 0, m_reload, NULL},
    {"Agent.ServiceRegister", "service", 0, 0, tb__m_agent_service_register, NULL},
    {"Agent.ServiceDeregister", "service", 0, 0, tb__m_agent_service_deregister, NULL},
    {"Agent.CheckRegister", "node", 0, 0, tb__m_agent_check_register, NULL},
    {"Agent.CheckDeregister", "node", 0, 0, tb__m_agent_check_deregister, NULL},
    {"Agent.CheckUpdate", "node", 0, 0, tb__m_agent_check_update, NULL},
    {"Agent.Service", "service", 0, 0, tb__m_agent_service, NULL},
    {"Agent.HealthServiceByName", "service", 0, 0, tb__m_agent_health_by_name, NULL},
    {"Agent.HealthServiceByID", "service", 0, 0, tb__m_agent_health_by_id, NULL},
    {"Agent.Maintenance", "node", 0, 0, tb__m_agent_maintenance, NULL},
    {"Agent.ServiceMaintenance", "service", 0, 0, tb__m_agent_service_maintenance, NULL},
    {"Txn.Apply", "key", 1, 1, tb__m_txn_apply, NULL},
    {"Agent.Metrics", "agent", 0, 0, tb__m_agent_metrics, NULL},
    {"Agent.Host", "operator", 0, 0, tb__m_agent_host, NULL},
    {"Catalog.NodeServiceList", "node", 1, 0, tb__m_node_service_list, tb__w_coord_node},
    {"Coordinate.ListDatacenters", NULL, 0, 0, tb__m_coord_datacenters, NULL},
    {"Coordinate.ListNodes", "node", 1, 0, tb__m_coord_nodes, tb__w_coord_nodes},
    {"Coordinate.Node", "node", 1, 0, tb__m_coord_node, tb__w_coord_node},
    /* gossip (members.c); actions are writes so reads never share them */
    {"Agent.Join", "agent", 0, 1, tb__m_join, NULL},
    {"Agent.Leave", "agent", 0, 1, tb__m_leave, NULL},
    {"Agent.ForceLeave", "agent", 0, 1, tb__m_force_leave, NULL},
    {"Event.Fire", "event", 0, 1, tb__m_event_fire, NULL},
    {"Event.List", "event", 0, 0, tb__m_event_list, tb__w_events},
    {"Operator.Keyring", "operator", 1, 1, tb__m_keyring, NULL},
};

static const tb__method_t unknown_method = {"", NULL, 0, 0, m_unknown, NULL};

const tb__method_t *tb__ep_method(const char *name)
{
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strcmp(methods[i].name, name) == 0) return &methods[i];
    return &unknown_method;
}
