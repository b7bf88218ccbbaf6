/*
 * coalesce.c - one state-store read shared by every identical read in the
 * same run of the call queue (issue 5, "blocking queries at scale"). When
 * a write wakes 50,000 waiters of one key, they are re-queued together and
 * run in one idle turn: the first runs the query, the others complete with
 * the same result (tb_result_t is borrowed, so sharing costs nothing).
 *
 * Entries are keyed by the read (KV mode/key/separator, or method name +
 * canonical args) and the token, and live until the end of the turn, the
 * next write through the endpoint layer, or any change of the store's last
 * index, whichever comes first, so a shared answer is never staler than a
 * fresh one would be.
 */
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "endpoint/endpoint_int.h"

#define CACHE_BUCKETS 1024u

typedef struct centry {
    struct centry *next;
    uint64_t hash;
    char *key;
    size_t klen;
    tb__ep_out_t out;
} centry_t;

struct tb__ep_cache {
    centry_t *b[CACHE_BUCKETS];
    size_t n;
    uint64_t state_index;
};

static uint64_t fnv(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static void out_free(tb__ep_out_t *o)
{
    free(o->error);
    json_decref(o->json);
    tb__kv_rows_free(&o->rows);
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
            out_free(&e->out);
            free(e->key);
            free(e);
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

/* Key of a coalescable read, or NULL (not one, or out of memory). The
 * length is returned in *len (keys contain NUL separators). */
static char *read_key(const tb_call_t *c, size_t *len)
{
    const char *tok = c->token ? c->token : "";
    size_t tl = strlen(tok);
    char *body = NULL;
    size_t bl;
    char kind;
    if (c->kind == CALL_KV_READ) {
        kind = (char)('0' + c->kvr.mode);
        size_t kl = strlen(c->key ? c->key : ""), sl = strlen(c->sep ? c->sep : "");
        bl = kl + 1 + sl;
        if (!(body = malloc(bl + 1)))
            return NULL;
        memcpy(body, c->key ? c->key : "", kl);
        body[kl] = 0;
        memcpy(body + kl + 1, c->sep ? c->sep : "", sl + 1);
    } else if (c->kind == CALL_GENERIC && !c->method->write && c->method->watch) {
        /* only pure reads: methods with a watch function */
        kind = 'g';
        char *a = json_dumps(c->args, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        if (!a)
            return NULL;
        size_t ml = strlen(c->method->name), al = strlen(a);
        bl = ml + 1 + al;
        body = malloc(bl + 1);
        if (body) {
            memcpy(body, c->method->name, ml);
            body[ml] = 0;
            memcpy(body + ml + 1, a, al + 1);
        }
        free(a);
        if (!body)
            return NULL;
    } else {
        return NULL;
    }
    *len = 1 + tl + 1 + bl;
    char *k = malloc(*len + 1);
    if (k) {
        k[0] = kind;
        memcpy(k + 1, tok, tl);
        k[1 + tl] = 0;
        memcpy(k + 2 + tl, body, bl + 1);
    }
    free(body);
    return k;
}

int tb__ep_shared_read(tb__endpoint_t *ep, tb_call_t *c, tb__ep_out_t *o,
                       void (*run)(tb_call_t *c, tb__ep_out_t *o))
{
    size_t klen = 0;
    char *key = read_key(c, &klen);
    if (!key) {
        run(c, o);
        return 0;
    }
    if (!ep->cache && !(ep->cache = calloc(1, sizeof(*ep->cache)))) {
        free(key);
        run(c, o);
        return 0;
    }
    struct tb__ep_cache *cache = ep->cache;
    uint64_t last = ep->agent->state ? tb__state_last_index(ep->agent->state) : 0;
    if (cache->n && cache->state_index != last)
        tb__ep_cache_clear(ep);
    cache->state_index = last;
    uint64_t h = fnv(key, klen);
    centry_t **slot = &cache->b[h % CACHE_BUCKETS];
    for (centry_t *e = *slot; e; e = e->next) {
        if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0) {
            free(key);
            *o = e->out; /* borrowed until the cache is cleared */
            ep->coalesced++;
            return 1;
        }
    }
    run(c, o);
    centry_t *e = malloc(sizeof(*e));
    if (!e) {
        free(key);
        return 0;
    }
    e->hash = h;
    e->key = key;
    e->klen = klen;
    e->out = *o;
    e->next = *slot;
    *slot = e;
    cache->n++;
    return 1;
}
