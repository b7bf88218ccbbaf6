/*
 * test_log.c - CUnit tests of the logger: the text line shape (UTC
 * timestamp with milliseconds, padded level, module), the JSON line (keys,
 * escaping, microseconds), level filtering, level name parsing, and
 * sinks below the logger's level in text or JSON (/v1/agent/monitor).
 */
#define _GNU_SOURCE
#include <CUnit/Basic.h>
#include <jansson.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "agent/log.h"

/* Everything written to `f` since the start, as a malloc'd string. */
static char *slurp(FILE *f)
{
    fflush(f);
    long n = ftell(f);
    rewind(f);
    char *buf = calloc(1, (size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        return NULL;
    }
    return buf;
}

static int matches(const char *re_text, const char *s)
{
    regex_t re;
    if (regcomp(&re, re_text, REG_EXTENDED | REG_NOSUB) != 0)
        return 0;
    int ok = regexec(&re, s, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

static void test_text_format(void)
{
    FILE *f = tmpfile();
    CU_ASSERT_FATAL(f != NULL);
    tb__logger_t l;
    tb__logger_init(&l, TB_LOG_TRACE, 0, f);
    tb__log(&l, TB_LOG_INFO, "agent", "hello %s %d", "world", 42);
    tb__log(&l, TB_LOG_WARN, "agent.http", "careful");
    tb__log(&l, TB_LOG_DEBUG, "raft", "debugging");
    tb__log(&l, TB_LOG_ERROR, "agent", "boom\n");
    tb__log(&l, TB_LOG_TRACE, "x", "t");
    char *out = slurp(f);
    CU_ASSERT_FATAL(out != NULL);
    const char *ts = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z ";
    char *save = NULL;
    char *line = strtok_r(out, "\n", &save);
    char re[256];
    snprintf(re, sizeof(re), "%s\\[INFO\\]  agent: hello world 42$", ts);
    CU_ASSERT(line && matches(re, line));
    line = strtok_r(NULL, "\n", &save);
    snprintf(re, sizeof(re), "%s\\[WARN\\]  agent.http: careful$", ts);
    CU_ASSERT(line && matches(re, line));
    line = strtok_r(NULL, "\n", &save);
    snprintf(re, sizeof(re), "%s\\[DEBUG\\] raft: debugging$", ts);
    CU_ASSERT(line && matches(re, line));
    line = strtok_r(NULL, "\n", &save);
    /* a trailing newline in the message does not make an empty line */
    snprintf(re, sizeof(re), "%s\\[ERROR\\] agent: boom$", ts);
    CU_ASSERT(line && matches(re, line));
    line = strtok_r(NULL, "\n", &save);
    snprintf(re, sizeof(re), "%s\\[TRACE\\] x: t$", ts);
    CU_ASSERT(line && matches(re, line));
    CU_ASSERT_PTR_NULL(strtok_r(NULL, "\n", &save));
    free(out);
    fclose(f);
}

static void test_text_exact_shape(void)
{
    FILE *f = tmpfile();
    CU_ASSERT_FATAL(f != NULL);
    tb__logger_t l;
    tb__logger_init(&l, TB_LOG_INFO, 0, f);
    tb__log(&l, TB_LOG_INFO, "agent", "m");
    char *out = slurp(f);
    CU_ASSERT_FATAL(out != NULL);
    /* "2026-11-25T10:00:00.000Z [INFO]  agent: m\n" */
    CU_ASSERT_EQUAL(strlen(out), 24 + 1 + 8 + 8 + 1);
    CU_ASSERT(strncmp(out + 24, " [INFO]  agent: m\n", 18) == 0);
    free(out);
    fclose(f);
}

static void test_level_filter(void)
{
    FILE *f = tmpfile();
    CU_ASSERT_FATAL(f != NULL);
    tb__logger_t l;
    tb__logger_init(&l, TB_LOG_WARN, 0, f);
    CU_ASSERT(!TB__LOG_ENABLED(&l, TB_LOG_INFO));
    CU_ASSERT(TB__LOG_ENABLED(&l, TB_LOG_WARN));
    tb__log(&l, TB_LOG_DEBUG, "agent", "no");
    tb__log(&l, TB_LOG_INFO, "agent", "no");
    tb__log(&l, TB_LOG_ERROR, "agent", "yes");
    char *out = slurp(f);
    CU_ASSERT_FATAL(out != NULL);
    CU_ASSERT_PTR_NULL(strstr(out, "no"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "[ERROR] agent: yes"));
    free(out);
    fclose(f);
}

static void test_json_format(void)
{
    FILE *f = tmpfile();
    CU_ASSERT_FATAL(f != NULL);
    tb__logger_t l;
    tb__logger_init(&l, TB_LOG_DEBUG, 1, f);
    tb__log(&l, TB_LOG_INFO, "agent", "quote \" backslash \\ tab \t done");
    tb__log(&l, TB_LOG_WARN, "agent.dns", "second");
    tb__log(&l, TB_LOG_TRACE, "agent", "filtered");
    char *out = slurp(f);
    CU_ASSERT_FATAL(out != NULL);
    /* exact key order and compact separators */
    CU_ASSERT(matches("^\\{\"@level\":\"info\",\"@message\":\"quote \\\\\" backslash \\\\\\\\ "
                      "tab \\\\t done\",\"@module\":\"agent\",\"@timestamp\":\"[0-9]{4}-[0-9]{2}-"
                      "[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z\"\\}\n",
                      out));
    char *save = NULL;
    int n = 0;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_error_t e;
        json_t *j = json_loads(line, 0, &e);
        CU_ASSERT_PTR_NOT_NULL(j);
        if (n == 0) {
            CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "@message")),
                                   "quote \" backslash \\ tab \t done");
        } else {
            CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "@level")), "warn");
            CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "@module")),
                                   "agent.dns");
        }
        json_decref(j);
        n++;
    }
    CU_ASSERT_EQUAL(n, 2);
    free(out);
    fclose(f);
}

static void test_long_message(void)
{
    FILE *f = tmpfile();
    CU_ASSERT_FATAL(f != NULL);
    tb__logger_t l;
    tb__logger_init(&l, TB_LOG_INFO, 0, f);
    char *big = malloc(10001);
    CU_ASSERT_FATAL(big != NULL);
    memset(big, 'x', 10000);
    big[10000] = '\0';
    tb__log(&l, TB_LOG_INFO, "agent", "%s", big);
    char *out = slurp(f);
    CU_ASSERT_FATAL(out != NULL);
    CU_ASSERT_EQUAL(strlen(out), 24 + 1 + 8 + 7 + 10000 + 1);
    CU_ASSERT_EQUAL(out[strlen(out) - 1], '\n');
    free(out);
    free(big);
    fclose(f);
}

/* A sink keeps what it got, with the level of each line. */
typedef struct seen {
    char buf[4096];
    size_t len;
    int n;
} seen_t;

static void on_sink(void *arg, tb_log_level_t level, const char *line)
{
    seen_t *s = arg;
    (void)level;
    size_t n = strlen(line);
    if (s->len + n < sizeof(s->buf)) {
        memcpy(s->buf + s->len, line, n + 1);
        s->len += n;
    }
    s->n++;
}

/* /v1/agent/monitor?loglevel=debug[&logjson] on an info agent: sinks get
 * lines below the logger's level in the form they asked for; the output
 * does not; without sinks a debug line is not even enabled. */
static void test_watch_levels(void)
{
    FILE *f = tmpfile();
    CU_ASSERT_FATAL(f != NULL);
    tb__logger_t l;
    tb__logger_init(&l, TB_LOG_INFO, 0, f);
    CU_ASSERT(!TB__LOG_ENABLED(&l, TB_LOG_DEBUG));
    seen_t text = {.len = 0}, json = {.len = 0}, warn = {.len = 0};
    tb__log_watch_t *wt = tb__log_watch_add(&l, TB_LOG_DEBUG, on_sink, &text);
    tb__log_watch_t *wj = tb__log_watch_add(
        &l, (tb_log_level_t)(TB_LOG_TRACE | TB_LOG_WATCH_JSON), on_sink, &json);
    tb__log_watch_t *ww = tb__log_watch_add(&l, TB_LOG_WARN, on_sink, &warn);
    CU_ASSERT_FATAL(wt && wj && ww);
    CU_ASSERT(TB__LOG_ENABLED(&l, TB_LOG_TRACE));
    tb__log(&l, TB_LOG_TRACE, "raft", "tick");
    tb__log(&l, TB_LOG_DEBUG, "http", "request finished");
    tb__log(&l, TB_LOG_INFO, "agent", "hello");
    char *out = slurp(f);
    CU_ASSERT_FATAL(out != NULL);
    CU_ASSERT(strstr(out, "hello") != NULL);
    CU_ASSERT(strstr(out, "request finished") == NULL); /* the output stays at info */
    free(out);
    CU_ASSERT_EQUAL(text.n, 2);
    CU_ASSERT(matches("\\[DEBUG\\] http: request finished\n.*\\[INFO\\]  agent: hello\n$", text.buf));
    CU_ASSERT_EQUAL(json.n, 3);
    const char *jp = "{\"@level\":\"trace\",\"@message\":\"tick\",\"@module\":\"raft\",\"@timestamp\":\"";
    CU_ASSERT(strncmp(json.buf, jp, strlen(jp)) == 0);
    CU_ASSERT_EQUAL(warn.n, 0);
    tb__log_watch_remove(&l, wj);
    CU_ASSERT(!TB__LOG_ENABLED(&l, TB_LOG_TRACE));
    CU_ASSERT(TB__LOG_ENABLED(&l, TB_LOG_DEBUG));
    tb__log_watch_remove(&l, wt);
    tb__log_watch_remove(&l, ww);
    CU_ASSERT(!TB__LOG_ENABLED(&l, TB_LOG_DEBUG)); /* nobody watches: back to the cheap path */
    fclose(f);
}

static void test_level_names(void)
{
    CU_ASSERT_EQUAL(tb__log_level_parse("trace"), TB_LOG_TRACE);
    CU_ASSERT_EQUAL(tb__log_level_parse("DEBUG"), TB_LOG_DEBUG);
    CU_ASSERT_EQUAL(tb__log_level_parse("Info"), TB_LOG_INFO);
    CU_ASSERT_EQUAL(tb__log_level_parse("warn"), TB_LOG_WARN);
    CU_ASSERT_EQUAL(tb__log_level_parse("err"), TB_LOG_ERROR);
    CU_ASSERT_EQUAL(tb__log_level_parse("ERROR"), TB_LOG_ERROR);
    CU_ASSERT_EQUAL(tb__log_level_parse("loud"), -1);
    CU_ASSERT_EQUAL(tb__log_level_parse(""), -1);
    CU_ASSERT_EQUAL(tb__log_level_parse(NULL), -1);
    CU_ASSERT_STRING_EQUAL(tb__log_level_name(TB_LOG_INFO), "INFO");
    CU_ASSERT_STRING_EQUAL(tb__log_level_name(TB_LOG_ERROR), "ERROR");
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("log", NULL, NULL);
    CU_add_test(s, "text format", test_text_format);
    CU_add_test(s, "text exact shape", test_text_exact_shape);
    CU_add_test(s, "level filter", test_level_filter);
    CU_add_test(s, "json format", test_json_format);
    CU_add_test(s, "long message", test_long_message);
    CU_add_test(s, "level names", test_level_names);
    CU_add_test(s, "watch levels and forms", test_watch_levels);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails == 0 ? 0 : 1;
}
