"""Live Lab wiring for one run: the controls, the ``lab``/``video`` channels and switchable outputs.

The app builds one :class:`LiveLab` per run when the viewer is on and calls it at three points:

* ``LiveLab(options, sinks, …)`` before the pipeline: wraps each UDP output in a
  :class:`SwitchableSink` (the page may turn it off and on) and adds the :class:`LabSink`, which
  sends the ``lab`` message per frame and a ``stats`` message twice a second to subscribed pages;
* :meth:`LiveLab.bind` once the pipeline and the loop exist: attaches static files, channels and
  commands to the WebSocket server, and starts the thumbnail worker;
* :meth:`LiveLab.on_capture` on the capture thread for every frame: applies the run-time mirror,
  offers the frame to the thumbnailer and says whether to track it (pause).

Everything else (commands, stats) runs on the loop thread. Command effects show in the stream:
the ``stats`` message carries :meth:`SessionControls.state`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from ..capture.sources import CapturedFrame
from ..clock import monotonic_ms, monotonic_s, wall_ms
from ..errors import MocapBridgeError
from ..frames import HumanBone, RigFrame, TrackedFrame
from ..pipeline import Pipeline, Solve
from ..recording import RecordingWriter
from ..sink import FrameSink
from ..transports.websocket import ViewerHooks, WebSocketServer
from . import resolve_static
from .commands import OUTPUTS, CommandError, handle_command
from .lab import LabEncoder, stats_message

__all__ = ["LabSink", "LiveLab", "SessionControls", "SwitchableSink", "ViewerOptions"]

log = logging.getLogger(__name__)

#: Channels the viewer adds to the WebSocket server.
VIEWER_CHANNELS = frozenset({"lab", "video"})


@dataclass(frozen=True, slots=True)
class ViewerOptions:
    """Viewer settings for one run (``[ws] video_fps``, ``video_width``; where files go).

    ``solver_with_calibration(path)`` builds a solver that applies the profile at ``path`` (None:
    calibration is saved but applied only on the next start).
    """

    video_fps: float = 10.0
    video_width: int = 320
    output_dir: Path = field(default_factory=Path.cwd)
    hold_ms: float = 250.0
    solver_with_calibration: Callable[[Path], Solve] | None = None


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What a recording's header needs to know about the run."""

    description: str
    fps: float
    mode: str
    mirror: bool
    replay: bool
    live: bool
    models: dict[str, str]


class SwitchableSink:
    """An output the page can turn off: while off, frames are not sent (and not counted)."""

    def __init__(self, inner: FrameSink) -> None:
        self.inner = inner
        self.name = inner.name
        self.enabled = True

    async def start(self) -> None:
        await self.inner.start()

    def send(self, frame: RigFrame) -> None:
        if self.enabled:
            self.inner.send(frame)

    def status(self) -> str:
        text = self.inner.status()
        return text if self.enabled else f"{self.name} off"

    async def aclose(self) -> None:
        await self.inner.aclose()

    def __getattr__(self, name: str) -> Any:  # counters and transport of the wrapped sink
        return getattr(self.inner, name)


class _Rates:
    """Per-output message rate between two stats messages (its own, so the status line keeps its)."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[float, int]] = {}

    def __call__(self, name: str, count: int, now: float) -> float:
        prev = self._last.get(name)
        self._last[name] = (now, count)
        if prev is None or now <= prev[0]:
            return 0.0
        return (count - prev[1]) / (now - prev[0])


class SessionControls:
    """The :class:`~mocap_bridge.viewer.commands.Controls` the page drives (loop thread)."""

    def __init__(self, lab: LiveLab) -> None:
        self._lab = lab
        self.paused = threading.Event()
        self.flip = False  #: flip the image again, on top of the configured --mirror
        self.recording: RecordingWriter | None = None
        self.last_recording: dict[str, Any] | None = None
        self.calibration: dict[str, Any] = {"state": "idle"}
        self._calib_frames: list[TrackedFrame] = []
        self._calib_target = 0

    @property
    def mirror_on(self) -> bool:
        return self._lab.source.mirror != self.flip

    def state(self) -> dict[str, Any]:
        lab = self._lab
        if self.recording is not None and lab.pipeline.recorder is not self.recording:
            # The pipeline dropped it (a write failed, e.g. disk full): say so, keep what was written.
            failed, self.recording = self.recording, None
            with contextlib.suppress(Exception):
                failed.close()
            self.last_recording = {"path": str(failed.path), "frames": failed.frames, "error": "write failed"}
        rec = None
        if self.recording is not None:
            rec = {"path": str(self.recording.path), "frames": self.recording.frames}
        return {
            "paused": self.paused.is_set(),
            "mirror": self.mirror_on,
            "mirror_available": not lab.source.replay,
            "recording": rec,
            "last_recording": self.last_recording,
            "calibration": self.calibration,
            "outputs": {s.name: s.enabled for s in lab.switches},
        }

    def record(self, on: bool) -> dict[str, Any]:
        pipeline = self._lab.pipeline
        if on:
            if pipeline.recorder is not None:
                current = getattr(pipeline.recorder, "path", "a file")
                if self.recording is None:
                    raise CommandError(f"already recording to {current} (--record)")
                frames = getattr(pipeline.recorder, "frames", 0)
                return {"path": str(current), "frames": frames, "already": True}
            src = self._lab.source
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            path = _unique(self._lab.options.output_dir / f"live-lab-{stamp}.jsonl.gz")
            writer = RecordingWriter(
                path, source=src.description, mode=src.mode, mirror=self.mirror_on, fps=src.fps,
                models=src.models,
            )  # fmt: skip
            self.recording = pipeline.recorder = writer
            return {"path": str(path), "frames": 0}
        stopping = self.recording
        if stopping is None:
            if pipeline.recorder is not None:
                current = getattr(pipeline.recorder, "path", "")
                raise CommandError(f"the recording {current} was started with --record")
            raise CommandError("not recording")
        if pipeline.recorder is stopping:
            pipeline.recorder = None
        self.recording = None
        stopping.close()
        self.last_recording = {"path": str(stopping.path), "frames": stopping.frames}
        return dict(self.last_recording)

    def calibrate(self, frames: int) -> dict[str, Any]:
        if self.calibration.get("state") in ("capturing", "applying"):
            raise CommandError("a calibration is already running")
        self._calib_frames = []
        self._calib_target = frames
        self.calibration = {"state": "capturing", "frames": 0, "target": frames}
        return dict(self.calibration)

    def on_frame(self, rig: RigFrame) -> None:
        """Every solved frame (loop thread): collects calibration frames while capturing."""
        if self.calibration.get("state") != "capturing" or rig.tracked.face is None:
            return
        self._calib_frames.append(rig.tracked)
        self.calibration = {**self.calibration, "frames": len(self._calib_frames)}
        if len(self._calib_frames) >= self._calib_target:
            frames, self._calib_frames = self._calib_frames, []
            self.calibration = {**self.calibration, "state": "applying"}
            self._lab.spawn(self._finish_calibration(frames))

    async def _finish_calibration(self, frames: list[TrackedFrame]) -> None:
        from ..solve.calibration import capture_calibration, save_calibration

        lab = self._lab
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        path = _unique(lab.options.output_dir / f"live-lab-calibration-{stamp}.toml")
        factory = lab.options.solver_with_calibration

        def work() -> Solve | None:
            save_calibration(capture_calibration(frames), path)
            return factory(path) if factory is not None else None

        try:
            solve = await asyncio.get_running_loop().run_in_executor(None, work)
        except MocapBridgeError as exc:
            self.calibration = {"state": "failed", "error": str(exc)}
            return
        except Exception as exc:  # a solver that cannot be rebuilt must not stop the stream
            log.exception("calibration failed")
            self.calibration = {"state": "failed", "error": f"{type(exc).__name__}: {exc}"}
            return
        if solve is not None:
            lab.pipeline.solve = solve
        self.calibration = {
            "state": "applied" if solve is not None else "saved",
            "path": str(path),
            "frames": len(frames),
        }

    def mirror(self, on: bool) -> dict[str, Any]:
        if self._lab.source.replay:
            raise CommandError("a recording replays what was tracked: mirror it when recording")
        self.flip = on != self._lab.source.mirror
        return {"mirror": self.mirror_on}

    def output(self, name: str, on: bool) -> dict[str, Any]:
        for s in self._lab.switches:
            if s.name == name:
                s.enabled = on
                return {"name": name, "on": on}
        raise CommandError(f"{name} is not running (start it with --{name} HOST:PORT)")

    def pause(self, on: bool) -> dict[str, Any]:
        if on:
            self.paused.set()
        else:
            self.paused.clear()
        return {"paused": on}

    def close(self) -> None:
        if self.recording is not None:
            with contextlib.suppress(Exception):
                self.record(False)


def _unique(path: Path) -> Path:
    n, out = 1, path
    while out.exists():
        n += 1
        out = path.with_name(path.name.replace(".", f"-{n}.", 1))
    return out


#: At most this many ``lab`` messages a second (a page draws at display rate; 60 fps input
#: would otherwise cost three times the work for nothing the eye sees).
LAB_RATE_HZ = 20.0


class LabSink:
    """Sends the ``lab`` message (at most :data:`LAB_RATE_HZ`) and ``stats`` twice a second, only to
    subscribed pages."""

    name = "viewer"

    def __init__(self, lab: LiveLab, server: WebSocketServer) -> None:
        self._lab = lab
        self._server = server
        self.encoder = LabEncoder(hold_ms=lab.options.hold_ms)
        self._task: asyncio.Task[None] | None = None
        self._rates = _Rates()
        self._next_lab = 0.0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._stats_loop())

    def send(self, frame: RigFrame) -> None:
        self._lab.controls.on_frame(frame)
        if self._server.subscribers("lab") and (wall := monotonic_s()) >= self._next_lab:
            self._next_lab = wall + 1.0 / LAB_RATE_HZ
            now = monotonic_ms() if self._lab.source.live else None
            self._server.send_extra("lab", self.encoder.encode(frame, now_ms=now), binary=False)

    def status(self) -> str:
        return f"viewer {self._server.subscribers('lab')} video {self._server.subscribers('video')}"

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _stats_loop(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            if self._server.subscribers("lab"):
                try:
                    self._server.send_extra("lab", stats_message(self.stats()), binary=False)
                except Exception:  # never let the viewer stop the run
                    log.exception("viewer stats failed")

    def stats(self) -> dict[str, Any]:
        """Counters for the page: the same ones the status line reads."""
        lab = self._lab
        pipeline = lab.pipeline
        s = pipeline.stats
        now = monotonic_s()
        outputs = []
        for sink in pipeline.sinks:
            if sink is self:
                continue
            sent = int(getattr(sink, "sent", 0))
            transport = getattr(sink, "transport", None)
            server = getattr(sink, "server", None)
            problems = transport.problems() if transport is not None else ""
            refused = sum(t.refused for t in transport.targets) if transport is not None else 0
            if server is not None:
                refused = server.refused
            outputs.append(
                {
                    "name": sink.name,
                    "enabled": bool(getattr(sink, "enabled", True)),
                    "rate": round(self._rates(sink.name, sent, now), 1),
                    "sent": sent,
                    "dropped": int(getattr(sink, "dropped", 0)),
                    "refused": int(refused),
                    "clients": server.clients if server is not None else None,
                    "problems": problems,
                }
            )
        latency: dict[str, float | None] | None = None
        if lab.source.live:
            latency = {name: _median(s.part_latency[i]) for i, name in enumerate(("pose", "face", "hands"))}
            latency["e2e"] = _median(s.total_latency)
        return {
            "t_unix_ms": wall_ms(),
            "source": lab.source.description,
            "live": lab.source.live,
            "replay": lab.source.replay,
            "captured": s.captured,
            "emitted": s.emitted,
            "complete": s.complete,
            "partial": s.partial,
            "dropped": s.dropped,
            "errors": s.errors,
            "found": list(s.found),
            "fps_in": round(self._rates("_in", s.captured, now), 1),
            "fps_out": round(self._rates("_out", s.emitted, now), 1),
            "latency_ms": latency,
            "outputs": outputs,
            "video": {"fps": lab.options.video_fps, "width": lab.options.video_width,
                      "available": not lab.source.replay},
            "controls": lab.controls.state(),
            "skeleton": _skeleton(),
        }  # fmt: skip


@cache
def _skeleton() -> dict[str, Any]:
    """The rest skeleton the bones refer to (internal frame, metres): names, parents, offsets."""
    from ..frames import HUMAN_BONE_NAMES
    from ..solve.body import PARENT, REST_OFFSETS

    parents = []
    for i in range(len(HUMAN_BONE_NAMES)):
        parent = PARENT.get(HumanBone(i))
        parents.append(-1 if parent is None else int(parent))
    return {"names": list(HUMAN_BONE_NAMES), "parents": parents, "offsets": REST_OFFSETS.round(4).tolist()}


def _model_hashes(paths: dict[str, Path]) -> dict[str, str]:
    """Registry hashes for cached bundles (verified at start), file hashes for explicit ones."""
    from ..tracking.models import MODELS, sha256_file

    out = {}
    for name, path in paths.items():
        spec = MODELS.get(name)
        out[name] = spec.sha256 if spec is not None and path.name == spec.filename else sha256_file(path)
    return out


def _median(values: Any) -> float | None:
    return round(float(np.median(values)), 1) if len(values) else None


class LiveLab:
    """One run's viewer; see the module docstring for the three call points."""

    def __init__(
        self, options: ViewerOptions, sinks: Sequence[FrameSink], server: WebSocketServer, source: SourceInfo
    ) -> None:
        self.options = options
        self.source = source
        self.server = server
        self.switches = [SwitchableSink(s) for s in sinks if s.name in OUTPUTS]
        wrapped: list[FrameSink] = []
        for s in sinks:
            wrapped.append(next((w for w in self.switches if w.inner is s), s))
        self.lab_sink = LabSink(self, server)
        wrapped.append(self.lab_sink)
        self.sinks: list[FrameSink] = wrapped
        self.controls = SessionControls(self)
        self._pipeline: Pipeline | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thumbs: Any = None
        self._tasks: set[asyncio.Task[None]] = set()
        server.attach_viewer(
            ViewerHooks(
                static=resolve_static,
                command=lambda text, trusted: handle_command(text, trusted=trusted, controls=self.controls),
                channels=VIEWER_CHANNELS,
            )
        )

    @classmethod
    def create(
        cls,
        options: ViewerOptions,
        sinks: Sequence[FrameSink],
        source: Any,
        capture: Any,
        *,
        live: bool,
        model_paths: dict[str, Path],
    ) -> LiveLab | None:
        """The run's viewer, or None (with a log line) when there is no WebSocket output to serve it."""
        servers = (getattr(s, "server", None) for s in sinks)
        server = next((s for s in servers if isinstance(s, WebSocketServer)), None)
        if server is None:
            log.warning("the Live Lab viewer needs the WebSocket output (--no-ws turns it off)")
            return None
        from ..recording import RecordingReader

        replay = isinstance(source, RecordingReader)
        info = SourceInfo(
            description=source.description, fps=float(source.fps), mode=capture.mode,
            mirror=bool(capture.mirror) and not replay, replay=replay, live=live,
            models=dict(source.header.get("models", {})) if replay else _model_hashes(model_paths),
        )  # fmt: skip
        return cls(options, sinks, server, info)

    @property
    def pipeline(self) -> Pipeline:
        assert self._pipeline is not None, "LiveLab.bind() first"
        return self._pipeline

    def bind(self, pipeline: Pipeline, loop: asyncio.AbstractEventLoop | None, *, video: bool = True) -> None:
        """Once the pipeline and the loop exist (before the sinks start); ``video``: start the
        thumbnailer (never for a replay, which has no images)."""
        self._pipeline = pipeline
        self._loop = loop
        if video and not self.source.replay and loop is not None:
            from ..capture.thumbnails import Thumbnailer

            server = self.server

            def deliver(message: bytes) -> None:
                loop.call_soon_threadsafe(server.send_video, message)

            self._thumbs = Thumbnailer(
                deliver,
                wanted=lambda: server.subscribers("video") > 0,
                fps=self.options.video_fps,
                width=self.options.video_width,
            )

    def spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def on_capture(self, cap: CapturedFrame, stop: threading.Event) -> np.ndarray | None:
        """Capture thread, every frame: the image to track, or None to skip it (paused, realtime)."""
        controls = self.controls
        rgb = cap.rgb
        if controls.flip:
            rgb = np.ascontiguousarray(rgb[:, ::-1])
        if self._thumbs is not None:
            self._thumbs.offer(cap.index, cap.t_ms, rgb)
        if controls.paused.is_set():
            if self.source.mode == "realtime":
                return None  # a camera (or paced file) goes on; its frames are not tracked
            while controls.paused.is_set() and not stop.is_set():  # video mode: hold the file
                stop.wait(0.05)
        return rgb

    def urls(self) -> tuple[str, str | None]:
        return self.server.urls()

    async def aclose(self) -> None:
        """End of run: stop the thumbnailer, finish a recording the page started."""
        for task in list(self._tasks):
            task.cancel()
        if self._thumbs is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._thumbs.close)
        self.controls.close()
