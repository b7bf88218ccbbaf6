/*
 * watch.h - the watch registry that wakes only the blocking queries whose
 * data changed (DESIGN.md §5). A waiter subscribes to one or more keys
 * (a table, a KV key, a KV prefix, a service name, a node name, a session);
 * the state store notifies keys as it applies commands; tb__watch_flush()
 * then fires each affected waiter once (one-shot: it is disarmed, not freed).
 * Lookups are hash-table based: a write costs O(affected waiters + key depth),
 * not O(all waiters).
 */
#ifndef TB_WATCH_H
#define TB_WATCH_H

#include <stddef.h>

typedef struct tb__watch_reg tb__watch_reg_t;
typedef struct tb__watch tb__watch_t;
typedef void (*tb__watch_cb)(void *arg);

typedef enum tb__watch_kind {
    TB__WATCH_TABLE = 0,     /* name: "nodes" "services" "checks" "kv" "sessions" */
    TB__WATCH_KV_KEY = 1,    /* exact key */
    TB__WATCH_KV_PREFIX = 2, /* fired by any write to a key starting with name ("" = all) */
    TB__WATCH_SERVICE = 3,   /* service name: its instances, tags or checks changed */
    TB__WATCH_NODE = 4,      /* node name: node, its services or checks changed */
    /* (SERVICE and NODE names match ASCII case-insensitively, as the store's) */
    TB__WATCH_SESSION = 5    /* session id */
} tb__watch_kind_t;

tb__watch_reg_t *tb__watch_reg_new(void);
/* Frees the registry; waiters still armed are freed without firing. */
void tb__watch_reg_free(tb__watch_reg_t *reg);

/* A waiter, disarmed until tb__watch_on is called. */
tb__watch_t *tb__watch_new(tb__watch_reg_t *reg, tb__watch_cb cb, void *arg);
/* Subscribe the waiter to a key. Returns 0 or -1 (out of memory). */
int tb__watch_on(tb__watch_t *w, tb__watch_kind_t kind, const char *name);
/* Unsubscribe from everything and free (safe to call from its own callback). */
void tb__watch_free(tb__watch_t *w);

/* Called by the state store during apply: marks waiters on this key as
 * fired. A KV_KEY notification of "a/b/c" also fires KV_PREFIX waiters on
 * "", "a", "a/", "a/b", ... and TABLE "kv" waiters. */
void tb__watch_notify(tb__watch_reg_t *reg, tb__watch_kind_t kind, const char *name);
/* Mark every armed waiter (the whole store was replaced by a restore). */
void tb__watch_notify_all(tb__watch_reg_t *reg);
/* Fire the callbacks of every waiter marked since the last flush, each once,
 * after unsubscribing it from all its keys. Returns how many fired. */
size_t tb__watch_flush(tb__watch_reg_t *reg);

/* Number of armed waiters (metrics, tests). */
size_t tb__watch_count(const tb__watch_reg_t *reg);

#endif
