# server/agent/local.mk - build rules for server/agent
noinst_LIBRARIES += libtbagent.a
libtbagent_a_CPPFLAGS = $(CORE_CPPFLAGS)
libtbagent_a_SOURCES =
