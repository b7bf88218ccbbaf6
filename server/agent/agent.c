/*
 * agent.c - `tribune agent`: builds the one agent context, loads plugins,
 * opens the state store (servers) and, outside -dev, the Raft node that
 * replicates it (server/raft/node.h), starts the endpoint layer, the local
 * checks and the surfaces, and runs the loop until SIGINT/SIGTERM. SIGHUP
 * rebuilds the configuration and hands it to the plugins. Start-up refusals
 * (bad plugin, bad check definition, port in use) are one line on stderr
 * and exit status 1.
 */
#include "tb_autoconf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/checks.h"
#include "endpoint/endpoint.h"
#include "gossip/runtime.h"
#include "plugin/plugin.h"
#include "raft/node.h"
#include "state/state.h"
#include "state/watch.h"

const char *tb__version(void) { return PACKAGE_VERSION; }
const char *tb__revision(void) { return TB_GIT_REVISION; }

int tb__agent_is_leader(const tb__agent_t *a)
{
    if (a->raft) return tb__raftnode_is_leader(a->raft);
    return a->state != NULL;
}

static int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* Consul advertises the first private IPv4 when bound to 0.0.0.0. */
static char *pick_advertise(const tb__config_t *cfg)
{
    if (cfg->advertise_addr && *cfg->advertise_addr) return strdup(cfg->advertise_addr);
    if (cfg->bind_addr && *cfg->bind_addr && strcmp(cfg->bind_addr, "0.0.0.0") != 0)
        return strdup(cfg->bind_addr);
    struct ifaddrs *ifs = NULL, *i;
    char buf[INET_ADDRSTRLEN] = "127.0.0.1";
    if (getifaddrs(&ifs) == 0) {
        for (i = ifs; i; i = i->ifa_next) {
            if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
            uint32_t a = ntohl(((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr);
            int priv = (a >> 24) == 10 || (a >> 20) == 0xAC1 || (a >> 16) == 0xC0A8;
            if (priv) {
                inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, buf, sizeof buf);
                break;
            }
        }
        freeifaddrs(ifs);
    }
    return strdup(buf);
}

/* Blocking queries hold a socket each: raise the soft fd limit to the hard
 * one (doc/config.md says how to raise the hard limit). */
static void raise_fd_limit(tb__agent_t *a)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rlim_t old = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
            tb__log(&a->log, TB_LOG_DEBUG, "agent", "raised open files limit from %llu to %llu",
                    (unsigned long long)old, (unsigned long long)rl.rlim_cur);
    }
}

static void banner(tb__agent_t *a, const char *advertise)
{
    const tb__config_t *c = a->config;
    printf("==> Starting Tribune agent...\n"
           "           Version: '%s'\n"
           "           Node ID: '%s'\n"
           "         Node name: '%s'\n"
           "        Datacenter: '%s' (Segment: '%s')\n"
           "            Server: %s (Bootstrap: %s)\n"
           "       Client Addr: [%s] (HTTP: %d, HTTPS: %d, gRPC: %d, DNS: %d)\n"
           "      Cluster Addr: %s (LAN: %d, WAN: %d)\n"
           "           Plugins: ",
           tb__version(), c->node_id ? c->node_id : "", c->node_name, c->datacenter,
           c->server ? "<all>" : "", c->server ? "true" : "false",
           c->bootstrap || c->dev ? "true" : "false", c->client_addr, c->port_http,
           c->port_https, c->port_grpc, c->port_dns, advertise, c->port_serf_lan,
           c->port_serf_wan);
    for (size_t i = 0; a->plugins && i < a->plugins->n; i++)
        printf("%s%s %s", i ? ", " : "", a->plugins->list[i]->name, a->plugins->list[i]->version);
    printf("%s\n\n==> Log data will now stream in as it occurs:\n\n",
           a->plugins && a->plugins->n ? "" : "none");
    fflush(stdout);
}

/* ------------------------------------------------------------ shutdown */

static void close_any(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) uv_close(h, NULL);
}

static void begin_shutdown(tb__agent_t *a, const char *why)
{
    if (a->stopping) return;
    a->stopping = 1;
    tb__log(&a->log, TB_LOG_INFO, "agent", "Caught signal: %s", why);
    tb__log(&a->log, TB_LOG_INFO, "agent", "Gracefully shutting down agent...");
    if (a->checks) tb__checks_stop(a->checks);
    if (a->plugins) tb__plugins_stop(a->plugins);
    if (a->endpoint) tb__endpoint_shutdown(a->endpoint);
    /* A leader hands leadership over first; the node closes its handles
     * once that is done (or timed out). */
    if (a->raft) tb__raftnode_stop(a->raft);
    uv_signal_stop(&a->sig_int);
    uv_signal_stop(&a->sig_term);
    uv_signal_stop(&a->sig_hup);
    uv_close((uv_handle_t *)&a->sig_int, NULL);
    uv_close((uv_handle_t *)&a->sig_term, NULL);
    uv_close((uv_handle_t *)&a->sig_hup, NULL);
}

static void reload(tb__agent_t *a)
{
    tb__config_t *ncfg = NULL;
    char *err = NULL;
    tb__log(&a->log, TB_LOG_INFO, "agent", "Caught signal: hangup");
    tb__log(&a->log, TB_LOG_INFO, "agent", "Reloading configuration...");
    if (tb__config_build(a->args, &ncfg, &err) != 0) {
        tb__log(&a->log, TB_LOG_ERROR, "agent", "Failed to reload configs: %s", err ? err : "?");
        free(err);
        return;
    }
    tb__config_t *old = a->config;
    a->config = ncfg;
    a->log.level = (tb_log_level_t)ncfg->log_level;
    if (a->plugins && tb__plugins_reload(a->plugins, &err) != 0) {
        tb__log(&a->log, TB_LOG_ERROR, "agent", "Failed to reload plugins: %s", err ? err : "?");
        free(err);
    }
    if (a->checks && tb__checks_reload(a->checks, &err) != 0) {
        /* The old services and checks stay as they were. */
        tb__log(&a->log, TB_LOG_ERROR, "agent", "Failed to reload services and checks: %s",
                err ? err : "?");
        free(err);
    }
    tb__config_free(old);
    tb__log(&a->log, TB_LOG_INFO, "agent", "Configuration reloaded");
}

static void on_signal(uv_signal_t *h, int signum)
{
    tb__agent_t *a = h->data;
    if (signum == SIGHUP) {
        reload(a);
        return;
    }
    begin_shutdown(a, signum == SIGINT ? "interrupt" : "terminated");
    /* Consul: leave_on_terminate / skip_leave_on_interrupt decide. */
    if (a->gossip) tb__gossip_stop(a->gossip, tb__gossip_should_leave(a->gossip, signum));
}

/* ------------------------------------------------------------ run */

static int fail(tb__agent_t *a, char *err)
{
    /* One line, as operators grep for it. */
    fprintf(stderr, "==> Error starting agent: %s\n", err ? err : "unknown error");
    fflush(stderr);
    free(err);
    a->exit_code = 1;
    return 1;
}

static int write_pid_file(tb__agent_t *a)
{
    const char *p = a->config->pid_file;
    if (!p || !*p) return 0;
    FILE *f = fopen(p, "w");
    if (!f) {
        char e[512];
        snprintf(e, sizeof e, "pid_file %s: %s", p, strerror(errno));
        return fail(a, strdup(e));
    }
    fprintf(f, "%d\n", (int)getpid());
    fclose(f);
    return 0;
}

int tb__agent_run(tb__config_t *cfg, tb__config_args_t *args)
{
    tb__agent_t *a = calloc(1, sizeof *a);
    if (!a) return 1;
    char *err = NULL, *advertise = NULL;
    a->config = cfg;
    a->args = args;
    a->exit_code = 0;
    uv_loop_init(&a->loop);
    a->start_ms = uv_now(&a->loop);
    a->start_unix_ms = wall_ms();
    tb__logger_init(&a->log, (tb_log_level_t)cfg->log_level, cfg->log_json, stderr);
    signal(SIGPIPE, SIG_IGN);

    advertise = pick_advertise(cfg);
    if (!cfg->advertise_addr || !*cfg->advertise_addr) {
        /* The merged config is the agent's; record the address it chose so
         * plugins and /v1/agent/self see one answer. */
        json_object_set_new(cfg->merged, "advertise_addr", json_string(advertise));
        cfg->advertise_addr = json_string_value(json_object_get(cfg->merged, "advertise_addr"));
    }
    raise_fd_limit(a);
    if (write_pid_file(a)) goto out;

    if (tb__dl_init() != 0) {
        fail(a, strdup("cannot initialise the plugin loader (libltdl)"));
        goto out;
    }
    a->watches = tb__watch_reg_new();
    if (!a->watches) {
        fail(a, strdup("out of memory"));
        goto out_dl;
    }
    if (cfg->server) {
        if (tb__state_open(&a->state, a->watches, &err) != 0) {
            fail(a, err);
            goto out_dl;
        }
    }
    a->endpoint = tb__endpoint_new(a);
    if (!a->endpoint) {
        fail(a, strdup("out of memory"));
        goto out_dl;
    }
    /* The server port (Raft and forwarded calls) opens before the Raft
     * node starts: the node's peers connect there. */
    if (cfg->server && tb__endpoint_listen(a->endpoint, &err) != 0) {
        fail(a, err);
        goto out_stop;
    }
    if (cfg->server && !cfg->dev) {
        /* The Raft node recovers the state store from data_dir/raft
         * before any surface can read it. */
        a->raft = tb__raftnode_start(a, &err);
        if (!a->raft) {
            fail(a, err);
            goto out_stop;
        }
    }
    if (tb__plugins_load(a, &a->plugins, &err) != 0) {
        fail(a, err);
        goto out_stop;
    }
    a->checks = tb__checks_new(a);
    if (!a->checks || tb__checks_load(a->checks, &err) != 0) {
        fail(a, err ? err : strdup("out of memory"));
        goto out_stop;
    }
    a->gossip = tb__gossip_start(a, &err);
    if (err) {
        /* -dev keeps working without gossip (another dev agent holds the
         * port); a real agent refuses to start. */
        if (!cfg->dev) {
            fail(a, err);
            goto out_stop;
        }
        tb__log(&a->log, TB_LOG_WARN, "agent", "gossip disabled: %s", err);
        free(err);
        err = NULL;
    }
    banner(a, advertise);
    if (tb__plugins_start(a->plugins, &err) != 0) {
        fail(a, err);
        goto out_stop;
    }
    tb__checks_start(a->checks);

    uv_signal_init(&a->loop, &a->sig_int);
    uv_signal_init(&a->loop, &a->sig_term);
    uv_signal_init(&a->loop, &a->sig_hup);
    a->sig_int.data = a->sig_term.data = a->sig_hup.data = a;
    uv_signal_start(&a->sig_int, on_signal, SIGINT);
    uv_signal_start(&a->sig_term, on_signal, SIGTERM);
    uv_signal_start(&a->sig_hup, on_signal, SIGHUP);
    tb__log(&a->log, TB_LOG_INFO, "agent", "started: node=%s datacenter=%s server=%s",
            cfg->node_name, cfg->datacenter, cfg->server ? "true" : "false");
    if (a->state && !a->raft)
        tb__log(&a->log, TB_LOG_INFO, "agent.server", "cluster leadership acquired (single server)");

    uv_run(&a->loop, UV_RUN_DEFAULT);
    tb__log(&a->log, TB_LOG_INFO, "agent", "shutdown complete");
    goto out_free;

out_stop:
    /* A refused start: stop what was started, then let handles close. */
    a->stopping = 1;
    if (a->gossip) tb__gossip_stop(a->gossip, 0);
    if (a->checks) tb__checks_stop(a->checks);
    if (a->plugins) tb__plugins_stop(a->plugins);
    if (a->endpoint) tb__endpoint_shutdown(a->endpoint);
    if (a->raft) tb__raftnode_stop(a->raft);
out_free:
    uv_run(&a->loop, UV_RUN_DEFAULT);
    /* Anything a plugin left open (a forgotten timer) is closed here. */
    uv_walk(&a->loop, close_any, NULL);
    uv_run(&a->loop, UV_RUN_DEFAULT);
    tb__gossip_free(a->gossip);
    tb__checks_free(a->checks);
    tb__plugins_free(a->plugins);
    /* before the endpoint: the node answered its pending calls when it stopped */
    tb__raftnode_free(a->raft);
    tb__endpoint_free(a->endpoint);
    if (a->state) tb__state_close(a->state);
out_dl:
    tb__watch_reg_free(a->watches);
    tb__dl_exit();
out:
    if (a->config->pid_file && *a->config->pid_file && a->exit_code == 0)
        unlink(a->config->pid_file);
    uv_loop_close(&a->loop);
    int rc = a->exit_code;
    free(advertise);
    tb__config_free(a->config);
    tb__config_args_free(a->args); /* frees the struct too */
    free(a);
    return rc;
}
