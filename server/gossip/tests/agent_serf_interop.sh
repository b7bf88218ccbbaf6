#!/bin/sh
# agent_serf_interop.sh - real tribune agents and real serf 0.9.4 agents
# (Debian's `serf`) in one gossip pool on loopback: joins both ways (a
# join answers after its push/pull; one to a dead address fails), members
# seen alive on both sides, user events both ways, kill -9 marked
# failed on both sides, graceful leave seen as left; then the same pool
# with -encrypt (same key) and a tribune agent with a wrong key that must
# be refused with a log line. Addresses: a random block of 8 in
# 127.0.5.0/24 per run (parallel runs from other build trees rarely meet),
# ports 19520-19524. Skipped (77) only when the serf binary is missing.
. "$(dirname "$0")/agents.sh" tb-serf-interop
BLK=$(( $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 31 * 8 ))
ip() { echo "127.0.5.$((BLK + $1))"; }

# serf NAME IP [extra flags]: gossip on IP:19520, RPC on IP:19521
start_serf() {
    name=$1 ip=$2
    shift 2
    serf agent -node="$name" -bind="$ip:19520" -rpc-addr="$ip:19521" -log-level=debug \
        -event-handler "user=echo \"\$SERF_USER_EVENT \$(cat)\" >> $DIR/$name.events" \
        "$@" > "$DIR/$name.log" 2>&1 &
    PIDS="$PIDS $!"
    eval "pid_$name=$!"
}

# tribune NAME IP [extra flags]: client agent, gossip IP:19522, HTTP IP:19523
start_tribune() {
    name=$1 ip=$2
    shift 2
    mkdir -p "$DIR/$name.data"
    "$TRIBUNE" agent -node "$name" -data-dir "$DIR/$name.data" -bind "$ip" -client "$ip" \
        -serf-lan-port 19522 -http-port 19523 -dns-port -1 -server-port 19524 \
        -plugin-dir "$PLUGINS" -plugin http -log-level debug "$@" > "$DIR/$name.log" 2>&1 &
    PIDS="$PIDS $!"
    eval "pid_$name=$!"
}

serf_members() { serf members -rpc-addr="$1:19521"; }
tb_members() { "$TRIBUNE" members -http-addr "$1:19523"; }
tb_events() { curl -s "http://$1:19523/v1/event/list"; }

# ---------------------------------------------------------------- plain
start_serf s1 $(ip 1)
start_tribune t1 $(ip 2)
wait_for "t1 up" "alive" 10 tb_members $(ip 2)
wait_for "s1 up" "alive" 10 serf_members $(ip 1)
"$TRIBUNE" join -http-addr $(ip 2):19523 $(ip 1):19520 > "$DIR/join.out" ||
    fail "tribune join failed"
grep -q "Successfully joined cluster by contacting 1 nodes." "$DIR/join.out" || fail "join output"
# the join answered after its push/pull: s1 is a member already
tb_members $(ip 2) | grep -Eq "^s1 +$(ip 1):19520 +alive" || fail "join answered before its push/pull"
wait_for "serf sees t1 (tribune joined serf)" "^t1 +$(ip 2):19522 +alive" 10 serf_members $(ip 1)
# nothing listens at ip 8 (the next block's unused .0): the join fails
# with Consul's 500 and the CLI says so
if "$TRIBUNE" join -http-addr $(ip 2):19523 $(ip 8):19520 > "$DIR/joinbad.out" 2>&1; then
    fail "tribune join of a dead address exited 0"
fi
grep -q "^Error joining address '$(ip 8):19520': Unexpected response code: 500" \
    "$DIR/joinbad.out" || fail "tribune join error output"
grep -q "Failed to join $(ip 8):19520: connection refused" "$DIR/joinbad.out" ||
    fail "tribune join error cause"
code=$(curl -s -o "$DIR/joinbad.body" -w '%{http_code}' -X PUT \
    "http://$(ip 2):19523/v1/agent/join/$(ip 8):19520")
[ "$code" = 500 ] && grep -q "^1 error occurred:" "$DIR/joinbad.body" ||
    fail "PUT /v1/agent/join of a dead address: $code $(cat "$DIR/joinbad.body")"
echo "ok 1 - a tribune agent joins a serf pool; a join answers with its outcome"

start_serf s2 $(ip 3) -join $(ip 2):19522
start_tribune t2 $(ip 4) -retry-join $(ip 3):19520 -retry-interval 1s
for addr in $(ip 1) $(ip 3); do
    for m in s1 s2 t1 t2; do
        wait_for "serf $addr sees $m" "^$m +[0-9.:]+ +alive" 15 serf_members $addr
    done
done
for addr in $(ip 2) $(ip 4); do
    for m in s1 s2 t1 t2; do
        wait_for "tribune $addr sees $m" "^$m +[0-9.:]+ +alive" 15 tb_members $addr
    done
done
# same tags on both sides: a serf agent shows tribune's Consul tags
wait_for "serf shows tribune's tags" "role=node" 5 serf members -rpc-addr=$(ip 1):19521 -detailed
echo "ok 2 - a serf agent joins a tribune pool; 4 members alive everywhere"

serf event -rpc-addr=$(ip 1):19521 deploy v1.2 > /dev/null || fail "serf event"
wait_for "tribune t2 got serf's event" '"Payload": ?"djEuMg=="' 10 tb_events $(ip 4)
"$TRIBUNE" event -http-addr $(ip 2):19523 -name restart now > "$DIR/event.out" ||
    fail "tribune event"
grep -q "^Event ID: " "$DIR/event.out" || fail "event output"
wait_for "serf s2 ran its handler for tribune's event" "^consul:event:restart " 10 \
    cat "$DIR/s2.events"
wait_for "tribune t2 got tribune's event" '"Name": ?"restart"' 10 tb_events $(ip 4)
echo "ok 3 - user events both ways"

kill -9 $pid_t2
wait_for "serf marks t2 failed" "^t2 +[0-9.:]+ +failed" 20 serf_members $(ip 1)
wait_for "tribune marks t2 failed" "^t2 +[0-9.:]+ +failed" 20 tb_members $(ip 2)
kill -9 $pid_s2
wait_for "tribune marks s2 failed" "^s2 +[0-9.:]+ +failed" 20 tb_members $(ip 2)
wait_for "serf marks s2 failed" "^s2 +[0-9.:]+ +failed" 20 serf_members $(ip 1)
echo "ok 4 - kill -9 is detected on both sides"

"$TRIBUNE" leave -http-addr $(ip 2):19523 > "$DIR/leave.out" || fail "tribune leave"
grep -q "Graceful leave complete" "$DIR/leave.out" || fail "leave output"
wait_for "serf sees t1 left" "^t1 +[0-9.:]+ +left" 10 serf_members $(ip 1)
serf leave -rpc-addr=$(ip 1):19521 > /dev/null 2>&1
echo "ok 5 - graceful leave is seen as left"
for p in $PIDS; do kill -9 $p 2>/dev/null; done
wait 2>/dev/null
PIDS=""

# ---------------------------------------------------------------- encrypted
KEY=$("$TRIBUNE" keygen)
BAD=$("$TRIBUNE" keygen)
start_serf s3 $(ip 5) -encrypt "$KEY"
wait_for "s3 up" "alive" 10 serf_members $(ip 5)
start_tribune t3 $(ip 6) -encrypt "$KEY" -join $(ip 5):19520
wait_for "encrypted: serf sees t3" "^t3 +[0-9.:]+ +alive" 15 serf_members $(ip 5)
wait_for "encrypted: tribune sees s3" "^s3 +[0-9.:]+ +alive" 15 tb_members $(ip 6)
[ -s "$DIR/t3.data/serf/local.keyring" ] || fail "no keyring file in data_dir"
serf event -rpc-addr=$(ip 5):19521 sealed yes > /dev/null || fail "serf event (encrypted)"
wait_for "encrypted: tribune got serf's event" '"Name": ?"sealed"' 10 tb_events $(ip 6)
echo "ok 6 - encrypted pool (same key): members and events"

start_tribune t4 $(ip 7) -encrypt "$BAD" -join $(ip 5):19520
wait_for "wrong key: refused and logged by tribune" "no installed key decrypts it" 15 \
    cat "$DIR/t4.log"
wait_for "wrong key: serf logs it" "No installed keys could decrypt|decrypt" 15 cat "$DIR/s3.log"
serf_members $(ip 5) | grep -q "^t4 " && fail "serf accepted a member with the wrong key"
tb_members $(ip 7) | grep -q "^s3 " && fail "tribune accepted a pool with the wrong key"
kill -0 $pid_t4 2>/dev/null || fail "t4 died"
echo "ok 7 - a wrong key is refused and logged, no crash"

# a clean shutdown (SIGTERM: a client leaves) with exit status 0
kill -TERM $pid_t3
wait $pid_t3 || fail "t3 exit status $?"
wait_for "serf sees t3 left" "^t3 +[0-9.:]+ +left" 10 serf_members $(ip 5)
echo "ok 8 - SIGTERM on a client leaves the pool"
echo "1..8"
