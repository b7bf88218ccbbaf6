# server/endpoint/local.mk - build rules for server/endpoint
noinst_LIBRARIES += libtbendpoint.a
libtbendpoint_a_CPPFLAGS = $(CORE_CPPFLAGS)
libtbendpoint_a_SOURCES =
