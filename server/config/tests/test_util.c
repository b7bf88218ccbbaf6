/*
 * test_util.c - CUnit tests of tb__parse_duration (Go syntax: valid and
 * invalid forms, fractions, combined units, overflow) and of the base64
 * codec (round trips, known vectors, rejects).
 */
#include <CUnit/Basic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/tb_config.h"

#define NS 1ULL
#define US (1000ULL * NS)
#define MS (1000ULL * US)
#define SEC (1000ULL * MS)
#define MIN (60ULL * SEC)
#define HOUR (60ULL * MIN)

static void test_duration_valid(void)
{
    static const struct {
        const char *in;
        uint64_t ns;
    } cases[] = {
        {"0", 0},
        {"0s", 0},
        {"10s", 10 * SEC},
        {"+5s", 5 * SEC},
        {"300ms", 300 * MS},
        {"1h", HOUR},
        {"72h", 72 * HOUR},
        {"5m", 5 * MIN},
        {"1m30s", 90 * SEC},
        {"1h2m3s4ms5us6ns", HOUR + 2 * MIN + 3 * SEC + 4 * MS + 5 * US + 6 * NS},
        {"9.87s", 9 * SEC + 870 * MS},
        {"1.5h", HOUR + 30 * MIN},
        {".5s", 500 * MS},
        {"5.s", 5 * SEC},
        {"2us", 2 * US},
        {"2\xc2\xb5s", 2 * US},  /* micro sign */
        {"2\xce\xbcs", 2 * US},  /* greek mu */
        {"100ns", 100},
        {"0.000000001s", 1},
        {"87600h", 87600ULL * HOUR},
        {"9223372036854775807ns", 9223372036854775807ULL},
        {"2562047h", 2562047ULL * HOUR},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t ns = 12345;
        int rc = tb__parse_duration(cases[i].in, &ns);
        if (rc != 0 || ns != cases[i].ns)
            fprintf(stderr, "\n  %s -> rc %d, %llu (want %llu)\n", cases[i].in, rc,
                    (unsigned long long)ns, (unsigned long long)cases[i].ns);
        CU_ASSERT_EQUAL(rc, 0);
        CU_ASSERT_EQUAL(ns, cases[i].ns);
    }
}

static void test_duration_invalid(void)
{
    static const char *const bad[] = {
        "",        /* empty */
        "10",      /* no unit */
        "1.5",     /* no unit */
        "-5s",     /* negative */
        "-0s",
        "s",       /* no number */
        ".s",
        "5x",      /* unknown unit */
        "5 s",     /* space */
        "5S",      /* units are case-sensitive */
        "1m30",    /* trailing number without unit */
        "5ss",
        "9223372036854775808ns", /* > int64 */
        "2562048h",              /* overflow after scaling */
        "99999999999999999999s",
        "1h-5m",
        "abc",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t ns = 0;
        int rc = tb__parse_duration(bad[i], &ns);
        if (rc != -1)
            fprintf(stderr, "\n  \"%s\" unexpectedly parsed as %llu\n", bad[i],
                    (unsigned long long)ns);
        CU_ASSERT_EQUAL(rc, -1);
    }
    uint64_t ns;
    CU_ASSERT_EQUAL(tb__parse_duration(NULL, &ns), -1);
}

static void roundtrip(const void *data, size_t len, const char *expect)
{
    char *enc = tb__base64_encode(data, len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(enc);
    if (expect)
        CU_ASSERT_STRING_EQUAL(enc, expect);
    CU_ASSERT_EQUAL(strlen(enc) % 4, 0);
    void *dec = NULL;
    size_t dlen = 99;
    CU_ASSERT_EQUAL_FATAL(tb__base64_decode(enc, strlen(enc), &dec, &dlen), 0);
    CU_ASSERT_EQUAL(dlen, len);
    CU_ASSERT(memcmp(dec, data, len) == 0);
    CU_ASSERT_EQUAL(((char *)dec)[dlen], '\0'); /* NUL-terminated for callers */
    free(dec);
    free(enc);
}

static void test_base64_vectors(void)
{
    /* RFC 4648 §10 */
    roundtrip("", 0, "");
    roundtrip("f", 1, "Zg==");
    roundtrip("fo", 2, "Zm8=");
    roundtrip("foo", 3, "Zm9v");
    roundtrip("foob", 4, "Zm9vYg==");
    roundtrip("fooba", 5, "Zm9vYmE=");
    roundtrip("foobar", 6, "Zm9vYmFy");
    roundtrip("\xff\xfe\xfd", 3, "//79");
    roundtrip("\xfb\xef", 2, "++8=");
}

static void test_base64_binary_roundtrip(void)
{
    unsigned char buf[1027];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (unsigned char)(i * 131 + 7);
    for (size_t len = 0; len < 70; len++)
        roundtrip(buf, len, NULL);
    roundtrip(buf, sizeof(buf), NULL);
    unsigned char zeros[5] = {0};
    roundtrip(zeros, sizeof(zeros), "AAAAAAA=");
}

static void test_base64_rejects(void)
{
    static const char *const bad[] = {
        "Zg",       /* missing padding */
        "Zg=",      /* short padding */
        "Z===",     /* too much padding */
        "====",
        "Zm9v!",    /* bad character */
        "Zm 9v",    /* space */
        "Zm9v-_==", /* URL alphabet */
        "Zg==Zg==", /* data after padding */
        "Zm=v",     /* padding in the middle */
        "Zm9vY",    /* truncated */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        void *out = (void *)1;
        size_t len = 0;
        int rc = tb__base64_decode(bad[i], strlen(bad[i]), &out, &len);
        if (rc != -1)
            fprintf(stderr, "\n  \"%s\" unexpectedly decoded\n", bad[i]);
        CU_ASSERT_EQUAL(rc, -1);
        if (rc == 0)
            free(out);
    }
    /* line breaks are ignored, as Go's decoder does */
    void *out;
    size_t len;
    CU_ASSERT_EQUAL_FATAL(tb__base64_decode("Zm9v\nYmFy\n", 10, &out, &len), 0);
    CU_ASSERT_EQUAL(len, 6);
    CU_ASSERT(memcmp(out, "foobar", 6) == 0);
    free(out);
    /* length is honoured: no need for a NUL */
    CU_ASSERT_EQUAL_FATAL(tb__base64_decode("Zm9vXXXX", 4, &out, &len), 0);
    CU_ASSERT_EQUAL(len, 3);
    free(out);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("util", NULL, NULL);
    CU_add_test(s, "duration valid", test_duration_valid);
    CU_add_test(s, "duration invalid", test_duration_invalid);
    CU_add_test(s, "base64 vectors", test_base64_vectors);
    CU_add_test(s, "base64 binary round trip", test_base64_binary_roundtrip);
    CU_add_test(s, "base64 rejects", test_base64_rejects);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails == 0 ? 0 : 1;
}
