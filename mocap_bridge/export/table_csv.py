"""Analysis CSV: one row per frame with every solved value, lossless (shortest round-trip floats).

Columns (docs/takes.md, "Analysis CSV"): ``index, t_s`` (seconds from the first frame), the 52
ARKit blendshapes (lowerCamel, :class:`~mocap_bridge.frames.ARKit` order), ``head_yaw,
head_pitch, head_roll`` (radians, Live Link convention), ``head_qx..head_qw``, ``head_px..pz``
(metres), ``left_eye_yaw, left_eye_pitch, right_eye_yaw, right_eye_pitch`` (radians),
``hips_x..hips_z`` (metres), ``face_state, body_state, left_hand_state, right_hand_state``
(LOST/PARTIAL/OK), then per HumanBone ``<Bone>.qx, .qy, .qz, .qw`` (local rotation relative to
the T-pose) and ``<Bone>.valid`` (1 when the solver drove it). Axes: the internal frame.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import ProtocolError
from ..frames import ARKIT_NAMES, HUMAN_BONE_NAMES, RigFrame

__all__ = ["table_csv_header", "write_table_csv"]

_FIXED = (
    "index", "t_s", *ARKIT_NAMES, "head_yaw", "head_pitch", "head_roll",
    "head_qx", "head_qy", "head_qz", "head_qw", "head_px", "head_py", "head_pz",
    "left_eye_yaw", "left_eye_pitch", "right_eye_yaw", "right_eye_pitch",
    "hips_x", "hips_y", "hips_z", "face_state", "body_state", "left_hand_state", "right_hand_state",
)  # fmt: skip
_BONES = tuple(f"{b}.{c}" for b in HUMAN_BONE_NAMES for c in ("qx", "qy", "qz", "qw", "valid"))


def table_csv_header() -> tuple[str, ...]:
    return (*_FIXED, *_BONES)


def _row(frame: RigFrame, t_s: float) -> str:
    cells: list[object] = [frame.index, t_s]
    cells += frame.blendshapes.tolist()
    cells += frame.head_ypr.tolist() + frame.head_rotation.tolist() + frame.head_position.tolist()
    cells += frame.eyes.reshape(4).tolist() + frame.hips_position.tolist()
    cells += [frame.face_state.name, frame.body_state.name, *(s.name for s in frame.hand_states)]
    for q, ok in zip(frame.bone_rotations.tolist(), frame.bone_valid.tolist(), strict=True):
        cells += [*q, int(ok)]
    return ",".join(repr(c) if isinstance(c, float) else str(c) for c in cells)


def write_table_csv(frames: Sequence[RigFrame], times_s: Sequence[float]) -> str:
    """The CSV text; ``times_s`` are seconds from the first written frame."""
    if not frames:
        raise ProtocolError("nothing to export: the recording has no frames")
    rows = [",".join(table_csv_header())]
    rows += [_row(f, t) for f, t in zip(frames, times_s, strict=True)]
    return "\n".join(rows) + "\n"
