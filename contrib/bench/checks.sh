#!/bin/bash
# checks.sh - health-checking load on one dev agent (issue 7 Performance):
# 10,000 TCP checks and 1,000 HTTP checks at a 10 s interval against local
# listeners started here (contrib/bench/checks_listener.py), all passing.
# After a warm-up (interval + 15 s: every check has run and its first
# status is in the catalog) it measures, over DURATION seconds (default 60):
#   - agent CPU: utime+stime from /proc/PID/stat, % of one core
#   - agent RSS: VmRSS and VmHWM from /proc/PID/status
#   - probes per second seen by the listeners (expected: checks / interval)
#   - scheduling jitter: at the listener, the time between two consecutive
#     probes of the SAME check minus the interval (every HTTP check has its
#     own path; 40 TCP checks have a port each), p50/p99/max of |delta|.
#     It includes the listener's own latency (Python), so it is an upper bound.
#   - catalog writes per minute while stable: X-Consul-Index of
#     /v1/health/state/any at the start and end of the window (the index
#     moves on every write to the health table)
#
#   contrib/bench/checks.sh [--tribune PATH] [--plugin-dir DIR] [--duration S]
#                           [--tcp N] [--http N] [--interval S]
#
# The agent runs on CPU 0 and the listeners on CPU 1 (taskset) when there
# are two CPUs. Ports: 18800-18899 on 127.0.0.1 only. Every process started
# here is stopped by its PID on exit.
set -euo pipefail

TRIBUNE=${TRIBUNE:-$(command -v tribune || true)}
PLUGIN_DIR=${PLUGIN_DIR:-}
DURATION=60
NTCP=10000
NHTTP=1000
INTERVAL=10
while [ $# -gt 0 ]; do
  case $1 in
    --tribune) TRIBUNE=$2; shift 2 ;;
    --plugin-dir) PLUGIN_DIR=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --tcp) NTCP=$2; shift 2 ;;
    --http) NHTTP=$2; shift 2 ;;
    --interval) INTERVAL=$2; shift 2 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "checks.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
command -v curl >/dev/null || { echo "checks.sh: needs curl" >&2; exit 2; }
if [ -z "$TRIBUNE" ] || [ ! -x "$TRIBUNE" ]; then
  echo "checks.sh: tribune not found: install it or pass --tribune PATH" >&2
  exit 2
fi
HERE=$(cd "$(dirname "$0")" && pwd)
PIN_AGENT=() PIN_LOAD=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  PIN_AGENT=(taskset -c 0) PIN_LOAD=(taskset -c 1)
fi

# The check plugins' `make check` tests use these ports too: take their locks.
if command -v flock >/dev/null; then
  for n in tcp script http; do
    exec {fd}>"/tmp/tribune-check_${n}_ports.lock"
    flock -w 600 "$fd" || { echo "checks.sh: ports 18800-18899 busy (lock $n)" >&2; exit 2; }
  done
fi
AGENT_PORT=18800 HTTP_PORT=18806
SHARED_PORTS=$(seq 18810 18859)   # the bulk of the TCP checks
SOLO_PORTS=$(seq 18860 18899)     # one TCP check each: jitter samples
WORK=$(mktemp -d "${TMPDIR:-/tmp}/checks-bench.XXXXXX")
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# ---- configuration: the checks
"$PY" - "$WORK/checks.json" "$NTCP" "$NHTTP" "$INTERVAL" "$HTTP_PORT" \
    "$(echo $SHARED_PORTS)" "$(echo $SOLO_PORTS)" <<'EOF'
import json, sys
path, ntcp, nhttp, iv, hport, shared, solo = sys.argv[1:8]
shared = shared.split(); solo = solo.split()
checks = []
for i in range(int(ntcp)):
    port = solo[i] if i < len(solo) else shared[i % len(shared)]
    checks.append({"id": "tcp-%d" % i, "name": "tcp-%d" % i,
                   "tcp": "127.0.0.1:%s" % port, "interval": "%ss" % iv, "timeout": "2s"})
for i in range(int(nhttp)):
    checks.append({"id": "http-%d" % i, "name": "http-%d" % i,
                   "http": "http://127.0.0.1:%s/c%d" % (hport, i), "interval": "%ss" % iv,
                   "timeout": "2s"})
json.dump({"log_level": "warn", "checks": checks,
           "ports": {"http": 18800, "dns": 18801, "server": 18802, "serf_lan": 18803,
                     "serf_wan": 18804, "grpc": 18805}}, open(path, "w"))
EOF

# ---- listeners, then the agent
"${PIN_LOAD[@]}" "$PY" "$HERE/checks_listener.py" "$WORK/stats.json" "$HTTP_PORT" \
    $SHARED_PORTS $SOLO_PORTS >"$WORK/listener.out" 2>&1 &
LPID=$!
PIDS+=("$LPID")
for _ in $(seq 100); do grep -qx ready "$WORK/listener.out" && break; sleep 0.1; done
grep -qx ready "$WORK/listener.out" || { cat "$WORK/listener.out"; exit 1; }

args=(agent -dev -node bench -bind 127.0.0.1 -client 127.0.0.1 -config-file "$WORK/checks.json")
[ -n "$PLUGIN_DIR" ] && args+=(-plugin-dir "$PLUGIN_DIR")
"${PIN_AGENT[@]}" "$TRIBUNE" "${args[@]}" >"$WORK/agent.log" 2>&1 &
APID=$!
PIDS+=("$APID")
BASE=http://127.0.0.1:$AGENT_PORT
t0=$(date +%s.%N)
for _ in $(seq 600); do
  curl -sf "$BASE/v1/status/leader" 2>/dev/null | grep -q '"' && break
  kill -0 "$APID" 2>/dev/null || { tail -20 "$WORK/agent.log"; exit 1; }
  sleep 0.1
done
t1=$(date +%s.%N)
echo "checks: $NTCP tcp + $NHTTP http, interval ${INTERVAL}s; agent up in $(echo "$t1 - $t0" | bc) s; pinned: ${PIN_AGENT[*]:-no}"

WARM=$((INTERVAL + 15))
echo "warm-up ${WARM}s ..."
sleep "$WARM"

# X-Consul-Index of a health query. /v1/health/state/any serialises all
# 11,000 checks on the agent loop (hundreds of ms: it would show up as
# jitter), so the window polls a query for a service that does not exist,
# which carries the same table index; checked against the full query below.
index_of() { curl -s -D - -o /dev/null "$BASE$1" | tr -d '\r' |
             awk -F': ' 'tolower($1) == "x-consul-index" {print $2}'; }
IDX_PATH=/v1/health/checks/no-such-bench-service
index() { index_of "$IDX_PATH"; }
ticks() { awk '{print $14 + $15}' "/proc/$APID/stat"; }
count_state() { curl -s "$BASE/v1/health/state/$1" | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)))'; }

kill -0 "$LPID" 2>/dev/null || { echo "the listener died:"; cat "$WORK/listener.out"; exit 1; }
if [ "$(index_of /v1/health/state/any)" != "$(index)" ]; then
  IDX_PATH=/v1/health/state/any   # not the same index: use the full query
  echo "note: polling /v1/health/state/any (its load shows in the jitter)"
fi
sleep 2
kill -USR1 "$LPID"
i0=$(index)
c0=$(ticks)
w0=$(date +%s.%N)
indices="$i0"
end=$(( $(date +%s) + DURATION ))
while [ "$(date +%s)" -lt "$end" ]; do
  sleep 5
  indices="$indices $(index)"
done
c1=$(ticks)
w1=$(date +%s.%N)
i1=$(index)
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$APID/status")
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$APID/status")
fds=$(ls "/proc/$APID/fd" | wc -l)
kill -TERM "$LPID"
passing=$(count_state passing)
total=$(count_state any)
wait "$LPID" || true
hz=$(getconf CLK_TCK)

"$PY" - "$WORK/stats.json" "$INTERVAL" "$c0" "$c1" "$w0" "$w1" "$hz" "$i0" "$i1" \
    "$rss" "$hwm" "$passing" "$total" "$NTCP" "$NHTTP" "$fds" "$indices" <<'EOF'
import json, sys
(path, iv, c0, c1, w0, w1, hz, i0, i1, rss, hwm, passing, total, ntcp, nhttp, fds,
 indices) = sys.argv[1:18]
iv = float(iv); secs = float(w1) - float(w0)
st = json.load(open(path))
def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))] if xs else float("nan")
big = [g for g in st.get("gaps", []) if g[1] > 0.25]
def jit(keys, skip_stalls=False):
    d = [abs(b - a - iv) * 1000 for k in keys for a, b in st["keys"][k]
         if not (skip_stalls and any(a <= g[0] + g[1] and g[0] <= b for g in big))]
    return len(d), pct(d, 50), pct(d, 99), max(d) if d else float("nan")
http_keys = [k for k in st["keys"] if k.startswith("http:")]
solo_keys = ["tcp:%d" % p for p in range(18860, 18900) if "tcp:%d" % p in st["keys"]]
cpu = (int(c1) - int(c0)) / float(hz) / secs * 100
writes = (int(i1) - int(i0)) * 60.0 / secs
changes = len(set(indices.split())) - 1
print("window                 %.1f s" % secs)
print("checks passing         %s of %s (catalog, incl. serfHealth if any)" % (passing, total))
print("agent CPU              %.1f %% of one core" % cpu)
print("agent RSS              %.1f MiB (peak %.1f MiB), %s fds" % (int(rss) / 1024.0, int(hwm) / 1024.0, fds))
print("probes/s at listeners  %.0f (expected %.0f)" % (st["events"] / secs, (int(ntcp) + int(nhttp)) / iv))
n, p50, p99, mx = jit(http_keys)
print("jitter http (%5d)    p50 %.1f ms  p99 %.1f ms  max %.1f ms" % (n, p50, p99, mx))
n, p50, p99, mx = jit(solo_keys)
print("jitter tcp  (%5d)    p50 %.1f ms  p99 %.1f ms  max %.1f ms" % (n, p50, p99, mx))
n, p50, p99, mx = jit(http_keys + solo_keys, True)
print("  same, intervals not spanning a stall > 250 ms (%d stalls): (%d) p50 %.1f ms  p99 %.1f ms  max %.1f ms"
      % (len(big), n, p50, p99, mx))
gaps = st.get("gaps", [])
print("stalls > 100 ms        %d (longest %.0f ms; at %s s)" % (len(gaps), max([g[1] for g in gaps] or [0]) * 1000,
      ", ".join("%.1f" % g[0] for g in gaps[:8])))
print("catalog writes/min     %.1f (X-Consul-Index %s -> %s; %d changes in 5 s samples)" % (writes, i0, i1, changes))
EOF
kill -0 "$APID" 2>/dev/null || { echo "the agent died"; tail -20 "$WORK/agent.log"; exit 1; }
grep -c "\[ERROR\]" "$WORK/agent.log" | sed 's/^/agent log errors       /'
