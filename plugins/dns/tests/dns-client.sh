#!/bin/sh
# dns-client.sh - `make check`: the dns plugin on a CLIENT agent. Its typed
# catalog reads (api->catalog_read) are forwarded to the server like any
# endpoint call, and its background blocking queries block on the server.
# A -dev server on 127.0.7.1 and a client agent (http + dns plugins) on
# 127.0.7.2 that joins it; data is written through the SERVER, asked with
# dig through the CLIENT: health filtering, node lookups, SRV, PTR,
# NXDOMAIN, and a change on the server reaching the client's cached answer
# without a query in between. Ports 18770-18774.
: "${TB_TMP_INSTALL:?run me from make check (TB_TMP_INSTALL unset)}"
command -v dig >/dev/null 2>&1 || { echo "SKIP: dig not installed (dnsutils)"; exit 77; }
bindir=$TB_TMP_INSTALL$TB_BINDIR
plugindir=$TB_TMP_INSTALL$TB_PLUGINDIR
[ -x "$bindir/tribune" ] || { echo "SKIP: no temp install at $bindir"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/tb-dns-client.XXXXXX")
S=127.0.7.1 C=127.0.7.2 HP=18770 DP=18771
fails=0 n=0 pids=

cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    for p in $pids; do wait "$p" 2>/dev/null; done
    if [ $fails -eq 0 ]; then rm -rf "$work"; else echo "# logs kept in $work"; fi
}
trap cleanup EXIT
trap 'exit 2' INT TERM

check() { # NAME WANT GOT
    n=$((n + 1))
    if [ "$3" = "$2" ]; then echo "ok $n - $1"; else
        fails=$((fails + 1)); echo "not ok $n - $1"; echo "#   want: $2"; echo "#   got:  $3"; fi
}
q() { # NAME [TYPE]: sorted short answers, one line
    dig +time=3 +tries=1 +short -p $DP @$C "$@" | sort | tr '\n' ' ' | sed 's/ $//'
}
reg() { # NODE ADDR STATUS
    curl -s --max-time 10 -X PUT "http://$S:$HP/v1/catalog/register" -d "{\"Node\":\"$1\",
      \"Address\":\"$2\",\"Service\":{\"Service\":\"web\",\"Port\":80},
      \"Check\":{\"Name\":\"c\",\"Status\":\"$3\",\"ServiceID\":\"web\"}}" >/dev/null
}

cat > "$work/ports.json" <<EOF
{"ports": {"http": $HP, "dns": $DP, "server": 18772, "serf_lan": 18773, "serf_wan": 18774,
           "grpc": -1}}
EOF
"$bindir/tribune" agent -dev -node s1 -bind $S -client $S -plugin-dir "$plugindir" \
    -config-file "$work/ports.json" > "$work/s1.log" 2>&1 &
pids="$pids $!"
mkdir -p "$work/c1"
"$bindir/tribune" agent -node c1 -bind $C -client $C -retry-join $S -data-dir "$work/c1" \
    -plugin-dir "$plugindir" -plugin http -plugin dns -config-file "$work/ports.json" \
    > "$work/c1.log" 2>&1 &
pids="$pids $!"
i=0
until curl -sf --max-time 2 "http://$C:$HP/v1/catalog/nodes" >/dev/null; do
    i=$((i + 1))
    [ $i -lt 100 ] || { echo "Bail out! the client agent does not reach its server"; exit 1; }
    sleep 0.2
done

reg n1 10.1.0.1 passing
reg n2 10.1.0.2 critical
check "client: A leaves out the critical instance" "10.1.0.1" "$(q web.service.consul)"
check "client: node A" "10.1.0.2" "$(q n2.node.consul)"
check "client: SRV" "1 1 80 n1.node.dc1.consul." "$(q web.service.consul SRV)"
check "client: PTR from the node table" "n1.node.dc1.consul." "$(q -x 10.1.0.1)"
check "client: unknown node is NXDOMAIN" "NXDOMAIN" \
    "$(dig +time=3 +tries=1 -p $DP @$C nope.node.consul | sed -n 's/.*status: \([A-Z]*\).*/\1/p')"
# a write on the server wakes the client's blocking query for "web"
reg n3 10.1.0.3 warning
i=0 got=
while [ $i -lt 50 ]; do
    got=$(q web.service.consul)
    [ "$got" = "10.1.0.1 10.1.0.3" ] && break
    i=$((i + 1)); sleep 0.1
done
check "client: a registration on the server reaches the cached answer" "10.1.0.1 10.1.0.3" "$got"
reg n1 10.1.0.1 critical
i=0
while [ $i -lt 50 ]; do
    got=$(q web.service.consul)
    [ "$got" = "10.1.0.3" ] && break
    i=$((i + 1)); sleep 0.1
done
check "client: a check going critical on the server drops the instance" "10.1.0.3" "$got"
echo "1..$n"
[ $fails -eq 0 ]
