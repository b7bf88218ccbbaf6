#!/bin/sh
# fanout.sh - `make check` test of the blocking-query fan-out in a real agent
# (staged install): waiters with different filters, tokens and endpoints on
# one service and one KV prefix, woken by one write, each get the answer a
# fresh GET gives (shared reads and shared renderings never cross queries).
# The work is in fanout.py. Ports 19590-19595.
. "$TB_SRCDIR/plugins/check_script/tests/checklib.sh"
serialize http_fanout_ports
printf '{"log_level": "warn"}\n' >"$work/fanout.json"
start_agent fanout 19590 "$work/fanout.json"
"$PY" "$TB_SRCDIR/plugins/http/tests/fanout.py" 19590 2 || fail "fanout.py"
stop_agent
echo "ok"
