"""The compressing echo server of `bench/run memory compress`: Python's `websockets` (installed
by the bench into target/bench-venv) with its default permessage-deflate, on 127.0.0.1 port 0;
the readiness line on stderr."""
import asyncio
import sys

from websockets.asyncio.server import serve


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def main():
    async with serve(echo, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"listening on ws://127.0.0.1:{port}", file=sys.stderr, flush=True)
        await asyncio.get_running_loop().create_future()


asyncio.run(main())
