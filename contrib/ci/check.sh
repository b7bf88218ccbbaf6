#!/bin/sh
# check.sh - run `make check` in the current (configured) build directory,
# print the log of every test that did not pass, and end with the line
# `N passed, N failed`. Exit status: that of make check.
#   MAKE_JOBS (default 2)
set -u
here=$(cd "$(dirname "$0")" && pwd)
jobs=${MAKE_JOBS:-2}
make -j"$jobs" check
rc=$?
"$here/test-summary.py" . || true
if [ $rc -ne 0 ] && [ -f test-suite.log ]; then
  echo "==== test-suite.log"
  cat test-suite.log
  "$here/test-summary.py" --line .
fi
exit $rc
