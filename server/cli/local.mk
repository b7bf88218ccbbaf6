# server/cli/local.mk - build rules for server/cli
noinst_LIBRARIES += libtbcli.a
libtbcli_a_CPPFLAGS = $(CORE_CPPFLAGS)
libtbcli_a_SOURCES = \
	server/cli/cli.c \
	server/cli/cli.h \
	server/cli/cli_int.h \
	server/cli/agent_cmd.c \
	server/cli/flags.c \
	server/cli/http.c \
	server/cli/curl_api.h server/cli/curl_api.c \
	server/cli/kv.c \
	server/cli/catalog.c \
	server/cli/members.c
libtbcli_a_SOURCES += server/cli/local_cmd.c
libtbcli_a_SOURCES += server/cli/gossip_cmd.h server/cli/gossip_cmd.c
libtbcli_a_SOURCES += server/cli/keyring_cmd.c
libtbcli_a_SOURCES += server/cli/operator.c server/cli/snapshot.c

# Unit tests of the parser and formatters; the commands themselves are
# exercised end to end by the regress suite.
check_PROGRAMS += server/cli/tests/test_cli
TESTS += server/cli/tests/test_cli
server_cli_tests_test_cli_SOURCES = server/cli/tests/test_cli.c
server_cli_tests_test_cli_CPPFLAGS = $(UNIT_CPPFLAGS)
server_cli_tests_test_cli_LDADD = libtbcli.a libtbconfig.a libtbstate.a $(JANSSON_LIBS) \
	$(CURL_LIBS) $(UV_LIBS) $(ZLIB_LIBS) $(OPENSSL_LIBS) $(CUNIT_LIBS)

dist_man1_MANS = doc/tribune.1
