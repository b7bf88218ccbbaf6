/*
 * curl_api.c - loads libcurl.so.4 with dlopen on the CLI's first request
 * (see curl_api.h for why it is not linked).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/curl_api.h"

/* The SONAME of libcurl 7.x/8.x (Debian package libcurl4). */
#define TB_CURL_SONAME "libcurl.so.4"

static int fail(char **err, const char *what)
{
    if (err && asprintf(err, "cannot load %s: %s", TB_CURL_SONAME, what) < 0)
        *err = NULL;
    return -1;
}

int tb__curl_open(tb__curl_api_t *api, char **err)
{
    memset(api, 0, sizeof *api);
    api->dl = dlopen(TB_CURL_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!api->dl)
        return fail(err, dlerror());
    /* dlsym returns void *; POSIX guarantees it converts to a function
     * pointer, the memcpy keeps -Wpedantic quiet about it */
    static const struct {
        const char *name;
        size_t off;
    } syms[] = {
#define SYM(f, n) { n, offsetof(tb__curl_api_t, f) }
        SYM(global_init, "curl_global_init"),
        SYM(global_cleanup, "curl_global_cleanup"),
        SYM(easy_init, "curl_easy_init"),
        SYM(easy_setopt, "curl_easy_setopt"),
        SYM(easy_perform, "curl_easy_perform"),
        SYM(easy_getinfo, "curl_easy_getinfo"),
        SYM(easy_strerror, "curl_easy_strerror"),
        SYM(easy_cleanup, "curl_easy_cleanup"),
        SYM(slist_append, "curl_slist_append"),
        SYM(slist_free_all, "curl_slist_free_all"),
#undef SYM
    };
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        void *f = dlsym(api->dl, syms[i].name);
        if (!f) {
            dlclose(api->dl);
            api->dl = NULL;
            return fail(err, syms[i].name);
        }
        memcpy((char *)api + syms[i].off, &f, sizeof f);
    }
    if (api->global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        dlclose(api->dl);
        api->dl = NULL;
        return fail(err, "curl_global_init failed");
    }
    return 0;
}

void tb__curl_close(tb__curl_api_t *api)
{
    if (!api->dl)
        return;
    api->global_cleanup();
    dlclose(api->dl);
    api->dl = NULL;
}
