"""Hands: wrist frames and the 30 finger bones from the hand landmarker's world landmarks.

Hand world landmarks (21 points, metres, camera-aligned MediaPipe axes) become internal
``(x, −y, −z)``. The hand's global frame has its primary axis wrist -> middle MCP (rest: ±X, along
the T-pose arm) and its secondary index MCP − pinky MCP (rest: +Z, thumbs forward, palms down); the
body solver makes the forearm carry the twist and the wrist the rest (see body.py).

Fingers: each segment (MCP->PIP, PIP->DIP, DIP->tip; thumb CMC->MCP, MCP->IP, IP->tip for Unity's
Thumb Proximal/Intermediate/Distal) is expressed in the hand frame, and each bone's local rotation
is the shortest arc from the straight rest direction to the segment direction seen from its parent.
Shortest arcs carry no twist about the finger axis, which MediaPipe cannot measure reliably anyway.

Fused form (:meth:`HandSolver.solve`, the per-frame path): with unit segment directions d₀, d₁, d₂ of
a finger, its proximal bone is ``q₀ = arc(rest, d₀)``; each later bone is the arc between its
parent's and its own direction seen from the parent, which is the same as
``qₖ = Gₖ₋₁⁻¹ · arc(dₖ₋₁, dₖ) · Gₖ₋₁`` with the parent's global rotation ``Gₖ₋₁ = arc(dₖ₋₂, dₖ₋₁) ⋯ q₀``:
the arc's vector part rotated back by ``Gₖ₋₁ᵀ`` and its scalar part unchanged. So all 30 arcs come
out of one batched cross/dot over (rest, d₀, d₁) -> (d₀, d₁, d₂), and two batched Rodrigues steps
rotate the axes (``R(arc)ᵀ x = c x − k × x + k (k·x)/(1 + c)`` with k = u × v, c = u·v). An arc
within 0.08° of a half turn (antiparallel segments: its axis is arbitrary) sends the frame through
the level-by-level reference, :meth:`HandSolver.fingers`. The two agree to rounding (~1e-16), except
the thumbs' Intermediate/Distal bones by up to ~3e-6 per quaternion component: the thumb rest direction
(0.7071, 0, 0.7071) is not exactly unit, which the reference's chained arcs carry along and the
fused form (exact for unit rest directions) does not.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ..frames import HumanBone as HB
from .quat import EXT3, arc, basis, basis_1, dot0, qconj, qrot

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

# Fused path. One (17, 21) matrix takes a hand's 21 landmarks to the hand's primary (wrist -> middle
# MCP) and secondary (index MCP - pinky MCP) vectors and its 15 finger segments, level-major
# (rows 2 + 5·level + finger); applied to extended, axis-flipped landmarks it yields extended vectors.
_SEG_MAT = np.zeros((17, 21))
_SEG_MAT[0, 9], _SEG_MAT[0, 0] = 1.0, -1.0
_SEG_MAT[1, 5], _SEG_MAT[1, 17] = 1.0, -1.0
for _lvl in range(3):
    for _fi in range(5):
        _SEG_MAT[2 + 5 * _lvl + _fi, _CHAINS[_fi, _lvl + 1]] = 1.0
        _SEG_MAT[2 + 5 * _lvl + _fi, _CHAINS[_fi, _lvl]] = -1.0
_FLIP_EXT = EXT3 * _FLIP[:, None]  # (3, 5): MediaPipe world -> extended internal
_REST_EXT = _REST_DIR[:, :, 0, :] @ EXT3  # (2, 5, 5) rest directions, extended
_ANTI_COS = -0.999999  # arc() treats cos below this as antiparallel


def _cross(a: F64, b: F64) -> F64:
    """:func:`cross_e` of component-major extended vectors (5, ...) -> (3, ...)."""
    r: F64 = a[1:4] * b[2:5]
    r -= a[2:5] * b[1:4]
    return r


class HandSolver:
    """Stateless per-frame hand solve (scratch buffers only)."""

    def __init__(self) -> None:
        # Scratch buffers, component-major (component, level, lane = 5 hand + finger): every
        # component row is contiguous, so the in-place steps below avoid strided [..., :3] views.
        self._u = np.empty((5, 3, 10))  # arc start directions: rest, d0, d1 (extended)
        self._u[:, 0] = _REST_EXT.transpose(2, 0, 1).reshape(5, 10)
        self._k = np.empty((5, 3, 10))  # arc axes u × v (extended)
        self._x = np.empty((5, 2, 10))  # vectors rotated by the proximal arc: k1, R1ᵀ k2
        self._q = np.empty((4, 3, 10))  # level-major output

    def solve(self, world_mp: F64) -> tuple[F64, F64]:
        """(:meth:`frames`, :meth:`fingers`) of stacked world landmarks (2, 21, 3), fused (module doc)."""
        sv = _SEG_MAT @ (world_mp @ _FLIP_EXT)  # (2, 17, 5)
        (pl, sl), (pr, sr) = sv[:, :2, :3].tolist()
        # two frames: plain floats. G = B B₀ᵀ with B₀ a signed permutation: rows of B are (p, s, n),
        # of G (p, −n, s) left and (−p, n, s) right (what the matmul gives); built extended at once.
        ge = np.array(
            [
                [[p, -n, s, p, -n] for p, s, n in basis_1(pl, sl)],
                [[-p, n, s, -p, n] for p, s, n in basis_1(pr, sr)],
            ]
        )
        g: F64 = ge[..., :3]
        # segment directions in the hand frame, Gᵀ d, extended: (2, 15, 5) -> (5, 3 levels, 10)
        d = (sv[:, 2:, :3] @ ge).reshape(2, 3, 5, 5).transpose(3, 1, 0, 2).reshape(5, 3, 10)
        d /= np.maximum(np.sqrt(dot0(d[:3], d[:3])), 1e-9)
        u, k, x, q = self._u, self._k, self._x, self._q
        u[:, 1:] = d[:, :2]
        c = dot0(u[:3], d[:3])  # (3, 10) cosines
        if np.count_nonzero(c < _ANTI_COS):
            return g, self.fingers(world_mp, g)
        kv = k[:3]
        np.multiply(u[1:4], d[2:5], out=kv)  # cross_e, component-major
        kv -= u[2:5] * d[1:4]
        k[3:] = k[:2]
        opc = c + 1.0
        k1, k2 = k[:, 1], k[:, 2]
        # R1ᵀ k2 (the distal axis seen from the proximal segment), then R0ᵀ of it and of k1
        x[:, 0] = k1
        y = x[:3, 1]
        np.multiply(k2[:3], c[1], out=y)
        y -= _cross(k1, k2)
        y += k1[:3] * (dot0(k1[:3], k2[:3]) / opc[1])
        x[3:, 1] = x[:2, 1]
        k0 = k[:, :1]
        z = q[:3, 1:]
        np.multiply(x[:3], c[0], out=z)
        z -= _cross(k0, x)
        z += k0[:3] * (dot0(k0[:3], x[:3]) / opc[0])
        q[:3, 0] = k[:3, 0]
        q[3] = opc
        q /= np.maximum(np.sqrt(dot0(q, q)), 1e-12)
        out: F64 = q.reshape(4, 3, 2, 5).transpose(2, 3, 1, 0).reshape(30, 4)
        return g, out

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
