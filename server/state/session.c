/*
 * session.c - the session area of the state store: create and destroy
 * (SESSION command), invalidation (destroy, a listed check going critical or
 * away, the node deregistered) and the session reads.
 *
 * Invalidation follows Consul: each key the session holds gets a lock-delay
 * of min(LockDelay, 60s) from the command's timestamp (acquire refused until
 * then), then is released (Session cleared, LockIndex kept) or deleted,
 * according to Behavior. A voluntary release (KV unlock) sets no delay.
 *
 * session_checks maps (node, check) -> session so that a check change finds
 * its sessions without scanning them all.
 */
#include <stdlib.h>
#include <string.h>

#include "state/state_int.h"

#define MAX_LOCK_DELAY_NS 60000000000LL /* Consul's MaxLockDelay */

#define SESSION_COLS \
    "id, name, node, lock_delay_ns, behavior, ttl, checks, node_checks, service_checks," \
    " create_index, modify_index"

/* ---------------------------------------------------------------- invalidation */

int tb__session_invalidate(tb__state_t *st, const char *id)
{
    sqlite3_stmt *s = tb__st_sql(st, "SELECT behavior, lock_delay_ns FROM sessions WHERE id = ?1");
    if (!s)
        return -1;
    tb__bind_text(s, 1, id);
    int rc = sqlite3_step(s);
    int del = rc == SQLITE_ROW && !strcmp(tb__col_text(s, 0), "delete");
    int64_t delay = rc == SQLITE_ROW ? sqlite3_column_int64(s, 1) : 0;
    sqlite3_reset(s);
    if (rc == SQLITE_DONE)
        return 0; /* unknown: nothing to do */
    if (rc != SQLITE_ROW)
        return -1;
    if (delay > MAX_LOCK_DELAY_NS)
        delay = MAX_LOCK_DELAY_NS;
    int64_t delay_ms = delay > 0 ? delay / 1000000 : 0;

    s = tb__st_sql(st, "SELECT key FROM kv WHERE session = ?1");
    if (!s)
        return -1;
    tb__bind_text(s, 1, id);
    char **keys;
    size_t n;
    if (tb__st_collect(s, &keys, &n))
        return -1;
    int err = 0;
    for (size_t i = 0; i < n && !err; i++) {
        if (delay_ms > 0) {
            s = tb__st_sql(st, "INSERT INTO kv_lock_delay(key, until_ms) VALUES(?1, ?2)"
                               " ON CONFLICT(key) DO UPDATE SET until_ms = excluded.until_ms");
            if (!s) {
                err = 1;
                break;
            }
            tb__bind_text(s, 1, keys[i]);
            sqlite3_bind_int64(s, 2, st->now_ms + delay_ms);
            if (tb__st_exec(s)) {
                err = 1;
                break;
            }
        }
        if (del) {
            err = tb__kv_delete_key(st, keys[i]) != 0;
            continue;
        }
        s = tb__st_sql(st, "UPDATE kv SET session = NULL, modify_index = ?2 WHERE key = ?1");
        if (!s) {
            err = 1;
            break;
        }
        tb__bind_text(s, 1, keys[i]);
        tb__bind_u64(s, 2, st->idx);
        err = tb__st_exec(s) || tb__st_note(st, TB__WATCH_KV_KEY, keys[i]);
        tb__st_changed(st, TB__TBL_KV);
    }
    tb__strv_free(keys, n);
    if (err)
        return -1;
    s = tb__st_sql(st, "DELETE FROM session_checks WHERE session = ?1");
    if (!s)
        return -1;
    tb__bind_text(s, 1, id);
    if (tb__st_exec(s))
        return -1;
    s = tb__st_sql(st, "DELETE FROM sessions WHERE id = ?1");
    if (!s)
        return -1;
    tb__bind_text(s, 1, id);
    if (tb__st_exec(s))
        return -1;
    tb__st_changed(st, TB__TBL_SESSIONS);
    return tb__st_note(st, TB__WATCH_SESSION, id);
}

static int invalidate_all(tb__state_t *st, sqlite3_stmt *s)
{
    char **ids;
    size_t n;
    if (tb__st_collect(s, &ids, &n))
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        rc = tb__session_invalidate(st, ids[i]);
    tb__strv_free(ids, n);
    return rc;
}

int tb__session_invalidate_check(tb__state_t *st, const char *node, const char *check_id)
{
    sqlite3_stmt *s = tb__st_sql(st, "SELECT DISTINCT session FROM session_checks"
                                     " WHERE node = ?1 AND check_id = ?2 ORDER BY session");
    if (!s)
        return -1;
    tb__bind_text(s, 1, node);
    tb__bind_text(s, 2, check_id);
    return invalidate_all(st, s);
}

int tb__session_invalidate_node(tb__state_t *st, const char *node)
{
    sqlite3_stmt *s = tb__st_sql(st, "SELECT id FROM sessions WHERE node = ?1 ORDER BY id");
    if (!s)
        return -1;
    tb__bind_text(s, 1, node);
    return invalidate_all(st, s);
}

/* ---------------------------------------------------------------- create / destroy */

/* The check must exist on the node and not be critical. 0, 1 refused, -1. */
static int check_usable(tb__state_t *st, const char *node, const char *id, tb__apply_result_t *res)
{
    sqlite3_stmt *s = tb__st_sql(st, "SELECT status FROM checks WHERE node = ?1 AND check_id = ?2");
    if (!s)
        return tb__st_fail(st, res);
    tb__bind_text(s, 1, node);
    tb__bind_text(s, 2, id);
    int rc = sqlite3_step(s);
    int critical = rc == SQLITE_ROW && !strcmp(tb__col_text(s, 0), "critical");
    sqlite3_reset(s);
    if (rc == SQLITE_DONE)
        return tb__refuse(res, TB_BAD_REQUEST, "Missing check '%s' registration", id);
    if (rc != SQLITE_ROW)
        return tb__st_fail(st, res);
    if (critical)
        return tb__refuse(res, TB_BAD_REQUEST, "Check '%s' is in critical state", id);
    return 0;
}

static int map_check(tb__state_t *st, const char *sess, const char *node, const char *check)
{
    sqlite3_stmt *s = tb__st_sql(st, "INSERT OR IGNORE INTO session_checks(session, node, check_id)"
                                     " VALUES(?1, ?2, ?3)");
    if (!s)
        return -1;
    tb__bind_text(s, 1, sess);
    tb__bind_text(s, 2, node);
    tb__bind_text(s, 3, check);
    return tb__st_exec(s);
}

static int session_create(tb__state_t *st, const json_t *sess, tb__apply_result_t *res)
{
    const char *id, *name, *node, *behavior, *ttl;
    json_int_t delay;
    const json_t *node_checks, *legacy_checks, *svc_checks;
    if (tb__jf_str(sess, "ID", "", &id, res) || tb__jf_str(sess, "Name", "", &name, res) ||
        tb__jf_str(sess, "Node", "", &node, res) ||
        tb__jf_str(sess, "Behavior", "release", &behavior, res) ||
        tb__jf_str(sess, "TTL", "", &ttl, res) || tb__jf_int(sess, "LockDelay", 0, &delay, res) ||
        tb__jf_arr(sess, "NodeChecks", &node_checks, res) ||
        tb__jf_arr(sess, "Checks", &legacy_checks, res) ||
        tb__jf_arr(sess, "ServiceChecks", &svc_checks, res))
        return 1;
    if (!*id)
        return tb__refuse(res, TB_BAD_REQUEST, "Missing session ID");
    if (!*node)
        return tb__refuse(res, TB_BAD_REQUEST, "Missing node name");
    if (!*behavior)
        behavior = "release";
    if (strcmp(behavior, "release") && strcmp(behavior, "delete"))
        return tb__refuse(res, TB_BAD_REQUEST, "Invalid Behavior setting '%s'", behavior);
    if (delay < 0)
        return tb__refuse(res, TB_BAD_REQUEST, "Invalid LockDelay: negative");

    sqlite3_stmt *s = tb__st_sql(st, "SELECT 1 FROM sessions WHERE id = ?1");
    if (!s)
        return tb__st_fail(st, res);
    tb__bind_text(s, 1, id);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc == SQLITE_ROW)
        return tb__refuse(res, TB_BAD_REQUEST, "Session ID \"%s\" already in use", id);
    if (rc != SQLITE_DONE)
        return tb__st_fail(st, res);
    s = tb__st_sql(st, "SELECT node FROM nodes WHERE node = ?1");
    if (!s)
        return tb__st_fail(st, res);
    tb__bind_text(s, 1, node);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc == SQLITE_DONE)
        return tb__refuse(res, TB_BAD_REQUEST, "Missing node registration");
    if (rc != SQLITE_ROW)
        return tb__st_fail(st, res);

    /* NodeChecks, else the legacy Checks, else the default: ["serfHealth"]
     * when the node has that check. Without gossip (yet) there is often no
     * serfHealth, and refusing every default session would make sessions
     * unusable, hence "only if it exists". */
    json_t *nchecks;
    if (node_checks)
        nchecks = json_deep_copy(node_checks);
    else if (legacy_checks)
        nchecks = json_deep_copy(legacy_checks);
    else {
        nchecks = json_array();
        s = tb__st_sql(st, "SELECT 1 FROM checks WHERE node = ?1 AND check_id = 'serfHealth'");
        if (!s || !nchecks) {
            json_decref(nchecks);
            return tb__st_fail(st, res);
        }
        tb__bind_text(s, 1, node);
        rc = sqlite3_step(s);
        sqlite3_reset(s);
        if (rc == SQLITE_ROW)
            json_array_append_new(nchecks, json_string("serfHealth"));
        else if (rc != SQLITE_DONE) {
            json_decref(nchecks);
            return tb__st_fail(st, res);
        }
    }
    if (!nchecks)
        return tb__st_fail(st, res);
    size_t i;
    json_t *c;
    int out = 0;
    json_array_foreach(nchecks, i, c) {
        if (!json_is_string(c)) {
            out = tb__refuse(res, TB_BAD_REQUEST, "Invalid field \"NodeChecks\": expected strings");
            break;
        }
        if ((out = check_usable(st, node, json_string_value(c), res)))
            break;
    }
    json_array_foreach(svc_checks, i, c) {
        if (out)
            break;
        const char *cid = json_string_value(json_object_get(c, "ID"));
        if (!json_is_object(c) || !cid) {
            out = tb__refuse(res, TB_BAD_REQUEST,
                             "Invalid field \"ServiceChecks\": expected objects with an ID");
            break;
        }
        out = check_usable(st, node, cid, res);
    }
    char *nc = out ? NULL : tb__json_canon(nchecks);
    char *sc = out || !svc_checks || !json_array_size(svc_checks) ? NULL
                                                                    : tb__json_canon(svc_checks);
    if (!out) {
        s = tb__st_sql(st, "INSERT INTO sessions(" SESSION_COLS ") VALUES(?1, ?2, ?3, ?4, ?5, ?6,"
                           " ?7, ?7, ?8, ?9, ?9)");
        if (!s || !nc) {
            out = tb__st_fail(st, res);
        } else {
            tb__bind_text(s, 1, id);
            tb__bind_text(s, 2, name);
            tb__bind_text(s, 3, node);
            sqlite3_bind_int64(s, 4, delay);
            tb__bind_text(s, 5, behavior);
            tb__bind_text(s, 6, ttl);
            tb__bind_text(s, 7, nc);
            tb__bind_text(s, 8, sc);
            tb__bind_u64(s, 9, st->idx);
            if (tb__st_exec(s))
                out = tb__st_fail(st, res);
        }
    }
    json_array_foreach(nchecks, i, c) {
        if (!out && map_check(st, id, node, json_string_value(c)))
            out = tb__st_fail(st, res);
    }
    json_array_foreach(svc_checks, i, c) {
        if (!out && map_check(st, id, node, json_string_value(json_object_get(c, "ID"))))
            out = tb__st_fail(st, res);
    }
    json_decref(nchecks);
    free(nc);
    free(sc);
    if (out)
        return out;
    tb__st_changed(st, TB__TBL_SESSIONS);
    if (tb__st_note(st, TB__WATCH_SESSION, id))
        return tb__st_fail(st, res);
    json_decref(res->json);
    res->json = json_pack("{s:s}", "ID", id);
    return 0;
}

int tb__session_apply(tb__state_t *st, const json_t *body, tb__apply_result_t *res)
{
    const char *op;
    const json_t *sess;
    if (tb__jf_str(body, "Op", "", &op, res) || tb__jf_obj(body, "Session", &sess, res))
        return 1;
    if (!sess)
        return tb__refuse(res, TB_BAD_REQUEST, "Missing session");
    if (!strcmp(op, "create"))
        return session_create(st, sess, res);
    if (!strcmp(op, "destroy")) {
        const char *id;
        if (tb__jf_str(sess, "ID", "", &id, res))
            return 1;
        if (!*id)
            return tb__refuse(res, TB_BAD_REQUEST, "Missing session ID");
        return tb__session_invalidate(st, id) ? tb__st_fail(st, res) : 0;
    }
    return tb__refuse(res, TB_BAD_REQUEST, "Invalid session operation \"%s\"", op);
}

/* ---------------------------------------------------------------- reads */

static json_t *session_json(sqlite3_stmt *s)
{
    json_t *sc = tb__col_json(s, 8, json_null());
    return json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:o, s:o, s:o, s:I, s:I}", "ID",
                     tb__col_text(s, 0), "Name", tb__col_text(s, 1), "Node", tb__col_text(s, 2),
                     "LockDelay", (json_int_t)sqlite3_column_int64(s, 3), "Behavior",
                     tb__col_text(s, 4), "TTL", tb__col_text(s, 5), "Checks",
                     tb__col_json(s, 6, json_array()), "NodeChecks",
                     tb__col_json(s, 7, json_array()), "ServiceChecks", sc, "CreateIndex",
                     (json_int_t)tb__col_u64(s, 9), "ModifyIndex", (json_int_t)tb__col_u64(s, 10));
}

static json_t *session_rows(tb__state_t *st, sqlite3_stmt *s, uint64_t *index)
{
    json_t *arr = json_array();
    int rc = SQLITE_DONE;
    while (arr && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        json_t *e = session_json(s);
        if (!e || json_array_append_new(arr, e)) {
            json_decref(arr);
            arr = NULL;
        }
    }
    sqlite3_reset(s);
    if (arr && rc != SQLITE_DONE) {
        json_decref(arr);
        return NULL;
    }
    if (index)
        *index = tb__st_max_index(st, 1u << TB__TBL_SESSIONS);
    return arr;
}

json_t *tb__state_session_get(tb__state_t *st, const char *id, uint64_t *index)
{
    sqlite3_stmt *s = tb__st_sql(st, "SELECT " SESSION_COLS " FROM sessions WHERE id = ?1");
    if (!s || !id)
        return NULL;
    tb__bind_text(s, 1, id);
    return session_rows(st, s, index);
}

json_t *tb__state_session_list(tb__state_t *st, uint64_t *index)
{
    sqlite3_stmt *s = tb__st_sql(st, "SELECT " SESSION_COLS " FROM sessions ORDER BY id");
    return s ? session_rows(st, s, index) : NULL;
}

json_t *tb__state_node_sessions(tb__state_t *st, const char *node, uint64_t *index)
{
    sqlite3_stmt *s = tb__st_sql(st, "SELECT " SESSION_COLS " FROM sessions WHERE node = ?1"
                                     " ORDER BY id");
    if (!s || !node)
        return NULL;
    tb__bind_text(s, 1, node);
    return session_rows(st, s, index);
}

json_t *tb__state_session_ttls(tb__state_t *st)
{
    sqlite3_stmt *s = tb__st_sql(st, "SELECT id, ttl FROM sessions WHERE ttl <> '' ORDER BY id");
    json_t *arr = json_array();
    if (!s || !arr) {
        json_decref(arr);
        return NULL;
    }
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (json_array_append_new(arr, json_pack("{s:s, s:s}", "ID", tb__col_text(s, 0), "TTL",
                                                 tb__col_text(s, 1)))) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}
