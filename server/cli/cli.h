/*
 * cli.h - `tribune` subcommands. Every subcommand except `agent`, `version`
 * and `validate` is a thin HTTP client of the local agent (libcurl), like
 * Consul's CLI: -http-addr, TRIBUNE_HTTP_ADDR, CONSUL_HTTP_ADDR.
 */
#ifndef TB_CLI_H
#define TB_CLI_H

/* Dispatch argv[1] to a subcommand; returns the exit status. */
int tb__cli_main(int argc, char **argv);

#endif
