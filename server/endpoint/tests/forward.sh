#!/bin/sh
# forward.sh - `make check`: forwarding from a client agent to a server
# over the server port, end to end with curl. A -dev server on 127.0.3.1
# and a client agent on 127.0.3.2 (retry_join 127.0.3.1); everything is
# asked through the CLIENT's HTTP API: KV put/get/cas with binary values
# and 64-bit flags, blocking queries (woken, timed out, abandoned),
# catalog register + health, sessions; the server is killed (500 with
# "rpc error", at once) and restarted (the client recovers); a client
# without servers says "No known Consul servers"; junk on the server port
# closes that connection only; a taken server port stops the agent.
# Addresses 127.0.3.1-127.0.3.4 and 127.0.3.9 (nobody), ports 19370-19381.
: "${TB_TMP_INSTALL:?run me from make check (TB_TMP_INSTALL unset)}"
bindir=$TB_TMP_INSTALL$TB_BINDIR
plugindir=$TB_TMP_INSTALL$TB_PLUGINDIR
py=${PYTHON3:-python3}
work=$(mktemp -d "${TMPDIR:-/tmp}/tb-forward.XXXXXX")
S=127.0.3.1 C=127.0.3.2 C2=127.0.3.3
HP=19370 SP=19372
CURL="curl -s --max-time 20"
fails=0 n=0
pids=
lock=/tmp/tribune-forward.lock
. "$(dirname "$0")/tap.sh"

cat > "$work/ports.json" <<EOF
{"ports": {"http": $HP, "dns": 19371, "server": $SP, "serf_lan": 19373, "serf_wan": 19374,
           "grpc": 19375}}
EOF

start_server() {
    "$bindir/tribune" agent -dev -node s1 -bind $S -client $S -plugin-dir "$plugindir" \
        -config-file "$work/ports.json" -log-level debug >> "$work/s1.log" 2>&1 9>&- &
    spid=$!
    pids="$pids $spid"
}
# start_client NAME ADDR [JOIN...]
start_client() {
    name=$1 addr=$2
    shift 2
    joins=
    for j in "$@"; do joins="$joins -retry-join $j"; done
    mkdir -p "$work/$name"
    # shellcheck disable=SC2086
    "$bindir/tribune" agent -node "$name" -bind "$addr" -client "$addr" $joins \
        -data-dir "$work/$name" -plugin-dir "$plugindir" -plugin http \
        -config-file "$work/ports.json" -log-level debug > "$work/$name.log" 2>&1 9>&- &
    pids="$pids $!"
    eval "pid_$name=\$!"
}
# wait_http ADDR PATH WANT_CODE: up to 15 s
wait_http() {
    i=0
    while [ $i -lt 150 ]; do
        code=$($CURL -o /dev/null -w '%{http_code}' "http://$1:$HP$2")
        [ "$code" = "$3" ] && return 0
        sleep 0.1; i=$((i + 1))
    done
    return 1
}

echo "1..35"
start_server
wait_http $S /v1/status/leader 200 || { not_ok "server starts" "$(tail -5 "$work/s1.log")"; exit 1; }
start_client c1 $C $S
wait_http $C /v1/agent/self 200 || { not_ok "client starts" "$(tail -5 "$work/c1.log")"; exit 1; }
U=http://$C:$HP/v1

# ---- KV through the client
check "kv put through the client" true "$($CURL -X PUT --data-binary hello "$U/kv/fw/a")"
check "kv get ?raw through the client" hello "$($CURL "$U/kv/fw/a?raw")"
hdr=$($CURL -D - -o /dev/null "$U/kv/fw/a")
contains "known leader header from the server" "X-Consul-KnownLeader: true" "$hdr"
contains "last contact header" "X-Consul-LastContact: 0" "$hdr"
printf '\000\001\377bin' > "$work/bin"
check "binary value with max flags" true \
    "$($CURL -X PUT --data-binary @"$work/bin" "$U/kv/fw/bin?flags=18446744073709551615")"
$CURL "$U/kv/fw/bin?raw" > "$work/bin.out"
if cmp -s "$work/bin" "$work/bin.out"; then ok "binary value round trip"; else
    not_ok "binary value round trip" "$(od -c "$work/bin.out")"; fi
contains "64-bit flags round trip" '"Flags":18446744073709551615' "$($CURL "$U/kv/fw/bin")"
# a value near the 512 KiB limit and a large listing cross many reads
head -c 500000 /dev/urandom > "$work/big"
check "500 kB value through the client" true \
    "$($CURL -X PUT --data-binary @"$work/big" "$U/kv/fw/big")"
$CURL "$U/kv/fw/big?raw" > "$work/big.out"
if cmp -s "$work/big" "$work/big.out"; then ok "500 kB value round trip"; else
    not_ok "500 kB value round trip" "$(wc -c < "$work/big.out") bytes back"; fi
txn=$($py -c 'import json; print(json.dumps([{"KV": {"Verb": "set", "Key": "fw/many/%04d" % i,
      "Value": "eA=="}} for i in range(64)]))')
for i in 1 2 3 4 5 6 7 8; do $CURL -X PUT -d "$(echo "$txn" | sed "s|fw/many/|fw/many/$i/|g")" \
    "$U/txn" > /dev/null; done
# (-dev pretty-prints: compare the data)
canon() { $py -c 'import json, sys; d = json.load(sys.stdin); print(len(d), json.dumps(d))' | md5sum; }
check "512-key listing through the client equals the server's" \
    "$($CURL "http://$S:$HP/v1/kv/fw/many?recurse" | canon)" "$($CURL "$U/kv/fw/many?recurse" | canon)"
mi=$($CURL "$U/kv/fw/a" | sed 's/.*"ModifyIndex":\([0-9]*\).*/\1/')
check "cas with a stale index refused" false "$($CURL -X PUT -d x "$U/kv/fw/a?cas=1")"
check "cas with the current index applied" true "$($CURL -X PUT -d casval "$U/kv/fw/a?cas=$mi")"
check "404 through the client" 404 "$($CURL -o /dev/null -w '%{http_code}' "$U/kv/fw/none")"
check "400 from the server's checks" 400 \
    "$($CURL -o /dev/null -w '%{http_code}' -X PUT -d x "$U/kv/fw/a?cas=abc")"

# ---- blocking queries hang on the server
idx=$($CURL -D - -o /dev/null "$U/kv/fw/a" | tr -d '\r' | sed -n 's/^X-Consul-Index: //p')
t0=$(date +%s%N)
$CURL "$U/kv/fw/a?index=$idx&wait=10s&raw" > "$work/block.out" &
bp=$!
sleep 0.5
$CURL -X PUT -d woken "$U/kv/fw/a" > /dev/null
wait $bp
t1=$(date +%s%N)
check "blocking query woken by a write" woken "$(cat "$work/block.out")"
ms=$(( (t1 - t0) / 1000000 ))
if [ $ms -lt 5000 ]; then ok "woken in ${ms} ms"; else not_ok "woken late: ${ms} ms"; fi
idx=$($CURL -D - -o /dev/null "$U/kv/fw/a" | tr -d '\r' | sed -n 's/^X-Consul-Index: //p')
t0=$(date +%s%N)
idx2=$($CURL -D - -o /dev/null "$U/kv/fw/a?index=$idx&wait=1s" | tr -d '\r' |
       sed -n 's/^X-Consul-Index: //p')
t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
if [ "$idx2" = "$idx" ] && [ $ms -ge 900 ]; then ok "blocking query times out on the server (${ms} ms)"
else not_ok "blocking timeout" "index $idx -> $idx2 after $ms ms"; fi
# an abandoned blocking query is cancelled on the server
# wait_blocked N: the server's blocked-query gauge reaches N (5 s)
wait_blocked() {
    i=0
    while [ $i -lt 50 ]; do
        blocked=$($CURL "http://$S:$HP/v1/agent/metrics" | $py -c 'import json, sys
print([int(g["Value"]) for g in json.load(sys.stdin)["Gauges"]
       if g["Name"] == "tribune.endpoint.blocked_queries"][0])')
        [ "$blocked" = "$1" ] && return 0
        sleep 0.1; i=$((i + 1))
    done
}
$CURL --max-time 2 "$U/kv/fw/a?index=$idx&wait=60s" > /dev/null &
bp=$!
wait_blocked 1
check "forwarded blocking query waits on the server" 1 "$blocked"
wait $bp
wait_blocked 0
check "abandoned blocking query leaves the server" 0 "$blocked"

# ---- catalog, health, sessions
reg='{"Node":"web1","Address":"10.0.0.1","Service":{"Service":"web","Port":80},
      "Check":{"CheckID":"web-alive","Name":"alive","Status":"passing","ServiceID":"web"}}'
check "catalog register through the client" true "$($CURL -X PUT -d "$reg" "$U/catalog/register")"
contains "health query through the client" '"Node":"web1"' "$($CURL "$U/health/service/web?passing")"
contains "catalog lists the client agent (anti-entropy forwarded)" '"Node":"c1"' \
    "$($CURL "$U/catalog/nodes")"
sid=$($CURL -X PUT -d '{"Name":"lock"}' "$U/session/create" | sed 's/.*"ID":"\([^"]*\)".*/\1/')
contains "session created on the client's node" '"Node":"c1"' "$($CURL "$U/session/info/$sid")"
check "lock acquired with the session" true "$($CURL -X PUT -d me "$U/kv/fw/lock?acquire=$sid")"
contains "agent endpoints stay local" '"NodeName":"c1"' "$($CURL "$U/agent/self")"

# ---- bad input on the server port: that connection closes, the server goes on
out=$($py - $S $SP <<'EOF'
import socket, sys, struct
res = []
for payload in (b"\x02" + struct.pack("<I", 0xffffffff), b"\x02" + struct.pack("<IBBQ", 10, 9, 1, 1),
                b"\x02" + struct.pack("<IBBQ", 11, 1, 1, 1) + b"\x07", b"\x7f junk", b"\x01raft"):
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
    s.sendall(payload)
    try:
        res.append("closed" if s.recv(100) == b"" else "answered")
    except socket.timeout:
        res.append("open")
    s.close()
print(" ".join(res))
EOF
)
check "malformed frames close the connection" "closed closed closed closed closed" "$out"
check "server unaffected" me "$($CURL "$U/kv/fw/lock?raw")"

# ---- the server dies: errors at once; it returns: the client recovers
kill -9 $spid
wait $spid 2>/dev/null
pids=$(echo " $pids " | sed "s/ $spid / /")
t0=$(date +%s%N)
resp=$($CURL -w ' %{http_code}' "$U/kv/fw/a")
t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
contains "server down: 500 rpc error" "rpc error" "$resp"
contains "server down: status" " 500" "$resp"
if [ $ms -lt 2000 ]; then ok "server down: answered in ${ms} ms"; else not_ok "slow error: $ms ms"; fi
start_server
wait_http $S /v1/status/leader 200 || not_ok "server restarts"
i=0 got=
while [ $i -lt 100 ]; do
    got=$($CURL -X PUT -d again "$U/kv/fw/a")
    [ "$got" = true ] && break
    sleep 0.1; i=$((i + 1))
done
check "client recovers when the server returns" true "$got"

# ---- a client agent whose first server is dead moves on to the next
start_client c3 127.0.3.4 127.0.3.9 $S
wait_http 127.0.3.4 /v1/agent/self 200 || not_ok "third client starts"
check "dead first server: the next one answers" again "$($CURL "http://127.0.3.4:$HP/v1/kv/fw/a?raw")"

# ---- a client agent that knows no server
start_client c2 $C2
wait_http $C2 /v1/agent/self 200 || not_ok "second client starts"
resp=$($CURL -w ' %{http_code}' "http://$C2:$HP/v1/kv/x")
check "no servers: Consul's words" "No known Consul servers 500" "$resp"

# ---- a taken server port stops a second server
cat > "$work/ports2.json" <<EOF
{"ports": {"http": 19376, "dns": 19377, "server": $SP, "serf_lan": 19378, "serf_wan": 19379,
           "grpc": 19380}}
EOF
"$bindir/tribune" agent -dev -node s2 -bind $S -client $S -plugin-dir "$plugindir" \
    -config-file "$work/ports2.json" > "$work/s2.log" 2>&1 9>&-
rc=$?
contains "server port in use refuses to start (exit $rc)" "==> Error starting agent: rpc: cannot listen on $S:$SP (server port): address already in use" "$(cat "$work/s2.log")"

# ---- clean shutdown of everything
st=0
stop $pid_c1 $pid_c2 $pid_c3 $spid || st=$?
pids=
check "agents exit cleanly" 0 $st
[ $fails -eq 0 ] || { tail -20 "$work/c1.log" | sed 's/^/# c1: /'; exit 1; }
exit 0
