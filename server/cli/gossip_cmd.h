/*
 * gossip_cmd.h - the gossip subcommands of `tribune` (join, leave,
 * force-leave, event, keygen) and the one-request helper they share with
 * local_cmd.c.
 */
#ifndef TB_CLI_GOSSIP_CMD_H
#define TB_CLI_GOSSIP_CMD_H

#include "cli/cli_int.h"

/* One request; 0 on 2xx, else prints "<what>: <error>" and returns -1.
 * With out, the JSON answer (uint64-exact) is returned there. */
int tb__cli_call(const tb__http_opts_t *o, const char *method, const char *path, const char *q,
                 const char *body, const char *what, json_t **out);

int tb__cmd_join(int argc, char **argv);
int tb__cmd_leave(int argc, char **argv);
int tb__cmd_force_leave(int argc, char **argv);
int tb__cmd_event(int argc, char **argv);
int tb__cmd_keygen(int argc, char **argv);
/* keyring_cmd.c */
int tb__cmd_keyring(int argc, char **argv);

#endif
