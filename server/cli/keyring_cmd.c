/*
 * keyring_cmd.c - `tribune keyring -list|-install|-use|-remove`: a client
 * of /v1/operator/keyring with Consul's output (spec/cli.md): each pool
 * ("WAN:", "<dc> (LAN):") with its keys and [installed/total] counts, the
 * members' messages, and "error: ..." (exit 1) when a member refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/gossip_cmd.h"
#include "config/tb_config.h"

#define END_FLAGS {NULL, 0, NULL, NULL, NULL, NULL, 0, NULL, 0}
#define FLAG_BOOL(n, p, u) {n, TB__F_BOOL, p, NULL, u, NULL, 0, NULL, 0}
#define FLAG_STR(n, p, a, u) {n, TB__F_STRING, p, a, u, NULL, 0, NULL, 0}

static const char keyring_help[] =
    "Usage: tribune keyring [options]\n\n"
    "  Manages encryption keys used for gossip messages. Gossip encryption is\n"
    "  optional. When enabled, this command may be used to examine active encryption\n"
    "  keys in the cluster, add new keys, and remove old ones. When combined, this\n"
    "  functionality provides the ability to perform key rotation cluster-wide,\n"
    "  without disrupting the cluster.\n\n"
    "  All operations performed by this command can only be run against server\n"
    "  nodes, and affect both the LAN and WAN keyrings in lock-step.\n\n"
    "  All variations of the keyring command return 0 if all nodes reply and there\n"
    "  are no errors. If any node fails to reply or reports failure, the exit code\n"
    "  will be 1.\n";

static void print_pool(const json_t *r)
{
    const char *dc = json_string_value(json_object_get(r, "Datacenter"));
    if (json_is_true(json_object_get(r, "WAN")))
        printf("\nWAN:");
    else
        printf("\n%s (LAN):", dc ? dc : "");
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(r, "Messages"), k, v)
        printf("\n  %s: %s", k, json_string_value(v));
    json_int_t total = json_integer_value(json_object_get(r, "NumNodes"));
    json_object_foreach(json_object_get(r, "Keys"), k, v)
        printf("\n  %s [%lld/%lld]", k, (long long)json_integer_value(v), (long long)total);
    printf("\n");
    const char *e = json_string_value(json_object_get(r, "Error"));
    if (e) fprintf(stderr, "error: %s: %s\n", json_is_true(json_object_get(r, "WAN")) ? "WAN" : "LAN", e);
}

int tb__cmd_keyring(int argc, char **argv)
{
    tb__http_opts_t o = {0};
    int list = 0, first;
    const char *install = NULL, *use = NULL, *rm = NULL;
    tb__flag_t flags[] = {
        FLAG_BOOL("list", &list, "List all keys currently in use within the cluster."),
        FLAG_STR("install", &install, "<key>",
                 "Install a new encryption key. This will broadcast the new key to all members "
                 "in the cluster."),
        FLAG_STR("use", &use, "<key>",
                 "Change the primary encryption key, which is used to encrypt messages. The key "
                 "must already be installed before this operation can succeed."),
        FLAG_STR("remove", &rm, "<key>",
                 "Remove the given key from the cluster. This operation may only be performed "
                 "on keys which are not currently the primary key."),
        TB__HTTP_FLAGS(&o), END_FLAGS};
    int rc = tb__flags_parse(flags, argc, argv, &first, keyring_help, NULL);
    if (rc != TB__FLAGS_OK) return rc == TB__FLAGS_HELP ? 0 : 1;
    if (first < argc) {
        fprintf(stderr, "Too many arguments (expected 0, got %d)\n", argc - first);
        return 1;
    }
    int n = list + (install != NULL) + (use != NULL) + (rm != NULL);
    if (n > 1) {
        fprintf(stderr, "Only a single action is allowed\n");
        return 1;
    }
    if (n == 0) {
        tb__flags_usage(stderr, flags, keyring_help);
        return 1;
    }
    if (list) {
        printf("==> Gathering installed encryption keys...\n");
        json_t *res = NULL;
        if (tb__cli_call(&o, "GET", "/v1/operator/keyring", NULL, NULL, "error", &res) != 0)
            return 1;
        size_t i;
        json_t *r;
        int failed = 0;
        json_array_foreach(res, i, r) {
            print_pool(r);
            failed |= json_is_string(json_object_get(r, "Error"));
        }
        json_decref(res);
        return failed;
    }
    static const char *const what[][2] = {{"POST", "==> Installing new gossip encryption key..."},
                                          {"PUT", "==> Changing primary gossip encryption key..."},
                                          {"DELETE", "==> Removing gossip encryption key..."}};
    int op = install ? 0 : use ? 1 : 2;
    const char *key = install ? install : use ? use : rm;
    json_t *body = json_pack("{s:s}", "Key", key);
    char *txt = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!txt) {
        fprintf(stderr, "error: the key is not valid UTF-8\n");
        return 1;
    }
    printf("%s\n", what[op][1]);
    fflush(stdout);
    rc = tb__cli_call(&o, what[op][0], "/v1/operator/keyring", NULL, txt, "error", NULL);
    free(txt);
    return rc ? 1 : 0;
}
