/*
 * testutil.h - helpers for the config unit tests: a private temporary
 * directory per test and files written into it.
 */
#ifndef TB_CONFIG_TESTUTIL_H
#define TB_CONFIG_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <ftw.h>

/* mkdtemp under $TMPDIR or /tmp; returns a malloc'd path. */
static inline char *tu_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char *path;
    if (asprintf(&path, "%s/tbcfg-XXXXXX", base && *base ? base : "/tmp") < 0)
        return NULL;
    if (mkdtemp(path) == NULL) {
        free(path);
        return NULL;
    }
    return path;
}

/* Write `text` to dir/name; returns the malloc'd full path. */
static inline char *tu_write(const char *dir, const char *name, const char *text)
{
    char *path;
    if (asprintf(&path, "%s/%s", dir, name) < 0)
        return NULL;
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        free(path);
        return NULL;
    }
    fputs(text, f);
    fclose(f);
    return path;
}

static inline int tu_rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* rm -rf dir, then free the string. */
static inline void tu_rmtree(char *dir)
{
    if (dir != NULL)
        nftw(dir, tu_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

#endif
