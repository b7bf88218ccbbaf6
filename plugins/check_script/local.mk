# plugins/check_script/local.mk - build rules for plugins/check_script (empty until the component lands)
