#!/usr/bin/env python3
"""fanout.py - blocking-query fan-out answers are right for every waiter.

One write wakes many waiters of the same service (and of one KV prefix) at
once; the agent runs one shared read per distinct query and renders each
shared result once (server/endpoint/coalesce.c, plugins/http/render_cache.c).
This test opens interleaved waiters with different filters (?passing, ?tag,
?filter, ?pretty, another endpoint on the same watch key, another token,
KV get/recurse/keys/raw) so that a result or rendering shared across the
wrong queries would hand some waiter another query's body. Oracle: after the
write, each waiter's status, X-Consul-Index and body bytes equal a fresh
non-blocking GET of the same URL (the store does not change in between), and
the variants really differ (so the oracle is not vacuous). Meanwhile a few
waiters on another key must still time out on their own deadlines after
the woken ones left the deadline heap.

    fanout.py HTTP_PORT [ROUNDS]
"""
import json
import socket
import sys
import time
import urllib.request

HOST = "127.0.0.1"


def request(port, method, path, body=None, headers=None):
    req = urllib.request.Request("http://%s:%d%s" % (HOST, port, path), data=body, method=method)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def put(port, path, obj):
    st, _, body = request(port, "PUT", path, json.dumps(obj).encode())
    if st != 200:
        sys.exit("FAIL: PUT %s -> %d %s" % (path, st, body[:200]))


def open_waiter(port, path, token=None):
    s = socket.create_connection((HOST, port), timeout=30)
    extra = "X-Consul-Token: %s\r\n" % token if token else ""
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n" % (path, extra)).encode())
    return s


def read_response(s):
    """(status, headers dict with lower-case names, body bytes)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed before the headers")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    need = int(hdrs.get("content-length", "0"))
    while len(rest) < need:
        chunk = s.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed in the body")
        rest += chunk
    return status, hdrs, rest[:need]


def main():
    port = int(sys.argv[1])
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    # two instances: fan1 passing (tag a), fan2 critical (tag b)
    for n, tag, status in (("fan1", "a", "passing"), ("fan2", "b", "critical")):
        put(port, "/v1/catalog/register", {
            "Node": n, "Address": "127.0.0.9",
            "Service": {"Service": "fan", "ID": "fan", "Tags": [tag], "Port": 80},
            "Check": {"CheckID": "c-" + n, "Name": "c", "Status": status, "ServiceID": "fan"}})
    put(port, "/v1/kv/fan/j", "j")  # recurse and keys differ from a get
    put(port, "/v1/kv/fan/k", "v0")

    svc = "/v1/health/service/fan"
    # HEAD (405 as in Consul, or headers only) leaves the agent serving
    for _ in range(2):
        st, h, body = request(port, "HEAD", svc)
        if st not in (200, 405) or body:
            sys.exit("FAIL: HEAD %s -> %d, body %r" % (svc, st, body[:80]))
    variants = [  # (path without index, token)
        (svc, None),
        (svc + "?passing", None),
        (svc + "?tag=b", None),
        (svc + "?filter=" + urllib.request.quote('Node.Node == "fan2"'), None),
        (svc + "?pretty", None),
        (svc + "?passing&pretty", None),
        (svc, "another-token"),
        ("/v1/catalog/service/fan", None),
        ("/v1/catalog/service/fan?tag=a", None),
    ]
    kv = [("/v1/kv/fan/k", None), ("/v1/kv/fan/k?raw", None), ("/v1/kv/fan/?recurse", None),
          ("/v1/kv/fan/?keys", None), ("/v1/kv/fan/?recurse&pretty", None)]

    for rnd in range(rounds):
        for group, write in ((variants, "svc"), (kv, "kv")):
            index = {}
            for path, tok in group:
                _, h, _ = request(port, "GET", path)
                index[path] = int(h["X-Consul-Index"])
            waiters = []  # interleaved: neighbours in the run queue differ
            for i in range(12):
                for path, tok in group:
                    sep = "&" if "?" in path else "?"
                    full = "%s%sindex=%d&wait=20s" % (path, sep, index[path])
                    waiters.append((path, tok, open_waiter(port, full, tok)))
            # a waiter that is already stale answers at once, unchanged
            old = open_waiter(port, group[0][0] + ("&" if "?" in group[0][0] else "?") +
                              "index=1&wait=20s")
            st, _, _ = read_response(old)
            old.close()
            if st != 200:
                sys.exit("FAIL: stale-index waiter got %d" % st)
            # waiters the write does not wake keep their deadlines while the
            # woken ones leave the deadline heap (blanked entries, rebuild)
            _, h_, _ = request(port, "GET", "/v1/kv/fan-idle")
            timers = [(time.monotonic(), open_waiter(
                port, "/v1/kv/fan-idle?index=%s&wait=%ds" % (h_["X-Consul-Index"], 1 + i)))
                for i in range(3 if rnd == 0 and write == "svc" else 0)]
            time.sleep(0.5)
            if write == "svc":  # a third, passing instance with tag b
                put(port, "/v1/catalog/register", {
                    "Node": "fan3-%d" % rnd, "Address": "127.0.0.9",
                    "Service": {"Service": "fan", "ID": "fan", "Tags": ["b"], "Port": 81},
                    "Check": {"CheckID": "c3", "Name": "c", "Status": "passing",
                              "ServiceID": "fan"}})
            else:
                put(port, "/v1/kv/fan/k", "v%d" % (rnd + 1))
            fresh = {}
            for path, tok in group:
                fresh[(path, tok)] = request(port, "GET", path,
                                             headers={"X-Consul-Token": tok} if tok else None)
            for path, tok, s in waiters:
                st, hd, body = read_response(s)
                s.close()
                fst, fh, fbody = fresh[(path, tok)]
                if st != fst or hd.get("x-consul-index") != fh.get("X-Consul-Index"):
                    sys.exit("FAIL: %s: status %d index %s, fresh GET %d index %s" % (
                        path, st, hd.get("x-consul-index"), fst, fh.get("X-Consul-Index")))
                if int(hd["x-consul-index"]) <= index[path]:
                    sys.exit("FAIL: %s: index did not move past %d" % (path, index[path]))
                if body != fbody:
                    sys.exit("FAIL: %s (token %s): woken body differs from a fresh GET:\n%r\n%r"
                             % (path, tok, body[:300], fbody[:300]))
            # the token variant equals the plain one (ACLs allow all), and
            # ?pretty changes nothing under -dev (always pretty): the others
            # must all differ
            for i, (t0, s) in enumerate(timers):
                st, hd, _ = read_response(s)
                s.close()
                took = time.monotonic() - t0
                # wait plus at most 1/16 jitter; 404: the key does not exist
                if st != 404 or not (1 + i - 0.1 <= took <= (1 + i) * 17 / 16 + 1.5):
                    sys.exit("FAIL: idle waiter %d (wait=%ds): %d after %.2fs" % (i, 1 + i, st, took))
            bodies = {k: v[2] for k, v in fresh.items() if not k[1] and "pretty" not in k[0]}
            if len(set(bodies.values())) < len(bodies):
                seen = {}
                for k, b in bodies.items():
                    seen.setdefault(b, []).append(k)
                sys.exit("FAIL: variants of %s answered identical bodies: %s" % (
                    write, [v for v in seen.values() if len(v) > 1]))
            if write == "svc":
                n = {p: len(json.loads(b)) for (p, t), b in bodies.items()}
                want = {svc: 3 + rnd, svc + "?passing": 1 + rnd + 1, svc + "?tag=b": 2 + rnd}
                for p, cnt in want.items():
                    if n[p] != cnt:
                        sys.exit("FAIL: %s has %d entries, expected %d" % (p, n[p], cnt))
            print("# round %d %s: %d waiters woken by one write, each answer equals a fresh GET"
                  % (rnd, write, len(waiters)))
    print("ok")


if __name__ == "__main__":
    main()
