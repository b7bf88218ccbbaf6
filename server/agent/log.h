/*
 * log.h - the agent's logger: Consul-like lines
 *   2026-11-25T10:00:00.000Z [INFO]  agent: message
 * or, with -log-json, one JSON object per line
 *   {"@level":"info","@message":"...","@module":"agent","@timestamp":"..."}
 * A logger is a plain value inside the agent context (no globals).
 */
#ifndef TB_LOG_H
#define TB_LOG_H

#include <stdarg.h>
#include <stdio.h>
#include <tribune/plugin.h>

/* A sink receives every formatted line at or above its own level, in the
 * text or JSON form it asked for, whatever the logger's level
 * (/v1/agent/monitor?loglevel=trace on an agent at info). */
typedef void (*tb__log_sink_fn)(void *arg, tb_log_level_t level, const char *line);

typedef struct tb__log_watch tb__log_watch_t;

typedef struct tb__logger {
    tb_log_level_t level;       /* of the lines written to `out` */
    tb_log_level_t watch_level; /* lowest level a sink asked for; above ERROR when none */
    int json;
    FILE *out; /* stderr by default */
    tb__log_watch_t *watches; /* sinks (loop thread only) */
} tb__logger_t;

/* Add a sink for lines at or above `level`, which may carry
 * TB_LOG_WATCH_JSON for lines in the JSON form. The sink may remove itself
 * while it runs. NULL when out of memory. */
tb__log_watch_t *tb__log_watch_add(tb__logger_t *l, tb_log_level_t level, tb__log_sink_fn fn,
                                   void *arg);
void tb__log_watch_remove(tb__logger_t *l, tb__log_watch_t *w);

void tb__logger_init(tb__logger_t *l, tb_log_level_t level, int json, FILE *out);
/* "trace" "debug" "info" "warn" "err"/"error" (any case) -> level; -1 if unknown. */
int tb__log_level_parse(const char *s);
const char *tb__log_level_name(tb_log_level_t level); /* "INFO" */

void tb__log(const tb__logger_t *l, tb_log_level_t level, const char *module, const char *fmt, ...)
    TB_PRINTF(4, 5);
void tb__vlog(const tb__logger_t *l, tb_log_level_t level, const char *module, const char *fmt,
              va_list ap);

/* Is a line at lvl wanted by the output or a sink? Two compares, so a
 * debug line costs nothing on an info agent nobody monitors. */
#define TB__LOG_ENABLED(l, lvl) ((lvl) >= (l)->level || (lvl) >= (l)->watch_level)

#endif
