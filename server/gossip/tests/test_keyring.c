/*
 * test_keyring.c - serf's keyring queries without sockets: a member's
 * answers (keyring.c: list, install, use, remove, the primary refused,
 * undecodable requests, no encryption), the querier's tally (counts,
 * messages, missing answers), and serf.c's query round trip (we answer our
 * own query over the UDP output, responses deduplicated per node, the
 * query done at its timeout).
 */
#include <CUnit/Basic.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gossip/keyring.h"
#include "gossip/serf.h"

static const uint8_t k1[32] = {1}, k2[32] = {2};

static int answer(tb__gw_keyring_t *kr, int enc, int op, const uint8_t *key, tb__gw_buf_t *out)
{
    tb__gw_buf_t req;
    tb__gw_buf_init(&req);
    CU_ASSERT_EQUAL(tb__keyring_request(op, key, key ? 32 : 0, &req), 0);
    tb__gw_buf_init(out);
    int r = tb__keyring_answer(kr, enc, NULL, tb__keyring_query_name(op), req.data, req.len, out);
    tb__gw_buf_free(&req);
    return r;
}

/* Tally one answer as member `from`; returns the tally's JSON. */
static json_t *tally_one(const tb__gw_buf_t *resp, size_t nodes)
{
    tb__keyring_tally_t t;
    tb__keyring_tally_init(&t, 0, nodes);
    tb__keyring_tally_add(&t, "n1", resp->data, resp->len);
    json_t *j = tb__keyring_tally_json(&t, "dc1");
    tb__keyring_tally_free(&t);
    return j;
}

static void test_answers(void)
{
    tb__gw_keyring_t kr;
    tb__gw_keyring_init(&kr);
    tb__gw_keyring_add(&kr, k1, 32);
    tb__gw_buf_t out;
    CU_ASSERT_EQUAL(answer(&kr, 1, TB__KEYOP_INSTALL, k2, &out), 0);
    CU_ASSERT_EQUAL(out.data[0], TB__SERF_KEY_RESPONSE);
    CU_ASSERT_EQUAL(kr.n, 2);
    json_t *j = tally_one(&out, 1);
    CU_ASSERT_EQUAL(json_object_size(json_object_get(j, "Keys")), 2);
    CU_ASSERT_PTR_NULL(json_object_get(j, "Error"));
    json_decref(j);
    tb__gw_buf_free(&out);

    /* the primary cannot go; serf's message comes back */
    CU_ASSERT_EQUAL(answer(&kr, 1, TB__KEYOP_REMOVE, k1, &out), 0);
    CU_ASSERT_EQUAL(kr.n, 2);
    j = tally_one(&out, 1);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(j, "Messages"), "n1")),
                           "Removing the primary key is not allowed");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "Error")),
                           "1/1 nodes reported failure");
    json_decref(j);
    tb__gw_buf_free(&out);

    CU_ASSERT_EQUAL(answer(&kr, 1, TB__KEYOP_USE, k2, &out), 0);
    CU_ASSERT_EQUAL(kr.key[0][0], 2);
    tb__gw_buf_free(&out);
    CU_ASSERT_EQUAL(answer(&kr, 1, TB__KEYOP_REMOVE, k1, &out), 0);
    CU_ASSERT_EQUAL(kr.n, 1);
    tb__gw_buf_free(&out);

    /* list: keys and primary counted */
    CU_ASSERT_EQUAL(answer(&kr, 1, TB__KEYOP_LIST, NULL, &out), 0);
    j = tally_one(&out, 2); /* 2 nodes, 1 answer: an error */
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "NumNodes")), 2);
    CU_ASSERT_EQUAL(json_object_size(json_object_get(j, "PrimaryKeys")), 1);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "Error")),
                           "1/2 nodes reported success");
    json_decref(j);
    tb__gw_buf_free(&out);

    /* without encryption, and with an undecodable request */
    CU_ASSERT_EQUAL(answer(&kr, 0, TB__KEYOP_LIST, NULL, &out), 0);
    j = tally_one(&out, 1);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(j, "Messages"), "n1")),
                           "No keyring to modify (encryption not enabled)");
    json_decref(j);
    tb__gw_buf_free(&out);
    tb__gw_buf_init(&out);
    CU_ASSERT_EQUAL(tb__keyring_answer(&kr, 1, NULL, "_serf_use-key", (const uint8_t *)"\x07\xc1",
                                       2, &out), 0);
    j = tally_one(&out, 1);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "NumNodes")), 1);
    CU_ASSERT_PTR_NOT_NULL(json_object_get(j, "Error"));
    json_decref(j);
    tb__gw_buf_free(&out);
    /* not a keyring query */
    tb__gw_buf_init(&out);
    CU_ASSERT_EQUAL(tb__keyring_answer(&kr, 1, NULL, "_serf_ping", NULL, 0, &out), -1);
    tb__gw_buf_free(&out);

    /* a garbage response counts as an error, never a crash */
    tb__keyring_tally_t t;
    tb__keyring_tally_init(&t, 1, 1);
    tb__keyring_tally_add(&t, "bad", (const uint8_t *)"\x08\x93", 2);
    tb__keyring_tally_add(&t, "bad2", NULL, 0);
    CU_ASSERT_EQUAL(t.num_err, 2);
    tb__keyring_tally_free(&t);
}

static void test_save(void)
{
    char path[] = "/tmp/tb-keyring-test.XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    close(fd);
    tb__gw_keyring_t kr;
    tb__gw_keyring_init(&kr);
    tb__gw_keyring_add(&kr, k2, 32);
    tb__gw_keyring_add(&kr, k1, 32);
    CU_ASSERT_EQUAL(tb__keyring_save(&kr, path), 0);
    json_t *j = json_load_file(path, 0, NULL);
    CU_ASSERT_EQUAL(json_array_size(j), 2);
    tb__gw_keyring_t back;
    tb__gw_keyring_init(&back);
    for (size_t i = 0; i < json_array_size(j); i++)
        CU_ASSERT_EQUAL(tb__gw_keyring_add_base64(&back, json_string_value(json_array_get(j, i))), 0);
    CU_ASSERT_EQUAL(back.n, 2);
    CU_ASSERT_EQUAL(memcmp(back.key[0], k2, 32), 0);
    json_decref(j);
    unlink(path);
}

/* Deliver every UDP datagram the serf queued back to itself. */
static int loop_back(tb__serf_t *s, uint64_t now)
{
    tb__swim_t *sw = tb__serf_swim(s);
    tb__swim_out_t o;
    int n = 0;
    while (tb__swim_poll(sw, &o)) {
        if (o.kind == TB__SWIM_OUT_UDP) {
            tb__swim_recv_udp(sw, now, o.addr, o.addr_len, o.port, o.buf, o.len);
            n++;
        }
        free(o.buf);
    }
    return n;
}

static void test_query_round_trip(void)
{
    tb__serf_config_t c;
    tb__serf_defaults(&c, TB__SWIM_PROFILE_LAN);
    c.swim.name = "a";
    c.swim.addr[0] = 127, c.swim.addr[3] = 9;
    c.swim.addr_len = 4;
    c.swim.port = 7946;
    c.swim.seed = 3;
    tb__serf_t *s = tb__serf_new(&c, 0);
    tb__serf_event_t ev;
    while (tb__serf_poll(s, &ev)) tb__serf_event_clear(&ev);
    CU_ASSERT_EQUAL(tb__serf_num_nodes(s), 1);
    uint64_t to = tb__serf_query_timeout_ms(s);
    CU_ASSERT_EQUAL(to, 200 * 16); /* 200 ms x 16 x ceil(log10(2)) */
    CU_ASSERT_EQUAL(tb__serf_query(s, 10, "_serf_list-keys", NULL, 0, 42, to), 0);
    CU_ASSERT(tb__serf_next_deadline(s) <= 10 + to);
    /* our own query is surfaced for the agent's keyring */
    CU_ASSERT_FATAL(tb__serf_poll(s, &ev));
    CU_ASSERT_EQUAL(ev.type, TB__SERF_EV_QUERY);
    CU_ASSERT_STRING_EQUAL(ev.name, "_serf_list-keys");
    CU_ASSERT_EQUAL(ev.query_id, 42);
    CU_ASSERT_EQUAL(ev.port, 7946);
    CU_ASSERT_EQUAL(tb__serf_respond(s, &ev, (const uint8_t *)"\x08\x80", 2), 0);
    CU_ASSERT_EQUAL(tb__serf_respond(s, &ev, (const uint8_t *)"\x08\x80", 2), 0); /* dup */
    tb__serf_event_clear(&ev);
    CU_ASSERT(loop_back(s, 20) >= 1);
    int responses = 0;
    while (tb__serf_poll(s, &ev)) {
        if (ev.type == TB__SERF_EV_QUERY_RESPONSE) {
            responses++;
            CU_ASSERT_STRING_EQUAL(ev.name, "a");
            CU_ASSERT_EQUAL(ev.payload_len, 2);
            CU_ASSERT_EQUAL(ev.query_id, 42);
        }
        tb__serf_event_clear(&ev);
    }
    CU_ASSERT_EQUAL(responses, 1);
    tb__serf_tick(s, 10 + to);
    int done = 0;
    while (tb__serf_poll(s, &ev)) {
        done += ev.type == TB__SERF_EV_QUERY_DONE && ev.query_id == 42;
        tb__serf_event_clear(&ev);
    }
    CU_ASSERT_EQUAL(done, 1);
    /* a query that is never answered still ends (freed with the serf) */
    CU_ASSERT_EQUAL(tb__serf_query(s, 20 + to, "_serf_list-keys", NULL, 0, 43, to), 0);
    tb__serf_free(s);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("gossip_keyring", NULL, NULL);
    CU_add_test(s, "member answers and tally", test_answers);
    CU_add_test(s, "keyring file", test_save);
    CU_add_test(s, "serf query round trip", test_query_round_trip);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
