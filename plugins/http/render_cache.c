/*
 * render_cache.c - JSON results rendered once and shared by reference.
 *
 * When a write wakes thousands of blocked calls on one query, the endpoint
 * layer answers them all with the same result object (one shared read).
 * The first answer renders it into a refcounted body; every other answer
 * takes a reference to the same bytes and hands it to the socket write, so
 * per waiter there is no render, no copy and no body allocation (with
 * 20,000 waiters on a 10 KB health answer the copies alone were 200 MB of
 * fresh pages).
 *
 * A few slots allow waiters of different queries on the same write (other
 * filters, ?passing, another service) to interleave without re-rendering.
 * A slot holds a reference to its object, so the address cannot be reused
 * by a different result while it is cached. A slot whose object nobody else
 * references any more can never be hit again (the endpoint layer dropped
 * the result), so it is reused first.
 */
#include <stdlib.h>
#include <string.h>

#include "kvjson.h"
#include "server.h"

tbh_body_t *tbh_body_new(const char *p, size_t len)
{
    tbh_body_t *b = malloc(sizeof(*b) + len + 1);
    if (!b)
        return NULL;
    b->refs = 1;
    b->len = len;
    if (len)
        memcpy(b->data, p, len);
    b->data[len] = '\0';
    return b;
}

tbh_body_t *tbh_body_ref(tbh_body_t *b)
{
    if (b)
        b->refs++;
    return b;
}

void tbh_body_unref(tbh_body_t *b)
{
    if (b && --b->refs == 0)
        free(b);
}

static void slot_clear(tbh_rc_slot_t *e)
{
    if (e->json)
        json_decref((json_t *)e->json);
    tbh_body_unref(e->body);
    memset(e, 0, sizeof(*e));
}

/* The slot to fill: an empty one, else one whose object only the cache
 * still holds, else the least recently used. */
static tbh_rc_slot_t *slot_victim(tbh_server_t *s)
{
    tbh_rc_slot_t *lru = &s->rc[0];
    for (size_t i = 0; i < TBH_RC_SLOTS; i++) {
        tbh_rc_slot_t *e = &s->rc[i];
        if (!e->json || e->json->refcount <= 1)
            return e;
        if (e->used < lru->used)
            lru = e;
    }
    return lru;
}

tbh_body_t *tbh_render_shared(tbh_server_t *s, const json_t *v, int pretty)
{
    int cacheable = v && (json_is_array(v) || json_is_object(v)); /* scalars are cheap */
    if (cacheable) {
        for (size_t i = 0; i < TBH_RC_SLOTS; i++) {
            tbh_rc_slot_t *e = &s->rc[i];
            if (e->json == v && e->pretty == pretty) {
                e->used = ++s->rc_tick;
                return tbh_body_ref(e->body);
            }
        }
    }
    tbh_buf_t out = TBH_BUF_INIT;
    if (tbh_json_render(&out, v, pretty) != 0) {
        tbh_buf_free(&out);
        return NULL;
    }
    tbh_body_t *b = tbh_body_new(out.data, out.len);
    tbh_buf_free(&out);
    if (!b || !cacheable)
        return b;
    tbh_rc_slot_t *e = slot_victim(s);
    slot_clear(e);
    e->json = json_incref((json_t *)v);
    e->pretty = pretty;
    e->body = tbh_body_ref(b);
    e->used = ++s->rc_tick;
    return b;
}

void tbh_render_cache_free(tbh_server_t *s)
{
    for (size_t i = 0; i < TBH_RC_SLOTS; i++)
        slot_clear(&s->rc[i]);
}
