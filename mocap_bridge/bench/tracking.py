"""Tracking throughput: the live pipeline at 30 fps input vs the seed's sequential recipe.

* **live**: :func:`mocap_bridge.app.run_session` (LIVE_STREAM, three concurrent landmarkers,
  assembler with deadline, solver, real sinks on 127.0.0.1) fed by :class:`PacedLoop`, which plays
  the clip's pre-decoded frames at exactly 30 fps in real time (the clip itself is 25 fps), looping
  it for the requested duration. Frames are decoded once beforehand so the figure measures the
  bridge, not H.264 decoding. A :class:`ProbeSink` (last sink) counts complete frames, samples RSS
  and keeps one WebSocket client connected so the JSON path runs too.
* **sequential**: the three landmarkers in VIDEO mode, called one after another per frame on the
  same decoded frames, as fast as possible (the recipe the bridge replaced). Built directly with
  MediaPipe Tasks here, independent of :mod:`mocap_bridge.tracking.landmarkers`.
"""

from __future__ import annotations

import math
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..capture.sources import CapturedFrame, open_source
from ..clock import monotonic_ms
from ..config import CaptureSettings
from ..frames import RigFrame
from ..tracking.landmarkers import Landmarkers, TrackerSettings
from .memory import rss_mb

__all__ = ["LiveResult", "PacedLoop", "ProbeSink", "decode_clip", "run_live", "run_sequential"]


def decode_clip(path: Path, max_side: int = 640) -> list[np.ndarray]:
    """Every frame of the clip as RGB, downscaled like the capture stage does."""
    src = open_source(str(path), realtime=False, max_side=max_side)
    try:
        return [f.rgb for f in src.frames()]
    finally:
        src.close()


class PacedLoop:
    """A FrameSource: ``images`` looped at ``fps`` in real time for ``seconds``, stamped on release."""

    def __init__(self, images: list[np.ndarray], *, fps: float = 30.0, seconds: float) -> None:
        self.description = f"benchmark clip looped at {fps:g} fps"
        self.fps = fps
        self._images = images
        self._n = max(1, math.floor(seconds * fps))

    def frames(self) -> Iterator[CapturedFrame]:
        period = 1000.0 / self.fps
        start = monotonic_ms()
        last = -1
        for i in range(self._n):
            due = start + i * period
            now = monotonic_ms()
            if due > now:
                time.sleep((due - now) / 1000.0)
            t = max(math.floor(monotonic_ms()), last + 1)
            last = t
            yield CapturedFrame(i, t, self._images[i % len(self._images)])

    def close(self) -> None:
        pass


@dataclass(slots=True)
class ProbeSink:
    """Counts what reaches the sinks, samples RSS once a second, keeps one WS client reading."""

    ws_port: Any = None  # callable returning the WebSocket port once the server listens
    name: str = "probe"
    indices: list[int] = field(default_factory=list)
    complete: list[bool] = field(default_factory=list)
    t_ms: list[int] = field(default_factory=list)
    rss: list[tuple[float, float]] = field(default_factory=list)  # (monotonic s, MB)
    ws_received: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _next_rss: float = 0.0

    async def start(self) -> None:
        self.rss.append((time.monotonic(), rss_mb()))
        if self.ws_port is not None and self.ws_port() is not None:
            t = threading.Thread(target=self._ws_client, args=(int(self.ws_port()),), daemon=True)
            t.start()
            self._threads.append(t)

    def _ws_client(self, port: int) -> None:
        from websockets.sync.client import connect

        try:
            with connect(f"ws://127.0.0.1:{port}/", open_timeout=5, max_size=None) as ws:
                while not self._stop.is_set():
                    try:
                        ws.recv(timeout=0.5)
                    except TimeoutError:
                        continue
                    self.ws_received += 1
        except Exception:  # the server closing at the end of the run
            return

    def send(self, frame: RigFrame) -> None:
        self.indices.append(frame.index)
        self.complete.append(frame.tracked.complete)
        self.t_ms.append(frame.t_ms)
        now = time.monotonic()
        if now >= self._next_rss:
            self.rss.append((now, rss_mb()))
            self._next_rss = now + 1.0

    def status(self) -> str:
        return f"probe {len(self.indices)}"

    async def aclose(self) -> None:
        self._stop.set()
        self.rss.append((time.monotonic(), rss_mb()))


class _UdpDrain:
    """A local UDP receiver for the Live Link / VMC / OSC sinks, read on a thread."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.datagrams = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
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


@dataclass(slots=True)
class LiveResult:
    seconds: float
    submitted: int
    complete_fps: float
    out_fps: float
    complete_ratio: float
    latency_p50_ms: float
    latency_p95_ms: float
    rss_start_mb: float
    rss_end_mb: float
    rss_growth_mb: float
    udp_datagrams: int
    ws_messages: int
    partial: int
    dropped: int


def run_live(
    images: list[np.ndarray],
    tracker: TrackerSettings,
    model_paths: dict[str, Path],
    solve_settings: Any,
    *,
    seconds: float,
    fps: float = 30.0,
    warmup_s: float = 2.0,
    real_sinks: bool = True,
) -> LiveResult:
    """Run the live pipeline on the paced clip; figures exclude the first ``warmup_s``."""
    from ..app import RunOptions, run_session
    from ..broadcast import BroadcastSettings, Endpoint, WebSocketSink, build_sinks
    from ..clock import wall_offset_ms
    from ..solve.rig import RigSolver

    drain = _UdpDrain() if real_sinks else None
    sinks: list[Any] = []
    ws_port = None
    if drain is not None:
        local = (Endpoint("127.0.0.1", drain.port),)
        settings = BroadcastSettings(
            livelink_targets=local, vmc_targets=local, osc_enabled=True, osc_targets=local,
            ws_listen=Endpoint("127.0.0.1", 0),
        )  # fmt: skip
        sinks = list(build_sinks(settings, stream_rate_hz=fps, wall_clock_offset_ms=wall_offset_ms()))
        ws = next((s for s in sinks if isinstance(s, WebSocketSink)), None)
        if ws is not None:
            ws_port = lambda: ws.port  # noqa: E731
    probe = ProbeSink(ws_port=ws_port)
    sinks.append(probe)
    source = PacedLoop(images, fps=fps, seconds=seconds)
    opts = RunOptions(capture=CaptureSettings(mode="realtime"), tracker=tracker, model_paths=model_paths,
                      quiet=True)  # fmt: skip
    try:
        result = run_session(opts, source, RigSolver(solve_settings).solve, sinks)
    finally:
        if drain is not None:
            drain.close()
    warm = math.ceil(warmup_s * fps)
    keep = [i for i, idx in enumerate(probe.indices) if idx >= warm]
    submitted = max(0, result.stats.captured - warm)
    span_s = submitted / fps if submitted else 1.0
    n_complete = sum(probe.complete[i] for i in keep)
    lat = result.stats.all_latencies
    lat_keep = np.asarray([lat[i] for i in keep if i < len(lat)]) if lat else np.zeros(0)
    # RSS: from the first sample after max(warm-up, a quarter of the run) to the last one; MediaPipe
    # frees start-up buffers during the first seconds, which would hide growth.
    t0 = probe.rss[0][0] + max(warmup_s, 0.25 * seconds) if probe.rss else 0.0
    after = [mb for t, mb in probe.rss if t >= t0] or [mb for _, mb in probe.rss[-1:]]
    return LiveResult(
        seconds=seconds,
        submitted=submitted,
        complete_fps=n_complete / span_s,
        out_fps=len(keep) / span_s,
        complete_ratio=n_complete / submitted if submitted else 0.0,
        latency_p50_ms=float(np.percentile(lat_keep, 50)) if lat_keep.size else math.nan,
        latency_p95_ms=float(np.percentile(lat_keep, 95)) if lat_keep.size else math.nan,
        rss_start_mb=after[0],
        rss_end_mb=after[-1],
        rss_growth_mb=after[-1] - after[0],
        udp_datagrams=drain.datagrams if drain is not None else 0,
        ws_messages=probe.ws_received,
        partial=result.stats.partial,
        dropped=result.stats.dropped,
    )


def run_sequential(
    images: list[np.ndarray], tracker: TrackerSettings, model_paths: dict[str, Path], *, frames: int,
    warmup: int = 3,
) -> float:  # fmt: skip
    """Frames per second of pose, face, hands in VIDEO mode, one after another per frame."""
    seed = replace(tracker, adaptive_hands=False)
    with Landmarkers(seed, model_paths, live=False, sequential=True) as lm:
        start = 0.0
        for i in range(frames + warmup):
            if i == warmup:
                start = time.perf_counter()
            lm.detect(images[i % len(images)], round(i * 1000 / 30))
        return frames / (time.perf_counter() - start)


def tracker_variant(tracker: TrackerSettings, **changes: Any) -> TrackerSettings:
    return replace(tracker, **changes)
