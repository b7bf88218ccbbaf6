# server/agent/local.mk - build rules for server/agent (owned by that component)
