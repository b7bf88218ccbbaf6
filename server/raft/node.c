/*
 * node.c - the Raft server inside the agent (node.h): drives the pure
 * protocol (raft.h) from the agent's loop. A uv timer ticks it; prepare and
 * check handles take its output batch around every poll, so everything
 * proposed or received in one loop turn lands in one batch (group commit).
 * A batch is copied out of the raft at once, its early messages sent, its
 * entries and hard state persisted on the thread pool (fdatasync), then its
 * other messages sent, its committed entries applied to the state store
 * (the FSM) with their Raft index, the watch registry flushed and the
 * waiting proposals and reads answered. Bootstrap (-bootstrap,
 * bootstrap_expect) writes the first configuration as entry 1 of term 1;
 * the leader adds servers it hears from as learners and promotes them once
 * caught up. The transport is transport.c.
 */
#define _GNU_SOURCE
#include "tb_autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "endpoint/endpoint.h"
#include "raft/node_int.h"
#include "state/state.h"
#include "state/watch.h"

#define MOD "agent.server.raft"
/* A tick is 10 ms x performance.raft_multiplier (default 5: 50 ms);
 * elections after 16-32 ticks of silence (0.8-1.6 s by default, about
 * etcd's failover), heartbeats every 2 ticks. */
#define TICK_UNIT_MS 10
#define DEFAULT_MULTIPLIER 5
#define ELECTION_TICKS 16
#define HEARTBEAT_TICKS 2
#define MEMBERSHIP_EVERY 4     /* ticks between learner add/promote attempts */
#define DONE_TIMEOUT_MS 10000  /* operator requests give up after this */

static const uint8_t noop_cmd[2] = {TB__CMD_NOOP, TB__CMD_VERSION};

typedef struct late {
    uint64_t to;
    uint8_t *frame;
    size_t len;
} late_t;

typedef struct batch {
    uv_work_t req;
    tb__raftnode_t *n;
    int hard_changed;
    tb__raft_hard_t hard;
    tb__raft_entry_t *ents;
    size_t nents;
    int has_snap;
    tb__raft_snap_meta_t snap;
    uint8_t *snap_data;
    size_t snap_len;
    tb__raft_entry_t *committed;
    size_t ncommitted;
    uint8_t *arena;
    tb__raft_read_t *reads;
    size_t nreads;
    late_t *late;
    size_t nlate;
    /* a snapshot this server took: written, then the log compacted */
    int own_snap;
    tb__raft_snap_meta_t own_meta;
    uint8_t *own_data;
    size_t own_len;
    uint64_t compact_from;
    int want_snapshot;
    int empty;
    int rc;
    char err[256];
} batch_t;

static void drive(tb__raftnode_t *n);
static void close_all(tb__raftnode_t *n);

/* ------------------------------------------------------------ helpers */

static const char *name_of(tb__raftnode_t *n, uint64_t id)
{
    if (id == n->id) return n->a->config->node_name;
    tb__rpeer_t *p = tb__rt_peer(n, id);
    return p ? p->name : "unknown";
}

static const char *addr_of(tb__raftnode_t *n, uint64_t id)
{
    if (id == n->id) return n->self_addr;
    tb__rpeer_t *p = tb__rt_peer(n, id);
    return p ? p->addr : NULL;
}

static const char *uuid_of(tb__raftnode_t *n, uint64_t id)
{
    if (id == n->id) return n->a->config->node_id;
    tb__rpeer_t *p = tb__rt_peer(n, id);
    return p ? p->node_id : NULL;
}

int tb__rn_has_state(const tb__raftnode_t *n)
{
    return n->r && (tb__raft_last_index(n->r) > 0 || tb__raft_conf(n->r)->n > 0 ||
                    tb__raft_term(n->r) > 0 || tb__raft_snap_index(n->r) > 0);
}

/* ------------------------------------------------------------ address book */

static int save_peers(tb__raftnode_t *n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n->npeers; i++) {
        tb__rpeer_t *p = n->peers[i];
        if (p->removed) continue;
        json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:i}", "ID", p->node_id, "Node",
                                             p->name, "Address", p->addr, "Expect", p->expect));
    }
    char *path = NULL, *tmp = NULL;
    int rc = -1;
    if (asprintf(&path, "%s/peers.json", n->dir) >= 0 &&
        asprintf(&tmp, "%s/peers.json.tmp", n->dir) >= 0 &&
        json_dump_file(arr, tmp, JSON_INDENT(2)) == 0 && rename(tmp, path) == 0)
        rc = 0;
    if (rc != 0)
        tb__log(&n->a->log, TB_LOG_WARN, MOD, "cannot write %s/peers.json: %s", n->dir,
                strerror(errno));
    free(path);
    free(tmp);
    json_decref(arr);
    return rc;
}

static void load_peers(tb__raftnode_t *n)
{
    char *path = NULL;
    if (asprintf(&path, "%s/peers.json", n->dir) < 0) return;
    json_error_t je;
    json_t *arr = json_load_file(path, 0, &je);
    if (!arr) {
        if (access(path, F_OK) == 0)
            tb__log(&n->a->log, TB_LOG_WARN, MOD, "ignoring %s: %s", path, je.text);
        free(path);
        return;
    }
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        const char *id = json_string_value(json_object_get(v, "ID"));
        const char *addr = json_string_value(json_object_get(v, "Address"));
        if (!id || !addr) continue;
        tb__rt_seen(n, id, json_string_value(json_object_get(v, "Node")), addr,
                    (int)json_integer_value(json_object_get(v, "Expect")), -1);
    }
    json_decref(arr);
    free(path);
}

/* ------------------------------------------------------------ bootstrap */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static tb__raft_t *new_raft(tb__raftnode_t *n, const tb__raft_hard_t *hs,
                            const tb__raft_snap_meta_t *sm, const uint8_t *sd, size_t sl)
{
    size_t ne = 0;
    const tb__raft_entry_t *ents = tb__raft_log_entries(n->log, &ne);
    return tb__raft_new(&n->opts, hs, sm, sd, sl, ents, ne);
}

/* The first configuration is entry 1 of term 1 on every bootstrapping
 * server (identical bytes, as the ids are sorted), so their logs agree and
 * a restart finds it in the log. */
static int bootstrap(tb__raftnode_t *n, const uint64_t *ids, size_t k)
{
    tb__raft_conf_t conf;
    memset(&conf, 0, sizeof conf);
    uint64_t sorted[TB_RAFT_MAX_SERVERS];
    memcpy(sorted, ids, k * sizeof *ids);
    qsort(sorted, k, sizeof *sorted, cmp_u64);
    for (size_t i = 0; i < k; i++) {
        conf.s[i].id = sorted[i];
        conf.s[i].voter = 1;
    }
    conf.n = (uint32_t)k;
    uint8_t buf[16 + 9 * TB_RAFT_MAX_SERVERS];
    size_t len = tb__raft_conf_encode(&conf, buf, sizeof buf);
    tb__raft_entry_t e = {1, 1, TB_RAFT_ENTRY_CONF, buf, (uint32_t)len};
    tb__raft_hard_t hs = {1, 0};
    if (len == 0 || tb__raft_log_append(n->log, &e, 1) || tb__raft_log_sync(n->log) ||
        tb__raft_hard_save(n->dir, &hs)) {
        tb__log(&n->a->log, TB_LOG_ERROR, MOD, "bootstrap: cannot write %s", n->dir);
        return -1;
    }
    tb__raft_snap_meta_t sm;
    memset(&sm, 0, sizeof sm);
    tb__raft_t *r = tb__raft_new(&n->opts, &hs, &sm, NULL, 0, &e, 1);
    if (!r) return -1;
    tb__raft_free(n->r);
    n->r = r;
    char list[1024] = "";
    for (size_t i = 0; i < k; i++) {
        size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, "%s%s", i ? ", " : "", name_of(n, sorted[i]));
    }
    tb__log(&n->a->log, TB_LOG_INFO, MOD, "bootstrapped the cluster: servers=[%s]", list);
    return 0;
}

static void maybe_bootstrap_expect(tb__raftnode_t *n)
{
    int expect = n->a->config->bootstrap_expect;
    if (expect <= 0 || n->busy || tb__rn_has_state(n)) return;
    uint64_t ids[TB_RAFT_MAX_SERVERS];
    size_t k = 0;
    ids[k++] = n->id;
    for (size_t i = 0; i < n->npeers; i++) {
        tb__rpeer_t *p = n->peers[i];
        if (p->removed || p->expect != expect) continue;
        if (p->has_state) return; /* a cluster exists: wait to be added to it */
        if (k == TB_RAFT_MAX_SERVERS) return;
        ids[k++] = p->id;
    }
    /* At least the expected number, as Consul: all the servers known with
     * the same expect form the first configuration, even when more than
     * expected are known already (they are all told the same set by the
     * discovery that found them). */
    if ((int)k < expect) return;
    bootstrap(n, ids, k);
}

/* ------------------------------------------------------------ apply */

typedef struct fired {
    tb__rpending_t p;
    tb_status_t status;
    tb__apply_result_t res;
} fired_t;

static void fail_pending(tb__raftnode_t *n, tb_status_t st)
{
    /* Callbacks may propose again: detach the list first. */
    tb__rpending_t *list = n->pend;
    size_t k = n->npend, i = n->pend_head;
    n->pend = NULL;
    n->npend = n->cappend = n->pend_head = 0;
    for (; i < k; i++) list[i].cb(list[i].arg, st, 0, NULL);
    free(list);
}

/* A leader is known again after a transfer: it succeeded when the target
 * won, and failed when somebody else did. */
static void transfer_settled(tb__raftnode_t *n, uint64_t leader)
{
    for (size_t i = 0; i < n->ndones;) {
        tb__rdone_t d = n->dones[i];
        if (d.kind != 2) {
            i++;
            continue;
        }
        n->dones[i] = n->dones[--n->ndones];
        if (d.id == leader) {
            d.cb(d.arg, TB_OK, NULL);
        } else {
            char why[200];
            snprintf(why, sizeof why, "leadership transfer failed: %s became the leader instead",
                     name_of(n, leader));
            d.cb(d.arg, TB_INTERNAL, why);
        }
    }
}

static void apply_committed(tb__raftnode_t *n, const tb__raft_entry_t *ents, size_t k)
{
    tb__state_t *st = n->a->state;
    fired_t *fired = k ? calloc(k, sizeof *fired) : NULL;
    size_t nf = 0;
    for (size_t i = 0; i < k; i++) {
        const tb__raft_entry_t *e = &ents[i];
        tb__apply_result_t res;
        memset(&res, 0, sizeof res);
        if (e->index <= n->applied) continue; /* already in a restored snapshot */
        if (e->type == TB_RAFT_ENTRY_NORMAL) {
            if (tb__fsm_apply(st, e->index, e->data, e->len, &res) != 0 || res.status == TB_INTERNAL)
                /* Refused the same way on every server (unknown type, bad body). */
                tb__log(&n->a->log, TB_LOG_WARN, MOD, "entry %" PRIu64 " not applied: %s",
                        e->index, res.error ? res.error : "refused by the state store");
        } else {
            /* The FSM records the index so X-Consul-Index stays monotonic. */
            tb__fsm_apply(st, e->index, noop_cmd, sizeof noop_cmd, &res);
            tb__apply_result_clear(&res);
            memset(&res, 0, sizeof res);
            if (e->type == TB_RAFT_ENTRY_CONF) {
                tb__raft_conf_t c;
                if (tb__raft_conf_decode(e->data, e->len, &c) == 0) {
                    n->conf_index = e->index;
                    for (size_t d = 0; d < n->ndones;) {
                        if (n->dones[d].kind == 1 && tb__raft_conf_find(&c, n->dones[d].id) < 0) {
                            tb__rdone_t x = n->dones[d];
                            n->dones[d] = n->dones[--n->ndones];
                            x.cb(x.arg, TB_OK, NULL);
                        } else {
                            d++;
                        }
                    }
                }
            }
        }
        n->applied = e->index;
        n->applied_term = e->term;
        /* Proposals whose index was overwritten by another leader's entry
         * fail; ours complete with the FSM's answer. */
        while (n->pend_head < n->npend && n->pend[n->pend_head].index <= e->index) {
            fired_t *f = fired ? &fired[nf] : NULL;
            tb__rpending_t p = n->pend[n->pend_head++];
            if (n->pend_head == n->npend) n->pend_head = n->npend = 0;
            int ok = p.index == e->index && p.term == e->term;
            if (!f) {
                p.cb(p.arg, ok ? TB_OK : TB_NO_LEADER, e->index, ok ? &res : NULL);
                continue;
            }
            nf++;
            f->p = p;
            f->status = ok ? TB_OK : TB_NO_LEADER;
            if (ok) {
                f->res = res;
                memset(&res, 0, sizeof res);
            }
        }
        tb__apply_result_clear(&res);
    }
    tb__watch_flush(n->a->watches);
    for (size_t i = 0; i < nf; i++) {
        fired[i].p.cb(fired[i].p.arg, fired[i].status, fired[i].p.index,
                      fired[i].status == TB_OK ? &fired[i].res : NULL);
        tb__apply_result_clear(&fired[i].res);
    }
    free(fired);
}

static void serve_reads(tb__raftnode_t *n)
{
    for (size_t i = 0; i < n->nreads;) {
        tb__rread_t r = n->reads[i];
        if (r.index == 0 || r.index > n->applied) {
            i++;
            continue;
        }
        memmove(n->reads + i, n->reads + i + 1, (n->nreads - i - 1) * sizeof *n->reads);
        n->nreads--;
        r.cb(r.arg, TB_OK);
    }
}

static void read_answer(tb__raftnode_t *n, uint64_t ctx, uint64_t index)
{
    for (size_t i = 0; i < n->nreads; i++) {
        if (n->reads[i].ctx != ctx) continue;
        if (index == 0) {
            tb__rread_t r = n->reads[i];
            memmove(n->reads + i, n->reads + i + 1, (n->nreads - i - 1) * sizeof *n->reads);
            n->nreads--;
            r.cb(r.arg, TB_NO_LEADER);
        } else {
            n->reads[i].index = index;
        }
        return;
    }
}

/* ------------------------------------------------------------ leadership */

/* Waits for this leader's own writes end with its leadership: the entries
 * may never be applied here now. */
static void release_waiters(tb__raftnode_t *n)
{
    for (size_t i = 0; i < n->nreads;) {
        if (n->reads[i].ctx != 0) {
            i++;
            continue;
        }
        tb__rread_t r = n->reads[i];
        memmove(n->reads + i, n->reads + i + 1, (n->nreads - i - 1) * sizeof *n->reads);
        n->nreads--;
        r.cb(r.arg, TB_NO_LEADER);
    }
}

static void observe(tb__raftnode_t *n)
{
    if (!n->r || n->closed) return;
    int lead = tb__raft_role(n->r) == TB_RAFT_LEADER;
    uint64_t leader = tb__raft_leader(n->r);
    if (leader != n->last_leader) {
        n->last_leader = leader;
        const char *la = leader ? addr_of(n, leader) : NULL;
        snprintf(n->leader_addr, sizeof n->leader_addr, "%s", la ? la : "");
        if (leader)
            tb__log(&n->a->log, TB_LOG_INFO, "agent.server", "New leader elected: payload=%s",
                    name_of(n, leader));
        if (leader) transfer_settled(n, leader);
    }
    if (lead && !n->was_leader) {
        n->was_leader = 1;
        tb__log(&n->a->log, TB_LOG_INFO, MOD,
                "entering leader state: leader=\"Node at %s [Leader]\" term=%" PRIu64,
                n->self_addr, tb__raft_term(n->r));
        tb__log(&n->a->log, TB_LOG_INFO, "agent.server", "cluster leadership acquired");
        /* Leader duties (session TTLs) start once the store has caught up
         * with the log: when this term's no-op entry is applied. */
        n->lead_index = tb__raft_last_index(n->r);
        n->lead_pending = 1;
    } else if (!lead && n->was_leader) {
        n->was_leader = 0;
        tb__log(&n->a->log, TB_LOG_INFO, MOD, "entering follower state: term=%" PRIu64,
                tb__raft_term(n->r));
        tb__log(&n->a->log, TB_LOG_INFO, "agent.server", "cluster leadership lost");
        if (!n->lead_pending && n->a->endpoint) tb__endpoint_leadership(n->a->endpoint, 0);
        n->lead_pending = 0;
        fail_pending(n, TB_NO_LEADER);
        release_waiters(n);
    }
}

/* ------------------------------------------------------------ the loop */

static void storage_failed(tb__raftnode_t *n, const char *why)
{
    /* A server that cannot persist must not acknowledge anything: it stops
     * taking part and the agent shuts down so an operator sees it. */
    tb__log(&n->a->log, TB_LOG_ERROR, MOD, "storage failure, stopping: %s", why);
    n->failed = 1;
    close_all(n);
    kill(getpid(), SIGTERM);
}

static void batch_free(batch_t *b)
{
    for (size_t i = 0; i < b->nlate; i++) free(b->late[i].frame);
    free(b->late);
    free(b->ents);
    free(b->committed);
    free(b->arena);
    free(b->snap_data);
    free(b->reads);
    free(b->own_data);
    free(b);
}

static void work_cb(uv_work_t *req)
{
    batch_t *b = req->data;
    tb__raftnode_t *n = b->n;
    if (b->own_snap) {
        if (tb__raft_snap_save(n->dir, &b->own_meta, b->own_data, b->own_len) != 0) {
            b->rc = -1;
            snprintf(b->err, sizeof b->err, "cannot write a snapshot in %s: %s", n->dir,
                     strerror(errno));
            return;
        }
        /* only once the snapshot is durable may the log before it go */
        if (b->compact_from && tb__raft_log_compact(n->log, b->compact_from) == 0)
            tb__raft_log_sync(n->log);
    }
    if (b->has_snap && (tb__raft_snap_save(n->dir, &b->snap, b->snap_data, b->snap_len) != 0 ||
                        tb__raft_log_reset(n->log) != 0)) {
        b->rc = -1;
        snprintf(b->err, sizeof b->err, "cannot store the received snapshot in %s", n->dir);
        return;
    }
    if (b->nents && (tb__raft_log_append(n->log, b->ents, b->nents) != 0 ||
                     tb__raft_log_sync(n->log) != 0)) {
        b->rc = -1;
        snprintf(b->err, sizeof b->err, "cannot append to the log in %s: %s", n->dir,
                 strerror(errno));
        return;
    }
    if (b->hard_changed && tb__raft_hard_save(n->dir, &b->hard) != 0) {
        b->rc = -1;
        snprintf(b->err, sizeof b->err, "cannot save the hard state in %s: %s", n->dir,
                 strerror(errno));
    }
}

/* The FSM is serialized on the loop (it is the loop's SQLite); the file
 * is written with the next batch on the thread pool. */
static void take_snapshot(tb__raftnode_t *n)
{
    uint8_t *data = NULL;
    size_t len = 0;
    uint64_t index = n->applied;
    if (index <= tb__raft_snap_index(n->r)) {
        tb__raft_snapshot_done(n->r, 0, NULL, 0); /* nothing new: re-arm the request */
        return;
    }
    if (tb__state_serialize(n->a->state, &data, &len) != 0) {
        tb__log(&n->a->log, TB_LOG_WARN, MOD, "cannot serialize the state store for a snapshot");
        tb__raft_snapshot_done(n->r, 0, NULL, 0);
        return;
    }
    if (tb__raft_snapshot_done(n->r, index, data, len) != TB_RAFT_OK) {
        free(data);
        return;
    }
    free(n->own_data);
    n->own_data = data;
    n->own_len = len;
    tb__raft_snapshot_meta(n->r, &n->own_meta);
    n->own_pending = 1;
    tb__log(&n->a->log, TB_LOG_INFO, MOD, "snapshot taken at index %" PRIu64 " (%zu bytes)", index,
            len);
}

static void finish(tb__raftnode_t *n, batch_t *b)
{
    if (b->rc != 0) {
        storage_failed(n, b->err);
        batch_free(b);
        return;
    }
    if (b->has_snap) {
        char *err = NULL;
        if (tb__state_restore(n->a->state, b->snap_data, b->snap_len, &err) != 0) {
            char why[512];
            snprintf(why, sizeof why, "cannot install the snapshot at index %" PRIu64 ": %s",
                     b->snap.index, err ? err : "refused");
            free(err);
            storage_failed(n, why);
            batch_free(b);
            return;
        }
        tb__log(&n->a->log, TB_LOG_INFO, MOD, "installed the leader's snapshot at index %" PRIu64,
                b->snap.index);
        n->applied = b->snap.index;
        n->applied_term = b->snap.term;
        tb__watch_flush(n->a->watches);
    }
    for (size_t i = 0; i < b->nlate; i++) {
        tb__rt_send_frame(n, b->late[i].to, b->late[i].frame, b->late[i].len);
        b->late[i].frame = NULL;
    }
    apply_committed(n, b->committed, b->ncommitted);
    for (size_t i = 0; i < b->nreads; i++) read_answer(n, b->reads[i].ctx, b->reads[i].index);
    serve_reads(n);
    if (n->lead_pending && n->applied >= n->lead_index && !n->closed) {
        n->lead_pending = 0;
        if (n->a->endpoint) tb__endpoint_leadership(n->a->endpoint, 1);
    }
    int want = b->want_snapshot, empty = b->empty;
    batch_free(b);
    if (n->closed) return;
    if (!empty) tb__raft_advance(n->r);
    n->busy = 0;
    if (want && n->snap_interval_ms) n->snap_wanted = 1;
    else if (want) take_snapshot(n);
}

static void after_work_cb(uv_work_t *req, int status)
{
    batch_t *b = req->data;
    tb__raftnode_t *n = b->n;
    if (status != 0 && b->rc == 0) {
        b->rc = -1;
        snprintf(b->err, sizeof b->err, "storage work cancelled");
    }
    if (n->closed) {
        batch_free(b);
        n->busy = 0;
        return;
    }
    finish(n, b);
    drive(n);
}

/* Copy entries (pointers into the raft live only until the next call). */
static tb__raft_entry_t *copy_entries(const tb__raft_entry_t *src, size_t k, uint8_t **cursor)
{
    tb__raft_entry_t *d = malloc(k * sizeof *d);
    if (!d) return NULL;
    for (size_t i = 0; i < k; i++) {
        d[i] = src[i];
        if (src[i].len) {
            memcpy(*cursor, src[i].data, src[i].len);
            d[i].data = *cursor;
            *cursor += src[i].len;
        } else {
            d[i].data = NULL;
        }
    }
    return d;
}

static int take_batch(tb__raftnode_t *n, tb__raft_ready_t *rd, batch_t **out)
{
    batch_t *b = calloc(1, sizeof *b);
    if (!b) return -1;
    b->n = n;
    b->req.data = b;
    b->hard_changed = rd->hard_changed;
    b->hard = rd->hard;
    b->want_snapshot = rd->want_snapshot;
    size_t bytes = 0;
    for (size_t i = 0; i < rd->n_entries; i++) bytes += rd->entries[i].len;
    for (size_t i = 0; i < rd->n_committed; i++) bytes += rd->committed[i].len;
    b->arena = malloc(bytes ? bytes : 1);
    uint8_t *cur = b->arena;
    if (!b->arena) goto oom;
    if (rd->n_entries && !(b->ents = copy_entries(rd->entries, rd->n_entries, &cur))) goto oom;
    b->nents = rd->n_entries;
    if (rd->n_committed &&
        !(b->committed = copy_entries(rd->committed, rd->n_committed, &cur)))
        goto oom;
    b->ncommitted = rd->n_committed;
    if (rd->has_snapshot) {
        b->has_snap = 1;
        b->snap = rd->snap;
        b->snap_len = rd->snap_len;
        if (!(b->snap_data = malloc(rd->snap_len ? rd->snap_len : 1))) goto oom;
        if (rd->snap_len) memcpy(b->snap_data, rd->snap_data, rd->snap_len);
    }
    if (rd->n_reads) {
        if (!(b->reads = malloc(rd->n_reads * sizeof *b->reads))) goto oom;
        memcpy(b->reads, rd->reads, rd->n_reads * sizeof *b->reads);
        b->nreads = rd->n_reads;
    }
    /* Early messages leave now (the leader's fsync overlaps the
     * followers'); the others are framed now and sent after the fsync. */
    for (size_t i = 0; i < rd->n_early; i++) tb__rt_send(n, &rd->msgs[i]);
    if (rd->n_msgs > rd->n_early) {
        b->late = calloc(rd->n_msgs - rd->n_early, sizeof *b->late);
        if (!b->late) goto oom;
        for (size_t i = rd->n_early; i < rd->n_msgs; i++) {
            late_t *l = &b->late[b->nlate];
            l->to = rd->msgs[i].to;
            if ((l->frame = tb__rt_frame_msg(&rd->msgs[i], &l->len))) b->nlate++;
        }
    }
    *out = b;
    return 0;
oom:
    batch_free(b);
    return -1;
}

static void drive(tb__raftnode_t *n)
{
    while (!n->closed && !n->busy && n->r) {
        tb__raft_ready_t rd;
        batch_t *b = NULL;
        if (tb__raft_ready(n->r, &rd)) {
            if (take_batch(n, &rd, &b) != 0) {
                storage_failed(n, "out of memory");
                return;
            }
        } else if (n->own_pending) {
            if (!(b = calloc(1, sizeof *b))) return;
            b->n = n;
            b->req.data = b;
            b->empty = 1; /* no raft batch: nothing to advance */
        } else {
            break;
        }
        if (n->own_pending) {
            b->own_snap = 1;
            b->own_meta = n->own_meta;
            b->own_data = n->own_data;
            b->own_len = n->own_len;
            b->compact_from = tb__raft_first_index(n->r);
            n->own_data = NULL;
            n->own_pending = 0;
        }
        n->busy = 1;
        if (b->nents || b->hard_changed || b->has_snap || b->own_snap) {
            if (uv_queue_work(&n->a->loop, &b->req, work_cb, after_work_cb) != 0) {
                batch_free(b);
                storage_failed(n, "cannot queue storage work");
                return;
            }
            break;
        }
        finish(n, b); /* nothing to persist: no need for the thread pool */
    }
    observe(n);
}

static void prep_cb(uv_prepare_t *h) { drive(h->data); }
static void check_cb(uv_check_t *h) { drive(h->data); }

static void membership(tb__raftnode_t *n)
{
    if (tb__raft_role(n->r) != TB_RAFT_LEADER || n->stopping) return;
    const tb__raft_conf_t *c = tb__raft_conf(n->r);
    for (size_t i = 0; i < n->npeers; i++) {
        tb__rpeer_t *p = n->peers[i];
        if (!p->leaving || tb__raft_conf_find(c, p->id) < 0) continue;
        int rc = tb__raft_remove(n->r, p->id);
        if (rc == TB_RAFT_OK) {
            tb__log(&n->a->log, TB_LOG_INFO, MOD, "removing server %s (%s): it left the cluster",
                    p->name, p->addr);
            p->removed = 1;
            p->leaving = 0;
            n->book_dirty = 1;
        }
        return; /* one change at a time; busy: next round */
    }
    for (uint32_t i = 0; i < c->n; i++) {
        if (c->s[i].voter) continue;
        int rc = tb__raft_promote(n->r, c->s[i].id);
        if (rc == TB_RAFT_OK)
            tb__log(&n->a->log, TB_LOG_INFO, MOD, "promoting server %s to voter",
                    name_of(n, c->s[i].id));
        if (rc != TB_RAFT_EAGAIN) return; /* one change at a time */
    }
    for (size_t i = 0; i < n->npeers; i++) {
        tb__rpeer_t *p = n->peers[i];
        /* Only servers that dialed us recently are alive enough to add. */
        if (p->removed || p->leaving || !p->in_conns || tb__raft_conf_find(c, p->id) >= 0)
            continue;
        if (tb__raft_add_learner(n->r, p->id) == TB_RAFT_OK)
            tb__log(&n->a->log, TB_LOG_INFO, MOD, "adding server %s (%s) as a non-voter",
                    p->name, p->addr);
        return;
    }
}

/* The next snapshot check: interval + [0, interval) of jitter, so servers
 * started together do not all snapshot at once. */
static void snap_schedule(tb__raftnode_t *n, uint64_t now)
{
    n->snap_rng ^= n->snap_rng << 13;
    n->snap_rng ^= n->snap_rng >> 7;
    n->snap_rng ^= n->snap_rng << 17;
    n->snap_check_at = now + n->snap_interval_ms + n->snap_rng % n->snap_interval_ms;
}

static void tick_cb(uv_timer_t *t)
{
    tb__raftnode_t *n = t->data;
    if (n->closed) return;
    n->ticks++;
    tb__raft_tick(n->r);
    if (n->ticks % MEMBERSHIP_EVERY == 0) {
        membership(n);
        maybe_bootstrap_expect(n);
    }
    uint64_t now = uv_now(&n->a->loop);
    for (size_t i = 0; i < n->ndones;) {
        if (n->dones[i].deadline > now) {
            i++;
            continue;
        }
        tb__rdone_t d = n->dones[i];
        n->dones[i] = n->dones[--n->ndones];
        char why[200];
        if (d.kind == 1)
            snprintf(why, sizeof why, "timed out waiting for the removal of server %s to commit",
                     name_of(n, d.id));
        else
            snprintf(why, sizeof why, "leadership transfer timed out: %s did not become the "
                     "leader", name_of(n, d.id));
        d.cb(d.arg, TB_INTERNAL, why);
    }
    if (n->book_dirty) {
        n->book_dirty = 0;
        save_peers(n);
    }
    if (n->snap_interval_ms && now >= n->snap_check_at) {
        snap_schedule(n, now);
        /* raft asked since the last check: its threshold was passed */
        if (n->snap_wanted && !n->busy) {
            n->snap_wanted = 0;
            take_snapshot(n);
        }
    }
    if (n->stopping && (tb__raft_role(n->r) != TB_RAFT_LEADER || now >= n->stop_deadline)) {
        close_all(n);
        return;
    }
    drive(n);
}

void tb__rn_step(tb__raftnode_t *n, const tb__raft_msg_t *m)
{
    if (n->closed || !n->r) return;
    tb__raft_step(n->r, m);
}

/* ------------------------------------------------------------ start / stop */

static uint64_t seed_of(uint64_t id)
{
    uint64_t s = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, &s, sizeof s) != (ssize_t)sizeof s) s = 0;
        close(fd);
    }
    return s ^ id ^ ((uint64_t)getpid() << 20);
}

static tb__raftnode_t *start_fail(tb__raftnode_t *n, char **err, const char *fmt, const char *arg)
{
    char e[4600];
    snprintf(e, sizeof e, fmt, arg);
    if (err) *err = strdup(e);
    if (n->log) tb__raft_log_close(n->log);
    tb__raft_free(n->r);
    free(n->dir);
    free(n);
    return NULL;
}

tb__raftnode_t *tb__raftnode_start(struct tb__agent *a, char **err)
{
    const tb__config_t *cfg = a->config;
    tb__raftnode_t *n = calloc(1, sizeof *n);
    if (!n) {
        if (err) *err = strdup("out of memory");
        return NULL;
    }
    n->a = a;
    json_int_t mult = json_integer_value(
        json_object_get(json_object_get(cfg->merged, "performance"), "raft_multiplier"));
    n->tick_ms = TICK_UNIT_MS * (unsigned)(mult > 0 ? mult : DEFAULT_MULTIPLIER);
    if (!cfg->data_dir || !*cfg->data_dir)
        return start_fail(n, err, "%sraft: server mode needs data_dir (or -dev)", "");
    n->id = tb__rf_id_of(cfg->node_id);
    if (!n->id) return start_fail(n, err, "raft: node_id %s is not a UUID", cfg->node_id);
    if (asprintf(&n->dir, "%s/raft", cfg->data_dir) < 0) {
        n->dir = NULL;
        return start_fail(n, err, "%sout of memory", "");
    }
    snprintf(n->self_addr, sizeof n->self_addr, "%s:%d",
             cfg->advertise_addr && *cfg->advertise_addr ? cfg->advertise_addr : "127.0.0.1",
             cfg->port_server);
    tb__raft_log_report_t rep;
    memset(&rep, 0, sizeof rep);
    if (mkdir(n->dir, 0700) != 0 && errno != EEXIST)
        return start_fail(n, err, "raft: cannot create %s", n->dir);
    if (tb__raft_log_open(n->dir, 0, 0, &n->log, &rep) != 0)
        return start_fail(n, err, "raft: %s", rep.msg[0] ? rep.msg : n->dir);
    if (rep.status == TB_RAFT_LOG_TORN)
        tb__log(&a->log, TB_LOG_WARN, MOD, "recovered a torn log tail: %s", rep.msg);
    tb__raft_hard_t hs;
    memset(&rep, 0, sizeof rep);
    if (tb__raft_hard_load(n->dir, &hs, &rep) != 0)
        return start_fail(n, err, "raft: %s", rep.msg);
    tb__raft_snap_meta_t sm;
    memset(&sm, 0, sizeof sm);
    uint8_t *sd = NULL;
    size_t sl = 0;
    memset(&rep, 0, sizeof rep);
    int hs_snap = tb__raft_snap_load(n->dir, &sm, &sd, &sl, &rep);
    if (rep.msg[0]) tb__log(&a->log, TB_LOG_WARN, MOD, "skipped a damaged snapshot: %s", rep.msg);
    if (hs_snap == 1) {
        char *rerr = NULL;
        if (tb__state_restore(a->state, sd, sl, &rerr) != 0) {
            char e[600];
            snprintf(e, sizeof e, "raft: snapshot at index %" PRIu64 " in %%s is unusable: %s",
                     sm.index, rerr ? rerr : "refused");
            free(rerr);
            free(sd);
            return start_fail(n, err, e, n->dir);
        }
        n->applied = sm.index;
        n->applied_term = sm.term;
    } else {
        memset(&sm, 0, sizeof sm);
    }
    tb__raft_opts_default(&n->opts);
    n->opts.id = n->id;
    n->opts.seed = seed_of(n->id);
    n->opts.election_ticks = ELECTION_TICKS;
    n->opts.heartbeat_ticks = HEARTBEAT_TICKS;
    n->opts.max_inflight = TB_RAFT_MAX_INFLIGHT;
    const json_t *m = cfg->merged;
    json_int_t th = json_integer_value(json_object_get(m, "raft_snapshot_threshold"));
    json_int_t tr = json_integer_value(json_object_get(m, "raft_trailing_logs"));
    if (json_object_get(m, "raft_snapshot_threshold")) n->opts.snap_threshold = (uint64_t)th;
    if (json_object_get(m, "raft_trailing_logs")) n->opts.snap_trailing = (uint64_t)tr;
    uint64_t ival_ns = 0;
    const char *ival = json_string_value(json_object_get(m, "raft_snapshot_interval"));
    if (ival && tb__parse_duration(ival, &ival_ns) == 0) n->snap_interval_ms = ival_ns / 1000000;
    n->snap_rng = n->opts.seed | 1;
    if (n->snap_interval_ms) snap_schedule(n, uv_now(&a->loop));
    n->r = new_raft(n, &hs, &sm, sd, sl);
    free(sd);
    if (!n->r) return start_fail(n, err, "raft: cannot recover the log in %s", n->dir);
    size_t ne = 0;
    tb__raft_log_entries(n->log, &ne);
    tb__log(&a->log, TB_LOG_INFO, MOD,
            "initial configuration: index=%" PRIu64 " servers=%u log entries=%zu term=%" PRIu64,
            sm.index, tb__raft_conf(n->r)->n, ne, tb__raft_term(n->r));
    if (cfg->bootstrap && !tb__rn_has_state(n) && bootstrap(n, &n->id, 1) != 0)
        return start_fail(n, err, "raft: cannot bootstrap in %s", n->dir);

    char *lerr = NULL;
    /* A lone voter has nobody to hear from: it campaigns (and wins) now
     * rather than after an election timeout, so a -bootstrap server
     * answers as soon as it is up. */
    const tb__raft_conf_t *conf = tb__raft_conf(n->r);
    if (conf->n == 1 && conf->s[0].id == n->id && conf->s[0].voter)
        for (unsigned i = 0; i < 2 * ELECTION_TICKS && tb__raft_role(n->r) != TB_RAFT_LEADER; i++)
            tb__raft_tick(n->r);
    if (tb__rt_start(n, &lerr) != 0) {
        tb__raftnode_t *r = start_fail(n, err, "%s", lerr ? lerr : "raft: cannot listen");
        free(lerr);
        return r;
    }
    uv_timer_init(&a->loop, &n->tick);
    n->tick.data = n;
    uv_timer_start(&n->tick, tick_cb, n->tick_ms, n->tick_ms);
    uv_prepare_init(&a->loop, &n->prep);
    n->prep.data = n;
    uv_prepare_start(&n->prep, prep_cb);
    uv_check_init(&a->loop, &n->chk);
    n->chk.data = n;
    uv_check_start(&n->chk, check_cb);
    n->handles = 1;
    load_peers(n);
    n->book_dirty = 0;
    return n;
}

static void close_all(tb__raftnode_t *n)
{
    if (n->closed) return;
    n->closed = 1;
    fail_pending(n, TB_UNAVAILABLE);
    tb__rread_t *reads = n->reads;
    size_t nr = n->nreads;
    n->reads = NULL;
    n->nreads = n->capreads = 0;
    for (size_t i = 0; i < nr; i++) reads[i].cb(reads[i].arg, TB_UNAVAILABLE);
    free(reads);
    while (n->ndones) {
        tb__rdone_t d = n->dones[--n->ndones];
        d.cb(d.arg, TB_UNAVAILABLE, "the server is shutting down");
    }
    if (n->handles) {
        uv_close((uv_handle_t *)&n->tick, NULL);
        uv_close((uv_handle_t *)&n->prep, NULL);
        uv_close((uv_handle_t *)&n->chk, NULL);
        n->handles = 0;
    }
    tb__rt_stop(n);
}

void tb__raftnode_stop(tb__raftnode_t *n)
{
    if (!n || n->closed || n->stopping) return;
    if (tb__raft_role(n->r) == TB_RAFT_LEADER) {
        /* Hand leadership to the most caught-up voter so the cluster does
         * not wait an election timeout for our absence. */
        const tb__raft_conf_t *c = tb__raft_conf(n->r);
        uint64_t best = 0, best_match = 0;
        for (uint32_t i = 0; i < c->n; i++) {
            uint64_t id = c->s[i].id, m = tb__raft_match(n->r, id);
            if (id == n->id || !c->s[i].voter) continue;
            if (!best || m > best_match) best = id, best_match = m;
        }
        if (best && tb__raft_transfer(n->r, best) == TB_RAFT_OK) {
            tb__log(&n->a->log, TB_LOG_INFO, MOD, "transferring leadership to %s before leaving",
                    name_of(n, best));
            n->stopping = 1;
            n->stop_deadline = uv_now(&n->a->loop) + 2u * ELECTION_TICKS * n->tick_ms;
            drive(n);
            return;
        }
    }
    close_all(n);
}

void tb__raftnode_free(tb__raftnode_t *n)
{
    if (!n) return;
    if (n->book_dirty) save_peers(n);
    tb__rt_free(n);
    tb__raft_free(n->r);
    if (n->log) tb__raft_log_close(n->log);
    free(n->pend);
    free(n->reads);
    free(n->dones);
    free(n->own_data);
    free(n->dir);
    free(n);
}

/* ------------------------------------------------------------ queries */

int tb__raftnode_is_leader(const tb__raftnode_t *n)
{
    return n && n->r && !n->closed && tb__raft_role(n->r) == TB_RAFT_LEADER;
}

const char *tb__raftnode_leader_addr(const tb__raftnode_t *n)
{
    if (!n || n->closed || !n->leader_addr[0]) return NULL;
    return n->leader_addr;
}

uint64_t tb__raftnode_last_contact_ms(const tb__raftnode_t *n)
{
    if (!n || !n->r) return 0;
    return (uint64_t)tb__raft_since_leader(n->r) * n->tick_ms;
}

uint64_t tb__raftnode_applied_index(const tb__raftnode_t *n) { return n ? n->applied : 0; }
uint64_t tb__raftnode_applied_term(const tb__raftnode_t *n) { return n ? n->applied_term : 0; }

tb_status_t tb__raftnode_apply(tb__raftnode_t *n, const void *cmd, size_t len,
                               tb__raftnode_apply_cb cb, void *arg)
{
    if (!n || n->closed || n->stopping) return TB_UNAVAILABLE;
    if (tb__raft_role(n->r) != TB_RAFT_LEADER) return TB_NO_LEADER;
    if (len > TB_RAFT_MAX_FRAME / 2) return TB_BAD_REQUEST;
    if (n->npend == n->cappend && n->pend_head) {
        /* the answered front of the queue makes room */
        memmove(n->pend, n->pend + n->pend_head, (n->npend - n->pend_head) * sizeof *n->pend);
        n->npend -= n->pend_head;
        n->pend_head = 0;
    }
    if (n->npend == n->cappend) {
        size_t nc = n->cappend ? n->cappend * 2 : 64;
        tb__rpending_t *np = realloc(n->pend, nc * sizeof *np);
        if (!np) return TB_INTERNAL;
        n->pend = np;
        n->cappend = nc;
    }
    uint64_t index = 0;
    int rc = tb__raft_propose(n->r, cmd, (uint32_t)len, &index);
    if (rc == TB_RAFT_ENOTLEADER) return TB_NO_LEADER;
    if (rc != TB_RAFT_OK) return rc == TB_RAFT_ENOMEM ? TB_INTERNAL : TB_UNAVAILABLE;
    n->pend[n->npend++] = (tb__rpending_t){index, tb__raft_term(n->r), cb, arg};
    return TB_OK;
}

/* Room for one more read or waiter: 0, or -1 when out of memory. */
static int reads_reserve(tb__raftnode_t *n)
{
    if (n->nreads < n->capreads) return 0;
    size_t nc = n->capreads ? n->capreads * 2 : 64;
    tb__rread_t *nr = realloc(n->reads, nc * sizeof *nr);
    if (!nr) return -1;
    n->reads = nr;
    n->capreads = nc;
    return 0;
}

tb_status_t tb__raftnode_read_barrier(tb__raftnode_t *n, tb__raftnode_read_cb cb, void *arg)
{
    if (!n || n->closed) return TB_UNAVAILABLE;
    if (reads_reserve(n) != 0) return TB_INTERNAL;
    uint64_t ctx = ++n->read_ctx;
    if (tb__raft_read_index(n->r, ctx) != TB_RAFT_OK) return TB_NO_LEADER;
    n->reads[n->nreads++] = (tb__rread_t){ctx, 0, cb, arg};
    return TB_OK;
}

uint64_t tb__raftnode_proposed_index(const tb__raftnode_t *n)
{
    return n && n->npend > n->pend_head ? n->pend[n->npend - 1].index : 0;
}

/* Waiters share the read list: ctx 0 (read_index contexts start at 1) and
 * the index already known. */
tb_status_t tb__raftnode_wait_applied(tb__raftnode_t *n, uint64_t index, tb__raftnode_read_cb cb,
                                      void *arg)
{
    if (!n || n->closed) return TB_UNAVAILABLE;
    if (reads_reserve(n) != 0) return TB_INTERNAL;
    n->reads[n->nreads++] = (tb__rread_t){0, index ? index : 1, cb, arg};
    return TB_OK;
}

json_t *tb__raftnode_configuration(const tb__raftnode_t *cn)
{
    tb__raftnode_t *n = (tb__raftnode_t *)cn; /* lookups only */
    if (!n || !n->r) return NULL;
    const tb__raft_conf_t *c = tb__raft_conf(n->r);
    uint64_t leader = tb__raft_leader(n->r);
    json_t *servers = json_array();
    for (uint32_t i = 0; i < c->n; i++) {
        uint64_t id = c->s[i].id;
        const char *uuid = uuid_of(n, id), *addr = addr_of(n, id);
        char hex[17];
        snprintf(hex, sizeof hex, "%016" PRIx64, id);
        json_array_append_new(servers,
                              json_pack("{s:s,s:s,s:s,s:b,s:s,s:b}", "ID", uuid ? uuid : hex,
                                        "Node", name_of(n, id), "Address", addr ? addr : "",
                                        "Leader", id == leader, "ProtocolVersion", "3", "Voter",
                                        c->s[i].voter != 0));
    }
    return json_pack("{s:o,s:I}", "Servers", servers, "Index", (json_int_t)n->conf_index);
}

json_t *tb__raftnode_peers(const tb__raftnode_t *cn)
{
    tb__raftnode_t *n = (tb__raftnode_t *)cn;
    if (!n || !n->r) return NULL;
    const tb__raft_conf_t *c = tb__raft_conf(n->r);
    json_t *arr = json_array();
    for (uint32_t i = 0; i < c->n; i++) {
        const char *addr = addr_of(n, c->s[i].id);
        if (c->s[i].voter && addr) json_array_append_new(arr, json_string(addr));
    }
    return arr;
}

static tb_status_t add_done(tb__raftnode_t *n, int kind, uint64_t id, tb__raftnode_done_cb cb,
                            void *arg)
{
    tb__rdone_t *nd = realloc(n->dones, (n->ndones + 1) * sizeof *nd);
    if (!nd) return TB_INTERNAL;
    n->dones = nd;
    /* raft abandons a transfer after an election timeout: give the target
     * that long to win, and its election as long again */
    uint64_t wait = kind == 2 ? 2u * ELECTION_TICKS * n->tick_ms : DONE_TIMEOUT_MS;
    n->dones[n->ndones++] = (tb__rdone_t){id, kind, uv_now(&n->a->loop) + wait, cb, arg};
    return TB_OK;
}

static uint64_t find_server(tb__raftnode_t *n, const char *id, const char *address)
{
    const tb__raft_conf_t *c = tb__raft_conf(n->r);
    for (uint32_t i = 0; i < c->n; i++) {
        const char *u = uuid_of(n, c->s[i].id), *ad = addr_of(n, c->s[i].id);
        if (id && *id && u && strcasecmp(u, id) == 0) return c->s[i].id;
        if (address && *address && ad && strcmp(ad, address) == 0) return c->s[i].id;
    }
    return 0;
}

static tb_status_t map_rc(int rc)
{
    switch (rc) {
    case TB_RAFT_OK: return TB_OK;
    case TB_RAFT_ENOTLEADER: return TB_NO_LEADER;
    case TB_RAFT_EINVAL: return TB_BAD_REQUEST;
    case TB_RAFT_ENOMEM: return TB_INTERNAL;
    default: return TB_UNAVAILABLE;
    }
}

tb_status_t tb__raftnode_remove_peer(tb__raftnode_t *n, const char *id, const char *address,
                                     tb__raftnode_done_cb cb, void *arg)
{
    if (!n || n->closed) return TB_UNAVAILABLE;
    if (tb__raft_role(n->r) != TB_RAFT_LEADER) return TB_NO_LEADER;
    uint64_t sid = find_server(n, id, address);
    if (!sid) return TB_NOT_FOUND;
    tb_status_t st = map_rc(tb__raft_remove(n->r, sid));
    if (st != TB_OK) return st;
    tb__rpeer_t *p = tb__rt_peer(n, sid);
    if (p) {
        p->removed = 1;
        n->book_dirty = 1;
    }
    tb__log(&n->a->log, TB_LOG_INFO, MOD, "removing server %s", name_of(n, sid));
    return add_done(n, 1, sid, cb, arg);
}

tb_status_t tb__raftnode_transfer_leader(tb__raftnode_t *n, const char *id,
                                         tb__raftnode_done_cb cb, void *arg)
{
    if (!n || n->closed) return TB_UNAVAILABLE;
    if (tb__raft_role(n->r) != TB_RAFT_LEADER) return TB_NO_LEADER;
    uint64_t to = 0;
    if (id && *id) {
        to = find_server(n, id, NULL);
        if (!to) return TB_NOT_FOUND;
    } else {
        const tb__raft_conf_t *c = tb__raft_conf(n->r);
        uint64_t best_match = 0;
        for (uint32_t i = 0; i < c->n; i++) {
            uint64_t m = tb__raft_match(n->r, c->s[i].id);
            if (c->s[i].id == n->id || !c->s[i].voter) continue;
            if (!to || m > best_match) to = c->s[i].id, best_match = m;
        }
        if (!to) return TB_BAD_REQUEST;
    }
    tb_status_t st = map_rc(tb__raft_transfer(n->r, to));
    if (st != TB_OK) return st;
    return add_done(n, 2, to, cb, arg);
}

void tb__raftnode_server_left(tb__raftnode_t *n, const char *node_id)
{
    if (!n || n->closed) return;
    tb__rpeer_t *p = tb__rt_peer(n, tb__rf_id_of(node_id));
    /* removed by the leader's membership round (one change at a time) */
    if (p && !p->removed) p->leaving = 1;
    if (p) membership(n);
}

void tb__raftnode_server_seen(tb__raftnode_t *n, const char *node_id, const char *node_name,
                              const char *addr, int expect)
{
    if (!n || n->closed) return;
    tb__rt_seen(n, node_id, node_name, addr, expect, -1);
}
