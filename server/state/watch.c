/*
 * watch.c - the watch registry (watch.h): which blocking queries to wake
 * after a write.
 *
 * Keys (kind, name) live in one chained hash table; each key holds a doubly
 * linked list of subscriptions, and each waiter a singly linked list of its
 * own subscriptions, so subscribe and unsubscribe are O(1) (plus the
 * waiter's own key count when checking for a duplicate) and a notify touches
 * only the waiters of the keys it names. A notify marks waiters by putting
 * them on the "marked" list; flush moves that list to "firing" and pops one
 * waiter at a time, so a callback may free itself or any other waiter,
 * create new waiters or notify again (those fire at the next flush).
 *
 * Each key remembers the notify round in which it last marked its waiters:
 * a key notified again before the next flush (delete-tree of 10,000 keys
 * hits TABLE "kv" and KV_PREFIX "" 10,000 times) costs O(1) instead of a
 * walk over all its waiters.
 *
 * SERVICE and NODE names are compared ASCII case-insensitively, as Consul
 * compares node and service names.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "state/watch.h"

typedef struct wkey wkey_t;
typedef struct wsub wsub_t;

struct wsub {
    tb__watch_t *w;
    wkey_t *key;
    wsub_t *kprev, *knext; /* in the key's list */
    wsub_t *wnext;         /* in the waiter's list */
};

struct wkey {
    wkey_t *hnext;
    uint64_t hash;
    uint64_t round; /* notify round that last marked this key's waiters */
    wsub_t *subs;
    tb__watch_kind_t kind;
    size_t len;
    char name[];
};

enum wstate { W_IDLE = 0, W_MARKED = 1, W_FIRING = 2 };

struct tb__watch {
    tb__watch_reg_t *reg;
    tb__watch_cb cb;
    void *arg;
    wsub_t *subs;                 /* NULL = disarmed */
    enum wstate state;
    tb__watch_t *aprev, *anext;   /* armed list (so the registry can free them) */
    tb__watch_t *mprev, *mnext;   /* marked or firing list */
};

typedef struct wlist {
    tb__watch_t *head, *tail;
} wlist_t;

struct tb__watch_reg {
    wkey_t **buckets;
    size_t nbuckets; /* power of two */
    size_t nkeys;
    size_t nprefix;  /* KV_PREFIX keys: skip the prefix walk when 0 */
    size_t armed;
    uint64_t round;
    tb__watch_t *armed_head;
    wlist_t marked, firing;
};

#define FNV_OFFSET 14695981039346656037ULL
#define FNV_PRIME 1099511628211ULL

static int kind_folds(tb__watch_kind_t kind)
{
    return kind == TB__WATCH_SERVICE || kind == TB__WATCH_NODE;
}

static unsigned char fold(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static uint64_t hash_seed(tb__watch_kind_t kind)
{
    return (FNV_OFFSET ^ (uint64_t)(kind + 1)) * FNV_PRIME;
}

static uint64_t hash_step(uint64_t h, unsigned char c)
{
    return (h ^ c) * FNV_PRIME;
}

static uint64_t hash_name(tb__watch_kind_t kind, const char *name, size_t len)
{
    uint64_t h = hash_seed(kind);
    int f = kind_folds(kind);
    for (size_t i = 0; i < len; i++)
        h = hash_step(h, f ? fold((unsigned char)name[i]) : (unsigned char)name[i]);
    return h;
}

static int name_eq(tb__watch_kind_t kind, const char *a, const char *b, size_t len)
{
    if (!kind_folds(kind))
        return memcmp(a, b, len) == 0;
    for (size_t i = 0; i < len; i++)
        if (fold((unsigned char)a[i]) != fold((unsigned char)b[i]))
            return 0;
    return 1;
}

static wkey_t *key_find(const tb__watch_reg_t *reg, tb__watch_kind_t kind, const char *name,
                        size_t len, uint64_t h)
{
    for (wkey_t *k = reg->buckets[h & (reg->nbuckets - 1)]; k; k = k->hnext)
        if (k->hash == h && k->kind == kind && k->len == len && name_eq(kind, k->name, name, len))
            return k;
    return NULL;
}

static void table_grow(tb__watch_reg_t *reg)
{
    size_t n = reg->nbuckets * 2;
    wkey_t **b = calloc(n, sizeof(*b));
    if (!b)
        return; /* keep the old table: longer chains, still correct */
    for (size_t i = 0; i < reg->nbuckets; i++) {
        wkey_t *k = reg->buckets[i];
        while (k) {
            wkey_t *next = k->hnext;
            size_t j = k->hash & (n - 1);
            k->hnext = b[j];
            b[j] = k;
            k = next;
        }
    }
    free(reg->buckets);
    reg->buckets = b;
    reg->nbuckets = n;
}

static wkey_t *key_get(tb__watch_reg_t *reg, tb__watch_kind_t kind, const char *name)
{
    size_t len = strlen(name);
    uint64_t h = hash_name(kind, name, len);
    wkey_t *k = key_find(reg, kind, name, len, h);
    if (k)
        return k;
    if (reg->nkeys >= reg->nbuckets)
        table_grow(reg);
    k = malloc(sizeof(*k) + len + 1);
    if (!k)
        return NULL;
    k->hash = h;
    k->round = 0;
    k->subs = NULL;
    k->kind = kind;
    k->len = len;
    memcpy(k->name, name, len + 1);
    size_t j = h & (reg->nbuckets - 1);
    k->hnext = reg->buckets[j];
    reg->buckets[j] = k;
    reg->nkeys++;
    if (kind == TB__WATCH_KV_PREFIX)
        reg->nprefix++;
    return k;
}

static void key_remove(tb__watch_reg_t *reg, wkey_t *k)
{
    wkey_t **pp = &reg->buckets[k->hash & (reg->nbuckets - 1)];
    while (*pp != k)
        pp = &(*pp)->hnext;
    *pp = k->hnext;
    reg->nkeys--;
    if (k->kind == TB__WATCH_KV_PREFIX)
        reg->nprefix--;
    free(k);
}

static void list_push(wlist_t *l, tb__watch_t *w)
{
    w->mnext = NULL;
    w->mprev = l->tail;
    if (l->tail)
        l->tail->mnext = w;
    else
        l->head = w;
    l->tail = w;
}

static void list_unlink(wlist_t *l, tb__watch_t *w)
{
    if (w->mprev)
        w->mprev->mnext = w->mnext;
    else
        l->head = w->mnext;
    if (w->mnext)
        w->mnext->mprev = w->mprev;
    else
        l->tail = w->mprev;
    w->mprev = w->mnext = NULL;
}

/* Drop every subscription of w; w becomes disarmed. */
static void disarm(tb__watch_t *w)
{
    tb__watch_reg_t *reg = w->reg;
    if (!w->subs)
        return;
    wsub_t *s = w->subs;
    while (s) {
        wsub_t *next = s->wnext;
        wkey_t *k = s->key;
        if (s->kprev)
            s->kprev->knext = s->knext;
        else
            k->subs = s->knext;
        if (s->knext)
            s->knext->kprev = s->kprev;
        if (!k->subs)
            key_remove(reg, k);
        free(s);
        s = next;
    }
    w->subs = NULL;
    if (w->aprev)
        w->aprev->anext = w->anext;
    else
        reg->armed_head = w->anext;
    if (w->anext)
        w->anext->aprev = w->aprev;
    w->aprev = w->anext = NULL;
    reg->armed--;
}

tb__watch_reg_t *tb__watch_reg_new(void)
{
    tb__watch_reg_t *reg = calloc(1, sizeof(*reg));
    if (!reg)
        return NULL;
    reg->nbuckets = 64;
    reg->buckets = calloc(reg->nbuckets, sizeof(*reg->buckets));
    if (!reg->buckets) {
        free(reg);
        return NULL;
    }
    reg->round = 1;
    return reg;
}

void tb__watch_reg_free(tb__watch_reg_t *reg)
{
    if (!reg)
        return;
    while (reg->armed_head)
        tb__watch_free(reg->armed_head);
    free(reg->buckets); /* every key went with its last subscription */
    free(reg);
}

tb__watch_t *tb__watch_new(tb__watch_reg_t *reg, tb__watch_cb cb, void *arg)
{
    tb__watch_t *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->reg = reg;
    w->cb = cb;
    w->arg = arg;
    return w;
}

int tb__watch_on(tb__watch_t *w, tb__watch_kind_t kind, const char *name)
{
    if (!w || !name || (unsigned)kind > TB__WATCH_SESSION)
        return -1;
    tb__watch_reg_t *reg = w->reg;
    wkey_t *k = key_get(reg, kind, name);
    if (!k)
        return -1;
    for (wsub_t *s = w->subs; s; s = s->wnext)
        if (s->key == k)
            return 0;
    wsub_t *s = malloc(sizeof(*s));
    if (!s) {
        if (!k->subs)
            key_remove(reg, k);
        return -1;
    }
    s->w = w;
    s->key = k;
    s->kprev = NULL;
    s->knext = k->subs;
    if (k->subs)
        k->subs->kprev = s;
    k->subs = s;
    if (!w->subs) {
        w->aprev = NULL;
        w->anext = reg->armed_head;
        if (reg->armed_head)
            reg->armed_head->aprev = w;
        reg->armed_head = w;
        reg->armed++;
    }
    s->wnext = w->subs;
    w->subs = s;
    return 0;
}

void tb__watch_free(tb__watch_t *w)
{
    if (!w)
        return;
    if (w->state == W_MARKED)
        list_unlink(&w->reg->marked, w);
    else if (w->state == W_FIRING)
        list_unlink(&w->reg->firing, w);
    disarm(w);
    free(w);
}

static void mark_key(tb__watch_reg_t *reg, wkey_t *k)
{
    if (!k || k->round == reg->round)
        return;
    k->round = reg->round;
    for (wsub_t *s = k->subs; s; s = s->knext) {
        tb__watch_t *w = s->w;
        if (w->state == W_IDLE) {
            w->state = W_MARKED;
            list_push(&reg->marked, w);
        }
    }
}

void tb__watch_notify(tb__watch_reg_t *reg, tb__watch_kind_t kind, const char *name)
{
    if (!reg || !name || (unsigned)kind > TB__WATCH_SESSION || reg->nkeys == 0)
        return;
    size_t len = strlen(name);
    mark_key(reg, key_find(reg, kind, name, len, hash_name(kind, name, len)));
    if (kind != TB__WATCH_KV_KEY)
        return;
    if (reg->nprefix) {
        /* every prefix of the key, "" through the whole key, hashed incrementally */
        uint64_t h = hash_seed(TB__WATCH_KV_PREFIX);
        mark_key(reg, key_find(reg, TB__WATCH_KV_PREFIX, name, 0, h));
        for (size_t i = 0; i < len; i++) {
            h = hash_step(h, (unsigned char)name[i]);
            mark_key(reg, key_find(reg, TB__WATCH_KV_PREFIX, name, i + 1, h));
        }
    }
    static const char kv[] = "kv";
    mark_key(reg, key_find(reg, TB__WATCH_TABLE, kv, 2, hash_name(TB__WATCH_TABLE, kv, 2)));
}

void tb__watch_notify_all(tb__watch_reg_t *reg)
{
    if (!reg)
        return;
    for (tb__watch_t *w = reg->armed_head; w; w = w->anext) {
        if (w->state == W_IDLE) {
            w->state = W_MARKED;
            list_push(&reg->marked, w);
        }
    }
}

size_t tb__watch_flush(tb__watch_reg_t *reg)
{
    if (!reg)
        return 0;
    size_t n = 0;
    reg->round++; /* later notifies mark again, for the next flush */
    while (reg->marked.head) {
        tb__watch_t *w = reg->marked.head;
        list_unlink(&reg->marked, w);
        w->state = W_FIRING;
        list_push(&reg->firing, w);
    }
    while (reg->firing.head) {
        tb__watch_t *w = reg->firing.head;
        list_unlink(&reg->firing, w);
        w->state = W_IDLE;
        disarm(w);
        n++;
        w->cb(w->arg); /* may free w, other waiters, or add new ones */
    }
    return n;
}

size_t tb__watch_count(const tb__watch_reg_t *reg)
{
    return reg ? reg->armed : 0;
}
