"""The viewer's ``lab`` channel: what the page shows that the frame stream does not carry.

Pure (time is passed in): :class:`LabEncoder` turns each solved frame into a ``lab`` message —
per-part tracking label (found / held / easing / lost) and confidence, face mesh points for the
overlay, finger curls, per-part and end-to-end latency — and :func:`stats_message` wraps the
periodic counters (fps, partial/dropped frames, each output's rate, drops, refusals and clients,
the controls' state). The page pairs a ``lab`` message with the ``frame`` of the same ``index``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from ..frames import HUMAN_BONE_NAMES, HandObservation, PartStatus, RigFrame, Tracking

__all__ = ["FINGERS", "LabEncoder", "finger_curls", "stats_message", "tracking_label"]

F64 = npt.NDArray[np.float64]
_OPTS = orjson.OPT_SERIALIZE_NUMPY
_STATUS = {
    PartStatus.FOUND: "found",
    PartStatus.NOT_FOUND: "not_found",
    PartStatus.MISSING: "missing",
    PartStatus.SKIPPED: "skipped",
}
#: MediaPipe hand landmark chains, wrist (0) first: thumb, index, middle, ring, pinky.
FINGERS: tuple[tuple[int, ...], ...] = (
    (0, 1, 2, 3, 4),
    (0, 5, 6, 7, 8),
    (0, 9, 10, 11, 12),
    (0, 13, 14, 15, 16),
    (0, 17, 18, 19, 20),
)
# A fully curled finger bends about 90° at each of its three joints.
_FULL_CURL = 3 * math.pi / 2


def tracking_label(present: bool, state: Tracking, since_seen_ms: float | None, hold_ms: float) -> str:
    """found: seen this frame; held: unseen, last value held; easing: unseen, easing to rest;
    lost: at rest (or never seen)."""
    if present and state is not Tracking.LOST:
        return "found"
    if state is Tracking.LOST or since_seen_ms is None:
        return "lost"
    return "held" if since_seen_ms <= hold_ms else "easing"


_CHAINS = np.array(FINGERS)  # (5 fingers, 5 points)


def finger_curls(points: npt.ArrayLike) -> list[float]:
    """Curl per finger, 0 (straight) .. 1 (fist), from (21, ≥3) hand landmarks: the bend angles
    along each chain (wrist → tip) summed over what a fist bends (thumb: its last three joints).
    All five fingers in one vectorised pass (this runs per hand per frame on the loop thread)."""
    p = np.asarray(points, dtype=np.float64)[:, :3]
    seg = np.diff(p[_CHAINS], axis=1)  # (5, 4, 3)
    norms = np.sqrt(np.einsum("fsk,fsk->fs", seg, seg))
    degenerate = (norms < 1e-9).any(axis=1)
    unit = seg / np.maximum(norms, 1e-9)[..., None]
    cos = np.clip(np.einsum("fsk,fsk->fs", unit[:, :-1], unit[:, 1:]), -1.0, 1.0)  # (5, 3) joints
    curls = np.minimum(1.0, np.arccos(cos).sum(axis=1) / _FULL_CURL)
    curls[degenerate] = 0.0
    return [round(c, 3) for c in curls.tolist()]


def _hand(hand: HandObservation | None) -> dict[str, Any] | None:
    if hand is None:
        return None
    src = hand.world if hand.world is not None and len(hand.world) == 21 else hand.landmarks
    return {"label": hand.label, "score": round(float(hand.score), 3), "curls": finger_curls(src)}


class LabEncoder:
    """Builds one ``lab`` message per frame; keeps when each part was last seen (for held/easing)."""

    def __init__(self, *, hold_ms: float = 250.0, face_points: int = 478) -> None:
        self.hold_ms = hold_ms
        self.face_points = face_points
        self._seen: dict[str, int] = {}

    def _label(self, part: str, present: bool, state: Tracking, t_ms: int) -> str:
        if present:
            self._seen[part] = t_ms
        last = self._seen.get(part)
        return tracking_label(present, state, None if last is None else t_ms - last, self.hold_ms)

    def encode(self, rig: RigFrame, *, now_ms: float | None) -> bytes:
        """The ``lab`` message for ``rig``; ``now_ms`` (monotonic) gives latencies, None offline."""
        tracked = rig.tracked
        t = rig.t_ms
        pose, face = tracked.pose, tracked.face
        left, right = tracked.hand("Left"), tracked.hand("Right")
        parts = {
            "face": {
                "status": _STATUS[tracked.status[1]],
                "tracking": self._label("face", face is not None, rig.face_state, t),
                "confidence": 1.0 if face is not None else 0.0,
            },
            "pose": {
                "status": _STATUS[tracked.status[0]],
                "tracking": self._label("pose", pose is not None, rig.body_state, t),
                "confidence": round(float(np.mean(pose.landmarks[:, 3])), 3) if pose is not None else 0.0,
            },
            "left_hand": {
                "status": _STATUS[tracked.status[2]],
                "tracking": self._label("left", left is not None, rig.hand_states[0], t),
                "confidence": round(float(left.score), 3) if left is not None else 0.0,
            },
            "right_hand": {
                "status": _STATUS[tracked.status[2]],
                "tracking": self._label("right", right is not None, rig.hand_states[1], t),
                "confidence": round(float(right.score), 3) if right is not None else 0.0,
            },
        }
        latency: dict[str, float | None] | None = None
        if now_ms is not None:
            names = ("pose", "face", "hands")
            latency = {
                n: (None if r is None else round(r - t, 1))
                for n, r in zip(names, tracked.result_ms, strict=True)
            }
            latency["e2e"] = round(now_ms - t, 1)
        face_xy = None
        if face is not None:
            step = max(1, len(face.landmarks) // self.face_points)
            face_xy = np.round(np.ascontiguousarray(face.landmarks[::step, :2], dtype=np.float64), 4)
        msg = {
            "type": "lab",
            "index": rig.index,
            "t_capture_ms": t,
            "parts": parts,
            "face_landmarks": face_xy,
            "hands": {"left": _hand(left), "right": _hand(right)},
            "latency_ms": latency,
            "unity_rig": _unity_rig(rig),
        }
        return orjson.dumps(msg, option=_OPTS)


def stats_message(stats: dict[str, Any]) -> bytes:
    """The periodic ``stats`` message (counters gathered by the session)."""
    return orjson.dumps({"type": "stats", **stats}, option=_OPTS)


_UNITY_Q = np.array([1.0, -1.0, -1.0, 1.0])
_UNITY_P = np.array([-1.0, 1.0, 1.0])


def _unity_rig(rig: RigFrame) -> dict[str, Any]:
    """The driven bones in Unity's names and frame, as VMC sends them (the page's mannequin follows
    these when ``[retarget] bone_map`` renames the stream's own ``rig`` channel)."""
    valid = np.flatnonzero(rig.bone_valid).tolist()
    rot = (rig.bone_rotations * _UNITY_Q).tolist()
    return {
        "bones": {HUMAN_BONE_NAMES[b]: rot[b] for b in valid},
        "hips_position": (rig.hips_position * _UNITY_P).tolist(),
    }
