/*
 * fakeapi.h - a stand-in agent for the http plugin's socket tests: a
 * tb_api_t whose endpoint layer is an in-memory KV store with blocking
 * reads plus scripted generic calls, all completing asynchronously on a
 * libuv loop that runs in its own thread. The test thread talks to the
 * plugin over real 127.0.0.1 sockets and inspects what the fake recorded.
 */
#ifndef TBH_FAKEAPI_H
#define TBH_FAKEAPI_H

#include <pthread.h>
#include <tribune/plugin.h>

typedef struct fake_core fake_core_t;

struct tb_plugin {
    fake_core_t *core;
};

typedef struct fake_kv {
    char *key;
    void *value;
    size_t len;
    uint64_t flags, lock_index, create_index, modify_index;
    char *session;
} fake_kv_t;

typedef struct fake_call fake_call_t;

#define FAKE_MAX_KV 64

struct fake_core {
    uv_loop_t loop;
    pthread_t thread;
    int thread_running;
    uv_async_t exec_async;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    void (*exec_fn)(fake_core_t *core, void *arg);
    void *exec_arg;
    int exec_done;

    tb_api_t api;
    struct tb_plugin plugin;
    json_t *agent_cfg;
    json_t *own_cfg;
    tb_plugin_ops_t ops;
    int has_ops;
    int has_surface;
    uint64_t kv_max;

    /* state (loop thread; read by the test under mu) */
    fake_kv_t kv[FAKE_MAX_KV];
    size_t nkv;
    uint64_t index;
    fake_call_t *calls; /* in flight */
    int started_calls, cancelled_calls, completed_calls;
    char last_method[64];
    char *last_args;    /* compact JSON of the last generic call's args */
    char last_token[128];
    char last_dc[64];
    tb_query_opts_t last_opts;
    tb_status_t next_status; /* script for generic calls */
    char *next_error;
    json_t *next_result;
    uint64_t next_index;
    char log[16384];
};

/* Create the core with its agent config and own section (both borrowed
 * by reference) and run tb_plugin_init. Returns 0, or -1 with *err. */
int fake_init(fake_core_t *core, json_t *agent_cfg, json_t *own_cfg, char **err);
/* ops.start on the test thread (before the loop thread runs). */
int fake_start(fake_core_t *core, char **err);
/* Run the loop in its own thread. */
void fake_run(fake_core_t *core);
/* Run fn on the loop thread and wait for it. */
void fake_exec(fake_core_t *core, void (*fn)(fake_core_t *, void *), void *arg);
/* ops.stop on the loop, join the thread, check the loop closed every
 * handle, free everything. Returns the number of handles left open. */
int fake_stop_and_free(fake_core_t *core);
/* Free without a started plugin (init or start failed). */
int fake_free_unstarted(fake_core_t *core);

/* Script the next generic calls' result (result is borrowed by ref). */
void fake_script(fake_core_t *core, tb_status_t st, const char *error, json_t *result,
                 uint64_t index);
/* What the fake saw, copied under the lock (free args). */
typedef struct fake_record {
    char method[64];
    char *args;
    char token[128];
    char dc[64];
    tb_query_opts_t opts;
    int started, cancelled, completed, inflight;
} fake_record_t;
void fake_record(fake_core_t *core, fake_record_t *out);
/* Everything the plugin logged so far (malloc'd). */
char *fake_logs(fake_core_t *core);

#endif
