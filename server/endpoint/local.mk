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
libtbendpoint_a_SOURCES += server/endpoint/catalog_view.c

check_PROGRAMS += server/endpoint/tests/test_endpoint
TESTS += server/endpoint/tests/test_endpoint
server_endpoint_tests_test_endpoint_SOURCES = server/endpoint/tests/test_endpoint.c
server_endpoint_tests_test_endpoint_CPPFLAGS = $(UNIT_CPPFLAGS)
server_endpoint_tests_test_endpoint_LDADD = $(CORE_LIBS) $(CUNIT_LIBS)
server_endpoint_tests_test_endpoint_DEPENDENCIES = libtbcore.a

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
