/*
 * plugin.h - the core's side of plugins: the loader (which refuses bad
 * plugins with one clear line), the registry of what plugins registered
 * (surfaces, check types, handler types, lifecycle ops) and the tb_api_t
 * table handed to them. dl.c is the only file that knows about libltdl.
 */
#ifndef TB_PLUGIN_INTERNAL_H
#define TB_PLUGIN_INTERNAL_H

#include <tribune/plugin.h>

struct tb__agent;

/* The core's record of one loaded plugin (opaque to plugins). */
struct tb_plugin {
    struct tb__agent *agent;
    char *name;          /* from the magic block */
    char *version;       /* from the magic block */
    char *path;          /* the file it was loaded from */
    void *handle;        /* tb__dl handle */
    json_t *config;      /* plugin_config.<name> or an empty object (owned) */
    tb_plugin_ops_t ops; /* zeroed when the plugin set none */
    int in_init;         /* registration is allowed only during init */
    int inited;          /* init succeeded: stop is owed, even without start */
    int started;
};

typedef struct tb__check_type {
    tb_check_type_desc_t desc;
    tb_plugin_t *owner;
} tb__check_type_t;

typedef struct tb__handler_type {
    tb_handler_type_desc_t desc;
    tb_plugin_t *owner;
} tb__handler_type_t;

typedef struct tb__surface {
    tb_surface_desc_t desc;
    tb_plugin_t *owner;
} tb__surface_t;

struct tb__plugins {
    tb_plugin_t **list;
    size_t n;
    tb__surface_t *surfaces;
    size_t nsurfaces;
    tb__check_type_t *check_types;
    size_t ncheck_types;
    tb__handler_type_t *handler_types;
    size_t nhandler_types;
};
typedef struct tb__plugins tb__plugins_t;

/* ---- dl.c: libltdl behind one small file ---- */
int tb__dl_init(void);
void tb__dl_exit(void);
/* Open with symbols resolved now, kept local. NULL with *err (malloc'd). */
void *tb__dl_open(const char *path, char **err);
void *tb__dl_sym(void *handle, const char *symbol);
void tb__dl_close(void *handle);

/* ---- loader.c ---- */
/* Resolve a `plugins` entry: a path (contains '/' or ends in ".so") or a
 * name looked up as <plugin_dir>/<name>.so. Returns malloc'd path. */
char *tb__plugin_resolve(const char *entry, const char *plugin_dir);

/* Check a loaded handle's magic block against this core. Returns 0, or -1
 * with *err (malloc'd) naming the path and every field that differs, or
 * hinting at TB_PLUGIN_MAGIC when there is no magic. */
int tb__plugin_check_magic(void *handle, const char *path, const tb_plugin_magic_t **magic,
                           char **err);

/* Load every plugin the config names (tb__config_plugin_list), check magic,
 * call tb_plugin_init. It must set agent->plugins to the new registry BEFORE
 * the first tb_plugin_init (api.c's register_* append to agent->plugins).
 * On any failure: -1 and *err is one line
 * "plugin <path>: <reason>" (the agent prints it and exits 1). */
int tb__plugins_load(struct tb__agent *agent, tb__plugins_t **out, char **err);
/* start every plugin's ops.start in load order; -1 + *err on failure. */
int tb__plugins_start(tb__plugins_t *p, char **err);
/* SIGHUP: refresh each plugin's config section and call ops.reload. */
int tb__plugins_reload(tb__plugins_t *p, char **err);
/* call ops.stop, in reverse order, of every plugin whose init succeeded,
 * started or not (so init-time state is always freed). Once each. */
void tb__plugins_stop(tb__plugins_t *p);
/* After the loop has closed every handle: free records (dlclose is not
 * called: no unload in SDK 1, as PostgreSQL). */
void tb__plugins_free(tb__plugins_t *p);

/* The check type whose config_key appears in a (lowercased) definition. */
const tb__check_type_t *tb__plugins_find_check_type(const tb__plugins_t *p, const json_t *def);

/* ---- api.c ---- */
/* The table handed to tb_plugin_init (const data, shared by all plugins). */
const tb_api_t *tb__api_table(void);

#endif
