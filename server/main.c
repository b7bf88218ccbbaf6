/*
 * main.c - the `tribune` binary: everything is a subcommand (server/cli/).
 */
#include "cli/cli.h"

int main(int argc, char **argv)
{
    return tb__cli_main(argc, argv);
}
