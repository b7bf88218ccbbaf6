# server/state/local.mk - build rules for server/state (owned by that component)
