# plugins/check_http/local.mk - build rules for plugins/check_http
#
# The bundled "http" check type: libuv + http-parser client, OpenSSL for
# https. httpreq.c (URL, request, redirects) and check_script's output.c
# (UTF-8 repair) are pure and also compiled into the unit test.

TB_BUNDLED += check_http
plugin_LTLIBRARIES += plugins/check_http/check_http.la
plugins_check_http_check_http_la_SOURCES = plugins/check_http/check_http.c \
	plugins/check_http/httpreq.c plugins/check_http/httpreq.h \
	plugins/check_script/output.c plugins/check_script/output.h
plugins_check_http_check_http_la_CPPFLAGS = $(AM_CPPFLAGS) $(OPENSSL_CFLAGS) \
	-I$(top_srcdir)/plugins/check_script
plugins_check_http_check_http_la_LDFLAGS = $(TB_MODULE_FLAGS)
plugins_check_http_check_http_la_LIBADD = $(UV_LIBS) $(JANSSON_LIBS) $(HTTP_PARSER_LIBS) $(OPENSSL_LIBS)

check_PROGRAMS += plugins/check_http/tests/test_check_http_unit
TESTS += plugins/check_http/tests/test_check_http_unit
plugins_check_http_tests_test_check_http_unit_SOURCES = plugins/check_http/tests/test_unit.c \
	plugins/check_http/httpreq.c plugins/check_http/httpreq.h
plugins_check_http_tests_test_check_http_unit_CPPFLAGS = $(AM_CPPFLAGS) $(CUNIT_CFLAGS) \
	-I$(top_srcdir)/plugins/check_http
plugins_check_http_tests_test_check_http_unit_LDADD = $(CUNIT_LIBS) $(JANSSON_LIBS) $(HTTP_PARSER_LIBS)

EXTRA_DIST += plugins/check_http/README.md

# A real agent (staged install) against local servers: make check only.
TESTS += plugins/check_http/tests/test.sh
EXTRA_DIST += plugins/check_http/tests/test.sh
EXTRA_DIST += plugins/check_http/tests/server.py
