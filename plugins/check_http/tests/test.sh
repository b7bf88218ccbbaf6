#!/bin/sh
# test.sh - `make check` test of the http check type in a real agent
# (staged install) against tests/server.py over HTTP and HTTPS (a
# self-signed certificate made here with `openssl req`): 200/429/500, a
# response slower than the timeout, redirects followed / disabled / looping,
# a large body, method + headers + body sent as configured, HEAD, a refused
# port, certificate verification on and off, and bad definitions refused at
# start. Asserts statuses and outputs in the agent and the catalog.
# Ports 18840-18869.
. "$TB_SRCDIR/plugins/check_script/tests/checklib.sh"
serialize check_http_ports
command -v openssl >/dev/null 2>&1 || { echo "SKIP: openssl not installed"; exit 77; }

srv="$TB_SRCDIR/plugins/check_http/tests/server.py"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" \
    -days 2 -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    >"$work/openssl.log" 2>&1 || { cat "$work/openssl.log"; fail "openssl req failed"; }

start_server() { # start_server PORT [CERT KEY]
    port_free "$1" || fail "127.0.0.1:$1 is busy"
    "$PY" "$srv" "$@" >"$work/srv-$1.out" 2>&1 &
    bg_pids="$bg_pids $!"
    i=0
    until grep -qx ready "$work/srv-$1.out" 2>/dev/null; do
        i=$((i + 1)); [ "$i" -lt 100 ] || { cat "$work/srv-$1.out"; fail "server on $1 did not start"; }
        sleep 0.1
    done
}
start_server 18850
start_server 18851 "$work/cert.pem" "$work/key.pem"

H=http://127.0.0.1:18850
S=https://127.0.0.1:18851
cat >"$work/checks.json" <<EOJ
{"checks": [
  {"id": "ok", "name": "ok", "http": "$H/200", "interval": "1s"},
  {"id": "busy", "name": "busy", "http": "$H/429", "interval": "1s"},
  {"id": "err", "name": "err", "http": "$H/500", "interval": "1s"},
  {"id": "slow", "name": "slow", "http": "$H/slow", "interval": "2s", "timeout": "1s"},
  {"id": "redir", "name": "redir", "http": "$H/redirect", "interval": "1s"},
  {"id": "noredir", "name": "noredir", "http": "$H/redirect", "disable_redirects": true, "interval": "1s"},
  {"id": "loop", "name": "loop", "http": "$H/loop", "interval": "2s"},
  {"id": "big", "name": "big", "http": "$H/big", "interval": "1s", "output_max_size": 100},
  {"id": "echo", "name": "echo", "http": "$H/echo?a=b", "method": "PUT",
   "header": {"X-Token": ["abc"], "X-Multi": ["1", "2"]}, "body": "payload", "interval": "1s"},
  {"id": "head", "name": "head", "http": "$H/200", "method": "HEAD", "interval": "1s"},
  {"id": "refused", "name": "refused", "http": "http://127.0.0.1:18859/", "interval": "1s"},
  {"id": "tls", "name": "tls", "http": "$S/200", "tls_skip_verify": true, "interval": "1s"},
  {"id": "tlsverify", "name": "tlsverify", "http": "$S/200", "interval": "1s"},
  {"id": "tlsname", "name": "tlsname", "http": "https://localhost:18851/429",
   "tls_server_name": "localhost", "tls_skip_verify": true, "interval": "1s"}
 ]}
EOJ

cat >"$work/bad1.json" <<EOJ
{"check": {"id": "b", "name": "b", "http": "ftp://127.0.0.1/", "interval": "1s"}}
EOJ
agent_refuses 18846 "$work/bad1.json" 'http: "ftp://127.0.0.1/": unsupported protocol scheme'
cat >"$work/bad2.json" <<EOJ
{"check": {"id": "b", "name": "b", "http": "$H/200", "header": {"X-A": ["x\r\nInjected: 1"]}, "interval": "1s"}}
EOJ
agent_refuses 18846 "$work/bad2.json" "header: header values must be strings without CR or LF"
note "bad URL and header injection refused at start"

start_agent httpnode 18840 "$work/checks.json"

wait_status ok passing 10
expect_output ok "HTTP GET $H/200: 200 OK Output: status 200"
expect_type ok http
wait_status busy warning 10
expect_output busy "HTTP GET $H/429: 429 Too Many Requests Output: status 429"
wait_status err critical 10
expect_output err "HTTP GET $H/500: 500 Internal Server Error Output: status 500"
note "200 passing, 429 warning, 500 critical, with status line and body"

wait_status redir passing 10
expect_output redir "HTTP GET $H/redirect: 200 OK Output: status 200"
wait_status noredir critical 10
expect_output noredir "HTTP GET $H/redirect: 302 Found Output: moved"
wait_status loop critical 10
expect_output loop "Get \"$H/loop\": stopped after 10 redirects"
note "redirects followed (10 at most) unless disable_redirects"

wait_status big passing 10
# the whole output fits output_max_size (100): the body gets the rest
pfx="HTTP GET $H/big: 200 OK Output: "
expect_output big "$pfx$(printf "%0$((100 - ${#pfx}))d" 0 | tr 0 b)"
wait_status echo passing 10
out=$(agent_field echo Output)
case "$out" in
    "HTTP PUT $H/echo?a=b: 200 OK Output: PUT /echo?a=b|"*"user-agent=Consul Health Check;"*) ;;
    *) fail "echo output: $out" ;;
esac
for want in "x-token=abc;" "x-multi=1;x-multi=2;" "|payload" "content-length=7;" "host=127.0.0.1:18850;"; do
    case "$out" in *"$want"*) ;; *) fail "echo output lacks '$want': $out" ;; esac
done
wait_status head passing 10
expect_output head "HTTP HEAD $H/200: 200 OK Output: "
note "output_max_size bounds the body; method, headers and body are sent; HEAD has no body"

wait_status refused critical 10
expect_output refused "Get \"http://127.0.0.1:18859/\": dial tcp 127.0.0.1:18859: connect: connection refused"
wait_status slow critical 10
case "$(agent_field slow Output)" in
    "Timed out ("*") running check" | *"Client.Timeout exceeded"*) ;;
    *) fail "slow output: $(agent_field slow Output)" ;;
esac
note "refused connections and slow answers are critical"

wait_status tls passing 10
expect_output tls "HTTP GET $S/200: 200 OK Output: status 200"
wait_status tlsverify critical 10
case "$(agent_field tlsverify Output)" in
    "Get \"$S/200\": tls: failed to verify certificate: x509: "*) ;;
    *) fail "tlsverify output: $(agent_field tlsverify Output)" ;;
esac
wait_status tlsname warning 10
expect_output tlsname "HTTP GET https://localhost:18851/429: 429 Too Many Requests Output: status 429"
note "HTTPS: self-signed refused unless tls_skip_verify; tls_server_name and names work"

stop_agent
echo "PASS: http check type"
