/*
 * members.c - endpoint methods over the gossip pools: members, join,
 * leave, force-leave and Consul user events. Join answers once its
 * push/pull exchange ended (a deferred call, tb__ep_defer). Event.List
 * blocks on the "events" pseudo table of the watch registry, and only while
 * the event index equals ?index (Consul compares for equality: the index is
 * a hash).
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "endpoint/members.h"
#include "gossip/keyring.h"
#include "gossip/runtime.h"

static tb__gossip_t *running(tb__endpoint_t *ep, tb__ep_out_t *out)
{
    tb__gossip_t *g = ep->agent->gossip;
    if (tb__gossip_running(g)) return g;
    tb__ep_fail(out, TB_UNAVAILABLE, "gossip is not running on this agent");
    return NULL;
}

static void fail_err(tb__ep_out_t *out, char *err)
{
    tb__ep_fail(out, TB_BAD_REQUEST, "%s", err ? err : "failed");
    free(err);
}

TB__GOSSIP_METHOD(tb__m_members)
{
    (void)cmd;
    tb__gossip_t *g = running(ep, out);
    if (!g) return;
    out->json = tb__gossip_members(g, json_is_true(tb__jget(args, "WAN")));
}

json_t *tb__gossip_self_stats(tb__endpoint_t *ep, int wan)
{
    tb__gossip_t *g = ep->agent->gossip;
    return tb__gossip_running(g) ? tb__gossip_stats(g, wan) : NULL;
}

/* Agent.Join answers once the push/pull with the address succeeded or
 * failed (Consul: 500 "1 error occurred: * Failed to join ADDR: ..."). */
static void join_done(void *arg, int joined, const char *error)
{
    tb_call_t *c = arg;
    tb__agent_t *a = c->ep->agent;
    const char *addr = tb__jstr(c->args, "Address");
    tb__ep_out_t o;
    memset(&o, 0, sizeof o);
    if (joined > 0) {
        tb__log(&a->log, TB_LOG_INFO, "agent", "Join completed: contacted %d node(s)", joined);
        o.json = json_true();
    } else {
        tb__log(&a->log, TB_LOG_WARN, "agent", "Join failed: %s: %s", addr ? addr : "?",
                error ? error : "no node contacted");
        tb__ep_fail(&o, TB_INTERNAL, "1 error occurred:\n\t* Failed to join %s: %s\n\n",
                    addr ? addr : "?", error ? error : "no node contacted");
    }
    tb__ep_deferred_done(c, &o);
}

TB__GOSSIP_METHOD(tb__m_join)
{
    (void)cmd;
    tb__gossip_t *g = running(ep, out);
    if (!g) return;
    const char *addr = tb__jstr(args, "Address");
    char *err = NULL;
    if (!addr || !*addr) {
        tb__ep_fail(out, TB_BAD_REQUEST, "Missing address");
        return;
    }
    tb_call_t *c = tb__ep_defer(out);
    if (!c) {
        tb__ep_fail(out, TB_INTERNAL, "join needs a deferrable call");
        return;
    }
    if (tb__gossip_join(g, json_is_true(tb__jget(args, "WAN")), &addr, 1, join_done, c,
                        &err) != 0) {
        out->deferred = 0;
        fail_err(out, err);
    }
}

TB__GOSSIP_METHOD(tb__m_leave)
{
    (void)args, (void)cmd;
    tb__gossip_t *g = running(ep, out);
    if (!g) return;
    tb__gossip_leave_and_exit(g);
    out->json = json_true();
}

TB__GOSSIP_METHOD(tb__m_force_leave)
{
    (void)cmd;
    tb__gossip_t *g = running(ep, out);
    if (!g) return;
    char *err = NULL;
    const char *node = tb__jstr(args, "Node");
    if (!node || !*node) {
        tb__ep_fail(out, TB_BAD_REQUEST, "Missing node name");
        return;
    }
    if (tb__gossip_force_leave(g, node, json_is_true(tb__jget(args, "Prune")),
                               json_is_true(tb__jget(args, "WAN")), &err) != 0) {
        fail_err(out, err);
        return;
    }
    out->json = json_true();
}

static int bad_regex(tb__ep_out_t *out, const char *what, const char *re)
{
    regex_t r;
    if (!re || !*re) return 0;
    if (regcomp(&r, re, REG_EXTENDED | REG_NOSUB) != 0) {
        tb__ep_fail(out, TB_BAD_REQUEST, "Invalid %s filter: %s", what, re);
        return 1;
    }
    regfree(&r);
    return 0;
}

TB__GOSSIP_METHOD(tb__m_event_fire)
{
    (void)cmd;
    tb__gossip_t *g = running(ep, out);
    if (!g) return;
    const char *name = tb__jstr(args, "Name");
    const char *nf = tb__jstr(args, "NodeFilter"), *sf = tb__jstr(args, "ServiceFilter");
    const char *tf = tb__jstr(args, "TagFilter");
    if (!name || !*name) {
        tb__ep_fail(out, TB_BAD_REQUEST, "Missing name");
        return;
    }
    if (tf && *tf && !(sf && *sf)) {
        tb__ep_fail(out, TB_BAD_REQUEST, "Cannot provide tag filter without service filter");
        return;
    }
    if (bad_regex(out, "node", nf) || bad_regex(out, "service", sf) || bad_regex(out, "tag", tf))
        return;
    char id[37];
    tb__ep_uuid(ep, id);
    json_t *pl = tb__jget(args, "Payload");
    json_t *ev = json_pack("{s:s,s:s,s:O,s:s,s:s,s:s,s:i,s:i}", "ID", id, "Name", name, "Payload",
                           json_is_string(pl) ? pl : json_null(), "NodeFilter", nf ? nf : "",
                           "ServiceFilter", sf ? sf : "", "TagFilter", tf ? tf : "", "Version", 1,
                           "LTime", 0);
    char *err = NULL;
    if (!ev) {
        tb__ep_fail(out, TB_BAD_REQUEST, "invalid event");
        return;
    }
    if (tb__gossip_fire(g, ev, &err) != 0) {
        json_decref(ev);
        fail_err(out, err);
        return;
    }
    out->json = ev;
}

TB__GOSSIP_METHOD(tb__m_event_list)
{
    (void)cmd;
    const char *name = tb__jstr(args, "Name");
    out->json = tb__gossip_events(ep->agent->gossip, name);
    out->index = tb__gossip_events_index(out->json);
    /* Wait only while nothing changed: the index is a hash, not a clock. */
    json_int_t want = json_integer_value(tb__jget(args, "MinIndex"));
    out->blockable = want && (uint64_t)want == out->index;
}

void tb__ep_events_changed(tb__endpoint_t *ep)
{
    tb__ep_cache_clear(ep);
    tb__watch_notify(ep->agent->watches, TB__WATCH_TABLE, "events");
    tb__watch_flush(ep->agent->watches);
}

int tb__w_events(tb__watch_t *w, const json_t *args)
{
    (void)args;
    return tb__watch_on(w, TB__WATCH_TABLE, "events");
}

/* Operator.Keyring: the answer comes when every member answered the
 * serf query (or it timed out): the call is deferred until then. */
static void keyring_done(void *arg, json_t *responses, const char *error)
{
    tb_call_t *c = arg;
    tb__ep_out_t o;
    memset(&o, 0, sizeof o);
    if (error) {
        tb__ep_fail(&o, TB_INTERNAL, "%s", error);
        tb__ep_deferred_done(c, &o);
        return;
    }
    int list = !strcmp(tb__jstr(c->args, "Operation"), "list");
    /* Consul: a change fails (500) with every pool's errors and the
     * members' messages; a list shows the counts as they are. */
    char *errs = NULL;
    size_t nerr = 0, len = 0;
    FILE *f = open_memstream(&errs, &len);
    size_t i;
    json_t *r;
    json_array_foreach(responses, i, r) {
        const char *e = tb__jstr(r, "Error");
        if (!e || !f) continue;
        char pool[160];
        if (json_is_true(json_object_get(r, "WAN")))
            snprintf(pool, sizeof pool, "WAN");
        else
            snprintf(pool, sizeof pool, "%s (LAN)", tb__jstr(r, "Datacenter"));
        fprintf(f, "\t* %s error: %s\n", pool, e);
        nerr++;
        const char *node;
        json_t *msg;
        json_object_foreach(json_object_get(r, "Messages"), node, msg) {
            fprintf(f, "\t* %s: %s\n", node, json_string_value(msg));
            nerr++;
        }
    }
    if (f) fclose(f);
    if (nerr && !list)
        tb__ep_fail(&o, TB_INTERNAL, "%zu error%s occurred:\n%s\n", nerr, nerr > 1 ? "s" : "",
                    errs ? errs : "");
    else if (list)
        o.json = json_incref(responses);
    else
        o.json = json_string(""); /* Consul: 200 with an empty body */
    free(errs);
    tb__ep_deferred_done(c, &o);
}

TB__GOSSIP_METHOD(tb__m_keyring)
{
    (void)cmd;
    tb__gossip_t *g = running(ep, out);
    if (!g) return;
    static const char *const ops[] = {"list", "install", "use", "remove"};
    const char *op = tb__jstr(args, "Operation");
    int k = -1;
    for (int i = 0; op && i < 4; i++)
        if (!strcmp(op, ops[i])) k = i;
    if (k < 0) {
        tb__ep_fail(out, TB_BAD_REQUEST, "Unknown keyring operation: %s", op ? op : "(none)");
        return;
    }
    const char *key = tb__jstr(args, "Key");
    if (k != TB__KEYOP_LIST && (!key || !*key)) {
        tb__ep_fail(out, TB_BAD_REQUEST, "Missing key");
        return;
    }
    tb_call_t *c = tb__ep_defer(out);
    if (!c) {
        tb__ep_fail(out, TB_INTERNAL, "keyring operations need a deferrable call");
        return;
    }
    char *err = NULL;
    if (tb__gossip_keyring(g, k, key, keyring_done, c, &err) != 0) {
        out->deferred = 0;
        fail_err(out, err);
    }
}
