"""The per-frame hand and eye stages against their reference forms (tests/reference_stages.py).

The handedness resolver, the gesture classifier and the eye solver were rewritten in plain floats
(and the edge test of the hand-entry gate shortened) for speed (issue 8: the overhead after
MediaPipe). Each must give what its numpy form gave:

* handedness: the same labels, order and hands, frame after frame (the arithmetic is the same, in
  the same order: bit for bit);
* gestures: the same classes, and bends, extensions and scores within 1e-9 (numpy's einsum,
  arccos and matmul round differently from plain floats, by ~1e-12 at most);
* eyes: the same blinks, gaze, eyeLook* shapes and holds within 1e-12;
* the hand-entry edge test (from the landmarks' extremes): the same verdicts;
* a whole RigSolver with the reference stages swapped in: the same rig frames.

On synthetic streams built to cross every rule's threshold and on real MediaPipe footage.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import media
from handmedia import clip_aspect, track_clip
from reference_stages import (
    ReferenceEyeSolver,
    ReferenceHandednessResolver,
    _box_size,
    _xy,
    reference_apply_mediapipe,
    reference_classify,
    reference_count_label_flips,
    reference_finger_states,
    reference_touches_border,
)
from synth import curled_hand

from mocap_bridge.filters.hand_entry import touches_border
from mocap_bridge.frames import Gesture, HandObservation, PoseObservation, RigFrame, TrackedFrame
from mocap_bridge.settings import Settings
from mocap_bridge.solve import gestures as gestures_module
from mocap_bridge.solve.eyes import EyeSettings, EyeSolver, EyeState
from mocap_bridge.solve.face import arkit_from_mediapipe
from mocap_bridge.solve.gestures import GestureSettings, classify, finger_states
from mocap_bridge.solve.handedness import (
    HandednessResolver,
    HandednessSettings,
    _hand_points,
    count_label_flips,
    hand_size,
)
from mocap_bridge.solve.mirror import mirror_hand
from mocap_bridge.solve.rig import RigSolver

F32 = np.float32
ASPECTS = (1.0, 16 / 9)


@pytest.fixture(scope="module")
def fist(model_paths: dict[str, Path]) -> tuple[list[TrackedFrame], float]:
    """fist_thumbs_up.mp4 tracked, with each lone hand's mirror image added as a second hand in
    every other frame (so one- and two-hand frames both come from footage)."""
    path = media("fist_thumbs_up.mp4")
    frames = track_clip(path)
    out = [
        dataclasses.replace(f, hands=(f.hands[0], mirror_hand(f.hands[0])))
        if len(f.hands) == 1 and f.index % 2
        else f
        for f in frames
    ]
    assert sum(len(f.hands) == 2 for f in out) > 20 and sum(len(f.hands) == 1 for f in out) > 20
    return out, clip_aspect(path)


# ------------------------------------------------------------------------------------ handedness
def _synthetic_hand(rng: np.random.Generator, x: float, y: float, label: str) -> HandObservation:
    size = rng.uniform(0.05, 0.2)
    lm = np.empty((21, 3), F32)
    lm[:, 0] = x + rng.normal(0.0, size / 3, 21)
    lm[:, 1] = y - rng.uniform(0.0, size, 21)
    lm[:, 2] = rng.normal(0.0, 0.02, 21)
    lm[0, :2] = (x, y)
    world = rng.normal(0.0, 0.05, (21, 3)).astype(F32)
    return HandObservation(label, float(rng.uniform(0.5, 1.0)), lm, world)


def _synthetic_pose(rng: np.random.Generator, wrists: np.ndarray) -> PoseObservation:
    lm = rng.random((33, 5)).astype(F32)
    lm[:, 3:] = rng.uniform(0.6, 1.0)
    span = rng.choice([0.01, 0.3])  # shoulders on top of each other (no body) or apart
    lm[11, :2], lm[12, :2] = (0.5 + span / 2, 0.4), (0.5 - span / 2, 0.4)
    for side, rows in ((0, (15, 17, 19, 21)), (1, (16, 18, 20, 22))):
        for r in rows:
            lm[r, :2] = wrists[side] + rng.normal(0.0, 0.02, 2)
        lm[rows[0], 3] = rng.choice([0.2, 0.9])  # an unsure wrist now and then
    return PoseObservation(lm, rng.normal(0.0, 0.3, (33, 3)).astype(F32))


def _handedness_stream(rng: np.random.Generator, n: int) -> Iterator[TrackedFrame]:
    """Two wrists wandering, hands near them (or anywhere) with labels often wrong, hands coming
    and going, poses lost and unsure, time gaps past the track timeout."""
    wrists = np.array([[0.7, 0.6], [0.3, 0.6]])
    t = 0
    for i in range(n):
        t += 33 if rng.random() > 0.03 else 700
        wrists = np.clip(wrists + rng.normal(0.0, 0.03, (2, 2)), 0.05, 0.95)
        if rng.random() < 0.05:
            wrists = wrists[::-1].copy()  # the arms cross
        hands = []
        for side in rng.permutation(2)[: rng.choice(4, p=[0.15, 0.35, 0.4, 0.1])]:
            x, y = wrists[side] + rng.normal(0.0, 0.04, 2) if rng.random() < 0.85 else rng.random(2)
            label = ("Left", "Right")[side if rng.random() < 0.7 else 1 - side]
            hands.append(_synthetic_hand(rng, float(x), float(y), label))
        if len(hands) < 3 and rng.random() < 0.02:
            x, y = rng.random(2).tolist()
            hands.append(_synthetic_hand(rng, x, y, "Left"))  # a third hand: at most two are kept
        pose = _synthetic_pose(rng, wrists) if rng.random() < 0.85 else None
        yield TrackedFrame(i, t, pose=pose, hands=tuple(hands))


def _same_hands(a: TrackedFrame, b: TrackedFrame) -> None:
    assert [(h.label, h.score) for h in a.hands] == [(h.label, h.score) for h in b.hands]
    for ha, hb in zip(a.hands, b.hands, strict=True):
        assert ha.landmarks is hb.landmarks and ha.world is hb.world


@pytest.mark.parametrize("aspect", ASPECTS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_handedness_matches_reference_on_synthetic_streams(seed: int, aspect: float) -> None:
    settings = HandednessSettings(switch_frames=2, label_tau_ms=200.0)
    fast, ref = HandednessResolver(settings), ReferenceHandednessResolver(settings)
    frames = list(_handedness_stream(np.random.default_rng(seed), 600))
    sides = set()
    for f in frames:
        a, b = fast.resolve(f, aspect=aspect), ref.resolve(f, aspect=aspect)
        _same_hands(a, b)
        given = {id(h.landmarks): h.label for h in f.hands}
        sides |= {(h.label, h.label == given[id(h.landmarks)]) for h in a.hands}
    assert len(sides) == 4, "the stream relabels hands both ways and keeps labels both ways"
    assert count_label_flips(frames, aspect=aspect) == reference_count_label_flips(frames, aspect=aspect)


@pytest.mark.parametrize("aspect", ASPECTS)
def test_handedness_costs_are_the_reference_costs_bit_for_bit(aspect: float) -> None:
    fast, ref = HandednessResolver(), ReferenceHandednessResolver()
    n = 0
    for f in _handedness_stream(np.random.default_rng(5), 300):
        if f.pose is None:
            continue
        sides = fast._pose_sides(f.pose, aspect)
        for h in f.hands:
            hp = _xy(h.landmarks, aspect)
            want_costs, want_win = ref._pose_costs(hp, _box_size(hp), f.pose, aspect)
            costs, win = fast._pose_costs(_hand_points(h, aspect), sides)
            assert costs == (want_costs["Left"], want_costs["Right"])
            assert win == (want_win["Left"], want_win["Right"])
            assert hand_size(h, aspect) == _box_size(hp)
            n += 1
    assert n > 300


def test_handedness_matches_reference_on_footage(fist: tuple[list[TrackedFrame], float]) -> None:
    frames, asp = fist
    fast, ref = HandednessResolver(), ReferenceHandednessResolver()
    for f in frames:
        _same_hands(fast.resolve(f, aspect=asp), ref.resolve(f, aspect=asp))
    assert count_label_flips(frames, aspect=asp) == reference_count_label_flips(frames, aspect=asp)


# ------------------------------------------------------------------------------------ hand entry
def test_touches_border_matches_reference() -> None:
    """Hands inside, across and beyond the edges, NaN landmarks, margins as float32 values."""
    rng = np.random.default_rng(6)
    seen = set()
    for i in range(4000):
        lm = (rng.random((21, 3)) * rng.uniform(0.2, 1.1) + rng.uniform(-0.1, 0.5)).astype(F32)
        if i % 7 == 0:
            lm[rng.integers(21), rng.integers(2)] = np.nan
        if i % 101 == 0:
            lm[:] = np.nan
        margin = float(rng.choice([0.0, 0.02, float(F32(0.02)), float(lm[rng.integers(21), 0])]))
        for count in (1, 2, 5):
            got = touches_border(lm, margin, count)
            assert got == reference_touches_border(lm, margin, count)
            seen.add(got)
    assert seen == {True, False}


# -------------------------------------------------------------------------------------- gestures
def _gesture_hands(rng: np.random.Generator, n: int) -> Iterator[np.ndarray]:
    """Normalised landmarks of curled hands seen from anywhere, random clouds, and degenerate hands
    (every point on one spot: zero-length segments).

    Not here: three exactly collinear landmarks. There a joint's cosine is ±1 up to rounding and
    acos turns numpy's last-bit difference from plain floats into up to ~1e-6° (its slope is
    infinite at ±1); both forms are then as far from the exact angle as each other.
    """
    for i in range(n):
        kind = i % 10
        if kind < 7:
            world = curled_hand(rng, "Left" if i % 2 else "Right", rng.uniform(0.0, 1.5))
            yield (0.5 + world * rng.uniform(1.0, 4.0) * np.array([1.0, -1.0, -1.0])).astype(F32)
        elif kind < 9:
            yield rng.random((21, 3)).astype(F32)
        else:
            yield np.repeat(rng.random((1, 3)), 21, axis=0).astype(F32)


def _assert_states_match(lm: np.ndarray, s: GestureSettings, aspect: float) -> None:
    a, b = finger_states(lm, s, aspect=aspect), reference_finger_states(lm, s, aspect=aspect)
    np.testing.assert_allclose(a.bend_deg, b.bend_deg, rtol=0.0, atol=1e-9)
    np.testing.assert_allclose(a.extension, b.extension, rtol=0.0, atol=1e-9)
    for field in ("thumb_protrusion", "thumb_up", "index_up"):
        assert abs(getattr(a, field) - getattr(b, field)) <= 1e-9, field
    hand = HandObservation("Left", 0.9, lm, lm)
    (ga, sa), (gb, sb) = classify(hand, s, aspect=aspect), reference_classify(hand, s, aspect=aspect)
    assert ga is gb
    assert abs(sa - sb) <= 1e-9


@pytest.mark.parametrize("aspect", ASPECTS)
def test_finger_states_and_classes_match_reference_on_synthetic_hands(aspect: float) -> None:
    rng = np.random.default_rng(3)
    loose = GestureSettings(min_score=0.2, up_cos=0.5)
    for lm in _gesture_hands(rng, 1500):
        _assert_states_match(lm, GestureSettings(), aspect)
        _assert_states_match(lm, loose, aspect)


def test_finger_states_and_classes_match_reference_on_footage(fist: tuple[list[TrackedFrame], float]) -> None:
    frames, asp = fist
    seen = set()
    for f in frames:
        for h in f.hands:
            _assert_states_match(h.landmarks, GestureSettings(), asp)
            seen.add(classify(h, aspect=asp)[0])
    assert {Gesture.Closed_Fist, Gesture.Thumb_Up} <= seen, seen


# ------------------------------------------------------------------------------------------ eyes
EYE_SETTINGS = [
    EyeSettings(),
    EyeSettings(link_blinks=False, blink_curve=2.0, gaze_release_ms=0.0),
    EyeSettings(wink=True, wink_margin=0.2, blink_curve=0.5, gaze_hold_blink=0.5),
    EyeSettings(gaze_source="iris", iris_neutral=((0.05, -0.02), (0.01, 0.03))),
]


def _same_state(a: EyeState, b: EyeState) -> None:
    for field in ("blink", "gaze", "look"):
        x, y = getattr(a, field), getattr(b, field)
        assert x.shape == y.shape and x.dtype == y.dtype, field
        np.testing.assert_allclose(x, y, rtol=0.0, atol=1e-12, err_msg=field)
    assert a.held == b.held and a.wink == b.wink


@pytest.mark.parametrize("settings", EYE_SETTINGS, ids=["default", "free_curve", "wink", "iris"])
def test_eye_solver_matches_reference_on_synthetic_blinks(settings: EyeSettings) -> None:
    rng = np.random.default_rng(4)
    fast, ref, via_mp = EyeSolver(settings), ReferenceEyeSolver(settings), EyeSolver(settings)
    t, held = 0.0, set()
    for i in range(1500):
        t += 33.0 if i % 50 else 500.0
        mp = rng.random(52).astype(F32)
        blinks = rng.choice([0.05, 0.3, 0.7]) + rng.normal(0.0, 0.05, 2)  # open, at the hold, shut
        mp[[9, 10]] = np.clip(blinks, 0.0, 1.0)  # eyeBlinkLeft, eyeBlinkRight (MediaPipe order)
        lm = rng.random((478, 3)).astype(F32)
        if i % 200 == 0:
            for solver in (fast, ref, via_mp):
                solver.reset()
        arkit = arkit_from_mediapipe(mp)
        a = fast.update(arkit, t, landmarks=lm, aspect=1.5)
        b = ref.update(arkit, t, landmarks=lm, aspect=1.5)
        c = via_mp.update_mediapipe(mp, t, landmarks=lm, aspect=1.5)
        _same_state(a, b)
        _same_state(c, b)
        assert np.array_equal(a.apply_mediapipe(mp), reference_apply_mediapipe(b, mp))
        held.add(a.held)
    assert {(True, True), (False, False)} <= held


def test_eye_solver_matches_reference_on_footage(fist: tuple[list[TrackedFrame], float]) -> None:
    frames, asp = fist
    for settings in EYE_SETTINGS:
        fast, ref = EyeSolver(settings), ReferenceEyeSolver(settings)
        for f in frames:
            assert f.face is not None
            bs, lm = f.face.blendshapes, f.face.landmarks
            a = fast.update_mediapipe(bs, float(f.t_ms), landmarks=lm, aspect=asp)
            b = ref.update(arkit_from_mediapipe(bs), float(f.t_ms), landmarks=lm, aspect=asp)
            _same_state(a, b)
            assert np.array_equal(a.apply_mediapipe(bs), reference_apply_mediapipe(b, bs))


# ----------------------------------------------------------------------------------- whole solver
class _ReferenceEyes(ReferenceEyeSolver):
    """The reference eye solver behind the RigSolver's MediaPipe-order call."""

    def update_mediapipe(self, scores: np.ndarray, t_ms: float, **kw: object) -> EyeState:
        return self.update(arkit_from_mediapipe(scores), t_ms, **kw)  # type: ignore[arg-type]


def _assert_same_rig(a: RigFrame, b: RigFrame) -> None:
    for field in ("blendshapes", "head_rotation", "head_position", "eyes", "bone_rotations",
                  "bone_positions", "bone_valid", "hips_position"):  # fmt: skip
        assert np.array_equal(getattr(a, field), getattr(b, field)), field
    assert (a.face_state, a.body_state, a.hand_states) == (b.face_state, b.body_state, b.hand_states)
    for ha, hb in zip(a.tracked.hands, b.tracked.hands, strict=True):
        assert ha.label == hb.label
        assert np.array_equal(ha.landmarks, hb.landmarks) and np.array_equal(ha.world, hb.world)
    for ga, gb in zip(a.gestures, b.gestures, strict=True):
        assert (ga is None) == (gb is None)
        if ga is not None and gb is not None:
            assert (ga.label, ga.hand, ga.since_ms) == (gb.label, gb.hand, gb.since_ms)
            assert abs(ga.score - gb.score) <= 1e-9


def test_rig_solver_with_reference_stages_gives_the_same_frames(
    fist: tuple[list[TrackedFrame], float], monkeypatch: pytest.MonkeyPatch
) -> None:
    frames, _ = fist
    settings = Settings()
    solver = RigSolver(settings)
    fast = [solver.solve(f) for f in frames]
    ref_solver = RigSolver(settings)
    ref_solver._handedness = ReferenceHandednessResolver()  # type: ignore[assignment]
    assert ref_solver._eyes is not None
    ref_solver._eyes = _ReferenceEyes(ref_solver._eyes.settings)  # type: ignore[assignment]
    monkeypatch.setattr(gestures_module, "classify", reference_classify)
    ref = [ref_solver.solve(f) for f in frames]
    assert any(g is not None for r in fast for g in r.gestures)
    for a, b in zip(fast, ref, strict=True):
        _assert_same_rig(a, b)
