/*
 * check_script.c - the bundled "script" check type.
 *
 *   {"check": {"id": "mem", "name": "mem", "args": ["/usr/local/bin/check_mem", "-l"], "interval": "30s"}}
 *   {"check": {"id": "up", "name": "up", "script": "curl -sf localhost:80 >/dev/null", "interval": "30s"}}
 *
 * Two descriptors share the Type "script": config key "args" (argv, exec'd
 * directly) and the legacy "script" (run with $SHELL -c, /bin/sh when
 * unset, as Consul does). Nagios mapping: exit 0 passing, 1 warning,
 * anything else (signal, timeout) critical. stdout and stderr go to ONE
 * pipe and the last output_max_size bytes are kept (output.c).
 *
 * Every run is its own session and process group (UV_PROCESS_DETACHED =
 * setsid), so at the timeout the whole group gets SIGTERM and, after a
 * grace period, SIGKILL: a script that forks a daemon, floods its output or
 * ignores SIGTERM cannot outlive its probe. Once the leader exits and the
 * pipe reaches EOF, leftovers of the group are killed too. libuv reaps the
 * leader (no zombie); group members reparent to init, which reaps them.
 * Environment and working directory are the agent's, as in Consul.
 *
 * Refused unless enable_script_checks or enable_local_script_checks is on.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tribune/plugin.h>

#include "output.h"

TB_PLUGIN_MAGIC("check_script", "1.0.0")

#define KILL_GRACE_MS 1000

typedef struct script_run script_run_t;

typedef struct check_script {
    const tb_api_t *api;
    tb_plugin_t *self;
    script_run_t *live; /* every run whose handles are not all closed */
} check_script_t;

struct script_run {
    const tb_api_t *api;
    check_script_t *owner; /* NULL once the plugin stopped */
    tb_probe_t *probe;     /* NULL once reported */
    script_run_t *prev, *next;
    uv_process_t proc;
    uv_pipe_t pipe;
    uv_timer_t timer; /* timeout, then the SIGKILL grace */
    int handles;
    int exited, eof, killed;
    int64_t exit_status;
    int term_signal;
    uint64_t timeout_ms;
    outbuf_t out;
};

static const char *const disabled_msg =
    "Scripts are disabled on this agent; to enable, configure 'enable_script_checks' or "
    "'enable_local_script_checks' to true";

static int scripts_enabled(const check_script_t *cs)
{
    const json_t *c = cs->api->agent_config(cs->self);
    return json_is_true(json_object_get(c, "enable_script_checks")) ||
           json_is_true(json_object_get(c, "enable_local_script_checks"));
}

static int validate_common(const check_script_t *cs, char **errmsg)
{
    if (!scripts_enabled(cs)) {
        *errmsg = strdup(disabled_msg);
        return -1;
    }
    return 0;
}

static int args_validate(void *arg, const json_t *def, char **errmsg)
{
    const json_t *a = json_object_get(def, "args");
    size_t i;
    const json_t *v;
    if (!json_is_array(a) || json_array_size(a) == 0) {
        *errmsg = strdup("args: expected a non-empty array of strings (argv)");
        return -1;
    }
    json_array_foreach(a, i, v) if (!json_is_string(v)) {
        char buf[128];
        snprintf(buf, sizeof buf, "args[%zu]: expected a string", i);
        *errmsg = strdup(buf);
        return -1;
    }
    if (json_string_length(json_array_get(a, 0)) == 0) {
        *errmsg = strdup("args[0]: the program is empty");
        return -1;
    }
    return validate_common(arg, errmsg);
}

static int script_validate(void *arg, const json_t *def, char **errmsg)
{
    const json_t *s = json_object_get(def, "script");
    if (!json_is_string(s) || json_string_length(s) == 0) {
        *errmsg = strdup("script: expected a non-empty string (run with sh -c)");
        return -1;
    }
    return validate_common(arg, errmsg);
}

static void run_unlink(script_run_t *r)
{
    if (!r->owner) return;
    if (r->prev) r->prev->next = r->next;
    else r->owner->live = r->next;
    if (r->next) r->next->prev = r->prev;
    r->prev = r->next = NULL;
    r->owner = NULL;
}

static void run_closed(uv_handle_t *h)
{
    script_run_t *r = h->data;
    if (--r->handles == 0) {
        run_unlink(r);
        outbuf_free(&r->out);
        free(r);
    }
}

static void close_once(script_run_t *r, uv_handle_t *h)
{
    if (!uv_is_closing(h)) uv_close(h, run_closed);
}

static void report(script_run_t *r, tb_check_status_t st, const char *out)
{
    if (!r->probe) return;
    tb_probe_t *p = r->probe;
    r->probe = NULL;
    r->api->probe_done(p, st, out);
}

static void kill_group(script_run_t *r, int sig)
{
    /* Negative pid: the whole group the run leads (setsid made it one). */
    if (r->proc.pid > 0) kill(-r->proc.pid, sig);
}

/* Leader gone and output drained (or abandoned): report and close. */
static void maybe_complete(script_run_t *r)
{
    if (!r->exited || !r->eof) return;
    /* Nothing the run started may outlive it. */
    kill_group(r, SIGKILL);
    tb_check_status_t st;
    if (r->term_signal) st = TB_CHECK_CRITICAL;
    else if (r->exit_status == 0) st = TB_CHECK_PASSING;
    else if (r->exit_status == 1) st = TB_CHECK_WARNING;
    else st = TB_CHECK_CRITICAL;
    char *out = outbuf_render(&r->out);
    report(r, st, out ? out : "");
    free(out);
    uv_timer_stop(&r->timer);
    close_once(r, (uv_handle_t *)&r->timer);
}

static void on_exit_cb(uv_process_t *p, int64_t exit_status, int term_signal)
{
    script_run_t *r = p->data;
    r->exited = 1;
    r->exit_status = exit_status;
    r->term_signal = term_signal;
    close_once(r, (uv_handle_t *)p);
    maybe_complete(r);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    buf->base = malloc(16384);
    buf->len = buf->base ? 16384 : 0;
}

static void stop_reading(script_run_t *r)
{
    r->eof = 1;
    uv_read_stop((uv_stream_t *)&r->pipe);
    close_once(r, (uv_handle_t *)&r->pipe);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    script_run_t *r = s->data;
    if (n > 0) outbuf_append(&r->out, buf->base, (size_t)n);
    free(buf->base);
    if (n < 0) {
        stop_reading(r);
        maybe_complete(r);
    }
}

static void fmt_dur(char *buf, size_t n, uint64_t ms)
{
    if (ms % 1000 == 0) snprintf(buf, n, "%llus", (unsigned long long)(ms / 1000));
    else snprintf(buf, n, "%llums", (unsigned long long)ms);
}

static void on_grace(uv_timer_t *t)
{
    script_run_t *r = t->data;
    kill_group(r, SIGKILL);
    /* A member that left the group may still hold the pipe: stop waiting. */
    if (!r->eof) stop_reading(r);
    if (r->exited) close_once(r, (uv_handle_t *)&r->timer);
    /* else: SIGKILL always ends the leader; on_exit_cb completes. */
    maybe_complete(r);
}

static void on_timeout(uv_timer_t *t)
{
    script_run_t *r = t->data;
    char d[32], out[96];
    fmt_dur(d, sizeof d, r->timeout_ms);
    snprintf(out, sizeof out, "Timed out (%s) running check", d);
    report(r, TB_CHECK_CRITICAL, out);
    r->killed = 1;
    kill_group(r, SIGTERM);
    uv_timer_start(&r->timer, on_grace, KILL_GRACE_MS, 0);
}

static size_t max_output(const check_script_t *cs, const json_t *def)
{
    json_int_t n = json_integer_value(json_object_get(def, "output_max_size"));
    if (n <= 0)
        n = json_integer_value(
            json_object_get(cs->api->agent_config(cs->self), "check_output_max_size"));
    return n > 0 ? (size_t)n : 4096;
}

static int start_run(check_script_t *cs, tb_probe_t *probe, char **argv, char **errmsg)
{
    const tb_api_t *api = cs->api;
    uv_loop_t *loop = api->loop(cs->self);
    if (!scripts_enabled(cs)) {
        *errmsg = strdup(disabled_msg);
        return -1;
    }
    script_run_t *r = calloc(1, sizeof *r);
    int fds[2] = {-1, -1};
    if (!r || outbuf_init(&r->out, max_output(cs, api->probe_definition(probe))) != 0) {
        free(r);
        *errmsg = strdup("check_script: out of memory");
        return -1;
    }
    int prc = uv_pipe(fds, 0, 0); /* both ends close-on-exec */
    if (prc != 0) {
        char buf[256];
        snprintf(buf, sizeof buf, "Failed to setup invocation: pipe: %s", uv_strerror(prc));
        *errmsg = strdup(buf);
        outbuf_free(&r->out);
        free(r);
        return -1;
    }
    r->api = api;
    r->owner = cs;
    r->probe = probe;
    r->timeout_ms = api->probe_timeout_ms(probe);
    if (!r->timeout_ms) r->timeout_ms = 30000;
    r->proc.data = r->pipe.data = r->timer.data = r;
    uv_timer_init(loop, &r->timer);
    uv_pipe_init(loop, &r->pipe, 0);
    r->handles = 2;
    r->next = cs->live;
    if (cs->live) cs->live->prev = r;
    cs->live = r;
    uv_pipe_open(&r->pipe, fds[0]);

    uv_stdio_container_t stdio[3];
    stdio[0].flags = UV_IGNORE; /* /dev/null, like Go's nil Stdin */
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = fds[1];
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = fds[1];
    uv_process_options_t opt;
    memset(&opt, 0, sizeof opt);
    opt.exit_cb = on_exit_cb;
    opt.file = argv[0];
    opt.args = argv;
    opt.env = NULL; /* inherit */
    opt.cwd = NULL; /* inherit */
    opt.flags = UV_PROCESS_DETACHED;
    opt.stdio_count = 3;
    opt.stdio = stdio;
    int rc = uv_spawn(loop, &r->proc, &opt);
    close(fds[1]);
    r->handles++; /* the process handle is initialised even on failure */
    if (rc < 0) {
        char buf[512];
        snprintf(buf, sizeof buf, "Failed to invoke: %s: %s", argv[0], uv_strerror(rc));
        r->probe = NULL; /* not started: the core reports errmsg */
        *errmsg = strdup(buf);
        close_once(r, (uv_handle_t *)&r->proc);
        close_once(r, (uv_handle_t *)&r->pipe);
        close_once(r, (uv_handle_t *)&r->timer);
        return -1;
    }
    uv_read_start((uv_stream_t *)&r->pipe, on_alloc, on_read);
    uv_timer_start(&r->timer, on_timeout, r->timeout_ms, 0);
    return 0;
}

static int args_probe(void *arg, tb_probe_t *probe, char **errmsg)
{
    check_script_t *cs = arg;
    const json_t *a = json_object_get(cs->api->probe_definition(probe), "args");
    size_t n = json_array_size(a);
    if (n == 0) {
        *errmsg = strdup("args: missing");
        return -1;
    }
    char **argv = calloc(n + 1, sizeof *argv);
    if (!argv) {
        *errmsg = strdup("check_script: out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(a, i));
        argv[i] = (char *)(s ? s : "");
    }
    /* uv_spawn copies argv (the child execs it), so it can go now. */
    int rc = start_run(cs, probe, argv, errmsg);
    free(argv);
    return rc;
}

static int script_probe(void *arg, tb_probe_t *probe, char **errmsg)
{
    check_script_t *cs = arg;
    const char *s = json_string_value(json_object_get(cs->api->probe_definition(probe), "script"));
    const char *shell = getenv("SHELL");
    if (!s) {
        *errmsg = strdup("script: missing");
        return -1;
    }
    if (!shell || !*shell) shell = "/bin/sh";
    char *argv[] = {(char *)shell, (char *)"-c", (char *)s, NULL};
    return start_run(cs, probe, argv, errmsg);
}

static void check_script_stop(tb_plugin_t *self, void *arg)
{
    (void)self;
    check_script_t *cs = arg;
    /* Kill every run; libuv still reaps each leader before the loop ends. */
    while (cs->live) {
        script_run_t *r = cs->live;
        report(r, TB_CHECK_CRITICAL, "agent shutting down");
        kill_group(r, SIGKILL);
        if (!r->eof) stop_reading(r);
        uv_timer_stop(&r->timer);
        close_once(r, (uv_handle_t *)&r->timer);
        run_unlink(r);
    }
    free(cs);
}

TB_EXPORT int tb_plugin_init(tb_plugin_t *self, const tb_api_t *api, char **errmsg)
{
    check_script_t *cs = calloc(1, sizeof *cs);
    if (!cs) {
        *errmsg = strdup("out of memory");
        return -1;
    }
    cs->api = api;
    cs->self = self;
    tb_plugin_ops_t ops = {
        .size = sizeof ops, .version = TB_PLUGIN_OPS_VERSION, .stop = check_script_stop, .arg = cs};
    tb_check_type_desc_t by_args = {
        .size = sizeof by_args,
        .version = TB_CHECK_TYPE_DESC_VERSION,
        .name = "script",
        .config_key = "args",
        .validate = args_validate,
        .probe = args_probe,
        .arg = cs,
    };
    tb_check_type_desc_t by_script = by_args;
    by_script.config_key = "script";
    by_script.validate = script_validate;
    by_script.probe = script_probe;
    if (api->set_ops(self, &ops) != 0 || api->register_check_type(self, &by_args) != 0 ||
        api->register_check_type(self, &by_script) != 0) {
        free(cs);
        *errmsg = strdup("cannot register the \"script\" check type (args/script already claimed?)");
        return -1;
    }
    return 0;
}
