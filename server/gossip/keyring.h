/*
 * keyring.h - serf's key manager for the agent's gossip keyrings: the
 * answer a member gives to the _serf_list-keys / _serf_install-key /
 * _serf_use-key / _serf_remove-key queries (applied to its keyring and
 * persisted to data_dir/serf/<pool>.keyring), and the querier's
 * aggregation of the answers into Consul's KeyringResponse.
 */
#ifndef TB_GOSSIP_KEYRING_H
#define TB_GOSSIP_KEYRING_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "gossip/wire.h"

enum { TB__KEYOP_LIST = 0, TB__KEYOP_INSTALL, TB__KEYOP_USE, TB__KEYOP_REMOVE };

/* serf's query name of an operation ("_serf_list-keys" ...). */
const char *tb__keyring_query_name(int op);
/* Query payload: keyRequest (07 | {"Key": raw}) or empty for a list. */
int tb__keyring_request(int op, const uint8_t *key, size_t len, tb__gw_buf_t *out);
/* Answer a keyring query to this member: apply it to kr (when encrypted),
 * persist the ring to path (may be NULL) and encode the keyResponse
 * (08 | {"Keys","Message","PrimaryKey","Result"}) into out. 0 or -1 when
 * the query is not a keyring query. */
int tb__keyring_answer(tb__gw_keyring_t *kr, int encrypted, const char *path,
                       const char *qname, const uint8_t *payload, size_t len, tb__gw_buf_t *out);
/* Write the ring as a JSON array of base64 keys, primary first. */
int tb__keyring_save(const tb__gw_keyring_t *kr, const char *path);

/* The querier's tally for one pool. */
typedef struct {
    int wan;
    size_t num_nodes, num_resp, num_err;
    json_t *keys, *primary, *messages; /* objects */
} tb__keyring_tally_t;

void tb__keyring_tally_init(tb__keyring_tally_t *t, int wan, size_t num_nodes);
void tb__keyring_tally_free(tb__keyring_tally_t *t);
/* Count one member's keyResponse (a malformed one counts as an error). */
void tb__keyring_tally_add(tb__keyring_tally_t *t, const char *from, const uint8_t *payload,
                           size_t len);
/* Consul's KeyringResponse object (new reference); "Error" is set when
 * some member failed or did not answer. */
json_t *tb__keyring_tally_json(const tb__keyring_tally_t *t, const char *dc);

#endif
