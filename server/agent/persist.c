/*
 * persist.c - the agent's API-registered services and checks (with the
 * status of TTL and maintenance checks) saved in data_dir/local.json so
 * they survive a restart, as Consul's data_dir/services and checks. The
 * file is rewritten whole through a temporary file and rename(), so a
 * crash leaves the old or the new state, never half of one. Config-defined
 * entries are not saved: the config files are their source. -dev (no
 * data_dir) keeps everything in memory.
 */
#include "tb_autoconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/checks_int.h"

static int state_path(const tb__checks_t *c, char *buf, size_t n, const char *suffix)
{
    const char *dir = c->agent->config->data_dir;
    if (!dir || !*dir || c->agent->config->dev) return -1;
    snprintf(buf, n, "%s/local.json%s", dir, suffix);
    return 0;
}

void tb__persist_save(tb__checks_t *c)
{
    char path[4096], tmp[4200];
    if (state_path(c, path, sizeof path, "") || state_path(c, tmp, sizeof tmp, ".tmp")) return;
    json_t *svcs = json_array(), *checks = json_array();
    const char *id;
    json_t *v;
    json_object_foreach(c->api_services, id, v) {
        json_t *s = json_object_get(c->services, id);
        if (s) json_array_append(svcs, s);
    }
    for (size_t i = 0; i < c->n; i++) {
        const tb__check_t *k = c->list[i];
        if (!k || k->source != TB__SRC_API) continue;
        json_array_append_new(checks, json_pack("{s:O,s:s,s:s}", "Definition", k->definition,
                                                "Status", tb__check_status_name(k->status),
                                                "Output", k->output ? k->output : ""));
    }
    json_t *all = json_pack("{s:i,s:o,s:o}", "Version", 1, "Services", svcs, "Checks", checks);
    mkdir(c->agent->config->data_dir, 0700);
    if (json_dump_file(all, tmp, JSON_COMPACT) != 0 || rename(tmp, path) != 0) {
        tb__log(&c->agent->log, TB_LOG_ERROR, "agent", "cannot save local state to %s: %s", path,
                strerror(errno));
        remove(tmp);
    }
    json_decref(all);
}

json_t *tb__persist_load(tb__checks_t *c)
{
    char path[4096];
    if (state_path(c, path, sizeof path, "")) return NULL;
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    if (!j) {
        struct stat sb;
        if (stat(path, &sb) == 0)
            tb__log(&c->agent->log, TB_LOG_WARN, "agent", "ignoring unreadable %s: %s", path,
                    e.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        tb__log(&c->agent->log, TB_LOG_WARN, "agent", "ignoring malformed %s", path);
        json_decref(j);
        return NULL;
    }
    return j;
}
