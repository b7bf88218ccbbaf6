/*
 * bad_sizes.c - test plugin whose build facts differ from the core's in
 * two fields (time_t and off_t, as a 32-bit build would have them): the
 * loader must name each one.
 */
#include <tribune/plugin.h>

/* A size this core surely does not have. */
#define OTHER_SIZE(t) (sizeof(t) == 4 ? 8 : 4)

TB_EXPORT const tb_plugin_magic_t *tb_plugin_magic(void);
TB_EXPORT const tb_plugin_magic_t *tb_plugin_magic(void)
{
    static const tb_plugin_magic_t m = {
        .len = sizeof(tb_plugin_magic_t),
        .sdk_major = TB_SDK_MAJOR,
        .sdk_minor = TB_SDK_MINOR,
        .product = TB_PRODUCT,
        .sizeof_pointer = sizeof(void *),
        .sizeof_size_t = sizeof(size_t),
        .sizeof_time_t = OTHER_SIZE(time_t),
        .sizeof_off_t = OTHER_SIZE(off_t),
        .name = "bad_sizes",
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
