/*
 * checks.c - the agent's local services and checks: from the config files
 * and from the agent API, each check run by the check-type plugin that
 * claims its definition (api->register_check_type), by its TTL timer, or
 * held critical by maintenance mode. A check runs on its interval after a
 * random stagger so checks sharing an interval spread out; one probe at a
 * time; the core enforces the timeout and the success/failure thresholds.
 * Catalog writes and anti-entropy live in sync.c, persistence in
 * persist.c.
 */
#include "tb_autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/checks_int.h"
#include "endpoint/endpoint.h"
#include "endpoint/endpoint_int.h"

#define MAINT_NODE_ID "_node_maintenance"
#define MAINT_SVC_PREFIX "_service_maintenance:"
#define DEREG_MIN_MS 60000ULL

const char *tb__check_status_name(tb_check_status_t s)
{
    return s == TB_CHECK_PASSING ? "passing" : s == TB_CHECK_WARNING ? "warning" : "critical";
}

static int status_parse(const char *s, tb_check_status_t *out)
{
    if (!s || !*s || !strcmp(s, "critical")) *out = TB_CHECK_CRITICAL;
    else if (!strcmp(s, "passing")) *out = TB_CHECK_PASSING;
    else if (!strcmp(s, "warning")) *out = TB_CHECK_WARNING;
    else return -1;
    return 0;
}

static const char *jstr(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static char *errf(const char *fmt, const char *a, const char *b)
{
    char buf[768];
    snprintf(buf, sizeof buf, fmt, a ? a : "", b ? b : "");
    return strdup(buf);
}

uint64_t tb__checks_random(tb__checks_t *c)
{
    c->rng = c->rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return c->rng >> 33;
}

/* ------------------------------------------------------------ thresholds */

int tb__thresh_apply(tb__thresh_t *t, tb_check_status_t in, tb_check_status_t *out)
{
    if (in == TB_CHECK_PASSING || in == TB_CHECK_WARNING) {
        t->successes++;
        t->failures = 0;
        if (t->successes >= t->success_before_passing) {
            *out = in;
            return 1;
        }
        return 0;
    }
    t->successes = 0;
    t->failures++;
    if (t->failures >= t->failures_before_critical) {
        *out = TB_CHECK_CRITICAL;
        return 1;
    }
    int fbw = t->failures_before_warning < 0 ? t->failures_before_critical
                                              : t->failures_before_warning;
    if (t->failures >= fbw) {
        *out = TB_CHECK_WARNING;
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------ lookups */

tb__check_t *tb__checks_find(const tb__checks_t *c, const char *id, size_t *idx)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->list[i] && !strcmp(c->list[i]->id, id)) {
            if (idx) *idx = i;
            return c->list[i];
        }
    return NULL;
}

static int script_allowed(const tb__checks_t *c, int source)
{
    const json_t *m = c->agent->config->merged;
    if (json_is_true(json_object_get(m, "enable_script_checks"))) return 1;
    return source == TB__SRC_CONFIG &&
           json_is_true(json_object_get(m, "enable_local_script_checks"));
}

/* ------------------------------------------------------------ rendering */

/* Go's time.Duration.String() for whole seconds or milliseconds. */
static void fmt_dur(char *buf, size_t n, uint64_t ms)
{
    if (!ms) snprintf(buf, n, "%s", "");
    else if (ms % 1000 == 0) snprintf(buf, n, "%llus", (unsigned long long)(ms / 1000));
    else snprintf(buf, n, "%llums", (unsigned long long)ms);
}

static const char *kind_type(const tb__check_t *k)
{
    if (k->kind == TB__KIND_TTL) return "ttl";
    if (k->kind == TB__KIND_MAINT) return "maintenance";
    return k->type->desc.name;
}

json_t *tb__check_render(const tb__check_t *k)
{
    const tb__checks_t *c = k->owner;
    const tb__config_t *cfg = c->agent->config;
    const json_t *svc = k->service_id ? json_object_get(c->services, k->service_id) : NULL;
    const json_t *tags = svc ? json_object_get(svc, "Tags") : NULL;
    char iv[32], to[32];
    fmt_dur(iv, sizeof iv, k->kind == TB__KIND_PLUGIN ? k->interval_ms : 0);
    fmt_dur(to, sizeof to, k->kind == TB__KIND_PLUGIN ? k->timeout_ms : 0);
    /* No CreateIndex/ModifyIndex: the local view has no Raft index. */
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:s,s:s,s:s,s:i,s:{}}",
                     "Node", cfg->node_name, "CheckID", k->id, "Name", k->name, "Status",
                     tb__check_status_name(k->status), "Notes", k->notes ? k->notes : "",
                     "Output", k->output ? k->output : "", "ServiceID",
                     k->service_id ? k->service_id : "", "ServiceName",
                     svc ? jstr(svc, "Service") : "", "ServiceTags",
                     json_is_array(tags) ? json_deep_copy(tags) : json_array(), "Type",
                     kind_type(k), "Interval", iv, "Timeout", to, "ExposedPort", 0,
                     "Definition");
}

/* ------------------------------------------------------------ status */

static void on_ttl(uv_timer_t *t);

/* Record a status and output. The catalog hears of it at once when the
 * status changed; an output-only change waits for check_update_interval
 * (sync.c); nothing at all is written for a stable check. */
static void set_status(tb__check_t *k, tb_check_status_t st, const char *output)
{
    tb__checks_t *c = k->owner;
    /* discard_check_output: statuses only, so output never causes a write. */
    if (c->discard_output) output = "";
    size_t len = output ? strlen(output) : 0, max = k->output_max;
    /* Check-type plugins apply output_max_size themselves (an http check
     * keeps the start of the body after its status line); the core only
     * caps what a plugin hands over. TTL output is cut here. */
    if (k->kind == TB__KIND_PLUGIN) max = (max > TB__OUTPUT_MAX ? max : TB__OUTPUT_MAX) + 1024;
    char *o;
    if (len > max) {
        /* Consul keeps the tail and says how much it cut. */
        char head[96];
        int h = snprintf(head, sizeof head, "Captured %zu of %zu bytes\n...\n", max, len);
        o = malloc((size_t)h + max + 1);
        if (o) {
            memcpy(o, head, (size_t)h);
            memcpy(o + h, output + len - max, max + 1);
        }
    } else {
        o = strdup(output ? output : "");
    }
    if (!o) return;
    int changed = st != k->status || !k->reported;
    int out_changed = !k->output || strcmp(k->output, o) != 0;
    free(k->output);
    k->output = o;
    if (st == TB_CHECK_CRITICAL) {
        uint64_t now = uv_now(&c->agent->loop);
        if (k->status != TB_CHECK_CRITICAL || !k->critical_since) k->critical_since = now ? now : 1;
    } else {
        k->critical_since = 0;
    }
    int status_changed = st != k->status;
    k->status = st;
    if (!c->started) return;
    if (changed) {
        k->reported = 1;
        k->output_dirty = 0;
        tb__log(&c->agent->log, st == TB_CHECK_PASSING ? TB_LOG_DEBUG : TB_LOG_WARN, "agent",
                "Check is now %s: check=%s", tb__check_status_name(st), k->id);
        tb__sync_check(c, k);
    } else if (out_changed && c->update_interval_ms == 0) {
        tb__sync_check(c, k);
    } else {
        c->st.check_writes_saved++;
        if (out_changed && !k->output_dirty) {
            k->output_dirty = 1;
            k->dirty_since = uv_now(&c->agent->loop);
        }
    }
    /* TTL and maintenance states survive a restart. */
    if (k->source == TB__SRC_API && k->kind != TB__KIND_PLUGIN && (status_changed || out_changed))
        tb__persist_save(c);
}

static void probe_free(tb_probe_t *p)
{
    json_decref(p->definition);
    free(p);
}

/* A probe result passes through the thresholds first. */
static void probe_result(tb__check_t *k, tb_check_status_t st, const char *output)
{
    tb_check_status_t out;
    if (tb__thresh_apply(&k->th, st, &out)) {
        set_status(k, out, output);
    } else {
        k->owner->st.check_writes_saved++;
        tb__log(&k->owner->agent->log, TB_LOG_DEBUG, "agent",
                "Check status %s withheld by thresholds: check=%s",
                tb__check_status_name(st), k->id);
    }
}

void tb__probe_done(tb_probe_t *p, tb_check_status_t status, const char *output)
{
    if (!p) return;
    tb__check_t *k = p->check;
    if (k && !p->finished) {
        p->finished = 1;
        k->probe = NULL;
        uv_timer_stop(&k->timeout_timer);
        if ((unsigned)status > TB_CHECK_CRITICAL) status = TB_CHECK_CRITICAL;
        probe_result(k, status, output);
    } else if (k && k->probe == p) {
        k->probe = NULL;
    }
    probe_free(p);
}

void tb__handler_done(tb_handler_run_t *run, int status)
{
    if (!run) return;
    if (run->done) run->done(run, status, run->arg);
    json_decref(run->definition);
    json_decref(run->input);
    free(run);
}

static void on_timeout(uv_timer_t *t)
{
    tb__check_t *k = t->data;
    tb_probe_t *p = k->probe;
    if (!p) return;
    /* The plugin still owns the probe until it calls probe_done. */
    p->finished = 1;
    p->check = NULL;
    k->probe = NULL;
    char buf[128], d[32];
    fmt_dur(d, sizeof d, k->timeout_ms);
    snprintf(buf, sizeof buf, "Timed out (%s) running check", d); /* Consul's words */
    probe_result(k, TB_CHECK_CRITICAL, buf);
}

static void on_run(uv_timer_t *t);

/* Upper bounds (ms) of the lateness buckets; the last is open. */
static const uint64_t late_bounds[TB__LATE_BUCKETS] = {0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000,
                                                         UINT64_MAX};

/* Runs are scheduled on a fixed grid (next_due += interval) rather than a
 * libuv repeat, which restarts from the callback's time and drifts; how
 * late each run starts is the scheduling jitter the benchmark reports. */
static void schedule_next(tb__check_t *k)
{
    tb__checks_t *c = k->owner;
    uint64_t now = uv_now(&c->agent->loop);
    uint64_t late = now > k->next_due ? now - k->next_due : 0;
    size_t b = 0;
    while (late > late_bounds[b]) b++;
    c->late_hist[b]++;
    c->st.check_runs++;
    k->next_due += k->interval_ms;
    if (k->next_due <= now) k->next_due = now + k->interval_ms; /* skip missed runs */
    uv_timer_start(&k->run_timer, on_run, k->next_due - now, 0);
}

static void on_run(uv_timer_t *t)
{
    tb__check_t *k = t->data;
    schedule_next(k);
    if (k->probe) return; /* one probe at a time */
    tb_probe_t *p = calloc(1, sizeof *p);
    if (!p) return;
    p->check = k;
    p->definition = json_incref(k->definition);
    p->timeout_ms = k->timeout_ms;
    k->probe = p;
    char *err = NULL;
    uv_timer_start(&k->timeout_timer, on_timeout, k->timeout_ms, 0);
    if (k->type->desc.probe(k->type->desc.arg, p, &err) != 0) {
        /* The plugin refused to start the probe: it will not call done. */
        uv_timer_stop(&k->timeout_timer);
        if (k->probe == p) k->probe = NULL;
        probe_free(p);
        probe_result(k, TB_CHECK_CRITICAL, err ? err : "check could not be started");
        free(err);
    }
}

static void on_ttl(uv_timer_t *t)
{
    tb__check_t *k = t->data;
    tb__log(&k->owner->agent->log, TB_LOG_WARN, "agent", "Check missed TTL, is now critical: check=%s",
            k->id);
    set_status(k, TB_CHECK_CRITICAL, "TTL expired");
}

/* ------------------------------------------------------------ definitions */

/* API bodies come in PascalCase (Go), lowercase (python-consul) or the
 * config's snake_case: map the known keys onto the config's spelling so
 * check-type plugins see one form. */
static const struct {
    const char *squashed, *canon;
} check_keys[] = {
    {"checkid", "id"},
    {"serviceid", "service_id"},
    {"scriptargs", "args"},
    {"tlsservername", "tls_server_name"},
    {"tlsskipverify", "tls_skip_verify"},
    {"disableredirects", "disable_redirects"},
    {"grpcusetls", "grpc_use_tls"},
    {"dockercontainerid", "docker_container_id"},
    {"aliasnode", "alias_node"},
    {"aliasservice", "alias_service"},
    {"deregistercriticalserviceafter", "deregister_critical_service_after"},
    {"successbeforepassing", "success_before_passing"},
    {"failuresbeforewarning", "failures_before_warning"},
    {"failuresbeforecritical", "failures_before_critical"},
    {"outputmaxsize", "output_max_size"},
};

static json_t *canon_check(const json_t *raw)
{
    json_t *out = json_object();
    const char *key;
    json_t *v;
    if (!json_is_object(raw)) return out;
    json_object_foreach((json_t *)raw, key, v) {
        /* Consul treats empty fields as absent. */
        if (json_is_null(v) || (json_is_string(v) && !*json_string_value(v))) continue;
        char low[128], sq[128];
        size_t i, j = 0;
        for (i = 0; key[i] && i < sizeof low - 1; i++) {
            low[i] = (char)((key[i] >= 'A' && key[i] <= 'Z') ? key[i] + 32 : key[i]);
            if (low[i] != '_') sq[j++] = low[i];
        }
        low[i] = 0;
        sq[j] = 0;
        const char *name = low;
        for (i = 0; i < sizeof check_keys / sizeof check_keys[0]; i++)
            if (!strcmp(sq, check_keys[i].squashed)) name = check_keys[i].canon;
        if (!strcmp(name, "checkid") || !strcmp(name, "id")) name = "id";
        /* "id" from CheckID wins over a bare "ID" only when both exist. */
        if (json_object_get(out, name) && !strcmp(name, "id") && strcmp(sq, "checkid")) continue;
        json_object_set_new(out, name, json_is_object(v) || json_is_array(v)
                                           ? tb__lowercase_keys(v)
                                           : json_incref(v));
    }
    return out;
}

static int get_int(const json_t *def, const char *key, int dflt)
{
    const json_t *v = json_object_get(def, key);
    return json_is_integer(v) ? (int)json_integer_value(v) : dflt;
}

static int get_ms(const json_t *def, const char *key, uint64_t dflt, uint64_t *out, const char *id,
                  char **err)
{
    const json_t *v = json_object_get(def, key);
    *out = dflt;
    if (!v) return 0;
    uint64_t ns;
    if (json_is_integer(v)) { /* Go clients may send nanoseconds */
        *out = (uint64_t)json_integer_value(v) / 1000000ULL;
        return 0;
    }
    if (!json_is_string(v) || tb__parse_duration(json_string_value(v), &ns) != 0) {
        char buf[300];
        snprintf(buf, sizeof buf, "check \"%s\": %s: invalid duration \"%s\"", id, key,
                 json_is_string(v) ? json_string_value(v) : "?");
        *err = strdup(buf);
        return -1;
    }
    *out = ns / 1000000ULL;
    return 0;
}

static char *type_names(const tb__plugins_t *p)
{
    char buf[512] = "";
    for (size_t i = 0; p && i < p->ncheck_types; i++) {
        if (i) strncat(buf, ", ", sizeof buf - strlen(buf) - 1);
        strncat(buf, p->check_types[i].desc.config_key, sizeof buf - strlen(buf) - 1);
        strncat(buf, " (", sizeof buf - strlen(buf) - 1);
        strncat(buf, p->check_types[i].owner->name, sizeof buf - strlen(buf) - 1);
        strncat(buf, ")", sizeof buf - strlen(buf) - 1);
    }
    return strdup(buf[0] ? buf : "none: no loaded plugin provides a check type");
}

/* The keys of a definition that could name its type: everything but the
 * keys every check type shares ("grpc", or "(none)"). */
static char *type_keys(const json_t *def)
{
    static const char *const common[] = {
        "id", "name", "notes", "service_id", "status", "interval", "timeout", "token",
        "deregister_critical_service_after", "success_before_passing",
        "failures_before_warning", "failures_before_critical", "output_max_size", "method",
        "header", "body", "tls_server_name", "tls_skip_verify", "disable_redirects", "shell",
        "grpc_use_tls", "namespace", "partition", "type", "definition"};
    char buf[300] = "";
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)def, key, v) {
        int skip = 0;
        for (size_t i = 0; i < sizeof common / sizeof common[0]; i++)
            if (!strcmp(key, common[i])) skip = 1;
        if (skip) continue;
        size_t l = strlen(buf);
        snprintf(buf + l, sizeof buf - l, "%s\"%s\"", l ? ", " : "", key);
    }
    return strdup(buf[0] ? buf : "(no type key such as tcp, http, args or ttl)");
}

static void check_free(tb__check_t *k)
{
    free(k->id);
    free(k->name);
    free(k->notes);
    free(k->service_id);
    free(k->output);
    json_decref(k->definition);
    free(k);
}

/* Build a check from a definition (not yet in the list). svc_id: the
 * service it is embedded in (dflt_id is then its generated ID). Returns
 * NULL with *err; *bad is set for a client error (400) as opposed to a
 * missing service (404-ish, also 400 as Consul). */
static tb__check_t *check_build(tb__checks_t *c, const json_t *raw, const json_t *svc,
                                const char *dflt_id, int source, const json_t *pending_services,
                                char **err)
{
    tb__agent_t *a = c->agent;
    json_t *def = canon_check(raw);
    tb__check_t *k = calloc(1, sizeof *k);
    if (!def || !k) {
        json_decref(def);
        free(k);
        *err = strdup("out of memory");
        return NULL;
    }
    k->owner = c;
    k->definition = def;
    k->source = source;
    const char *name = jstr(def, "name");
    const char *id = jstr(def, "id");
    char dname[300];
    if (svc) {
        snprintf(dname, sizeof dname, "Service '%s' check", jstr(svc, "Service"));
        if (!name) name = dname;
        if (!id) id = dflt_id;
        k->service_id = strdup(jstr(svc, "ID"));
    } else {
        const char *sid = jstr(def, "service_id");
        if (sid) {
            if (!json_object_get(c->services, sid) &&
                !(pending_services && json_object_get(pending_services, sid))) {
                *err = errf("ServiceID \"%s\" does not exist%s", sid, "");
                goto fail;
            }
            k->service_id = strdup(sid);
        }
        if (!name) {
            *err = errf("check%s%s: missing name", id ? " " : "", id);
            goto fail;
        }
        if (!id) id = name;
    }
    k->name = strdup(name);
    k->id = strdup(id);
    json_object_set_new(def, "id", json_string(k->id));
    json_object_set_new(def, "name", json_string(k->name));
    if (k->service_id) json_object_set_new(def, "service_id", json_string(k->service_id));
    if (jstr(def, "notes")) k->notes = strdup(jstr(def, "notes"));
    if (status_parse(jstr(def, "status"), &k->status) != 0) {
        *err = errf("check \"%s\": status: \"%s\" is not passing, warning or critical", k->id,
                    jstr(def, "status"));
        goto fail;
    }
    k->output = strdup("");
    /* output_max_size per check, else check_output_max_size. */
    k->output_max = (size_t)get_int(def, "output_max_size", (int)c->output_max);
    if (!k->output_max) k->output_max = TB__OUTPUT_MAX;
    k->th.success_before_passing = get_int(def, "success_before_passing", 0);
    k->th.failures_before_critical = get_int(def, "failures_before_critical", 0);
    k->th.failures_before_warning = get_int(def, "failures_before_warning", -1);
    if (get_ms(def, "deregister_critical_service_after", 0, &k->dereg_ms, k->id, err)) goto fail;
    if (k->dereg_ms && k->dereg_ms < DEREG_MIN_MS) {
        tb__log(&a->log, TB_LOG_WARN, "agent",
                "check \"%s\": deregister_critical_service_after below minimum of 1m; using 1m",
                k->id);
        k->dereg_ms = DEREG_MIN_MS;
    }
    if (json_is_true(json_object_get(def, "maintenance"))) {
        k->kind = TB__KIND_MAINT;
        return k;
    }
    if (json_object_get(def, "args") || json_object_get(def, "script") ||
        json_object_get(def, "docker_container_id")) {
        if (!script_allowed(c, source)) {
            *err = strdup(source == TB__SRC_API
                              ? "Scripts are disabled on this agent from remote calls; to enable, "
                                "configure 'enable_script_checks' to true"
                              : "Scripts are disabled on this agent; to enable, configure "
                                "'enable_script_checks' or 'enable_local_script_checks' to true");
            goto fail;
        }
    }
    if (json_object_get(def, "ttl")) {
        k->kind = TB__KIND_TTL;
        if (get_ms(def, "ttl", 0, &k->ttl_ms, k->id, err)) goto fail;
        if (!k->ttl_ms) {
            *err = errf("check \"%s\": ttl must be positive%s", k->id, "");
            goto fail;
        }
        return k;
    }
    k->type = tb__plugins_find_check_type(a->plugins, def);
    if (!k->type) {
        char *names = type_names(a->plugins);
        char *given = type_keys(def);
        char buf[1400];
        snprintf(buf, sizeof buf,
                 "check \"%s\": unknown check type %s; check types provided by plugins: %s",
                 k->id, given, names);
        *err = strdup(buf);
        free(given);
        free(names);
        goto fail;
    }
    if (k->type->desc.validate) {
        char *perr = NULL;
        if (k->type->desc.validate(k->type->desc.arg, def, &perr) != 0) {
            *err = errf("check \"%s\": %s", k->id, perr ? perr : "invalid definition");
            free(perr);
            goto fail;
        }
    }
    uint64_t dflt_to = !strcmp(k->type->desc.name, "script") ? 30000 : 10000;
    if (get_ms(def, "interval", 0, &k->interval_ms, k->id, err) ||
        get_ms(def, "timeout", dflt_to, &k->timeout_ms, k->id, err))
        goto fail;
    if (!json_object_get(def, "interval")) {
        *err = errf("check \"%s\": interval is required for %s checks", k->id,
                    k->type->desc.name);
        goto fail;
    }
    if (k->interval_ms < 1000) {
        /* Consul clamps to its 1s minimum with a warning. */
        tb__log(&a->log, TB_LOG_WARN, "agent",
                "check \"%s\" has interval below minimum of 1s; using 1s", k->id);
        k->interval_ms = 1000;
    }
    if (!k->timeout_ms) k->timeout_ms = dflt_to;
    return k;
fail:
    check_free(k);
    return NULL;
}

/* ------------------------------------------------------------ services */

static json_t *service_json(const tb__config_t *cfg, const json_t *d, char **err)
{
    if (!json_is_object(d)) {
        *err = strdup("Request decode failed: service must be a JSON object");
        return NULL;
    }
    const char *name = tb__jstr(d, "Name");
    if (!name || !*name) {
        *err = strdup("Missing service name");
        return NULL;
    }
    const char *id = tb__jstr(d, "ID");
    json_t *tags = tb__jget(d, "Tags");
    json_t *meta = tb__jget(d, "Meta");
    json_t *port = tb__jget(d, "Port");
    const char *addr = tb__jstr(d, "Address");
    if ((tags && !json_is_array(tags) && !json_is_null(tags)) ||
        (meta && !json_is_object(meta) && !json_is_null(meta)) ||
        (port && !json_is_integer(port) && !json_is_null(port))) {
        *err = strdup("Request decode failed: Tags must be an array, Meta an object, Port an integer");
        return NULL;
    }
    json_t *w = tb__jget(d, "Weights");
    json_t *wp = json_is_object(w) ? tb__jget(w, "Passing") : NULL;
    json_t *ww = json_is_object(w) ? tb__jget(w, "Warning") : NULL;
    json_t *ta = json_object();
    json_t *rta = tb__jget(d, "TaggedAddresses");
    const char *tk;
    json_t *tv;
    if (json_is_object(rta))
        json_object_foreach(rta, tk, tv) {
            const char *ta_addr = tb__jstr(tv, "Address");
            json_t *ta_port = tb__jget(tv, "Port");
            json_object_set_new(ta, tk, json_pack("{s:s,s:I}", "Address", ta_addr ? ta_addr : "",
                                                  "Port", (json_int_t)(json_is_integer(ta_port)
                                                                           ? json_integer_value(ta_port)
                                                                           : 0)));
        }
    json_t *s = json_pack("{s:s,s:s,s:o,s:o,s:I,s:s,s:o,s:{s:I,s:I},s:b,s:s}", "ID",
                          id && *id ? id : name, "Service", name, "Tags",
                          json_is_array(tags) ? json_deep_copy(tags) : json_array(), "Meta",
                          json_is_object(meta) ? json_deep_copy(meta) : json_object(), "Port",
                          (json_int_t)(json_is_integer(port) ? json_integer_value(port) : 0),
                          "Address", addr ? addr : "", "TaggedAddresses", ta, "Weights",
                          "Passing", (json_int_t)(json_is_integer(wp) ? json_integer_value(wp) : 1),
                          "Warning", (json_int_t)(json_is_integer(ww) ? json_integer_value(ww) : 1),
                          "EnableTagOverride", json_is_true(tb__jget(d, "EnableTagOverride")),
                          "Datacenter", cfg->datacenter);
    if (!s) *err = strdup("Request decode failed: invalid service definition");
    return s;
}

/* ------------------------------------------------------------ list */

static int list_add(tb__checks_t *c, tb__check_t *k)
{
    tb__check_t **nl = realloc(c->list, (c->n + 1) * sizeof *nl);
    if (!nl) return -1;
    c->list = nl;
    c->list[c->n++] = k;
    return 0;
}

static void timer_closed(uv_handle_t *h)
{
    tb__check_t *k = h->data;
    if (++k->closing == 4) check_free(k);
}

/* Stop a check and free it (in the close callbacks when it has timers). */
static void check_retire(tb__check_t *k)
{
    if (k->probe) {
        /* The plugin's probe completes into nothing. */
        k->probe->check = NULL;
        k->probe->finished = 1;
        k->probe = NULL;
    }
    if (!k->active) {
        check_free(k);
        return;
    }
    k->closing = 1;
    uv_close((uv_handle_t *)&k->run_timer, timer_closed);
    uv_close((uv_handle_t *)&k->timeout_timer, timer_closed);
    uv_close((uv_handle_t *)&k->ttl_timer, timer_closed);
}

/* Start a check's timers and tell the catalog about it. */
static void check_activate(tb__checks_t *c, tb__check_t *k, int sync)
{
    tb__agent_t *a = c->agent;
    uv_timer_init(&a->loop, &k->run_timer);
    uv_timer_init(&a->loop, &k->timeout_timer);
    uv_timer_init(&a->loop, &k->ttl_timer);
    k->run_timer.data = k->timeout_timer.data = k->ttl_timer.data = k;
    k->active = 1;
    k->reported = 0; /* the first result is always written */
    if (k->status == TB_CHECK_CRITICAL && !k->critical_since) {
        uint64_t now = uv_now(&a->loop);
        k->critical_since = now ? now : 1;
    }
    if (sync) tb__sync_check(c, k);
    if (k->kind == TB__KIND_PLUGIN) {
        uint64_t stagger = tb__checks_random(c) % k->interval_ms;
        k->next_due = uv_now(&a->loop) + stagger;
        uv_timer_start(&k->run_timer, on_run, stagger, 0);
    } else if (k->kind == TB__KIND_TTL) {
        uv_timer_start(&k->ttl_timer, on_ttl, k->ttl_ms, 0);
    }
}

/* Put a built check in place of any check with its ID. */
static int check_install(tb__checks_t *c, tb__check_t *k)
{
    size_t i;
    tb__check_t *old = tb__checks_find(c, k->id, &i);
    if (old) {
        c->list[i] = k;
        check_retire(old);
    } else if (list_add(c, k) != 0) {
        return -1;
    }
    if (c->started) check_activate(c, k, 1);
    return 0;
}

static void check_remove_at(tb__checks_t *c, size_t i, int catalog)
{
    tb__check_t *k = c->list[i];
    memmove(&c->list[i], &c->list[i + 1], (c->n - i - 1) * sizeof *c->list);
    c->n--;
    if (catalog && c->started) tb__sync_deregister(c, NULL, k->id);
    check_retire(k);
}

/* Load the services and checks of a config (merged) into svcs/list, with
 * source config. Nothing of c changes. */
static int collect_in(tb__checks_t *c, const json_t *m, json_t *svcs, tb__check_t ***list,
                      size_t *n, json_t *seen, char **err)
{
    const json_t *arr = json_object_get(m, "services");
    size_t i;
    json_t *raw;
    *err = NULL;
#define PUSH(k)                                                                                   \
    do {                                                                                          \
        if (json_object_get(seen, (k)->id)) {                                                     \
            *err = errf("check \"%s\": a check with this ID is defined twice%s", (k)->id, "");     \
            check_free(k);                                                                        \
            return -1;                                                                            \
        }                                                                                         \
        json_object_set_new(seen, (k)->id, json_true());                                          \
        tb__check_t **nl_ = realloc(*list, (*n + 1) * sizeof *nl_);                               \
        if (!nl_) {                                                                               \
            check_free(k);                                                                        \
            *err = strdup("out of memory");                                                       \
            return -1;                                                                            \
        }                                                                                         \
        *list = nl_;                                                                              \
        (*list)[(*n)++] = (k);                                                                    \
    } while (0)
    json_array_foreach(arr, i, raw) {
        char *serr = NULL;
        json_t *s = service_json(c->agent->config, raw, &serr);
        if (!s) {
            *err = errf("service: %s%s", serr, "");
            free(serr);
            return -1;
        }
        const char *id = jstr(s, "ID");
        if (json_object_get(svcs, id)) {
            *err = errf("service \"%s\": a service with this ID is defined twice%s", id, "");
            json_decref(s);
            return -1;
        }
        json_object_set_new(svcs, id, s);
        /* Embedded check/checks: IDs service:<id> or service:<id>:<n>. */
        json_t *one = tb__jget(raw, "Check");
        json_t *many = tb__jget(raw, "Checks");
        size_t total = (json_is_object(one) ? 1 : 0) + json_array_size(many), nn = 0;
        char did[300];
        json_t *all = json_array();
        if (json_is_object(one)) json_array_append(all, one);
        size_t j;
        json_t *x;
        json_array_foreach(many, j, x) json_array_append(all, x);
        json_array_foreach(all, j, x) {
            nn++;
            if (total > 1) snprintf(did, sizeof did, "service:%s:%zu", id, nn);
            else snprintf(did, sizeof did, "service:%s", id);
            tb__check_t *k = check_build(c, x, s, did, TB__SRC_CONFIG, svcs, err);
            if (!k) {
                json_decref(all);
                return -1;
            }
            PUSH(k);
        }
        json_decref(all);
    }
    const json_t *checks = json_object_get(m, "checks");
    json_array_foreach(checks, i, raw) {
        tb__check_t *k = check_build(c, raw, NULL, NULL, TB__SRC_CONFIG, svcs, err);
        if (!k) return -1;
        PUSH(k);
    }
#undef PUSH
    return 0;
}

/* seen: the check IDs so far, to refuse duplicates without an O(n^2) scan. */
static int config_collect(tb__checks_t *c, const json_t *m, json_t *svcs, tb__check_t ***list,
                          size_t *n, char **err)
{
    json_t *seen = json_object();
    int rc = collect_in(c, m, svcs, list, n, seen, err);
    json_decref(seen);
    return rc;
}

static void collected_free(json_t *svcs, tb__check_t **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (list[i]) check_free(list[i]);
    free(list);
    json_decref(svcs);
}

/* Output settings from the (possibly reloaded) agent config. */
static void reread_limits(tb__checks_t *c)
{
    const json_t *m = c->agent->config->merged;
    const json_t *v = json_object_get(m, "check_output_max_size");
    c->output_max = json_is_integer(v) && json_integer_value(v) > 0
                        ? (size_t)json_integer_value(v)
                        : TB__OUTPUT_MAX;
    c->discard_output = json_is_true(json_object_get(m, "discard_check_output"));
}

tb__checks_t *tb__checks_new(tb__agent_t *agent)
{
    tb__checks_t *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->agent = agent;
    c->services = json_object();
    c->api_services = json_object();
    c->rng = (uint64_t)agent->start_unix_ms * 6364136223846793005ULL + 1442695040888963407ULL;
    uint64_t ns = 0;
    const char *ui = jstr(agent->config->merged, "check_update_interval");
    c->update_interval_ms = ui && tb__parse_duration(ui, &ns) == 0 ? ns / 1000000ULL : 300000;
    reread_limits(c);
    return c;
}

/* Restore API-registered services and checks saved in data_dir. A
 * definition that no longer loads (its plugin is gone) is skipped. */
static void restore(tb__checks_t *c)
{
    json_t *saved = tb__persist_load(c);
    if (!saved) return;
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(saved, "Services"), i, x) {
        const char *id = jstr(x, "ID");
        if (!id || json_object_get(c->services, id)) continue; /* config wins */
        json_object_set(c->services, id, x);
        json_object_set_new(c->api_services, id, json_true());
    }
    json_array_foreach(json_object_get(saved, "Checks"), i, x) {
        char *err = NULL;
        const json_t *def = json_object_get(x, "Definition");
        const char *id = jstr(def, "id");
        if (!id || tb__checks_find(c, id, NULL)) continue;
        tb__check_t *k = check_build(c, def, NULL, NULL, TB__SRC_API, NULL, &err);
        if (!k) {
            tb__log(&c->agent->log, TB_LOG_WARN, "agent", "persisted check %s not restored: %s", id,
                    err ? err : "?");
            free(err);
            continue;
        }
        if (k->kind != TB__KIND_PLUGIN) {
            /* TTL and maintenance states are carried over. */
            status_parse(jstr(x, "Status"), &k->status);
            free(k->output);
            k->output = strdup(jstr(x, "Output") ? jstr(x, "Output") : "");
        }
        if (list_add(c, k) != 0) check_free(k);
    }
    json_decref(saved);
}

int tb__checks_load(tb__checks_t *c, char **err)
{
    json_t *svcs = json_object();
    tb__check_t **list = NULL;
    size_t n = 0;
    if (config_collect(c, c->agent->config->merged, svcs, &list, &n, err) != 0) {
        collected_free(svcs, list, n);
        return -1;
    }
    json_object_update(c->services, svcs);
    for (size_t i = 0; i < n; i++)
        if (list_add(c, list[i]) != 0) check_free(list[i]);
    free(list);
    json_decref(svcs);
    restore(c);
    return 0;
}

void tb__checks_start(tb__checks_t *c)
{
    tb__sync_node(c);
    const char *id;
    json_t *s;
    json_object_foreach(c->services, id, s) tb__sync_service(c, s);
    c->started = 1;
    /* Start-up writes the checks in batches, not one call each. */
    for (size_t i = 0; i < c->n; i++) check_activate(c, c->list[i], 0);
    tb__sync_checks_batch(c);
    tb__sync_timers_start(c);
}

void tb__checks_stop(tb__checks_t *c)
{
    if (!c || !c->started) return;
    c->started = 0;
    tb__sync_timers_stop(c);
    for (size_t i = 0; i < c->n; i++) {
        check_retire(c->list[i]);
        c->list[i] = NULL; /* freed by the last close callback */
    }
    c->n = 0;
}

void tb__checks_free(tb__checks_t *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->n; i++)
        if (c->list[i]) check_free(c->list[i]);
    free(c->list);
    json_decref(c->services);
    json_decref(c->api_services);
    json_decref(c->serf_check);
    free(c);
}

int tb__checks_reload(tb__checks_t *c, char **err)
{
    reread_limits(c);
    json_t *svcs = json_object();
    tb__check_t **list = NULL;
    size_t n = 0;
    if (config_collect(c, c->agent->config->merged, svcs, &list, &n, err) != 0) {
        collected_free(svcs, list, n);
        return -1;
    }
    /* Config services that left the config, or changed. */
    const char *id;
    json_t *s, *tmp;
    json_object_foreach_safe(c->services, tmp, id, s) {
        if (json_object_get(c->api_services, id)) continue;
        json_t *ns = json_object_get(svcs, id);
        if (!ns) {
            char *sid = strdup(id);
            char *e2 = NULL;
            tb__local_service_deregister(c, sid, &e2);
            free(e2);
            free(sid);
        }
    }
    json_object_foreach(svcs, id, s) {
        json_t *old = json_object_get(c->services, id);
        if (old && json_equal(old, s)) continue;
        json_object_del(c->api_services, id);
        json_object_set(c->services, id, s);
        if (c->started) tb__sync_service(c, s);
    }
    /* Config checks: removed, changed, added; unchanged keep their state.
     * The new ones are indexed by ID (agents run thousands of checks). */
    json_t *idx = json_object();
    for (size_t j = 0; j < n; j++) json_object_set_new(idx, list[j]->id, json_integer((json_int_t)j));
    for (size_t i = c->n; i-- > 0;) {
        tb__check_t *k = c->list[i];
        if (k->source != TB__SRC_CONFIG) continue;
        int keep = 0;
        json_t *jv = json_object_get(idx, k->id);
        if (jv) {
            size_t j = (size_t)json_integer_value(jv);
            if (list[j] && json_equal(list[j]->definition, k->definition)) {
                check_free(list[j]);
                list[j] = NULL;
                keep = 1;
            }
        }
        if (!keep) check_remove_at(c, i, 1);
    }
    json_decref(idx);
    for (size_t j = 0; j < n; j++)
        if (list[j] && check_install(c, list[j]) != 0) check_free(list[j]);
    free(list);
    json_decref(svcs);
    tb__persist_save(c);
    tb__checks_sync_now(c);
    return 0;
}

/* ------------------------------------------------------------ agent API */

json_t *tb__checks_agent_services(tb__checks_t *c) { return json_deep_copy(c->services); }

json_t *tb__checks_agent_checks(tb__checks_t *c)
{
    json_t *out = json_object();
    for (size_t i = 0; i < c->n; i++)
        if (c->list[i]) json_object_set_new(out, c->list[i]->id, tb__check_render(c->list[i]));
    return out;
}

tb_status_t tb__local_service_register(tb__checks_t *c, const json_t *def, int replace_checks,
                                       char **err)
{
    json_t *s = service_json(c->agent->config, def, err);
    if (!s) return TB_BAD_REQUEST;
    const char *id = jstr(s, "ID");
    json_t *one = tb__jget(def, "Check");
    json_t *many = tb__jget(def, "Checks");
    json_t *all = json_array();
    size_t j;
    json_t *x;
    if (json_is_object(one)) json_array_append(all, one);
    if (json_is_array(many)) json_array_foreach(many, j, x) json_array_append(all, x);
    size_t total = json_array_size(all), nk = 0;
    tb__check_t **built = calloc(total + 1, sizeof *built);
    tb_status_t rc = TB_OK;
    json_array_foreach(all, j, x) {
        char did[300];
        if (total > 1) snprintf(did, sizeof did, "service:%s:%zu", id, j + 1);
        else snprintf(did, sizeof did, "service:%s", id);
        /* Consul skips check objects with no type at all (python-consul
         * sends "check": {} without one). */
        json_t *cd = canon_check(x);
        int empty = json_object_size(cd) == 0;
        json_decref(cd);
        if (empty) continue;
        tb__check_t *k = check_build(c, x, s, did, TB__SRC_API, NULL, err);
        if (!k) {
            rc = TB_BAD_REQUEST;
            goto out;
        }
        built[nk++] = k;
    }
    json_object_set(c->services, id, s);
    json_object_set_new(c->api_services, id, json_true());
    if (c->started) tb__sync_service(c, s);
    if (replace_checks) {
        for (size_t i = c->n; i-- > 0;) {
            tb__check_t *k = c->list[i];
            if (!k->service_id || strcmp(k->service_id, id) || k->kind == TB__KIND_MAINT) continue;
            int kept = 0;
            for (size_t q = 0; q < nk; q++)
                if (!strcmp(built[q]->id, k->id)) kept = 1;
            if (!kept) check_remove_at(c, i, 1);
        }
    }
    for (size_t q = 0; q < nk; q++) {
        if (check_install(c, built[q]) != 0) check_free(built[q]);
        built[q] = NULL;
    }
    tb__persist_save(c);
    tb__log(&c->agent->log, TB_LOG_DEBUG, "agent", "added service: service=%s", id);
out:
    for (size_t q = 0; q < nk; q++)
        if (built[q]) check_free(built[q]);
    free(built);
    json_decref(all);
    json_decref(s);
    return rc;
}

tb_status_t tb__local_service_deregister(tb__checks_t *c, const char *id, char **err)
{
    if (!json_object_get(c->services, id)) {
        *err = errf("Unknown service ID \"%s\". Ensure that the service ID is passed, not the "
                    "service name.%s", id, "");
        return TB_NOT_FOUND;
    }
    for (size_t i = c->n; i-- > 0;)
        if (c->list[i]->service_id && !strcmp(c->list[i]->service_id, id))
            check_remove_at(c, i, 0);
    if (c->started) tb__sync_deregister(c, id, NULL);
    json_object_del(c->services, id);
    json_object_del(c->api_services, id);
    tb__persist_save(c);
    tb__log(&c->agent->log, TB_LOG_DEBUG, "agent", "removed service: service=%s", id);
    return TB_OK;
}

tb_status_t tb__local_check_register(tb__checks_t *c, const json_t *def, char **err)
{
    if (!json_is_object(def)) {
        *err = strdup("Request decode failed: check must be a JSON object");
        return TB_BAD_REQUEST;
    }
    tb__check_t *k = check_build(c, def, NULL, NULL, TB__SRC_API, NULL, err);
    if (!k) return TB_BAD_REQUEST;
    if (check_install(c, k) != 0) {
        check_free(k);
        *err = strdup("out of memory");
        return TB_INTERNAL;
    }
    tb__persist_save(c);
    return TB_OK;
}

tb_status_t tb__local_check_deregister(tb__checks_t *c, const char *id, char **err)
{
    size_t i;
    if (!tb__checks_find(c, id, &i)) {
        *err = errf("Unknown check ID \"%s\"%s", id, "");
        return TB_NOT_FOUND;
    }
    check_remove_at(c, i, 1);
    tb__persist_save(c);
    return TB_OK;
}

tb_status_t tb__local_check_update(tb__checks_t *c, const char *id, const char *status,
                                   const char *output, char **err)
{
    tb__check_t *k = tb__checks_find(c, id, NULL);
    tb_check_status_t st;
    if (!k) {
        *err = errf("Unknown check ID \"%s\"%s", id, "");
        return TB_NOT_FOUND;
    }
    if (k->kind != TB__KIND_TTL) {
        *err = errf("CheckID \"%s\" does not have associated TTL%s", id, "");
        return TB_INTERNAL;
    }
    if (!status || status_parse(status, &st) != 0 || !*status) {
        *err = errf("Invalid check status: \"%s\"%s", status, "");
        return TB_BAD_REQUEST;
    }
    if (k->active) uv_timer_start(&k->ttl_timer, on_ttl, k->ttl_ms, 0);
    set_status(k, st, output);
    return TB_OK;
}

static uint64_t fnv64(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

tb_status_t tb__local_service_get(tb__checks_t *c, const char *id, json_t **out, char **err)
{
    json_t *s = json_object_get(c->services, id);
    if (!s) {
        *err = errf("unknown service ID: %s%s", id, "");
        return TB_NOT_FOUND;
    }
    *out = json_deep_copy(s);
    char *dump = json_dumps(s, JSON_SORT_KEYS | JSON_COMPACT);
    char hash[20];
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)fnv64(dump ? dump : ""));
    free(dump);
    json_object_set_new(*out, "ContentHash", json_string(hash));
    return TB_OK;
}

/* Consul's ChecksForService(id, includeNodeChecks) + AggregatedStatus. */
static json_t *service_health(tb__checks_t *c, const char *id, const json_t *svc)
{
    json_t *checks = json_array();
    int worst = 0, maint = 0;
    for (size_t i = 0; i < c->n; i++) {
        tb__check_t *k = c->list[i];
        if (k->service_id && strcmp(k->service_id, id)) continue;
        json_array_append_new(checks, tb__check_render(k));
        if (k->kind == TB__KIND_MAINT) maint = 1;
        if ((int)k->status > worst) worst = (int)k->status;
    }
    const char *agg = maint ? "maintenance" : tb__check_status_name((tb_check_status_t)worst);
    return json_pack("{s:s,s:O,s:o}", "AggregatedStatus", agg, "Service", svc, "Checks", checks);
}

tb_status_t tb__local_health_by_id(tb__checks_t *c, const char *id, json_t **out, char **err)
{
    json_t *s = json_object_get(c->services, id);
    if (!s) {
        *err = errf("ServiceId %s not found%s", id, "");
        return TB_NOT_FOUND;
    }
    *out = service_health(c, id, s);
    return TB_OK;
}

tb_status_t tb__local_health_by_name(tb__checks_t *c, const char *name, json_t **out, char **err)
{
    (void)err;
    *out = json_array();
    const char *id;
    json_t *s;
    json_object_foreach(c->services, id, s) {
        if (strcmp(jstr(s, "Service"), name)) continue;
        json_array_append_new(*out, service_health(c, id, s));
    }
    return TB_OK;
}

tb_status_t tb__local_maintenance(tb__checks_t *c, const char *service_id, int enable,
                                  const char *reason, char **err)
{
    char cid[400];
    if (service_id) {
        if (!json_object_get(c->services, service_id)) {
            *err = errf("No service registered with ID \"%s\"%s", service_id, "");
            return TB_NOT_FOUND;
        }
        snprintf(cid, sizeof cid, MAINT_SVC_PREFIX "%s", service_id);
    } else {
        snprintf(cid, sizeof cid, "%s", MAINT_NODE_ID);
    }
    size_t i;
    tb__check_t *old = tb__checks_find(c, cid, &i);
    if (!enable) {
        if (old) {
            check_remove_at(c, i, 1);
            tb__persist_save(c);
            tb__log(&c->agent->log, TB_LOG_INFO, "agent", "%s maintenance mode disabled%s%s",
                    service_id ? "Service" : "Node", service_id ? ": service=" : "",
                    service_id ? service_id : "");
        }
        return TB_OK;
    }
    if (old) return TB_OK; /* already on: Consul keeps the first reason */
    const char *notes = reason && *reason
                            ? reason
                            : service_id ? "Maintenance mode is enabled for this service, but no "
                                           "reason was provided. This is a default message."
                                         : "Maintenance mode is enabled for this node, but no "
                                           "reason was provided. This is a default message.";
    json_t *def = json_pack("{s:s,s:s,s:s,s:s,s:b}", "id", cid, "name",
                            service_id ? "Service Maintenance Mode" : "Node Maintenance Mode",
                            "notes", notes, "status", "critical", "maintenance", 1);
    if (service_id) json_object_set_new(def, "service_id", json_string(service_id));
    tb__check_t *k = check_build(c, def, NULL, NULL, TB__SRC_API, NULL, err);
    json_decref(def);
    if (!k) return TB_INTERNAL;
    if (check_install(c, k) != 0) {
        check_free(k);
        *err = strdup("out of memory");
        return TB_INTERNAL;
    }
    tb__persist_save(c);
    tb__log(&c->agent->log, TB_LOG_INFO, "agent", "%s entered maintenance mode%s%s",
            service_id ? "Service" : "Node", service_id ? ": service=" : "",
            service_id ? service_id : "");
    return TB_OK;
}

void tb__checks_get_stats(const tb__checks_t *c, tb__checks_stats_t *out)
{
    memset(out, 0, sizeof *out);
    if (!c) return;
    *out = c->st;
    uint64_t total = 0, seen = 0;
    for (size_t i = 0; i < TB__LATE_BUCKETS; i++) total += c->late_hist[i];
    for (size_t i = 0; i < TB__LATE_BUCKETS && total; i++) {
        seen += c->late_hist[i];
        if (seen * 100 >= total * 99) {
            out->late_p99_ms = i + 1 < TB__LATE_BUCKETS ? late_bounds[i] : late_bounds[i - 1];
            break;
        }
    }
}
