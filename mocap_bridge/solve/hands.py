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
from .quat import EXT3, arc, basis, basis_1, qconj, qrot

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


class HandSolver:
    """Stateless per-frame hand solve (scratch buffers only)."""

    def __init__(self) -> None:
        # Scratch buffers, component-major (component, level, lane = 5 hand + finger): every
        # component row is contiguous, so the in-place steps below avoid strided [..., :3] views.
        # Every view solve() works on is made here once (a slice costs about as much as the
        # arithmetic on these 30-lane rows).
        self._wf = np.empty((2, 21, 5))  # landmarks, axis-flipped and extended
        sv = self._sv = np.empty((2, 17, 5))  # primary, secondary, 15 segments (module doc)
        self._sv_ps, self._sv_seg = sv[:, :2, :3], sv[:, 2:, :3]
        m = self._m = np.empty((2, 15, 5))  # segments in the hand frame, hand-major
        d = self._d = np.empty((5, 3, 10))  # … component-major, normalised in place
        self._m_hlf = m.reshape(2, 3, 5, 5)
        self._d_hlf = d.reshape(5, 3, 2, 5).transpose(2, 1, 3, 0)  # (hand, level, finger, component)
        self._n = np.empty((3, 10))  # segment lengths
        self._c = np.empty((3, 10))  # arc cosines
        self._opc = np.empty((3, 10))  # 1 + cosines
        u = self._u = np.empty((5, 3, 10))  # arc start directions: rest, d0, d1 (extended)
        u[:, 0] = _REST_EXT.transpose(2, 0, 1).reshape(5, 10)
        k = self._k = np.empty((5, 3, 10))  # arc axes u × v (extended)
        x = self._x = np.empty((5, 2, 10))  # vectors rotated by the proximal arc: k1, R1ᵀ k2
        q = self._q = np.empty((4, 3, 10))  # level-major output
        self._q_out = q.reshape(4, 3, 2, 5).transpose(2, 3, 1, 0)  # (hand, finger, level, component)
        self._views = (
            (u[:, 1:], d[:, :2], u[:3], d[:3]),
            (k[:3], u[1:4], d[2:5], u[2:5], d[1:4], k[3:], k[:2]),
            (x[:, 0], k[:, 1], x[:3, 1], k[:3, 2], k[:3, 1], k[1:4, 1], k[2:5, 2], k[2:5, 1], k[1:4, 2]),
            (x[3:, 1], x[:2, 1], q[:3, 1:], x[:3], k[:3, :1], k[1:4, :1], x[2:5], k[2:5, :1], x[1:4]),
            (q[:3, 0], k[:3, 0], q[3]),
            (self._c[0], self._c[1], self._opc[0], self._opc[1]),
        )

    def solve(self, world_mp: F64) -> tuple[F64, F64]:
        """(:meth:`frames`, :meth:`fingers`) of stacked world landmarks (2, 21, 3), fused (module doc)."""
        sv, d, n, c, opc, q = self._sv, self._d, self._n, self._c, self._opc, self._q
        np.matmul(_SEG_MAT, np.matmul(world_mp, _FLIP_EXT, out=self._wf), out=sv)  # (2, 17, 5)
        (pl, sl), (pr, sr) = self._sv_ps.tolist()
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
        np.matmul(self._sv_seg, ge, out=self._m)
        np.copyto(self._d_hlf, self._m_hlf)
        (u_d, d_01, u3, d3), kv_views, k_views, x_views, (q_0, k3_0, q_w), (c0, c1, opc0, opc1) = self._views
        np.vecdot(d3, d3, axis=0, out=n)  # type: ignore[call-overload]  # (numpy's stubs lack axis)
        np.sqrt(n, out=n)
        np.maximum(n, 1e-9, out=n)
        d /= n
        u_d[...] = d_01
        np.vecdot(u3, d3, axis=0, out=c)  # type: ignore[call-overload]
        # fmin skips NaN as the comparison does
        if np.fmin.reduce(c, axis=None) < _ANTI_COS:
            return g, self.fingers(world_mp, g)
        kv, u14, d25, u25, d14, k_e, k_01 = kv_views
        np.multiply(u14, d25, out=kv)  # cross_e, component-major
        kv -= u25 * d14
        k_e[...] = k_01
        np.add(c, 1.0, out=opc)
        # R1ᵀ k2 (the distal axis seen from the proximal segment), then R0ᵀ of it and of k1
        x_0, k1, y, k2_3, k1_3, k1_14, k2_25, k1_25, k2_14 = k_views
        x_0[...] = k1
        np.multiply(k2_3, c1, out=y)
        cr = k1_14 * k2_25
        cr -= k1_25 * k2_14
        y -= cr
        y += k1_3 * (np.vecdot(k1_3, k2_3, axis=0) / opc1)  # type: ignore[call-overload]
        x_e, x_01, z, x3, k0_3, k0_14, x25, k0_25, x14 = x_views
        x_e[...] = x_01
        np.multiply(x3, c0, out=z)
        cr = k0_14 * x25
        cr -= k0_25 * x14
        z -= cr
        z += k0_3 * (np.vecdot(k0_3, x3, axis=0) / opc0)  # type: ignore[call-overload]
        q_0[...] = k3_0
        q_w[...] = opc
        np.vecdot(q, q, axis=0, out=n)  # type: ignore[call-overload]
        np.sqrt(n, out=n)
        np.maximum(n, 1e-12, out=n)
        q /= n
        out: F64 = self._q_out.reshape(30, 4)
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
