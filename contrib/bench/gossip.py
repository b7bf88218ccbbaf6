#!/usr/bin/env python3
"""gossip.py - one gossip benchmark run: N agents of one kind (tribune or
serf) on loopback, measured the same way for both kinds.

Phases: start N agents (no join) -> every agent i >= 1 joins agent 0 through
its CLI (4 at a time) and we time until every agent logged N-1 member joins
(join convergence) -> a steady-state window: CPU seconds per minute and RSS
per agent (/proc), UDP+TCP bytes per second per agent (tcpdump on lo, IP
bytes, gossip port only) -> E user events fired at random agents: time until
99% / 100% of agents logged it -> K kill -9 of random non-seed agents: time
until each other agent logged it failed (median, max).
Detection reads the agents' logs every 20 ms (time = when the harness saw the
line), so both kinds pay the same observation delay.

Usage: gossip.py --kind tribune|serf -n N --net 127.0.4 --out DIR [--tribune
PATH --plugin-dir DIR] [--window S] [--events E] [--kills K]
Prints one JSON object (also written to DIR/result.json).
"""
import argparse
import json
import os
import random
import re
import signal
import struct
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

GOSSIP_PORT = {"tribune": 8301, "serf": 7946}


class Agent:
    def __init__(self, i, kind, net, out):
        self.i, self.kind = i, kind
        self.ip = "%s.%d" % (net, i + 1)
        self.name = "%s%03d" % (kind[0], i)
        self.log = os.path.join(out, self.name + ".log")
        self.proc = None
        self.off = 0
        self.joined, self.failed, self.events = set(), {}, {}


class Bench:
    def __init__(self, a):
        self.a = a
        self.agents = [Agent(i, a.kind, a.net, a.out) for i in range(a.n)]
        if a.kind == "tribune":
            self.join_re = re.compile(r"serf: EventMemberJoin: (\S+)")
            self.fail_re = re.compile(r"serf: EventMemberFailed: (\S+)")
            self.event_re = re.compile(r"new event: event_name=(\S+)")
        else:
            self.join_re = re.compile(r"serf: EventMemberJoin: (\S+)")
            self.fail_re = re.compile(r"serf: EventMemberFailed: (\S+)")
            self.event_re = re.compile(r"Received event: user-event: (\S+)")

    # ---------------------------------------------------------------- agents
    def start_cmd(self, ag):
        a = self.a
        if a.kind == "serf":
            return ["serf", "agent", "-node=" + ag.name, "-bind=%s:7946" % ag.ip,
                    "-rpc-addr=%s:7373" % ag.ip, "-log-level=info"]
        data = os.path.join(a.out, ag.name + ".data")
        os.makedirs(data, exist_ok=True)
        return [a.tribune, "agent", "-node", ag.name, "-data-dir", data, "-bind", ag.ip,
                "-client", ag.ip, "-http-port", "8500", "-dns-port", "-1",
                "-serf-lan-port", "8301", "-plugin-dir", a.plugin_dir, "-plugin", "http",
                "-log-level", "debug"]

    def cli(self, ag, args):
        if self.a.kind == "serf":
            return ["serf"] + args[:1] + ["-rpc-addr=%s:7373" % ag.ip] + args[1:]
        return [self.a.tribune] + args[:1] + ["-http-addr", "%s:8500" % ag.ip] + args[1:]

    def run_cli(self, ag, args):
        return subprocess.run(self.cli(ag, args), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=60).returncode

    def start_all(self):
        for ag in self.agents:
            f = open(ag.log, "wb")
            ag.proc = subprocess.Popen(self.start_cmd(ag), stdout=f, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL)
            f.close()
            time.sleep(0.02)
        deadline = time.time() + 60
        for ag in self.agents:  # each agent logs its own join first
            while ag.name not in ag.joined:
                self.poll_logs()
                if time.time() > deadline:
                    raise SystemExit("agent %s did not start (see %s)" % (ag.name, ag.log))
                time.sleep(0.05)

    def stop_all(self):
        for ag in self.agents:
            if ag.proc and ag.proc.poll() is None:
                ag.proc.send_signal(signal.SIGKILL)
        for ag in self.agents:
            if ag.proc:
                ag.proc.wait()

    # ---------------------------------------------------------------- logs
    def poll_logs(self):
        now = time.time()
        for ag in self.agents:
            try:
                with open(ag.log, "rb") as f:
                    f.seek(ag.off)
                    data = f.read()
            except OSError:
                continue
            cut = data.rfind(b"\n") + 1
            ag.off += cut
            for line in data[:cut].decode("utf-8", "replace").splitlines():
                m = self.join_re.search(line)
                if m:
                    ag.joined.add(m.group(1))
                m = self.fail_re.search(line)
                if m and m.group(1) not in ag.failed:
                    ag.failed[m.group(1)] = now
                m = self.event_re.search(line)
                if m:
                    name = m.group(1).split(":")[-1]
                    ag.events.setdefault(name, now)

    def wait(self, done, timeout):
        end = time.time() + timeout
        while time.time() < end:
            self.poll_logs()
            if done():
                return True
            time.sleep(0.02)
        return False

    # ---------------------------------------------------------------- phases
    def join(self):
        seed = self.agents[0]
        port = GOSSIP_PORT[self.a.kind]
        t0 = time.time()
        with ThreadPoolExecutor(4) as ex:
            list(ex.map(lambda ag: self.run_cli(ag, ["join", "%s:%d" % (seed.ip, port)]),
                        self.agents[1:]))
        t_issued = time.time() - t0
        n = len(self.agents)
        ok = self.wait(lambda: all(len(ag.joined) >= n for ag in self.agents), 300)
        return {"join_all_s": round(time.time() - t0, 3), "joins_issued_s": round(t_issued, 3),
                "converged": ok}

    def proc_sample(self):
        tck = os.sysconf("SC_CLK_TCK")
        cpu, rss = [], []
        for ag in self.agents:
            if ag.proc.poll() is not None:
                continue
            with open("/proc/%d/stat" % ag.proc.pid) as f:
                fl = f.read().rsplit(")", 1)[1].split()
            cpu.append((int(fl[11]) + int(fl[12])) / tck)
            with open("/proc/%d/status" % ag.proc.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss.append(int(line.split()[1]) / 1024.0)
        return cpu, rss

    def steady(self):
        a = self.a
        time.sleep(a.settle)
        pcap = os.path.join(a.out, "lo.pcap")
        port = GOSSIP_PORT[a.kind]
        td = subprocess.Popen(["tcpdump", "-i", "lo", "-w", pcap, "-s", "96", "-U",
                               "net %s.0/24 and port %d" % (a.net, port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        c0, _ = self.proc_sample()
        t0 = time.time()
        time.sleep(a.window)
        c1, rss = self.proc_sample()
        dt = time.time() - t0
        td.send_signal(signal.SIGINT)
        td.wait()
        udp = tcp = 0
        try:
            udp, tcp = pcap_bytes(pcap)
        except OSError:
            pass
        n = len(self.agents)
        cpu = [(b - x) * 60.0 / dt for x, b in zip(c0, c1)]
        return {"cpu_s_per_min": round(sum(cpu) / len(cpu), 4), "rss_mib": round(sum(rss) / len(rss), 2),
                "rss_mib_max": round(max(rss), 2),
                "udp_bytes_s": round(udp / (a.window + 1) / n, 1),
                "tcp_bytes_s": round(tcp / (a.window + 1) / n, 1)}

    def events(self):
        n = len(self.agents)
        res = []
        for k in range(self.a.events):
            name = "bench%d" % k
            ag = random.choice(self.agents)
            t0 = time.time()
            if self.a.kind == "serf":
                self.run_cli(ag, ["event", "-coalesce=false", name, "p%d" % k])
            else:
                self.run_cli(ag, ["event", "-name", name, "p%d" % k])
            self.wait(lambda: all(name in x.events for x in self.agents), 30)
            ts = sorted(x.events[name] - t0 for x in self.agents if name in x.events)
            if len(ts) < n:
                res.append({"p99": None, "all": None, "got": len(ts)})
            else:
                res.append({"p99": ts[-(-99 * n // 100) - 1], "all": ts[-1]})
            time.sleep(1)
        ok = [r for r in res if r["all"] is not None]
        return {"event_p99_s": med([r["p99"] for r in ok]), "event_all_s": med([r["all"] for r in ok]),
                "event_all_worst_s": max([r["all"] for r in ok]) if ok else None,
                "events_complete": "%d/%d" % (len(ok), len(res))}

    def kills(self):
        meds, maxs = [], []
        alive = self.agents[1:]
        for _ in range(self.a.kills):
            victim = random.choice(alive)
            alive.remove(victim)
            others = [x for x in self.agents if x is not victim and x.proc.poll() is None]
            t0 = time.time()
            victim.proc.send_signal(signal.SIGKILL)
            victim.proc.wait()
            self.wait(lambda: all(victim.name in x.failed for x in others), 120)
            ts = sorted(x.failed[victim.name] - t0 for x in others if victim.name in x.failed)
            if len(ts) == len(others):
                meds.append(med(ts))
                maxs.append(ts[-1])
            time.sleep(2)
        return {"fail_median_s": med(meds), "fail_max_s": med(maxs),
                "fail_trials_complete": "%d/%d" % (len(meds), self.a.kills)}


def med(v):
    v = sorted(x for x in v if x is not None)
    if not v:
        return None
    return round(v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2, 3)


def pcap_bytes(path):
    """IP bytes of UDP and TCP packets in a Linux-cooked or Ethernet pcap."""
    udp = tcp = 0
    with open(path, "rb") as f:
        hdr = f.read(24)
        if len(hdr) < 24:
            return 0, 0
        le = hdr[:4] == b"\xd4\xc3\xb2\xa1"
        e = "<" if le else ">"
        link = struct.unpack(e + "I", hdr[20:24])[0]
        skip = {1: 14, 113: 16, 276: 20}.get(link, 14)
        while True:
            ph = f.read(16)
            if len(ph) < 16:
                break
            _, _, incl, orig = struct.unpack(e + "IIII", ph)
            data = f.read(incl)
            ip = data[skip:]
            if len(ip) < 20 or ip[0] >> 4 != 4:
                continue
            total = struct.unpack(">H", ip[2:4])[0]
            if ip[9] == 17:
                udp += total
            elif ip[9] == 6:
                tcp += total
    return udp, tcp


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kind", choices=["tribune", "serf"], required=True)
    ap.add_argument("-n", type=int, required=True)
    ap.add_argument("--net", required=True, help="first three octets, e.g. 127.0.4")
    ap.add_argument("--out", required=True)
    ap.add_argument("--tribune", default="tribune")
    ap.add_argument("--plugin-dir", default="")
    ap.add_argument("--settle", type=float, default=10)
    ap.add_argument("--window", type=float, default=30)
    ap.add_argument("--events", type=int, default=3)
    ap.add_argument("--kills", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    random.seed(a.seed)
    os.makedirs(a.out, exist_ok=True)
    b = Bench(a)
    res = {"kind": a.kind, "n": a.n}
    try:
        b.start_all()
        res.update(b.join())
        res.update(b.steady())
        res.update(b.events())
        res.update(b.kills())
    finally:
        b.stop_all()
    with open(os.path.join(a.out, "result.json"), "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res))


if __name__ == "__main__":
    sys.exit(main())
