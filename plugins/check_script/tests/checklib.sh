# checklib.sh - shared by the check plugins' `make check` scripts
# (plugins/check_{script,tcp,http}/tests/test.sh): a -dev agent from the
# staged install (tmp_install) with config-file checks, and assertions on a
# check's Status/Output both in the agent (/v1/agent/checks) and in the
# catalog (/v1/health/node/<node>). Source it, then call start_agent.
set -u

fail() { echo "FAIL: $*"; [ -n "${work:-}" ] && [ -f "$work/agent.log" ] && sed 's/^/# agent| /' "$work/agent.log" | tail -n 40; exit 1; }
note() { echo "# $*"; }

: "${TB_TMP_INSTALL:?run me from make check (TB_TMP_INSTALL unset)}"
: "${TB_BINDIR:?}" "${TB_PLUGINDIR:?}" "${TB_SRCDIR:?}"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
command -v curl >/dev/null 2>&1 || { echo "SKIP: curl not installed"; exit 77; }
bindir="$TB_TMP_INSTALL$TB_BINDIR"
plugindir="$TB_TMP_INSTALL$TB_PLUGINDIR"
checkq="$TB_SRCDIR/plugins/check_script/tests/checkq.py"
# Several `make check` runs may share this machine (parallel build dirs):
# the tests own fixed ports, so one run of a given test at a time.
# serialize NAME: hold /tmp/tribune-NAME.lock until exit (flock, util-linux).
serialize() {
    command -v flock >/dev/null 2>&1 || return 0
    exec 9>"/tmp/tribune-$1.lock" || return 0
    flock -w 600 9 || fail "another run held /tmp/tribune-$1.lock for 10 minutes"
}
work=$(mktemp -d "${TMPDIR:-/tmp}/tb_checks.XXXXXX") || fail "mktemp"
agent_pid=
bg_pids=

cleanup() {
    [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
    for p in $bg_pids; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# port_free PORT: nothing listens on 127.0.0.1:PORT
port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# write_ports BASEPORT FILE: the agent's six ports from BASEPORT
write_ports() {
    cat >"$2" <<EOP
{"ports": {"http": $1, "dns": $(($1 + 1)), "server": $(($1 + 2)), "serf_lan": $(($1 + 3)),
           "serf_wan": $(($1 + 4)), "grpc": $(($1 + 5))}}
EOP
}

# start_agent NODE BASEPORT CONFIGFILE: ports BASEPORT..BASEPORT+5
start_agent() {
    node=$1-${work##*.} # unique: an agent of another run cannot pass for ours
    hp=$2
    port_free "$hp" || fail "something already listens on 127.0.0.1:$hp"
    write_ports "$hp" "$work/ports.json"
    base="http://127.0.0.1:$hp"
    "$bindir/tribune" agent -dev -node "$node" -bind 127.0.0.1 -client 127.0.0.1 \
        -plugin-dir "$plugindir" -config-file "$work/ports.json" -config-file "$3" \
        >"$work/agent.log" 2>&1 &
    agent_pid=$!
    i=0
    until curl -sf "$base/v1/status/leader" 2>/dev/null | grep -q '"'; do
        kill -0 "$agent_pid" 2>/dev/null || { agent_pid=; fail "the agent exited at start"; }
        i=$((i + 1))
        [ "$i" -lt 200 ] || fail "the agent did not answer within 20s"
        sleep 0.1
    done
    # It answered; make sure it was ours (not one that held the port first).
    sleep 0.3
    kill -0 "$agent_pid" 2>/dev/null || { agent_pid=; fail "the agent exited at start"; }
}

# stop_agent: SIGTERM, expect exit 0
stop_agent() {
    kill -TERM "$agent_pid"
    wait "$agent_pid"
    rc=$?
    agent_pid=
    [ "$rc" -eq 0 ] || fail "the agent exited $rc after SIGTERM"
}

agent_field() { "$PY" "$checkq" "$base/v1/agent/checks" "$1" "$2"; }
catalog_field() { "$PY" "$checkq" "$base/v1/health/node/$node" "$1" "$2"; }

# wait_status ID STATUS SECONDS: the agent, then the catalog, show STATUS
# with a non-empty output (a check starts critical with an empty output
# before its first run; pass "" as $4 to accept an empty output).
wait_status() {
    i=0
    while [ "$(agent_field "$1" Status)" != "$2" ] ||
        { [ $# -lt 4 ] && [ -z "$(agent_field "$1" Output)" ]; }; do
        kill -0 "$agent_pid" 2>/dev/null || fail "the agent exited"
        i=$((i + 1))
        [ "$i" -lt $(($3 * 10)) ] ||
            fail "check $1 is '$(agent_field "$1" Status)', not $2, after $3 s; output: $(agent_field "$1" Output)"
        sleep 0.1
    done
    i=0
    while [ "$(catalog_field "$1" Status)" != "$2" ]; do
        i=$((i + 1))
        [ "$i" -lt 50 ] || fail "catalog: check $1 is '$(catalog_field "$1" Status)', not $2"
        sleep 0.1
    done
}

# expect_output ID EXACT: agent and catalog output are EXACT
expect_output() {
    got=$(agent_field "$1" Output; echo x)
    got=${got%x}
    [ "$got" = "$2" ] || fail "check $1 output is '$got', expected '$2'"
    got=$(catalog_field "$1" Output; echo x)
    got=${got%x}
    [ "$got" = "$2" ] || fail "catalog: check $1 output is '$got', expected '$2'"
}

# expect_type ID TYPE
expect_type() {
    [ "$(agent_field "$1" Type)" = "$2" ] || fail "check $1 has Type '$(agent_field "$1" Type)', not $2"
}

# agent_refuses BASEPORT CONFIGFILE PATTERN: an agent with that config
# exits 1 at start and says PATTERN (grep -F).
agent_refuses() {
    write_ports "$1" "$work/ports-refused.json"
    "$bindir/tribune" agent -dev -node refused -bind 127.0.0.1 -client 127.0.0.1 \
        -plugin-dir "$plugindir" -config-file "$work/ports-refused.json" -config-file "$2" \
        >"$work/refused.log" 2>&1
    rc=$?
    [ "$rc" -eq 1 ] || { cat "$work/refused.log"; fail "agent with $2 exited $rc, not 1"; }
    grep -qF -- "$3" "$work/refused.log" || { cat "$work/refused.log"; fail "refusal does not say: $3"; }
}
