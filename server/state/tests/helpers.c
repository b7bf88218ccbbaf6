/*
 * helpers.c - shared helpers for the state store's CUnit programs (see
 * helpers.h).
 */
#include <stdlib.h>
#include <string.h>
#include <CUnit/Basic.h>

#include "helpers.h"

tb__state_t *th_open(tb__watch_reg_t *reg)
{
    tb__state_t *st = NULL;
    char *err = NULL;
    int rc = tb__state_open(&st, reg, &err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    free(err);
    return st;
}

int th_raw(tb__state_t *st, uint64_t index, const void *data, size_t len, tb__apply_result_t *res)
{
    return tb__fsm_apply(st, index, data, len, res);
}

int th_kv(tb__state_t *st, tb_kv_verb_t verb, const char *key, const char *value,
          uint64_t flags, uint64_t index, const char *session, int64_t now_ms,
          tb_status_t *status)
{
    tb_kv_write_t op = {sizeof(op), verb, key, value, value ? strlen(value) : 0, flags, index,
                        session};
    tb__buf_t b;
    CU_ASSERT_EQUAL_FATAL(tb__cmd_encode_kv(&op, now_ms, &b), 0);
    tb__apply_result_t res;
    int rc = tb__fsm_apply(st, tb__state_last_index(st) + 1, b.data, b.len, &res);
    CU_ASSERT_EQUAL(rc, 0);
    tb__buf_free(&b);
    int applied = res.applied;
    if (status)
        *status = res.status;
    tb__apply_result_clear(&res);
    return applied;
}

tb_status_t th_json(tb__state_t *st, uint8_t type, const char *json, int64_t now_ms, char **err)
{
    json_error_t je;
    json_t *body = json_loads(json, 0, &je);
    CU_ASSERT_PTR_NOT_NULL_FATAL(body);
    tb__buf_t b;
    CU_ASSERT_EQUAL_FATAL(tb__cmd_encode_json(type, body, now_ms, &b), 0);
    json_decref(body);
    tb__apply_result_t res;
    int rc = tb__fsm_apply(st, tb__state_last_index(st) + 1, b.data, b.len, &res);
    CU_ASSERT_EQUAL(rc, 0);
    tb__buf_free(&b);
    tb_status_t s = res.status;
    if (err) {
        *err = res.error;
        res.error = NULL;
    }
    tb__apply_result_clear(&res);
    return s;
}

int th_get(tb__state_t *st, const char *key, tb__kv_rows_t *rows, uint64_t *index)
{
    CU_ASSERT_EQUAL_FATAL(tb__state_kv_get(st, key, rows, index), 0);
    return rows->n == 1;
}

void th_count_cb(void *arg)
{
    (*(int *)arg)++;
}

json_t *th_j(const char *text)
{
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    return v;
}

int th_run(const char *suite, const CU_TestInfo *tests)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite s = CU_add_suite(suite, NULL, NULL);
    if (!s)
        return 2;
    for (const CU_TestInfo *t = tests; t->pName; t++)
        if (!CU_add_test(s, t->pName, t->pTestFunc))
            return 2;
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures();
    unsigned run = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    return failures || run == 0 ? 1 : 0;
}
