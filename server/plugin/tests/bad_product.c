/*
 * bad_product.c - test plugin whose magic block names another product
 * ("other"); everything else matches this core.
 */
#include <tribune/plugin.h>

TB_EXPORT const tb_plugin_magic_t *tb_plugin_magic(void);
TB_EXPORT const tb_plugin_magic_t *tb_plugin_magic(void)
{
    static const tb_plugin_magic_t m = {
        .len = sizeof(tb_plugin_magic_t),
        .sdk_major = TB_SDK_MAJOR,
        .sdk_minor = TB_SDK_MINOR,
        .product = "other",
        .sizeof_pointer = sizeof(void *),
        .sizeof_size_t = sizeof(size_t),
        .sizeof_time_t = sizeof(time_t),
        .sizeof_off_t = sizeof(off_t),
        .name = "bad_product",
        .version = "0.1",
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
