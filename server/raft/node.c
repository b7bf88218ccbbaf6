/*
 * node.c - the Raft server inside the agent (see node.h). Placeholder
 * until the libuv glue lands: no server has a node, every request answers
 * that there is no leader.
 */
#include "tb_autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "raft/node.h"

tb__raftnode_t *tb__raftnode_start(struct tb__agent *a, char **err)
{
    (void)a;
    if (err) *err = strdup("raft: server mode is not available in this build");
    return NULL;
}
void tb__raftnode_stop(tb__raftnode_t *n) { (void)n; }
void tb__raftnode_free(tb__raftnode_t *n) { (void)n; }
static void close_free(uv_handle_t *h) { free(h); }
void tb__raftnode_accept(tb__raftnode_t *n, uv_tcp_t *conn, const uint8_t *head, size_t len)
{
    (void)n, (void)head, (void)len;
    uv_close((uv_handle_t *)conn, close_free);
}
void tb__raftnode_server_seen(tb__raftnode_t *n, const char *node_id, const char *node_name,
                              const char *addr, int expect)
{
    (void)n, (void)node_id, (void)node_name, (void)addr, (void)expect;
}
int tb__raftnode_is_leader(const tb__raftnode_t *n) { (void)n; return 0; }
const char *tb__raftnode_leader_addr(const tb__raftnode_t *n) { (void)n; return NULL; }
uint64_t tb__raftnode_last_contact_ms(const tb__raftnode_t *n) { (void)n; return 0; }
uint64_t tb__raftnode_applied_index(const tb__raftnode_t *n) { (void)n; return 0; }
tb_status_t tb__raftnode_apply(tb__raftnode_t *n, const void *cmd, size_t len,
                               tb__raftnode_apply_cb cb, void *arg)
{
    (void)n, (void)cmd, (void)len, (void)cb, (void)arg;
    return TB_NO_LEADER;
}
tb_status_t tb__raftnode_read_barrier(tb__raftnode_t *n, tb__raftnode_read_cb cb, void *arg)
{
    (void)n, (void)cb, (void)arg;
    return TB_NO_LEADER;
}
json_t *tb__raftnode_configuration(const tb__raftnode_t *n) { (void)n; return NULL; }
json_t *tb__raftnode_peers(const tb__raftnode_t *n) { (void)n; return NULL; }
tb_status_t tb__raftnode_remove_peer(tb__raftnode_t *n, const char *id, const char *address,
                                     tb__raftnode_done_cb cb, void *arg)
{
    (void)n, (void)id, (void)address, (void)cb, (void)arg;
    return TB_NO_LEADER;
}
tb_status_t tb__raftnode_transfer_leader(tb__raftnode_t *n, const char *id,
                                         tb__raftnode_done_cb cb, void *arg)
{
    (void)n, (void)id, (void)cb, (void)arg;
    return TB_NO_LEADER;
}
