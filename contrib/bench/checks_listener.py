#!/usr/bin/python3
"""checks_listener.py - the local targets of contrib/bench/checks.sh.

usage: checks_listener.py STATS_FILE HTTP_PORT TCP_PORT...

Accepts TCP connections on every TCP_PORT (closing them at once) and
answers HTTP on HTTP_PORT with "200 ok" for any path. It stamps every
accept and every request (time.monotonic) per key: "tcp:<port>" for a
port, "http:<path>" for a request path. On SIGTERM it writes, to
STATS_FILE, for the events after the SIGUSR1 it last received (the start
of the measured window): per-key intervals between consecutive events,
as JSON {"keys": {key: [[t0, t1]...]}, "events": N, "gaps": [[t, len]...]}
(times in seconds from the start of the window).
Prints "ready" once every port listens. Loopback only.
"""
import asyncio
import json
import signal
import sys
import time

stamps = {}
window_start = [0.0]


def stamp(key):
    stamps.setdefault(key, []).append(time.monotonic())


async def on_tcp(port, reader, writer):
    stamp("tcp:%d" % port)
    writer.close()


async def on_http(reader, writer):
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        line = head.split(b"\r\n", 1)[0].split()
        stamp("http:%s" % (line[1].decode() if len(line) > 1 else "?"))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                     b"Content-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
    except Exception:
        pass
    writer.close()


def dump(path):
    out = {"keys": {}, "events": 0, "gaps": []}
    every = []
    for key, ts in stamps.items():
        ts = [t for t in ts if t >= window_start[0]]
        out["events"] += len(ts)
        every.extend(ts)
        w = window_start[0]
        out["keys"][key] = [[a - w, b - w] for a, b in zip(ts, ts[1:])]
    # Silences longer than 100 ms across ALL targets: the agent (or this
    # listener) stalled; [seconds into the window, length].
    every.sort()
    out["gaps"] = [[a - window_start[0], b - a] for a, b in zip(every, every[1:]) if b - a > 0.1]
    with open(path, "w") as f:
        json.dump(out, f)


async def main():
    path, http_port = sys.argv[1], int(sys.argv[2])
    ports = [int(p) for p in sys.argv[3:]]
    servers = [await asyncio.start_server(on_http, "127.0.0.1", http_port, backlog=4096)]
    for p in ports:
        servers.append(await asyncio.start_server(
            lambda r, w, p=p: on_tcp(p, r, w), "127.0.0.1", p, backlog=4096))
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, lambda: done.done() or done.set_result(1))
    loop.add_signal_handler(signal.SIGUSR1, lambda: window_start.__setitem__(0, time.monotonic()))
    print("ready", flush=True)
    await done
    dump(path)


asyncio.run(main())
