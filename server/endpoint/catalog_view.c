/*
 * catalog_view.c - typed read-only catalog views for plugins
 * (api->catalog_read, doc/sdk.md §8): the DNS hot path reads the catalog
 * without touching JSON.
 *
 * A typed read rides on the generic read it mirrors (Health.ServiceNodes,
 * Catalog.NodeServices, Catalog.ListNodes), so ACLs, forwarding to a
 * server, blocking on min_index, consistency modes and the per-turn read
 * coalescing apply exactly as for `call`. Its completion converts the
 * result once, in the core, into flat arrays of tb_catalog_node_t /
 * tb_catalog_service_t whose strings point into the (borrowed) result, then
 * calls the plugin's callback; the plugin never sees the JSON.
 */
#include "tb_autoconf.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint/endpoint_int.h"

/* ------------------------------------------------------------ arena */

/* Every array of one view comes from here and is freed in one go after
 * the callback: views are short-lived and never grow once built. */
typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    alignas(max_align_t) unsigned char data[];
} chunk_t;

typedef struct arena {
    chunk_t *head;
} arena_t;

static void *arena_alloc(arena_t *a, size_t n, size_t count)
{
    if (count && n > SIZE_MAX / count)
        return NULL;
    n *= count;
    n = (n + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
    if (!n)
        n = alignof(max_align_t);
    chunk_t *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 16384 ? n : 16384;
        c = malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->used = 0;
        c->cap = cap;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

static void arena_free(arena_t *a)
{
    while (a->head) {
        chunk_t *n = a->head->next;
        free(a->head);
        a->head = n;
    }
}

/* ------------------------------------------------------------ conversion */

static const char *str_of(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static uint64_t u64_of(const json_t *o, const char *k)
{
    json_int_t v = json_integer_value(json_object_get(o, k));
    return v > 0 ? (uint64_t)v : 0;
}

/* {"k": "v"} -> pairs (non-string values read as ""). */
static int pairs_of(arena_t *a, const json_t *obj, const tb_pair_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t cnt = json_is_object(obj) ? json_object_size(obj) : 0;
    if (!cnt)
        return 0;
    tb_pair_t *p = arena_alloc(a, sizeof *p, cnt);
    if (!p)
        return -1;
    const char *k;
    json_t *v;
    size_t i = 0;
    json_object_foreach((json_t *)obj, k, v) {
        p[i].key = k;
        p[i].value = json_is_string(v) ? json_string_value(v) : "";
        i++;
    }
    *out = p;
    *n = i;
    return 0;
}

static int node_of(arena_t *a, const json_t *j, tb_catalog_node_t *n)
{
    n->id = str_of(j, "ID");
    n->name = str_of(j, "Node");
    n->address = str_of(j, "Address");
    n->datacenter = str_of(j, "Datacenter");
    n->create_index = u64_of(j, "CreateIndex");
    n->modify_index = u64_of(j, "ModifyIndex");
    if (pairs_of(a, json_object_get(j, "TaggedAddresses"), &n->tagged_addresses,
                 &n->ntagged_addresses) != 0)
        return -1;
    return pairs_of(a, json_object_get(j, "Meta"), &n->meta, &n->nmeta);
}

static int weight_of(const json_t *w, const char *k)
{
    const json_t *v = json_object_get(w, k);
    if (!json_is_integer(v))
        return 1;
    json_int_t x = json_integer_value(v);
    return x < 0 ? 0 : x > 65535 ? 65535 : (int)x;
}

/* Service fields from an AgentService object (Health and NodeServices). */
static int service_of(arena_t *a, const json_t *j, tb_catalog_service_t *s)
{
    s->id = str_of(j, "ID");
    s->name = str_of(j, "Service");
    s->address = str_of(j, "Address");
    json_int_t port = json_integer_value(json_object_get(j, "Port"));
    s->port = port < 0 || port > 65535 ? 0 : (int)port;
    const json_t *w = json_object_get(j, "Weights");
    s->weight_passing = weight_of(w, "Passing");
    s->weight_warning = weight_of(w, "Warning");
    s->status = TB_CHECK_PASSING;
    s->create_index = u64_of(j, "CreateIndex");
    s->modify_index = u64_of(j, "ModifyIndex");
    const json_t *tags = json_object_get(j, "Tags");
    size_t nt = json_array_size(tags);
    if (nt) {
        const char **t = arena_alloc(a, sizeof *t, nt);
        if (!t)
            return -1;
        size_t i;
        json_t *v;
        json_array_foreach(tags, i, v) t[s->ntags++] = json_is_string(v) ? json_string_value(v)
                                                                       : "";
        s->tags = t;
    }
    const json_t *ta = json_object_get(j, "TaggedAddresses");
    size_t na = json_is_object(ta) ? json_object_size(ta) : 0;
    if (na) {
        tb_service_addr_t *t = arena_alloc(a, sizeof *t, na);
        if (!t)
            return -1;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)ta, k, v) {
            tb_service_addr_t *x = &t[s->ntagged_addresses++];
            x->key = k;
            x->address = str_of(v, "Address");
            json_int_t p = json_integer_value(json_object_get(v, "Port"));
            x->port = p < 0 || p > 65535 ? 0 : (int)p;
        }
        s->tagged_addresses = t;
    }
    return pairs_of(a, json_object_get(j, "Meta"), &s->meta, &s->nmeta);
}

/* Worst status over the checks: critical, then warning (anything that is
 * neither passing nor critical), else passing. */
static tb_check_status_t health_of(const json_t *checks)
{
    size_t i;
    json_t *c;
    tb_check_status_t worst = TB_CHECK_PASSING;
    json_array_foreach(checks, i, c) {
        const char *st = str_of(c, "Status");
        if (strcmp(st, "critical") == 0)
            return TB_CHECK_CRITICAL;
        if (strcmp(st, "passing") != 0)
            worst = TB_CHECK_WARNING;
    }
    return worst;
}

/* [{Node, Service, Checks}] sorted by node: consecutive entries of one node
 * share one tb_catalog_node_t. */
static int view_service_nodes(arena_t *a, const json_t *res, tb_catalog_view_t *v)
{
    size_t n = json_array_size(res);
    if (!n)
        return 0;
    tb_catalog_node_t *nodes = arena_alloc(a, sizeof *nodes, n);
    tb_catalog_service_t *svcs = arena_alloc(a, sizeof *svcs, n);
    if (!nodes || !svcs)
        return -1;
    size_t i;
    json_t *it;
    json_array_foreach(res, i, it) {
        const json_t *nj = json_object_get(it, "Node");
        const char *name = str_of(nj, "Node");
        if (!v->nnodes || strcmp(nodes[v->nnodes - 1].name, name) != 0) {
            if (node_of(a, nj, &nodes[v->nnodes]) != 0)
                return -1;
            v->nnodes++;
        }
        tb_catalog_service_t *s = &svcs[v->nservices++];
        if (service_of(a, json_object_get(it, "Service"), s) != 0)
            return -1;
        s->node = &nodes[v->nnodes - 1];
        s->status = health_of(json_object_get(it, "Checks"));
    }
    v->nodes = nodes;
    v->services = svcs;
    return 0;
}

/* {"Node": Node, "Services": {id: AgentService}} or null. */
static int view_node(arena_t *a, const json_t *res, tb_catalog_view_t *v)
{
    const json_t *nj = json_object_get(res, "Node");
    if (!json_is_object(nj))
        return 0;
    tb_catalog_node_t *node = arena_alloc(a, sizeof *node, 1);
    if (!node || node_of(a, nj, node) != 0)
        return -1;
    v->nodes = node;
    v->nnodes = 1;
    const json_t *sv = json_object_get(res, "Services");
    size_t n = json_is_object(sv) ? json_object_size(sv) : 0;
    if (!n)
        return 0;
    tb_catalog_service_t *svcs = arena_alloc(a, sizeof *svcs, n);
    if (!svcs)
        return -1;
    const char *k;
    json_t *sj;
    json_object_foreach((json_t *)sv, k, sj) {
        tb_catalog_service_t *s = &svcs[v->nservices++];
        if (service_of(a, sj, s) != 0)
            return -1;
        s->node = node;
    }
    v->services = svcs;
    return 0;
}

/* [Node] */
static int view_nodes(arena_t *a, const json_t *res, tb_catalog_view_t *v)
{
    size_t n = json_array_size(res);
    if (!n)
        return 0;
    tb_catalog_node_t *nodes = arena_alloc(a, sizeof *nodes, n);
    if (!nodes)
        return -1;
    size_t i;
    json_t *nj;
    json_array_foreach(res, i, nj) {
        if (node_of(a, nj, &nodes[v->nnodes++]) != 0)
            return -1;
    }
    v->nodes = nodes;
    return 0;
}

/* The generic call's completion: convert once, hand the view over. */
static void view_done(void *arg, const tb_result_t *r)
{
    tb_call_t *c = arg;
    tb_result_t out = *r;
    tb_catalog_view_t view;
    arena_t a = {NULL};
    memset(&view, 0, sizeof view);
    out.json = NULL;
    out.catalog = &view;
    if (r->status == TB_OK) {
        int rc;
        switch (c->view_kind) {
        case TB_CATALOG_SERVICE_NODES:
            rc = view_service_nodes(&a, r->json, &view);
            break;
        case TB_CATALOG_NODE:
            rc = view_node(&a, r->json, &view);
            if (rc == 0 && !view.nnodes)
                out.status = TB_NOT_FOUND;
            break;
        default:
            rc = view_nodes(&a, r->json, &view);
            break;
        }
        if (rc != 0) {
            memset(&view, 0, sizeof view);
            out.status = TB_INTERNAL;
            out.error = "out of memory building the catalog view";
        }
    }
    c->view_cb(c->view_arg, &out);
    arena_free(&a);
}

tb_call_t *tb__endpoint_catalog_read(tb__endpoint_t *ep, const tb_catalog_read_t *req,
                                     const tb_query_opts_t *opts, tb_result_cb cb, void *arg)
{
    /* Read only the fields the caller's struct has (its size). */
    tb_catalog_read_t r;
    memset(&r, 0, sizeof r);
    if (!req || req->size < offsetof(tb_catalog_read_t, name) + sizeof r.name)
        return NULL;
    memcpy(&r, req, req->size < sizeof r ? req->size : sizeof r);
    const char *method;
    json_t *args;
    switch (r.kind) {
    case TB_CATALOG_SERVICE_NODES:
        method = "Health.ServiceNodes";
        args = json_pack("{s:s?}", "ServiceName", r.name);
        if (args && r.tag && r.tag[0])
            json_object_set_new(args, "ServiceTags", json_pack("[s]", r.tag));
        if (args && r.passing_only)
            json_object_set_new(args, "PassingOnly", json_true());
        break;
    case TB_CATALOG_NODE:
        method = "Catalog.NodeServices";
        args = json_pack("{s:s?}", "Node", r.name);
        break;
    case TB_CATALOG_NODES:
        method = "Catalog.ListNodes";
        args = json_object();
        break;
    default:
        return NULL;
    }
    if (!args)
        return NULL;
    tb_call_t *c = tb__endpoint_call(ep, method, args, opts, view_done, NULL);
    json_decref(args);
    if (!c)
        return NULL;
    /* The call is only queued: its callback cannot have run yet. */
    c->arg = c;
    c->view_cb = cb;
    c->view_arg = arg;
    c->view_kind = (int)r.kind;
    return c;
}
