#!/usr/bin/env python3
"""Reference echo server for `.ci/autobahn.sh --self-test`.

Uses the `websockets` library (asyncio): echoes text as text and binary as
binary, permessage-deflate declined (compression=None), 64 MiB message limit.
Usage: reference_echo_server.py HOST:PORT
"""
import asyncio
import os
import sys

# websockets caps a fragmented message at 4096 frames by default (and fails
# with 1009); cases 9.3.x/9.4.x send up to 65536 fragments.
os.environ.setdefault("WEBSOCKETS_MAX_FRAGMENTS", str(1 << 20))

from websockets.asyncio.server import serve  # noqa: E402


async def echo(ws):
    try:
        async for message in ws:
            await ws.send(message)  # str -> text frame, bytes -> binary frame
    except Exception:
        pass  # protocol errors are handled (closed) by the library


async def main(addr):
    host, _, port = addr.rpartition(":")
    async with serve(echo, host, int(port), compression=None,
                     max_size=64 * 1024 * 1024, ping_interval=None):
        await asyncio.get_running_loop().create_future()  # run forever


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
