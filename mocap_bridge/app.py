"""Builds and runs one capture session: source → tracker → assembler → pipeline → sinks.

Threads: the capture thread reads frames and hands them to MediaPipe (LIVE_STREAM: ``detect_async``
returns at once; VIDEO: ``detect`` blocks). MediaPipe answers on its own threads. The one thread
boundary is ``loop.call_soon_threadsafe``: callbacks convert their result and hand it to the asyncio
loop, where the assembler, the pipeline and every sink run. Nothing on the loop waits for a peer.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .capture.sources import FrameSource
from .clock import monotonic_ms
from .config import CaptureSettings
from .errors import MocapBridgeError
from .frames import Part, TrackedFrame
from .pipeline import Pipeline, RunStats, Solve
from .recording import RecordingReader, RecordingWriter
from .sink import FrameSink
from .tracking.assembler import Assembler, AssemblerStats
from .tracking.landmarkers import Landmarkers, TrackerSettings

__all__ = ["RunOptions", "RunResult", "run_session"]

log = logging.getLogger(__name__)

_QUEUE_DEPTH = 4  # video/replay hand-over: enough to overlap, small enough to stay in step


@dataclass(slots=True)
class RunOptions:
    capture: CaptureSettings
    tracker: TrackerSettings
    model_paths: dict[str, Path] = field(default_factory=dict)
    max_frames: int | None = None
    preview: bool = False
    status_interval_s: float = 1.0
    quiet: bool = False
    viewer: Any = None  #: mocap_bridge.viewer.session.ViewerOptions: Live Lab on (needs the ws output)


@dataclass(slots=True)
class RunResult:
    stats: RunStats
    assembler: AssemblerStats | None
    elapsed_s: float
    interrupted: bool


class _Preview:
    """An OpenCV window with the latest landmarks drawn; only when a display exists."""

    def __init__(self, pipeline: Pipeline, stop: threading.Event) -> None:
        import cv2

        self._cv2 = cv2
        self._pipeline = pipeline
        self._stop = stop
        self._name = "mocap_bridge preview (q to quit)"

    @staticmethod
    def available() -> bool:
        if sys.platform.startswith("linux"):
            return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
        return True

    def show(self, rgb: Any) -> None:
        cv2 = self._cv2
        img = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        rig = self._pipeline.last_rig
        if rig is not None:
            h, w = img.shape[:2]
            tracked = rig.tracked
            groups = []
            if tracked.pose is not None:
                groups.append((tracked.pose.landmarks[:, :2], (0, 255, 0)))
            if tracked.face is not None:
                groups.append((tracked.face.landmarks[::4, :2], (255, 200, 0)))
            groups.extend((hand.landmarks[:, :2], (0, 128, 255)) for hand in tracked.hands)
            for pts, color in groups:
                for x, y in pts:
                    cv2.circle(img, (int(x * w), int(y * h)), 2, color, -1)
        cv2.imshow(self._name, img)
        if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
            self._stop.set()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._cv2.destroyWindow(self._name)


class _Session:
    def __init__(
        self,
        opts: RunOptions,
        source: FrameSource | RecordingReader,
        solve: Solve,
        sinks: Sequence[FrameSink],
        out: TextIO,
    ) -> None:
        self.opts = opts
        self.source = source
        self.replay = isinstance(source, RecordingReader)
        self.live = not self.replay and opts.capture.mode == "realtime"
        self.out = out
        self.stop = threading.Event()
        # Live Lab (mocap_bridge.viewer): switchable outputs, the lab/video channels, commands.
        self.lab: Any = None
        if opts.viewer is not None:
            from .viewer.session import LiveLab

            self.lab = LiveLab.create(opts.viewer, sinks, source, opts.capture, live=self.live,
                                      model_paths=opts.model_paths)  # fmt: skip
            sinks = self.lab.sinks if self.lab is not None else sinks
        self.pipeline = Pipeline(solve, sinks, clock=monotonic_ms, measure_latency=self.live)
        self.assembler = Assembler(opts.tracker.deadline_ms) if self.live else None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.capture_error: BaseException | None = None
        self.capture_done: asyncio.Event | None = None

    # ---- loop side -------------------------------------------------------------------------
    def _emit(self, frames: list[TrackedFrame]) -> None:
        for frame in frames:
            self.pipeline.process(frame)
        if self.assembler is not None:
            self.pipeline.stats.dropped = self.assembler.stats.dropped

    def _on_submit(
        self, index: int, t_ms: int, parts: tuple[bool, bool, bool], sources: tuple[int, int, int]
    ) -> None:
        assert self.assembler is not None and self.loop is not None
        self.pipeline.stats.captured += 1
        self.assembler.submit(index, t_ms, parts, sources)
        self.pipeline.stats.dropped = self.assembler.stats.dropped
        delay = max(0.0, (t_ms + self.assembler.deadline_ms - monotonic_ms()) / 1000.0)
        self.loop.call_later(delay + 0.001, self._poll)

    def _on_result(self, part: Part, t_ms: int, payload: Any, source: int) -> None:
        assert self.assembler is not None
        self._emit(self.assembler.deliver(part, t_ms, payload, monotonic_ms(), source))

    def _hand_over(self, part: Part, t_ms: int, payload: Any, source: int) -> None:
        """On a MediaPipe thread: the one thread boundary."""
        assert self.loop is not None
        self.loop.call_soon_threadsafe(self._on_result, part, t_ms, payload, source)

    def _on_refused(self, part: Part, t_ms: int) -> None:
        assert self.assembler is not None
        self._emit(self.assembler.abandon(part, t_ms, monotonic_ms()))

    def _poll(self) -> None:
        assert self.assembler is not None
        self._emit(self.assembler.poll(monotonic_ms()))

    # ---- capture thread --------------------------------------------------------------------
    def _capture_live(self, lm: Landmarkers) -> None:
        loop = self.loop
        assert loop is not None
        preview = self._make_preview()
        src = self.source
        assert not isinstance(src, RecordingReader)
        try:
            for cap in src.frames():
                if self.stop.is_set() or self._enough(cap.index):
                    break
                rgb = cap.rgb if self.lab is None else self.lab.on_capture(cap, self.stop)
                if rgb is None:  # paused from the viewer
                    continue
                expected, sources = lm.plan()
                loop.call_soon_threadsafe(self._on_submit, cap.index, cap.t_ms, expected, sources)
                accepted = lm.submit(rgb, cap.t_ms, expected)
                for p in range(3):
                    if expected[p] and not accepted[p]:  # refused: that part is gone for this frame
                        loop.call_soon_threadsafe(self._on_refused, Part(p), cap.t_ms)
                if preview is not None:
                    preview.show(cap.rgb)
        finally:
            if preview is not None:
                preview.close()

    def _capture_video(self, lm: Landmarkers | None, queue: asyncio.Queue[TrackedFrame | None]) -> None:
        loop = self.loop
        assert loop is not None
        preview = self._make_preview()

        def put(item: TrackedFrame | None) -> None:
            asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()

        try:
            for frame, rgb in self._video_frames(lm):
                if self.stop.is_set():
                    break
                put(frame)
                if preview is not None and rgb is not None:
                    preview.show(rgb)
        finally:
            if preview is not None:
                preview.close()
            put(None)

    def _video_frames(self, lm: Landmarkers | None) -> Iterator[tuple[TrackedFrame, Any]]:
        if isinstance(self.source, RecordingReader):
            for n, frame in enumerate(self.source.replay(realtime=self.opts.capture.mode == "realtime")):
                if self._enough(n):
                    return
                yield frame, None
            return
        assert lm is not None
        for cap in self.source.frames():
            if self._enough(cap.index):
                return
            rgb = cap.rgb if self.lab is None else self.lab.on_capture(cap, self.stop)
            if rgb is None:  # paused from the viewer
                continue
            yield lm.track(rgb, cap.index, cap.t_ms), rgb

    def _enough(self, index: int) -> bool:
        return self.opts.max_frames is not None and index >= self.opts.max_frames

    def _make_preview(self) -> _Preview | None:
        if not self.opts.preview or self.replay:
            return None
        return _Preview(self.pipeline, self.stop)

    def _capture_main(self, target: Callable[[], None]) -> None:
        try:
            target()
        except BaseException as exc:  # reported on the loop side as one line
            self.capture_error = exc
        finally:
            self.stop.set()
            if self.loop is not None and self.capture_done is not None:
                self.loop.call_soon_threadsafe(self.capture_done.set)

    # ---- orchestration ---------------------------------------------------------------------
    async def _status_task(self, started: float) -> None:
        last = started
        while True:
            await asyncio.sleep(self.opts.status_interval_s)
            now = monotonic_ms()
            if not self.opts.quiet:
                print(self.pipeline.status_line((now - last) / 1000.0), file=self.out, flush=True)
            last = now

    async def run(self) -> RunResult:
        self.loop = loop = asyncio.get_running_loop()
        self.capture_done = asyncio.Event()
        interrupted = False

        def on_sigint() -> None:
            nonlocal interrupted
            interrupted = True
            self.stop.set()

        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGINT, on_sigint)
        if self.lab is not None:
            self.lab.bind(self.pipeline, loop)
        for sink in self.pipeline.sinks:
            await sink.start()
            if (server := getattr(sink, "server", None)) is not None:  # the chosen port, every start
                ws_url, viewer = server.urls()
                print(f"WebSocket stream: {ws_url}" + (f"  Live Lab viewer: {viewer}" if viewer else ""),
                      file=self.out, flush=True)  # fmt: skip
        started = monotonic_ms()
        status = asyncio.create_task(self._status_task(started))
        lm: Landmarkers | None = None
        try:
            if not self.replay:
                lm = Landmarkers(
                    self.opts.tracker,
                    self.opts.model_paths,
                    live=self.live,
                    on_result=self._hand_over if self.live else None,
                )
            # Everything built so far lives for the whole run: move it out of the collector's sight
            # so a full collection mid-stream does not walk MediaPipe's and numpy's start-up heap.
            gc.collect()
            gc.freeze()
            if self.live:
                assert lm is not None
                thread = threading.Thread(
                    target=self._capture_main, args=(lambda: self._capture_live(lm),), name="capture"
                )
                thread.start()
                await self.capture_done.wait()
                thread.join()
                # Let the last frames meet their deadline, then flush what is left.
                await asyncio.sleep((self.opts.tracker.deadline_ms + 20) / 1000.0)
                lm.close()  # waits for MediaPipe's threads; late results after this are ignored
                await asyncio.sleep(0)
                assert self.assembler is not None
                self._emit(self.assembler.flush())
            else:
                queue: asyncio.Queue[TrackedFrame | None] = asyncio.Queue(maxsize=_QUEUE_DEPTH)
                thread = threading.Thread(
                    target=self._capture_main, args=(lambda: self._capture_video(lm, queue),), name="capture"
                )
                thread.start()
                while (frame := await queue.get()) is not None:
                    self.pipeline.stats.captured += 1
                    self.pipeline.process(frame)
                await self.capture_done.wait()  # the capture thread's last put needs the loop
                thread.join()
        finally:
            gc.unfreeze()
            status.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await status
            if lm is not None:
                lm.close()
            if self.lab is not None:
                await self.lab.aclose()
            for sink in self.pipeline.sinks:
                with contextlib.suppress(Exception):
                    await sink.aclose()
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGINT)
        if self.capture_error is not None:
            if isinstance(self.capture_error, MocapBridgeError):
                raise self.capture_error
            raise RuntimeError(f"capture failed: {self.capture_error}") from self.capture_error
        return RunResult(
            stats=self.pipeline.stats,
            assembler=self.assembler.stats if self.assembler else None,
            elapsed_s=(monotonic_ms() - started) / 1000.0,
            interrupted=interrupted,
        )


def run_session(
    opts: RunOptions,
    source: FrameSource | RecordingReader,
    solve: Solve,
    sinks: Sequence[FrameSink],
    *,
    out: TextIO = sys.stderr,
    recorder: RecordingWriter | None = None,
) -> RunResult:
    """Run until the source ends, ``max_frames`` is reached or Ctrl-C; always closes everything."""
    session = _Session(opts, source, solve, sinks, out)
    session.pipeline.recorder = recorder
    if opts.preview and not _Preview.available():
        print("no display found: --preview is off", file=out)
        opts.preview = False
    try:
        result = asyncio.run(session.run())
    finally:
        source.close()
        if recorder is not None:
            recorder.close()
    if not opts.quiet:
        print(session.pipeline.summary(result.elapsed_s), file=out, flush=True)
    return result
