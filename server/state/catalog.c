/*
 * catalog.c - the catalog area of the state store: register and deregister
 * (nodes, services, checks) and the catalog and health reads in Consul's
 * JSON shapes (spec/http-api.md §5, §6).
 *
 * Register follows Consul's ensureRegistrationTxn: node (unless
 * SkipNodeUpdate and it exists), then the service, then the checks. A row
 * is only rewritten, and its ModifyIndex only moved, when something in it
 * changed, so an idempotent re-registration (agents do one every
 * anti-entropy pass) wakes nobody. JSON columns hold canonical text (sorted
 * keys) so comparing text compares values; empty objects and arrays are
 * stored as NULL and read back as {} or [].
 *
 * Watch notifications: NODE <node> for any change on a node (the node, its
 * services or checks); SERVICE <name> for a service's instances, tags or
 * checks, and for every service of a node when the node itself or one of
 * its node-level checks changes (they are part of every ServiceEntry).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "state/state_int.h"

#define NODE_COLS \
    "n.id, n.node, n.address, n.datacenter, n.tagged_addresses, n.meta, n.create_index," \
    " n.modify_index"
#define NODE_NCOLS 8
#define SVC_COLS \
    "s.node, s.service_id, s.name, s.tags, s.address, s.port, s.meta, s.tagged_addresses," \
    " s.weights, s.enable_tag_override, s.create_index, s.modify_index"
#define SVC_NCOLS 12
#define CHECK_COLS \
    "c.node, c.check_id, c.name, c.status, c.notes, c.output, c.service_id, c.service_name," \
    " c.service_tags, c.type, c.interval, c.timeout, c.definition, c.create_index," \
    " c.modify_index"

#define MASK(t) (1u << (t))

/* Canonical text of an object or array field; NULL when absent or empty. */
static char *canon_nonempty(const json_t *v)
{
    if (!v || (json_is_object(v) && json_object_size(v) == 0) ||
        (json_is_array(v) && json_array_size(v) == 0))
        return NULL;
    return tb__json_canon(v);
}

static int same_text(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

/* Column text, NULL when SQL NULL (unlike tb__col_text). */
static const char *col_or_null(sqlite3_stmt *s, int i)
{
    return (const char *)sqlite3_column_text(s, i);
}

static int bind_opt(sqlite3_stmt *s, int i, const char *v)
{
    return tb__bind_text(s, i, v);
}

/* Note SERVICE for every service registered on the node. */
static int note_node_services(tb__state_t *st, const char *node)
{
    sqlite3_stmt *s = tb__st_sql(st, "SELECT DISTINCT name FROM services WHERE node = ?1");
    if (!s)
        return -1;
    tb__bind_text(s, 1, node);
    char **names;
    size_t n;
    if (tb__st_collect(s, &names, &n))
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        rc = tb__st_note(st, TB__WATCH_SERVICE, names[i]);
    tb__strv_free(names, n);
    return rc;
}

static int node_exists(tb__state_t *st, const char *node, int *exists)
{
    sqlite3_stmt *s = tb__st_sql(st, "SELECT 1 FROM nodes WHERE node = ?1");
    if (!s)
        return -1;
    tb__bind_text(s, 1, node);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    *exists = rc == SQLITE_ROW;
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* ---------------------------------------------------------------- register: node */

static int node_upsert(tb__state_t *st, const json_t *body, const char *node,
                       tb__apply_result_t *res)
{
    const char *id, *address, *dc;
    const json_t *tagged, *meta;
    if (tb__jf_str(body, "ID", "", &id, res) || tb__jf_str(body, "Address", "", &address, res) ||
        tb__jf_str(body, "Datacenter", "", &dc, res) ||
        tb__jf_obj(body, "TaggedAddresses", &tagged, res) ||
        tb__jf_obj(body, "NodeMeta", &meta, res))
        return 1;

    if (*id) {
        sqlite3_stmt *s = tb__st_sql(st, "SELECT node FROM nodes WHERE id = ?1 AND node <> ?2");
        if (!s)
            return tb__st_fail(st, res);
        tb__bind_text(s, 1, id);
        tb__bind_text(s, 2, node);
        char **other;
        size_t n;
        if (tb__st_collect(s, &other, &n))
            return tb__st_fail(st, res);
        if (n) {
            tb__refuse(res, TB_BAD_REQUEST,
                       "Failed to register node: node ID \"%s\" for node \"%s\" aliases existing"
                       " node \"%s\"", id, node, other[0]);
            tb__strv_free(other, n);
            return 1;
        }
        tb__strv_free(other, n);
    }

    char *ta = canon_nonempty(tagged), *mt = canon_nonempty(meta);
    int rc = 0, changed = 1;
    sqlite3_stmt *s = tb__st_sql(st, "SELECT id, address, datacenter, tagged_addresses, meta"
                                     " FROM nodes WHERE node = ?1");
    if (!s) {
        rc = tb__st_fail(st, res);
        goto out;
    }
    tb__bind_text(s, 1, node);
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW)
        changed = strcmp(tb__col_text(s, 0), id) || strcmp(tb__col_text(s, 1), address) ||
                  strcmp(tb__col_text(s, 2), dc) || !same_text(col_or_null(s, 3), ta) ||
                  !same_text(col_or_null(s, 4), mt);
    sqlite3_reset(s);
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
        rc = tb__st_fail(st, res);
        goto out;
    }
    if (!changed)
        goto out;
    s = tb__st_sql(st, "INSERT INTO nodes(id, node, address, datacenter, tagged_addresses, meta,"
                       " create_index, modify_index) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)"
                       " ON CONFLICT(node) DO UPDATE SET id = excluded.id,"
                       " address = excluded.address, datacenter = excluded.datacenter,"
                       " tagged_addresses = excluded.tagged_addresses, meta = excluded.meta,"
                       " modify_index = excluded.modify_index");
    if (!s) {
        rc = tb__st_fail(st, res);
        goto out;
    }
    tb__bind_text(s, 1, id);
    tb__bind_text(s, 2, node);
    tb__bind_text(s, 3, address);
    tb__bind_text(s, 4, dc);
    bind_opt(s, 5, ta);
    bind_opt(s, 6, mt);
    tb__bind_u64(s, 7, st->idx);
    if (tb__st_exec(s) || tb__st_note(st, TB__WATCH_NODE, node) || note_node_services(st, node)) {
        rc = tb__st_fail(st, res);
        goto out;
    }
    tb__st_changed(st, TB__TBL_NODES);
out:
    free(ta);
    free(mt);
    return rc;
}

/* ---------------------------------------------------------------- register: service */

static int service_upsert(tb__state_t *st, const json_t *svc, const char *node,
                          tb__apply_result_t *res)
{
    const char *id, *name, *address;
    const json_t *tags, *meta, *tagged, *weights;
    json_int_t port;
    int eto;
    if (!json_is_object(svc))
        return tb__refuse(res, TB_BAD_REQUEST, "Invalid field \"Service\": expected an object");
    if (tb__jf_str(svc, "Service", "", &name, res) || tb__jf_str(svc, "ID", "", &id, res) ||
        tb__jf_str(svc, "Address", "", &address, res) || tb__jf_arr(svc, "Tags", &tags, res) ||
        tb__jf_obj(svc, "Meta", &meta, res) || tb__jf_obj(svc, "TaggedAddresses", &tagged, res) ||
        tb__jf_obj(svc, "Weights", &weights, res) || tb__jf_int(svc, "Port", 0, &port, res) ||
        tb__jf_bool(svc, "EnableTagOverride", 0, &eto, res))
        return 1;
    if (!*name)
        return tb__refuse(res, TB_BAD_REQUEST, "Must provide service name");
    if (!*id)
        id = name;
    size_t i;
    const json_t *t;
    json_array_foreach(tags, i, t) {
        if (!json_is_string(t))
            return tb__refuse(res, TB_BAD_REQUEST, "Invalid field \"Tags\": expected strings");
    }
    char *tg = canon_nonempty(tags), *mt = canon_nonempty(meta), *ta = canon_nonempty(tagged),
         *wt = canon_nonempty(weights), *old_name = NULL;
    int rc = 0, changed = 1;
    sqlite3_stmt *s = tb__st_sql(st, "SELECT name, tags, address, port, meta, tagged_addresses,"
                                     " weights, enable_tag_override FROM services"
                                     " WHERE node = ?1 AND service_id = ?2");
    if (!s) {
        rc = tb__st_fail(st, res);
        goto out;
    }
    tb__bind_text(s, 1, node);
    tb__bind_text(s, 2, id);
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW) {
        changed = strcmp(tb__col_text(s, 0), name) || !same_text(col_or_null(s, 1), tg) ||
                  strcmp(tb__col_text(s, 2), address) || sqlite3_column_int64(s, 3) != port ||
                  !same_text(col_or_null(s, 4), mt) || !same_text(col_or_null(s, 5), ta) ||
                  !same_text(col_or_null(s, 6), wt) || sqlite3_column_int(s, 7) != eto;
        if (changed && strcmp(tb__col_text(s, 0), name) && !(old_name = strdup(tb__col_text(s, 0))))
            step = SQLITE_NOMEM;
    }
    sqlite3_reset(s);
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
        rc = tb__st_fail(st, res);
        goto out;
    }
    if (!changed)
        goto out;
    s = tb__st_sql(st, "INSERT INTO services(node, service_id, name, tags, address, port, meta,"
                       " tagged_addresses, weights, enable_tag_override, create_index,"
                       " modify_index) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)"
                       " ON CONFLICT(node, service_id) DO UPDATE SET name = excluded.name,"
                       " tags = excluded.tags, address = excluded.address, port = excluded.port,"
                       " meta = excluded.meta, tagged_addresses = excluded.tagged_addresses,"
                       " weights = excluded.weights,"
                       " enable_tag_override = excluded.enable_tag_override,"
                       " modify_index = excluded.modify_index");
    if (!s) {
        rc = tb__st_fail(st, res);
        goto out;
    }
    tb__bind_text(s, 1, node);
    tb__bind_text(s, 2, id);
    tb__bind_text(s, 3, name);
    bind_opt(s, 4, tg);
    tb__bind_text(s, 5, address);
    sqlite3_bind_int64(s, 6, port);
    bind_opt(s, 7, mt);
    bind_opt(s, 8, ta);
    bind_opt(s, 9, wt);
    sqlite3_bind_int(s, 10, eto);
    tb__bind_u64(s, 11, st->idx);
    if (tb__st_exec(s)) {
        rc = tb__st_fail(st, res);
        goto out;
    }
    tb__st_changed(st, TB__TBL_SERVICES);
    /* the service's checks carry its name and tags (ServiceName/ServiceTags) */
    s = tb__st_sql(st, "UPDATE checks SET service_name = ?3, service_tags = ?4, modify_index = ?5"
                       " WHERE node = ?1 AND service_id = ?2 AND"
                       " (service_name IS NOT ?3 COLLATE BINARY OR service_tags IS NOT ?4)");
    if (!s) {
        rc = tb__st_fail(st, res);
        goto out;
    }
    tb__bind_text(s, 1, node);
    tb__bind_text(s, 2, id);
    tb__bind_text(s, 3, name);
    bind_opt(s, 4, tg);
    tb__bind_u64(s, 5, st->idx);
    if (tb__st_exec(s)) {
        rc = tb__st_fail(st, res);
        goto out;
    }
    if (sqlite3_changes(st->db))
        tb__st_changed(st, TB__TBL_CHECKS);
    if (tb__st_note(st, TB__WATCH_SERVICE, name) ||
        (old_name && tb__st_note(st, TB__WATCH_SERVICE, old_name)) ||
        tb__st_note(st, TB__WATCH_NODE, node))
        rc = tb__st_fail(st, res);
out:
    free(tg);
    free(mt);
    free(ta);
    free(wt);
    free(old_name);
    return rc;
}

/* ---------------------------------------------------------------- register: check */

static int valid_status(const char *s)
{
    return !strcmp(s, "passing") || !strcmp(s, "warning") || !strcmp(s, "critical");
}

/* Notify what a change to a check touches. */
static int note_check(tb__state_t *st, const char *node, const char *service_name)
{
    if (tb__st_note(st, TB__WATCH_NODE, node))
        return -1;
    if (service_name && *service_name)
        return tb__st_note(st, TB__WATCH_SERVICE, service_name);
    return note_node_services(st, node); /* node-level: part of every entry */
}

static int check_upsert(tb__state_t *st, const json_t *chk, const char *node,
                        tb__apply_result_t *res)
{
    const char *cnode, *id, *name, *status, *notes, *output, *sid, *type, *interval, *timeout;
    const json_t *def;
    if (!json_is_object(chk))
        return tb__refuse(res, TB_BAD_REQUEST, "Invalid field \"Check\": expected an object");
    if (tb__jf_str(chk, "Node", node, &cnode, res) || tb__jf_str(chk, "Name", "", &name, res) ||
        tb__jf_str(chk, "CheckID", name, &id, res) ||
        tb__jf_str(chk, "Status", "critical", &status, res) ||
        tb__jf_str(chk, "Notes", "", &notes, res) || tb__jf_str(chk, "Output", "", &output, res) ||
        tb__jf_str(chk, "ServiceID", "", &sid, res) || tb__jf_str(chk, "Type", "", &type, res) ||
        tb__jf_str(chk, "Interval", "", &interval, res) ||
        tb__jf_str(chk, "Timeout", "", &timeout, res) || tb__jf_obj(chk, "Definition", &def, res))
        return 1;
    if (!*cnode)
        cnode = node;
    if (strcasecmp(cnode, node) != 0)
        return tb__refuse(res, TB_BAD_REQUEST, "Check node \"%s\" does not match node \"%s\"",
                          cnode, node);
    if (!*id)
        id = name;
    if (!*id)
        return tb__refuse(res, TB_BAD_REQUEST, "Missing check ID");
    if (!*status)
        status = "critical";
    if (!valid_status(status))
        return tb__refuse(res, TB_BAD_REQUEST, "Invalid check status \"%s\"", status);

    int exists;
    if (node_exists(st, node, &exists))
        return tb__st_fail(st, res);
    if (!exists)
        return tb__refuse(res, TB_BAD_REQUEST, "Missing node registration");

    char *svc_name = NULL, *svc_tags = NULL, *df = NULL;
    int rc = 0, changed = 1, step;
    sqlite3_stmt *s;
    if (*sid) {
        s = tb__st_sql(st, "SELECT name, tags FROM services WHERE node = ?1 AND service_id = ?2");
        if (!s)
            return tb__st_fail(st, res);
        tb__bind_text(s, 1, node);
        tb__bind_text(s, 2, sid);
        step = sqlite3_step(s);
        if (step == SQLITE_ROW) {
            if (!(svc_name = strdup(tb__col_text(s, 0))) ||
                (col_or_null(s, 1) && !(svc_tags = strdup(col_or_null(s, 1)))))
                step = SQLITE_NOMEM;
        }
        sqlite3_reset(s);
        if (step == SQLITE_DONE) {
            return tb__refuse(res, TB_BAD_REQUEST, "Missing service registration");
        } else if (step != SQLITE_ROW) {
            rc = tb__st_fail(st, res);
            goto out;
        }
    }
    df = canon_nonempty(def);
    s = tb__st_sql(st, "SELECT name, status, notes, output, service_id, service_name, service_tags,"
                       " type, interval, timeout, definition FROM checks"
                       " WHERE node = ?1 AND check_id = ?2");
    if (!s) {
        rc = tb__st_fail(st, res);
        goto out;
    }
    tb__bind_text(s, 1, node);
    tb__bind_text(s, 2, id);
    step = sqlite3_step(s);
    if (step == SQLITE_ROW)
        changed = strcmp(tb__col_text(s, 0), name) || strcmp(tb__col_text(s, 1), status) ||
                  strcmp(tb__col_text(s, 2), notes) || strcmp(tb__col_text(s, 3), output) ||
                  strcmp(tb__col_text(s, 4), sid) ||
                  strcmp(tb__col_text(s, 5), svc_name ? svc_name : "") ||
                  !same_text(col_or_null(s, 6), svc_tags) || strcmp(tb__col_text(s, 7), type) ||
                  strcmp(tb__col_text(s, 8), interval) || strcmp(tb__col_text(s, 9), timeout) ||
                  !same_text(col_or_null(s, 10), df);
    sqlite3_reset(s);
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
        rc = tb__st_fail(st, res);
        goto out;
    }
    if (changed) {
        s = tb__st_sql(st, "INSERT INTO checks(node, check_id, name, status, notes, output,"
                           " service_id, service_name, service_tags, type, interval, timeout,"
                           " definition, create_index, modify_index) VALUES(?1, ?2, ?3, ?4, ?5,"
                           " ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14)"
                           " ON CONFLICT(node, check_id) DO UPDATE SET name = excluded.name,"
                           " status = excluded.status, notes = excluded.notes,"
                           " output = excluded.output, service_id = excluded.service_id,"
                           " service_name = excluded.service_name,"
                           " service_tags = excluded.service_tags, type = excluded.type,"
                           " interval = excluded.interval, timeout = excluded.timeout,"
                           " definition = excluded.definition,"
                           " modify_index = excluded.modify_index");
        if (!s) {
            rc = tb__st_fail(st, res);
            goto out;
        }
        tb__bind_text(s, 1, node);
        tb__bind_text(s, 2, id);
        tb__bind_text(s, 3, name);
        tb__bind_text(s, 4, status);
        tb__bind_text(s, 5, notes);
        tb__bind_text(s, 6, output);
        tb__bind_text(s, 7, sid);
        tb__bind_text(s, 8, svc_name ? svc_name : "");
        bind_opt(s, 9, svc_tags);
        tb__bind_text(s, 10, type);
        tb__bind_text(s, 11, interval);
        tb__bind_text(s, 12, timeout);
        bind_opt(s, 13, df);
        tb__bind_u64(s, 14, st->idx);
        if (tb__st_exec(s) || note_check(st, node, svc_name)) {
            rc = tb__st_fail(st, res);
            goto out;
        }
        tb__st_changed(st, TB__TBL_CHECKS);
    }
    /* as Consul: a critical check invalidates the sessions that list it */
    if (!strcmp(status, "critical") && tb__session_invalidate_check(st, node, id))
        rc = tb__st_fail(st, res);
out:
    free(svc_name);
    free(svc_tags);
    free(df);
    return rc;
}

/* ---------------------------------------------------------------- register / deregister */

int tb__catalog_register(tb__state_t *st, const json_t *body, tb__apply_result_t *res)
{
    const char *node;
    const json_t *svc, *chk, *checks;
    int skip;
    if (tb__jf_str(body, "Node", "", &node, res) || tb__jf_bool(body, "SkipNodeUpdate", 0, &skip, res) ||
        tb__jf_arr(body, "Checks", &checks, res))
        return 1;
    if (!*node)
        return tb__refuse(res, TB_BAD_REQUEST, "Must provide node");
    int exists, rc;
    if (node_exists(st, node, &exists))
        return tb__st_fail(st, res);
    if (!(skip && exists) && (rc = node_upsert(st, body, node, res)))
        return rc;
    svc = json_object_get(body, "Service");
    if (svc && !json_is_null(svc) && (rc = service_upsert(st, svc, node, res)))
        return rc;
    chk = json_object_get(body, "Check");
    if (chk && !json_is_null(chk) && (rc = check_upsert(st, chk, node, res)))
        return rc;
    size_t i;
    json_array_foreach(checks, i, chk) {
        if ((rc = check_upsert(st, chk, node, res)))
            return rc;
    }
    return 0;
}

static int delete_check(tb__state_t *st, const char *node, const char *check_id)
{
    sqlite3_stmt *s = tb__st_sql(st, "SELECT service_name FROM checks"
                                     " WHERE node = ?1 AND check_id = ?2");
    if (!s)
        return -1;
    tb__bind_text(s, 1, node);
    tb__bind_text(s, 2, check_id);
    char **svc;
    size_t n;
    if (tb__st_collect(s, &svc, &n))
        return -1;
    int rc = 0;
    if (n) {
        rc = tb__session_invalidate_check(st, node, check_id) || note_check(st, node, svc[0]);
        s = rc ? NULL : tb__st_sql(st, "DELETE FROM checks WHERE node = ?1 AND check_id = ?2");
        if (!s) {
            rc = -1;
        } else {
            tb__bind_text(s, 1, node);
            tb__bind_text(s, 2, check_id);
            rc = tb__st_exec(s);
            tb__st_changed(st, TB__TBL_CHECKS);
        }
    }
    tb__strv_free(svc, n);
    return rc ? -1 : 0;
}

static int delete_service(tb__state_t *st, const char *node, const char *sid)
{
    sqlite3_stmt *s = tb__st_sql(st, "SELECT name FROM services WHERE node = ?1 AND service_id = ?2");
    if (!s)
        return -1;
    tb__bind_text(s, 1, node);
    tb__bind_text(s, 2, sid);
    char **name;
    size_t n;
    if (tb__st_collect(s, &name, &n))
        return -1;
    if (!n)
        return 0;
    int rc = tb__st_note(st, TB__WATCH_SERVICE, name[0]) || tb__st_note(st, TB__WATCH_NODE, node);
    tb__strv_free(name, n);
    char **checks = NULL;
    n = 0;
    s = rc ? NULL : tb__st_sql(st, "SELECT check_id FROM checks WHERE node = ?1 AND service_id = ?2");
    if (!s)
        return -1;
    tb__bind_text(s, 1, node);
    tb__bind_text(s, 2, sid);
    if (tb__st_collect(s, &checks, &n))
        return -1;
    for (size_t i = 0; i < n && !rc; i++)
        rc = delete_check(st, node, checks[i]);
    tb__strv_free(checks, n);
    s = rc ? NULL : tb__st_sql(st, "DELETE FROM services WHERE node = ?1 AND service_id = ?2");
    if (!s)
        return -1;
    tb__bind_text(s, 1, node);
    tb__bind_text(s, 2, sid);
    if (tb__st_exec(s))
        return -1;
    tb__st_changed(st, TB__TBL_SERVICES);
    return 0;
}

static int delete_node(tb__state_t *st, const char *node)
{
    int exists;
    if (node_exists(st, node, &exists))
        return -1;
    if (!exists)
        return 0;
    if (tb__st_note(st, TB__WATCH_NODE, node) || note_node_services(st, node))
        return -1;
    char **v;
    size_t n;
    sqlite3_stmt *s = tb__st_sql(st, "SELECT service_id FROM services WHERE node = ?1");
    if (!s)
        return -1;
    tb__bind_text(s, 1, node);
    if (tb__st_collect(s, &v, &n))
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        rc = delete_service(st, node, v[i]);
    tb__strv_free(v, n);
    if (rc)
        return -1;
    s = tb__st_sql(st, "SELECT check_id FROM checks WHERE node = ?1");
    if (!s)
        return -1;
    tb__bind_text(s, 1, node);
    if (tb__st_collect(s, &v, &n))
        return -1;
    for (size_t i = 0; i < n && !rc; i++)
        rc = delete_check(st, node, v[i]);
    tb__strv_free(v, n);
    if (rc || tb__session_invalidate_node(st, node))
        return -1;
    s = tb__st_sql(st, "DELETE FROM nodes WHERE node = ?1");
    if (!s)
        return -1;
    tb__bind_text(s, 1, node);
    if (tb__st_exec(s))
        return -1;
    tb__st_changed(st, TB__TBL_NODES);
    return 0;
}

int tb__catalog_deregister(tb__state_t *st, const json_t *body, tb__apply_result_t *res)
{
    const char *node, *sid, *cid;
    if (tb__jf_str(body, "Node", "", &node, res) || tb__jf_str(body, "ServiceID", "", &sid, res) ||
        tb__jf_str(body, "CheckID", "", &cid, res))
        return 1;
    if (!*node)
        return tb__refuse(res, TB_BAD_REQUEST, "Must provide node");
    /* as Consul's FSM: ServiceID wins over CheckID; neither = the whole node */
    int rc = *sid ? delete_service(st, node, sid) : *cid ? delete_check(st, node, cid)
                                                         : delete_node(st, node);
    return rc ? tb__st_fail(st, res) : 0;
}

/* ---------------------------------------------------------------- JSON shapes */

static json_t *weights_dflt(void)
{
    return json_pack("{s:i, s:i}", "Passing", 1, "Warning", 1);
}

/* Node from NODE_COLS at column c. */
static json_t *node_json(sqlite3_stmt *s, int c)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:I, s:I}", "ID", tb__col_text(s, c),
                     "Node", tb__col_text(s, c + 1), "Address", tb__col_text(s, c + 2),
                     "Datacenter", tb__col_text(s, c + 3), "TaggedAddresses",
                     tb__col_json(s, c + 4, json_object()), "Meta",
                     tb__col_json(s, c + 5, json_object()), "CreateIndex",
                     (json_int_t)tb__col_u64(s, c + 6), "ModifyIndex",
                     (json_int_t)tb__col_u64(s, c + 7));
}

/* AgentService from SVC_COLS at column c; datacenter from the node. */
static json_t *agent_service_json(sqlite3_stmt *s, int c, const char *dc)
{
    return json_pack("{s:s, s:s, s:o, s:o, s:I, s:s, s:o, s:o, s:b, s:s, s:I, s:I}", "ID",
                     tb__col_text(s, c + 1), "Service", tb__col_text(s, c + 2), "Tags",
                     tb__col_json(s, c + 3, json_array()), "Meta",
                     tb__col_json(s, c + 6, json_object()), "Port",
                     (json_int_t)sqlite3_column_int64(s, c + 5), "Address",
                     tb__col_text(s, c + 4), "TaggedAddresses",
                     tb__col_json(s, c + 7, json_object()), "Weights",
                     tb__col_json(s, c + 8, weights_dflt()), "EnableTagOverride",
                     sqlite3_column_int(s, c + 9), "Datacenter", dc, "CreateIndex",
                     (json_int_t)tb__col_u64(s, c + 10), "ModifyIndex",
                     (json_int_t)tb__col_u64(s, c + 11));
}

/* CatalogService from NODE_COLS at 0 and SVC_COLS after them. */
static json_t *catalog_service_json(sqlite3_stmt *s)
{
    int c = NODE_NCOLS;
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:s, s:s, s:o, s:s, s:o, s:o, s:o, s:I, s:s, s:b,"
        " s:o, s:o, s:I, s:I}",
        "ID", tb__col_text(s, 0), "Node", tb__col_text(s, 1), "Address", tb__col_text(s, 2),
        "Datacenter", tb__col_text(s, 3), "TaggedAddresses", tb__col_json(s, 4, json_object()),
        "NodeMeta", tb__col_json(s, 5, json_object()), "ServiceKind", "", "ServiceID",
        tb__col_text(s, c + 1), "ServiceName", tb__col_text(s, c + 2), "ServiceTags",
        tb__col_json(s, c + 3, json_array()), "ServiceAddress", tb__col_text(s, c + 4),
        "ServiceTaggedAddresses", tb__col_json(s, c + 7, json_object()), "ServiceWeights",
        tb__col_json(s, c + 8, weights_dflt()), "ServiceMeta",
        tb__col_json(s, c + 6, json_object()), "ServicePort",
        (json_int_t)sqlite3_column_int64(s, c + 5), "ServiceSocketPath", "",
        "ServiceEnableTagOverride", sqlite3_column_int(s, c + 9), "ServiceProxy", json_object(),
        "ServiceConnect", json_object(), "CreateIndex", (json_int_t)tb__col_u64(s, c + 10),
        "ModifyIndex", (json_int_t)tb__col_u64(s, c + 11));
}

/* HealthCheck from CHECK_COLS at column 0. */
static json_t *check_json(sqlite3_stmt *s)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:i, s:o,"
                     " s:I, s:I}",
                     "Node", tb__col_text(s, 0), "CheckID", tb__col_text(s, 1), "Name",
                     tb__col_text(s, 2), "Status", tb__col_text(s, 3), "Notes",
                     tb__col_text(s, 4), "Output", tb__col_text(s, 5), "ServiceID",
                     tb__col_text(s, 6), "ServiceName", tb__col_text(s, 7), "ServiceTags",
                     tb__col_json(s, 8, json_array()), "Type", tb__col_text(s, 9), "Interval",
                     tb__col_text(s, 10), "Timeout", tb__col_text(s, 11), "ExposedPort", 0,
                     "Definition", tb__col_json(s, 12, json_object()), "CreateIndex",
                     (json_int_t)tb__col_u64(s, 13), "ModifyIndex",
                     (json_int_t)tb__col_u64(s, 14));
}

/* Every wanted tag present (case-insensitively, as Consul's tag filter)? */
static int has_tags(const json_t *svc_tags, const json_t *want)
{
    size_t i, j;
    const json_t *w, *t;
    json_array_foreach(want, i, w) {
        if (!json_is_string(w))
            continue;
        int found = 0;
        json_array_foreach(svc_tags, j, t) {
            if (json_is_string(t) && !strcasecmp(json_string_value(t), json_string_value(w))) {
                found = 1;
                break;
            }
        }
        if (!found)
            return 0;
    }
    return 1;
}

/* Run a query and turn each row into one array element. */
static json_t *rows_array(sqlite3_stmt *s, json_t *(*row)(sqlite3_stmt *))
{
    json_t *arr = json_array();
    int rc = SQLITE_DONE;
    while (arr && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        json_t *e = row(s);
        if (!e || json_array_append_new(arr, e)) {
            json_decref(arr);
            arr = NULL;
        }
    }
    if (arr && rc != SQLITE_DONE) {
        json_decref(arr);
        arr = NULL;
    }
    sqlite3_reset(s);
    return arr;
}

static json_t *node_row(sqlite3_stmt *s)
{
    return node_json(s, 0);
}

/* ---------------------------------------------------------------- catalog reads */

json_t *tb__state_nodes(tb__state_t *st, uint64_t *index)
{
    sqlite3_stmt *s = tb__st_sql(st, "SELECT " NODE_COLS " FROM nodes n ORDER BY n.node");
    if (!s)
        return NULL;
    if (index)
        *index = tb__st_max_index(st, MASK(TB__TBL_NODES));
    return rows_array(s, node_row);
}

json_t *tb__state_services(tb__state_t *st, uint64_t *index)
{
    sqlite3_stmt *s = tb__st_sql(st, "SELECT name, tags FROM services"
                                     " ORDER BY name, node, service_id");
    json_t *out = json_object();
    if (!s || !out) {
        json_decref(out);
        return NULL;
    }
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *name = tb__col_text(s, 0);
        json_t *tags = json_object_get(out, name);
        if (!tags) {
            tags = json_array();
            if (json_object_set_new(out, name, tags))
                break;
        }
        json_t *row = tb__col_json(s, 1, json_array());
        size_t i, j;
        json_t *t, *u;
        json_array_foreach(row, i, t) {
            int dup = 0;
            json_array_foreach(tags, j, u) {
                if (json_equal(t, u)) {
                    dup = 1;
                    break;
                }
            }
            if (!dup)
                json_array_append(tags, t);
        }
        json_decref(row);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        json_decref(out);
        return NULL;
    }
    if (index)
        *index = tb__st_max_index(st, MASK(TB__TBL_SERVICES));
    return out;
}

json_t *tb__state_service_nodes(tb__state_t *st, const char *service, const json_t *tags,
                                uint64_t *index)
{
    sqlite3_stmt *s = tb__st_sql(st, "SELECT " NODE_COLS ", " SVC_COLS " FROM services s"
                                     " JOIN nodes n ON n.node = s.node WHERE s.name = ?1"
                                     " ORDER BY s.node, s.service_id");
    json_t *arr = json_array();
    if (!s || !arr || !service) {
        json_decref(arr);
        return NULL;
    }
    tb__bind_text(s, 1, service);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        json_t *e = catalog_service_json(s);
        if (!e)
            break;
        if (has_tags(json_object_get(e, "ServiceTags"), tags))
            json_array_append(arr, e);
        json_decref(e);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        json_decref(arr);
        return NULL;
    }
    if (index)
        *index = tb__st_max_index(st, MASK(TB__TBL_NODES) | MASK(TB__TBL_SERVICES));
    return arr;
}

json_t *tb__state_node_services(tb__state_t *st, const char *node, uint64_t *index)
{
    if (!node)
        return NULL;
    if (index)
        *index = tb__st_max_index(st, MASK(TB__TBL_NODES) | MASK(TB__TBL_SERVICES));
    sqlite3_stmt *s = tb__st_sql(st, "SELECT " NODE_COLS " FROM nodes n WHERE n.node = ?1");
    if (!s)
        return NULL;
    tb__bind_text(s, 1, node);
    int rc = sqlite3_step(s);
    json_t *n = rc == SQLITE_ROW ? node_json(s, 0) : NULL;
    sqlite3_reset(s);
    if (rc == SQLITE_DONE)
        return json_null();
    if (!n)
        return NULL;
    json_t *svcs = json_object();
    const char *dc = json_string_value(json_object_get(n, "Datacenter"));
    s = tb__st_sql(st, "SELECT " SVC_COLS " FROM services s WHERE s.node = ?1"
                       " ORDER BY s.service_id");
    if (!s || !svcs) {
        json_decref(n);
        json_decref(svcs);
        return NULL;
    }
    tb__bind_text(s, 1, node);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        json_t *e = agent_service_json(s, 0, dc);
        if (!e || json_object_set_new(svcs, tb__col_text(s, 1), e))
            break;
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        json_decref(n);
        json_decref(svcs);
        return NULL;
    }
    return json_pack("{s:o, s:o}", "Node", n, "Services", svcs);
}

/* ---------------------------------------------------------------- health reads */

static json_t *entry_checks(tb__state_t *st, const char *node, const char *sid)
{
    sqlite3_stmt *s = tb__st_sql(st, "SELECT " CHECK_COLS " FROM checks c WHERE c.node = ?1"
                                     " AND (c.service_id = '' OR c.service_id = ?2)"
                                     " ORDER BY c.check_id");
    if (!s)
        return NULL;
    tb__bind_text(s, 1, node);
    tb__bind_text(s, 2, sid);
    return rows_array(s, check_json);
}

json_t *tb__state_health_service(tb__state_t *st, const char *service, const json_t *tags,
                                 int passing_only, uint64_t *index)
{
    sqlite3_stmt *s = tb__st_sql(st, "SELECT " NODE_COLS ", " SVC_COLS " FROM services s"
                                     " JOIN nodes n ON n.node = s.node WHERE s.name = ?1"
                                     " ORDER BY s.node, s.service_id");
    json_t *arr = json_array();
    if (!s || !arr || !service) {
        json_decref(arr);
        return NULL;
    }
    tb__bind_text(s, 1, service);
    int rc = SQLITE_DONE, err = 0;
    while (!err && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        json_t *node = node_json(s, 0);
        const char *dc = json_string_value(json_object_get(node, "Datacenter"));
        json_t *svc = node ? agent_service_json(s, NODE_NCOLS, dc ? dc : "") : NULL;
        json_t *checks = NULL;
        if (!node || !svc) {
            err = 1;
        } else if (has_tags(json_object_get(svc, "Tags"), tags)) {
            checks = entry_checks(st, tb__col_text(s, 1), tb__col_text(s, NODE_NCOLS + 1));
            int keep = checks != NULL;
            if (!checks)
                err = 1;
            size_t i;
            json_t *c;
            json_array_foreach(checks, i, c) {
                if (passing_only && strcmp(json_string_value(json_object_get(c, "Status")),
                                           "passing"))
                    keep = 0;
            }
            if (keep && json_array_append_new(arr, json_pack("{s:O, s:O, s:O}", "Node", node,
                                                             "Service", svc, "Checks", checks)))
                err = 1;
        }
        json_decref(node);
        json_decref(svc);
        json_decref(checks);
    }
    sqlite3_reset(s);
    if (err || rc != SQLITE_DONE) {
        json_decref(arr);
        return NULL;
    }
    if (index)
        *index = tb__st_max_index(st, MASK(TB__TBL_NODES) | MASK(TB__TBL_SERVICES) |
                                          MASK(TB__TBL_CHECKS));
    return arr;
}

json_t *tb__state_node_checks(tb__state_t *st, const char *node, uint64_t *index)
{
    sqlite3_stmt *s = tb__st_sql(st, "SELECT " CHECK_COLS " FROM checks c WHERE c.node = ?1"
                                     " ORDER BY c.check_id");
    if (!s || !node)
        return NULL;
    tb__bind_text(s, 1, node);
    if (index)
        *index = tb__st_max_index(st, MASK(TB__TBL_CHECKS));
    return rows_array(s, check_json);
}

json_t *tb__state_service_checks(tb__state_t *st, const char *service, uint64_t *index)
{
    sqlite3_stmt *s = tb__st_sql(st, "SELECT " CHECK_COLS " FROM checks c"
                                     " WHERE c.service_name = ?1 AND c.service_id <> ''"
                                     " ORDER BY c.node, c.check_id");
    if (!s || !service)
        return NULL;
    tb__bind_text(s, 1, service);
    if (index)
        *index = tb__st_max_index(st, MASK(TB__TBL_CHECKS));
    return rows_array(s, check_json);
}

json_t *tb__state_checks_in_state(tb__state_t *st, const char *state, uint64_t *index)
{
    sqlite3_stmt *s;
    if (!state)
        return NULL;
    if (!strcmp(state, "any")) {
        s = tb__st_sql(st, "SELECT " CHECK_COLS " FROM checks c ORDER BY c.node, c.check_id");
    } else if (valid_status(state)) {
        s = tb__st_sql(st, "SELECT " CHECK_COLS " FROM checks c WHERE c.status = ?1"
                           " ORDER BY c.node, c.check_id");
        if (s)
            tb__bind_text(s, 1, state);
    } else {
        return NULL;
    }
    if (!s)
        return NULL;
    if (index)
        *index = tb__st_max_index(st, MASK(TB__TBL_CHECKS));
    return rows_array(s, check_json);
}
