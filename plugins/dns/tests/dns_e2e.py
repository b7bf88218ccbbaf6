#!/usr/bin/python3
"""dns_e2e.py - end-to-end test of the dns plugin with dig and kdig.

Starts a dev agent (ports 18710-18719), registers a catalog over the HTTP
API, and checks every name form, health and tag filtering, shuffling,
limits, truncation and TCP, NXDOMAIN vs NOERROR+SOA, PTR, TTLs, alt_domain,
the cache following catalog changes, bad packets, reload, and forwarding to
a tiny resolver started here (one dead recursor first, so the retry across
the list is exercised).

usage: dns_e2e.py TRIBUNE PLUGIN_DIR WORKDIR
"""
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request

TRIBUNE, PLUGIN_DIR, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
HTTP, DNS, RESOLVER, DEAD = 18711, 18712, 18719, 18718
failures = 0
count = 0


def check(cond, what):
    global failures, count
    count += 1
    print(("ok %d - %s" if cond else "not ok %d - %s") % (count, what), flush=True)
    if not cond:
        failures += 1


def dig(*args, tool="dig"):
    cmd = [tool, "@127.0.0.1", "-p", str(DNS)] + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    return r.stdout


def short(*args):
    return [l for l in dig("+short", *args).splitlines() if l and not l.startswith(";")]


def section(out, name):
    """Records of one section of dig's output."""
    lines, on = [], False
    for l in out.splitlines():
        if l.startswith(";; %s SECTION" % name):
            on = True
            continue
        if on:
            if not l.strip():
                break
            lines.append(l.split())
    return lines


def status(out):
    for l in out.splitlines():
        if "status:" in l:
            return l.split("status:")[1].split(",")[0].strip()
    return None


def flags(out):
    for l in out.splitlines():
        if l.startswith(";; flags:"):
            return l.split(":")[1].split(";")[0].split()
    return []


def http(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (HTTP, path), data=data, method=method)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"null")


def register(node, addr, svc=None, status="passing", meta=None, port=80, tags=None,
             svc_addr="", sid=None):
    body = {"Node": node, "Address": addr, "NodeMeta": meta or {}}
    if svc:
        body["Service"] = {"ID": sid or svc, "Service": svc, "Port": port, "Tags": tags or [],
                           "Address": svc_addr, "Weights": {"Passing": 10, "Warning": 1}}
        body["Checks"] = [{"CheckID": "c-" + (sid or svc), "Name": "c", "Status": status,
                           "ServiceID": sid or svc}]
    http("PUT", "/v1/catalog/register", body)


# ---------------------------------------------------------------- resolver

def resolver(sock):
    """Answers every A question with 203.0.113.7, copying the question."""
    while True:
        try:
            data, peer = sock.recvfrom(4096)
        except OSError:
            return
        if len(data) < 12:
            continue
        off = 12
        while off < len(data) and data[off]:
            off += data[off] + 1
        q = data[12:off + 5]
        hdr = data[:2] + struct.pack(">HHHHH", 0x8180, 1, 1, 0, 0)
        ans = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + bytes([203, 0, 113, 7])
        sock.sendto(hdr + q + ans, peer)


def write_config(extra):
    cfg = {"alt_domain": "alt.test.",
           "recursors": ["127.0.0.1:%d" % DEAD, "127.0.0.1:%d" % RESOLVER],
           "dns_config": {"recursor_timeout": "300ms", "node_ttl": "10s",
                          "service_ttl": {"web": "30s", "*": "5s"}}}
    cfg["dns_config"].update(extra.pop("dns_config", {}))
    cfg.update(extra)
    with open(os.path.join(WORK, "dns.json"), "w") as f:
        json.dump(cfg, f)


def main():
    rs = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rs.bind(("127.0.0.1", RESOLVER))
    threading.Thread(target=resolver, args=(rs,), daemon=True).start()

    write_config({})
    log = open(os.path.join(WORK, "agent.log"), "w")
    agent = subprocess.Popen([TRIBUNE, "agent", "-dev", "-node", "n1", "-http-port", str(HTTP),
                              "-dns-port", str(DNS), "-server-port", str(HTTP + 2),
                              "-plugin-dir", PLUGIN_DIR,
                              "-config-file", os.path.join(WORK, "dns.json")],
                             stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            try:
                http("GET", "/v1/status/leader")
                if status(dig("n1.node.consul")):
                    break
            except Exception:
                pass
            time.sleep(0.1)
        run()
    finally:
        agent.send_signal(signal.SIGINT)
        try:
            agent.wait(timeout=10)
        except subprocess.TimeoutExpired:
            agent.kill()
        rs.close()
    check(agent.returncode == 0, "agent stopped cleanly (exit %s)" % agent.returncode)


def run():
    for i in range(1, 6):
        register("web%d" % i, "10.0.0.%d" % i, "web",
                 status={3: "critical", 4: "warning"}.get(i, "passing"),
                 meta={"rack": "r%d" % i, "a=b": "x`y"}, port=8000 + i,
                 tags=["v2"] if i in (1, 2) else ["v1"])
    register("api1", "10.0.1.1", "api", svc_addr="192.0.2.50", port=9000)
    register("ext1", "10.0.2.1", "ext", svc_addr="db.example.com", port=5432)
    register("six1", "2001:db8::6")
    for i in range(1, 21):
        register("big%d" % i, "10.0.3.%d" % i, "big", port=7000 + i)

    # service A: default udp_answer_limit 3, never the critical one
    seen = set()
    for _ in range(30):
        a = short("+noedns", "web.service.consul")
        check(len(a) == 3, "web.service A gives 3 answers over UDP") if _ == 0 else None
        seen.update(a)
    check(seen == {"10.0.0.1", "10.0.0.2", "10.0.0.4", "10.0.0.5"},
          "critical instance never returned, warning kept: %s" % sorted(seen))
    orders = {tuple(short("+tcp", "web.service.consul")) for _ in range(20)}
    check(len(orders) > 3, "answers shuffled across queries (%d orders)" % len(orders))
    out = dig("web.service.consul")
    ans = section(out, "ANSWER")
    check(ans and ans[0][1] == "30", "service_ttl for web (30s)")
    check("aa" in flags(out) and "ra" in flags(out), "AA set, RA set with recursors")
    check(len(short("+noedns", "web.service.dc1.consul")) == 3, "service with datacenter")
    check(len(short("+noedns", "web.service.dc1.dc.consul")) == 3, "service with <dc>.dc")
    check(len(short("+noedns", "web.service.alt.test")) == 3, "alt_domain")
    out = dig("web.service.alt.test")
    check(section(out, "ANSWER")[0][0] == "web.service.alt.test.", "answer echoes alt domain")
    check(sorted(short("v2.web.service.consul")) == ["10.0.0.1", "10.0.0.2"], "tag filter")
    check(sorted(short("V2.Web.Service.Consul")) == ["10.0.0.1", "10.0.0.2"],
          "case-insensitive names and tags")

    # SRV, RFC 2782, additional
    out = dig("+noedns", "_web._tcp.service.consul", "SRV")
    srv = section(out, "ANSWER")
    add = section(out, "ADDITIONAL")
    check(len(srv) == 3 and all(r[3] == "SRV" and r[5] == "10" or r[5] == "1" for r in srv),
          "RFC 2782 SRV: 3 answers, weights from Weights")
    check(all(r[7].endswith(".node.dc1.consul.") for r in srv), "SRV targets are node names")
    check(len([r for r in add if r[3] == "A"]) == 3, "one A per SRV target in Additional")
    check(any(r[3] == "TXT" for r in add), "node meta TXT in Additional")
    out = dig("_web._v2.service.consul", "SRV")
    check(len(section(out, "ANSWER")) == 2, "RFC 2782 with a tag")
    out = dig("_web._tcp.consul", "SRV")
    check(len(section(out, "ANSWER")) >= 3, "RFC 2782 without the service label")
    out = dig("api.service.consul", "SRV")
    check(section(out, "ANSWER")[0][7] == "c0000232.addr.dc1.consul.",
          "service address target is <hex>.addr")
    check(short("c0000232.addr.dc1.consul") == ["192.0.2.50"], ".addr. answers A")
    out = dig("ext.service.consul", "SRV")
    check(section(out, "ANSWER")[0][7] == "db.example.com.", "hostname target")
    check(short("ext.service.consul") == ["db.example.com."], "hostname service gives CNAME")
    kd = dig("+tcp", "web.service.consul", "SRV", tool="kdig")
    check(kd.count("\tSRV\t") >= 4 and "TCP" in kd, "kdig SRV over TCP: all instances")

    # nodes
    check(short("web1.node.consul") == ["10.0.0.1"], "node A")
    check(short("web1.node.dc1.consul") == ["10.0.0.1"], "node A with dc")
    check(short("six1.node.consul", "AAAA") == ["2001:db8::6"], "node AAAA")
    txt = short("web1.node.consul", "TXT")
    check(sorted(txt) == sorted(['"a`=b=x``y"', '"rack=r1"']), "node TXT meta (RFC 1464): %s" % txt)
    out = dig("web1.node.consul")
    check(section(out, "ANSWER")[0][1] == "10", "node_ttl (10s)")
    out = dig("web1.node.consul", "MX")
    check(status(out) == "NOERROR" and not section(out, "ANSWER") and
          section(out, "AUTHORITY")[0][3] == "SOA", "node other qtype: NOERROR + SOA")

    # NXDOMAIN vs NOERROR
    for name in ("nope.service.consul", "nope.node.consul", "web.service.dc9.consul",
                 "foo.bar.consul", "x.query.consul"):
        out = dig(name)
        check(status(out) == "NXDOMAIN" and section(out, "AUTHORITY")[0][3] == "SOA",
              "NXDOMAIN + SOA for %s" % name)
    out = dig("web.service.consul", "AAAA")
    check(status(out) == "NOERROR" and not section(out, "ANSWER") and
          section(out, "AUTHORITY")[0][3] == "SOA", "AAAA of IPv4 service: NOERROR + SOA")
    soa = section(dig("consul", "SOA"), "ANSWER")
    check(soa and soa[0][4:6] == ["ns.consul.", "hostmaster.consul."] and
          soa[0][7:] == ["3600", "600", "86400", "0"], "SOA fields")
    check(short("consul", "NS") == ["n1.node.dc1.consul."], "NS is the server node")
    check(status(dig("consul", "AXFR", "+tcp")) in (None, "NOTIMP"), "AXFR not implemented")

    # PTR
    check(short("-x", "10.0.0.1") == ["web1.node.dc1.consul."], "PTR for a node")
    check(short("-x", "2001:db8::6") == ["six1.node.dc1.consul."], "PTR for an IPv6 node")

    # sizes, EDNS and TCP
    check(len(short("+noedns", "big.service.consul")) == 3, "no EDNS: 3 answers")
    check(len(short("+bufsize=4096", "big.service.consul")) == 20, "EDNS 4096: all 20")
    check(len(short("+tcp", "big.service.consul")) == 20, "TCP: all 20")
    out = dig("+noedns", "+ignore", "big.service.consul", "SRV")
    check("tc" not in flags(out), "trimmed silently without enable_truncate")
    out = dig("+bufsize=1232", "+subnet=192.0.2.0/24", "big.service.consul")
    check("CLIENT-SUBNET: 192.0.2.0/24/24" in out, "ECS echoed with scope")
    kd = subprocess.run(["kdig", "@127.0.0.1", "-p", str(DNS), "+bufsize=4096",
                         "big.service.consul", "SRV"], capture_output=True, text=True).stdout
    check(kd.count("\tSRV\t") == 20 or kd.count(" SRV ") >= 20, "kdig EDNS SRV: all 20")

    # bad input: silence for QR/short, FORMERR for a loop, and still alive
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.5)
    def send(pkt):
        s.sendto(pkt, ("127.0.0.1", DNS))
        try:
            return s.recv(65535)
        except socket.timeout:
            return None
    check(send(b"\x12\x34\x81\x00" + b"\0" * 8) is None, "QR set: no answer")
    check(send(b"\x12\x34\x01") is None, "3-byte packet: no answer")
    r = send(bytes.fromhex("123401000001000000000000c00c00010001"))
    check(r is not None and r[3] & 0xF == 1 and len(r) <= 512, "compression loop: FORMERR")
    r = send(bytes.fromhex("1234010000020000000000000000010001"))
    check(r is not None and r[3] & 0xF == 1, "QDCOUNT 2: FORMERR")
    r = send(bytes.fromhex("123401000001000000000000") + b"\x40" + b"a" * 64 + b"\0\0\1\0\1")
    check(r is not None and r[3] & 0xF == 1, "64-byte label: FORMERR")
    r = send(bytes.fromhex("123401000001000000000000") + b"\x03www\x00\x00\x01\x00\x03")
    check(r is not None and r[3] & 0xF == 4, "class CH: NOTIMP")
    r = send(bytes.fromhex("123429000001000000000000") + b"\x03www\x00\x00\x01\x00\x01")
    check(r is not None and r[3] & 0xF == 4, "opcode UPDATE: NOTIMP")
    s.close()
    check(short("web1.node.consul") == ["10.0.0.1"], "still answering after bad input")

    # recursors: the dead one times out, the second answers
    t0 = time.time()
    out = dig("www.example.org")
    check(short("www.example.org") == ["203.0.113.7"] and status(out) == "NOERROR",
          "forwarded to the next recursor after a timeout")
    check(time.time() - t0 >= 0.3, "first recursor timed out (%.2fs)" % (time.time() - t0))
    check(short("-x", "198.51.100.1") == ["203.0.113.7"], "PTR of an unknown address forwarded")

    # the cache follows the catalog (blocking queries)
    register("web1", "10.0.0.1", "web", status="critical", port=8001, tags=["v2"])
    ok = False
    for _ in range(50):
        if "10.0.0.1" not in short("+tcp", "web.service.consul"):
            ok = True
            break
        time.sleep(0.05)
    check(ok, "instance turning critical disappears from cached answers")
    register("web9", "10.0.0.9", "web", port=8009)
    ok = False
    for _ in range(50):
        if "10.0.0.9" in short("+tcp", "web.service.consul"):
            ok = True
            break
        time.sleep(0.05)
    check(ok, "new instance appears in cached answers")

    # reload: only_passing, enable_truncate, no recursors, udp_answer_limit 1
    write_config({"recursors": [], "dns_config": {"only_passing": True, "enable_truncate": True,
                                                  "udp_answer_limit": 1}})
    http("PUT", "/v1/agent/reload")
    time.sleep(0.5)
    seen = set()
    for _ in range(30):
        seen.update(short("+tcp", "web.service.consul"))
    check("10.0.0.4" not in seen and seen, "only_passing drops the warning instance")
    out = dig("+noedns", "+ignore", "big.service.consul")
    check(len(section(out, "ANSWER")) == 1 and "tc" in flags(out),
          "enable_truncate sets TC when answers were cut")
    out = dig("www.example.org")
    check(status(out) == "REFUSED" and "ra" not in flags(out),
          "outside the domain without recursors: REFUSED")


if __name__ == "__main__":
    main()
    print("1..%d" % count)
    sys.exit(1 if failures else 0)
