#!/bin/sh
# run-python-tests.sh - `make check` entry of the python3-consul end-to-end
# test. Debian's python3-consul lives in /usr/lib/python3/dist-packages, so
# prefer /usr/bin/python3 (a pyenv python earlier in PATH cannot see it).
# Skipped (exit 77) when no python can import consul, except under CI, where
# contrib/install-deps.sh installed it and its absence is a failure.
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
# Ports 18600..18605 belong to this test.
cd "$here" && TB_PY_PORT_BASE=${TB_PY_PORT_BASE:-18600} PYTHONDONTWRITEBYTECODE=1 \
  exec "$py" -W ignore::ResourceWarning -m unittest -v test_consul_client test_api 2>&1
