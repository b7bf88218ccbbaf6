/*
 * catalog.c - `tribune catalog datacenters|nodes|services`, HTTP clients of
 * /v1/catalog printing Consul's formats (columnize for nodes, tabwriter
 * for services -tags).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_int.h"

#define END_FLAGS {NULL, 0, NULL, NULL, NULL, NULL, 0, NULL, 0}

static const char catalog_help[] =
    "Usage: tribune catalog <subcommand> [options] [args]\n\n"
    "  This command has subcommands for interacting with Tribune's catalog. The\n"
    "  catalog should not be confused with the agent, although the APIs and\n"
    "  responses may be similar.\n\n"
    "  List all datacenters:\n\n"
    "      $ tribune catalog datacenters\n\n"
    "  List all nodes:\n\n"
    "      $ tribune catalog nodes\n\n"
    "  List all services:\n\n"
    "      $ tribune catalog services\n\n"
    "Subcommands:\n"
    "    datacenters    Lists all known datacenters\n"
    "    nodes          Lists all nodes in the given datacenter\n"
    "    services       Lists all registered services in a datacenter\n";

/* GET path?query and parse the JSON answer; prints the error and returns
 * NULL on failure. */
static json_t *get_json(const tb__http_opts_t *o, const char *path, const char *query,
                        const char *what)
{
    tb__http_resp_t r;
    if (tb__http_do(o, "GET", path, query, NULL, 0, &r) != 0) {
        fprintf(stderr, "Error %s: %s\n", what, r.err);
        tb__http_resp_free(&r);
        return NULL;
    }
    if (r.status != 200) {
        char *e = tb__http_status_error(&r);
        fprintf(stderr, "Error %s: %s\n", what, e ? e : "request failed");
        free(e);
        tb__http_resp_free(&r);
        return NULL;
    }
    json_error_t err;
    json_t *j = tb__json_loads_u64(r.body, r.len, &err);
    if (j == NULL)
        fprintf(stderr, "Error %s: invalid JSON in the response: %s\n", what, err.text);
    tb__http_resp_free(&r);
    return j;
}

/* "k1=v1, k2=v2" with sorted keys (Consul's mapToKV). */
static void map_to_kv(tb__buf_t *b, const json_t *map)
{
    size_t n = json_object_size(map);
    const char **keys = calloc(n ? n : 1, sizeof(*keys));
    if (keys == NULL)
        return;
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)map, k, v) keys[i++] = k;
    for (size_t a = 1; a < n; a++)
        for (size_t c = a; c > 0 && strcmp(keys[c - 1], keys[c]) > 0; c--) {
            const char *t = keys[c];
            keys[c] = keys[c - 1];
            keys[c - 1] = t;
        }
    for (i = 0; i < n; i++) {
        json_t *val = json_object_get(map, keys[i]);
        tb__buf_printf(b, "%s%s=%s", i ? ", " : "", keys[i],
                       json_is_string(val) ? json_string_value(val) : "");
    }
    free(keys);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ------------------------------------------------------------ datacenters */

static const char dcs_help[] = "Usage: tribune catalog datacenters [options]\n\n"
                               "  Retrieves the list of all known datacenters.\n";

static int catalog_datacenters(int argc, char **argv)
{
    tb__http_opts_t o = {0};
    tb__flag_t flags[] = {TB__HTTP_FLAGS(&o), END_FLAGS};
    int first;
    int rc = tb__flags_parse(flags, argc, argv, &first, dcs_help, NULL);
    if (rc != TB__FLAGS_OK)
        return rc == TB__FLAGS_HELP ? 0 : 1;
    if (first < argc) {
        fprintf(stderr, "Too many arguments (expected 0, got %d)\n", argc - first);
        return 1;
    }
    json_t *j = get_json(&o, "/v1/catalog/datacenters", NULL, "listing datacenters");
    if (j == NULL)
        return 1;
    if (json_array_size(j) == 0) {
        json_decref(j);
        fprintf(stderr, "No datacenters found\n");
        return 1;
    }
    size_t i;
    json_t *e;
    json_array_foreach(j, i, e) printf("%s\n", json_string_value(e));
    json_decref(j);
    return 0;
}

/* ------------------------------------------------------------ nodes */

static const char nodes_help[] =
    "Usage: tribune catalog nodes [options]\n\n"
    "  Retrieves the list nodes registered in a given datacenter. By default, the\n"
    "  datacenter of the local agent is queried.\n\n"
    "  To retrieve the list of nodes:\n\n"
    "      $ tribune catalog nodes\n\n"
    "  To print detailed information including full node IDs, tagged addresses, and\n"
    "  metadata information:\n\n"
    "      $ tribune catalog nodes -detailed\n\n"
    "  To list nodes which are running a particular service:\n\n"
    "      $ tribune catalog nodes -service=web\n";

static int catalog_nodes(int argc, char **argv)
{
    tb__http_opts_t o = {0};
    int detailed = 0;
    const char *near = NULL, *service = NULL, *filter = NULL;
    tb__strlist_t meta = {0};
    tb__flag_t flags[] = {
        {"detailed", TB__F_BOOL, &detailed, NULL,
         "Output detailed information about the nodes including their addresses and "
         "metadata.", NULL, 0, NULL, 0},
        {"near", TB__F_STRING, &near, "<node name>",
         "Node name to sort the node list in ascending order based on estimated round-trip "
         "time from that node.", NULL, 0, NULL, 0},
        {"node-meta", TB__F_LIST, &meta, "<key=value>",
         "Metadata to filter nodes with the given key=value pairs (repeatable).", NULL, 0,
         NULL, 0},
        {"service", TB__F_STRING, &service, "<id or name>",
         "Service id or name to filter nodes.", NULL, 0, NULL, 0},
        {"filter", TB__F_STRING, &filter, "<expression>", "Filter to use with the request.",
         NULL, 0, NULL, 0},
        TB__HTTP_FLAGS(&o),
        TB__HTTP_STALE_FLAG(&o),
        END_FLAGS,
    };
    int first;
    int rc = tb__flags_parse(flags, argc, argv, &first, nodes_help, NULL);
    if (rc != TB__FLAGS_OK) {
        tb__strlist_free(&meta);
        return rc == TB__FLAGS_HELP ? 0 : 1;
    }
    if (first < argc) {
        fprintf(stderr, "Too many arguments (expected 0, got %d)\n", argc - first);
        tb__strlist_free(&meta);
        return 1;
    }

    tb__buf_t q = {0};
    tb__buf_add(&q, "", 0);
    if (near) {
        char *e = tb__url_escape(near, 0);
        tb__buf_printf(&q, "%snear=%s", q.len ? "&" : "", e ? e : "");
        free(e);
    }
    for (size_t i = 0; i < meta.n; i++) {
        /* the flag is key=value; the API wants key:value */
        char *kv = strdup(meta.v[i]);
        if (kv) {
            char *eq = strchr(kv, '=');
            if (eq)
                *eq = ':';
            char *e = tb__url_escape(kv, 0);
            tb__buf_printf(&q, "%snode-meta=%s", q.len ? "&" : "", e ? e : "");
            free(e);
            free(kv);
        }
    }
    if (filter) {
        char *e = tb__url_escape(filter, 0);
        tb__buf_printf(&q, "%sfilter=%s", q.len ? "&" : "", e ? e : "");
        free(e);
    }
    tb__strlist_free(&meta);

    json_t *j;
    if (service) {
        char *esc = tb__url_escape(service, 0), *path = NULL;
        if (esc == NULL || asprintf(&path, "/v1/catalog/service/%s", esc) < 0)
            path = NULL;
        free(esc);
        j = path ? get_json(&o, path, q.s, "listing nodes") : NULL;
        free(path);
        /* a service entry carries its node's fields under other names */
        size_t i;
        json_t *e;
        json_array_foreach(j, i, e) {
            json_object_set(e, "Meta", json_object_get(e, "NodeMeta"));
        }
    } else {
        j = get_json(&o, "/v1/catalog/nodes", q.s, "listing nodes");
    }
    free(q.s);
    if (j == NULL)
        return 1;
    if (json_array_size(j) == 0) {
        json_decref(j);
        fprintf(stderr, "No nodes match the given query - try expanding your search.\n");
        return 0;
    }

    size_t n = json_array_size(j);
    char **rows = calloc(n + 1, sizeof(*rows));
    size_t nrows = 0;
    int ret = 1;
    if (rows == NULL)
        goto out;
    rows[nrows++] = strdup(detailed ? "Node|ID|Address|DC|TaggedAddresses|Meta"
                                    : "Node|ID|Address|DC");
    size_t i;
    json_t *e;
    json_array_foreach(j, i, e) {
        const char *node = json_string_value(json_object_get(e, "Node"));
        const char *id = json_string_value(json_object_get(e, "ID"));
        const char *addr = json_string_value(json_object_get(e, "Address"));
        const char *dc = json_string_value(json_object_get(e, "Datacenter"));
        tb__buf_t row = {0};
        if (detailed) {
            tb__buf_printf(&row, "%s|%s|%s|%s|", node ? node : "", id ? id : "",
                           addr ? addr : "", dc ? dc : "");
            map_to_kv(&row, json_object_get(e, "TaggedAddresses"));
            tb__buf_add(&row, "|", 1);
            map_to_kv(&row, json_object_get(e, "Meta"));
        } else {
            /* only the first group of the UUID, like Consul */
            size_t idlen = id ? strcspn(id, "-") : 0;
            tb__buf_printf(&row, "%s|%.*s|%s|%s", node ? node : "", (int)idlen, id ? id : "",
                           addr ? addr : "", dc ? dc : "");
        }
        rows[nrows++] = row.s;
    }
    char *out = tb__columnize(rows, nrows);
    if (out) {
        printf("%s\n", out);
        ret = 0;
    }
    free(out);
out:
    for (size_t r = 0; rows && r < nrows; r++)
        free(rows[r]);
    free(rows);
    json_decref(j);
    return ret;
}

/* ------------------------------------------------------------ services */

static const char services_help[] =
    "Usage: tribune catalog services [options]\n\n"
    "  Retrieves the list services registered in a given datacenter. By default, the\n"
    "  datacenter of the local agent is queried.\n\n"
    "  To retrieve the list of services:\n\n"
    "      $ tribune catalog services\n\n"
    "  To include the services' tags in the output:\n\n"
    "      $ tribune catalog services -tags\n\n"
    "  To list services which run on a particular node:\n\n"
    "      $ tribune catalog services -node=web\n";

static int catalog_services(int argc, char **argv)
{
    tb__http_opts_t o = {0};
    int tags = 0;
    const char *node = NULL;
    tb__strlist_t meta = {0};
    tb__flag_t flags[] = {
        {"node", TB__F_STRING, &node, "<node name>", "Node name to filter services.", NULL, 0,
         NULL, 0},
        {"node-meta", TB__F_LIST, &meta, "<key=value>",
         "Metadata to filter nodes with the given key=value pairs (repeatable).", NULL, 0,
         NULL, 0},
        {"tags", TB__F_BOOL, &tags, NULL, "Display each service's tags as a comma-separated list.",
         NULL, 0, NULL, 0},
        TB__HTTP_FLAGS(&o),
        TB__HTTP_STALE_FLAG(&o),
        END_FLAGS,
    };
    int first;
    int rc = tb__flags_parse(flags, argc, argv, &first, services_help, NULL);
    if (rc != TB__FLAGS_OK) {
        tb__strlist_free(&meta);
        return rc == TB__FLAGS_HELP ? 0 : 1;
    }
    if (first < argc) {
        fprintf(stderr, "Too many arguments (expected 0, got %d)\n", argc - first);
        tb__strlist_free(&meta);
        return 1;
    }
    tb__buf_t q = {0};
    tb__buf_add(&q, "", 0);
    for (size_t i = 0; i < meta.n; i++) {
        char *kv = strdup(meta.v[i]);
        if (kv) {
            char *eq = strchr(kv, '=');
            if (eq)
                *eq = ':';
            char *e = tb__url_escape(kv, 0);
            tb__buf_printf(&q, "%snode-meta=%s", q.len ? "&" : "", e ? e : "");
            free(e);
            free(kv);
        }
    }
    tb__strlist_free(&meta);

    json_t *services; /* name -> [tags] */
    if (node) {
        char *esc = tb__url_escape(node, 0), *path = NULL;
        if (esc == NULL || asprintf(&path, "/v1/catalog/node/%s", esc) < 0)
            path = NULL;
        free(esc);
        json_t *j = path ? get_json(&o, path, q.s, "listing services") : NULL;
        free(path);
        free(q.s);
        if (j == NULL)
            return 1;
        if (json_is_null(j)) {
            json_decref(j);
            fprintf(stderr, "No node matches the given query - try expanding your search.\n");
            return 0;
        }
        services = json_object();
        const char *k;
        json_t *s;
        json_object_foreach(json_object_get(j, "Services"), k, s) {
            const char *name = json_string_value(json_object_get(s, "Service"));
            if (name == NULL)
                continue;
            json_t *list = json_object_get(services, name);
            if (list == NULL) {
                list = json_array();
                json_object_set_new(services, name, list);
            }
            json_array_extend(list, json_object_get(s, "Tags"));
        }
        json_decref(j);
    } else {
        services = get_json(&o, "/v1/catalog/services", q.s, "listing services");
        free(q.s);
        if (services == NULL)
            return 1;
    }
    size_t n = json_object_size(services);
    if (n == 0) {
        json_decref(services);
        fprintf(stderr, "No services match the given query - try expanding your search.\n");
        return 0;
    }
    const char **names = calloc(n, sizeof(*names));
    if (names == NULL) {
        json_decref(services);
        return 1;
    }
    size_t i = 0, width = 0;
    const char *k;
    json_t *v;
    json_object_foreach(services, k, v) {
        names[i++] = k;
        if (strlen(k) > width)
            width = strlen(k);
    }
    qsort(names, n, sizeof(*names), cmp_str);
    if (tags) {
        /* tabwriter(minwidth 0, tabwidth 2, padding 6): the name column is
         * padded to the widest name + 6; TrimSpace on the whole output drops
         * the trailing blanks of the last line only. */
        tb__buf_t out = {0};
        tb__buf_add(&out, "", 0);
        for (i = 0; i < n; i++) {
            json_t *list = json_object_get(services, names[i]);
            size_t nt = json_array_size(list);
            const char **t = calloc(nt ? nt : 1, sizeof(*t));
            if (t == NULL)
                break;
            for (size_t x = 0; x < nt; x++) {
                const char *s = json_string_value(json_array_get(list, x));
                t[x] = s ? s : "";
            }
            qsort(t, nt, sizeof(*t), cmp_str);
            tb__buf_printf(&out, "%-*s", (int)(width + 6), names[i]);
            for (size_t x = 0; x < nt; x++)
                tb__buf_printf(&out, "%s%s", x ? "," : "", t[x]);
            tb__buf_add(&out, "\n", 1);
            free(t);
        }
        while (out.len > 0 && (out.s[out.len - 1] == '\n' || out.s[out.len - 1] == ' '))
            out.s[--out.len] = '\0';
        printf("%s\n", out.s ? out.s : "");
        free(out.s);
    } else {
        for (i = 0; i < n; i++)
            printf("%s\n", names[i]);
    }
    free(names);
    json_decref(services);
    return 0;
}

/* ------------------------------------------------------------ dispatch */

int tb__cmd_catalog(int argc, char **argv)
{
    if (argc < 1) {
        fputs(catalog_help, stderr);
        return 1;
    }
    const char *sub = argv[0];
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0 || strcmp(sub, "-help") == 0) {
        fputs(catalog_help, stdout);
        return 0;
    }
    if (strcmp(sub, "datacenters") == 0)
        return catalog_datacenters(argc - 1, argv + 1);
    if (strcmp(sub, "nodes") == 0)
        return catalog_nodes(argc - 1, argv + 1);
    if (strcmp(sub, "services") == 0)
        return catalog_services(argc - 1, argv + 1);
    fprintf(stderr, "Unknown command: \"catalog %s\"\n\n", sub);
    fputs(catalog_help, stderr);
    return 1;
}
