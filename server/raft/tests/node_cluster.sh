#!/bin/sh
# node_cluster.sh - `make check` test of Raft in real agents (staged
# install): three `tribune agent -server -bootstrap-expect 3` on
# 127.0.2.1-3 find each other through -retry-join, bootstrap and elect a
# leader; a KV write on the leader reaches every server; kill -9 of the
# leader: a survivor takes over (failover time printed) and serves writes;
# the killed server restarts from its data_dir and catches up; a fourth
# server joins as a learner and is promoted; a malformed frame on the
# server port closes only that connection; SIGTERM stops every agent with
# status 0; a corrupt log segment refuses the start with file and offset. Addresses 127.0.2.1-4, ports 19300-19304 on each.
set -u
: "${TB_TMP_INSTALL:?run me from make check (TB_TMP_INSTALL unset)}"
: "${TB_BINDIR:?}" "${TB_PLUGINDIR:?}"
command -v curl >/dev/null 2>&1 || { echo "SKIP: curl not installed"; exit 77; }
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
bindir="$TB_TMP_INSTALL$TB_BINDIR"
plugindir="$TB_TMP_INSTALL$TB_PLUGINDIR"
HTTP=19300
SERVER=19302

# one run at a time on this machine: the addresses and ports are fixed
if command -v flock >/dev/null 2>&1; then
    exec 9>/tmp/tribune-raft-node-cluster.lock && flock -w 600 9
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/tb_raftnode.XXXXXX") || exit 1
pids=""

note() { echo "# $*"; }
fail() {
    echo "FAIL: $*"
    for f in "$work"/s*.log; do
        [ -f "$f" ] && sed "s|^|# ${f##*/}| |" "$f" | grep -v DEBUG | tail -n 25
    done
    exit 1
}
cleanup() {
    for i in 1 2 3 4; do
        p=$(cat "$work/s$i.pid" 2>/dev/null) && kill -9 "$p" 2>/dev/null
    done
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# 127.0.2.x must be routable on loopback (Linux: all of 127/8 is)
curl -s -m 1 "http://127.0.2.1:$HTTP/" >/dev/null 2>&1
[ $? -eq 7 ] || fail "something answers on 127.0.2.1:$HTTP already"

cat >"$work/ports.json" <<EOF
{"ports": {"http": $HTTP, "dns": 19301, "server": $SERVER, "serf_lan": 19303,
           "serf_wan": 19304, "grpc": -1, "https": -1},
 "plugins": ["http"]}
EOF

# start I: server sI on 127.0.2.I, its data in $work/dI, log appended
start() {
    mkdir -p "$work/d$1"
    "$bindir/tribune" agent -server -bootstrap-expect 3 -node "s$1" -bind "127.0.2.$1" \
        -client "127.0.2.$1" -data-dir "$work/d$1" -plugin-dir "$plugindir" \
        -config-file "$work/ports.json" -retry-join 127.0.2.1 -retry-join 127.0.2.2 \
        -retry-join 127.0.2.3 -log-level debug >>"$work/s$1.log" 2>&1 &
    echo $! >"$work/s$1.pid"
}
alive() { kill -0 "$(cat "$work/s$1.pid")" 2>/dev/null; }
url() { echo "http://127.0.2.$1:$HTTP$2"; }
now_ms() { date +%s%3N; }

# leader_of I: the leader's server address as server I sees it (its log)
leader_of() {
    grep -h "entering leader state\|New leader elected" "$work/s$1.log" | tail -n 1 |
        sed -n 's/.*payload=\(s[0-9]\).*/\1/p; s/.*Node at 127.0.2.\([0-9]\).*/s\1/p' | head -n 1
}
# wait_leader SECONDS EXCEPT: number of the server whose log says it leads
# now (its newest state line is "entering leader state"), other than EXCEPT
wait_leader() {
    t=0
    while [ "$t" -lt $(($1 * 10)) ]; do
        for i in 1 2 3; do
            [ "$i" = "$2" ] && continue
            alive "$i" || continue
            last=$(grep -h "entering leader state\|entering follower state" "$work/s$i.log" |
                tail -n 1)
            case "$last" in *"entering leader state"*) echo "$i"; return 0 ;; esac
        done
        t=$((t + 1))
        sleep 0.1
    done
    return 1
}
# wait_value I KEY VALUE SECONDS: server I serves KEY = VALUE (stale read)
wait_value() {
    t=0
    until [ "$(curl -s -m 2 "$(url "$1" "/v1/kv/$2?raw&stale")")" = "$3" ]; do
        t=$((t + 1))
        [ "$t" -lt $(($4 * 10)) ] || fail "s$1 does not have $2=$3 after $4 s"
        sleep 0.1
    done
}

t0=$(now_ms)
for i in 1 2 3; do start "$i"; done
L=$(wait_leader 15 0) || fail "no leader within 15 s"
note "s$L leads after $(($(now_ms) - t0)) ms from start"
grep -q "bootstrapped the cluster: servers=\[" "$work/s$L.log" || fail "no bootstrap line"

r=$(curl -s -m 5 -X PUT -d one "$(url "$L" /v1/kv/raft/one)")
[ "$r" = "true" ] || fail "PUT on the leader answered '$r'"
for i in 1 2 3; do wait_value "$i" raft/one one 5; done
i1=$(curl -s -D - -o /dev/null "$(url 1 '/v1/kv/raft/one?stale')" | tr -d '\r' |
    sed -n 's/^X-Consul-Index: //p')
i2=$(curl -s -D - -o /dev/null "$(url 2 '/v1/kv/raft/one?stale')" | tr -d '\r' |
    sed -n 's/^X-Consul-Index: //p')
[ -n "$i1" ] && [ "$i1" = "$i2" ] || fail "X-Consul-Index differs: '$i1' '$i2'"
note "a write on the leader is on every server (index $i1)"

# a malformed frame: length past TB_RAFT_MAX_FRAME; only that connection goes
"$PY" - "127.0.2.$L" "$SERVER" <<'EOF' || fail "the server kept a malformed connection open"
import socket, struct, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.sendall(b"\x01" + struct.pack("<II", 0xFFFFFFF0, 0))
s.settimeout(5)
try:
    while s.recv(4096):
        pass
except ConnectionResetError:
    pass
EOF
grep -q "closing Raft connection.*exceeds" "$work/s$L.log" || fail "no warning for the bad frame"
r=$(curl -s -m 5 -X PUT -d two "$(url "$L" /v1/kv/raft/two)")
[ "$r" = "true" ] || fail "PUT after the bad frame answered '$r'"
note "a malformed frame closes its connection, the leader goes on"

kill -9 "$(cat "$work/s$L.pid")"
t0=$(now_ms)
N=$(wait_leader 10 "$L") || fail "no new leader within 10 s of kill -9"
note "kill -9 s$L: s$N leads after $(($(now_ms) - t0)) ms"
r=$(curl -s -m 5 -X PUT -d three "$(url "$N" /v1/kv/raft/three)")
[ "$r" = "true" ] || fail "PUT on the new leader answered '$r'"
for i in 1 2 3; do
    [ "$i" = "$L" ] && continue
    wait_value "$i" raft/two two 5
    wait_value "$i" raft/three three 5
done

start "$L"
wait_value "$L" raft/three three 10
wait_value "$L" raft/one one 2
note "s$L restarted from its data_dir and caught up"

start 4
t=0
until grep -q "promoting server s4 to voter" "$work"/s[123].log; do
    t=$((t + 1))
    [ "$t" -lt 100 ] || fail "s4 was not promoted within 10 s"
    sleep 0.1
done
grep -q "adding server s4 .* as a non-voter" "$work"/s[123].log || fail "s4 was not a learner first"
wait_value 4 raft/three three 5
note "s4 joined as a learner and was promoted"

for i in 1 2 3 4; do kill -TERM "$(cat "$work/s$i.pid")"; done
for i in 1 2 3 4; do
    wait "$(cat "$work/s$i.pid")"
    rc=$?
    [ "$rc" -eq 0 ] || fail "s$i exited $rc after SIGTERM"
done
for i in 1 2 3 4; do rm -f "$work/s$i.pid"; done
grep -h "ERROR.*agent.server.raft" "$work"/s*.log && fail "Raft errors in the logs"

# a damaged log record with records after it is corruption: s2 refuses to
# start and names the file and offset
seg=$(ls "$work"/d2/raft/seg-*.log | head -n 1)
"$PY" -c '
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[40] ^= 0xFF  # inside the first record (16-byte header, 8-byte record head)
open(p, "wb").write(b)' "$seg" || fail "cannot damage $seg"
"$bindir/tribune" agent -server -node s2 -bind 127.0.2.2 -client 127.0.2.2 -data-dir "$work/d2" \
    -plugin-dir "$plugindir" -config-file "$work/ports.json" >"$work/corrupt.log" 2>&1
rc=$?
[ "$rc" -eq 1 ] || fail "a corrupt log: exit status $rc, expected 1"
grep -q "==> Error starting agent: raft: .*seg-.*\.log: .* at offset [0-9]" "$work/corrupt.log" ||
    fail "a corrupt log: no file and offset in: $(cat "$work/corrupt.log")"
note "a corrupt segment refuses the start: $(grep -o 'raft: .*' "$work/corrupt.log" | sed "s|$work/||")"
echo "PASS: raft node cluster"
