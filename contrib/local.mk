# contrib/local.mk - build rules for contrib (owned by that component)
