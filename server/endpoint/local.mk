# server/endpoint/local.mk - build rules for server/endpoint (owned by that component)
