/*
 * test_unit.c - CUnit tests of output capture (output.c): the last-N-bytes
 * ring, Consul's "Captured" prefix, and UTF-8 repair.
 */
#include <stdlib.h>
#include <string.h>
#include <CUnit/Basic.h>

#include "output.h"

static void test_small(void)
{
    outbuf_t o;
    CU_ASSERT_EQUAL_FATAL(outbuf_init(&o, 16), 0);
    outbuf_append(&o, "hello ", 6);
    outbuf_append(&o, "world", 5);
    char *s = outbuf_render(&o);
    CU_ASSERT_STRING_EQUAL(s, "hello world");
    free(s);
    outbuf_free(&o);
}

static void test_empty(void)
{
    outbuf_t o;
    CU_ASSERT_EQUAL_FATAL(outbuf_init(&o, 8), 0);
    char *s = outbuf_render(&o);
    CU_ASSERT_STRING_EQUAL(s, "");
    free(s);
    outbuf_free(&o);
}

/* The last bytes survive, whatever the write sizes; with the prefix the
 * whole output fits in cap. */
static void test_wrap(void)
{
    outbuf_t o;
    CU_ASSERT_EQUAL_FATAL(outbuf_init(&o, 50), 0);
    const char *parts[] = {"0123456789", "abcdefghij", "ABCDEFGHIJ", "klmnopqrst", "KLMNOPQRST",
                           "uvwxyz"};
    for (size_t i = 0; i < 6; i++) outbuf_append(&o, parts[i], strlen(parts[i]));
    char *s = outbuf_render(&o);
    /* 56 written; prefix "Captured 22 of 56 bytes\n...\n" is 28 bytes */
    CU_ASSERT_STRING_EQUAL(s, "Captured 22 of 56 bytes\n...\nopqrstKLMNOPQRSTuvwxyz");
    CU_ASSERT_EQUAL(strlen(s), 50);
    free(s);
    outbuf_free(&o);
    /* exactly full is not truncated */
    CU_ASSERT_EQUAL_FATAL(outbuf_init(&o, 4), 0);
    outbuf_append(&o, "ab", 2);
    outbuf_append(&o, "cd", 2);
    s = outbuf_render(&o);
    CU_ASSERT_STRING_EQUAL(s, "abcd");
    free(s);
    /* too small for a prefix: the tail alone */
    outbuf_append(&o, "e", 1);
    s = outbuf_render(&o);
    CU_ASSERT_STRING_EQUAL(s, "bcde");
    free(s);
    outbuf_free(&o);
}

static void test_big_write(void)
{
    outbuf_t o;
    CU_ASSERT_EQUAL_FATAL(outbuf_init(&o, 4096), 0);
    size_t n = 100000;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++) big[i] = (char)('a' + i % 26);
    outbuf_append(&o, "x", 1);
    outbuf_append(&o, big, n);
    char *s = outbuf_render(&o);
    const char *nl = strstr(s, "\n...\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(nl);
    CU_ASSERT_EQUAL(strlen(s), 4096);
    size_t kept = strlen(nl + 5);
    char want[64];
    snprintf(want, sizeof want, "Captured %zu of 100001 bytes", kept);
    CU_ASSERT_EQUAL(strncmp(s, want, strlen(want)), 0);
    CU_ASSERT_EQUAL(memcmp(nl + 5, big + n - kept, kept), 0);
    free(s);
    free(big);
    outbuf_free(&o);
}

static void test_utf8(void)
{
    char *s = utf8_sanitize("h\xc3\xa9llo", 6);
    CU_ASSERT_STRING_EQUAL(s, "h\xc3\xa9llo");
    free(s);
    /* a cut sequence, a NUL, an overlong and a surrogate */
    s = utf8_sanitize("a\xc3", 2);
    CU_ASSERT_STRING_EQUAL(s, "a\xef\xbf\xbd");
    free(s);
    s = utf8_sanitize("a\0b", 3);
    CU_ASSERT_STRING_EQUAL(s, "a\xef\xbf\xbd" "b");
    free(s);
    s = utf8_sanitize("\xc0\xaf", 2);
    CU_ASSERT_STRING_EQUAL(s, "\xef\xbf\xbd\xef\xbf\xbd");
    free(s);
    s = utf8_sanitize("\xed\xa0\x80", 3);
    CU_ASSERT_STRING_EQUAL(s, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    free(s);
    s = utf8_sanitize("\xf0\x9f\x98\x80", 4);
    CU_ASSERT_STRING_EQUAL(s, "\xf0\x9f\x98\x80");
    free(s);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("check_output", NULL, NULL);
    CU_add_test(s, "small output kept whole", test_small);
    CU_add_test(s, "empty output", test_empty);
    CU_add_test(s, "ring keeps the last bytes", test_wrap);
    CU_add_test(s, "one write larger than the ring", test_big_write);
    CU_add_test(s, "utf8 repair", test_utf8);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned f = CU_get_number_of_failures();
    CU_cleanup_registry();
    return f ? 1 : 0;
}
