/*
 * bad_nomagic.c - test plugin without a magic block: it has a valid
 * tb_plugin_init but forgot TB_PLUGIN_MAGIC, so the loader must refuse it
 * with the hint naming the macro.
 */
#include <tribune/plugin.h>

TB_EXPORT int tb_plugin_init(tb_plugin_t *self, const tb_api_t *api, char **errmsg)
{
    (void)self;
    (void)api;
    (void)errmsg;
    return 0;
}
