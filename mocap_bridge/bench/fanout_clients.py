"""Client side of the fan-out benchmark, run as a subprocess (``python -m``): own loop, own core.

Protocol on stdin/stdout (one line each): prints ``ready`` once every client has its hello;
``stall`` opens the stalled client (raw TCP, WebSocket handshake, then never reads) and prints
``stalled``; ``window T0 T1`` (monotonic seconds from :mod:`mocap_bridge.clock`, the same clock
as the server's on Linux) prints one JSON object ``{"counts": [...]}``: messages each healthy
client received in that window; ``quit`` exits.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import sys

from websockets.asyncio.client import connect

from ..clock import monotonic_ms


async def _client(port: int, stamps: list[float], ready: asyncio.Event, stop: asyncio.Event) -> None:
    async with connect(f"ws://127.0.0.1:{port}/", max_size=None, compression=None, open_timeout=30) as ws:
        await ws.recv()  # hello
        ready.set()
        while not stop.is_set():
            await ws.recv()
            stamps.append(monotonic_ms() / 1000.0)


def _stalled(port: int) -> socket.socket:
    """A client that completes the WebSocket handshake and then never reads again."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(
        (
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    return s


async def main(port: int, n: int) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    stamps: list[list[float]] = [[] for _ in range(n)]
    readies = [asyncio.Event() for _ in range(n)]
    tasks = [asyncio.create_task(_client(port, stamps[i], readies[i], stop)) for i in range(n)]
    await asyncio.gather(*(r.wait() for r in readies))
    print("ready", flush=True)
    stalled: socket.socket | None = None
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().split():
        if line[0] == "stall":
            stalled = _stalled(port)
            print("stalled", flush=True)
        elif line[0] == "window":
            t0, t1 = float(line[1]), float(line[2])
            counts = [sum(t0 <= t <= t1 for t in s) for s in stamps]
            print(json.dumps({"counts": counts}), flush=True)
        elif line[0] == "quit":
            break
    stop.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if stalled is not None:
        stalled.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
