# server/state/local.mk - build rules for server/state
noinst_LIBRARIES += libtbstate.a
libtbstate_a_CPPFLAGS = $(CORE_CPPFLAGS)
libtbstate_a_SOURCES =
