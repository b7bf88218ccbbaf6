/*
 * test_unit.c - CUnit tests of the socket-free parts of the http plugin:
 * URL escaping, query decoding, Consul's parameter parsing, path cleaning
 * and routing, status mapping, KVPair/JSON rendering, request assembly
 * and settings. Each assertion pins behaviour a Consul client relies on.
 */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include "kvjson.h"
#include "request.h"
#include "router.h"
#include "settings.h"
#include "util.h"
#include "config/tb_config.h" /* tb__parse_duration: the core's, as api->parse_duration */


/* ------------------------------------------------------------ util */

static void test_unescape(void)
{
    char *o;
    size_t n;
    CU_ASSERT_EQUAL(tbh_unescape("a%2Fb+c%20d", 11, 1, &o, &n), 0);
    CU_ASSERT_STRING_EQUAL(o, "a/b c d");
    CU_ASSERT_EQUAL(n, 7);
    free(o);
    CU_ASSERT_EQUAL(tbh_unescape("a+b", 3, 0, &o, &n), 0); /* paths keep '+' */
    CU_ASSERT_STRING_EQUAL(o, "a+b");
    free(o);
    CU_ASSERT_EQUAL(tbh_unescape("%e2%82%AC", 9, 0, &o, &n), 0);
    CU_ASSERT_STRING_EQUAL(o, "\xe2\x82\xac");
    free(o);
    CU_ASSERT_EQUAL(tbh_unescape("abc%", 4, 0, &o, &n), -1);
    CU_ASSERT_EQUAL(tbh_unescape("abc%4", 5, 0, &o, &n), -1);
    CU_ASSERT_EQUAL(tbh_unescape("%zz", 3, 0, &o, &n), -1);
    CU_ASSERT_EQUAL(tbh_unescape("a%00b", 5, 0, &o, &n), 0);
    CU_ASSERT_EQUAL(n, 3); /* the length tells a NUL apart */
    free(o);
}

static void test_escape(void)
{
    tbh_buf_t b = TBH_BUF_INIT;
    tbh_escape_path(&b, "/v1/kv/a b?c&d=e@f!é");
    CU_ASSERT_STRING_EQUAL(b.data, "/v1/kv/a%20b%3Fc&d=e@f%21%C3%A9");
    tbh_buf_free(&b);
    tbh_escape_query(&b, "a b/c&d=é~");
    CU_ASSERT_STRING_EQUAL(b.data, "a+b%2Fc%26d%3D%C3%A9~");
    tbh_buf_free(&b);
}

static void test_parse_numbers(void)
{
    uint64_t v = 0;
    int bv = -1;
    CU_ASSERT_EQUAL(tbh_parse_u64("18446744073709551615", &v), 0);
    CU_ASSERT(v == UINT64_MAX);
    CU_ASSERT_EQUAL(tbh_parse_u64("16210313421097356768", &v), 0);
    CU_ASSERT(v == 16210313421097356768ull);
    CU_ASSERT_EQUAL(tbh_parse_u64("18446744073709551616", &v), -2);
    CU_ASSERT_EQUAL(tbh_parse_u64("", &v), -1);
    CU_ASSERT_EQUAL(tbh_parse_u64("-1", &v), -1);
    CU_ASSERT_EQUAL(tbh_parse_u64("+1", &v), -1);
    CU_ASSERT_EQUAL(tbh_parse_u64(" 1", &v), -1);
    CU_ASSERT_EQUAL(tbh_parse_u64("1x", &v), -1);
    CU_ASSERT_EQUAL(tbh_parse_bool("True", &bv), 0);
    CU_ASSERT_EQUAL(bv, 1);
    CU_ASSERT_EQUAL(tbh_parse_bool("F", &bv), 0);
    CU_ASSERT_EQUAL(bv, 0);
    CU_ASSERT_EQUAL(tbh_parse_bool("yes", &bv), -1);
    CU_ASSERT_EQUAL(tbh_parse_bool("tRUE", &bv), -1);
}

/* ------------------------------------------------------------ queries */

static void test_query(void)
{
    tbh_query_t q = {0};
    const char *raw = "a=1&b=&c&d=x+y%21&e=%zz&f;g=1&tag=web&tag=v%202&&a=2";
    CU_ASSERT_EQUAL(tbh_query_parse(&q, raw, strlen(raw)), 0);
    CU_ASSERT_STRING_EQUAL(tbh_query_get(&q, "a"), "1"); /* first value */
    CU_ASSERT_STRING_EQUAL(tbh_query_get(&q, "b"), "");
    CU_ASSERT_STRING_EQUAL(tbh_query_get(&q, "c"), "");
    CU_ASSERT(tbh_query_has(&q, "c"));
    CU_ASSERT_STRING_EQUAL(tbh_query_get(&q, "d"), "x y!");
    CU_ASSERT_FALSE(tbh_query_has(&q, "e")); /* bad escape: pair dropped */
    CU_ASSERT_FALSE(tbh_query_has(&q, "f"));
    CU_ASSERT_FALSE(tbh_query_has(&q, "f;g"));
    CU_ASSERT_PTR_NULL(tbh_query_get(&q, "zz"));
    size_t tags = 0;
    for (size_t i = 0; i < q.n; i++)
        tags += strcmp(q.v[i].key, "tag") == 0;
    CU_ASSERT_EQUAL(tags, 2);
    tbh_query_free(&q);

    /* Consul's "Conflicting flags: " + url.Values.Encode() */
    const char *raw2 = "release=s2&cas=0&acquire=s%201&flags=3";
    CU_ASSERT_EQUAL(tbh_query_parse(&q, raw2, strlen(raw2)), 0);
    tbh_buf_t b = TBH_BUF_INIT;
    tbh_query_encode(&q, &b);
    CU_ASSERT_STRING_EQUAL(b.data, "acquire=s+1&cas=0&flags=3&release=s2");
    tbh_buf_free(&b);
    tbh_query_free(&q);
}

static void test_query_bool(void)
{
    tbh_query_t q = {0};
    int v = -1;
    const char *raw = "passing&x=false&y=1&z=nope";
    tbh_query_parse(&q, raw, strlen(raw));
    CU_ASSERT_EQUAL(tbh_query_bool(&q, "passing", &v), 0);
    CU_ASSERT_EQUAL(v, 1); /* empty value means true */
    CU_ASSERT_EQUAL(tbh_query_bool(&q, "x", &v), 0);
    CU_ASSERT_EQUAL(v, 0);
    CU_ASSERT_EQUAL(tbh_query_bool(&q, "y", &v), 0);
    CU_ASSERT_EQUAL(v, 1);
    CU_ASSERT_EQUAL(tbh_query_bool(&q, "absent", &v), 0);
    CU_ASSERT_EQUAL(v, 0);
    CU_ASSERT_EQUAL(tbh_query_bool(&q, "z", &v), -1);
    tbh_query_free(&q);
}

static int opts_for(const char *raw, int discovery, uint64_t dstale, tb_query_opts_t *o,
                    char **err)
{
    tbh_query_t q = {0};
    memset(o, 0, sizeof(*o));
    tbh_query_parse(&q, raw, strlen(raw));
    int rc = tbh_parse_query_opts(&q, tb__parse_duration, discovery, dstale, o, err);
    tbh_query_free(&q);
    return rc;
}

static void test_query_opts(void)
{
    tb_query_opts_t o;
    char *err = NULL;
    CU_ASSERT_EQUAL(opts_for("index=42&wait=9.87s", 0, 0, &o, &err), 0);
    CU_ASSERT(o.min_index == 42);
    CU_ASSERT(o.wait_ms == 9870);
    CU_ASSERT_EQUAL(o.consistency, TB_CONSISTENCY_DEFAULT);

    CU_ASSERT_EQUAL(opts_for("wait=1m30s&index=18446744073709551615", 0, 0, &o, &err), 0);
    CU_ASSERT(o.wait_ms == 90000);
    CU_ASSERT(o.min_index == UINT64_MAX);

    CU_ASSERT_EQUAL(opts_for("wait=500us", 0, 0, &o, &err), 0);
    CU_ASSERT(o.wait_ms == 1); /* never rounds down to "use the default" */
    CU_ASSERT_EQUAL(opts_for("wait=0&index=", 0, 0, &o, &err), 0); /* Go accepts a bare 0 */
    CU_ASSERT(o.wait_ms == 0 && o.min_index == 0);

    CU_ASSERT_EQUAL(opts_for("wait=10", 0, 0, &o, &err), -1);
    CU_ASSERT_STRING_EQUAL(err, "Invalid wait time");
    free(err);
    CU_ASSERT_EQUAL(opts_for("index=-1", 0, 0, &o, &err), -1);
    CU_ASSERT_STRING_EQUAL(err, "Invalid index");
    free(err);
    CU_ASSERT_EQUAL(opts_for("index=18446744073709551616", 0, 0, &o, &err), -1);
    CU_ASSERT_STRING_EQUAL(err, "Invalid index");
    free(err);
    CU_ASSERT_EQUAL(opts_for("stale&consistent", 0, 0, &o, &err), -1);
    CU_ASSERT_STRING_EQUAL(err, "Cannot specify ?stale with ?consistent, conflicting semantics.");
    free(err);
    /* consistency is checked before wait, as Consul does */
    CU_ASSERT_EQUAL(opts_for("stale=false&consistent&wait=x", 0, 0, &o, &err), -1);
    CU_ASSERT_STRING_EQUAL(err, "Cannot specify ?stale with ?consistent, conflicting semantics.");
    free(err);

    CU_ASSERT_EQUAL(opts_for("stale=0", 0, 0, &o, &err), 0); /* presence, not value */
    CU_ASSERT_EQUAL(o.consistency, TB_CONSISTENCY_STALE);
    CU_ASSERT_EQUAL(opts_for("consistent", 0, 0, &o, &err), 0);
    CU_ASSERT_EQUAL(o.consistency, TB_CONSISTENCY_CONSISTENT);
    CU_ASSERT_EQUAL(opts_for("max_stale=5s", 0, 0, &o, &err), 0);
    CU_ASSERT_EQUAL(o.consistency, TB_CONSISTENCY_STALE);
    CU_ASSERT(o.max_stale_ms == 5000);
    CU_ASSERT_EQUAL(opts_for("max_stale=bogus", 0, 0, &o, &err), -1);
    CU_ASSERT_STRING_EQUAL(err, "Invalid max_stale value \"bogus\"");
    free(err);

    /* discovery_max_stale: catalog/health without an explicit mode */
    CU_ASSERT_EQUAL(opts_for("", 1, 2000, &o, &err), 0);
    CU_ASSERT_EQUAL(o.consistency, TB_CONSISTENCY_STALE);
    CU_ASSERT(o.max_stale_ms == 2000);
    CU_ASSERT_EQUAL(opts_for("leader", 1, 2000, &o, &err), 0);
    CU_ASSERT_EQUAL(o.consistency, TB_CONSISTENCY_DEFAULT);
    CU_ASSERT_EQUAL(opts_for("", 0, 2000, &o, &err), 0);
    CU_ASSERT_EQUAL(o.consistency, TB_CONSISTENCY_DEFAULT);
}

static void test_token(void)
{
    size_t n;
    const char *t = tbh_pick_token("q", "x", "Bearer b", &n);
    CU_ASSERT(t && n == 1 && *t == 'q');
    t = tbh_pick_token("", "x", "Bearer b", &n); /* empty ?token= falls through */
    CU_ASSERT(t && n == 1 && *t == 'x');
    t = tbh_pick_token(NULL, NULL, "Bearer  abc def", &n);
    CU_ASSERT(t && n == 3 && strncmp(t, "abc", 3) == 0);
    t = tbh_pick_token(NULL, "", "Bearer tok\t", &n);
    CU_ASSERT(t && n == 3 && strncmp(t, "tok", 3) == 0);
    CU_ASSERT_PTR_NULL(tbh_pick_token(NULL, NULL, "bearer abc", &n)); /* scheme is case-sensitive */
    CU_ASSERT_PTR_NULL(tbh_pick_token(NULL, NULL, "Basic abc", &n));
    CU_ASSERT_PTR_NULL(tbh_pick_token(NULL, NULL, "Bearer", &n));
    CU_ASSERT_PTR_NULL(tbh_pick_token(NULL, NULL, NULL, &n));
}

/* ------------------------------------------------------------ paths, routes */

static void check_clean(const char *in, const char *want)
{
    char *got = tbh_clean_path(in);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "clean(%s) = %s, want %s\n", in, got, want);
    CU_ASSERT_STRING_EQUAL(got, want);
    free(got);
}

static void test_clean_path(void)
{
    check_clean("/v1/kv/a", "/v1/kv/a");
    check_clean("/v1/kv//a", "/v1/kv/a");
    check_clean("/v1/kv/a/./b", "/v1/kv/a/b");
    check_clean("/v1/kv/a/../b", "/v1/kv/b");
    check_clean("/v1/kv/a/", "/v1/kv/a/");
    check_clean("/v1/kv/a//", "/v1/kv/a/");
    check_clean("/v1/kv/a/.", "/v1/kv/a");
    check_clean("/v1/kv/a/..", "/v1/kv");
    check_clean("/", "/");
    check_clean("//", "/");
    check_clean("/..", "/");
    check_clean("/../a", "/a");
    check_clean("/a/b/../", "/a/");
    check_clean("", "/");
    check_clean("v1/kv", "/v1/kv");
    check_clean("/.a/..b/...", "/.a/..b/...");
}

static tbh_route_result_t route(const char *m, const char *path, const char *q, tbh_match_t *out)
{
    return tbh_route(m, path, q, out);
}

static void test_routes(void)
{
    tbh_match_t m;
    CU_ASSERT_EQUAL(route("GET", "/v1/kv/foo/bar", NULL, &m), TBH_ROUTE_FOUND);
    CU_ASSERT_EQUAL(m.route->ep, TBH_EP_KV);
    CU_ASSERT_STRING_EQUAL(m.rest, "foo/bar");
    CU_ASSERT(m.route->flags & TBH_R_BLOCKING);
    CU_ASSERT_EQUAL(route("GET", "/v1/kv/", NULL, &m), TBH_ROUTE_FOUND);
    CU_ASSERT_STRING_EQUAL(m.rest, "");

    CU_ASSERT_EQUAL(route("POST", "/v1/kv/foo", NULL, &m), TBH_ROUTE_BAD_METHOD);
    tbh_buf_t b = TBH_BUF_INIT;
    tbh_allow_header(m.allow, &b);
    CU_ASSERT_STRING_EQUAL(b.data, "OPTIONS,GET,PUT,DELETE");
    tbh_buf_free(&b);
    CU_ASSERT_EQUAL(route("OPTIONS", "/v1/kv/foo", NULL, &m), TBH_ROUTE_OPTIONS);
    CU_ASSERT_EQUAL(route("PATCH", "/v1/status/leader", NULL, &m), TBH_ROUTE_BAD_METHOD);
    tbh_allow_header(m.allow, &b);
    CU_ASSERT_STRING_EQUAL(b.data, "OPTIONS,GET");
    tbh_buf_free(&b);

    /* Go's mux: subtree redirect and cleaned-path redirect keep the query */
    CU_ASSERT_EQUAL(route("GET", "/v1/kv", "recurse", &m), TBH_ROUTE_REDIRECT);
    CU_ASSERT_STRING_EQUAL(m.location, "/v1/kv/?recurse");
    free(m.location);
    CU_ASSERT_EQUAL(route("GET", "/v1/kv/a//b", "x=1", &m), TBH_ROUTE_REDIRECT);
    CU_ASSERT_STRING_EQUAL(m.location, "/v1/kv/a/b?x=1");
    free(m.location);
    CU_ASSERT_EQUAL(route("PUT", "/v1/kv/a b/../c", NULL, &m), TBH_ROUTE_REDIRECT);
    CU_ASSERT_STRING_EQUAL(m.location, "/v1/kv/c");
    free(m.location);
    CU_ASSERT_EQUAL(route("GET", "/v1/kv/sp ace//x", NULL, &m), TBH_ROUTE_REDIRECT);
    CU_ASSERT_STRING_EQUAL(m.location, "/v1/kv/sp%20ace/x");
    free(m.location);
    CU_ASSERT_EQUAL(route("GET", "/v1/health/service", NULL, &m), TBH_ROUTE_REDIRECT);
    CU_ASSERT_STRING_EQUAL(m.location, "/v1/health/service/");
    free(m.location);

    CU_ASSERT_EQUAL(route("GET", "/", NULL, &m), TBH_ROUTE_FOUND);
    CU_ASSERT_EQUAL(m.route->ep, TBH_EP_INDEX);
    CU_ASSERT_EQUAL(route("DELETE", "/", NULL, &m), TBH_ROUTE_FOUND);
    CU_ASSERT_EQUAL(route("GET", "/nope", NULL, &m), TBH_ROUTE_NOT_FOUND);
    CU_ASSERT_EQUAL(route("GET", "/v1/catalog/nodes/", NULL, &m), TBH_ROUTE_NOT_FOUND);
    CU_ASSERT_EQUAL(route("GET", "/v1/catalog/bogus", NULL, &m), TBH_ROUTE_NOT_FOUND);
    CU_ASSERT_EQUAL(route("GET", "/v1/session/list/x", NULL, &m), TBH_ROUTE_NOT_FOUND);

    struct {
        const char *method, *path, *rpc, *arg, *rest;
        unsigned flags;
    } table[] = {
        {"PUT", "/v1/catalog/register", "Catalog.Register", NULL, "", TBH_R_BODY},
        {"PUT", "/v1/catalog/deregister", "Catalog.Deregister", NULL, "", TBH_R_BODY},
        {"GET", "/v1/catalog/nodes", "Catalog.ListNodes", NULL, "", TBH_R_BLOCKING},
        {"GET", "/v1/catalog/services", "Catalog.ListServices", NULL, "", TBH_R_BLOCKING},
        {"GET", "/v1/catalog/service/web", "Catalog.ServiceNodes", "ServiceName", "web",
         TBH_R_TAGS | TBH_R_BLOCKING},
        {"GET", "/v1/catalog/node/n1", "Catalog.NodeServices", "Node", "n1", TBH_R_BLOCKING},
        {"GET", "/v1/catalog/datacenters", "Catalog.ListDatacenters", NULL, "", 0},
        {"GET", "/v1/health/service/web", "Health.ServiceNodes", "ServiceName", "web",
         TBH_R_TAGS | TBH_R_PASSING | TBH_R_BLOCKING},
        {"GET", "/v1/health/node/n1", "Health.NodeChecks", "Node", "n1", TBH_R_BLOCKING},
        {"GET", "/v1/health/checks/web", "Health.ServiceChecks", "ServiceName", "web",
         TBH_R_BLOCKING},
        {"GET", "/v1/health/state/any", "Health.ChecksInState", "State", "any", TBH_R_BLOCKING},
        {"PUT", "/v1/session/create", "Session.Create", NULL, "", TBH_R_BODY | TBH_R_BODY_OPT},
        {"PUT", "/v1/session/destroy/abc", "Session.Destroy", "ID", "abc", 0},
        {"GET", "/v1/session/info/abc", "Session.Get", "ID", "abc", TBH_R_BLOCKING},
        {"GET", "/v1/session/node/n1", "Session.NodeSessions", "Node", "n1", TBH_R_BLOCKING},
        {"GET", "/v1/session/list", "Session.List", NULL, "", TBH_R_BLOCKING},
        {"PUT", "/v1/session/renew/abc", "Session.Renew", "ID", "abc", 0},
        {"GET", "/v1/status/leader", "Status.Leader", NULL, "", 0},
        {"GET", "/v1/status/peers", "Status.Peers", NULL, "", 0},
        {"GET", "/v1/agent/self", "Agent.Self", NULL, "", 0},
        {"GET", "/v1/agent/members", "Agent.Members", NULL, "", TBH_R_WAN},
        {"GET", "/v1/agent/services", "Agent.Services", NULL, "", 0},
        {"GET", "/v1/agent/checks", "Agent.Checks", NULL, "", 0},
        {"PUT", "/v1/agent/reload", "Agent.Reload", NULL, "", TBH_R_NO_RESULT},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        CU_ASSERT_EQUAL_FATAL(route(table[i].method, table[i].path, NULL, &m), TBH_ROUTE_FOUND);
        CU_ASSERT_EQUAL(m.route->ep, TBH_EP_CALL);
        CU_ASSERT_STRING_EQUAL(m.route->rpc, table[i].rpc);
        CU_ASSERT_STRING_EQUAL(m.rest, table[i].rest);
        if (table[i].arg) {
            CU_ASSERT_STRING_EQUAL(m.route->arg, table[i].arg);
        } else {
            CU_ASSERT_PTR_NULL(m.route->arg);
        }
        CU_ASSERT_EQUAL(m.route->flags & table[i].flags, table[i].flags);
        /* the other write/read method is refused */
        const char *other = strcmp(table[i].method, "GET") == 0 ? "PUT" : "GET";
        CU_ASSERT_EQUAL(route(other, table[i].path, NULL, &m), TBH_ROUTE_BAD_METHOD);
    }
    /* reads of the data endpoints are blocking queries; writes are not */
    CU_ASSERT_EQUAL(route("PUT", "/v1/catalog/register", NULL, &m), TBH_ROUTE_FOUND);
    CU_ASSERT_FALSE(m.route->flags & TBH_R_BLOCKING);
    CU_ASSERT_EQUAL(route("GET", "/v1/catalog/service/", NULL, &m), TBH_ROUTE_FOUND);
    CU_ASSERT_STRING_EQUAL(m.route->missing, "Missing service name");
}

static void test_status(void)
{
    CU_ASSERT_EQUAL(tbh_status_code(TB_OK), 200);
    CU_ASSERT_EQUAL(tbh_status_code(TB_NOT_FOUND), 404);
    CU_ASSERT_EQUAL(tbh_status_code(TB_BAD_REQUEST), 400);
    CU_ASSERT_EQUAL(tbh_status_code(TB_TOO_LARGE), 413);
    CU_ASSERT_EQUAL(tbh_status_code(TB_PERMISSION_DENIED), 403);
    CU_ASSERT_EQUAL(tbh_status_code(TB_NO_LEADER), 500);
    CU_ASSERT_EQUAL(tbh_status_code(TB_NO_PATH), 500);
    CU_ASSERT_EQUAL(tbh_status_code(TB_CONFLICT), 409);
    CU_ASSERT_EQUAL(tbh_status_code(TB_UNAVAILABLE), 500);
    CU_ASSERT_EQUAL(tbh_status_code(TB_INTERNAL), 500);
    CU_ASSERT_STRING_EQUAL(tbh_status_body(TB_NO_LEADER, "raft: no leader"), "No cluster leader");
    CU_ASSERT_STRING_EQUAL(tbh_status_body(TB_NO_PATH, NULL), "No path to datacenter");
    CU_ASSERT_STRING_EQUAL(tbh_status_body(TB_INTERNAL, "boom"), "boom");
    CU_ASSERT_STRING_EQUAL(tbh_status_body(TB_INTERNAL, NULL), "Internal error");
    CU_ASSERT_STRING_EQUAL(tbh_status_body(TB_PERMISSION_DENIED, NULL), "Permission denied");
    CU_ASSERT_STRING_EQUAL(tbh_status_body(TB_BAD_REQUEST, "Missing node"), "Missing node");
    CU_ASSERT_STRING_EQUAL(tbh_reason(405), "Method Not Allowed");
    CU_ASSERT_STRING_EQUAL(tbh_reason(413), "Request Entity Too Large");
}

/* ------------------------------------------------------------ rendering */

static void test_kv_render(void)
{
    tb_kv_entry_t e[2] = {
        {"lock", "hello", 5, 16210313421097356768ull, 3, 5, 9, "sess-1"},
        {"empty", NULL, 0, 0, 0, 6, 6, NULL},
    };
    tbh_buf_t b = TBH_BUF_INIT;
    CU_ASSERT_EQUAL(tbh_kv_render(&b, e, 2, 0), 0);
    CU_ASSERT_STRING_EQUAL(
        b.data, "[{\"LockIndex\":3,\"Key\":\"lock\",\"Flags\":16210313421097356768,"
                "\"Value\":\"aGVsbG8=\",\"Session\":\"sess-1\",\"CreateIndex\":5,"
                "\"ModifyIndex\":9},{\"LockIndex\":0,\"Key\":\"empty\",\"Flags\":0,"
                "\"Value\":null,\"CreateIndex\":6,\"ModifyIndex\":6}]");
    tbh_buf_free(&b);

    CU_ASSERT_EQUAL(tbh_kv_render(&b, e + 1, 1, 1), 0);
    CU_ASSERT_STRING_EQUAL(b.data, "[\n"
                                   "    {\n"
                                   "        \"LockIndex\": 0,\n"
                                   "        \"Key\": \"empty\",\n"
                                   "        \"Flags\": 0,\n"
                                   "        \"Value\": null,\n"
                                   "        \"CreateIndex\": 6,\n"
                                   "        \"ModifyIndex\": 6\n"
                                   "    }\n"
                                   "]\n");
    tbh_buf_free(&b);
    CU_ASSERT_EQUAL(tbh_kv_render(&b, NULL, 0, 0), 0);
    CU_ASSERT_STRING_EQUAL(b.data, "[]");
    tbh_buf_free(&b);

    /* base64 padding variants */
    tbh_base64(&b, "a", 1);
    tbh_buf_addc(&b, ' ');
    tbh_base64(&b, "ab", 2);
    tbh_buf_addc(&b, ' ');
    tbh_base64(&b, "\xff\x00\x10", 3);
    CU_ASSERT_STRING_EQUAL(b.data, "YQ== YWI= /wAQ");
    tbh_buf_free(&b);
}

static void test_json_string(void)
{
    tbh_buf_t b = TBH_BUF_INIT;
    const char in[] = "a\"b\\c\n\r\t\x01<>&\xc3\xa9\xe2\x80\xa8\xff\xed\xa0\x80z";
    tbh_json_string(&b, in, sizeof(in) - 1);
    CU_ASSERT_STRING_EQUAL(b.data, "\"a\\\"b\\\\c\\n\\r\\t\\u0001\\u003c\\u003e\\u0026"
                                   "\xc3\xa9\\u2028\\ufffd\\ufffd\\ufffd\\ufffdz\"");
    json_error_t err;
    json_t *v = json_loads(b.data, JSON_DECODE_ANY, &err);
    CU_ASSERT_PTR_NOT_NULL(v); /* always valid JSON, whatever the key bytes */
    json_decref(v);
    tbh_buf_free(&b);
}

static void test_json_render(void)
{
    json_t *v = json_pack("{s:[i,i],s:{},s:[],s:s}", "a", 1, 2, "b", "c", "d", "x");
    tbh_buf_t b = TBH_BUF_INIT;
    tbh_json_render(&b, v, 0);
    CU_ASSERT_STRING_EQUAL(b.data, "{\"a\":[1,2],\"b\":{},\"c\":[],\"d\":\"x\"}");
    tbh_buf_free(&b);
    tbh_json_render(&b, v, 1);
    CU_ASSERT_STRING_EQUAL(b.data, "{\n    \"a\": [\n        1,\n        2\n    ],\n"
                                   "    \"b\": {},\n    \"c\": [],\n    \"d\": \"x\"\n}\n");
    tbh_buf_free(&b);
    json_decref(v);
    tbh_json_render(&b, NULL, 0);
    CU_ASSERT_STRING_EQUAL(b.data, "null");
    tbh_buf_free(&b);
    v = json_true();
    tbh_json_render(&b, v, 1);
    CU_ASSERT_STRING_EQUAL(b.data, "true\n");
    tbh_buf_free(&b);
    json_decref(v);
}

/* ------------------------------------------------------------ requests */

static void count_headers(tbh_reqparser_t *rp, void *arg)
{
    (void)rp;
    (*(int *)arg)++;
}

static void test_request_pipelined(void)
{
    tbh_reqparser_t rp;
    tbh_reqparser_init(&rp, 1 << 20, 1 << 20, 100);
    int headers_seen = 0;
    rp.on_headers = count_headers;
    rp.arg = &headers_seen;
    const char in[] = "GET /v1/kv/a?token=q HTTP/1.1\r\nHost: x\r\nX-Consul-Token: t1\r\n"
                      "x-consul-token: t2\r\nAuthorization: Bearer zz\r\n\r\n"
                      "PUT /v1/kv/b HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
                      "hello"
                      "GET / HTTP/1.0\r\n\r\n";
    size_t len = sizeof(in) - 1, off = 0;
    off += tbh_reqparser_feed(&rp, in, 10); /* split inside the request line */
    CU_ASSERT_FALSE(rp.complete);
    off += tbh_reqparser_feed(&rp, in + off, len - off);
    CU_ASSERT_TRUE_FATAL(rp.complete);
    CU_ASSERT_EQUAL(rp.req.method, HTTP_GET);
    CU_ASSERT_STRING_EQUAL(rp.req.url.data, "/v1/kv/a?token=q");
    CU_ASSERT_STRING_EQUAL(rp.req.x_consul_token, "t1");
    CU_ASSERT_STRING_EQUAL(rp.req.authorization, "Bearer zz");
    CU_ASSERT_TRUE(rp.req.keep_alive);
    CU_ASSERT_FALSE(rp.req.is_kv_put);
    CU_ASSERT(off < len); /* paused: the next request waits */
    CU_ASSERT_EQUAL(tbh_reqparser_feed(&rp, in + off, len - off), 0);

    tbh_reqparser_next(&rp);
    off += tbh_reqparser_feed(&rp, in + off, len - off);
    CU_ASSERT_TRUE_FATAL(rp.complete);
    CU_ASSERT_EQUAL(rp.req.method, HTTP_PUT);
    CU_ASSERT_TRUE(rp.req.is_kv_put);
    CU_ASSERT_TRUE(rp.req.expect_continue);
    CU_ASSERT_EQUAL(rp.req.body.len, 5);
    CU_ASSERT_NSTRING_EQUAL(rp.req.body.data, "hello", 5);
    CU_ASSERT_PTR_NULL(rp.req.x_consul_token);

    tbh_reqparser_next(&rp);
    off += tbh_reqparser_feed(&rp, in + off, len - off);
    CU_ASSERT_TRUE_FATAL(rp.complete);
    CU_ASSERT_FALSE(rp.req.keep_alive); /* HTTP/1.0 without keep-alive */
    CU_ASSERT_EQUAL(off, len);
    CU_ASSERT_EQUAL(headers_seen, 3);
    tbh_reqparser_free(&rp);
}

static tbh_perr_t parse_one(const char *in, size_t len, uint64_t kv_max, tbh_reqparser_t *rp)
{
    tbh_reqparser_init(rp, 4096, 1000, kv_max);
    size_t off = 0;
    /* one byte at a time: the worst split a socket can produce */
    while (off < len && !rp->complete && !rp->error)
        off += tbh_reqparser_feed(rp, in + off, 1);
    return rp->error;
}

static void test_request_limits(void)
{
    tbh_reqparser_t rp;
    /* KV PUT over kv_max: refused at the headers, before any body byte */
    const char big[] = "PUT /v1/kv/a HTTP/1.1\r\nContent-Length: 101\r\n\r\n";
    CU_ASSERT_EQUAL(parse_one(big, sizeof(big) - 1, 100, &rp), TBH_PERR_BODY);
    CU_ASSERT_TRUE(rp.req.is_kv_put);
    tbh_reqparser_free(&rp);
    /* the same size is fine elsewhere (general limit 1000) */
    const char ok[] = "PUT /v1/catalog/register HTTP/1.1\r\nContent-Length: 101\r\n\r\n";
    CU_ASSERT_EQUAL(parse_one(ok, sizeof(ok) - 1, 100, &rp), TBH_PERR_NONE);
    tbh_reqparser_free(&rp);
    /* chunked over the limit is caught while reading */
    const char chunked[] = "PUT /v1/kv/a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "40\r\n0123456789012345678901234567890123456789012345678901234567890123\r\n"
                           "40\r\n0123456789012345678901234567890123456789012345678901234567890123\r\n"
                           "0\r\n\r\n";
    CU_ASSERT_EQUAL(parse_one(chunked, sizeof(chunked) - 1, 100, &rp), TBH_PERR_BODY);
    tbh_reqparser_free(&rp);
    CU_ASSERT_EQUAL(parse_one(chunked, sizeof(chunked) - 1, 200, &rp), TBH_PERR_NONE);
    CU_ASSERT_TRUE(rp.complete);
    CU_ASSERT_EQUAL(rp.req.body.len, 128);
    tbh_reqparser_free(&rp);

    const char bad[] = "GET /x HTTP/1.1\r\nHost x\r\n\r\n";
    CU_ASSERT_EQUAL(parse_one(bad, sizeof(bad) - 1, 100, &rp), TBH_PERR_MALFORMED);
    tbh_reqparser_free(&rp);
    const char junk[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
    CU_ASSERT_EQUAL(parse_one(junk, sizeof(junk) - 1, 100, &rp), TBH_PERR_MALFORMED);
    tbh_reqparser_free(&rp);

    tbh_buf_t hdr = TBH_BUF_INIT;
    tbh_buf_adds(&hdr, "GET / HTTP/1.1\r\nX-Big: ");
    for (int i = 0; i < 5000; i++)
        tbh_buf_addc(&hdr, 'a');
    tbh_buf_adds(&hdr, "\r\n\r\n");
    CU_ASSERT_EQUAL(parse_one(hdr.data, hdr.len, 100, &rp), TBH_PERR_HEADERS);
    tbh_reqparser_free(&rp);
    tbh_buf_free(&hdr);

    const char ka10[] = "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    parse_one(ka10, sizeof(ka10) - 1, 100, &rp);
    CU_ASSERT_TRUE(rp.complete && rp.req.keep_alive);
    tbh_reqparser_free(&rp);
    const char close11[] = "GET / HTTP/1.1\r\nConnection: close\r\n\r\n";
    parse_one(close11, sizeof(close11) - 1, 100, &rp);
    CU_ASSERT_TRUE(rp.complete);
    CU_ASSERT_FALSE(rp.req.keep_alive);
    tbh_reqparser_free(&rp);
}

static void test_url_split(void)
{
    size_t po, pl, qo, ql;
    const char *u = "/v1/kv/a%2Fb?recurse&x=1";
    CU_ASSERT_EQUAL(tbh_url_split(u, strlen(u), 0, &po, &pl, &qo, &ql), 0);
    CU_ASSERT_EQUAL(pl, 12);
    CU_ASSERT_NSTRING_EQUAL(u + qo, "recurse&x=1", ql);
    u = "http://127.0.0.1:8500/v1/status/leader";
    CU_ASSERT_EQUAL(tbh_url_split(u, strlen(u), 0, &po, &pl, &qo, &ql), 0);
    CU_ASSERT_NSTRING_EQUAL(u + po, "/v1/status/leader", pl);
    CU_ASSERT_EQUAL(ql, 0);
}

/* ------------------------------------------------------------ settings */

static void test_settings(void)
{
    tbh_settings_t s;
    char *err = NULL;
    json_t *agent = json_pack("{s:{s:i},s:s,s:{s:s},s:{s:i},s:b,s:s,s:{s:s},s:{s:{s:s}}}", "ports",
                              "http", 18500, "client_addr", "127.0.0.1", "addresses", "http",
                              "127.0.0.2 127.0.0.3", "limits", "http_max_conns_per_client", 7,
                              "dev_mode", 1, "discovery_max_stale", "2s", "acl",
                              "default_policy", "deny", "http_config", "response_headers",
                              "X-Frame-Options", "DENY");
    json_t *own = json_object();
    CU_ASSERT_EQUAL_FATAL(tbh_settings_load(&s, agent, own, tb__parse_duration, &err), 0);
    CU_ASSERT_EQUAL(s.port, 18500);
    CU_ASSERT_EQUAL_FATAL(s.naddrs, 2); /* addresses.http overrides client_addr */
    CU_ASSERT_STRING_EQUAL(s.addrs[0], "127.0.0.2");
    CU_ASSERT_STRING_EQUAL(s.addrs[1], "127.0.0.3");
    CU_ASSERT(s.max_conns_per_client == 7);
    CU_ASSERT_TRUE(s.pretty);
    CU_ASSERT(s.discovery_stale_ms == 2000);
    CU_ASSERT_STRING_EQUAL(s.extra_headers,
                           "X-Consul-Default-ACL-Policy: deny\r\nX-Frame-Options: DENY\r\n");

    tbh_settings_t t;
    json_t *empty = json_object();
    CU_ASSERT_EQUAL_FATAL(tbh_settings_load(&t, empty, NULL, tb__parse_duration, &err), 0);
    CU_ASSERT_EQUAL(t.port, 8500); /* Consul's defaults for unset keys */
    CU_ASSERT_EQUAL(t.naddrs, 1);
    CU_ASSERT_STRING_EQUAL(t.addrs[0], "127.0.0.1");
    CU_ASSERT(t.max_conns_per_client == 200);
    CU_ASSERT_FALSE(t.pretty);
    CU_ASSERT_FALSE(tbh_settings_same_listeners(&s, &t));
    CU_ASSERT_TRUE(tbh_settings_same_listeners(&t, &t));
    tbh_settings_free(&t);
    tbh_settings_free(&s);

    json_object_set_new(own, "foo", json_integer(1));
    CU_ASSERT_EQUAL(tbh_settings_load(&s, empty, own, tb__parse_duration, &err), -1);
    CU_ASSERT_STRING_EQUAL(err, "plugin_config.http.foo: unknown key");
    free(err);

    json_t *bad = json_pack("{s:s}", "client_addr", "127.0.0.1 {{ GetPrivateIP }}");
    CU_ASSERT_EQUAL(tbh_settings_load(&s, bad, NULL, tb__parse_duration, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "client_addr: invalid address \"{{\""));
    free(err);
    json_decref(bad);
    bad = json_pack("{s:{s:s}}", "ports", "http", "8500");
    CU_ASSERT_EQUAL(tbh_settings_load(&s, bad, NULL, tb__parse_duration, &err), -1);
    CU_ASSERT_STRING_EQUAL(err, "ports.http: must be an integer");
    free(err);
    json_decref(bad);
    bad = json_pack("{s:{s:i},s:s}", "ports", "http", -1, "client_addr", "::1 unix:///tmp/x.sock");
    CU_ASSERT_EQUAL(tbh_settings_load(&s, bad, NULL, tb__parse_duration, &err), 0);
    CU_ASSERT_EQUAL(s.port, -1);
    CU_ASSERT_EQUAL(s.naddrs, 2);
    CU_ASSERT_EQUAL(s.https_port, -1); /* HTTPS is off unless ports.https is set */
    CU_ASSERT_EQUAL(s.nhttps_addrs, 0);
    tbh_settings_free(&s);
    json_decref(bad);
    /* ports.https on client_addr, or on addresses.https when that is set */
    bad = json_pack("{s:{s:i},s:s,s:{s:s}}", "ports", "https", 8501, "client_addr", "127.0.0.1",
                    "addresses", "https", "127.0.0.5");
    CU_ASSERT_EQUAL_FATAL(tbh_settings_load(&s, bad, NULL, tb__parse_duration, &err), 0);
    CU_ASSERT_EQUAL(s.https_port, 8501);
    CU_ASSERT_EQUAL_FATAL(s.nhttps_addrs, 1);
    CU_ASSERT_STRING_EQUAL(s.https_addrs[0], "127.0.0.5");
    CU_ASSERT_STRING_EQUAL(s.addrs[0], "127.0.0.1");
    tbh_settings_load(&t, empty, NULL, tb__parse_duration, &err);
    CU_ASSERT_FALSE(tbh_settings_same_listeners(&s, &t)); /* an HTTPS change rebinds */
    tbh_settings_free(&t);
    tbh_settings_free(&s);
    json_decref(bad);
    bad = json_pack("{s:{s:i},s:{s:s}}", "ports", "https", 8501, "addresses", "https", "nope");
    CU_ASSERT_EQUAL(tbh_settings_load(&s, bad, NULL, tb__parse_duration, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "addresses.https: invalid address \"nope\""));
    free(err);
    json_decref(bad);
    bad = json_pack("{s:{s:b}}", "ports", "https", 1);
    CU_ASSERT_EQUAL(tbh_settings_load(&s, bad, NULL, tb__parse_duration, &err), -1);
    CU_ASSERT_STRING_EQUAL(err, "ports.https: must be an integer");
    free(err);
    json_decref(bad);
    bad = json_pack("{s:{s:{s:s}}}", "http_config", "response_headers", "X-Bad", "a\r\nb: c");
    CU_ASSERT_EQUAL(tbh_settings_load(&s, bad, NULL, tb__parse_duration, &err), -1);
    CU_ASSERT_STRING_EQUAL(err, "http_config.response_headers.X-Bad: must be a one-line string");
    free(err);
    json_decref(bad);

    json_decref(own);
    json_decref(empty);
    json_decref(agent);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite s = CU_add_suite("http-unit", NULL, NULL);
    CU_add_test(s, "unescape", test_unescape);
    CU_add_test(s, "escape", test_escape);
    CU_add_test(s, "parse numbers", test_parse_numbers);
    CU_add_test(s, "query", test_query);
    CU_add_test(s, "query bool", test_query_bool);
    CU_add_test(s, "query opts", test_query_opts);
    CU_add_test(s, "token", test_token);
    CU_add_test(s, "clean path", test_clean_path);
    CU_add_test(s, "routes", test_routes);
    CU_add_test(s, "status", test_status);
    CU_add_test(s, "kv render", test_kv_render);
    CU_add_test(s, "json string", test_json_string);
    CU_add_test(s, "json render", test_json_render);
    CU_add_test(s, "request pipelined", test_request_pipelined);
    CU_add_test(s, "request limits", test_request_limits);
    CU_add_test(s, "url split", test_url_split);
    CU_add_test(s, "settings", test_settings);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
