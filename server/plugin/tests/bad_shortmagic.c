/*
 * bad_shortmagic.c - test plugin whose magic block claims to be shorter
 * than the SDK 1.0 layout (only len, version and product): product and
 * major are right, so the loader must refuse it for its length.
 */
#include <tribune/plugin.h>

TB_EXPORT const tb_plugin_magic_t *tb_plugin_magic(void);
TB_EXPORT const tb_plugin_magic_t *tb_plugin_magic(void)
{
    static const tb_plugin_magic_t m = {
        .len = offsetof(tb_plugin_magic_t, sizeof_pointer),
        .sdk_major = TB_SDK_MAJOR,
        .sdk_minor = TB_SDK_MINOR,
        .product = TB_PRODUCT,
    };
    return &m;
}

TB_EXPORT int tb_plugin_init(tb_plugin_t *self, const tb_api_t *api, char **errmsg)
{
    (void)self;
    (void)api;
    (void)errmsg;
    return 0;
}
