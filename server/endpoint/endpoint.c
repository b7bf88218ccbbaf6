/*
 * endpoint.c - call lifecycle of the endpoint layer.
 *
 * A call is queued and run on a later loop iteration (an idle handle is
 * armed only while the queue is non-empty), so callbacks never run inside
 * the call. When it first runs, forward.c decides where: here, at a server
 * over the server port (client agents, Raft followers), or here after the
 * Raft read barrier (?consistent on the leader).
 * A read whose index is not past the client's ?index= blocks: it
 * subscribes to the watch keys of its query and enters a deadline heap (one
 * uv timer for all waiters). A watch firing or the deadline passing puts it
 * back on the queue to be re-run; it completes once its data changed or its
 * time is up. Writes are encoded as commands and applied through the FSM
 * with the next index (single server until Raft lands), then the watch
 * registry is flushed, which re-queues exactly the affected waiters.
 */
#include "tb_autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "endpoint/endpoint_int.h"
#include "endpoint/rpc_int.h"
#include "raft/node.h"

/* ------------------------------------------------------------ utilities */

uint64_t tb__ep_random(tb__endpoint_t *ep)
{
    /* xorshift64*: jitter and UUIDs need speed, not secrecy (IDs are not
     * secrets until ACL tokens, which will read /dev/urandom directly). */
    uint64_t x = ep->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    ep->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

void tb__ep_uuid(tb__endpoint_t *ep, char out[37])
{
    uint8_t b[16];
    uint64_t a = tb__ep_random(ep), c = tb__ep_random(ep);
    memcpy(b, &a, 8);
    memcpy(b + 8, &c, 8);
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

void tb__ep_fail(tb__ep_out_t *out, tb_status_t st, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    out->status = st;
    free(out->error);
    out->error = strdup(buf);
}

static void out_clear(tb__ep_out_t *o)
{
    free(o->error);
    json_decref(o->json);
    tb__kv_rows_free(&o->rows);
    memset(o, 0, sizeof *o);
}

static int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* ------------------------------------------------------------ deadline heap
 * A binary min-heap of (deadline, call). A call that leaves before its
 * deadline (the common case: one write answers 20,000 waiters) only blanks
 * its entry, in O(1); blank entries go when they reach the top, or all at
 * once in an O(n) rebuild when they outnumber the live ones, so answering
 * n waiters costs O(n) here, not n sift-downs. */

static void heap_set(tb__endpoint_t *ep, size_t i, tb__deadline_t e)
{
    ep->heap[i] = e;
    if (e.call) e.call->heap_pos = i;
}

static void heap_up(tb__endpoint_t *ep, size_t i)
{
    tb__deadline_t e = ep->heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!(e.at < ep->heap[p].at)) break;
        heap_set(ep, i, ep->heap[p]);
        i = p;
    }
    heap_set(ep, i, e);
}

static void heap_down(tb__endpoint_t *ep, size_t i)
{
    tb__deadline_t e = ep->heap[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        uint64_t best = e.at;
        if (l < ep->nheap && ep->heap[l].at < best) m = l, best = ep->heap[l].at;
        if (r < ep->nheap && ep->heap[r].at < best) m = r;
        if (m == i) break;
        heap_set(ep, i, ep->heap[m]);
        i = m;
    }
    heap_set(ep, i, e);
}

static int heap_push(tb__endpoint_t *ep, tb_call_t *c)
{
    if (ep->nheap == ep->capheap) {
        size_t nc = ep->capheap ? ep->capheap * 2 : 64;
        tb__deadline_t *nh = realloc(ep->heap, nc * sizeof(*nh));
        if (!nh) return -1;
        ep->heap = nh;
        ep->capheap = nc;
    }
    heap_set(ep, ep->nheap++, (tb__deadline_t){c->deadline, c});
    heap_up(ep, ep->nheap - 1);
    return 0;
}

/* The earliest live entry's call, or NULL; pops blank entries on top. */
static tb_call_t *heap_first(tb__endpoint_t *ep)
{
    while (ep->nheap && !ep->heap[0].call) {
        ep->ndead--;
        if (--ep->nheap) {
            heap_set(ep, 0, ep->heap[ep->nheap]);
            heap_down(ep, 0);
        }
    }
    return ep->nheap ? ep->heap[0].call : NULL;
}

static void heap_remove(tb__endpoint_t *ep, tb_call_t *c)
{
    if (!c->deadline) return;
    c->deadline = 0;
    ep->heap[c->heap_pos].call = NULL;
    if (++ep->ndead <= 64 || ep->ndead <= ep->nheap / 2) return;
    size_t n = 0; /* rebuild from the live entries (Floyd: O(n)) */
    for (size_t i = 0; i < ep->nheap; i++)
        if (ep->heap[i].call) heap_set(ep, n++, ep->heap[i]);
    ep->nheap = n;
    ep->ndead = 0;
    for (size_t i = n / 2; i-- > 0;) heap_down(ep, i);
}

static void timer_cb(uv_timer_t *t);

static void rearm_timer(tb__endpoint_t *ep)
{
    if (ep->closing) return;
    tb_call_t *first = heap_first(ep);
    if (!first) {
        uv_timer_stop(&ep->timer);
        return;
    }
    uint64_t now = uv_now(&ep->agent->loop);
    uint64_t d = first->deadline;
    uv_timer_start(&ep->timer, timer_cb, d > now ? d - now : 0, 0);
}

/* ------------------------------------------------------------ queue */

static void idle_cb(uv_idle_t *h);

static void enqueue(tb__endpoint_t *ep, tb_call_t *c)
{
    c->state = CS_QUEUED;
    c->qnext = NULL;
    c->qprev = ep->qtail;
    if (ep->qtail) ep->qtail->qnext = c;
    else ep->qhead = c;
    ep->qtail = c;
    if (!uv_is_active((uv_handle_t *)&ep->idle) && !ep->closing)
        uv_idle_start(&ep->idle, idle_cb);
}

static void dequeue(tb__endpoint_t *ep, tb_call_t *c)
{
    if (c->qprev) c->qprev->qnext = c->qnext;
    else ep->qhead = c->qnext;
    if (c->qnext) c->qnext->qprev = c->qprev;
    else ep->qtail = c->qprev;
    c->qnext = c->qprev = NULL;
}

/* ------------------------------------------------------------ call objects */

static void call_free(tb_call_t *c)
{
    tb__endpoint_t *ep = c->ep;
    if (c->state == CS_BLOCKED) ep->nblocked--;
    heap_remove(ep, c);
    if (c->watch) tb__watch_free(c->watch);
    json_decref(c->args);
    free(c->key);
    free(c->sep);
    free(c->session);
    free(c->value);
    free(c->token);
    free(c->dc);
    free(c);
}

static tb_call_t *call_new(tb__endpoint_t *ep, int kind, const tb_query_opts_t *opts,
                           tb_result_cb cb, void *arg)
{
    tb_call_t *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    ep->stats.calls++;
    if (kind == CALL_KV_READ) ep->stats.kv_reads++;
    else if (kind == CALL_KV_WRITE) ep->stats.kv_writes++;
    c->ep = ep;
    c->kind = kind;
    c->cb = cb;
    c->arg = arg;
    c->opts.size = sizeof c->opts;
    if (opts) {
        /* Copy only the fields this core knows, by the caller's size. */
        size_t n = opts->size && opts->size < sizeof c->opts ? opts->size : sizeof c->opts;
        memcpy(&c->opts, opts, n);
        c->opts.size = sizeof c->opts;
        if (opts->token && !(c->token = strdup(opts->token))) goto oom;
        if (opts->datacenter && !(c->dc = strdup(opts->datacenter))) goto oom;
    }
    c->opts.token = c->token;
    c->opts.datacenter = c->dc;
    return c;
oom:
    call_free(c);
    return NULL;
}

void tb__ep_deliver(tb_call_t *c, const tb_result_t *r)
{
    c->state = CS_RUNNING;
    c->cb(c->arg, r);
    call_free(c);
}

static void complete(tb_call_t *c, tb__ep_out_t *o)
{
    tb__agent_t *a = c->ep->agent;
    tb_result_t r;
    memset(&r, 0, sizeof r);
    r.status = o->status;
    r.error = o->error;
    r.index = o->index ? o->index : 1; /* never 0: clients would spin */
    /* Answered here: -dev knows itself as leader; a Raft server reports
     * what it knows of the leader and, as a follower, how stale it is. */
    if (a->raft) {
        int leader = tb__raftnode_is_leader(a->raft);
        r.known_leader = leader || tb__raftnode_leader_addr(a->raft) != NULL;
        r.last_contact_ms = leader ? 0 : tb__raftnode_last_contact_ms(a->raft);
    } else {
        r.known_leader = a->state != NULL;
    }
    r.effective_consistency = c->opts.consistency;
    r.json = o->json;
    r.kv = o->rows.v;
    r.kv_count = o->rows.n;
    r.applied = o->applied;
    tb__ep_deliver(c, &r);
}

void tb__ep_finish(tb_call_t *c, tb__ep_out_t *o)
{
    complete(c, o);
    out_clear(o);
}

void tb__ep_resume(tb_call_t *c) { enqueue(c->ep, c); }

void tb__ep_drop(tb_call_t *c) { call_free(c); }

/* ------------------------------------------------------------ running */

static void watch_fired(void *arg)
{
    tb_call_t *c = arg;
    /* The registry disarmed the waiter; re-run the query on the queue. */
    if (c->state == CS_BLOCKED) {
        c->ep->nblocked--;
        enqueue(c->ep, c);
    }
}

static int subscribe(tb_call_t *c)
{
    tb__endpoint_t *ep = c->ep;
    if (!c->watch) {
        c->watch = tb__watch_new(ep->agent->watches, watch_fired, c);
        if (!c->watch) return -1;
    }
    if (c->kind == CALL_KV_READ) {
        if (c->kvr.mode == TB_KV_GET) return tb__watch_on(c->watch, TB__WATCH_KV_KEY, c->key);
        return tb__watch_on(c->watch, TB__WATCH_KV_PREFIX, c->key);
    }
    return c->method->watch(c->watch, c->args);
}

static void run_kv_read(tb_call_t *c, tb__ep_out_t *o)
{
    tb__state_t *st = c->ep->agent->state;
    int rc;
    o->blockable = 1;
    switch (c->kvr.mode) {
    case TB_KV_GET:
        rc = tb__state_kv_get(st, c->key, &o->rows, &o->index);
        break;
    case TB_KV_RECURSE:
        rc = tb__state_kv_list(st, c->key, &o->rows, &o->index);
        break;
    case TB_KV_KEYS:
        rc = tb__state_kv_keys(st, c->key, c->sep, &o->json, &o->index);
        break;
    default:
        tb__ep_fail(o, TB_BAD_REQUEST, "Unknown KV read mode");
        return;
    }
    if (rc != 0) {
        tb__ep_fail(o, TB_INTERNAL, "state store read failed");
        return;
    }
    if (c->kvr.mode == TB_KV_KEYS) {
        /* Consul: 404 for an empty non-root listing, [] at the root. */
        if (json_array_size(o->json) == 0 && c->key[0]) o->status = TB_NOT_FOUND;
    } else if (o->rows.n == 0) {
        o->status = TB_NOT_FOUND;
    }
}

static void run_generic_read(tb_call_t *c, tb__ep_out_t *o)
{
    c->method->run(c->ep, c->args, o, NULL);
    tb__ep_filter_out(c->args, o);
}

/* The FSM's answer into a call's result. */
static void take_result(tb__ep_out_t *out, tb__apply_result_t *ar, uint64_t idx)
{
    out->status = ar->status;
    out->error = ar->error;
    ar->error = NULL;
    out->applied = ar->applied;
    if (!out->json) {
        out->json = ar->json;
        ar->json = NULL;
    }
    out->index = idx;
}

static void raft_applied(void *arg, tb_status_t st, uint64_t index, tb__apply_result_t *res)
{
    tb_call_t *c = arg;
    tb__ep_out_t *o = c->applying;
    c->applying = NULL;
    if (c->cancelled) {
        out_clear(o);
        free(o);
        call_free(c);
        return;
    }
    if (st == TB_OK && res) {
        take_result(o, res, index);
    } else {
        json_decref(o->json);
        o->json = NULL;
        if (st == TB_NO_LEADER) tb__ep_fail(o, st, "leadership lost while committing log");
        else tb__ep_fail(o, st, "agent is shutting down");
    }
    complete(c, o);
    out_clear(o);
    free(o);
}

tb_call_t *tb__ep_defer(tb__ep_out_t *out)
{
    out->deferred = out->call != NULL;
    return out->call;
}

void tb__ep_deferred_done(tb_call_t *c, tb__ep_out_t *o)
{
    if (c->cancelled) call_free(c);
    else complete(c, o);
    out_clear(o);
}

int tb__ep_apply(tb__endpoint_t *ep, tb_call_t *c, tb__buf_t *cmd, tb__ep_out_t *out)
{
    tb__agent_t *a = ep->agent;
    tb__ep_cache_clear(ep); /* shared reads never outlive a write */
    ep->stats.applies++;
    if (a->raft) {
        /* The call stays alive until the entry is committed and applied
         * here; everything proposed in this loop turn shares one fsync. */
        tb__ep_out_t *keep = malloc(sizeof *keep);
        if (!keep) {
            tb__ep_fail(out, TB_INTERNAL, "out of memory");
            return 0;
        }
        tb_status_t st = tb__raftnode_apply(a->raft, cmd->data, cmd->len, raft_applied, c);
        if (st != TB_OK) {
            free(keep);
            json_decref(out->json);
            out->json = NULL;
            tb__ep_fail(out, st, st == TB_NO_LEADER ? "No cluster leader" : "agent is shutting down");
            return 0;
        }
        *keep = *out;
        memset(out, 0, sizeof *out);
        c->applying = keep;
        c->state = CS_APPLYING;
        return 1;
    }
    uint64_t last = tb__state_last_index(a->state);
    uint64_t idx = (ep->applied_index > last ? ep->applied_index : last) + 1;
    tb__apply_result_t ar;
    memset(&ar, 0, sizeof ar);
    tb__fsm_apply(a->state, idx, cmd->data, cmd->len, &ar);
    ep->applied_index = idx;
    take_result(out, &ar, idx);
    tb__apply_result_clear(&ar);
    /* Wake only the waiters whose data changed: they re-run on the queue. */
    tb__watch_flush(a->watches);
    return 0;
}

/* 1 when the write is pending in Raft (the call completes later). */
static int run_kv_write(tb_call_t *c, tb__ep_out_t *o)
{
    tb__endpoint_t *ep = c->ep;
    const tb_kv_write_t *w = &c->kvw;
    if (w->verb != TB_KV_DELETE_TREE && (!w->key || !w->key[0])) {
        tb__ep_fail(o, TB_BAD_REQUEST, "Missing key name");
        return 0;
    }
    if (w->value_len > ep->agent->config->kv_max_value_size) {
        tb__ep_fail(o, TB_TOO_LARGE, "Value exceeds %llu byte limit",
                    (unsigned long long)ep->agent->config->kv_max_value_size);
        return 0;
    }
    if ((w->verb == TB_KV_LOCK || w->verb == TB_KV_UNLOCK) && (!w->session || !w->session[0])) {
        tb__ep_fail(o, TB_BAD_REQUEST, "Missing session");
        return 0;
    }
    if ((unsigned)w->verb > TB_KV_DELETE_CAS) {
        tb__ep_fail(o, TB_BAD_REQUEST, "Unknown KV verb");
        return 0;
    }
    tb__buf_t cmd = {0};
    if (tb__cmd_encode_kv(w, wall_ms(), &cmd) != 0) {
        tb__ep_fail(o, TB_INTERNAL, "cannot encode command");
        tb__buf_free(&cmd);
        return 0;
    }
    int pending = tb__ep_apply(ep, c, &cmd, o);
    tb__buf_free(&cmd);
    return pending;
}

static void writes_applied(void *arg, tb_status_t st)
{
    tb_call_t *c = arg;
    if (c->cancelled) {
        call_free(c);
        return;
    }
    if (st != TB_OK && c->ep->closing) {
        tb__ep_out_t o;
        memset(&o, 0, sizeof o);
        tb__ep_fail(&o, TB_UNAVAILABLE, "agent is shutting down");
        complete(c, &o);
        out_clear(&o);
        return;
    }
    c->routed = 0; /* leadership may have moved meanwhile: route again */
    enqueue(c->ep, c);
}

/* Read-your-writes on a Raft leader: a read waits (once) until the writes
 * proposed here before it arrived are applied, so a client that wrote, or
 * changed local state that anti-entropy writes at once, then reads, sees
 * it. Without writes in flight it costs nothing. 1 when the call waits. */
static int waits_for_writes(tb_call_t *c)
{
    tb__agent_t *a = c->ep->agent;
    int is_write = c->kind == CALL_KV_WRITE || (c->kind == CALL_GENERIC && c->method->write);
    if (!a->raft || is_write || c->waited_writes || !tb__raftnode_is_leader(a->raft)) return 0;
    c->waited_writes = 1;
    uint64_t p = tb__raftnode_proposed_index(a->raft);
    if (p <= tb__raftnode_applied_index(a->raft)) return 0;
    c->state = CS_BARRIER; /* held by the node: cancel marks it */
    if (tb__raftnode_wait_applied(a->raft, p, writes_applied, c) == TB_OK) return 1;
    c->state = CS_RUNNING;
    return 0;
}

static void run_call(tb_call_t *c)
{
    tb__endpoint_t *ep = c->ep;
    tb__agent_t *a = ep->agent;
    tb__ep_out_t o;
    int shared = 0; /* o borrowed from the coalescing cache */
    memset(&o, 0, sizeof o);

    if (ep->closing) {
        tb__ep_fail(&o, TB_UNAVAILABLE, "agent is shutting down");
        complete(c, &o);
        out_clear(&o);
        return;
    }
    if (c->dc && c->dc[0] && strcmp(c->dc, a->config->datacenter) != 0) {
        tb__ep_fail(&o, TB_NO_PATH, "No path to datacenter");
        complete(c, &o);
        out_clear(&o);
        return;
    }
    int needs_state = c->kind != CALL_GENERIC || c->method->needs_state;
    if (!c->routed) {
        /* here, at a server (client agents, followers) or after the read
         * barrier (forward.c) */
        int rt = tb__fwd_route(ep->fwd, c, needs_state, &o);
        if (rt > 0) return;
        if (rt < 0) {
            complete(c, &o);
            out_clear(&o);
            return;
        }
    }
    if (needs_state && waits_for_writes(c)) return;
    /* ACL enforcement point: every surface passes here with the request's
     * token. Allow-all until the ACL issue lands. */

    o.call = c; /* methods may defer: tb__ep_defer */
    if (c->kind == CALL_KV_WRITE) {
        if (run_kv_write(c, &o)) return; /* completes once applied */
    } else if (c->kind == CALL_KV_READ) {
        shared = tb__ep_shared_read(ep, c, &o, run_kv_read);
    } else if (c->method->write) {
        tb__buf_t cmd = {0};
        c->method->run(ep, c->args, &o, &cmd);
        if (o.deferred) {
            c->state = CS_DEFERRED;
            tb__buf_free(&cmd);
            return;
        }
        int pending = o.status == TB_OK && cmd.len && tb__ep_apply(ep, c, &cmd, &o);
        tb__buf_free(&cmd);
        if (pending) return;
    } else {
        /* only reads without a watch (never shared) defer */
        shared = tb__ep_shared_read(ep, c, &o, run_generic_read);
        if (o.deferred) {
            c->state = CS_DEFERRED;
            return;
        }
    }

    int may_block = o.blockable && (o.status == TB_OK || o.status == TB_NOT_FOUND) &&
                    c->opts.min_index && !c->timed_out &&
                    (o.index ? o.index : 1) <= c->opts.min_index;
    if (may_block && subscribe(c) == 0) {
        if (!c->deadline) {
            ep->stats.blocked++;
            const tb__config_t *cfg = a->config;
            uint64_t wait = c->opts.wait_ms ? c->opts.wait_ms : cfg->default_query_time_ms;
            if (wait > cfg->max_query_time_ms) wait = cfg->max_query_time_ms;
            /* Consul adds up to wait/16 of jitter so waiters that started
             * together do not all return together. */
            uint64_t jit = wait / 16 ? tb__ep_random(ep) % (wait / 16) : 0;
            c->deadline = uv_now(&a->loop) + wait + jit;
            if (c->deadline == 0) c->deadline = 1;
            if (heap_push(ep, c) != 0) {
                c->deadline = 0;
                complete(c, &o);
                if (!shared) out_clear(&o);
                return;
            }
            rearm_timer(ep);
        }
        c->state = CS_BLOCKED;
        ep->nblocked++;
        if (!shared) out_clear(&o);
        return;
    }
    complete(c, &o);
    if (!shared) out_clear(&o);
}

static void idle_cb(uv_idle_t *h)
{
    tb__endpoint_t *ep = h->data;
    /* Run what is queued now; calls queued by callbacks wait for the next
     * turn so the loop keeps serving I/O under load. */
    tb_call_t *last = ep->qtail;
    while (ep->qhead) {
        tb_call_t *c = ep->qhead;
        int was_last = c == last;
        dequeue(ep, c);
        run_call(c);
        if (was_last) break;
    }
    if (!ep->qhead) uv_idle_stop(&ep->idle);
}

static void timer_cb(uv_timer_t *t)
{
    tb__endpoint_t *ep = t->data;
    uint64_t now = uv_now(&ep->agent->loop);
    tb_call_t *c;
    while ((c = heap_first(ep)) && c->deadline <= now) {
        heap_remove(ep, c);
        c->timed_out = 1;
        if (c->watch) {
            tb__watch_free(c->watch);
            c->watch = NULL;
        }
        if (c->state == CS_BLOCKED) {
            ep->nblocked--;
            enqueue(ep, c);
        }
    }
    rearm_timer(ep);
}

/* ------------------------------------------------------------ session TTLs */

static void ttl_sweep(uv_timer_t *t);

void tb__ep_ttl_set(tb__endpoint_t *ep, const char *id, uint64_t ttl_ms)
{
    tb__ep_ttl_drop(ep, id);
    tb__ttl_t *n = realloc(ep->ttls, (ep->nttls + 1) * sizeof *n);
    if (!n) return;
    ep->ttls = n;
    char *cid = strdup(id);
    if (!cid) return;
    /* Consul invalidates a session only after 2x its TTL. */
    ep->ttls[ep->nttls++] = (tb__ttl_t){cid, ttl_ms, uv_now(&ep->agent->loop) + 2 * ttl_ms};
    if (!uv_is_active((uv_handle_t *)&ep->ttl_timer) && !ep->closing)
        uv_timer_start(&ep->ttl_timer, ttl_sweep, 1000, 1000);
}

int tb__ep_ttl_renew(tb__endpoint_t *ep, const char *id)
{
    for (size_t i = 0; i < ep->nttls; i++)
        if (strcmp(ep->ttls[i].id, id) == 0) {
            ep->ttls[i].deadline = uv_now(&ep->agent->loop) + 2 * ep->ttls[i].ttl_ms;
            return 1;
        }
    return 0;
}

void tb__ep_ttl_drop(tb__endpoint_t *ep, const char *id)
{
    for (size_t i = 0; i < ep->nttls; i++)
        if (strcmp(ep->ttls[i].id, id) == 0) {
            free(ep->ttls[i].id);
            ep->ttls[i] = ep->ttls[--ep->nttls];
            return;
        }
}

static void ttl_done(void *arg, const tb_result_t *r) { (void)arg; (void)r; }

static void ttl_sweep(uv_timer_t *t)
{
    tb__endpoint_t *ep = t->data;
    uint64_t now = uv_now(&ep->agent->loop);
    for (size_t i = 0; i < ep->nttls;) {
        if (ep->ttls[i].deadline > now) {
            i++;
            continue;
        }
        tb__log(&ep->agent->log, TB_LOG_INFO, "session", "session %s expired (TTL %llums)",
                ep->ttls[i].id, (unsigned long long)ep->ttls[i].ttl_ms);
        json_t *args = json_pack("{s:s}", "ID", ep->ttls[i].id);
        tb__endpoint_call(ep, "Session.Destroy", args, NULL, ttl_done, NULL);
        json_decref(args);
        free(ep->ttls[i].id);
        ep->ttls[i] = ep->ttls[--ep->nttls];
    }
    if (ep->nttls == 0) uv_timer_stop(&ep->ttl_timer);
}

void tb__endpoint_leadership(tb__endpoint_t *ep, int leader)
{
    /* Session TTL timers run on the leader only (as Consul's): a new
     * leader re-arms every TTL session from the store with a full TTL, a
     * former leader forgets them. */
    for (size_t i = 0; i < ep->nttls; i++) free(ep->ttls[i].id);
    ep->nttls = 0;
    uv_timer_stop(&ep->ttl_timer);
    if (!leader || ep->closing || !ep->agent->state) return;
    json_t *list = tb__state_session_ttls(ep->agent->state);
    size_t i;
    json_t *s;
    json_array_foreach(list, i, s) {
        uint64_t ns = 0;
        const char *id = json_string_value(json_object_get(s, "ID"));
        const char *ttl = json_string_value(json_object_get(s, "TTL"));
        if (id && ttl && tb__parse_duration(ttl, &ns) == 0 && ns)
            tb__ep_ttl_set(ep, id, ns / 1000000ULL);
    }
    json_decref(list);
}

/* ------------------------------------------------------------ public API */

tb__endpoint_t *tb__endpoint_new(tb__agent_t *agent)
{
    tb__endpoint_t *ep = calloc(1, sizeof *ep);
    if (!ep) return NULL;
    ep->agent = agent;
    ep->fwd = tb__fwd_new(ep);
    if (!ep->fwd) {
        free(ep);
        return NULL;
    }
    uv_idle_init(&agent->loop, &ep->idle);
    ep->idle.data = ep;
    uv_timer_init(&agent->loop, &ep->timer);
    ep->timer.data = ep;
    uv_timer_init(&agent->loop, &ep->ttl_timer);
    ep->ttl_timer.data = ep;
    uint64_t seed = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, &seed, sizeof seed) != (ssize_t)sizeof seed) seed = 0;
        close(fd);
    }
    if (!seed) seed = (uint64_t)wall_ms() ^ ((uint64_t)getpid() << 32);
    ep->rng = seed | 1;
    return ep;
}

void tb__endpoint_shutdown(tb__endpoint_t *ep)
{
    if (!ep || ep->closing) return;
    ep->closing = 1;
    /* Blocked waiters answer now (shutting down); queued calls too. */
    tb_call_t *w;
    while ((w = heap_first(ep))) {
        heap_remove(ep, w);
        if (w->state == CS_BLOCKED) {
            ep->nblocked--;
            enqueue(ep, w);
        }
    }
    while (ep->qhead) {
        tb_call_t *c = ep->qhead;
        dequeue(ep, c);
        run_call(c);
    }
    /* Forwarded calls fail now; the server port closes with its calls
     * answered above. */
    tb__fwd_stop(ep->fwd);
    tb__rpc_stop(ep->rpc);
    uv_idle_stop(&ep->idle);
    uv_timer_stop(&ep->timer);
    uv_timer_stop(&ep->ttl_timer);
    uv_close((uv_handle_t *)&ep->idle, NULL);
    uv_close((uv_handle_t *)&ep->timer, NULL);
    uv_close((uv_handle_t *)&ep->ttl_timer, NULL);
}

void tb__endpoint_free(tb__endpoint_t *ep)
{
    if (!ep) return;
    while (ep->qhead) {
        tb_call_t *c = ep->qhead;
        dequeue(ep, c);
        call_free(c);
    }
    free(ep->heap);
    tb__fwd_free(ep->fwd);
    tb__rpc_free(ep->rpc);
    tb__ep_cache_free(ep);
    for (size_t i = 0; i < ep->nttls; i++) free(ep->ttls[i].id);
    free(ep->ttls);
    free(ep);
}

tb_call_t *tb__endpoint_call(tb__endpoint_t *ep, const char *method, json_t *args,
                             const tb_query_opts_t *opts, tb_result_cb cb, void *arg)
{
    tb_call_t *c = call_new(ep, CALL_GENERIC, opts, cb, arg);
    if (!c) return NULL;
    /* Unknown methods get a method that completes with a clear error. */
    c->method = tb__ep_method(method);
    c->args = args ? json_incref(args) : json_object();
    enqueue(ep, c);
    return c;
}

tb_call_t *tb__endpoint_kv_read(tb__endpoint_t *ep, const tb_kv_read_t *req,
                                const tb_query_opts_t *opts, tb_result_cb cb, void *arg)
{
    tb_call_t *c = call_new(ep, CALL_KV_READ, opts, cb, arg);
    if (!c) return NULL;
    c->kvr.size = sizeof c->kvr;
    c->kvr.mode = req->mode;
    c->key = strdup(req->key ? req->key : "");
    c->sep = (req->mode == TB_KV_KEYS && req->separator) ? strdup(req->separator) : NULL;
    if (!c->key || (req->mode == TB_KV_KEYS && req->separator && !c->sep)) {
        call_free(c);
        return NULL;
    }
    c->kvr.key = c->key;
    c->kvr.separator = c->sep;
    enqueue(ep, c);
    return c;
}

tb_call_t *tb__endpoint_kv_write(tb__endpoint_t *ep, const tb_kv_write_t *req,
                                 const tb_query_opts_t *opts, tb_result_cb cb, void *arg)
{
    tb_call_t *c = call_new(ep, CALL_KV_WRITE, opts, cb, arg);
    if (!c) return NULL;
    c->kvw = *req;
    c->kvw.size = sizeof c->kvw;
    c->key = strdup(req->key ? req->key : "");
    c->session = req->session ? strdup(req->session) : NULL;
    if (req->value_len) {
        c->value = malloc(req->value_len);
        if (c->value) memcpy(c->value, req->value, req->value_len);
    }
    if (!c->key || (req->session && !c->session) || (req->value_len && !c->value)) {
        call_free(c);
        return NULL;
    }
    c->kvw.key = c->key;
    c->kvw.session = c->session;
    c->kvw.value = c->value;
    enqueue(ep, c);
    return c;
}

void tb__endpoint_cancel(tb_call_t *c)
{
    if (!c || c->state == CS_RUNNING) return;
    if (c->state == CS_BARRIER || c->state == CS_APPLYING || c->state == CS_DEFERRED) {
        /* The Raft node (or a deferred method) still holds it: its
         * callback frees it. */
        c->cancelled = 1;
        return;
    }
    if (c->state == CS_QUEUED) dequeue(c->ep, c);
    if (c->state == CS_FORWARDED) tb__fwd_cancel(c->ep->fwd, c);
    call_free(c);
}

int tb__endpoint_listen(tb__endpoint_t *ep, char **err) { return tb__rpc_listen(ep, err); }

void tb__endpoint_server_seen(tb__endpoint_t *ep, const char *addr, int alive)
{
    tb__fwd_server_seen(ep->fwd, addr, alive);
}

size_t tb__endpoint_waiting(const tb__endpoint_t *ep) { return ep->nblocked; }
