/*
 * kvjson.h - JSON output of the http plugin. KVPairs are rendered by hand
 * from the typed tb_kv_entry_t view because jansson's json_int_t cannot
 * hold Flags above 2^63 (lock/semaphore magic flags); generic results go
 * through jansson. Both follow Go's encoding/json layout: compact, or
 * MarshalIndent with 4 spaces plus the trailing newline Consul adds.
 */
#ifndef TBH_KVJSON_H
#define TBH_KVJSON_H

#include <tribune/plugin.h>

#include "util.h"

/* A JSON string literal as Go writes it: \" \\ \n \r \t, other control
 * characters and < > & as \u00XX, U+2028/2029 escaped, invalid UTF-8 as
 * \ufffd, valid UTF-8 passed through. */
int tbh_json_string(tbh_buf_t *b, const char *s, size_t n);

/* Standard base64 with padding, appended to b. */
int tbh_base64(tbh_buf_t *b, const void *data, size_t len);

/* A JSON array of KVPair objects:
 * {"LockIndex":0,"Key":"a","Flags":0,"Value":"<b64>"|null,["Session":"s",]
 *  "CreateIndex":5,"ModifyIndex":5} */
int tbh_kv_render(tbh_buf_t *b, const tb_kv_entry_t *e, size_t n, int pretty);

/* Any jansson value (NULL renders as null). */
int tbh_json_render(tbh_buf_t *b, const json_t *v, int pretty);

#endif
