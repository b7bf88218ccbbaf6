/*
 * endpoint.h - the endpoint layer: the one internal API every surface calls
 * (DESIGN.md §3). It authorizes (ACL hook, allow-all until ACLs land),
 * answers locally or forwards (client agent -> server, follower -> leader,
 * over the server port's RPC: rpc_int.h) by consistency mode, encodes writes as
 * commands applied through the FSM, and implements blocking queries and
 * consistency modes once for all surfaces. Every call completes through
 * its callback on a later loop iteration, never inside the call.
 */
#ifndef TB_ENDPOINT_H
#define TB_ENDPOINT_H

#include <tribune/plugin.h>

struct tb__agent;
typedef struct tb__endpoint tb__endpoint_t;

tb__endpoint_t *tb__endpoint_new(struct tb__agent *agent);
/* Complete every call still queued or blocked with TB_UNAVAILABLE and close
 * the endpoint's handles (the loop must run afterwards to finish closing). */
void tb__endpoint_shutdown(tb__endpoint_t *ep);
void tb__endpoint_free(tb__endpoint_t *ep);

/* Generic call by method name ("Catalog.Register" ...; doc/sdk.md lists
 * them with their args and results). args is borrowed: the endpoint takes
 * its own reference. Returns NULL only when out of memory. */
tb_call_t *tb__endpoint_call(tb__endpoint_t *ep, const char *method, json_t *args,
                             const tb_query_opts_t *opts, tb_result_cb cb, void *arg);
tb_call_t *tb__endpoint_kv_read(tb__endpoint_t *ep, const tb_kv_read_t *req,
                                const tb_query_opts_t *opts, tb_result_cb cb, void *arg);
tb_call_t *tb__endpoint_kv_write(tb__endpoint_t *ep, const tb_kv_write_t *req,
                                 const tb_query_opts_t *opts, tb_result_cb cb, void *arg);
/* Typed catalog read (catalog_view.c): NULL when out of memory or req is
 * invalid (unknown kind, size too small). */
tb_call_t *tb__endpoint_catalog_read(tb__endpoint_t *ep, const tb_catalog_read_t *req,
                                     const tb_query_opts_t *opts, tb_result_cb cb, void *arg);
/* The callback of a cancelled call never runs. Safe on any pending call. */
void tb__endpoint_cancel(tb_call_t *call);

/* Servers: listen on bind_addr:ports.server (rpc.c: Raft hand-over and
 * the forwarding RPC). -1 with *err (malloc'd, one line) on failure. */
int tb__endpoint_listen(tb__endpoint_t *ep, char **err);
/* A server's "host:port" (server port) was seen alive or failed, e.g. in
 * serf member tags: client agents forward to the alive ones. */
void tb__endpoint_server_seen(tb__endpoint_t *ep, const char *addr, int alive);

/* The Raft node gained (1) or lost (0) leadership: session TTL timers
 * follow the leader. */
void tb__endpoint_leadership(tb__endpoint_t *ep, int leader);

/* Lowercase every key, recursively (check definitions handed to plugins). */
json_t *tb__lowercase_keys(const json_t *in);

/* Number of calls blocked in a query (metrics, tests). */
size_t tb__endpoint_waiting(const tb__endpoint_t *ep);

#endif
