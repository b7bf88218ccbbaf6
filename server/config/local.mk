# server/config/local.mk - build rules for server/config (owned by that component)
