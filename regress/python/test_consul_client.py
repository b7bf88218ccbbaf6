"""test_consul_client.py - end-to-end test with an unmodified Consul client
library: Debian's python3-consul 0.7.1 against a Tribune dev agent.

Run by run-python-tests.sh during `make check`; it starts its own dev agent
from the temp install (ports TB_PY_PORT_BASE .. +5, default 18600) and stops
it at the end. Stdlib unittest; the only outside module is `consul`.
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request

import consul

PORT_BASE = int(os.environ.get("TB_PY_PORT_BASE", "18600"))
HTTP_PORT = PORT_BASE
AGENT = {}


def _agent_paths():
    inst = os.environ.get("TB_TMP_INSTALL", "")
    bindir = os.environ.get("TB_BINDIR", "/usr/local/bin")
    plugindir = os.environ.get("TB_PLUGINDIR", "")
    return (os.path.join(inst + bindir, "tribune"),
            inst + plugindir if plugindir else None)


def setUpModule():
    tribune, plugindir = _agent_paths()
    d = tempfile.mkdtemp(prefix="tb_pytest.")
    cfg = os.path.join(d, "ports.json")
    with open(cfg, "w") as f:
        json.dump({"ports": {"http": HTTP_PORT, "dns": PORT_BASE + 1, "server": PORT_BASE + 2,
                             "serf_lan": PORT_BASE + 3, "serf_wan": PORT_BASE + 4,
                             "grpc": PORT_BASE + 5}}, f)
    cmd = [tribune, "agent", "-dev", "-node", "pynode", "-config-file", cfg,
           "-log-level", "debug"]
    if plugindir:
        cmd += ["-plugin-dir", plugindir]
    log = open(os.path.join(d, "agent.log"), "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    AGENT.update(dir=d, proc=proc, log=log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/v1/status/leader" % HTTP_PORT,
                                        timeout=2) as r:
                if r.read().strip() not in (b"", b'""'):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    tearDownModule()
    raise RuntimeError("the dev agent did not start; log in %s" % d)


def tearDownModule():
    proc = AGENT.get("proc")
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if AGENT.get("log"):
        AGENT["log"].close()
    if proc and proc.returncode in (0, -signal.SIGTERM):
        shutil.rmtree(AGENT["dir"], ignore_errors=True)
    elif proc:
        # a crash or a sanitizer report at shutdown is a failure too
        with open(os.path.join(AGENT["dir"], "agent.log"), errors="replace") as f:
            tail = "".join(f.readlines()[-30:])
        raise RuntimeError("agent exit status %s (log kept in %s):\n%s"
                           % (proc.returncode, AGENT["dir"], tail))


class ConsulClientTest(unittest.TestCase):
    def setUp(self):
        self.c = consul.Consul(host="127.0.0.1", port=HTTP_PORT)

    def test_kv_put_get_delete(self):
        kv = self.c.kv
        self.assertTrue(kv.put("py/a", "hello"))
        index, item = kv.get("py/a")
        self.assertGreaterEqual(int(index), 1)
        self.assertEqual(item["Key"], "py/a")
        self.assertEqual(item["Value"], b"hello")
        self.assertEqual(item["Flags"], 0)
        # a missing key is (index, None), not an exception
        index, item = kv.get("py/missing")
        self.assertIsNone(item)
        self.assertGreaterEqual(int(index), 1)
        # empty value reads back as None
        self.assertTrue(kv.put("py/empty", ""))
        self.assertIsNone(kv.get("py/empty")[1]["Value"])
        # uint64 flags round-trip exactly
        self.assertTrue(kv.put("py/sem", "x", flags=16210313421097356768))
        self.assertEqual(kv.get("py/sem")[1]["Flags"], 16210313421097356768)
        self.assertTrue(kv.delete("py/a"))
        self.assertIsNone(kv.get("py/a")[1])
        kv.delete("py/", recurse=True)

    def test_kv_cas(self):
        kv = self.c.kv
        self.assertTrue(kv.put("pycas/k", "v1", cas=0))
        self.assertFalse(kv.put("pycas/k", "v2", cas=0))
        _, item = kv.get("pycas/k")
        mi = item["ModifyIndex"]
        self.assertFalse(kv.put("pycas/k", "stale", cas=mi + 1000))
        self.assertTrue(kv.put("pycas/k", "v3", cas=mi))
        _, item = kv.get("pycas/k")
        self.assertEqual(item["Value"], b"v3")
        self.assertGreater(item["ModifyIndex"], mi)
        self.assertFalse(kv.delete("pycas/k", cas=mi))
        self.assertTrue(kv.delete("pycas/k", cas=item["ModifyIndex"]))
        self.assertIsNone(kv.get("pycas/k")[1])

    def test_kv_recurse_and_keys(self):
        kv = self.c.kv
        for k in ("pyr/b", "pyr/a", "pyr/c/d", "pyr/c/e"):
            self.assertTrue(kv.put(k, k.upper()))
        _, items = kv.get("pyr/", recurse=True)
        self.assertEqual([i["Key"] for i in items], ["pyr/a", "pyr/b", "pyr/c/d", "pyr/c/e"])
        self.assertEqual(items[0]["Value"], b"PYR/A")
        _, keys = kv.get("pyr/", keys=True, separator="/")
        self.assertEqual(keys, ["pyr/a", "pyr/b", "pyr/c/"])
        self.assertTrue(kv.delete("pyr/", recurse=True))
        self.assertIsNone(kv.get("pyr/", recurse=True)[1])

    def test_blocking_get_woken_by_put(self):
        kv = self.c.kv
        kv.put("pyblk/k", "one")
        index, _ = kv.get("pyblk/k")
        result = {}

        def waiter():
            t0 = time.monotonic()
            result["got"] = kv.get("pyblk/k", index=index, wait="10s")
            result["took"] = time.monotonic() - t0
        th = threading.Thread(target=waiter)
        th.start()
        time.sleep(0.3)
        kv.put("pyblk/k", "two")
        th.join(15)
        self.assertFalse(th.is_alive())
        new_index, item = result["got"]
        self.assertEqual(item["Value"], b"two")
        self.assertGreater(int(new_index), int(index))
        self.assertLess(result["took"], 3.0)
        kv.delete("pyblk/", recurse=True)

    def test_session_lock(self):
        sid = self.c.session.create(name="pylock", lock_delay=0)
        other = self.c.session.create(name="other", lock_delay=0)
        try:
            kv = self.c.kv
            self.assertTrue(kv.put("pylock/leader", "me", acquire=sid))
            self.assertFalse(kv.put("pylock/leader", "you", acquire=other))
            _, item = kv.get("pylock/leader")
            self.assertEqual(item["Session"], sid)
            self.assertEqual(item["LockIndex"], 1)
            self.assertFalse(kv.put("pylock/leader", "x", release=other))
            self.assertTrue(kv.put("pylock/leader", "me", release=sid))
            _, item = kv.get("pylock/leader")
            self.assertNotIn("Session", item)
            self.assertTrue(kv.put("pylock/leader", "you", acquire=other))
            _, info = self.c.session.info(sid)
            self.assertEqual(info["Name"], "pylock")
        finally:
            self.assertTrue(self.c.session.destroy(sid))
            self.assertTrue(self.c.session.destroy(other))
        # destroying the holder released the lock
        _, item = self.c.kv.get("pylock/leader")
        self.assertNotIn("Session", item)
        self.assertIsNone(self.c.session.info(sid)[1])
        self.c.kv.delete("pylock/", recurse=True)

    def test_catalog_and_health(self):
        cat = self.c.catalog
        self.assertTrue(cat.register("pyweb1", "10.9.0.1",
                                     service={"Service": "pyweb", "ID": "pyweb-1",
                                              "Tags": ["a"], "Port": 80},
                                     check={"CheckID": "pyweb-1-ok", "Name": "ok",
                                            "Status": "passing", "ServiceID": "pyweb-1"}))
        self.assertTrue(cat.register("pyweb2", "10.9.0.2",
                                     service={"Service": "pyweb", "ID": "pyweb-2", "Port": 81},
                                     check={"CheckID": "pyweb-2-bad", "Name": "bad",
                                            "Status": "critical", "ServiceID": "pyweb-2"}))
        try:
            _, nodes = cat.nodes()
            names = [n["Node"] for n in nodes]
            self.assertIn("pyweb1", names)
            self.assertIn("pynode", names)
            _, services = cat.services()
            self.assertEqual(services["pyweb"], ["a"])
            _, inst = cat.service("pyweb")
            self.assertEqual(sorted(i["ServiceID"] for i in inst), ["pyweb-1", "pyweb-2"])
            _, inst = cat.service("pyweb", tag="a")
            self.assertEqual([i["Node"] for i in inst], ["pyweb1"])
            _, entries = self.c.health.service("pyweb")
            self.assertEqual(len(entries), 2)
            _, entries = self.c.health.service("pyweb", passing=True)
            self.assertEqual([e["Node"]["Node"] for e in entries], ["pyweb1"])
            self.assertEqual(entries[0]["Service"]["Port"], 80)
            self.assertEqual([c["CheckID"] for c in entries[0]["Checks"]], ["pyweb-1-ok"])
        finally:
            self.assertTrue(cat.deregister("pyweb1"))
            self.assertTrue(cat.deregister("pyweb2"))
        _, inst = cat.service("pyweb")
        self.assertEqual(inst, [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
