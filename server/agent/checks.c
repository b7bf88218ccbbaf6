/*
 * checks.c - the agent's local services and checks from its config files,
 * and the scheduler that runs each check through the check-type plugin
 * claiming its definition (api->register_check_type). A check runs on its
 * interval, starting after a random stagger so checks that share an
 * interval spread out; one probe at a time; the core enforces the timeout.
 * A status change is written to the catalog at once; stable checks cause
 * no writes (edge-triggered, as the health-checking issue will extend with
 * thresholds, TTL checks and periodic anti-entropy).
 */
#include "tb_autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/checks.h"
#include "endpoint/endpoint.h"
#include "plugin/plugin.h"

#define OUTPUT_MAX 4096

struct tb__check {
    tb__checks_t *owner;
    char *id, *name, *notes, *service_id, *service_name;
    json_t *service_tags;
    json_t *definition;  /* lowercased */
    const tb__check_type_t *type;
    uint64_t interval_ms, timeout_ms;
    tb_check_status_t status;
    char *output;
    uv_timer_t run_timer;     /* interval */
    uv_timer_t timeout_timer; /* probe deadline */
    tb_probe_t *probe;        /* in flight */
    int reported;             /* a probe result reached the catalog */
    int closing;
};

struct tb__checks {
    tb__agent_t *agent;
    json_t *services; /* id -> AgentService */
    tb__check_t **list;
    size_t n;
    int started;
    uint64_t rng;
};

static const char *status_name(tb_check_status_t s)
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

static char *errmsg(const char *fmt, const char *a, const char *b)
{
    char buf[768];
    snprintf(buf, sizeof buf, fmt, a ? a : "", b ? b : "");
    return strdup(buf);
}

/* ------------------------------------------------------------ catalog sync */

static void sync_done(void *arg, const tb_result_t *r)
{
    tb__checks_t *c = arg;
    if (r->status != TB_OK)
        tb__log(&c->agent->log, TB_LOG_WARN, "agent", "catalog sync failed: %s",
                r->error ? r->error : "?");
}

static json_t *check_json(const tb__check_t *k)
{
    const tb__config_t *cfg = k->owner->agent->config;
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "Node", cfg->node_name, "CheckID", k->id,
                     "Name", k->name, "Status", status_name(k->status), "Notes",
                     k->notes ? k->notes : "", "Output", k->output ? k->output : "", "ServiceID",
                     k->service_id ? k->service_id : "", "Type", k->type->desc.name);
}

/* Write the node (and optionally a service or a check) to the catalog. */
static void sync_register(tb__checks_t *c, json_t *service, json_t *check)
{
    const tb__config_t *cfg = c->agent->config;
    if (!c->agent->endpoint) return;
    json_t *meta = json_object_get(cfg->merged, "node_meta");
    const char *addr = cfg->advertise_addr ? cfg->advertise_addr : "127.0.0.1";
    json_t *body = json_pack("{s:s,s:s,s:s,s:s,s:{s:s,s:s,s:s,s:s},s:O}", "ID",
                             cfg->node_id ? cfg->node_id : "", "Node", cfg->node_name, "Address",
                             addr, "Datacenter", cfg->datacenter, "TaggedAddresses", "lan", addr,
                             "lan_ipv4", addr, "wan", addr, "wan_ipv4", addr, "NodeMeta",
                             json_is_object(meta) ? meta : json_object());
    if (!json_is_object(meta)) json_decref(json_object_get(body, "NodeMeta"));
    if (service) json_object_set_new(body, "Service", service);
    if (check) json_object_set_new(body, "Check", check);
    tb__endpoint_call(c->agent->endpoint, "Catalog.Register", body, NULL, sync_done, c);
    json_decref(body);
}

/* ------------------------------------------------------------ probes */

static void set_status(tb__check_t *k, tb_check_status_t st, const char *output)
{
    tb__checks_t *c = k->owner;
    size_t len = output ? strlen(output) : 0;
    char *o;
    if (len > OUTPUT_MAX) {
        /* Consul keeps the tail and says how much it cut. */
        char head[96];
        int h = snprintf(head, sizeof head, "Captured %d of %zu bytes\n...\n", OUTPUT_MAX, len);
        o = malloc((size_t)h + OUTPUT_MAX + 1);
        if (o) {
            memcpy(o, head, (size_t)h);
            memcpy(o + h, output + len - OUTPUT_MAX, OUTPUT_MAX + 1);
        }
    } else {
        o = strdup(output ? output : "");
    }
    /* The first result is always written (its output too); later ones
     * only when the status changes. */
    int changed = st != k->status || !k->reported;
    k->reported = 1;
    free(k->output);
    k->output = o;
    k->status = st;
    if (!changed) return;
    tb__log(&c->agent->log, st == TB_CHECK_PASSING ? TB_LOG_DEBUG : TB_LOG_WARN, "agent",
            "Check is now %s: check=%s", status_name(st), k->id);
    if (c->started) sync_register(c, NULL, check_json(k));
}

static void probe_free(tb_probe_t *p)
{
    json_decref(p->definition);
    free(p);
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
        set_status(k, status, output);
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
    char buf[128];
    snprintf(buf, sizeof buf, "Timed out (%llums) running check",
             (unsigned long long)k->timeout_ms);
    set_status(k, TB_CHECK_CRITICAL, buf);
}

static void on_run(uv_timer_t *t)
{
    tb__check_t *k = t->data;
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
        k->probe = NULL;
        probe_free(p);
        set_status(k, TB_CHECK_CRITICAL, err ? err : "check could not be started");
        free(err);
    }
}

/* ------------------------------------------------------------ loading */

static int parse_ms(tb__agent_t *a, const json_t *def, const char *key, uint64_t dflt,
                    uint64_t *out, const char *id, char **err)
{
    const char *s = jstr(def, key);
    uint64_t ns;
    *out = dflt;
    if (!s) return 0;
    if (tb__parse_duration(s, &ns) != 0) {
        char buf[256];
        snprintf(buf, sizeof buf, "check \"%s\": %s: invalid duration \"%s\"", id, key, s);
        *err = strdup(buf);
        return -1;
    }
    *out = ns / 1000000ULL;
    (void)a;
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

static void check_free(tb__check_t *k)
{
    free(k->id);
    free(k->name);
    free(k->notes);
    free(k->service_id);
    free(k->service_name);
    free(k->output);
    json_decref(k->service_tags);
    json_decref(k->definition);
    free(k);
}

static int add_check(tb__checks_t *c, const json_t *raw, const json_t *svc, const char *dflt_id,
                     char **err)
{
    tb__agent_t *a = c->agent;
    json_t *def = tb__lowercase_keys(raw);
    tb__check_t *k = calloc(1, sizeof *k);
    if (!def || !k) {
        json_decref(def);
        free(k);
        *err = strdup("out of memory");
        return -1;
    }
    k->owner = c;
    k->definition = def;
    const char *name = jstr(def, "name");
    const char *id = jstr(def, "id");
    if (!id) id = jstr(def, "checkid");
    if (svc) {
        const char *sid = jstr(svc, "ID"), *sname = jstr(svc, "Service");
        char dname[300];
        snprintf(dname, sizeof dname, "Service '%s' check", sname);
        if (!name) name = dname;
        if (!id) id = dflt_id;
        k->service_id = strdup(sid);
        k->service_name = strdup(sname);
        k->service_tags = json_incref(json_object_get(svc, "Tags"));
        k->name = strdup(name);
    } else {
        const char *sid = jstr(def, "serviceid");
        if (!sid) sid = jstr(def, "service_id");
        if (sid) {
            json_t *s = json_object_get(c->services, sid);
            if (!s) {
                *err = errmsg("check \"%s\": service_id \"%s\" is not a service of this agent",
                              id ? id : name, sid);
                goto fail;
            }
            k->service_id = strdup(sid);
            k->service_name = strdup(jstr(s, "Service"));
            k->service_tags = json_incref(json_object_get(s, "Tags"));
        }
        if (!name) {
            *err = errmsg("check%s%s: missing name", id ? " " : "", id);
            goto fail;
        }
        k->name = strdup(name);
        if (!id) id = name;
    }
    k->id = strdup(id);
    if (jstr(def, "notes")) k->notes = strdup(jstr(def, "notes"));
    if (status_parse(jstr(def, "status"), &k->status) != 0) {
        *err = errmsg("check \"%s\": status: \"%s\" is not passing, warning or critical", k->id,
                      jstr(def, "status"));
        goto fail;
    }
    k->output = strdup("");
    if (json_object_get(def, "ttl")) {
        *err = errmsg("check \"%s\": ttl checks are not supported by this build yet "
                      "(they arrive with the health-checking work)%s", k->id, "");
        goto fail;
    }
    k->type = tb__plugins_find_check_type(a->plugins, def);
    if (!k->type) {
        char *names = type_names(a->plugins);
        *err = errmsg("check \"%s\": unknown check type; check types provided by plugins: %s",
                      k->id, names);
        free(names);
        goto fail;
    }
    if (k->type->desc.validate) {
        char *perr = NULL;
        if (k->type->desc.validate(k->type->desc.arg, def, &perr) != 0) {
            *err = errmsg("check \"%s\": %s", k->id, perr ? perr : "invalid definition");
            free(perr);
            goto fail;
        }
    }
    if (parse_ms(a, def, "interval", 0, &k->interval_ms, k->id, err) ||
        parse_ms(a, def, "timeout", 10000, &k->timeout_ms, k->id, err))
        goto fail;
    if (!json_object_get(def, "interval")) {
        *err = errmsg("check \"%s\": interval is required for %s checks", k->id,
                      k->type->desc.name);
        goto fail;
    }
    if (k->interval_ms < 1000) {
        /* Consul clamps to its 1s minimum with a warning. */
        tb__log(&a->log, TB_LOG_WARN, "agent",
                "check \"%s\" has interval below minimum of 1s; using 1s", k->id);
        k->interval_ms = 1000;
    }
    if (!k->timeout_ms) k->timeout_ms = 10000;
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->list[i]->id, k->id)) {
            *err = errmsg("check \"%s\": a check with this ID is defined twice%s", k->id, "");
            goto fail;
        }
    tb__check_t **nl = realloc(c->list, (c->n + 1) * sizeof *nl);
    if (!nl) {
        *err = strdup("out of memory");
        goto fail;
    }
    c->list = nl;
    c->list[c->n++] = k;
    return 0;
fail:
    check_free(k);
    return -1;
}

static json_t *service_json(const tb__config_t *cfg, const json_t *raw, char **err)
{
    json_t *d = tb__lowercase_keys(raw);
    const char *name = jstr(d, "name");
    if (!name || !*name) {
        json_decref(d);
        *err = strdup("service: missing name");
        return NULL;
    }
    const char *id = jstr(d, "id");
    json_t *tags = json_object_get(d, "tags");
    json_t *meta = json_object_get(d, "meta");
    json_t *port = json_object_get(d, "port");
    const char *addr = jstr(d, "address");
    json_t *s = json_pack("{s:s,s:s,s:O,s:O,s:I,s:s,s:{},s:{s:i,s:i},s:b,s:s}", "ID",
                          id && *id ? id : name, "Service", name, "Tags",
                          json_is_array(tags) ? tags : json_array(), "Meta",
                          json_is_object(meta) ? meta : json_object(), "Port",
                          (json_int_t)(json_is_integer(port) ? json_integer_value(port) : 0),
                          "Address", addr ? addr : "", "TaggedAddresses", "Weights", "Passing",
                          1, "Warning", 1, "EnableTagOverride",
                          json_is_true(json_object_get(d, "enable_tag_override")) ||
                              json_is_true(json_object_get(d, "enabletagoverride")),
                          "Datacenter", cfg->datacenter);
    /* json_pack's O took a reference to the fresh objects too. */
    if (!json_is_array(tags)) json_decref(json_object_get(s, "Tags"));
    if (!json_is_object(meta)) json_decref(json_object_get(s, "Meta"));
    json_decref(d);
    return s;
}

tb__checks_t *tb__checks_new(tb__agent_t *agent)
{
    tb__checks_t *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->agent = agent;
    c->services = json_object();
    c->rng = (uint64_t)agent->start_unix_ms * 6364136223846793005ULL + 1442695040888963407ULL;
    return c;
}

int tb__checks_load(tb__checks_t *c, char **err)
{
    const json_t *m = c->agent->config->merged;
    const json_t *svcs = json_object_get(m, "services");
    size_t i;
    json_t *raw;
    *err = NULL;
    json_array_foreach(svcs, i, raw) {
        json_t *s = service_json(c->agent->config, raw, err);
        if (!s) return -1;
        const char *id = jstr(s, "ID");
        if (json_object_get(c->services, id)) {
            *err = errmsg("service \"%s\": a service with this ID is defined twice%s", id, "");
            json_decref(s);
            return -1;
        }
        json_object_set_new(c->services, id, s);
        /* Embedded check/checks: IDs service:<id> or service:<id>:<n>. */
        json_t *lower = tb__lowercase_keys(raw);
        json_t *one = json_object_get(lower, "check");
        json_t *many = json_object_get(lower, "checks");
        size_t total = (json_is_object(one) ? 1 : 0) + json_array_size(many), n = 0;
        char did[300];
        if (json_is_object(one)) {
            n++;
            if (total > 1) snprintf(did, sizeof did, "service:%s:%zu", id, n);
            else snprintf(did, sizeof did, "service:%s", id);
            if (add_check(c, one, s, did, err)) goto fail_lower;
        }
        size_t j;
        json_t *x;
        json_array_foreach(many, j, x) {
            n++;
            if (total > 1) snprintf(did, sizeof did, "service:%s:%zu", id, n);
            else snprintf(did, sizeof did, "service:%s", id);
            if (add_check(c, x, s, did, err)) goto fail_lower;
        }
        json_decref(lower);
        continue;
    fail_lower:
        json_decref(lower);
        return -1;
    }
    const json_t *checks = json_object_get(m, "checks");
    json_array_foreach(checks, i, raw) {
        if (add_check(c, raw, NULL, NULL, err)) return -1;
    }
    return 0;
}

void tb__checks_start(tb__checks_t *c)
{
    tb__agent_t *a = c->agent;
    if (a->state) {
        /* A server registers itself: node, the consul service and its node
         * health (gossip will own serfHealth once it lands). */
        sync_register(c,
                      json_pack("{s:s,s:s,s:[],s:i}", "ID", "consul", "Service", "consul", "Tags",
                                "Port", a->config->port_server),
                      json_pack("{s:s,s:s,s:s,s:s}", "CheckID", "serfHealth", "Name",
                                "Serf Health Status", "Status", "passing", "Output",
                                "Agent alive and reachable"));
    } else {
        sync_register(c, NULL, NULL);
    }
    const char *id;
    json_t *s;
    json_object_foreach(c->services, id, s) sync_register(c, json_deep_copy(s), NULL);
    c->started = 1;
    for (size_t i = 0; i < c->n; i++) {
        tb__check_t *k = c->list[i];
        sync_register(c, NULL, check_json(k));
        uv_timer_init(&a->loop, &k->run_timer);
        uv_timer_init(&a->loop, &k->timeout_timer);
        k->run_timer.data = k->timeout_timer.data = k;
        c->rng = c->rng * 6364136223846793005ULL + 1442695040888963407ULL;
        uint64_t stagger = (c->rng >> 33) % k->interval_ms;
        uv_timer_start(&k->run_timer, on_run, stagger, k->interval_ms);
    }
}

static void timer_closed(uv_handle_t *h)
{
    tb__check_t *k = h->data;
    if (++k->closing == 3) check_free(k);
}

void tb__checks_stop(tb__checks_t *c)
{
    if (!c || !c->started) return;
    c->started = 0;
    for (size_t i = 0; i < c->n; i++) {
        tb__check_t *k = c->list[i];
        if (k->probe) {
            /* The plugin's probe completes into nothing. */
            k->probe->check = NULL;
            k->probe->finished = 1;
            k->probe = NULL;
        }
        k->closing = 1;
        uv_close((uv_handle_t *)&k->run_timer, timer_closed);
        uv_close((uv_handle_t *)&k->timeout_timer, timer_closed);
        c->list[i] = NULL; /* freed by the last close callback */
    }
}

void tb__checks_free(tb__checks_t *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->n; i++)
        if (c->list[i]) check_free(c->list[i]);
    free(c->list);
    json_decref(c->services);
    free(c);
}

json_t *tb__checks_agent_services(tb__checks_t *c) { return json_deep_copy(c->services); }

/* Go's time.Duration.String() for whole seconds or milliseconds. */
static void fmt_dur(char *buf, size_t n, uint64_t ms)
{
    if (ms % 1000 == 0) snprintf(buf, n, "%llus", (unsigned long long)(ms / 1000));
    else snprintf(buf, n, "%llums", (unsigned long long)ms);
}

json_t *tb__checks_agent_checks(tb__checks_t *c)
{
    json_t *out = json_object();
    const tb__config_t *cfg = c->agent->config;
    for (size_t i = 0; i < c->n; i++) {
        tb__check_t *k = c->list[i];
        if (!k) continue;
        char iv[32], to[32];
        fmt_dur(iv, sizeof iv, k->interval_ms);
        fmt_dur(to, sizeof to, k->timeout_ms);
        json_t *j = json_pack(
            "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:O,s:s,s:s,s:s,s:i,s:{},s:i,s:i}", "Node",
            cfg->node_name, "CheckID", k->id, "Name", k->name, "Status", status_name(k->status),
            "Notes", k->notes ? k->notes : "", "Output", k->output ? k->output : "", "ServiceID",
            k->service_id ? k->service_id : "", "ServiceName",
            k->service_name ? k->service_name : "", "ServiceTags",
            k->service_tags ? k->service_tags : json_array(), "Type", k->type->desc.name,
            "Interval", iv, "Timeout", to, "ExposedPort", 0, "Definition", "CreateIndex", 0,
            "ModifyIndex", 0);
        if (!k->service_tags) json_decref(json_object_get(j, "ServiceTags"));
        json_object_set_new(out, k->id, j);
    }
    return out;
}
