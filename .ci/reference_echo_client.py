#!/usr/bin/env python3
"""Reference echo client for `.ci/autobahn.sh --self-test` (fuzzingserver role).

Uses the `websockets` library (asyncio): asks the fuzzing server for the case
count, runs every case by echoing text as text and binary as binary, then
asks it to write the reports. permessage-deflate is not offered
(compression=None); 64 MiB message limit.
Usage: reference_echo_client.py ws://HOST:PORT
"""
import asyncio
import os
import sys

# websockets caps a fragmented message at 4096 frames by default (and fails
# with 1009); cases 9.3.x/9.4.x send up to 65536 fragments.
os.environ.setdefault("WEBSOCKETS_MAX_FRAGMENTS", str(1 << 20))

from websockets.asyncio.client import connect  # noqa: E402

AGENT = "reference-client"
OPTS = dict(compression=None, max_size=64 * 1024 * 1024, ping_interval=None,
            open_timeout=30, close_timeout=10)


async def main(base):
    async with connect(f"{base}/getCaseCount", **OPTS) as ws:
        count = int(await ws.recv())
    print(f"reference client: running {count} cases", file=sys.stderr)
    for n in range(1, count + 1):
        try:
            async with connect(f"{base}/runCase?case={n}&agent={AGENT}", **OPTS) as ws:
                async for message in ws:
                    await ws.send(message)
        except Exception:
            pass  # the case itself ends in a protocol error or an abrupt close
    async with connect(f"{base}/updateReports?agent={AGENT}", **OPTS) as ws:
        try:
            await ws.recv()
        except Exception:
            pass


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
