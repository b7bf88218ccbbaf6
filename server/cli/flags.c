/*
 * flags.c - the option parser of the `tribune` subcommands. It follows Go's
 * flag package, which Consul's CLI uses, so the same command lines work:
 * -flag, --flag, -flag=value, -flag value (not for booleans), parsing stops
 * at the first positional argument, "-" or "--".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_int.h"

int tb__parse_bool(const char *s)
{
    static const char *const yes[] = {"1", "t", "T", "true", "TRUE", "True"};
    static const char *const no[] = {"0", "f", "F", "false", "FALSE", "False"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcmp(s, yes[i]) == 0)
            return 1;
        if (strcmp(s, no[i]) == 0)
            return 0;
    }
    return -1;
}

void tb__strlist_free(tb__strlist_t *l)
{
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

void tb__flags_usage(FILE *out, const tb__flag_t *flags, const char *help)
{
    fputs(help, out);
    if (flags == NULL || flags[0].name == NULL)
        return;
    fputs("\nOptions:\n", out);
    for (const tb__flag_t *f = flags; f->name; f++) {
        const char *arg = f->arg;
        if (f->kind == TB__F_BOOL || (f->kind == TB__F_FUNC && !f->takes_value))
            arg = NULL;
        if (arg)
            fprintf(out, "\n  -%s=%s\n", f->name, arg);
        else
            fprintf(out, "\n  -%s\n", f->name);
        fprintf(out, "     %s\n", f->usage ? f->usage : "");
    }
}

static int flag_error(const tb__flag_t *flags, const char *help, const char *fmt, const char *a,
                      const char *b)
{
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    tb__flags_usage(stderr, flags, help);
    return TB__FLAGS_ERROR;
}

static int set_value(tb__flag_t *f, const char *name, const char *value, void *ctx,
                     const tb__flag_t *flags, const char *help)
{
    char *end;
    switch (f->kind) {
    case TB__F_BOOL: {
        int b = value ? tb__parse_bool(value) : 1;
        if (b < 0)
            return flag_error(flags, help, "invalid boolean value \"%s\" for -%s: parse error",
                              value, name);
        *(int *)f->ptr = b;
        break;
    }
    case TB__F_STRING:
        *(const char **)f->ptr = value;
        break;
    case TB__F_INT: {
        errno = 0;
        long long v = strtoll(value, &end, 0);
        if (errno != 0 || end == value || *end != '\0')
            return flag_error(flags, help, "invalid value \"%s\" for flag -%s: parse error", value,
                              name);
        *(int64_t *)f->ptr = (int64_t)v;
        break;
    }
    case TB__F_UINT64: {
        errno = 0;
        const char *p = value;
        while (*p == ' ')
            p++;
        unsigned long long v = strtoull(value, &end, 0);
        if (*p == '-' || errno != 0 || end == value || *end != '\0')
            return flag_error(flags, help, "invalid value \"%s\" for flag -%s: parse error", value,
                              name);
        *(uint64_t *)f->ptr = (uint64_t)v;
        break;
    }
    case TB__F_LIST: {
        tb__strlist_t *l = f->ptr;
        const char **nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
        if (nv == NULL)
            return flag_error(flags, help, "%s%s", "out of memory", "");
        l->v = nv;
        l->v[l->n++] = value;
        break;
    }
    case TB__F_FUNC: {
        char *err = NULL;
        if (f->fn(f, value, ctx, &err) != 0) {
            fprintf(stderr, "%s\n", err ? err : "invalid flag");
            free(err);
            return TB__FLAGS_ERROR;
        }
        break;
    }
    }
    f->seen = 1;
    return TB__FLAGS_OK;
}

int tb__flags_parse(tb__flag_t *flags, int argc, char **argv, int *first, const char *help,
                    void *ctx)
{
    int i = 0;
    while (i < argc) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == '\0')
            break; /* positional or "-" (stdin) */
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        const char *name = a + 1;
        if (*name == '-')
            name++;
        if (*name == '\0' || *name == '-' || *name == '=')
            return flag_error(flags, help, "bad flag syntax: %s%s", a, "");
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const char *value = eq ? eq + 1 : NULL;

        if ((nlen == 1 && name[0] == 'h') || (nlen == 4 && strncmp(name, "help", 4) == 0)) {
            tb__flags_usage(stdout, flags, help);
            return TB__FLAGS_HELP;
        }
        tb__flag_t *f = NULL;
        for (tb__flag_t *g = flags; g && g->name; g++) {
            if (strlen(g->name) == nlen && strncmp(g->name, name, nlen) == 0) {
                f = g;
                break;
            }
        }
        char shown[128];
        snprintf(shown, sizeof(shown), "%.*s", (int)(nlen < 100 ? nlen : 100), name);
        if (f == NULL)
            return flag_error(flags, help, "flag provided but not defined: -%s%s", shown, "");
        i++;
        int is_bool = f->kind == TB__F_BOOL || (f->kind == TB__F_FUNC && !f->takes_value);
        if (!is_bool && value == NULL) {
            if (i >= argc)
                return flag_error(flags, help, "flag needs an argument: -%s%s", shown, "");
            value = argv[i++];
        }
        if (set_value(f, shown, value, ctx, flags, help) != TB__FLAGS_OK)
            return TB__FLAGS_ERROR;
    }
    *first = i;
    return TB__FLAGS_OK;
}

/* ------------------------------------------------------------ output helpers */

int tb__buf_add(tb__buf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *ns = realloc(b->s, cap);
        if (ns == NULL)
            return -1;
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
    return 0;
}

int tb__buf_printf(tb__buf_t *b, const char *fmt, ...)
{
    va_list ap;
    char *s;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    int rc = tb__buf_add(b, s, (size_t)n);
    free(s);
    return rc;
}

/* Split a row at '|' into trimmed cells (pointers into a copy). */
static size_t split_row(char *row, char **cells, size_t max)
{
    size_t n = 0;
    char *p = row;
    for (;;) {
        char *bar = strchr(p, '|');
        if (bar)
            *bar = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        char *e = p + strlen(p);
        while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
            *--e = '\0';
        if (n < max)
            cells[n++] = p;
        if (!bar)
            break;
        p = bar + 1;
    }
    return n;
}

#define MAX_COLS 32

char *tb__columnize(char *const *rows, size_t n)
{
    size_t widths[MAX_COLS] = {0};
    char **copies = calloc(n ? n : 1, sizeof(*copies));
    if (copies == NULL)
        return NULL;
    char *cells[MAX_COLS];
    for (size_t i = 0; i < n; i++) {
        copies[i] = strdup(rows[i]);
        if (copies[i] == NULL)
            goto oom;
        char *tmp = strdup(rows[i]);
        if (tmp == NULL)
            goto oom;
        size_t nc = split_row(tmp, cells, MAX_COLS);
        for (size_t j = 0; j < nc; j++) {
            size_t w = strlen(cells[j]);
            if (w > widths[j])
                widths[j] = w;
        }
        free(tmp);
    }
    tb__buf_t out = {0};
    tb__buf_add(&out, "", 0);
    for (size_t i = 0; i < n; i++) {
        size_t nc = split_row(copies[i], cells, MAX_COLS);
        for (size_t j = 0; j < nc; j++) {
            if (j + 1 < nc)
                tb__buf_printf(&out, "%-*s  ", (int)widths[j], cells[j]);
            else
                tb__buf_printf(&out, "%s\n", cells[j]);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(copies[i]);
    free(copies);
    if (out.s && out.len > 0 && out.s[out.len - 1] == '\n')
        out.s[--out.len] = '\0';
    return out.s;
oom:
    for (size_t i = 0; i < n; i++)
        free(copies[i]);
    free(copies);
    return NULL;
}
