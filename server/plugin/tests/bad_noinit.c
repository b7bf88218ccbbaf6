/*
 * bad_noinit.c - test plugin with a correct magic block but no
 * tb_plugin_init entry point.
 */
#include <tribune/plugin.h>

TB_PLUGIN_MAGIC("bad_noinit", "0.1")

/* Something exported, but not the entry point the loader looks for. */
TB_EXPORT int tb_plugin_start(void);
TB_EXPORT int tb_plugin_start(void)
{
    return 0;
}
