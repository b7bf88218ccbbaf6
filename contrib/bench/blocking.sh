#!/bin/bash
# blocking.sh - blocking queries at scale (issue 5), Tribune beside etcd in
# the same invocation (loopback only; servers on CPU 0, load on CPU 1):
#   for each W in WAITERS: W concurrent blocking GETs on one KV key, then
#   one PUT -> time until every waiter has its answer, agent RSS idle /
#   while blocked / after; the same on one service's health (5 instances,
#   then one more registered); and W etcd v3 JSON-gateway watchers on one
#   key notified by one put (blockload -a etcd: streaming POST /v3/watch,
#   then POST /v3/kv/put; etcd's RSS and CPU per waiter measured alike).
# Prints one JSON line per run and a summary table with the ratios and the
# agent's CPU time per waiter during the fan-out (user + system, from
# /proc: robust to other load on a shared machine, unlike wall time).
#
#   contrib/bench/blocking.sh [--tribune PATH] [--plugin-dir DIR]
#                             [--waiters "10000 50000"]
#
# Needs: a C compiler, libuv1-dev, taskset, etcd-server (the etcd rows are
# skipped without it). The fd limit bounds W: each waiter is one socket on
# both sides; as root the script raises `ulimit -n` to 200000, and W is cut
# to what the hard limit allows (the cut is printed). Ports 19400-19499.
set -euo pipefail

TRIBUNE=${TRIBUNE:-$(command -v tribune || true)}
PLUGIN_DIR=${PLUGIN_DIR:-}
WAITERS=${WAITERS:-"10000 50000"}
while [ $# -gt 0 ]; do
  case $1 in
    --tribune) TRIBUNE=$2; shift 2 ;;
    --plugin-dir) PLUGIN_DIR=$2; shift 2 ;;
    --waiters) WAITERS=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "blocking.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x "$TRIBUNE" ] || { echo "blocking.sh: tribune not found (--tribune PATH)" >&2; exit 2; }
command -v taskset >/dev/null || { echo "blocking.sh: needs taskset (util-linux)" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/blocking-bench.XXXXXX")
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FDMAX=$(ulimit -n)
SRV_CPU=0; LOAD_CPU=1; [ "$(nproc)" -ge 2 ] || LOAD_CPU=0

cc -O2 -D_GNU_SOURCE -o "$WORK/blockload" "$HERE/blockload.c" -luv
HTTP=19401
cat > "$WORK/bench.json" <<JSON
{"limits":{"http_max_conns_per_client":1000000},"log_level":"warn",
 "ports":{"server":19403,"serf_lan":19404,"serf_wan":19405,"grpc":19406}}
JSON
pdir=(); [ -n "$PLUGIN_DIR" ] && pdir=(-plugin-dir "$PLUGIN_DIR")
taskset -c $SRV_CPU "$TRIBUNE" agent -dev -node bench -http-port $HTTP -dns-port 19402 \
  "${pdir[@]}" -config-file "$WORK/bench.json" > "$WORK/agent.log" 2>&1 &
TPID=$!; PIDS+=($TPID)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$HTTP/v1/status/leader" | grep -q : && break; sleep 0.1; done
for i in 1 2 3 4 5; do
  curl -sf -X PUT "http://127.0.0.1:$HTTP/v1/catalog/register" \
    -d "{\"Node\":\"web$i\",\"Address\":\"127.0.0.$((10+i))\",\"Service\":{\"Service\":\"web\",\"Port\":80},\"Check\":{\"CheckID\":\"c$i\",\"Name\":\"c$i\",\"Status\":\"passing\",\"ServiceID\":\"web\"}}" >/dev/null
done

declare -A RES
cap() { # waiters that fit the fd limit (both ends of each socket in this run)
  local w=$1 max=$((FDMAX - 256))
  if [ "$w" -gt "$max" ]; then echo "# fd limit $FDMAX: $w waiters cut to $max" >&2; w=$max; fi
  echo "$w"; }
field() { python3 -c "import json,sys; print(json.loads(sys.stdin.read())['$1'])"; }

for W in $WAITERS; do
  n=$(cap "$W")
  out=$(taskset -c $LOAD_CPU "$WORK/blockload" -p $HTTP -n "$n" -P $TPID -k "bench/w$W")
  echo "$out"; RES[kv$W]=$out
  out=$(taskset -c $LOAD_CPU "$WORK/blockload" -p $HTTP -n "$n" -P $TPID -s web)
  echo "$out"; RES[svc$W]=$out
  curl -sf -X PUT "http://127.0.0.1:$HTTP/v1/catalog/deregister" -d '{"Node":"bl-node"}' >/dev/null
done

# etcd: one member, v3 JSON gateway watchers (blockload -a etcd)
if command -v etcd >/dev/null; then
  taskset -c $SRV_CPU etcd --data-dir "$WORK/etcd" --listen-client-urls http://127.0.0.1:19410 \
    --advertise-client-urls http://127.0.0.1:19410 --listen-peer-urls http://127.0.0.1:19411 \
    --initial-advertise-peer-urls http://127.0.0.1:19411 \
    --initial-cluster default=http://127.0.0.1:19411 > "$WORK/etcd.log" 2>&1 &
  EPID=$!; PIDS+=($EPID)
  for _ in $(seq 100); do curl -sf http://127.0.0.1:19410/health | grep -q true && break; sleep 0.1; done
  for W in $WAITERS; do
    n=$(cap "$W")
    out=$(taskset -c $LOAD_CPU "$WORK/blockload" -a etcd -p 19410 -n "$n" -P $EPID -k "bench/w$W")
    echo "$out"; RES[etcd$W]=$out
  done
else
  echo "# etcd rows skipped (needs etcd-server)" >&2
fi

echo
printf '%-28s %12s %12s %12s %10s %12s\n' "run" "waiters" "all_ms" "B/waiter" "vs etcd" "cpu_us/w"
for W in $WAITERS; do
  e=${RES[etcd$W]:-}; ems=; [ -n "$e" ] && ems=$(echo "$e" | field all_notified_ms)
  for k in kv svc; do
    r=${RES[$k$W]}; ms=$(echo "$r" | field all_notified_ms)
    ratio=-; [ -n "$ems" ] && ratio=$(python3 -c "print('%.2fx' % ($ms/$ems))")
    printf '%-28s %12s %12s %12s %10s %12s\n' "tribune $k" "$(echo "$r" | field waiters)" "$ms" \
      "$(echo "$r" | field bytes_per_waiter)" "$ratio" "$(echo "$r" | field cpu_us_per_waiter)"
  done
  if [ -n "$e" ]; then
    printf '%-28s %12s %12s %12s %10s %12s\n' "etcd watch" "$(echo "$e" | field waiters)" "$ems" \
      "$(echo "$e" | field bytes_per_waiter)" 1.00x "$(echo "$e" | field cpu_us_per_waiter)"
  fi
done
