"""``BodySolver.solve`` against its previous form (tests/reference_optbody.py), bit for bit.

The torso frames and limb twist references were moved to plain floats and the per-frame numpy
calls cut (the overhead after MediaPipe); every step keeps its operations and their order, so
rotations, driven mask and hips must be the same bytes (NaNs: in the same places). Checked on
hypothesis inputs (degenerate and zero-length segments, NaN/inf/huge coordinates, float32
landmarks, gated landmarks, head and hands given or absent, upper-body mode, one solver reused
across calls) and on what a RigSolver feeds the body solve for real MediaPipe footage.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
import reference_optbody
from conftest import media
from handmedia import track_clip
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.transform import Rotation
from synth import tpose_internal

from mocap_bridge.settings import Settings
from mocap_bridge.solve.body import BodySolver
from mocap_bridge.solve.rig import RigSolver

F64 = npt.NDArray[np.float64]
FLIP = np.array([1.0, -1.0, -1.0])
# one solver of each kind per mode, reused: state left by one call must not leak into the next
NEW = {ub: BodySolver(upper_body=ub) for ub in (False, True)}
OLD = {ub: reference_optbody.BodySolver(upper_body=ub) for ub in (False, True)}
SPECIAL = st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e300, -1e-300, 1e-12])


def _assert_same(
    world: npt.ArrayLike,
    ok: npt.NDArray[np.bool_],
    upper: bool,
    head: F64 | None,
    hands: tuple[F64 | None, F64 | None],
) -> None:
    new = NEW[upper].solve(world, ok, head_global=head, hand_frames=hands)
    old = OLD[upper].solve(world, ok, head_global=head, hand_frames=hands)
    for a, b in zip(new, old, strict=True):
        assert (a.dtype, a.shape) == (b.dtype, b.shape)
        assert _canonical(a).tobytes() == _canonical(b).tobytes()


def _canonical(a: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
    """``a`` with every NaN made the same NaN: a NaN's sign and payload are not part of the result
    (numpy's loops may take either operand's NaN; once an inf or NaN landmark meets the zero weights
    of the landmark matmul every output is NaN, so only where NaNs are is compared for those)."""
    if a.dtype.kind != "f":
        return a
    out = a.copy()
    out[np.isnan(out)] = np.nan
    return out


@st.composite
def _world(draw: st.DrawFn) -> npt.NDArray[np.floating]:
    scale = draw(st.sampled_from([0.0, 0.01, 0.1, 0.5]))
    noise = draw(arrays(np.float64, (33, 3), elements=st.floats(-1.0, 1.0)))
    w: npt.NDArray[np.floating] = (tpose_internal() + scale * noise) * FLIP
    for i, j in draw(st.lists(st.tuples(st.integers(0, 32), st.integers(0, 32)), max_size=6)):
        w[i] = w[j]  # zero-length segments, collinear secondaries
    for i, k, v in draw(st.lists(st.tuples(st.integers(0, 32), st.integers(0, 2), SPECIAL), max_size=3)):
        w[i, k] = v
    if draw(st.booleans()):
        with np.errstate(over="ignore"):
            w = w.astype(np.float32)  # what MediaPipe gives
    return w


def _rotation(draw: st.DrawFn) -> Rotation:
    v = draw(arrays(np.float64, 4, elements=st.floats(-1.0, 1.0)))
    if np.linalg.norm(v) < 1e-3:
        v[3] = 1.0
    return Rotation.from_quat(v)


@st.composite
def _head(draw: st.DrawFn) -> F64 | None:
    kind = draw(st.sampled_from(["none", "unit", "half turn", "identity"]))
    if kind == "none":
        return None
    if kind == "identity":
        return np.array([0.0, 0.0, 0.0, 1.0])
    q: F64 = _rotation(draw).as_quat()
    if kind == "half turn":
        q[3] = 0.0
        q /= max(float(np.linalg.norm(q)), 1e-300)
    return q


@st.composite
def _hand(draw: st.DrawFn) -> F64 | None:
    kind = draw(st.sampled_from(["none", "rotation", "identity", "degenerate"]))
    if kind == "none":
        return None
    if kind == "identity":
        return np.eye(3)
    m: F64 = _rotation(draw).as_matrix()
    if kind == "degenerate":
        m[:, 2] = 0.0  # a zero thumb-side column
    return m


@settings(max_examples=600, deadline=None)
@given(
    world=_world(),
    ok=arrays(np.bool_, 33, elements=st.booleans() | st.just(True)),
    upper=st.booleans(),
    head=_head(),
    hands=st.tuples(_hand(), _hand()),
)
def test_body_solve_is_bit_for_bit_on_synthetic_input(
    world: npt.NDArray[np.floating],
    ok: npt.NDArray[np.bool_],
    upper: bool,
    head: F64 | None,
    hands: tuple[F64 | None, F64 | None],
) -> None:
    with np.errstate(all="ignore"):
        _assert_same(world, ok, upper, head, hands)


@pytest.mark.parametrize("clip", ["fist_thumbs_up.mp4", "dance_full_body_synthetic.mp4"])
def test_body_solve_is_bit_for_bit_on_footage(clip: str, model_paths: object) -> None:
    """What a RigSolver feeds the body solve for real footage, and the same landmarks with the head
    and each hand frame dropped or swapped in, in both modes."""
    frames = track_clip(media(clip))
    calls: list[tuple[F64, npt.NDArray[np.bool_], F64 | None, tuple[F64 | None, F64 | None]]] = []

    class Recording(BodySolver):
        def solve(  # type: ignore[override]
            self,
            world_mp: F64,
            joint_ok: npt.NDArray[np.bool_],
            *,
            head_global: F64 | None = None,
            hand_frames: tuple[F64 | None, F64 | None] = (None, None),
        ) -> tuple[F64, npt.NDArray[np.bool_], F64]:
            calls.append((world_mp.copy(), joint_ok.copy(), head_global, hand_frames))
            return super().solve(world_mp, joint_ok, head_global=head_global, hand_frames=hand_frames)

    rig = RigSolver(Settings())
    rig._body = Recording(upper_body=False)
    for f in frames:
        rig.solve(f)
    assert len(calls) > 50
    seen = [hf for _, _, _, hands in calls for hf in hands if hf is not None]
    heads = [h for _, _, h, _ in calls if h is not None]
    for k, (world, ok, head, hands) in enumerate(calls):
        other_head = heads[k % len(heads)] if heads else None
        other_hand = seen[k % len(seen)] if seen else None
        for upper in (False, True):
            _assert_same(world, ok, upper, head, hands)
            _assert_same(world, ok, upper, None if head is not None else other_head, (None, None))
            _assert_same(world, ok, upper, head, (other_hand, hands[0]))
