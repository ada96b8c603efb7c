"""The inference floor: what MediaPipe alone costs per frame, and what three plain landmarkers hold.

Worker (``python -m mocap_bridge.bench.floor JOB``), on the decoded frames in VIDEO mode:

1. Three plain landmarkers (pose, face, and the hand landmarker with ``num_hands`` from the
   settings), each a one-part :class:`~mocap_bridge.tracking.landmarkers.Landmarkers` called
   alone, one after another per frame. Each call is bracketed by the process CPU clock (all
   threads): nothing else runs meanwhile, so the difference is that model's cost, including the
   conversion of its result to arrays that the live pipeline does too. The RSS with the three
   loaded and run is ``rss_floor_mb``. The frames tracked here are written to a recording: they
   are the input of the overhead and fan-out sections.
2. When the pipeline adapts the hand search (``adaptive_hands``, a pose, two hands), a hand
   landmarker with ``num_hands = 1`` runs alone over the same frames.

The floor per frame then sums the models as the pipeline uses them (:func:`planned_searches`):
pose + face + the hand search the pipeline's own :class:`HandPlanner` and :class:`ProbeClock`
choose for that frame from the earlier frames' results: as many hands as the pose sees, fewer when
the full search keeps finding fewer, none when the pose sees none, and the full search when a probe
is due. (A probe's full search is costed warm here; in the live run it starts cold.)
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..clock import cpu_s, monotonic_ms
from ..frames import PartStatus, PoseObservation, TrackedFrame
from ..settings import Settings, TrackingSettings
from ..tracking.landmarkers import HandPlanner, ProbeClock, usable_hands
from .clip import FrameFile
from .memory import peak_rss_mb, rss_mb

__all__ = ["FloorJob", "floor_summary", "measure_floor", "planned_searches"]


@dataclass(frozen=True, slots=True)
class FloorJob:
    frames: FrameFile
    settings: Settings
    model_paths: dict[str, Path]
    parts: tuple[bool, bool, bool]
    count: int  #: frames to run (the clip looped when it is shorter)
    recording: Path


def planned_searches(
    poses: Sequence[PoseObservation | None],
    found: Mapping[int, Sequence[int]],
    tracking: TrackingSettings,
    pose_runs: bool,
    fps: float,
) -> list[int]:
    """How many hands the live pipeline looks for in each frame (0 = the hand landmarker does not
    run), from the pose results ``poses`` and ``found[n][i]``, the usable hands (off the border) a
    search for ``n`` found in frame ``i``: the pipeline's :class:`HandPlanner` and
    :class:`ProbeClock`, run as VIDEO mode runs them (each frame planned from the earlier frames'
    results, probes timed by the frames).
    Without the planner (no ``adaptive_hands``, no pose, or one hand) every frame searches for all.
    """
    n_max = tracking.num_hands
    if not (tracking.adaptive_hands and pose_runs and n_max == 2):
        return [n_max] * len(poses)
    planner, probes = HandPlanner(n_max), ProbeClock()
    out: list[int] = []
    for i, pose in enumerate(poses):
        want, narrowed = planner.search()
        n = probes.hands(want, narrowed, n_max, round(i * 1000.0 / fps))
        out.append(n)
        planner.observe(pose)
        if n:
            planner.observe_hands(n, found[n][i])
    return out


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else 0.0


def floor_summary(
    pose_s: list[float],
    face_s: list[float],
    hand_s: dict[int, list[float]],
    searched: list[int],
) -> dict[str, float]:
    """Per-frame floor figures (ms) from per-frame CPU seconds.

    ``hand_s[n]``: the hand landmarker with ``num_hands = n`` on every frame; ``searched[i]``: the
    hands the pipeline looks for in frame ``i`` (0 = the hand landmarker does not run).
    """
    frames = len(searched)
    hand_used = [hand_s[n][i] if n else 0.0 for i, n in enumerate(searched)]
    pose, face, hand = _mean(pose_s) * 1e3, _mean(face_s) * 1e3, _mean(hand_used) * 1e3
    out = {
        "inference_floor_ms": pose + face + hand,
        "floor_pose_ms": pose,
        "floor_face_ms": face,
        "floor_hand_ms": hand,
        "floor_frames": float(frames),
        "floor_hand_frames": float(sum(n > 0 for n in searched)),
    }
    for n, values in sorted(hand_s.items()):
        out[f"floor_hand_{n}_call_ms"] = _mean(values) * 1e3
    return out


def _one_part(tracking: TrackingSettings, part: int, num_hands: int | None = None) -> TrackingSettings:
    only = [p == part for p in range(3)]
    changes: dict[str, Any] = {"pose": only[0], "face": only[1], "hands": only[2], "adaptive_hands": False}
    if num_hands is not None:
        changes["num_hands"] = num_hands
    return replace(tracking, **changes)


def measure_floor(job: FloorJob) -> dict[str, Any]:
    from ..recording import RecordingWriter
    from ..tracking.landmarkers import Landmarkers, hands_in_view

    tracking = job.settings.tracking
    margin = job.settings.hands.border_margin
    paths = job.model_paths
    pose_on, _, hands_on = job.parts
    times: list[list[float]] = [[], [], []]
    in_view: list[int | None] = []
    poses: list[PoseObservation | None] = []
    found: dict[int, list[int]] = {tracking.num_hands: []}  # hands each search found, per frame
    counts = {0: 0, 1: 0, 2: 0}
    with contextlib.ExitStack() as stack:
        reader = stack.enter_context(job.frames.reader())
        lms: list[Landmarkers | None] = [None, None, None]
        for part, on in enumerate(job.parts):
            if on:
                lms[part] = stack.enter_context(
                    Landmarkers(_one_part(tracking, part), paths, live=False, sequential=True)
                )
        writer = stack.enter_context(
            RecordingWriter(
                job.recording,
                source=job.frames.description,
                mode="video",
                mirror=False,
                fps=job.frames.fps,
                models={},
            )
        )
        wall0, cpu0 = monotonic_ms(), cpu_s()
        for i in range(job.count):
            rgb = reader.read(i)
            t_ms = round(i * 1000.0 / job.frames.fps)
            results: list[Any] = [None, None, ()]
            for part, lm in enumerate(lms):
                if lm is None:
                    continue
                c0 = cpu_s()
                result = lm.detect(rgb, t_ms)
                times[part].append(cpu_s() - c0)
                results[part] = result[part]
            pose, face, hands = results
            in_view.append(hands_in_view(pose) if pose_on else None)
            poses.append(pose)
            found[tracking.num_hands].append(usable_hands(hands, margin))
            counts[min(len(hands), 2)] += 1
            status = tuple(
                (PartStatus.FOUND if found else PartStatus.NOT_FOUND) if on else PartStatus.SKIPPED
                for on, found in zip(
                    job.parts, (pose is not None, face is not None, bool(hands)), strict=True
                )
            )
            writer.write(TrackedFrame(i, t_ms, pose, face, hands, status))  # type: ignore[arg-type]
        # cores the pass got: the models run one at a time, so ~1 (or a little more) on an idle machine
        cores = (cpu_s() - cpu0) / max(1e-9, (monotonic_ms() - wall0) / 1000.0)
        rss_floor, rss_peak = rss_mb(), peak_rss_mb()
    hand_s: dict[int, list[float]] = {}
    searched = [0] * len(poses)
    if hands_on:
        hand_s[tracking.num_hands] = times[2]
        if tracking.adaptive_hands and pose_on and tracking.num_hands == 2:
            # the narrower search the planner may choose, over the same frames
            n = 1
            hand_s[n], found[n] = [], []
            with (
                job.frames.reader() as reader,
                Landmarkers(_one_part(tracking, 2, n), paths, live=False, sequential=True) as lm,
            ):
                for i in range(job.count):
                    rgb = reader.read(i)
                    c0 = cpu_s()
                    _, _, hands, _ = lm.detect(rgb, round(i * 1000.0 / job.frames.fps))
                    hand_s[n].append(cpu_s() - c0)
                    found[n].append(usable_hands(hands, margin))
        searched = planned_searches(poses, found, tracking, pose_on, job.frames.fps)
    figures: dict[str, Any] = floor_summary(times[0], times[1], hand_s, searched)
    for n in range(3):
        figures[f"floor_hand_searched_{n}"] = sum(k == n for k in searched)
    views = [v for v in in_view if v is not None]
    figures.update(
        floor_cpu_cores=cores,
        rss_floor_mb=rss_floor,
        rss_floor_peak_mb=rss_peak,
        floor_pose_frames=sum(v is not None for v in in_view),
        floor_hands_in_view_mean=float(np.mean(views)) if views else None,
        tracked_hands_0=counts[0],
        tracked_hands_1=counts[1],
        tracked_hands_2=counts[2],
    )
    return figures


if __name__ == "__main__":
    from .worker import worker_main

    worker_main(measure_floor)
