/*
 * fakeapi.c - the stand-in agent of the http plugin's socket tests (see
 * fakeapi.h). It keeps the SDK's promises that matter to a surface:
 * callbacks run on a later loop iteration, exactly once unless cancelled;
 * blocking reads wait while the index is <= min_index and wake on writes;
 * results are borrowed for the duration of the callback.
 */
#include "fakeapi.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config/tb_config.h"

struct fake_call {
    fake_call_t *next, *prev;
    fake_core_t *core;
    uv_timer_t timer;
    tb_result_cb cb;
    void *arg;
    int kind; /* 0 generic, 1 kv read, 2 kv write */
    tb_query_opts_t opts;
    tb_kv_read_mode_t mode;
    char *key;
    char *sep;
    tb_kv_write_t wr;
    void *value;
    char *session;
    int blocking;
};

static fake_core_t *core_of(tb_plugin_t *self)
{
    return self->core;
}

/* ------------------------------------------------------------ basics */

static uv_loop_t *f_loop(tb_plugin_t *self)
{
    return &core_of(self)->loop;
}

static const char *f_name(tb_plugin_t *self)
{
    (void)self;
    return "http";
}

static const json_t *f_config(tb_plugin_t *self)
{
    return core_of(self)->own_cfg;
}

static const json_t *f_agent_config(tb_plugin_t *self)
{
    return core_of(self)->agent_cfg;
}

static const char *f_config_origin(tb_plugin_t *self, const char *key)
{
    (void)self;
    return strcmp(key, "plugin_config") == 0 || strcmp(key, "ports") == 0 ? "/etc/test.json"
                                                                        : "defaults";
}

static void f_vlog(tb_plugin_t *self, tb_log_level_t level, const char *fmt, va_list ap)
{
    fake_core_t *c = core_of(self);
    char line[1024];
    vsnprintf(line, sizeof(line), fmt, ap);
    if (getenv("TBH_TEST_VERBOSE"))
        fprintf(stderr, "[%d] %s\n", (int)level, line);
    pthread_mutex_lock(&c->mu);
    size_t used = strlen(c->log);
    if (used + strlen(line) + 2 < sizeof(c->log)) {
        strcat(c->log, line);
        strcat(c->log, "\n");
    }
    pthread_mutex_unlock(&c->mu);
}

static void f_log(tb_plugin_t *self, tb_log_level_t level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    f_vlog(self, level, fmt, ap);
    va_end(ap);
}

static int f_log_enabled(tb_plugin_t *self, tb_log_level_t level)
{
    (void)self;
    (void)level;
    return 1; /* exercise the plugin's debug request log */
}

static int f_set_ops(tb_plugin_t *self, const tb_plugin_ops_t *ops)
{
    fake_core_t *c = core_of(self);
    c->ops = *ops;
    c->has_ops = 1;
    return 0;
}

static int f_register_surface(tb_plugin_t *self, const tb_surface_desc_t *d)
{
    fake_core_t *c = core_of(self);
    if (d->size != sizeof(*d) || d->version != TB_SURFACE_DESC_VERSION || strcmp(d->name, "http"))
        return -1;
    c->has_surface = 1;
    return 0;
}

static int f_register_other(tb_plugin_t *self, const void *d)
{
    (void)self;
    (void)d;
    return -1;
}

static int f_register_check_type(tb_plugin_t *self, const tb_check_type_desc_t *d)
{
    return f_register_other(self, d);
}

static int f_register_handler_type(tb_plugin_t *self, const tb_handler_type_desc_t *d)
{
    return f_register_other(self, d);
}

static tb_timer_t *f_timer_start(tb_plugin_t *self, uint64_t t, uint64_t r, tb_timer_cb cb,
                                 void *arg)
{
    (void)self, (void)t, (void)r, (void)cb, (void)arg;
    return NULL;
}

static void f_timer_stop(tb_timer_t *t)
{
    (void)t;
}

static uint64_t f_now_ms(tb_plugin_t *self)
{
    return uv_now(&core_of(self)->loop);
}


static char *f_b64enc(const void *d, size_t n)
{
    (void)d, (void)n;
    return NULL;
}

static int f_b64dec(const char *s, size_t n, void **o, size_t *ol)
{
    (void)s, (void)n, (void)o, (void)ol;
    return -1;
}

static uint64_t f_kv_max(tb_plugin_t *self)
{
    return core_of(self)->kv_max;
}

/* ------------------------------------------------------------ the KV store */

static fake_kv_t *kv_find(fake_core_t *c, const char *key, size_t *pos)
{
    size_t i = 0;
    for (; i < c->nkv; i++) {
        int cmp = strcmp(c->kv[i].key, key);
        if (cmp == 0) {
            if (pos)
                *pos = i;
            return &c->kv[i];
        }
        if (cmp > 0)
            break;
    }
    if (pos)
        *pos = i;
    return NULL;
}

static void kv_remove(fake_core_t *c, size_t i)
{
    free(c->kv[i].key);
    free(c->kv[i].value);
    free(c->kv[i].session);
    memmove(&c->kv[i], &c->kv[i + 1], (c->nkv - i - 1) * sizeof(c->kv[0]));
    c->nkv--;
}

static fake_kv_t *kv_upsert(fake_core_t *c, const char *key)
{
    size_t pos;
    fake_kv_t *e = kv_find(c, key, &pos);
    if (e || c->nkv == FAKE_MAX_KV)
        return e;
    memmove(&c->kv[pos + 1], &c->kv[pos], (c->nkv - pos) * sizeof(c->kv[0]));
    c->nkv++;
    e = &c->kv[pos];
    memset(e, 0, sizeof(*e));
    e->key = strdup(key);
    e->create_index = c->index + 1;
    return e;
}

static void kv_set_value(fake_kv_t *e, const tb_kv_write_t *w, const void *value)
{
    free(e->value);
    e->value = NULL;
    e->len = w->value_len;
    if (w->value_len) {
        e->value = malloc(w->value_len);
        memcpy(e->value, value, w->value_len);
    }
    e->flags = w->flags;
}

/* Apply a write; returns applied. Caller holds mu. */
static int kv_apply(fake_core_t *c, fake_call_t *fc)
{
    tb_kv_write_t *w = &fc->wr;
    size_t pos;
    fake_kv_t *e = kv_find(c, fc->key, &pos);
    int applied = 1;
    switch (w->verb) {
    case TB_KV_CAS:
        if (w->index == 0 ? e != NULL : (!e || e->modify_index != w->index)) {
            applied = 0;
            break;
        }
        /* fallthrough */
    case TB_KV_SET:
        e = kv_upsert(c, fc->key);
        kv_set_value(e, w, fc->value);
        break;
    case TB_KV_LOCK:
        if (e && e->session && strcmp(e->session, fc->session) != 0) {
            applied = 0;
            break;
        }
        e = kv_upsert(c, fc->key);
        kv_set_value(e, w, fc->value);
        if (!e->session) {
            e->session = strdup(fc->session);
            e->lock_index++;
        }
        break;
    case TB_KV_UNLOCK:
        if (!e || !e->session || strcmp(e->session, fc->session) != 0) {
            applied = 0;
            break;
        }
        kv_set_value(e, w, fc->value);
        free(e->session);
        e->session = NULL;
        break;
    case TB_KV_DELETE:
        if (e)
            kv_remove(c, pos);
        e = NULL;
        break;
    case TB_KV_DELETE_CAS:
        if (!e || e->modify_index != w->index) {
            applied = 0;
            break;
        }
        kv_remove(c, pos);
        e = NULL;
        break;
    case TB_KV_DELETE_TREE:
        for (size_t i = 0; i < c->nkv;) {
            if (strncmp(c->kv[i].key, fc->key, strlen(fc->key)) == 0)
                kv_remove(c, i);
            else
                i++;
        }
        e = NULL;
        break;
    }
    if (applied) {
        c->index++;
        if (e)
            e->modify_index = c->index;
    }
    return applied;
}

/* ------------------------------------------------------------ calls */

static void call_unlink(fake_core_t *c, fake_call_t *fc)
{
    if (fc->prev)
        fc->prev->next = fc->next;
    else
        c->calls = fc->next;
    if (fc->next)
        fc->next->prev = fc->prev;
    fc->next = fc->prev = NULL;
}

static void call_free(uv_handle_t *h)
{
    fake_call_t *fc = h->data;
    free(fc->key);
    free(fc->sep);
    free(fc->value);
    free(fc->session);
    free(fc);
}

static void fire(uv_timer_t *t);

/* A write wakes every blocked KV read (spurious wake-ups are legal). */
static void wake_blocked(fake_core_t *c)
{
    for (fake_call_t *fc = c->calls; fc; fc = fc->next)
        if (fc->blocking && fc->kind == 1)
            uv_timer_start(&fc->timer, fire, 0, 0);
}

static void fire(uv_timer_t *t)
{
    fake_call_t *fc = t->data;
    fake_core_t *c = fc->core;
    tb_result_t r;
    memset(&r, 0, sizeof(r));
    r.known_leader = 1;
    r.effective_consistency = fc->opts.consistency;
    json_t *owned = NULL;
    tb_kv_entry_t *rows = NULL;

    pthread_mutex_lock(&c->mu);
    call_unlink(c, fc);
    c->completed_calls++;
    if (fc->kind == 0) {
        r.status = c->next_status;
        r.error = c->next_error;
        r.json = c->next_result;
        r.index = c->next_index;
    } else if (fc->kind == 2) {
        r.applied = kv_apply(c, fc);
        r.status = TB_OK;
        wake_blocked(c);
    } else if (fc->mode == TB_KV_KEYS) {
        owned = json_array();
        size_t plen = strlen(fc->key);
        for (size_t i = 0; i < c->nkv; i++) {
            const char *k = c->kv[i].key;
            if (strncmp(k, fc->key, plen) != 0)
                continue;
            size_t klen = strlen(k);
            if (fc->sep && *fc->sep) {
                const char *s = strstr(k + plen, fc->sep);
                if (s)
                    klen = (size_t)(s - k) + strlen(fc->sep);
            }
            json_t *name = json_stringn(k, klen);
            size_t n = json_array_size(owned);
            if (n && json_equal(json_array_get(owned, n - 1), name))
                json_decref(name);
            else
                json_array_append_new(owned, name);
        }
        r.json = owned;
        r.status = json_array_size(owned) || !*fc->key ? TB_OK : TB_NOT_FOUND;
    } else {
        rows = calloc(c->nkv + 1, sizeof(*rows));
        size_t plen = strlen(fc->key);
        for (size_t i = 0; i < c->nkv; i++) {
            const fake_kv_t *e = &c->kv[i];
            int match = fc->mode == TB_KV_GET ? strcmp(e->key, fc->key) == 0
                                              : strncmp(e->key, fc->key, plen) == 0;
            if (!match)
                continue;
            rows[r.kv_count++] = (tb_kv_entry_t){e->key,          e->value,        e->len,
                                                 e->flags,        e->lock_index,   e->create_index,
                                                 e->modify_index, e->session};
        }
        r.kv = rows;
        r.status = r.kv_count ? TB_OK : TB_NOT_FOUND;
    }
    if (!r.index)
        r.index = c->index ? c->index : 1;
    pthread_mutex_unlock(&c->mu);

    fc->cb(fc->arg, &r);
    json_decref(owned);
    free(rows);
    uv_close((uv_handle_t *)&fc->timer, call_free);
}

static fake_call_t *call_new(fake_core_t *c, int kind, const tb_query_opts_t *opts,
                             tb_result_cb cb, void *arg)
{
    fake_call_t *fc = calloc(1, sizeof(*fc));
    fc->core = c;
    fc->kind = kind;
    fc->cb = cb;
    fc->arg = arg;
    if (opts)
        fc->opts = *opts;
    fc->opts.token = NULL; /* the plugin's strings are not ours to keep */
    fc->opts.datacenter = NULL;
    uv_timer_init(&c->loop, &fc->timer);
    fc->timer.data = fc;
    return fc;
}

static void call_go(fake_core_t *c, fake_call_t *fc, uint64_t current)
{
    uint64_t delay = 0;
    if (fc->opts.min_index && fc->opts.min_index >= current) {
        fc->blocking = 1;
        delay = fc->opts.wait_ms ? fc->opts.wait_ms : 300000;
    }
    fc->next = c->calls;
    if (c->calls)
        c->calls->prev = fc;
    c->calls = fc;
    c->started_calls++;
    uv_timer_start(&fc->timer, fire, delay, 0);
}

static void record_opts(fake_core_t *c, const tb_query_opts_t *opts)
{
    c->last_opts = *opts;
    snprintf(c->last_token, sizeof(c->last_token), "%s", opts->token ? opts->token : "");
    snprintf(c->last_dc, sizeof(c->last_dc), "%s", opts->datacenter ? opts->datacenter : "");
    c->last_opts.token = NULL;
    c->last_opts.datacenter = NULL;
}

static tb_call_t *f_call(tb_plugin_t *self, const char *method, json_t *args,
                         const tb_query_opts_t *opts, tb_result_cb cb, void *arg)
{
    fake_core_t *c = core_of(self);
    fake_call_t *fc = call_new(c, 0, opts, cb, arg);
    pthread_mutex_lock(&c->mu);
    snprintf(c->last_method, sizeof(c->last_method), "%s", method);
    free(c->last_args);
    c->last_args = json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY);
    record_opts(c, opts);
    call_go(c, fc, c->next_index ? c->next_index : c->index);
    pthread_mutex_unlock(&c->mu);
    return (tb_call_t *)fc;
}

static tb_call_t *f_kv_read(tb_plugin_t *self, const tb_kv_read_t *req,
                            const tb_query_opts_t *opts, tb_result_cb cb, void *arg)
{
    fake_core_t *c = core_of(self);
    fake_call_t *fc = call_new(c, 1, opts, cb, arg);
    fc->mode = req->mode;
    fc->key = strdup(req->key);
    fc->sep = req->separator ? strdup(req->separator) : NULL;
    pthread_mutex_lock(&c->mu);
    snprintf(c->last_method, sizeof(c->last_method), "KVS.Read/%d", (int)req->mode);
    record_opts(c, opts);
    call_go(c, fc, c->index);
    pthread_mutex_unlock(&c->mu);
    return (tb_call_t *)fc;
}

static tb_call_t *f_kv_write(tb_plugin_t *self, const tb_kv_write_t *req,
                             const tb_query_opts_t *opts, tb_result_cb cb, void *arg)
{
    fake_core_t *c = core_of(self);
    fake_call_t *fc = call_new(c, 2, opts, cb, arg);
    fc->wr = *req;
    fc->key = strdup(req->key);
    if (req->value_len) {
        fc->value = malloc(req->value_len);
        memcpy(fc->value, req->value, req->value_len);
    }
    fc->session = req->session ? strdup(req->session) : NULL;
    fc->opts.min_index = 0;
    pthread_mutex_lock(&c->mu);
    snprintf(c->last_method, sizeof(c->last_method), "KVS.Apply/%d", (int)req->verb);
    record_opts(c, opts);
    call_go(c, fc, c->index);
    pthread_mutex_unlock(&c->mu);
    return (tb_call_t *)fc;
}

static void f_call_cancel(tb_call_t *call)
{
    fake_call_t *fc = (fake_call_t *)call;
    fake_core_t *c = fc->core;
    pthread_mutex_lock(&c->mu);
    call_unlink(c, fc);
    c->cancelled_calls++;
    pthread_mutex_unlock(&c->mu);
    uv_timer_stop(&fc->timer);
    uv_close((uv_handle_t *)&fc->timer, call_free);
}

static const json_t *f_probe_def(tb_probe_t *p)
{
    (void)p;
    return NULL;
}
static uint64_t f_probe_timeout(tb_probe_t *p)
{
    (void)p;
    return 0;
}
static void f_probe_done(tb_probe_t *p, tb_check_status_t s, const char *o)
{
    (void)p, (void)s, (void)o;
}
static const json_t *f_handler_def(tb_handler_run_t *r)
{
    (void)r;
    return NULL;
}
static uint64_t f_handler_index(tb_handler_run_t *r)
{
    (void)r;
    return 0;
}
static void f_handler_done(tb_handler_run_t *r, int s)
{
    (void)r, (void)s;
}

/* ------------------------------------------------------------ harness */

static void on_exec(uv_async_t *a)
{
    fake_core_t *c = a->data;
    pthread_mutex_lock(&c->mu);
    void (*fn)(fake_core_t *, void *) = c->exec_fn;
    void *arg = c->exec_arg;
    c->exec_fn = NULL;
    pthread_mutex_unlock(&c->mu);
    if (fn)
        fn(c, arg);
    pthread_mutex_lock(&c->mu);
    c->exec_done = 1;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

int fake_init(fake_core_t *c, json_t *agent_cfg, json_t *own_cfg, char **err)
{
    memset(c, 0, sizeof(*c));
    uv_loop_init(&c->loop);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    uv_async_init(&c->loop, &c->exec_async, on_exec);
    c->exec_async.data = c;
    c->plugin.core = c;
    c->agent_cfg = json_incref(agent_cfg);
    c->own_cfg = own_cfg ? json_incref(own_cfg) : json_object();
    c->kv_max = 524288;
    c->next_result = json_true();
    tb_api_t *a = &c->api;
    a->size = sizeof(*a);
    a->sdk_major = TB_SDK_MAJOR;
    a->sdk_minor = TB_SDK_MINOR;
    a->loop = f_loop;
    a->name = f_name;
    a->config = f_config;
    a->agent_config = f_agent_config;
    a->config_origin = f_config_origin;
    a->log = f_log;
    a->vlog = f_vlog;
    a->log_enabled = f_log_enabled;
    a->set_ops = f_set_ops;
    a->register_surface = f_register_surface;
    a->register_check_type = f_register_check_type;
    a->register_handler_type = f_register_handler_type;
    a->timer_start = f_timer_start;
    a->timer_stop = f_timer_stop;
    a->now_ms = f_now_ms;
    a->call = f_call;
    a->kv_read = f_kv_read;
    a->kv_write = f_kv_write;
    a->call_cancel = f_call_cancel;
    a->probe_definition = f_probe_def;
    a->probe_timeout_ms = f_probe_timeout;
    a->probe_done = f_probe_done;
    a->handler_definition = f_handler_def;
    a->handler_input = f_handler_def;
    a->handler_index = f_handler_index;
    a->handler_done = f_handler_done;
    a->kv_max_value_size = f_kv_max;
    a->parse_duration = tb__parse_duration; /* the core's own */
    a->base64_encode = f_b64enc;
    a->base64_decode = f_b64dec;
    *err = NULL;
    return tb_plugin_init(&c->plugin, a, err);
}

int fake_start(fake_core_t *c, char **err)
{
    *err = NULL;
    return c->ops.start(&c->plugin, c->ops.arg, err);
}

static void *loop_main(void *arg)
{
    fake_core_t *c = arg;
    uv_run(&c->loop, UV_RUN_DEFAULT);
    return NULL;
}

void fake_run(fake_core_t *c)
{
    pthread_create(&c->thread, NULL, loop_main, c);
    c->thread_running = 1;
}

void fake_exec(fake_core_t *c, void (*fn)(fake_core_t *, void *), void *arg)
{
    pthread_mutex_lock(&c->mu);
    c->exec_fn = fn;
    c->exec_arg = arg;
    c->exec_done = 0;
    pthread_mutex_unlock(&c->mu);
    uv_async_send(&c->exec_async);
    pthread_mutex_lock(&c->mu);
    while (!c->exec_done)
        pthread_cond_wait(&c->cv, &c->mu);
    pthread_mutex_unlock(&c->mu);
}

static void stop_on_loop(fake_core_t *c, void *arg)
{
    (void)arg;
    c->ops.stop(&c->plugin, c->ops.arg);
    uv_close((uv_handle_t *)&c->exec_async, NULL);
}

static void count_handle(uv_handle_t *h, void *arg)
{
    if (getenv("TBH_TEST_VERBOSE"))
        fprintf(stderr, "open handle: %s\n", uv_handle_type_name(h->type));
    (*(int *)arg)++;
}

static int finish(fake_core_t *c)
{
    int open = 0;
    uv_walk(&c->loop, count_handle, &open);
    if (open == 0)
        uv_loop_close(&c->loop);
    for (size_t i = 0; i < c->nkv; i++) {
        free(c->kv[i].key);
        free(c->kv[i].value);
        free(c->kv[i].session);
    }
    free(c->last_args);
    free(c->next_error);
    json_decref(c->next_result);
    json_decref(c->agent_cfg);
    json_decref(c->own_cfg);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    return open;
}

int fake_stop_and_free(fake_core_t *c)
{
    fake_exec(c, stop_on_loop, NULL);
    pthread_join(c->thread, NULL);
    c->thread_running = 0;
    return finish(c);
}

int fake_free_unstarted(fake_core_t *c)
{
    /* As the core: stop is owed to every initialised plugin, started or not. */
    if (c->ops.stop) c->ops.stop(&c->plugin, c->ops.arg);
    uv_close((uv_handle_t *)&c->exec_async, NULL);
    uv_run(&c->loop, UV_RUN_DEFAULT); /* close callbacks of what start opened */
    return finish(c);
}

void fake_script(fake_core_t *c, tb_status_t st, const char *error, json_t *result,
                 uint64_t index)
{
    pthread_mutex_lock(&c->mu);
    c->next_status = st;
    free(c->next_error);
    c->next_error = error ? strdup(error) : NULL;
    json_decref(c->next_result);
    c->next_result = result ? json_incref(result) : NULL;
    c->next_index = index;
    pthread_mutex_unlock(&c->mu);
}

void fake_record(fake_core_t *c, fake_record_t *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&c->mu);
    snprintf(out->method, sizeof(out->method), "%s", c->last_method);
    out->args = c->last_args ? strdup(c->last_args) : NULL;
    snprintf(out->token, sizeof(out->token), "%s", c->last_token);
    snprintf(out->dc, sizeof(out->dc), "%s", c->last_dc);
    out->opts = c->last_opts;
    out->started = c->started_calls;
    out->cancelled = c->cancelled_calls;
    out->completed = c->completed_calls;
    for (fake_call_t *fc = c->calls; fc; fc = fc->next)
        out->inflight++;
    pthread_mutex_unlock(&c->mu);
}

char *fake_logs(fake_core_t *c)
{
    pthread_mutex_lock(&c->mu);
    char *s = strdup(c->log);
    pthread_mutex_unlock(&c->mu);
    return s;
}
