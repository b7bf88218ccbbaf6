/*
 * coalesce.c - one state-store read shared by every identical read in the
 * same run of the call queue (issue 5, "blocking queries at scale"). When
 * a write wakes 50,000 waiters of one key, they are re-queued together and
 * run in one idle turn: the first runs the query, the others complete with
 * the same result (tb_result_t is borrowed, so sharing costs nothing).
 *
 * Entries are keyed by the read (KV mode/key/separator, or method + args)
 * and the token, and live until the next write through the endpoint layer
 * or any change of the store's last index, whichever comes first, so a
 * shared answer is never staler than a fresh one would be.
 *
 * Per woken waiter the lookup costs a hash probe and a comparison: the
 * hash is computed once per call (serializing a generic call's arguments
 * is the expensive part) and kept in the call, 8 bytes per idle waiter.
 * A generic call that matches an entry takes the entry's arguments (an
 * equal tree) and drops its own, so idle waiters of one query share them.
 */
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "endpoint/endpoint_int.h"

#define CACHE_BUCKETS 1024u

typedef struct centry {
    struct centry *next;
    uint64_t hash;
    int kind;                    /* CALL_KV_READ or CALL_GENERIC */
    char *token;                 /* "" when none */
    int mode;                    /* KV */
    char *key, *sep;             /* KV; sep may be NULL */
    const tb__method_t *method;  /* generic */
    json_t *args;                /* generic: a reference */
    tb__ep_out_t out;
} centry_t;

struct tb__ep_cache {
    centry_t *b[CACHE_BUCKETS];
    size_t n;
    uint64_t state_index;
};

#define FNV_OFFSET 1469598103934665603ULL
#define FNV_PRIME 1099511628211ULL

/* FNV-1a over s and its terminating NUL (so "a"+"b" != "ab"+""). */
static uint64_t fnv_str(uint64_t h, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    do
        h = (h ^ *p) * FNV_PRIME;
    while (*p++);
    return h;
}

static void out_free(tb__ep_out_t *o)
{
    free(o->error);
    json_decref(o->json);
    tb__kv_rows_free(&o->rows);
}

static void entry_free(centry_t *e)
{
    out_free(&e->out);
    free(e->token);
    free(e->key);
    free(e->sep);
    json_decref(e->args);
    free(e);
}

void tb__ep_cache_clear(tb__endpoint_t *ep)
{
    struct tb__ep_cache *c = ep->cache;
    if (!c || !c->n)
        return;
    for (size_t i = 0; i < CACHE_BUCKETS; i++) {
        centry_t *e = c->b[i];
        while (e) {
            centry_t *nx = e->next;
            entry_free(e);
            e = nx;
        }
        c->b[i] = NULL;
    }
    c->n = 0;
}

void tb__ep_cache_free(tb__endpoint_t *ep)
{
    tb__ep_cache_clear(ep);
    free(ep->cache);
    ep->cache = NULL;
}

/* Only pure reads share: KV reads, and generic methods that are not writes
 * and have a watch function. */
static int shareable(const tb_call_t *c)
{
    return c->kind == CALL_KV_READ ||
           (c->kind == CALL_GENERIC && !c->method->write && c->method->watch);
}

/* The call's hash, computed on its first read. 0 = cannot hash (out of
 * memory): the call runs unshared. */
static uint64_t call_hash(tb_call_t *c)
{
    if (c->chash)
        return c->chash;
    uint64_t h = fnv_str(FNV_OFFSET ^ (uint64_t)c->kind, c->token);
    if (c->kind == CALL_KV_READ) {
        h = fnv_str(h ^ (uint64_t)c->kvr.mode, c->key);
        h = fnv_str(h, c->sep ? c->sep : "\x01"); /* NULL differs from "" */
    } else {
        char *a = json_dumps(c->args, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        if (!a)
            return 0;
        h = fnv_str(fnv_str(h, c->method->name), a);
        free(a);
    }
    c->chash = h ? h : 1;
    return c->chash;
}

static int str_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static int entry_matches(const centry_t *e, const tb_call_t *c, uint64_t h)
{
    if (e->hash != h || e->kind != c->kind || !str_eq(e->token, c->token))
        return 0;
    if (c->kind == CALL_KV_READ)
        return e->mode == (int)c->kvr.mode && str_eq(e->key, c->key) &&
               (e->sep == NULL) == (c->sep == NULL) && str_eq(e->sep, c->sep);
    return e->method == c->method && json_equal(e->args, c->args);
}

static centry_t *entry_new(const tb_call_t *c, uint64_t h)
{
    centry_t *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->hash = h;
    e->kind = c->kind;
    e->token = strdup(c->token ? c->token : "");
    int ok = e->token != NULL;
    if (c->kind == CALL_KV_READ) {
        e->mode = (int)c->kvr.mode;
        e->key = strdup(c->key ? c->key : "");
        e->sep = c->sep ? strdup(c->sep) : NULL;
        ok = ok && e->key && (!c->sep || e->sep);
    } else {
        e->method = c->method;
        e->args = json_incref(c->args);
    }
    if (!ok) {
        entry_free(e);
        return NULL;
    }
    return e;
}

int tb__ep_shared_read(tb__endpoint_t *ep, tb_call_t *c, tb__ep_out_t *o,
                       void (*run)(tb_call_t *c, tb__ep_out_t *o))
{
    uint64_t h = shareable(c) ? call_hash(c) : 0;
    if (!h || (!ep->cache && !(ep->cache = calloc(1, sizeof(*ep->cache))))) {
        run(c, o);
        return 0;
    }
    struct tb__ep_cache *cache = ep->cache;
    uint64_t last = ep->agent->state ? tb__state_last_index(ep->agent->state) : 0;
    if (cache->n && cache->state_index != last)
        tb__ep_cache_clear(ep);
    cache->state_index = last;
    centry_t **slot = &cache->b[h % CACHE_BUCKETS];
    for (centry_t *e = *slot; e; e = e->next) {
        if (entry_matches(e, c, h)) {
            if (c->kind == CALL_GENERIC && c->args != e->args) {
                /* equal arguments: keep one tree for all the waiters of
                 * this query instead of one each (about 450 B a waiter) */
                json_t *mine = c->args;
                c->args = json_incref(e->args);
                json_decref(mine);
            }
            *o = e->out; /* borrowed until the cache is cleared */
            ep->coalesced++;
            return 1;
        }
    }
    run(c, o);
    centry_t *e = entry_new(c, h);
    if (!e)
        return 0;
    e->out = *o;
    e->next = *slot;
    *slot = e;
    cache->n++;
    return 1;
}
