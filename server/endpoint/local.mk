# server/endpoint/local.mk - build rules for server/endpoint
noinst_LIBRARIES += libtbendpoint.a
libtbendpoint_a_CPPFLAGS = $(CORE_CPPFLAGS)
libtbendpoint_a_SOURCES =
libtbendpoint_a_SOURCES += server/endpoint/endpoint.h server/endpoint/endpoint_int.h \
	server/endpoint/endpoint.c server/endpoint/methods.c server/endpoint/normalize.c
libtbendpoint_a_SOURCES += server/endpoint/txn.c
libtbendpoint_a_SOURCES += server/endpoint/filter.c server/endpoint/filter.h
libtbendpoint_a_SOURCES += server/endpoint/coord.c
libtbendpoint_a_SOURCES += server/endpoint/coalesce.c
libtbendpoint_a_SOURCES += server/endpoint/agent_info.c
libtbendpoint_a_SOURCES += server/endpoint/agent_methods.c
libtbendpoint_a_SOURCES += server/endpoint/rpc_int.h server/endpoint/rpc_codec.c \
	server/endpoint/rpc.c server/endpoint/forward.c
libtbendpoint_a_SOURCES += server/endpoint/catalog_view.c
libtbendpoint_a_SOURCES += server/endpoint/operator.c

check_PROGRAMS += server/endpoint/tests/test_endpoint
TESTS += server/endpoint/tests/test_endpoint
server_endpoint_tests_test_endpoint_SOURCES = server/endpoint/tests/test_endpoint.c
server_endpoint_tests_test_endpoint_CPPFLAGS = $(UNIT_CPPFLAGS)
server_endpoint_tests_test_endpoint_LDADD = $(CORE_LIBS) $(CUNIT_LIBS)
server_endpoint_tests_test_endpoint_DEPENDENCIES = libtbcore.a

check_PROGRAMS += server/endpoint/tests/test_rpc_codec
TESTS += server/endpoint/tests/test_rpc_codec
server_endpoint_tests_test_rpc_codec_SOURCES = server/endpoint/tests/test_rpc_codec.c
server_endpoint_tests_test_rpc_codec_CPPFLAGS = $(UNIT_CPPFLAGS)
server_endpoint_tests_test_rpc_codec_LDADD = $(CORE_LIBS) $(CUNIT_LIBS)
server_endpoint_tests_test_rpc_codec_DEPENDENCIES = libtbcore.a

# client agent -> server forwarding end to end (127.0.3.1-3, ports 19370-19381)
TESTS += server/endpoint/tests/forward.sh
EXTRA_DIST += server/endpoint/tests/forward.sh server/endpoint/tests/tap.sh server/endpoint/tests/fuzz_rpc.c
# 3 Raft servers + a client agent (127.0.3.11-14, ports 19382-19387)
TESTS += server/endpoint/tests/forward-cluster.sh
EXTRA_DIST += server/endpoint/tests/forward-cluster.sh

# libFuzzer target over the forwarding RPC's frame decoders; not part of
# `all`:  make fuzz-rpc && server/endpoint/tests/fuzz_rpc -max_total_time=60
TB_RPC_FUZZ_CC = clang
CLEANFILES += server/endpoint/tests/fuzz_rpc
.PHONY: fuzz-rpc
fuzz-rpc: $(top_srcdir)/server/endpoint/tests/fuzz_rpc.c $(top_srcdir)/server/endpoint/rpc_codec.c
	@$(MKDIR_P) server/endpoint/tests
	$(AM_V_CC)$(TB_RPC_FUZZ_CC) -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -I. $(CORE_CPPFLAGS) \
		-o server/endpoint/tests/fuzz_rpc $^ $(DEP_LIBS)

check_PROGRAMS += server/endpoint/tests/test_filter
TESTS += server/endpoint/tests/test_filter
server_endpoint_tests_test_filter_SOURCES = server/endpoint/tests/test_filter.c
server_endpoint_tests_test_filter_CPPFLAGS = $(UNIT_CPPFLAGS)
server_endpoint_tests_test_filter_LDADD = $(CORE_LIBS) $(CUNIT_LIBS)
server_endpoint_tests_test_filter_DEPENDENCIES = libtbcore.a

check_PROGRAMS += server/endpoint/tests/test_catalog_view
TESTS += server/endpoint/tests/test_catalog_view
server_endpoint_tests_test_catalog_view_SOURCES = server/endpoint/tests/test_catalog_view.c
server_endpoint_tests_test_catalog_view_CPPFLAGS = $(UNIT_CPPFLAGS)
server_endpoint_tests_test_catalog_view_LDADD = $(CORE_LIBS) $(CUNIT_LIBS)
server_endpoint_tests_test_catalog_view_DEPENDENCIES = libtbcore.a
