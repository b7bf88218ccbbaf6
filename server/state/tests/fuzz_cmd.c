/*
 * fuzz_cmd.c - libFuzzer target for the FSM's command decoding and apply
 * (built only by `make fuzz-state`, with clang -fsanitize=fuzzer,address).
 *
 * Each input is applied to a fresh store that already holds a node, a
 * service, a check, a session and a locked key, so well-formed commands
 * that the fuzzer stumbles on exercise the apply paths too. Whatever the
 * bytes, apply must return cleanly (never crash, leak or read out of
 * bounds) and the store must stay readable.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "state/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void apply_json(tb__state_t *st, uint8_t type, const char *text)
{
    json_t *body = json_loads(text, 0, NULL);
    tb__buf_t b;
    if (body && tb__cmd_encode_json(type, body, 0, &b) == 0) {
        tb__apply_result_t res;
        tb__fsm_apply(st, tb__state_last_index(st) + 1, b.data, b.len, &res);
        tb__apply_result_clear(&res);
        tb__buf_free(&b);
    }
    json_decref(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tb__watch_reg_t *reg = tb__watch_reg_new();
    tb__state_t *st = NULL;
    if (tb__state_open(&st, reg, NULL) != 0)
        abort();
    apply_json(st, TB__CMD_REGISTER,
               "{\"Node\":\"n1\",\"Address\":\"127.0.0.1\",\"Service\":{\"Service\":\"web\"},"
               "\"Check\":{\"CheckID\":\"c\",\"Status\":\"passing\",\"ServiceID\":\"web\"}}");
    apply_json(st, TB__CMD_SESSION,
               "{\"Op\":\"create\",\"Session\":{\"ID\":\"s\",\"Node\":\"n1\",\"LockDelay\":1}}");
    tb_kv_write_t op = {sizeof(op), TB_KV_LOCK, "k", "v", 1, 0, 0, "s"};
    tb__buf_t b;
    if (tb__cmd_encode_kv(&op, 0, &b) == 0) {
        tb__apply_result_t res;
        tb__fsm_apply(st, tb__state_last_index(st) + 1, b.data, b.len, &res);
        tb__apply_result_clear(&res);
        tb__buf_free(&b);
    }
    tb__watch_t *w = tb__watch_new(reg, NULL, NULL);
    tb__watch_free(w);

    tb__apply_result_t res;
    tb__fsm_apply(st, tb__state_last_index(st) + 1, data, size, &res);
    if (res.status != TB_OK && !res.error)
        abort(); /* a refusal always says why */
    tb__apply_result_clear(&res);

    uint64_t idx;
    json_t *v = tb__state_health_service(st, "web", NULL, 0, &idx);
    if (!v || idx == 0)
        abort();
    json_decref(v);
    tb__kv_rows_t rows;
    if (tb__state_kv_list(st, "", &rows, &idx) != 0 || idx == 0)
        abort();
    tb__kv_rows_free(&rows);
    tb__watch_flush(reg);
    tb__state_close(st);
    tb__watch_reg_free(reg);
    return 0;
}
