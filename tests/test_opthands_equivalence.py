"""The hand stages against their forms before the opthands rewrite (tests/reference_opthands.py).

HandSolver.solve now works in scratch buffers through views made once, and the gesture classifier
sums bends as it goes; each must give the same bits as before, whatever the landmarks: hands absent
(zeros), NaN or infinite world landmarks, zero-length and folded-back bones (the reference path),
degenerate and huge hands, on synthetic hands, on real footage and through a whole RigSolver.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from conftest import media
from handmedia import track_clip
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_opthands import (
    ReferenceHandSolver,
    reference_classify,
    reference_finger_values,
    reference_landmark_rows,
    reference_score_list,
)
from synth import curled_hand, hand_obs, random_rotation

from mocap_bridge.frames import HandObservation, RigFrame, TrackedFrame
from mocap_bridge.settings import Settings
from mocap_bridge.solve import gestures as gestures_module
from mocap_bridge.solve.gestures import GestureSettings, _finger_values, _landmark_rows, _score_list, classify
from mocap_bridge.solve.hands import HandSolver
from mocap_bridge.solve.mirror import mirror_hand
from mocap_bridge.solve.rig import RigSolver

FLIP = np.array([1.0, -1.0, -1.0])
CLIPS = ("fist_thumbs_up.mp4", "asl_hand.mp4", "open_palm_reach.mp4")


def _same_bits(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape and a.dtype == b.dtype
    assert a.tobytes() == b.tobytes()


@pytest.fixture(scope="module")
def clips(model_paths: dict[str, Path]) -> dict[str, list[TrackedFrame]]:
    return {name: track_clip(media(name)) for name in CLIPS}


def _same_rig(a: RigFrame, b: RigFrame) -> None:
    for field in ("blendshapes", "head_rotation", "head_position", "eyes", "bone_rotations",
                  "bone_positions", "bone_valid", "hips_position"):  # fmt: skip
        _same_bits(getattr(a, field), getattr(b, field))
    assert (a.face_state, a.body_state, a.hand_states) == (b.face_state, b.body_state, b.hand_states)
    for ha, hb in zip(a.tracked.hands, b.tracked.hands, strict=True):
        assert (ha.label, ha.score) == (hb.label, hb.score)
        _same_bits(ha.landmarks, hb.landmarks)
        _same_bits(ha.world, hb.world)
    assert a.gestures == b.gestures


# ------------------------------------------------------------------------------------------ hands
_DEFECTS = st.sampled_from(["none", "absent", "nan", "inf", "zero_bone", "folded", "all_same", "huge"])


def _world_hand(rng: np.random.Generator, side: str, defect: str, j: int) -> np.ndarray:
    p: np.ndarray = curled_hand(rng, side, float(rng.uniform(0.0, 1.5))) * FLIP
    if defect == "absent":
        p[:] = 0.0  # what RigSolver passes for a side without a hand
    elif defect == "nan":
        p[j, int(rng.integers(3))] = np.nan
    elif defect == "inf":
        p[j, int(rng.integers(3))] = np.inf * rng.choice([-1.0, 1.0])
    elif defect == "zero_bone":
        p[j] = p[j - 1] if j % 4 != 1 else p[0]  # a segment (or the palm's start) of length zero
    elif defect == "folded":
        if (j - 1) % 4 >= 2:  # a finger segment folded straight back onto its parent: antiparallel
            p[j] = p[j - 1] - (p[j - 1] - p[j - 2]) * rng.uniform(0.2, 2.0)
    elif defect == "all_same":
        p[:] = p[0]
    elif defect == "huge":
        p *= 1e150
    return p


@settings(max_examples=400, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    _DEFECTS,
    _DEFECTS,
    st.integers(1, 20),
    st.booleans(),
)
def test_hand_solve_matches_reference_bit_for_bit(
    seed: int, left: str, right: str, j: int, float32: bool
) -> None:
    rng = np.random.default_rng(seed)
    w = np.stack((_world_hand(rng, "Left", left, j), _world_hand(rng, "Right", right, j)))
    new, ref = HandSolver(), ReferenceHandSolver()
    with np.errstate(all="ignore"):
        if float32:  # RigSolver copies the float32 world landmarks into a float64 array
            w = w.astype(np.float32).astype(np.float64)
        for _ in range(2):  # the scratch buffers carry nothing from one call to the next
            frames, fingers = new.solve(w)
            r_frames, r_fingers = ref.solve(w)
            _same_bits(frames, r_frames)
            _same_bits(fingers, r_fingers)


def test_hand_solve_returns_fresh_arrays() -> None:
    rng = np.random.default_rng(0)
    hs = HandSolver()
    w = np.stack((curled_hand(rng, "Left", 0.5), curled_hand(rng, "Right", 0.5))) * FLIP
    frames, fingers = hs.solve(w)
    kept = frames.copy(), fingers.copy()
    hs.solve(w[::-1].copy())
    _same_bits(frames, kept[0])
    _same_bits(fingers, kept[1])


def test_hand_solve_matches_reference_on_footage(clips: dict[str, list[TrackedFrame]]) -> None:
    new, ref = HandSolver(), ReferenceHandSolver()
    n = 0
    for frames in clips.values():
        for f in frames:
            hands = {h.label: h for h in f.hands}
            if not hands:
                continue
            for mirrored in (False, True):  # one hand, and the same hand on both sides
                w = np.zeros((2, 21, 3))
                for i, side in enumerate(("Left", "Right")):
                    h = hands.get(side) or (next(iter(hands.values())) if mirrored else None)
                    if h is not None:
                        w[i] = h.world
                a, b = new.solve(w), ref.solve(w)
                _same_bits(a[0], b[0])
                _same_bits(a[1], b[1])
                n += 1
    assert n > 200


@pytest.mark.parametrize("two_hands", [False, True])
def test_rig_solver_with_reference_stages_gives_the_same_frames(
    clips: dict[str, list[TrackedFrame]], two_hands: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whole clips through a RigSolver with the old hand solve and classifier, then the new ones
    (with a lone hand's mirror image as the second hand: two-hand frames from footage)."""
    for frames in clips.values():
        if two_hands:
            frames = [
                dataclasses.replace(f, hands=(f.hands[0], mirror_hand(f.hands[0])))
                if len(f.hands) == 1
                else f
                for f in frames
            ]
        ref = RigSolver(Settings())
        ref._hands = ReferenceHandSolver()
        with monkeypatch.context() as m:
            m.setattr(gestures_module, "classify", reference_classify)
            expected = [ref.solve(f) for f in frames]
        fast = RigSolver(Settings())
        for f, b in zip(frames, expected, strict=True):
            _same_rig(fast.solve(f), b)


# --------------------------------------------------------------------------------------- gestures
def _gesture_landmarks(rng: np.random.Generator, defect: str, j: int) -> np.ndarray:
    """Normalised landmarks of a random curled hand (or a degenerate one), float32 as MediaPipe's."""
    p = curled_hand(rng, "Left" if rng.random() < 0.5 else "Right", float(rng.uniform(0.0, 2.0)))
    p = p @ random_rotation(rng).as_matrix().T * rng.uniform(1.0, 4.0) + rng.uniform(0.3, 0.7, 3)
    if defect == "zero_bone":
        p[j] = p[j - 1]
    elif defect == "all_same":
        p[:] = p[0]
    elif defect == "folded" and (j - 1) % 4 >= 2:
        p[j] = p[j - 1] - (p[j - 1] - p[j - 2])
    elif defect == "huge":
        p *= 1e30
    out: np.ndarray = p.astype(np.float32)
    return out


@settings(max_examples=400, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.sampled_from(["none", "zero_bone", "all_same", "folded", "huge"]),
    st.integers(1, 20),
    st.sampled_from([1.0, 16 / 9, 0.5]),
)
def test_gesture_values_and_classes_match_reference_bit_for_bit(
    seed: int, defect: str, j: int, aspect: float
) -> None:
    rng = np.random.default_rng(seed)
    hand = hand_obs("Left")
    hand = HandObservation("Left", 0.9, _gesture_landmarks(rng, defect, j), hand.world)
    gs = GestureSettings()
    rows = _landmark_rows(hand.landmarks, aspect)
    new, ref = (
        _finger_values(rows, gs),
        reference_finger_values(reference_landmark_rows(hand.landmarks, aspect), gs),
    )
    assert repr(new) == repr(ref)  # repr: every float's bits, −0 and NaN included
    assert repr(_score_list(*new[1:], gs)) == repr(reference_score_list(*ref[1:], gs))
    assert repr(classify(hand, gs, aspect=aspect)) == repr(reference_classify(hand, gs, aspect=aspect))


def test_gesture_classes_match_reference_on_footage(clips: dict[str, list[TrackedFrame]]) -> None:
    gs = GestureSettings()
    n = 0
    for frames in clips.values():
        for f in frames:
            for h in f.hands:
                for aspect in (1.0, 16 / 9):
                    rows = _landmark_rows(h.landmarks, aspect)
                    new = _finger_values(rows, gs)
                    assert repr(new) == repr(reference_finger_values(rows, gs))
                    assert repr(classify(h, gs, aspect=aspect)) == repr(
                        reference_classify(h, gs, aspect=aspect)
                    )
                    n += 1
    assert n > 400
