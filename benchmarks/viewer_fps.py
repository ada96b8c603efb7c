"""Does the Live Lab cost the stream anything? Complete fps at 30 and 60 fps input, 0 vs 3 viewers.

    .venv/bin/python benchmarks/viewer_fps.py [--seconds 15] [--rounds 2]

The live pipeline as `mocap-bridge run` builds it (LIVE_STREAM landmarkers, assembler, solver, real
Live Link/VMC/OSC sinks to a local UDP drain, the WebSocket server with the viewer attached), fed
the shared clip pre-decoded at 640 px and paced at exactly 30 or 60 fps (``PacedLoop``). With
"3 viewers", three clients in a separate process subscribe to every channel including ``video``
(JPEG thumbnails at the default 10 fps, 320 px) and ``lab``, as three open pages would. Both
cases keep ``--plain`` (1) ordinary stream client connected, as the main benchmark's tracking
figure does, so the JSON stream runs in both and the difference is the viewers' own
(``--plain 0`` compares against a stream nobody reads, which skips its JSON encoding). Runs
alternate 0 / 3 viewers for ``--rounds`` rounds at each rate, so drift on a shared machine hits
both alike. Printed per rate: median complete fps (frames with no part missing, per second of
input, first 2 s excluded) with 0 and 3 viewers, their ratio, and the thumbnails the clients got.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
CLIP = HERE.parents[1] / "shared" / "media" / "fist_thumbs_up.mp4"


@dataclass(slots=True)
class ViewerRun:
    fps: float
    viewers: int
    complete_fps: float
    out_fps: float
    video_messages: int
    video_kb: float
    loop_us_p50: float  # the viewer's work on the loop thread per call (lab message, video send)
    loop_us_p95: float
    jpeg_ms_p50: float  # one thumbnail (resize + JPEG), on the thumbnailer's own thread


class _ViewerClients:
    """A sink that only starts/stops the client process once the WebSocket server listens."""

    name = "viewer-clients"

    def __init__(self, server: Any, n: int, plain: int) -> None:
        self._server = server
        self._n = n
        self._plain = plain
        self.proc: subprocess.Popen[str] | None = None
        self.counts: dict[str, int] = {}

    async def start(self) -> None:
        if self._n or self._plain:
            self.proc = subprocess.Popen(  # noqa: ASYNC220 (once, before the stream starts)
                [
                    sys.executable,
                    str(HERE / "viewer_clients.py"),
                    str(self._server.port),
                    str(self._n),
                    str(self._plain),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )

    def send(self, frame: Any) -> None:
        pass

    def status(self) -> str:
        return ""

    async def aclose(self) -> None:
        if self.proc is not None:
            out, _ = self.proc.communicate("", timeout=30)
            self.counts = json.loads(out.strip().splitlines()[-1])


class _Timers:
    """Times the viewer's own work by wrapping its entry points (benchmark only)."""

    def __init__(self) -> None:
        from mocap_bridge.capture.thumbnails import Thumbnailer
        from mocap_bridge.transports.websocket import WebSocketServer
        from mocap_bridge.viewer.session import LabSink

        self.loop_us: list[float] = []
        self.jpeg_ms: list[float] = []
        self._patched = [(LabSink, "send"), (WebSocketServer, "send_video"), (Thumbnailer, "encode")]
        self._orig = [getattr(cls, name) for cls, name in self._patched]
        for (cls, name), orig in zip(self._patched, self._orig, strict=True):
            jpeg = name == "encode"
            setattr(cls, name, self._wrap(orig, self.jpeg_ms if jpeg else self.loop_us, 1e3 if jpeg else 1e6))

    @staticmethod
    def _wrap(orig: Any, out: list[float], scale: float) -> Any:
        def timed(*args: Any, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return orig(*args, **kw)
            finally:
                out.append((time.perf_counter() - t0) * scale)

        return timed

    def restore(self) -> None:
        for (cls, name), orig in zip(self._patched, self._orig, strict=True):
            setattr(cls, name, orig)


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else 0.0


@dataclass(slots=True)
class _Probe:
    """The last sink: what reached the outputs (frame index, complete)."""

    name: str = "probe"
    indices: list[int] = field(default_factory=list)
    complete: list[bool] = field(default_factory=list)

    async def start(self) -> None:
        pass

    def send(self, frame: Any) -> None:
        self.indices.append(frame.index)
        self.complete.append(frame.tracked.complete)

    def status(self) -> str:
        return f"probe {len(self.indices)}"

    async def aclose(self) -> None:
        pass


def measure(
    reader: Any,
    fps: float,
    viewers: int,
    seconds: float,
    settings: Any,
    paths: Any,
    plain: int = 1,
) -> ViewerRun:
    """One run of the live pipeline with the viewer on and ``viewers`` clients watching."""
    from mocap_bridge.app import RunOptions, run_session, viewer_options
    from mocap_bridge.bench.live import PacedLoop, _UdpDrain, outputs_to
    from mocap_bridge.clock import wall_offset_ms
    from mocap_bridge.sinks import WebSocketSink, build_sinks
    from mocap_bridge.solve.rig import RigSolver

    drain = _UdpDrain()
    run_settings = outputs_to(settings, drain.port)
    sinks: list[Any] = list(
        build_sinks(run_settings, stream_rate_hz=fps, wall_clock_offset_ms=wall_offset_ms())
    )
    ws = next(s for s in sinks if isinstance(s, WebSocketSink))
    clients = _ViewerClients(ws.server, viewers, plain)
    probe = _Probe()
    sinks += [clients, probe]
    warm = math.ceil(2.0 * fps)
    opts = RunOptions(quiet=True, viewer=replace(viewer_options(run_settings), output_dir=Path("/tmp")))
    timers = _Timers()
    try:
        result = run_session(
            run_settings,
            PacedLoop(reader, fps=fps, seconds=seconds, warm=warm),
            RigSolver(run_settings).solve,
            sinks,
            opts=opts,
            model_paths=paths,
            out=io.StringIO(),
        )
    finally:
        timers.restore()
        drain.close()
    keep = [i for i, idx in enumerate(probe.indices) if idx >= warm]
    submitted = max(1, result.stats.captured - warm)
    span = submitted / fps
    return ViewerRun(
        fps=fps,
        viewers=viewers,
        complete_fps=sum(probe.complete[i] for i in keep) / span,
        out_fps=len(keep) / span,
        video_messages=clients.counts.get("video", 0),
        video_kb=clients.counts.get("video_bytes", 0) / 1024,
        loop_us_p50=_pct(timers.loop_us, 50),
        loop_us_p95=_pct(timers.loop_us, 95),
        jpeg_ms_p50=_pct(timers.jpeg_ms, 50),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rates", default="30,60")
    parser.add_argument("--plain", type=int, default=1, help="ordinary stream clients in both cases")
    args = parser.parse_args()
    import tempfile

    from mocap_bridge.bench.clip import FrameReader, decode_source
    from mocap_bridge.settings import load_settings
    from mocap_bridge.tracking.offline import resolve_model_paths

    if not CLIP.is_file():
        sys.exit(f"benchmark clip missing: {CLIP}")
    settings = load_settings()
    paths = resolve_model_paths(settings.tracking, models_dir=None, offline=False, say=lambda m: None)
    folder = Path(tempfile.mkdtemp(prefix="viewer-fps-"))
    reader = FrameReader(decode_source(str(CLIP), folder, max_frames=10_000))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"viewer cost: {args.rounds} rounds × {args.seconds:g} s per point, clip {CLIP.name};"
        f" load average {load} on {os.cpu_count()} cores",
        flush=True,
    )
    for fps in (float(r) for r in args.rates.split(",")):
        runs: dict[int, list[ViewerRun]] = {0: [], 3: []}
        for _ in range(args.rounds):
            for n in (0, 3):
                r = measure(reader, fps, n, args.seconds, settings, paths, plain=args.plain)
                runs[n].append(r)
                print(
                    f"  {fps:g} fps in, {n} viewers: complete {r.complete_fps:5.1f} fps,"
                    f" out {r.out_fps:5.1f} fps, thumbnails received {r.video_messages}"
                    f" ({r.video_kb:.0f} KiB); viewer on the loop p50 {r.loop_us_p50:.0f} us"
                    f" p95 {r.loop_us_p95:.0f} us per call; JPEG p50 {r.jpeg_ms_p50:.1f} ms (own thread)",
                    flush=True,
                )
        c0 = statistics.median(r.complete_fps for r in runs[0])
        c3 = statistics.median(r.complete_fps for r in runs[3])
        print(
            f"{fps:g} fps input: complete {c0:.1f} fps with 0 viewers, {c3:.1f} fps with 3 viewers"
            f" (ratio {c3 / c0 if c0 else float('nan'):.3f}); load average now"
            f" {os.getloadavg()[0]:.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
