/*
 * sync.c - anti-entropy between the agent's local state and the catalog.
 * Status changes are written at once by checks.c through the helpers
 * here (edge-triggered). Output-only changes wait up to
 * check_update_interval (the coalesce sweep). A periodic full sync reads
 * the node's services and checks back from the catalog and repairs any
 * divergence (an edit behind the agent's back, a lost node); its interval
 * grows with cluster size as Consul's aeScale. The reaper deregisters
 * services whose check asked for deregister_critical_service_after.
 * Every write goes through Catalog.Register / Catalog.Deregister, so the
 * state store's session invalidation sees TTL and maintenance changes.
 */
#include "tb_autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/checks_int.h"
#include "endpoint/endpoint.h"
#include "gossip/runtime.h"

#define AE_BASE_MS 60000ULL
#define REAP_MS 30000ULL

static void write_done(void *arg, const tb_result_t *r)
{
    tb__checks_t *c = arg;
    if (r->status == TB_OK) {
        if (c->write_failing)
            tb__log(&c->agent->log, TB_LOG_INFO, "agent", "catalog sync works again");
        c->write_failing = 0;
    } else if (r->status != TB_UNAVAILABLE) {
        /* One warning per outage (a client without servers fails every
         * write); the full sync repairs what was lost. */
        tb__log(&c->agent->log, c->write_failing ? TB_LOG_DEBUG : TB_LOG_WARN, "agent",
                "catalog sync failed: %s", r->error ? r->error : "?");
        c->write_failing = 1;
    }
}

static json_t *node_body(tb__checks_t *c)
{
    const tb__config_t *cfg = c->agent->config;
    json_t *meta = json_object_get(cfg->merged, "node_meta");
    const char *addr = cfg->advertise_addr ? cfg->advertise_addr : "127.0.0.1";
    return json_pack("{s:s,s:s,s:s,s:s,s:{s:s,s:s,s:s,s:s},s:o}", "ID",
                     cfg->node_id ? cfg->node_id : "", "Node", cfg->node_name, "Address", addr,
                     "Datacenter", cfg->datacenter, "TaggedAddresses", "lan", addr, "lan_ipv4",
                     addr, "wan", addr, "wan_ipv4", addr, "NodeMeta",
                     json_is_object(meta) ? json_deep_copy(meta) : json_object());
}

static void send_register(tb__checks_t *c, json_t *service, json_t *check)
{
    /* Counted before the endpoint test so unit tests (no endpoint) see them. */
    if (service || check) c->st.catalog_writes++;
    if (!c->agent->endpoint) {
        json_decref(service);
        json_decref(check);
        return;
    }
    json_t *body = node_body(c);
    if (service) json_object_set_new(body, "Service", service);
    if (check) json_object_set_new(body, "Check", check);
    tb__endpoint_call(c->agent->endpoint, "Catalog.Register", body, NULL, write_done, c);
    json_decref(body);
}

static json_t *server_service(const tb__checks_t *c)
{
    return json_pack("{s:s,s:s,s:[],s:i}", "ID", "consul", "Service", "consul", "Tags", "Port",
                     c->agent->config->port_server);
}

static json_t *serf_check(void)
{
    return json_pack("{s:s,s:s,s:s,s:s}", "CheckID", "serfHealth", "Name", "Serf Health Status",
                     "Status", "passing", "Output", "Agent alive and reachable");
}

/* serfHealth belongs to the leader's gossip reconciliation while the LAN
 * pool runs; a server without gossip writes its own. */
static int owns_serf_check(const tb__checks_t *c)
{
    return c->agent->state && !tb__gossip_running(c->agent->gossip);
}

void tb__sync_node(tb__checks_t *c)
{
    /* A server registers itself: node, the consul service and its node
     * health. */
    if (c->agent->state)
        send_register(c, server_service(c), owns_serf_check(c) ? serf_check() : NULL);
    else send_register(c, NULL, NULL);
}

void tb__sync_serf_health(tb__checks_t *c, json_t *check)
{
    json_decref(c->serf_check);
    c->serf_check = json_incref(check);
    send_register(c, NULL, check);
}

void tb__sync_service(tb__checks_t *c, const json_t *svc)
{
    send_register(c, json_deep_copy(svc), NULL);
}

static json_t *check_body(const tb__check_t *k)
{
    json_t *r = tb__check_render(k);
    /* The catalog derives these from the service. */
    json_object_del(r, "ServiceName");
    json_object_del(r, "ServiceTags");
    json_object_del(r, "Definition");
    json_object_del(r, "ExposedPort");
    return r;
}

void tb__sync_check(tb__checks_t *c, tb__check_t *k)
{
    k->output_dirty = 0;
    send_register(c, NULL, check_body(k));
}

#define BATCH 256

void tb__sync_checks_batch(tb__checks_t *c)
{
    json_t *arr = NULL;
    for (size_t i = 0; i < c->n; i++) {
        if (!arr) arr = json_array();
        c->list[i]->output_dirty = 0;
        json_array_append_new(arr, check_body(c->list[i]));
        if (json_array_size(arr) == BATCH || i + 1 == c->n) {
            c->st.catalog_writes++;
            if (c->agent->endpoint) {
                json_t *body = node_body(c);
                json_object_set_new(body, "Checks", arr);
                tb__endpoint_call(c->agent->endpoint, "Catalog.Register", body, NULL, write_done,
                                  c);
                json_decref(body);
            } else {
                json_decref(arr);
            }
            arr = NULL;
        }
    }
}

void tb__sync_deregister(tb__checks_t *c, const char *service_id, const char *check_id)
{
    c->st.catalog_writes++;
    if (!c->agent->endpoint) return;
    json_t *body = json_pack("{s:s,s:s}", "Node", c->agent->config->node_name, "Datacenter",
                             c->agent->config->datacenter);
    if (service_id) json_object_set_new(body, "ServiceID", json_string(service_id));
    if (check_id) json_object_set_new(body, "CheckID", json_string(check_id));
    tb__endpoint_call(c->agent->endpoint, "Catalog.Deregister", body, NULL, write_done, c);
    json_decref(body);
}

/* ------------------------------------------------------------ coalescing */

static void on_coalesce(uv_timer_t *t)
{
    tb__checks_t *c = t->data;
    uint64_t now = uv_now(&c->agent->loop);
    for (size_t i = 0; i < c->n; i++) {
        tb__check_t *k = c->list[i];
        if (k->output_dirty && now - k->dirty_since >= c->update_interval_ms) tb__sync_check(c, k);
    }
}

/* ------------------------------------------------------------ reaper */

static void on_reap(uv_timer_t *t) { tb__sync_reap(t->data); }

void tb__sync_reap(tb__checks_t *c)
{
    uint64_t now = uv_now(&c->agent->loop);
    json_t *doomed = json_array();
    for (size_t i = 0; i < c->n; i++) {
        tb__check_t *k = c->list[i];
        if (!k->dereg_ms || !k->service_id || k->status != TB_CHECK_CRITICAL || !k->critical_since)
            continue;
        if (now - k->critical_since >= k->dereg_ms)
            json_array_append_new(doomed, json_string(k->service_id));
    }
    size_t i;
    json_t *x;
    json_array_foreach(doomed, i, x) {
        const char *sid = json_string_value(x);
        char *err = NULL;
        if (tb__local_service_deregister(c, sid, &err) == TB_OK)
            tb__log(&c->agent->log, TB_LOG_INFO, "agent",
                    "Check for service has been critical for too long; deregistered service: "
                    "service=%s",
                    sid);
        free(err);
    }
    json_decref(doomed);
}

/* ------------------------------------------------------------ full sync */

uint64_t tb__ae_interval_ms(uint64_t base_ms, size_t nodes)
{
    /* Consul's aeScale: intv * (ceil(log2(n) - log2(128)) + 1) beyond 128. */
    uint64_t k = 0;
    while (((uint64_t)128 << k) < nodes) k++;
    return base_ms * (k + 1);
}

typedef struct ae_run {
    tb__checks_t *c;
    json_t *services; /* remote {"Node":..,"Services":{}} or null */
} ae_run_t;

static void on_ae(uv_timer_t *t);

static void ae_schedule(tb__checks_t *c)
{
    if (!c->started) return;
    uint64_t iv = tb__ae_interval_ms(AE_BASE_MS, c->last_nodes);
    /* Jitter so agents do not sync in step. */
    uint64_t jitter = tb__checks_random(c) % (iv / 16 + 1);
    uv_timer_start(&c->ae_timer, on_ae, iv + jitter, 0);
}

static int same_str(const json_t *a, const json_t *b, const char *k)
{
    const char *x = json_string_value(json_object_get(a, k));
    const char *y = json_string_value(json_object_get(b, k));
    return !strcmp(x ? x : "", y ? y : "");
}

static int service_differs(const json_t *local, const json_t *remote)
{
    if (!remote) return 1;
    static const char *const keys[] = {"Service", "Address"};
    for (size_t i = 0; i < 2; i++)
        if (!same_str(local, remote, keys[i])) return 1;
    json_t *lt = json_object_get(local, "Tags"), *rt = json_object_get(remote, "Tags");
    if (json_array_size(lt) != json_array_size(rt) || (json_array_size(lt) && !json_equal(lt, rt)))
        return 1;
    if (json_integer_value(json_object_get(local, "Port")) !=
        json_integer_value(json_object_get(remote, "Port")))
        return 1;
    json_t *lm = json_object_get(local, "Meta"), *rm = json_object_get(remote, "Meta");
    if (json_object_size(lm) != json_object_size(rm) || (json_object_size(lm) && !json_equal(lm, rm)))
        return 1;
    return 0;
}

static void ae_finish(ae_run_t *run, const json_t *remote_checks)
{
    tb__checks_t *c = run->c;
    c->sync_running = 0;
    if (!c->started) return;
    c->st.full_syncs++;
    uint64_t before = c->st.catalog_writes;
    json_t *rsvcs = json_object_get(run->services, "Services");
    int node_missing = !json_is_object(json_object_get(run->services, "Node"));
    if (node_missing) tb__sync_node(c);
    else if (c->agent->state) {
        /* A server's own entries. */
        if (!json_object_get(rsvcs, "consul")) send_register(c, server_service(c), NULL);
    }
    const char *id;
    json_t *s;
    json_object_foreach(c->services, id, s)
        if (node_missing || service_differs(s, json_object_get(rsvcs, id))) tb__sync_service(c, s);
    json_object_foreach(rsvcs, id, s) {
        if (json_object_get(c->services, id)) continue;
        if (c->agent->state && !strcmp(id, "consul")) continue;
        tb__sync_deregister(c, id, NULL);
    }
    /* Checks: index the remote ones by ID. */
    json_t *rchecks = json_object();
    size_t i;
    json_t *x;
    json_array_foreach(remote_checks, i, x) {
        const char *cid = json_string_value(json_object_get(x, "CheckID"));
        if (cid) json_object_set(rchecks, cid, x);
    }
    int serf_seen = 0;
    json_t *local = json_object(); /* IDs, so the pass below is not O(n^2) */
    for (i = 0; i < c->n; i++) {
        tb__check_t *k = c->list[i];
        json_object_set_new(local, k->id, json_true());
        json_t *r = json_object_get(rchecks, k->id);
        if (node_missing || !r || k->output_dirty ||
            strcmp(json_string_value(json_object_get(r, "Status")) ?: "",
                   tb__check_status_name(k->status)) ||
            strcmp(json_string_value(json_object_get(r, "Output")) ?: "", k->output ?: "") ||
            strcmp(json_string_value(json_object_get(r, "Name")) ?: "", k->name) ||
            strcmp(json_string_value(json_object_get(r, "ServiceID")) ?: "",
                   k->service_id ?: ""))
            tb__sync_check(c, k);
    }
    json_object_foreach(rchecks, id, x) {
        if (!strcmp(id, "serfHealth")) {
            serf_seen = 1;
            continue;
        }
        if (!json_object_get(local, id)) tb__sync_deregister(c, NULL, id);
    }
    json_decref(local);
    if (!serf_seen) {
        if (owns_serf_check(c)) {
            if (!node_missing) send_register(c, NULL, serf_check());
        } else if (c->serf_check) {
            send_register(c, NULL, json_deep_copy(c->serf_check));
        }
    }
    json_decref(rchecks);
    c->st.sync_repairs += c->st.catalog_writes - before;
    if (c->st.catalog_writes != before)
        tb__log(&c->agent->log, TB_LOG_INFO, "agent", "anti-entropy: repaired %llu catalog entries",
                (unsigned long long)(c->st.catalog_writes - before));
    ae_schedule(c);
}

static void ae_free(ae_run_t *run)
{
    json_decref(run->services);
    free(run);
}

static void on_node_checks(void *arg, const tb_result_t *r)
{
    ae_run_t *run = arg;
    if (r->status == TB_OK) ae_finish(run, r->json);
    else {
        run->c->sync_running = 0;
        ae_schedule(run->c);
    }
    ae_free(run);
}

static void on_node_services(void *arg, const tb_result_t *r)
{
    ae_run_t *run = arg;
    tb__checks_t *c = run->c;
    if (r->status != TB_OK || !c->started) {
        c->sync_running = 0;
        ae_schedule(c);
        ae_free(run);
        return;
    }
    run->services = json_incref(r->json);
    json_t *args = json_pack("{s:s}", "Node", c->agent->config->node_name);
    if (!tb__endpoint_call(c->agent->endpoint, "Health.NodeChecks", args, NULL, on_node_checks,
                           run)) {
        c->sync_running = 0;
        ae_free(run);
    }
    json_decref(args);
}

static void on_nodes(void *arg, const tb_result_t *r)
{
    ae_run_t *run = arg;
    tb__checks_t *c = run->c;
    if (r->status != TB_OK || !c->started) {
        c->sync_running = 0;
        ae_schedule(c);
        ae_free(run);
        return;
    }
    c->last_nodes = json_array_size(r->json);
    json_t *args = json_pack("{s:s}", "Node", c->agent->config->node_name);
    if (!tb__endpoint_call(c->agent->endpoint, "Catalog.NodeServices", args, NULL,
                           on_node_services, run)) {
        c->sync_running = 0;
        ae_free(run);
    }
    json_decref(args);
}

void tb__checks_sync_now(tb__checks_t *c)
{
    if (!c || !c->started || c->sync_running || !c->agent->endpoint) return;
    ae_run_t *run = calloc(1, sizeof *run);
    if (!run) return;
    run->c = c;
    c->sync_running = 1;
    json_t *args = json_object();
    if (!tb__endpoint_call(c->agent->endpoint, "Catalog.ListNodes", args, NULL, on_nodes, run)) {
        c->sync_running = 0;
        free(run);
    }
    json_decref(args);
}

static void on_ae(uv_timer_t *t) { tb__checks_sync_now(t->data); }

/* ------------------------------------------------------------ timers */

void tb__sync_timers_start(tb__checks_t *c)
{
    uv_loop_t *l = &c->agent->loop;
    uv_timer_init(l, &c->ae_timer);
    uv_timer_init(l, &c->reap_timer);
    uv_timer_init(l, &c->coalesce_timer);
    c->ae_timer.data = c->reap_timer.data = c->coalesce_timer.data = c;
    c->timers_init = 1;
    ae_schedule(c);
    uv_timer_start(&c->reap_timer, on_reap, REAP_MS, REAP_MS);
    if (c->update_interval_ms) {
        uint64_t sweep = c->update_interval_ms < 1000 ? c->update_interval_ms : 1000;
        uv_timer_start(&c->coalesce_timer, on_coalesce, sweep, sweep);
    }
}

void tb__sync_timers_stop(tb__checks_t *c)
{
    if (!c->timers_init) return;
    c->timers_init = 0;
    /* The handles live in c, freed after the loop ran the closes. */
    uv_close((uv_handle_t *)&c->ae_timer, NULL);
    uv_close((uv_handle_t *)&c->reap_timer, NULL);
    uv_close((uv_handle_t *)&c->coalesce_timer, NULL);
}
