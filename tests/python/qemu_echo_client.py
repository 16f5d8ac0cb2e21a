#!/usr/bin/env python3
"""A `websockets` (sync API) client session against an echo firmware
(firmware/src/bin/echo.rs or echo_deflate.rs) running under QEMU, its UART
on loopback TCP.

Usage: qemu_echo_client.py URL [--deflate]

One session: the handshake (offering permessage-deflate, `websockets`'
default offer with `client_max_window_bits`), text, binary with a 7-bit and
a 16-bit length (300 bytes) and the firmware's largest message (1024
bytes), an empty message, a ping (its pong comes back), the `!stack`
command, and a close with 4002 (the firmware echoes the code).

Without `--deflate` (the `echo` firmware) the offer must be declined. With
it (the `echo_deflate` firmware) it must be
accepted with `client_max_window_bits=9`, so that `websockets` compresses
every message with a 512-byte window; the session then also sends many
similar messages (context takeover) and fragmented ones (each fragment
compressed, RSV1 on the first), and prints `negotiated HEADER`.

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


AGREED = "permessage-deflate; client_max_window_bits=9"


def check_extensions(ws, deflate):
    header = ws.response.headers.get("Sec-WebSocket-Extensions")
    if not deflate:
        check(header is None and not ws.protocol.extensions, f"extensions agreed: {header!r}")
        return
    check(header == AGREED, f"Sec-WebSocket-Extensions: {header!r}, expected {AGREED!r}")
    [ext] = ws.protocol.extensions
    check(ext.name == "permessage-deflate" and ext.local_max_window_bits == 9,
          f"negotiated {ext!r}")
    print(f"negotiated {header}")


def compressed_only(ws):
    """What only a compressed session sends: context takeover, fragments."""
    for i in range(30):
        echo(ws, f'{{"sensor":"humidity","reading":{i},"unit":"%"}}' * (1 + i % 5))
    ws.send(["frag", "mented ", "\u00fcber ", "three"])
    got = ws.recv(timeout=TIMEOUT)
    check(got == "fragmented \u00fcber three", f"fragmented text: got {got!r}")
    ws.send([pattern(200), pattern(300), b""])
    got = ws.recv(timeout=TIMEOUT)
    check(got == pattern(200) + pattern(300), f"fragmented binary: got {len(got)} bytes")


def session(url, deflate):
    with connect(url, open_timeout=TIMEOUT, close_timeout=CLOSE_TIMEOUT, max_size=2**16) as ws:
        check(ws.subprotocol is None, f"subprotocol {ws.subprotocol!r}")
        check_extensions(ws, deflate)
        echo(ws, "h\u00e9llo from Python \u2603")
        echo(ws, pattern(100))
        echo(ws, pattern(300))  # 16-bit length
        echo(ws, pattern(1024))  # the firmware's largest message
        echo(ws, "")
        if deflate:
            compressed_only(ws)
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
    args = sys.argv[1:]
    deflate = "--deflate" in args
    args = [a for a in args if a != "--deflate"]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        session(args[0], deflate)
    except Exception as e:  # a mismatch, a timeout, a closed connection: all fail
        print(f"FAIL {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print("ok qemu_echo_client")
    return 0


if __name__ == "__main__":
    sys.exit(main())
