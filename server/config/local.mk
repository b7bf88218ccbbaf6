# server/config/local.mk - build rules for server/config
noinst_LIBRARIES += libtbconfig.a
libtbconfig_a_CPPFLAGS = $(CORE_CPPFLAGS)
libtbconfig_a_SOURCES =
# (the logger lives in server/agent/log.c but is built here: everything uses it)
