/*
 * members.h - the endpoint methods over the agent's gossip pools
 * (server/gossip/runtime.h): Agent.Members, Agent.Join, Agent.Leave,
 * Agent.ForceLeave, Event.Fire, Event.List (blocking on the event index),
 * Operator.Keyring (deferred until the keyring queries are answered).
 */
#ifndef TB_ENDPOINT_MEMBERS_H
#define TB_ENDPOINT_MEMBERS_H

#include "endpoint/endpoint_int.h"

#define TB__GOSSIP_METHOD(fn) \
    void fn(tb__endpoint_t *ep, const json_t *args, tb__ep_out_t *out, tb__buf_t *cmd)
TB__GOSSIP_METHOD(tb__m_members);
TB__GOSSIP_METHOD(tb__m_join);
TB__GOSSIP_METHOD(tb__m_leave);
TB__GOSSIP_METHOD(tb__m_force_leave);
TB__GOSSIP_METHOD(tb__m_event_fire);
TB__GOSSIP_METHOD(tb__m_event_list);
/* Operator.Keyring {Operation: list|install|use|remove, Key} (deferred
 * until the serf keyring queries are answered). */
TB__GOSSIP_METHOD(tb__m_keyring);
int tb__w_events(tb__watch_t *w, const json_t *args);
/* A user event arrived: wake Event.List waiters and drop cached lists
 * (events live outside the state store, whose index guards the cache). */
void tb__ep_events_changed(tb__endpoint_t *ep);
/* Stats.serf_lan / serf_wan of /v1/agent/self, NULL without gossip. */
json_t *tb__gossip_self_stats(tb__endpoint_t *ep, int wan);

#endif
