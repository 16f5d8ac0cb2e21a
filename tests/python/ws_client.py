#!/usr/bin/env python3
"""Scripted client on the `websockets` library (sync API), the peer of the
wsock server run by tests/interop_python.rs.

Usage: ws_client.py URL SCENARIO

Scenarios (each one connection; see the matching Rust test for the server):

    messages        text, binary, empty text, empty binary, 1 MiB binary and
                    ~1 MiB multi-byte UTF-8 text, each echoed back unchanged;
                    then a normal close
    ping            pings from Python (empty, binary, 125 bytes) get their
                    pongs; `ping:HEX` makes the server ping us and answer
                    `pong-received:HEX` once our (automatic) pong arrived
    close-by-client close with 4001 and a reason; the server echoes 4001 and
                    ends TCP in time
    close-by-server `close:4000:REASON` makes the server close with 4000 and
                    REASON
    subprotocol     offers ["chat"], the server must select it
    fragments       fragmented text and binary messages, echoed whole; then
                    `fragmented?` makes the server send the text `snow\u2603man`
                    (split inside the snowman, a ping between fragments) and
                    the binary 00..09 (an empty fragment in the middle)

Prints `ok SCENARIO` and exits 0 on success; prints `FAIL ...` to stderr and
exits 1 on any mismatch.
"""
import sys
import time

from websockets.exceptions import ConnectionClosed
from websockets.protocol import State
from websockets.sync.client import connect

TIMEOUT = 10
CLOSE_TIMEOUT = 5


class Mismatch(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Mismatch(what)


def summary(value):
    if isinstance(value, (str, bytes)) and len(value) > 64:
        return f"{type(value).__name__} of length {len(value)}"
    return repr(value)


def close_info(close):
    return None if close is None else (int(close.code), close.reason)


def open_ws(url, **kwargs):
    # Compression on: websockets offers permessage-deflate by default.
    return connect(
        url,
        max_size=2**24,
        ping_interval=None,
        open_timeout=TIMEOUT,
        close_timeout=CLOSE_TIMEOUT,
        **kwargs,
    )


def first_difference(a, b):
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def expect(ws, expected, what):
    got = ws.recv(timeout=TIMEOUT)
    check(type(got) is type(expected), f"{what}: got {type(got).__name__}, not {type(expected).__name__}")
    check(got == expected, f"{what}: got {summary(got)}, not {summary(expected)}"
          f" (first difference at index {first_difference(got, expected)})")


def echo(ws, message):
    ws.send(message)
    expect(ws, message, f"echo of {summary(message)}")


def big_text():
    unit = "a\u00e9\u20ac\U0001d11e \u65e5\u672c\u8a9e \u0451\u0436 \U0001f600!"  # 1 to 4 byte chars
    text = unit * ((1 << 20) // len(unit.encode()) + 1)
    check(len(text.encode()) >= 1 << 20, "big text is at least 1 MiB")
    return text


def close_normally(ws):
    ws.close(1000, "done")
    check(ws.protocol.state is State.CLOSED, f"state after close: {ws.protocol.state}")
    check(close_info(ws.protocol.close_rcvd) == (1000, ""),
          f"close reply {close_info(ws.protocol.close_rcvd)}")


def messages(url):
    with open_ws(url) as ws:
        check(ws.subprotocol is None, f"subprotocol {ws.subprotocol!r} though none was offered")
        selected = ws.response.headers.get("Sec-WebSocket-Extensions")
        check(
            selected == "permessage-deflate",
            f"the server selected {selected!r}, not permessage-deflate",
        )
        echo(ws, "Hello, wsock! h\u00e9llo \u65e5\u672c")
        echo(ws, bytes([0, 1, 2, 0x7F, 0x80, 0xFE, 0xFF]))
        echo(ws, "")
        echo(ws, b"")
        echo(ws, bytes((i * 31 + (i >> 8)) & 0xFF for i in range(1 << 20)))
        echo(ws, big_text())
        close_normally(ws)


def ping(url):
    with open_ws(url) as ws:
        for payload in (b"", bytes([0, 0xFF, 0x10, 0x80]), bytes(range(125))):
            pong = ws.ping(payload)
            check(pong.wait(TIMEOUT), f"no pong for the ping {payload.hex()}")
        payload = bytes([0xDE, 0xAD, 0x00, 0xBE, 0xEF])
        ws.send(f"ping:{payload.hex()}")
        got = ws.recv(timeout=TIMEOUT)
        check(got == f"pong-received:{payload.hex()}", f"after ping:{payload.hex()}: {got!r}")
        echo(ws, "still open")
        close_normally(ws)


def close_by_client(url):
    with open_ws(url) as ws:
        echo(ws, "before close")
        start = time.monotonic()
        ws.close(4001, "bye from python \u2713")
        elapsed = time.monotonic() - start
        p = ws.protocol
        check(p.state is State.CLOSED, f"state after close: {p.state}")
        check(close_info(p.close_sent) == (4001, "bye from python \u2713"), f"sent {close_info(p.close_sent)}")
        check(close_info(p.close_rcvd) == (4001, ""), f"close reply {close_info(p.close_rcvd)}")
        check(p.close_rcvd_then_sent is False, "close_rcvd_then_sent")
        # Within the close timeout: the server ended TCP, it was not our timer.
        check(elapsed < CLOSE_TIMEOUT - 1, f"close took {elapsed:.2f} s")


def close_by_server(url):
    with open_ws(url) as ws:
        echo(ws, "before close")
        ws.send("close:4000:bye from wsock \u2713")
        try:
            got = ws.recv(timeout=TIMEOUT)
        except ConnectionClosed as e:
            check(close_info(e.rcvd) == (4000, "bye from wsock \u2713"), f"received close {close_info(e.rcvd)}")
            check(e.sent is not None and e.sent.code == 4000, f"sent close {close_info(e.sent)}")
            check(e.rcvd_then_sent is True, "rcvd_then_sent")
        else:
            raise Mismatch(f"expected the server's close, got {summary(got)}")
        check(ws.wait_closed(CLOSE_TIMEOUT), "TCP not closed after the closing handshake")
        check(ws.protocol.state is State.CLOSED, f"state {ws.protocol.state}")


def subprotocol(url):
    with open_ws(url, subprotocols=["chat"]) as ws:
        check(ws.subprotocol == "chat", f"subprotocol {ws.subprotocol!r}")
        ws.send("subprotocol?")
        got = ws.recv(timeout=TIMEOUT)
        check(got == "subprotocol:chat", f"server says {got!r}")
        close_normally(ws)


def fragments(url):
    with open_ws(url) as ws:
        ws.send(["frag", "", "ment", "ed \u2603"])
        expect(ws, "fragmented \u2603", "echo of a fragmented text")
        ws.send([b"\x00\x01", b"", b"\xff"])
        expect(ws, b"\x00\x01\xff", "echo of a fragmented binary")
        ws.send("fragmented?")
        expect(ws, "snow\u2603man", "the server's fragmented text")
        expect(ws, bytes(range(10)), "the server's fragmented binary")
        close_normally(ws)


SCENARIOS = {
    "messages": messages,
    "ping": ping,
    "close-by-client": close_by_client,
    "close-by-server": close_by_server,
    "subprotocol": subprotocol,
    "fragments": fragments,
}


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in SCENARIOS:
        print(f"usage: ws_client.py URL {{{'|'.join(SCENARIOS)}}}", file=sys.stderr)
        return 2
    scenario = sys.argv[2]
    try:
        SCENARIOS[scenario](sys.argv[1])
    except Mismatch as e:
        print(f"FAIL {scenario}: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001
        print(f"FAIL {scenario}: {e!r}", file=sys.stderr)
        return 1
    print(f"ok {scenario}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
