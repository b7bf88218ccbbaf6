# server/config/local.mk - build rules for server/config
noinst_LIBRARIES += libtbconfig.a
libtbconfig_a_CPPFLAGS = $(CORE_CPPFLAGS)
# (the logger lives in server/agent/log.c but is built here: everything uses it)
libtbconfig_a_SOURCES = \
	server/config/config.c \
	server/config/tb_config.h \
	server/config/schema.c \
	server/config/schema.h \
	server/config/util.c \
	server/agent/log.c

CONFIG_TEST_LIBS = libtbconfig.a $(JANSSON_LIBS) $(UV_LIBS) $(CUNIT_LIBS)

check_PROGRAMS += server/config/tests/test_config server/config/tests/test_util \
	server/config/tests/test_log
TESTS += server/config/tests/test_config server/config/tests/test_util \
	server/config/tests/test_log

server_config_tests_test_config_SOURCES = server/config/tests/test_config.c \
	server/config/tests/testutil.h
server_config_tests_test_config_CPPFLAGS = $(UNIT_CPPFLAGS)
server_config_tests_test_config_LDADD = $(CONFIG_TEST_LIBS)

server_config_tests_test_util_SOURCES = server/config/tests/test_util.c
server_config_tests_test_util_CPPFLAGS = $(UNIT_CPPFLAGS)
server_config_tests_test_util_LDADD = $(CONFIG_TEST_LIBS)

server_config_tests_test_log_SOURCES = server/config/tests/test_log.c
server_config_tests_test_log_CPPFLAGS = $(UNIT_CPPFLAGS)
server_config_tests_test_log_LDADD = $(CONFIG_TEST_LIBS)
