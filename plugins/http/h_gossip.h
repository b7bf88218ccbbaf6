/*
 * h_gossip.h - request arguments of the gossip routes (members, join,
 * force-leave, /v1/event): query parameters and the raw event payload.
 */
#ifndef TBH_H_GOSSIP_H
#define TBH_H_GOSSIP_H

#include "server.h"

/* Routes with TBH_R_GOSSIP: fill c->x.args before the endpoint call.
 * Returns 0, or -1 after sending the 400. */
int tbh_gossip_args(tbh_conn_t *c);

#endif
