/*
 * test_cli.c - CUnit tests of the CLI building blocks: Go-style flag
 * parsing, the uint64-preserving JSON loader (KV Flags above 2^63),
 * Consul's columnize layout and URL escaping. The subcommands themselves
 * run end to end in the regress suite.
 */
#include <CUnit/Basic.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_int.h"

#define END_FLAGS {NULL, 0, NULL, NULL, NULL, NULL, 0, NULL, 0}

static void test_flags_forms(void)
{
    int b = 0, b2 = 1;
    const char *s = NULL;
    int64_t n = 0;
    uint64_t u = 0;
    tb__strlist_t l = {0};
    tb__flag_t flags[] = {
        {"recurse", TB__F_BOOL, &b, NULL, "", NULL, 0, NULL, 0},
        {"shell", TB__F_BOOL, &b2, NULL, "", NULL, 0, NULL, 0},
        {"separator", TB__F_STRING, &s, "<s>", "", NULL, 0, NULL, 0},
        {"port", TB__F_INT, &n, "<n>", "", NULL, 0, NULL, 0},
        {"flags", TB__F_UINT64, &u, "<u>", "", NULL, 0, NULL, 0},
        {"join", TB__F_LIST, &l, "<a>", "", NULL, 0, NULL, 0},
        END_FLAGS,
    };
    char *argv[] = {"--recurse",       "-shell=false", "-separator", ":", "--port=-1",
                    "-flags", "16210313421097356768", "-join", "a", "-join=b",
                    "key", "-notaflag"};
    int first = -1;
    int rc = tb__flags_parse(flags, 12, argv, &first, "help\n", NULL);
    CU_ASSERT_EQUAL(rc, TB__FLAGS_OK);
    CU_ASSERT_EQUAL(first, 10); /* stops at the first positional */
    CU_ASSERT_EQUAL(b, 1);
    CU_ASSERT_EQUAL(b2, 0);
    CU_ASSERT_STRING_EQUAL(s, ":");
    CU_ASSERT_EQUAL(n, -1);
    CU_ASSERT_EQUAL(u, UINT64_C(16210313421097356768));
    CU_ASSERT_EQUAL(l.n, 2);
    CU_ASSERT_STRING_EQUAL(l.v[0], "a");
    CU_ASSERT_STRING_EQUAL(l.v[1], "b");
    CU_ASSERT(flags[1].seen && flags[2].seen && flags[5].seen);
    tb__strlist_free(&l);

    /* "-" (stdin) and "--" end the flags */
    char *argv2[] = {"-recurse", "--", "-port", "3"};
    rc = tb__flags_parse(flags, 4, argv2, &first, "help\n", NULL);
    CU_ASSERT_EQUAL(rc, TB__FLAGS_OK);
    CU_ASSERT_EQUAL(first, 2);
    char *argv3[] = {"k", "-"};
    rc = tb__flags_parse(flags, 2, argv3, &first, "help\n", NULL);
    CU_ASSERT_EQUAL(first, 0);
    /* an empty string value is allowed */
    char *argv4[] = {"-separator="};
    s = "x";
    rc = tb__flags_parse(flags, 1, argv4, &first, "help\n", NULL);
    CU_ASSERT_EQUAL(rc, TB__FLAGS_OK);
    CU_ASSERT_STRING_EQUAL(s, "");
}

static void test_flags_errors(void)
{
    int b = 0;
    uint64_t u = 0;
    const char *s = NULL;
    tb__flag_t flags[] = {
        {"recurse", TB__F_BOOL, &b, NULL, "", NULL, 0, NULL, 0},
        {"flags", TB__F_UINT64, &u, "<u>", "", NULL, 0, NULL, 0},
        {"separator", TB__F_STRING, &s, "<s>", "", NULL, 0, NULL, 0},
        END_FLAGS,
    };
    int first;
    /* silence the usage printed on errors */
    FILE *saved = stderr;
    stderr = fopen("/dev/null", "w");
    char *a1[] = {"-nope"};
    CU_ASSERT_EQUAL(tb__flags_parse(flags, 1, a1, &first, "h\n", NULL), TB__FLAGS_ERROR);
    char *a2[] = {"-flags", "-1"};
    CU_ASSERT_EQUAL(tb__flags_parse(flags, 2, a2, &first, "h\n", NULL), TB__FLAGS_ERROR);
    char *a3[] = {"-flags", "18446744073709551616"};
    CU_ASSERT_EQUAL(tb__flags_parse(flags, 2, a3, &first, "h\n", NULL), TB__FLAGS_ERROR);
    char *a4[] = {"-separator"};
    CU_ASSERT_EQUAL(tb__flags_parse(flags, 1, a4, &first, "h\n", NULL), TB__FLAGS_ERROR);
    char *a5[] = {"-recurse=maybe"};
    CU_ASSERT_EQUAL(tb__flags_parse(flags, 1, a5, &first, "h\n", NULL), TB__FLAGS_ERROR);
    fclose(stderr);
    stderr = saved;

    FILE *out = stdout;
    stdout = fopen("/dev/null", "w");
    char *a6[] = {"--help"};
    CU_ASSERT_EQUAL(tb__flags_parse(flags, 1, a6, &first, "h\n", NULL), TB__FLAGS_HELP);
    char *a7[] = {"-h"};
    CU_ASSERT_EQUAL(tb__flags_parse(flags, 1, a7, &first, "h\n", NULL), TB__FLAGS_HELP);
    fclose(stdout);
    stdout = out;
}

static void test_json_u64(void)
{
    const char *text =
        "[{\"Key\":\"a\",\"Flags\":16210313421097356768,\"CreateIndex\":5,"
        "\"Value\":\"MTIz\",\"Neg\":-5,\"Real\":1.5e3,\"S\":\"9999999999999999999999\"},"
        "{\"Flags\":18446744073709551615,\"Max\":9223372036854775807,"
        "\"Over\":9223372036854775808}]";
    json_error_t e;
    json_t *j = tb__json_loads_u64(text, strlen(text), &e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    json_t *a = json_array_get(j, 0), *b = json_array_get(j, 1);
    CU_ASSERT_EQUAL(tb__json_u64(json_object_get(a, "Flags")), UINT64_C(16210313421097356768));
    CU_ASSERT_EQUAL(tb__json_u64(json_object_get(a, "CreateIndex")), 5);
    CU_ASSERT(json_is_integer(json_object_get(a, "CreateIndex")));
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(a, "Neg")), -5);
    CU_ASSERT(json_is_real(json_object_get(a, "Real")));
    /* strings are left alone */
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(a, "S")), "9999999999999999999999");
    CU_ASSERT_EQUAL(tb__json_u64(json_object_get(b, "Flags")), UINT64_MAX);
    CU_ASSERT(json_is_integer(json_object_get(b, "Max")));
    CU_ASSERT_EQUAL(tb__json_u64(json_object_get(b, "Over")), UINT64_C(9223372036854775808));
    char buf[32];
    snprintf(buf, sizeof(buf), "%" PRIu64, tb__json_u64(json_object_get(a, "Flags")));
    CU_ASSERT_STRING_EQUAL(buf, "16210313421097356768");
    json_decref(j);
}

static void test_columnize(void)
{
    char *rows[] = {"Node|ID|Address|DC", "node-one|0b6e2f5c|127.0.0.1|dc1", "n2| | 10.0.0.2 |dc1"};
    char *out = tb__columnize(rows, 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    CU_ASSERT_STRING_EQUAL(out, "Node      ID        Address    DC\n"
                                "node-one  0b6e2f5c  127.0.0.1  dc1\n"
                                "n2                  10.0.0.2   dc1");
    free(out);
}

static void test_url_escape(void)
{
    char *e = tb__url_escape("a b/c?d&e=f%", 1);
    CU_ASSERT_STRING_EQUAL(e, "a%20b/c%3Fd%26e%3Df%25");
    free(e);
    e = tb__url_escape("x/y", 0);
    CU_ASSERT_STRING_EQUAL(e, "x%2Fy");
    free(e);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("cli", NULL, NULL);
    CU_add_test(s, "flag forms", test_flags_forms);
    CU_add_test(s, "flag errors", test_flags_errors);
    CU_add_test(s, "json uint64", test_json_u64);
    CU_add_test(s, "columnize", test_columnize);
    CU_add_test(s, "url escape", test_url_escape);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails == 0 ? 0 : 1;
}
