#!/bin/bash
# kv-cluster.sh - 3 Tribune servers (Raft, fsync on) against a 3-member etcd,
# both started by this script on this machine (loopback only):
#   - PUT throughput and latency with 1, 16, 64 and 256 keep-alive clients
#     (wrk, one request in flight per connection, DURATION seconds each,
#     100-byte values), sent to the leader:
#       Tribune: PUT /v1/kv/bench/<n>
#       etcd:    POST /v3/kv/put {"key","value"} (JSON gateway)
#   - linearizable read throughput at 64 clients:
#       Tribune: GET /v1/kv/bench/<n>?consistent (ReadIndex)
#       etcd:    POST /v3/kv/range (its default, serializable=false)
#   - leader failover: kill -9 of the leader -> first write acknowledged by a
#     surviving member (median of FAILOVERS kills, the killed member restarted
#     in between)
# and prints one table with the ratio Tribune/etcd. The load generator runs
# on CPU 1 (taskset); the six servers share the machine as they would.
#
#   contrib/bench/kv-cluster.sh [--tribune PATH] [--plugin-dir DIR] [--duration S]
#
# Tribune: 127.0.1.31-33, ports 19350-19355; etcd: 127.0.1.34-36, ports
# 19356 (client) and 19357 (peer). Needs the Debian packages wrk,
# etcd-server, etcd-client and util-linux; installs nothing. Every process it
# starts is stopped by its PID on exit.
set -euo pipefail

TRIBUNE=${TRIBUNE:-$(command -v tribune || true)}
PLUGIN_DIR=${PLUGIN_DIR:-}
DURATION=${DURATION:-10}
FAILOVERS=${FAILOVERS:-3}
CLIENTS=${CLIENTS:-"1 16 64 256"}
SYSTEMS=${SYSTEMS:-"tb et"}   # which to measure (tb = Tribune, et = etcd)
while [ $# -gt 0 ]; do
  case $1 in
    --tribune) TRIBUNE=$2; shift 2 ;;
    --plugin-dir) PLUGIN_DIR=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "kv-cluster.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
missing=
for t in wrk:wrk etcd:etcd-server etcdctl:etcd-client taskset:util-linux python3:python3; do
  command -v "${t%%:*}" >/dev/null || missing="$missing ${t#*:}"
done
if [ -n "$missing" ]; then
  echo "kv-cluster.sh: missing Debian package(s):$missing (apt-get install -y$missing)" >&2
  exit 2
fi
if [ -z "$TRIBUNE" ] || [ ! -x "$TRIBUNE" ]; then
  echo "kv-cluster.sh: tribune not found: install it or pass --tribune PATH" >&2
  exit 2
fi
LOAD_CPU=$(( $(nproc) >= 2 ? 1 : 0 ))

TB_IPS=(127.0.1.31 127.0.1.32 127.0.1.33)
ET_IPS=(127.0.1.34 127.0.1.35 127.0.1.36)
TB_HTTP=19350 ET_CLIENT=19356 ET_PEER=19357
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kv-cluster-bench.XXXXXX")
declare -A PID
cleanup() {
  local k
  for k in "${!PID[@]}"; do kill -9 "${PID[$k]}" 2>/dev/null || true; done
  for k in "${!PID[@]}"; do wait "${PID[$k]}" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# ------------------------------------------------------------------ servers
# limits: Consul's default of 200 connections per client address would
# answer 429 to the 256-connection run (all of wrk's come from one address)
cat > "$WORK/tb.json" <<EOF
{"ports": {"http": $TB_HTTP, "dns": 19351, "server": 19352, "serf_lan": 19353,
           "serf_wan": 19354, "grpc": 19355},
 "limits": {"http_max_conns_per_client": 4096}}
EOF
tb_start() { # index
  local i=$1 ip=${TB_IPS[$1]} args=()
  local j; for j in 0 1 2; do [ "$j" = "$i" ] || args+=(-retry-join "${TB_IPS[$j]}"); done
  [ -n "$PLUGIN_DIR" ] && args+=(-plugin-dir "$PLUGIN_DIR")
  mkdir -p "$WORK/tb$i"
  "$TRIBUNE" agent -server -bootstrap-expect 3 -node "tb$i" -bind "$ip" -client "$ip" \
    -data-dir "$WORK/tb$i" -config-file "$WORK/tb.json" -log-level warn -plugin http "${args[@]}" \
    >> "$WORK/tb$i.log" 2>&1 &
  PID[tb$i]=$!
}
et_start() { # index
  local i=$1 ip=${ET_IPS[$1]} state=new cluster=
  local j; for j in 0 1 2; do cluster+="${cluster:+,}et$j=http://${ET_IPS[$j]}:$ET_PEER"; done
  [ -d "$WORK/et$i/member" ] && state=existing
  etcd --name "et$i" --data-dir "$WORK/et$i" \
    --listen-client-urls "http://$ip:$ET_CLIENT" --advertise-client-urls "http://$ip:$ET_CLIENT" \
    --listen-peer-urls "http://$ip:$ET_PEER" --initial-advertise-peer-urls "http://$ip:$ET_PEER" \
    --initial-cluster "$cluster" --initial-cluster-state "$state" \
    --initial-cluster-token kv-cluster-bench --log-level error >> "$WORK/et$i.log" 2>&1 &
  PID[et$i]=$!
}
stop_all() { # prefix
  local k
  for k in "${!PID[@]}"; do
    case $k in "$1"*) kill "${PID[$k]}" 2>/dev/null || true; wait "${PID[$k]}" 2>/dev/null || true
                      unset "PID[$k]" ;; esac
  done
}

# leader KIND -> index of the leader (0..2), waiting up to 60 s
leader() {
  python3 - "$1" "${TB_IPS[*]}" "${ET_IPS[*]}" "$TB_HTTP" "$ET_CLIENT" <<'EOF'
import json, sys, time, urllib.request
kind, tb, et, tbp, etp = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), sys.argv[4], sys.argv[5]
def get(url, data=None):
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=1) as r:
        return json.loads(r.read())
end = time.monotonic() + 60
while time.monotonic() < end:
    try:
        if kind == "tb":
            seen = {get("http://%s:%s/v1/status/leader" % (ip, tbp)) for ip in tb}
            if len(seen) == 1 and "" not in seen:
                ip = seen.pop().rsplit(":", 1)[0]
                if ip in tb:
                    print(tb.index(ip)); sys.exit(0)
        else:
            for i, ip in enumerate(et):
                s = get("http://%s:%s/v3/maintenance/status" % (ip, etp), b"{}")
                if s.get("leader") and s["leader"] == s["header"]["member_id"]:
                    print(i); sys.exit(0)
    except (OSError, ValueError, KeyError):
        pass
    time.sleep(0.05)
sys.exit("no leader within 60 s")
EOF
}

# ------------------------------------------------------------------ load
cat > "$WORK/load.lua" <<'EOF'
-- KIND=tb|et, OP=put|get: one request per call over 10,000 keys, 100-byte values
local kind, op = os.getenv("KIND"), os.getenv("OP")
local function b64(s)
  local c = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  local out, pad = {}, (3 - #s % 3) % 3
  s = s .. string.rep("\0", pad)
  for i = 1, #s, 3 do
    local a, b, d = s:byte(i, i + 2)
    local v = a * 65536 + b * 256 + d
    for k = 3, 0, -1 do local x = math.floor(v / 64 ^ k) % 64 + 1; out[#out + 1] = c:sub(x, x) end
  end
  local r = table.concat(out)
  return r:sub(1, #r - pad) .. string.rep("=", pad)
end
local value = string.rep("v", 100)
local reqs = {}
-- built in init: a headers table replaces wrk's defaults, Host included
init = function(args)
  local h = {["Content-Type"] = "application/json", ["Host"] = wrk.host .. ":" .. wrk.port}
  for i = 0, 9999 do
    if kind == "tb" and op == "put" then
      reqs[i] = wrk.format("PUT", "/v1/kv/bench/" .. i, nil, value)
    elseif kind == "tb" then
      reqs[i] = wrk.format("GET", "/v1/kv/bench/" .. (i % 1000) .. "?consistent")
    elseif op == "put" then
      reqs[i] = wrk.format("POST", "/v3/kv/put", h,
        '{"key":"' .. b64("bench/" .. i) .. '","value":"' .. b64(value) .. '"}')
    else
      reqs[i] = wrk.format("POST", "/v3/kv/range", h, '{"key":"' .. b64("bench/" .. (i % 1000)) .. '"}')
    end
  end
end
local n = 0
request = function() n = n + 1; return reqs[n % 10000] end
EOF
# wrk_run NAME KIND OP URL CONNS -> "rps p50ms p99ms errors"
wrk_run() {
  local name=$1 kind=$2 op=$3 url=$4 c=$5
  KIND=$kind OP=$op taskset -c "$LOAD_CPU" wrk -t1 -c"$c" -d"${DURATION}s" --latency \
    -s "$WORK/load.lua" "$url" > "$WORK/wrk-$name.txt" 2>&1 || true
  awk 'function ms(v,  u) { u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
         return u == "us" ? v / 1000 : (u == "s" ? v * 1000 : v) }
       /^Requests\/sec:/ {rps = $2} $1 == "50%" {p50 = ms($2)} $1 == "99%" {p99 = ms($2)}
       /Non-2xx|Socket errors/ {err = err $0 ";"}
       END {printf "%.0f %.2f %.2f %s\n", rps, p50, p99, (err == "" ? "-" : err)}' \
    "$WORK/wrk-$name.txt"
}

# failover KIND -> seconds from kill -9 of the leader to the first write a
# survivor acknowledges; the killed member is restarted afterwards (call it
# without $(...): the restart must update PID in this shell)
failover() {
  local kind=$1 l ips t
  l=$(leader "$kind")
  if [ "$kind" = tb ]; then ips="${TB_IPS[*]}"; else ips="${ET_IPS[*]}"; fi
  kill -9 "${PID[$kind$l]}"; wait "${PID[$kind$l]}" 2>/dev/null || true
  t=$(python3 - "$kind" "$l" "$ips" "$TB_HTTP" "$ET_CLIENT" <<'EOF'
import sys, time, urllib.request
kind, dead, ips, tbp, etp = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4], sys.argv[5]
t0 = time.monotonic()
live = [ip for i, ip in enumerate(ips) if i != dead]
while time.monotonic() - t0 < 60:
    for ip in live:
        if kind == "tb":
            req = urllib.request.Request("http://%s:%s/v1/kv/failover" % (ip, tbp), b"x", method="PUT")
        else:
            req = urllib.request.Request("http://%s:%s/v3/kv/put" % (ip, etp),
                                         b'{"key":"ZmFpbG92ZXI=","value":"eA=="}')
        try:
            with urllib.request.urlopen(req, timeout=0.5) as r:
                if r.status == 200 and (kind != "tb" or r.read().strip() == b"true"):
                    print("%.2f" % (time.monotonic() - t0)); sys.exit(0)
        except OSError:
            pass
    time.sleep(0.01)
print("timeout")
EOF
)
  "${kind}_start" "$l"
  leader "$kind" > /dev/null
  echo "$t"
}

# bench KIND: every measurement of one system into $WORK/KIND.res
bench() {
  local kind=$1 l url c i
  l=$(leader "$kind")
  if [ "$kind" = tb ]; then url="http://${TB_IPS[$l]}:$TB_HTTP"; else url="http://${ET_IPS[$l]}:$ET_CLIENT"; fi
  for c in $CLIENTS; do echo "put-c$c $(wrk_run "$kind-put-$c" "$kind" put "$url" "$c")"; done > "$WORK/$kind.res"
  echo "lin-get-c64 $(wrk_run "$kind-get" "$kind" get "$url" 64)" >> "$WORK/$kind.res"
  : > "$WORK/$kind.fo"
  for i in $(seq 1 "$FAILOVERS"); do failover "$kind" >> "$WORK/$kind.fo"; done
  echo "failover $(tr '\n' ' ' < "$WORK/$kind.fo")" >> "$WORK/$kind.res"
}

echo "# kv-cluster: 3 Tribune servers vs 3-member etcd, ${DURATION}s per run, load on CPU $LOAD_CPU" >&2
for kind in tb et; do
  case " $SYSTEMS " in *" $kind "*) ;; *) : > "$WORK/$kind.res"; continue ;; esac
  for i in 0 1 2; do "${kind}_start" "$i"; done
  leader "$kind" > /dev/null || { echo "$kind: no leader; logs:" >&2; tail -5 "$WORK/$kind"*.log >&2; exit 1; }
  bench "$kind"
  stop_all "$kind"
done

python3 - "$WORK/tb.res" "$WORK/et.res" <<'EOF'
import statistics, sys
def load(p):
    r = {}
    for line in open(p):
        k, *v = line.split()
        r[k] = v
    return r
tb, et = load(sys.argv[1]), load(sys.argv[2])
if not tb:
    tb = {k: ["-"] * 4 for k in et}
def ratio(a, b):
    try:
        return "%.2f" % (float(a) / float(b))
    except (ValueError, ZeroDivisionError):
        return "-"
print("| run | Tribune req/s | p50 ms | p99 ms | etcd req/s | p50 ms | p99 ms | req/s ratio | p99 ratio |")
print("|---|---|---|---|---|---|---|---|---|")
for k in [k for k in tb if k != "failover"]:
    if k not in et:
        et[k] = ["-"] * 4
    t, e = tb[k], et.get(k, ["-"] * 4)
    print("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (k, t[0], t[1], t[2], e[0], e[1], e[2],
          ratio(t[0], e[0]), ratio(t[2], e[2])))
    for who, v in (("Tribune", t), ("etcd", e)):
        if len(v) > 3 and v[3] != "-":
            print("|  %s errors: %s |" % (who, " ".join(v[3:])))
def med(v):
    if not v:
        return "-"
    n = [float(x) for x in v if x not in ("timeout", "-")]
    return "%.2f s (%s)" % (statistics.median(n), ", ".join(v)) if n else "timeout"
print("| leader failover after kill -9 (median) | %s | | | %s | | | | |"
      % (med(tb.get("failover", [])), med(et.get("failover", []))))
EOF
