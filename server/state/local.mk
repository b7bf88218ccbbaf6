# server/state/local.mk - build rules for server/state
noinst_LIBRARIES += libtbstate.a
libtbstate_a_CPPFLAGS = $(CORE_CPPFLAGS)
libtbstate_a_SOURCES = \
	server/state/state.h server/state/watch.h server/state/state_int.h \
	server/state/watch.c server/state/cmd.c server/state/state.c \
	server/state/kv.c server/state/catalog.c server/state/session.c \
	server/state/txn.c server/state/snapshot.c \
	server/state/archive.h server/state/archive.c

# unit tests (CUnit)
TB_STATE_TESTS = \
	server/state/tests/test_watch server/state/tests/test_cmd \
	server/state/tests/test_kv server/state/tests/test_catalog \
	server/state/tests/test_session server/state/tests/test_txn \
	server/state/tests/test_snapshot
check_PROGRAMS += $(TB_STATE_TESTS)
TESTS += $(TB_STATE_TESTS)
TB_STATE_TEST_HELPERS = server/state/tests/helpers.c server/state/tests/helpers.h
TB_STATE_TEST_LDADD = libtbstate.a $(DEP_LIBS) $(CUNIT_LIBS)

server_state_tests_test_watch_SOURCES = server/state/tests/test_watch.c $(TB_STATE_TEST_HELPERS)
server_state_tests_test_watch_CPPFLAGS = $(UNIT_CPPFLAGS)
server_state_tests_test_watch_LDADD = $(TB_STATE_TEST_LDADD)
server_state_tests_test_cmd_SOURCES = server/state/tests/test_cmd.c $(TB_STATE_TEST_HELPERS)
server_state_tests_test_cmd_CPPFLAGS = $(UNIT_CPPFLAGS)
server_state_tests_test_cmd_LDADD = $(TB_STATE_TEST_LDADD)
server_state_tests_test_kv_SOURCES = server/state/tests/test_kv.c $(TB_STATE_TEST_HELPERS)
server_state_tests_test_kv_CPPFLAGS = $(UNIT_CPPFLAGS)
server_state_tests_test_kv_LDADD = $(TB_STATE_TEST_LDADD)
server_state_tests_test_catalog_SOURCES = server/state/tests/test_catalog.c $(TB_STATE_TEST_HELPERS)
server_state_tests_test_catalog_CPPFLAGS = $(UNIT_CPPFLAGS)
server_state_tests_test_catalog_LDADD = $(TB_STATE_TEST_LDADD)
server_state_tests_test_session_SOURCES = server/state/tests/test_session.c $(TB_STATE_TEST_HELPERS)
server_state_tests_test_session_CPPFLAGS = $(UNIT_CPPFLAGS)
server_state_tests_test_session_LDADD = $(TB_STATE_TEST_LDADD)
server_state_tests_test_txn_SOURCES = server/state/tests/test_txn.c $(TB_STATE_TEST_HELPERS)
server_state_tests_test_txn_CPPFLAGS = $(UNIT_CPPFLAGS)
server_state_tests_test_txn_LDADD = $(TB_STATE_TEST_LDADD)
server_state_tests_test_snapshot_SOURCES = server/state/tests/test_snapshot.c $(TB_STATE_TEST_HELPERS)
server_state_tests_test_snapshot_CPPFLAGS = $(UNIT_CPPFLAGS)
server_state_tests_test_snapshot_LDADD = $(TB_STATE_TEST_LDADD)

# libFuzzer target for command decoding + apply; not part of `make all`.
#   make fuzz-state && ./server/state/tests/fuzz_cmd -max_total_time=60 corpus/
TB_STATE_FUZZ_CC = clang
TB_STATE_FUZZ_FLAGS = -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined
EXTRA_DIST += server/state/tests/fuzz_cmd.c
CLEANFILES += server/state/tests/fuzz_cmd
.PHONY: fuzz-state
fuzz-state: $(top_srcdir)/server/state/tests/fuzz_cmd.c $(filter %.c,$(libtbstate_a_SOURCES:%=$(top_srcdir)/%))
	@$(MKDIR_P) server/state/tests
	$(AM_V_CC)$(TB_STATE_FUZZ_CC) $(TB_STATE_FUZZ_FLAGS) $(CORE_CPPFLAGS) \
		-o server/state/tests/fuzz_cmd $^ $(DEP_LIBS)
