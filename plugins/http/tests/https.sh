#!/bin/sh
# https.sh - `make check` test of the http plugin's HTTPS listener and of
# /v1/agent/monitor levels and JSON in a real agent (staged install). A
# throwaway CA, server and client certificates are made here with openssl
# (no key is committed). Covers: start-up refusals naming the key; curl
# GET/PUT over https; keep-alive; pipelining; plain HTTP and garbage on the
# HTTPS port; the handshake timeout; a monitor stream over TLS; the CLI
# over https (-ca-file, CONSUL_CACERT, -tls-server-name); python3-consul
# over https; SIGHUP picking up a new certificate and verify_incoming (no
# client cert: refused; with one: 200), a broken certificate failing the
# reload while the old one serves; monitor ?loglevel=debug below the
# agent's level and ?logjson; tls_cipher_suites and tls_min_version.
# Ports 19550-19569.
. "$TB_SRCDIR/plugins/check_script/tests/checklib.sh"
serialize http_https_ports
command -v openssl >/dev/null 2>&1 || { echo "SKIP: openssl not installed"; exit 77; }
probe="$TB_SRCDIR/plugins/http/tests/https_probe.py"
tb="$bindir/tribune"
hs=19556
hsurl="https://127.0.0.1:$hs"

# ------------------------------------------------------------ certificates
cd "$work" || fail "cd $work"
mkcert() { # mkcert NAME CN [SAN]: NAME.pem/NAME.key signed by the test CA
    openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$2" \
        >/dev/null 2>&1 || fail "openssl req $1"
    if [ -n "${3:-}" ]; then printf 'subjectAltName=%s\n' "$3" >"$1.ext"; else : >"$1.ext"; fi
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
        -extfile "$1.ext" -out "$1.pem" >/dev/null 2>&1 || fail "openssl x509 $1"
}
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 \
    -subj "/CN=Tribune Test CA" >/dev/null 2>&1 || fail "openssl CA"
san="IP:127.0.0.1,DNS:localhost,DNS:server.dc1.consul"
mkcert srv first-cert "$san"
mkcert srv2 second-cert "$san"
mkcert client test-client
mkcert other other-cert "$san"

# ------------------------------------------------------------ refusals
printf '{"ports": {"https": 19566}}\n' >nocert.json
agent_refuses 19560 nocert.json "ports.https: the HTTPS listener needs cert_file and key_file"
printf '{"ports": {"https": 19566}, "cert_file": "%s/missing.pem", "key_file": "%s/srv.key"}\n' \
    "$work" "$work" >missing.json
agent_refuses 19560 missing.json "cert_file: cannot read $work/missing.pem"
printf '{"ports": {"https": 19566}, "tls": {"defaults": {"cert_file": "%s/srv.pem", "key_file": "%s/other.key"}}}\n' \
    "$work" "$work" >mismatch.json
agent_refuses 19560 mismatch.json "tls.defaults.key_file: the key in $work/other.key does not match"
printf '{"ports": {"https": 19566}, "cert_file": "%s/srv.pem", "key_file": "%s/srv.key", "verify_incoming": true}\n' \
    "$work" "$work" >noca.json
agent_refuses 19560 noca.json "verify_incoming: client certificates need ca_file or ca_path"
printf '{"ports": {"https": 19566}, "cert_file": "%s/srv.pem", "key_file": "%s/srv.key", "tls_min_version": "tls9"}\n' \
    "$work" "$work" >badver.json
agent_refuses 19560 badver.json 'tls_min_version: invalid version "tls9"'
note "refusals: no cert, unreadable cert, mismatched key, verify_incoming without CA, bad version"

# ------------------------------------------------------------ serving
cp srv.pem live.pem && cp srv.key live.key
cat >tls.json <<EOF
{"log_level": "info", "ports": {"https": $hs},
 "tls": {"defaults": {"cert_file": "$work/live.pem", "key_file": "$work/live.key",
                      "ca_file": "$work/ca.pem"}}}
EOF
start_agent tls 19550 tls.json
curl -sS --cacert ca.pem -X PUT -d pipe-value "$hsurl/v1/kv/tls/pipe" | grep -q true || fail "PUT over https"
[ "$(curl -sS --cacert ca.pem "$hsurl/v1/kv/tls/pipe?raw")" = pipe-value ] || fail "GET over https"
curl -sS --cacert ca.pem -v "$hsurl/v1/status/leader" "$hsurl/v1/kv/tls/pipe?raw" >two.out 2>&1 ||
    fail "two requests: $(cat two.out)"
grep -q "Re-using existing connection" two.out || fail "no keep-alive over https: $(cat two.out)"
note "curl: PUT, GET and keep-alive over https"

got=$("$PY" "$probe" pipeline $hs ca.pem | tr '\n' ' ')
[ "$got" = "HTTP/1.1 200 OK HTTP/1.1 200 OK HTTP/1.1 404 Not Found body:pipe-value " ] ||
    fail "pipelined over TLS: $got"
note "three pipelined requests in one TLS write answered in order"

[ "$("$PY" "$probe" plain $hs)" = closed ] || fail "plain HTTP on the HTTPS port was answered"
[ "$("$PY" "$probe" garbage $hs)" = closed ] || fail "garbage on the HTTPS port was answered"
curl -sf --cacert ca.pem "$hsurl/v1/status/leader" >/dev/null || fail "agent hurt by bad input"
note "plain HTTP and garbage records on the HTTPS port: closed, agent fine"

# ------------------------------------------------------------ monitor
curl -sS -N --max-time 3 --cacert ca.pem "$hsurl/v1/agent/monitor?loglevel=debug" >mon.txt 2>/dev/null &
m1=$!
curl -sS -N --max-time 3 "$base/v1/agent/monitor?loglevel=debug&logjson" >monj.txt 2>/dev/null &
m2=$!
curl -sS -N --max-time 3 "$base/v1/agent/monitor" >moni.txt 2>/dev/null &
m3=$!
sleep 1
curl -s "$base/v1/kv/monitor-probe" >/dev/null
wait $m1 $m2 $m3
grep -q '\[DEBUG\] http: request finished: method=GET url=/v1/kv/monitor-probe' mon.txt ||
    fail "debug monitor over https (agent at info): $(cat mon.txt)"
grep -q 'monitor-probe' "$work/agent.log" && fail "a debug line reached the info agent's log"
grep -q 'monitor-probe' moni.txt && fail "an info monitor got a debug line"
"$PY" - monj.txt <<'EOF' || fail "logjson: $(cat monj.txt)"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
hit = [l for l in lines if "monitor-probe" in l["@message"]]
assert hit, lines
l = hit[0]
assert sorted(l) == ["@level", "@message", "@module", "@timestamp"], l
assert l["@level"] == "debug" and l["@module"] == "http", l
assert l["@timestamp"].endswith("Z") and "T" in l["@timestamp"], l
EOF
note "monitor: debug lines from an info agent (also over https), ?logjson in Consul's shape"

# ------------------------------------------------------------ CLI
"$tb" kv put -http-addr "$hsurl" -ca-file ca.pem tls/cli from-cli >cli.out 2>&1 || fail "cli put: $(cat cli.out)"
[ "$("$tb" kv get -http-addr "$hsurl" -ca-file ca.pem tls/cli)" = from-cli ] || fail "cli get over https"
[ "$(CONSUL_CACERT=ca.pem CONSUL_HTTP_ADDR="$hsurl" "$tb" kv get tls/cli)" = from-cli ] ||
    fail "cli with CONSUL_CACERT"
[ "$(CONSUL_CACERT=ca.pem CONSUL_HTTP_SSL=true CONSUL_HTTP_ADDR=127.0.0.1:$hs "$tb" kv get tls/cli)" = from-cli ] ||
    fail "cli with CONSUL_HTTP_SSL"
[ "$("$tb" kv get -http-addr "$hsurl" -ca-file ca.pem -tls-server-name server.dc1.consul tls/cli)" = from-cli ] ||
    fail "cli with -tls-server-name"
"$tb" kv get -http-addr "$hsurl" -ca-file ca.pem -tls-server-name wrong.example tls/cli >cli.out 2>&1 &&
    fail "a wrong -tls-server-name was accepted"
"$tb" kv get -http-addr "$hsurl" tls/cli >cli.out 2>&1 && fail "an unknown CA was accepted"
grep -qi "certificate" cli.out || fail "unknown CA error: $(cat cli.out)"
note "CLI over https: -ca-file, CONSUL_CACERT, CONSUL_HTTP_SSL, -tls-server-name; unknown CA refused"

if "$PY" -c 'import consul' 2>/dev/null; then
    "$PY" - $hs "$work/ca.pem" <<'EOF' || fail "python3-consul over https"
import sys, consul
c = consul.Consul(port=int(sys.argv[1]), scheme="https", verify=sys.argv[2])
assert c.kv.put("tls/py", "from-python") is True
assert c.kv.get("tls/py")[1]["Value"] == b"from-python"
assert c.status.leader()
EOF
    note "python3-consul over https (scheme=https, verify=CA file)"
fi

# ------------------------------------------------------------ reload
[ "$("$PY" "$probe" subject $hs ca.pem)" = first-cert ] || fail "first certificate"
curl -sS -N --max-time 30 --cacert ca.pem "$hsurl/v1/agent/monitor" >/dev/null 2>&1 &
held=$!
sleep 0.5
cp srv2.pem live.pem && cp srv2.key live.key
cat >tls.json <<EOF
{"log_level": "info", "ports": {"https": $hs}, "verify_incoming_https": true,
 "tls": {"defaults": {"cert_file": "$work/live.pem", "key_file": "$work/live.key",
                      "ca_file": "$work/ca.pem"}}}
EOF
kill -HUP "$agent_pid"
i=0
until [ "$("$PY" "$probe" subject $hs ca.pem 2>/dev/null)" = second-cert ]; do
    i=$((i + 1)); [ "$i" -lt 50 ] || fail "SIGHUP did not load the new certificate"; sleep 0.1
done
kill -0 "$held" 2>/dev/null || fail "a stream opened before the reload was cut"
kill "$held"; wait "$held" 2>/dev/null
curl -s --cacert ca.pem "$hsurl/v1/status/leader" >/dev/null 2>&1 &&
    fail "verify_incoming_https: a client without a certificate got through"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert ca.pem --cert client.pem --key client.key \
    "$hsurl/v1/status/leader")
[ "$code" = 200 ] || fail "client certificate: HTTP $code"
"$tb" kv get -http-addr "$hsurl" -ca-file ca.pem -client-cert client.pem -client-key client.key \
    tls/cli >cli.out 2>&1 || fail "cli with a client certificate: $(cat cli.out)"
note "SIGHUP: new certificate for new connections, open streams kept; verify_incoming: no cert refused, cert 200"

printf 'not a certificate\n' >live.pem
kill -HUP "$agent_pid"
i=0
until grep -q "Failed to reload plugins: .*cert_file: cannot load the certificate in $work/live.pem" "$work/agent.log"; do
    i=$((i + 1)); [ "$i" -lt 50 ] || fail "a broken certificate on SIGHUP was not reported"; sleep 0.1
done
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert ca.pem --cert client.pem --key client.key \
    "$hsurl/v1/status/leader")
[ "$code" = 200 ] || fail "after a failed reload the old certificate no longer serves: HTTP $code"
note "a broken certificate on SIGHUP fails the reload with the key named; the old one keeps serving"

slow=$("$PY" "$probe" slow $hs)
[ "$slow" -ge 4 ] && [ "$slow" -le 8 ] || fail "silent client closed after ${slow}s, not ~5s"
note "a client that never handshakes is closed after limits.https_handshake_timeout"

stop_agent

# ------------------------------------------------------------ versions, suites
ok12() { curl -s -o /dev/null --cacert ca.pem --tls-max 1.2 "$@" "https://127.0.0.1:19566/v1/status/leader"; }
cat >ver.json <<EOF
{"ports": {"https": 19566}, "tls": {"https": {"cert_file": "$work/srv.pem", "key_file": "$work/srv.key",
 "tls_cipher_suites": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}}}
EOF
start_agent ver 19560 ver.json
ok12 --ciphers ECDHE-RSA-AES128-GCM-SHA256 || fail "the configured TLS 1.2 suite was refused"
ok12 --ciphers ECDHE-RSA-AES256-GCM-SHA384 && fail "a suite outside tls_cipher_suites was accepted"
curl -sf -o /dev/null --cacert ca.pem --tlsv1.3 "https://127.0.0.1:19566/v1/status/leader" ||
    fail "TLS 1.3 refused"
stop_agent
sed 's/"tls_cipher_suites": "[^"]*"/"tls_min_version": "TLSv1_3"/' ver.json >v13.json
start_agent v13 19560 v13.json
ok12 && fail "tls_min_version TLSv1_3 accepted TLS 1.2"
curl -sf -o /dev/null --cacert ca.pem "https://127.0.0.1:19566/v1/status/leader" || fail "TLS 1.3 refused"
stop_agent
note "tls.https.tls_cipher_suites limits TLS 1.2 suites; tls_min_version TLSv1_3 refuses TLS 1.2"
echo "PASS: https"
