#!/usr/bin/env python3
"""A `websockets` (sync API) client session against the echo firmware
(firmware/src/bin/echo.rs) running under QEMU, its UART on loopback TCP.

Usage: qemu_echo_client.py URL

One session: the handshake (offering permessage-deflate, which the firmware
does not take), text, binary with a 7-bit and a 16-bit length (300 bytes)
and the firmware's largest message (1024 bytes), an empty message, a ping
(its pong comes back), the `!stack` command, and a close with 4002 (the
firmware echoes the code).

The UART has no end of stream, so the firmware cannot end TCP after the
closing handshake: `close_timeout` is short, and the client gives up
waiting for the end of TCP after it. That is expected here.

Prints `ok qemu_echo_client` and exits 0 on success; prints `FAIL ...` to
stderr and exits 1 on any mismatch. Run by tests/qemu_echo.rs.
"""
import sys

from websockets.protocol import State
from websockets.sync.client import connect

TIMEOUT = 10
CLOSE_TIMEOUT = 1


class Mismatch(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Mismatch(what)


def pattern(n):
    return bytes(i % 251 for i in range(n))


def echo(ws, message):
    ws.send(message)
    got = ws.recv(timeout=TIMEOUT)
    kind = type(message).__name__
    check(type(got) is type(message), f"echo of a {kind}: got a {type(got).__name__}")
    check(got == message, f"echo of a {kind} of {len(message)}: got {len(got)} different bytes")


def session(url):
    with connect(url, open_timeout=TIMEOUT, close_timeout=CLOSE_TIMEOUT, max_size=2**16) as ws:
        check(ws.subprotocol is None, f"subprotocol {ws.subprotocol!r}")
        echo(ws, "h\u00e9llo from Python \u2603")
        echo(ws, pattern(100))
        echo(ws, pattern(300))  # 16-bit length
        echo(ws, pattern(1024))  # the firmware's largest message
        echo(ws, "")
        pong = ws.ping(b"python")
        check(pong.wait(TIMEOUT), "no pong for the ping")
        ws.send("!stack")
        report = ws.recv(timeout=TIMEOUT)
        words = report.split()
        check(words[:2] == ["peak", "stack"] and words[2].isdigit(), f"!stack answered {report!r}")
        print(f"firmware: {report}")
        ws.close(4002, "bye from python")
        p = ws.protocol
        check(p.state is State.CLOSED, f"state after close: {p.state}")
        check(p.close_rcvd is not None and p.close_rcvd.code == 4002,
              f"close reply {p.close_rcvd}")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        session(sys.argv[1])
    except Exception as e:  # a mismatch, a timeout, a closed connection: all fail
        print(f"FAIL {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print("ok qemu_echo_client")
    return 0


if __name__ == "__main__":
    sys.exit(main())
