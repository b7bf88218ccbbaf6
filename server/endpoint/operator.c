/*
 * operator.c - the endpoint methods behind Consul's operator surface:
 * Operator.RaftGetConfiguration, Operator.RaftRemovePeer,
 * Operator.RaftTransferLeader, Snapshot.Save and Snapshot.Restore.
 *
 * On a Raft server they ask the node (server/raft/node.h); a -dev agent
 * (a->raft == NULL) answers as the one-server cluster it is: itself as the
 * leader and only voter at its advertise address and server port.
 *
 * Snapshots travel through the generic JSON call as base64 ("Archive"), so
 * every surface and the forwarding RPC carry them unchanged; the archive
 * (server/state/archive.h) is built and checked here, in the core, and a
 * restore is a RESTORE command: replicated through Raft like any write,
 * applied directly on -dev. A damaged archive or blob is refused before
 * anything is proposed.
 */
#include "tb_autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "agent/agent.h"
#include "config/tb_config.h"
#include "endpoint/endpoint_int.h"
#include "raft/node.h"
#include "raft/raft.h"
#include "state/archive.h"

#define CFG(ep) ((ep)->agent->config)
/* A RESTORE travels as one Raft entry (server/state/cmd.c). */
#define RESTORE_MAX_ENTRY (TB_RAFT_MAX_FRAME / 2)

static int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* "ip:port" of this agent's server port. */
static void self_addr(tb__endpoint_t *ep, char *buf, size_t n)
{
    const tb__config_t *cfg = CFG(ep);
    snprintf(buf, n, "%s:%d", cfg->advertise_addr ? cfg->advertise_addr : "127.0.0.1",
             cfg->port_server);
}

/* ------------------------------------------------------------ configuration */

static json_t *dev_configuration(tb__endpoint_t *ep)
{
    const tb__config_t *cfg = CFG(ep);
    char addr[300];
    self_addr(ep, addr, sizeof addr);
    return json_pack("{s:[{s:s,s:s,s:s,s:b,s:s,s:b}],s:i}", "Servers", "ID",
                     cfg->node_id ? cfg->node_id : "", "Node", cfg->node_name, "Address", addr,
                     "Leader", 1, "ProtocolVersion", "3", "Voter", 1, "Index", 1);
}

void tb__m_raft_configuration(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out,
                              tb__buf_t *c)
{
    (void)a, (void)c;
    tb__raftnode_t *n = ep->agent->raft;
    out->json = n ? tb__raftnode_configuration(n) : dev_configuration(ep);
    if (!out->json) tb__ep_fail(out, TB_INTERNAL, "cannot read the Raft configuration");
}

/* ------------------------------------------------------------ peer changes */

/* The node's completion: the call answers once the removal committed or
 * the target became the leader (status != TB_OK: timed out, another
 * leader, shutting down), as Consul's answers wait for raft's future. */
static void peer_done(void *arg, tb_status_t status, const char *error)
{
    tb_call_t *call = arg;
    tb__ep_out_t o;
    memset(&o, 0, sizeof o);
    if (status == TB_OK) o.json = json_true();
    else tb__ep_fail(&o, status, "%s", error && *error ? error : "Raft operation failed");
    tb__ep_deferred_done(call, &o);
}

/* A node call that refused at once (not the leader, unknown server...). */
static void node_refused(tb__ep_out_t *out, tb_status_t st, const char *what)
{
    if (st == TB_NO_LEADER)
        tb__ep_fail(out, TB_NO_LEADER, "No cluster leader");
    else
        tb__ep_fail(out, st, "%s", what);
}

void tb__m_raft_remove_peer(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out, tb__buf_t *c)
{
    (void)c;
    const char *id = tb__jstr(a, "ID"), *addr = tb__jstr(a, "Address");
    if (id && !*id) id = NULL;
    if (addr && !*addr) addr = NULL;
    if ((id != NULL) == (addr != NULL)) {
        tb__ep_fail(out, TB_BAD_REQUEST, "Must specify either ?id with the server's ID or "
                                         "?address with IP:port of peer to remove");
        return;
    }
    tb__raftnode_t *n = ep->agent->raft;
    if (!n) {
        const tb__config_t *cfg = CFG(ep);
        char self[300];
        self_addr(ep, self, sizeof self);
        if ((id && cfg->node_id && strcmp(id, cfg->node_id) == 0) ||
            (addr && strcmp(addr, self) == 0))
            tb__ep_fail(out, TB_BAD_REQUEST,
                        "cannot remove the only server of a single-server (dev) cluster");
        else
            tb__ep_fail(out, TB_BAD_REQUEST, "%s %s was not found in the Raft configuration",
                        id ? "id" : "address", id ? id : addr);
        return;
    }
    tb_call_t *call = tb__ep_defer(out);
    tb_status_t st = call ? tb__raftnode_remove_peer(n, id, addr, peer_done, call) : TB_INTERNAL;
    if (st != TB_OK) out->deferred = 0;
    if (st == TB_NOT_FOUND || st == TB_BAD_REQUEST)
        tb__ep_fail(out, TB_BAD_REQUEST, "%s %s was not found in the Raft configuration",
                    id ? "id" : "address", id ? id : addr);
    else if (st != TB_OK)
        node_refused(out, st, "cannot remove that server");
}

void tb__m_raft_transfer_leader(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out,
                                tb__buf_t *c)
{
    (void)c;
    const char *id = tb__jstr(a, "ID");
    if (id && !*id) id = NULL;
    tb__raftnode_t *n = ep->agent->raft;
    if (!n) {
        tb__ep_fail(out, TB_BAD_REQUEST,
                    "cannot find a peer to transfer leadership to: this is a single-server "
                    "(dev) cluster");
        return;
    }
    tb_call_t *call = tb__ep_defer(out);
    tb_status_t st = call ? tb__raftnode_transfer_leader(n, id, peer_done, call) : TB_INTERNAL;
    if (st != TB_OK) out->deferred = 0;
    if (st == TB_NOT_FOUND)
        tb__ep_fail(out, TB_BAD_REQUEST, "id %s was not found in the Raft configuration", id);
    else if (st == TB_BAD_REQUEST && id)
        tb__ep_fail(out, TB_BAD_REQUEST, "cannot transfer leadership to %s: it is this server "
                    "or not a voter", id);
    else if (st == TB_BAD_REQUEST)
        tb__ep_fail(out, TB_BAD_REQUEST, "cannot find a voter to transfer leadership to");
    else if (st != TB_OK)
        node_refused(out, st, "cannot transfer leadership");
}

/* ------------------------------------------------------------ snapshots */

/* A save in progress: the state blob is taken on the loop (the store is
 * the loop's), gzip + SHA-256 + base64 run on the libuv thread pool so a
 * large store does not stall every other request meanwhile. */
typedef struct snap_job {
    uv_work_t req;
    tb_call_t *call;
    uint8_t *blob;
    size_t len;
    uint64_t index, term;
    int64_t now_ms;
    char *b64; /* the archive, base64 (NULL: failed) */
} snap_job_t;

static void snap_work(uv_work_t *req)
{
    snap_job_t *j = req->data;
    uint8_t *ar = NULL;
    size_t arlen = 0;
    if (tb__snap_archive_build(j->blob, j->len, j->index, j->term, j->now_ms, &ar, &arlen) == 0)
        j->b64 = tb__base64_encode(ar, arlen);
    free(ar);
    free(j->blob);
    j->blob = NULL;
}

/* The job's outcome into o; frees the job. */
static void snap_result(snap_job_t *j, tb__ep_out_t *o)
{
    if (!j->b64) {
        tb__ep_fail(o, TB_INTERNAL, "cannot build the snapshot archive");
    } else {
        o->json = json_pack("{s:s,s:I}", "Archive", j->b64, "Index", (json_int_t)j->index);
        o->index = j->index ? j->index : 1;
        if (!o->json) tb__ep_fail(o, TB_INTERNAL, "out of memory");
    }
    free(j->blob);
    free(j->b64);
    free(j);
}

static void snap_after(uv_work_t *req, int status)
{
    snap_job_t *j = req->data;
    tb_call_t *call = j->call;
    tb__ep_out_t o;
    memset(&o, 0, sizeof o);
    if (status != 0) { /* cancelled: never ran */
        free(j->b64);
        j->b64 = NULL;
    }
    snap_result(j, &o);
    tb__ep_deferred_done(call, &o);
}

void tb__m_snapshot_save(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out, tb__buf_t *c)
{
    (void)a, (void)c;
    tb__agent_t *ag = ep->agent;
    snap_job_t *j = calloc(1, sizeof *j);
    if (!j || tb__state_serialize(ag->state, &j->blob, &j->len) != 0) {
        tb__ep_fail(out, TB_INTERNAL, "cannot serialize the state store");
        free(j);
        return;
    }
    j->index = tb__state_last_index(ag->state);
    /* -dev has no terms: its one server's single term is 1 */
    j->term = 1;
    if (ag->raft && tb__raftnode_applied_index(ag->raft) >= j->index) {
        j->index = tb__raftnode_applied_index(ag->raft);
        if (tb__raftnode_applied_term(ag->raft)) j->term = tb__raftnode_applied_term(ag->raft);
    }
    j->now_ms = wall_ms();
    j->req.data = j;
    j->call = tb__ep_defer(out);
    if (!j->call || uv_queue_work(&ag->loop, &j->req, snap_work, snap_after) != 0) {
        out->deferred = 0;
        snap_work(&j->req); /* no pool (or no call to park): build it here */
        snap_result(j, out);
    }
}

/* The restored store's sessions replace the TTL timers of the old one (the
 * restore is applied right after this method, or committed by Raft: a
 * leader that loses it meanwhile hands TTL duty to the next leader). */
static void rearm_ttls(tb__endpoint_t *ep, const json_t *ttls)
{
    while (ep->nttls) tb__ep_ttl_drop(ep, ep->ttls[0].id);
    size_t i;
    json_t *t;
    json_array_foreach(ttls, i, t) {
        const char *id = json_string_value(json_object_get(t, "ID"));
        const char *ttl = json_string_value(json_object_get(t, "TTL"));
        uint64_t ns;
        if (id && ttl && tb__parse_duration(ttl, &ns) == 0 && ns)
            tb__ep_ttl_set(ep, id, ns / 1000000ULL);
    }
}

void tb__m_snapshot_restore(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out,
                            tb__buf_t *cmd)
{
    const char *b64 = tb__jstr(a, "Archive");
    if (!b64 || !*b64) {
        tb__ep_fail(out, TB_BAD_REQUEST, "Missing snapshot archive in the request body");
        return;
    }
    void *raw = NULL;
    size_t rawlen = 0;
    if (tb__base64_decode(b64, strlen(b64), &raw, &rawlen) != 0) {
        tb__ep_fail(out, TB_BAD_REQUEST, "snapshot archive: invalid base64");
        return;
    }
    uint8_t *blob = NULL;
    size_t len = 0;
    tb__snap_meta_t meta;
    char *err = NULL;
    int rc = tb__snap_archive_read(raw, rawlen, &blob, &len, &meta, &err);
    free(raw);
    /* the blob's own checks, in a scratch store that also yields the
     * session TTLs to re-arm */
    tb__state_t *scratch = NULL;
    if (rc == 0 && (tb__state_open(&scratch, NULL, &err) != 0 ||
                    tb__state_restore(scratch, blob, len, &err) != 0))
        rc = -1;
    json_t *ttls = rc == 0 ? tb__state_session_ttls(scratch) : NULL;
    tb__state_close(scratch);
    if (rc != 0) {
        tb__ep_fail(out, TB_BAD_REQUEST, "%s", err ? err : "invalid snapshot archive");
        free(err);
        free(blob);
        return;
    }
    if (tb__cmd_encode_restore(blob, len, wall_ms(), cmd) != 0) {
        tb__ep_fail(out, TB_INTERNAL, "cannot encode the restore command");
    } else if (ep->agent->raft && cmd->len > RESTORE_MAX_ENTRY) {
        /* one log entry: it must fit a Raft frame with room to spare, or
         * it could never be replicated */
        tb__ep_fail(out, TB_TOO_LARGE, "snapshot too large to restore through Raft: %zu bytes "
                    "(limit %u)", cmd->len, (unsigned)RESTORE_MAX_ENTRY);
        tb__buf_free(cmd);
    } else {
        out->json = json_true();
        rearm_ttls(ep, ttls);
    }
    json_decref(ttls);
    free(blob);
}
