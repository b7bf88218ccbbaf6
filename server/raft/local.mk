# server/raft/local.mk - build rules for server/raft: the Raft state machine
# (raft.c), its wire codec (codec.c), the segment log and snapshot files
# (log.c, snapshot.c), the deterministic simulator and the unit tests.
noinst_LIBRARIES += libtbraft.a
libtbraft_a_CPPFLAGS = $(CORE_CPPFLAGS)
libtbraft_a_SOURCES = server/raft/le.h server/raft/raft.h server/raft/raft.c server/raft/codec.c \
	server/raft/log.h server/raft/log.c server/raft/snapshot.c \
	server/raft/node.h server/raft/node.c server/raft/node_int.h server/raft/transport.c \
	server/raft/frame.c

TB_RAFT_TESTS = server/raft/tests/test_codec server/raft/tests/test_raft \
	server/raft/tests/test_log
check_PROGRAMS += $(TB_RAFT_TESTS) server/raft/tests/sim server/raft/tests/bench
TESTS += $(TB_RAFT_TESTS) server/raft/tests/sim-a.sh server/raft/tests/sim-b.sh
EXTRA_DIST += server/raft/tests/sim-check.sh server/raft/tests/sim-a.sh \
	server/raft/tests/sim-b.sh server/raft/tests/fuzz_msg.c
TB_RAFT_TEST_LDADD = libtbraft.a $(CUNIT_LIBS)

server_raft_tests_test_codec_SOURCES = server/raft/tests/test_codec.c
server_raft_tests_test_codec_CPPFLAGS = $(UNIT_CPPFLAGS)
server_raft_tests_test_codec_LDADD = $(TB_RAFT_TEST_LDADD)
server_raft_tests_test_raft_SOURCES = server/raft/tests/test_raft.c
server_raft_tests_test_raft_CPPFLAGS = $(UNIT_CPPFLAGS)
server_raft_tests_test_raft_LDADD = $(TB_RAFT_TEST_LDADD)
server_raft_tests_test_log_SOURCES = server/raft/tests/test_log.c
server_raft_tests_test_log_CPPFLAGS = $(UNIT_CPPFLAGS)
server_raft_tests_test_log_LDADD = $(TB_RAFT_TEST_LDADD)
# the node glue (frames, hello, a real single-server node) and a 3-server
# cluster of real agents on 127.0.2.1-4
check_PROGRAMS += server/raft/tests/node_unit
TESTS += server/raft/tests/node_unit server/raft/tests/node_cluster.sh
EXTRA_DIST += server/raft/tests/node_cluster.sh server/raft/tests/fuzz_frame.c
server_raft_tests_node_unit_SOURCES = server/raft/tests/node_unit.c
server_raft_tests_node_unit_CPPFLAGS = $(UNIT_CPPFLAGS)
server_raft_tests_node_unit_LDADD = $(CORE_LIBS) $(CUNIT_LIBS)
server_raft_tests_node_unit_DEPENDENCIES = libtbcore.a
# the simulator is optimised even in debug builds: make check runs 3000 seeds
server_raft_tests_sim_SOURCES = server/raft/tests/sim.c
server_raft_tests_sim_CPPFLAGS = $(CORE_CPPFLAGS)
server_raft_tests_sim_CFLAGS = $(AM_CFLAGS) -O2
server_raft_tests_sim_LDADD = libtbraft.a
server_raft_tests_bench_SOURCES = server/raft/tests/bench.c
server_raft_tests_bench_CPPFLAGS = $(CORE_CPPFLAGS)
server_raft_tests_bench_CFLAGS = $(AM_CFLAGS) -O2
server_raft_tests_bench_LDADD = libtbraft.a

# libFuzzer target for the wire decoder (then a step into a live node);
# not part of `make all`:
#   make fuzz-raft && ./server/raft/tests/fuzz_msg -max_total_time=60
TB_RAFT_FUZZ_CC = clang
CLEANFILES += server/raft/tests/fuzz_msg
.PHONY: fuzz-raft
fuzz-raft: $(top_srcdir)/server/raft/tests/fuzz_msg.c $(top_srcdir)/server/raft/raft.c \
		$(top_srcdir)/server/raft/codec.c
	@$(MKDIR_P) server/raft/tests
	$(AM_V_CC)$(TB_RAFT_FUZZ_CC) -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -I$(top_srcdir)/server \
		-o server/raft/tests/fuzz_msg $^

# libFuzzer target for the transport's frames and hello (frame.c), then the
# message decoder; not part of `make all`:
#   make fuzz-raft-frame && ./server/raft/tests/fuzz_frame -max_total_time=60
CLEANFILES += server/raft/tests/fuzz_frame
.PHONY: fuzz-raft-frame
fuzz-raft-frame: $(top_srcdir)/server/raft/tests/fuzz_frame.c $(top_srcdir)/server/raft/frame.c \
		$(top_srcdir)/server/raft/codec.c $(top_srcdir)/server/raft/raft.c
	@$(MKDIR_P) server/raft/tests
	$(AM_V_CC)$(TB_RAFT_FUZZ_CC) -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -I$(top_builddir) -I$(top_srcdir)/server \
		-I$(top_srcdir)/sdk/include -o server/raft/tests/fuzz_frame $^ $(JANSSON_LIBS)
