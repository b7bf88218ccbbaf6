/*
 * bad_undefined.c - test plugin that calls a function no library defines
 * (as a plugin built against a newer libuv would). Only a loader that
 * resolves symbols at load time refuses it; a lazy one would crash later.
 */
#include <tribune/plugin.h>

TB_PLUGIN_MAGIC("bad_undefined", "0.1")

/* Deliberately defined nowhere. */
extern int tb_test_symbol_defined_nowhere(void);

TB_EXPORT int tb_plugin_init(tb_plugin_t *self, const tb_api_t *api, char **errmsg)
{
    (void)self;
    (void)api;
    (void)errmsg;
    return tb_test_symbol_defined_nowhere();
}
