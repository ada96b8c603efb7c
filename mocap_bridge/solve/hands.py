"""Hands: wrist frames and the 30 finger bones from the hand landmarker's world landmarks.

Hand world landmarks (21 points, metres, camera-aligned MediaPipe axes) become internal
``(x, −y, −z)``. The hand's global frame has its primary axis wrist -> middle MCP (rest: ±X, along
the T-pose arm) and its secondary index MCP − pinky MCP (rest: +Z, thumbs forward, palms down); the
body solver makes the forearm carry the twist and the wrist the rest (see body.py).

Fingers: each segment (MCP->PIP, PIP->DIP, DIP->tip; thumb CMC->MCP, MCP->IP, IP->tip for Unity's
Thumb Proximal/Intermediate/Distal) is expressed in the hand frame, and each bone's local rotation
is the shortest arc from the straight rest direction to the segment direction seen from its parent.
All ten fingers of both hands go through three vectorised levels (proximal, intermediate, distal).
Shortest arcs carry no twist about the finger axis, which MediaPipe cannot measure reliably anyway.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ..frames import HumanBone as HB
from .quat import arc, basis, qconj, qrot

__all__ = ["FINGER_BONES", "HandSolver"]

F64 = npt.NDArray[np.float64]

#: HumanBone values of the 30 finger bones, left then right, thumb..little, proximal..distal.
FINGER_BONES: npt.NDArray[np.intp] = np.arange(int(HB.LeftThumbProximal), int(HB.RightLittleDistal) + 1)

_CHAINS = np.array([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16], [17, 18, 19, 20]])
_FLIP = np.array([1.0, -1.0, -1.0])
_X = np.array([1.0, 0.0, 0.0])
_Z = np.array([0.0, 0.0, 1.0])
# rest basis (transposed) of each hand: left fingers +X, right −X, thumbs forward (+Z)
_REST_BT = np.swapaxes(basis(np.stack((_X, -_X)), np.stack((_Z, _Z))), -1, -2)
_THUMB_REST = np.array([[0.7071, 0.0, 0.7071], [-0.7071, 0.0, 0.7071]])
# (2, 5, 3) rest direction of every finger segment in its hand's frame
_REST_DIR = np.repeat(np.stack((np.tile(_X, (5, 1)), np.tile(-_X, (5, 1))))[:, :, None, :], 3, 2)
_REST_DIR[:, 0, :, :] = _THUMB_REST[:, None, :]


class HandSolver:
    """Stateless per-frame hand solve."""

    def frames(self, world_mp: F64) -> F64:
        """Global hand rotations (2, 3, 3) from stacked world landmarks (2, 21, 3) [left, right]."""
        p = world_mp * _FLIP
        prim = p[:, 9] - p[:, 0]
        sec = p[:, 5] - p[:, 17]
        out: F64 = basis(prim, sec) @ _REST_BT
        return out

    def fingers(self, world_mp: F64, hand_frames: F64) -> F64:
        """Local finger rotations (30, 4) in HumanBone order from (2, 21, 3) world landmarks."""
        p = world_mp * _FLIP
        seg = p[:, _CHAINS[:, 1:]] - p[:, _CHAINS[:, :-1]]  # (2, 5, 3, 3)
        # into each hand's frame: Gᵀ d
        d = np.einsum("hji,hfsj->hfsi", hand_frames, seg)
        d = d / np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-9)
        rest = _REST_DIR
        q0 = arc(rest[:, :, 0], d[:, :, 0])
        c0 = qconj(q0)
        q1 = arc(rest[:, :, 1], qrot(c0, d[:, :, 1]))
        q2 = arc(rest[:, :, 2], qrot(qconj(q1), qrot(c0, d[:, :, 2])))
        out: F64 = np.stack((q0, q1, q2), axis=2).reshape(30, 4)
        return out
