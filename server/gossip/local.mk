# server/gossip/local.mk - build rules for server/gossip (memberlist/serf
# wire codec, SWIM + Lifeguard and serf state machines, simulator).
#
# runtime.c is the agent's libuv glue; the endpoint methods over it
# (server/endpoint/members.c) are built here too, beside the code they call.
noinst_LIBRARIES += libtbgossip.a
libtbgossip_a_CPPFLAGS = $(CORE_CPPFLAGS)
libtbgossip_a_SOURCES = \
	server/gossip/wire.h server/gossip/wire.c \
	server/gossip/swim.h server/gossip/swim.c \
	server/gossip/serf.h server/gossip/serf.c \
	server/gossip/runtime.h server/gossip/runtime.c \
	server/gossip/keyring.h server/gossip/keyring.c \
	server/endpoint/members.h server/endpoint/members.c

TB_GOSSIP_TEST_CPPFLAGS = $(UNIT_CPPFLAGS) \
	-DTB_GOSSIP_TESTDATA='"$(abs_top_srcdir)/server/gossip/tests/data"'
TB_GOSSIP_TEST_LDADD = libtbgossip.a $(DEP_LIBS) $(CUNIT_LIBS)

check_PROGRAMS += server/gossip/tests/test_wire
TESTS += server/gossip/tests/test_wire
server_gossip_tests_test_wire_SOURCES = server/gossip/tests/test_wire.c
server_gossip_tests_test_wire_CPPFLAGS = $(TB_GOSSIP_TEST_CPPFLAGS)
server_gossip_tests_test_wire_LDADD = $(TB_GOSSIP_TEST_LDADD)

check_PROGRAMS += server/gossip/tests/test_swim
TESTS += server/gossip/tests/test_swim
server_gossip_tests_test_swim_SOURCES = server/gossip/tests/test_swim.c
server_gossip_tests_test_swim_CPPFLAGS = $(TB_GOSSIP_TEST_CPPFLAGS)
server_gossip_tests_test_swim_LDADD = $(TB_GOSSIP_TEST_LDADD)

check_PROGRAMS += server/gossip/tests/test_keyring
TESTS += server/gossip/tests/test_keyring
server_gossip_tests_test_keyring_SOURCES = server/gossip/tests/test_keyring.c
server_gossip_tests_test_keyring_CPPFLAGS = $(TB_GOSSIP_TEST_CPPFLAGS)
server_gossip_tests_test_keyring_LDADD = $(TB_GOSSIP_TEST_LDADD) libtbconfig.a $(DEP_LIBS)

EXTRA_DIST += server/gossip/tests/data

# libFuzzer target over the packet decoders; not part of `all`:
#   make fuzz-gossip && server/gossip/tests/fuzz_wire -max_total_time=60
TB_GOSSIP_FUZZ_CC = clang
TB_GOSSIP_FUZZ_FLAGS = -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined
EXTRA_DIST += server/gossip/tests/fuzz_wire.c
CLEANFILES += server/gossip/tests/fuzz_wire
.PHONY: fuzz-gossip
fuzz-gossip: $(top_srcdir)/server/gossip/tests/fuzz_wire.c $(top_srcdir)/server/gossip/wire.c \
		$(top_srcdir)/server/gossip/swim.c $(top_srcdir)/server/gossip/serf.c
	@$(MKDIR_P) server/gossip/tests
	$(AM_V_CC)$(TB_GOSSIP_FUZZ_CC) $(TB_GOSSIP_FUZZ_FLAGS) $(CORE_CPPFLAGS) \
		-o server/gossip/tests/fuzz_wire $^ $(DEP_LIBS) -lm

# Simulator: thousands of instances over a simulated lossy network.
# `gsim --check` (50 nodes, bounds + determinism) runs in make check;
# contrib/bench/gossip-sim runs the full measurements.
check_PROGRAMS += server/gossip/tests/gsim
TESTS += server/gossip/tests/gsim-check.sh
EXTRA_DIST += server/gossip/tests/gsim-check.sh
server_gossip_tests_gsim_SOURCES = server/gossip/tests/gsim.c
server_gossip_tests_gsim_CPPFLAGS = $(UNIT_CPPFLAGS)
server_gossip_tests_gsim_LDADD = libtbgossip.a $(DEP_LIBS)

# Real agents against real serf 0.9.4 agents (127.0.5.x, ports 19520-19524):
# joins both ways, events, failure detection, leave, encryption, wrong key.
TESTS += server/gossip/tests/agent_serf_interop.sh
EXTRA_DIST += server/gossip/tests/agent_serf_interop.sh
# Key rotation (127.0.4.x, ports 19530-19536): tribune server + client +
# serf agent; install, use, remove, errors.
TESTS += server/gossip/tests/agent_keyring.sh
EXTRA_DIST += server/gossip/tests/agent_keyring.sh server/gossip/tests/agents.sh
