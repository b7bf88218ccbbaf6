/*
 * good_plugin.c - test plugin that does everything right: registers a
 * surface, a check type and a handler type, sets lifecycle ops, and logs
 * each lifecycle call so the loader test can count them from the log
 * (the plugin keeps no state of its own). plugin_config.good may ask it to
 * fail: {"fail_start": true} or {"fail_reload": true}. A check definition with
 * {"good_probe": "pass"} passes.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <tribune/plugin.h>

/* Built twice: as "good" and, with -DGOOD_NAME='"good2"', as a second
 * plugin so the test can see the order of start and stop. */
#ifndef GOOD_NAME
#define GOOD_NAME "good"
#endif
/* Mixed case on purpose: check keys match case-insensitively. */
#ifndef GOOD_KEY
#define GOOD_KEY "Good_Probe"
#endif

TB_PLUGIN_MAGIC(GOOD_NAME, "1.2.3")

static int config_true(tb_plugin_t *self, const tb_api_t *api, const char *key)
{
    return json_is_true(json_object_get(api->config(self), key));
}

static int good_start(tb_plugin_t *self, void *arg, char **errmsg)
{
    const tb_api_t *api = arg;
    api->log(self, TB_LOG_INFO, "start called");
    if (config_true(self, api, "fail_start")) {
        *errmsg = strdup("asked to fail by plugin_config." GOOD_NAME ".fail_start");
        return -1;
    }
    return 0;
}

static int good_reload(tb_plugin_t *self, void *arg, char **errmsg)
{
    const tb_api_t *api = arg;
    const char *greeting = json_string_value(json_object_get(api->config(self), "greeting"));
    api->log(self, TB_LOG_INFO, "reload called, greeting=%s", greeting ? greeting : "(none)");
    if (config_true(self, api, "fail_reload")) {
        *errmsg = strdup("asked to fail by plugin_config." GOOD_NAME ".fail_reload");
        return -1;
    }
    return 0;
}

static void good_stop(tb_plugin_t *self, void *arg)
{
    const tb_api_t *api = arg;
    api->log(self, TB_LOG_INFO, "stop called");
}

/* The definition's value under our (lowercased) key. */
static const char *probe_value(const json_t *def)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)def, key, v) {
        if (strcasecmp(key, GOOD_KEY) == 0) return json_string_value(v);
    }
    return NULL;
}

/* {"good_probe": "pass"} passes, any other string is critical. */
static int good_validate(void *arg, const json_t *def, char **errmsg)
{
    (void)arg;
    if (!probe_value(def)) {
        *errmsg = strdup(GOOD_KEY ": expected a string");
        return -1;
    }
    return 0;
}

static int good_probe(void *arg, tb_probe_t *probe, char **errmsg)
{
    (void)errmsg;
    const tb_api_t *api = arg;
    const char *want = probe_value(api->probe_definition(probe));
    int pass = want && strcmp(want, "pass") == 0;
    api->probe_done(probe, pass ? TB_CHECK_PASSING : TB_CHECK_CRITICAL,
                    pass ? "good probe passed" : "good probe failed");
    return 0;
}

static int good_run(void *arg, tb_handler_run_t *run, char **errmsg)
{
    (void)errmsg;
    const tb_api_t *api = arg;
    api->handler_done(run, 0);
    return 0;
}

TB_EXPORT int tb_plugin_init(tb_plugin_t *self, const tb_api_t *api, char **errmsg)
{
    void *arg = (void *)api; /* the table is our only context */
    const char *greeting = json_string_value(json_object_get(api->config(self), "greeting"));
    api->log(self, TB_LOG_INFO, "init called, greeting=%s", greeting ? greeting : "(none)");

    tb_plugin_ops_t ops = {sizeof(ops), TB_PLUGIN_OPS_VERSION, good_start, good_reload,
                           good_stop, arg};
    tb_surface_desc_t surface = {sizeof(surface), TB_SURFACE_DESC_VERSION, GOOD_NAME,
                                 "test surface"};
    tb_check_type_desc_t check = {sizeof(check), TB_CHECK_TYPE_DESC_VERSION, GOOD_NAME,
                                  GOOD_KEY, good_validate, good_probe, arg};
    tb_handler_type_desc_t handler = {sizeof(handler), TB_HANDLER_TYPE_DESC_VERSION, GOOD_NAME,
                                      NULL, good_run, arg};
    if (api->set_ops(self, &ops) != 0 || api->register_surface(self, &surface) != 0 ||
        api->register_check_type(self, &check) != 0 ||
        api->register_handler_type(self, &handler) != 0) {
        *errmsg = strdup("registration refused");
        return -1;
    }
    return 0;
}
