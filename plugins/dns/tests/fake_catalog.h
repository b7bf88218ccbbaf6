/*
 * fake_catalog.h - a fake api->catalog_read for the dns plugin's unit test
 * and fuzz target: it records the request (kind, name, tag, min_index) and
 * leaves the call pending until the test completes it with a typed view
 * built here. Like the core, it applies the request's tag and
 * passing_only filters. Header-only; included by one test file each.
 */
#ifndef TBD_FAKE_CATALOG_H
#define TBD_FAKE_CATALOG_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <tribune/plugin.h>

#define FK_MAX 512
#define FK_UNUSED __attribute__((unused))

struct tb_call {
    int dummy;
};

typedef struct fk_state {
    struct tb_call call;
    int ncalls;
    tb_catalog_read_kind_t kind;
    char name[256], tag[256];
    int passing_only;
    uint64_t min_index;
    tb_result_cb cb;
    void *arg;
} fk_state_t;

static fk_state_t fk;

/* A view under construction; strings live in the struct. */
typedef struct fk_view {
    size_t nnodes, nsvcs;
    tb_catalog_node_t nodes[FK_MAX];
    tb_catalog_service_t svcs[FK_MAX];
    char node_name[FK_MAX][48], node_addr[FK_MAX][48], svc_addr[FK_MAX][48];
    char tag[FK_MAX][32], meta_k[FK_MAX][32], meta_v[FK_MAX][32];
    const char *tags[FK_MAX][1];
    tb_pair_t meta[FK_MAX][1];
} fk_view_t;

static FK_UNUSED tb_call_t *fk_catalog_read(tb_plugin_t *self, const tb_catalog_read_t *req,
                                            const tb_query_opts_t *opts, tb_result_cb cb,
                                            void *arg)
{
    (void)self;
    fk.ncalls++;
    fk.kind = req->kind;
    snprintf(fk.name, sizeof fk.name, "%s", req->name ? req->name : "");
    snprintf(fk.tag, sizeof fk.tag, "%s", req->tag ? req->tag : "");
    fk.passing_only = req->passing_only;
    fk.min_index = opts ? opts->min_index : 0;
    fk.cb = cb;
    fk.arg = arg;
    return &fk.call;
}

static FK_UNUSED void fk_cancel(tb_call_t *c)
{
    (void)c;
    fk.cb = NULL;
}

static FK_UNUSED fk_view_t *fk_new(void)
{
    fk_view_t *v = calloc(1, sizeof *v);
    if (!v)
        abort();
    return v;
}

/* A node (meta_k NULL: no meta); returns its slot. */
static FK_UNUSED size_t fk_node(fk_view_t *v, const char *name, const char *addr,
                                const char *meta_k, const char *meta_v)
{
    size_t i = v->nnodes++;
    tb_catalog_node_t *n = &v->nodes[i];
    snprintf(v->node_name[i], sizeof v->node_name[i], "%s", name);
    snprintf(v->node_addr[i], sizeof v->node_addr[i], "%s", addr);
    n->id = "";
    n->name = v->node_name[i];
    n->address = v->node_addr[i];
    n->datacenter = "dc1";
    if (meta_k) {
        snprintf(v->meta_k[i], sizeof v->meta_k[i], "%s", meta_k);
        snprintf(v->meta_v[i], sizeof v->meta_v[i], "%s", meta_v);
        v->meta[i][0].key = v->meta_k[i];
        v->meta[i][0].value = v->meta_v[i];
        n->meta = v->meta[i];
        n->nmeta = 1;
    }
    return i;
}

/* An instance of "web" on node slot `node` (tag NULL: none). */
static FK_UNUSED void fk_service(fk_view_t *v, size_t node, const char *addr, int port,
                                 const char *tag, tb_check_status_t st)
{
    size_t i = v->nsvcs++;
    tb_catalog_service_t *s = &v->svcs[i];
    snprintf(v->svc_addr[i], sizeof v->svc_addr[i], "%s", addr ? addr : "");
    s->node = &v->nodes[node];
    s->id = "web";
    s->name = "web";
    s->address = v->svc_addr[i];
    s->port = port;
    if (tag) {
        snprintf(v->tag[i], sizeof v->tag[i], "%s", tag);
        v->tags[i][0] = v->tag[i];
        s->tags = v->tags[i];
        s->ntags = 1;
    }
    s->weight_passing = 5;
    s->weight_warning = 2;
    s->status = st;
}

/* Complete the pending call with `v` (NULL: empty), filtered by the
 * request like the core does. */
static FK_UNUSED void fk_complete(const fk_view_t *v, tb_status_t status, uint64_t index)
{
    static tb_catalog_service_t keep[FK_MAX];
    tb_catalog_view_t view;
    memset(&view, 0, sizeof view);
    if (v) {
        view.nodes = v->nodes;
        view.nnodes = v->nnodes;
        for (size_t i = 0; i < v->nsvcs; i++) {
            const tb_catalog_service_t *s = &v->svcs[i];
            if (fk.tag[0] && !(s->ntags && strcasecmp(s->tags[0], fk.tag) == 0))
                continue;
            if (fk.passing_only && s->status != TB_CHECK_PASSING)
                continue;
            keep[view.nservices++] = *s;
        }
        view.services = keep;
    }
    tb_result_t r;
    memset(&r, 0, sizeof r);
    r.status = status;
    r.index = index;
    r.catalog = &view;
    tb_result_cb cb = fk.cb;
    fk.cb = NULL;
    if (cb)
        cb(fk.arg, &r);
}

#endif
