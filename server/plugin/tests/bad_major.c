/*
 * bad_major.c - test plugin built for the next SDK major. Its size facts
 * are wrong too: the loader must report the major alone (as PostgreSQL
 * does), since in another major the rest of the block means nothing.
 * The regress suite uses bad_major.so end to end.
 */
#include <tribune/plugin.h>

TB_EXPORT const tb_plugin_magic_t *tb_plugin_magic(void);
TB_EXPORT const tb_plugin_magic_t *tb_plugin_magic(void)
{
    static const tb_plugin_magic_t m = {
        .len = sizeof(tb_plugin_magic_t) + 16,
        .sdk_major = TB_SDK_MAJOR + 1,
        .sdk_minor = 0,
        .product = TB_PRODUCT,
        .sizeof_pointer = 1,
        .sizeof_size_t = 1,
        .sizeof_time_t = 1,
        .sizeof_off_t = 1,
        .name = "bad_major",
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
