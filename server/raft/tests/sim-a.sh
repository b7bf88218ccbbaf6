#!/bin/sh
# server/raft/tests/sim-a.sh - simulator seeds 1..1500 (make check).
exec "$(dirname "$0")/sim-check.sh" 1 1500
