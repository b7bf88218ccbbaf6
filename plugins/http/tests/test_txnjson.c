/*
 * test_txnjson.c - CUnit tests of txnjson.c: big uint64 literals are
 * marked outside strings only, the marked text parses with jansson, and
 * rendering then unmarking gives the exact digits back.
 */
#include <CUnit/Basic.h>
#include <jansson.h>
#include <string.h>

#include "kvjson.h"
#include "txnjson.h"

static char *mark(const char *in)
{
    tbh_buf_t b = TBH_BUF_INIT;
    CU_ASSERT_EQUAL(tbh_txn_mark_bigints(in, strlen(in), &b), 0);
    return tbh_buf_steal(&b, NULL);
}

static void test_mark(void)
{
    char *s = mark("[{\"Flags\":16210313421097356768,\"Index\":5}]");
    CU_ASSERT_STRING_EQUAL(s, "[{\"Flags\":\"\\u000116210313421097356768\",\"Index\":5}]");
    free(s);
    /* INT64_MAX stays a number; INT64_MAX+1 and UINT64_MAX are marked */
    s = mark("[9223372036854775807,9223372036854775808,18446744073709551615]");
    CU_ASSERT_STRING_EQUAL(s, "[9223372036854775807,\"\\u00019223372036854775808\","
                              "\"\\u000118446744073709551615\"]");
    free(s);
    /* beyond uint64, negative, fractions and exponents: left for the parser */
    s = mark("[18446744073709551616,-16210313421097356768,16210313421097356768.5,1e30]");
    CU_ASSERT_STRING_EQUAL(s, "[18446744073709551616,-16210313421097356768,"
                              "16210313421097356768.5,1e30]");
    free(s);
    /* digits inside strings (with escaped quotes) are untouched */
    s = mark("{\"k\\\"16210313421097356768\":\"16210313421097356768\"}");
    CU_ASSERT_STRING_EQUAL(s, "{\"k\\\"16210313421097356768\":\"16210313421097356768\"}");
    free(s);
    /* a truncated escape at the end does not read past the input */
    s = mark("\"abc\\");
    CU_ASSERT_STRING_EQUAL(s, "\"abc\\");
    free(s);
}

static void test_round_trip(void)
{
    char *s = mark("{\"Flags\":16210313421097356768,\"F2\":3304740253564472344}");
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    free(s);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "Flags")),
                           TBH_BIG_MARK "16210313421097356768");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "F2")), 3304740253564472344LL);
    for (int pretty = 0; pretty < 2; pretty++) {
        tbh_buf_t b = TBH_BUF_INIT;
        CU_ASSERT_EQUAL(tbh_json_render(&b, j, pretty), 0);
        tbh_txn_unmark(&b);
        CU_ASSERT_PTR_NOT_NULL(strstr(b.data, "\"Flags\": 16210313421097356768") ||
                                       strstr(b.data, "\"Flags\":16210313421097356768")
                                   ? b.data
                                   : NULL);
        CU_ASSERT_PTR_NULL(strstr(b.data, "\\u0001"));
        tbh_buf_free(&b);
    }
    json_decref(j);
    /* a marker without digits, or other strings, stay strings */
    tbh_buf_t b = TBH_BUF_INIT;
    tbh_buf_adds(&b, "[\"\\u0001\",\"\\u0001x1\",\"a\"]");
    tbh_txn_unmark(&b);
    CU_ASSERT_STRING_EQUAL(b.data, "[\"\\u0001\",\"\\u0001x1\",\"a\"]");
    tbh_buf_free(&b);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite s = CU_add_suite("txnjson", NULL, NULL);
    CU_add_test(s, "mark big integers", test_mark);
    CU_add_test(s, "parse, render, unmark", test_round_trip);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
