#!/bin/sh
# test.sh - `make check` test of the script check type in a real agent
# (staged install): args and legacy script checks exiting 0/1/2, a program
# that does not exist, a script sleeping past its timeout, one ignoring
# SIGTERM, one forking a daemon that keeps the output pipe, one flooding
# 200 KB of output, and one printing its environment and working
# directory. Asserts statuses and outputs in the agent and the catalog,
# that nothing a run started outlives it (process groups killed), that the
# agent leaves no zombie, and that script checks are refused unless
# enable_local_script_checks / enable_script_checks. Ports 18820-18839.
. "$TB_SRCDIR/plugins/check_script/tests/checklib.sh"
serialize check_script_ports

cat >"$work/ok.sh" <<'EOS'
#!/bin/sh
echo out
echo err >&2
exit 0
EOS
cat >"$work/daemon.sh" <<'EOS'
#!/bin/sh
# keeps stdout open in a child that ignores SIGTERM
(trap '' TERM; while :; do sleep 1; done) &
echo started
exit 0
EOS
cat >"$work/termignore.sh" <<'EOS'
#!/bin/sh
trap '' TERM
echo stubborn
while :; do sleep 0.2; done
EOS
cat >"$work/flood.sh" <<'EOS'
#!/bin/sh
head -c 200000 /dev/zero | tr '\0' y
echo TAIL
EOS
cat >"$work/env.sh" <<'EOS'
#!/bin/sh
echo "$TB_CHECK_MARK $(pwd)"
EOS
chmod +x "$work"/*.sh

cat >"$work/checks.json" <<EOJ
{"enable_local_script_checks": true,
 "checks": [
  {"id": "ok", "name": "ok", "args": ["$work/ok.sh"], "interval": "1s"},
  {"id": "warn", "name": "warn", "script": "echo warn; exit 1", "interval": "1s"},
  {"id": "crit", "name": "crit", "args": ["sh", "-c", "echo bad; exit 2"], "interval": "1s"},
  {"id": "missing", "name": "missing", "args": ["/nonexistent/prog"], "interval": "1s"},
  {"id": "slow", "name": "slow", "args": ["sleep", "30"], "interval": "2s", "timeout": "1s"},
  {"id": "stubborn", "name": "stubborn", "args": ["$work/termignore.sh"], "interval": "4s", "timeout": "1s"},
  {"id": "daemon", "name": "daemon", "args": ["$work/daemon.sh"], "interval": "4s", "timeout": "1s"},
  {"id": "flood", "name": "flood", "args": ["$work/flood.sh"], "interval": "1s"},
  {"id": "env", "name": "env", "args": ["$work/env.sh"], "interval": "1s"}
 ]}
EOJ

# ---- refused unless a script setting is on
cat >"$work/noscripts.json" <<EOJ
{"check": {"id": "s", "name": "s", "args": ["/bin/true"], "interval": "1s"}}
EOJ
agent_refuses 18826 "$work/noscripts.json" \
    "Scripts are disabled on this agent; to enable, configure 'enable_script_checks' or 'enable_local_script_checks' to true"
cat >"$work/noscripts2.json" <<EOJ
{"check": {"id": "s", "name": "s", "script": "true", "interval": "1s"}}
EOJ
agent_refuses 18826 "$work/noscripts2.json" "Scripts are disabled on this agent"
cat >"$work/badargs.json" <<EOJ
{"enable_script_checks": true, "check": {"id": "s", "name": "s", "args": [], "interval": "1s"}}
EOJ
agent_refuses 18826 "$work/badargs.json" "args: expected a non-empty array of strings"
note "script checks refused without enable_(local_)script_checks; empty args refused"

# ---- the agent runs in $work with a marker in its environment
cd "$work" || fail "cd"
TB_CHECK_MARK=mark-${work##*.}
export TB_CHECK_MARK
start_agent scriptnode 18820 "$work/checks.json"

wait_status ok passing 10
expect_output ok "out
err
"
expect_type ok script
wait_status warn warning 10
expect_output warn "warn
"
expect_type warn script
wait_status crit critical 10
expect_output crit "bad
"
wait_status missing critical 10
expect_output missing "Failed to invoke: /nonexistent/prog: no such file or directory"
wait_status env passing 10
expect_output env "$TB_CHECK_MARK $work
"
note "exit codes 0/1/2 map to passing/warning/critical; environment and cwd are the agent's"

wait_status flood passing 10
out=$(agent_field flood Output; echo x)
out=${out%x}
case "$out" in
    "Captured "*" of "*" bytes
...
"*"yyyyTAIL
") ;;
    *) fail "flood output is not the captured tail: $(printf '%s' "$out" | head -c 200)" ;;
esac
[ "${#out}" -le 4200 ] || fail "flood output is ${#out} bytes"
note "a 200 KB flood keeps only the last 4 KiB, with the Captured prefix"

wait_status slow critical 10
case "$(agent_field slow Output)" in
    "Timed out ("*") running check") ;;
    *) fail "slow output: $(agent_field slow Output)" ;;
esac
wait_status stubborn critical 10
wait_status daemon critical 10
note "timeouts are critical"

# Live processes (not zombies) whose command line mentions $1: "pid pgid".
live_marked() {
    for d in /proc/[0-9]*; do
        st=$(sed 's/^.*) //' "$d/stat" 2>/dev/null) || continue
        case "$st" in Z*|"") continue ;; esac
        tr '\0' ' ' <"$d/cmdline" 2>/dev/null | grep -qF "$1" || continue
        echo "${d#/proc/} $(echo "$st" | cut -d' ' -f3)"
    done
}
# Zombies whose parent is the agent.
agent_zombies() {
    for d in /proc/[0-9]*; do
        st=$(sed 's/^.*) //' "$d/stat" 2>/dev/null) || continue
        set -- $st
        [ "${1:-}" = Z ] && [ "${2:-}" = "$agent_pid" ] && echo "${d#/proc/}"
    done
}

# Each run of daemon/stubborn lives 1 s (timeout) + 1 s (SIGKILL grace) in a
# 4 s interval: at no time may two groups of one check be alive.
i=0
zprev=
seen=0
while [ "$i" -lt 16 ]; do
    for m in daemon.sh termignore.sh; do
        groups=$(live_marked "$work/$m" | awk '{print $2}' | sort -u | wc -l)
        [ "$groups" -le 1 ] || fail "$groups process groups of $m alive: a run outlived its timeout"
        [ "$groups" -eq 1 ] && seen=1
    done
    z=$(agent_zombies)
    for p in $z; do
        case " $zprev " in *" $p "*) fail "zombie $p of the agent not reaped" ;; esac
    done
    zprev=$z
    i=$((i + 1))
    sleep 0.5
done
[ "$seen" -eq 1 ] || fail "never saw a running daemon.sh/termignore.sh: the test is blind"
curl -sf "$base/v1/status/leader" >/dev/null || fail "the agent stopped answering"
note "forked daemons and SIGTERM-ignoring scripts are killed with their group; no zombie"

stop_agent
sleep 0.3
left=$(live_marked "$work/")
[ -z "$left" ] || fail "processes left after the agent stopped: $left"
note "nothing left running after the agent stopped"
echo "PASS: script check type"
