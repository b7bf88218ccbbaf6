/*
 * txnjson.h - uint64 numbers in /v1/txn bodies. jansson refuses integers
 * above INT64_MAX, yet KV Flags use the whole uint64 range (semaphore magic
 * 16210313421097356768). On the way in, such literals become the string
 * TBH_BIG_MARK + digits before jansson parses the body (the core's
 * Txn.Apply accepts that form); on the way out, the same strings in the
 * rendered result become bare numbers again. Pure code, unit-tested.
 */
#ifndef TBH_TXNJSON_H
#define TBH_TXNJSON_H

#include <stddef.h>

#include "util.h"

/* The marker the core uses for big uint64 values (doc/sdk.md, Txn.Apply). */
#define TBH_BIG_MARK "\001"

/* Copy JSON text, turning every integer literal outside strings that is
 * above INT64_MAX (and fits a uint64) into "\u0001<digits>". Other text is
 * copied unchanged (errors are left for the JSON parser). 0 or -1 (memory). */
int tbh_txn_mark_bigints(const char *in, size_t len, tbh_buf_t *out);

/* In rendered JSON, replace every string "\u0001<digits>" by the bare
 * digits (in place). */
void tbh_txn_unmark(tbh_buf_t *b);

#endif
