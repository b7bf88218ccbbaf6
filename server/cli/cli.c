/*
 * cli.c - `tribune <subcommand>`: dispatch, the top-level usage, and the
 * two local subcommands `version` and `validate`. The HTTP client commands
 * live in kv.c, catalog.c and members.c; `agent` in agent_cmd.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/cli_int.h"
#include "cli/gossip_cmd.h"
#include "config/tb_config.h"
#include "agent/agent.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    int http; /* talks to an agent (libcurl is loaded then: curl_api.h) */
    const char *synopsis;
} command_t;

static const command_t commands[] = {
    {"agent", tb__cmd_agent, 0, "Runs a Tribune agent"},
    {"catalog", tb__cmd_catalog, 1, "Interact with the catalog"},
    {"event", tb__cmd_event, 1, "Fire a new event"},
    {"force-leave", tb__cmd_force_leave, 1,
     "Forces a member of the cluster to enter the \"left\" state"},
    {"info", tb__cmd_info, 1, "Provides debugging information for operators."},
    {"join", tb__cmd_join, 1, "Tell Tribune agent to join cluster"},
    {"keygen", tb__cmd_keygen, 0, "Generates a new encryption key"},
    {"keyring", tb__cmd_keyring, 1, "Manages gossip layer encryption keys"},
    {"kv", tb__cmd_kv, 1, "Interact with the key-value store"},
    {"leave", tb__cmd_leave, 1, "Gracefully leaves the Tribune cluster and shuts down"},
    {"maint", tb__cmd_maint, 1, "Controls node or service maintenance mode"},
    {"members", tb__cmd_members, 1, "Lists the members of a Tribune cluster"},
    {"operator", tb__cmd_operator, 1, "Provides cluster-level tools for Tribune operators"},
    {"reload", tb__cmd_reload, 1, "Triggers the agent to reload configuration files"},
    {"services", tb__cmd_services, 1, "Interact with services"},
    {"snapshot", tb__cmd_snapshot, 1, "Saves, restores and inspects snapshots of server state"},
    {"validate", tb__cmd_validate, 0, "Validate config files/directories"},
    {"version", tb__cmd_version, 0, "Prints the Tribune version"},
};

static void usage(FILE *out)
{
    fputs("Usage: tribune [--version] [--help] <command> [<args>]\n\n"
          "Available commands are:\n",
          out);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "    %-10s %s\n", commands[i].name, commands[i].synopsis);
}

int tb__cli_main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 1;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0 || strcmp(sub, "-help") == 0 ||
        strcmp(sub, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(sub, "-v") == 0 || strcmp(sub, "--version") == 0 || strcmp(sub, "-version") == 0)
        return tb__cmd_version(0, NULL);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(sub, commands[i].name) != 0)
            continue;
        return commands[i].run(argc - 2, argv + 2);
    }
    fprintf(stderr, "Unknown command: \"%s\"\n\n", sub);
    usage(stderr);
    return 1;
}

/* ------------------------------------------------------------ version */

static const char version_help[] = "Usage: tribune version\n\n"
                                   "  Prints the version of this Tribune binary.\n";

int tb__cmd_version(int argc, char **argv)
{
    if (argc > 0) {
        tb__flag_t flags[] = {{NULL, 0, NULL, NULL, NULL, NULL, 0, NULL, 0}};
        int first;
        int rc = tb__flags_parse(flags, argc, argv, &first, version_help, NULL);
        if (rc == TB__FLAGS_HELP)
            return 0;
        if (rc != TB__FLAGS_OK)
            return 1;
    }
    printf("Tribune v%s\n", tb__version());
    printf("Revision %s\n", tb__revision());
    printf("Protocol 2 spoken by default, understands 2 to 3 (agent will automatically use "
           "protocol >2 when speaking to compatible agents)\n");
    return 0;
}

/* ------------------------------------------------------------ validate */

static const char validate_help[] =
    "Usage: tribune validate [options] FILE_OR_DIRECTORY...\n\n"
    "  Performs a thorough sanity test on Tribune configuration files. For each\n"
    "  file or directory given, the validate command will attempt to parse the\n"
    "  contents just as the \"tribune agent\" command would, and catch as many\n"
    "  errors as possible without starting an agent. Configuration is JSON only.\n\n"
    "  This is useful to do a test of the configuration only, without actually\n"
    "  starting the agent. This performs all of the validation the agent would, so\n"
    "  this should be given the complete set of configuration files that are going\n"
    "  to be loaded by the agent. This command cannot operate on partial\n"
    "  configuration fragments since those won't pass the full agent validation.\n\n"
    "  Returns 0 if the configuration is valid, or 1 if there are problems.\n";

int tb__cmd_validate(int argc, char **argv)
{
    int quiet = 0;
    const char *format = NULL;
    tb__flag_t flags[] = {
        {"quiet", TB__F_BOOL, &quiet, NULL,
         "When given, a successful run will produce no output.", NULL, 0, NULL, 0},
        {"config-format", TB__F_STRING, &format, "<json>",
         "Config files are in this format irrespective of their extension. Only \"json\".",
         NULL, 0, NULL, 0},
        {NULL, 0, NULL, NULL, NULL, NULL, 0, NULL, 0},
    };
    int first;
    int rc = tb__flags_parse(flags, argc, argv, &first, validate_help, NULL);
    if (rc == TB__FLAGS_HELP)
        return 0;
    if (rc != TB__FLAGS_OK)
        return 1;
    if (format != NULL && strcmp(format, "json") != 0) {
        fprintf(stderr, "Config validation failed: -config-format: only \"json\" is supported "
                        "(Tribune reads JSON configuration only)\n");
        return 1;
    }
    if (first >= argc) {
        fprintf(stderr, "Must specify at least one config file or directory\n");
        return 1;
    }
    tb__config_args_t *args = tb__config_args_new();
    if (args == NULL) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    args->no_persist = 1;
    for (int i = first; i < argc; i++) {
        struct stat st;
        tb__config_src_kind_t kind =
            (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) ? TB__CFG_DIR : TB__CFG_FILE;
        if (tb__config_args_add_src(args, kind, argv[i]) != 0) {
            tb__config_args_free(args);
            fprintf(stderr, "out of memory\n");
            return 1;
        }
    }
    tb__config_t *cfg = NULL;
    char *err = NULL;
    if (tb__config_build(args, &cfg, &err) != 0) {
        fprintf(stderr, "Config validation failed: %s\n", err ? err : "unknown error");
        free(err);
        tb__config_args_free(args);
        return 1;
    }
    tb__config_free(cfg);
    tb__config_args_free(args);
    if (!quiet)
        printf("Configuration is valid!\n");
    return 0;
}
