#!/bin/sh
# fuzz-corpus.sh - `make check` part of the dns fuzz target: when clang
# with libFuzzer is available, build plugins/dns/tests/fuzz_dns, replay the
# committed corpus (plugins/dns/tests/corpus) and fuzz for a short while
# (DNS_FUZZ_SECONDS, default 10). Without clang it skips (exit 77).
set -eu
B=${TB_BUILDDIR:-.}
S=${TB_SRCDIR:-$(dirname "$0")/../../..}
command -v clang >/dev/null 2>&1 || { echo "SKIP: no clang"; exit 77; }
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n){(void)d;(void)n;return 0;}\n' \
  > "$B/plugins/dns/tests/.fz.c"
if ! clang -fsanitize=fuzzer "$B/plugins/dns/tests/.fz.c" -o "$B/plugins/dns/tests/.fz" 2>/dev/null; then
  rm -f "$B/plugins/dns/tests/.fz.c"
  echo "SKIP: clang has no libFuzzer runtime"; exit 77
fi
rm -f "$B/plugins/dns/tests/.fz.c" "$B/plugins/dns/tests/.fz"
make -C "$B" -s fuzz-dns
F="$B/plugins/dns/tests/fuzz_dns"
"$F" "$S"/plugins/dns/tests/corpus/*
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$S"/plugins/dns/tests/corpus/* "$work/"
"$F" -max_total_time="${DNS_FUZZ_SECONDS:-10}" -max_len=1024 "$work" 2>&1 | tail -3
