# server/cli/local.mk - build rules for server/cli (owned by that component)
