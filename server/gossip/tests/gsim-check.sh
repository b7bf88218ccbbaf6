#!/bin/sh
# gsim-check.sh - the short simulator run of `make check` (50 nodes: join
# convergence, event delivery, 5 % loss, crash detection, determinism).
exec "${TB_BUILDDIR:-.}/server/gossip/tests/gsim" --check
