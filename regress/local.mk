# regress/local.mk - build rules for regress (owned by that component)
