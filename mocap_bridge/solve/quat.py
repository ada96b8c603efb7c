"""Vectorised quaternion and rotation-matrix helpers (numpy, float64, quaternions ``(..., 4)`` xyzw).

Everything here works on whole batches so the per-frame path never loops over bones in Python.
scipy's ``Rotation`` is used only in tests as an oracle: its per-call overhead (~10-20 µs) would
dominate a 55-bone frame.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = [
    "EXT3",
    "FROM_MATRIX_TABLE",
    "IDENTITY",
    "arc",
    "basis",
    "basis_1",
    "basis_e",
    "cross",
    "cross_e",
    "dot0",
    "extend",
    "from_matrix",
    "from_matrix_1",
    "from_rotation_matrix",
    "nlerp",
    "normalize",
    "qconj",
    "qmul",
    "qpow",
    "qpow_1",
    "qrot",
    "slerp",
    "to_matrix",
    "to_matrix_1",
    "unit_e",
]

F64 = npt.NDArray[np.float64]

IDENTITY: F64 = np.array([0.0, 0.0, 0.0, 1.0])


def cross(a: F64, b: F64) -> F64:
    """Cross product over the last axis (several times faster than ``np.cross`` on small batches)."""
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    return np.stack((a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0), axis=-1)


def normalize(v: F64, eps: float = 1e-12) -> F64:
    """Unit vectors along the last axis (zero vectors stay zero)."""
    n = np.sqrt(np.vecdot(v, v))
    out: F64 = v / np.maximum(n, eps)[..., None]
    return out


def qmul(a: F64, b: F64) -> F64:
    """Hamilton product ``a * b`` (apply ``b`` first, then ``a``)."""
    ax, ay, az, aw = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    bx, by, bz, bw = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return np.stack(
        (
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz,
        ),
        axis=-1,
    )


def qconj(q: F64) -> F64:
    """Conjugate (the inverse of a unit quaternion)."""
    out: F64 = q * np.array([-1.0, -1.0, -1.0, 1.0])
    return out


def qrot(q: F64, v: F64) -> F64:
    """Rotate vectors ``v`` (..., 3) by unit quaternions ``q`` (..., 4)."""
    u = q[..., :3]
    w = q[..., 3:4]
    t = 2.0 * cross(u, v)
    out: F64 = v + w * t + cross(u, t)
    return out


def to_matrix(q: F64) -> F64:
    """Rotation matrices (..., 3, 3) of unit quaternions."""
    x, y, z, w = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    xx, yy, zz = x * x, y * y, z * z
    xy, xz, yz, wx, wy, wz = x * y, x * z, y * z, w * x, w * y, w * z
    m = np.stack(
        (
            1 - 2 * (yy + zz), 2 * (xy - wz), 2 * (xz + wy),
            2 * (xy + wz), 1 - 2 * (xx + zz), 2 * (yz - wx),
            2 * (xz - wy), 2 * (yz + wx), 1 - 2 * (xx + yy),
        ),
        axis=-1,
    )  # fmt: skip
    out: F64 = m.reshape((*q.shape[:-1], 3, 3))
    return out


# from_matrix as one small matmul: flattened matrices (n, 9) @ (9, 7) give the sums ±m00 ±m11 ±m22
# of (x, y, z, w) (1 is added after) and the antisymmetric parts m21 − m12, m02 − m20, m10 − m01.
_FM = np.zeros((9, 7))
_FM[[0, 4, 8], :4] = [[1.0, -1.0, -1.0, 1.0], [-1.0, 1.0, -1.0, 1.0], [-1.0, -1.0, 1.0, 1.0]]
_FM[[7, 2, 3], [4, 5, 6]] = 1.0
_FM[[5, 6, 1], [4, 5, 6]] = -1.0
# Per-frame form: (_FM / 4)ᵀ, so 0.5 sqrt(1 + t) = sqrt(0.25 + t / 4) bit for bit (scaling by powers
# of two is exact and commutes with rounding and sqrt): the quarter rides in the matmul and the
# halving disappears. Transposed, the result (7, n) has contiguous rows: the in-place steps on
# (x, y, z, w) then run on one contiguous block instead of a strided (n, 4) view (~2x faster).
FROM_MATRIX_TABLE = np.ascontiguousarray(_FM.T * 0.25)


def from_matrix(m: F64) -> F64:
    """Unit quaternions (w >= 0) of proper rotation matrices (..., 3, 3).

    Magnitudes from the diagonal, signs from the antisymmetric part (copysign method); rotations
    within ~0.1° of a half turn (w tiny, signs unreliable) go through Shepperd's method.
    """
    return normalize(from_rotation_matrix(m.reshape(-1, 3, 3))).reshape((*m.shape[:-2], 4))


def from_rotation_matrix(m: F64) -> F64:
    """:func:`from_matrix` of (n, 3, 3) matrices orthonormal to rounding, without the final
    normalisation (the copysign magnitudes are then unit to ~1e-16 already). The result may be a
    transposed (non-contiguous) view."""
    r = FROM_MATRIX_TABLE @ m.reshape(-1, 9).T  # (7, n): rows x, y, z, w (to be), then the signs
    qt = r[:4]
    qt += 0.25
    np.maximum(qt, 0.0, out=qt)
    np.sqrt(qt, out=qt)
    np.copysign(qt[:3], r[4:], out=qt[:3])
    q: F64 = qt.T
    if qt[3].min() < 1e-3:
        return normalize(np.where((q[:, 3] < 1e-3)[:, None], _shepperd(m.reshape(-1, 3, 3)), q))
    return q


def _shepperd(m: F64) -> F64:
    """Branch-free Shepperd's method (robust everywhere, slower)."""
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    # 4*q_i^2 candidates; pick the largest for numerical stability.
    cand = np.stack((1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22, 1 + m00 + m11 + m22), -1)
    k = np.argmax(cand, axis=-1)[..., None]
    s = np.sqrt(np.maximum(np.take_along_axis(cand, k, -1), 1e-30))  # = 2*|q_k|
    a = m[..., 2, 1] - m[..., 1, 2]  # 4 w x
    b = m[..., 0, 2] - m[..., 2, 0]  # 4 w y
    c = m[..., 1, 0] - m[..., 0, 1]  # 4 w z
    d = m[..., 0, 1] + m[..., 1, 0]  # 4 x y
    e = m[..., 0, 2] + m[..., 2, 0]  # 4 x z
    f = m[..., 1, 2] + m[..., 2, 1]  # 4 y z
    # rows: the 4*q_k*q_j products for each choice of k (x, y, z, w)
    c0 = cand[..., 0]
    c1 = cand[..., 1]
    c2 = cand[..., 2]
    c3 = cand[..., 3]
    prods = np.stack(
        (
            np.stack((c0, d, e, a), -1),
            np.stack((d, c1, f, b), -1),
            np.stack((e, f, c2, c), -1),
            np.stack((a, b, c, c3), -1),
        ),
        -2,
    )
    row = np.take_along_axis(prods, k[..., None], -2)[..., 0, :]
    q = row / s
    sign = np.where(q[..., 3:4] < 0.0, -1.0, 1.0)
    out: F64 = normalize(q * sign)
    return out


def basis(primary: F64, secondary: F64) -> F64:
    """Orthonormal frames (..., 3, 3) with columns (p, s⊥, p × s⊥) from two direction vectors."""
    p = normalize(primary)
    s = normalize(secondary - np.einsum("...i,...i->...", secondary, p)[..., None] * p)
    return np.stack((p, s, cross(p, s)), axis=-1)


def arc(u: F64, v: F64) -> F64:
    """Shortest-arc unit quaternions taking unit vectors ``u`` to unit vectors ``v``."""
    c = np.einsum("...i,...i->...", u, v)
    axis = cross(u, v)
    # Antiparallel: any perpendicular axis, 180°.
    anti = c < -0.999999
    if np.any(anti):
        alt = cross(u, np.array([1.0, 0.0, 0.0]))
        alt2 = cross(u, np.array([0.0, 1.0, 0.0]))
        alt = np.where((np.einsum("...i,...i->...", alt, alt) < 1e-6)[..., None], alt2, alt)
        axis = np.where(anti[..., None], normalize(alt), axis)
        c = np.where(anti, -1.0, c)
    q = np.concatenate((axis, (1.0 + c)[..., None]), axis=-1)
    return normalize(q)


def qpow(q: F64, s: F64 | float) -> F64:
    """``q**s``: the same axis, ``s`` times the angle (shortest form, w >= 0 first).

    ``s`` broadcasts against ``q[..., :1]`` (a scalar, or shape (..., 1)).
    """
    q = np.where(q[..., 3:4] < 0.0, -q, q)
    w = np.clip(q[..., 3], -1.0, 1.0)
    half = np.arccos(w)
    sin_half = np.sin(half)
    axis = q[..., :3] / np.maximum(sin_half, 1e-12)[..., None]
    h2 = half[..., None] * s
    return np.concatenate((axis * np.sin(h2), np.cos(h2)), axis=-1)


def nlerp(a: F64, b: F64, t: F64 | float) -> F64:
    """Normalised linear interpolation on the short arc (``t`` broadcast over the last axis)."""
    sign = np.where(np.einsum("...i,...i->...", a, b) < 0.0, -1.0, 1.0)[..., None]
    tt = np.asarray(t, dtype=np.float64)
    if tt.ndim:
        tt = tt[..., None]
    return normalize(a + tt * (b * sign - a))


def slerp(a: F64, b: F64, t: F64 | float) -> F64:
    """Spherical linear interpolation on the short arc; falls back to nlerp for tiny angles."""
    d = np.einsum("...i,...i->...", a, b)
    sign = np.where(d < 0.0, -1.0, 1.0)
    d = np.abs(d)
    b = b * sign[..., None]
    tt = np.asarray(t, dtype=np.float64)
    theta = np.arccos(np.clip(d, 0.0, 1.0))
    sin_t = np.sin(theta)
    small = sin_t < 1e-6
    safe = np.where(small, 1.0, sin_t)
    w0 = np.where(small, 1.0 - tt, np.sin((1.0 - tt) * theta) / safe)
    w1 = np.where(small, tt, np.sin(tt * theta) / safe)
    return normalize(w0[..., None] * a + w1[..., None] * b)


# ---------------------------------------------------------------------------------------------------
# Extended vectors: a 3-vector stored as (x, y, z, x, y) in the last axis. Then ``e[..., 1:4]`` is
# (y, z, x) and ``e[..., 2:5]`` is (z, x, y), both plain views, and a cross product is two products
# and a difference (the same arithmetic as the component formula, so the same rounding) instead of
# nine small operations and a stack. Linear maps carry the extension along: ``v @ EXT3`` extends
# (..., 3) vectors, and ``A @ (W @ EXT3)`` equals the extension of ``A @ W``.

#: (3, 5) matrix that extends row vectors: ``v @ EXT3`` = (x, y, z, x, y).
EXT3: F64 = np.array([[1.0, 0, 0, 1, 0], [0, 1.0, 0, 0, 1], [0, 0, 1.0, 0, 0]])


def cross_e(a: F64, b: F64, out: F64 | None = None) -> F64:
    """Cross products (..., 3) of extended vectors ``a``, ``b`` (..., 5)."""
    r: F64 = np.multiply(a[..., 1:4], b[..., 2:5], out=out)
    r -= a[..., 2:5] * b[..., 1:4]
    return r


def dot0(a: F64, b: F64) -> F64:
    """Dot products over the first axis: component-major vectors (3, ...), whose component rows are
    contiguous (in-place steps on them beat strided ``[..., :3]`` views). ``vecdot`` over a strided
    axis: for 3-vectors the same rounding as ``vecdot`` over the last axis; longer ones may differ by
    an ulp (BLAS sums contiguous ones in another order)."""
    out: F64 = np.vecdot(a, b, axis=0)  # type: ignore[call-overload]  # (numpy's stubs lack axis)
    return out


def extend(v: F64) -> F64:
    """Fill the last two slots of extended vectors (..., 5) from the first two, in place."""
    v[..., 3:5] = v[..., 0:2]
    return v


def unit_e(v: F64, eps: float) -> F64:
    """Extended vectors (..., 5) divided by their length (floored at ``eps``); a new array."""
    n = np.sqrt(np.vecdot(v[..., :3], v[..., :3]))
    out: F64 = v / np.maximum(n, eps)[..., None]
    return out


def basis_e(p: F64, s: F64, eps: float = 1e-12) -> F64:
    """:func:`basis` of extended vectors (..., 5): frames (..., 3, 3) with columns (p, s⊥, p × s⊥)."""
    p = unit_e(p, eps)
    s = unit_e(s - np.vecdot(s[..., :3], p[..., :3])[..., None] * p, eps)
    b = np.empty((*p.shape[:-1], 3, 3))
    b[..., 0] = p[..., :3]
    b[..., 1] = s[..., :3]
    cross_e(p, s, out=b[..., 2])
    return b


# ---------------------------------------------------------------------------------------------------
# Single-rotation versions in plain Python floats: for one quaternion, a dozen numpy calls on 4-element
# arrays cost ~15-30 µs while the same formulas on floats cost ~2 µs. Same formulas, same order.


def to_matrix_1(q: F64 | list[float]) -> F64:
    """:func:`to_matrix` of one quaternion (4,) -> (3, 3)."""
    x, y, z, w = q.tolist() if isinstance(q, np.ndarray) else q
    xx, yy, zz = x * x, y * y, z * z
    xy, xz, yz, wx, wy, wz = x * y, x * z, y * z, w * x, w * y, w * z
    m: F64 = np.array(
        [
            1 - 2 * (yy + zz), 2 * (xy - wz), 2 * (xz + wy),
            2 * (xy + wz), 1 - 2 * (xx + zz), 2 * (yz - wx),
            2 * (xz - wy), 2 * (yz + wx), 1 - 2 * (xx + yy),
        ]
    ).reshape(3, 3)  # fmt: skip
    return m


def from_matrix_1(m: list[list[float]]) -> F64:
    """:func:`from_matrix` of one rotation matrix given as nested lists (3×3) -> (4,)."""
    (m00, m01, m02), (m10, m11, m12), (m20, m21, m22) = m
    w = 0.5 * math.sqrt(max(1.0 + m00 + m11 + m22, 0.0))
    if w < 1e-3:
        return from_matrix(np.array(m))
    x = math.copysign(0.5 * math.sqrt(max(1.0 + m00 - m11 - m22, 0.0)), m21 - m12)
    y = math.copysign(0.5 * math.sqrt(max(1.0 - m00 + m11 - m22, 0.0)), m02 - m20)
    z = math.copysign(0.5 * math.sqrt(max(1.0 - m00 - m11 + m22, 0.0)), m10 - m01)
    n = max(math.sqrt(x * x + y * y + z * z + w * w), 1e-12)
    return np.array([x / n, y / n, z / n, w / n])


def qpow_1(q: F64 | list[float], s: float) -> list[float]:
    """:func:`qpow` of one quaternion (4,) by a scalar ``s``, as a list (x, y, z, w)."""
    x, y, z, w = q.tolist() if isinstance(q, np.ndarray) else q
    if w < 0.0:
        x, y, z, w = -x, -y, -z, -w
    half = math.acos(min(max(w, -1.0), 1.0))
    d = max(math.sin(half), 1e-12)
    h2 = half * s
    sh = math.sin(h2)
    return [x / d * sh, y / d * sh, z / d * sh, math.cos(h2)]


def basis_1(p: list[float], s: list[float], eps: float = 1e-12) -> list[list[float]]:
    """:func:`basis` of one pair of 3-vectors, as nested lists (rows of the 3×3 frame)."""
    px, py, pz = p[0], p[1], p[2]
    n = max(math.sqrt(px * px + py * py + pz * pz), eps)
    px, py, pz = px / n, py / n, pz / n
    d = s[0] * px + s[1] * py + s[2] * pz
    sx, sy, sz = s[0] - d * px, s[1] - d * py, s[2] - d * pz
    n = max(math.sqrt(sx * sx + sy * sy + sz * sz), eps)
    sx, sy, sz = sx / n, sy / n, sz / n
    return [
        [px, sx, py * sz - pz * sy],
        [py, sy, pz * sx - px * sz],
        [pz, sz, px * sy - py * sx],
    ]
