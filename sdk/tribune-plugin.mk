# tribune-plugin.mk - build, install and test a Tribune plugin out of tree
# (after PostgreSQL's PGXS). GNU make only. Your Makefile:
#
#   PLUGIN = check_file                 # the plugin: builds check_file.so
#   SRCS = check_file.c                 # its C sources
#   REGRESS = check_file                # optional: scenarios for installcheck
#   REGRESS_OPTS = --config $(CURDIR)/regress/agent.json   # optional
#   PKG_CONFIG ?= pkg-config
#   include $(shell $(PKG_CONFIG) --variable=pluginmk tribune-sdk)
#
# Targets: all (default), install, uninstall, installcheck, clean.
# Optional variables: PLUGIN_CPPFLAGS, PLUGIN_CFLAGS, PLUGIN_LDFLAGS,
# PLUGIN_LIBS (extra libraries, e.g. -lcurl), EXTRA_CLEAN, REGRESS_DIR
# (default: regress, holding scenarios/ and expected/), EXTRA_REGRESS_OPTS
# (for the person running the tests, e.g. --port-base 19200), and the
# usual CC, CFLAGS, CPPFLAGS, LDFLAGS, DESTDIR.
#
# Against a staged install (make install DESTDIR=/stage):
#   make PKG_CONFIG="pkg-config --define-variable=prefix=/stage/usr/local"
# with PKG_CONFIG_PATH=/stage/usr/local/lib/pkgconfig in the environment.

ifeq ($(strip $(PLUGIN)),)
$(error tribune-plugin.mk: set PLUGIN = <name> before including it)
endif
ifeq ($(strip $(SRCS)),)
$(error tribune-plugin.mk: set SRCS = <sources of $(PLUGIN)> before including it)
endif

PKG_CONFIG ?= pkg-config

# Everything the SDK knows about this installation, asked once.
TB_SDK_VERSION := $(shell $(PKG_CONFIG) --modversion tribune-sdk)
ifeq ($(strip $(TB_SDK_VERSION)),)
$(error tribune-plugin.mk: "$(PKG_CONFIG) tribune-sdk" failed: is PKG_CONFIG_PATH right?)
endif
TB_SDK_CFLAGS := $(shell $(PKG_CONFIG) --cflags tribune-sdk)
# Plugins link no core symbols, only the libraries they use themselves.
TB_SDK_LIBS := $(shell $(PKG_CONFIG) --libs libuv jansson)
PLUGINDIR := $(shell $(PKG_CONFIG) --variable=plugindir tribune-sdk)
BINDIR := $(shell $(PKG_CONFIG) --variable=bindir tribune-sdk)
SDK_MAJOR := $(shell $(PKG_CONFIG) --variable=sdk_major tribune-sdk)
SDK_MINOR := $(shell $(PKG_CONFIG) --variable=sdk_minor tribune-sdk)

REGRESS_DIR ?= regress
TB_REGRESS ?= $(BINDIR)/tb_regress

CC ?= cc
CFLAGS ?= -O2 -g
# Position-independent, and nothing exported but what TB_EXPORT marks
# (tb_plugin_magic and tb_plugin_init).
TB_PLUGIN_BASE_CFLAGS = -std=gnu11 -fPIC -fvisibility=hidden -Wall -Wextra \
	-Wno-unused-parameter
# --no-undefined: a symbol that no linked library defines fails here, at
# build time, instead of at load time on someone's agent.
TB_PLUGIN_BASE_LDFLAGS = -shared -Wl,--no-undefined

TB_PLUGIN_SO = $(PLUGIN).so
TB_PLUGIN_OBJS = $(patsubst %.c,%.o,$(filter %.c,$(SRCS)))

all: $(TB_PLUGIN_SO)

$(TB_PLUGIN_OBJS): %.o: %.c
	$(CC) $(TB_SDK_CFLAGS) $(PLUGIN_CPPFLAGS) $(CPPFLAGS) $(TB_PLUGIN_BASE_CFLAGS) \
	  $(PLUGIN_CFLAGS) $(CFLAGS) -c -o $@ $<

$(TB_PLUGIN_SO): $(TB_PLUGIN_OBJS)
	$(CC) $(TB_PLUGIN_BASE_LDFLAGS) $(CFLAGS) $(PLUGIN_LDFLAGS) $(LDFLAGS) -o $@ \
	  $(TB_PLUGIN_OBJS) $(PLUGIN_LIBS) $(TB_SDK_LIBS) $(LIBS)

install: all
	mkdir -p '$(DESTDIR)$(PLUGINDIR)'
	install -m 755 $(TB_PLUGIN_SO) '$(DESTDIR)$(PLUGINDIR)/$(TB_PLUGIN_SO)'

uninstall:
	rm -f '$(DESTDIR)$(PLUGINDIR)/$(TB_PLUGIN_SO)'

# The installed plugin, loaded into a throwaway dev agent by the installed
# tb_regress, runs the REGRESS scenarios ($(REGRESS_DIR)/scenarios/NAME.scn,
# compared with $(REGRESS_DIR)/expected/NAME.out). Results and
# regression.diffs land in $(REGRESS_DIR).
installcheck:
ifeq ($(strip $(REGRESS)),)
	@echo "tribune-plugin.mk: no REGRESS scenarios for $(PLUGIN)"
else
	$(TB_REGRESS) --bindir '$(BINDIR)' --plugin-dir '$(PLUGINDIR)' \
	  --load-plugin '$(PLUGINDIR)/$(TB_PLUGIN_SO)' \
	  --inputdir '$(REGRESS_DIR)' --outputdir '$(REGRESS_DIR)' \
	  $(REGRESS_OPTS) $(EXTRA_REGRESS_OPTS) $(REGRESS)
endif

clean:
	rm -f $(TB_PLUGIN_SO) $(TB_PLUGIN_OBJS) $(EXTRA_CLEAN)
	rm -rf '$(REGRESS_DIR)/results' '$(REGRESS_DIR)/regression.out' \
	  '$(REGRESS_DIR)/regression.diffs'

# What this Makefile would use (handy when a staged install misbehaves).
tribune-sdk-info:
	@echo "SDK $(SDK_MAJOR).$(SDK_MINOR) (tribune-sdk $(TB_SDK_VERSION))"
	@echo "cflags:    $(TB_SDK_CFLAGS)"
	@echo "libs:      $(TB_SDK_LIBS)"
	@echo "plugindir: $(PLUGINDIR)"
	@echo "bindir:    $(BINDIR)"

.PHONY: all install uninstall installcheck clean tribune-sdk-info
