"""Numba kernels of :meth:`RigSolver.solve <mocap_bridge.solve.rig.RigSolver.solve>`'s per-frame path.

Theory of operation
-------------------
The numpy implementation (rig.py, body.py, hands.py, face.py, head.py, filters/) is the reference.
These kernels are the same algorithms written as scalar loops over preallocated arrays, compiled by
``numba.njit(cache=True, fastmath=False, error_model="numpy")``: IEEE arithmetic in the reference's
operation order (no reassociation, no FMA contraction), so the results agree with the numpy path to
rounding (quaternions up to sign; ``tests/test_solve_numba.py`` holds them to 1e-6, in practice
~1e-12). One call of :func:`solve_frame` per frame does everything after the Python glue has copied
the frame's arrays into the packed input vector:

1. landmark One-Euro over the packed vector (:func:`_lm_filter`, per-element ``Te``, presence,
   object-size scaling, float32 output that becomes ``RigFrame.tracked``);
2. face (:func:`_face_blendshapes`, eyes), head (:func:`_head`), hands (:func:`_hands`, the fused
   finger solve with the level-by-level fallback for antiparallel segments), body (:func:`_body`),
   eye and jaw bones;
3. rotation One-Euro (:func:`_rot_filter`) and the head-position One-Euro;
4. both gates (:func:`_gate`), part states and the RigFrame's arrays.

The per-element filter and gate loops are the *plain* algorithms (the reference's scalar-``Te`` and
all-live shortcuts are proven equal to them in tests/test_solve_equivalence.py), so there is one
code path for every frame.

State lives in arrays owned by the RigSolver (:class:`JitState`); kernels never allocate on the
per-frame path except a few small scratch arrays.

Caching: numba keys its on-disk cache (``__pycache__`` next to this file) on this file's source.
The index tables come from body.py and hands.py and are frozen into the compiled code: after
editing those tables, delete the cache (``mocap_bridge/solve/__pycache__/kernels.*.nbi|nbc``) or
touch this file; tests/test_solve_numba.py would catch the mismatch.

Debugging knob: ``MOCAP_BRIDGE_NO_JIT=1`` in the environment makes every RigSolver built without an
explicit ``jit=`` use the numpy path (and not import numba at all); ``RigSolver(settings, jit=False)``
does the same for one solver. Without numba installed the numpy path is used automatically.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
import numpy as np
import numpy.typing as npt

from ..frames import ARKit
from ..frames import HumanBone as HB
from . import body as _b
from . import hands as _h
from .face import _TAKE, SWAP_LR

__all__ = ["N_OUT64", "O_BONE_POS", "O_BONE_ROT", "O_EYES", "O_HEAD_POS", "O_HEAD_ROT", "O_HIPS",
           "O_YPR", "solve_frame"]  # fmt: skip

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
B = npt.NDArray[np.bool_]
I64 = npt.NDArray[np.int64]
_F = TypeVar("_F", bound=Callable[..., Any])


def _kernel(f: _F) -> _F:
    """``numba.njit`` with the project's options, typed for mypy (numba ships no stubs)."""
    return cast(_F, numba.njit(cache=True, fastmath=False, error_model="numpy")(f))


# ------------------------------------------------------------------------------------------ layout
# cfg (float64) indices
C_SMOOTH, C_RAW_DERIV, C_FACE, C_HEAD, C_HEAD_T, C_BODY, C_HANDS, C_UPPER, C_POS_SMOOTH = range(9)
C_VIS_THR, C_PRES_THR, C_JAW, C_SWAP, C_LINK_BLINKS, C_LINK_GAZE, C_EYE_GAZE = range(9, 16)
C_YAW, C_PITCH, C_LINEAR, C_HOLD, C_RELEASE, C_REACQ = range(16, 22)
N_CFG = 22
# offs (int64): row starts of pose, face, left, right hand and the end of the normalised-landmark
# block (rows of 3), then element offsets of the pose world, hand world and blendshape blocks.
# out64 layout (float64, one fresh array per frame; the RigFrame's arrays are views of it)
O_HEAD_ROT, O_HEAD_POS, O_YPR, O_EYES, O_BONE_ROT = 0, 4, 7, 10, 14
O_BONE_POS = O_BONE_ROT + 4 * len(HB)
O_HIPS = O_BONE_POS + 3 * len(HB)
N_OUT64 = O_HIPS + 3

_NB = len(HB)
_NR = 1 + _NB  # rotation channels: head + bones
_TWO_PI = 2.0 * math.pi
_NAN = math.nan

# ------------------------------------------------------------------------------------------ tables
_TAKE_T = _TAKE.astype(np.int64)
_SWAP_T = SWAP_LR.astype(np.int64)
_BL, _BR = int(ARKit.eyeBlinkLeft), int(ARKit.eyeBlinkRight)
_L_IN, _L_OUT, _R_IN, _R_OUT = (int(ARKit.eyeLookInLeft), int(ARKit.eyeLookOutLeft),
                                int(ARKit.eyeLookInRight), int(ARKit.eyeLookOutRight))  # fmt: skip
_L_UP, _L_DN, _R_UP, _R_DN = (int(ARKit.eyeLookUpLeft), int(ARKit.eyeLookDownLeft),
                              int(ARKit.eyeLookUpRight), int(ARKit.eyeLookDownRight))  # fmt: skip
_TONGUE, _JAW_OPEN = int(ARKit.tongueOut), int(ARKit.jawOpen)

# hands
_CHAINS = _h._CHAINS.astype(np.int64)
_H_REST_BT = np.ascontiguousarray(_h._REST_BT)  # (2, 3, 3)
_H_REST_DIR = np.ascontiguousarray(_h._REST_DIR[:, :, 0, :])  # (2, 5, 3) (thumb 0.7071: not unit)
_ANTI = _h._ANTI_COS
_FINGER0 = int(_h.FINGER_BONES[0])

# body
_PA, _PB = _b._PA.astype(np.int64), _b._PB.astype(np.int64)
_SA, _SB = _b._SA.astype(np.int64), _b._SB.astype(np.int64)
_MID_A, _MID_B = _b._MID_A.astype(np.int64), _b._MID_B.astype(np.int64)
_LIMBS = _b._LIMBS.astype(np.int64)
_LIMB_SIGN = np.ascontiguousarray(_b._LIMB_SIGN[:, 0])
_B_REST_BT = np.ascontiguousarray(_b._REST_BT)  # (15, 3, 3)
_REL_P, _REL_C = _b._REL_P.astype(np.int64), _b._REL_C.astype(np.int64)
_SPINE3, _NECK2 = _b._SPINE3.astype(np.int64), _b._NECK2.astype(np.int64)
_PAIR_BONES = _b._PAIR_BONES.astype(np.int64)
_DEP_BONES = _b._DEP_BONES.astype(np.int64)
_DEP_IDX = _b._DEP_IDX.astype(np.int64)
_LEG_BONES = _b._LEG_BONES.astype(np.int64)
_FOOT_PTS = _b._FOOT_PTS.astype(np.int64)
_HIP_MID = _b.HIP_MID
_TWIST = _b._TWIST_FALLBACK
_REST_HIPS_Y = float(_b.REST_OFFSETS[HB.Hips, 1])
_HIPS = int(HB.Hips)
_HAND_BONE = (int(HB.LeftHand), int(HB.RightHand))
_HAND_DEP_EL = (_b.L_EL, _b.R_EL)
_HAND_DEP_WR = (_b.L_WR, _b.R_WR)
_IDX = (_b.L_INDEX, _b.R_INDEX)
_PINKY = (_b.L_PINKY, _b.R_PINKY)
_L_SH, _R_SH = _b.L_SH, _b.R_SH
_NOT_HAND = np.ones(_NB, dtype=np.bool_)
_NOT_HAND[[int(HB.LeftHand), int(HB.RightHand)]] = False
_NOT_HAND[_FINGER0 : _FINGER0 + 30] = False
_EYE_ROW = 1 + int(HB.LeftEye)  # rows of LeftEye, RightEye, Jaw in the (1 + 55) rotation arrays
assert HB.RightEye == HB.LeftEye + 1 and HB.Jaw == HB.LeftEye + 2


# ------------------------------------------------------------------------------------------ helpers
@_kernel
def _basis1(p0: float, p1: float, p2: float, s0: float, s1: float, s2: float, out: F64) -> None:
    """quat.basis_1 into ``out`` (3, 3): columns p, s⊥, p × s⊥."""
    n = max(math.sqrt(p0 * p0 + p1 * p1 + p2 * p2), 1e-12)
    px, py, pz = p0 / n, p1 / n, p2 / n
    d = s0 * px + s1 * py + s2 * pz
    sx, sy, sz = s0 - d * px, s1 - d * py, s2 - d * pz
    n = max(math.sqrt(sx * sx + sy * sy + sz * sz), 1e-12)
    sx, sy, sz = sx / n, sy / n, sz / n
    out[0, 0], out[0, 1], out[0, 2] = px, sx, py * sz - pz * sy
    out[1, 0], out[1, 1], out[1, 2] = py, sy, pz * sx - px * sz
    out[2, 0], out[2, 1], out[2, 2] = pz, sz, px * sy - py * sx


@_kernel
def _matmul3(a: F64, b: F64, out: F64) -> None:
    for i in range(3):
        for j in range(3):
            out[i, j] = a[i, 0] * b[0, j] + a[i, 1] * b[1, j] + a[i, 2] * b[2, j]


@_kernel
def _matmul3_tn(a: F64, b: F64, out: F64) -> None:
    """aᵀ b."""
    for i in range(3):
        for j in range(3):
            out[i, j] = a[0, i] * b[0, j] + a[1, i] * b[1, j] + a[2, i] * b[2, j]


@_kernel
def _to_matrix(x: float, y: float, z: float, w: float, m: F64) -> None:
    xx, yy, zz = x * x, y * y, z * z
    xy, xz, yz, wx, wy, wz = x * y, x * z, y * z, w * x, w * y, w * z
    m[0, 0], m[0, 1], m[0, 2] = 1 - 2 * (yy + zz), 2 * (xy - wz), 2 * (xz + wy)
    m[1, 0], m[1, 1], m[1, 2] = 2 * (xy + wz), 1 - 2 * (xx + zz), 2 * (yz - wx)
    m[2, 0], m[2, 1], m[2, 2] = 2 * (xz - wy), 2 * (yz + wx), 1 - 2 * (xx + yy)


@_kernel
def _shepperd(m: F64, q: F64) -> None:
    """quat._shepperd of one matrix into q (4,), w >= 0, normalised."""
    m00, m11, m22 = m[0, 0], m[1, 1], m[2, 2]
    c0 = 1 + m00 - m11 - m22
    c1 = 1 - m00 + m11 - m22
    c2 = 1 - m00 - m11 + m22
    c3 = 1 + m00 + m11 + m22
    k = 0
    best = c0
    if c1 > best:
        k, best = 1, c1
    if c2 > best:
        k, best = 2, c2
    if c3 > best:
        k, best = 3, c3
    s = math.sqrt(max(best, 1e-30))
    a = m[2, 1] - m[1, 2]
    b = m[0, 2] - m[2, 0]
    c = m[1, 0] - m[0, 1]
    d = m[0, 1] + m[1, 0]
    e = m[0, 2] + m[2, 0]
    f = m[1, 2] + m[2, 1]
    if k == 0:
        r0, r1, r2, r3 = c0, d, e, a
    elif k == 1:
        r0, r1, r2, r3 = d, c1, f, b
    elif k == 2:
        r0, r1, r2, r3 = e, f, c2, c
    else:
        r0, r1, r2, r3 = a, b, c, c3
    r0, r1, r2, r3 = r0 / s, r1 / s, r2 / s, r3 / s
    if r3 < 0.0:
        r0, r1, r2, r3 = -r0, -r1, -r2, -r3
    n = max(math.sqrt(r0 * r0 + r1 * r1 + r2 * r2 + r3 * r3), 1e-12)
    q[0], q[1], q[2], q[3] = r0 / n, r1 / n, r2 / n, r3 / n


@_kernel
def _copysign_q(m: F64, q: F64) -> None:
    """The copysign quaternion of a rotation matrix (quat.from_matrix before any fallback)."""
    m00, m11, m22 = m[0, 0], m[1, 1], m[2, 2]
    q[0] = math.copysign(0.5 * math.sqrt(max(m00 - m11 - m22 + 1.0, 0.0)), m[2, 1] - m[1, 2])
    q[1] = math.copysign(0.5 * math.sqrt(max(-m00 + m11 - m22 + 1.0, 0.0)), m[0, 2] - m[2, 0])
    q[2] = math.copysign(0.5 * math.sqrt(max(-m00 - m11 + m22 + 1.0, 0.0)), m[1, 0] - m[0, 1])
    q[3] = 0.5 * math.sqrt(max(m00 + m11 + m22 + 1.0, 0.0))


@_kernel
def _normalize4(q: F64) -> None:
    n = max(math.sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]), 1e-12)
    q[0], q[1], q[2], q[3] = q[0] / n, q[1] / n, q[2] / n, q[3] / n


@_kernel
def _qpow1(q: F64, s: float, out: F64) -> None:
    x, y, z, w = q[0], q[1], q[2], q[3]
    if w < 0.0:
        x, y, z, w = -x, -y, -z, -w
    half = math.acos(min(max(w, -1.0), 1.0))
    d = max(math.sin(half), 1e-12)
    h2 = half * s
    sh = math.sin(h2)
    out[0], out[1], out[2], out[3] = x / d * sh, y / d * sh, z / d * sh, math.cos(h2)


@_kernel
def _arc(u0: float, u1: float, u2: float, v0: float, v1: float, v2: float, q: F64) -> None:
    """quat.arc of one pair into q (4,)."""
    c = u0 * v0 + u1 * v1 + u2 * v2
    a0, a1, a2 = u1 * v2 - u2 * v1, u2 * v0 - u0 * v2, u0 * v1 - u1 * v0
    if c < -0.999999:
        b0, b1, b2 = 0.0, u2, -u1  # u × X
        if b0 * b0 + b1 * b1 + b2 * b2 < 1e-6:
            b0, b1, b2 = -u2, 0.0, u0  # u × Y
        n = max(math.sqrt(b0 * b0 + b1 * b1 + b2 * b2), 1e-12)
        a0, a1, a2 = b0 / n, b1 / n, b2 / n
        c = -1.0
    q[0], q[1], q[2], q[3] = a0, a1, a2, 1.0 + c
    _normalize4(q)


@_kernel
def _qrot(x: float, y: float, z: float, w: float, v: F64) -> None:
    """Rotate v (3,) in place by the unit quaternion (x, y, z, w) (quat.qrot)."""
    t0 = 2.0 * (y * v[2] - z * v[1])
    t1 = 2.0 * (z * v[0] - x * v[2])
    t2 = 2.0 * (x * v[1] - y * v[0])
    r0 = v[0] + w * t0 + (y * t2 - z * t1)
    r1 = v[1] + w * t1 + (z * t0 - x * t2)
    r2 = v[2] + w * t2 + (x * t1 - y * t0)
    v[0], v[1], v[2] = r0, r1, r2


# ------------------------------------------------------------------------------------------ filters
@_kernel
def _lm_update(
    x: F64, prev: F64, xh: F64, dxs: F64, out32: F32, k: float, a_d: float, te: float, beta: float,
    mc: float, enabled: bool,
) -> None:  # fmt: skip
    """The One-Euro step of one block (one ``Te``), written as branch-free loops (they vectorise).

    ``prev`` is the previous raw value (raw derivative) or ``xh`` itself (filtered derivative).
    """
    if prev is xh:
        for i in range(x.shape[0]):
            xi = x[i]
            xp = xh[i]
            dxp = dxs[i]
            edx = ((xi - xp) * k - dxp) * a_d + dxp
            a = te / (1.0 / ((abs(edx) * beta + mc) * _TWO_PI) + te)
            res = (xi - xp) * a + xp
            xh[i] = res
            dxs[i] = edx
            out32[i] = np.float32(res if enabled else xi)
    else:
        for i in range(x.shape[0]):
            xi = x[i]
            xp = xh[i]
            dxp = dxs[i]
            edx = ((xi - prev[i]) * k - dxp) * a_d + dxp
            a = te / (1.0 / ((abs(edx) * beta + mc) * _TWO_PI) + te)
            res = (xi - xp) * a + xp
            xh[i] = res
            dxs[i] = edx
            out32[i] = np.float32(res if enabled else xi)


@_kernel
def _lm_filter(
    t: float, x: F64, p_pose: int, p_face: int, p_left: int, p_right: int,
    blocks: I64, bpar: F64, bt: F64, st: F64, offs: I64, raw_derivative: bool, out32: F32, y: F64,
) -> None:  # fmt: skip
    """OneEuroFilter (the plain algorithm) over the packed vector; see rig.py's layout.

    The vector is a few *blocks* (pose landmarks, face landmarks, ... blendshapes), each with one
    parameter set and one part whose presence resets or updates all its elements together, so every
    element of a block always shares its last time ``bt[block]`` (NaN: no history) and ``Te``.
    ``blocks`` rows: start, stop, part (0 pose, 1 face, 2/3 hands), object-size scaled (0/1).
    ``bpar`` rows: min_cutoff, beta, tau_d, smoothing enabled. ``st`` rows: filtered value,
    previous raw value, filtered derivative. ``out32`` gets the output (the raw value where smoothing
    is disabled), ``y`` its float64 copy from the pose world block on (what the solver reads).
    """
    inv = np.zeros(4)
    for p in range(4):
        r0, r1 = offs[p], offs[p + 1]
        xmin = xmax = x[3 * r0]
        ymin = ymax = x[3 * r0 + 1]
        for r in range(r0 + 1, r1):
            vx, vy = x[3 * r], x[3 * r + 1]
            xmin = min(xmin, vx)
            xmax = max(xmax, vx)
            ymin = min(ymin, vy)
            ymax = max(ymax, vy)
        w = np.float64(np.float32(xmax - xmin))
        h = np.float64(np.float32(ymax - ymin))
        size = 0.5 * (w + h)
        inv[p] = 1.0 / size if size > 1e-6 else 0.0
    pres = (p_pose, p_face, p_left, p_right)
    xh, raw, dxs = st[0], st[1], st[2]
    for b in range(blocks.shape[0]):
        i0, i1, part = blocks[b, 0], blocks[b, 1], blocks[b, 2]
        enabled = bpar[b, 3] != 0.0
        tp = bt[b]
        te = t - tp
        if pres[part] == 0:
            bt[b] = _NAN  # absent: reset, pass through
        elif te > 0.0:
            vs = inv[part] if blocks[b, 3] else 1.0
            k = vs / te
            a_d = te / (te + bpar[b, 2])
            xhb = xh[i0:i1]
            prev = raw[i0:i1] if raw_derivative else xhb
            _lm_update(
                x[i0:i1], prev, xhb, dxs[i0:i1], out32[i0:i1], k, a_d, te, bpar[b, 1], bpar[b, 0], enabled
            )
            if raw_derivative:
                raw[i0:i1] = x[i0:i1]
            bt[b] = t
            continue
        elif tp != tp:  # first sample: passes through, sets the state
            for i in range(i0, i1):
                xh[i] = raw[i] = x[i]
                dxs[i] = 0.0
            bt[b] = t
        # else: a stale timestamp passes the samples through, state untouched
        for i in range(i0, i1):
            out32[i] = np.float32(x[i])
    for i in range(offs[5], y.shape[0]):  # the solver's inputs (world landmarks, blendshapes)
        y[i] = np.float64(out32[i])


@_kernel
def _pos_filter(t: float, v: F64, st: F64) -> None:
    """The head-position OneEuroFilter (3 elements, no presence mask) in place on ``v``.

    ``st`` rows: min_cutoff, beta, tau_d, filtered value, filtered derivative, last time.
    """
    for i in range(3):
        xi = v[i]
        tp = st[5, i]
        te = t - tp
        if te > 0.0:
            xp = st[3, i]
            a_d = te / (te + st[2, i])
            dx = (xi - xp) * (1.0 / te)
            dxp = st[4, i]
            edx = dxp + a_d * (dx - dxp)
            cutoff = st[0, i] + st[1, i] * abs(edx)
            a = te / (te + 1.0 / (_TWO_PI * cutoff))
            v[i] = xp + a * (xi - xp)
            st[3, i] = v[i]
            st[4, i] = edx
            st[5, i] = t
        elif tp != tp:
            st[3, i] = xi
            st[4, i] = 0.0
            st[5, i] = t


@_kernel
def _rot_filter(t: float, q: F64, pres: B, par: F64, sq: F64, st: F64) -> None:
    """RotationOneEuro (plain algorithm) in place on ``q`` (n, 4), only where ``par[3]`` is set.

    ``par`` rows: min_cutoff, beta, tau_d, enabled; ``sq`` (n, 4) filtered rotations; ``st`` rows:
    angular speed, last time (NaN: none).
    """
    for i in range(q.shape[0]):
        if not pres[i]:
            st[1, i] = _NAN
            continue
        tp = st[1, i]
        te = t - tp
        q0, q1, q2, q3 = q[i, 0], q[i, 1], q[i, 2], q[i, 3]
        if te > 0.0:
            p0, p1, p2, p3 = sq[i, 0], sq[i, 1], sq[i, 2], sq[i, 3]
            d = p0 * q0 + p1 * q1 + p2 * q2 + p3 * q3
            sign = -1.0 if d < 0.0 else 1.0
            half = math.acos(min(abs(d), 1.0))
            speed = 2.0 * half / te
            a_d = te / (te + par[2, i])
            sp = st[0, i]
            edx = (speed - sp) * a_d + sp
            cutoff = (par[1, i] * edx + par[0, i]) * _TWO_PI
            a = te / (1.0 / cutoff + te)
            sin_h = math.sin(half)
            if sin_h < 1e-6:
                w0, w1 = 1.0 - a, a
            else:
                w0 = math.sin((1.0 - a) * half) / sin_h
                w1 = math.sin(a * half) / sin_h
            w1 *= sign
            r0, r1, r2, r3 = w0 * p0 + w1 * q0, w0 * p1 + w1 * q1, w0 * p2 + w1 * q2, w0 * p3 + w1 * q3
            n = math.sqrt(r0 * r0 + r1 * r1 + r2 * r2 + r3 * r3)
            r0, r1, r2, r3 = r0 / n, r1 / n, r2 / n, r3 / n
            sq[i, 0], sq[i, 1], sq[i, 2], sq[i, 3] = r0, r1, r2, r3
            st[0, i] = edx
            st[1, i] = t
            if par[3, i] != 0.0:
                q[i, 0], q[i, 1], q[i, 2], q[i, 3] = r0, r1, r2, r3
        elif tp != tp:
            sq[i, 0], sq[i, 1], sq[i, 2], sq[i, 3] = q0, q1, q2, q3
            st[0, i] = 0.0
            st[1, i] = t


@_kernel
def _gate(
    live: F64, valid: B, t: float, g: F64, gq: F64, gb: B, hold: float, release: float, reacq: float,
    quaternion: bool, active: B,
) -> None:  # fmt: skip
    """Gate (plain algorithm) in place on ``live`` (n, k) -> the gated output.

    ``g`` rows: t_event, age; ``gq`` (3, n, k): rest, from, out; ``gb`` rows: valid, seen.
    """
    n, k = live.shape
    hold_release = hold + release
    for i in range(n):
        v = valid[i]
        if v != gb[0, i]:
            for j in range(k):
                gq[1, i, j] = gq[2, i, j]
            g[0, i] = t
            gb[0, i] = v
            gb[1, i] = gb[1, i] or v
        age = t - g[0, i]
        g[1, i] = age
        c = age / reacq if v else (age - hold) / release
        c = min(max(c, 0.0), 1.0)
        w = (c * c) * (3.0 - 2.0 * c)
        active[i] = v or (gb[1, i] and age < hold_release)
        if not v:
            for j in range(k):
                live[i, j] = gq[0, i, j]  # target: rest
        if quaternion:
            f0, f1, f2, f3 = gq[1, i, 0], gq[1, i, 1], gq[1, i, 2], gq[1, i, 3]
            t0, t1, t2, t3 = live[i, 0], live[i, 1], live[i, 2], live[i, 3]
            d = f0 * t0 + f1 * t1 + f2 * t2 + f3 * t3
            sign = -1.0 if d < 0.0 else 1.0
            if w == 1.0:
                r0, r1, r2, r3 = t0 * sign, t1 * sign, t2 * sign, t3 * sign
            elif w == 0.0:
                r0, r1, r2, r3 = f0, f1, f2, f3
            else:
                half = math.acos(min(abs(d), 1.0))
                sin_h = math.sin(half)
                if sin_h < 1e-6:
                    w0, w1 = 1.0 - w, w
                else:
                    w0 = math.sin((1.0 - w) * half) / sin_h
                    w1 = math.sin(w * half) / sin_h
                w1 *= sign
                r0, r1, r2, r3 = w0 * f0 + w1 * t0, w0 * f1 + w1 * t1, w0 * f2 + w1 * t2, w0 * f3 + w1 * t3
            nn = math.sqrt(r0 * r0 + r1 * r1 + r2 * r2 + r3 * r3)
            live[i, 0], live[i, 1], live[i, 2], live[i, 3] = r0 / nn, r1 / nn, r2 / nn, r3 / nn
        else:
            for j in range(k):
                fr = gq[1, i, j]
                live[i, j] = fr + w * (live[i, j] - fr)
        for j in range(k):
            gq[2, i, j] = live[i, j]


@_kernel
def _part_state(valid: B, active: B) -> int:
    """filters.gating.part_state: 2 OK, 1 PARTIAL, 0 LOST."""
    n_valid = 0
    n_active = 0
    for i in range(valid.shape[0]):
        n_valid += valid[i]
        n_active += active[i]
    if n_valid == valid.shape[0]:
        return 2
    return 1 if n_active else 0


# ------------------------------------------------------------------------------------------ face, head
@_kernel
def _face_blendshapes(mp: F64, par: F64, cfg: F64, v: F64) -> None:
    """FaceSolver.blendshapes: MediaPipe-ordered (52,) -> calibrated ARKit into ``v`` (52,).

    ``par`` rows: neutral, 1 / span, gain, offset, curve, clamp min, clamp max.
    """
    tmp = np.empty(52)
    for j in range(52):
        a = (mp[_TAKE_T[j]] - par[0, j]) * par[1, j]
        tmp[j] = max(a, 0.0)
    swap = cfg[C_SWAP] != 0.0
    linear = cfg[C_LINEAR] != 0.0
    for j in range(52):
        a = tmp[_SWAP_T[j]] if swap else tmp[j]
        a = a * par[2, j] + par[3, j]
        a = min(max(a, 0.0), 1.0)
        if not linear:
            a = a ** par[4, j]
        v[j] = min(max(a, par[5, j]), par[6, j])
    v[_TONGUE] = 0.0
    mode = cfg[C_LINK_BLINKS]
    if mode == 1.0:
        m = 0.5 * (v[_BL] + v[_BR])
        v[_BL] = v[_BR] = m
    elif mode == 2.0:
        m = v[_BR] if v[_BR] > v[_BL] else v[_BL]
        v[_BL] = v[_BR] = m


@_kernel
def _eyes(a: F64, cfg: F64, out: F64) -> None:
    """FaceSolver.eyes into out (4,): left yaw, left pitch, right yaw, right pitch."""
    if cfg[C_EYE_GAZE] == 0.0:
        out[:] = 0.0
        return
    yaw, pitch = cfg[C_YAW], cfg[C_PITCH]
    ly = (a[_L_IN] - a[_L_OUT]) * yaw
    ry = (a[_R_OUT] - a[_R_IN]) * yaw
    lp = (a[_L_DN] - a[_L_UP]) * pitch
    rp = (a[_R_DN] - a[_R_UP]) * pitch
    if cfg[C_LINK_GAZE] != 0.0:
        ly = ry = 0.5 * (ly + ry)
        lp = rp = 0.5 * (lp + rp)
    out[0], out[1], out[2], out[3] = ly, lp, ry, rp


@_kernel
def _head(m: F64, nr: F64, q: F64, pos: F64) -> None:
    """head.head_from_matrix: quaternion q (4,) and position pos (3,); ``nr`` rows 0-2 R₀, row 3 t₀."""
    s0 = math.sqrt(m[0, 0] * m[0, 0] + m[1, 0] * m[1, 0] + m[2, 0] * m[2, 0])
    s1 = math.sqrt(m[0, 1] * m[0, 1] + m[1, 1] * m[1, 1] + m[2, 1] * m[2, 1])
    s2 = math.sqrt(m[0, 2] * m[0, 2] + m[1, 2] * m[1, 2] + m[2, 2] * m[2, 2])
    r = np.empty((3, 3))
    for i in range(3):
        r[i, 0], r[i, 1], r[i, 2] = m[i, 0] / s0, m[i, 1] / s1, m[i, 2] / s2
    dx = m[0, 3] * 0.01 - nr[3, 0]
    dy = m[1, 3] * 0.01 - nr[3, 1]
    dz = m[2, 3] * 0.01 - nr[3, 2]
    rel = np.empty((3, 3))
    for i in range(3):
        for j in range(3):
            rel[i, j] = nr[0, i] * r[0, j] + nr[1, i] * r[1, j] + nr[2, i] * r[2, j]
        pos[i] = nr[0, i] * dx + nr[1, i] * dy + nr[2, i] * dz
    w = 0.5 * math.sqrt(max(1.0 + rel[0, 0] + rel[1, 1] + rel[2, 2], 0.0))
    if w < 1e-3:  # quat.from_matrix of the one matrix
        _copysign_q(rel, q)
        if q[3] < 1e-3:
            _shepperd(rel, q)
        _normalize4(q)
        return
    x = math.copysign(
        0.5 * math.sqrt(max(1.0 + rel[0, 0] - rel[1, 1] - rel[2, 2], 0.0)), rel[2, 1] - rel[1, 2]
    )
    y = math.copysign(
        0.5 * math.sqrt(max(1.0 - rel[0, 0] + rel[1, 1] - rel[2, 2], 0.0)), rel[0, 2] - rel[2, 0]
    )
    z = math.copysign(
        0.5 * math.sqrt(max(1.0 - rel[0, 0] - rel[1, 1] + rel[2, 2], 0.0)), rel[1, 0] - rel[0, 1]
    )
    n = max(math.sqrt(x * x + y * y + z * z + w * w), 1e-12)
    q[0], q[1], q[2], q[3] = x / n, y / n, z / n, w / n


@_kernel
def _ypr(q: F64, out: F64) -> None:
    x, y, z, w = q[0], q[1], q[2], q[3]
    r02 = 2.0 * (x * z + w * y)
    r22 = 1.0 - 2.0 * (x * x + y * y)
    r12 = 2.0 * (y * z - w * x)
    r10 = 2.0 * (x * y + w * z)
    r11 = 1.0 - 2.0 * (x * x + z * z)
    out[0] = math.atan2(r02, r22)
    out[1] = math.asin(min(max(-r12, -1.0), 1.0))
    out[2] = math.atan2(r10, r11)


# ------------------------------------------------------------------------------------------ hands
@_kernel
def _hands(w: F64, g: F64, q: F64) -> None:
    """HandSolver.solve: hand frames g (2, 3, 3) and finger rotations q (30, 4) from MediaPipe world
    landmarks w (2, 21, 3) (zeros for an absent hand), fused form with the reference fallback."""
    p = np.empty((21, 3))
    b = np.empty((3, 3))
    d = np.empty((2, 3, 5, 3))  # unit segment directions in the hand frame, level-major
    c = np.empty((2, 3, 5))
    anti = False
    for h in range(2):
        for i in range(21):
            p[i, 0], p[i, 1], p[i, 2] = w[h, i, 0], -w[h, i, 1], -w[h, i, 2]
        _basis1(p[9, 0] - p[0, 0], p[9, 1] - p[0, 1], p[9, 2] - p[0, 2],
                p[5, 0] - p[17, 0], p[5, 1] - p[17, 1], p[5, 2] - p[17, 2], b)  # fmt: skip
        _matmul3(b, _H_REST_BT[h], g[h])
        gh = g[h]
        for lvl in range(3):
            for f in range(5):
                a, e = _CHAINS[f, lvl], _CHAINS[f, lvl + 1]
                s0, s1, s2 = p[e, 0] - p[a, 0], p[e, 1] - p[a, 1], p[e, 2] - p[a, 2]
                d0 = s0 * gh[0, 0] + s1 * gh[1, 0] + s2 * gh[2, 0]
                d1 = s0 * gh[0, 1] + s1 * gh[1, 1] + s2 * gh[2, 1]
                d2 = s0 * gh[0, 2] + s1 * gh[1, 2] + s2 * gh[2, 2]
                n = max(math.sqrt(d0 * d0 + d1 * d1 + d2 * d2), 1e-9)
                d0, d1, d2 = d0 / n, d1 / n, d2 / n
                d[h, lvl, f, 0], d[h, lvl, f, 1], d[h, lvl, f, 2] = d0, d1, d2
                if lvl == 0:
                    u0, u1, u2 = _H_REST_DIR[h, f, 0], _H_REST_DIR[h, f, 1], _H_REST_DIR[h, f, 2]
                else:
                    u0, u1, u2 = d[h, lvl - 1, f, 0], d[h, lvl - 1, f, 1], d[h, lvl - 1, f, 2]
                cc = u0 * d0 + u1 * d1 + u2 * d2
                c[h, lvl, f] = cc
                if cc < _ANTI:
                    anti = True
    if anti:
        _fingers_reference(w, g, q)
        return
    k = np.empty((3, 3))
    x1 = np.empty(3)
    for h in range(2):
        for f in range(5):
            for lvl in range(3):
                if lvl == 0:
                    u0, u1, u2 = _H_REST_DIR[h, f, 0], _H_REST_DIR[h, f, 1], _H_REST_DIR[h, f, 2]
                else:
                    u0, u1, u2 = d[h, lvl - 1, f, 0], d[h, lvl - 1, f, 1], d[h, lvl - 1, f, 2]
                v0, v1, v2 = d[h, lvl, f, 0], d[h, lvl, f, 1], d[h, lvl, f, 2]
                k[lvl, 0] = u1 * v2 - u2 * v1
                k[lvl, 1] = u2 * v0 - u0 * v2
                k[lvl, 2] = u0 * v1 - u1 * v0
            c0, c1, c2 = c[h, 0, f], c[h, 1, f], c[h, 2, f]
            opc0, opc1, opc2 = c0 + 1.0, c1 + 1.0, c2 + 1.0
            # x1 = R1ᵀ k2 = c1 k2 − k1 × k2 + k1 (k1·k2)/(1 + c1)
            s = (k[1, 0] * k[2, 0] + k[1, 1] * k[2, 1] + k[1, 2] * k[2, 2]) / opc1
            x1[0] = k[2, 0] * c1 - (k[1, 1] * k[2, 2] - k[1, 2] * k[2, 1]) + k[1, 0] * s
            x1[1] = k[2, 1] * c1 - (k[1, 2] * k[2, 0] - k[1, 0] * k[2, 2]) + k[1, 1] * s
            x1[2] = k[2, 2] * c1 - (k[1, 0] * k[2, 1] - k[1, 1] * k[2, 0]) + k[1, 2] * s
            row = 15 * h + 3 * f
            q[row, 0], q[row, 1], q[row, 2], q[row, 3] = k[0, 0], k[0, 1], k[0, 2], opc0
            for lvl in range(1, 3):
                if lvl == 1:
                    a0, a1, a2 = k[1, 0], k[1, 1], k[1, 2]
                    opc = opc1
                else:
                    a0, a1, a2 = x1[0], x1[1], x1[2]
                    opc = opc2
                # R0ᵀ a = c0 a − k0 × a + k0 (k0·a)/(1 + c0)
                s = (k[0, 0] * a0 + k[0, 1] * a1 + k[0, 2] * a2) / opc0
                r = row + lvl
                q[r, 0] = a0 * c0 - (k[0, 1] * a2 - k[0, 2] * a1) + k[0, 0] * s
                q[r, 1] = a1 * c0 - (k[0, 2] * a0 - k[0, 0] * a2) + k[0, 1] * s
                q[r, 2] = a2 * c0 - (k[0, 0] * a1 - k[0, 1] * a0) + k[0, 2] * s
                q[r, 3] = opc
            for r in range(row, row + 3):
                _normalize4(q[r])


@_kernel
def _fingers_reference(w: F64, g: F64, q: F64) -> None:
    """HandSolver.fingers (level by level, shortest arcs with the antiparallel rule)."""
    v = np.empty((3, 3))
    c0 = np.empty(4)
    c1 = np.empty(4)
    for h in range(2):
        gh = g[h]
        for f in range(5):
            for s in range(3):
                a, e = _CHAINS[f, s], _CHAINS[f, s + 1]
                s0 = w[h, e, 0] - w[h, a, 0]
                s1 = -w[h, e, 1] + w[h, a, 1]
                s2 = -w[h, e, 2] + w[h, a, 2]
                d0 = gh[0, 0] * s0 + gh[1, 0] * s1 + gh[2, 0] * s2
                d1 = gh[0, 1] * s0 + gh[1, 1] * s1 + gh[2, 1] * s2
                d2 = gh[0, 2] * s0 + gh[1, 2] * s1 + gh[2, 2] * s2
                n = max(math.sqrt(d0 * d0 + d1 * d1 + d2 * d2), 1e-9)
                v[s, 0], v[s, 1], v[s, 2] = d0 / n, d1 / n, d2 / n
            r0, r1, r2 = _H_REST_DIR[h, f, 0], _H_REST_DIR[h, f, 1], _H_REST_DIR[h, f, 2]
            row = 15 * h + 3 * f
            _arc(r0, r1, r2, v[0, 0], v[0, 1], v[0, 2], c0)
            q[row, :] = c0
            # d1 and d2 seen from the proximal bone: qrot(conj(q0), ·)
            _qrot(-c0[0], -c0[1], -c0[2], c0[3], v[1])
            _qrot(-c0[0], -c0[1], -c0[2], c0[3], v[2])
            _arc(r0, r1, r2, v[1, 0], v[1, 1], v[1, 2], c1)
            q[row + 1, :] = c1
            _qrot(-c1[0], -c1[1], -c1[2], c1[3], v[2])
            _arc(r0, r1, r2, v[2, 0], v[2, 1], v[2, 2], c0)
            q[row + 2, :] = c0


# ------------------------------------------------------------------------------------------ body
@_kernel
def _from_rotation_matrices(m: F64, q: F64) -> None:
    """quat.from_rotation_matrix of (n, 3, 3) into q (n, 4) (Shepperd rows and normalisation when
    any w < 1e-3, as the reference)."""
    n = m.shape[0]
    low = False
    for i in range(n):
        _copysign_q(m[i], q[i])
        if q[i, 3] < 1e-3:
            low = True
    if low:
        for i in range(n):
            if q[i, 3] < 1e-3:
                _shepperd(m[i], q[i])
            _normalize4(q[i])


@_kernel
def _body(
    wb: F64, ok: B, has_head: bool, head_q: F64, has_hand: B, hand_g: F64, upper: bool,
    rot: F64, valid: B, hips: F64,
) -> None:  # fmt: skip
    """BodySolver.solve: rot (55, 4), valid (55,), hips (3,) from MediaPipe world landmarks (33, 3)."""
    pe = np.empty((38, 3))
    for i in range(33):
        pe[i, 0], pe[i, 1], pe[i, 2] = wb[i, 0], -wb[i, 1], -wb[i, 2]
    for j in range(5):
        for c in range(3):
            pe[33 + j, c] = 0.5 * (pe[_MID_A[j], c] + pe[_MID_B[j], c])
    prim = np.empty((15, 3))
    sec = np.zeros((15, 3))
    for s in range(15):
        for c in range(3):
            prim[s, c] = pe[_PA[s], c] - pe[_PB[s], c]
            if _SA[s] != _SB[s]:
                sec[s, c] = pe[_SA[s], c] - pe[_SB[s], c]
    dirs = np.empty((8, 3))
    for j in range(8):
        r = _LIMBS[j]
        n = max(math.sqrt(prim[r, 0] * prim[r, 0] + prim[r, 1] * prim[r, 1] + prim[r, 2] * prim[r, 2]), 1e-9)
        for c in range(3):
            dirs[j, c] = prim[r, c] / n
    th = np.empty((3, 3))
    tc = np.empty((3, 3))
    _basis1(prim[0, 0], prim[0, 1], prim[0, 2], sec[0, 0], sec[0, 1], sec[0, 2], th)
    _basis1(prim[1, 0], prim[1, 1], prim[1, 2], sec[1, 0], sec[1, 1], sec[1, 2], tc)
    ref = np.empty((4, 3))
    for j in range(4):
        u0, u1, u2 = dirs[j, 0], dirs[j, 1], dirs[j, 2]
        l0, l1, l2 = dirs[4 + j, 0], dirs[4 + j, 1], dirs[4 + j, 2]
        dl = l0 * u0 + l1 * u1 + l2 * u2
        sg = _LIMB_SIGN[j]
        b0, b1, b2 = (l0 - dl * u0) * sg, (l1 - dl * u1) * sg, (l2 - dl * u2) * sg
        if j == 0:
            a0, a1, a2 = tc[0, 0], tc[1, 0], tc[2, 0]
        elif j == 1:
            a0, a1, a2 = -tc[0, 0], -tc[1, 0], -tc[2, 0]
        else:
            a0, a1, a2 = -th[0, 1], -th[1, 1], -th[2, 1]
        if j < 2:
            v0, v1, v2 = tc[0, 2], tc[1, 2], tc[2, 2]
        else:
            v0, v1, v2 = th[0, 2], th[1, 2], th[2, 2]
        f = (u0 * v0 + u1 * v1 + u2 * v2) / max(1.0 + (a0 * u0 + a1 * u1 + a2 * u2), 1e-6)
        ref[j, 0] = b0 + _TWIST * (v0 - (a0 + u0) * f)
        ref[j, 1] = b1 + _TWIST * (v1 - (a1 + u1) * f)
        ref[j, 2] = b2 + _TWIST * (v2 - (a2 + u2) * f)
    for c in range(3):
        sec[3, c], sec[4, c] = ref[0, c], ref[1, c]
        sec[9, c], sec[10, c] = ref[2, c], ref[3, c]
        sec[11, c], sec[12, c] = ref[2, c], ref[3, c]
    for i in range(2):
        for c in range(3):
            if has_hand[i]:
                sec[5 + i, c] = hand_g[i, c, 2]
            elif ok[_IDX[i]] and ok[_PINKY[i]]:
                sec[5 + i, c] = sec[7 + i, c]
            else:
                sec[5 + i, c] = ref[i, c]
    g = np.empty((16, 3, 3))
    bb = np.empty((3, 3))
    for s in range(2, 15):
        _basis1(prim[s, 0], prim[s, 1], prim[s, 2], sec[s, 0], sec[s, 1], sec[s, 2], bb)
        _matmul3(bb, _B_REST_BT[s], g[s])
    g[15] = 0.0
    g[15, 0, 0] = g[15, 1, 1] = g[15, 2, 2] = 1.0
    if upper:
        g[0] = g[15]
    else:
        g[0] = th
    g[1] = tc
    if has_head:
        _to_matrix(head_q[0], head_q[1], head_q[2], head_q[3], g[2])
    for i in range(2):
        if has_hand[i]:
            g[7 + i] = hand_g[i]
    rel = np.empty((15, 3, 3))
    for j in range(15):
        _matmul3_tn(g[_REL_P[j]], g[_REL_C[j]], rel[j])
    q = np.empty((15, 4))
    _from_rotation_matrices(rel, q)
    rot[:, :] = 0.0
    rot[:, 3] = 1.0
    rot[_HIPS] = q[0]
    tmp = np.empty(4)
    _qpow1(q[1], 1.0 / 3.0, tmp)
    for b in _SPINE3:
        rot[b] = tmp
    _qpow1(q[2], 0.5, tmp)
    for b in _NECK2:
        rot[b] = tmp
    for j in range(_PAIR_BONES.shape[0]):
        rot[_PAIR_BONES[j]] = q[3 + j]
    valid[:] = False
    for j in range(_DEP_BONES.shape[0]):
        v = True
        for c in range(_DEP_IDX.shape[1]):
            v = v and ok[_DEP_IDX[j, c]]
        valid[_DEP_BONES[j]] = v
    if has_head:
        for b in _NECK2:
            valid[b] = ok[_L_SH] and ok[_R_SH]
    for i in range(2):
        if has_hand[i]:
            valid[_HAND_BONE[i]] = ok[_HAND_DEP_EL[i]] and ok[_HAND_DEP_WR[i]]
    if upper:
        for b in _LEG_BONES:
            rot[b, 0] = rot[b, 1] = rot[b, 2] = 0.0
            rot[b, 3] = 1.0
            valid[b] = False
        rot[_HIPS, 0] = rot[_HIPS, 1] = rot[_HIPS, 2] = 0.0
        rot[_HIPS, 3] = 1.0
        hips[0], hips[1], hips[2] = 0.0, _REST_HIPS_Y, 0.0
    else:
        foot = pe[_FOOT_PTS[0], 1]
        for j in range(1, _FOOT_PTS.shape[0]):
            foot = min(foot, pe[_FOOT_PTS[j], 1])
        lens = np.empty(4)
        for j in range(4):
            r = 9 + j
            lens[j] = math.sqrt(prim[r, 0] * prim[r, 0] + prim[r, 1] * prim[r, 1] + prim[r, 2] * prim[r, 2])
        leg = 0.5 * (((lens[0] + lens[1]) + lens[2]) + lens[3])
        height = (pe[_HIP_MID, 1] - foot) / max(leg * 1.06, 1e-3)
        hips[0], hips[1], hips[2] = 0.0, _REST_HIPS_Y * min(max(height, 0.2), 1.2), 0.0


# ------------------------------------------------------------------------------------------ frame
@_kernel
def solve_frame(
    t_ms: float, p_pose: int, p_face: int, p_left: int, p_right: int,
    x: F64, vis: F64, fmat: F64, cfg: F64, offs: I64,
    blocks: I64, bpar: F64, bt: F64, lm_st: F64, out32: F32, y: F64,
    face_par: F64, head_par: F64, rot_par: F64, rot_q: F64, rot_st: F64, pos_st: F64,
    gv: F64, gvq: F64, gvb: B, gr: F64, grq: F64, grb: B, body_core: B, rest_off: F64,
    out64: F64, bs32: F32, valid_out: B,
) -> tuple[int, int, int, int]:  # fmt: skip
    """One RigSolver frame (module doc); returns the face, body, left and right hand states."""
    t_s = t_ms * 1e-3
    smooth = cfg[C_SMOOTH] != 0.0
    if smooth:
        _lm_filter(t_s, x, p_pose, p_face, p_left, p_right, blocks, bpar, bt, lm_st, offs,
                   cfg[C_RAW_DERIV] != 0.0, out32, y)  # fmt: skip
        src = y
    else:
        src = x
    vals = np.zeros((62, 1))
    vvalid = np.zeros(62, dtype=np.bool_)
    rots = np.zeros((_NR, 4))
    rots[:, 3] = 1.0
    rvalid = np.zeros(_NR, dtype=np.bool_)
    face_en, head_en = cfg[C_FACE] != 0.0, cfg[C_HEAD] != 0.0
    has_head = False
    has_eyes = False
    jaw_open = 0.0
    eyes = np.zeros(4)
    if p_face and (face_en or head_en):
        if face_en:
            o = offs[7]
            bs = np.empty(52)
            _face_blendshapes(src[o : o + 52], face_par, cfg, bs)
            _eyes(bs, cfg, eyes)
            for j in range(52):
                vals[j, 0] = bs[j]
            for j in range(4):
                vals[52 + j, 0] = eyes[j]
            vvalid[:56] = True
            jaw_open = bs[_JAW_OPEN]
            has_eyes = True
        if head_en:
            hp = np.empty(3)
            _head(fmat, head_par, rots[0], hp)
            if cfg[C_HEAD_T] != 0.0:
                for j in range(3):
                    vals[56 + j, 0] = hp[j]
            vvalid[56:59] = True
            rvalid[0] = True
            has_head = True
    has_hand = np.zeros(2, dtype=np.bool_)
    hand_g = np.empty((2, 3, 3))
    fingers = np.empty((30, 4))
    if cfg[C_HANDS] != 0.0 and (p_left or p_right):
        has_hand[0], has_hand[1] = p_left != 0, p_right != 0
        w = np.zeros((2, 21, 3))
        o = offs[6]
        for hnd in range(2):
            if has_hand[hnd]:
                for i in range(21):
                    for c in range(3):
                        w[hnd, i, c] = src[o + 63 * hnd + 3 * i + c]
        _hands(w, hand_g, fingers)
    if cfg[C_BODY] != 0.0 and p_pose:
        wb = np.empty((33, 3))
        o = offs[5]
        ok = np.empty(33, dtype=np.bool_)
        vthr, pthr = cfg[C_VIS_THR], cfg[C_PRES_THR]
        for i in range(33):
            for c in range(3):
                wb[i, c] = src[o + 3 * i + c]
            ok[i] = vis[i, 0] >= vthr and vis[i, 1] >= pthr
        upper = cfg[C_UPPER] != 0.0
        brot = rots[1:]
        bval = rvalid[1:]
        hips = np.empty(3)
        _body(wb, ok, has_head, rots[0], has_hand, hand_g, upper, brot, bval, hips)
        for j in range(3):
            vals[59 + j, 0] = hips[j]
        vvalid[59:62] = bval[_HIPS] or upper
        for b in range(_NB):
            body_core[b] = body_core[b] or bval[b]
    for hnd in range(2):
        if has_hand[hnd]:
            r0 = 1 + _FINGER0 + 15 * hnd
            for j in range(15):
                rots[r0 + j] = fingers[15 * hnd + j]
                rvalid[r0 + j] = True
    if has_eyes:
        for e in range(2):
            yaw, pitch = eyes[2 * e], eyes[2 * e + 1]
            hy, hp_ = -0.5 * yaw, 0.5 * pitch
            cy, sy, cp, sp = math.cos(hy), math.sin(hy), math.cos(hp_), math.sin(hp_)
            r = _EYE_ROW + e
            rots[r, 0], rots[r, 1], rots[r, 2], rots[r, 3] = cy * sp, sy * cp, -sy * sp, cy * cp
        ja = 0.5 * cfg[C_JAW] * jaw_open
        r = _EYE_ROW + 2
        rots[r, 0], rots[r, 1], rots[r, 2], rots[r, 3] = math.sin(ja), 0.0, 0.0, math.cos(ja)
        rvalid[_EYE_ROW : _EYE_ROW + 3] = True
    if smooth:
        _rot_filter(t_s, rots, rvalid, rot_par, rot_q, rot_st)
        if head_en and vvalid[56] and cfg[C_POS_SMOOTH] != 0.0:
            _pos_filter(t_s, vals[56:59, 0], pos_st)
        elif not vvalid[56]:
            pos_st[5, :] = _NAN
    hold, release, reacq = cfg[C_HOLD], cfg[C_RELEASE], cfg[C_REACQ]
    vactive = np.empty(62, dtype=np.bool_)
    ractive = np.empty(_NR, dtype=np.bool_)
    _gate(vals, vvalid, t_ms, gv, gvq, gvb, hold, release, reacq, False, vactive)
    _gate(rots, rvalid, t_ms, gr, grq, grb, hold, release, reacq, True, ractive)

    if face_en:
        face_state = _part_state(vvalid[:52], vactive[:52])
    elif head_en:
        face_state = _part_state(rvalid[:1], ractive[:1])
    else:
        face_state = 0
    n_core = 0
    for b in range(_NB):
        if body_core[b] and _NOT_HAND[b]:
            n_core += 1
    body_state = 0
    if cfg[C_BODY] != 0.0 and n_core:
        cv = np.empty(n_core, dtype=np.bool_)
        ca = np.empty(n_core, dtype=np.bool_)
        k = 0
        for b in range(_NB):
            if body_core[b] and _NOT_HAND[b]:
                cv[k] = rvalid[1 + b]
                ca[k] = ractive[1 + b]
                k += 1
        body_state = _part_state(cv, ca)
    f0 = 1 + _FINGER0
    left_state = _part_state(rvalid[f0 : f0 + 15], ractive[f0 : f0 + 15])
    right_state = _part_state(rvalid[f0 + 15 : f0 + 30], ractive[f0 + 15 : f0 + 30])

    for j in range(4):
        out64[O_HEAD_ROT + j] = rots[0, j]
        out64[O_EYES + j] = vals[52 + j, 0]
    for j in range(3):
        out64[O_HEAD_POS + j] = vals[56 + j, 0]
        out64[O_HIPS + j] = vals[59 + j, 0]
    _ypr(rots[0], out64[O_YPR : O_YPR + 3])
    for b in range(_NB):
        for j in range(4):
            out64[O_BONE_ROT + 4 * b + j] = rots[1 + b, j]
        for j in range(3):
            out64[O_BONE_POS + 3 * b + j] = rest_off[b, j]
        valid_out[b] = ractive[1 + b]
    for j in range(52):
        bs32[j] = np.float32(vals[j, 0])
    return face_state, body_state, left_state, right_state
