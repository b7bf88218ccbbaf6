/*
 * cli_int.h - core-internal pieces shared by the `tribune` subcommands: a
 * Go-flag-compatible option parser, the HTTP client of the local agent
 * (libcurl) with Consul's common -http-addr/-token/-datacenter/-stale
 * options, a JSON loader that keeps uint64 values exact, and the two
 * column formats Consul's CLI prints (columnize and tabwriter).
 */
#ifndef TB_CLI_INT_H
#define TB_CLI_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

/* ------------------------------------------------------------ flags */

typedef enum tb__flag_kind {
    TB__F_BOOL,   /* int *: -x, -x=true|false (never consumes the next arg, as in Go) */
    TB__F_STRING, /* const char **: -x v, -x=v */
    TB__F_INT,    /* int64_t * */
    TB__F_UINT64, /* uint64_t * */
    TB__F_LIST,   /* tb__strlist_t *: repeatable */
    TB__F_FUNC    /* calls fn(flag, value); value is NULL for a bare boolean flag */
} tb__flag_kind_t;

typedef struct tb__strlist {
    const char **v; /* pointers into argv; the array is owned */
    size_t n;
} tb__strlist_t;

typedef struct tb__flag tb__flag_t;
/* Return 0, or -1 with *err (malloc'd, printed as is). */
typedef int (*tb__flag_fn)(const tb__flag_t *flag, const char *value, void *ctx, char **err);

struct tb__flag {
    const char *name;     /* without the dash; NULL ends a table */
    tb__flag_kind_t kind;
    void *ptr;            /* where the value goes (see kind) */
    const char *arg;      /* placeholder in usage ("<value>"), NULL for booleans */
    const char *usage;    /* one line */
    /* TB__F_FUNC */
    tb__flag_fn fn;
    int takes_value;      /* TB__F_FUNC: 1 = like a string flag, 0 = like a bool */
    const void *data;     /* free for fn (e.g. the config key it sets) */
    int seen;             /* set by the parser */
};

enum { TB__FLAGS_OK = 0, TB__FLAGS_HELP = 1, TB__FLAGS_ERROR = -1 };

/* Parse argv[0..argc) (argv[0] is the first option, not the command name).
 * Parsing stops at the first non-flag argument, "-" or "--" (consumed), as
 * Go's flag package does. On -h/--help prints `help` and the flag list to
 * stdout and returns TB__FLAGS_HELP; on an error prints it and the usage to
 * stderr and returns TB__FLAGS_ERROR. *first is the index of the first
 * positional argument. */
int tb__flags_parse(tb__flag_t *flags, int argc, char **argv, int *first, const char *help,
                    void *ctx);
/* Print the help text and the flag list. */
void tb__flags_usage(FILE *out, const tb__flag_t *flags, const char *help);
void tb__strlist_free(tb__strlist_t *l);
/* Go's strconv.ParseBool. 0/1, or -1. */
int tb__parse_bool(const char *s);

/* ------------------------------------------------------------ HTTP */

typedef struct tb__http_opts {
    const char *addr;       /* -http-addr */
    const char *token;      /* -token */
    const char *token_file; /* -token-file */
    const char *datacenter; /* -datacenter */
    int stale;              /* -stale */
    /* HTTPS (-http-addr https://... or CONSUL_HTTP_SSL) */
    const char *ca_file, *ca_path, *client_cert, *client_key, *tls_server_name;
} tb__http_opts_t;

/* Flag-table entries for the common options; STALE only on read commands. */
#define TB__HTTP_FLAGS(o)                                                                     \
    {"http-addr", TB__F_STRING, &(o)->addr, "<address>",                                      \
     "The address and port of the agent HTTP server ([http://|https://]host:port or unix:///path). "  \
     "Env: TRIBUNE_HTTP_ADDR, CONSUL_HTTP_ADDR; default 127.0.0.1:8500.",                     \
     NULL, 0, NULL, 0},                                                                       \
    {"token", TB__F_STRING, &(o)->token, "<value>",                                           \
     "ACL token to use in the request. Env: TRIBUNE_HTTP_TOKEN, CONSUL_HTTP_TOKEN.", NULL, 0, \
     NULL, 0},                                                                                \
    {"token-file", TB__F_STRING, &(o)->token_file, "<path>",                                  \
     "File containing the ACL token. Env: CONSUL_HTTP_TOKEN_FILE.", NULL, 0, NULL, 0},        \
    {"datacenter", TB__F_STRING, &(o)->datacenter, "<name>",                                  \
     "Name of the datacenter to query (default: the agent's).", NULL, 0, NULL, 0},            \
    {"ca-file", TB__F_STRING, &(o)->ca_file, "<path>",                                        \
     "CA file to verify the agent's HTTPS certificate. Env: CONSUL_CACERT.", NULL, 0, NULL, 0}, \
    {"ca-path", TB__F_STRING, &(o)->ca_path, "<path>",                                        \
     "Directory of CA certificates. Env: CONSUL_CAPATH.", NULL, 0, NULL, 0},                  \
    {"client-cert", TB__F_STRING, &(o)->client_cert, "<path>",                                \
     "Client certificate for HTTPS (verify_incoming). Env: CONSUL_CLIENT_CERT.", NULL, 0,     \
     NULL, 0},                                                                                \
    {"client-key", TB__F_STRING, &(o)->client_key, "<path>",                                  \
     "Key of -client-cert. Env: CONSUL_CLIENT_KEY.", NULL, 0, NULL, 0},                       \
    {"tls-server-name", TB__F_STRING, &(o)->tls_server_name, "<name>",                        \
     "Server name to verify the certificate against (SNI). Env: CONSUL_TLS_SERVER_NAME.",     \
     NULL, 0, NULL, 0}
#define TB__HTTP_STALE_FLAG(o)                                                                \
    {"stale", TB__F_BOOL, &(o)->stale, NULL,                                                  \
     "Permit any server (not only the leader) to answer the read.", NULL, 0, NULL, 0}

typedef struct tb__http_resp {
    long status;
    char *body;  /* NUL-terminated, owned */
    size_t len;
    char *err;   /* transport error ("connect to 127.0.0.1:8500 failed: ..."), owned */
} tb__http_resp_t;

/* One request to the agent. `path` starts with /v1/; `query` is already
 * encoded (without '?') or NULL; dc and stale are added from opts. Returns 0
 * when an HTTP response arrived (any status), -1 with r->err otherwise. */
int tb__http_do(const tb__http_opts_t *o, const char *method, const char *path,
                const char *query, const void *body, size_t blen, tb__http_resp_t *r);
void tb__http_resp_free(tb__http_resp_t *r);
/* "Unexpected response code: 500 (body)" (malloc'd) for a non-2xx answer. */
char *tb__http_status_error(const tb__http_resp_t *r);
/* Percent-encode for a URL path (keeps '/') or a query value. malloc'd. */
char *tb__url_escape(const char *s, int keep_slash);

/* JSON from the agent: integers beyond int64 (uint64 KV flags) are kept as
 * decimal strings so no precision is lost; read them with tb__json_u64. */
json_t *tb__json_loads_u64(const char *text, size_t len, json_error_t *e);
uint64_t tb__json_u64(const json_t *v);

/* ------------------------------------------------------------ output */

/* ryanuber/columnize SimpleFormat: cells separated by '|', trimmed, padded
 * to the widest cell of their column, glued with two spaces; the last cell
 * of a row unpadded. Returns malloc'd text without the final newline. */
char *tb__columnize(char *const *rows, size_t n);

/* A growable string. */
typedef struct tb__buf {
    char *s;
    size_t len, cap;
} tb__buf_t;
int tb__buf_add(tb__buf_t *b, const char *s, size_t n);
int tb__buf_printf(tb__buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Subcommands (argv[0] is the subcommand's first argument). */
int tb__cmd_agent(int argc, char **argv);
int tb__cmd_version(int argc, char **argv);
int tb__cmd_validate(int argc, char **argv);
int tb__cmd_kv(int argc, char **argv);
int tb__cmd_catalog(int argc, char **argv);
int tb__cmd_members(int argc, char **argv);
int tb__cmd_info(int argc, char **argv);
/* operator.c, snapshot.c */
int tb__cmd_operator(int argc, char **argv);
int tb__cmd_snapshot(int argc, char **argv);
/* One request (operator.c); unless the answer is 2xx prints "Error <what>:
 * ..." to stderr, frees r and returns -1. */
int tb__cli_request(const tb__http_opts_t *o, const char *method, const char *path,
                    const char *query, const void *body, size_t blen, const char *what,
                    tb__http_resp_t *r);
/* local_cmd.c */
int tb__cmd_maint(int argc, char **argv);
int tb__cmd_reload(int argc, char **argv);
int tb__cmd_services(int argc, char **argv);

#endif
