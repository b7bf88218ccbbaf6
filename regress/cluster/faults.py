#!/usr/bin/python3
"""faults.py - real-process Raft fault tests (issue #3 item 6).

Starts 3 and then 5 `tribune agent -server` processes on their own loopback
addresses (127.0.1.11-13, 127.0.1.21-25; every agent uses ports 19340-19345)
and checks, through the HTTP API only:

  - kill -9 of the leader under write load: a new leader serves writes and
    every acknowledged write is on every server (failover time printed);
  - the killed server restarts with its data and catches up, also after the
    log was compacted meanwhile (raft_snapshot_threshold and _interval are
    lowered, so it needs an InstallSnapshot);
  - a stopped minority: writes go on;
  - a stopped majority: writes fail with a clear error; a transaction is
    all-or-nothing on every server afterwards;
  - a snapshot saved through a follower and restored through another puts
    every server back at its data; a damaged archive is refused;
  - operator calls answer once done: transfer-leader once the target leads
    (500 when it cannot win: killed), remove-peer once the removal
    committed; unknown IDs are 400; a snapshot's meta.json carries the
    Raft term of its index (`tribune snapshot inspect` prints it);
  - a server that leaves gracefully is removed from the configuration.

Python 3 stdlib only. `make check` runs it through run-cluster-tests.sh;
by hand:
  TRIBUNE=build/tribune PLUGIN_DIR=build/plugins ./faults.py [3|5]
Exit 0 pass, 1 fail. TB_TIMEOUT_MULT scales every timeout.
"""
import base64
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

MULT = float(os.environ.get("TB_TIMEOUT_MULT", "1"))
PORTS = {"http": 19340, "dns": 19341, "server": 19342, "serf_lan": 19343,
         "serf_wan": 19344, "grpc": 19345}
CONFIG = {"ports": PORTS, "raft_snapshot_threshold": 64, "raft_snapshot_interval": "200ms",
          "raft_trailing_logs": 32}


def log(msg):
    print("# %s" % msg, flush=True)


class Failed(Exception):
    pass


def wait_for(what, fn, timeout):
    """Poll fn until it returns a true value; Failed after timeout * MULT."""
    end = time.monotonic() + timeout * MULT
    last = None
    while time.monotonic() < end:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - report the last one
            last = e
        time.sleep(0.1)
    raise Failed("timed out waiting for %s%s" % (what, ": %s" % last if last else ""))


class Agent:
    def __init__(self, cluster, idx, ip):
        self.c, self.idx, self.ip = cluster, idx, ip
        self.name = "s%d" % idx
        self.dir = os.path.join(cluster.work, self.name)
        os.makedirs(os.path.join(self.dir, "data"), exist_ok=True)
        self.proc = None
        self.starts = 0

    @property
    def server_addr(self):
        return "%s:%d" % (self.ip, PORTS["server"])

    def start(self):
        cfg = os.path.join(self.dir, "config.json")
        with open(cfg, "w") as f:
            json.dump(CONFIG, f)
        argv = [self.c.tribune, "agent", "-server",
                "-bootstrap-expect=%d" % len(self.c.agents), "-node=" + self.name,
                "-bind=" + self.ip, "-client=" + self.ip,
                "-data-dir=" + os.path.join(self.dir, "data"),
                "-config-file=" + cfg, "-log-level=debug", "-plugin=http"]
        if self.c.plugin_dir:
            argv.append("-plugin-dir=" + self.c.plugin_dir)
        for o in self.c.agents:
            if o is not self:
                argv.append("-retry-join=" + o.ip)
        self.starts += 1
        logf = open(os.path.join(self.dir, "agent.log"), "ab")
        logf.write(b"==== start %d\n" % self.starts)
        self.proc = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        logf.close()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15 * MULT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def http(self, method, path, body=None, timeout=5.0):
        """(status, body text); status None on a transport error."""
        url = "http://%s:%d%s" % (self.ip, PORTS["http"], path)
        data = body.encode() if isinstance(body, str) else body
        req = urllib.request.Request(url, data=data, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout * MULT) as r:
                return r.status, r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")
        except (OSError, ValueError) as e:
            return None, str(e)

    def put(self, key, value, timeout=5.0):
        st, body = self.http("PUT", "/v1/kv/" + key, value, timeout)
        return st == 200 and body.strip() == "true", st, body

    def kv_local(self, prefix):
        """Every key under prefix as this server has it (?stale: its own copy)."""
        st, body = self.http("GET", "/v1/kv/%s?recurse&stale" % prefix)
        if st == 404:
            return {}
        if st != 200:
            raise Failed("%s: GET %s: %s %s" % (self.name, prefix, st, body.strip()))
        return {e["Key"]: base64.b64decode(e["Value"] or "").decode() for e in json.loads(body)}

    def leader(self):
        st, body = self.http("GET", "/v1/status/leader", timeout=2)
        return json.loads(body) if st == 200 else ""

    def tail(self, n=15):
        try:
            with open(os.path.join(self.dir, "agent.log"), "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join("#   %s: %s" % (self.name, l) for l in lines[-n:])
        except OSError:
            return ""


class Cluster:
    def __init__(self, n, first_ip, tribune, plugin_dir):
        self.work = tempfile.mkdtemp(prefix="tb_cluster%d." % n)
        self.tribune, self.plugin_dir = tribune, plugin_dir
        self.agents = []
        for i in range(n):
            self.agents.append(Agent(self, i + 1, "127.0.1.%d" % (first_ip + i)))

    def live(self):
        return [a for a in self.agents if a.alive()]

    def start(self):
        for a in self.agents:
            a.start()
        return self.wait_leader()

    def wait_leader(self, among=None, timeout=30):
        """The agent every live server names as leader."""
        def agreed():
            live = among or self.live()
            names = {a.leader() for a in live}
            if len(names) != 1 or "" in names:
                return None
            addr = names.pop()
            for a in live:
                if a.server_addr == addr:
                    return a
            return None
        return wait_for("an agreed leader", agreed, timeout)

    def shutdown(self, keep):
        for a in self.agents:
            a.stop()
        if keep:
            log("kept %s" % self.work)
        else:
            shutil.rmtree(self.work, ignore_errors=True)


class Load:
    """Writer threads putting load/<t>/<n> through random live servers."""

    def __init__(self, cluster, threads=4):
        self.c = cluster
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.acked = {}
        self.failures = 0
        self.oks = []
        self.threads = [threading.Thread(target=self.run, args=(t,), daemon=True)
                        for t in range(threads)]

    def run(self, t):
        seq = 0
        rnd = random.Random(t)
        while not self.stop_ev.is_set():
            live = self.c.live()
            if not live:
                time.sleep(0.05)
                continue
            a = rnd.choice(live)
            key, val = "load/%d/%06d" % (t, seq), "v%d-%d" % (t, seq)
            sent = time.monotonic()
            ok, _, _ = a.put(key, val, timeout=3)
            if ok:
                with self.lock:
                    self.acked[key] = val
                    # sent, done: failover counts writes sent after the kill
                    self.oks.append((sent, time.monotonic()))
                seq += 1
            else:
                with self.lock:
                    self.failures += 1
                time.sleep(0.02)

    def __enter__(self):
        for th in self.threads:
            th.start()
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        for th in self.threads:
            th.join()


def check_everywhere(agents, prefix, want, timeout=20):
    """Every server holds every acknowledged write under prefix."""
    for a in agents:
        def has_all(a=a):
            got = a.kv_local(prefix)
            missing = [k for k, v in want.items() if got.get(k) != v]
            if missing:
                raise Failed("%s lacks %d of %d acknowledged writes (e.g. %s)"
                             % (a.name, len(missing), len(want), missing[0]))
            return True
        wait_for("%s to hold %d writes under %s" % (a.name, len(want), prefix), has_all, timeout)


def write_n(agent, prefix, n):
    done = {}
    for i in range(n):
        k, v = "%s/%05d" % (prefix, i), "x%d" % i
        ok, st, body = agent.put(k, v)
        if not ok:
            raise Failed("write %s via %s failed: %s %s" % (k, agent.name, st, body.strip()))
        done[k] = v
    return done


# ---------------------------------------------------------------- scenarios

def kill_leader_under_load(c):
    leader = c.wait_leader()
    log("leader %s; writing under load" % leader.name)
    with Load(c) as load:
        time.sleep(2 * MULT)
        before = len(load.acked)
        if before == 0:
            raise Failed("no write was acknowledged before the kill")
        t0 = time.monotonic()
        leader.kill()
        log("killed -9 the leader %s after %d acknowledged writes" % (leader.name, before))
        def first_after():
            with load.lock:
                done = [d for s, d in load.oks if s > t0]
            return min(done) if done else None
        first = wait_for("a write sent after the kill to be acknowledged", first_after, 15)
        log("failover: first write sent after kill -9 acknowledged %.2f s after it"
            % (first - t0))
        time.sleep(1.5 * MULT)
    new = c.wait_leader()
    if new is leader:
        raise Failed("the killed server is still named leader")
    log("new leader %s; %d writes acknowledged, %d attempts failed"
        % (new.name, len(load.acked), load.failures))
    check_everywhere(c.live(), "load", load.acked)
    log("every acknowledged write is on all %d live servers" % len(c.live()))
    return leader, load.acked


def restart_catches_up(c, victim, acked):
    new = c.wait_leader()
    extra = write_n(new, "compact", 300)
    log("wrote 300 more keys while %s was down (snapshot threshold 64: the log is "
        "compacted)" % victim.name)
    victim.start()
    c.wait_leader()
    check_everywhere([victim], "load", acked, 30)
    check_everywhere([victim], "compact", extra, 30)
    with open(os.path.join(victim.dir, "agent.log"), "rb") as f:
        text = f.read().decode("utf-8", "replace").split("==== start %d" % victim.starts)[-1]
    installs = [l for l in text.splitlines() if "install" in l.lower() and "snapshot" in l.lower()]
    log("restarted %s caught up (%d + %d keys)%s" % (
        victim.name, len(acked), len(extra),
        "; its log: " + installs[0].split("]", 1)[-1].strip() if installs else ""))


def minority_down(c, count):
    leader = c.wait_leader()
    followers = [a for a in c.live() if a is not leader][:count]
    for f in followers:
        f.kill()
    log("stopped a minority: %s" % ", ".join(f.name for f in followers))
    got = write_n(leader, "minority", 50)
    check_everywhere(c.live(), "minority", got)
    log("50 writes went on with %d of %d servers" % (len(c.live()), len(c.agents)))
    return followers


def majority_down(c, stopped):
    leader = c.wait_leader()
    need = len(c.agents) // 2 + 1 - len(stopped)
    more = [a for a in c.live() if a is not leader][:need]
    for f in more:
        f.kill()
    stopped = stopped + more
    log("stopped a majority: %s down" % ", ".join(f.name for f in stopped))
    ok, st, body = leader.put("majority/single", "x", timeout=15)
    if ok:
        raise Failed("a write succeeded without a quorum")
    log("write without quorum refused: %s %s" % (st, body.strip()[:120]))
    if st is None or not body.strip():
        raise Failed("write without quorum: no clear error (%s %r)" % (st, body))
    txn = json.dumps([{"KV": {"Verb": "set", "Key": "majority/t1", "Value": "MQ=="}},
                      {"KV": {"Verb": "set", "Key": "majority/t2", "Value": "Mg=="}}])
    st, body = leader.http("PUT", "/v1/txn", txn, timeout=15)
    if st == 200:
        raise Failed("a transaction succeeded without a quorum")
    log("transaction without quorum refused: %s %s" % (st, body.strip()[:120]))
    for f in stopped:
        f.start()
    c.wait_leader(timeout=45)
    # the refused writes may or may not have been committed; what matters is
    # that the transaction is all or nothing and every server agrees
    def agreed_view():
        vs = [a.kv_local("majority") for a in c.agents]
        return (vs[0],) if all(v == vs[0] for v in vs) else None
    view = wait_for("servers agreeing on majority/", agreed_view, 30)[0]
    t = {k for k in view if k in ("majority/t1", "majority/t2")}
    if len(t) == 1:
        raise Failed("half a transaction is applied: %s" % view)
    log("after recovery every server agrees; the transaction is %s"
        % ("fully applied" if t else "absent"))


def snapshot_roundtrip(c):
    """Save through a follower, write, restore through another: every
    server is back at the snapshot's data."""
    leader = c.wait_leader()
    f = [a for a in c.live() if a is not leader]
    base = write_n(f[0], "snap", 20)
    st, body = f[0].http("GET", "/v1/snapshot")
    if st != 200:
        raise Failed("GET /v1/snapshot via %s: %s %s" % (f[0].name, st, body[:200]))
    url = "http://%s:%d/v1/snapshot" % (f[0].ip, PORTS["http"])
    with urllib.request.urlopen(url, timeout=10 * MULT) as r:
        archive = r.read()
    write_n(leader, "snap/later", 5)
    st, body = f[-1].http("PUT", "/v1/snapshot", archive, timeout=15)
    if st != 200:
        raise Failed("PUT /v1/snapshot via %s: %s %s" % (f[-1].name, st, body[:200]))
    check_everywhere(c.live(), "snap", base)
    for a in c.live():
        wait_for("%s without the writes made after the snapshot" % a.name,
                 lambda a=a: not any(k.startswith("snap/later") for k in a.kv_local("snap")), 10)
    st, body = f[0].http("PUT", "/v1/snapshot", archive[: len(archive) // 2])
    if st != 400:
        raise Failed("a truncated archive was not refused: %s %s" % (st, body[:200]))
    log("snapshot saved via %s, restored via %s on every server; a damaged one refused (%s)"
        % (f[0].name, f[-1].name, body.strip()))


def raft_ids(agent):
    """{server address: node-id} of the Raft configuration."""
    st, body = agent.http("GET", "/v1/operator/raft/configuration")
    if st != 200:
        raise Failed("%s: raft configuration: %s %s" % (agent.name, st, body.strip()))
    return {s["Address"]: s["ID"] for s in json.loads(body)["Servers"]}


def operator_calls(c):
    """transfer-leader and remove-peer answer once done; snapshot Term."""
    import io
    import tarfile
    old = c.wait_leader()
    f = [a for a in c.live() if a is not old]
    ids = raft_ids(old)
    target, via = f[0], f[1]
    t0 = time.time()
    st, body = via.http("POST", "/v1/operator/raft/transfer-leader?id=" + ids[target.server_addr])
    ms = (time.time() - t0) * 1000
    if st != 200 or json.loads(body) != {"Success": True}:
        raise Failed("transfer-leader to %s via %s: %s %s" % (target.name, via.name, st, body))
    # answered after the transfer completed: the target leads already
    if target.leader() != target.server_addr:
        raise Failed("transfer-leader answered before %s led (it says %r)"
                     % (target.name, target.leader()))
    log("transfer-leader to %s answered in %.0f ms, after it led" % (target.name, ms))
    for path in ("/v1/operator/raft/transfer-leader?id=00000000-dead-4000-8000-000000000000",
                 "/v1/operator/raft/peer?id=00000000-dead-4000-8000-000000000000"):
        method = "POST" if "transfer" in path else "DELETE"
        st, body = old.http(method, path)
        if st != 400 or "was not found" not in body:
            raise Failed("%s %s: %s %s (want 400)" % (method, path, st, body.strip()))

    # the snapshot's Term is the term of its index: at least the new
    # leader's term, past the first one after the elections so far
    url = "http://%s:%d/v1/snapshot" % (target.ip, PORTS["http"])
    with urllib.request.urlopen(url, timeout=10 * MULT) as r:
        archive = r.read()
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as t:
        meta = json.load(t.extractfile("meta.json"))
    if meta["Term"] < 2 or not meta["ID"].startswith("%d-%d-" % (meta["Term"], meta["Index"])):
        raise Failed("snapshot meta.json: %r" % meta)
    snap = os.path.join(c.work, "op.snap")
    with open(snap, "wb") as out:
        out.write(archive)
    r = subprocess.run([c.tribune, "snapshot", "inspect", snap], capture_output=True, text=True,
                       timeout=10 * MULT)
    if " Term         %d" % meta["Term"] not in r.stdout:
        raise Failed("snapshot inspect does not show Term %d: %s" % (meta["Term"], r.stdout))
    log("snapshot at index %d has Term %d (inspect agrees)" % (meta["Index"], meta["Term"]))

    # a killed voter cannot win a transfer: 500 with the reason
    leader = c.wait_leader()
    dead = [a for a in c.live() if a is not leader][0]
    dead.kill()
    st, body = leader.http("POST", "/v1/operator/raft/transfer-leader?id=" +
                           ids[dead.server_addr], timeout=15)
    if st != 500 or "did not become the leader" not in body:
        raise Failed("transfer-leader to killed %s: %s %s (want 500)" % (dead.name, st, body))
    log("transfer-leader to a killed server: %s %s" % (st, body.strip()))
    # remove-peer through the CLI: done once the removal committed
    r = subprocess.run([c.tribune, "operator", "raft", "remove-peer",
                        "-address=" + dead.server_addr,
                        "-http-addr=%s:%d" % (leader.ip, PORTS["http"])],
                       capture_output=True, text=True, timeout=20 * MULT)
    if r.returncode != 0 or "Removed peer" not in r.stdout:
        raise Failed("remove-peer %s: %s%s" % (dead.name, r.stdout, r.stderr))
    for a in c.live():
        if dead.server_addr in raft_ids(a):
            raise Failed("remove-peer answered but %s still lists %s" % (a.name, dead.name))
    log("remove-peer of killed %s: committed on every live server when it answered"
        % dead.name)


def graceful_leave(c):
    leader = c.wait_leader()
    f = [a for a in c.live() if a is not leader][0]
    r = subprocess.run([c.tribune, "leave", "-http-addr=%s:%d" % (f.ip, PORTS["http"])],
                       capture_output=True, text=True, timeout=30 * MULT)
    log("%s: tribune leave -> %s" % (f.name, (r.stdout + r.stderr).strip()))

    def removed():
        st, body = leader.http("GET", "/v1/operator/raft/configuration")
        if st != 200:
            return False
        return f.server_addr not in [s["Address"] for s in json.loads(body)["Servers"]]
    wait_for("%s removed from the Raft configuration" % f.name, removed, 20)
    try:
        f.proc.wait(20 * MULT)
    except subprocess.TimeoutExpired:
        raise Failed("%s is out of the configuration but did not exit after leave" % f.name)
    log("%s left gracefully and is no longer in the configuration" % f.name)


def run(n, tribune, plugin_dir):
    first_ip = 11 if n == 3 else 21
    c = Cluster(n, first_ip, tribune, plugin_dir)
    ok = False
    try:
        log("starting %d servers on 127.0.1.%d-%d" % (n, first_ip, first_ip + n - 1))
        leader = c.start()
        log("leader elected: %s" % leader.name)
        victim, acked = kill_leader_under_load(c)
        restart_catches_up(c, victim, acked)
        stopped = minority_down(c, (n - 1) // 2)
        majority_down(c, stopped)
        if n == 3:
            snapshot_roundtrip(c)
            operator_calls(c)
            graceful_leave(c)
        ok = True
    except Failed as e:
        print("not ok - %d servers: %s" % (n, e))
        for a in c.agents:
            print(a.tail())
    finally:
        c.shutdown(keep=not ok)
    if ok:
        print("ok - %d servers" % n)
    return ok


def main():
    tribune = os.environ.get("TRIBUNE", "tribune")
    plugin_dir = os.environ.get("PLUGIN_DIR", "")
    sizes = [int(a) for a in sys.argv[1:]] or [3, 5]
    print("1..%d" % len(sizes))
    results = [run(n, tribune, plugin_dir) for n in sizes]
    passed = sum(results)
    print("%d passed, %d failed" % (passed, len(results) - passed))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
