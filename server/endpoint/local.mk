# server/endpoint/local.mk - build rules for server/endpoint
noinst_LIBRARIES += libtbendpoint.a
libtbendpoint_a_CPPFLAGS = $(CORE_CPPFLAGS)
libtbendpoint_a_SOURCES =
libtbendpoint_a_SOURCES += server/endpoint/endpoint.h server/endpoint/endpoint_int.h \
	server/endpoint/endpoint.c server/endpoint/methods.c server/endpoint/normalize.c
