/*
 * checks_int.h - internals shared by the local-state files: checks.c
 * (services, checks, scheduler, TTL, maintenance, API entry points),
 * sync.c (catalog writes, coalescing, periodic anti-entropy, reaper) and
 * persist.c (API-registered state in data_dir/local.json).
 */
#ifndef TB_CHECKS_INT_H
#define TB_CHECKS_INT_H

#include <uv.h>

#include "agent/agent.h"
#include "agent/checks.h"
#include "plugin/plugin.h"

#define TB__OUTPUT_MAX 4096

enum { TB__SRC_CONFIG = 0, TB__SRC_API = 1 };
#define TB__LATE_BUCKETS 12
enum { TB__KIND_PLUGIN = 0, TB__KIND_TTL = 1, TB__KIND_MAINT = 2 };

struct tb__check {
    tb__checks_t *owner;
    char *id, *name, *notes, *service_id;
    json_t *definition;  /* canonical snake_case keys, id/name/service_id filled */
    const tb__check_type_t *type; /* plugin kind only */
    int kind, source;
    uint64_t interval_ms, timeout_ms, ttl_ms, dereg_ms;
    tb__thresh_t th;
    size_t output_max;       /* bytes of output kept (the tail) */
    tb_check_status_t status;
    char *output;
    int output_dirty;        /* output changed, catalog not told yet */
    uint64_t dirty_since;    /* loop ms */
    uint64_t critical_since; /* loop ms; 0 when not critical */
    uv_timer_t run_timer;    /* interval */
    uv_timer_t timeout_timer;/* probe deadline */
    uv_timer_t ttl_timer;    /* TTL lapse */
    uint64_t next_due;       /* loop ms of the next scheduled run */
    int active;              /* timers initialised */
    tb_probe_t *probe;       /* in flight */
    int reported;            /* a result reached the catalog */
    int closing;
};

struct tb__checks {
    tb__agent_t *agent;
    json_t *services;    /* id -> AgentService */
    json_t *api_services;/* id -> true for API-registered services */
    tb__check_t **list;
    size_t n;
    int started;
    uint64_t rng;
    uint64_t update_interval_ms; /* check_update_interval */
    size_t output_max;           /* check_output_max_size */
    int discard_output;          /* discard_check_output */
    uv_timer_t ae_timer, reap_timer, coalesce_timer;
    int timers_init;
    int sync_running;
    int write_failing;   /* the last catalog write failed (log once) */
    size_t last_nodes;   /* cluster size seen by the last full sync */
    tb__checks_stats_t st;
    uint64_t late_hist[TB__LATE_BUCKETS]; /* run lateness histogram */
    json_t *serf_check;  /* our serfHealth as the gossip leader last wrote it */
};

/* checks.c */
const char *tb__check_status_name(tb_check_status_t s);
json_t *tb__check_render(const tb__check_t *k); /* HealthCheck as /v1/agent/checks */
tb__check_t *tb__checks_find(const tb__checks_t *c, const char *id, size_t *idx);
uint64_t tb__checks_random(tb__checks_t *c);

/* sync.c */
void tb__sync_node(tb__checks_t *c);                 /* node (and server facts) */
void tb__sync_service(tb__checks_t *c, const json_t *svc);
void tb__sync_check(tb__checks_t *c, tb__check_t *k);
/* Every check, a few hundred per Catalog.Register (start-up). */
void tb__sync_checks_batch(tb__checks_t *c);
void tb__sync_deregister(tb__checks_t *c, const char *service_id, const char *check_id);
void tb__sync_timers_start(tb__checks_t *c);
void tb__sync_timers_stop(tb__checks_t *c);
/* One pass of the deregister_critical_service_after reaper (every 30s). */
void tb__sync_reap(tb__checks_t *c);

/* persist.c: no-ops without data_dir (-dev). */
void tb__persist_save(tb__checks_t *c);
/* Returns the saved state ({"Services":[...],"Checks":[...]}) or NULL. */
json_t *tb__persist_load(tb__checks_t *c);

#endif
