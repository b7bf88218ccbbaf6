"""test_agent_local - the agent's local state end to end with python3-consul
0.7.1 against a single server with a data_dir (not -dev): service register
with a TTL check, pass, health; edge-triggered writes (no catalog write while
a check is stable); anti-entropy repair of a catalog edit made behind the
agent's back; config reload (SIGHUP) adds/changes/removes config services
without touching API ones; local state surviving a restart. Runs from the
temp install on ports TB_PY_LOCAL_PORT_BASE .. +5 (default 18910).
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.request

import consul

PORT_BASE = int(os.environ.get("TB_PY_LOCAL_PORT_BASE", "18910"))
HTTP_PORT = PORT_BASE
# unique per run: another checkout's `make check` may use the same ports
NODE = "localnode-%d" % os.getpid()


def _paths():
    inst = os.environ.get("TB_TMP_INSTALL", "")
    bindir = os.environ.get("TB_BINDIR", "/usr/local/bin")
    plugindir = os.environ.get("TB_PLUGINDIR", "")
    return (os.path.join(inst + bindir, "tribune"),
            inst + plugindir if plugindir else None)


def _http(method, path, body=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (HTTP_PORT, path), method=method,
                                 data=body)
    with urllib.request.urlopen(req, timeout=10) as r:
        data = r.read()
        return json.loads(data) if data else None


def _wait(pred, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


class Agent:
    """One `tribune agent -server -bootstrap -data-dir` with a config dir."""

    def __init__(self, d):
        self.dir = d
        self.data = os.path.join(d, "data")
        self.conf = os.path.join(d, "conf")
        os.makedirs(self.conf, exist_ok=True)
        self.proc = None
        self.log = None

    def write_services(self, services):
        with open(os.path.join(self.conf, "services.json"), "w") as f:
            json.dump({"services": services}, f)

    def start(self):
        def port_free():
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("127.0.0.1", HTTP_PORT))
                    return True
                except OSError:
                    return False
        _wait(port_free, "127.0.0.1:%d to be free" % HTTP_PORT, 60)
        tribune, plugindir = _paths()
        ports = os.path.join(self.dir, "ports.json")
        with open(ports, "w") as f:
            json.dump({"ports": {"http": HTTP_PORT, "dns": PORT_BASE + 1,
                                 "server": PORT_BASE + 2, "serf_lan": PORT_BASE + 3,
                                 "serf_wan": PORT_BASE + 4, "grpc": PORT_BASE + 5},
                       "bind_addr": "127.0.0.1", "client_addr": "127.0.0.1",
                       "plugins": ["http"]}, f)
        cmd = [tribune, "agent", "-server", "-bootstrap", "-node", NODE, "-data-dir",
               self.data, "-config-file", ports, "-config-dir", self.conf, "-log-level", "debug"]
        if plugindir:
            cmd += ["-plugin-dir", plugindir]
        self.log = open(os.path.join(self.dir, "agent.log"), "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

        def up():
            if self.proc.poll() is not None:
                raise RuntimeError("agent exited %s; log in %s" % (self.proc.returncode, self.dir))
            try:
                # our agent, not another run's on the same port
                return _http("GET", "/v1/agent/self")["Config"]["NodeName"] == NODE
            except OSError:
                return False
        _wait(up, "the agent to start", 30)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log:
            self.log.close()
            self.log = None
        rc = self.proc.returncode if self.proc else 0
        if rc not in (0, -signal.SIGTERM):
            raise RuntimeError("agent exit status %s; log in %s" % (rc, self.dir))


class AgentLocalStateTest(unittest.TestCase):
    def setUp(self):
        self.d = tempfile.mkdtemp(prefix="tb_pylocal.")
        self.agent = Agent(self.d)
        self.ok = False

    def tearDown(self):
        self.agent.stop()
        if self.ok:
            shutil.rmtree(self.d, ignore_errors=True)

    def stats(self):
        return _http("GET", "/v1/agent/self")["Stats"]["agent"]

    def catalog_ids(self, c):
        _, node = c.catalog.node(NODE)
        return sorted((node or {}).get("Services", {}).keys())

    def test_local_state(self):
        a = self.agent
        a.write_services([{"name": "cfga", "port": 1, "check": {"ttl": "1m"}},
                          {"name": "cfgb"}])
        a.start()
        c = consul.Consul(host="127.0.0.1", port=HTTP_PORT)

        # register with a TTL check, pass it, ask health
        self.assertTrue(c.agent.service.register("pyweb", service_id="pyweb1", port=80,
                                                 tags=["t1"], check=consul.Check.ttl("30s")))
        self.assertEqual(c.agent.checks()["service:pyweb1"]["Status"], "critical")
        self.assertTrue(c.agent.check.ttl_pass("service:pyweb1", "fine"))
        _, nodes = c.health.service("pyweb", passing=True)
        self.assertEqual([n["Service"]["ID"] for n in nodes], ["pyweb1"])
        checks = {k["CheckID"]: k for k in nodes[0]["Checks"]}
        self.assertEqual(checks["service:pyweb1"]["Output"], "fine")

        # edge-triggered: repeating the same result writes nothing
        before = self.stats()
        idx, _ = c.health.checks("pyweb")
        for _ in range(5):
            self.assertTrue(c.agent.check.ttl_pass("service:pyweb1", "fine"))
        after = self.stats()
        self.assertEqual(after["catalog_writes"], before["catalog_writes"])
        self.assertEqual(int(after["check_writes_saved"]) - int(before["check_writes_saved"]), 5)
        idx2, _ = c.health.checks("pyweb")
        self.assertEqual(idx, idx2)

        # a catalog edit behind the agent's back is repaired by the full
        # sync (a reload runs one at once instead of waiting a minute)
        self.assertTrue(c.catalog.deregister(NODE, service_id="pyweb1"))
        self.assertNotIn("pyweb1", self.catalog_ids(c))
        _http("PUT", "/v1/agent/reload")
        _wait(lambda: "pyweb1" in self.catalog_ids(c), "anti-entropy repair")
        _wait(lambda: any(k["CheckID"] == "service:pyweb1" and k["Status"] == "passing"
                          for k in c.health.checks("pyweb")[1]), "check repair")
        self.assertGreaterEqual(int(self.stats()["anti_entropy_repairs"]), 1)
        # a deleted node comes back with everything on it
        self.assertTrue(c.catalog.deregister(NODE))
        self.assertEqual(self.catalog_ids(c), [])
        _http("PUT", "/v1/agent/reload")
        _wait(lambda: self.catalog_ids(c) == ["cfga", "cfgb", "consul", "pyweb1"],
              "node repair")
        _wait(lambda: any(k["CheckID"] == "serfHealth" for k in c.health.node(NODE)[1]),
              "serfHealth repair")

        # reload: cfgb removed, cfga changed, cfgc added; pyweb1 untouched
        c.agent.check.ttl_pass("service:cfga", "cfg ok")
        a.write_services([{"name": "cfga", "port": 2, "check": {"ttl": "1m"}},
                          {"name": "cfgc", "port": 3}])
        a.proc.send_signal(signal.SIGHUP)
        _wait(lambda: "cfgc" in c.agent.services(), "reload")
        svcs = c.agent.services()
        self.assertNotIn("cfgb", svcs)
        self.assertEqual(svcs["cfga"]["Port"], 2)
        self.assertIn("pyweb1", svcs)
        self.assertEqual(c.agent.checks()["service:cfga"]["Status"], "passing")
        _wait(lambda: self.catalog_ids(c) == ["cfga", "cfgc", "consul", "pyweb1"],
              "catalog after reload")

        # restart: the API-registered service and its TTL status survive;
        # the (in-memory) catalog is filled again by the agent
        a.stop()
        a.start()
        c = consul.Consul(host="127.0.0.1", port=HTTP_PORT)
        self.assertIn("pyweb1", c.agent.services())
        chk = c.agent.checks()["service:pyweb1"]
        self.assertEqual((chk["Status"], chk["Output"]), ("passing", "fine"))
        _wait(lambda: "pyweb1" in self.catalog_ids(c), "catalog after restart")
        _, nodes = c.health.service("pyweb", passing=True)
        self.assertEqual(len(nodes), 1)

        # deregister (python-consul sends GET); stays gone after a restart
        self.assertTrue(c.agent.service.deregister("pyweb1"))
        self.assertNotIn("pyweb1", c.agent.services())
        a.stop()
        a.start()
        self.assertNotIn("pyweb1", c.agent.services())
        self.assertNotIn("service:pyweb1", c.agent.checks())
        self.ok = True


if __name__ == "__main__":
    unittest.main()
