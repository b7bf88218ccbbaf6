/*
 * local_cmd.c - the CLI over the agent's local state: `tribune services
 * register|deregister` (service definition files or flags),
 * `tribune maint` (node or service maintenance; no flag lists it) and
 * `tribune reload`. Messages follow Consul's CLI (spec/cli.md).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli_int.h"
#include "cli/gossip_cmd.h"

#define END_FLAGS {NULL, 0, NULL, NULL, NULL, NULL, 0, NULL, 0}

/* One request; 0 on 2xx, else prints "<what>: <error>" and returns -1. */
int tb__cli_call(const tb__http_opts_t *o, const char *method, const char *path, const char *q,
                 const char *body, const char *what, json_t **out)
{
    tb__http_resp_t r;
    if (tb__http_do(o, method, path, q, body, body ? strlen(body) : 0, &r) != 0) {
        fprintf(stderr, "%s: %s\n", what, r.err);
        tb__http_resp_free(&r);
        return -1;
    }
    if (r.status < 200 || r.status > 299) {
        char *e = tb__http_status_error(&r);
        fprintf(stderr, "%s: %s\n", what, e ? e : "request failed");
        free(e);
        tb__http_resp_free(&r);
        return -1;
    }
    if (out) {
        json_error_t err;
        *out = tb__json_loads_u64(r.body, r.len, &err);
        if (!*out) {
            fprintf(stderr, "%s: invalid JSON in the response: %s\n", what, err.text);
            tb__http_resp_free(&r);
            return -1;
        }
    }
    tb__http_resp_free(&r);
    return 0;
}

/* ------------------------------------------------------------ reload */

static const char reload_help[] =
    "Usage: tribune reload [options]\n\n"
    "  Causes the agent to reload configurations. This can be used instead\n"
    "  of sending the SIGHUP signal to the agent.\n";

int tb__cmd_reload(int argc, char **argv)
{
    tb__http_opts_t o = {0};
    tb__flag_t flags[] = {TB__HTTP_FLAGS(&o), END_FLAGS};
    int first;
    int rc = tb__flags_parse(flags, argc, argv, &first, reload_help, NULL);
    if (rc != TB__FLAGS_OK) return rc == TB__FLAGS_HELP ? 0 : 1;
    if (tb__cli_call(&o, "PUT", "/v1/agent/reload", NULL, NULL, "Error reloading", NULL) != 0) return 1;
    printf("Configuration reload triggered\n");
    return 0;
}

/* ------------------------------------------------------------ maint */

static const char maint_help[] =
    "Usage: tribune maint [options]\n\n"
    "  Places a node or service into maintenance mode. During maintenance mode,\n"
    "  the node or service will be excluded from all queries through the DNS\n"
    "  or API interfaces, effectively taking it out of the pool of available\n"
    "  nodes. This is done by registering an additional critical health check.\n\n"
    "  When enabling maintenance mode for a node or service, you may optionally\n"
    "  specify a reason string. This string will appear in the \"Notes\" field\n"
    "  of the critical health check which is registered against the node or\n"
    "  service. If no reason is provided, a default value will be used.\n\n"
    "  Maintenance mode is persistent, and will be restored in the event of an\n"
    "  agent restart. It is therefore required to disable maintenance mode on\n"
    "  a given node or service before it will be placed back into the pool.\n\n"
    "  If no arguments are given, the agent's maintenance status will be shown.\n";

static int maint_list(const tb__http_opts_t *o)
{
    json_t *self = NULL, *checks = NULL;
    if (tb__cli_call(o, "GET", "/v1/agent/self", NULL, NULL, "Error querying agent", &self) != 0)
        return 1;
    if (tb__cli_call(o, "GET", "/v1/agent/checks", NULL, NULL, "Error getting checks", &checks) != 0) {
        json_decref(self);
        return 1;
    }
    const char *node = json_string_value(json_object_get(json_object_get(self, "Config"),
                                                         "NodeName"));
    const char *id;
    json_t *k;
    json_object_foreach(checks, id, k) {
        const char *notes = json_string_value(json_object_get(k, "Notes"));
        if (!strcmp(id, "_node_maintenance")) {
            printf("Node:\n  Name:   %s\n  Reason: %s\n\n", node ? node : "", notes ? notes : "");
        } else if (!strncmp(id, "_service_maintenance:", 21)) {
            const char *sid = json_string_value(json_object_get(k, "ServiceID"));
            printf("Service:\n  ID:     %s\n  Reason: %s\n\n", sid ? sid : "",
                   notes ? notes : "");
        }
    }
    json_decref(self);
    json_decref(checks);
    return 0;
}

int tb__cmd_maint(int argc, char **argv)
{
    tb__http_opts_t o = {0};
    int enable = 0, disable = 0;
    const char *reason = NULL, *service = NULL;
    tb__flag_t flags[] = {
        {"enable", TB__F_BOOL, &enable, NULL, "Enable maintenance mode.", NULL, 0, NULL, 0},
        {"disable", TB__F_BOOL, &disable, NULL, "Disable maintenance mode.", NULL, 0, NULL, 0},
        {"reason", TB__F_STRING, &reason, "<string>",
         "Text describing the maintenance reason.", NULL, 0, NULL, 0},
        {"service", TB__F_STRING, &service, "<serviceID>",
         "Control maintenance mode for a specific service ID.", NULL, 0, NULL, 0},
        TB__HTTP_FLAGS(&o),
        END_FLAGS,
    };
    int first;
    int rc = tb__flags_parse(flags, argc, argv, &first, maint_help, NULL);
    if (rc != TB__FLAGS_OK) return rc == TB__FLAGS_HELP ? 0 : 1;
    if (enable && disable) {
        fprintf(stderr, "Only one of -enable or -disable may be provided\n");
        return 1;
    }
    if (!enable && reason && *reason) {
        fprintf(stderr, "Reason may only be provided with -enable\n");
        return 1;
    }
    if (!enable && !disable && service && *service) {
        fprintf(stderr, "Service requires either -enable or -disable\n");
        return 1;
    }
    if (!enable && !disable) return maint_list(&o);

    tb__buf_t q = {0};
    tb__buf_printf(&q, "enable=%s", enable ? "true" : "false");
    if (reason && *reason) {
        char *r = tb__url_escape(reason, 0);
        tb__buf_printf(&q, "&reason=%s", r ? r : "");
        free(r);
    }
    char *path = NULL;
    if (service && *service) {
        char *s = tb__url_escape(service, 0);
        tb__buf_t p = {0};
        tb__buf_printf(&p, "/v1/agent/service/maintenance/%s", s ? s : "");
        free(s);
        path = p.s;
    }
    const char *what = service && *service
                           ? (enable ? "Error enabling service maintenance"
                                     : "Error disabling service maintenance")
                           : (enable ? "Error enabling node maintenance"
                                     : "Error disabling node maintenance");
    int bad = tb__cli_call(&o, "PUT", path ? path : "/v1/agent/maintenance", q.s, NULL, what, NULL);
    free(q.s);
    free(path);
    if (bad) return 1;
    if (service && *service)
        printf("Service maintenance is now %s for \"%s\"\n", enable ? "enabled" : "disabled",
               service);
    else
        printf("Node maintenance is now %s\n", enable ? "enabled" : "disabled");
    return 0;
}

/* ------------------------------------------------------------ services */

static const char services_help[] =
    "Usage: tribune services <subcommand> [options] [args]\n\n"
    "  This command has subcommands for interacting with services. The\n"
    "  subcommands default to working with services registered with the local\n"
    "  agent.\n\n"
    "  Register a service from a definition file:\n\n"
    "      $ tribune services register web.json\n\n"
    "  Register a service with flags:\n\n"
    "      $ tribune services register -name=web -port=80\n\n"
    "  Deregister a service by ID or by its definition file:\n\n"
    "      $ tribune services deregister -id=web\n\n"
    "Subcommands:\n"
    "    deregister    Deregister services with the local agent\n"
    "    register      Register services with the local agent\n";

static const char register_help[] =
    "Usage: tribune services register [options] [FILE...]\n\n"
    "  Register one or more services using the local agent API. Services can\n"
    "  be registered from standard Consul configuration files (HCL is not\n"
    "  supported: JSON only) or using flags. The service is registered and the\n"
    "  command returns. The caller must remember to call \"services deregister\"\n"
    "  or a similar API to deregister the service when complete.\n";

static const char deregister_help[] =
    "Usage: tribune services deregister [options] [FILE...]\n\n"
    "  Deregister one or more services that were previously registered with\n"
    "  the local agent, by -id or by the definition files that registered\n"
    "  them.\n";

/* The service objects of a definition file: {"service":{}}, {"services":
 * [...]} or a bare service object. New reference (an array), or NULL. */
static json_t *file_services(const char *path)
{
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    if (!j) {
        fprintf(stderr, "Error: %s: %s (line %d)\n", path, e.text, e.line);
        return NULL;
    }
    json_t *out = json_array();
    const char *k;
    json_t *v, *one = NULL, *many = NULL;
    json_object_foreach(j, k, v) {
        if (!strcasecmp(k, "service")) one = v;
        else if (!strcasecmp(k, "services")) many = v;
    }
    if (json_is_object(one)) json_array_append(out, one);
    if (json_is_array(many)) json_array_extend(out, many);
    if (!one && !many && json_is_object(j)) json_array_append(out, j);
    json_decref(j);
    if (json_array_size(out) == 0) {
        fprintf(stderr, "Error: %s: no service definition found\n", path);
        json_decref(out);
        return NULL;
    }
    return out;
}

static const char *field(const json_t *s, const char *a, const char *b)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)s, k, v)
        if ((!strcasecmp(k, a) || (b && !strcasecmp(k, b))) && json_is_string(v))
            return json_string_value(v);
    return NULL;
}

static int services_register(int argc, char **argv)
{
    tb__http_opts_t o = {0};
    const char *name = NULL, *id = NULL, *address = NULL;
    int64_t port = 0;
    tb__strlist_t tags = {0}, meta = {0};
    tb__flag_t flags[] = {
        {"name", TB__F_STRING, &name, "<name>", "Name of the service to register.", NULL, 0,
         NULL, 0},
        {"id", TB__F_STRING, &id, "<id>", "ID of the service to register (default: name).",
         NULL, 0, NULL, 0},
        {"address", TB__F_STRING, &address, "<addr>", "Address of the service.", NULL, 0, NULL,
         0},
        {"port", TB__F_INT, &port, "<port>", "Port of the service.", NULL, 0, NULL, 0},
        {"tag", TB__F_LIST, &tags, "<tag>", "Tag to add to the service (repeatable).", NULL, 0,
         NULL, 0},
        {"meta", TB__F_LIST, &meta, "<key=value>", "Metadata key=value (repeatable).", NULL, 0,
         NULL, 0},
        TB__HTTP_FLAGS(&o),
        END_FLAGS,
    };
    int first, ret = 1;
    int rc = tb__flags_parse(flags, argc, argv, &first, register_help, NULL);
    if (rc != TB__FLAGS_OK) {
        ret = rc == TB__FLAGS_HELP ? 0 : 1;
        goto out;
    }
    json_t *svcs = json_array();
    if (first < argc) {
        if (name && *name) {
            fprintf(stderr, "Error: flags and files cannot be combined\n");
            json_decref(svcs);
            goto out;
        }
        for (int i = first; i < argc; i++) {
            json_t *f = file_services(argv[i]);
            if (!f) {
                json_decref(svcs);
                goto out;
            }
            json_array_extend(svcs, f);
            json_decref(f);
        }
    } else {
        if (!name || !*name) {
            fprintf(stderr, "Error: the -name flag or a definition file is required\n");
            json_decref(svcs);
            goto out;
        }
        json_t *s = json_pack("{s:s,s:s,s:s,s:I,s:[],s:{}}", "Name", name, "ID",
                              id && *id ? id : name, "Address", address ? address : "", "Port",
                              (json_int_t)port, "Tags", "Meta");
        for (size_t i = 0; i < tags.n; i++)
            json_array_append_new(json_object_get(s, "Tags"), json_string(tags.v[i]));
        for (size_t i = 0; i < meta.n; i++) {
            const char *eq = strchr(meta.v[i], '=');
            if (!eq) {
                fprintf(stderr, "Error: -meta must be key=value, got \"%s\"\n", meta.v[i]);
                json_decref(s);
                json_decref(svcs);
                goto out;
            }
            char *key = strndup(meta.v[i], (size_t)(eq - meta.v[i]));
            if (key) json_object_set_new(json_object_get(s, "Meta"), key, json_string(eq + 1));
            free(key);
        }
        json_array_append_new(svcs, s);
    }
    ret = 0;
    size_t i;
    json_t *s;
    json_array_foreach(svcs, i, s) {
        const char *sname = field(s, "Name", NULL);
        char *body = json_dumps(s, JSON_COMPACT);
        char what[300];
        snprintf(what, sizeof what, "Error registering service \"%s\"", sname ? sname : "");
        if (tb__cli_call(&o, "PUT", "/v1/agent/service/register", NULL, body, what, NULL) != 0) {
            ret = 1;
        } else {
            printf("Registered service: %s\n", sname ? sname : "");
        }
        free(body);
        if (ret) break;
    }
    json_decref(svcs);
out:
    tb__strlist_free(&tags);
    tb__strlist_free(&meta);
    return ret;
}

static int services_deregister(int argc, char **argv)
{
    tb__http_opts_t o = {0};
    const char *id = NULL;
    tb__flag_t flags[] = {
        {"id", TB__F_STRING, &id, "<id>", "ID of the service to deregister.", NULL, 0, NULL, 0},
        TB__HTTP_FLAGS(&o),
        END_FLAGS,
    };
    int first;
    int rc = tb__flags_parse(flags, argc, argv, &first, deregister_help, NULL);
    if (rc != TB__FLAGS_OK) return rc == TB__FLAGS_HELP ? 0 : 1;
    json_t *ids = json_array();
    if (id && *id) {
        if (first < argc) {
            fprintf(stderr, "Error: -id and files cannot be combined\n");
            json_decref(ids);
            return 1;
        }
        json_array_append_new(ids, json_string(id));
    } else if (first < argc) {
        for (int i = first; i < argc; i++) {
            json_t *f = file_services(argv[i]);
            if (!f) {
                json_decref(ids);
                return 1;
            }
            size_t j;
            json_t *s;
            json_array_foreach(f, j, s) {
                const char *sid = field(s, "ID", NULL);
                if (!sid || !*sid) sid = field(s, "Name", NULL);
                if (sid) json_array_append_new(ids, json_string(sid));
            }
            json_decref(f);
        }
    } else {
        fprintf(stderr, "Error: the -id flag or a definition file is required\n");
        json_decref(ids);
        return 1;
    }
    int ret = 0;
    size_t i;
    json_t *x;
    json_array_foreach(ids, i, x) {
        const char *sid = json_string_value(x);
        char *esc = tb__url_escape(sid, 0);
        tb__buf_t p = {0};
        tb__buf_printf(&p, "/v1/agent/service/deregister/%s", esc ? esc : "");
        free(esc);
        char what[300];
        snprintf(what, sizeof what, "Error deregistering service \"%s\"", sid);
        if (tb__cli_call(&o, "PUT", p.s, NULL, NULL, what, NULL) != 0) ret = 1;
        else printf("Deregistered service: %s\n", sid);
        free(p.s);
        if (ret) break;
    }
    json_decref(ids);
    return ret;
}

int tb__cmd_services(int argc, char **argv)
{
    if (argc < 1 || !strcmp(argv[0], "-h") || !strcmp(argv[0], "--help") ||
        !strcmp(argv[0], "-help")) {
        fputs(services_help, argc < 1 ? stderr : stdout);
        return argc < 1 ? 1 : 0;
    }
    if (!strcmp(argv[0], "register")) return services_register(argc - 1, argv + 1);
    if (!strcmp(argv[0], "deregister")) return services_deregister(argc - 1, argv + 1);
    fprintf(stderr, "Unknown subcommand: \"%s\"\n\n%s", argv[0], services_help);
    return 1;
}
