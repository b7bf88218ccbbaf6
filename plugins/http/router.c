/*
 * router.c - query decoding, common options, path cleaning, the route
 * table and status mapping of the http plugin (see router.h). Every rule
 * here mirrors Consul's agent/http*.go or Go's net/http ServeMux, since
 * clients depend on the exact behaviour (spec/http-api.md §1).
 */
#include "router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ queries */

static int query_push(tbh_query_t *q, char *key, char *value)
{
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 8;
        tbh_param_t *v = realloc(q->v, cap * sizeof(*v));
        if (!v)
            return -1;
        q->v = v;
        q->cap = cap;
    }
    q->v[q->n].key = key;
    q->v[q->n].value = value;
    q->n++;
    return 0;
}

int tbh_query_parse(tbh_query_t *q, const char *raw, size_t len)
{
    size_t i = 0;
    while (raw && i < len) {
        size_t end = i;
        while (end < len && raw[end] != '&')
            end++;
        const char *part = raw + i;
        size_t plen = end - i;
        i = end + 1;
        if (plen == 0 || memchr(part, ';', plen)) /* Go 1.17+: ';' invalidates the pair */
            continue;
        const char *eq = memchr(part, '=', plen);
        size_t klen = eq ? (size_t)(eq - part) : plen;
        char *key = NULL, *value = NULL;
        int rc = tbh_unescape(part, klen, 1, &key, NULL);
        if (rc == -2)
            return -1;
        if (rc != 0)
            continue;
        rc = eq ? tbh_unescape(eq + 1, plen - klen - 1, 1, &value, NULL)
                : tbh_unescape("", 0, 1, &value, NULL);
        if (rc != 0) {
            free(key);
            if (rc == -2)
                return -1;
            continue;
        }
        if (query_push(q, key, value) != 0) {
            free(key);
            free(value);
            return -1;
        }
    }
    return 0;
}

void tbh_query_free(tbh_query_t *q)
{
    for (size_t i = 0; i < q->n; i++) {
        free(q->v[i].key);
        free(q->v[i].value);
    }
    free(q->v);
    q->v = NULL;
    q->n = q->cap = 0;
}

int tbh_query_has(const tbh_query_t *q, const char *key)
{
    return tbh_query_get(q, key) != NULL;
}

const char *tbh_query_get(const tbh_query_t *q, const char *key)
{
    for (size_t i = 0; i < q->n; i++)
        if (strcmp(q->v[i].key, key) == 0)
            return q->v[i].value;
    return NULL;
}

int tbh_query_encode(const tbh_query_t *q, tbh_buf_t *b)
{
    /* Go sorts the keys and keeps each key's values in order: a stable
     * selection over at most a handful of params. */
    size_t done = 0;
    const char *last = NULL;
    while (done < q->n) {
        const char *next = NULL;
        for (size_t i = 0; i < q->n; i++) {
            const char *k = q->v[i].key;
            if (last && strcmp(k, last) <= 0)
                continue;
            if (!next || strcmp(k, next) < 0)
                next = k;
        }
        if (!next)
            break;
        for (size_t i = 0; i < q->n; i++) {
            if (strcmp(q->v[i].key, next) != 0)
                continue;
            if (b->len && done)
                tbh_buf_addc(b, '&');
            tbh_escape_query(b, q->v[i].key);
            tbh_buf_addc(b, '=');
            tbh_escape_query(b, q->v[i].value);
            done++;
        }
        last = next;
    }
    return b->failed ? -1 : 0;
}

int tbh_query_bool(const tbh_query_t *q, const char *key, int *out)
{
    const char *v = tbh_query_get(q, key);
    if (!v) {
        *out = 0;
        return 0;
    }
    if (!*v) {
        *out = 1;
        return 0;
    }
    return tbh_parse_bool(v, out);
}

/* ------------------------------------------------------------ options */

int tbh_parse_duration(tbh_duration_fn fn, const char *s, uint64_t *ns)
{
    int neg = 0;
    if (*s == '-' || *s == '+') {
        neg = *s == '-';
        s++;
    }
    if (strcmp(s, "0") == 0) {
        *ns = 0;
        return 0;
    }
    if (!*s || !fn || fn(s, ns) != 0)
        return -1;
    if (neg) /* Go accepts negative waits; Consul then uses the default */
        *ns = 0;
    return 0;
}

static uint64_t ns_to_ms_ceil(uint64_t ns)
{
    return ns / 1000000u + (ns % 1000000u ? 1 : 0);
}

int tbh_parse_query_opts(const tbh_query_t *q, tbh_duration_fn fn, int discovery,
                         uint64_t discovery_stale_ms, tb_query_opts_t *opts, char **err)
{
    int defaults = 1, stale = 0, consistent = 0;
    *err = NULL;
    if (tbh_query_has(q, "stale")) {
        stale = 1;
        defaults = 0;
    }
    if (tbh_query_has(q, "consistent")) {
        consistent = 1;
        defaults = 0;
    }
    if (tbh_query_has(q, "leader"))
        defaults = 0;
    opts->max_stale_ms = 0;
    const char *ms = tbh_query_get(q, "max_stale");
    if (ms && *ms) {
        uint64_t ns;
        if (tbh_parse_duration(fn, ms, &ns) != 0) {
            tbh_buf_t b = TBH_BUF_INIT;
            tbh_buf_printf(&b, "Invalid max_stale value \"%s\"", ms);
            *err = tbh_buf_steal(&b, NULL);
            return -1;
        }
        opts->max_stale_ms = ns_to_ms_ceil(ns);
        if (ns > 0) {
            stale = 1;
            defaults = 0;
        }
    }
    if (defaults && discovery && discovery_stale_ms > 0) {
        stale = 1;
        opts->max_stale_ms = discovery_stale_ms;
    }
    if (stale && consistent) {
        *err = strdup("Cannot specify ?stale with ?consistent, conflicting semantics.");
        return -1;
    }
    opts->consistency = consistent ? TB_CONSISTENCY_CONSISTENT
                                   : stale ? TB_CONSISTENCY_STALE : TB_CONSISTENCY_DEFAULT;

    const char *wait = tbh_query_get(q, "wait");
    opts->wait_ms = 0;
    if (wait && *wait) {
        uint64_t ns;
        if (tbh_parse_duration(fn, wait, &ns) != 0) {
            *err = strdup("Invalid wait time");
            return -1;
        }
        opts->wait_ms = ns_to_ms_ceil(ns); /* 500us must not become "default" */
    }
    const char *idx = tbh_query_get(q, "index");
    opts->min_index = 0;
    if (idx && *idx) {
        if (tbh_parse_u64(idx, &opts->min_index) != 0) {
            *err = strdup("Invalid index");
            return -1;
        }
    }
    return 0;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

const char *tbh_pick_token(const char *qtoken, const char *xtoken, const char *authz, size_t *len)
{
    if (qtoken && *qtoken) {
        *len = strlen(qtoken);
        return qtoken;
    }
    if (xtoken && *xtoken) {
        *len = strlen(xtoken);
        return xtoken;
    }
    /* "<Scheme> <value>": Consul splits on ' ', wants the scheme "Bearer"
     * and takes the first word of the trimmed rest. */
    if (authz && strncmp(authz, "Bearer ", 7) == 0) {
        const char *p = authz + 7;
        while (is_space(*p))
            p++;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        while (e > p && is_space(e[-1]))
            e--;
        if (e > p) {
            *len = (size_t)(e - p);
            return p;
        }
    }
    *len = 0;
    return NULL;
}

/* ------------------------------------------------------------ paths */

char *tbh_clean_path(const char *p)
{
    size_t n = strlen(p);
    /* rooted: at most one extra '/' in front and one at the end */
    char *out = malloc(n + 3);
    if (!out)
        return NULL;
    size_t w = 0, r = 0, dotdot = 1;
    const char *src = p;
    if (n == 0 || p[0] != '/') {
        /* Go prepends '/' before cleaning */
        out[w++] = '/';
    } else {
        out[w++] = '/';
        r = 1;
    }
    while (r < n) {
        if (src[r] == '/') {
            r++;
        } else if (src[r] == '.' && (r + 1 == n || src[r + 1] == '/')) {
            r++;
        } else if (src[r] == '.' && src[r + 1] == '.' && (r + 2 == n || src[r + 2] == '/')) {
            r += 2;
            if (w > dotdot) {
                w--;
                while (w > dotdot && out[w] != '/')
                    w--;
            }
        } else {
            if (w != 1)
                out[w++] = '/';
            while (r < n && src[r] != '/')
                out[w++] = src[r++];
        }
    }
    out[w] = '\0';
    /* put a trailing slash back (path.Clean drops it) */
    if (n > 0 && p[n - 1] == '/' && !(w == 1 && out[0] == '/')) {
        out[w++] = '/';
        out[w] = '\0';
    }
    return out;
}

unsigned tbh_method_bit(const char *m)
{
    if (strcmp(m, "GET") == 0)
        return TBH_M_GET;
    if (strcmp(m, "PUT") == 0)
        return TBH_M_PUT;
    if (strcmp(m, "POST") == 0)
        return TBH_M_POST;
    if (strcmp(m, "DELETE") == 0)
        return TBH_M_DELETE;
    if (strcmp(m, "HEAD") == 0)
        return TBH_M_HEAD;
    if (strcmp(m, "OPTIONS") == 0)
        return TBH_M_OPTIONS;
    return TBH_M_OTHER;
}

/* ------------------------------------------------------------ routes */

#define Q (TBH_R_QUERY | TBH_R_BLOCKING)
#define D TBH_R_DISCOVERY

static const tbh_route_t routes[] = {
    {"/", TBH_M_ANY, TBH_EP_INDEX, NULL, NULL, NULL, 0},
    {"/v1/kv/", TBH_M_GET | TBH_M_PUT | TBH_M_DELETE, TBH_EP_KV, NULL, NULL, NULL, Q},

    {"/v1/catalog/register", TBH_M_PUT, TBH_EP_CALL, "Catalog.Register", NULL, NULL, TBH_R_BODY},
    {"/v1/catalog/deregister", TBH_M_PUT, TBH_EP_CALL, "Catalog.Deregister", NULL, NULL,
     TBH_R_BODY},
    {"/v1/catalog/nodes", TBH_M_GET, TBH_EP_CALL, "Catalog.ListNodes", NULL, NULL, Q | D},
    {"/v1/catalog/services", TBH_M_GET, TBH_EP_CALL, "Catalog.ListServices", NULL, NULL, Q | D},
    {"/v1/catalog/service/", TBH_M_GET, TBH_EP_CALL, "Catalog.ServiceNodes", "ServiceName",
     "Missing service name", Q | D | TBH_R_TAGS},
    {"/v1/catalog/node/", TBH_M_GET, TBH_EP_CALL, "Catalog.NodeServices", "Node",
     "Missing node name", Q | D},
    {"/v1/catalog/datacenters", TBH_M_GET, TBH_EP_CALL, "Catalog.ListDatacenters", NULL, NULL, 0},

    {"/v1/health/service/", TBH_M_GET, TBH_EP_CALL, "Health.ServiceNodes", "ServiceName",
     "Missing service name", Q | D | TBH_R_TAGS | TBH_R_PASSING},
    {"/v1/health/node/", TBH_M_GET, TBH_EP_CALL, "Health.NodeChecks", "Node",
     "Missing node name", Q | D},
    {"/v1/health/checks/", TBH_M_GET, TBH_EP_CALL, "Health.ServiceChecks", "ServiceName",
     "Missing service name", Q | D},
    {"/v1/health/state/", TBH_M_GET, TBH_EP_CALL, "Health.ChecksInState", "State",
     "Missing check state", Q | D},

    {"/v1/session/create", TBH_M_PUT, TBH_EP_CALL, "Session.Create", NULL, NULL,
     TBH_R_BODY | TBH_R_BODY_OPT},
    {"/v1/session/destroy/", TBH_M_PUT, TBH_EP_CALL, "Session.Destroy", "ID", "Missing session",
     0},
    {"/v1/session/info/", TBH_M_GET, TBH_EP_CALL, "Session.Get", "ID", "Missing session", Q},
    {"/v1/session/node/", TBH_M_GET, TBH_EP_CALL, "Session.NodeSessions", "Node",
     "Missing node name", Q},
    {"/v1/session/list", TBH_M_GET, TBH_EP_CALL, "Session.List", NULL, NULL, Q},
    {"/v1/session/renew/", TBH_M_PUT, TBH_EP_CALL, "Session.Renew", "ID", "Missing session", 0},

    {"/v1/status/leader", TBH_M_GET, TBH_EP_CALL, "Status.Leader", NULL, NULL, 0},
    {"/v1/status/peers", TBH_M_GET, TBH_EP_CALL, "Status.Peers", NULL, NULL, 0},
    {"/v1/operator/raft/configuration", TBH_M_GET, TBH_EP_CALL, "Operator.RaftGetConfiguration",
     NULL, NULL, TBH_R_QUERY},
    {"/v1/operator/raft/peer", TBH_M_DELETE, TBH_EP_OPERATOR, "Operator.RaftRemovePeer", NULL,
     NULL, 0},
    {"/v1/operator/raft/transfer-leader", TBH_M_POST | TBH_M_PUT, TBH_EP_OPERATOR,
     "Operator.RaftTransferLeader", NULL, NULL, 0},
    {"/v1/snapshot", TBH_M_GET | TBH_M_PUT, TBH_EP_OPERATOR, "Snapshot.Save", NULL, NULL,
     TBH_R_QUERY},

    {"/v1/agent/self", TBH_M_GET, TBH_EP_CALL, "Agent.Self", NULL, NULL, 0},
    {"/v1/agent/members", TBH_M_GET, TBH_EP_CALL, "Agent.Members", NULL, NULL,
     TBH_R_WAN | TBH_R_GOSSIP},
    /* gossip (h_gossip.c); GET where python-consul 0.7.1 sends it */
    {"/v1/agent/join/", TBH_M_PUT | TBH_M_GET, TBH_EP_CALL, "Agent.Join", "Address",
     "Missing address", TBH_R_WAN | TBH_R_NO_RESULT},
    {"/v1/agent/leave", TBH_M_PUT, TBH_EP_CALL, "Agent.Leave", NULL, NULL, TBH_R_NO_RESULT},
    {"/v1/agent/force-leave/", TBH_M_PUT | TBH_M_GET, TBH_EP_CALL, "Agent.ForceLeave", "Node",
     "Missing node name", TBH_R_WAN | TBH_R_NO_RESULT | TBH_R_GOSSIP},
    {"/v1/event/fire/", TBH_M_PUT, TBH_EP_CALL, "Event.Fire", "Name", "Missing name",
     TBH_R_GOSSIP},
    {"/v1/event/list", TBH_M_GET, TBH_EP_CALL, "Event.List", NULL, NULL, Q | TBH_R_GOSSIP},
    {"/v1/operator/keyring", TBH_M_GET | TBH_M_POST | TBH_M_PUT | TBH_M_DELETE, TBH_EP_CALL,
     "Operator.Keyring", NULL, NULL, TBH_R_BODY | TBH_R_BODY_OPT | TBH_R_GOSSIP | TBH_R_TEXT},
    {"/v1/agent/services", TBH_M_GET, TBH_EP_CALL, "Agent.Services", NULL, NULL, 0},
    {"/v1/agent/checks", TBH_M_GET, TBH_EP_CALL, "Agent.Checks", NULL, NULL, 0},
    {"/v1/agent/reload", TBH_M_PUT, TBH_EP_CALL, "Agent.Reload", NULL, NULL, TBH_R_NO_RESULT},
    /* local state (h_agent.c); GET where python-consul 0.7.1 sends it */
    {"/v1/agent/service/register", TBH_M_PUT, TBH_EP_CALL, "Agent.ServiceRegister", NULL, NULL,
     TBH_R_BODY | TBH_R_NO_RESULT | TBH_R_AGENT},
    {"/v1/agent/service/deregister/", TBH_M_PUT | TBH_M_GET, TBH_EP_CALL,
     "Agent.ServiceDeregister", "ServiceID", "Missing service ID", TBH_R_NO_RESULT},
    {"/v1/agent/service/maintenance/", TBH_M_PUT, TBH_EP_CALL, "Agent.ServiceMaintenance",
     "ServiceID", "Missing service ID", TBH_R_NO_RESULT | TBH_R_AGENT},
    {"/v1/agent/service/", TBH_M_GET, TBH_EP_CALL, "Agent.Service", "ServiceID",
     "Missing service ID", 0},
    {"/v1/agent/maintenance", TBH_M_PUT, TBH_EP_CALL, "Agent.Maintenance", NULL, NULL,
     TBH_R_NO_RESULT | TBH_R_AGENT},
    {"/v1/agent/check/register", TBH_M_PUT, TBH_EP_CALL, "Agent.CheckRegister", NULL, NULL,
     TBH_R_BODY | TBH_R_NO_RESULT | TBH_R_AGENT},
    {"/v1/agent/check/deregister/", TBH_M_PUT | TBH_M_GET, TBH_EP_CALL, "Agent.CheckDeregister",
     "CheckID", "Missing check ID", TBH_R_NO_RESULT},
    {"/v1/agent/check/pass/", TBH_M_PUT | TBH_M_GET, TBH_EP_CALL, "Agent.CheckUpdate", "CheckID",
     "Missing check ID", TBH_R_NO_RESULT | TBH_R_AGENT},
    {"/v1/agent/check/warn/", TBH_M_PUT | TBH_M_GET, TBH_EP_CALL, "Agent.CheckUpdate", "CheckID",
     "Missing check ID", TBH_R_NO_RESULT | TBH_R_AGENT},
    {"/v1/agent/check/fail/", TBH_M_PUT | TBH_M_GET, TBH_EP_CALL, "Agent.CheckUpdate", "CheckID",
     "Missing check ID", TBH_R_NO_RESULT | TBH_R_AGENT},
    {"/v1/agent/check/update/", TBH_M_PUT, TBH_EP_CALL, "Agent.CheckUpdate", "CheckID",
     "Missing check ID", TBH_R_BODY | TBH_R_NO_RESULT},
    {"/v1/agent/health/service/name/", TBH_M_GET, TBH_EP_CALL, "Agent.HealthServiceByName",
     "ServiceName", "Missing service Name", TBH_R_AGENT},
    {"/v1/agent/health/service/id/", TBH_M_GET, TBH_EP_CALL, "Agent.HealthServiceByID",
     "ServiceID", "Missing serviceID", TBH_R_AGENT},

    {"/v1/txn", TBH_M_PUT, TBH_EP_TXN, "Txn.Apply", NULL, NULL, 0},
    {"/v1/agent/metrics", TBH_M_GET, TBH_EP_CALL, "Agent.Metrics", NULL, NULL, TBH_R_TEXT},
    {"/v1/agent/host", TBH_M_GET, TBH_EP_CALL, "Agent.Host", NULL, NULL, 0},
    {"/v1/agent/monitor", TBH_M_GET, TBH_EP_MONITOR, NULL, NULL, NULL, 0},
    {"/v1/catalog/node-services/", TBH_M_GET, TBH_EP_CALL, "Catalog.NodeServiceList", "Node",
     "Missing node name", Q | D},
    {"/v1/coordinate/datacenters", TBH_M_GET, TBH_EP_CALL, "Coordinate.ListDatacenters", NULL,
     NULL, 0},
    {"/v1/coordinate/nodes", TBH_M_GET, TBH_EP_CALL, "Coordinate.ListNodes", NULL, NULL, Q},
    {"/v1/coordinate/node/", TBH_M_GET, TBH_EP_CALL, "Coordinate.Node", "Node",
     "Missing node name", Q},
};

#undef Q
#undef D

/* Go's ServeMux lookup: exact patterns win, else the longest prefix
 * pattern ("/" only matches "/" itself: Consul's index 404s the rest). */
static const tbh_route_t *lookup(const char *path, const char **rest)
{
    const tbh_route_t *best = NULL;
    size_t bestlen = 0;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const tbh_route_t *r = &routes[i];
        size_t plen = strlen(r->pattern);
        if (r->pattern[plen - 1] != '/' || plen == 1) {
            if (strcmp(path, r->pattern) == 0) {
                *rest = path + plen;
                return r;
            }
        } else if (strncmp(path, r->pattern, plen) == 0 && plen > bestlen) {
            best = r;
            bestlen = plen;
        }
    }
    if (best)
        *rest = path + bestlen;
    return best;
}

static int is_pattern(const char *p, size_t n)
{
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (strlen(routes[i].pattern) == n && memcmp(routes[i].pattern, p, n) == 0)
            return 1;
    return 0;
}

static char *make_location(const char *path, const char *suffix, const char *raw_query)
{
    tbh_buf_t b = TBH_BUF_INIT;
    tbh_escape_path(&b, path);
    tbh_buf_adds(&b, suffix);
    if (raw_query && *raw_query) {
        tbh_buf_addc(&b, '?');
        tbh_buf_adds(&b, raw_query);
    }
    if (b.failed) {
        tbh_buf_free(&b);
        return NULL;
    }
    return tbh_buf_steal(&b, NULL);
}

tbh_route_result_t tbh_route(const char *method, const char *path, const char *raw_query,
                             tbh_match_t *m)
{
    memset(m, 0, sizeof(*m));
    unsigned bit = tbh_method_bit(method);
    char *clean = tbh_clean_path(path);
    if (!clean)
        return TBH_ROUTE_NOMEM;
    const char *rest;
    /* "/tree" whose handler is "/tree/" redirects, as Go's mux */
    size_t clen = strlen(clean);
    if (clen > 0 && clean[clen - 1] != '/' && !is_pattern(clean, clen)) {
        tbh_buf_t t = TBH_BUF_INIT;
        tbh_buf_adds(&t, clean);
        tbh_buf_addc(&t, '/');
        int sub = !t.failed && is_pattern(t.data, t.len);
        tbh_buf_free(&t);
        if (sub) {
            m->location = make_location(clean, "/", raw_query);
            free(clean);
            return m->location ? TBH_ROUTE_REDIRECT : TBH_ROUTE_NOMEM;
        }
    }
    if (strcmp(clean, path) != 0) {
        m->location = make_location(clean, "", raw_query);
        free(clean);
        return m->location ? TBH_ROUTE_REDIRECT : TBH_ROUTE_NOMEM;
    }
    free(clean);

    const tbh_route_t *r = lookup(path, &rest);
    if (!r)
        return TBH_ROUTE_NOT_FOUND;
    m->route = r;
    m->rest = rest;
    m->allow = r->methods;
    if (r->methods & bit)
        return TBH_ROUTE_FOUND;
    if (bit == TBH_M_OPTIONS)
        return TBH_ROUTE_OPTIONS;
    return TBH_ROUTE_BAD_METHOD;
}

int tbh_allow_header(unsigned allow, tbh_buf_t *b)
{
    static const struct {
        unsigned bit;
        const char *name;
    } order[] = {{TBH_M_GET, "GET"}, {TBH_M_PUT, "PUT"}, {TBH_M_POST, "POST"},
                 {TBH_M_DELETE, "DELETE"}, {TBH_M_HEAD, "HEAD"}};
    tbh_buf_adds(b, "OPTIONS");
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        if (allow & order[i].bit) {
            tbh_buf_addc(b, ',');
            tbh_buf_adds(b, order[i].name);
        }
    }
    return b->failed ? -1 : 0;
}

/* ------------------------------------------------------------ statuses */

int tbh_status_code(tb_status_t s)
{
    switch (s) {
    case TB_OK:
        return 200;
    case TB_NOT_FOUND:
        return 404;
    case TB_BAD_REQUEST:
        return 400;
    case TB_TOO_LARGE:
        return 413;
    case TB_PERMISSION_DENIED:
        return 403;
    case TB_CONFLICT:
        return 409;
    case TB_NO_LEADER:
    case TB_NO_PATH:
    case TB_UNAVAILABLE:
    case TB_INTERNAL:
    default:
        return 500;
    }
}

const char *tbh_status_body(tb_status_t s, const char *error)
{
    /* these two texts are matched by clients: never let the core's wording leak */
    if (s == TB_NO_LEADER) /* or a client agent's own words for no servers */
        return error && strcmp(error, "No known Consul servers") == 0 ? error
                                                                      : "No cluster leader";
    if (s == TB_NO_PATH)
        return "No path to datacenter";
    if (error && *error)
        return error;
    switch (s) {
    case TB_OK:
    case TB_NOT_FOUND:
        return "";
    case TB_BAD_REQUEST:
        return "Bad request";
    case TB_TOO_LARGE:
        return "Request entity too large";
    case TB_PERMISSION_DENIED:
        return "Permission denied";
    case TB_CONFLICT:
        return "Conflict";
    case TB_UNAVAILABLE:
        return "Agent is shutting down";
    default:
        return "Internal error";
    }
}

const char *tbh_reason(int code)
{
    switch (code) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 301:
        return "Moved Permanently";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Request Entity Too Large";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}
