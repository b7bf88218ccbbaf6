#!/bin/sh
# forward-cluster.sh - `make check`: routing in a 3-server Raft cluster
# (127.0.3.11-13) plus a client agent (127.0.3.14) joined to one follower,
# with curl: a write sent to a follower is applied by the leader; ?stale on
# a follower answers locally with X-Consul-LastContact; ?consistent and
# default reads on a follower come from the leader; a blocking query on a
# follower is woken by a write through the other follower; the client
# agent reads and writes through its follower; after kill -9 of the leader
# a write through a follower waits for the new leader instead of failing;
# with the majority gone writes fail with "No cluster leader" while
# ?stale still answers (KnownLeader false). Ports 19382-19387.
: "${TB_TMP_INSTALL:?run me from make check (TB_TMP_INSTALL unset)}"
bindir=$TB_TMP_INSTALL$TB_BINDIR
plugindir=$TB_TMP_INSTALL$TB_PLUGINDIR
work=$(mktemp -d "${TMPDIR:-/tmp}/tb-fwcluster.XXXXXX")
HP=19382
CURL="curl -s --max-time 20"
fails=0 n=0
pids=

lock=/tmp/tribune-forward-cluster.lock
. "$(dirname "$0")/tap.sh"

cat > "$work/ports.json" <<EOF
{"ports": {"http": $HP, "dns": 19383, "server": 19384, "serf_lan": 19385, "serf_wan": 19386,
           "grpc": 19387}}
EOF
join="-retry-join 127.0.3.11 -retry-join 127.0.3.12 -retry-join 127.0.3.13"
start_server() { # K
    mkdir -p "$work/s$1"
    # shellcheck disable=SC2086
    "$bindir/tribune" agent -server -bootstrap-expect 3 -node "s$1" -bind "127.0.3.1$1" \
        -client "127.0.3.1$1" $join -data-dir "$work/s$1" -plugin-dir "$plugindir" \
        -plugin http -config-file "$work/ports.json" -log-level debug \
        >> "$work/s$1.log" 2>&1 9>&- &
    eval "pid_s$1=\$!"
    pids="$pids $!"
}
# leader_of K: the leader's address as server K sees it ("" when none)
leader_of() { $CURL "http://127.0.3.1$1:$HP/v1/status/leader" | tr -d '"'; }
# wait_leader K...: until all of them name the same leader (30 s); sets $leader
wait_leader() {
    i=0
    while [ $i -lt 300 ]; do
        leader= same=1
        for k in "$@"; do
            l=$(leader_of "$k")
            [ -n "$l" ] || { same=0; break; }
            [ -z "$leader" ] && leader=$l
            [ "$l" = "$leader" ] || same=0
        done
        [ $same = 1 ] && [ -n "$leader" ] && return 0
        sleep 0.1; i=$((i + 1))
    done
    return 1
}

echo "1..24"
for k in 1 2 3; do start_server $k; done
if wait_leader 1 2 3; then ok "3 servers elect one leader ($leader)"; else
    not_ok "3 servers elect a leader" "$(tail -5 "$work/s1.log")"; exit 1; fi
lk=$(echo "$leader" | sed 's/^127\.0\.3\.1\([0-9]\):.*/\1/')
f1= f2=
for k in 1 2 3; do [ $k = "$lk" ] && continue; if [ -z "$f1" ]; then f1=$k; else f2=$k; fi; done
L=http://127.0.3.1$lk:$HP/v1 F1=http://127.0.3.1$f1:$HP/v1 F2=http://127.0.3.1$f2:$HP/v1

# ---- writes on a follower, reads by consistency mode
check "write sent to a follower is applied" true "$($CURL -X PUT -d one "$F1/kv/c/a")"
check "the leader has it" one "$($CURL "$L/kv/c/a?raw")"
i=0 got=
while [ $i -lt 50 ]; do
    got=$($CURL "$F2/kv/c/a?stale&raw"); [ "$got" = one ] && break; sleep 0.1; i=$((i + 1))
done
check "?stale on the other follower sees it" one "$got"
h=$($CURL -D - -o /dev/null "$F2/kv/c/a?stale")
check "?stale: effective consistency" stale "$(echo "$h" | hdr X-Consul-Effective-Consistency)"
check "?stale: known leader" true "$(echo "$h" | hdr X-Consul-KnownLeader)"
lc=$(echo "$h" | hdr X-Consul-LastContact)
case "$lc" in ''|*[!0-9]*) not_ok "?stale: last contact is ms" "$lc" ;;
    *) if [ "$lc" -lt 5000 ]; then ok "?stale: last contact ${lc} ms"; else
        not_ok "?stale: last contact too old" "$lc"; fi ;; esac
h=$($CURL -D - "$F1/kv/c/a?consistent&raw")
contains "?consistent on a follower" one "$h"
check "?consistent: effective consistency" consistent "$(echo "$h" | hdr X-Consul-Effective-Consistency)"
contains "?consistent on the leader" one "$($CURL "$L/kv/c/a?consistent&raw")"
h=$($CURL -D - -o /dev/null "$F1/kv/c/a")
check "default read on a follower comes from the leader (last contact 0)" 0 \
    "$(echo "$h" | hdr X-Consul-LastContact)"

# ---- a blocking query on a follower, woken through the other follower
idx=$(echo "$h" | hdr X-Consul-Index)
t0=$(date +%s%N)
$CURL "$F1/kv/c/a?index=$idx&wait=10s&raw" > "$work/block.out" &
bp=$!
sleep 0.5
$CURL -X PUT -d two "$F2/kv/c/a" > /dev/null
wait $bp
ms=$(ms_since "$t0")
check "blocking query on a follower woken by a write elsewhere (${ms} ms)" two "$(cat "$work/block.out")"

# ---- a client agent joined to a follower only
mkdir -p "$work/c1"
"$bindir/tribune" agent -node c1 -bind 127.0.3.14 -client 127.0.3.14 -retry-join "127.0.3.1$f1" \
    -data-dir "$work/c1" -plugin-dir "$plugindir" -plugin http \
    -config-file "$work/ports.json" -log-level debug > "$work/c1.log" 2>&1 9>&- &
pid_c1=$!
pids="$pids $pid_c1"
C=http://127.0.3.14:$HP/v1
i=0
while [ $i -lt 100 ] && [ "$($CURL -o /dev/null -w '%{http_code}' "$C/agent/self")" != 200 ]; do
    sleep 0.1; i=$((i + 1)); done
check "client -> follower -> leader write" true "$($CURL -X PUT -d three "$C/kv/c/b")"
check "client read" three "$($CURL "$C/kv/c/b?raw")"
check "client ?consistent read" three "$($CURL "$C/kv/c/b?consistent&raw")"
check "client /v1/status/leader names the leader" "\"$leader\"" "$($CURL "$C/status/leader")"
sid=$($CURL -X PUT -d '{"Name":"x","Checks":[]}' "$C/session/create" |
      sed 's/.*"ID":"\([^"]*\)".*/\1/')
contains "session through client and follower" '"Node":"c1"' "$($CURL "$C/session/info/$sid")"

# ---- the leader dies: a write through a follower waits for the next one
kill -9 "$(eval echo \$pid_s$lk)"
t0=$(date +%s%N)
got=$($CURL -w ' %{http_code}' -X PUT -d four "$F1/kv/c/a")
ms=$(ms_since "$t0")
check "write during the election waits for the new leader (${ms} ms)" "true 200" "$got"
if wait_leader "$f1" "$f2"; then ok "a new leader ($leader)"; else not_ok "new leader"; fi
check "the write is there" four "$($CURL "$F2/kv/c/a?raw")"

# ---- majority gone: no leader; ?stale still answers
kill -9 "$(eval echo \$pid_s$f2)"
t0=$(date +%s%N)
got=$($CURL -w ' %{http_code}' -X PUT -d five "$F1/kv/c/a")
ms=$(ms_since "$t0")
check "no quorum: write fails after the hold (${ms} ms)" "No cluster leader 500" "$got"
h=$($CURL -D - "$F1/kv/c/a?stale&raw")
contains "no quorum: ?stale answers" four "$h"
check "no quorum: known leader false" false "$(echo "$h" | hdr X-Consul-KnownLeader)"

st=0
stop "$(eval echo \$pid_s$f1)" $pid_c1 || st=$?
pids=
check "remaining agents exit cleanly" 0 $st
[ $fails -eq 0 ] || { for f in "$work"/s*.log; do tail -8 "$f" | sed "s|^|# $(basename "$f"): |"; done; exit 1; }
exit 0
