/*
 * router.h - the socket-free half of the http plugin's request handling:
 * query-string decoding, Consul's common parameters (flags, ?passing,
 * ?index, ?wait, consistency, token, dc) into a tb_query_opts_t, Go mux
 * path cleaning (301), the route table (method + path -> endpoint, 404,
 * 405) and the tb_status_t -> HTTP status mapping. Unit-tested and fuzzed.
 */
#ifndef TBH_ROUTER_H
#define TBH_ROUTER_H

#include <tribune/plugin.h>

#include "util.h"

/* ---- query strings (Go's url.ParseQuery) ---- */

typedef struct tbh_param {
    char *key;
    char *value;
} tbh_param_t;

typedef struct tbh_query {
    tbh_param_t *v; /* in request order */
    size_t n;
    size_t cap;
} tbh_query_t;

/* Parse raw (undecoded) query text. Pairs with a bad escape or a ';' are
 * dropped, as Go does. Returns 0, or -1 when out of memory. */
int tbh_query_parse(tbh_query_t *q, const char *raw, size_t len);
void tbh_query_free(tbh_query_t *q);
/* Presence test: flag params (?recurse, ?keys, ...) mean true whatever their value. */
int tbh_query_has(const tbh_query_t *q, const char *key);
/* First value, "" when present without one, NULL when absent. */
const char *tbh_query_get(const tbh_query_t *q, const char *key);
/* Go's url.Values.Encode(): keys sorted, values query-escaped. */
int tbh_query_encode(const tbh_query_t *q, tbh_buf_t *b);

/* Consul's getBoolQueryParam: absent -> 0, empty -> 1, else ParseBool.
 * Returns 0, or -1 on a bad value. */
int tbh_query_bool(const tbh_query_t *q, const char *key, int *out);

/* ---- common request options ---- */

typedef int (*tbh_duration_fn)(const char *s, uint64_t *ns);

/* Go's time.ParseDuration through the core's parser, plus the bare "0"
 * that Go accepts without a unit. */
int tbh_parse_duration(tbh_duration_fn fn, const char *s, uint64_t *ns);

/* Consul's parseConsistency + parseWait: fill consistency, max_stale_ms,
 * wait_ms, min_index of *opts (other fields untouched). discovery_stale_ms
 * is discovery_max_stale, applied to catalog/health reads without an
 * explicit mode. Returns 0, or -1 with *err (malloc'd) = the 400 text. */
int tbh_parse_query_opts(const tbh_query_t *q, tbh_duration_fn fn, int discovery,
                         uint64_t discovery_stale_ms, tb_query_opts_t *opts, char **err);

/* Token precedence: ?token= > X-Consul-Token > "Authorization: Bearer t".
 * Any argument may be NULL. Returns a pointer into one of them and its
 * length in *len, or NULL when there is none. */
const char *tbh_pick_token(const char *qtoken, const char *xtoken, const char *authz, size_t *len);

/* ---- paths and routes ---- */

/* Go's ServeMux cleanPath: path.Clean keeping a trailing slash. Malloc'd. */
char *tbh_clean_path(const char *p);

enum {
    TBH_M_GET = 1u << 0,
    TBH_M_PUT = 1u << 1,
    TBH_M_POST = 1u << 2,
    TBH_M_DELETE = 1u << 3,
    TBH_M_HEAD = 1u << 4,
    TBH_M_OPTIONS = 1u << 5,
    TBH_M_OTHER = 1u << 6,
    TBH_M_ANY = 0x7fu
};
unsigned tbh_method_bit(const char *method);

typedef enum tbh_ep {
    TBH_EP_INDEX = 0, /* "/" -> "Consul Agent" */
    TBH_EP_KV = 1,    /* /v1/kv/<key> */
    TBH_EP_CALL = 2,  /* generic endpoint-layer call */
    TBH_EP_TXN = 3,   /* /v1/txn (h_txn.c) */
    TBH_EP_MONITOR = 4, /* /v1/agent/monitor (h_monitor.c) */
    TBH_EP_OPERATOR = 5 /* raft peer changes and /v1/snapshot (h_operator.c) */
} tbh_ep_t;

/* Route flags */
#define TBH_R_QUERY 0x001u     /* full query options: consistency, index, wait */
#define TBH_R_BLOCKING 0x002u  /* meta headers (X-Consul-Index...) on 200 and 404 */
#define TBH_R_BODY 0x004u      /* JSON object body is the args */
#define TBH_R_BODY_OPT 0x008u  /* with TBH_R_BODY: empty body = {} */
#define TBH_R_NO_RESULT 0x010u /* 200 with an empty body */
#define TBH_R_TAGS 0x020u      /* "ServiceTags": every ?tag= */
#define TBH_R_PASSING 0x040u   /* "PassingOnly": ?passing */
#define TBH_R_WAN 0x080u       /* "WAN": ?wan present */
#define TBH_R_DISCOVERY 0x100u /* catalog/health: discovery_max_stale applies */
#define TBH_R_AGENT 0x200u     /* agent local-state route: h_agent.c hooks */
#define TBH_R_TEXT 0x400u      /* "Format": ?format; a JSON string result is sent as text */
#define TBH_R_GOSSIP 0x800u    /* gossip route: h_gossip.c fills the args */

typedef struct tbh_route {
    const char *pattern; /* exact path, or a prefix when it ends in '/' */
    unsigned methods;    /* TBH_M_* allowed (OPTIONS is always answered) */
    tbh_ep_t ep;
    const char *rpc;     /* endpoint-layer method for TBH_EP_CALL */
    const char *arg;     /* args key that receives the path remainder */
    const char *missing; /* 400 text when that remainder is empty */
    unsigned flags;      /* TBH_R_* */
} tbh_route_t;

typedef enum tbh_route_result {
    TBH_ROUTE_FOUND = 0,
    TBH_ROUTE_NOT_FOUND = 1,
    TBH_ROUTE_BAD_METHOD = 2, /* 405 */
    TBH_ROUTE_OPTIONS = 3,    /* 200 with Allow */
    TBH_ROUTE_REDIRECT = 4,   /* 301 to location */
    TBH_ROUTE_NOMEM = 5
} tbh_route_result_t;

typedef struct tbh_match {
    const tbh_route_t *route; /* FOUND, BAD_METHOD, OPTIONS */
    const char *rest;         /* remainder after a prefix pattern (into path) */
    unsigned allow;           /* methods for the Allow header */
    char *location;           /* REDIRECT: malloc'd Location */
} tbh_match_t;

/* path is the decoded URL path, raw_query the undecoded query (may be
 * NULL); the redirect keeps it as Go does. Free m->location. */
tbh_route_result_t tbh_route(const char *method, const char *path, const char *raw_query,
                             tbh_match_t *m);
/* "OPTIONS,GET,PUT,DELETE" */
int tbh_allow_header(unsigned allow, tbh_buf_t *b);

/* ---- statuses ---- */

int tbh_status_code(tb_status_t s);
/* Body text of a failed call: the error or a status default. */
const char *tbh_status_body(tb_status_t s, const char *error);
/* Reason phrase of an HTTP status code. */
const char *tbh_reason(int code);

#endif
