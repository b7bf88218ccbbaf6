/*
 * schema.h - core-internal: the agent configuration key table (schema.c)
 * that config.c checks every source against before merging it.
 */
#ifndef TB_CONFIG_SCHEMA_H
#define TB_CONFIG_SCHEMA_H

#include <stddef.h>
#include <jansson.h>

#include "config/tb_config.h"

typedef enum tb__key_kind {
    TB__K_STR,     /* string */
    TB__K_INT,     /* integer */
    TB__K_NUM,     /* integer or real */
    TB__K_BOOL,    /* true/false */
    TB__K_DUR,     /* Go duration string ("10s") */
    TB__K_STRLIST, /* array of strings (lists append on merge) */
    TB__K_STRMAP,  /* object of strings (node_meta) */
    TB__K_DURMAP,  /* object of durations (dns_config.service_ttl) */
    TB__K_OBJMAP,  /* object of objects (plugin_config) */
    TB__K_OBJ,     /* object with its own key table */
    TB__K_DEF,     /* one service/check definition (object, keys not checked) */
    TB__K_DEFS,    /* array of definitions */
    TB__K_LIST,    /* array of anything */
    TB__K_ANY      /* accepted as is */
} tb__key_kind_t;

/* A value check run after the type check; fills `why` and returns -1. */
typedef int (*tb__key_check_fn)(const json_t *v, char *why, size_t n);

typedef struct tb__key_spec {
    const char *name;            /* NULL ends a table */
    tb__key_kind_t kind;
    const struct tb__key_spec *sub; /* TB__K_OBJ: its keys */
    int strict;                  /* TB__K_OBJ: unknown sub-keys are errors */
    tb__key_check_fn check;
} tb__key_spec_t;

/* The top-level table. */
const tb__key_spec_t *tb__config_schema(void);

/* 8-4-4-4-12 hex digits. */
int tb__config_is_uuid(const char *s);

#endif
