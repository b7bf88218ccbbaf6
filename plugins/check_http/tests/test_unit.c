/*
 * test_unit.c - CUnit tests of check_http's pure half (httpreq.c): URL
 * parsing, request rendering, header validation, Location resolution and
 * the status mapping.
 */
#include <stdlib.h>
#include <string.h>
#include <CUnit/Basic.h>

#include "httpreq.h"

static void test_url(void)
{
    hurl_t u;
    const char *why = NULL;
    CU_ASSERT_EQUAL_FATAL(hurl_parse("http://127.0.0.1:8080/health?x=1", &u, &why), 0);
    CU_ASSERT_EQUAL(u.tls, 0);
    CU_ASSERT_STRING_EQUAL(u.host, "127.0.0.1");
    CU_ASSERT_STRING_EQUAL(u.port, "8080");
    CU_ASSERT_STRING_EQUAL(u.authority, "127.0.0.1:8080");
    CU_ASSERT_STRING_EQUAL(u.target, "/health?x=1");
    hurl_free(&u);
    CU_ASSERT_EQUAL_FATAL(hurl_parse("https://example.com", &u, &why), 0);
    CU_ASSERT_EQUAL(u.tls, 1);
    CU_ASSERT_STRING_EQUAL(u.port, "443");
    CU_ASSERT_STRING_EQUAL(u.authority, "example.com");
    CU_ASSERT_STRING_EQUAL(u.target, "/");
    hurl_free(&u);
    CU_ASSERT_EQUAL_FATAL(hurl_parse("http://[::1]:81/a", &u, &why), 0);
    CU_ASSERT_STRING_EQUAL(u.host, "::1");
    CU_ASSERT_STRING_EQUAL(u.authority, "[::1]:81");
    hurl_free(&u);
    CU_ASSERT_EQUAL(hurl_parse("ftp://x/", &u, &why), -1);
    hurl_free(&u);
    CU_ASSERT_EQUAL(hurl_parse("/relative", &u, &why), -1);
    hurl_free(&u);
    CU_ASSERT_EQUAL(hurl_parse("not a url", &u, &why), -1);
    hurl_free(&u);
}

static void test_request(void)
{
    hurl_t u;
    const char *why;
    size_t len;
    CU_ASSERT_EQUAL_FATAL(hurl_parse("http://h:81/p?q", &u, &why), 0);
    json_t *h = json_pack("{s:[s,s],s:s}", "x-a", "1", "2", "accept", "*/*");
    char *r = http_build_request("POST", &u, h, "{}", 2, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_EQUAL(strlen(r), len);
    CU_ASSERT_EQUAL(strncmp(r, "POST /p?q HTTP/1.1\r\nHost: h:81\r\n", 32), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r, "User-Agent: Consul Health Check\r\n"));
    CU_ASSERT_PTR_NULL(strstr(r, "Accept: text/plain"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r, "accept: */*\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r, "x-a: 1\r\nx-a: 2\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r, "Content-Length: 2\r\n"));
    CU_ASSERT_EQUAL(strcmp(r + len - 8, "\r\n\r\n{}") == 0 || strcmp(r + len - 6, "\r\n\r\n{}") == 0, 1);
    free(r);
    json_decref(h);
    h = json_pack("{s:[s]}", "host", "virt.example");
    r = http_build_request("GET", &u, h, NULL, 0, &len);
    CU_ASSERT_PTR_NOT_NULL(strstr(r, "Host: virt.example\r\n"));
    CU_ASSERT_PTR_NULL(strstr(r, "Host: h:81"));
    CU_ASSERT_PTR_NULL(strstr(r, "Content-Length"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r, "Accept: text/plain, text/*, */*\r\n"));
    free(r);
    json_decref(h);
    hurl_free(&u);
}

static void test_headers(void)
{
    const char *why;
    json_t *h = json_pack("{s:[s]}", "x-ok", "v");
    CU_ASSERT_EQUAL(http_headers_check(h, &why), 0);
    json_decref(h);
    h = json_pack("{s:[s]}", "x-bad", "v\r\nInjected: 1");
    CU_ASSERT_EQUAL(http_headers_check(h, &why), -1);
    json_decref(h);
    h = json_pack("{s:[i]}", "x-num", 1);
    CU_ASSERT_EQUAL(http_headers_check(h, &why), -1);
    json_decref(h);
    h = json_pack("{s:[s]}", "bad name", "v");
    CU_ASSERT_EQUAL(http_headers_check(h, &why), -1);
    json_decref(h);
    h = json_string("x");
    CU_ASSERT_EQUAL(http_headers_check(h, &why), -1);
    json_decref(h);
    CU_ASSERT_EQUAL(http_headers_check(NULL, &why), 0);
}

static void expect_loc(const char *base, const char *loc, const char *want)
{
    char *r = http_resolve_location(base, loc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_STRING_EQUAL(r, want);
    free(r);
}

static void test_location(void)
{
    expect_loc("http://a:1/x/y?z", "https://b/c", "https://b/c");
    expect_loc("http://a:1/x/y?z", "/n", "http://a:1/n");
    expect_loc("http://a:1/x/y?z", "n", "http://a:1/x/n");
    expect_loc("http://a:1", "n", "http://a:1/n");
    expect_loc("https://a/x", "//b/c", "https://b/c");
    expect_loc("http://a/x/y", "?q=1", "http://a/x/y?q=1");
}

static void test_status(void)
{
    CU_ASSERT_EQUAL(http_status_map(200), TB_CHECK_PASSING);
    CU_ASSERT_EQUAL(http_status_map(204), TB_CHECK_PASSING);
    CU_ASSERT_EQUAL(http_status_map(299), TB_CHECK_PASSING);
    CU_ASSERT_EQUAL(http_status_map(429), TB_CHECK_WARNING);
    CU_ASSERT_EQUAL(http_status_map(302), TB_CHECK_CRITICAL);
    CU_ASSERT_EQUAL(http_status_map(500), TB_CHECK_CRITICAL);
    CU_ASSERT_EQUAL(http_status_map(199), TB_CHECK_CRITICAL);
    char b[16];
    http_method_title("GET", b, sizeof b);
    CU_ASSERT_STRING_EQUAL(b, "Get");
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("check_http", NULL, NULL);
    CU_add_test(s, "url parsing", test_url);
    CU_add_test(s, "request rendering", test_request);
    CU_add_test(s, "header validation", test_headers);
    CU_add_test(s, "location resolution", test_location);
    CU_add_test(s, "status mapping", test_status);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned f = CU_get_number_of_failures();
    CU_cleanup_registry();
    return f ? 1 : 0;
}
