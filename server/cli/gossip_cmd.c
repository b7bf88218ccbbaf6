/*
 * gossip_cmd.c - `tribune join`, `leave`, `force-leave`, `event` and
 * `keygen`: thin clients of /v1/agent/join, /v1/agent/leave,
 * /v1/agent/force-leave and /v1/event/fire with Consul's messages
 * (spec/cli.md). keygen needs no agent: 32 random bytes in base64.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/gossip_cmd.h"
#include "config/tb_config.h"

#define END_FLAGS {NULL, 0, NULL, NULL, NULL, NULL, 0, NULL, 0}
#define FLAG_BOOL(n, p, u) {n, TB__F_BOOL, p, NULL, u, NULL, 0, NULL, 0}
#define FLAG_STR(n, p, a, u) {n, TB__F_STRING, p, a, u, NULL, 0, NULL, 0}

static int parse(tb__flag_t *flags, int argc, char **argv, int *first, const char *help)
{
    int rc = tb__flags_parse(flags, argc, argv, first, help, NULL);
    return rc == TB__FLAGS_OK ? -1 : rc == TB__FLAGS_HELP ? 0 : 1;
}

/* "/v1/...<escaped name>" */
static char *path_with(const char *prefix, const char *name)
{
    char *esc = tb__url_escape(name, 0), *p = NULL;
    if (esc && asprintf(&p, "%s%s", prefix, esc) < 0) p = NULL;
    free(esc);
    return p;
}

/* ------------------------------------------------------------ join */

static const char join_help[] =
    "Usage: tribune join [options] address ...\n\n"
    "  Tells a running Tribune agent (with \"tribune agent\") to join the cluster\n"
    "  by specifying at least one existing member.\n";

int tb__cmd_join(int argc, char **argv)
{
    tb__http_opts_t o = {0};
    int wan = 0, first;
    tb__flag_t flags[] = {
        FLAG_BOOL("wan", &wan, "Joins a server to another server in the WAN pool."),
        TB__HTTP_FLAGS(&o), END_FLAGS};
    int rc = parse(flags, argc, argv, &first, join_help);
    if (rc >= 0) return rc;
    if (first >= argc) {
        fprintf(stderr, "At least one address to join must be specified.\n");
        tb__flags_usage(stderr, flags, join_help);
        return 1;
    }
    int joined = 0;
    for (int i = first; i < argc; i++) {
        char *path = path_with("/v1/agent/join/", argv[i]);
        char what[512];
        snprintf(what, sizeof what, "Error joining address '%s'", argv[i]);
        if (path && tb__cli_call(&o, "PUT", path, wan ? "wan=1" : NULL, NULL, what, NULL) == 0)
            joined++;
        free(path);
    }
    if (joined == 0) {
        fprintf(stderr, "Failed to join any nodes.\n");
        return 1;
    }
    printf("Successfully joined cluster by contacting %d nodes.\n", joined);
    return 0;
}

/* ------------------------------------------------------------ leave */

static const char leave_help[] =
    "Usage: tribune leave [options]\n\n"
    "  Causes the agent to gracefully leave the Tribune cluster and shutdown.\n";

int tb__cmd_leave(int argc, char **argv)
{
    tb__http_opts_t o = {0};
    int first;
    tb__flag_t flags[] = {TB__HTTP_FLAGS(&o), END_FLAGS};
    int rc = parse(flags, argc, argv, &first, leave_help);
    if (rc >= 0) return rc;
    if (first < argc) {
        fprintf(stderr, "Too many arguments (expected 0, got %d)\n", argc - first);
        return 1;
    }
    if (tb__cli_call(&o, "PUT", "/v1/agent/leave", NULL, NULL, "Error leaving", NULL) != 0)
        return 1;
    printf("Graceful leave complete\n");
    return 0;
}

/* ------------------------------------------------------------ force-leave */

static const char force_leave_help[] =
    "Usage: tribune force-leave [options] name\n\n"
    "  Forces a member of a Tribune cluster to enter the \"left\" state. Note\n"
    "  that if the member is still actually alive, it will eventually rejoin\n"
    "  the cluster. The true purpose of this method is to force remove\n"
    "  \"failed\" nodes.\n";

int tb__cmd_force_leave(int argc, char **argv)
{
    tb__http_opts_t o = {0};
    int prune = 0, wan = 0, first;
    tb__flag_t flags[] = {
        FLAG_BOOL("prune", &prune, "Remove agent forcibly from list of members"),
        FLAG_BOOL("wan", &wan, "Exclusively leave the agent from the WAN serf pool."),
        TB__HTTP_FLAGS(&o), END_FLAGS};
    int rc = parse(flags, argc, argv, &first, force_leave_help);
    if (rc >= 0) return rc;
    if (argc - first != 1) {
        fprintf(stderr, "A single node name must be specified to force leave.\n");
        tb__flags_usage(stderr, flags, force_leave_help);
        return 1;
    }
    char *path = path_with("/v1/agent/force-leave/", argv[first]);
    char q[32] = "";
    snprintf(q, sizeof q, "%s%s%s", prune ? "prune=1" : "", prune && wan ? "&" : "",
             wan ? "wan=1" : "");
    rc = path && tb__cli_call(&o, "PUT", path, *q ? q : NULL, NULL, "Error force leaving",
                              NULL) == 0
             ? 0
             : 1;
    free(path);
    return rc;
}

/* ------------------------------------------------------------ event */

static const char event_help[] =
    "Usage: tribune event [options] [payload]\n\n"
    "  Dispatches a custom user event across a datacenter. An event must provide\n"
    "  a name, but a payload is optional. Events support filtering using\n"
    "  regular expressions on node name, service, and tag definitions.\n";

int tb__cmd_event(int argc, char **argv)
{
    tb__http_opts_t o = {0};
    const char *name = NULL, *node = NULL, *service = NULL, *tag = NULL;
    int first;
    tb__flag_t flags[] = {
        FLAG_STR("name", &name, "<name>", "Name of the event."),
        FLAG_STR("node", &node, "<regexp>", "Regular expression to filter on node names."),
        FLAG_STR("service", &service, "<regexp>", "Regular expression to filter on service "
                 "instances."),
        FLAG_STR("tag", &tag, "<regexp>", "Regular expression to filter on service tags. Must "
                 "be used with -service."),
        TB__HTTP_FLAGS(&o), END_FLAGS};
    int rc = parse(flags, argc, argv, &first, event_help);
    if (rc >= 0) return rc;
    if (!name || !*name) {
        fprintf(stderr, "Event name must be specified\n");
        tb__flags_usage(stderr, flags, event_help);
        return 1;
    }
    if (tag && *tag && !(service && *service)) {
        fprintf(stderr, "Cannot provide tag filter without service filter.\n");
        return 1;
    }
    if (argc - first > 1) {
        fprintf(stderr, "Too many command line arguments.\n");
        tb__flags_usage(stderr, flags, event_help);
        return 1;
    }
    tb__buf_t q = {0};
    const char *keys[] = {"node", "service", "tag"}, *vals[] = {node, service, tag};
    for (int i = 0; i < 3; i++) {
        if (!vals[i] || !*vals[i]) continue;
        char *e = tb__url_escape(vals[i], 0);
        tb__buf_printf(&q, "%s%s=%s", q.len ? "&" : "", keys[i], e ? e : "");
        free(e);
    }
    char *path = path_with("/v1/event/fire/", name);
    json_t *ev = NULL;
    rc = path && tb__cli_call(&o, "PUT", path, q.len ? q.s : NULL,
                              first < argc ? argv[first] : NULL, "Error firing event", &ev) == 0
             ? 0
             : 1;
    if (rc == 0) printf("Event ID: %s\n", json_string_value(json_object_get(ev, "ID")) ?: "");
    json_decref(ev);
    free(path);
    free(q.s);
    return rc;
}

/* ------------------------------------------------------------ keygen */

static const char keygen_help[] =
    "Usage: tribune keygen\n\n"
    "  Generates a new encryption key that can be used to configure the\n"
    "  agent to encrypt traffic. The output of this command is already\n"
    "  in the proper format that the agent expects.\n";

int tb__cmd_keygen(int argc, char **argv)
{
    int first;
    tb__flag_t flags[] = {END_FLAGS};
    int rc = parse(flags, argc, argv, &first, keygen_help);
    if (rc >= 0) return rc;
    unsigned char key[32];
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(key, 1, sizeof key, f) != sizeof key) {
        fprintf(stderr, "Error reading random data: cannot read /dev/urandom\n");
        if (f) fclose(f);
        return 1;
    }
    fclose(f);
    char *out = tb__base64_encode(key, sizeof key);
    if (!out) return 1;
    printf("%s\n", out);
    free(out);
    return 0;
}
