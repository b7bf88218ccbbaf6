#!/usr/bin/env python3
"""https_probe.py - raw-socket probes of the agent's HTTPS listener for
plugins/http/tests/https.sh (what curl cannot do):

  pipeline PORT CAFILE   three requests in one TLS write; prints the status
                         lines of the answers, in order
  plain PORT             plain HTTP bytes to the HTTPS port; prints "closed"
                         when the agent answered no HTTP and closed
  garbage PORT           a TLS-looking record with a broken body, then
                         random bytes; prints "closed" likewise
  subject PORT CAFILE    the CN of the certificate the agent presents
  slow PORT              connect and send nothing; prints the seconds until
                         the agent closes (limits.https_handshake_timeout)
"""
import os
import re
import socket
import ssl
import sys
import time


def ctx(cafile):
    c = ssl.create_default_context(cafile=cafile)
    c.check_hostname = False
    return c


def read_all(s, limit=10.0):
    s.settimeout(limit)
    out = b""
    while True:
        try:
            b = s.recv(65536)
        except (ConnectionResetError, ssl.SSLError, socket.timeout):
            break
        if not b:
            break
        out += b
    return out


def pipeline(port, cafile):
    raw = socket.create_connection(("127.0.0.1", port))
    s = ctx(cafile).wrap_socket(raw)
    reqs = (b"GET /v1/status/leader HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /v1/kv/tls/pipe?raw HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /v1/nosuch HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    s.sendall(reqs)
    data = read_all(s)
    # bodies have no trailing newline: find the status lines anywhere
    for line in re.findall(rb"HTTP/1\.1 \d{3} [A-Za-z ]*\r\n", data):
        print(line.decode().strip())
    print("body:" + ("pipe-value" if b"pipe-value" in data else "missing"))


def closed_after(port, payload):
    s = socket.create_connection(("127.0.0.1", port))
    try:
        s.sendall(payload)
    except OSError:
        pass
    data = read_all(s, 5.0)
    # a TLS alert record may come back; an HTTP answer must not
    print("http-answer" if data.startswith(b"HTTP/") else "closed")


def subject(port, cafile):
    raw = socket.create_connection(("127.0.0.1", port))
    s = ctx(cafile).wrap_socket(raw)
    cert = s.getpeercert()
    for rdn in cert.get("subject", ()):
        for k, v in rdn:
            if k == "commonName":
                print(v)
    s.close()


def slow(port):
    s = socket.create_connection(("127.0.0.1", port))
    t = time.monotonic()
    read_all(s, 30.0)
    print("%.0f" % (time.monotonic() - t))


def main():
    cmd, port = sys.argv[1], int(sys.argv[2])
    if cmd == "pipeline":
        pipeline(port, sys.argv[3])
    elif cmd == "plain":
        closed_after(port, b"GET /v1/status/leader HTTP/1.1\r\nHost: x\r\n\r\n")
    elif cmd == "garbage":
        closed_after(port, b"\x16\x03\x01\x00\x10" + b"\xff" * 16 + os.urandom(3000))
    elif cmd == "subject":
        subject(port, sys.argv[3])
    elif cmd == "slow":
        slow(port)
    else:
        sys.exit("unknown probe " + cmd)


if __name__ == "__main__":
    main()
