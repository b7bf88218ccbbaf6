#!/bin/sh
# server/raft/tests/sim-check.sh - `make check` slice of the Raft simulator.
# Usage: sim-check.sh START COUNT. Runs seeds START..START+COUNT-1; a failing
# seed is printed with the command that replays it. Two slices run in
# parallel under `make -j2 check`.
set -e
sim="${TB_BUILDDIR:-.}/server/raft/tests/sim"
exec "$sim" --start "${1:-1}" --count "${2:-1000}"
