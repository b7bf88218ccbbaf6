/*
 * filter.h - ?filter (go-bexpr subset, spec/http-api.md §1.2) and
 * ?node-meta for list results, evaluated on the JSON the methods return.
 */
#ifndef TB_ENDPOINT_FILTER_H
#define TB_ENDPOINT_FILTER_H

#include <jansson.h>

typedef struct tb__filter tb__filter_t;

/* Parse an expression. NULL with *err (malloc'd, the 400 text) on error. */
tb__filter_t *tb__filter_parse(const char *expr, char **err);
void tb__filter_free(tb__filter_t *f);
/* Does one result element match? */
int tb__filter_match(const tb__filter_t *f, const json_t *element);
/* A new reference: the array's matching elements (or a map's matching
 * values), also keeping only elements whose node meta holds every
 * key:value of node_meta (an object, may be NULL). f may be NULL. */
json_t *tb__filter_result(const json_t *result, const tb__filter_t *f, const json_t *node_meta);

#endif
