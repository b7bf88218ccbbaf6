#!/bin/bash
# gossip.sh - gossip benchmark (issue 4): N real tribune agents (127.0.4.x,
# LAN port 8301, HTTP 8500 on their own address) and, in the same
# invocation, N Debian serf 0.9.4 agents (127.0.5.x:7946), one kind after the
# other so they do not share the CPU. contrib/bench/gossip.py measures both
# the same way: join convergence (every agent joins agent 0 through its CLI,
# until every agent logged all joins), steady-state CPU s/min and RSS per
# agent, UDP+TCP bytes/s per agent (tcpdump, IP bytes), user event delivery
# to 99% / 100% of agents, kill -9 detection (median, max). Prints a
# side-by-side table with tribune/serf ratios.
#
#   contrib/bench/gossip.sh [--tribune PATH] [--plugin-dir DIR] [--n "10 50 100"]
#                           [--window S] [--events E] [--kills K] [--out DIR]
#
# Needs root (tcpdump on lo) and the Debian packages serf, tcpdump, python3.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TRIBUNE=${TRIBUNE:-$(command -v tribune || true)}
PLUGIN_DIR=${PLUGIN_DIR:-}
NS="10 50 100"
WINDOW=30
EVENTS=3
KILLS=1
OUT=""
while [ $# -gt 0 ]; do
  case $1 in
    --tribune) TRIBUNE=$2; shift 2 ;;
    --plugin-dir) PLUGIN_DIR=$2; shift 2 ;;
    --n) NS=$2; shift 2 ;;
    --window) WINDOW=$2; shift 2 ;;
    --events) EVENTS=$2; shift 2 ;;
    --kills) KILLS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "gossip.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
missing=
command -v serf >/dev/null || missing="$missing serf"
command -v tcpdump >/dev/null || missing="$missing tcpdump"
command -v python3 >/dev/null || missing="$missing python3"
[ -z "$missing" ] || { echo "gossip.sh: missing Debian package(s):$missing" >&2; exit 2; }
[ -x "$TRIBUNE" ] || { echo "gossip.sh: tribune not found (--tribune PATH)" >&2; exit 2; }
[ -n "$PLUGIN_DIR" ] || PLUGIN_DIR=$("$TRIBUNE" agent -h 2>/dev/null | sed -n 's/.*plugin-dir.*default \([^)]*\)).*/\1/p')
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/gossip-bench.XXXXXX")}
ulimit -n 65536 2>/dev/null || true

for n in $NS; do
  for kind in tribune serf; do
    net=127.0.4; [ $kind = serf ] && net=127.0.5
    echo "== $kind N=$n" >&2
    python3 "$HERE/gossip.py" --kind $kind -n "$n" --net $net --out "$OUT/$kind-N$n" \
      --tribune "$TRIBUNE" --plugin-dir "$PLUGIN_DIR" --window "$WINDOW" --events "$EVENTS" \
      --kills "$KILLS" > /dev/null
  done
done

python3 - "$OUT" $NS <<'PY'
import json, sys
out, ns = sys.argv[1], sys.argv[2:]
rows = [("join: all see all (s)", "join_all_s"), ("fail detect median (s)", "fail_median_s"),
        ("fail detect max (s)", "fail_max_s"), ("event to 99% (s)", "event_p99_s"),
        ("event to 100% (s)", "event_all_s"), ("CPU s/min per agent", "cpu_s_per_min"),
        ("RSS MiB per agent", "rss_mib"), ("UDP B/s per agent", "udp_bytes_s"),
        ("TCP B/s per agent", "tcp_bytes_s")]
print("%-24s %5s %10s %10s %8s" % ("metric", "N", "tribune", "serf", "ratio"))
for n in ns:
    t = json.load(open("%s/tribune-N%s/result.json" % (out, n)))
    s = json.load(open("%s/serf-N%s/result.json" % (out, n)))
    for label, k in rows:
        a, b = t.get(k), s.get(k)
        r = "%.2f" % (a / b) if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else "-"
        print("%-24s %5s %10s %10s %8s" % (label, n, a, b, r))
    print()
print("raw results:", out)
PY
