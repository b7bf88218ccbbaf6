/*
 * test_watch.c - unit tests of the watch registry (watch.c): only affected
 * waiters fire, each once; KV prefix semantics; one-shot disarming; freeing
 * and creating waiters from callbacks; 50,000 waiters.
 */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>

#include "helpers.h"

static void test_only_affected_fire(void)
{
    tb__watch_reg_t *reg = tb__watch_reg_new();
    int a = 0, b = 0;
    tb__watch_t *wa = tb__watch_new(reg, th_count_cb, &a);
    tb__watch_t *wb = tb__watch_new(reg, th_count_cb, &b);
    CU_ASSERT_EQUAL(tb__watch_on(wa, TB__WATCH_KV_KEY, "a/b"), 0);
    CU_ASSERT_EQUAL(tb__watch_on(wb, TB__WATCH_KV_KEY, "a/c"), 0);
    CU_ASSERT_EQUAL(tb__watch_count(reg), 2);

    tb__watch_notify(reg, TB__WATCH_KV_KEY, "a/x");
    CU_ASSERT_EQUAL(tb__watch_flush(reg), 0);
    tb__watch_notify(reg, TB__WATCH_KV_KEY, "a/b");
    CU_ASSERT_EQUAL(a, 0); /* notify only marks */
    CU_ASSERT_EQUAL(tb__watch_flush(reg), 1);
    CU_ASSERT_EQUAL(a, 1);
    CU_ASSERT_EQUAL(b, 0);
    CU_ASSERT_EQUAL(tb__watch_count(reg), 1);

    /* one-shot: a is disarmed, a second write does not fire it */
    tb__watch_notify(reg, TB__WATCH_KV_KEY, "a/b");
    CU_ASSERT_EQUAL(tb__watch_flush(reg), 0);
    CU_ASSERT_EQUAL(a, 1);

    /* re-arm after firing */
    CU_ASSERT_EQUAL(tb__watch_on(wa, TB__WATCH_KV_KEY, "a/b"), 0);
    tb__watch_notify(reg, TB__WATCH_KV_KEY, "a/b");
    CU_ASSERT_EQUAL(tb__watch_flush(reg), 1);
    CU_ASSERT_EQUAL(a, 2);

    tb__watch_free(wa);
    tb__watch_free(wb);
    CU_ASSERT_EQUAL(tb__watch_count(reg), 0);
    tb__watch_reg_free(reg);
}

static void test_several_keys_fire_once(void)
{
    tb__watch_reg_t *reg = tb__watch_reg_new();
    int n = 0;
    tb__watch_t *w = tb__watch_new(reg, th_count_cb, &n);
    CU_ASSERT_EQUAL(tb__watch_on(w, TB__WATCH_TABLE, "nodes"), 0);
    CU_ASSERT_EQUAL(tb__watch_on(w, TB__WATCH_SERVICE, "web"), 0);
    CU_ASSERT_EQUAL(tb__watch_on(w, TB__WATCH_NODE, "n1"), 0);
    CU_ASSERT_EQUAL(tb__watch_on(w, TB__WATCH_NODE, "n1"), 0); /* duplicate: ignored */
    CU_ASSERT_EQUAL(tb__watch_count(reg), 1);
    tb__watch_notify(reg, TB__WATCH_TABLE, "nodes");
    tb__watch_notify(reg, TB__WATCH_SERVICE, "web");
    tb__watch_notify(reg, TB__WATCH_NODE, "n1");
    tb__watch_notify(reg, TB__WATCH_NODE, "n1");
    CU_ASSERT_EQUAL(tb__watch_flush(reg), 1);
    CU_ASSERT_EQUAL(n, 1);
    /* unsubscribed from every key: nothing left to fire */
    tb__watch_notify(reg, TB__WATCH_SERVICE, "web");
    CU_ASSERT_EQUAL(tb__watch_flush(reg), 0);
    tb__watch_free(w);
    tb__watch_reg_free(reg);
}

static void test_kinds_and_case(void)
{
    tb__watch_reg_t *reg = tb__watch_reg_new();
    int svc = 0, node = 0, sess = 0, key = 0;
    tb__watch_t *ws = tb__watch_new(reg, th_count_cb, &svc);
    tb__watch_t *wn = tb__watch_new(reg, th_count_cb, &node);
    tb__watch_t *wx = tb__watch_new(reg, th_count_cb, &sess);
    tb__watch_t *wk = tb__watch_new(reg, th_count_cb, &key);
    tb__watch_on(ws, TB__WATCH_SERVICE, "web");
    tb__watch_on(wn, TB__WATCH_NODE, "web");
    tb__watch_on(wx, TB__WATCH_SESSION, "Web");
    tb__watch_on(wk, TB__WATCH_KV_KEY, "Web");
    /* service names fold case; sessions and keys are exact */
    tb__watch_notify(reg, TB__WATCH_SERVICE, "WEB");
    tb__watch_notify(reg, TB__WATCH_SESSION, "web");
    tb__watch_notify(reg, TB__WATCH_KV_KEY, "web");
    CU_ASSERT_EQUAL(tb__watch_flush(reg), 1);
    CU_ASSERT_EQUAL(svc, 1);
    CU_ASSERT_EQUAL(node, 0);
    CU_ASSERT_EQUAL(sess, 0);
    CU_ASSERT_EQUAL(key, 0);
    tb__watch_notify(reg, TB__WATCH_NODE, "Web");
    CU_ASSERT_EQUAL(tb__watch_flush(reg), 1);
    CU_ASSERT_EQUAL(node, 1);
    /* invalid arguments are refused */
    CU_ASSERT_EQUAL(tb__watch_on(wk, (tb__watch_kind_t)42, "x"), -1);
    CU_ASSERT_EQUAL(tb__watch_on(wk, TB__WATCH_KV_KEY, NULL), -1);
    tb__watch_free(ws);
    tb__watch_free(wn);
    tb__watch_free(wx);
    tb__watch_free(wk);
    tb__watch_reg_free(reg);
}

static void test_kv_prefix_semantics(void)
{
    static const char *const fire[] = {"", "a", "a/", "a/b", "a/b/", "a/b/c"};
    static const char *const quiet[] = {"a/b/c/", "a/b/cd", "b", "a/x", "A", "a/c"};
    tb__watch_reg_t *reg = tb__watch_reg_new();
    int fired[6] = {0}, silent[6] = {0}, table_kv = 0, table_nodes = 0, key = 0, other_key = 0;
    tb__watch_t *w[16];
    size_t nw = 0;
    for (int i = 0; i < 6; i++) {
        w[nw] = tb__watch_new(reg, th_count_cb, &fired[i]);
        CU_ASSERT_EQUAL(tb__watch_on(w[nw++], TB__WATCH_KV_PREFIX, fire[i]), 0);
        w[nw] = tb__watch_new(reg, th_count_cb, &silent[i]);
        CU_ASSERT_EQUAL(tb__watch_on(w[nw++], TB__WATCH_KV_PREFIX, quiet[i]), 0);
    }
    w[nw] = tb__watch_new(reg, th_count_cb, &table_kv);
    tb__watch_on(w[nw++], TB__WATCH_TABLE, "kv");
    w[nw] = tb__watch_new(reg, th_count_cb, &table_nodes);
    tb__watch_on(w[nw++], TB__WATCH_TABLE, "nodes");
    w[nw] = tb__watch_new(reg, th_count_cb, &key);
    tb__watch_on(w[nw++], TB__WATCH_KV_KEY, "a/b/c");
    w[nw] = tb__watch_new(reg, th_count_cb, &other_key);
    tb__watch_on(w[nw++], TB__WATCH_KV_KEY, "a/b");

    tb__watch_notify(reg, TB__WATCH_KV_KEY, "a/b/c");
    CU_ASSERT_EQUAL(tb__watch_flush(reg), 8);
    for (int i = 0; i < 6; i++) {
        CU_ASSERT_EQUAL(fired[i], 1);
        CU_ASSERT_EQUAL(silent[i], 0);
    }
    CU_ASSERT_EQUAL(table_kv, 1);
    CU_ASSERT_EQUAL(table_nodes, 0);
    CU_ASSERT_EQUAL(key, 1);
    CU_ASSERT_EQUAL(other_key, 0);
    /* a prefix notification itself is not a key write */
    tb__watch_notify(reg, TB__WATCH_KV_PREFIX, "a/b/c/");
    CU_ASSERT_EQUAL(tb__watch_flush(reg), 1);
    CU_ASSERT_EQUAL(silent[0], 1);
    CU_ASSERT_EQUAL(other_key, 0);
    for (size_t i = 0; i < nw; i++)
        tb__watch_free(w[i]);
    tb__watch_reg_free(reg);
}

/* ---- callbacks that change the registry while it flushes ---- */

typedef struct ctx {
    tb__watch_reg_t *reg;
    tb__watch_t *self, *victim, *created;
    int fired;
    int created_fired;
} ctx_t;

static void free_self_cb(void *arg)
{
    ctx_t *c = arg;
    c->fired++;
    tb__watch_free(c->self);
    c->self = NULL;
}

static void free_victim_cb(void *arg)
{
    ctx_t *c = arg;
    c->fired++;
    tb__watch_free(c->victim);
    c->victim = NULL;
}

static void created_cb(void *arg)
{
    ctx_t *c = arg;
    c->created_fired++;
}

static void create_and_notify_cb(void *arg)
{
    ctx_t *c = arg;
    c->fired++;
    c->created = tb__watch_new(c->reg, created_cb, c);
    tb__watch_on(c->created, TB__WATCH_KV_KEY, "k");
    tb__watch_notify(c->reg, TB__WATCH_KV_KEY, "k");
}

static void test_free_during_flush(void)
{
    tb__watch_reg_t *reg = tb__watch_reg_new();
    ctx_t a = {reg, NULL, NULL, NULL, 0, 0};
    a.self = tb__watch_new(reg, free_self_cb, &a);
    tb__watch_on(a.self, TB__WATCH_KV_KEY, "k");
    tb__watch_on(a.self, TB__WATCH_TABLE, "nodes");

    /* b frees victim v, which is marked too and must then never fire */
    ctx_t b = {reg, NULL, NULL, NULL, 0, 0}, v = {reg, NULL, NULL, NULL, 0, 0};
    b.self = tb__watch_new(reg, free_victim_cb, &b);
    tb__watch_t *vw = tb__watch_new(reg, th_count_cb, &v.fired);
    b.victim = vw;
    tb__watch_on(b.self, TB__WATCH_KV_KEY, "k");
    tb__watch_on(vw, TB__WATCH_KV_KEY, "k");
    /* b must fire before v: whichever fires first, v is either freed before
     * firing or has fired; either way exactly one of {v fired, v freed}. */
    tb__watch_notify(reg, TB__WATCH_KV_KEY, "k");
    size_t n = tb__watch_flush(reg);
    CU_ASSERT_EQUAL(a.fired, 1);
    CU_ASSERT_PTR_NULL(a.self);
    CU_ASSERT_EQUAL(b.fired, 1);
    CU_ASSERT_PTR_NULL(b.victim);
    CU_ASSERT(v.fired <= 1);
    CU_ASSERT_EQUAL(n, (size_t)(2 + v.fired));
    tb__watch_free(b.self);
    CU_ASSERT_EQUAL(tb__watch_count(reg), 0);

    /* victim marked but not yet fired: freeing it from an earlier callback
     * must remove it from the firing list. Mark the victim on a key notified
     * after b's key so it is behind b in the list. */
    b.fired = 0;
    v.fired = 0;
    b.self = tb__watch_new(reg, free_victim_cb, &b);
    b.victim = tb__watch_new(reg, th_count_cb, &v.fired);
    tb__watch_on(b.self, TB__WATCH_KV_KEY, "first");
    tb__watch_on(b.victim, TB__WATCH_KV_KEY, "second");
    tb__watch_notify(reg, TB__WATCH_KV_KEY, "first");
    tb__watch_notify(reg, TB__WATCH_KV_KEY, "second");
    CU_ASSERT_EQUAL(tb__watch_flush(reg), 1);
    CU_ASSERT_EQUAL(b.fired, 1);
    CU_ASSERT_EQUAL(v.fired, 0);
    tb__watch_free(b.self);

    /* a waiter created and notified during a flush fires at the next one */
    ctx_t c = {reg, NULL, NULL, NULL, 0, 0};
    c.self = tb__watch_new(reg, create_and_notify_cb, &c);
    tb__watch_on(c.self, TB__WATCH_KV_KEY, "k");
    tb__watch_notify(reg, TB__WATCH_KV_KEY, "k");
    CU_ASSERT_EQUAL(tb__watch_flush(reg), 1);
    CU_ASSERT_EQUAL(c.fired, 1);
    CU_ASSERT_EQUAL(c.created_fired, 0);
    CU_ASSERT_EQUAL(tb__watch_flush(reg), 1);
    CU_ASSERT_EQUAL(c.created_fired, 1);
    tb__watch_free(c.self);
    tb__watch_free(c.created);

    /* freeing a marked waiter before flush: it never fires */
    int d = 0;
    tb__watch_t *wd = tb__watch_new(reg, th_count_cb, &d);
    tb__watch_on(wd, TB__WATCH_SESSION, "s");
    tb__watch_notify(reg, TB__WATCH_SESSION, "s");
    tb__watch_free(wd);
    CU_ASSERT_EQUAL(tb__watch_flush(reg), 0);
    CU_ASSERT_EQUAL(d, 0);
    tb__watch_reg_free(reg);
}

static void test_reg_free_armed(void)
{
    /* the registry frees waiters still armed (valgrind checks the leak) */
    tb__watch_reg_t *reg = tb__watch_reg_new();
    int n = 0;
    for (int i = 0; i < 100; i++) {
        tb__watch_t *w = tb__watch_new(reg, th_count_cb, &n);
        tb__watch_on(w, TB__WATCH_KV_PREFIX, i % 2 ? "a/" : "b/");
        tb__watch_on(w, TB__WATCH_TABLE, "kv");
    }
    tb__watch_notify(reg, TB__WATCH_TABLE, "kv"); /* marked, never flushed */
    CU_ASSERT_EQUAL(tb__watch_count(reg), 100);
    tb__watch_reg_free(reg);
    CU_ASSERT_EQUAL(n, 0);
}

#define MANY 50000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_many_on_one_key(void)
{
    tb__watch_reg_t *reg = tb__watch_reg_new();
    int n = 0;
    tb__watch_t **w = calloc(MANY, sizeof(*w));
    for (int i = 0; i < MANY; i++) {
        w[i] = tb__watch_new(reg, th_count_cb, &n);
        CU_ASSERT_EQUAL_FATAL(tb__watch_on(w[i], TB__WATCH_KV_KEY, "hot"), 0);
    }
    CU_ASSERT_EQUAL(tb__watch_count(reg), MANY);
    /* notified 1000 times (one delete-tree): still one walk, one firing each */
    for (int i = 0; i < 1000; i++)
        tb__watch_notify(reg, TB__WATCH_KV_KEY, "hot");
    CU_ASSERT_EQUAL(tb__watch_flush(reg), MANY);
    CU_ASSERT_EQUAL(n, MANY);
    CU_ASSERT_EQUAL(tb__watch_count(reg), 0);
    for (int i = 0; i < MANY; i++)
        tb__watch_free(w[i]);
    free(w);
    tb__watch_reg_free(reg);
}

/* Time `rounds` notify+flush cycles of one key that has one waiter, with
 * `others` waiters armed on other keys. */
static double cycle_time(int others, int rounds)
{
    tb__watch_reg_t *reg = tb__watch_reg_new();
    int n = 0, hit = 0;
    tb__watch_t **w = calloc((size_t)others + 1, sizeof(*w));
    char name[32];
    for (int i = 0; i < others; i++) {
        snprintf(name, sizeof(name), "svc/%d", i);
        w[i] = tb__watch_new(reg, th_count_cb, &n);
        tb__watch_on(w[i], TB__WATCH_KV_KEY, name);
        tb__watch_on(w[i], TB__WATCH_SERVICE, name);
    }
    tb__watch_t *me = tb__watch_new(reg, th_count_cb, &hit);
    double t0 = now_s();
    for (int r = 0; r < rounds; r++) {
        tb__watch_on(me, TB__WATCH_KV_KEY, "target/key");
        tb__watch_notify(reg, TB__WATCH_KV_KEY, "target/key");
        CU_ASSERT_EQUAL(tb__watch_flush(reg), 1);
    }
    double t = now_s() - t0;
    CU_ASSERT_EQUAL(hit, rounds);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_EQUAL(tb__watch_count(reg), (size_t)others);
    tb__watch_free(me);
    tb__watch_reg_free(reg); /* frees the others */
    free(w);
    return t;
}

static void test_many_waiters_cost(void)
{
    /* O(waiters fired): 50,000 unrelated waiters must not slow a cycle down
     * (a scan of all of them would make it ~50,000x slower) */
    int rounds = 20000;
    double small = cycle_time(1, rounds);
    double big = cycle_time(MANY, rounds);
    CU_ASSERT(big < small * 20 + 0.05);
}

int main(void)
{
    static const CU_TestInfo tests[] = {
        {"only affected waiters fire, one-shot", test_only_affected_fire},
        {"several keys fire once", test_several_keys_fire_once},
        {"kinds are distinct, names fold case", test_kinds_and_case},
        {"KV key write fires every prefix", test_kv_prefix_semantics},
        {"free/create waiters during flush", test_free_during_flush},
        {"registry frees armed waiters", test_reg_free_armed},
        {"50,000 waiters on one key", test_many_on_one_key},
        {"50,000 other waiters cost nothing", test_many_waiters_cost},
        CU_TEST_INFO_NULL,
    };
    return th_run("watch", tests);
}
