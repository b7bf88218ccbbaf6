#!/bin/sh
# dns-e2e.sh - `make check` entry of the dns plugin's end-to-end test: runs
# dns_e2e.py (dig, kdig, a dev agent from the temp install, ports
# 18710-18719). Skips (77) without dig, kdig or the temp install.
: "${TB_TMP_INSTALL:?run me from make check (TB_TMP_INSTALL unset)}"
for t in dig kdig; do
  command -v $t >/dev/null 2>&1 || { echo "SKIP: $t not installed (dnsutils, knot-dnsutils)"; exit 77; }
done
bin="$TB_TMP_INSTALL$TB_BINDIR/tribune"
[ -x "$bin" ] || { echo "SKIP: no temp install at $bin"; exit 77; }
work=$(mktemp -d)
/usr/bin/python3 "$TB_SRCDIR/plugins/dns/tests/dns_e2e.py" "$bin" "$TB_TMP_INSTALL$TB_PLUGINDIR" "$work"
rc=$?
if [ $rc -eq 0 ]; then rm -rf "$work"; else echo "agent log kept in $work/agent.log"; fi
exit $rc
