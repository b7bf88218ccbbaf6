# sdk/local.mk - the public SDK: headers, pkg-config file, make fragment.
dist_sdkinclude_HEADERS += sdk/include/tribune/plugin.h
pkgconfig_DATA += sdk/tribune-sdk.pc
EXTRA_DIST += sdk/tribune-sdk.pc.in
# PGXS-like fragment for out-of-tree plugins, found with
# `pkg-config --variable=pluginmk tribune-sdk`.
dist_sdkmk_DATA += sdk/tribune-plugin.mk
