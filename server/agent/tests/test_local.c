/*
 * test_local.c - unit tests of the agent's local state (server/agent):
 * threshold counters, the anti-entropy interval scale, TTL checks on a
 * real libuv loop (lapse, reset, non-TTL and unknown IDs), maintenance,
 * script-check gating, persistence round trip through data_dir, and
 * reload semantics (config entries change, API entries stay). No
 * endpoint layer: catalog writes are skipped, the counters still move.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw */
#endif
#include "tb_autoconf.h"

#include <CUnit/Basic.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/checks.h"
#include "agent/checks_int.h"
#include "plugin/plugin.h"

/* ------------------------------------------------------------ fixture */

typedef struct fx {
    tb__agent_t a;
    tb__config_t cfg;
    char dir[64];
} fx_t;

static void fx_config(fx_t *f, json_t *merged)
{
    json_decref(f->cfg.merged);
    f->cfg.merged = merged;
    f->cfg.node_name = "t1";
    f->cfg.datacenter = "dc1";
    f->cfg.data_dir = f->dir[0] ? f->dir : NULL;
}

static fx_t *fx_new(int with_dir, json_t *merged)
{
    fx_t *f = calloc(1, sizeof *f);
    if (with_dir) {
        snprintf(f->dir, sizeof f->dir, "/tmp/tblocal-XXXXXX");
        CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(f->dir));
    }
    uv_loop_init(&f->a.loop);
    f->a.config = &f->cfg;
    tb__logger_init(&f->a.log, TB_LOG_ERROR, 0, stderr);
    fx_config(f, merged ? merged : json_object());
    return f;
}

static tb__checks_t *start(fx_t *f)
{
    char *err = NULL;
    tb__checks_t *c = tb__checks_new(&f->a);
    f->a.checks = c;
    int rc = tb__checks_load(c, &err);
    if (rc) fprintf(stderr, "load: %s\n", err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    tb__checks_start(c);
    return c;
}

static void stop(fx_t *f)
{
    tb__checks_stop(f->a.checks);
    uv_run(&f->a.loop, UV_RUN_DEFAULT);
    tb__checks_free(f->a.checks);
    f->a.checks = NULL;
}

static int rm_cb(const char *p, const struct stat *s, int fl, struct FTW *w)
{
    (void)s, (void)fl, (void)w;
    return remove(p);
}

static void fx_free(fx_t *f)
{
    if (f->a.checks) stop(f);
    uv_loop_close(&f->a.loop);
    json_decref(f->cfg.merged);
    if (f->dir[0]) nftw(f->dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
    free(f);
}

static void stop_loop(uv_timer_t *t) { uv_stop(t->loop); }

/* Run the loop for ms milliseconds. */
static void run_for(fx_t *f, uint64_t ms)
{
    uv_timer_t t;
    uv_timer_init(&f->a.loop, &t);
    uv_timer_start(&t, stop_loop, ms, 0);
    uv_run(&f->a.loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&f->a.loop, UV_RUN_NOWAIT);
}

static const char *check_field(tb__checks_t *c, const char *id, const char *field)
{
    static char buf[256];
    json_t *all = tb__checks_agent_checks(c);
    const char *v = json_string_value(json_object_get(json_object_get(all, id), field));
    snprintf(buf, sizeof buf, "%s", v ? v : "<none>");
    json_decref(all);
    return buf;
}

static json_t *J(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j) fprintf(stderr, "bad test json: %s\n", e.text);
    return j;
}

/* ------------------------------------------------------------ tests */

static void test_thresholds(void)
{
    tb__thresh_t t = {3, -1, 2, 0, 0};
    tb_check_status_t out = TB_CHECK_CRITICAL;
    /* Two passes are withheld, the third goes through. */
    CU_ASSERT_EQUAL(tb__thresh_apply(&t, TB_CHECK_PASSING, &out), 0);
    CU_ASSERT_EQUAL(tb__thresh_apply(&t, TB_CHECK_PASSING, &out), 0);
    CU_ASSERT_EQUAL(tb__thresh_apply(&t, TB_CHECK_PASSING, &out), 1);
    CU_ASSERT_EQUAL(out, TB_CHECK_PASSING);
    /* One failure is withheld (warning defaults to critical's 2). */
    CU_ASSERT_EQUAL(tb__thresh_apply(&t, TB_CHECK_CRITICAL, &out), 0);
    CU_ASSERT_EQUAL(tb__thresh_apply(&t, TB_CHECK_CRITICAL, &out), 1);
    CU_ASSERT_EQUAL(out, TB_CHECK_CRITICAL);
    /* A success resets the failure count. */
    tb__thresh_t w = {0, 1, 3, 0, 0};
    CU_ASSERT_EQUAL(tb__thresh_apply(&w, TB_CHECK_CRITICAL, &out), 1);
    CU_ASSERT_EQUAL(out, TB_CHECK_WARNING);
    CU_ASSERT_EQUAL(tb__thresh_apply(&w, TB_CHECK_PASSING, &out), 1);
    CU_ASSERT_EQUAL(tb__thresh_apply(&w, TB_CHECK_CRITICAL, &out), 1);
    CU_ASSERT_EQUAL(out, TB_CHECK_WARNING);
    CU_ASSERT_EQUAL(tb__thresh_apply(&w, TB_CHECK_CRITICAL, &out), 1);
    CU_ASSERT_EQUAL(tb__thresh_apply(&w, TB_CHECK_CRITICAL, &out), 1);
    CU_ASSERT_EQUAL(out, TB_CHECK_CRITICAL);
    /* Defaults: every result goes through as is. */
    tb__thresh_t d = {0, -1, 0, 0, 0};
    CU_ASSERT_EQUAL(tb__thresh_apply(&d, TB_CHECK_WARNING, &out), 1);
    CU_ASSERT_EQUAL(out, TB_CHECK_WARNING);
    CU_ASSERT_EQUAL(tb__thresh_apply(&d, TB_CHECK_CRITICAL, &out), 1);
    CU_ASSERT_EQUAL(out, TB_CHECK_CRITICAL);
}

static void test_ae_scale(void)
{
    CU_ASSERT_EQUAL(tb__ae_interval_ms(60000, 1), 60000);
    CU_ASSERT_EQUAL(tb__ae_interval_ms(60000, 128), 60000);
    CU_ASSERT_EQUAL(tb__ae_interval_ms(60000, 129), 120000);
    CU_ASSERT_EQUAL(tb__ae_interval_ms(60000, 256), 120000);
    CU_ASSERT_EQUAL(tb__ae_interval_ms(60000, 257), 180000);
    CU_ASSERT_EQUAL(tb__ae_interval_ms(60000, 10000), 60000 * 8);
}

static void test_ttl(void)
{
    fx_t *f = fx_new(0, NULL);
    tb__checks_t *c = start(f);
    char *err = NULL;
    json_t *svc = J("{\"Name\":\"web\",\"Port\":80,\"Check\":{\"TTL\":\"600ms\"}}");
    CU_ASSERT_EQUAL(tb__local_service_register(c, svc, 0, &err), TB_OK);
    json_decref(svc);
    CU_ASSERT_STRING_EQUAL(check_field(c, "service:web", "Status"), "critical");
    CU_ASSERT_STRING_EQUAL(check_field(c, "service:web", "Type"), "ttl");
    CU_ASSERT_STRING_EQUAL(check_field(c, "service:web", "Name"), "Service 'web' check");
    CU_ASSERT_EQUAL(tb__local_check_update(c, "service:web", "passing", "all good", &err), TB_OK);
    CU_ASSERT_STRING_EQUAL(check_field(c, "service:web", "Status"), "passing");
    CU_ASSERT_STRING_EQUAL(check_field(c, "service:web", "Output"), "all good");
    /* Updates reset the timer: 8 x 100ms stays passing past one TTL. */
    for (int i = 0; i < 8; i++) {
        run_for(f, 100);
        CU_ASSERT_EQUAL(tb__local_check_update(c, "service:web", "passing", "all good", &err),
                        TB_OK);
    }
    CU_ASSERT_STRING_EQUAL(check_field(c, "service:web", "Status"), "passing");
    tb__checks_stats_t st;
    tb__checks_get_stats(c, &st);
    CU_ASSERT(st.check_writes_saved >= 3); /* same status, same output */
    run_for(f, 1500);
    CU_ASSERT_STRING_EQUAL(check_field(c, "service:web", "Status"), "critical");
    CU_ASSERT_STRING_EQUAL(check_field(c, "service:web", "Output"), "TTL expired");
    /* Unknown ID, bad status. */
    CU_ASSERT_EQUAL(tb__local_check_update(c, "nope", "passing", "", &err), TB_NOT_FOUND);
    free(err);
    err = NULL;
    CU_ASSERT_EQUAL(tb__local_check_update(c, "service:web", "bogus", "", &err), TB_BAD_REQUEST);
    free(err);
    err = NULL;
    /* Health aggregates the service's checks. */
    json_t *h = NULL;
    CU_ASSERT_EQUAL(tb__local_health_by_id(c, "web", &h, &err), TB_OK);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(h, "AggregatedStatus")), "critical");
    json_decref(h);
    CU_ASSERT_EQUAL(tb__local_health_by_id(c, "nope", &h, &err), TB_NOT_FOUND);
    free(err);
    err = NULL;
    fx_free(f);
}

static void test_maintenance(void)
{
    fx_t *f = fx_new(0, NULL);
    tb__checks_t *c = start(f);
    char *err = NULL;
    json_t *svc = J("{\"name\":\"db\",\"check\":{\"ttl\":\"10s\",\"status\":\"passing\"}}");
    CU_ASSERT_EQUAL(tb__local_service_register(c, svc, 0, &err), TB_OK);
    json_decref(svc);
    CU_ASSERT_EQUAL(tb__local_maintenance(c, "db", 1, "fixing", &err), TB_OK);
    CU_ASSERT_STRING_EQUAL(check_field(c, "_service_maintenance:db", "Status"), "critical");
    CU_ASSERT_STRING_EQUAL(check_field(c, "_service_maintenance:db", "Notes"), "fixing");
    json_t *h = NULL;
    CU_ASSERT_EQUAL(tb__local_health_by_id(c, "db", &h, &err), TB_OK);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(h, "AggregatedStatus")),
                           "maintenance");
    json_decref(h);
    /* Maintenance checks are not TTL checks. */
    CU_ASSERT_EQUAL(tb__local_check_update(c, "_service_maintenance:db", "passing", "", &err),
                    TB_INTERNAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "does not have associated TTL"));
    free(err);
    err = NULL;
    CU_ASSERT_EQUAL(tb__local_maintenance(c, "db", 0, NULL, &err), TB_OK);
    CU_ASSERT_STRING_EQUAL(check_field(c, "_service_maintenance:db", "Status"), "<none>");
    CU_ASSERT_EQUAL(tb__local_maintenance(c, "nope", 1, NULL, &err), TB_NOT_FOUND);
    free(err);
    err = NULL;
    CU_ASSERT_EQUAL(tb__local_maintenance(c, NULL, 1, NULL, &err), TB_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(check_field(c, "_node_maintenance", "Notes"), "no reason"));
    /* Deregistering a service takes its checks along. */
    CU_ASSERT_EQUAL(tb__local_service_deregister(c, "db", &err), TB_OK);
    CU_ASSERT_STRING_EQUAL(check_field(c, "service:db", "Status"), "<none>");
    CU_ASSERT_EQUAL(tb__local_service_deregister(c, "db", &err), TB_NOT_FOUND);
    free(err);
    fx_free(f);
}

static void test_gating(void)
{
    fx_t *f = fx_new(0, J("{\"enable_local_script_checks\":true}"));
    tb__checks_t *c = start(f);
    char *err = NULL;
    json_t *chk = J("{\"Name\":\"s\",\"Args\":[\"/bin/true\"],\"Interval\":\"10s\"}");
    /* Local script checks do not open the API. */
    CU_ASSERT_EQUAL(tb__local_check_register(c, chk, &err), TB_BAD_REQUEST);
    CU_ASSERT_PTR_NOT_NULL(err && strstr(err, "enable_script_checks"));
    free(err);
    err = NULL;
    json_decref(chk);
    chk = J("{\"Name\":\"x\",\"Bogus\":\"1\",\"Interval\":\"10s\"}");
    CU_ASSERT_EQUAL(tb__local_check_register(c, chk, &err), TB_BAD_REQUEST);
    CU_ASSERT_PTR_NOT_NULL(err && strstr(err, "unknown check type"));
    free(err);
    err = NULL;
    json_decref(chk);
    chk = J("{\"Name\":\"x\",\"TTL\":\"1s\",\"ServiceID\":\"missing\"}");
    CU_ASSERT_EQUAL(tb__local_check_register(c, chk, &err), TB_BAD_REQUEST);
    free(err);
    json_decref(chk);
    fx_free(f);
}

static void test_persistence(void)
{
    fx_t *f = fx_new(1, J("{\"services\":[{\"name\":\"cfgsvc\"}]}"));
    tb__checks_t *c = start(f);
    char *err = NULL;
    json_t *svc = J("{\"Name\":\"api\",\"ID\":\"api1\",\"Tags\":[\"a\"],\"Port\":9,"
                    "\"Checks\":[{\"TTL\":\"30s\"},{\"CheckID\":\"k2\",\"TTL\":\"30s\"}]}");
    CU_ASSERT_EQUAL(tb__local_service_register(c, svc, 0, &err), TB_OK);
    json_decref(svc);
    CU_ASSERT_EQUAL(tb__local_check_update(c, "service:api1:1", "warning", "slow", &err), TB_OK);
    CU_ASSERT_EQUAL(tb__local_maintenance(c, NULL, 1, "upgrade", &err), TB_OK);
    stop(f);
    char path[128];
    snprintf(path, sizeof path, "%s/local.json", f->dir);
    CU_ASSERT_EQUAL(access(path, R_OK), 0);

    /* A new agent over the same data_dir. */
    c = start(f);
    json_t *s = tb__checks_agent_services(c);
    CU_ASSERT_PTR_NOT_NULL(json_object_get(s, "api1"));
    CU_ASSERT_PTR_NOT_NULL(json_object_get(s, "cfgsvc"));
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(s, "api1"), "Port")), 9);
    json_decref(s);
    CU_ASSERT_STRING_EQUAL(check_field(c, "service:api1:1", "Status"), "warning");
    CU_ASSERT_STRING_EQUAL(check_field(c, "service:api1:1", "Output"), "slow");
    CU_ASSERT_STRING_EQUAL(check_field(c, "k2", "Status"), "critical");
    CU_ASSERT_STRING_EQUAL(check_field(c, "_node_maintenance", "Notes"), "upgrade");
    /* Deregistration is persisted too. */
    CU_ASSERT_EQUAL(tb__local_service_deregister(c, "api1", &err), TB_OK);
    stop(f);
    c = start(f);
    s = tb__checks_agent_services(c);
    CU_ASSERT_PTR_NULL(json_object_get(s, "api1"));
    json_decref(s);
    CU_ASSERT_STRING_EQUAL(check_field(c, "k2", "Status"), "<none>");
    fx_free(f);
}

static void test_reload(void)
{
    fx_t *f = fx_new(0, J("{\"services\":[{\"name\":\"a\",\"port\":1,\"check\":{\"ttl\":\"1m\"}},"
                          "{\"name\":\"b\"}],\"checks\":[{\"name\":\"n1\",\"ttl\":\"1m\"}]}"));
    tb__checks_t *c = start(f);
    char *err = NULL;
    json_t *svc = J("{\"Name\":\"api\",\"Check\":{\"TTL\":\"1m\"}}");
    CU_ASSERT_EQUAL(tb__local_service_register(c, svc, 0, &err), TB_OK);
    json_decref(svc);
    CU_ASSERT_EQUAL(tb__local_check_update(c, "service:a", "passing", "up", &err), TB_OK);
    /* b removed, a's check unchanged (keeps its state) but a's port changed,
     * c added, n1 changed. */
    fx_config(f, J("{\"services\":[{\"name\":\"a\",\"port\":2,\"check\":{\"ttl\":\"1m\"}},"
                   "{\"name\":\"c\"}],\"checks\":[{\"name\":\"n1\",\"ttl\":\"2m\"}]}"));
    CU_ASSERT_EQUAL(tb__checks_reload(c, &err), 0);
    json_t *s = tb__checks_agent_services(c);
    CU_ASSERT_PTR_NULL(json_object_get(s, "b"));
    CU_ASSERT_PTR_NOT_NULL(json_object_get(s, "c"));
    CU_ASSERT_PTR_NOT_NULL(json_object_get(s, "api"));
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(s, "a"), "Port")), 2);
    json_decref(s);
    CU_ASSERT_STRING_EQUAL(check_field(c, "service:a", "Status"), "passing");
    CU_ASSERT_STRING_EQUAL(check_field(c, "service:api", "Status"), "critical");
    CU_ASSERT_STRING_EQUAL(check_field(c, "n1", "Status"), "critical");
    /* A broken config changes nothing. */
    fx_config(f, J("{\"checks\":[{\"name\":\"z\",\"bogus\":\"1\",\"interval\":\"1s\"}]}"));
    CU_ASSERT_EQUAL(tb__checks_reload(c, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(err && strstr(err, "unknown check type"));
    free(err);
    s = tb__checks_agent_services(c);
    CU_ASSERT_PTR_NOT_NULL(json_object_get(s, "a"));
    json_decref(s);
    fx_free(f);
}


/* A check type whose probes answer from a script of statuses; "hang"
 * never answers (the core's timeout must fire). */
typedef struct fake {
    int n;
    const tb_check_status_t *seq;
    int len;
    tb_probe_t *hung[16]; /* answered at the end, as a plugin must */
    int nhung;
} fake_t;

static int fake_probe(void *arg, tb_probe_t *p, char **err)
{
    fake_t *f = arg;
    (void)err;
    const json_t *def = p->definition;
    if (json_is_true(json_object_get(def, "hang"))) {
        if (f->nhung < 16) f->hung[f->nhung++] = p;
        return 0;
    }
    tb_check_status_t st = f->seq[f->n < f->len ? f->n : f->len - 1];
    f->n++;
    char out[32];
    snprintf(out, sizeof out, "probe %d", f->n);
    tb__probe_done(p, st, out);
    return 0;
}

static void test_scheduler(void)
{
    static const tb_check_status_t seq[] = {TB_CHECK_PASSING, TB_CHECK_PASSING,
                                            TB_CHECK_PASSING, TB_CHECK_CRITICAL};
    fake_t fk = {0, seq, 4, {NULL}, 0};
    tb_plugin_t owner = {0};
    owner.name = (char *)"fakeplugin";
    tb__check_type_t type = {{sizeof(tb_check_type_desc_t), TB_CHECK_TYPE_DESC_VERSION, "fake",
                              "fake", NULL, fake_probe, &fk},
                             &owner};
    tb__plugins_t plugins = {0};
    plugins.check_types = &type;
    plugins.ncheck_types = 1;
    /* Interval below 1s is clamped to 1s; success_before_passing 2. */
    fx_t *f = fx_new(0, J("{\"checks\":[{\"name\":\"f\",\"fake\":true,\"interval\":\"100ms\","
                          "\"success_before_passing\":2},"
                          "{\"name\":\"h\",\"fake\":true,\"hang\":true,\"interval\":\"1s\","
                          "\"timeout\":\"200ms\"}]}"));
    f->a.plugins = &plugins;
    tb__checks_t *c = start(f);
    CU_ASSERT_STRING_EQUAL(check_field(c, "f", "Interval"), "1s");
    CU_ASSERT_STRING_EQUAL(check_field(c, "f", "Type"), "fake");
    /* Within the first second (stagger) one probe at most: still withheld. */
    int seen_withheld = 0;
    for (int i = 0; i < 28 && fk.n < 3; i++) {
        run_for(f, 100);
        if (fk.n == 1 && !strcmp(check_field(c, "f", "Status"), "critical")) seen_withheld = 1;
    }
    CU_ASSERT(seen_withheld);
    CU_ASSERT(fk.n >= 2);
    CU_ASSERT_STRING_EQUAL(check_field(c, "f", "Status"), "passing");
    CU_ASSERT_STRING_EQUAL(check_field(c, "h", "Status"), "critical");
    CU_ASSERT_PTR_NOT_NULL(strstr(check_field(c, "h", "Output"), "Timed out (200ms)"));
    tb__checks_stats_t st;
    tb__checks_get_stats(c, &st);
    CU_ASSERT(st.check_runs >= 3);
    CU_ASSERT(st.late_p99_ms <= 500); /* loose: valgrind runs this too */
    fx_free(f);
    /* Late answers after the timeout (and after the stop) are ignored. */
    for (int i = 0; i < fk.nhung; i++) tb__probe_done(fk.hung[i], TB_CHECK_PASSING, "late");
}

/* Output-only changes wait for check_update_interval; status changes and
 * stable results behave as edge-triggered. */
static void test_coalesce(void)
{
    fx_t *f = fx_new(0, J("{\"check_update_interval\":\"300ms\"}"));
    tb__checks_t *c = start(f);
    char *err = NULL;
    json_t *chk = J("{\"Name\":\"t\",\"TTL\":\"1m\"}");
    CU_ASSERT_EQUAL(tb__local_check_register(c, chk, &err), TB_OK);
    json_decref(chk);
    tb__checks_stats_t a, b;
    tb__local_check_update(c, "t", "passing", "v1", &err); /* status change: written */
    tb__checks_get_stats(c, &a);
    tb__local_check_update(c, "t", "passing", "v1", &err); /* stable: saved */
    tb__local_check_update(c, "t", "passing", "v2", &err); /* output only: deferred */
    tb__local_check_update(c, "t", "passing", "v3", &err);
    tb__checks_get_stats(c, &b);
    CU_ASSERT_EQUAL(b.catalog_writes, a.catalog_writes);
    CU_ASSERT_EQUAL(b.check_writes_saved - a.check_writes_saved, 3);
    run_for(f, 1500); /* the sweep pushes the latest output once */
    tb__checks_get_stats(c, &b);
    CU_ASSERT_EQUAL(b.catalog_writes, a.catalog_writes + 1);
    tb__local_check_update(c, "t", "warning", "v3", &err); /* status change: at once */
    tb__checks_get_stats(c, &b);
    CU_ASSERT_EQUAL(b.catalog_writes, a.catalog_writes + 2);
    fx_free(f);
}

/* deregister_critical_service_after: clamped to 1m; the reaper removes the
 * service once its check has been critical that long (the test moves the
 * check's critical_since back instead of waiting a minute). */
static void test_reaper(void)
{
    fx_t *f = fx_new(0, NULL);
    tb__checks_t *c = start(f);
    char *err = NULL;
    json_t *svc = J("{\"Name\":\"doomed\",\"Check\":{\"TTL\":\"1m\",\"Status\":\"passing\","
                    "\"DeregisterCriticalServiceAfter\":\"10s\"}}");
    CU_ASSERT_EQUAL(tb__local_service_register(c, svc, 0, &err), TB_OK);
    json_decref(svc);
    svc = J("{\"Name\":\"kept\",\"Check\":{\"TTL\":\"1m\"}}");
    CU_ASSERT_EQUAL(tb__local_service_register(c, svc, 0, &err), TB_OK);
    json_decref(svc);
    tb__check_t *k = tb__checks_find(c, "service:doomed", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(k);
    CU_ASSERT_EQUAL(k->dereg_ms, 60000);
    tb__sync_reap(c); /* passing: nothing happens */
    CU_ASSERT_PTR_NOT_NULL(tb__checks_find(c, "service:doomed", NULL));
    CU_ASSERT_EQUAL(tb__local_check_update(c, "service:doomed", "critical", "x", &err), TB_OK);
    CU_ASSERT(k->critical_since != 0);
    tb__sync_reap(c); /* critical, but not for a minute yet */
    CU_ASSERT_PTR_NOT_NULL(tb__checks_find(c, "service:doomed", NULL));
    uv_update_time(&f->a.loop);
    k->critical_since = 1;
    f->a.loop.time += 61000; /* a minute later */
    tb__sync_reap(c);
    json_t *s = tb__checks_agent_services(c);
    CU_ASSERT_PTR_NULL(json_object_get(s, "doomed"));
    CU_ASSERT_PTR_NOT_NULL(json_object_get(s, "kept")); /* critical, but no deadline */
    json_decref(s);
    CU_ASSERT_PTR_NULL(tb__checks_find(c, "service:doomed", NULL));
    fx_free(f);
}

static void test_output_limits(void)
{
    fx_t *f = fx_new(0, J("{\"check_output_max_size\":8}"));
    tb__checks_t *c = start(f);
    char *err = NULL;
    json_t *chk = J("{\"Name\":\"t\",\"TTL\":\"1m\"}");
    CU_ASSERT_EQUAL(tb__local_check_register(c, chk, &err), TB_OK);
    json_decref(chk);
    chk = J("{\"Name\":\"u\",\"TTL\":\"1m\",\"OutputMaxSize\":3}");
    CU_ASSERT_EQUAL(tb__local_check_register(c, chk, &err), TB_OK);
    json_decref(chk);
    tb__local_check_update(c, "t", "passing", "0123456789abcdef", &err);
    CU_ASSERT_STRING_EQUAL(check_field(c, "t", "Output"), "Captured 8 of 16 bytes\n...\n89abcdef");
    tb__local_check_update(c, "u", "passing", "hello", &err);
    CU_ASSERT_STRING_EQUAL(check_field(c, "u", "Output"), "Captured 3 of 5 bytes\n...\nllo");
    fx_free(f);
    f = fx_new(0, J("{\"discard_check_output\":true}"));
    c = start(f);
    chk = J("{\"Name\":\"t\",\"TTL\":\"1m\"}");
    CU_ASSERT_EQUAL(tb__local_check_register(c, chk, &err), TB_OK);
    json_decref(chk);
    tb__local_check_update(c, "t", "passing", "noise", &err);
    CU_ASSERT_STRING_EQUAL(check_field(c, "t", "Output"), "");
    CU_ASSERT_STRING_EQUAL(check_field(c, "t", "Status"), "passing");
    fx_free(f);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("agent-local", NULL, NULL);
    CU_add_test(s, "thresholds", test_thresholds);
    CU_add_test(s, "ae_scale", test_ae_scale);
    CU_add_test(s, "ttl", test_ttl);
    CU_add_test(s, "maintenance", test_maintenance);
    CU_add_test(s, "script_gating_and_unknown_type", test_gating);
    CU_add_test(s, "persistence", test_persistence);
    CU_add_test(s, "reload", test_reload);
    CU_add_test(s, "scheduler_thresholds_timeout", test_scheduler);
    CU_add_test(s, "output_coalescing", test_coalesce);
    CU_add_test(s, "deregister_critical_reaper", test_reaper);
    CU_add_test(s, "output_limits", test_output_limits);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
