# server/cli/local.mk - build rules for server/cli
noinst_LIBRARIES += libtbcli.a
libtbcli_a_CPPFLAGS = $(CORE_CPPFLAGS)
libtbcli_a_SOURCES =
