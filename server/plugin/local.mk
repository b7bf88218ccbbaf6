# server/plugin/local.mk - build rules for server/plugin
noinst_LIBRARIES += libtbplugin.a
libtbplugin_a_CPPFLAGS = $(CORE_CPPFLAGS)
libtbplugin_a_SOURCES =
