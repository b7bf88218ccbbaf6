/*
 * checks.h - the agent's local state and check scheduler: services and
 * checks from the config files, registered in the catalog at start, each
 * check run by the check-type plugin that claims its definition, on its
 * interval with a random initial stagger and a timeout. Status changes are
 * pushed to the catalog at once (edge-triggered); nothing is written while
 * states are stable. TTL checks, API registration, persistence and
 * anti-entropy repair come with the health-checking issue.
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

tb__checks_t *tb__checks_new(struct tb__agent *agent);
/* Read services/checks from the merged config and resolve each check's type
 * against the registered check types. -1 with *err naming the check. */
int tb__checks_load(tb__checks_t *c, char **err);
/* Register the agent's node, services and checks; start the timers. */
void tb__checks_start(tb__checks_t *c);
/* Stop timers (probes in flight finish into the void). */
void tb__checks_stop(tb__checks_t *c);
void tb__checks_free(tb__checks_t *c);

/* /v1/agent/services and /v1/agent/checks (new references). */
json_t *tb__checks_agent_services(tb__checks_t *c);
json_t *tb__checks_agent_checks(tb__checks_t *c);

/* SDK entry points. */
void tb__probe_done(tb_probe_t *probe, tb_check_status_t status, const char *output);
void tb__handler_done(tb_handler_run_t *run, int status);

#endif
