#!/usr/bin/env python3
"""Echo server on the `websockets` library, the peer of tests/interop_python.rs.

Usage: ws_echo_server.py            (listens on 127.0.0.1, a port the OS picks)

Prints the chosen port as the first line of stdout, then one line per event:

    open subprotocol=<selected or None> offered=<list offered by the client>
    pong-received <hex>            a ping we sent (see `ping:`) was answered
    closed rcvd=<(code, reason) or None> sent=<...> rcvd_then_sent=<bool>
    error <repr>                   the handler failed

Echoes text as text and binary as binary, byte for byte (permessage-deflate
declined, 16 MiB limit). Selects the subprotocol `chat` when offered and none
otherwise. Text commands (not echoed):

    close:CODE:REASON   start the closing handshake with CODE and REASON
    ping:HEX            send a ping with that payload, wait for its pong, then
                        answer the text `pong-received:HEX`
    subprotocol?        answer `subprotocol:<selected>` (empty when none)
    fragmented?         answer with two fragmented messages (an empty fragment
                        in the middle of each): the text `fragmented \u2603` in 4
                        fragments and the binary 00 01 ff in 3

Exits when stdin reaches EOF (the test that started it is gone) or after 120 s.
"""
import asyncio
import os
import sys
import threading

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

LIFETIME = 120.0


def report(line):
    print(line, flush=True)


def close_info(close):
    return None if close is None else (int(close.code), close.reason)


def select_subprotocol(connection, subprotocols):
    return "chat" if "chat" in subprotocols else None


async def handler(ws):
    offered = ws.request.headers.get_all("Sec-WebSocket-Protocol")
    report(f"open subprotocol={ws.subprotocol} offered={offered!r}")
    try:
        async for message in ws:
            if isinstance(message, str) and message.startswith("close:"):
                _, code, reason = message.split(":", 2)
                await ws.close(int(code), reason)
                break
            if isinstance(message, str) and message.startswith("ping:"):
                payload = bytes.fromhex(message[len("ping:"):])
                pong = await ws.ping(payload)
                await asyncio.wait_for(pong, 10)
                report(f"pong-received {payload.hex()}")
                await ws.send(f"pong-received:{payload.hex()}")
                continue
            if message == "extensions?":
                selected = ws.response.headers.get("Sec-WebSocket-Extensions")
                await ws.send(f"extensions:{selected or ''}")
                continue
            if message == "subprotocol?":
                await ws.send(f"subprotocol:{ws.subprotocol or ''}")
                continue
            if message == "fragmented?":
                await ws.send(["frag", "", "ment", "ed \u2603"])
                await ws.send([b"\x00\x01", b"", b"\xff"])
                continue
            await ws.send(message)  # str -> text frame, bytes -> binary frame
    except ConnectionClosed:
        pass
    except Exception as e:  # noqa: BLE001 - reported to the test
        report(f"error {e!r}")
    await ws.wait_closed()
    p = ws.protocol
    report(
        f"closed rcvd={close_info(p.close_rcvd)!r} sent={close_info(p.close_sent)!r}"
        f" rcvd_then_sent={p.close_rcvd_then_sent}"
    )


def exit_on_stdin_eof():
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        os._exit(0)


async def main():
    threading.Thread(target=exit_on_stdin_eof, daemon=True).start()
    asyncio.get_running_loop().call_later(LIFETIME, os._exit, 3)
    async with serve(
        handler,
        "127.0.0.1",
        0,
        # Compression on, as websockets serves by default.
        max_size=2**24,
        ping_interval=None,
        close_timeout=5,
        select_subprotocol=select_subprotocol,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        report(str(port))
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
