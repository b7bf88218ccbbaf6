#!/bin/sh
# install-deps.sh - install every Debian 12 package Tribune needs to build and
# to run its whole test suite. Non-interactive and idempotent: when every
# package is already installed it changes nothing and needs no network.
#   ./contrib/install-deps.sh            build + test packages
#   ./contrib/install-deps.sh --fuzz     also clang's libFuzzer runtime
#   ./contrib/install-deps.sh --bench    also wrk, etcd-server, dnsperf, nsd, knot, dnsmasq, tcpdump (contrib/bench)
set -eu
PKGS="build-essential autoconf automake libtool pkg-config
 libuv1-dev libjansson-dev libltdl-dev libsqlite3-dev libcunit1-dev
 libmsgpack-dev libhttp-parser-dev libcurl4-openssl-dev libssl-dev zlib1g-dev
 python3 python3-consul curl dnsutils knot-dnsutils valgrind git ca-certificates serf"
for arg in "$@"; do
  case $arg in
    --fuzz) PKGS="$PKGS clang libclang-rt-14-dev" ;;
    --bench) PKGS="$PKGS wrk etcd-server etcd-client util-linux dnsperf nsd knot dnsmasq-base tcpdump" ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "install-deps.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

missing=
for p in $PKGS; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing="$missing $p"
  fi
done
if [ -z "$missing" ]; then
  echo "install-deps.sh: all packages present"
  exit 0
fi
SUDO=
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
echo "install-deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
