# regress/local.mk - the regression suite: tb_regress (installed runner),
# scenarios, the temp install every end-to-end test runs from, and the test
# environment shared by all TESTS scripts.

# ---- the runner: tb_regress.in with the install directories filled in
bin_SCRIPTS += regress/tb_regress
CLEANFILES += regress/tb_regress
regress/tb_regress: $(srcdir)/regress/tb_regress.in Makefile
	$(AM_V_GEN)$(MKDIR_P) regress && \
	sed -e 's|@PYTHON3[@]|$(PYTHON3)|g' -e 's|@bindir[@]|$(bindir)|g' \
	    -e 's|@plugindir[@]|$(plugindir)|g' -e 's|@regressdir[@]|$(regressdir)|g' \
	    -e 's|@VERSION[@]|$(VERSION)|g' $(srcdir)/regress/tb_regress.in > $@.tmp && \
	chmod +x $@.tmp && mv $@.tmp $@

# ---- scenarios and expected outputs, installed for `make installcheck`
# and as examples for plugin authors (tribune-plugin.mk's installcheck).
dist_regress_DATA += regress/schedule
regressscenariosdir = $(regressdir)/scenarios
dist_regressscenarios_DATA = \
	regress/scenarios/kv.scn regress/scenarios/catalog.scn \
	regress/scenarios/health.scn regress/scenarios/blocking.scn \
	regress/scenarios/sessions.scn regress/scenarios/cli.scn \
	regress/scenarios/bad_input.scn regress/scenarios/bad_plugin.scn
dist_regressscenarios_DATA += regress/scenarios/txn.scn
dist_regressscenarios_DATA += regress/scenarios/agent_local.scn regress/scenarios/agent_sessions.scn
dist_regressscenarios_DATA += regress/scenarios/agent_cli.scn
# (agent-svc.json is listed after dist_regressdata_DATA is defined)
dist_regressscenarios_DATA += regress/scenarios/filter.scn
dist_regressscenarios_DATA += regress/scenarios/agent_api.scn
dist_regressscenarios_DATA += regress/scenarios/operator.scn
regressdatadir = $(regressdir)/scenarios/data
dist_regressdata_DATA = \
	regress/scenarios/data/node-web.json regress/scenarios/data/valid.json \
	regress/scenarios/data/invalid.json
dist_regressdata_DATA += regress/scenarios/data/txn-129.json
dist_regressdata_DATA += regress/scenarios/data/agent-svc.json
dist_regressdata_DATA += regress/scenarios/data/snapshot-truncated.snap \
	regress/scenarios/data/snapshot-badsum.snap
regressexpecteddir = $(regressdir)/expected
dist_regressexpected_DATA = \
	regress/expected/kv.out regress/expected/catalog.out \
	regress/expected/health.out regress/expected/blocking.out \
	regress/expected/sessions.out regress/expected/cli.out \
	regress/expected/bad_input.out regress/expected/bad_plugin.out
dist_regressexpected_DATA += regress/expected/txn.out
dist_regressexpected_DATA += regress/expected/agent_local.out regress/expected/agent_sessions.out
dist_regressexpected_DATA += regress/expected/agent_cli.out
dist_regressexpected_DATA += regress/expected/filter.out
dist_regressexpected_DATA += regress/expected/agent_api.out
dist_regressexpected_DATA += regress/expected/operator.out

# ---- temp install (PostgreSQL's tmp_install): `make check` installs the
# whole tree under $(abs_top_builddir)/tmp_install before any test runs, so
# end-to-end tests use exactly what `make install` would put in place.
TB_TMP_INSTALL_DEPS = $(bin_PROGRAMS) $(bin_SCRIPTS) $(plugin_LTLIBRARIES) \
	$(pkgconfig_DATA) $(dist_sdkinclude_HEADERS) $(dist_sdkmk_DATA) Makefile
check_DATA += tmp_install/.stamp
tmp_install/.stamp: $(TB_TMP_INSTALL_DEPS)
	$(AM_V_at)rm -rf tmp_install
	$(AM_V_GEN)$(MAKE) $(AM_MAKEFLAGS) install DESTDIR='$(abs_top_builddir)/tmp_install' \
	  > tmp_install.log 2>&1 || { cat tmp_install.log; exit 1; }
	$(AM_V_at)touch $@
CLEANFILES += tmp_install.log

# Every TESTS script sees these (other components' test scripts rely on the
# first four names): the staged install, the configured prefix, the trees.
AM_TESTS_ENVIRONMENT = TB_TMP_INSTALL='$(abs_top_builddir)/tmp_install'; \
	TB_PREFIX='$(prefix)'; TB_BUILDDIR='$(abs_top_builddir)'; \
	TB_SRCDIR='$(abs_top_srcdir)'; TB_BINDIR='$(bindir)'; \
	TB_PLUGINDIR='$(plugindir)'; PYTHON3='$(PYTHON3)'; \
	PYTHONDONTWRITEBYTECODE=1; \
	export TB_TMP_INSTALL TB_PREFIX TB_BUILDDIR TB_SRCDIR TB_BINDIR TB_PLUGINDIR \
	  PYTHON3 PYTHONDONTWRITEBYTECODE;

# ---- the suite in `make check`
TESTS += regress/run-regress.sh regress/python/run-python-tests.sh
# the agent's local state against a data_dir agent (ports 18910..18915)
TESTS += regress/python/run-agent-local.sh
EXTRA_DIST += regress/python/run-agent-local.sh regress/python/test_agent_local.py

# ---- `make installcheck`: the installed runner against the installed agent
installcheck-local: regress-installcheck
regress-installcheck:
	$(MKDIR_P) regress/installcheck
	TB_BUILDDIR='$(abs_top_builddir)' '$(DESTDIR)$(bindir)/tb_regress' \
	  --bindir '$(DESTDIR)$(bindir)' --plugin-dir '$(DESTDIR)$(plugindir)' \
	  --inputdir '$(DESTDIR)$(regressdir)' --outputdir regress/installcheck \
	  --port-base 19200

clean-local: regress-clean-local
regress-clean-local:
	-rm -rf tmp_install regress/results regress/installcheck regress/python/results \
	  regress/regression.out regress/regression.diffs

.PHONY: regress-installcheck regress-clean-local

EXTRA_DIST += regress/tb_regress.in regress/run-regress.sh \
	regress/python/run-python-tests.sh regress/python/test_consul_client.py \
	regress/python/test_api.py \
	contrib/install-deps.sh contrib/ci/check.sh contrib/ci/test-summary.py \
	contrib/ci/sanitize.sh contrib/ci/valgrind.sh contrib/bench/kv-dev.sh \
	contrib/bench/README.md
# Raft fault tests with real agents (3 and 5 servers, 127.0.1.11-25, ports
# 19340-19345) and the cluster benchmark against a 3-member etcd
TESTS += regress/cluster/run-cluster-tests.sh
EXTRA_DIST += regress/cluster/faults.py regress/cluster/run-cluster-tests.sh \
	contrib/bench/kv-cluster.sh
