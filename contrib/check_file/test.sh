#!/bin/sh
# test.sh - `make check` test of the out-of-tree SDK kit, with check_file as
# the plugin: builds it in a scratch directory using nothing but the staged
# install (tmp_install: pkg-config + tribune-plugin.mk + tribune/plugin.h),
# installs it there, starts a -dev agent that loads it with a "file" check
# on 127.0.0.1, and asserts through the HTTP API that the check is passing
# while the file exists and critical once it is removed. Then it runs the
# plugin's own `make installcheck` (tb_regress) and stops the agent.
#
# Environment (from make check): TB_TMP_INSTALL, TB_PREFIX, TB_SRCDIR,
# TB_BINDIR, TB_PLUGINDIR. Ports: 19100-19105 for the agent started here,
# 19200-19299 for the installcheck run.
set -u

fail() { echo "FAIL: $*"; exit 1; }
note() { echo "# $*"; }

: "${TB_TMP_INSTALL:?run me from make check (TB_TMP_INSTALL unset)}"
: "${TB_PREFIX:?}" "${TB_SRCDIR:?}" "${TB_BINDIR:?}" "${TB_PLUGINDIR:?}"
command -v curl >/dev/null 2>&1 || { echo "SKIP: curl not installed"; exit 77; }
command -v pkg-config >/dev/null 2>&1 || { echo "SKIP: pkg-config not installed"; exit 77; }
MAKE=${MAKE:-make}

stage="$TB_TMP_INSTALL$TB_PREFIX"
bindir="$TB_TMP_INSTALL$TB_BINDIR"
plugindir="$TB_TMP_INSTALL$TB_PLUGINDIR"
pc=$(find "$TB_TMP_INSTALL" -name tribune-sdk.pc -path '*/pkgconfig/*' | head -n 1)
[ -n "$pc" ] || fail "tribune-sdk.pc is not in the staged install $TB_TMP_INSTALL"
PKG_CONFIG_PATH=$(dirname "$pc")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
export PKG_CONFIG_PATH
PKG_CONFIG="pkg-config --define-variable=prefix=$stage"

work=$(mktemp -d "${TMPDIR:-/tmp}/tb_check_file.XXXXXX") || fail "mktemp"
agent_pid=
cleanup() {
    if [ -n "$agent_pid" ]; then
        kill "$agent_pid" 2>/dev/null
        wait "$agent_pid" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ---- the pkg-config file agrees with the header it ships
hdr="$($PKG_CONFIG --variable=includedir tribune-sdk)/tribune/plugin.h"
[ -f "$hdr" ] || fail "$hdr not installed"
h_major=$(sed -n 's/^#define TB_SDK_MAJOR \([0-9]*\)$/\1/p' "$hdr")
h_minor=$(sed -n 's/^#define TB_SDK_MINOR \([0-9]*\)$/\1/p' "$hdr")
pc_major=$($PKG_CONFIG --variable=sdk_major tribune-sdk)
pc_minor=$($PKG_CONFIG --variable=sdk_minor tribune-sdk)
[ "$h_major.$h_minor" = "$pc_major.$pc_minor" ] ||
    fail "tribune-sdk.pc says SDK $pc_major.$pc_minor, plugin.h says $h_major.$h_minor"
case "$($PKG_CONFIG --variable=plugindir tribune-sdk)" in
    */plugins-"$h_major") ;;
    *) fail "plugindir $($PKG_CONFIG --variable=plugindir tribune-sdk) is not versioned by SDK major $h_major" ;;
esac
note "SDK $pc_major.$pc_minor, pluginmk $($PKG_CONFIG --variable=pluginmk tribune-sdk)"

# ---- build and install out of tree, from a copy of the sources
src="$TB_SRCDIR/contrib/check_file"
mkdir -p "$work/check_file" || fail "mkdir"
cp "$src/Makefile" "$src/check_file.c" "$work/check_file/" &&
    cp -R "$src/regress" "$work/check_file/" || fail "cannot copy $src"
chmod -R u+w "$work/check_file"
cd "$work/check_file" || fail "cd"
$MAKE PKG_CONFIG="$PKG_CONFIG" CFLAGS="-O2 -g -Werror" >"$work/build.log" 2>&1 ||
    { cat "$work/build.log"; fail "make (out-of-tree build) failed"; }
$MAKE PKG_CONFIG="$PKG_CONFIG" install >>"$work/build.log" 2>&1 ||
    { cat "$work/build.log"; fail "make install failed"; }
so="$plugindir/check_file.so"
[ -f "$so" ] || fail "make install did not put check_file.so in $plugindir"
# only the two entry points are exported
exports=$(nm -D --defined-only "$so" 2>/dev/null | awk '$2 == "T" {print $3}' | sort | tr '\n' ' ')
[ -z "$exports" ] || [ "$exports" = "tb_plugin_init tb_plugin_magic " ] ||
    fail "check_file.so exports more than its entry points: $exports"
note "built and installed $so"

# ---- an agent with a "file" check
http=19100
base="http://127.0.0.1:$http"
flag="$work/flag"
cat >"$work/agent.json" <<EOF
{
  "ports": {"http": $http, "dns": 19101, "server": 19102, "serf_lan": 19103,
            "serf_wan": 19104, "grpc": 19105},
  "check": {"id": "flag", "name": "flag file", "file": "$flag", "interval": "1s"}
}
EOF
if curl -s -o /dev/null "$base/v1/status/leader"; then
    fail "something already listens on 127.0.0.1:$http"
fi
"$bindir/tribune" agent -dev -node cfnode -bind 127.0.0.1 -client 127.0.0.1 \
    -http-port "$http" -plugin-dir "$plugindir" -plugin "$so" \
    -config-file "$work/agent.json" >"$work/agent.log" 2>&1 &
agent_pid=$!

agent_log() { sed 's/^/# agent| /' "$work/agent.log"; }

# poll URL PATTERN SECONDS: until the body matches the (grep -E) pattern
poll() {
    i=0
    while [ "$i" -lt $(($3 * 10)) ]; do
        kill -0 "$agent_pid" 2>/dev/null || { agent_log; fail "the agent exited"; }
        body=$(curl -s "$base$1" 2>/dev/null)
        if printf '%s' "$body" | grep -Eq "$2"; then return 0; fi
        sleep 0.1
        i=$((i + 1))
    done
    agent_log
    fail "after $3s, $1 does not match $2; last body: $body"
}

poll /v1/status/leader '"[^"]+"' 20
grep -q "loaded plugin check_file 1.0.0 from $so" "$work/agent.log" ||
    { agent_log; fail "the agent did not log loading check_file"; }

# A check's fields as one line each, to match Status and Output together.
flat() { tr -d '\n' | sed 's/},/}\n/g'; }

touch "$flag"
poll /v1/agent/checks '"Status": *"passing"' 10
curl -s "$base/v1/agent/checks" | flat | grep '"CheckID": *"flag"' |
    grep -q "\"Output\": *\"file $flag exists\"" ||
    fail "flag check is not passing with the right output: $(curl -s "$base/v1/agent/checks")"
curl -s "$base/v1/agent/checks" | flat | grep '"CheckID": *"flag"' | grep -q '"Type": *"file"' ||
    fail "flag check's Type is not file: $(curl -s "$base/v1/agent/checks")"
poll /v1/health/node/cfnode '"CheckID": *"flag"' 5
curl -s "$base/v1/health/node/cfnode" | flat | grep '"CheckID": *"flag"' |
    grep -q '"Status": *"passing"' ||
    fail "the catalog does not show flag passing: $(curl -s "$base/v1/health/node/cfnode")"
note "passing while $flag exists"

rm -f "$flag"
poll /v1/agent/checks '"Status": *"critical"' 10
curl -s "$base/v1/agent/checks" | flat | grep '"CheckID": *"flag"' |
    grep -q "\"Output\": *\"file $flag: No such file or directory\"" ||
    fail "flag check is not critical with the right output: $(curl -s "$base/v1/agent/checks")"
poll /v1/health/state/critical '"CheckID": *"flag"' 5
note "critical once $flag is removed"

touch "$flag"
poll /v1/health/state/passing '"CheckID": *"flag"' 10
note "passing again once $flag is back"

# ---- the plugin's own regression scenarios, through tribune-plugin.mk
$MAKE PKG_CONFIG="$PKG_CONFIG" installcheck EXTRA_REGRESS_OPTS="--port-base 19200" \
    >"$work/installcheck.log" 2>&1 || {
    cat "$work/installcheck.log"
    [ -f regress/regression.diffs ] && cat regress/regression.diffs
    fail "make installcheck failed"
}
note "make installcheck passed"

# ---- a definition the plugin refuses stops the agent from starting
cat >"$work/bad.json" <<EOF
{"ports": {"http": 19110, "dns": 19111, "server": 19112, "serf_lan": 19113,
           "serf_wan": 19114, "grpc": 19115},
 "check": {"id": "rel", "name": "relative", "file": "relative/path", "interval": "1s"}}
EOF
"$bindir/tribune" agent -dev -node cfbad -bind 127.0.0.1 -client 127.0.0.1 -http-port 19110 \
    -plugin-dir "$plugindir" -plugin "$so" -config-file "$work/bad.json" \
    >"$work/bad.log" 2>&1
rc=$?
[ "$rc" -eq 1 ] || { cat "$work/bad.log"; fail "agent with a bad file check exited $rc, not 1"; }
grep -q 'file: \\*"relative/path\\*" is not an absolute path' "$work/bad.log" ||
    { cat "$work/bad.log"; fail "the refusal does not carry the plugin's reason"; }
note "a relative path is refused at start-up"

# ---- clean stop
kill -TERM "$agent_pid"
wait "$agent_pid"
rc=$?
agent_pid=
[ "$rc" -eq 0 ] || { agent_log; fail "the agent exited $rc after SIGTERM"; }
$MAKE PKG_CONFIG="$PKG_CONFIG" clean >/dev/null 2>&1 || fail "make clean failed"
[ ! -e check_file.so ] || fail "make clean left check_file.so"
echo "PASS: check_file built out of tree, loaded, passing/critical as the file comes and goes"
exit 0
