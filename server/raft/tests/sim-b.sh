#!/bin/sh
# server/raft/tests/sim-b.sh - simulator seeds 1501..3000 (make check).
exec "$(dirname "$0")/sim-check.sh" 1501 1500
