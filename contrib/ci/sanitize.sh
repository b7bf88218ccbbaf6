#!/bin/sh
# sanitize.sh - build Tribune with AddressSanitizer + UndefinedBehaviorSanitizer
# in a separate build directory and run the whole `make check` there (unit
# tests, regress scenarios with ASan agents, the python client test). The
# regress runner reports an agent that exits non-zero at shutdown (a leak
# report) as a failure.
#   contrib/ci/sanitize.sh [BUILDDIR]     (default: <source>/build-asan)
# The source tree must not be configured in place (VPATH build). No -Werror
# here: -O1 changes which warnings gcc emits; CI's -O2 build enforces them.
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
b=${1:-$src/build-asan}
if [ -f "$src/config.status" ]; then
  echo "sanitize.sh: $src is configured in place; run 'make distclean' there first" >&2
  exit 2
fi
[ -x "$src/configure" ] || (cd "$src" && autoreconf -fi)
mkdir -p "$b"
cd "$b"
[ -f Makefile ] || "$src/configure" --enable-asan CFLAGS="-O1 -g" >configure.out
make -j2 >make.out 2>&1 || { tail -50 make.out; exit 1; }
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
TB_TIMEOUT_MULT=${TB_TIMEOUT_MULT:-3} \
  "$src/contrib/ci/check.sh"
