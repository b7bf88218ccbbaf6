/*
 * render_cache.c - the last JSON result rendered, kept by reference with
 * its bytes. When a write wakes thousands of blocked calls on one query,
 * the endpoint layer answers them all with the same result object (one
 * shared read), so rendering it once and copying the bytes replaces
 * thousands of identical json_dump runs. Holding a reference keeps the
 * object alive, so its address cannot be reused by a different result
 * while it is cached.
 */
#include "kvjson.h"
#include "server.h"

int tbh_render_cached(tbh_server_t *s, const json_t *v, int pretty, tbh_buf_t *out)
{
    if (v && v == s->rc_json && pretty == s->rc_pretty && s->rc_buf.data)
        return tbh_buf_add(out, s->rc_buf.data, s->rc_buf.len);
    if (tbh_json_render(out, v, pretty) != 0)
        return -1;
    if (!v || !(json_is_array(v) || json_is_object(v)))
        return 0; /* scalars are cheap to render */
    tbh_render_cache_free(s);
    if (tbh_buf_add(&s->rc_buf, out->data, out->len) != 0) {
        tbh_buf_free(&s->rc_buf);
        return 0;
    }
    s->rc_json = json_incref((json_t *)v);
    s->rc_pretty = pretty;
    return 0;
}

void tbh_render_cache_free(tbh_server_t *s)
{
    if (s->rc_json)
        json_decref((json_t *)s->rc_json);
    s->rc_json = NULL;
    tbh_buf_free(&s->rc_buf);
}
