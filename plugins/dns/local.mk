# plugins/dns/local.mk - build rules for plugins/dns (owned by that component)
#
# The bundled DNS interface plugin: a loadable module that links no core
# symbol. The pure parts (wire codec, name classification, settings) are
# also compiled into the unit test and the fuzz target.

DNS_PURE_SOURCES = \
	plugins/dns/wire.c plugins/dns/wire.h \
	plugins/dns/names.c plugins/dns/names.h
DNS_SERVER_SOURCES = \
	plugins/dns/dns.c plugins/dns/dns.h \
	plugins/dns/answer.c plugins/dns/cache.c plugins/dns/net.c

TB_BUNDLED += dns
plugin_LTLIBRARIES += plugins/dns/dns.la
plugins_dns_dns_la_SOURCES = $(DNS_SERVER_SOURCES) $(DNS_PURE_SOURCES)
plugins_dns_dns_la_CPPFLAGS = $(AM_CPPFLAGS)
plugins_dns_dns_la_CFLAGS = $(AM_CFLAGS) -O2
plugins_dns_dns_la_LDFLAGS = $(TB_MODULE_FLAGS)
plugins_dns_dns_la_LIBADD = $(UV_LIBS) $(JANSSON_LIBS)

# Codec, names and rendering against a stub API (no sockets).
check_PROGRAMS += plugins/dns/tests/test_dns_unit
TESTS += plugins/dns/tests/test_dns_unit
plugins_dns_tests_test_dns_unit_SOURCES = plugins/dns/tests/test_unit.c \
	plugins/dns/tests/fake_catalog.h plugins/dns/answer.c plugins/dns/cache.c plugins/dns/dns.h $(DNS_PURE_SOURCES)
plugins_dns_tests_test_dns_unit_CPPFLAGS = $(AM_CPPFLAGS) $(CUNIT_CFLAGS) -I$(top_srcdir)/plugins/dns
plugins_dns_tests_test_dns_unit_LDADD = $(CUNIT_LIBS) $(UV_LIBS) $(JANSSON_LIBS)

# End to end with dig and kdig against a dev agent (temp install), with a
# tiny Python resolver as the recursor; on a client agent whose reads are
# forwarded to a server; and the fuzz corpus replay.
TESTS += plugins/dns/tests/dns-e2e.sh plugins/dns/tests/fuzz-corpus.sh \
	plugins/dns/tests/dns-client.sh
EXTRA_DIST += plugins/dns/tests/dns-e2e.sh plugins/dns/tests/dns_e2e.py \
	plugins/dns/tests/dns-client.sh \
	plugins/dns/tests/fuzz-corpus.sh plugins/dns/tests/fuzz_dns.c \
	plugins/dns/tests/corpus plugins/dns/README.md

# libFuzzer target over the query path (parse, classify, render against a
# loaded cache entry); not part of `all`:
#   make fuzz-dns && plugins/dns/tests/fuzz_dns -max_total_time=60
DNS_FUZZ_SRCS = $(srcdir)/plugins/dns/tests/fuzz_dns.c \
	$(srcdir)/plugins/dns/wire.c $(srcdir)/plugins/dns/names.c \
	$(srcdir)/plugins/dns/answer.c $(srcdir)/plugins/dns/cache.c
DNS_FUZZ_CC = clang
.PHONY: fuzz-dns
fuzz-dns: plugins/dns/tests/fuzz_dns
plugins/dns/tests/fuzz_dns: $(DNS_FUZZ_SRCS) $(srcdir)/plugins/dns/dns.h \
	$(srcdir)/plugins/dns/tests/fake_catalog.h
	@$(MKDIR_P) plugins/dns/tests
	$(AM_V_CCLD)$(DNS_FUZZ_CC) -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined \
	  $(AM_CPPFLAGS) -I$(srcdir)/plugins/dns $(DNS_FUZZ_SRCS) -o $@ \
	  $(UV_LIBS) $(JANSSON_LIBS)
CLEANFILES += plugins/dns/tests/fuzz_dns
