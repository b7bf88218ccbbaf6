# plugins/check_http/local.mk - build rules for plugins/check_http (empty until the component lands)
