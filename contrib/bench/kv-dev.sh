#!/bin/bash
# kv-dev.sh - Tribune's dev agent against a single-member etcd, measured in
# the same invocation on this machine (loopback only), with the pinning the
# anchors used (server on CPU 0, load generator on CPU 1):
#   - start time: exec of the server -> first HTTP 200 from its health/leader
#     endpoint (median of 5 starts)
#   - idle RSS after start (VmRSS from /proc/PID/status)
#   - KV PUT and GET throughput and latency: wrk, 64 keep-alive connections,
#     DURATION seconds each, 100-byte values
#       Tribune: PUT /v1/kv/bench/<n>, GET /v1/kv/bench/<n> (default and ?consistent)
#       etcd:    POST /v3/kv/put {"key":b64,"value":b64}, POST /v3/kv/range {"key":b64}
# and prints a side-by-side table with the ratio Tribune/etcd.
#
#   contrib/bench/kv-dev.sh [--tribune PATH] [--plugin-dir DIR] [--duration S] [--conns N]
#
# Needs the Debian packages wrk, etcd-server and util-linux (taskset); it
# installs nothing and names what is missing. Every process it starts is
# stopped by its PID on exit; every request goes to 127.0.0.1.
set -euo pipefail

TRIBUNE=${TRIBUNE:-$(command -v tribune || true)}
PLUGIN_DIR=${PLUGIN_DIR:-}
DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
STARTS=${STARTS:-5}
while [ $# -gt 0 ]; do
  case $1 in
    --tribune) TRIBUNE=$2; shift 2 ;;
    --plugin-dir) PLUGIN_DIR=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "kv-dev.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

missing=
command -v wrk >/dev/null || missing="$missing wrk"
command -v etcd >/dev/null || missing="$missing etcd-server"
command -v taskset >/dev/null || missing="$missing util-linux"
command -v python3 >/dev/null || missing="$missing python3"
if [ -n "$missing" ]; then
  echo "kv-dev.sh: missing Debian package(s):$missing (apt-get install -y$missing)" >&2
  exit 2
fi
if [ -z "$TRIBUNE" ] || [ ! -x "$TRIBUNE" ]; then
  echo "kv-dev.sh: tribune not found: install it or pass --tribune PATH" >&2
  exit 2
fi
NCPU=$(nproc)
if [ "$NCPU" -ge 2 ]; then SRV_CPU=0; LOAD_CPU=1; else SRV_CPU=0; LOAD_CPU=0; fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kv-dev-bench.XXXXXX")
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# A base port whose next 8 ports are free on 127.0.0.1.
free_base() {
  python3 - <<'EOF'
import random, socket
for _ in range(200):
    base = random.randrange(20000, 30000, 10)
    ok = True
    for p in range(base, base + 8):
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            s = socket.socket(socket.AF_INET, kind)
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                ok = False
            finally:
                s.close()
    if ok:
        print(base)
        break
EOF
}

# start_time URL EXPECT -- CMD...: exec CMD pinned on SRV_CPU, poll URL every
# 1 ms until it answers 200 with EXPECT in the body; print milliseconds, leave
# the process running and print its PID on the second line.
start_time() {
  local url=$1 expect=$2; shift 3
  python3 - "$url" "$expect" "$WORK/start.log" taskset -c "$SRV_CPU" "$@" <<'EOF'
import subprocess, sys, time, urllib.request
url, expect, log = sys.argv[1], sys.argv[2].encode(), sys.argv[3]
t0 = time.monotonic()
p = subprocess.Popen(sys.argv[4:], stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                     stdin=subprocess.DEVNULL)
while time.monotonic() - t0 < 60:
    if p.poll() is not None:
        sys.exit("server exited with status %d; see %s" % (p.returncode, log))
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            if r.status == 200 and expect in r.read():
                print("%.1f" % ((time.monotonic() - t0) * 1000))
                print(p.pid)
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.001)
p.kill()
sys.exit("server did not answer within 60 s; see %s" % log)
EOF
}

stop_pid() { kill "$1" 2>/dev/null || true; while kill -0 "$1" 2>/dev/null; do sleep 0.05; done; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# --------------------------------------------------------------- wrk scripts
cat > "$WORK/tb_put.lua" <<'EOF'
-- Tribune: PUT /v1/kv/bench/<n> with a 100-byte value
local n = 0
local body = string.rep("v", 100)
request = function()
  n = n + 1
  return wrk.format("PUT", "/v1/kv/bench/" .. (n % 10000), nil, body)
end
EOF
cat > "$WORK/tb_get.lua" <<'EOF'
-- Tribune: GET /v1/kv/bench/<n> over the 1000 keys written before
local n = 0
local suffix = os.getenv("TB_GET_SUFFIX") or ""
request = function()
  n = n + 1
  return wrk.format("GET", "/v1/kv/bench/" .. (n % 1000) .. suffix)
end
EOF
cat > "$WORK/etcd.lua" <<'EOF'
-- etcd v3 JSON gateway: POST /v3/kv/put or /v3/kv/range, base64 keys/values
local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function b64(s)
  local out, pad = {}, (3 - #s % 3) % 3
  s = s .. string.rep("\0", pad)
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local v = a * 65536 + b * 256 + c
    for k = 3, 0, -1 do
      local idx = math.floor(v / 64 ^ k) % 64 + 1
      out[#out + 1] = b64chars:sub(idx, idx)
    end
  end
  local r = table.concat(out)
  return r:sub(1, #r - pad) .. string.rep("=", pad)
end
local mode = os.getenv("ETCD_MODE") or "put"
local value = b64(string.rep("v", 100))
local bodies = {}
for i = 0, 9999 do
  local key = b64("bench/" .. i)
  if mode == "put" then
    bodies[i] = '{"key":"' .. key .. '","value":"' .. value .. '"}'
  else
    bodies[i] = '{"key":"' .. key .. '"}'
  end
end
local path = mode == "put" and "/v3/kv/put" or "/v3/kv/range"
local n = 0
local keys = mode == "put" and 10000 or 1000
request = function()
  n = n + 1
  return wrk.format("POST", path, {["Content-Type"] = "application/json"}, bodies[n % keys])
end
EOF

# run_wrk NAME URL SCRIPT [ENV=VALUE...]: one wrk run; keeps its output
run_wrk() {
  local name=$1 url=$2 script=$3; shift 3
  env "$@" taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency \
    -s "$script" "$url" > "$WORK/wrk-$name.txt" 2>&1
}
# wrk_field NAME rps|p50|p99|errors
wrk_field() {
  local f=$WORK/wrk-$1.txt
  case $2 in
    rps) awk '/^Requests\/sec:/ {print $2}' "$f" ;;
    p50|p99) awk -v q="${2#p}%" '$1 == q {v=$2; u=v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
               if (u == "us") v /= 1000; else if (u == "s") v *= 1000; printf "%.2f\n", v}' "$f" ;;
    errors) awk '/Non-2xx|Socket errors/ {print; found=1} END {if (!found) print "none"}' "$f" | paste -sd ';' ;;
  esac
}

BASE=$(free_base)
[ -n "$BASE" ] || { echo "kv-dev.sh: no free loopback ports" >&2; exit 2; }
TB_HTTP=$BASE
cat > "$WORK/tribune.json" <<EOF
{"ports": {"http": $BASE, "dns": $((BASE + 1)), "server": $((BASE + 2)),
           "serf_lan": $((BASE + 3)), "serf_wan": $((BASE + 4)), "grpc": $((BASE + 5))}}
EOF
TB_CMD=("$TRIBUNE" agent -dev -node bench -config-file "$WORK/tribune.json" -log-level warn)
[ -n "$PLUGIN_DIR" ] && TB_CMD+=(-plugin-dir "$PLUGIN_DIR")
ETCD_CLIENT=$((BASE + 6)) ETCD_PEER=$((BASE + 7))
etcd_cmd() {
  local d; d=$(mktemp -d "$WORK/etcd.XXXXXX")
  ETCD_CMD=(etcd --name bench --data-dir "$d"
    --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT" --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT"
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER"
    --initial-cluster "bench=http://127.0.0.1:$ETCD_PEER" --log-level error --logger zap)
}

echo "# kv-dev.sh $(date -u +%Y-%m-%dT%H:%M:%SZ): $("$TRIBUNE" version 2>/dev/null | head -1) vs $(etcd --version | head -1)"
echo "# $NCPU CPUs; servers pinned to CPU $SRV_CPU, wrk to CPU $LOAD_CPU; $CONNS connections, ${DURATION}s per run, 100-byte values"

# ---------------------------------------------------------- start + RSS
tb_starts=() etcd_starts=()
for i in $(seq 1 "$STARTS"); do
  out=$(start_time "http://127.0.0.1:$TB_HTTP/v1/status/leader" '"' -- "${TB_CMD[@]}")
  tb_starts+=("$(echo "$out" | head -1)"); pid=$(echo "$out" | tail -1); PIDS+=("$pid")
  if [ "$i" -lt "$STARTS" ]; then stop_pid "$pid"; fi
done
TB_PID=$pid
sleep 1; TB_RSS=$(rss_kib "$TB_PID")
for i in $(seq 1 "$STARTS"); do
  etcd_cmd
  out=$(start_time "http://127.0.0.1:$ETCD_CLIENT/health" 'true' -- "${ETCD_CMD[@]}")
  etcd_starts+=("$(echo "$out" | head -1)"); pid=$(echo "$out" | tail -1); PIDS+=("$pid")
  if [ "$i" -lt "$STARTS" ]; then stop_pid "$pid"; fi
done
ETCD_PID=$pid
sleep 1; ETCD_RSS=$(rss_kib "$ETCD_PID")
TB_START=$(printf '%s\n' "${tb_starts[@]}" | median)
ETCD_START=$(printf '%s\n' "${etcd_starts[@]}" | median)

# ---------------------------------------------------------- load
# Only one server is loaded at a time; the other idles on the same CPU.
run_wrk tb-put "http://127.0.0.1:$TB_HTTP" "$WORK/tb_put.lua"
run_wrk tb-get "http://127.0.0.1:$TB_HTTP" "$WORK/tb_get.lua"
run_wrk tb-getc "http://127.0.0.1:$TB_HTTP" "$WORK/tb_get.lua" TB_GET_SUFFIX='?consistent'
run_wrk etcd-put "http://127.0.0.1:$ETCD_CLIENT" "$WORK/etcd.lua" ETCD_MODE=put
run_wrk etcd-get "http://127.0.0.1:$ETCD_CLIENT" "$WORK/etcd.lua" ETCD_MODE=range
TB_RSS_LOADED=$(rss_kib "$TB_PID"); ETCD_RSS_LOADED=$(rss_kib "$ETCD_PID")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2f\n", a / b }'; }
row() { printf '%-40s %14s %14s %10s\n' "$1" "$2" "$3" "$(ratio "$2" "$3")"; }
echo
printf '%-40s %14s %14s %10s\n' "measure" "tribune -dev" "etcd 1-member" "ratio"
row "start -> first 200, ms (median of $STARTS)" "$TB_START" "$ETCD_START"
row "idle RSS after start, MiB" "$(awk -v k="$TB_RSS" 'BEGIN{printf "%.1f", k/1024}')" \
  "$(awk -v k="$ETCD_RSS" 'BEGIN{printf "%.1f", k/1024}')"
row "RSS after the load runs, MiB" "$(awk -v k="$TB_RSS_LOADED" 'BEGIN{printf "%.1f", k/1024}')" \
  "$(awk -v k="$ETCD_RSS_LOADED" 'BEGIN{printf "%.1f", k/1024}')"
row "PUT req/s" "$(wrk_field tb-put rps)" "$(wrk_field etcd-put rps)"
row "PUT p50 ms" "$(wrk_field tb-put p50)" "$(wrk_field etcd-put p50)"
row "PUT p99 ms" "$(wrk_field tb-put p99)" "$(wrk_field etcd-put p99)"
row "GET req/s (tribune default mode)" "$(wrk_field tb-get rps)" "$(wrk_field etcd-get rps)"
row "GET p50 ms" "$(wrk_field tb-get p50)" "$(wrk_field etcd-get p50)"
row "GET p99 ms" "$(wrk_field tb-get p99)" "$(wrk_field etcd-get p99)"
row "GET ?consistent req/s (vs linearizable)" "$(wrk_field tb-getc rps)" "$(wrk_field etcd-get rps)"
row "GET ?consistent p99 ms" "$(wrk_field tb-getc p99)" "$(wrk_field etcd-get p99)"
echo
for n in tb-put tb-get tb-getc etcd-put etcd-get; do
  echo "# errors $n: $(wrk_field "$n" errors)"
done
echo "# etcd range reads are linearizable (its default); Tribune's default GET is Consul's 'leader' mode."
echo "# etcd fsyncs its WAL on every write batch; Tribune -dev keeps its state in memory (no Raft log yet),"
echo "# so the PUT rows compare the HTTP/JSON + state store path, not durability."
