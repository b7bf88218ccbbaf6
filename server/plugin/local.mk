# server/plugin/local.mk - build rules for server/plugin (owned by that component)
