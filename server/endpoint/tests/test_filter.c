/*
 * test_filter.c - CUnit tests of the ?filter parser and evaluator
 * (filter.c): every operator, precedence and parentheses, selectors into
 * nested objects, arrays and maps, node-meta filtering of the three result
 * shapes, and the parse errors that become 400s.
 */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint/filter.h"

static const char *ENTRY =
    "{\"Node\":{\"Node\":\"n1\",\"Meta\":{\"env\":\"prod\",\"rack\":\"r1\"}},"
    "\"Service\":{\"Service\":\"web\",\"Tags\":[\"v1\",\"primary\"],\"Port\":8080,"
    "\"Meta\":{},\"EnableTagOverride\":false,\"Address\":\"\"},"
    "\"Checks\":[]}";

static int m(const char *expr)
{
    json_t *e = json_loads(ENTRY, 0, NULL);
    char *err = NULL;
    tb__filter_t *f = tb__filter_parse(expr, &err);
    int r = -1;
    if (f)
        r = tb__filter_match(f, e);
    free(err);
    tb__filter_free(f);
    json_decref(e);
    return r;
}

static void test_operators(void)
{
    CU_ASSERT_EQUAL(m("Service.Service == \"web\""), 1);
    CU_ASSERT_EQUAL(m("Service.Service == `web`"), 1);
    CU_ASSERT_EQUAL(m("Service.Service != \"web\""), 0);
    CU_ASSERT_EQUAL(m("Service.Port == 8080"), 1);
    CU_ASSERT_EQUAL(m("Service.Port == \"8081\""), 0);
    CU_ASSERT_EQUAL(m("Service.EnableTagOverride == false"), 1);
    CU_ASSERT_EQUAL(m("Service.Tags contains \"v1\""), 1);
    CU_ASSERT_EQUAL(m("Service.Tags not contains \"v1\""), 0);
    CU_ASSERT_EQUAL(m("\"primary\" in Service.Tags"), 1);
    CU_ASSERT_EQUAL(m("\"v2\" not in Service.Tags"), 1);
    CU_ASSERT_EQUAL(m("env in Node.Meta"), 1);
    CU_ASSERT_EQUAL(m("Node.Meta.env == prod"), 1);
    CU_ASSERT_EQUAL(m("Node.Meta[\"rack\"] == \"r1\""), 1);
    CU_ASSERT_EQUAL(m("Node.Node matches \"^n[0-9]+$\""), 1);
    CU_ASSERT_EQUAL(m("Node.Node not matches \"^x\""), 1);
    CU_ASSERT_EQUAL(m("Service.Meta is empty"), 1);
    CU_ASSERT_EQUAL(m("Service.Address is empty"), 1);
    CU_ASSERT_EQUAL(m("Checks is empty"), 1);
    CU_ASSERT_EQUAL(m("Service.Tags is not empty"), 1);
    CU_ASSERT_EQUAL(m("Service.Missing is empty"), 1);
    CU_ASSERT_EQUAL(m("Service.Missing == \"x\""), 0);
    CU_ASSERT_EQUAL(m("Service.Missing != \"x\""), 1);
    /* string contains substring */
    CU_ASSERT_EQUAL(m("Service.Service contains \"e\""), 1);
}

static void test_logic(void)
{
    /* and binds tighter than or */
    CU_ASSERT_EQUAL(m("Service.Port == 1 and Service.Port == 2 or Service.Service == web"), 1);
    CU_ASSERT_EQUAL(m("Service.Port == 1 and (Service.Port == 2 or Service.Service == web)"), 0);
    CU_ASSERT_EQUAL(m("not Service.Port == 1"), 1);
    CU_ASSERT_EQUAL(m("not (Service.Port == 8080 and Node.Meta.env == prod)"), 0);
    CU_ASSERT_EQUAL(m("not not Service.Port == 8080"), 1);
}

static void test_errors(void)
{
    static const char *bad[] = {"", "Service.Port", "Service.Port ==", "== 3", "(a == b",
                                "a == b)", "a = b", "a is full", "a not equals b",
                                "a matches \"(\"", "a == \"unterminated", "a == b and",
                                "a.", "a[3] == b", "a == b c"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *err = NULL;
        tb__filter_t *f = tb__filter_parse(bad[i], &err);
        CU_ASSERT_PTR_NULL(f);
        CU_ASSERT_PTR_NOT_NULL(err);
        if (err)
            CU_ASSERT_PTR_NOT_NULL(strstr(err, "Failed to create boolean expression evaluator"));
        tb__filter_free(f);
        free(err);
    }
}

static void test_results(void)
{
    json_t *nodes = json_loads("[{\"Node\":\"a\",\"Meta\":{\"env\":\"prod\"}},"
                               "{\"Node\":\"b\",\"Meta\":{\"env\":\"dev\"}},"
                               "{\"Node\":\"c\",\"Meta\":{}}]",
                               0, NULL);
    json_t *want = json_pack("{s:s}", "env", "prod");
    json_t *r = tb__filter_result(nodes, NULL, want);
    CU_ASSERT_EQUAL(json_array_size(r), 1);
    json_decref(r);
    char *err = NULL;
    tb__filter_t *f = tb__filter_parse("Node != a", &err);
    r = tb__filter_result(nodes, f, NULL);
    CU_ASSERT_EQUAL(json_array_size(r), 2);
    json_decref(r);
    /* CatalogService shape: NodeMeta */
    json_t *cs = json_loads("[{\"Node\":\"a\",\"NodeMeta\":{\"env\":\"prod\"}},"
                            "{\"Node\":\"b\",\"NodeMeta\":{\"env\":\"dev\"}}]",
                            0, NULL);
    r = tb__filter_result(cs, NULL, want);
    CU_ASSERT_EQUAL(json_array_size(r), 1);
    json_decref(r);
    /* maps filter their values */
    json_t *map = json_loads("{\"x\":{\"Node\":\"a\"},\"y\":{\"Node\":\"b\"}}", 0, NULL);
    r = tb__filter_result(map, f, NULL);
    CU_ASSERT_EQUAL(json_object_size(r), 1);
    CU_ASSERT_PTR_NOT_NULL(json_object_get(r, "y"));
    json_decref(r);
    tb__filter_free(f);
    json_decref(map);
    json_decref(cs);
    json_decref(want);
    json_decref(nodes);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite s = CU_add_suite("filter", NULL, NULL);
    CU_add_test(s, "operators", test_operators);
    CU_add_test(s, "and, or, not, parentheses", test_logic);
    CU_add_test(s, "parse errors", test_errors);
    CU_add_test(s, "node-meta and result shapes", test_results);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
