# plugins/check_script/local.mk - build rules for plugins/check_script
#
# The bundled "script" check type (config keys "args" and legacy "script").
# output.c (bounded capture, UTF-8 repair) is pure and also used by
# check_http; tests/test.sh exercises all three check plugins in an agent.

TB_BUNDLED += check_script
plugin_LTLIBRARIES += plugins/check_script/check_script.la
plugins_check_script_check_script_la_SOURCES = plugins/check_script/check_script.c \
	plugins/check_script/output.c plugins/check_script/output.h
plugins_check_script_check_script_la_CPPFLAGS = $(AM_CPPFLAGS)
plugins_check_script_check_script_la_LDFLAGS = $(TB_MODULE_FLAGS)
plugins_check_script_check_script_la_LIBADD = $(UV_LIBS) $(JANSSON_LIBS)

check_PROGRAMS += plugins/check_script/tests/test_check_output_unit
TESTS += plugins/check_script/tests/test_check_output_unit
plugins_check_script_tests_test_check_output_unit_SOURCES = plugins/check_script/tests/test_unit.c \
	plugins/check_script/output.c plugins/check_script/output.h
plugins_check_script_tests_test_check_output_unit_CPPFLAGS = $(AM_CPPFLAGS) $(CUNIT_CFLAGS) \
	-I$(top_srcdir)/plugins/check_script
plugins_check_script_tests_test_check_output_unit_LDADD = $(CUNIT_LIBS)

EXTRA_DIST += plugins/check_script/README.md

# A real agent (staged install) against local servers: make check only.
TESTS += plugins/check_script/tests/test.sh
EXTRA_DIST += plugins/check_script/tests/test.sh
EXTRA_DIST += plugins/check_script/tests/checklib.sh plugins/check_script/tests/checkq.py
