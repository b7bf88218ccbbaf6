# agents.sh - sourced by the gossip tests that run real agents
# (agent_serf_interop.sh, agent_keyring.sh): the installed tribune and
# plugins, a scratch directory (kept when a check failed), the agents'
# cleanup, fail (prints the logs' tails) and wait_for. Needs the serf
# binary: skipped (77) without it. Usage: . agents.sh <tmpdir-prefix>
: "${TB_TMP_INSTALL:?run me from make check (TB_TMP_INSTALL unset)}"
command -v serf >/dev/null 2>&1 || { echo "serf not installed: skipped"; exit 77; }

TRIBUNE="$TB_TMP_INSTALL$TB_BINDIR/tribune"
PLUGINS="$TB_TMP_INSTALL$TB_PLUGINDIR"
MULT="${TB_TIMEOUT_MULT:-1}"
DIR=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
PIDS=""
FAILED=0
trap 'for p in $PIDS; do kill -9 $p 2>/dev/null; done; wait 2>/dev/null; [ $FAILED = 0 ] && rm -rf "$DIR"' EXIT

fail() {
    echo "FAIL: $*"
    FAILED=1
    for f in "$DIR"/*.log "$DIR"/*.out; do [ -f "$f" ] && { echo "---- $f"; tail -n 15 "$f"; }; done
    exit 1
}

# until CMD's output matches the extended regexp, or fail after SECONDS
wait_for() {
    what=$1 re=$2 secs=$3
    shift 3
    n=$(awk "BEGIN{print int($secs * $MULT * 10)}")
    i=0
    while [ $i -lt "$n" ]; do
        if "$@" 2>/dev/null | grep -Eq "$re"; then return 0; fi
        sleep 0.1
        i=$((i + 1))
    done
    echo "last output of: $*"
    "$@" 2>&1 | sed 's/^/    /'
    fail "$what (no /$re/ within ${secs}s)"
}
