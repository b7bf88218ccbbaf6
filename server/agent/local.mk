# server/agent/local.mk - build rules for server/agent
noinst_LIBRARIES += libtbagent.a
libtbagent_a_CPPFLAGS = $(CORE_CPPFLAGS)
libtbagent_a_SOURCES =
libtbagent_a_SOURCES += server/agent/agent.h server/agent/agent.c \
	server/agent/checks.h server/agent/checks.c server/agent/log.h
libtbagent_a_SOURCES += server/agent/checks_int.h server/agent/sync.c server/agent/persist.c

check_PROGRAMS += server/agent/tests/test_local
TESTS += server/agent/tests/test_local
server_agent_tests_test_local_SOURCES = server/agent/tests/test_local.c
server_agent_tests_test_local_CPPFLAGS = $(UNIT_CPPFLAGS)
server_agent_tests_test_local_LDADD = $(CORE_LIBS) $(CUNIT_LIBS)
server_agent_tests_test_local_DEPENDENCIES = libtbcore.a
