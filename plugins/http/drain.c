/*
 * drain.c - what stop does to open connections: a response already being
 * written is finished (then the connection lingers and closes as after any
 * "Connection: close"), so a client never gets a torn response at agent
 * shutdown; everything else closes now, cancelling its endpoint call
 * (blocking queries and log streams end; idle keep-alive connections go).
 * The core keeps the loop running until the last handle has closed.
 */
#include "server.h"

void tbh_conns_drain(tbh_server_t *s)
{
    for (tbh_conn_t *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (c->state == TBH_CS_WRITING) {
            c->close_after = 1;
            continue;
        }
        tbh_conn_close(c);
    }
}
