"""WebSocket clients in their own process: N Live Lab-like viewers (every channel, video and lab
included) and M plain stream clients (the default channels). They read everything until stdin
closes, then print one JSON line of counts.

    python benchmarks/viewer_clients.py PORT N [M]
"""

from __future__ import annotations

import asyncio
import json
import sys

from websockets.asyncio.client import connect

CHANNELS = "face,head,pose,hands,rig,lab,video"


async def client(port: int, counts: dict[str, int], viewer: bool = True) -> None:
    url = f"ws://127.0.0.1:{port}/" + (f"?channels={CHANNELS}" if viewer else "")
    async with connect(url, origin=f"http://127.0.0.1:{port}", max_size=None) as ws:  # type: ignore[arg-type]
        async for message in ws:
            if isinstance(message, bytes):
                counts["video"] += 1
                counts["video_bytes"] += len(message)
            else:
                counts["text"] += 1


async def main(port: int, n: int, plain: int) -> None:
    counts = {"video": 0, "video_bytes": 0, "text": 0}
    tasks = [asyncio.create_task(client(port, counts)) for _ in range(n)]
    tasks += [asyncio.create_task(client(port, counts, viewer=False)) for _ in range(plain)]
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent closes it
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 0))
