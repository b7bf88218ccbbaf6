#!/bin/sh
# test.sh - `make check` test of the tcp check type in a real agent (staged
# install): a local listener on 127.0.0.1 (and ::1 when available), a closed
# port, a name resolved asynchronously and an unresolvable one; statuses and
# outputs through /v1/agent/checks and the catalog; the listener going away
# and coming back; a malformed target refused at start. Ports 18800-18819.
. "$TB_SRCDIR/plugins/check_script/tests/checklib.sh"
serialize check_tcp_ports

listen() { # listen PORT: a listener on 127.0.0.1 and ::1, pid in $lpid
    "$PY" -c '
import socket, sys, time
p = int(sys.argv[1])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", p)); s.listen(128)
try:
    s6 = socket.socket(socket.AF_INET6); s6.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s6.bind(("::1", p)); s6.listen(128); print("v6", flush=True)
except OSError:
    print("v4", flush=True)
while True:
    time.sleep(3600)' "$1" >"$work/listen.out" 2>&1 &
    lpid=$!
    bg_pids="$bg_pids $lpid"
    i=0
    until [ -s "$work/listen.out" ]; do
        i=$((i + 1)); [ "$i" -lt 50 ] || fail "listener did not start"; sleep 0.1
    done
}

port_free 18810 || fail "127.0.0.1:18810 is busy"
listen 18810
v6=$(cat "$work/listen.out")
cat >"$work/checks.json" <<EOF2
{"checks": [
  {"id": "up", "name": "up", "tcp": "127.0.0.1:18810", "interval": "1s", "timeout": "1s"},
  {"id": "down", "name": "down", "tcp": "127.0.0.1:18811", "interval": "1s"},
  {"id": "byname", "name": "byname", "tcp": "localhost:18810", "interval": "1s"},
  {"id": "nosuch", "name": "nosuch", "tcp": "nosuch.invalid:80", "interval": "1s"}
  $( [ "$v6" = v6 ] && echo ', {"id": "v6", "name": "v6", "tcp": "[::1]:18810", "interval": "1s"}')
]}
EOF2
cat >"$work/bad.json" <<EOF2
{"check": {"id": "bad", "name": "bad", "tcp": "no-port-here", "interval": "1s"}}
EOF2
agent_refuses 18806 "$work/bad.json" 'tcp: "no-port-here": missing port in address'
note "a malformed target is refused at start"

start_agent tcpnode 18800 "$work/checks.json"
wait_status up passing 10
expect_output up "TCP connect 127.0.0.1:18810: Success"
expect_type up tcp
wait_status byname passing 10
expect_output byname "TCP connect localhost:18810: Success"
wait_status down critical 10
expect_output down "dial tcp 127.0.0.1:18811: connect: connection refused"
wait_status nosuch critical 10
case "$(agent_field nosuch Output)" in
    "dial tcp: lookup nosuch.invalid: "*) ;;
    *) fail "nosuch output: $(agent_field nosuch Output)" ;;
esac
if [ "$v6" = v6 ]; then
    wait_status v6 passing 10
    expect_output v6 "TCP connect [::1]:18810: Success"
fi
note "passing, refused, resolved and unresolvable targets report as Consul"

kill "$lpid"; wait "$lpid" 2>/dev/null
wait_status up critical 10
expect_output up "dial tcp 127.0.0.1:18810: connect: connection refused"
: >"$work/listen.out"
listen 18810
wait_status up passing 10
note "the check follows the listener going away and coming back"

kill -0 "$agent_pid" || fail "agent died"
stop_agent
echo "PASS: tcp check type"
