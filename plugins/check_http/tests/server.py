#!/usr/bin/python3
"""server.py - small HTTP(S) server for check_http's tests (stdlib only).

usage: server.py PORT [CERT KEY]    (serves HTTPS when CERT and KEY are given)

Paths:  /200 /429 /500  answer with that status and body "status <code>"
        /slow           sleeps 5 s, then 200
        /redirect       302 -> /200;  /loop  302 -> /loop (endless)
        /big            200 with a 10000-byte body
        /echo           200, body = method, headers and request body
Writes "ready" to stdout once listening.
"""
import http.server
import ssl
import sys
import time


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, body, extra=()):
        data = body.encode()
        self.send_response(code)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode() if n else ""
        p = self.path.split("?")[0]
        if p in ("/200", "/429", "/500"):
            self.reply(int(p[1:]), "status %s" % p[1:])
        elif p == "/slow":
            time.sleep(5)
            self.reply(200, "slow")
        elif p == "/redirect":
            self.reply(302, "moved", [("Location", "/200")])
        elif p == "/loop":
            self.reply(302, "again", [("Location", "/loop")])
        elif p == "/big":
            self.reply(200, "b" * 10000)
        elif p == "/echo":
            hdrs = "".join("%s=%s;" % (k.lower(), v) for k, v in self.headers.items())
            self.reply(200, "%s %s|%s|%s" % (self.command, self.path, hdrs, body))
        else:
            self.reply(404, "not found")

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = handle_any


def main():
    port = int(sys.argv[1])
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    srv.daemon_threads = True
    if len(sys.argv) >= 4:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[2], sys.argv[3])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("ready", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
