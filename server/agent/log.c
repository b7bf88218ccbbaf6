/*
 * log.c - the agent's logger (see log.h). Each line is built completely in
 * a buffer and written with one fwrite + fflush, so lines from the loop and
 * from worker threads sharing the same FILE never interleave mid-line.
 * Text lines look like Consul's (hclog):
 *   2026-11-25T10:00:00.000Z [INFO]  agent: message
 * JSON lines carry the same facts with microsecond timestamps. A line is
 * built in each form someone wants: the output's, and the form of each
 * sink (/v1/agent/monitor, ?logjson) whose level it reaches.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "agent/log.h"

static const char *const level_upper[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR"};
static const char *const level_lower[] = {"trace", "debug", "info", "warn", "error"};

void tb__logger_init(tb__logger_t *l, tb_log_level_t level, int json, FILE *out)
{
    l->level = level;
    l->watch_level = TB_LOG_ERROR + 1;
    l->json = json ? 1 : 0;
    l->out = out ? out : stderr;
    l->watches = NULL;
}

/* Sinks (/v1/agent/monitor): a plain list, walked with the next pointer
 * saved so a sink can remove itself. */
struct tb__log_watch {
    tb__log_watch_t *next;
    tb_log_level_t level;
    int json;
    tb__log_sink_fn fn;
    void *arg;
};

static void watch_level_update(tb__logger_t *l)
{
    int min = TB_LOG_ERROR + 1;
    for (tb__log_watch_t *w = l->watches; w; w = w->next)
        if ((int)w->level < min)
            min = (int)w->level;
    l->watch_level = (tb_log_level_t)min;
}

tb__log_watch_t *tb__log_watch_add(tb__logger_t *l, tb_log_level_t level, tb__log_sink_fn fn,
                                   void *arg)
{
    tb__log_watch_t *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->json = ((int)level & TB_LOG_WATCH_JSON) != 0;
    w->level = (tb_log_level_t)((int)level & ~TB_LOG_WATCH_JSON);
    if ((int)w->level < TB_LOG_TRACE)
        w->level = TB_LOG_TRACE;
    w->fn = fn;
    w->arg = arg;
    w->next = l->watches;
    l->watches = w;
    watch_level_update(l);
    return w;
}

void tb__log_watch_remove(tb__logger_t *l, tb__log_watch_t *w)
{
    for (tb__log_watch_t **p = &l->watches; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            free(w);
            watch_level_update(l);
            return;
        }
}

int tb__log_level_parse(const char *s)
{
    static const struct {
        const char *name;
        tb_log_level_t level;
    } names[] = {
        {"trace", TB_LOG_TRACE}, {"debug", TB_LOG_DEBUG}, {"info", TB_LOG_INFO},
        {"warn", TB_LOG_WARN},   {"warning", TB_LOG_WARN}, {"err", TB_LOG_ERROR},
        {"error", TB_LOG_ERROR},
    };
    if (s == NULL)
        return -1;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(s, names[i].name) == 0)
            return (int)names[i].level;
    return -1;
}

const char *tb__log_level_name(tb_log_level_t level)
{
    if ((int)level < TB_LOG_TRACE || level > TB_LOG_ERROR)
        return "UNKNOWN";
    return level_upper[level];
}

/* Format the message; small messages stay on the stack. Returns a pointer to
 * either `stackbuf` or a malloc'd string (*heap set), or NULL on failure. */
static char *format_message(char *stackbuf, size_t stacklen, char **heap, const char *fmt,
                            va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(stackbuf, stacklen, fmt, cp);
    va_end(cp);
    *heap = NULL;
    if (n < 0)
        return NULL;
    if ((size_t)n < stacklen)
        return stackbuf;
    char *p = malloc((size_t)n + 1);
    if (p == NULL)
        return NULL;
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    *heap = p;
    return p;
}

/* Current UTC time as 2026-11-25T10:00:00 plus the fraction with `digits`
 * digits (3 = ms, 6 = us) and a trailing Z. */
static void format_time(char *buf, size_t len, int digits)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char base[24];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    unsigned frac = (unsigned)ts.tv_nsec % 1000000000u;
    if (digits == 3)
        snprintf(buf, len, "%.19s.%03uZ", base, frac / 1000000u);
    else
        snprintf(buf, len, "%.19s.%06uZ", base, frac / 1000u);
}

/* Which forms of a line at `level` are wanted. */
enum { WANT_OUT = 1, WANT_TEXT = 2, WANT_JSON = 4 };

static int wanted(const tb__logger_t *l, tb_log_level_t level)
{
    int want = 0;
    if (level >= l->level)
        want |= WANT_OUT | (l->json ? WANT_JSON : WANT_TEXT);
    if (level >= l->watch_level)
        for (const tb__log_watch_t *w = l->watches; w; w = w->next)
            if (level >= w->level)
                want |= w->json ? WANT_JSON : WANT_TEXT;
    return want;
}

/* Write a line of one form to the output (when it is the output's form and
 * level) and to the sinks that asked for that form. */
static void write_line(const tb__logger_t *l, tb_log_level_t level, int json, int want,
                       const char *line, size_t len)
{
    if ((want & WANT_OUT) && json == l->json) {
        fwrite(line, 1, len, l->out);
        fflush(l->out);
    }
    if (level < l->watch_level)
        return;
    for (tb__log_watch_t *w = l->watches, *next; w; w = next) {
        next = w->next;
        if (level >= w->level && w->json == json)
            w->fn(w->arg, level, line);
    }
}

static void log_text(const tb__logger_t *l, tb_log_level_t level, int want, const char *module,
                     const char *msg)
{
    char ts[48];
    format_time(ts, sizeof(ts), 3);

    /* "[INFO]" padded to 8 columns so the module column aligns. */
    char tag[16];
    snprintf(tag, sizeof(tag), "[%s]", tb__log_level_name(level));

    size_t mlen = strlen(msg);
    while (mlen > 0 && msg[mlen - 1] == '\n')
        mlen--;
    int has_module = module != NULL && module[0] != '\0';
    size_t need = strlen(ts) + 1 + 8 + (has_module ? strlen(module) + 2 : 0) + mlen + 2;

    char stackline[1024];
    char *line = need <= sizeof(stackline) ? stackline : malloc(need);
    if (line == NULL)
        return;
    int n = snprintf(line, need, "%s %-8s%s%s%.*s\n", ts, tag, has_module ? module : "",
                     has_module ? ": " : "", (int)mlen, msg);
    if (n > 0)
        write_line(l, level, 0, want, line, (size_t)n < need ? (size_t)n : need - 1);
    if (line != stackline)
        free(line);
}

static void log_json(const tb__logger_t *l, tb_log_level_t level, int want, const char *module,
                     const char *msg)
{
    char ts[48];
    format_time(ts, sizeof(ts), 6);
    int lv = (int)level;
    if (lv < TB_LOG_TRACE || lv > TB_LOG_ERROR)
        lv = TB_LOG_ERROR;

    size_t mlen = strlen(msg);
    while (mlen > 0 && msg[mlen - 1] == '\n')
        mlen--;

    json_t *o = json_object();
    if (o == NULL)
        return;
    json_object_set_new(o, "@level", json_string(level_lower[lv]));
    json_t *m = json_stringn(msg, mlen);
    if (m == NULL) {
        /* Not UTF-8: replace the non-ASCII bytes rather than lose the line. */
        char *clean = malloc(mlen + 1);
        if (clean == NULL) {
            json_decref(o);
            return;
        }
        for (size_t i = 0; i < mlen; i++)
            clean[i] = (msg[i] & 0x80) ? '?' : msg[i];
        m = json_stringn(clean, mlen);
        free(clean);
    }
    json_object_set_new(o, "@message", m);
    json_object_set_new(o, "@module", json_string(module ? module : ""));
    json_object_set_new(o, "@timestamp", json_string(ts));
    /* Sorted keys give the documented order @level @message @module @timestamp. */
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    if (s == NULL)
        return;
    size_t n = strlen(s);
    char *line = realloc(s, n + 2);
    if (line == NULL) {
        free(s);
        return;
    }
    line[n] = '\n';
    line[n + 1] = '\0';
    write_line(l, level, 1, want, line, n + 1);
    free(line);
}

void tb__vlog(const tb__logger_t *l, tb_log_level_t level, const char *module, const char *fmt,
              va_list ap)
{
    if (l == NULL || !TB__LOG_ENABLED(l, level))
        return;
    char stackbuf[512];
    char *heap;
    const char *msg = format_message(stackbuf, sizeof(stackbuf), &heap, fmt, ap);
    if (msg == NULL)
        return;
    int want = wanted(l, level);
    if (want & WANT_TEXT)
        log_text(l, level, want, module, msg);
    if (want & WANT_JSON)
        log_json(l, level, want, module, msg);
    free(heap);
}

void tb__log(const tb__logger_t *l, tb_log_level_t level, const char *module, const char *fmt,
             ...)
{
    va_list ap;
    va_start(ap, fmt);
    tb__vlog(l, level, module, fmt, ap);
    va_end(ap);
}
