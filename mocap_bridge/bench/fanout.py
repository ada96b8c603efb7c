"""WebSocket fan-out: N healthy clients plus one that never reads, at a 30 Hz stream.

The server side is the bridge's own: :class:`~mocap_bridge.sinks.WebSocketSink` over
:class:`~mocap_bridge.transports.websocket.WebSocketServer` on 127.0.0.1, driven by a
:class:`~mocap_bridge.pipeline.Pipeline` (solver included) on this process's asyncio loop, fed
recorded frames on a 30 Hz schedule. The clients run in a subprocess
(:mod:`.fanout_clients`) with their own loop, so their receive work does not sit on the server's
loop (on a 2-core machine they still share the CPU, as real local clients would).

Two phases on the same connections: without, then with the stalled client. Reported: the slowest
healthy client's receive rate (with the stalled client present), and the stream's output rate
with vs without it (1.0 = no effect).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from ..clock import monotonic_ms, perf_ns
from ..frames import TrackedFrame
from ..settings import Settings

__all__ = ["FanoutResult", "run_fanout"]


@dataclass(slots=True)
class FanoutResult:
    clients: int
    min_client_hz: float
    min_client_hz_no_stall: float
    median_client_hz: float
    out_hz_no_stall: float
    out_hz_stall: float
    stalled_effect: float
    send_p50_us_no_stall: float
    send_p50_us_stall: float
    ws_dropped: int


def _now_s() -> float:
    """Monotonic seconds: the clients' subprocess stamps its messages with the same clock."""
    return monotonic_ms() / 1000.0


async def _until(cond: Callable[[], bool], timeout_s: float = 60.0) -> None:
    for _ in range(int(timeout_s / 0.01)):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise RuntimeError("fan-out clients did not connect in time")


async def _stream(
    pipeline: object, frames: list[TrackedFrame], start_index: int, n: int, hz: float, send_us: list[float]
) -> tuple[float, float, float]:
    """Process ``n`` frames on a ``hz`` schedule; returns (t_first, t_last, output rate)."""
    period = 1.0 / hz
    t_start = _now_s()
    step = 1000.0 / hz
    first = last = t_start
    for i in range(n):
        due = t_start + i * period
        delay = due - _now_s()
        if delay > 0:
            await asyncio.sleep(delay)
        src = frames[(start_index + i) % len(frames)]
        k = start_index + i
        f = replace(src, index=k, t_ms=round(k * step))
        t0 = perf_ns()
        pipeline.process(f)  # type: ignore[attr-defined]
        send_us.append((perf_ns() - t0) / 1e3)
        now = _now_s()
        if i == 0:
            first = now
        last = now
    rate = (n - 1) / (last - first) if last > first else 0.0
    return first, last, rate


async def _fanout(
    frames: list[TrackedFrame], settings: Settings, n_clients: int, seconds: float, hz: float
) -> FanoutResult:
    from ..clock import wall_offset_ms
    from ..pipeline import Pipeline
    from ..protocols.ws_json import WsJsonEncoder, parse_channels
    from ..sinks import WebSocketSink
    from ..solve.rig import RigSolver
    from ..transports.websocket import WebSocketServer

    enc = WsJsonEncoder(wall_clock_offset_ms=wall_offset_ms(), stream_rate_hz=hz)
    server = WebSocketServer("127.0.0.1", 0, hello=enc.hello, parse_channels=parse_channels)
    sink = WebSocketSink(enc, server)
    await sink.start()
    pipeline = Pipeline(RigSolver(settings).solve, [sink], clock=monotonic_ms, measure_latency=False)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mocap_bridge.bench.fanout_clients",
        str(server.port),
        str(n_clients),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None

    async def ask(cmd: str) -> str:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(cmd.encode() + b"\n")
        await proc.stdin.drain()
        return (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()

    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 120)).decode().strip()
        if line != "ready":
            raise RuntimeError(f"fan-out clients failed to start: {line!r}")
        await _until(lambda: server.clients >= n_clients)
        n = max(2, round(seconds * hz))
        warm = round(hz)  # one second before the measured window
        await _stream(pipeline, frames, 0, warm, hz, [])
        send_a: list[float] = []
        a0, a1, rate_a = await _stream(pipeline, frames, warm, n, hz, send_a)
        counts_a = json.loads(await ask(f"window {a0} {a1}"))["counts"]
        if await ask("stall") != "stalled":
            raise RuntimeError("stalled client did not connect")
        await _until(lambda: server.clients >= n_clients + 1)
        await _stream(pipeline, frames, warm + n, warm, hz, [])  # let its buffers fill
        send_b: list[float] = []
        b0, b1, rate_b = await _stream(pipeline, frames, 2 * warm + n, n, hz, send_b)
        counts_b = json.loads(await ask(f"window {b0} {b1}"))["counts"]
        proc.stdin.write(b"quit\n")
        await proc.stdin.drain()
        await asyncio.wait_for(proc.wait(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await sink.aclose()
    # n frames over (a1 - a0): a client that got every frame has rate (n - 1) / span like the server
    hz_a = np.asarray(counts_a, dtype=float) / (a1 - a0) * (n - 1) / n
    hz_b = np.asarray(counts_b, dtype=float) / (b1 - b0) * (n - 1) / n
    return FanoutResult(
        clients=n_clients,
        min_client_hz=float(hz_b.min()),
        min_client_hz_no_stall=float(hz_a.min()),
        median_client_hz=float(np.median(hz_b)),
        out_hz_no_stall=rate_a,
        out_hz_stall=rate_b,
        stalled_effect=rate_b / rate_a if rate_a > 0 else 0.0,
        send_p50_us_no_stall=float(np.median(send_a)),
        send_p50_us_stall=float(np.median(send_b)),
        ws_dropped=server.dropped,
    )


def run_fanout(
    frames: list[TrackedFrame], settings: Settings, *, clients: int, seconds: float, hz: float = 30.0
) -> FanoutResult:
    """Run both phases; see the module docstring."""
    return asyncio.run(_fanout(frames, settings, clients, seconds, hz))
