/*
 * check_file.c - an example Tribune plugin, built out of tree with only
 * pkg-config and tribune-plugin.mk (see README.md and doc/plugin-authors.md).
 *
 * It adds the check type "file": a check whose definition has a "file" key
 *   {"check": {"id": "flag", "name": "flag file", "file": "/tmp/x", "interval": "1s"}}
 * is passing while that path exists and critical otherwise, with the output
 *   file /tmp/x exists
 *   file /tmp/x: No such file or directory
 *
 * The probe never blocks the agent's loop: it starts a uv_fs_stat on the
 * agent loop and reports with api->probe_done() from the completion.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tribune/plugin.h>

TB_PLUGIN_MAGIC("check_file", "1.0.0")

/* What the plugin keeps between calls: the API table and its own record
 * (to reach the agent loop from a probe). Allocated in init, freed in stop. */
typedef struct check_file {
    const tb_api_t *api;
    tb_plugin_t *self;
} check_file_t;

/* One stat in flight. It holds copies of what the completion needs, so it
 * stays valid even when the plugin is stopped while a stat is pending. */
typedef struct file_probe {
    uv_fs_t req;
    const tb_api_t *api;
    tb_probe_t *probe;
} file_probe_t;

static const char *definition_path(const json_t *def)
{
    return json_string_value(json_object_get(def, "file"));
}

/* Definitions arrive with lowercased keys; refuse what would never work,
 * naming the key as Consul's errors do. */
static int file_validate(void *arg, const json_t *def, char **errmsg)
{
    (void)arg;
    const json_t *v = json_object_get(def, "file");
    char buf[256];
    if (!json_is_string(v) || json_string_length(v) == 0) {
        *errmsg = strdup("file: expected a non-empty string (the path to watch)");
        return -1;
    }
    if (json_string_value(v)[0] != '/') {
        snprintf(buf, sizeof(buf), "file: \"%.200s\" is not an absolute path",
                 json_string_value(v));
        *errmsg = strdup(buf);
        return -1;
    }
    return 0;
}

static void stat_done(uv_fs_t *req)
{
    file_probe_t *fp = req->data;
    char out[512];
    /* libuv reports -errno on Unix: strerror gives the familiar wording. */
    if (req->result >= 0)
        snprintf(out, sizeof(out), "file %s exists", req->path);
    else
        snprintf(out, sizeof(out), "file %s: %s", req->path, strerror((int)-req->result));
    fp->api->probe_done(fp->probe, req->result >= 0 ? TB_CHECK_PASSING : TB_CHECK_CRITICAL, out);
    uv_fs_req_cleanup(req);
    free(fp);
}

static int file_probe(void *arg, tb_probe_t *probe, char **errmsg)
{
    check_file_t *cf = arg;
    const char *path = definition_path(cf->api->probe_definition(probe));
    file_probe_t *fp = calloc(1, sizeof(*fp));
    if (!fp || !path) {
        free(fp);
        *errmsg = strdup(path ? "check_file: out of memory" : "file: missing");
        return -1;
    }
    fp->api = cf->api;
    fp->probe = probe;
    fp->req.data = fp;
    int rc = uv_fs_stat(cf->api->loop(cf->self), &fp->req, path, stat_done);
    if (rc < 0) {
        char buf[512];
        snprintf(buf, sizeof(buf), "file %s: %s", path, uv_strerror(rc));
        *errmsg = strdup(buf);
        free(fp);
        return -1;
    }
    return 0;
}

static void check_file_stop(tb_plugin_t *self, void *arg)
{
    (void)self;
    free(arg);
}

TB_EXPORT int tb_plugin_init(tb_plugin_t *self, const tb_api_t *api, char **errmsg)
{
    /* This plugin takes no settings: say so if someone gives it some. */
    if (json_object_size(api->config(self)) != 0) {
        char buf[256];
        snprintf(buf, sizeof(buf), "%s: plugin_config.check_file: this plugin has no settings",
                 api->config_origin(self, "plugin_config"));
        *errmsg = strdup(buf);
        return -1;
    }
    check_file_t *cf = calloc(1, sizeof(*cf));
    if (!cf) {
        *errmsg = strdup("out of memory");
        return -1;
    }
    cf->api = api;
    cf->self = self;

    tb_plugin_ops_t ops = {
        .size = sizeof(ops),
        .version = TB_PLUGIN_OPS_VERSION,
        .stop = check_file_stop,
        .arg = cf,
    };
    tb_check_type_desc_t type = {
        .size = sizeof(type),
        .version = TB_CHECK_TYPE_DESC_VERSION,
        .name = "file",       /* the check's Type in the catalog */
        .config_key = "file", /* a definition with "file" is ours */
        .validate = file_validate,
        .probe = file_probe,
        .arg = cf,
    };
    if (api->set_ops(self, &ops) != 0 || api->register_check_type(self, &type) != 0) {
        free(cf);
        *errmsg = strdup("cannot register the \"file\" check type (already claimed?)");
        return -1;
    }
    api->log(self, TB_LOG_DEBUG, "check type \"file\" registered");
    return 0;
}
