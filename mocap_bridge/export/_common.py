"""Shared by the export writers: frame selection at a target rate and the humanoid hierarchy."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from ..errors import ProtocolError
from ..frames import HumanBone, RigFrame
from ..solve.body import PARENT, REST_OFFSETS

__all__ = ["BONE_ORDER", "check_offsets", "frame_times_s", "resample"]

F64 = npt.NDArray[np.float64]


def _depth_first() -> tuple[HumanBone, ...]:
    children: dict[HumanBone | None, list[HumanBone]] = {}
    for bone in HumanBone:
        children.setdefault(PARENT[bone], []).append(bone)
    out: list[HumanBone] = []

    def visit(bone: HumanBone) -> None:
        out.append(bone)
        for child in sorted(children.get(bone, []), key=int):
            visit(child)

    visit(HumanBone.Hips)
    return tuple(out)


#: Every HumanBone, parents before children (depth first from Hips, children in enum order).
BONE_ORDER: tuple[HumanBone, ...] = _depth_first()


def resample(frames: Sequence[RigFrame], fps: float | None) -> list[RigFrame]:
    """The frames to write: all of them, or one per ``1/fps`` from the first frame's time.

    Each sample takes the solved frame nearest its time (ties: the earlier one), with no
    interpolation, so every written value is one the solver produced and ``run`` sent. On a
    steady recording resampled at its own rate this is every frame, even with capture stamps
    rounded to whole milliseconds.
    """
    if fps is None or not frames:
        return list(frames)
    if not (math.isfinite(fps) and fps > 0):
        raise ProtocolError(f"export frame rate must be a positive number, got {fps!r}")
    t0 = frames[0].t_ms
    span_ms = frames[-1].t_ms - t0
    count = math.floor(span_ms * fps / 1000.0 + 0.5) + 1
    out: list[RigFrame] = []
    j = 0
    for k in range(count):
        t = t0 + k * 1000.0 / fps
        while j + 1 < len(frames) and abs(frames[j + 1].t_ms - t) < abs(frames[j].t_ms - t):
            j += 1
        out.append(frames[j])
    return out


def frame_times_s(frames: Sequence[RigFrame], fps: float | None) -> list[float]:
    """Seconds from the first frame for each written frame (``k / fps`` when resampled)."""
    if not frames:
        return []
    if fps is not None:
        return [k / fps for k in range(len(frames))]
    t0 = frames[0].t_ms
    return [(f.t_ms - t0) / 1000.0 for f in frames]


def check_offsets(offsets: npt.ArrayLike | None) -> F64:
    """(55, 3) rest offsets in metres (internal frame): the solver's, or an avatar profile's."""
    if offsets is None:
        return np.array(REST_OFFSETS, dtype=np.float64)
    arr = np.asarray(offsets, dtype=np.float64)
    if arr.shape != REST_OFFSETS.shape or not np.all(np.isfinite(arr)):
        raise ProtocolError(f"rest offsets must be finite, shape {REST_OFFSETS.shape}; got {arr.shape}")
    return arr
