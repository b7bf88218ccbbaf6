# plugins/dns/local.mk - build rules for plugins/dns (empty until the component lands)
