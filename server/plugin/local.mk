# server/plugin/local.mk - build rules for server/plugin
noinst_LIBRARIES += libtbplugin.a
libtbplugin_a_CPPFLAGS = $(CORE_CPPFLAGS)
libtbplugin_a_SOURCES =
libtbplugin_a_SOURCES += server/plugin/plugin.h server/plugin/api.c

# The loader (dl.c is the only user of libltdl).
libtbplugin_a_SOURCES += server/plugin/dl.c server/plugin/loader.c

# Test plugins: built by `make check`, never installed. The bad ones carry
# hand-made magic blocks; the loader test expects their exact error lines.
TB_LOADER_TEST_PLUGINS = \
	server/plugin/tests/bad_nomagic.la \
	server/plugin/tests/bad_product.la \
	server/plugin/tests/bad_major.la \
	server/plugin/tests/bad_minor.la \
	server/plugin/tests/bad_sizes.la \
	server/plugin/tests/bad_shortmagic.la \
	server/plugin/tests/bad_noinit.la \
	server/plugin/tests/bad_initfail.la \
	server/plugin/tests/bad_undefined.la \
	server/plugin/tests/good_plugin.la \
	server/plugin/tests/good2_plugin.la
check_LTLIBRARIES += $(TB_LOADER_TEST_PLUGINS)
server_plugin_tests_bad_nomagic_la_SOURCES = server/plugin/tests/bad_nomagic.c
server_plugin_tests_bad_nomagic_la_LDFLAGS = $(TB_TEST_MODULE_FLAGS)
server_plugin_tests_bad_product_la_SOURCES = server/plugin/tests/bad_product.c
server_plugin_tests_bad_product_la_LDFLAGS = $(TB_TEST_MODULE_FLAGS)
server_plugin_tests_bad_major_la_SOURCES = server/plugin/tests/bad_major.c
server_plugin_tests_bad_major_la_LDFLAGS = $(TB_TEST_MODULE_FLAGS)
server_plugin_tests_bad_minor_la_SOURCES = server/plugin/tests/bad_minor.c
server_plugin_tests_bad_minor_la_LDFLAGS = $(TB_TEST_MODULE_FLAGS)
server_plugin_tests_bad_sizes_la_SOURCES = server/plugin/tests/bad_sizes.c
server_plugin_tests_bad_sizes_la_LDFLAGS = $(TB_TEST_MODULE_FLAGS)
server_plugin_tests_bad_shortmagic_la_SOURCES = server/plugin/tests/bad_shortmagic.c
server_plugin_tests_bad_shortmagic_la_LDFLAGS = $(TB_TEST_MODULE_FLAGS)
server_plugin_tests_bad_noinit_la_SOURCES = server/plugin/tests/bad_noinit.c
server_plugin_tests_bad_noinit_la_LDFLAGS = $(TB_TEST_MODULE_FLAGS)
server_plugin_tests_bad_initfail_la_SOURCES = server/plugin/tests/bad_initfail.c
server_plugin_tests_bad_initfail_la_LDFLAGS = $(TB_TEST_MODULE_FLAGS)
# Links against a library that does not define the symbol it calls: only a
# loader that resolves at load time (RTLD_NOW) refuses it.
server_plugin_tests_bad_undefined_la_SOURCES = server/plugin/tests/bad_undefined.c
server_plugin_tests_bad_undefined_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere $(SAN_LDFLAGS)
server_plugin_tests_good_plugin_la_SOURCES = server/plugin/tests/good_plugin.c
server_plugin_tests_good_plugin_la_LDFLAGS = $(TB_TEST_MODULE_FLAGS)
server_plugin_tests_good_plugin_la_LIBADD = $(JANSSON_LIBS)
# The same source as a second plugin ("good2"), to see start/stop order.
server_plugin_tests_good2_plugin_la_SOURCES = server/plugin/tests/good_plugin.c
server_plugin_tests_good2_plugin_la_CPPFLAGS = $(AM_CPPFLAGS) -DGOOD_NAME='"good2"' -DGOOD_KEY='"good2_probe"'
server_plugin_tests_good2_plugin_la_LDFLAGS = $(TB_TEST_MODULE_FLAGS)
server_plugin_tests_good2_plugin_la_LIBADD = $(JANSSON_LIBS)

check_PROGRAMS += server/plugin/tests/test_loader
TESTS += server/plugin/tests/test_loader
server_plugin_tests_test_loader_SOURCES = server/plugin/tests/test_loader.c
server_plugin_tests_test_loader_CPPFLAGS = $(UNIT_CPPFLAGS) \
	-DTB_TEST_PLUGIN_DIR='"$(abs_builddir)/server/plugin/tests/.libs"' \
	-DTB_TEST_LA_DIR='"$(abs_builddir)/server/plugin/tests"'
server_plugin_tests_test_loader_LDADD = $(CORE_LIBS) $(CUNIT_LIBS)
server_plugin_tests_test_loader_DEPENDENCIES = libtbcore.a $(TB_LOADER_TEST_PLUGINS)
