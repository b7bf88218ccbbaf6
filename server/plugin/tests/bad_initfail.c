/*
 * bad_initfail.c - test plugin whose init refuses to run, with a message
 * the agent must print after "init failed: ". The regress suite uses
 * bad_initfail.so end to end.
 */
#include <stdlib.h>
#include <string.h>
#include <tribune/plugin.h>

TB_PLUGIN_MAGIC("bad_initfail", "0.1")

TB_EXPORT int tb_plugin_init(tb_plugin_t *self, const tb_api_t *api, char **errmsg)
{
    (void)self;
    (void)api;
    *errmsg = strdup("plugin_config.bad_initfail.required: missing (this plugin always fails)");
    return -1;
}
