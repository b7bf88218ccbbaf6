/*
 * checks.h - the agent's local state: services and checks from the config
 * files and from the agent HTTP API (/v1/agent/service/register ...), the
 * check scheduler (check-type plugins, thresholds, timeouts), TTL and
 * maintenance checks, persistence of API-registered state in data_dir,
 * config reload, and anti-entropy with the catalog: status changes pushed
 * at once (edge-triggered), output-only changes coalesced per
 * check_update_interval, a periodic full sync that repairs divergence.
 */
#ifndef TB_CHECKS_H
#define TB_CHECKS_H

#include <tribune/plugin.h>

struct tb__agent;
typedef struct tb__checks tb__checks_t;
typedef struct tb__check tb__check_t;

/* One probe in flight (the SDK's opaque tb_probe_t). */
struct tb_probe {
    tb__check_t *check; /* NULL once the check was removed */
    json_t *definition; /* lowercased keys (owned) */
    uint64_t timeout_ms;
    int finished;       /* timeout or result already recorded */
};

/* One handler run (the SDK's opaque tb_handler_run_t); used by watches. */
struct tb_handler_run {
    json_t *definition;
    json_t *input;
    uint64_t index;
    void (*done)(struct tb_handler_run *run, int status, void *arg);
    void *arg;
};

/* Consul's StatusHandler: success_before_passing and
 * failures_before_warning/critical between a probe result and the status
 * the check takes. Counters start at zero. */
typedef struct tb__thresh {
    int success_before_passing;
    int failures_before_warning; /* < 0: same as failures_before_critical */
    int failures_before_critical;
    int successes, failures;
} tb__thresh_t;
/* Feed one probe result. Returns 1 with *out = the status to record, or 0
 * when the thresholds withhold the update (the check keeps its status). */
int tb__thresh_apply(tb__thresh_t *t, tb_check_status_t in, tb_check_status_t *out);

tb__checks_t *tb__checks_new(struct tb__agent *agent);
/* Read services/checks from the merged config (and the persisted
 * API-registered ones from data_dir), resolving each check's type against
 * the registered check types. -1 with *err naming the check. */
int tb__checks_load(tb__checks_t *c, char **err);
/* Register the agent's node, services and checks; start the timers. */
void tb__checks_start(tb__checks_t *c);
/* Stop timers (probes in flight finish into the void). */
void tb__checks_stop(tb__checks_t *c);
void tb__checks_free(tb__checks_t *c);
/* The leader's gossip reconciliation writes the agent's own serfHealth
 * (check JSON, reference stolen) with the agent's node body; the
 * anti-entropy sync restores the last one written if it disappears. */
void tb__sync_serf_health(tb__checks_t *c, json_t *check);
/* SIGHUP: apply the new config's services and checks (added, changed,
 * removed) without touching API-registered ones. -1 with *err, nothing
 * changed. */
int tb__checks_reload(tb__checks_t *c, char **err);

/* /v1/agent/services and /v1/agent/checks (new references). */
json_t *tb__checks_agent_services(tb__checks_t *c);
json_t *tb__checks_agent_checks(tb__checks_t *c);

/* The agent endpoints (server/endpoint/agent_methods.c). Each returns
 * TB_OK or a status with *err (malloc'd) as the answer's text. */
tb_status_t tb__local_service_register(tb__checks_t *c, const json_t *def, int replace_checks,
                                       char **err);
tb_status_t tb__local_service_deregister(tb__checks_t *c, const char *id, char **err);
tb_status_t tb__local_check_register(tb__checks_t *c, const json_t *def, char **err);
tb_status_t tb__local_check_deregister(tb__checks_t *c, const char *id, char **err);
/* TTL checks only: status "passing"|"warning"|"critical", output stored
 * as data. Resets the TTL timer. */
tb_status_t tb__local_check_update(tb__checks_t *c, const char *id, const char *status,
                                   const char *output, char **err);
/* AgentService + ContentHash. */
tb_status_t tb__local_service_get(tb__checks_t *c, const char *id, json_t **out, char **err);
/* {AggregatedStatus, Service, Checks}; by name: an array of them. */
tb_status_t tb__local_health_by_id(tb__checks_t *c, const char *id, json_t **out, char **err);
tb_status_t tb__local_health_by_name(tb__checks_t *c, const char *name, json_t **out,
                                     char **err);
/* Node maintenance (service_id NULL) or a service's. */
tb_status_t tb__local_maintenance(tb__checks_t *c, const char *service_id, int enable,
                                  const char *reason, char **err);

/* Counters for /v1/agent/self Stats.agent. */
typedef struct tb__checks_stats {
    uint64_t catalog_writes;     /* check/service writes sent to the catalog */
    uint64_t check_writes_saved; /* results that needed no write (stable, coalesced) */
    uint64_t full_syncs;
    uint64_t sync_repairs;       /* writes a full sync needed */
    uint64_t check_runs;         /* probes started */
    uint64_t late_p99_ms;        /* p99 of how late probes started (bucket bound) */
} tb__checks_stats_t;
void tb__checks_get_stats(const tb__checks_t *c, tb__checks_stats_t *out);

/* Anti-entropy interval for a cluster of n nodes (Consul's aeScale: one
 * minute up to 128 nodes, then one more minute per doubling). */
uint64_t tb__ae_interval_ms(uint64_t base_ms, size_t nodes);
/* Run a full sync now (tests, SIGHUP). */
void tb__checks_sync_now(tb__checks_t *c);

/* SDK entry points. */
void tb__probe_done(tb_probe_t *probe, tb_check_status_t status, const char *output);
void tb__handler_done(tb_handler_run_t *run, int status);

#endif
