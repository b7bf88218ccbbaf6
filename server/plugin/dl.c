/*
 * dl.c - dynamic loading behind one small file: the only place that knows
 * about libltdl (so it could be swapped for plain dlopen, as collectd did).
 *
 * libltdl's stock dlopen loader always passes RTLD_LAZY (its LT_LAZY_OR_NOW
 * is fixed when libltdl itself is built), and advise cannot change that. The
 * design wants symbols resolved at load time, so that a plugin built against
 * a newer libuv or jansson is refused at start-up with the dynamic linker's
 * message instead of crashing on the first call. We therefore register our
 * own ltdl loader that opens with RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE and
 * remove the stock one (otherwise ltdl would fall back to it, lazily, when
 * ours refuses a module). RTLD_NODELETE keeps plugin code mapped even after
 * lt_dlexit (no unload in SDK 1): leak reports and late callbacks still see
 * it, while ltdl frees its own handle records (valgrind stays clean).
 * ltdl still does what it is good at: .la files and error bookkeeping.
 *
 * libltdl is process-global and not thread-safe: load plugins from one
 * thread, before the loops run. lt_dlinit/lt_dlexit are reference counted,
 * so several agents in one process may each call tb__dl_init/tb__dl_exit.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <ltdl.h>

#include "plugin/plugin.h"

#define TB_DL_LOADER_NAME "tb_dlopen_now"
#define TB_DL_STOCK_LOADER "lt_dlopen"

/* Our loader: the vtable ltdl keeps (and frees with free() on its final
 * lt_dlexit, hence it comes first and is malloc'd), plus the last dlerror()
 * text, which ltdl has no way to carry for a custom loader. */
typedef struct tb_dl_loader {
    lt_dlvtable vtable;
    char *last_error;
} tb_dl_loader_t;

static void loader_set_error(tb_dl_loader_t *l, const char *msg)
{
    free(l->last_error);
    l->last_error = msg ? strdup(msg) : NULL;
}

static lt_module loader_open(lt_user_data data, const char *filename, lt_dladvise advise)
{
    (void)advise; /* always local: plugins share nothing through the symbol table */
    tb_dl_loader_t *l = data;
    if (!filename) {
        /* ltdl asks for the program itself when opening NULL; we never do. */
        lt_dlseterror(LT_ERROR_CANNOT_OPEN);
        return NULL;
    }
    lt_module m = dlopen(filename, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!m) {
        loader_set_error(l, dlerror());
        lt_dlseterror(LT_ERROR_CANNOT_OPEN);
    }
    return m;
}

static int loader_close(lt_user_data data, lt_module module)
{
    (void)data;
    if (dlclose(module) != 0) {
        lt_dlseterror(LT_ERROR_CANNOT_CLOSE);
        return 1;
    }
    return 0;
}

static void *loader_sym(lt_user_data data, lt_module module, const char *name)
{
    (void)data;
    void *addr = dlsym(module, name);
    if (!addr) lt_dlseterror(LT_ERROR_SYMBOL_NOT_FOUND);
    return addr;
}

/* Called by ltdl when it drops the loader (final lt_dlexit). ltdl frees the
 * vtable itself afterwards; we only own the error text. */
static int loader_exit(lt_user_data data)
{
    tb_dl_loader_t *l = data;
    loader_set_error(l, NULL);
    return 0;
}

static tb_dl_loader_t *loader_get(void)
{
    const lt_dlvtable *vt = lt_dlloader_find(TB_DL_LOADER_NAME);
    return vt ? (tb_dl_loader_t *)vt->dlloader_data : NULL;
}

int tb__dl_init(void)
{
    if (lt_dlinit() != 0) return -1;
    if (loader_get()) return 0; /* another tb__dl_init already set it up */

    tb_dl_loader_t *l = calloc(1, sizeof(*l));
    if (!l) {
        lt_dlexit();
        return -1;
    }
    l->vtable.name = TB_DL_LOADER_NAME;
    l->vtable.module_open = loader_open;
    l->vtable.module_close = loader_close;
    l->vtable.find_sym = loader_sym;
    l->vtable.dlloader_exit = loader_exit;
    l->vtable.dlloader_data = l;
    l->vtable.priority = LT_DLLOADER_PREPEND;
    if (lt_dlloader_add(&l->vtable) != 0) {
        free(l);
        lt_dlexit();
        return -1;
    }
    /* Without the stock loader nothing can fall back to RTLD_LAZY. It is
     * absent when libltdl was built without dlopen support, which is fine. */
    lt_dlvtable *stock = lt_dlloader_remove(TB_DL_STOCK_LOADER);
    free(stock);
    return 0;
}

void tb__dl_exit(void)
{
    lt_dlexit();
}

void *tb__dl_open(const char *path, char **err)
{
    *err = NULL;
    tb_dl_loader_t *l = loader_get();
    if (!l) {
        *err = strdup("dynamic loading is not initialised");
        return NULL;
    }
    loader_set_error(l, NULL);

    lt_dladvise advise;
    if (lt_dladvise_init(&advise) != 0) {
        *err = strdup(lt_dlerror());
        return NULL;
    }
    lt_dladvise_local(&advise);
    lt_dlhandle h = lt_dlopenadvise(path, advise);
    lt_dladvise_destroy(&advise);
    if (!h) {
        /* Prefer the dynamic linker's own words (missing library, undefined
         * symbol, wrong ELF class) over ltdl's generic "can't open". */
        const char *ltmsg = lt_dlerror();
        *err = strdup(l->last_error ? l->last_error : ltmsg ? ltmsg : "unknown error");
        loader_set_error(l, NULL);
    }
    return h;
}

void *tb__dl_sym(void *handle, const char *symbol)
{
    return handle ? lt_dlsym((lt_dlhandle)handle, symbol) : NULL;
}

void tb__dl_close(void *handle)
{
    if (handle) lt_dlclose((lt_dlhandle)handle);
}
