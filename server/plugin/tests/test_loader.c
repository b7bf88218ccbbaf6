/*
 * test_loader.c - CUnit tests of the plugin loader: name/path resolution,
 * the exact one-line refusal for every kind of bad plugin (the agent
 * prints that line and exits 1), and a good plugin's whole life: its
 * registrations land in the registry, registration outside init is
 * refused, start/reload/stop are called (in order, once) as the log shows.
 *
 * The test plugins live in TB_TEST_PLUGIN_DIR (the build's .libs).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "plugin/plugin.h"
#include "agent/agent.h"

#ifndef TB_TEST_PLUGIN_DIR
#error "TB_TEST_PLUGIN_DIR must name the directory of the test plugins"
#endif

#define SO(name) TB_TEST_PLUGIN_DIR "/" name ".so"
#define LDD_HINT(p) " (a missing dependency is the usual cause; try ldd " p ")"

/* ---------------------------------------------------------------- fixture */

/* One agent with a hand-made configuration and a log we can read back. */
typedef struct fixture {
    tb__agent_t agent;
    tb__config_t cfg;
    FILE *log;
    tb__plugins_t *plugins;
    char *err;
} fixture_t;

/* plugins: JSON array text; plugin_config: JSON object text or NULL. */
static void fx_init(fixture_t *fx, const char *plugins, const char *plugin_config)
{
    memset(fx, 0, sizeof(*fx));
    fx->log = tmpfile();
    tb__logger_init(&fx->agent.log, TB_LOG_DEBUG, 0, fx->log);
    fx->cfg.merged = json_object();
    fx->cfg.origins = json_object();
    json_object_set_new(fx->cfg.merged, "plugins", json_loads(plugins, 0, NULL));
    json_object_set_new(fx->cfg.merged, "plugin_dir", json_string(TB_TEST_PLUGIN_DIR));
    if (plugin_config)
        json_object_set_new(fx->cfg.merged, "plugin_config", json_loads(plugin_config, 0, NULL));
    fx->cfg.plugin_dir = json_string_value(json_object_get(fx->cfg.merged, "plugin_dir"));
    fx->agent.config = &fx->cfg;
}

static int fx_load(fixture_t *fx)
{
    return tb__plugins_load(&fx->agent, &fx->plugins, &fx->err);
}

static void fx_done(fixture_t *fx)
{
    tb__plugins_free(fx->plugins);
    free(fx->err);
    json_decref(fx->cfg.merged);
    json_decref(fx->cfg.origins);
    fclose(fx->log);
}

/* The whole log so far (malloc'd). */
static char *fx_log(fixture_t *fx)
{
    fflush(fx->log);
    long n = ftell(fx->log);
    char *s = calloc(1, (size_t)(n > 0 ? n : 0) + 1);
    rewind(fx->log);
    size_t got = fread(s, 1, (size_t)(n > 0 ? n : 0), fx->log);
    s[got] = '\0';
    fseek(fx->log, 0, SEEK_END);
    return s;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle)) n++;
    return n;
}

/* Position of needle in the log, or -1. */
static long log_pos(const char *hay, const char *needle)
{
    const char *p = strstr(hay, needle);
    return p ? (long)(p - hay) : -1;
}

/* Loading `plugins` must fail with exactly `expected`, leaving nothing behind. */
static void expect_refusal(const char *plugins, const char *plugin_config, const char *expected)
{
    fixture_t fx;
    fx_init(&fx, plugins, plugin_config);
    CU_ASSERT_EQUAL(fx_load(&fx), -1);
    CU_ASSERT_PTR_NULL(fx.plugins);
    CU_ASSERT_PTR_NULL(fx.agent.plugins);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fx.err);
    if (strcmp(fx.err, expected) != 0)
        fprintf(stderr, "\n  got:      %s\n  expected: %s\n", fx.err, expected);
    CU_ASSERT_STRING_EQUAL(fx.err, expected);
    CU_ASSERT_PTR_NULL(strchr(fx.err, '\n'));
    fx_done(&fx);
}

/* For messages that embed the dynamic linker's words. */
static void expect_refusal_parts(const char *plugins, const char *prefix, const char *middle,
                                 const char *suffix)
{
    fixture_t fx;
    fx_init(&fx, plugins, NULL);
    CU_ASSERT_EQUAL(fx_load(&fx), -1);
    CU_ASSERT_PTR_NULL(fx.plugins);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fx.err);
    size_t n = strlen(fx.err), ns = strlen(suffix);
    CU_ASSERT_EQUAL(strncmp(fx.err, prefix, strlen(prefix)), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(fx.err, middle));
    CU_ASSERT(n >= ns && strcmp(fx.err + n - ns, suffix) == 0);
    CU_ASSERT_PTR_NULL(strchr(fx.err, '\n'));
    if (strncmp(fx.err, prefix, strlen(prefix)) != 0 || !strstr(fx.err, middle))
        fprintf(stderr, "\n  got: %s\n", fx.err);
    fx_done(&fx);
}

/* ---------------------------------------------------------------- resolution */

static void test_resolve(void)
{
    char *s;
    s = tb__plugin_resolve("http", "/opt/tb/plugins");
    CU_ASSERT_STRING_EQUAL(s, "/opt/tb/plugins/http.so");
    free(s);
    s = tb__plugin_resolve("http", "/opt/tb/plugins/");
    CU_ASSERT_STRING_EQUAL(s, "/opt/tb/plugins/http.so");
    free(s);
    s = tb__plugin_resolve("/x/y.so", "/opt/tb/plugins");
    CU_ASSERT_STRING_EQUAL(s, "/x/y.so");
    free(s);
    s = tb__plugin_resolve("sub/y", "/opt/tb/plugins");
    CU_ASSERT_STRING_EQUAL(s, "sub/y");
    free(s);
    /* A bare file name never goes through the linker's search path. */
    s = tb__plugin_resolve("y.so", "/opt/tb/plugins");
    CU_ASSERT_STRING_EQUAL(s, "./y.so");
    free(s);
    s = tb__plugin_resolve("y.la", "/opt/tb/plugins");
    CU_ASSERT_STRING_EQUAL(s, "./y.la");
    free(s);
    s = tb__plugin_resolve("http", NULL);
    CU_ASSERT_STRING_EQUAL(s, TB_PLUGIN_DIR "/http.so");
    free(s);
}

/* ---------------------------------------------------------------- refusals */

static void test_file_not_found(void)
{
    expect_refusal("[\"/nonexistent/tb/x.so\"]", NULL, "plugin /nonexistent/tb/x.so: file not found");
    /* by name: looked up in plugin_dir */
    expect_refusal("[\"nothere\"]", NULL, "plugin " SO("nothere") ": file not found");
}

static void test_not_loadable(void)
{
    char path[] = "/tmp/tb_test_notelf_XXXXXX.so";
    int fd = mkstemps(path, 3);
    CU_ASSERT_FATAL(fd >= 0);
    char junk[256];
    memset(junk, 'x', sizeof(junk)); /* long enough to have an ELF header's size */
    CU_ASSERT(write(fd, junk, sizeof(junk)) == (ssize_t)sizeof(junk));
    close(fd);
    char plugins[128], prefix[128], suffix[256];
    snprintf(plugins, sizeof(plugins), "[\"%s\"]", path);
    snprintf(prefix, sizeof(prefix), "plugin %s: cannot load: ", path);
    snprintf(suffix, sizeof(suffix), " (a missing dependency is the usual cause; try ldd %s)",
             path);
    expect_refusal_parts(plugins, prefix, "invalid ELF header", suffix);
    unlink(path);
}

/* Resolution at load time: an unresolvable symbol is refused at load, not
 * at the first call. */
static void test_undefined_symbol(void)
{
    expect_refusal_parts("[\"" SO("bad_undefined") "\"]",
                         "plugin " SO("bad_undefined") ": cannot load: ",
                         "undefined symbol: tb_test_symbol_defined_nowhere",
                         LDD_HINT(SO("bad_undefined")));
}

static void test_no_magic(void)
{
    expect_refusal("[\"" SO("bad_nomagic") "\"]", NULL,
                   "plugin " SO("bad_nomagic") ": no magic block (tb_plugin_magic not exported); "
                   "add TB_PLUGIN_MAGIC(\"name\", \"version\") to the plugin");
}

static void test_bad_product(void)
{
    expect_refusal("[\"" SO("bad_product") "\"]", NULL,
                   "plugin " SO("bad_product") ": built for product \"other\", this is \"tribune\"");
}

static void test_bad_major(void)
{
    char want[512];
    snprintf(want, sizeof(want),
             "plugin %s: built for SDK %d.0, agent provides SDK %d.%d "
             "(rebuild the plugin against SDK %d)",
             SO("bad_major"), TB_SDK_MAJOR + 1, TB_SDK_MAJOR, TB_SDK_MINOR, TB_SDK_MAJOR);
    /* alone: its bogus sizes are not mentioned */
    expect_refusal("[\"" SO("bad_major") "\"]", NULL, want);
}

static void test_bad_minor(void)
{
    char want[512];
    snprintf(want, sizeof(want), "plugin %s: requires SDK %d.%d, agent provides SDK %d.%d",
             SO("bad_minor"), TB_SDK_MAJOR, TB_SDK_MINOR + 1, TB_SDK_MAJOR, TB_SDK_MINOR);
    expect_refusal("[\"" SO("bad_minor") "\"]", NULL, want);
}

static void test_bad_sizes(void)
{
    char want[512];
    unsigned t = sizeof(time_t), o = sizeof(off_t);
    snprintf(want, sizeof(want),
             "plugin %s: incompatible build: plugin has sizeof(time_t) = %u, agent has %u; "
             "plugin has sizeof(off_t) = %u, agent has %u",
             SO("bad_sizes"), t == 4 ? 8 : 4, t, o == 4 ? 8 : 4, o);
    expect_refusal("[\"" SO("bad_sizes") "\"]", NULL, want);
}

static void test_short_magic(void)
{
    char want[512];
    snprintf(want, sizeof(want),
             "plugin %s: magic block is %u bytes, SDK %d.0 needs at least %u "
             "(a hand-made or corrupt block; use TB_PLUGIN_MAGIC)",
             SO("bad_shortmagic"), (unsigned)offsetof(tb_plugin_magic_t, sizeof_pointer),
             TB_SDK_MAJOR, (unsigned)sizeof(tb_plugin_magic_t));
    expect_refusal("[\"" SO("bad_shortmagic") "\"]", NULL, want);
}

static void test_no_init(void)
{
    expect_refusal("[\"" SO("bad_noinit") "\"]", NULL,
                   "plugin " SO("bad_noinit") ": no tb_plugin_init function");
}

static void test_init_fails(void)
{
    expect_refusal("[\"" SO("bad_initfail") "\"]", NULL,
                   "plugin " SO("bad_initfail") ": init failed: plugin_config.bad_initfail.required: "
                   "missing (this plugin always fails)");
    /* a failure after a good plugin loaded frees that one too (valgrind) */
    expect_refusal("[\"" SO("good_plugin") "\", \"bad_initfail\"]", NULL,
                   "plugin " SO("bad_initfail") ": init failed: plugin_config.bad_initfail.required: "
                   "missing (this plugin always fails)");
}

/* Copy the file at `from` to `to` (test helper). */
static int copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    int ok = in && out;
    char buf[8192];
    size_t n;
    while (ok && (n = fread(buf, 1, sizeof(buf), in)) > 0) ok = fwrite(buf, 1, n, out) == n;
    if (in) fclose(in);
    if (out && fclose(out) != 0) ok = 0;
    return ok ? 0 : -1;
}

static void test_duplicate_name(void)
{
    /* another file whose magic block also says "good" */
    char dir[] = "/tmp/tb_test_dup_XXXXXX";
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    char copy[64], plugins[256], want[512];
    snprintf(copy, sizeof(copy), "%s/copy_of_good.so", dir);
    CU_ASSERT_EQUAL_FATAL(copy_file(SO("good_plugin"), copy), 0);
    snprintf(plugins, sizeof(plugins), "[\"good_plugin\", \"%s\"]", copy);
    snprintf(want, sizeof(want),
             "plugin %s: a plugin named \"good\" is already loaded from " SO("good_plugin"), copy);
    expect_refusal(plugins, NULL, want);
    unlink(copy);
    rmdir(dir);
}

static void test_section_not_object(void)
{
    expect_refusal("[\"" SO("good_plugin") "\"]", "{\"good\": [1]}",
                   "plugin " SO("good_plugin") ": defaults: plugin_config.good: expected an object");
}

/* ---------------------------------------------------------------- the good plugin */

static void test_good_lifecycle(void)
{
    fixture_t fx;
    fx_init(&fx, "[\"good_plugin\"]", "{\"good\": {\"greeting\": \"hello\"}, \"other\": {}}");
    CU_ASSERT_EQUAL_FATAL(fx_load(&fx), 0);
    CU_ASSERT_PTR_NULL(fx.err);
    tb__plugins_t *p = fx.plugins;
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_PTR_EQUAL(fx.agent.plugins, p);
    CU_ASSERT_EQUAL_FATAL(p->n, 1);
    tb_plugin_t *pl = p->list[0];
    CU_ASSERT_STRING_EQUAL(pl->name, "good");
    CU_ASSERT_STRING_EQUAL(pl->version, "1.2.3");
    CU_ASSERT_STRING_EQUAL(pl->path, SO("good_plugin"));
    CU_ASSERT_PTR_EQUAL(pl->agent, &fx.agent);
    CU_ASSERT_FALSE(pl->in_init);
    CU_ASSERT_FALSE(pl->started);

    /* its own section, as a copy */
    const json_t *section = json_object_get(json_object_get(fx.cfg.merged, "plugin_config"), "good");
    CU_ASSERT(json_equal(pl->config, (json_t *)section));
    CU_ASSERT_PTR_NOT_EQUAL(pl->config, section);

    /* registrations are in the registry, owned by the plugin */
    CU_ASSERT_EQUAL_FATAL(p->nsurfaces, 1);
    CU_ASSERT_STRING_EQUAL(p->surfaces[0].desc.name, "good");
    CU_ASSERT_PTR_EQUAL(p->surfaces[0].owner, pl);
    CU_ASSERT_EQUAL_FATAL(p->ncheck_types, 1);
    CU_ASSERT_STRING_EQUAL(p->check_types[0].desc.name, "good");
    CU_ASSERT_PTR_EQUAL(p->check_types[0].owner, pl);
    CU_ASSERT_EQUAL_FATAL(p->nhandler_types, 1);
    CU_ASSERT_STRING_EQUAL(p->handler_types[0].desc.name, "good");
    CU_ASSERT_PTR_NOT_NULL(pl->ops.start);
    CU_ASSERT_PTR_NOT_NULL(pl->ops.stop);

    char *log = fx_log(&fx);
    CU_ASSERT_EQUAL(count(log, "good: init called, greeting=hello"), 1);
    CU_ASSERT_EQUAL(count(log, "[INFO]  agent: loaded plugin good 1.2.3 from " SO("good_plugin")), 1);
    free(log);

    /* the check type is found by its key (case-insensitively) */
    json_t *def = json_pack("{s:s, s:s}", "name", "x", "good_probe", "pass");
    CU_ASSERT_PTR_EQUAL(tb__plugins_find_check_type(p, def), &p->check_types[0]);
    json_decref(def);
    def = json_pack("{s:s, s:s}", "name", "x", "tcp", "127.0.0.1:1");
    CU_ASSERT_PTR_NULL(tb__plugins_find_check_type(p, def));
    json_decref(def);
    CU_ASSERT_PTR_NULL(tb__plugins_find_check_type(p, NULL));

    /* registration outside init is refused and changes nothing */
    const tb_api_t *api = tb__api_table();
    tb_surface_desc_t late = {sizeof(late), TB_SURFACE_DESC_VERSION, "late", "too late"};
    CU_ASSERT_EQUAL(api->register_surface(pl, &late), -1);
    CU_ASSERT_EQUAL(p->nsurfaces, 1);
    tb_plugin_ops_t ops = {sizeof(ops), TB_PLUGIN_OPS_VERSION, NULL, NULL, NULL, NULL};
    CU_ASSERT_EQUAL(api->set_ops(pl, &ops), -1);
    CU_ASSERT_PTR_NOT_NULL(pl->ops.start);

    /* start once */
    CU_ASSERT_EQUAL(tb__plugins_start(p, &fx.err), 0);
    CU_ASSERT_PTR_NULL(fx.err);
    CU_ASSERT_TRUE(pl->started);

    /* reload with a new section */
    json_object_set_new(json_object_get(json_object_get(fx.cfg.merged, "plugin_config"), "good"),
                        "greeting", json_string("bye"));
    CU_ASSERT_EQUAL(tb__plugins_reload(p, &fx.err), 0);
    CU_ASSERT_PTR_NULL(fx.err);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(pl->config, "greeting")), "bye");

    /* a refused reload keeps the previous section */
    json_object_set_new(json_object_get(json_object_get(fx.cfg.merged, "plugin_config"), "good"),
                        "fail_reload", json_true());
    CU_ASSERT_EQUAL(tb__plugins_reload(p, &fx.err), -1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fx.err);
    CU_ASSERT_STRING_EQUAL(fx.err, "plugin " SO("good_plugin")
                                   ": reload failed: asked to fail by plugin_config.good.fail_reload");
    CU_ASSERT_PTR_NULL(json_object_get(pl->config, "fail_reload"));
    free(fx.err);
    fx.err = NULL;

    /* stop once, even if asked twice */
    tb__plugins_stop(p);
    tb__plugins_stop(p);
    CU_ASSERT_FALSE(pl->started);

    log = fx_log(&fx);
    CU_ASSERT_EQUAL(count(log, "good: start called"), 1);
    CU_ASSERT_EQUAL(count(log, "good: reload called, greeting=bye"), 2);
    CU_ASSERT_EQUAL(count(log, "good: stop called"), 1);
    free(log);
    fx_done(&fx);
}

static void test_start_failure(void)
{
    fixture_t fx;
    fx_init(&fx, "[\"good_plugin\", \"good2_plugin\"]", "{\"good2\": {\"fail_start\": true}}");
    CU_ASSERT_EQUAL_FATAL(fx_load(&fx), 0);
    CU_ASSERT_EQUAL(tb__plugins_start(fx.plugins, &fx.err), -1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fx.err);
    CU_ASSERT_STRING_EQUAL(fx.err, "plugin " SO("good2_plugin")
                                   ": start failed: asked to fail by plugin_config.good2.fail_start");
    /* every plugin whose init succeeded is stopped, started or not, so
     * init-time state is always freed */
    tb__plugins_stop(fx.plugins);
    char *log = fx_log(&fx);
    CU_ASSERT_EQUAL(count(log, "good: stop called"), 1);
    CU_ASSERT_EQUAL(count(log, "good2: stop called"), 1);
    free(log);
    fx_done(&fx);
}

static void test_order(void)
{
    fixture_t fx;
    /* good2 through its libtool archive: libltdl finds .libs/good2_plugin.so */
    fx_init(&fx, "[\"good_plugin\", \"" TB_TEST_LA_DIR "/good2_plugin.la\"]", NULL);
    CU_ASSERT_EQUAL_FATAL(fx_load(&fx), 0);
    CU_ASSERT_EQUAL_FATAL(fx.plugins->n, 2);
    CU_ASSERT_STRING_EQUAL(fx.plugins->list[1]->name, "good2");
    CU_ASSERT_STRING_EQUAL(fx.plugins->list[1]->path, TB_TEST_LA_DIR "/good2_plugin.la");
    /* an absent section is an empty object */
    CU_ASSERT(json_is_object(fx.plugins->list[1]->config));
    CU_ASSERT_EQUAL(json_object_size(fx.plugins->list[1]->config), 0);
    /* each check type is found by its own key */
    json_t *def = json_pack("{s:s}", "good2_probe", "pass");
    CU_ASSERT_PTR_EQUAL(tb__plugins_find_check_type(fx.plugins, def)->owner,
                        fx.plugins->list[1]);
    json_decref(def);

    CU_ASSERT_EQUAL(tb__plugins_start(fx.plugins, &fx.err), 0);
    tb__plugins_stop(fx.plugins);
    char *log = fx_log(&fx);
    /* start in load order, stop in reverse */
    CU_ASSERT(log_pos(log, "good: start called") < log_pos(log, "good2: start called"));
    CU_ASSERT(log_pos(log, "good2: stop called") < log_pos(log, "good: stop called"));
    CU_ASSERT(log_pos(log, "good: stop called") > 0);
    free(log);
    fx_done(&fx);
}

/* Two agents in one process each have their own registry. */
static void test_two_agents(void)
{
    fixture_t a, b;
    fx_init(&a, "[\"good_plugin\"]", NULL);
    fx_init(&b, "[\"good_plugin\"]", NULL);
    CU_ASSERT_EQUAL_FATAL(fx_load(&a), 0);
    CU_ASSERT_EQUAL_FATAL(fx_load(&b), 0);
    CU_ASSERT_EQUAL(a.plugins->nsurfaces, 1);
    CU_ASSERT_EQUAL(b.plugins->nsurfaces, 1);
    CU_ASSERT_PTR_EQUAL(a.plugins->list[0]->agent, &a.agent);
    CU_ASSERT_PTR_EQUAL(b.plugins->list[0]->agent, &b.agent);
    fx_done(&a);
    /* b still works after a released libltdl */
    CU_ASSERT_EQUAL(tb__plugins_start(b.plugins, &b.err), 0);
    tb__plugins_stop(b.plugins);
    fx_done(&b);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("plugin loader", NULL, NULL);
    CU_add_test(s, "resolve names and paths", test_resolve);
    CU_add_test(s, "file not found", test_file_not_found);
    CU_add_test(s, "not loadable", test_not_loadable);
    CU_add_test(s, "undefined symbol refused at load", test_undefined_symbol);
    CU_add_test(s, "no magic block", test_no_magic);
    CU_add_test(s, "other product", test_bad_product);
    CU_add_test(s, "other SDK major, reported alone", test_bad_major);
    CU_add_test(s, "newer SDK minor", test_bad_minor);
    CU_add_test(s, "size facts differ", test_bad_sizes);
    CU_add_test(s, "magic block too short", test_short_magic);
    CU_add_test(s, "no init function", test_no_init);
    CU_add_test(s, "init fails", test_init_fails);
    CU_add_test(s, "duplicate name", test_duplicate_name);
    CU_add_test(s, "section not an object", test_section_not_object);
    CU_add_test(s, "good plugin lifecycle", test_good_lifecycle);
    CU_add_test(s, "start failure", test_start_failure);
    CU_add_test(s, "start and stop order", test_order);
    CU_add_test(s, "two agents", test_two_agents);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
