/*
 * test_unit.c - CUnit tests of check_tcp's target parsing (tcp_addr.c).
 */
#include <stdlib.h>
#include <string.h>
#include <CUnit/Basic.h>

#include "tcp_addr.h"

static int split(const char *s, char *h, char *p, const char **why)
{
    return tcp_addr_split(s, h, 260, p, 8, why);
}

static void test_ok(void)
{
    char h[260], p[8];
    const char *why = NULL;
    CU_ASSERT_EQUAL(split("127.0.0.1:8080", h, p, &why), 0);
    CU_ASSERT_STRING_EQUAL(h, "127.0.0.1");
    CU_ASSERT_STRING_EQUAL(p, "8080");
    CU_ASSERT_EQUAL(split("[::1]:22", h, p, &why), 0);
    CU_ASSERT_STRING_EQUAL(h, "::1");
    CU_ASSERT_STRING_EQUAL(p, "22");
    CU_ASSERT_EQUAL(split("localhost:65535", h, p, &why), 0);
    CU_ASSERT_STRING_EQUAL(h, "localhost");
    CU_ASSERT_STRING_EQUAL(p, "65535");
}

static void test_bad(void)
{
    char h[260], p[8];
    const char *why = NULL;
    CU_ASSERT_EQUAL(split("", h, p, &why), -1);
    CU_ASSERT_EQUAL(split("localhost", h, p, &why), -1);
    CU_ASSERT_STRING_EQUAL(why, "missing port in address");
    CU_ASSERT_EQUAL(split("::1:22", h, p, &why), -1);
    CU_ASSERT_STRING_EQUAL(why, "too many colons in address");
    CU_ASSERT_EQUAL(split("[::1]22", h, p, &why), -1);
    CU_ASSERT_EQUAL(split("[::1:22", h, p, &why), -1);
    CU_ASSERT_EQUAL(split(":80", h, p, &why), -1);
    CU_ASSERT_STRING_EQUAL(why, "missing host in address");
    CU_ASSERT_EQUAL(split("h:0", h, p, &why), -1);
    CU_ASSERT_EQUAL(split("h:65536", h, p, &why), -1);
    CU_ASSERT_STRING_EQUAL(why, "port out of range");
    CU_ASSERT_EQUAL(split("h:http", h, p, &why), -1);
    CU_ASSERT_EQUAL(split("h:-1", h, p, &why), -1);
    CU_ASSERT_EQUAL(split("h:", h, p, &why), -1);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("check_tcp", NULL, NULL);
    CU_add_test(s, "valid targets", test_ok);
    CU_add_test(s, "invalid targets", test_bad);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned f = CU_get_number_of_failures();
    CU_cleanup_registry();
    return f ? 1 : 0;
}
