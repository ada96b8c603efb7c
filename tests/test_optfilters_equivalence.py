"""RotationOneEuro and Gate against their previous forms (tests/reference_optfilters.py), bit for bit.

The per-frame paths were rewritten for speed (the present mask compared as bytes, cached masks,
in-place slerp weights); every output, ``active`` and every state attribute the two forms share
must stay identical byte for byte: on hypothesis traces (masks repeating and changing, time
repeating and going back, tiny and subnormal steps, NaN/inf/zero/antipodal quaternions, resets),
and through RigSolver on synthetic streams and on footage (hands appearing and disappearing).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import reference_optfilters as ref
from conftest import media
from handmedia import track_clip
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation
from synth import curled_hand, face_obs, frame, hand_obs, pose_obs, tpose_internal

from mocap_bridge.filters.gating import Gate
from mocap_bridge.filters.one_euro import RotationOneEuro
from mocap_bridge.frames import RigFrame, TrackedFrame
from mocap_bridge.settings import Settings
from mocap_bridge.solve import rig as rig_module
from mocap_bridge.solve.mirror import mirror_hand
from mocap_bridge.solve.rig import RigSolver


def _same(a: object, b: object) -> bool:
    if isinstance(a, np.ndarray):
        return (
            isinstance(b, np.ndarray)
            and a.shape == b.shape
            and a.dtype == b.dtype
            and a.tobytes() == b.tobytes()
        )
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return type(a) is type(b) and a == b


def _assert_same_state(new: object, old: object) -> None:
    """Every attribute of the old form that the new one also has, byte for byte."""
    shared = [k for k in vars(old) if k in vars(new)]
    assert len(shared) >= 10
    for k in shared:
        assert _same(vars(new)[k], vars(old)[k]), k


# ------------------------------------------------------------------------------- hypothesis traces
# a step of time: the frame period, repeated, back, tiny, subnormal (from t = 0), long
_DT = st.sampled_from([0.033, 0.033, 0.033, 0.04, 0.0, -0.01, 1e-9, 5e-324, 2.0])
_KIND = st.sampled_from(["random", "random", "same", "antipodal", "prev_out", "nan", "inf", "zero", "signed"])


def _quats(
    rng: np.random.Generator, kinds: list[str], prev_in: np.ndarray, prev_out: np.ndarray
) -> np.ndarray:
    q: np.ndarray = Rotation.random(len(kinds), random_state=int(rng.integers(1 << 30))).as_quat()
    for i, kind in enumerate(kinds):
        if kind == "same":
            q[i] = prev_in[i]
        elif kind == "antipodal":
            q[i] = -prev_out[i]
        elif kind == "prev_out":
            q[i] = prev_out[i]
        elif kind == "nan":
            q[i, int(rng.integers(4))] = np.nan
        elif kind == "inf":
            q[i, int(rng.integers(4))] = np.inf * rng.choice([-1.0, 1.0])
        elif kind == "zero":
            q[i] = 0.0
        elif kind == "signed":
            q[i] = [-0.0, 0.0, -0.0, -1.0] if rng.random() < 0.5 else [1.0, -0.0, -0.0, 0.0]
    return q


_STEP = st.tuples(
    st.sampled_from(["same", "same", "same", "random", "all", "reset"]),
    _DT,
    st.lists(_KIND, min_size=8, max_size=8),
)


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(1, 8),
    t0=st.sampled_from([0.0, 100.0]),
    beta=st.sampled_from([0.0, 0.7, 30.0]),
    steps=st.lists(_STEP, min_size=1, max_size=40),
    seed=st.integers(0, 2**31),
)
def test_rotation_filter_matches_previous_form(
    n: int, t0: float, beta: float, steps: list[tuple[str, float, list[str]]], seed: int
) -> None:
    rng = np.random.default_rng(seed)
    mins, dcs = rng.uniform(0.1, 3.0, n), rng.uniform(0.1, 3.0, n)
    new, old = RotationOneEuro(n, mins, beta, dcs), ref.RotationOneEuro(n, mins, beta, dcs)
    t = t0
    mask = np.ones(n, bool)
    prev_in = prev_out = np.tile([0.0, 0.0, 0.0, 1.0], (n, 1))
    with np.errstate(all="ignore"):
        for how, dt, kinds in steps:
            if how == "reset":
                new.reset()
                old.reset()
                _assert_same_state(new, old)
                continue
            if how == "random":
                mask = rng.random(n) < 0.6
            present = None if how == "all" else mask.copy()
            t += dt
            q = _quats(rng, kinds[:n], prev_in, prev_out)
            a = new(q.copy(), t, present=present)
            b = old(q.copy(), t, present=present)
            assert _same(a, b)
            _assert_same_state(new, old)
            prev_in, prev_out = q, b


def _gate_times(rng: np.random.Generator, n: int, zero: bool) -> tuple[np.ndarray, ...]:
    choice = [0.0, 0.0, 30.0] if zero else [30.0, 100.0, 250.0, 600.0]
    return tuple(rng.choice(choice, n) for _ in range(3))


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(1, 8),
    quaternion=st.booleans(),
    zero_times=st.booleans(),
    steps=st.lists(
        st.tuples(
            st.sampled_from(["same", "same", "same", "random", "flip", "reset"]),
            st.sampled_from([33.0, 33.0, 33.0, 0.0, -10.0, 1e-3, 150.0, 1000.0, math.nan]),
            st.lists(_KIND, min_size=8, max_size=8),
        ),
        min_size=1,
        max_size=60,
    ),
    seed=st.integers(0, 2**31),
)
def test_gate_matches_previous_form(
    n: int, quaternion: bool, zero_times: bool, steps: list[tuple[str, float, list[str]]], seed: int
) -> None:
    rng = np.random.default_rng(seed)
    k = 4 if quaternion else int(rng.integers(1, 4))
    rest = np.tile([0.0, 0.0, 0.0, 1.0], (n, 1)) if quaternion else rng.normal(size=(n, k))
    hold, release, reacq = _gate_times(rng, n, zero_times)
    new = Gate(rest, hold_ms=hold, release_ms=release, reacquire_ms=reacq, quaternion=quaternion)
    old = ref.Gate(rest, hold_ms=hold, release_ms=release, reacquire_ms=reacq, quaternion=quaternion)
    valid = np.zeros(n, bool)
    t = 0.0
    prev_in = prev_out = rest
    with np.errstate(all="ignore"):
        for how, dt, kinds in steps:
            if how == "reset":
                new.reset()
                old.reset()
                _assert_same_state(new, old)
                continue
            if how == "random":
                valid = rng.random(n) < 0.6
            elif how == "flip":
                valid = valid.copy()
                valid[int(rng.integers(n))] ^= True
            t_call = math.nan if math.isnan(dt) else t + dt  # a NaN time: that frame alone
            t = t if math.isnan(dt) else t_call
            if quaternion:
                live = _quats(rng, kinds[:n], prev_in, prev_out)
            else:
                live = rng.normal(size=(n, k))
                live[[i for i, kd in enumerate(kinds[:n]) if kd == "nan"]] = np.nan
                live[[i for i, kd in enumerate(kinds[:n]) if kd == "inf"]] = -np.inf
            a = new(live.copy(), valid.copy(), t_call)
            b = old(live.copy(), valid.copy(), t_call)
            assert _same(a, b)
            assert _same(new.active, old.active) and _same(new.valid, old.valid)
            _assert_same_state(new, old)
            prev_in, prev_out = live, b


@pytest.mark.parametrize("nan_at", [None, 7])
def test_gate_blend_paths_are_all_taken(nan_at: int | None) -> None:
    """Each branch of the quaternion blend: interior weights, endpoints only (held), all 1 (a
    frame past the blend, not yet settled); and a channel whose change came at a NaN time (its
    weight NaN from then on) beside channels blending."""
    rest = np.tile([0.0, 0.0, 0.0, 1.0], (3, 1))
    new = Gate(rest, hold_ms=100.0, release_ms=200.0, reacquire_ms=100.0, quaternion=True)
    old = ref.Gate(rest, hold_ms=100.0, release_ms=200.0, reacquire_ms=100.0, quaternion=True)
    q = Rotation.random(3, random_state=1).as_quat()
    masks = [[1, 1, 1]] * 6 + [[1, 0, 1]] * 12 + [[1, 1, 1]] * 3 + [[0, 1, 1]] * 4 + [[0, 1, 0]] * 12
    with np.errstate(all="ignore"):
        for i, valid in enumerate(masks):
            v = np.array(valid, bool)
            t = 33.0 * i if i != 20 else 33.0 * 18 + 100.5  # the blend from frame 18 just over
            if i == nan_at or (nan_at is not None and i == 21):
                t = math.nan
            assert _same(new(q, v, t), old(q, v, t))
            assert _same(new.active, old.active)
            _assert_same_state(new, old)


# --------------------------------------------------------------------------------- through RigSolver
def _reference_solver(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> RigSolver:
    with monkeypatch.context() as m:
        m.setattr(rig_module, "RotationOneEuro", ref.RotationOneEuro)
        m.setattr(rig_module, "Gate", ref.Gate)
        m.setattr(rig_module, "OneEuroFilter", ref.OneEuroFilter)
        solver = RigSolver(settings)
    assert isinstance(solver._gate_rots, ref.Gate)
    return solver


def _assert_same_rig(a: RigFrame, b: RigFrame) -> None:
    for name in ("blendshapes", "head_rotation", "head_position", "head_ypr", "eyes", "bone_rotations",
                 "bone_positions", "bone_valid", "hips_position"):  # fmt: skip
        assert _same(np.asarray(getattr(a, name)), np.asarray(getattr(b, name))), name
    assert (a.face_state, a.body_state, a.hand_states) == (b.face_state, b.body_state, b.hand_states)
    assert a.target is not None and b.target is not None
    assert _same(a.target.rotations, b.target.rotations)


def _assert_same_solvers(new: RigSolver, old: RigSolver) -> None:
    for name in ("_lm_filter", "_pos_filter", "_rot_filter", "_gate_vals", "_gate_rots"):
        _assert_same_state(getattr(new, name), getattr(old, name))


def _run(frames: list[TrackedFrame], settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    new, old = RigSolver(settings), _reference_solver(settings, monkeypatch)
    for f in frames:
        _assert_same_rig(new.solve(f), old.solve(f))
        _assert_same_solvers(new, old)


def _synthetic(rng: np.random.Generator, n: int) -> list[TrackedFrame]:
    """Parts coming and going in runs (hands for a few frames, gone for a few), the odd repeated,
    1 ms or late timestamp (the solver's clock never goes back)."""
    frames, t = [], 0
    here = {"pose": True, "face": True, "Left": False, "Right": True}
    for i in range(n):
        for part in here:
            if rng.random() < 0.12:
                here[part] = not here[part]
        t += int(rng.choice([33, 33, 33, 33, 0, 1, 200]))
        pose = pose_obs(tpose_internal() + rng.normal(0.0, 0.03, (33, 3)), vis=0.99) if here["pose"] else None
        m = np.eye(4)
        m[:3, :3] = Rotation.from_rotvec(rng.normal(0.0, 0.2, 3)).as_matrix()
        m[:3, 3] = (rng.normal(0.0, 2.0), rng.normal(0.0, 2.0), -50.0 + rng.normal(0.0, 2.0))
        face = face_obs(rng.uniform(0.0, 1.0, 52), m) if here["face"] else None
        sides = [s for s in ("Left", "Right") if here[s]]
        hands = [hand_obs(s, curled_hand(rng, s, rng.uniform(0.0, 1.0))) for s in sides]
        frames.append(frame(i, t, pose=pose, face=face, hands=hands))
    return frames


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rig_solver_matches_previous_filters_on_synthetic_streams(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(_synthetic(np.random.default_rng(seed), 300), Settings(), monkeypatch)


def test_rig_solver_matches_previous_filters_with_quick_gates(monkeypatch: pytest.MonkeyPatch) -> None:
    s = Settings()
    s = s.replace("hands", hold_ms=0.0, release_ms=50.0, reacquire_ms=0.0)
    s = dataclasses.replace(s, gating=dataclasses.replace(s.gating, hold_ms=0.0, reacquire_ms=33.0))
    _run(_synthetic(np.random.default_rng(5), 300), s, monkeypatch)


@pytest.fixture(scope="module")
def footage(model_paths: dict[str, Path]) -> list[TrackedFrame]:
    """fist_thumbs_up.mp4 and asl_hand.mp4 tracked, one after the other in time, each lone hand's
    mirror image added as a second hand in runs of frames (hands appear and disappear), looped
    twice so the filters see one long stream."""
    frames: list[TrackedFrame] = []
    for name in ("fist_thumbs_up.mp4", "asl_hand.mp4"):
        for f in track_clip(media(name)):
            if len(f.hands) == 1 and (f.index // 7) % 2:
                f = dataclasses.replace(f, hands=(f.hands[0], mirror_hand(f.hands[0])))
            frames.append(f)
    out: list[TrackedFrame] = []
    t = 0
    for _ in range(2):
        for f in frames:
            t += 33
            out.append(dataclasses.replace(f, t_ms=t, index=len(out)))
    assert sum(len(f.hands) == 2 for f in out) > 20 and sum(len(f.hands) == 0 for f in out) > 0
    return out


def test_rig_solver_matches_previous_filters_on_footage(
    footage: list[TrackedFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(footage, Settings(), monkeypatch)
