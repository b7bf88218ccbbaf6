/*
 * members.c - `tribune members` (/v1/agent/members, columnized like
 * Consul's) and `tribune info` (the Stats of /v1/agent/self, sorted).
 */
#define _GNU_SOURCE
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_int.h"

#define END_FLAGS {NULL, 0, NULL, NULL, NULL, NULL, 0, NULL, 0}

static json_t *get_json(const tb__http_opts_t *o, const char *path, const char *query)
{
    tb__http_resp_t r;
    if (tb__http_do(o, "GET", path, query, NULL, 0, &r) != 0) {
        fprintf(stderr, "Error querying agent: %s\n", r.err);
        tb__http_resp_free(&r);
        return NULL;
    }
    if (r.status != 200) {
        char *e = tb__http_status_error(&r);
        fprintf(stderr, "Error querying agent: %s\n", e ? e : "request failed");
        free(e);
        tb__http_resp_free(&r);
        return NULL;
    }
    json_error_t err;
    json_t *j = tb__json_loads_u64(r.body, r.len, &err);
    if (j == NULL)
        fprintf(stderr, "Error querying agent: invalid JSON in the response: %s\n", err.text);
    tb__http_resp_free(&r);
    return j;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* serf.MemberStatus names */
static const char *status_name(json_int_t s)
{
    switch (s) {
    case 0: return "none";
    case 1: return "alive";
    case 2: return "leaving";
    case 3: return "left";
    case 4: return "failed";
    default: return "unknown";
    }
}

static const char *tag(const json_t *m, const char *k)
{
    const char *v = json_string_value(json_object_get(json_object_get(m, "Tags"), k));
    return v ? v : "";
}

/* ip:port, IPv6 in brackets (Go's net.TCPAddr.String). */
static void member_addr(tb__buf_t *b, const json_t *m)
{
    const char *ip = json_string_value(json_object_get(m, "Addr"));
    json_int_t port = json_integer_value(json_object_get(m, "Port"));
    if (ip == NULL)
        ip = "";
    if (strchr(ip, ':'))
        tb__buf_printf(b, "[%s]:%" JSON_INTEGER_FORMAT, ip, port);
    else
        tb__buf_printf(b, "%s:%" JSON_INTEGER_FORMAT, ip, port);
}

typedef struct member_ref {
    const char *name;
    const char *segment;
    json_t *m;
} member_ref_t;

static int cmp_member(const void *a, const void *b)
{
    const member_ref_t *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->segment, y->segment);
}

static const char members_help[] =
    "Usage: tribune members [options]\n\n"
    "  Outputs the members of a running Tribune agent.\n";

int tb__cmd_members(int argc, char **argv)
{
    tb__http_opts_t o = {0};
    int detailed = 0, wan = 0;
    const char *status = ".*", *segment = NULL;
    tb__flag_t flags[] = {
        {"detailed", TB__F_BOOL, &detailed, NULL,
         "Provides detailed information about nodes.", NULL, 0, NULL, 0},
        {"status", TB__F_STRING, &status, "<regexp>",
         "If provided, output is filtered to only nodes matching the regular expression for "
         "status.", NULL, 0, NULL, 0},
        {"wan", TB__F_BOOL, &wan, NULL,
         "If the agent is in server mode, this can be used to return the other peers in the "
         "WAN pool.", NULL, 0, NULL, 0},
        {"segment", TB__F_STRING, &segment, "<string>",
         "(Enterprise-only) If provided, output is filtered to only nodes in the given "
         "segment.", NULL, 0, NULL, 0},
        TB__HTTP_FLAGS(&o),
        END_FLAGS,
    };
    int first;
    int rc = tb__flags_parse(flags, argc, argv, &first, members_help, NULL);
    if (rc != TB__FLAGS_OK)
        return rc == TB__FLAGS_HELP ? 0 : 1;
    if (first < argc) {
        fprintf(stderr, "Too many arguments (expected 0, got %d)\n", argc - first);
        return 1;
    }
    regex_t re;
    if (regcomp(&re, status, REG_EXTENDED | REG_NOSUB) != 0) {
        fprintf(stderr, "Failed to compile status regexp %s\n", status);
        return 1;
    }
    json_t *j = get_json(&o, "/v1/agent/members", wan ? "wan=1" : NULL);
    if (j == NULL) {
        regfree(&re);
        return 1;
    }

    size_t n = json_array_size(j), keep = 0;
    member_ref_t *ms = calloc(n ? n : 1, sizeof(*ms));
    if (ms == NULL) {
        regfree(&re);
        json_decref(j);
        return 1;
    }
    size_t i;
    json_t *m;
    json_array_foreach(j, i, m) {
        json_t *tags = json_object_get(m, "Tags");
        if (!json_is_object(tags)) {
            tags = json_object();
            json_object_set_new(m, "Tags", tags);
        }
        /* Consul shows servers in every segment and clients in the default one */
        if (tag(m, "segment")[0] == '\0')
            json_object_set_new(tags, "segment", json_string(strcmp(tag(m, "role"), "consul") == 0
                                                                 ? "<all>"
                                                                 : "<default>"));
        if (segment && strcmp(segment, tag(m, "segment")) != 0)
            continue;
        const char *st = status_name(json_integer_value(json_object_get(m, "Status")));
        if (regexec(&re, st, 0, NULL, 0) != 0)
            continue;
        const char *name = json_string_value(json_object_get(m, "Name"));
        ms[keep].name = name ? name : "";
        ms[keep].segment = tag(m, "segment");
        ms[keep].m = m;
        keep++;
    }
    regfree(&re);
    if (keep == 0) {
        /* no matching members: Consul exits 2 without output */
        free(ms);
        json_decref(j);
        return 2;
    }
    qsort(ms, keep, sizeof(*ms), cmp_member);

    char **rows = calloc(keep + 1, sizeof(*rows));
    size_t nrows = 0;
    int ret = 1;
    if (rows == NULL)
        goto out;
    rows[nrows++] = strdup(detailed ? "Node|Address|Status|Tags"
                                    : "Node|Address|Status|Type|Build|Protocol|DC|Partition|"
                                      "Segment");
    for (i = 0; i < keep; i++) {
        m = ms[i].m;
        const char *st = status_name(json_integer_value(json_object_get(m, "Status")));
        tb__buf_t row = {0};
        tb__buf_printf(&row, "%s|", ms[i].name);
        member_addr(&row, m);
        tb__buf_printf(&row, "|%s|", st);
        if (detailed) {
            json_t *tags = json_object_get(m, "Tags");
            size_t nt = json_object_size(tags), x = 0;
            const char **keys = calloc(nt ? nt : 1, sizeof(*keys));
            const char *k;
            json_t *v;
            if (keys) {
                json_object_foreach(tags, k, v) keys[x++] = k;
                qsort(keys, nt, sizeof(*keys), cmp_str);
                for (x = 0; x < nt; x++)
                    tb__buf_printf(&row, "%s%s=%s", x ? "," : "", keys[x],
                                   json_string_value(json_object_get(tags, keys[x]))
                                       ? json_string_value(json_object_get(tags, keys[x]))
                                       : "");
                free(keys);
            }
        } else {
            const char *role = tag(m, "role");
            const char *type = strcmp(role, "consul") == 0 ? "server"
                               : strcmp(role, "node") == 0 ? "client"
                                                           : NULL;
            if (type == NULL) {
                tb__buf_add(&row, "unknown|||||", 12);
            } else {
                const char *build = tag(m, "build");
                size_t blen = strcspn(build, ":");
                const char *part = tag(m, "ap");
                if (build[0] == '\0') {
                    build = "< 0.3";
                    blen = strlen(build);
                }
                tb__buf_printf(&row, "%s|%.*s|%s|%s|%s|%s", type, (int)blen, build, tag(m, "vsn"),
                               tag(m, "dc"), part[0] ? part : "default", tag(m, "segment"));
            }
        }
        rows[nrows++] = row.s;
    }
    char *text = tb__columnize(rows, nrows);
    if (text) {
        printf("%s\n", text);
        ret = 0;
    }
    free(text);
out:
    for (size_t r = 0; rows && r < nrows; r++)
        free(rows[r]);
    free(rows);
    free(ms);
    json_decref(j);
    return ret;
}

/* ------------------------------------------------------------ info */

static const char info_help[] =
    "Usage: tribune info [options]\n\n"
    "  Provides debugging information for operators\n";

static void print_scalar(const json_t *v)
{
    if (json_is_string(v)) {
        fputs(json_string_value(v), stdout);
    } else if (json_is_integer(v)) {
        printf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        fputs(s ? s : "", stdout);
        free(s);
    }
}

int tb__cmd_info(int argc, char **argv)
{
    tb__http_opts_t o = {0};
    tb__flag_t flags[] = {TB__HTTP_FLAGS(&o), END_FLAGS};
    int first;
    int rc = tb__flags_parse(flags, argc, argv, &first, info_help, NULL);
    if (rc != TB__FLAGS_OK)
        return rc == TB__FLAGS_HELP ? 0 : 1;
    if (first < argc) {
        fprintf(stderr, "Too many arguments (expected 0, got %d)\n", argc - first);
        return 1;
    }
    json_t *self = get_json(&o, "/v1/agent/self", NULL);
    if (self == NULL)
        return 1;
    json_t *stats = json_object_get(self, "Stats");
    size_t n = json_object_size(stats), i = 0;
    const char **sections = calloc(n ? n : 1, sizeof(*sections));
    if (sections == NULL) {
        json_decref(self);
        return 1;
    }
    const char *k;
    json_t *v;
    json_object_foreach(stats, k, v) sections[i++] = k;
    qsort(sections, n, sizeof(*sections), cmp_str);
    int ret = 0;
    for (i = 0; i < n; i++) {
        json_t *sub = json_object_get(stats, sections[i]);
        printf("%s:\n", sections[i]);
        if (!json_is_object(sub)) {
            fprintf(stderr, "Got invalid subkey in stats: %s\n", sections[i]);
            ret = 1;
            break;
        }
        size_t nk = json_object_size(sub), x = 0;
        const char **keys = calloc(nk ? nk : 1, sizeof(*keys));
        if (keys == NULL) {
            ret = 1;
            break;
        }
        json_object_foreach(sub, k, v) keys[x++] = k;
        qsort(keys, nk, sizeof(*keys), cmp_str);
        for (x = 0; x < nk; x++) {
            printf("\t%s = ", keys[x]);
            print_scalar(json_object_get(sub, keys[x]));
            printf("\n");
        }
        free(keys);
    }
    free(sections);
    json_decref(self);
    return ret;
}
