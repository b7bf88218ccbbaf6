# plugins/http/local.mk - build rules for plugins/http (owned by that component)
