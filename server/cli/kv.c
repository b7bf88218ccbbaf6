/*
 * kv.c - `tribune kv get|put|delete`, HTTP clients of /v1/kv with Consul's
 * exact output lines (spec/cli.md §3). KV Flags are uint64: they are sent
 * and printed as decimal integers, never through a double.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_int.h"
#include "config/tb_config.h"

#define END_FLAGS {NULL, 0, NULL, NULL, NULL, NULL, 0, NULL, 0}

static const char kv_help[] =
    "Usage: tribune kv <subcommand> [options] [args]\n\n"
    "  This command has subcommands for interacting with Tribune's key-value\n"
    "  store. Here are some simple examples, and more detailed examples are\n"
    "  available in the subcommands or the documentation.\n\n"
    "  Create or update the key named \"redis/config/connections\" with the value \"5\":\n\n"
    "      $ tribune kv put redis/config/connections 5\n\n"
    "  Read this value back:\n\n"
    "      $ tribune kv get redis/config/connections\n\n"
    "  Or get detailed key information:\n\n"
    "      $ tribune kv get -detailed redis/config/connections\n\n"
    "  Finally, delete the key:\n\n"
    "      $ tribune kv delete redis/config/connections\n\n"
    "Subcommands:\n"
    "    delete    Removes data from the KV store\n"
    "    get       Retrieves or lists data from the KV store\n"
    "    put       Sets or updates data in the KV store\n";

static const char *trim_slash(const char *key)
{
    return key[0] == '/' ? key + 1 : key;
}

static char *kv_path(const char *key)
{
    char *esc = tb__url_escape(key, 1);
    char *path = NULL;
    if (esc == NULL || asprintf(&path, "/v1/kv/%s", esc) < 0)
        path = NULL;
    free(esc);
    return path;
}

/* Decode a KV pair's base64 "Value" (null = empty). */
static int pair_value(const json_t *pair, void **val, size_t *len)
{
    const char *b64 = json_string_value(json_object_get(pair, "Value"));
    if (b64 == NULL) {
        *val = calloc(1, 1);
        *len = 0;
        return *val ? 0 : -1;
    }
    return tb__base64_decode(b64, strlen(b64), val, len);
}

static void print_value(const void *v, size_t len, int base64)
{
    if (base64) {
        char *e = tb__base64_encode(v, len);
        fputs(e ? e : "", stdout);
        free(e);
    } else {
        fwrite(v, 1, len, stdout);
    }
}

/* Consul's prettyKVPair: a tabwriter with padding 6; the widest label is
 * "CreateIndex"/"ModifyIndex" (11), so labels are padded to 17 columns. */
static void print_detailed(const json_t *pair, int base64)
{
    const char *session = json_string_value(json_object_get(pair, "Session"));
    printf("%-17s%" PRIu64 "\n", "CreateIndex", tb__json_u64(json_object_get(pair, "CreateIndex")));
    printf("%-17s%" PRIu64 "\n", "Flags", tb__json_u64(json_object_get(pair, "Flags")));
    printf("%-17s%s\n", "Key", json_string_value(json_object_get(pair, "Key")));
    printf("%-17s%" PRIu64 "\n", "LockIndex", tb__json_u64(json_object_get(pair, "LockIndex")));
    printf("%-17s%" PRIu64 "\n", "ModifyIndex", tb__json_u64(json_object_get(pair, "ModifyIndex")));
    printf("%-17s%s\n", "Session", session && *session ? session : "-");
    printf("%-17s", "Value");
    void *v;
    size_t len;
    if (pair_value(pair, &v, &len) == 0) {
        print_value(v, len, base64);
        free(v);
    }
    printf("\n");
}

static json_t *parse_body(const tb__http_resp_t *r)
{
    json_error_t e;
    return tb__json_loads_u64(r->body, r->len, &e);
}

/* ------------------------------------------------------------ get */

static const char get_help[] =
    "Usage: tribune kv get [options] [KEY_OR_PREFIX]\n\n"
    "  Retrieves the value from Tribune's key-value store at the given key name. If no\n"
    "  key exists with that name, an error is returned. If a key exists with that\n"
    "  name but has no data, nothing is returned. If the name or prefix is omitted,\n"
    "  it defaults to \"\" which is the root of the key-value store.\n\n"
    "  To retrieve the value for the key named \"foo\" in the key-value store:\n\n"
    "      $ tribune kv get foo\n\n"
    "  To treat the path as a prefix and list all keys which start with the given\n"
    "  prefix, specify the -recurse flag:\n\n"
    "      $ tribune kv get -recurse foo\n\n"
    "  To list only the keys under a prefix, use -keys (with -separator).\n";

static int kv_get(int argc, char **argv)
{
    tb__http_opts_t o = {0};
    int recurse = 0, keys = 0, detailed = 0, base64 = 0;
    const char *separator = "/";
    tb__flag_t flags[] = {
        {"recurse", TB__F_BOOL, &recurse, NULL,
         "Recursively look at all keys prefixed with the given path.", NULL, 0, NULL, 0},
        {"keys", TB__F_BOOL, &keys, NULL, "List keys which start with the given prefix, "
                                          "but not their values.", NULL, 0, NULL, 0},
        {"separator", TB__F_STRING, &separator, "<string>",
         "String to use as a separator between keys (with -keys; \"\" disables). Default \"/\".",
         NULL, 0, NULL, 0},
        {"detailed", TB__F_BOOL, &detailed, NULL,
         "Provide additional metadata about the key in addition to the value.", NULL, 0, NULL,
         0},
        {"base64", TB__F_BOOL, &base64, NULL, "Base64 encode the value.", NULL, 0, NULL, 0},
        TB__HTTP_FLAGS(&o),
        TB__HTTP_STALE_FLAG(&o),
        END_FLAGS,
    };
    int first;
    int rc = tb__flags_parse(flags, argc, argv, &first, get_help, NULL);
    if (rc != TB__FLAGS_OK)
        return rc == TB__FLAGS_HELP ? 0 : 1;
    const char *key = "";
    if (argc - first == 1) {
        key = argv[first];
    } else if (argc - first > 1) {
        fprintf(stderr, "Too many arguments (expected 1, got %d)\n", argc - first);
        return 1;
    }
    key = trim_slash(key);
    if (key[0] == '\0' && !(recurse || keys)) {
        fprintf(stderr, "Error! Missing KEY argument\n");
        return 1;
    }

    char *path = kv_path(key);
    char *query = NULL;
    if (keys) {
        char *sep = tb__url_escape(separator, 0);
        if (sep && *separator)
            rc = asprintf(&query, "keys&separator=%s", sep);
        else
            rc = asprintf(&query, "keys");
        free(sep);
    } else if (recurse) {
        rc = asprintf(&query, "recurse");
    } else {
        rc = 0;
    }
    if (path == NULL || rc < 0) {
        free(path);
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    tb__http_resp_t r;
    if (tb__http_do(&o, "GET", path, query, NULL, 0, &r) != 0) {
        fprintf(stderr, "Error querying agent: %s\n", r.err);
        goto fail;
    }
    if (r.status == 404) {
        if (!keys && !recurse) {
            fprintf(stderr, "Error! No key exists at: %s\n", key);
            goto fail;
        }
        goto ok; /* an empty listing */
    }
    if (r.status != 200) {
        char *e = tb__http_status_error(&r);
        fprintf(stderr, "Error querying agent: %s\n", e ? e : "request failed");
        free(e);
        goto fail;
    }
    json_t *j = parse_body(&r);
    if (j == NULL) {
        fprintf(stderr, "Error querying agent: invalid JSON in the response\n");
        goto fail;
    }
    size_t i;
    json_t *e;
    if (keys) {
        json_array_foreach(j, i, e) printf("%s\n", json_string_value(e));
    } else if (recurse) {
        size_t n = json_array_size(j);
        json_array_foreach(j, i, e) {
            if (detailed) {
                print_detailed(e, base64);
                if (i + 1 < n)
                    printf("\n");
            } else {
                void *v;
                size_t len;
                printf("%s:", json_string_value(json_object_get(e, "Key")));
                if (pair_value(e, &v, &len) == 0) {
                    print_value(v, len, base64);
                    free(v);
                }
                printf("\n");
            }
        }
    } else {
        json_t *pair = json_array_get(j, 0);
        if (pair == NULL) {
            json_decref(j);
            fprintf(stderr, "Error! No key exists at: %s\n", key);
            goto fail;
        }
        if (detailed) {
            print_detailed(pair, base64);
        } else {
            void *v;
            size_t len;
            if (pair_value(pair, &v, &len) == 0) {
                print_value(v, len, base64);
                free(v);
            }
            printf("\n");
        }
    }
    json_decref(j);
ok:
    tb__http_resp_free(&r);
    free(path);
    free(query);
    return 0;
fail:
    tb__http_resp_free(&r);
    free(path);
    free(query);
    return 1;
}

/* ------------------------------------------------------------ put */

static const char put_help[] =
    "Usage: tribune kv put [options] KEY [DATA]\n\n"
    "  Writes the data to the given path in the key-value store. The data can be of\n"
    "  any type.\n\n"
    "      $ tribune kv put config/redis/maxconns 5\n\n"
    "  The data can also be consumed from a file on disk by prefixing with the \"@\"\n"
    "  symbol. For example:\n\n"
    "      $ tribune kv put config/program/license @license.lic\n\n"
    "  Or it can be read from stdin using the \"-\" symbol:\n\n"
    "      $ echo \"abcd1234\" | tribune kv put config/program/license -\n\n"
    "  The DATA argument itself is optional. If omitted, this will create a key\n"
    "  with no data:\n\n"
    "      $ tribune kv put webapp/beta/active\n\n"
    "  To perform a Check-And-Set operation, specify the -cas flag with the\n"
    "  appropriate -modify-index flag corresponding to the key you want to perform\n"
    "  the CAS operation on:\n\n"
    "      $ tribune kv put -cas -modify-index=844 config/redis/maxconns 5\n";

static int read_all(FILE *f, tb__buf_t *b)
{
    char chunk[65536];
    size_t n;
    if (tb__buf_add(b, "", 0) != 0)
        return -1;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (tb__buf_add(b, chunk, n) != 0)
            return -1;
    return ferror(f) ? -1 : 0;
}

static int kv_put(int argc, char **argv)
{
    tb__http_opts_t o = {0};
    uint64_t kflags = 0, modify_index = 0;
    int cas = 0, acquire = 0, release = 0, base64 = 0;
    const char *session = NULL;
    tb__flag_t flags[] = {
        {"flags", TB__F_UINT64, &kflags, "<uint>",
         "Unsigned integer value to assign to this key-value pair.", NULL, 0, NULL, 0},
        {"cas", TB__F_BOOL, &cas, NULL,
         "Perform a Check-And-Set operation (needs -modify-index).", NULL, 0, NULL, 0},
        {"modify-index", TB__F_UINT64, &modify_index, "<uint>",
         "Unsigned integer representing the ModifyIndex of the key (with -cas).", NULL, 0,
         NULL, 0},
        {"acquire", TB__F_BOOL, &acquire, NULL,
         "Obtain a lock on the key (needs -session).", NULL, 0, NULL, 0},
        {"release", TB__F_BOOL, &release, NULL,
         "Forfeit the lock on the key (needs -session).", NULL, 0, NULL, 0},
        {"session", TB__F_STRING, &session, "<string>",
         "User-defined identifier for this session (with -acquire/-release).", NULL, 0, NULL,
         0},
        {"base64", TB__F_BOOL, &base64, NULL, "Treat the data as base 64 encoded.", NULL, 0,
         NULL, 0},
        TB__HTTP_FLAGS(&o),
        END_FLAGS,
    };
    int first;
    int rc = tb__flags_parse(flags, argc, argv, &first, put_help, NULL);
    if (rc != TB__FLAGS_OK)
        return rc == TB__FLAGS_HELP ? 0 : 1;
    int nargs = argc - first;
    if (nargs == 0) {
        fprintf(stderr, "Error! Missing KEY argument\n");
        return 1;
    }
    if (nargs > 2) {
        fprintf(stderr, "Error! Too many arguments (expected 1 or 2, got %d)\n", nargs);
        return 1;
    }
    const char *key = trim_slash(argv[first]);
    const char *arg = nargs == 2 ? argv[first + 1] : "";

    tb__buf_t data = {0};
    tb__buf_add(&data, "", 0);
    if (arg[0] == '@') {
        FILE *f = fopen(arg + 1, "rb");
        if (f == NULL || read_all(f, &data) != 0) {
            fprintf(stderr, "Error! Failed to read file: %s: %s\n", arg + 1, strerror(errno));
            if (f)
                fclose(f);
            free(data.s);
            return 1;
        }
        fclose(f);
    } else if (strcmp(arg, "-") == 0) {
        if (read_all(stdin, &data) != 0) {
            fprintf(stderr, "Error! Failed to read stdin: %s\n", strerror(errno));
            free(data.s);
            return 1;
        }
    } else {
        tb__buf_add(&data, arg, strlen(arg));
    }

    void *value = data.s;
    size_t vlen = data.len;
    void *decoded = NULL;
    if (base64) {
        if (tb__base64_decode(data.s, data.len, &decoded, &vlen) != 0) {
            fprintf(stderr, "Error! Cannot base 64 decode data: illegal base64 data\n");
            free(data.s);
            return 1;
        }
        value = decoded;
    }

    int ret = 1;
    char *path = NULL, *query = NULL, *sess = NULL;
    tb__http_resp_t r = {0};
    if ((release || acquire) && (session == NULL || *session == '\0')) {
        fprintf(stderr, "Error! Missing -session (required with -acquire and -release)\n");
        goto out;
    }
    if (cas && modify_index == 0) {
        fprintf(stderr, "Must specify -modify-index with -cas!\n");
        goto out;
    }
    path = kv_path(key);
    tb__buf_t q = {0};
    tb__buf_add(&q, "", 0);
    if (kflags != 0)
        tb__buf_printf(&q, "flags=%" PRIu64, kflags);
    if (cas)
        tb__buf_printf(&q, "%scas=%" PRIu64, q.len ? "&" : "", modify_index);
    if (acquire || release) {
        sess = tb__url_escape(session, 0);
        tb__buf_printf(&q, "%s%s=%s", q.len ? "&" : "", acquire ? "acquire" : "release",
                       sess ? sess : "");
    }
    query = q.s;
    if (path == NULL || query == NULL) {
        fprintf(stderr, "out of memory\n");
        goto out;
    }
    if (tb__http_do(&o, "PUT", path, query, value, vlen, &r) != 0 || r.status != 200) {
        char *e = r.err ? NULL : tb__http_status_error(&r);
        const char *why = r.err ? r.err : (e ? e : "request failed");
        if (cas)
            fprintf(stderr, "Error! Did not write to %s: %s\n", key, why);
        else
            fprintf(stderr, "Error! Failed writing data: %s\n", why);
        free(e);
        goto out;
    }
    int ok = r.len >= 4 && strncmp(r.body, "true", 4) == 0;
    if (cas && !ok) {
        fprintf(stderr, "Error! Did not write to %s: CAS failed\n", key);
    } else if (acquire && !ok) {
        fprintf(stderr, "Error! Did not acquire lock\n");
    } else if (release && !ok) {
        fprintf(stderr, "Error! Did not release lock\n");
    } else {
        /* a plain put succeeds on 200, whatever the body (as Consul's CLI) */
        if (acquire)
            printf("Success! Lock acquired on: %s\n", key);
        else if (release)
            printf("Success! Lock released on: %s\n", key);
        else
            printf("Success! Data written to: %s\n", key);
        ret = 0;
    }
out:
    tb__http_resp_free(&r);
    free(path);
    free(query);
    free(sess);
    free(decoded);
    free(data.s);
    return ret;
}

/* ------------------------------------------------------------ delete */

static const char delete_help[] =
    "Usage: tribune kv delete [options] KEY_OR_PREFIX\n\n"
    "  Removes the value from Tribune's key-value store at the given path. If no\n"
    "  key exists at the path, no action is taken.\n\n"
    "  To delete the value for the key named \"foo\" in the key-value store:\n\n"
    "      $ tribune kv delete foo\n\n"
    "  To delete all keys which start with \"foo\", specify the -recurse option:\n\n"
    "      $ tribune kv delete -recurse foo\n";

static int kv_delete(int argc, char **argv)
{
    tb__http_opts_t o = {0};
    int recurse = 0, cas = 0;
    uint64_t modify_index = 0;
    tb__flag_t flags[] = {
        {"recurse", TB__F_BOOL, &recurse, NULL,
         "Recursively delete all keys with the path as their prefix.", NULL, 0, NULL, 0},
        {"cas", TB__F_BOOL, &cas, NULL,
         "Perform a Check-And-Set operation (needs -modify-index).", NULL, 0, NULL, 0},
        {"modify-index", TB__F_UINT64, &modify_index, "<uint>",
         "Unsigned integer representing the ModifyIndex of the key (with -cas).", NULL, 0,
         NULL, 0},
        TB__HTTP_FLAGS(&o),
        END_FLAGS,
    };
    int first;
    int rc = tb__flags_parse(flags, argc, argv, &first, delete_help, NULL);
    if (rc != TB__FLAGS_OK)
        return rc == TB__FLAGS_HELP ? 0 : 1;
    const char *key = "";
    if (argc - first == 1) {
        key = argv[first];
    } else if (argc - first > 1) {
        fprintf(stderr, "Too many arguments (expected 1, got %d)\n", argc - first);
        return 1;
    }
    key = trim_slash(key);
    if (key[0] == '\0' && !recurse) {
        fprintf(stderr, "Error! Missing KEY argument\n");
        return 1;
    }
    if (cas && modify_index == 0) {
        fprintf(stderr, "Must specify -modify-index with -cas!\n");
        return 1;
    }
    if (modify_index != 0 && !cas) {
        fprintf(stderr, "Cannot specify -modify-index without -cas!\n");
        return 1;
    }
    if (recurse && cas) {
        fprintf(stderr, "Cannot specify both -cas and -recurse!\n");
        return 1;
    }
    char *path = kv_path(key);
    char *query = NULL;
    if (recurse)
        rc = asprintf(&query, "recurse");
    else if (cas)
        rc = asprintf(&query, "cas=%" PRIu64, modify_index);
    else
        rc = 0;
    if (path == NULL || rc < 0) {
        free(path);
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    tb__http_resp_t r;
    int ret = 1;
    if (tb__http_do(&o, "DELETE", path, query, NULL, 0, &r) != 0 || r.status != 200) {
        char *e = r.err ? NULL : tb__http_status_error(&r);
        const char *why = r.err ? r.err : (e ? e : "request failed");
        if (recurse)
            fprintf(stderr, "Error! Did not delete prefix %s: %s\n", key, why);
        else if (cas)
            fprintf(stderr, "Error! Did not delete key %s: %s\n", key, why);
        else
            fprintf(stderr, "Error deleting key %s: %s\n", key, why);
        free(e);
    } else if (cas && !(r.len >= 4 && strncmp(r.body, "true", 4) == 0)) {
        fprintf(stderr, "Error! Did not delete key %s: CAS failed\n", key);
    } else {
        if (recurse)
            printf("Success! Deleted keys with prefix: %s\n", key);
        else
            printf("Success! Deleted key: %s\n", key);
        ret = 0;
    }
    tb__http_resp_free(&r);
    free(path);
    free(query);
    return ret;
}

/* ------------------------------------------------------------ dispatch */

int tb__cmd_kv(int argc, char **argv)
{
    if (argc < 1) {
        fputs(kv_help, stderr);
        return 1;
    }
    const char *sub = argv[0];
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0 || strcmp(sub, "-help") == 0) {
        fputs(kv_help, stdout);
        return 0;
    }
    if (strcmp(sub, "get") == 0)
        return kv_get(argc - 1, argv + 1);
    if (strcmp(sub, "put") == 0)
        return kv_put(argc - 1, argv + 1);
    if (strcmp(sub, "delete") == 0)
        return kv_delete(argc - 1, argv + 1);
    fprintf(stderr, "Unknown command: \"kv %s\"\n\n", sub);
    fputs(kv_help, stderr);
    return 1;
}
