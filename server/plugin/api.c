/*
 * api.c - the tb_api_t table handed to every plugin's tb_plugin_init, and
 * the functions behind it. Each entry checks its arguments and routes to
 * the owning core module (endpoint layer, check scheduler, logger, loop);
 * registrations are accepted only while the plugin's init runs.
 */
#include "tb_autoconf.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "plugin/plugin.h"
#include "agent/agent.h"
#include "agent/checks.h"
#include "endpoint/endpoint.h"

struct tb_timer {
    uv_timer_t handle;
    tb_timer_cb cb;
    void *arg;
    int repeat;
};

static uv_loop_t *api_loop(tb_plugin_t *self) { return &self->agent->loop; }
static const char *api_name(tb_plugin_t *self) { return self->name; }
static const json_t *api_config(tb_plugin_t *self) { return self->config; }
static const json_t *api_agent_config(tb_plugin_t *self) { return self->agent->config->merged; }

static const char *api_config_origin(tb_plugin_t *self, const char *key)
{
    const json_t *o = key ? json_object_get(self->agent->config->origins, key) : NULL;
    return json_is_string(o) ? json_string_value(o) : "defaults";
}

static void api_vlog(tb_plugin_t *self, tb_log_level_t level, const char *fmt, va_list ap)
{
    tb__vlog(&self->agent->log, level, self->name, fmt, ap);
}

static void api_log(tb_plugin_t *self, tb_log_level_t level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    api_vlog(self, level, fmt, ap);
    va_end(ap);
}

static int api_log_enabled(tb_plugin_t *self, tb_log_level_t level)
{
    return TB__LOG_ENABLED(&self->agent->log, level);
}

/* Registration is refused outside init and for descriptors of an unknown
 * (newer) layout, with a log line naming the plugin. */
static int reg_allowed(tb_plugin_t *self, const char *what, uint32_t size, size_t min_size,
                       uint32_t version, uint32_t max_version)
{
    if (!self->in_init) {
        tb__log(&self->agent->log, TB_LOG_ERROR, "agent",
                "plugin %s: %s must be called from tb_plugin_init", self->name, what);
        return -1;
    }
    if (size < min_size || version == 0 || version > max_version) {
        tb__log(&self->agent->log, TB_LOG_ERROR, "agent",
                "plugin %s: %s: descriptor version %u (size %u) is not supported (core knows %u)",
                self->name, what, version, size, max_version);
        return -1;
    }
    return 0;
}

static int api_set_ops(tb_plugin_t *self, const tb_plugin_ops_t *ops)
{
    if (!ops || reg_allowed(self, "set_ops", ops->size, sizeof(tb_plugin_ops_t), ops->version,
                            TB_PLUGIN_OPS_VERSION) != 0)
        return -1;
    self->ops = *ops;
    return 0;
}

#define APPEND(arr, n, item)                                                   \
    do {                                                                       \
        void *np_ = realloc((arr), ((n) + 1) * sizeof(*(arr)));                \
        if (!np_) return -1;                                                   \
        (arr) = np_;                                                           \
        (arr)[(n)++] = (item);                                                 \
    } while (0)

static int api_register_surface(tb_plugin_t *self, const tb_surface_desc_t *d)
{
    if (!d || reg_allowed(self, "register_surface", d->size, sizeof(*d), d->version,
                          TB_SURFACE_DESC_VERSION) != 0 || !d->name)
        return -1;
    tb__plugins_t *p = self->agent->plugins;
    for (size_t i = 0; i < p->nsurfaces; i++)
        if (strcmp(p->surfaces[i].desc.name, d->name) == 0) {
            tb__log(&self->agent->log, TB_LOG_ERROR, "agent",
                    "plugin %s: surface \"%s\" is already provided by plugin %s", self->name,
                    d->name, p->surfaces[i].owner->name);
            return -1;
        }
    tb__surface_t s = {*d, self};
    APPEND(p->surfaces, p->nsurfaces, s);
    return 0;
}

static int api_register_check_type(tb_plugin_t *self, const tb_check_type_desc_t *d)
{
    if (!d || reg_allowed(self, "register_check_type", d->size, sizeof(*d), d->version,
                          TB_CHECK_TYPE_DESC_VERSION) != 0 || !d->name || !d->config_key ||
        !d->probe)
        return -1;
    tb__plugins_t *p = self->agent->plugins;
    for (size_t i = 0; i < p->ncheck_types; i++)
        if (strcasecmp(p->check_types[i].desc.config_key, d->config_key) == 0) {
            tb__log(&self->agent->log, TB_LOG_ERROR, "agent",
                    "plugin %s: check key \"%s\" is already claimed by plugin %s", self->name,
                    d->config_key, p->check_types[i].owner->name);
            return -1;
        }
    tb__check_type_t t = {*d, self};
    APPEND(p->check_types, p->ncheck_types, t);
    return 0;
}

static int api_register_handler_type(tb_plugin_t *self, const tb_handler_type_desc_t *d)
{
    if (!d || reg_allowed(self, "register_handler_type", d->size, sizeof(*d), d->version,
                          TB_HANDLER_TYPE_DESC_VERSION) != 0 || !d->name || !d->run)
        return -1;
    tb__plugins_t *p = self->agent->plugins;
    for (size_t i = 0; i < p->nhandler_types; i++)
        if (strcmp(p->handler_types[i].desc.name, d->name) == 0) {
            tb__log(&self->agent->log, TB_LOG_ERROR, "agent",
                    "plugin %s: handler type \"%s\" is already provided by plugin %s",
                    self->name, d->name, p->handler_types[i].owner->name);
            return -1;
        }
    tb__handler_type_t h = {*d, self};
    APPEND(p->handler_types, p->nhandler_types, h);
    return 0;
}

static void timer_closed(uv_handle_t *h) { free(h->data); }

static void timer_fire(uv_timer_t *h)
{
    struct tb_timer *t = h->data;
    int oneshot = !t->repeat;
    t->cb(t->arg);
    /* A one-shot timer is spent: free it unless the callback stopped it. */
    if (oneshot && !uv_is_closing((uv_handle_t *)&t->handle))
        uv_close((uv_handle_t *)&t->handle, timer_closed);
}

static tb_timer_t *api_timer_start(tb_plugin_t *self, uint64_t timeout_ms, uint64_t repeat_ms,
                                   tb_timer_cb cb, void *arg)
{
    if (!cb) return NULL;
    struct tb_timer *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    t->cb = cb;
    t->arg = arg;
    t->repeat = repeat_ms != 0;
    uv_timer_init(&self->agent->loop, &t->handle);
    t->handle.data = t;
    uv_timer_start(&t->handle, timer_fire, timeout_ms, repeat_ms);
    return t;
}

static void api_timer_stop(tb_timer_t *t)
{
    if (t && !uv_is_closing((uv_handle_t *)&t->handle)) {
        uv_timer_stop(&t->handle);
        uv_close((uv_handle_t *)&t->handle, timer_closed);
    }
}

static uint64_t api_now_ms(tb_plugin_t *self) { return uv_now(&self->agent->loop); }

static tb_call_t *api_call(tb_plugin_t *self, const char *method, json_t *args,
                           const tb_query_opts_t *opts, tb_result_cb cb, void *arg)
{
    if (!method || !cb) return NULL;
    return tb__endpoint_call(self->agent->endpoint, method, args, opts, cb, arg);
}

static tb_call_t *api_kv_read(tb_plugin_t *self, const tb_kv_read_t *req,
                              const tb_query_opts_t *opts, tb_result_cb cb, void *arg)
{
    if (!req || !cb) return NULL;
    return tb__endpoint_kv_read(self->agent->endpoint, req, opts, cb, arg);
}

static tb_call_t *api_kv_write(tb_plugin_t *self, const tb_kv_write_t *req,
                               const tb_query_opts_t *opts, tb_result_cb cb, void *arg)
{
    if (!req || !cb) return NULL;
    return tb__endpoint_kv_write(self->agent->endpoint, req, opts, cb, arg);
}

static tb_call_t *api_catalog_read(tb_plugin_t *self, const tb_catalog_read_t *req,
                                   const tb_query_opts_t *opts, tb_result_cb cb, void *arg)
{
    if (!req || !cb) return NULL;
    tb_call_t *c = tb__endpoint_catalog_read(self->agent->endpoint, req, opts, cb, arg);
    if (!c && req->size >= sizeof(uint32_t) + sizeof(tb_catalog_read_kind_t) &&
        (unsigned)req->kind > TB_CATALOG_NODES)
        tb__log(&self->agent->log, TB_LOG_ERROR, "agent",
                "plugin %s: catalog_read: unknown kind %d", self->name, (int)req->kind);
    return c;
}

static void api_call_cancel(tb_call_t *call)
{
    if (call) tb__endpoint_cancel(call);
}

static const json_t *api_probe_definition(tb_probe_t *p) { return p->definition; }
static uint64_t api_probe_timeout_ms(tb_probe_t *p) { return p->timeout_ms; }
static const json_t *api_handler_definition(tb_handler_run_t *r) { return r->definition; }
static const json_t *api_handler_input(tb_handler_run_t *r) { return r->input; }
static uint64_t api_handler_index(tb_handler_run_t *r) { return r->index; }

static uint64_t api_kv_max_value_size(tb_plugin_t *self)
{
    return self->agent->config->kv_max_value_size;
}

static tb_log_watch_t *api_log_watch(tb_plugin_t *self, tb_log_level_t level, tb_log_line_cb cb,
                                     void *arg)
{
    if (!self || !cb) return NULL;
    return (tb_log_watch_t *)tb__log_watch_add(&self->agent->log, level, cb, arg);
}

static void api_log_unwatch(tb_plugin_t *self, tb_log_watch_t *w)
{
    if (self && w) tb__log_watch_remove(&self->agent->log, (tb__log_watch_t *)w);
}

static const tb_api_t api_table = {
    .size = sizeof(tb_api_t),
    .sdk_major = TB_SDK_MAJOR,
    .sdk_minor = TB_SDK_MINOR,
    .loop = api_loop,
    .name = api_name,
    .config = api_config,
    .agent_config = api_agent_config,
    .config_origin = api_config_origin,
    .log = api_log,
    .vlog = api_vlog,
    .log_enabled = api_log_enabled,
    .set_ops = api_set_ops,
    .register_surface = api_register_surface,
    .register_check_type = api_register_check_type,
    .register_handler_type = api_register_handler_type,
    .timer_start = api_timer_start,
    .timer_stop = api_timer_stop,
    .now_ms = api_now_ms,
    .call = api_call,
    .kv_read = api_kv_read,
    .kv_write = api_kv_write,
    .call_cancel = api_call_cancel,
    .probe_definition = api_probe_definition,
    .probe_timeout_ms = api_probe_timeout_ms,
    .probe_done = tb__probe_done,
    .handler_definition = api_handler_definition,
    .handler_input = api_handler_input,
    .handler_index = api_handler_index,
    .handler_done = tb__handler_done,
    .kv_max_value_size = api_kv_max_value_size,
    .parse_duration = tb__parse_duration,
    .base64_encode = tb__base64_encode,
    .base64_decode = tb__base64_decode,
    .log_watch = api_log_watch,
    .log_unwatch = api_log_unwatch,
    .catalog_read = api_catalog_read,
};

const tb_api_t *tb__api_table(void) { return &api_table; }
