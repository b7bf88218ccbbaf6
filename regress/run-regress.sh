#!/bin/sh
# run-regress.sh - `make check` entry of the regression suite: runs the
# tb_regress of the temp install (tmp_install) on every scenario of the
# schedule, with a throwaway dev agent from the same install. TAP on stdout;
# results/ and regression.diffs land in $TB_BUILDDIR/regress.
: "${TB_TMP_INSTALL:?run me from make check (TB_TMP_INSTALL unset)}"
: "${TB_BINDIR:?run me from make check (TB_BINDIR unset)}"
bindir="$TB_TMP_INSTALL$TB_BINDIR"
out="$TB_BUILDDIR/regress"
mkdir -p "$out"
# Ports 18500..18599 belong to this test (the python client test uses 18600..).
exec "${PYTHON3:-python3}" "$bindir/tb_regress" \
  --bindir "$bindir" --plugin-dir "$TB_TMP_INSTALL$TB_PLUGINDIR" \
  --inputdir "$TB_SRCDIR/regress" --outputdir "$out" --port-base 18500 \
  ${TB_REGRESS_OPTS:-}
