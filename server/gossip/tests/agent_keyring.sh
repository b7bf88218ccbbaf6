#!/bin/sh
# agent_keyring.sh - gossip key rotation across real agents: a Tribune
# server (LAN + WAN pools), a Tribune client and a real serf 0.9.4 agent in
# one encrypted pool. `tribune keyring -install` reaches every member (serf
# keys -list shows the key, keyring files are rewritten), -use switches the
# primary and user events still flow, -remove of the old key works while
# removing the primary is refused with serf's message, serf keys -install
# on the serf agent reaches the tribune agents, bad keys are
# refused with 400, a dead member turns the list into an error after the
# query timeout. Addresses: a random block of 4 in 127.0.4.0/24, ports
# 19530-19536. Skipped (77) only when the serf binary is missing.
. "$(dirname "$0")/agents.sh" tb-keyring
BLK=$(( $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 63 * 4 ))
ip() { echo "127.0.4.$((BLK + $1))"; }

KEY=$("$TRIBUNE" keygen)
NEW=$("$TRIBUNE" keygen)
S=$(ip 1) T1=$(ip 2) T2=$(ip 3)
echo "[\"$KEY\"]" > "$DIR/s1.keyring"
serf agent -node=s1 -bind="$S:19530" -rpc-addr="$S:19531" -keyring-file="$DIR/s1.keyring" \
    -event-handler "user=echo \"\$SERF_USER_EVENT\" >> $DIR/s1.events" > "$DIR/s1.log" 2>&1 &
PIDS="$PIDS $!"
pid_s1=$!
# tribune NAME IP [flags]: gossip IP:19532 (WAN 19536), HTTP IP:19533
start_tribune() {
    name=$1 ip=$2
    shift 2
    mkdir -p "$DIR/$name.data"
    "$TRIBUNE" agent -node "$name" -data-dir "$DIR/$name.data" -bind "$ip" -client "$ip" \
        -serf-lan-port 19532 -serf-wan-port 19536 -http-port 19533 -dns-port -1 \
        -server-port 19534 -plugin-dir "$PLUGINS" -plugin http -encrypt "$KEY" "$@" \
        > "$DIR/$name.log" 2>&1 &
    PIDS="$PIDS $!"
}
start_tribune t1 "$T1" -server -bootstrap -retry-join "$S:19530" -retry-interval 1s
start_tribune t2 "$T2" -retry-join "$T1:19532" -retry-interval 1s
for m in s1 t1 t2; do
    wait_for "serf sees $m" "^$m +[0-9.:]+ +alive" 15 serf members -rpc-addr="$S:19531"
done
tb() { "$TRIBUNE" "$@"; }
# keys hold + and /: escape them for grep -E
KEY_RE=$(printf '%s' "$KEY" | sed 's/[+/]/\\&/g')
wait_for "list: one key on 3 LAN and 1 WAN members" "$KEY_RE \[3/3\]" 15 \
    tb keyring -list -http-addr "$T2:19533"
tb keyring -list -http-addr "$T2:19533" > "$DIR/list.out" || fail "keyring -list"
grep -q "^==> Gathering installed encryption keys...$" "$DIR/list.out" || fail "list header"
grep -q "^WAN:$" "$DIR/list.out" || fail "list shows no WAN pool"
grep -q "^dc1 (LAN):$" "$DIR/list.out" || fail "list shows no LAN pool"
grep -q "^  $KEY \[1/1\]$" "$DIR/list.out" || fail "WAN count"
echo "ok 1 - keyring -list: per pool, per key counts (serf answers too)"

tb keyring -install "$NEW" -http-addr "$T2:19533" > "$DIR/install.out" || fail "keyring -install"
grep -q "^==> Installing new gossip encryption key...$" "$DIR/install.out" || fail "install output"
serf keys -list -rpc-addr="$S:19531" > "$DIR/serfkeys.out" 2>&1 || fail "serf keys -list"
grep -q "$NEW *\[3/3\]" "$DIR/serfkeys.out" || fail "serf keys -list does not show the new key on 3/3"
grep -q "$NEW" "$DIR/s1.keyring" || fail "serf did not persist the key"
for t in t1 t2; do
    grep -q "$NEW" "$DIR/$t.data/serf/local.keyring" || fail "$t did not persist the key"
done
grep -q "$NEW" "$DIR/t1.data/serf/remote.keyring" || fail "t1 WAN keyring"
tb keyring -list -http-addr "$T1:19533" | grep -q "^  $NEW \[3/3\]$" || fail "list after install"
echo "ok 2 - keyring -install reaches every member (serf keys -list shows it, files rewritten)"

tb keyring -use "$NEW" -http-addr "$T1:19533" > "$DIR/use.out" || fail "keyring -use"
grep -q "^==> Changing primary gossip encryption key...$" "$DIR/use.out" || fail "use output"
curl -s "http://$T2:19533/v1/operator/keyring" | grep -q "\"PrimaryKeys\":{\"$NEW\":3}" ||
    fail "primary not switched on 3 LAN members"
head -c 60 "$DIR/t2.data/serf/local.keyring" | grep -q "^\[\"$NEW\"" || fail "t2 primary not first"
tb event -http-addr "$T2:19533" -name rotated > /dev/null || fail "event after -use"
wait_for "serf got an event after the primary changed" "^consul:event:rotated" 10 \
    cat "$DIR/s1.events"
echo "ok 3 - keyring -use switches the primary; events still flow"

tb keyring -remove "$NEW" -http-addr "$T2:19533" > "$DIR/rmprimary.out" 2>&1 &&
    fail "removing the primary key succeeded"
grep -q "Removing the primary key is not allowed" "$DIR/rmprimary.out" || fail "primary message"
tb keyring -remove "$KEY" -http-addr "$T2:19533" > "$DIR/remove.out" || fail "keyring -remove"
serf keys -list -rpc-addr="$S:19531" 2>&1 | grep -q "$KEY" && fail "serf still has the old key"
tb keyring -list -http-addr "$T2:19533" | grep -q "$KEY" && fail "old key still listed"
tb event -http-addr "$T2:19533" -name removed > /dev/null || fail "event after -remove"
wait_for "serf got an event after the removal" "^consul:event:removed" 10 cat "$DIR/s1.events"
echo "ok 4 - keyring -remove: the old key goes, the primary is refused"

K3=$("$TRIBUNE" keygen)
serf keys -install "$K3" -rpc-addr="$S:19531" > "$DIR/serfinstall.out" 2>&1 ||
    fail "serf keys -install"
tb keyring -list -http-addr "$T1:19533" | grep -q "^  $K3 \[3/3\]$" ||
    fail "a key installed by serf is not on every member"
grep -q "$K3" "$DIR/t2.data/serf/local.keyring" || fail "t2 did not persist serf's key"
echo "ok 5 - serf keys -install (a real serf's query) rotates the tribune agents too"

code() { curl -s -o "$DIR/body.out" -w '%{http_code}' -X "$1" -d "$2" "http://$T2:19533/v1/operator/keyring"; }
[ "$(code POST '{"Key":"not base64!"}')" = 400 ] || fail "bad base64 not 400"
[ "$(code POST '{"Key":"YWJj"}')" = 400 ] || fail "bad length not 400"
grep -q "key size" "$DIR/body.out" || fail "bad length message"
[ "$(code PUT '{}')" = 400 ] || fail "missing key not 400"
[ "$(code PUT "{\"Key\":\"$KEY\"}")" = 500 ] || fail "use of an unknown key not refused"
grep -q "Requested key is not in the keyring" "$DIR/body.out" || fail "unknown key message"
echo "ok 6 - bad keys are refused (400), unknown keys with the members' messages"

kill -9 $pid_s1
tb keyring -list -http-addr "$T2:19533" > "$DIR/dead.out" 2>&1 && fail "list with a dead member succeeded"
grep -q "2/3 nodes reported success" "$DIR/dead.out" || fail "dead member message"
echo "ok 7 - a member that does not answer makes the list fail after the query timeout"
echo "1..7"
