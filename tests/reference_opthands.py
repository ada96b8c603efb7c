"""Oracles for the hand stages: the implementations as they were before the opthands rewrite.

``ReferenceHandSolver.solve`` is HandSolver.solve as it was (fresh arrays and slices every call);
tests/test_opthands_equivalence.py checks the current code against these bit for bit.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from mocap_bridge.errors import ConfigError
from mocap_bridge.frames import HandObservation
from mocap_bridge.solve.gestures import PATTERNS, Gesture, GestureSettings, _direction_term, _ramp
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


# ------------------------------------------------------------------------------------- gestures
_CHAINS = ((1, 2, 3, 4), (5, 6, 7, 8), (9, 10, 11, 12), (13, 14, 15, 16), (17, 18, 19, 20))
_CHAIN_ROWS = tuple((0, *chain) for chain in _CHAINS)
_Values = tuple[list[float], list[float], float, float, float]
_RULES = tuple((g, tuple((i, w) for i, w in enumerate(pat) if w is not None)) for g, pat in PATTERNS.items())
_RULE_ROWS = tuple((g, tuple(i if w else 5 + i for i, w in rules)) for g, rules in _RULES)
_GESTURES = tuple(Gesture)
_THUMB_UP, _THUMB_DOWN, _POINTING_UP, _CLOSED_FIST = 1, 2, 3, 4
_EXTRA = {Gesture.Thumb_Up: _THUMB_UP, Gesture.Thumb_Down: _THUMB_DOWN,
          Gesture.Pointing_Up: _POINTING_UP, Gesture.Closed_Fist: _CLOSED_FIST}  # fmt: skip
_RULE_PLAN = tuple((int(g), rows, _EXTRA.get(g, 0)) for g, rows in _RULE_ROWS)


def reference_landmark_rows(landmarks: npt.ArrayLike, aspect: float) -> list[list[float]]:
    """(21, 3) landmarks as rows of floats with x and z scaled by ``aspect``; checked."""
    p = np.asarray(landmarks)
    if p.dtype.kind != "f":
        p = p.astype(np.float64)
    if p.shape != (21, 3) or not np.isfinite(p).all():
        raise ConfigError(f"hand landmarks must be 21 finite 3-D points, got shape {p.shape}")
    if not aspect > 0.0:
        raise ConfigError(f"image aspect must be > 0, got {aspect}")
    rows: list[list[float]] = p.tolist()  # float32 values become the same float64 values
    if aspect != 1.0:
        rows = [[x * aspect, y, z * aspect] for x, y, z in rows]
    return rows


def reference_finger_values(p: list[list[float]], s: GestureSettings) -> _Values:
    """gestures._finger_values as it was (the other reference_* functions likewise)."""
    sqrt, acos, degrees = math.sqrt, math.acos, math.degrees
    lo, hi = s.finger_straight_deg, s.finger_folded_deg
    bend: list[float] = []
    for chain in _CHAIN_ROWS:
        ax, ay, az = p[chain[0]]
        px = py = pz = 0.0
        joints = []
        for k in range(1, 5):
            bx, by, bz = p[chain[k]]
            # the unit segment (wrist→MCP, MCP→PIP, PIP→DIP, DIP→tip) …
            dx, dy, dz = bx - ax, by - ay, bz - az
            n = sqrt(dx * dx + dy * dy + dz * dz)
            if not n > 1e-12:
                n = 1e-12
            dx, dy, dz = dx / n, dy / n, dz / n
            if k > 1:  # … and the joint's bend from the previous one
                c = dx * px + dy * py + dz * pz
                joints.append(degrees(acos(-1.0 if c < -1.0 else 1.0 if c > 1.0 else c)))
            px, py, pz = dx, dy, dz
            ax, ay, az = bx, by, bz
        # The thumb's first "joint" (wrist→CMC→MCP) is the palm's shape, not a bend: leave it out.
        bend.append(joints[1] + joints[2] if chain[1] == 1 else joints[0] + joints[1] + joints[2])
    ext = [1.0 - _ramp(b, lo, hi) for b in bend]
    # palm length (wrist → middle MCP), palm width (index MCP → little MCP), thumb tip → index PIP,
    # the thumb (MCP → tip), the index finger (MCP → tip)
    (wx, wy, wz), (tx, ty, tz) = p[0], p[4]
    (ix, iy, iz), (mx, my, mz), (lx, ly, lz) = p[5], p[9], p[17]
    ax, ay, az, bx, by, bz = mx - wx, my - wy, mz - wz, lx - ix, ly - iy, lz - iz
    palm = max(sqrt(ax * ax + ay * ay + az * az), sqrt(bx * bx + by * by + bz * bz), 1e-9)
    gx, gy, gz = p[6]
    ax, ay, az = tx - gx, ty - gy, tz - gz
    ext[0] = _ramp(sqrt(ax * ax + ay * ay + az * az) / palm, s.thumb_on_fist, s.thumb_clear)
    cx, cy, cz = p[2]
    ux, uy, uz = tx - cx, ty - cy, tz - cz
    n = max(sqrt(ux * ux + uy * uy + uz * uz), 1e-12)
    ux, uy, uz = ux / n, uy / n, uz / n
    # how far the tip reaches beyond every other landmark along the thumb
    protrusion = min((tx - x) * ux + (ty - y) * uy + (tz - z) * uz for x, y, z in p[5:]) / palm
    fx, fy, fz = p[8]
    vx, vy, vz = fx - ix, fy - iy, fz - iz
    index_up = -vy / max(sqrt(vx * vx + vy * vy + vz * vz), 1e-12)
    return bend, ext, protrusion, -uy, index_up  # image up is −y


def reference_score_list(
    ext: list[float], protrusion: float, thumb_up: float, index_up: float, s: GestureSettings
) -> list[float]:
    """:func:`gesture_scores` as a list, from the :class:`FingerStates` values."""
    clear = _ramp(protrusion, s.thumb_protrusion_min, s.thumb_protrusion_full)
    member = [*ext, *[1.0 - e for e in ext]]
    out = [0.0] * len(_GESTURES)
    for g, rows, extra in _RULE_PLAN:
        score = min(map(member.__getitem__, rows))
        if extra == _THUMB_UP:
            score = min(score, clear, _direction_term(thumb_up, s.up_cos))
        elif extra == _THUMB_DOWN:
            score = min(score, clear, _direction_term(-thumb_up, s.up_cos))
        elif extra == _POINTING_UP:
            score = min(score, _direction_term(index_up, s.up_cos))
        elif extra == _CLOSED_FIST:
            # a fist whose thumb clears it up or down is Thumb_Up / Thumb_Down instead
            score = min(score, 1.0 - clear * _direction_term(abs(thumb_up), s.up_cos))
        out[g] = score
    out[0] = 1.0 - max(out[1:])  # None_
    return out


def reference_classify(
    hand: HandObservation, settings: GestureSettings | None = None, *, aspect: float = 1.0
) -> tuple[Gesture, float]:
    """The best class and its score for one hand in one frame (``None_`` below ``min_score``)."""
    s = settings or GestureSettings()
    _, ext, protrusion, thumb_up, index_up = reference_finger_values(
        reference_landmark_rows(hand.landmarks, aspect), s
    )
    scores = reference_score_list(ext, protrusion, thumb_up, index_up, s)
    best = max(range(1, len(scores)), key=scores.__getitem__)
    if scores[best] < s.min_score:
        return Gesture.None_, scores[0]
    return _GESTURES[best], scores[best]
