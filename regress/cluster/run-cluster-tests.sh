#!/bin/sh
# run-cluster-tests.sh - `make check` entry of the real-process Raft fault
# tests (faults.py): 3 and 5 servers of the temp install on 127.0.1.11-25,
# ports 19340-19345 (doc/regress.md). Python 3 stdlib only.
: "${TB_TMP_INSTALL:?run me from make check (TB_TMP_INSTALL unset)}"
here=$(cd "$(dirname "$0")" && pwd)
# one run at a time on this machine (several build trees run make check):
# the addresses and ports are fixed; fd 9 stays open in python3
if command -v flock >/dev/null 2>&1; then
    exec 9>/tmp/tribune-raft-faults.lock && flock -w 900 9
fi
TRIBUNE="$TB_TMP_INSTALL$TB_BINDIR/tribune" PLUGIN_DIR="$TB_TMP_INSTALL$TB_PLUGINDIR" \
  exec "${PYTHON3:-python3}" "$here/faults.py" "$@"
