#!/usr/bin/env bash
# contrib/bench/dns.sh - Tribune's DNS interface beside NSD, Knot and dnsmasq.
#
#   contrib/bench/dns.sh [BUILDDIR]     (default: ./build; needs `make install DESTDIR=BUILDDIR/inst`)
#
# Data set and query files are generated here (python3 stdlib, fixed seed):
# 100 services x 5 passing instances on 500 nodes, one instance per node,
# as catalog-register JSON lines; query files of 20,000 lines with the same
# record kinds and shares as the DNS anchors' (a: 70 % service A, 30 % node
# A; mixed: 35 % service A, 30 % node A, 20 % service SRV, 15 % RFC 2782
# _name._tcp SRV), names drawn uniformly. ANCHORS=DIR uses DIR's
# data/catalog-register.jsonl and queries/*.txt instead.
# Tribune gets the data through its HTTP API (PUT /v1/catalog/register);
# NSD and Knot get a zone and dnsmasq hosts + srv-host lines generated here
# from the same JSON lines. Every server runs one thread on CPU 0, dnsperf
# runs on CPU 1 (-c 4 -T 1 -q 100 -t 2, no EDNS). Prints queries/s, average
# latency and server CPU microseconds per query side by side, with ratios,
# then p99 latency of A queries for one service with 5 vs 5,000 instances.
# cpu0_other_pct: CPU 0 time not used by the server during a run (other
# work on the machine); above ~10 the figures are disturbed.
#
# Knobs (env): SECONDS_RUN (20), LAT_SECONDS (5), LAT_QPS (20000),
#   ANCHORS (unset: generated data), P99_RUNS (1: repeats of the 5 vs
#   5,000 measurement), PORT_BASE (18750; the run uses
#   PORT_BASE..+12), UDP_LIMIT (5: answers per non-EDNS UDP reply, so Tribune
#   sends the same 5 records the zones do; Consul's default is 3),
#   SERVERS ("tribune nsd knot dnsmasq"), ROUNDS (1: interleaved rounds,
#   every server once per round; the table shows each figure's median run),
#   BASE_BUILD (unset: another build dir with `make install
#   DESTDIR=BASE_BUILD/inst`, served as "tribase" in the same run, so a
#   change is compared under the same machine load as the anchors).
# Packages: dnsperf nsd knot dnsmasq-base dnsutils (contrib/install-deps.sh --bench).
# Loopback only: every server listens on 127.0.0.1.
set -euo pipefail
B=$(cd "${1:-build}" && pwd)
ANCHORS=${ANCHORS:-}
P99_RUNS=${P99_RUNS:-1}
SECONDS_RUN=${SECONDS_RUN:-20}
LAT_SECONDS=${LAT_SECONDS:-5}
LAT_QPS=${LAT_QPS:-20000}
PORT_BASE=${PORT_BASE:-18750}
UDP_LIMIT=${UDP_LIMIT:-5}
SERVERS=${SERVERS:-"tribune nsd knot dnsmasq"}
ROUNDS=${ROUNDS:-1}
if [ -n "${BASE_BUILD:-}" ]; then
  BASE_BUILD=$(cd "$BASE_BUILD" && pwd)
  SERVERS="tribase $SERVERS"
fi
W=$(mktemp -d /tmp/tb-dns-bench.XXXXXX)
HTTP=$((PORT_BASE + 1))
declare -A PORT=([tribune]=$PORT_BASE [nsd]=$((PORT_BASE + 2)) [knot]=$((PORT_BASE + 3))
                 [dnsmasq]=$((PORT_BASE + 4)) [tribase]=$((PORT_BASE + 5)))
declare -A HTTPPORT=([tribune]=$HTTP [tribase]=$((PORT_BASE + 6)))
declare -A BUILD=([tribune]=$B [tribase]=${BASE_BUILD:-})
declare -A PID QPS LAT CPU RUNS
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  rm -rf "$W"
}
trap cleanup EXIT
for t in dnsperf dig taskset; do command -v $t >/dev/null || { echo "missing $t" >&2; exit 2; }; done

# ---------------------------------------------------------------- data set and queries
if [ -n "$ANCHORS" ]; then
  DATA=$ANCHORS/data/catalog-register.jsonl QUERIES=$ANCHORS/queries
else
  DATA=$W/catalog-register.jsonl QUERIES=$W/queries
  mkdir -p "$QUERIES"
  /usr/bin/python3 - "$W" <<'EOF'
import json, random, sys
w = sys.argv[1]
rng = random.Random(20261125)   # fixed: every run and server sees the same files
# a few familiar names, then numbered ones: 100 services
names = ["web", "api", "db", "cache", "auth", "payments", "search", "queue", "mail", "metrics"]
names += ["svc%03d" % i for i in range(len(names), 100)]
nodes = []
with open(w + "/catalog-register.jsonl", "w") as out:
    for i in range(500):   # instance i of service i // 5 runs on node i + 1
        svc, node = names[i // 5], "node%d" % (i + 1)
        addr = "198.18.%d.%d" % ((i + 1) // 256, (i + 1) % 256)   # RFC 2544 bench range
        sid = "%s-%d" % (svc, i % 5)
        nodes.append(node)
        out.write(json.dumps({
            "Datacenter": "dc1", "Node": node, "Address": addr,
            "Service": {"ID": sid, "Service": svc, "Tags": ["bench"], "Address": addr,
                        "Port": 20000 + i // 5},
            "Checks": [{"Node": node, "CheckID": "service:" + sid, "Name": "alive",
                        "Status": "passing", "ServiceID": sid}]}) + "\n")
kinds = {   # query kind -> share, per file
    "a": [("svc_a", 70), ("node_a", 30)],
    "mixed": [("svc_a", 35), ("node_a", 30), ("svc_srv", 20), ("rfc_srv", 15)]}
def query(kind):
    s, n = rng.choice(names), rng.choice(nodes)
    return {"svc_a": "%s.service.consul A" % s, "node_a": "%s.node.dc1.consul A" % n,
            "svc_srv": "%s.service.consul SRV" % s,
            "rfc_srv": "_%s._tcp.service.consul SRV" % s}[kind]
for f, mix in kinds.items():
    pool = [k for k, share in mix for _ in range(share)]
    with open("%s/queries/%s.txt" % (w, f), "w") as out:
        out.write("".join(query(rng.choice(pool)) + "\n" for _ in range(20000)))
EOF
fi

# ---------------------------------------------------------------- zones from the JSON lines
/usr/bin/python3 - "$DATA" "$W" <<'EOF'
import json, sys
src, w = sys.argv[1], sys.argv[2]
svc = {}   # name -> [(node, addr, port)]
nodes = {}
for line in open(src):
    r = json.loads(line)
    nodes[r["Node"]] = r["Address"]
    s = r.get("Service")
    if s:
        svc.setdefault(s["Service"], []).append((r["Node"], s.get("Address") or r["Address"], s["Port"]))
z = ["$ORIGIN consul.", "$TTL 0", "@ IN SOA ns.consul. hostmaster.consul. 1 3600 600 86400 0",
     "@ IN NS ns.consul.", "ns IN A 127.0.0.1"]
hosts, srv = [], []
for name, inst in svc.items():
    for node, addr, port in inst:
        z.append("%s.service IN A %s" % (name, addr))
        hosts.append("%s %s.service.consul" % (addr, name))
    for node, addr, port in inst:
        for owner in ("%s.service" % name, "_%s._tcp.service" % name):
            z.append("%s IN SRV 1 1 %d %s.node.dc1.consul." % (owner, port, node))
            srv.append("srv-host=%s.consul,%s.node.dc1.consul,%d,1,1" % (owner, node, port))
for node, addr in nodes.items():
    z.append("%s.node.dc1 IN A %s" % (node, addr))
    hosts.append("%s %s.node.dc1.consul" % (addr, node))
open(w + "/consul.zone", "w").write("\n".join(z) + "\n")
open(w + "/dnsmasq.hosts", "w").write("\n".join(hosts) + "\n")
open(w + "/dnsmasq-srv.conf", "w").write("\n".join(srv) + "\n")
EOF

wait_answer() { # port
  for _ in $(seq 1 100); do
    [ -n "$(dig +time=1 +tries=1 +short -p "$1" @127.0.0.1 web.service.consul A 2>/dev/null)" ] && return 0
    sleep 0.1
  done
  echo "server on port $1 does not answer" >&2; return 1
}

start_tribune() { # [tribune (BUILDDIR) | tribase (BASE_BUILD)]
  local n=${1:-tribune} off=7
  local inst="${BUILD[$n]}/inst/usr/local"
  [ "$n" = tribase ] && off=10
  # own server and gossip ports: two agents in one run, and none of the defaults
  cat > "$W/$n.json" <<EOF
{"dns_config": {"udp_answer_limit": $UDP_LIMIT}, "log_level": "WARN",
 "ports": {"server": $((PORT_BASE + off)), "serf_lan": $((PORT_BASE + off + 1)),
           "serf_wan": $((PORT_BASE + off + 2)), "grpc": -1}}
EOF
  taskset -c 0 "$inst/bin/tribune" agent -dev -node bench -http-port "${HTTPPORT[$n]}" \
    -dns-port "${PORT[$n]}" -plugin-dir "$inst/lib/tribune/plugins-1" \
    -config-file "$W/$n.json" >"$W/$n.log" 2>&1 &
  PID[$n]=$!; PIDS+=($!)
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:${HTTPPORT[$n]}/v1/status/leader" >/dev/null && break; sleep 0.1; done
  /usr/bin/python3 - "$DATA" "${HTTPPORT[$n]}" <<'EOF'
import sys, http.client
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[2]))
for line in open(sys.argv[1]):
    c.request("PUT", "/v1/catalog/register", body=line.encode())
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
EOF
  wait_answer "${PORT[$n]}"
}
start_tribase() { start_tribune tribase; }

start_nsd() {
  mkdir -p "$W/nsd"
  cat > "$W/nsd/nsd.conf" <<EOF
server:
    ip-address: 127.0.0.1@${PORT[nsd]}
    do-ip6: no
    server-count: 1
    username: ""
    database: ""
    zonelistfile: $W/nsd/zone.list
    xfrdfile: $W/nsd/xfrd.state
    xfrdir: $W/nsd
    pidfile: $W/nsd/nsd.pid
    logfile: $W/nsd/nsd.log
    round-robin: yes
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: consul
    zonefile: $W/consul.zone
EOF
  taskset -c 0 nsd -d -c "$W/nsd/nsd.conf" >"$W/nsd/out.log" 2>&1 &
  PID[nsd]=$!; PIDS+=($!)
  wait_answer "${PORT[nsd]}"
}

start_knot() {
  mkdir -p "$W/knot/db"
  cat > "$W/knot/knot.conf" <<EOF
server:
    listen: 127.0.0.1@${PORT[knot]}
    rundir: $W/knot
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
    answer-rotation: on
database:
    storage: $W/knot/db
log:
  - target: stderr
    any: warning
zone:
  - domain: consul
    file: $W/consul.zone
    journal-content: none
    zonefile-sync: -1
    semantic-checks: off
EOF
  taskset -c 0 knotd -c "$W/knot/knot.conf" >"$W/knot/out.log" 2>&1 &
  PID[knot]=$!; PIDS+=($!)
  wait_answer "${PORT[knot]}"
}

start_dnsmasq() {
  taskset -c 0 dnsmasq -k --port="${PORT[dnsmasq]}" --listen-address=127.0.0.1 --bind-interfaces \
    --no-resolv --no-hosts --no-poll --local=/consul/ --addn-hosts="$W/dnsmasq.hosts" \
    --conf-file="$W/dnsmasq-srv.conf" --local-ttl=0 --user=root --group=root \
    --pid-file="$W/dnsmasq.pid" >"$W/dnsmasq.log" 2>&1 &
  PID[dnsmasq]=$!; PIDS+=($!)
  wait_answer "${PORT[dnsmasq]}"
}

# utime+stime (clock ticks) of a process and all its descendants (NSD's
# serving process is a grandchild)
cpu_ticks() {
  local total=0 p c
  # utime and stime are fields 14 and 15, counted after the ")" that ends
  # the command name (NSD's is "nsd: server 1", with spaces)
  [ -r /proc/"$1"/stat ] && total=$(sed 's/.*) //' /proc/"$1"/stat | awk '{print $12 + $13}')
  for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
    total=$((total + $(cpu_ticks "$c")))
  done
  echo $total
}

# busy clock ticks of CPU 0 (everything but idle and iowait)
cpu0_busy() { awk '$1 == "cpu0" {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }

run_dnsperf() { # name queryfile -> sets QPS LAT CPU for "name/file"
  local name=$1 file=$2 key="$1/$(basename "$2" .txt)"
  local t0 t1 b0 b1 out
  b0=$(cpu0_busy)
  t0=$(cpu_ticks "${PID[$name]}")
  out=$(taskset -c 1 dnsperf -m udp -s 127.0.0.1 -p "${PORT[$name]}" -d "$file" -c 4 -T 1 -q 100 \
        -t 2 -l "$SECONDS_RUN" 2>&1)
  t1=$(cpu_ticks "${PID[$name]}")
  b1=$(cpu0_busy)
  local completed qps lat hz q l c
  hz=$(getconf CLK_TCK)
  completed=$(echo "$out" | awk '/Queries completed:/{print $3}')
  qps=$(echo "$out" | awk '/Queries per second:/{print $4}')
  lat=$(echo "$out" | awk '/Average Latency/{print $4}')
  q=${qps%.*}
  l=$(awk -v l="$lat" 'BEGIN{printf "%.0f", l * 1e6}')
  c=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v n="$completed" 'BEGIN{printf "%.2f", d / hz * 1e6 / (n ? n : 1)}')
  # the table shows the median run (by qps) of the rounds so far
  RUNS[$key]="${RUNS[$key]:-} $q,$l,$c"
  read -r "QPS[$key]" "LAT[$key]" "CPU[$key]" < <(echo ${RUNS[$key]} | tr ' ' '\n' | sort -t, -k1,1n |
    awk -F, '{v[NR]=$0} END{split(v[int((NR+1)/2)], a, ","); print a[1], a[2], a[3]}')
  echo "  $key: qps=$q avg_lat_us=$l server_cpu_us_per_query=$c lost=$(echo "$out" | awk '/Queries lost:/{print $3}')" \
    "rcodes=$(echo "$out" | sed -n 's/.*Response codes: *//p' | tr -d ' ')" \
    "cpu0_other_pct=$(awk -v b=$((b1 - b0 - (t1 - t0))) -v hz="$hz" -v s="$SECONDS_RUN" 'BEGIN{printf "%.0f", b / hz / s * 100}')" >&2
}

echo "== starting servers (CPU 0), dnsperf on CPU 1, ${SECONDS_RUN}s per run, $ROUNDS round(s)" >&2
for s in $SERVERS; do "start_$s"; done
for r in $(seq 1 "$ROUNDS"); do
  [ "$ROUNDS" -gt 1 ] && echo "-- round $r" >&2
  for f in mixed a; do
    for s in $SERVERS; do run_dnsperf "$s" "$QUERIES/$f.txt"; done
  done
done

printf '\n%-10s %-6s %10s %8s %10s %12s %10s %10s\n' server test qps "x NSD" "x dnsmasq" avg_lat_us lat_ratio cpu_us/q
for f in mixed a; do
  for s in $SERVERS; do
    k="$s/$f"
    rn=$(awk -v a="${QPS[$k]}" -v b="${QPS[nsd/$f]:-0}" 'BEGIN{ if (b) printf "%.2f", a / b; else print "-" }')
    rd=$(awk -v a="${QPS[$k]}" -v b="${QPS[dnsmasq/$f]:-0}" 'BEGIN{ if (b) printf "%.2f", a / b; else print "-" }')
    rl=$(awk -v a="${LAT[$k]}" -v b="${LAT[nsd/$f]:-0}" 'BEGIN{ if (b) printf "%.2f", a / b; else print "-" }')
    printf '%-10s %-6s %10s %8s %10s %12s %10s %10s\n' "$s" "$f" "${QPS[$k]}" "$rn" "$rd" "${LAT[$k]}" "$rl" "${CPU[$k]}"
  done
done

# ---------------------------------------------------------------- 5 vs 5,000 instances
if [[ " $SERVERS " == *" tribune "* ]]; then
  echo "== p99 latency, A queries, one service with 5 vs 5,000 instances (${LAT_QPS} q/s, ${LAT_SECONDS}s)" >&2
  /usr/bin/python3 - "$HTTP" <<'EOF'
import json, sys, http.client
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
def reg(node, addr, svc, sid):
    body = {"Node": node, "Address": addr, "Service": {"ID": sid, "Service": svc, "Port": 80},
            "Checks": [{"CheckID": "c-" + sid, "Name": "c", "Status": "passing", "ServiceID": sid}]}
    c.request("PUT", "/v1/catalog/register", body=json.dumps(body).encode())
    r = c.getresponse(); r.read()
for i in range(5):
    reg("s5-%d" % i, "10.50.0.%d" % (i + 1), "five", "five-%d" % i)
for i in range(5000):
    reg("s5k-%d" % i, "10.%d.%d.%d" % (60 + i // 65536, (i // 256) % 256, i % 256), "fivek", "fivek-%d" % i)
EOF
  echo "fivek.service.consul A" > "$W/q5k.txt"
  echo "five.service.consul A" > "$W/q5.txt"
  [ "$(dig +short -p "${PORT[tribune]}" @127.0.0.1 +tcp fivek.service.consul | wc -l)" -ge 4000 ] || echo "warning: fivek not fully registered" >&2
  p99() { # file -> p50 p99 (us)
    taskset -c 1 dnsperf -m udp -s 127.0.0.1 -p "${PORT[tribune]}" -d "$1" -c 4 -T 1 -q 100 -t 2 \
      -l "$LAT_SECONDS" -Q "$LAT_QPS" -v 2>/dev/null |
      awk '$1 == ">" && $2 == "NOERROR" {print $NF}' | sort -g |
      awk '{v[NR]=$1} END{ if (!NR) {print "- -"; exit} i=int(NR*0.5); if(i<1)i=1; j=int(NR*0.99+0.999); if(j>NR)j=NR; printf "%.0f %.0f %d\n", v[i]*1e6, v[j]*1e6, NR}'
  }
  for r in $(seq 1 "$P99_RUNS"); do
    read -r a50 a99 an < <(p99 "$W/q5.txt")
    read -r b50 b99 bn < <(p99 "$W/q5k.txt")
    printf '\n%-22s %8s %8s %9s\n' "tribune A, service" p50_us p99_us answers
    printf '%-22s %8s %8s %9s\n' "5 instances" "$a50" "$a99" "$an"
    printf '%-22s %8s %8s %9s\n' "5,000 instances" "$b50" "$b99" "$bn"
    awk -v a="$a99" -v b="$b99" -v r="$r" \
      'BEGIN{ if (a > 0) printf "p99 ratio 5,000 / 5 = %.2f (goal <= 1.2; run %d)\n", b / a, r }'
  done
fi
