#!/bin/sh
# run-agent-local.sh - `make check` entry of test_agent_local.py: the agent's
# local state (TTL checks, edge-triggered writes, anti-entropy repair,
# reload, restart persistence) with python3-consul against a
# `-server -bootstrap -data-dir` agent. Ports 18910..18915. Skipped (77)
# without python3-consul, except under CI.
: "${TB_TMP_INSTALL:?run me from make check (TB_TMP_INSTALL unset)}"
here=$(cd "$(dirname "$0")" && pwd)
py=
for cand in /usr/bin/python3 "${PYTHON3:-}" python3; do
  [ -n "$cand" ] || continue
  if "$cand" -c 'import consul' 2>/dev/null; then py=$cand; break; fi
done
if [ -z "$py" ]; then
  echo "python3-consul is not installed (apt-get install python3-consul)"
  [ -n "${CI:-}" ] && exit 1
  exit 77
fi
cd "$here" && TB_PY_LOCAL_PORT_BASE=${TB_PY_LOCAL_PORT_BASE:-18910} PYTHONDONTWRITEBYTECODE=1 \
  exec "$py" -W ignore::ResourceWarning -m unittest -v test_agent_local 2>&1
