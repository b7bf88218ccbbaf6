/*
 * helpers.h - shared helpers for the state store's CUnit programs: open a
 * store, encode and apply commands at the next index, read KV rows, count
 * watch firings, run a suite and exit non-zero on any failure.
 */
#ifndef TB_STATE_TEST_HELPERS_H
#define TB_STATE_TEST_HELPERS_H

#include <CUnit/CUnit.h>
#include "state/state.h"

tb__state_t *th_open(tb__watch_reg_t *reg);

/* Apply a KV op at the next index; returns res.applied, status in *status
 * (may be NULL). */
int th_kv(tb__state_t *st, tb_kv_verb_t verb, const char *key, const char *value,
          uint64_t flags, uint64_t index, const char *session, int64_t now_ms,
          tb_status_t *status);
/* Apply a JSON-bodied command (body given as JSON text) at the next index.
 * Returns the status; the error message, if any, in *err (malloc'd) when err
 * is not NULL. */
tb_status_t th_json(tb__state_t *st, uint8_t type, const char *json, int64_t now_ms, char **err);
/* Apply raw bytes at a given index: the return of tb__fsm_apply. */
int th_raw(tb__state_t *st, uint64_t index, const void *data, size_t len, tb__apply_result_t *res);

/* Get one key: 1 found (row copied into *e, borrowed from rows), 0 missing. */
int th_get(tb__state_t *st, const char *key, tb__kv_rows_t *rows, uint64_t *index);

/* A watch callback that counts into an int. */
void th_count_cb(void *arg);

/* Register the JSON array of a string for comparisons. */
json_t *th_j(const char *text);

/* Run the CUnit suite; the process exit status. */
int th_run(const char *suite, const CU_TestInfo *tests);

#endif
