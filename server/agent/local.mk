# server/agent/local.mk - build rules for server/agent
noinst_LIBRARIES += libtbagent.a
libtbagent_a_CPPFLAGS = $(CORE_CPPFLAGS)
libtbagent_a_SOURCES =
libtbagent_a_SOURCES += server/agent/agent.h server/agent/agent.c \
	server/agent/checks.h server/agent/checks.c server/agent/log.h
libtbagent_a_SOURCES += server/agent/checks_int.h server/agent/sync.c server/agent/persist.c
