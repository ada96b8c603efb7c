"""The live pipeline at a paced input rate: complete frames/s, latency, CPU per frame and RSS.

Worker (``python -m mocap_bridge.bench.live JOB``): :func:`mocap_bridge.app.run_session`
(LIVE_STREAM, concurrent landmarkers, assembler with ``deadline_ms``, solver) with the real Live
Link, VMC, OSC and WebSocket sinks, fed by :class:`PacedLoop`: the decoded frames looped at
exactly ``fps`` in real time. The receivers are the parent's (:func:`run_live`): a UDP socket on
127.0.0.1 that every UDP sink sends to, and one WebSocket client, so their work is not billed to
the pipeline's CPU time.

Measured in the steady state, after the first ``warmup_s`` (MediaPipe's graphs start, the hand
search settles): complete frames (no part missing) per second of input, capture → last sink
latency, process CPU time (all threads) per submitted frame, and RSS once a second.
"""

from __future__ import annotations

import asyncio
import math
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..capture.sources import CapturedFrame
from ..clock import cpu_s, monotonic_ms
from ..frames import RigFrame
from ..settings import Settings
from .clip import FrameFile, FrameReader
from .memory import peak_rss_mb, rss_mb

__all__ = [
    "LiveJob",
    "LiveResult",
    "PacedLoop",
    "ProbeSink",
    "live_summary",
    "measure_live",
    "outputs_to",
    "run_live",
]


@dataclass(frozen=True, slots=True)
class LiveJob:
    frames: FrameFile
    settings: Settings  #: outputs already pointed at the parent's receivers
    model_paths: dict[str, Path]
    parts: tuple[bool, bool, bool]
    fps: float
    seconds: float
    warmup_s: float


def thread_cpu_s() -> dict[int, tuple[str, float]]:
    """CPU seconds of each of this process's threads, with its name (Linux ``/proc``; else empty).
    MediaPipe names its graph and inference threads ``drishti``."""
    out: dict[int, tuple[str, float]] = {}
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/comm", encoding="utf-8") as fh:
                name = fh.read().strip()
            with open(f"/proc/self/task/{tid}/stat", encoding="ascii") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended meanwhile
        out[int(tid)] = (name, (int(fields[11]) + int(fields[12])) / tick)  # utime + stime
    return out


def mediapipe_split(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]
) -> tuple[float, float]:
    """(MediaPipe's threads, every other thread) CPU seconds between two :func:`thread_cpu_s`
    snapshots; a thread started meanwhile counts whole."""
    mp = other = 0.0
    for tid, (name, cpu) in after.items():
        spent = cpu - before.get(tid, (name, 0.0))[1]
        if name == "drishti":
            mp += spent
        else:
            other += spent
    return mp, other


class PacedLoop:
    """A FrameSource: the frame file looped at ``fps`` in real time, stamped on release.

    Also the run's meter: the CPU clock when frame ``warm`` is released and after the last one,
    and RSS once a second (on the capture thread, off the loop).
    """

    def __init__(self, reader: FrameReader, *, fps: float, seconds: float, warm: int) -> None:
        self.description = f"benchmark frames looped at {fps:g} fps"
        self.fps = fps
        self._reader = reader
        self.count = max(warm + 1, math.floor(seconds * fps))
        self.warm = warm
        self.cpu_warm = self.cpu_end = 0.0
        self.threads_warm: dict[int, tuple[str, float]] = {}
        self.threads_end: dict[int, tuple[str, float]] = {}
        self.wall_warm = self.wall_end = 0.0  # monotonic ms
        self.rss: list[tuple[float, float]] = []  # (monotonic s, MiB)

    def frames(self) -> Iterator[CapturedFrame]:
        period = 1000.0 / self.fps
        start = monotonic_ms()
        last = -1
        next_rss = 0.0
        for i in range(self.count):
            rgb = self._reader.read(i)
            due = start + i * period
            now = monotonic_ms()
            if due > now:
                time.sleep((due - now) / 1000.0)
            now = monotonic_ms()
            if now >= next_rss:
                self.rss.append((now / 1000.0, rss_mb()))
                next_rss = now + 1000.0
            if i == self.warm:
                self.cpu_warm, self.wall_warm = cpu_s(), now
                self.threads_warm = thread_cpu_s()
            t = max(math.floor(now), last + 1)
            last = t
            yield CapturedFrame(i, t, rgb)
        self.cpu_end, self.wall_end = cpu_s(), monotonic_ms()
        self.threads_end = thread_cpu_s()
        self.rss.append((monotonic_ms() / 1000.0, rss_mb()))

    def close(self) -> None:
        pass


@dataclass(slots=True)
class ProbeSink:
    """The last sink: records what reached the outputs; tells the parent the WebSocket port and
    waits for its client before the run starts."""

    ws: Any = None  # the WebSocketSink, if any
    name: str = "probe"
    indices: list[int] = field(default_factory=list)
    complete: list[bool] = field(default_factory=list)

    async def start(self) -> None:
        from .worker import emit

        if self.ws is None:
            emit(ws_port=None)
            return
        emit(ws_port=self.ws.port)
        for _ in range(2000):  # up to 20 s for the parent's client
            if self.ws.server.clients >= 1:
                return
            await asyncio.sleep(0.01)

    def send(self, frame: RigFrame) -> None:
        self.indices.append(frame.index)
        self.complete.append(frame.tracked.complete)

    def status(self) -> str:
        return f"probe {len(self.indices)}"

    async def aclose(self) -> None:
        pass


def _percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def live_summary(
    *,
    indices: list[int],
    complete: list[bool],
    latencies: list[float],
    warm: int,
    submitted: int,
    fps: float,
    cpu_window_s: float,
    wall_window_s: float,
    rss: list[tuple[float, float]],
    warmup_s: float,
    seconds: float,
) -> dict[str, Any]:
    """Steady-state figures; frames with index < ``warm`` are excluded everywhere.

    ``submitted``: frames released from ``warm`` on; ``cpu_window_s`` / ``wall_window_s``: process
    CPU time / wall time from the release of frame ``warm`` to after the last (their ratio is the
    cores the process got); ``rss``: (s, MiB) samples. RSS growth runs from the
    first sample after max(warm-up, a quarter of the run) to the last (MediaPipe frees start-up
    buffers in the first seconds, which would hide growth).
    """
    keep = [k for k, idx in enumerate(indices) if idx >= warm]
    span_s = submitted / fps if submitted else math.inf
    n_complete = sum(complete[k] for k in keep)
    lat = [latencies[k] for k in keep if k < len(latencies)]
    t0 = rss[0][0] + max(warmup_s, 0.25 * seconds) if rss else 0.0
    after = [mb for t, mb in rss if t >= t0] or [mb for _, mb in rss[-1:]] or [math.nan]
    return {
        "submitted": submitted,
        "complete_fps": n_complete / span_s,
        "out_fps": len(keep) / span_s,
        "complete_ratio": n_complete / submitted if submitted else 0.0,
        "latency_p50_ms": _percentile(lat, 50),
        "latency_p95_ms": _percentile(lat, 95),
        "cpu_per_frame_ms": cpu_window_s * 1e3 / submitted if submitted else None,
        "cpu_cores": cpu_window_s / wall_window_s if wall_window_s > 0 else None,
        "rss_mb": after[-1],
        "rss_growth_mb": after[-1] - after[0],
        "rss_start_mb": after[0],
    }


def measure_live(job: LiveJob) -> dict[str, Any]:
    from ..app import RunOptions, run_session
    from ..clock import wall_offset_ms
    from ..sinks import WebSocketSink, build_sinks
    from ..solve.rig import RigSolver

    sinks: list[Any] = build_sinks(
        job.settings, stream_rate_hz=job.fps, wall_clock_offset_ms=wall_offset_ms()
    )
    ws = next((s for s in sinks if isinstance(s, WebSocketSink)), None)
    probe = ProbeSink(ws=ws)
    sinks.append(probe)
    warm = math.ceil(job.warmup_s * job.fps)
    with job.frames.reader() as reader:
        source = PacedLoop(reader, fps=job.fps, seconds=job.seconds, warm=warm)
        result = run_session(
            job.settings,
            source,
            RigSolver(job.settings).solve,
            sinks,
            opts=RunOptions(quiet=True),
            model_paths=job.model_paths,
            parts=job.parts,
        )
    stats = result.stats
    out = live_summary(
        indices=probe.indices,
        complete=probe.complete,
        latencies=stats.all_latencies,
        warm=warm,
        submitted=max(0, stats.captured - warm),
        fps=job.fps,
        cpu_window_s=source.cpu_end - source.cpu_warm,
        wall_window_s=(source.wall_end - source.wall_warm) / 1000.0,
        rss=source.rss,
        warmup_s=job.warmup_s,
        seconds=job.seconds,
    )
    submitted = max(0, stats.captured - warm)
    if source.threads_end and submitted:
        mp, other = mediapipe_split(source.threads_warm, source.threads_end)
        out.update(cpu_mediapipe_ms=mp * 1e3 / submitted, cpu_bridge_ms=other * 1e3 / submitted)
    out.update(
        rss_peak_mb=peak_rss_mb(),
        partial=stats.partial,
        dropped=stats.dropped,
        errors=stats.errors,
        captured=stats.captured,
    )
    return out


# ---------------------------------------------------------------------------------- parent side
class _UdpDrain:
    """The local UDP receiver of the Live Link / VMC / OSC sinks, read on a thread."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.datagrams = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-udp", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sock.recv(65536)
                self.datagrams += 1
            except TimeoutError:
                continue
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        self._thread.join(1.0)
        self.sock.close()


class _WsClient:
    """One WebSocket client reading every message, on a thread."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.received = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-ws", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from websockets.sync.client import connect

        try:
            with connect(f"ws://127.0.0.1:{self.port}/", open_timeout=10, max_size=None) as ws:
                while not self._stop.is_set():
                    try:
                        ws.recv(timeout=0.5)
                    except TimeoutError:
                        continue
                    self.received += 1
        except Exception:  # the server closing at the end of the run
            return

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)


@dataclass(frozen=True, slots=True)
class LiveResult:
    figures: dict[str, Any]
    udp_datagrams: int
    ws_messages: int


def outputs_to(settings: Settings, udp_port: int) -> Settings:
    """Every output on: UDP sinks to 127.0.0.1:``udp_port``, the WebSocket server on any port."""
    local = [f"127.0.0.1:{udp_port}"]
    for table in ("livelink", "vmc", "osc"):
        settings = settings.replace(table, enabled=True, targets=local)
    return settings.replace("ws", enabled=True, listen="127.0.0.1:0", token="")


def run_live(
    frames: FrameFile,
    settings: Settings,
    model_paths: dict[str, Path],
    parts: tuple[bool, bool, bool],
    folder: Path,
    *,
    fps: float,
    seconds: float,
    warmup_s: float = 2.0,
) -> LiveResult:
    """One live run in a fresh worker process, with this process as every output's receiver."""
    from .worker import Worker, write_job

    drain = _UdpDrain()
    client: _WsClient | None = None
    try:
        job = LiveJob(frames, outputs_to(settings, drain.port), model_paths, parts, fps, seconds, warmup_s)
        path = write_job(folder, f"live{fps:g}", job)
        with Worker("live", path, timeout_s=seconds + 180.0) as worker:
            figures: dict[str, Any] | None = None
            for msg in worker.messages():
                if "ws_port" in msg and msg["ws_port"] is not None:
                    client = _WsClient(int(msg["ws_port"]))
                if "result" in msg:
                    figures = msg["result"]
            assert figures is not None
    finally:
        if client is not None:
            client.close()
        drain.close()
    return LiveResult(figures, drain.datagrams, client.received if client is not None else 0)


if __name__ == "__main__":
    from .worker import worker_main

    worker_main(measure_live)
