"""Builds and runs one capture session from :class:`~mocap_bridge.settings.Settings`.

source → tracker → assembler → pipeline (record, solve) → sinks.

Threads, and the one boundary between them
------------------------------------------
* The **capture thread** reads frames and hands them to MediaPipe (LIVE_STREAM: ``detect_async``
  returns at once; VIDEO: ``detect`` blocks and returns the results).
* MediaPipe answers on **its own threads**; the callbacks only convert the result to our frame types
  and hand it over with ``loop.call_soon_threadsafe``. They touch nothing else.
* The **asyncio loop thread** owns every stateful object: the assembler, the hand planner, the
  pipeline (solver, recorder) and every sink. Nothing on it awaits a peer.

Two values are read across threads, each through a one-slot :class:`~mocap_bridge.mailbox.Mailbox`:
the hand plan (computed on the loop from results, read by the capture thread before each frame;
the capture thread times the plan's probes itself, from the frames' timestamps)
and the latest solved frame (read by the preview window on the capture thread).

The assembler is driven by results and by a single timer, re-armed from its
``next_deadline_ms()`` whenever the set of pending frames changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from .capture.sources import FrameSource, open_source
from .clock import monotonic_ms, wall_ms, wall_offset_ms
from .edge import input_notes
from .errors import CaptureError, ConfigError, MocapBridgeError
from .frames import Part, RigFrame, TrackedFrame
from .heap import frozen_heap
from .mailbox import Mailbox
from .pipeline import Pipeline, Recorder, RunStats, Solve
from .recording import RecordingReader, RecordingWriter, ensure_not_source, is_recording_path
from .settings import Settings, TrackingSettings
from .sink import FrameSink
from .tracking.assembler import Assembler, AssemblerStats
from .tracking.landmarkers import Landmarkers, Plan, ProbeClock
from .transports.websocket import WebSocketServer

__all__ = [
    "RunOptions",
    "RunResult",
    "open_frame_source",
    "parts_in_use",
    "run",
    "run_session",
    "tracking_for",
]

log = logging.getLogger(__name__)

PROG = "mocap-bridge"
_QUEUE_DEPTH = 4  # video/replay hand-over: enough to overlap, small enough to stay in step
#: Longest wait for the outputs to close at the end (a stalled WebSocket client must not hold us).
_CLOSE_TIMEOUT_S = 1.0


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What one run does beyond the settings (command-line only; not in the TOML files)."""

    max_frames: int | None = None
    record: Path | None = None
    preview: bool = False
    quiet: bool = False
    models_dir: Path | None = None
    offline: bool = False
    status_interval_s: float = 1.0
    #: take folders (``--takes DIR``) and the slate of the take ``--record`` starts with them
    takes: Path | None = None
    slate: str = "Slate"
    #: Live Lab (mocap_bridge.viewer.session.ViewerOptions); None = no viewer
    viewer: Any = None


@dataclass(slots=True)
class RunResult:
    stats: RunStats
    assembler: AssemblerStats | None
    elapsed_s: float
    #: 0 when the source ended or max_frames was reached, else the signal that stopped the run
    stopped_by: int = 0


def parts_in_use(settings: Settings, *, recording: bool = False) -> tuple[bool, bool, bool]:
    """The landmarkers worth running: enabled, solved, and read by an enabled output.

    Live Link carries only the face and head; VMC, OSC and WebSocket carry everything. A
    recording keeps every enabled landmarker (it stores tracking, not outputs), and so does a run
    with no output at all (its status line is what the user watches).
    """
    pose, face, hands = settings.tracking.parts
    body_out = settings.vmc.enabled or settings.osc.enabled or settings.ws.enabled
    face_out = body_out or settings.livelink.enabled
    if recording or not face_out:  # no output at all: the user watches the status line, track it all
        return (pose, face, hands)
    return (
        pose and body_out and settings.body.enabled,
        face and face_out and (settings.face.enabled or settings.head.enabled),
        hands and body_out and settings.hands.enabled,
    )


def tracking_for(settings: Settings, parts: tuple[bool, bool, bool]) -> TrackingSettings:
    """The tracking settings with only the landmarkers in ``parts`` (see :func:`parts_in_use`)."""
    pose, face, hands = parts
    return replace(settings.tracking, pose=pose, face=face, hands=hands)


class _Preview:
    """An OpenCV window with the latest landmarks drawn; only when a display exists."""

    def __init__(self, latest: Mailbox[RigFrame | None], stop: threading.Event) -> None:
        import cv2

        self._cv2 = cv2
        self._latest = latest
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
        rig = self._latest.get()
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
        settings: Settings,
        opts: RunOptions,
        source: FrameSource | RecordingReader,
        solve: Solve,
        sinks: Sequence[FrameSink],
        model_paths: dict[str, Path],
        parts: tuple[bool, bool, bool],
        out: TextIO,
    ) -> None:
        self.settings = settings
        self.opts = opts
        self.source = source
        self.model_paths = model_paths
        self.parts = parts
        self.replay = isinstance(source, RecordingReader)
        self.live = not self.replay and settings.capture.mode == "realtime"
        self.out = out
        self.stop = threading.Event()
        self.latest_rig: Mailbox[RigFrame | None] = Mailbox(None)
        # Live Lab (mocap_bridge.viewer): switchable outputs, the lab/video channels, commands.
        self.lab: Any = None
        if opts.viewer is not None:
            from .viewer.session import LiveLab

            self.lab = LiveLab.create(opts.viewer, sinks, source, settings.capture, live=self.live,
                                      model_paths=model_paths)  # fmt: skip
            if self.lab is not None:
                sinks = self.lab.sinks  # the outputs, switchable from the page
        self.pipeline = Pipeline(solve, sinks, clock=monotonic_ms, measure_latency=self.live)
        self.pipeline.on_rig = self.latest_rig.put
        self.assembler = Assembler(settings.tracking.deadline_ms) if self.live else None
        self.plan: Mailbox[Plan] = Mailbox(((False, False, False), (0, 0, 0), False))
        self.lm: Landmarkers | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.capture_error: BaseException | None = None
        self.capture_done: asyncio.Event | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due: float | None = None
        self._drained = asyncio.Event()  # the capture ended and the assembler has nothing pending

    # ---- loop side -------------------------------------------------------------------------
    def _emit(self, frames: list[TrackedFrame]) -> None:
        for frame in frames:
            self.pipeline.process(frame)
        assert self.assembler is not None
        self.pipeline.stats.dropped = self.assembler.stats.dropped
        if self.stop.is_set() and not self.assembler.pending:
            self._drained.set()
        self._arm_timer()

    def _arm_timer(self) -> None:
        """Keep exactly one timer, due at the assembler's next deadline."""
        assert self.assembler is not None and self.loop is not None
        due = self.assembler.next_deadline_ms()
        if due == self._timer_due:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_due = due
        if due is not None:
            delay = max(0.0, (due - monotonic_ms()) / 1000.0) + 0.001
            self._timer = self.loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        assert self.assembler is not None
        self._timer, self._timer_due = None, None
        self._emit(self.assembler.poll(monotonic_ms()))

    def _on_submit(self, index: int, t_ms: int, parts: tuple[bool, bool, bool],
                   sources: tuple[int, int, int]) -> None:  # fmt: skip
        assert self.assembler is not None
        self.pipeline.stats.captured += 1
        self.assembler.submit(index, t_ms, parts, sources)
        self._emit([])

    def _on_result(self, part: Part, t_ms: int, payload: Any, source: int) -> None:
        assert self.assembler is not None and self.lm is not None
        self.lm.observe(part, payload, source)
        self.plan.put(self.lm.plan())
        self._emit(self.assembler.deliver(part, t_ms, payload, monotonic_ms(), source))

    def _hand_over(self, part: Part, t_ms: int, payload: Any, source: int) -> None:
        """On a MediaPipe thread: the one thread boundary."""
        assert self.loop is not None
        self.loop.call_soon_threadsafe(self._on_result, part, t_ms, payload, source)

    def _on_refused(self, part: Part, t_ms: int) -> None:
        assert self.assembler is not None
        self._emit(self.assembler.abandon(part, t_ms, monotonic_ms()))

    # ---- capture thread --------------------------------------------------------------------
    def _capture_live(self, lm: Landmarkers) -> None:
        loop = self.loop
        assert loop is not None
        preview = self._make_preview()
        src = self.source
        assert not isinstance(src, RecordingReader)
        probes = ProbeClock()  # this thread's: probes are timed by the frames it submits
        try:
            for cap in src.frames():
                if self.stop.is_set() or self._enough(cap.index):
                    break
                rgb = cap.rgb if self.lab is None else self.lab.on_capture(cap, self.stop)
                if rgb is None:  # paused from the viewer
                    continue
                expected, sources = lm.probed(self.plan.get(), probes, cap.t_ms)
                # Registered with the assembler *before* MediaPipe sees the image: callbacks run on
                # the loop in the order call_soon_threadsafe was called, so no result can arrive for
                # a timestamp the assembler does not know yet (it would count it as unknown).
                loop.call_soon_threadsafe(self._on_submit, cap.index, cap.t_ms, expected, sources)
                accepted = lm.submit(rgb, cap.t_ms, expected, sources)
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
            realtime = self.settings.capture.mode == "realtime"
            for n, frame in enumerate(self.source.replay(realtime=realtime, stop=self.stop)):
                if self._enough(n) or self.stop.is_set():
                    return
                yield frame, None
            return
        assert lm is not None
        for cap in self.source.frames():
            if self._enough(cap.index) or self.stop.is_set():
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
        return _Preview(self.latest_rig, self.stop)

    def _capture_main(self, target: Callable[[], None]) -> None:
        try:
            target()
        except BaseException as exc:  # reported on the loop side as one line
            self.capture_error = exc
        finally:
            self.stop.set()
            if self.loop is not None and self.capture_done is not None:
                with contextlib.suppress(RuntimeError):  # loop already closed
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

    async def _close_sinks(self) -> None:
        async def close(sink: FrameSink) -> None:
            try:
                await asyncio.wait_for(sink.aclose(), _CLOSE_TIMEOUT_S)
            except (Exception, asyncio.CancelledError):
                log.debug("closing %s failed", sink.name, exc_info=True)

        await asyncio.gather(*(close(s) for s in self.pipeline.sinks))

    async def run(self) -> RunResult:
        self.loop = loop = asyncio.get_running_loop()
        self.capture_done = asyncio.Event()
        stopped_by = 0

        def on_signal(signum: int) -> None:
            nonlocal stopped_by
            stopped_by = stopped_by or signum
            self.stop.set()

        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, on_signal, signum)
        if self.lab is not None:
            self.lab.bind(self.pipeline, loop)
        started = monotonic_ms()
        status: asyncio.Task[None] | None = None
        try:
            for sink in self.pipeline.sinks:
                await sink.start()
                if isinstance(server := getattr(sink, "server", None), WebSocketServer):  # the chosen port
                    ws_url, viewer = server.urls()
                    page = f"  Live Lab viewer: {viewer}" if viewer else ""
                    print(f"WebSocket stream: {ws_url}{page}", file=self.out, flush=True)
            status = asyncio.create_task(self._status_task(started))
            if not self.replay:
                tracking = tracking_for(self.settings, self.parts)
                self.lm = Landmarkers(tracking, self.model_paths, live=self.live,
                                      on_result=self._hand_over if self.live else None,
                                      border_margin=self.settings.hands.border_margin)  # fmt: skip
                self.plan.put(self.lm.plan())
            with frozen_heap():
                if self.live:
                    await self._run_live()
                else:
                    await self._run_video()
        finally:
            self.stop.set()
            if status is not None:
                status.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await status
            if self._timer is not None:
                self._timer.cancel()
            if self.lm is not None:
                self.lm.close()
            if self.lab is not None:
                await self.lab.aclose()
            await self._close_sinks()
            for signum in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.remove_signal_handler(signum)
        if self.capture_error is not None:
            if isinstance(self.capture_error, MocapBridgeError):
                raise self.capture_error
            raise RuntimeError(f"capture failed: {self.capture_error}") from self.capture_error
        return RunResult(
            stats=self.pipeline.stats,
            assembler=self.assembler.stats if self.assembler else None,
            elapsed_s=(monotonic_ms() - started) / 1000.0,
            stopped_by=stopped_by,
        )

    async def _run_live(self) -> None:
        lm, assembler, done = self.lm, self.assembler, self.capture_done
        assert lm is not None and assembler is not None and done is not None
        thread = threading.Thread(
            target=self._capture_main, args=(lambda: self._capture_live(lm),), name="capture", daemon=True
        )
        thread.start()
        await done.wait()
        await asyncio.to_thread(thread.join)
        # Let the last frames meet their deadline (or be answered), then flush what is left.
        self._emit([])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drained.wait(), (assembler.deadline_ms + 20) / 1000.0)
        lm.close()  # waits for MediaPipe's threads; results after this are ignored
        await asyncio.sleep(0)
        self._emit(assembler.flush())

    async def _run_video(self) -> None:
        done = self.capture_done
        assert done is not None
        queue: asyncio.Queue[TrackedFrame | None] = asyncio.Queue(maxsize=_QUEUE_DEPTH)
        thread = threading.Thread(
            target=self._capture_main, args=(lambda: self._capture_video(self.lm, queue),), name="capture",
            daemon=True,
        )  # fmt: skip
        thread.start()
        while (frame := await queue.get()) is not None:
            self.pipeline.stats.captured += 1
            self.pipeline.process(frame)
        await done.wait()  # the capture thread's last put needs the loop
        await asyncio.to_thread(thread.join)


def run_session(
    settings: Settings,
    source: FrameSource | RecordingReader,
    solve: Solve,
    sinks: Sequence[FrameSink],
    *,
    opts: RunOptions | None = None,
    model_paths: dict[str, Path] | None = None,
    parts: tuple[bool, bool, bool] | None = None,
    out: TextIO = sys.stderr,
    recorder: Recorder | None = None,
) -> RunResult:
    """Run until the source ends, ``max_frames`` is reached, or SIGINT/SIGTERM; always closes
    the source, the landmarkers, the outputs and the recording."""
    opts = opts or RunOptions()
    if opts.preview and not _Preview.available():
        print("no display found: --preview is off", file=out)
        opts = replace(opts, preview=False)
    session = _Session(settings, opts, source, solve, sinks, model_paths or {},
                       parts or settings.tracking.parts, out)  # fmt: skip
    session.pipeline.recorder = recorder
    try:
        result = asyncio.run(session.run())
    finally:
        source.close()
        if recorder is not None:
            recorder.close()
    if not opts.quiet:
        # (a recording stopped by a full disk has said so in its one warning line)
        print(session.pipeline.summary(result.elapsed_s, input_notes(source)), file=out, flush=True)
    return result


# ------------------------------------------------------------------------------------ building
def open_frame_source(settings: Settings, say: Callable[[str], None]) -> FrameSource | RecordingReader:
    """The frame source (or recording reader); no source means camera 0, else the demo."""
    cap = settings.capture
    realtime = cap.mode == "realtime"
    if cap.source and is_recording_path(cap.source):
        return RecordingReader(cap.source)
    if cap.source:
        return open_source(cap.source, realtime=realtime, mirror=cap.mirror, max_side=cap.max_side)
    try:
        return open_source("0", realtime=True, mirror=cap.mirror, max_side=cap.max_side)
    except CaptureError as exc:
        say(f"no camera ({exc}); playing the demo instead")
        return open_source("demo", realtime=realtime, mirror=cap.mirror, max_side=cap.max_side)


class _Tee:
    """The pipeline's recorder slot feeding both ``--record`` and the take recorder."""

    def __init__(self, *recorders: Recorder) -> None:
        self.recorders = recorders

    def write(self, frame: TrackedFrame) -> None:
        for r in self.recorders:
            r.write(frame)

    def close(self) -> None:
        for r in self.recorders:
            r.close()


def _attach_takes_and_remote(
    settings: Settings,
    opts: RunOptions,
    source: FrameSource | RecordingReader,
    models: dict[str, str],
    sinks: list[FrameSink],
    recorder: Recorder | None,
    wall_offset_ms: float,
) -> Recorder | None:
    """``--takes DIR`` (take folders) and ``[remote] osc_listen`` (Live Link Face OSC remote
    control): appends their sinks; returns the pipeline's recorder."""
    remote = settings.remote
    if opts.takes is None and not remote.osc_listen:
        return recorder
    from .clock import utc_offset_s
    from .remote import RemoteControl
    from .remote_app import RemoteSink
    from .sinks import livelink_encoder
    from .takes import TakeRecorder
    from .transports.endpoints import parse_endpoint

    ll = settings.livelink
    cap = settings.capture
    takes = None
    if opts.takes is not None:
        takes = TakeRecorder(
            opts.takes,
            subject=ll.subject,
            source=source.description,
            mode=cap.mode,
            mirror=cap.mirror,
            fps=source.fps,
            models=models,
            calibration=settings.face.calibration or None,
            settings=asdict(settings),  # plain data for take.json
            time_of_day_offset_s=wall_offset_ms / 1000.0 + utc_offset_s(),
            livelink=livelink_encoder(ll),
        )
        sinks.append(takes)
        if opts.record is not None:  # --record with --takes: the whole run is also a take
            takes.start_take(opts.slate, 1, monotonic_ms())
        recorder = takes if recorder is None else _Tee(recorder, takes)
    if remote.osc_listen:
        ep = parse_endpoint(remote.osc_listen, "[remote] osc_listen", allow_port_zero=True)
        reply = parse_endpoint(remote.send_target, "[remote] send_target") if remote.send_target else None
        control = RemoteControl(
            listen_host=ep.host,
            slate=opts.slate,
            subject=ll.subject,
            send_target=(reply.host, reply.port) if reply else None,
        )
        sinks.append(
            RemoteSink(control, ep.host, ep.port, takes=takes, sinks=sinks,
                       make_encoder=lambda subject: livelink_encoder(ll, subject))
        )  # fmt: skip
    return recorder


def viewer_options(settings: Settings) -> Any:
    """Live Lab's options from the settings; a calibration made in the page rebuilds the solver."""
    from .solve.rig import RigSolver
    from .viewer.session import ViewerOptions

    def with_calibration(path: Path) -> Solve:
        return RigSolver(settings.replace("face", calibration=str(path))).solve

    ws = settings.ws
    return ViewerOptions(video_fps=ws.video_fps, video_width=ws.video_width, hold_ms=settings.gating.hold_ms,
                         solver_with_calibration=with_calibration)  # fmt: skip


def _wall_offset(source: FrameSource | RecordingReader, live: bool) -> float:
    """Epoch ms minus capture-stamp ms, so Live Link timecode reads as wall-clock time."""
    if live:
        return wall_offset_ms()
    if isinstance(source, RecordingReader):
        first = next(iter(source.frames()), None)
        return wall_ms() - (first.t_ms if first is not None else 0)
    return wall_ms()  # media time starts at 0


def run(
    settings: Settings,
    opts: RunOptions,
    *,
    say: Callable[[str], None],
    progress_factory: Any = None,
    out: TextIO = sys.stderr,
) -> RunResult:
    """Build everything the settings ask for and run one session (``mocap-bridge run``)."""
    from .sinks import build_sinks
    from .solve.rig import RigSolver
    from .tracking.models import MODELS, sha256_file
    from .tracking.offline import resolve_model_paths

    if opts.record is not None and not is_recording_path(str(opts.record)):
        raise ConfigError(f"--record must end in .jsonl or .jsonl.gz: {opts.record}")
    source_spec = settings.capture.source
    if opts.record is not None and source_spec and is_recording_path(source_spec):
        ensure_not_source(opts.record, source_spec)  # before anything is opened or built
    source = open_frame_source(settings, say)
    try:
        replay = isinstance(source, RecordingReader)
        parts = parts_in_use(settings, recording=opts.record is not None)
        tracking = settings.tracking
        paths: dict[str, Path] = {}
        if not replay:
            needed = tracking_for(settings, parts)
            paths = resolve_model_paths(needed, models_dir=opts.models_dir, offline=opts.offline, say=say,
                                        progress_factory=progress_factory)  # fmt: skip
        solver = RigSolver(settings)
        live = not replay and settings.capture.mode == "realtime"
        wall = _wall_offset(source, live)  # once: every output's timecode agrees
        sinks = build_sinks(settings, stream_rate_hz=source.fps, wall_clock_offset_ms=wall)
        recorder: Recorder | None = None
        if isinstance(source, RecordingReader):  # == replay; narrows the union for mypy
            models = dict(source.header.get("models", {}))
        else:  # cached bundles were just verified against the registry; hash explicit files only
            explicit = tracking.model_paths
            models = {n: sha256_file(p) if n in explicit else MODELS[n].sha256 for n, p in paths.items()}
        if opts.record is not None:
            cap = settings.capture
            recorder = RecordingWriter(
                opts.record,
                source=source.description,
                mode=cap.mode,
                mirror=cap.mirror,
                fps=source.fps,
                models=models,
                source_path=source_spec if isinstance(source, RecordingReader) else None,
            )
        recorder = _attach_takes_and_remote(settings, opts, source, models, sinks, recorder, wall)
    except BaseException:
        source.close()
        raise
    if not opts.quiet:
        say(f"{PROG}: {source.description} → {', '.join(s.name for s in sinks) or 'no outputs'}")
    if opts.viewer is None and settings.ws.enabled and settings.ws.viewer:
        opts = replace(opts, viewer=viewer_options(settings))
    return run_session(settings, source, solver.solve, sinks, opts=opts, model_paths=paths, parts=parts,
                       out=out, recorder=recorder)  # fmt: skip
