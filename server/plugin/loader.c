/*
 * loader.c - loads the plugins the configuration names, refuses a bad one
 * with ONE line naming its path and the reason (the agent prints it and
 * exits 1), runs each tb_plugin_init with registration allowed, and drives
 * the lifecycle (start in load order, reload, stop in reverse order).
 *
 * Mismatch reporting follows PostgreSQL's dfmgr.c: a different product or
 * SDK major is reported alone (the rest of the block may have another
 * layout in another major); otherwise every differing field is named.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "plugin/plugin.h"
#include "agent/agent.h"

#ifndef TB_PLUGIN_DIR
#define TB_PLUGIN_DIR "/usr/local/lib/tribune/plugins-1"
#endif

/* The magic block of SDK 1.0 ends with `version`: a block shorter than that
 * was not made by TB_PLUGIN_MAGIC of any 1.x SDK. */
#define MAGIC_LEN_1_0 (offsetof(tb_plugin_magic_t, version) + sizeof(const char *))
/* What must be readable before anything else is compared. */
#define MAGIC_LEN_HEAD (offsetof(tb_plugin_magic_t, product) + sizeof(((tb_plugin_magic_t *)0)->product))

static char *fmt(const char *f, ...) TB_PRINTF(1, 2);
static char *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s) return NULL;
    va_start(ap, f);
    vsnprintf(s, (size_t)n + 1, f, ap);
    va_end(ap);
    return s;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

char *tb__plugin_resolve(const char *entry, const char *plugin_dir)
{
    if (!entry) return NULL;
    if (strchr(entry, '/')) return strdup(entry);
    /* A bare file name is relative to the working directory, never looked
     * up in the linker's search path. */
    if (ends_with(entry, ".so") || ends_with(entry, ".la")) return fmt("./%s", entry);
    const char *dir = plugin_dir && *plugin_dir ? plugin_dir : TB_PLUGIN_DIR;
    return fmt("%s%s%s.so", dir, ends_with(dir, "/") ? "" : "/", entry);
}

/* A plugin name is used as a config key (plugin_config.<name>) and in log
 * lines: keep it to a safe alphabet. */
static int valid_name(const char *s)
{
    if (!s || !*s || strlen(s) > 64) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.'))
            return 0;
    return 1;
}

/* Append "label = plugin's, agent has core's" for one differing build fact. */
static void size_fact(char *buf, size_t cap, const char *label, unsigned plugin, unsigned core)
{
    if (plugin == core) return;
    size_t len = strlen(buf);
    snprintf(buf + len, cap - len, "%splugin has sizeof(%s) = %u, agent has %u",
             len ? "; " : "", label, plugin, core);
}

int tb__plugin_check_magic(void *handle, const char *path, const tb_plugin_magic_t **magic,
                           char **err)
{
    *magic = NULL;
    *err = NULL;
    tb_plugin_magic_fn fn = (tb_plugin_magic_fn)tb__dl_sym(handle, TB_PLUGIN_MAGIC_SYMBOL);
    const tb_plugin_magic_t *m = fn ? fn() : NULL;
    if (!m) {
        *err = fmt("plugin %s: no magic block (" TB_PLUGIN_MAGIC_SYMBOL " not exported); "
                   "add TB_PLUGIN_MAGIC(\"name\", \"version\") to the plugin",
                   path);
        return -1;
    }
    if (m->len < MAGIC_LEN_HEAD) {
        *err = fmt("plugin %s: magic block is %u bytes, too short to hold the SDK version "
                   "(rebuild the plugin with TB_PLUGIN_MAGIC)",
                   path, (unsigned)m->len);
        return -1;
    }
    /* Product and major alone: in another product or major nothing after
     * them is known to mean the same thing. */
    if (!memchr(m->product, '\0', sizeof(m->product)) ||
        strcmp(m->product, TB_PRODUCT) != 0) {
        *err = fmt("plugin %s: built for product \"%.*s\", this is \"%s\"", path,
                   (int)sizeof(m->product), m->product, TB_PRODUCT);
        return -1;
    }
    if (m->sdk_major != TB_SDK_MAJOR) {
        *err = fmt("plugin %s: built for SDK %u.%u, agent provides SDK %u.%u "
                   "(rebuild the plugin against SDK %u)",
                   path, (unsigned)m->sdk_major, (unsigned)m->sdk_minor, TB_SDK_MAJOR,
                   TB_SDK_MINOR, TB_SDK_MAJOR);
        return -1;
    }
    if (m->len < MAGIC_LEN_1_0) {
        *err = fmt("plugin %s: magic block is %u bytes, SDK %u.0 needs at least %u "
                   "(a hand-made or corrupt block; use TB_PLUGIN_MAGIC)",
                   path, (unsigned)m->len, TB_SDK_MAJOR, (unsigned)MAGIC_LEN_1_0);
        return -1;
    }

    /* Same major: name every field that differs, in one line. */
    char why[512] = "";
    if (m->sdk_minor > TB_SDK_MINOR)
        snprintf(why, sizeof(why), "requires SDK %u.%u, agent provides SDK %u.%u",
                 (unsigned)m->sdk_major, (unsigned)m->sdk_minor, TB_SDK_MAJOR, TB_SDK_MINOR);
    char facts[400] = "";
    size_fact(facts, sizeof(facts), "void *", m->sizeof_pointer, (unsigned)sizeof(void *));
    size_fact(facts, sizeof(facts), "size_t", m->sizeof_size_t, (unsigned)sizeof(size_t));
    size_fact(facts, sizeof(facts), "time_t", m->sizeof_time_t, (unsigned)sizeof(time_t));
    size_fact(facts, sizeof(facts), "off_t", m->sizeof_off_t, (unsigned)sizeof(off_t));
    if (facts[0]) {
        size_t len = strlen(why);
        snprintf(why + len, sizeof(why) - len, "%sincompatible build: %s", len ? "; " : "",
                 facts);
    }
    if (why[0]) {
        *err = fmt("plugin %s: %s", path, why);
        return -1;
    }
    if (!valid_name(m->name)) {
        *err = fmt("plugin %s: the magic block's name must be 1-64 characters of "
                   "[A-Za-z0-9_.-]",
                   path);
        return -1;
    }
    *magic = m;
    return 0;
}

/* ---------------------------------------------------------------- records */

static void plugin_free(tb_plugin_t *pl)
{
    if (!pl) return;
    free(pl->name);
    free(pl->version);
    free(pl->path);
    json_decref(pl->config);
    free(pl);
}

/* A deep copy of plugin_config.<name>, or an empty object. NULL + *err when
 * the section exists but is not an object. */
static json_t *plugin_section(const tb__agent_t *agent, const char *name, const char *path,
                              char **err)
{
    const json_t *all = agent->config ? json_object_get(agent->config->merged, "plugin_config")
                                      : NULL;
    const json_t *mine = json_is_object(all) ? json_object_get(all, name) : NULL;
    if (!mine) return json_object();
    if (!json_is_object(mine)) {
        const json_t *o = json_object_get(agent->config->origins, "plugin_config");
        *err = fmt("plugin %s: %s: plugin_config.%s: expected an object", path,
                   json_is_string(o) ? json_string_value(o) : "defaults", name);
        return NULL;
    }
    return json_deep_copy(mine);
}

static const tb_plugin_t *find_by_name(const tb__plugins_t *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->list[i]->name, name) == 0) return p->list[i];
    return NULL;
}

/* Open, check and initialise one plugin; on success it is in p->list. */
static int load_one(tb__agent_t *agent, tb__plugins_t *p, const char *path, char **err)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        *err = errno == ENOENT ? fmt("plugin %s: file not found", path)
                               : fmt("plugin %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        *err = fmt("plugin %s: not a regular file", path);
        return -1;
    }

    char *dlerr = NULL;
    void *h = tb__dl_open(path, &dlerr);
    if (!h) {
        *err = fmt("plugin %s: cannot load: %s (a missing dependency is the usual cause; "
                   "try ldd %s)",
                   path, dlerr ? dlerr : "unknown error", path);
        free(dlerr);
        return -1;
    }

    const tb_plugin_magic_t *m = NULL;
    if (tb__plugin_check_magic(h, path, &m, err) != 0) goto fail_close;

    const tb_plugin_t *dup = find_by_name(p, m->name);
    if (dup) {
        *err = fmt("plugin %s: a plugin named \"%s\" is already loaded from %s", path, m->name,
                   dup->path);
        goto fail_close;
    }

    tb_plugin_init_fn init = (tb_plugin_init_fn)tb__dl_sym(h, TB_PLUGIN_INIT_SYMBOL);
    if (!init) {
        *err = fmt("plugin %s: no " TB_PLUGIN_INIT_SYMBOL " function", path);
        goto fail_close;
    }

    json_t *section = plugin_section(agent, m->name, path, err);
    if (!section) goto fail_close;

    tb_plugin_t *pl = calloc(1, sizeof(*pl));
    tb_plugin_t **nl = realloc(p->list, (p->n + 1) * sizeof(*p->list));
    if (nl) p->list = nl;
    if (pl) {
        pl->agent = agent;
        pl->name = strdup(m->name);
        pl->version = strdup(m->version ? m->version : "");
        pl->path = strdup(path);
        pl->handle = h;
        pl->config = section;
    } else {
        json_decref(section);
    }
    if (!pl || !nl || !pl->name || !pl->version || !pl->path) {
        plugin_free(pl);
        *err = fmt("plugin %s: out of memory", path);
        goto fail_close;
    }
    /* In the list before init: registrations name their owner, and a
     * failed load frees everything from the list. */
    p->list[p->n++] = pl;

    char *msg = NULL;
    pl->in_init = 1;
    int rc = init(pl, tb__api_table(), &msg);
    pl->in_init = 0;
    if (rc != 0) {
        *err = fmt("plugin %s: init failed: %s", path, msg && *msg ? msg : "(no reason given)");
        free(msg);
        return -1;
    }
    free(msg); /* a plugin may set it even on success */
    pl->inited = 1;

    tb__log(&agent->log, TB_LOG_INFO, "agent", "loaded plugin %s %s from %s", pl->name,
            pl->version, pl->path);
    return 0;

fail_close:
    tb__dl_close(h);
    return -1;
}

int tb__plugins_load(tb__agent_t *agent, tb__plugins_t **out, char **err)
{
    *out = NULL;
    *err = NULL;
    if (tb__dl_init() != 0) {
        *err = strdup("plugin loader: cannot initialise libltdl");
        return -1;
    }
    tb__plugins_t *p = calloc(1, sizeof(*p));
    if (!p) {
        tb__dl_exit();
        *err = strdup("plugin loader: out of memory");
        return -1;
    }
    /* The registration entries of the API table find the registry here. */
    agent->plugins = p;

    json_t *list = tb__config_plugin_list(agent->config);
    if (!list) goto fail; /* out of memory */
    const char *dir = agent->config && agent->config->plugin_dir ? agent->config->plugin_dir
                                                                 : TB_PLUGIN_DIR;
    size_t i;
    json_t *entry;
    json_array_foreach(list, i, entry) {
        if (!json_is_string(entry)) {
            *err = fmt("plugins: entry %zu is not a string", i);
            goto fail;
        }
        char *path = tb__plugin_resolve(json_string_value(entry), dir);
        if (!path) {
            *err = strdup("plugin loader: out of memory");
            goto fail;
        }
        int rc = load_one(agent, p, path, err);
        free(path);
        if (rc != 0) goto fail;
    }
    json_decref(list);
    *out = p;
    return 0;

fail:
    json_decref(list);
    if (!*err) *err = strdup("plugin loader: out of memory");
    /* Plugins initialised before the failure never started: their stop
     * only frees init-time state, synchronously. */
    tb__plugins_stop(p);
    agent->plugins = NULL;
    tb__plugins_free(p);
    return -1;
}

int tb__plugins_start(tb__plugins_t *p, char **err)
{
    *err = NULL;
    for (size_t i = 0; p && i < p->n; i++) {
        tb_plugin_t *pl = p->list[i];
        if (pl->started) continue;
        if (pl->ops.start) {
            char *msg = NULL;
            if (pl->ops.start(pl, pl->ops.arg, &msg) != 0) {
                *err = fmt("plugin %s: start failed: %s", pl->path,
                           msg && *msg ? msg : "(no reason given)");
                free(msg);
                return -1;
            }
            free(msg);
        }
        pl->started = 1;
    }
    return 0;
}

int tb__plugins_reload(tb__plugins_t *p, char **err)
{
    *err = NULL;
    int rc = 0;
    for (size_t i = 0; p && i < p->n; i++) {
        tb_plugin_t *pl = p->list[i];
        char *why = NULL;
        json_t *fresh = plugin_section(pl->agent, pl->name, pl->path, &why);
        if (!fresh) goto failed;
        json_t *old = pl->config;
        pl->config = fresh;
        if (pl->started && pl->ops.reload) {
            char *msg = NULL;
            if (pl->ops.reload(pl, pl->ops.arg, &msg) != 0) {
                /* Keep running on the old section, as Consul keeps the old
                 * config when a reload is refused. */
                pl->config = old;
                json_decref(fresh);
                why = fmt("plugin %s: reload failed: %s", pl->path,
                          msg && *msg ? msg : "(no reason given)");
                free(msg);
                goto failed;
            }
            free(msg);
        }
        json_decref(old);
        continue;
    failed:
        /* The other plugins still reload; the first failure is returned,
         * later ones are logged. */
        if (!*err) {
            *err = why ? why : strdup("plugin reload: out of memory");
        } else {
            tb__log(&pl->agent->log, TB_LOG_ERROR, "agent", "%s", why ? why : "out of memory");
            free(why);
        }
        rc = -1;
    }
    return rc;
}

void tb__plugins_stop(tb__plugins_t *p)
{
    for (size_t i = p ? p->n : 0; i-- > 0;) {
        tb_plugin_t *pl = p->list[i];
        if (!pl->inited) continue;
        pl->inited = 0;
        pl->started = 0;
        if (pl->ops.stop) pl->ops.stop(pl, pl->ops.arg);
    }
}

void tb__plugins_free(tb__plugins_t *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->n; i++) plugin_free(p->list[i]);
    free(p->list);
    free(p->surfaces);
    free(p->check_types);
    free(p->handler_types);
    free(p);
    /* Closes the handles (their code stays mapped: RTLD_NODELETE, see dl.c). */
    tb__dl_exit();
}

const tb__check_type_t *tb__plugins_find_check_type(const tb__plugins_t *p, const json_t *def)
{
    if (!p || !json_is_object(def)) return NULL;
    for (size_t i = 0; i < p->ncheck_types; i++) {
        const char *k = p->check_types[i].desc.config_key;
        const char *key;
        const json_t *v;
        json_object_foreach((json_t *)def, key, v) {
            (void)v;
            if (strcasecmp(key, k) == 0) return &p->check_types[i];
        }
    }
    return NULL;
}
