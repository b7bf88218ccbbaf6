/*
 * snapshot.c - `tribune snapshot save|restore|inspect`. save downloads
 * GET /v1/snapshot, checks the archive (sums, meta) before it replaces the
 * file (written to FILE.part, then renamed); restore uploads a file to PUT
 * /v1/snapshot; inspect reads an archive offline and prints its meta as
 * Consul does. The archive format is server/state/archive.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_int.h"
#include "state/archive.h"

#define END_FLAGS {NULL, 0, NULL, NULL, NULL, NULL, 0, NULL, 0}

static const char snapshot_help[] =
    "Usage: tribune snapshot <subcommand> [options] [args]\n\n"
    "  Saves, restores and inspects point-in-time snapshots of the state of the\n"
    "  Tribune servers: key/value entries, the service catalog, sessions.\n\n"
    "  Create a snapshot:\n\n"
    "      $ tribune snapshot save backup.snap\n\n"
    "  Restore a snapshot:\n\n"
    "      $ tribune snapshot restore backup.snap\n\n"
    "  Inspect a snapshot:\n\n"
    "      $ tribune snapshot inspect backup.snap\n\n"
    "Subcommands:\n"
    "    inspect    Displays information about a Tribune snapshot file\n"
    "    restore    Restores snapshot of Tribune server state\n"
    "    save       Saves snapshot of Tribune server state\n";

/* Flags plus exactly one FILE argument. 0 go on (*file set), else exit + 1. */
static int parse_file(tb__flag_t *flags, int argc, char **argv, const char *help,
                      const char **file)
{
    int first;
    int rc = tb__flags_parse(flags, argc, argv, &first, help, NULL);
    if (rc != TB__FLAGS_OK)
        return rc == TB__FLAGS_HELP ? 1 : 2;
    if (argc - first != 1) {
        fprintf(stderr, "%s\n", argc - first < 1 ? "Missing FILE argument"
                                                 : "Too many arguments (expected 1)");
        return 2;
    }
    *file = argv[first];
    return 0;
}

/* Whole file into memory. 0 or -1 (message printed). */
static int read_file(const char *path, char **data, size_t *len, const char *what)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "Error %s: cannot open %s: %s\n", what, path, strerror(errno));
        return -1;
    }
    tb__buf_t b = {0};
    char chunk[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (tb__buf_add(&b, chunk, n)) {
            rc = -1;
            break;
        }
    if (ferror(f))
        rc = -1;
    fclose(f);
    if (rc) {
        fprintf(stderr, "Error %s: cannot read %s\n", what, path);
        free(b.s);
        return -1;
    }
    *data = b.s;
    *len = b.len;
    return 0;
}

/* ------------------------------------------------------------ save */

static const char save_help[] =
    "Usage: tribune snapshot save [options] FILE\n\n"
    "  Retrieves an atomic, point-in-time snapshot of the state of the Tribune\n"
    "  servers, verifies it and writes it to FILE.\n";

static int save(int argc, char **argv)
{
    tb__http_opts_t o = {0};
    tb__flag_t flags[] = {TB__HTTP_FLAGS(&o), TB__HTTP_STALE_FLAG(&o), END_FLAGS};
    const char *file;
    int p = parse_file(flags, argc, argv, save_help, &file);
    if (p)
        return p - 1;
    tb__http_resp_t r;
    if (tb__cli_request(&o, "GET", "/v1/snapshot", NULL, NULL, 0, "saving snapshot", &r))
        return 1;
    tb__snap_meta_t m;
    char *err = NULL;
    if (tb__snap_archive_read(r.body, r.len, NULL, NULL, &m, &err) != 0) {
        fprintf(stderr, "Error verifying snapshot: %s\n", err ? err : "invalid archive");
        free(err);
        tb__http_resp_free(&r);
        return 1;
    }
    char *part = NULL;
    if (asprintf(&part, "%s.part", file) < 0) {
        tb__http_resp_free(&r);
        return 1;
    }
    FILE *f = fopen(part, "wb");
    int ok = f && fwrite(r.body, 1, r.len, f) == r.len;
    if (f && fclose(f) != 0)
        ok = 0;
    if (ok && rename(part, file) != 0)
        ok = 0;
    if (!ok) {
        fprintf(stderr, "Error writing snapshot to %s: %s\n", file, strerror(errno));
        remove(part);
    }
    free(part);
    tb__http_resp_free(&r);
    if (!ok)
        return 1;
    printf("Saved and verified snapshot to index %llu\n", (unsigned long long)m.index);
    return 0;
}

/* ------------------------------------------------------------ restore */

static const char restore_help[] =
    "Usage: tribune snapshot restore [options] FILE\n\n"
    "  Restores a snapshot of the state of the Tribune servers from FILE. This is\n"
    "  a destructive operation: everything written since the snapshot is lost.\n";

static int restore(int argc, char **argv)
{
    tb__http_opts_t o = {0};
    tb__flag_t flags[] = {TB__HTTP_FLAGS(&o), END_FLAGS};
    const char *file;
    int p = parse_file(flags, argc, argv, restore_help, &file);
    if (p)
        return p - 1;
    char *data;
    size_t len;
    if (read_file(file, &data, &len, "restoring snapshot"))
        return 1;
    tb__http_resp_t r;
    int rc = tb__cli_request(&o, "PUT", "/v1/snapshot", NULL, data, len, "restoring snapshot", &r);
    free(data);
    if (rc)
        return 1;
    tb__http_resp_free(&r);
    printf("Restored snapshot\n");
    return 0;
}

/* ------------------------------------------------------------ inspect */

static const char inspect_help[] =
    "Usage: tribune snapshot inspect FILE\n\n"
    "  Displays information about a snapshot file on disk (no agent needed),\n"
    "  after checking its SHA-256 sums.\n";

static int inspect(int argc, char **argv)
{
    tb__flag_t flags[] = {END_FLAGS};
    const char *file;
    int p = parse_file(flags, argc, argv, inspect_help, &file);
    if (p)
        return p - 1;
    char *data;
    size_t len;
    if (read_file(file, &data, &len, "inspecting snapshot"))
        return 1;
    tb__snap_meta_t m;
    char *err = NULL;
    int rc = tb__snap_archive_read(data, len, NULL, NULL, &m, &err);
    free(data);
    if (rc != 0) {
        fprintf(stderr, "Error inspecting snapshot: %s\n", err ? err : "invalid archive");
        free(err);
        return 1;
    }
    printf(" ID           %s\n Size         %llu\n Index        %llu\n Term         %llu\n"
           " Version      %d\n",
           m.id, (unsigned long long)m.size, (unsigned long long)m.index,
           (unsigned long long)m.term, m.version);
    return 0;
}

/* ------------------------------------------------------------ dispatch */

int tb__cmd_snapshot(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(int, char **);
    } subs[] = {{"save", save}, {"restore", restore}, {"inspect", inspect}};
    if (argc < 1 || strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "-help") == 0 ||
        strcmp(argv[0], "--help") == 0) {
        fputs(snapshot_help, argc < 1 ? stderr : stdout);
        return argc < 1 ? 1 : 0;
    }
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
        if (strcmp(argv[0], subs[i].name) == 0)
            return subs[i].run(argc - 1, argv + 1);
    fprintf(stderr, "Unknown snapshot subcommand \"%s\"\n\n%s", argv[0], snapshot_help);
    return 1;
}
