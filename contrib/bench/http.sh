#!/bin/bash
# http.sh - HTTP API throughput (issue 5): Tribune's dev agent beside nginx
# serving the very same response bytes as static files, in the same run
# (loopback only; each server on CPU 0 with one worker/thread, wrk on CPU 1):
#   GET /v1/health/service/web?passing   (5 passing instances)
#   GET /v1/kv/bench/key                 (one small key)
# with 1 and 64 keep-alive connections; prints req/s, p99, server CPU
# microseconds per request (user + system) and the req/s ratio
# Tribune/nginx (goal: at least 0.5). --tls: both over HTTPS instead
# (Tribune's ports.https, nginx `listen ... ssl`, one throwaway RSA-2048
# certificate made with openssl, TLS 1.3 as wrk negotiates it).
#
#   contrib/bench/http.sh [--tribune PATH] [--plugin-dir DIR] [--duration S] [--tls]
#
# Needs the Debian packages wrk, nginx-light (or nginx) and util-linux
# (taskset). Ports 19420-19429. Every process it starts is stopped by PID.
set -euo pipefail
TRIBUNE=${TRIBUNE:-$(command -v tribune || true)}
PLUGIN_DIR=${PLUGIN_DIR:-}
DURATION=${DURATION:-10}
TLS=0
while [ $# -gt 0 ]; do
  case $1 in
    --tribune) TRIBUNE=$2; shift 2 ;;
    --plugin-dir) PLUGIN_DIR=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --tls) TLS=1; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "http.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
missing=
command -v wrk >/dev/null || missing="$missing wrk"
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing="$missing nginx-light"
command -v taskset >/dev/null || missing="$missing util-linux"
[ -z "$missing" ] || { echo "http.sh: missing Debian package(s):$missing" >&2; exit 2; }
[ -x "$TRIBUNE" ] || { echo "http.sh: tribune not found (--tribune PATH)" >&2; exit 2; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
SRV_CPU=0; LOAD_CPU=1; [ "$(nproc)" -ge 2 ] || LOAD_CPU=0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/http-bench.XXXXXX")
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

TP=19420 NP=19421 TSP=19423
echo '{"log_level":"warn","limits":{"http_max_conns_per_client":100000}}' > "$WORK/t.json"
SCHEME=http NG_SSL= NG_CERT=
if [ "$TLS" = 1 ]; then
  NG_SSL=" ssl" NG_CERT="ssl_certificate $WORK/cert.pem; ssl_certificate_key $WORK/key.pem;"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/key.pem" -out "$WORK/cert.pem" \
    -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1
  chmod 644 "$WORK/key.pem"
  printf '{"log_level":"warn","limits":{"http_max_conns_per_client":100000},"ports":{"https":%s},"cert_file":"%s","key_file":"%s"}\n' \
    $TSP "$WORK/cert.pem" "$WORK/key.pem" > "$WORK/t.json"
  SCHEME=https
fi
pdir=(); [ -n "$PLUGIN_DIR" ] && pdir=(-plugin-dir "$PLUGIN_DIR")
taskset -c $SRV_CPU "$TRIBUNE" agent -dev -node bench -http-port $TP -dns-port 19422 \
  "${pdir[@]}" -config-file "$WORK/t.json" > "$WORK/agent.log" 2>&1 &
TPID=$!; PIDS+=($TPID)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$TP/v1/status/leader" | grep -q : && break; sleep 0.1; done
for i in 1 2 3 4 5; do
  curl -sf -X PUT "http://127.0.0.1:$TP/v1/catalog/register" -d "{\"Node\":\"web$i\",\"Address\":\"10.0.0.$i\",\
\"NodeMeta\":{\"rack\":\"r$i\"},\"Service\":{\"ID\":\"web-$i\",\"Service\":\"web\",\"Tags\":[\"v1\",\"primary\"],\"Port\":8080,\
\"Meta\":{\"version\":\"1.2.$i\"}},\"Check\":{\"CheckID\":\"web-$i-http\",\"Name\":\"http\",\"Status\":\"passing\",\
\"ServiceID\":\"web-$i\",\"Output\":\"HTTP GET http://10.0.0.$i:8080/health: 200 OK\"}}" >/dev/null
done
curl -sf -X PUT "http://127.0.0.1:$TP/v1/kv/bench/key" -d '{"feature_a":true,"feature_b":false,"rollout":25}' >/dev/null
# the exact bytes Tribune answers, served by nginx from files
curl -sf "http://127.0.0.1:$TP/v1/health/service/web?passing" > "$WORK/health.json"
curl -sf "http://127.0.0.1:$TP/v1/kv/bench/key" > "$WORK/kv.json"
mkdir -p "$WORK/nginx"; chmod 755 "$WORK"; chmod 644 "$WORK/health.json" "$WORK/kv.json"
cat > "$WORK/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path $WORK/nginx; proxy_temp_path $WORK/nginx;
  fastcgi_temp_path $WORK/nginx; uwsgi_temp_path $WORK/nginx; scgi_temp_path $WORK/nginx;
  server {
    listen 127.0.0.1:$NP$NG_SSL;
    $NG_CERT
    location = /v1/health/service/web { default_type application/json; alias $WORK/health.json; }
    location = /v1/kv/bench/key { default_type application/json; alias $WORK/kv.json; }
  }
}
CONF
taskset -c $SRV_CPU "$NGINX" -c "$WORK/nginx.conf" -p "$WORK/nginx" -e "$WORK/nginx/error.log" \
  > "$WORK/nginx/out.log" 2>&1 &
NPID=$!; PIDS+=($NPID)
TURL=http://127.0.0.1:$TP NURL=http://127.0.0.1:$NP
[ "$TLS" = 1 ] && TURL=https://127.0.0.1:$TSP NURL=https://127.0.0.1:$NP
for _ in $(seq 100); do curl -skf -o /dev/null "$NURL/v1/kv/bench/key" && break; sleep 0.1; done
cmp -s <(curl -sk "$NURL/v1/health/service/web?passing") "$WORK/health.json" ||
  { echo "http.sh: nginx does not serve the same bytes" >&2; exit 1; }

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime of a pid
HZ=$(getconf CLK_TCK)
NWPID=$(pgrep -P "$NPID" | head -n 1) # nginx's one worker does the serving
run() { # url conns server-pid -> "rps p99 cpu_us_per_request"
  local out t0 t1
  t0=$(ticks "$3")
  out=$(taskset -c $LOAD_CPU wrk -t1 -c"$2" -d"${DURATION}s" --latency "$1")
  t1=$(ticks "$3")
  local rps p99 reqs
  rps=$(echo "$out" | awk '/^Requests\/sec:/{printf "%.0f", $2}')
  p99=$(echo "$out" | awk '$1=="99%"{print $2}')
  reqs=$(echo "$out" | awk '/requests in/{print $1}')
  echo "$rps $p99 $(awk -v t=$((t1 - t0)) -v hz="$HZ" -v n="$reqs" 'BEGIN{printf "%.1f", n ? t * 1e6 / hz / n : 0}')"
}
cmp -s <(curl -sk "$TURL/v1/health/service/web?passing") "$WORK/health.json" ||
  { echo "http.sh: tribune does not serve the same bytes over $SCHEME" >&2; exit 1; }
printf '# %s, health body %s bytes, kv body %s bytes, %ss per run\n' "$SCHEME" \
  "$(wc -c < "$WORK/health.json")" "$(wc -c < "$WORK/kv.json")" "$DURATION"
# us/req: the server's CPU time (user + system) per answered request; the
# load tool shares the machine, so this is the steadier comparison
printf '%-40s %6s %12s %10s %8s %12s %10s %8s %8s\n' path conns tribune_rps t_p99 t_us/req \
  nginx_rps n_p99 n_us/req ratio
for path in "/v1/health/service/web?passing" "/v1/kv/bench/key"; do
  for c in 1 64; do
    read -r trps tp99 tcpu < <(run "$TURL$path" $c $TPID)
    read -r nrps np99 ncpu < <(run "$NURL$path" $c "$NWPID")
    printf '%-40s %6s %12s %10s %8s %12s %10s %8s %8s\n' "$path" "$c" "$trps" "$tp99" "$tcpu" \
      "$nrps" "$np99" "$ncpu" \
      "$(awk -v a="$trps" -v b="$nrps" 'BEGIN{printf "%.2f", b ? a/b : 0}')"
  done
done
echo "# tribune RSS after: $(awk '/VmRSS/{print $2}' /proc/$TPID/status) kB"
