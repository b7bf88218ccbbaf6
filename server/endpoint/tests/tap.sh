# tap.sh - sourced by forward.sh and forward-cluster.sh: a per-machine run
# lock, agent stop with a SIGKILL fallback, cleanup of the work directory,
# and TAP helpers (ok, not_ok, check, contains, hdr, ms_since).
# The caller sets: lock (path), work, pids, fails=0, n=0.

# One run at a time per machine: other checkouts' `make check` use the same
# fixed addresses and ports (the agents do not inherit the lock). A run
# that cannot get it in 2 minutes is skipped, not failed.
if command -v flock >/dev/null 2>&1 && exec 9>"$lock"; then
    flock -w 120 9 || { echo "# SKIP: another run has held $lock for 2 minutes"; exit 77; }
fi

# stop PID...: SIGTERM, SIGKILL after 15 s (an agent that hangs must not
# hang the suite); returns the first non-zero exit status.
stop() {
    st=0
    kill -TERM "$@" 2>/dev/null
    for p in "$@"; do
        i=0
        while [ $i -lt 150 ] && kill -0 "$p" 2>/dev/null &&
              [ "$(ps -o stat= -p "$p" 2>/dev/null | cut -c1)" != Z ]; do
            sleep 0.1; i=$((i + 1))
        done
        if [ $i -ge 150 ]; then echo "# agent $p ignored SIGTERM for 15 s"; kill -KILL "$p"; fi
        wait "$p" || { r=$?; [ $st = 0 ] && st=$r; }
    done
    return $st
}

cleanup() {
    [ -n "$pids" ] && stop $pids 2>/dev/null
    if [ $fails -eq 0 ]; then rm -rf "$work"; else echo "# kept $work"; fi
}
trap cleanup EXIT
trap 'exit 2' INT TERM

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
    n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"
    [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/#   /'
    return 0
}
# check NAME WANT GOT
check() { if [ "$3" = "$2" ]; then ok "$1"; else not_ok "$1" "want: $2
got:  $3"; fi; }
# contains NAME NEEDLE HAYSTACK
contains() {
    case "$3" in *"$2"*) ok "$1" ;; *) not_ok "$1" "want substring: $2
got: $3" ;; esac
}
# hdr NAME < headers: the header's value
hdr() { tr -d '\r' | sed -n "s/^$1: //p"; }
# ms_since START_NS
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
