"""The solver's fast paths against their reference forms (the per-frame path was rewritten for speed).

* Fused hand solve (``HandSolver.solve``) vs the level-by-level ``frames`` + ``fingers``.
* ``BodySolver.solve`` vs ``reference_solve.body_reference`` (the original step-by-step solve).
* A whole ``RigSolver`` on synthetic frames with parts coming and going vs the same solver wired
  to the reference hand/body paths.
* Float and extended-vector kernels in ``quat`` vs their numpy forms; the float head pose vs the
  numpy formula it replaced.
* ``Gate`` and ``RotationOneEuro`` vs the plain (pre-fast-path) algorithms, copied below; the
  float path of small ``OneEuroFilter`` vs its vectorised path.

Quaternions are compared up to sign (q and −q are the same rotation).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from reference_solve import body_reference
from scipy.spatial.transform import Rotation
from synth import (
    curled_hand,
    face_obs,
    flat_hand_internal,
    frame,
    hand_obs,
    pose_obs,
    random_rotation,
    tpose_internal,
)

from mocap_bridge.filters.gating import Gate, smoothstep
from mocap_bridge.filters.one_euro import OneEuroFilter, RotationOneEuro
from mocap_bridge.frames import HumanBone as HB
from mocap_bridge.settings import Settings
from mocap_bridge.solve import quat
from mocap_bridge.solve.body import BodySolver
from mocap_bridge.solve.hands import HandSolver
from mocap_bridge.solve.head import head_from_matrix
from mocap_bridge.solve.rig import RigSolver

FLIP = np.array([1.0, -1.0, -1.0])
THUMB_IM_DI = [1, 2, 16, 17]  # rows of the (30, 4) finger output: thumbs' Intermediate and Distal


def _qdiff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-quaternion max component difference, up to sign."""
    d: np.ndarray = np.minimum(np.abs(a - b), np.abs(a + b)).max(axis=-1)
    return d


def _random_pose(rng: np.random.Generator) -> np.ndarray:
    p = tpose_internal() + rng.normal(0.0, 0.05, (33, 3))
    out: np.ndarray = Rotation.from_euler("y", rng.uniform(-0.6, 0.6)).apply(p)
    return out


# ---------------------------------------------------------------------------------------------- hands
def test_fused_hand_solve_matches_level_by_level() -> None:
    rng = np.random.default_rng(1)
    hs = HandSolver()
    for _ in range(200):
        w = np.stack((curled_hand(rng, "Left", 0.5), curled_hand(rng, "Right", 0.5))) * FLIP
        ref_frames = hs.frames(w)
        ref = hs.fingers(w, ref_frames)
        frames, fingers = hs.solve(w)
        assert np.abs(frames - ref_frames).max() < 1e-12
        d = _qdiff(fingers, ref)
        others = np.delete(d, THUMB_IM_DI)
        assert others.max() < 1e-10
        # the reference's thumb rest direction (0.7071, 0, 0.7071) is 1e-5 short of unit length
        assert d[THUMB_IM_DI].max() < 2e-5


def test_antiparallel_finger_takes_the_reference_path() -> None:
    p = flat_hand_internal("Left")
    p[8] = p[7] - (p[7] - p[6])  # index tip folded straight back onto the DIP -> PIP segment
    w = np.stack((p, flat_hand_internal("Right"))) * FLIP
    hs = HandSolver()
    _, fingers = hs.solve(w)
    assert np.array_equal(fingers, hs.fingers(w, hs.frames(w)))
    assert np.allclose(np.linalg.norm(fingers, axis=1), 1.0)


# ---------------------------------------------------------------------------------------------- body
@pytest.mark.parametrize("upper", [False, True])
def test_body_solve_matches_reference(upper: bool) -> None:
    rng = np.random.default_rng(2 + upper)
    bs = BodySolver(upper_body=upper)
    for _ in range(150):
        world = (_random_pose(rng) * FLIP).astype(np.float32)
        ok = rng.random(33) > 0.15
        head = random_rotation(rng).as_quat() if rng.random() < 0.5 else None
        hands = tuple(random_rotation(rng).as_matrix() if rng.random() < 0.5 else None for _ in range(2))
        kw = {"head_global": head, "hand_frames": hands}
        rot, valid, hips = bs.solve(world, ok, **kw)  # type: ignore[arg-type]
        r_rot, r_valid, r_hips = body_reference(bs, world, ok, **kw)  # type: ignore[arg-type]
        assert _qdiff(rot, r_rot).max() < 1e-9
        assert np.array_equal(valid, r_valid)
        assert np.abs(hips - r_hips).max() < 1e-12


# ---------------------------------------------------------------------------------------------- rig
class _ReferenceHands(HandSolver):
    def solve(self, world_mp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        frames = self.frames(world_mp)
        return frames, self.fingers(world_mp, frames)


class _ReferenceBody(BodySolver):
    solve = body_reference


def _synthetic_stream(rng: np.random.Generator, n: int) -> list:  # type: ignore[type-arg]
    frames = []
    for i in range(n):
        pose = pose_obs(_random_pose(rng), vis=0.99) if rng.random() > 0.1 else None
        m = np.eye(4)
        m[:3, :3] = Rotation.from_rotvec(rng.normal(0.0, 0.2, 3)).as_matrix()
        m[:3, 3] = (rng.normal(0.0, 2.0), rng.normal(0.0, 2.0), -50.0 + rng.normal(0.0, 2.0))
        face = face_obs(rng.uniform(0.0, 1.0, 52), m) if rng.random() > 0.1 else None
        hands = [hand_obs(s, curled_hand(rng, s, 0.5)) for s in ("Left", "Right") if rng.random() > 0.2]
        frames.append(frame(i, 33 * i, pose=pose, face=face, hands=hands))
    return frames


@pytest.mark.parametrize("smooth", [True, False])
def test_rig_solver_matches_reference_paths(smooth: bool) -> None:
    s = Settings()
    s = dataclasses.replace(s, smoothing=dataclasses.replace(s.smoothing, enabled=smooth))
    fast, ref = RigSolver(s), RigSolver(s)
    ref._hands = _ReferenceHands()
    ref._body = _ReferenceBody(upper_body=s.upper_body)
    for f in _synthetic_stream(np.random.default_rng(4), 120):
        a, b = fast.solve(f), ref.solve(f)
        assert _qdiff(a.bone_rotations, b.bone_rotations).max() < 1e-4  # thumbs, see above
        assert _qdiff(a.head_rotation, b.head_rotation) < 1e-12
        assert np.array_equal(a.bone_valid, b.bone_valid)
        assert np.abs(a.blendshapes - b.blendshapes).max() == 0.0
        assert np.abs(a.hips_position - b.hips_position).max() < 1e-12
        assert (a.face_state, a.body_state, a.hand_states) == (b.face_state, b.body_state, b.hand_states)


# ---------------------------------------------------------------------------------------------- quat
def test_float_and_extended_kernels_match_numpy_forms() -> None:
    rng = np.random.default_rng(5)
    q = Rotation.random(50, random_state=5).as_quat()
    m = Rotation.from_quat(q).as_matrix()
    for i in range(50):
        assert np.abs(quat.to_matrix_1(q[i]) - quat.to_matrix(q[i])).max() < 1e-15
        # (numpy's form sums the diagonal in another order: rounding, amplified by sqrt near 0)
        assert _qdiff(quat.from_matrix_1(m[i].tolist()), quat.from_matrix(m[i])) < 1e-12
        s = float(rng.uniform(0.0, 1.0))
        assert np.abs(np.array(quat.qpow_1(q[i], s)) - quat.qpow(q[i], s)).max() < 1e-12
    assert _qdiff(quat.from_rotation_matrix(m), quat.from_matrix(m)).max() < 1e-15
    assert _qdiff(quat.from_matrix(m), q).max() < 1e-12
    a, b = rng.normal(size=(20, 3)), rng.normal(size=(20, 3))
    ae, be = a @ quat.EXT3, b @ quat.EXT3
    assert np.array_equal(quat.cross_e(ae, be), quat.cross(a, b))
    assert (
        np.abs(quat.dot0(np.ascontiguousarray(a.T), np.ascontiguousarray(b.T)) - np.vecdot(a, b)).max()
        < 1e-15
    )
    assert np.abs(quat.basis_e(ae, be) - quat.basis(a, b)).max() < 1e-15
    for i in range(20):
        b1 = np.array(quat.basis_1(a[i].tolist(), b[i].tolist()))
        assert np.abs(b1 - quat.basis(a[i], b[i])).max() < 1e-15


# The copysign from_rotation_matrix as it was before the transposed, pre-scaled matmul (quat.py).
_FM_OLD = np.zeros((9, 7))
_FM_OLD[[0, 4, 8], :4] = [[1.0, -1.0, -1.0, 1.0], [-1.0, 1.0, -1.0, 1.0], [-1.0, -1.0, 1.0, 1.0]]
_FM_OLD[[7, 2, 3], [4, 5, 6]] = 1.0
_FM_OLD[[5, 6, 1], [4, 5, 6]] = -1.0


def _from_rotation_matrix_old(m: np.ndarray) -> np.ndarray:
    r = m.reshape(-1, 9) @ _FM_OLD
    q = r[:, :4]
    q += 1.0
    np.maximum(q, 0.0, out=q)
    np.sqrt(q, out=q)
    q *= 0.5
    np.copysign(q[:, :3], r[:, 4:], out=q[:, :3])
    w = q[:, 3]
    if w.min() < 1e-3:
        return quat.normalize(np.where((w < 1e-3)[:, None], quat._shepperd(m.reshape(-1, 3, 3)), q))
    return q


def test_from_rotation_matrix_matches_its_previous_form() -> None:
    """The quarter folded into the matmul is exact (powers of two) and the transposed layout makes
    the same nine-term sums, so this is bit for bit with OpenBLAS here; the bound allows another BLAS
    to order the sums differently (amplified by the square root near zero). Near half turns the
    Shepperd fallback is shared."""
    m = Rotation.random(20000, random_state=7).as_matrix()
    rel = np.swapaxes(m[:10000], -1, -2) @ m[10000:]  # products, as the body solve makes them
    for batch in (m[:15], m[15:31], rel[:15], m, rel):
        assert np.abs(quat.from_rotation_matrix(batch) - _from_rotation_matrix_old(batch)).max() <= 1e-12
    half = Rotation.from_rotvec([[math.pi - 1e-4, 0.0, 0.0], [0.0, 0.2, 0.1]]).as_matrix()
    assert np.abs(quat.from_rotation_matrix(half) - _from_rotation_matrix_old(half)).max() <= 1e-12


def _head_numpy(matrix: np.ndarray, neutral_r: np.ndarray, neutral_t: np.ndarray) -> tuple[np.ndarray, ...]:
    r = matrix[:3, :3]
    r = r / np.sqrt(np.einsum("ij,ij->j", r, r))
    return quat.from_matrix(neutral_r.T @ r), neutral_r.T @ (matrix[:3, 3] * 0.01 - neutral_t)


def test_float_head_pose_matches_numpy_formula() -> None:
    rng = np.random.default_rng(6)
    for _ in range(100):
        m = np.eye(4)
        m[:3, :3] = random_rotation(rng).as_matrix() * rng.uniform(0.9, 1.1, 3)
        m[:3, 3] = rng.normal(0.0, 20.0, 3)
        nr = random_rotation(rng).as_matrix()
        nt = rng.normal(0.0, 0.3, 3)
        q, p = head_from_matrix(m, nr, nt)
        rq, rp = _head_numpy(m, nr, nt)
        assert _qdiff(q, rq) < 1e-14 and np.abs(p - rp).max() < 1e-14


# ---------------------------------------------------------------------------------------------- filters
class _PlainGate:
    """The gate's algorithm without shortcuts (as before the fast paths)."""

    def __init__(self, rest: np.ndarray, hold: float, release: float, reacq: float, quaternion: bool) -> None:
        self.rest, self.q = rest.copy(), quaternion
        n = rest.shape[0]
        self.hold, self.release, self.reacq = np.full(n, hold), np.full(n, release), np.full(n, reacq)
        self.frm, self.out = rest.copy(), rest.copy()
        self.t_event, self.valid = np.full(n, -np.inf), np.zeros(n, bool)
        self.seen, self.age = np.zeros(n, bool), np.full(n, np.inf)

    def __call__(self, live: np.ndarray, valid: np.ndarray, t: float) -> np.ndarray:
        changed = valid != self.valid
        if changed.any():
            self.frm = np.where(changed[:, None], self.out, self.frm)
            self.t_event = np.where(changed, t, self.t_event)
            self.valid = valid.copy()
            self.seen |= valid
        age = self.age = t - self.t_event
        on, off = smoothstep(age / self.reacq), smoothstep((age - self.hold) / self.release)
        w = np.where(valid, on, off)[:, None]
        target = np.where(valid[:, None], live, self.rest)
        if self.q:
            d = np.einsum("ij,ij->i", self.frm, target)
            tgt = target * np.where(d < 0.0, -1.0, 1.0)[:, None]
            half = np.arccos(np.minimum(np.abs(d), 1.0))[:, None]
            sin_h = np.sin(half)
            small = sin_h < 1e-6
            safe = np.where(small, 1.0, sin_h)
            w0 = np.where(small, 1.0 - w, np.sin((1.0 - w) * half) / safe)
            w1 = np.where(small, w, np.sin(w * half) / safe)
            qq = w0 * self.frm + w1 * tgt
            out = qq / np.sqrt(np.einsum("ij,ij->i", qq, qq))[:, None]
        else:
            out = self.frm + w * (target - self.frm)
        self.out = out
        res: np.ndarray = out.copy()
        return res

    @property
    def active(self) -> np.ndarray:
        act: np.ndarray = self.valid | (self.seen & (self.age < self.hold + self.release))
        return act


@pytest.mark.parametrize("times", [(100.0, 200.0, 80.0), (10.0, 20.0, 8.0), (0.0, 0.0, 0.0)])
@pytest.mark.parametrize("quaternion", [False, True])
def test_gate_matches_plain_algorithm(quaternion: bool, times: tuple[float, float, float]) -> None:
    """Blends, holds and settled stretches (every channel live or at rest: short times settle
    within a frame or two, zero times at once)."""
    rng = np.random.default_rng(7)
    n = 12
    rest = np.tile([0.0, 0.0, 0.0, 1.0], (n, 1)) if quaternion else np.zeros((n, 1))
    hold, release, reacq = times
    g = Gate(rest, hold_ms=hold, release_ms=release, reacquire_ms=reacq, quaternion=quaternion)
    ref = _PlainGate(rest, hold, max(release, 1e-6), max(reacq, 1e-6), quaternion)
    valid = np.ones(n, bool)
    for i in range(300):
        if rng.random() < 0.1:  # long steady stretches in between, as in real streams
            valid = rng.random(n) > 0.3
        live = Rotation.random(n, random_state=i).as_quat() if quaternion else rng.normal(size=(n, 1))
        a, b = g(live, valid, 33.0 * i), ref(live, valid, 33.0 * i)
        assert np.array_equal(g.active, ref.active)
        if quaternion:
            assert np.abs(a - b).max() < 1e-15  # same sign too
        else:
            assert np.array_equal(a, b)


def _plain_rotation_filter(n: int, beta: float):  # type: ignore[no-untyped-def]
    """RotationOneEuro's algorithm without the scalar-Te fast path (as before it)."""
    st = {"q": np.tile([0.0, 0.0, 0.0, 1.0], (n, 1)), "speed": np.zeros(n), "t": np.full(n, np.nan)}
    tau_d = 1.0 / (2.0 * math.pi * 1.0)

    def call(q: np.ndarray, t: float, present: np.ndarray) -> np.ndarray:
        te = t - st["t"]
        with np.errstate(invalid="ignore"):
            fresh = present & np.isnan(te)
            upd = present & (te > 0.0)
        te_s = np.where(upd, te, 1.0)
        prev = st["q"]
        d = np.einsum("ij,ij->i", prev, q)
        q_al = q * np.where(d < 0.0, -1.0, 1.0)[:, None]
        half = np.arccos(np.minimum(np.abs(d), 1.0))
        speed = 2.0 * half / te_s
        edx = st["speed"] + te_s / (te_s + tau_d) * (speed - st["speed"])
        a = te_s / (te_s + 1.0 / (2.0 * math.pi * (1.0 + beta * edx)))
        sin_h = np.sin(half)
        small = sin_h < 1e-6
        safe = np.where(small, 1.0, sin_h)
        w0 = np.where(small, 1.0 - a, np.sin((1.0 - a) * half) / safe)
        w1 = np.where(small, a, np.sin(a * half) / safe)
        qh = w0[:, None] * prev + w1[:, None] * q_al
        qh = qh / np.sqrt(np.einsum("ij,ij->i", qh, qh))[:, None]
        out = np.where(upd[:, None], qh, q)
        st["q"] = np.where((upd | fresh)[:, None], out, st["q"])
        st["speed"] = np.where(upd, edx, np.where(fresh, 0.0, st["speed"]))
        st["t"] = np.where(upd | fresh, t, np.where(present, st["t"], np.nan))
        return out

    return call


def test_rotation_filter_matches_plain_algorithm() -> None:
    rng = np.random.default_rng(8)
    n = 10
    f, ref = RotationOneEuro(n, 1.0, 0.7), _plain_rotation_filter(n, 0.7)
    present = np.ones(n, bool)
    t = 0.0
    for i in range(300):
        if rng.random() < 0.1:
            present = rng.random(n) > 0.3
        t += 0.033 if rng.random() > 0.03 else -0.01  # the odd stale timestamp
        q = Rotation.from_rotvec(0.3 * np.sin(0.1 * i + np.arange(n))[:, None] * np.ones(3)).as_quat()
        a, b = f(q, t, present=present), ref(q, t, present)
        assert np.abs(a - b).max() < 1e-12  # last-ulp normalisation differences fed back


def _plain_one_euro(n: int, mc: float, beta: float, raw: bool = False):  # type: ignore[no-untyped-def]
    """OneEuroFilter's general path alone (every call through per-element Te)."""
    st = {"x": np.zeros(n), "dx": np.zeros(n), "t": np.full(n, np.nan), "raw": np.zeros(n)}
    tau_d = 1.0 / (2.0 * math.pi * 1.0)

    def call(x: np.ndarray, t: float, present: np.ndarray, vs: np.ndarray) -> np.ndarray:
        te = t - st["t"]
        with np.errstate(invalid="ignore", divide="ignore"):
            fresh = present & np.isnan(te)
            upd = present & (te > 0.0)
            te_s = np.where(upd, te, 1.0)
            dx = (x - (st["raw"] if raw else st["x"])) * (vs / te_s)
            edx = st["dx"] + te_s / (te_s + tau_d) * (dx - st["dx"])
            a = te_s / (te_s + 1.0 / (2.0 * math.pi * (mc + beta * np.abs(edx))))
            xh = st["x"] + a * (x - st["x"])
        out = np.where(upd, xh, x)
        st["x"] = np.where(upd | fresh, out, st["x"])
        st["raw"] = np.where(upd | fresh, x, st["raw"])
        st["dx"] = np.where(upd, edx, np.where(fresh, 0.0, st["dx"]))
        st["t"] = np.where(upd | fresh, t, np.where(present, st["t"], np.nan))
        res: np.ndarray = out
        return res

    return call


@pytest.mark.parametrize("raw", [False, True])
def test_one_euro_with_absent_parts_matches_plain_algorithm(raw: bool) -> None:
    """Every path: all present (fast), the same parts absent frame after frame (masked fast step),
    parts coming and going and time going back (general)."""
    rng = np.random.default_rng(11)
    n = 40
    f, ref = OneEuroFilter(n, 0.5, 20.0, 1.0, raw_derivative=raw), _plain_one_euro(n, 0.5, 20.0, raw)
    present = np.ones(n, bool)
    t = 0.0
    for i in range(300):
        r = rng.random()
        if r < 0.1:
            present = np.repeat(rng.random(4) > 0.3, n // 4)  # parts come and go
        t += 0.033 if rng.random() > 0.03 else -0.01
        x = np.sin(0.05 * i + np.arange(n)) + rng.normal(0.0, 0.01, n)
        vs = np.repeat(rng.uniform(1.0, 3.0, 4), n // 4)
        p = None if present.all() and r > 0.5 else present
        a = f(x, t, present=p, value_scale=vs)
        b = ref(x, t, present, vs)
        assert np.array_equal(a, b)


@pytest.mark.parametrize("raw", [False, True])
def test_one_euro_with_present_key_matches_plain_algorithm(raw: bool) -> None:
    """``present_key`` (RigSolver passes its present-parts tuple): the same mask again takes the
    steady step; masks changing, time going back, resets and all-present calls in between; the
    input buffer refilled in place, as RigSolver does."""
    rng = np.random.default_rng(12)
    n = 40
    f = OneEuroFilter(n, 0.5, 20.0, 1.0, raw_derivative=raw)
    ref = _plain_one_euro(n, 0.5, 20.0, raw)
    parts = np.ones(4, bool)
    buf = np.zeros(n)
    t = 0.0
    for i in range(400):
        r = rng.random()
        if r < 0.08:
            parts = rng.random(4) > 0.4
        if r > 0.99:
            f.reset()
            ref = _plain_one_euro(n, 0.5, 20.0, raw)
        t += 0.033 if rng.random() > 0.03 else -0.01
        present = np.repeat(parts, n // 4)
        buf[:] = np.sin(0.05 * i + np.arange(n)) + rng.normal(0.0, 0.01, n)
        vs = np.repeat(rng.uniform(1.0, 3.0, 4), n // 4)
        if parts.all():
            a = f(buf, t, value_scale=vs)
        else:
            a = f(buf, t, present=present, value_scale=vs, present_key=tuple(parts.tolist()))
        b = ref(buf.copy(), t, present, vs)
        assert np.array_equal(a, b)


def test_small_one_euro_matches_vectorised_path() -> None:
    rng = np.random.default_rng(9)
    small, big = OneEuroFilter(3, 0.5, 20.0, 1.0), OneEuroFilter(12, 0.5, 20.0, 1.0)
    for i in range(100):
        x = rng.normal(size=3)
        a = small(x, i / 30.0)
        b = big(np.concatenate((x, np.zeros(9))), i / 30.0)
        assert np.array_equal(a, b[:3])


def test_raw_derivative_does_not_alias_a_refilled_buffer() -> None:
    """The filter keeps its own copy of the previous raw value (RigSolver refills one buffer)."""
    a = OneEuroFilter(20, 1.0, 10.0, raw_derivative=True)
    b = OneEuroFilter(20, 1.0, 10.0, raw_derivative=True)
    buf = np.zeros(20)
    for i in range(6):
        buf[:] = float(i)
        assert np.array_equal(a(buf, i / 30.0), b(buf.copy(), i / 30.0))


def test_fast_path_quaternions_stay_unit_and_thumbs_are_tracked() -> None:
    """Sanity on the fused path's output: unit quaternions, driven fingers, HumanBone order."""
    s = RigSolver(Settings())
    for i, f in enumerate(_synthetic_stream(np.random.default_rng(10), 30)):
        rig = s.solve(f)
        assert np.allclose(np.linalg.norm(rig.bone_rotations, axis=1), 1.0, atol=1e-12)
        if i > 10 and f.hand("Left") is not None:
            assert rig.bone_valid[HB.LeftThumbDistal]
