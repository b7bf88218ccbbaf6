# plugins/check_tcp/local.mk - build rules for plugins/check_tcp
#
# The bundled "tcp" check type: a loadable module linking no core symbol.
# tcp_addr.c (address splitting) is also compiled into the unit test.

TB_BUNDLED += check_tcp
plugin_LTLIBRARIES += plugins/check_tcp/check_tcp.la
plugins_check_tcp_check_tcp_la_SOURCES = plugins/check_tcp/check_tcp.c \
	plugins/check_tcp/tcp_addr.c plugins/check_tcp/tcp_addr.h
plugins_check_tcp_check_tcp_la_CPPFLAGS = $(AM_CPPFLAGS)
plugins_check_tcp_check_tcp_la_LDFLAGS = $(TB_MODULE_FLAGS)
plugins_check_tcp_check_tcp_la_LIBADD = $(UV_LIBS) $(JANSSON_LIBS)

check_PROGRAMS += plugins/check_tcp/tests/test_check_tcp_unit
TESTS += plugins/check_tcp/tests/test_check_tcp_unit
plugins_check_tcp_tests_test_check_tcp_unit_SOURCES = plugins/check_tcp/tests/test_unit.c \
	plugins/check_tcp/tcp_addr.c plugins/check_tcp/tcp_addr.h
plugins_check_tcp_tests_test_check_tcp_unit_CPPFLAGS = $(AM_CPPFLAGS) $(CUNIT_CFLAGS) \
	-I$(top_srcdir)/plugins/check_tcp
plugins_check_tcp_tests_test_check_tcp_unit_LDADD = $(CUNIT_LIBS)

EXTRA_DIST += plugins/check_tcp/README.md

# A real agent (staged install) against local servers: make check only.
TESTS += plugins/check_tcp/tests/test.sh
EXTRA_DIST += plugins/check_tcp/tests/test.sh
