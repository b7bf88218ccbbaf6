"""test_api.py - python3-consul 0.7.1 (Debian) against a Tribune dev agent
for the issue-5 API: /v1/txn through the client's own HTTP transport
(0.7.1 has no Txn class), sessions and locks with lock-delay, blocking
index rules, coordinates, ?filter/?node-meta, /v1/agent/metrics and host.

Run by run-python-tests.sh after test_consul_client (whose agent start and
stop it reuses, on the same ports).
"""
import base64
import json
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import consul
from consul.base import CB

import test_consul_client as base

setUpModule = base.setUpModule
tearDownModule = base.tearDownModule


def raw(method, path, body=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (base.HTTP_PORT, path),
                                 data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def b64(s):
    return base64.b64encode(s.encode()).decode()


class ApiTest(unittest.TestCase):
    def setUp(self):
        self.c = consul.Consul(host="127.0.0.1", port=base.HTTP_PORT)

    def txn(self, ops):
        return self.c.http.put(CB.json(), "/v1/txn", data=json.dumps(ops))

    def test_txn(self):
        res = self.txn([
            {"KV": {"Verb": "set", "Key": "pytxn/a", "Value": b64("one"),
                    "Flags": 16210313421097356768}},
            {"KV": {"Verb": "set", "Key": "pytxn/b", "Value": b64("two")}},
            {"KV": {"Verb": "get", "Key": "pytxn/a"}},
        ])
        self.assertIsNone(res["Errors"])
        self.assertEqual(len(res["Results"]), 3)
        got = res["Results"][2]["KV"]
        self.assertEqual(base64.b64decode(got["Value"]), b"one")
        self.assertEqual(got["Flags"], 16210313421097356768)
        # the plain KV API sees the same entry, flags exact
        _, item = self.c.kv.get("pytxn/a")
        self.assertEqual(item["Flags"], 16210313421097356768)
        mi = item["ModifyIndex"]
        # all or nothing: the stale cas rolls back the set and the delete
        status, _, body = raw("PUT", "/v1/txn", json.dumps([
            {"KV": {"Verb": "set", "Key": "pytxn/c", "Value": b64("x")}},
            {"KV": {"Verb": "delete", "Key": "pytxn/b"}},
            {"KV": {"Verb": "cas", "Key": "pytxn/a", "Value": b64("y"), "Index": mi + 100}},
        ]).encode())
        self.assertEqual(status, 409)
        err = json.loads(body)
        self.assertIsNone(err["Results"])
        self.assertEqual(err["Errors"][0]["OpIndex"], 2)
        self.assertIsNone(self.c.kv.get("pytxn/c")[1])
        self.assertEqual(self.c.kv.get("pytxn/b")[1]["Value"], b"two")
        # cas at the right index applies
        res = self.txn([{"KV": {"Verb": "cas", "Key": "pytxn/a", "Value": b64("y"),
                                "Index": mi}}])
        self.assertGreater(res["Results"][0]["KV"]["ModifyIndex"], mi)
        # request errors
        status, _, body = raw("PUT", "/v1/txn", b"[{\"KV\":{\"Verb\":\"set\",\"Key\":\"k\","
                                                b"\"Value\":\"***\"}}]")
        self.assertEqual(status, 400)
        status, _, _ = raw("PUT", "/v1/txn", json.dumps(
            [{"KV": {"Verb": "get-or-empty", "Key": "k"}}] * 129).encode())
        self.assertEqual(status, 413)
        self.assertTrue(self.c.kv.delete("pytxn/", recurse=True))

    def test_txn_catalog(self):
        res = self.txn([
            {"Node": {"Verb": "set", "Node": {"Node": "pytxn-node", "Address": "10.7.0.1"}}},
            {"Service": {"Verb": "set", "Node": "pytxn-node",
                         "Service": {"ID": "s1", "Service": "pytxnsvc", "Port": 7}}},
        ])
        self.assertEqual(res["Results"][1]["Service"]["Port"], 7)
        _, inst = self.c.catalog.service("pytxnsvc")
        self.assertEqual([i["Node"] for i in inst], ["pytxn-node"])
        self.txn([{"Node": {"Verb": "delete", "Node": {"Node": "pytxn-node"}}}])
        self.assertEqual(self.c.catalog.service("pytxnsvc")[1], [])

    def test_lock_delay(self):
        s1 = self.c.session.create(name="holder", lock_delay=1)
        s2 = self.c.session.create(name="waiter", lock_delay=0)
        try:
            self.assertTrue(self.c.kv.put("pyld/lock", "a", acquire=s1))
            # invalidation (destroy) starts the lock-delay: nobody can take it
            self.assertTrue(self.c.session.destroy(s1))
            _, item = self.c.kv.get("pyld/lock")
            self.assertNotIn("Session", item)
            self.assertFalse(self.c.kv.put("pyld/lock", "b", acquire=s2))
            time.sleep(1.3)
            self.assertTrue(self.c.kv.put("pyld/lock", "b", acquire=s2))
            # a voluntary release starts no delay
            self.assertTrue(self.c.kv.put("pyld/lock", "b", release=s2))
            self.assertTrue(self.c.kv.put("pyld/lock", "c", acquire=s2))
        finally:
            self.c.session.destroy(s2)
            self.c.kv.delete("pyld/", recurse=True)

    def test_blocking_index_rules(self):
        kv = self.c.kv
        kv.put("pybi/k", "1")
        index, _ = kv.get("pybi/k")
        # never 0, and a wait with an unchanged key returns the same index
        self.assertGreaterEqual(int(index), 1)
        t0 = time.monotonic()
        index2, _ = kv.get("pybi/k", index=index, wait="300ms")
        self.assertGreaterEqual(time.monotonic() - t0, 0.25)
        self.assertEqual(index2, index)
        # many identical waiters all see one write (shared read)
        results = []

        def w():
            results.append(kv.get("pybi/k", index=index, wait="10s"))
        ths = [threading.Thread(target=w) for _ in range(20)]
        for t in ths:
            t.start()
        time.sleep(0.3)
        kv.put("pybi/k", "2")
        for t in ths:
            t.join(15)
        self.assertEqual(len(results), 20)
        self.assertTrue(all(r[1]["Value"] == b"2" and int(r[0]) > int(index) for r in results))
        # an index from the future is answered at the wait's end, not early
        t0 = time.monotonic()
        kv.get("pybi/k", index=int(results[0][0]) + 1000, wait="200ms")
        self.assertGreaterEqual(time.monotonic() - t0, 0.15)
        kv.delete("pybi/", recurse=True)

    def test_coordinates(self):
        dcs = self.c.coordinate.datacenters()
        self.assertEqual(dcs[0]["Datacenter"], "dc1")
        _, nodes = self.c.coordinate.nodes()  # (index, list) in 0.7.1
        self.assertIn("pynode", [n["Node"] for n in nodes])
        self.assertEqual(len(nodes[0]["Coord"]["Vec"]), 8)

    def test_filter_and_node_meta(self):
        cat = self.c.catalog
        raw("PUT", "/v1/catalog/register", json.dumps(
            {"Node": "pyf1", "Address": "10.8.0.1", "NodeMeta": {"env": "prod"},
             "Service": {"Service": "pyf", "Tags": ["a"]}}).encode())
        raw("PUT", "/v1/catalog/register", json.dumps(
            {"Node": "pyf2", "Address": "10.8.0.2", "NodeMeta": {"env": "dev"},
             "Service": {"Service": "pyf", "Tags": ["b"]}}).encode())
        try:
            q = urllib.parse.quote('ServiceTags contains "b"')
            st, _, body = raw("GET", "/v1/catalog/service/pyf?filter=" + q)
            self.assertEqual([e["Node"] for e in json.loads(body)], ["pyf2"])
            st, _, body = raw("GET", "/v1/catalog/nodes?node-meta=env:prod")
            self.assertEqual([e["Node"] for e in json.loads(body)], ["pyf1"])
            st, _, body = raw("GET", "/v1/health/service/pyf?filter=" +
                              urllib.parse.quote("Node.Meta.env == dev"))
            self.assertEqual([e["Node"]["Node"] for e in json.loads(body)], ["pyf2"])
            st, _, body = raw("GET", "/v1/catalog/nodes?filter=" + urllib.parse.quote("Node =="))
            self.assertEqual(st, 400)
        finally:
            cat.deregister("pyf1")
            cat.deregister("pyf2")

    def test_metrics_and_host(self):
        self.c.kv.get("pym/none")
        st, hdrs, body = raw("GET", "/v1/agent/metrics")
        self.assertEqual(st, 200)
        m = json.loads(body)
        gauges = {g["Name"]: g["Value"] for g in m["Gauges"]}
        counters = {c["Name"]: c["Count"] for c in m["Counters"]}
        self.assertGreater(gauges["consul.runtime.alloc_bytes"], 1e6)
        self.assertGreaterEqual(counters["consul.kvs.get"], 1)
        self.assertGreaterEqual(counters["consul.raft.apply"], 1)
        # prometheus needs telemetry.prometheus_retention_time > 0
        st, _, body = raw("GET", "/v1/agent/metrics?format=prometheus")
        self.assertEqual(st, 400)
        st, _, body = raw("GET", "/v1/agent/host")
        h = json.loads(body)
        self.assertGreater(h["Memory"]["total"], 0)
        self.assertTrue(h["Host"]["hostname"])
        self.assertGreater(h["Disk"]["total"], 0)

    def test_monitor_stream(self):
        import socket
        s = socket.create_connection(("127.0.0.1", base.HTTP_PORT), timeout=10)
        try:
            s.sendall(b"GET /v1/agent/monitor?loglevel=debug HTTP/1.1\r\nHost: x\r\n\r\n")
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += s.recv(4096)
            head = buf.split(b"\r\n\r\n")[0].lower()
            self.assertIn(b"200 ok", head)
            self.assertIn(b"transfer-encoding: chunked", head)
            # a request makes the agent log a line, which arrives as a chunk
            self.c.kv.get("pymon/trigger")
            deadline = time.monotonic() + 5
            while b"/v1/kv/pymon/trigger" not in buf and time.monotonic() < deadline:
                buf += s.recv(4096)
            self.assertIn(b"/v1/kv/pymon/trigger", buf)
        finally:
            s.close()
        # the agent keeps serving after the stream's client left
        time.sleep(0.2)
        self.assertIsNone(self.c.kv.get("pymon/after")[1])


if __name__ == "__main__":
    unittest.main(verbosity=2)
