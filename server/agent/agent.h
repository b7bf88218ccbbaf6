/*
 * agent.h - the one agent context: every piece of mutable agent state hangs
 * off tb__agent_t (no globals), so several agents can live in one process.
 * tb__agent_run() is `tribune agent`: load plugins, open the state store,
 * start the endpoint layer and the surfaces, run the loop until a signal.
 */
#ifndef TB_AGENT_H
#define TB_AGENT_H

#include <uv.h>
#include "../config/tb_config.h"
#include "log.h"

typedef struct tb__plugins tb__plugins_t;
typedef struct tb__endpoint tb__endpoint_t;
typedef struct tb__state tb__state_t;
typedef struct tb__watch_reg tb__watch_reg_t;
typedef struct tb__checks tb__checks_t;
typedef struct tb__raftnode tb__raftnode_t;
typedef struct tb__gossip tb__gossip_t;

typedef struct tb__agent {
    uv_loop_t loop;
    tb__config_t *config;
    tb__config_args_t *args;  /* kept for SIGHUP reload */
    tb__logger_t log;
    uint64_t start_ms;        /* uv_now at start */
    int64_t start_unix_ms;
    tb__plugins_t *plugins;
    tb__watch_reg_t *watches;
    tb__state_t *state;
    tb__endpoint_t *endpoint;
    tb__checks_t *checks;     /* local checks scheduler */
    tb__raftnode_t *raft;     /* servers outside -dev (server/raft/node.h) */
    tb__gossip_t *gossip;     /* LAN/WAN pools (server/gossip/agent glue) */
    uv_signal_t sig_int, sig_term, sig_hup;
    int stopping;
    int exit_code;
} tb__agent_t;

/* Run the agent with a built configuration. Takes ownership of cfg and of
 * args (from tb__config_args_new): the agent keeps args for SIGHUP reloads
 * and finally frees them with tb__config_args_free(args).
 * Returns the process exit status. */
int tb__agent_run(tb__config_t *cfg, tb__config_args_t *args);

/* 1 when this agent may apply state-store commands itself: a -dev server,
 * or the current Raft leader. Client agents: 0. */
int tb__agent_is_leader(const tb__agent_t *a);

/* Version facts shared by `tribune version`, /v1/agent/self and the banner. */
#define TB__CONSUL_COMPAT_VERSION "1.9.17"
const char *tb__version(void);   /* PACKAGE_VERSION */
const char *tb__revision(void);  /* git revision or "unknown" */

#endif
