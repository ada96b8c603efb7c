"""Oracles for the hand stages: the implementations as they were before the opthands rewrite.

``ReferenceHandSolver.solve`` is HandSolver.solve as it was (fresh arrays and slices every call);
tests/test_opthands_equivalence.py checks the current code against these bit for bit.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from mocap_bridge.solve.hands import _ANTI_COS, _FLIP_EXT, _REST_EXT, _SEG_MAT, HandSolver
from mocap_bridge.solve.quat import basis_1, dot0

F64 = npt.NDArray[np.float64]


def _cross(a: F64, b: F64) -> F64:
    r: F64 = a[1:4] * b[2:5]
    r -= a[2:5] * b[1:4]
    return r


class ReferenceHandSolver(HandSolver):
    """HandSolver with its fused solve as it was (frames() and fingers() are shared)."""

    def __init__(self) -> None:
        super().__init__()
        self._ru = np.empty((5, 3, 10))
        self._ru[:, 0] = _REST_EXT.transpose(2, 0, 1).reshape(5, 10)
        self._rk = np.empty((5, 3, 10))
        self._rx = np.empty((5, 2, 10))
        self._rq = np.empty((4, 3, 10))

    def solve(self, world_mp: F64) -> tuple[F64, F64]:
        sv = _SEG_MAT @ (world_mp @ _FLIP_EXT)  # (2, 17, 5)
        (pl, sl), (pr, sr) = sv[:, :2, :3].tolist()
        ge = np.array(
            [
                [[p, -n, s, p, -n] for p, s, n in basis_1(pl, sl)],
                [[-p, n, s, -p, n] for p, s, n in basis_1(pr, sr)],
            ]
        )
        g: F64 = ge[..., :3]
        d = (sv[:, 2:, :3] @ ge).reshape(2, 3, 5, 5).transpose(3, 1, 0, 2).reshape(5, 3, 10)
        d /= np.maximum(np.sqrt(dot0(d[:3], d[:3])), 1e-9)
        u, k, x, q = self._ru, self._rk, self._rx, self._rq
        u[:, 1:] = d[:, :2]
        c = dot0(u[:3], d[:3])
        if np.count_nonzero(c < _ANTI_COS):
            return g, self.fingers(world_mp, g)
        kv = k[:3]
        np.multiply(u[1:4], d[2:5], out=kv)
        kv -= u[2:5] * d[1:4]
        k[3:] = k[:2]
        opc = c + 1.0
        k1, k2 = k[:, 1], k[:, 2]
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
