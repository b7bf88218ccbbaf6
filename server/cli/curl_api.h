/*
 * curl_api.h - libcurl for the CLI, loaded when a command makes its first
 * HTTP request instead of being linked into the binary: `tribune agent` is
 * the same executable, and linking libcurl (with its TLS, Kerberos, LDAP,
 * SSH ... dependencies, relocated at exec) cost every agent ~4 MiB of
 * resident memory it never uses.
 */
#ifndef TB_CLI_CURL_API_H
#define TB_CLI_CURL_API_H

#include <curl/curl.h>

/* The libcurl functions the CLI calls, resolved from libcurl.so.4. */
typedef struct tb__curl_api {
    void *dl;
    CURLcode (*global_init)(long flags);
    void (*global_cleanup)(void);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *h, CURLoption opt, ...);
    CURLcode (*easy_perform)(CURL *h);
    CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
    const char *(*easy_strerror)(CURLcode cc);
    void (*easy_cleanup)(CURL *h);
    struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
    void (*slist_free_all)(struct curl_slist *l);
} tb__curl_api_t;

/* Load and initialise libcurl into api; 0, or -1 with *err (malloc'd)
 * naming the library and what failed. */
int tb__curl_open(tb__curl_api_t *api, char **err);
/* curl_global_cleanup; the library stays mapped (RTLD_NODELETE: its TLS
 * backends register exit handlers). */
void tb__curl_close(tb__curl_api_t *api);

#endif
