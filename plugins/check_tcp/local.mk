# plugins/check_tcp/local.mk - build rules for plugins/check_tcp (empty until the component lands)
