/*
 * coord.c - Coordinate.* (Consul's /v1/coordinate/...) and
 * Catalog.NodeServiceList (/v1/catalog/node-services/:node). Network
 * coordinates do not exist yet (they come with gossip), so every node
 * answers with Serf's initial coordinate (origin, Error 1.5, Height 1e-5):
 * clients that sort by distance see all nodes at the same distance.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "agent/agent.h"
#include "config/tb_config.h"
#include "endpoint/endpoint_int.h"

#define STATE(ep) ((ep)->agent->state)
#define CFG(ep) ((ep)->agent->config)

static json_t *initial_coord(void)
{
    return json_pack("{s:[f,f,f,f,f,f,f,f],s:f,s:f,s:f}", "Vec", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
                     0.0, 0.0, "Error", 1.5, "Adjustment", 0.0, "Height", 1e-5);
}

int tb__w_coord_nodes(tb__watch_t *w, const json_t *a)
{
    (void)a;
    return tb__watch_on(w, TB__WATCH_TABLE, "nodes");
}

int tb__w_coord_node(tb__watch_t *w, const json_t *a)
{
    const char *s = tb__jstr(a, "Node");
    return tb__watch_on(w, TB__WATCH_NODE, s ? s : "");
}

void tb__m_coord_datacenters(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out,
                             tb__buf_t *c)
{
    (void)a, (void)c;
    /* the WAN pool: the servers of each datacenter, named node.dc */
    json_t *coords = json_array();
    if (CFG(ep)->server) {
        char name[512];
        snprintf(name, sizeof(name), "%s.%s", CFG(ep)->node_name, CFG(ep)->datacenter);
        json_array_append_new(coords, json_pack("{s:s,s:o}", "Node", name, "Coord",
                                                initial_coord()));
    }
    out->json = json_pack("[{s:s,s:s,s:o}]", "Datacenter", CFG(ep)->datacenter, "AreaID", "WAN",
                          "Coordinates", coords);
}

static json_t *node_coords(tb__endpoint_t *ep, const char *only, uint64_t *index)
{
    json_t *nodes = tb__state_nodes(STATE(ep), index);
    if (!nodes)
        return NULL;
    json_t *out = json_array();
    size_t i;
    json_t *n;
    json_array_foreach(nodes, i, n) {
        const char *name = json_string_value(json_object_get(n, "Node"));
        if (!name || (only && strcasecmp(name, only)))
            continue;
        json_array_append_new(out, json_pack("{s:s,s:s,s:o}", "Node", name, "Segment", "",
                                             "Coord", initial_coord()));
    }
    json_decref(nodes);
    return out;
}

void tb__m_coord_nodes(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out, tb__buf_t *c)
{
    (void)a, (void)c;
    out->blockable = 1;
    if (!(out->json = node_coords(ep, NULL, &out->index)))
        tb__ep_fail(out, TB_INTERNAL, "state store read failed");
}

void tb__m_coord_node(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out, tb__buf_t *c)
{
    (void)c;
    const char *node = tb__jstr(a, "Node");
    if (!node || !*node) {
        tb__ep_fail(out, TB_BAD_REQUEST, "Missing node name");
        return;
    }
    out->blockable = 1;
    if (!(out->json = node_coords(ep, node, &out->index))) {
        tb__ep_fail(out, TB_INTERNAL, "state store read failed");
    } else if (!json_array_size(out->json)) {
        /* Consul: 404 when the node has no coordinate */
        json_decref(out->json);
        out->json = NULL;
        out->status = TB_NOT_FOUND;
    }
}

void tb__m_node_service_list(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out,
                             tb__buf_t *c)
{
    (void)c;
    const char *node = tb__jstr(a, "Node");
    if (!node || !*node) {
        tb__ep_fail(out, TB_BAD_REQUEST, "Missing node name");
        return;
    }
    out->blockable = 1;
    json_t *ns = tb__state_node_services(STATE(ep), node, &out->index);
    if (!ns) {
        tb__ep_fail(out, TB_INTERNAL, "state store read failed");
        return;
    }
    json_t *list = json_array();
    const char *id;
    json_t *svc;
    json_object_foreach(json_object_get(ns, "Services"), id, svc) json_array_append(list, svc);
    out->json = json_pack("{s:O,s:o}", "Node", json_is_null(ns) ? json_null()
                                                                  : json_object_get(ns, "Node"),
                          "Services", list);
    json_decref(ns);
}
