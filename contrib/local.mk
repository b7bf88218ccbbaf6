# contrib/local.mk - example plugins built OUT of tree (only pkg-config and
# the installed tribune-plugin.mk, exactly as a plugin author would), tested
# in `make check` against the staged install (tmp_install, regress/local.mk).

# check_file: the "file" check type (doc/plugin-authors.md walks through it).
TESTS += contrib/check_file/test.sh
EXTRA_DIST += contrib/check_file/test.sh contrib/check_file/README.md \
	contrib/check_file/Makefile contrib/check_file/check_file.c \
	contrib/check_file/regress/checks.json \
	contrib/check_file/regress/scenarios/check_file.scn \
	contrib/check_file/regress/expected/check_file.out

# Benchmarks (each starts its anchor itself; see contrib/bench/README.md).
EXTRA_DIST += contrib/bench/blocking.sh contrib/bench/blockload.c contrib/bench/checks.sh \
	contrib/bench/checks_listener.py contrib/bench/http.sh contrib/bench/dns.sh \
	contrib/bench/gossip-sim contrib/bench/raft-sim
EXTRA_DIST += contrib/bench/gossip.sh contrib/bench/gossip.py
