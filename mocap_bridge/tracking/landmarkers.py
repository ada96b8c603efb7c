"""The three MediaPipe Tasks landmarkers, in LIVE_STREAM (concurrent, async) or VIDEO mode.

This package is the only importer of mediapipe. Landmarkers are always closed (``close`` or
``with``), so interpreter exit prints no ``__del__`` tracebacks.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import TrackingError
from ..filters.hand_entry import HandEntrySettings, touches_border
from ..frames import (
    FaceObservation,
    HandObservation,
    Part,
    PartPayload,
    PartStatus,
    PoseObservation,
    TrackedFrame,
)
from ..settings import TrackingSettings
from . import c_api
from .convert import face_from_result, hands_from_result, pose_from_result

__all__ = [
    "PROBE_EVERY_MS",
    "HandPlanner",
    "Landmarkers",
    "Plan",
    "ProbeClock",
    "ResultHandler",
    "hands_in_view",
    "usable_hands",
]

log = logging.getLogger(__name__)

#: (part, capture timestamp ms, payload, source); called on a MediaPipe thread in LIVE_STREAM mode.
#: ``source`` tells apart landmarkers of the same part (the hand search's num_hands), see Assembler.
ResultHandler = Callable[[Part, int, PartPayload, int], None]
#: A frame's plan: the parts it goes to, which landmarker of each (the hand search's num_hands; 0
#: for pose and face), and whether the hand search is narrowed (then :class:`ProbeClock` runs the
#: full one now and then).
Plan = tuple[tuple[bool, bool, bool], tuple[int, int, int], bool]
#: How often a narrowed hand search is probed with the full one (ms of capture time).
PROBE_EVERY_MS = 500.0
#: The hand entry rule's default border margin (``[hands] border_margin``).
HAND_BORDER_MARGIN = HandEntrySettings().border_margin


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Silence MediaPipe's native start-up chatter (TFLite/glog write to fd 2) unless debugging."""
    if logging.getLogger().isEnabledFor(logging.INFO):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


#: Pose landmarks of each hand (wrist, pinky, index, thumb), left then right.
_HAND_POINTS = np.array([[15, 17, 19, 21], [16, 18, 20, 22]])


def hands_in_view(pose: PoseObservation | None, margin: float = 0.05) -> int | None:
    """How many hands the pose sees in or near the image (None when there is no pose)."""
    if pose is None:
        return None
    pts = pose.landmarks[_HAND_POINTS]  # (2, 4, 5): x, y, z, visibility, presence
    x, y, vis = pts[..., 0], pts[..., 1], pts[..., 3]
    seen = (vis >= 0.5) & (x >= -margin) & (x <= 1 + margin) & (y >= -margin) & (y <= 1 + margin)
    return int(np.count_nonzero(seen.any(axis=1)))


def usable_hands(hands: Sequence[HandObservation], border_margin: float) -> int:
    """How many of ``hands`` can drive the rig: off the image border (the hand entry rule)."""
    return sum(not touches_border(h.landmarks, border_margin) for h in hands)


class HandPlanner:
    """Chooses how many hands the hand landmarker should look for, from what the pose sees.

    MediaPipe's hand landmarker re-runs palm detection on every frame while it tracks fewer hands
    than ``num_hands``: with one hand in view, ``num_hands=2`` costs ~27 ms a frame here against
    ~12 ms for ``num_hands=1``. The pose already knows how many hands are in view, so: no pose →
    look for all hands; pose sees 0 → skip the hand landmarker; 1 → one hand; 2 → two. A new count
    must hold for ``settle`` pose results before it changes the choice, so tracking is not reset by
    flicker.

    The pose can also be too generous (a wrist at the frame's edge, "visible" but cut off): when a
    search for two hands has found fewer than two usable hands (off the image border, see
    :mod:`~mocap_bridge.filters.hand_entry`) ``settle`` times in a row, the planner looks for one.
    MediaPipe's one-hand search then tracks whichever hand it finds first, which can be the cut-off
    one: when a search for fewer hands than ``max_hands`` finds fewer usable hands than it asked
    for, the planner runs the full search for the next ``retry_after`` searches. The narrowed
    searches (none, or fewer than the pose sees) are *probed*: now and then the full search runs
    instead, in case the pose is wrong (:class:`ProbeClock`).

    Pure: fed observations, asked for the search. :meth:`search` only reads, so asking after every
    result is harmless; the probes are timed by the thread that submits the frames.
    """

    def __init__(self, max_hands: int, *, settle: int = 3, retry_after: int = 150) -> None:
        self.max_hands = max_hands
        self.settle = settle
        self.retry_after = retry_after
        self._current: int | None = None
        self._candidate: int | None = None
        self._streak = 0
        self._short = 0  # consecutive full searches that found fewer usable hands than asked
        self._full_for = 0  # full searches left before a narrower one is tried again

    def observe(self, pose: PoseObservation | None) -> None:
        seen = hands_in_view(pose)
        count = None if seen is None else min(seen, self.max_hands)
        if count == self._current:
            self._candidate, self._streak = None, 0
            return
        if count == self._candidate:
            self._streak += 1
        else:
            self._candidate, self._streak = count, 1
        if self._streak >= self.settle or (self._current is None and count is not None and count > 0):
            self._current, self._candidate, self._streak = count, None, 0

    def observe_hands(self, requested: int, found: int) -> None:
        """A hand search for ``requested`` hands found ``found`` usable ones (off the border)."""
        if requested < self.max_hands:
            # A narrower search says nothing about the hands it did not look for, but one that
            # finds fewer usable hands than it asked for may be tracking the wrong one.
            if found < requested:
                self._full_for = self.retry_after
            return
        self._full_for = max(0, self._full_for - 1)
        self._short = self._short + 1 if found < requested else 0

    def search(self) -> tuple[int, bool]:
        """(hands to look for, 0 = skip the hand landmarker; whether that search is narrowed)."""
        base = self.max_hands if self._current is None else self._current
        if base and self._full_for:  # a narrower search was tracking a hand that cannot drive the rig
            return self.max_hands, False
        want = base
        if base == self.max_hands and self._short >= self.settle:
            want = self.max_hands - 1  # the pose sees more hands than the search finds
        return want, want != base or base == 0


class ProbeClock:
    """When a narrowed hand search runs the full one instead: once every ``every_ms`` of capture
    time spent narrowed, so a hand the pose missed is found within the same half second at any
    frame rate (counting frames would probe twice as often, at twice the cost, at 60 fps).

    Owned by the thread that submits the frames; fed the frame's timestamp, never a clock.
    """

    def __init__(self, every_ms: float = PROBE_EVERY_MS) -> None:
        self.every_ms = every_ms
        self._since: int | None = None  # when the current narrowed stretch began, or the last probe

    def hands(self, want: int, narrowed: bool, full: int, t_ms: int) -> int:
        """Hands the frame at ``t_ms`` looks for: ``want``, or ``full`` when a probe is due."""
        if not narrowed:
            self._since = None
            return want
        if self._since is None:
            self._since = t_ms
        elif t_ms - self._since >= self.every_ms:
            self._since = t_ms
            return full
        return want


class Landmarkers:
    """Owns the MediaPipe tasks for one run.

    ``live=True``: LIVE_STREAM mode; ``submit`` hands an image to every enabled landmarker with
    ``detect_async`` and returns at once; results reach ``on_result`` on MediaPipe's threads.
    ``live=False``: VIDEO mode; ``detect`` runs the three concurrently on a small thread pool
    (MediaPipe releases the GIL) and returns all results for that frame, deterministically
    (``sequential=True``: one after another, the naive recipe the benchmark compares against).

    Tasks are created and read through :mod:`.c_api` (MediaPipe's C functions called in place,
    results read with numpy) when this mediapipe's wrapper is the one it knows;
    ``native_results=False`` or another wrapper: MediaPipe's public Python API, read by
    :mod:`.convert`. Both give the same observations.
    """

    def __init__(
        self,
        settings: TrackingSettings,
        model_paths: dict[str, Path],
        *,
        live: bool,
        on_result: ResultHandler | None = None,
        sequential: bool = False,
        native_results: bool = True,
        border_margin: float = HAND_BORDER_MARGIN,
    ) -> None:
        from .mp_import import import_mediapipe

        mp = import_mediapipe()  # matplotlib.pyplot deferred: ~1 s of a cold start
        from mediapipe.tasks.python import BaseOptions
        from mediapipe.tasks.python import vision as V

        if live and on_result is None:
            raise ValueError("live mode needs on_result")
        self._mp = mp
        self.live = live
        self.settings = settings
        self._on_result = on_result
        self._last_ts = -1
        self._tasks: list[Any] = [None, None, None]
        self._hand_tasks: dict[int, Any] = {}  # hand landmarkers by num_hands
        self._planner: HandPlanner | None = None
        self._probes = ProbeClock()  # VIDEO mode's (``detect`` plans its own frames)
        self._border_margin = border_margin  # the hand planner counts the hands off the border
        #: VIDEO mode: how many hands the last :meth:`detect` looked for (0 = the hand landmarker
        #: did not run), as the adaptive hand search chose
        self.last_hand_search = 0
        self._pool: ThreadPoolExecutor | None = None
        mode = V.RunningMode.LIVE_STREAM if live else V.RunningMode.VIDEO

        self.native = native_results and c_api.supported()
        readers = (pose_from_result, face_from_result, hands_from_result)
        tasks = (V.PoseLandmarker, V.FaceLandmarker, V.HandLandmarker)

        def start(part: Part, options: Any, source: int = 0) -> Any:
            """One task; in LIVE_STREAM mode its results go to ``on_result`` (see app.py: on a
            MediaPipe thread, they are only read and handed over)."""
            if self.native:
                on_payload = None
                if live:
                    assert on_result is not None

                    def on_payload(payload: PartPayload, timestamp_ms: int) -> None:
                        on_result(part, timestamp_ms, payload, source)

                return c_api.create(part, options, on_payload)
            if live:
                read = readers[part]

                def callback(result: Any, _image: Any, timestamp_ms: int) -> None:
                    try:
                        payload = read(result)
                    except Exception:  # a bad result must not kill MediaPipe's thread
                        log.exception("converting a %s result failed", part.name.lower())
                        payload = None
                    assert on_result is not None
                    on_result(part, int(timestamp_ms), payload, source)

                options.result_callback = callback
            return tasks[part].create_from_options(options)

        try:
            with _quiet_native_stderr():
                if settings.parts[Part.POSE]:
                    path = model_paths[f"pose_{settings.pose_model}"]
                    self._tasks[Part.POSE] = start(
                        Part.POSE,
                        V.PoseLandmarkerOptions(
                            base_options=BaseOptions(model_asset_path=str(path)),
                            running_mode=mode,
                            num_poses=1,
                            min_pose_detection_confidence=settings.min_pose_confidence,
                            min_pose_presence_confidence=settings.min_pose_confidence,
                            min_tracking_confidence=settings.min_pose_confidence,
                            output_segmentation_masks=settings.segmentation,
                        ),
                    )
                if settings.parts[Part.FACE]:
                    self._tasks[Part.FACE] = start(
                        Part.FACE,
                        V.FaceLandmarkerOptions(
                            base_options=BaseOptions(model_asset_path=str(model_paths["face"])),
                            running_mode=mode,
                            num_faces=1,
                            min_face_detection_confidence=settings.min_face_confidence,
                            min_face_presence_confidence=settings.min_face_confidence,
                            min_tracking_confidence=settings.min_face_confidence,
                            output_face_blendshapes=True,
                            output_facial_transformation_matrixes=True,
                        ),
                    )
                if settings.parts[Part.HANDS]:
                    counts = {settings.num_hands}
                    if settings.adaptive_hands and settings.parts[Part.POSE] and settings.num_hands == 2:
                        counts.add(1)
                    for n in sorted(counts):
                        self._hand_tasks[n] = start(
                            Part.HANDS,
                            V.HandLandmarkerOptions(
                                base_options=BaseOptions(model_asset_path=str(model_paths["hand"])),
                                running_mode=mode,
                                num_hands=n,
                                min_hand_detection_confidence=settings.min_hand_confidence,
                                min_hand_presence_confidence=settings.min_hand_confidence,
                                min_tracking_confidence=settings.min_hand_confidence,
                            ),
                            n,
                        )
                    self._tasks[Part.HANDS] = self._hand_tasks[settings.num_hands]
                    if len(self._hand_tasks) > 1:
                        self._planner = HandPlanner(settings.num_hands)
        except Exception as exc:
            self.close()
            raise TrackingError(f"MediaPipe could not start: {exc}") from exc
        self._video = not live
        if not live and not sequential:
            self._pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="mp-video")

    def __enter__(self) -> Landmarkers:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def active_parts(self) -> tuple[bool, bool, bool]:
        return (self._tasks[0] is not None, self._tasks[1] is not None, self._tasks[2] is not None)

    def _image(self, rgb: np.ndarray) -> Any:
        return self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))

    def _check_ts(self, t_ms: int) -> None:
        if t_ms <= self._last_ts:
            raise TrackingError(f"timestamps must strictly increase ({t_ms} after {self._last_ts})")
        self._last_ts = t_ms

    def observe(self, part: Part, payload: Any, source: int) -> None:
        """Feed the hand planner a result (pose results, and what each hand search found).

        Not thread-safe: in LIVE_STREAM mode the app calls it on its loop thread, never on
        MediaPipe's; in VIDEO mode :meth:`detect` calls it itself.
        """
        if self._planner is None or part is Part.FACE:
            return
        if part is Part.POSE:
            self._planner.observe(payload if isinstance(payload, PoseObservation) else None)
        else:
            hands = payload if isinstance(payload, tuple) else ()
            self._planner.observe_hands(source, usable_hands(hands, self._border_margin))

    def plan(self) -> Plan:
        """The next frame's :data:`Plan` (hands may be skipped, see :class:`HandPlanner`), before
        any probe (:meth:`probed`). Only reads the planner; same thread as :meth:`observe`."""
        active = self.active_parts()
        n_hands, narrowed = (
            self._planner.search() if self._planner is not None else (self.settings.num_hands, False)
        )
        hands = active[2] and n_hands > 0
        return (active[0], active[1], hands), (0, 0, n_hands if hands else 0), narrowed and active[2]

    def probed(
        self, plan: Plan, probes: ProbeClock, t_ms: int
    ) -> tuple[tuple[bool, bool, bool], tuple[int, int, int]]:
        """``plan``'s parts and sources for the frame at ``t_ms``, the full hand search when
        ``probes`` says one is due (the submitting thread's clock)."""
        parts, sources, narrowed = plan
        n = probes.hands(sources[2], narrowed, self.settings.num_hands, t_ms)
        if n == sources[2]:
            return parts, sources
        return (parts[0], parts[1], True), (sources[0], sources[1], n)

    def _hand_task(self, num_hands: int) -> Any:
        return self._hand_tasks.get(num_hands, self._tasks[Part.HANDS])

    def submit(
        self, rgb: np.ndarray, t_ms: int, parts: tuple[bool, bool, bool], sources: tuple[int, int, int]
    ) -> tuple[bool, bool, bool]:
        """LIVE_STREAM: hand the image to the landmarkers in ``parts`` (the hand search
        ``sources[2]``, see :meth:`plan`); returns who accepted it. Capture thread only."""
        self._check_ts(t_ms)
        image = self._image(rgb)
        accepted = [False, False, False]
        tasks = (self._tasks[0], self._tasks[1], self._hand_task(sources[2]))
        for p, task in enumerate(tasks):
            if task is None or not parts[p]:
                continue
            try:
                task.detect_async(image, t_ms)
            except Exception as exc:  # MediaPipe refused this frame; the frame goes on
                log.warning("%s refused frame at %d ms: %s", Part(p).name.lower(), t_ms, exc)
                continue
            accepted[p] = True
        return (accepted[0], accepted[1], accepted[2])

    def detect(
        self, rgb: np.ndarray, t_ms: int
    ) -> tuple[
        PoseObservation | None, FaceObservation | None, tuple[HandObservation, ...], tuple[bool, bool, bool]
    ]:
        """VIDEO mode: all results for one frame, and which parts ran (deterministic)."""
        assert self._video, "detect() needs VIDEO mode"
        self._check_ts(t_ms)
        parts, sources = self.probed(self.plan(), self._probes, t_ms)
        self.last_hand_search = sources[Part.HANDS] if parts[Part.HANDS] else 0
        image = self._image(rgb)
        convert = (pose_from_result, face_from_result, hands_from_result)
        tasks = (self._tasks[0], self._tasks[1], self._hand_task(sources[2]))

        def run(p: int) -> PartPayload:
            task = tasks[p]
            if task is None or not parts[p]:
                return None
            if self.native:
                return c_api.detect_for_video(Part(p), task, image, t_ms)
            return convert[p](task.detect_for_video(image, t_ms))

        try:
            runner = self._pool.map if self._pool is not None else map
            pose, face, hands = runner(run, range(3))
        except Exception as exc:
            raise TrackingError(f"MediaPipe failed on the frame at {t_ms} ms: {exc}") from exc
        pose_obs = pose if isinstance(pose, PoseObservation) else None
        self.observe(Part.POSE, pose_obs, 0)
        if parts[Part.HANDS]:
            self.observe(Part.HANDS, hands, sources[Part.HANDS])
        return (
            pose_obs,
            face if isinstance(face, FaceObservation) else None,
            hands if isinstance(hands, tuple) else (),
            parts,
        )

    def track(self, rgb: np.ndarray, index: int, t_ms: int) -> TrackedFrame:
        """VIDEO mode: one complete :class:`TrackedFrame` (a part not run this frame is SKIPPED)."""
        pose, face, hands, ran = self.detect(rgb, t_ms)
        found = (pose is not None, face is not None, bool(hands))
        status = [
            PartStatus.FOUND if found[p] else PartStatus.NOT_FOUND if ran[p] else PartStatus.SKIPPED
            for p in range(3)
        ]
        return TrackedFrame(index, t_ms, pose, face, hands, (status[0], status[1], status[2]))

    def close(self) -> None:
        """Close every task (idempotent); waits for MediaPipe's threads."""
        tasks = [t for t in (self._tasks[0], self._tasks[1], *self._hand_tasks.values()) if t is not None]
        self._tasks = [None, None, None]
        self._hand_tasks = {}
        for task in tasks:
            try:
                task.close()
            except Exception:
                log.debug("closing a landmarker failed", exc_info=True)
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
