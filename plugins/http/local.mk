# plugins/http/local.mk - build rules for plugins/http (owned by that component)
#
# The bundled HTTP API plugin: a loadable module that links no core symbol.
# The socket-free parts (router, kvjson, request, settings, util) are also
# compiled into the unit test and the fuzz target.

HTTP_PURE_SOURCES = \
	plugins/http/router.c plugins/http/router.h \
	plugins/http/kvjson.c plugins/http/kvjson.h \
	plugins/http/request.c plugins/http/request.h \
	plugins/http/settings.c plugins/http/settings.h \
	plugins/http/util.c plugins/http/util.h
HTTP_PURE_SOURCES += plugins/http/txnjson.c plugins/http/txnjson.h
HTTP_SERVER_SOURCES = \
	plugins/http/http.c plugins/http/server.h \
	plugins/http/conn.c plugins/http/handlers.c
HTTP_SERVER_SOURCES += plugins/http/h_txn.c
HTTP_SERVER_SOURCES += plugins/http/render_cache.c
HTTP_SERVER_SOURCES += plugins/http/h_monitor.c
HTTP_SERVER_SOURCES += plugins/http/drain.c
HTTP_SERVER_SOURCES += plugins/http/h_agent.c
HTTP_SERVER_SOURCES += plugins/http/h_gossip.h plugins/http/h_gossip.c
HTTP_SERVER_SOURCES += plugins/http/tls.c plugins/http/tls.h
HTTP_SERVER_SOURCES += plugins/http/h_operator.c

TB_BUNDLED += http
plugin_LTLIBRARIES += plugins/http/http.la
plugins_http_http_la_SOURCES = $(HTTP_SERVER_SOURCES) $(HTTP_PURE_SOURCES)
plugins_http_http_la_CPPFLAGS = $(AM_CPPFLAGS) $(OPENSSL_CFLAGS)
plugins_http_http_la_LDFLAGS = $(TB_MODULE_FLAGS)
plugins_http_http_la_LIBADD = $(UV_LIBS) $(JANSSON_LIBS) $(HTTP_PARSER_LIBS) $(OPENSSL_LIBS)

# Unit tests of the pure parts.
check_PROGRAMS += plugins/http/tests/test_http_unit
TESTS += plugins/http/tests/test_http_unit
plugins_http_tests_test_http_unit_SOURCES = plugins/http/tests/test_unit.c $(HTTP_PURE_SOURCES)
plugins_http_tests_test_http_unit_CPPFLAGS = $(AM_CPPFLAGS) $(CUNIT_CFLAGS) -I$(top_srcdir)/plugins/http
plugins_http_tests_test_http_unit_LDADD = libtbconfig.a $(CUNIT_LIBS) $(JANSSON_LIBS) $(HTTP_PARSER_LIBS)

# The whole plugin on real sockets against a fake agent (tests/fakeapi.c).
check_PROGRAMS += plugins/http/tests/test_http_server
TESTS += plugins/http/tests/test_http_server
plugins_http_tests_test_http_server_SOURCES = plugins/http/tests/test_server.c \
	plugins/http/tests/fakeapi.c plugins/http/tests/fakeapi.h \
	$(HTTP_SERVER_SOURCES) $(HTTP_PURE_SOURCES)
plugins_http_tests_test_http_server_CPPFLAGS = $(AM_CPPFLAGS) $(CUNIT_CFLAGS) $(OPENSSL_CFLAGS) -I$(top_srcdir)/plugins/http
plugins_http_tests_test_http_server_LDADD = libtbconfig.a $(CUNIT_LIBS) $(UV_LIBS) $(JANSSON_LIBS) $(HTTP_PARSER_LIBS) $(OPENSSL_LIBS) -lpthread

# txn body numbers (txnjson.c)
check_PROGRAMS += plugins/http/tests/test_txnjson
TESTS += plugins/http/tests/test_txnjson
plugins_http_tests_test_txnjson_SOURCES = plugins/http/tests/test_txnjson.c $(HTTP_PURE_SOURCES)
plugins_http_tests_test_txnjson_CPPFLAGS = $(AM_CPPFLAGS) $(CUNIT_CFLAGS) -I$(top_srcdir)/plugins/http
plugins_http_tests_test_txnjson_LDADD = $(CUNIT_LIBS) $(JANSSON_LIBS) $(HTTP_PARSER_LIBS)

EXTRA_DIST += plugins/http/README.md plugins/http/tests/fuzz_request.c

# HTTPS listener and monitor levels in a real agent (ports 19550-19569).
TESTS += plugins/http/tests/https.sh
EXTRA_DIST += plugins/http/tests/https.sh plugins/http/tests/https_probe.py

# Blocking-query fan-out: shared reads and renderings per query (ports 19590-19595).
TESTS += plugins/http/tests/fanout.sh
EXTRA_DIST += plugins/http/tests/fanout.sh plugins/http/tests/fanout.py

# libFuzzer target over request parsing and routing; not part of `all`:
#   make fuzz-http && plugins/http/tests/fuzz_request -max_total_time=60
HTTP_FUZZ_SRCS = $(srcdir)/plugins/http/tests/fuzz_request.c \
	$(srcdir)/plugins/http/router.c $(srcdir)/plugins/http/kvjson.c \
	$(srcdir)/plugins/http/request.c $(srcdir)/plugins/http/util.c
HTTP_FUZZ_CC = clang
.PHONY: fuzz-http
fuzz-http: plugins/http/tests/fuzz_request
plugins/http/tests/fuzz_request: $(HTTP_FUZZ_SRCS)
	@$(MKDIR_P) plugins/http/tests
	$(AM_V_CCLD)$(HTTP_FUZZ_CC) -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined \
	  $(AM_CPPFLAGS) -I$(srcdir)/plugins/http $(HTTP_FUZZ_SRCS) -o $@ \
	  $(JANSSON_LIBS) $(HTTP_PARSER_LIBS)
CLEANFILES += plugins/http/tests/fuzz_request

# libFuzzer target over the HTTPS layer (tls.c); not part of `all`:
#   make fuzz-http-tls && plugins/http/tests/fuzz_tls -max_total_time=60
HTTP_FUZZ_TLS_SRCS = $(srcdir)/plugins/http/tests/fuzz_tls.c $(srcdir)/plugins/http/tls.c \
	$(srcdir)/plugins/http/router.c $(srcdir)/plugins/http/kvjson.c \
	$(srcdir)/plugins/http/request.c $(srcdir)/plugins/http/util.c
.PHONY: fuzz-http-tls
fuzz-http-tls: plugins/http/tests/fuzz_tls
plugins/http/tests/fuzz_tls: $(HTTP_FUZZ_TLS_SRCS)
	@$(MKDIR_P) plugins/http/tests
	$(AM_V_CCLD)$(HTTP_FUZZ_CC) -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined \
	  $(AM_CPPFLAGS) $(OPENSSL_CFLAGS) -I$(srcdir)/plugins/http $(HTTP_FUZZ_TLS_SRCS) -o $@ \
	  $(OPENSSL_LIBS) $(UV_LIBS) $(JANSSON_LIBS) $(HTTP_PARSER_LIBS)
CLEANFILES += plugins/http/tests/fuzz_tls
EXTRA_DIST += plugins/http/tests/fuzz_tls.c
