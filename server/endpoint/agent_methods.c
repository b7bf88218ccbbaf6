/*
 * agent_methods.c - the endpoint methods over the agent's local state
 * (server/agent/checks.c): service and check registration, TTL updates,
 * maintenance, the local health of a service. They answer from this agent
 * alone (no state store needed, so clients without servers serve them
 * too); the local state writes the catalog through Catalog.Register.
 * doc/sdk.md lists their arguments and results.
 */
#include "tb_autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/checks.h"
#include "endpoint/endpoint_int.h"

#define LOCAL(ep) ((ep)->agent->checks)

/* Map a local-state answer onto the call's outcome. */
/* Callers evaluate the local call first: err and json are its outputs. */
static void finish(tb__ep_out_t *out, tb_status_t st, char *err, json_t *json)
{
    if (st != TB_OK) {
        tb__ep_fail(out, st, "%s", err ? err : "request failed");
        json_decref(json);
    } else {
        out->json = json ? json : json_null();
    }
    free(err);
}

static int ready(tb__endpoint_t *ep, tb__ep_out_t *out)
{
    if (LOCAL(ep)) return 1;
    tb__ep_fail(out, TB_UNAVAILABLE, "agent local state is not running");
    return 0;
}

static const char *need(const json_t *a, const char *name, tb__ep_out_t *out)
{
    const char *s = tb__jstr(a, name);
    if (!s || !*s) tb__ep_fail(out, TB_BAD_REQUEST, "Missing %s", name);
    return s && *s ? s : NULL;
}

void tb__m_agent_service_register(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out,
                                  tb__buf_t *c)
{
    (void)c;
    if (!ready(ep, out)) return;
    const json_t *def = tb__jget(a, "Service");
    char *err = NULL;
    tb_status_t st = tb__local_service_register(
        LOCAL(ep), def ? def : a, json_is_true(tb__jget(a, "ReplaceExistingChecks")), &err);
    finish(out, st, err, NULL);
}

void tb__m_agent_service_deregister(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out,
                                    tb__buf_t *c)
{
    (void)c;
    if (!ready(ep, out)) return;
    const char *id = need(a, "ServiceID", out);
    if (!id) return;
    char *err = NULL;
    tb_status_t st = tb__local_service_deregister(LOCAL(ep), id, &err);
    finish(out, st, err, NULL);
}

void tb__m_agent_check_register(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out,
                                tb__buf_t *c)
{
    (void)c;
    if (!ready(ep, out)) return;
    const json_t *def = tb__jget(a, "Check");
    char *err = NULL;
    tb_status_t st = tb__local_check_register(LOCAL(ep), def ? def : a, &err);
    finish(out, st, err, NULL);
}

void tb__m_agent_check_deregister(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out,
                                  tb__buf_t *c)
{
    (void)c;
    if (!ready(ep, out)) return;
    const char *id = need(a, "CheckID", out);
    if (!id) return;
    char *err = NULL;
    tb_status_t st = tb__local_check_deregister(LOCAL(ep), id, &err);
    finish(out, st, err, NULL);
}

void tb__m_agent_check_update(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out,
                              tb__buf_t *c)
{
    (void)c;
    if (!ready(ep, out)) return;
    const char *id = need(a, "CheckID", out);
    if (!id) return;
    const char *status = tb__jstr(a, "Status");
    const char *output = tb__jstr(a, "Output");
    char *err = NULL;
    tb_status_t st = tb__local_check_update(LOCAL(ep), id, status ? status : "", output, &err);
    finish(out, st, err, NULL);
}

/* A read of the local state keyed by one string argument. */
static void local_read(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out, const char *arg,
                       tb_status_t (*get)(tb__checks_t *, const char *, json_t **, char **))
{
    if (!ready(ep, out)) return;
    const char *key = need(a, arg, out);
    if (!key) return;
    char *err = NULL;
    json_t *j = NULL;
    /* j is set by the call: sequence it before reading j. */
    tb_status_t st = get(LOCAL(ep), key, &j, &err);
    finish(out, st, err, j);
}

void tb__m_agent_service(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out, tb__buf_t *c)
{
    (void)c;
    local_read(ep, a, out, "ServiceID", tb__local_service_get);
}

void tb__m_agent_health_by_name(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out,
                                tb__buf_t *c)
{
    (void)c;
    local_read(ep, a, out, "ServiceName", tb__local_health_by_name);
}

void tb__m_agent_health_by_id(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out,
                              tb__buf_t *c)
{
    (void)c;
    local_read(ep, a, out, "ServiceID", tb__local_health_by_id);
}

static int enable_arg(const json_t *a, tb__ep_out_t *out)
{
    const json_t *e = tb__jget(a, "Enable");
    if (!json_is_boolean(e)) {
        tb__ep_fail(out, TB_BAD_REQUEST, "Missing value for enable");
        return -1;
    }
    return json_is_true(e);
}

void tb__m_agent_maintenance(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out,
                             tb__buf_t *c)
{
    (void)c;
    if (!ready(ep, out)) return;
    int en = enable_arg(a, out);
    if (en < 0) return;
    char *err = NULL;
    tb_status_t st = tb__local_maintenance(LOCAL(ep), NULL, en, tb__jstr(a, "Reason"), &err);
    finish(out, st, err, NULL);
}

void tb__m_agent_service_maintenance(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out,
                                     tb__buf_t *c)
{
    (void)c;
    if (!ready(ep, out)) return;
    const char *id = need(a, "ServiceID", out);
    if (!id) return;
    int en = enable_arg(a, out);
    if (en < 0) return;
    char *err = NULL;
    tb_status_t st = tb__local_maintenance(LOCAL(ep), id, en, tb__jstr(a, "Reason"), &err);
    finish(out, st, err, NULL);
}
