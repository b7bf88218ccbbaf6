#!/bin/sh
# valgrind.sh - run every CUnit unit test program under valgrind (memcheck,
# definite and indirect leaks are errors), then the regress scenarios with
# the dev agent itself under valgrind. Uses a configured build directory
# (default: the current directory) and builds the test programs first.
#   contrib/ci/valgrind.sh [BUILDDIR]
#   VALGRIND_REGRESS=0   skip the regress part
set -u
src=$(cd "$(dirname "$0")/../.." && pwd)
b=$(cd "${1:-.}" && pwd)
cd "$b" || exit 2
[ -f Makefile ] || { echo "valgrind.sh: $b is not a configured build directory" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "valgrind.sh: install the Debian package valgrind" >&2; exit 2; }
make -j2 >/dev/null && make -j2 check TESTS= >/dev/null || { echo "valgrind.sh: build failed" >&2; exit 1; }
VG="valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --track-origins=yes"
# the value of a make variable of this build (bindir, plugindir ...)
# (last line only: make may first regenerate Makefile and say so)
mkvar() { printf 'tb-print-var: ; @echo $(%s)\n' "$1" | make -s -f Makefile -f - tb-print-var | tail -n 1; }
TB_TMP_INSTALL=$b/tmp_install TB_BUILDDIR=$b TB_SRCDIR=$src
TB_PREFIX=$(mkvar prefix)
export TB_TMP_INSTALL TB_BUILDDIR TB_SRCDIR TB_PREFIX
mkdir -p valgrind-logs
pass=0 fail=0
# unit test programs: executables named test_* under a tests/ directory
for t in $(find . -path ./tmp_install -prune -o -path '*/tests/*' -type f -name 'test_*' -perm -u+x -print | sort); do
  case $t in *.sh|*.py) continue ;; esac
  head -c 4 "$t" | grep -q ELF || continue
  log=valgrind-logs/$(echo "$t" | sed 's|^\./||; s|/|_|g').log
  $VG "$t" >"$log" 2>&1
  rc=$?
  if [ $rc -eq 0 ]; then
    pass=$((pass + 1)); echo "PASS: $t"
  else
    fail=$((fail + 1)); echo "FAIL: $t (exit $rc, log $log)"; tail -40 "$log"
  fi
done
if [ "${VALGRIND_REGRESS:-1}" = 1 ]; then
  bindir=$TB_TMP_INSTALL$(mkvar bindir)
  plugindir=$(mkvar plugindir)
  if TB_AGENT_WRAPPER="$VG" TB_TIMEOUT_MULT=${TB_TIMEOUT_MULT:-15} \
     "$bindir/tb_regress" --bindir "$bindir" --plugin-dir "$TB_TMP_INSTALL$plugindir" \
       --inputdir "$src/regress" --outputdir valgrind-logs --port-base 18900 \
       >valgrind-logs/regress.log 2>&1; then
    pass=$((pass + 1)); echo "PASS: regress scenarios with the agent under valgrind"
  else
    fail=$((fail + 1)); echo "FAIL: regress scenarios with the agent under valgrind (valgrind-logs/regress.log)"
    tail -60 valgrind-logs/regress.log
  fi
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
