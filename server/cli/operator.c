/*
 * operator.c - `tribune operator raft list-peers|remove-peer|transfer-leader`,
 * HTTP clients of /v1/operator/raft/... printing Consul's output (list-peers:
 * columnize table Node ID Address State Voter RaftProtocol).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_int.h"

#define END_FLAGS {NULL, 0, NULL, NULL, NULL, NULL, 0, NULL, 0}

static const char operator_help[] =
    "Usage: tribune operator <subcommand> [options]\n\n"
    "  Provides cluster-level tools for Tribune operators, such as interacting with\n"
    "  the Raft subsystem.\n\n"
    "Subcommands:\n"
    "    raft    Provides cluster-level tools for Tribune operators\n";

static const char raft_help[] =
    "Usage: tribune operator raft <subcommand> [options]\n\n"
    "  The Raft operator command is used to interact with Tribune's Raft subsystem.\n\n"
    "  List Raft peers:\n\n"
    "      $ tribune operator raft list-peers\n\n"
    "  Remove a peer by address or ID:\n\n"
    "      $ tribune operator raft remove-peer -address=\"127.0.0.1:8300\"\n"
    "      $ tribune operator raft remove-peer -id=\"<node-id>\"\n\n"
    "  Transfer leadership:\n\n"
    "      $ tribune operator raft transfer-leader [-id=\"<node-id>\"]\n\n"
    "Subcommands:\n"
    "    list-peers         Display the current Raft peer configuration\n"
    "    remove-peer        Remove a Tribune server from the Raft configuration\n"
    "    transfer-leader    Transfer Raft leadership to another Tribune server\n";

/* Parse flags and refuse positional arguments. 0 go on, else exit code + 1. */
static int parse(tb__flag_t *flags, int argc, char **argv, const char *help)
{
    int first;
    int rc = tb__flags_parse(flags, argc, argv, &first, help, NULL);
    if (rc != TB__FLAGS_OK)
        return rc == TB__FLAGS_HELP ? 1 : 2;
    if (first < argc) {
        fprintf(stderr, "Too many arguments (expected 0, got %d)\n", argc - first);
        return 2;
    }
    return 0;
}

int tb__cli_request(const tb__http_opts_t *o, const char *method, const char *path,
                    const char *query, const void *body, size_t blen, const char *what,
                    tb__http_resp_t *r)
{
    if (tb__http_do(o, method, path, query, body, blen, r) != 0) {
        fprintf(stderr, "Error %s: %s\n", what, r->err);
        tb__http_resp_free(r);
        return -1;
    }
    if (r->status < 200 || r->status > 299) {
        char *e = tb__http_status_error(r);
        fprintf(stderr, "Error %s: %s\n", what, e ? e : "request failed");
        free(e);
        tb__http_resp_free(r);
        return -1;
    }
    return 0;
}

static int request(const tb__http_opts_t *o, const char *method, const char *path,
                   const char *query, const char *what, tb__http_resp_t *r)
{
    return tb__cli_request(o, method, path, query, NULL, 0, what, r);
}

/* ------------------------------------------------------------ list-peers */

static const char *str(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "";
}

static const char list_help[] =
    "Usage: tribune operator raft list-peers [options]\n\n"
    "  Displays the current Raft peer configuration.\n";

static int list_peers(int argc, char **argv)
{
    tb__http_opts_t o = {0};
    tb__flag_t flags[] = {TB__HTTP_FLAGS(&o), TB__HTTP_STALE_FLAG(&o), END_FLAGS};
    int p = parse(flags, argc, argv, list_help);
    if (p)
        return p - 1;
    tb__http_resp_t r;
    if (request(&o, "GET", "/v1/operator/raft/configuration", NULL,
                "retrieving Raft configuration", &r))
        return 1;
    json_error_t je;
    json_t *j = json_loadb(r.body, r.len, 0, &je);
    tb__http_resp_free(&r);
    json_t *servers = json_object_get(j, "Servers");
    if (!json_is_array(servers)) {
        fprintf(stderr, "Error retrieving Raft configuration: unexpected response\n");
        json_decref(j);
        return 1;
    }
    size_t n = json_array_size(servers), i;
    char **rows = calloc(n + 1, sizeof(*rows));
    int rc = 0;
    if (!rows) {
        json_decref(j);
        return 1;
    }
    rows[0] = strdup("Node|ID|Address|State|Voter|RaftProtocol");
    json_t *s;
    json_array_foreach(servers, i, s) {
        const char *pv = json_string_value(json_object_get(s, "ProtocolVersion"));
        if (asprintf(&rows[i + 1], "%s|%s|%s|%s|%s|%s", str(s, "Node"), str(s, "ID"),
                     str(s, "Address"),
                     json_is_true(json_object_get(s, "Leader")) ? "leader" : "follower",
                     json_is_true(json_object_get(s, "Voter")) ? "true" : "false",
                     pv ? pv : "<=1") < 0)
            rows[i + 1] = NULL;
        if (!rows[i + 1])
            rc = 1;
    }
    char *out = rc ? NULL : tb__columnize(rows, n + 1);
    if (out)
        printf("%s\n", out);
    else
        rc = 1;
    free(out);
    for (i = 0; i <= n; i++)
        free(rows[i]);
    free(rows);
    json_decref(j);
    return rc;
}

/* ------------------------------------------------------------ remove-peer */

static const char remove_help[] =
    "Usage: tribune operator raft remove-peer [options]\n\n"
    "  Remove the Tribune server with the given -address or -id from the Raft\n"
    "  configuration. Use it to clean up after a server that failed and will not\n"
    "  come back; a server that leaves gracefully removes itself.\n";

static int remove_peer(int argc, char **argv)
{
    tb__http_opts_t o = {0};
    const char *address = NULL, *id = NULL;
    tb__flag_t flags[] = {
        TB__HTTP_FLAGS(&o),
        {"address", TB__F_STRING, &address, "<IP:port>",
         "The address of the server to remove (its server port).", NULL, 0, NULL, 0},
        {"id", TB__F_STRING, &id, "<node-id>", "The ID of the server to remove.", NULL, 0, NULL,
         0},
        END_FLAGS};
    int p = parse(flags, argc, argv, remove_help);
    if (p)
        return p - 1;
    if ((address && *address) == (id && *id)) {
        fprintf(stderr, "Error removing peer: exactly one of -address or -id is required\n");
        return 1;
    }
    const char *key = id && *id ? "id" : "address", *val = id && *id ? id : address;
    char *esc = tb__url_escape(val, 0), *q = NULL;
    if (!esc || asprintf(&q, "%s=%s", key, esc) < 0) {
        free(esc);
        return 1;
    }
    free(esc);
    tb__http_resp_t r;
    int rc = request(&o, "DELETE", "/v1/operator/raft/peer", q, "removing peer", &r);
    free(q);
    if (rc)
        return 1;
    tb__http_resp_free(&r);
    /* the agent answers once the removal committed */
    printf("Removed peer with %s \"%s\"\n", key, val);
    return 0;
}

/* ------------------------------------------------------------ transfer-leader */

static const char transfer_help[] =
    "Usage: tribune operator raft transfer-leader [options]\n\n"
    "  Transfer Raft leadership to the server with -id, or to the most up-to-date\n"
    "  other voter when no -id is given.\n";

static int transfer_leader(int argc, char **argv)
{
    tb__http_opts_t o = {0};
    const char *id = NULL;
    tb__flag_t flags[] = {TB__HTTP_FLAGS(&o),
                          {"id", TB__F_STRING, &id, "<node-id>",
                           "The ID of the server to transfer leadership to.", NULL, 0, NULL, 0},
                          END_FLAGS};
    int p = parse(flags, argc, argv, transfer_help);
    if (p)
        return p - 1;
    char *q = NULL;
    if (id && *id) {
        char *esc = tb__url_escape(id, 0);
        if (!esc || asprintf(&q, "id=%s", esc) < 0) {
            free(esc);
            return 1;
        }
        free(esc);
    }
    tb__http_resp_t r;
    int rc = request(&o, "POST", "/v1/operator/raft/transfer-leader", q,
                     "transferring leadership", &r);
    free(q);
    if (rc)
        return 1;
    tb__http_resp_free(&r);
    printf("Success\n");
    return 0;
}

/* ------------------------------------------------------------ dispatch */

int tb__cmd_operator(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(int, char **);
    } subs[] = {{"list-peers", list_peers},
                {"remove-peer", remove_peer},
                {"transfer-leader", transfer_leader}};
    if (argc < 1 || strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "-help") == 0 ||
        strcmp(argv[0], "--help") == 0) {
        fputs(operator_help, argc < 1 ? stderr : stdout);
        return argc < 1 ? 1 : 0;
    }
    if (strcmp(argv[0], "raft") != 0) {
        fprintf(stderr, "Unknown operator subcommand \"%s\"\n\n%s", argv[0], operator_help);
        return 1;
    }
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "-help") == 0 ||
        strcmp(argv[1], "--help") == 0) {
        fputs(raft_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? 1 : 0;
    }
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
        if (strcmp(argv[1], subs[i].name) == 0)
            return subs[i].run(argc - 2, argv + 2);
    fprintf(stderr, "Unknown operator raft subcommand \"%s\"\n\n%s", argv[1], raft_help);
    return 1;
}
