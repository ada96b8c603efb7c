"""Hands: flat hand -> straight fingers; curled finger -> rotation about the expected axis."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation
from synth import flat_hand_internal

from mocap_bridge.frames import HumanBone as HB
from mocap_bridge.solve.hands import FINGER_BONES, HandSolver

FLIP = np.array([1.0, -1.0, -1.0])


def _solve(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w = np.stack((left * FLIP, right * FLIP))
    hs = HandSolver()
    frames = hs.frames(w)
    return frames, hs.fingers(w, frames)


def test_flat_hands_identity() -> None:
    frames, fingers = _solve(flat_hand_internal("Left"), flat_hand_internal("Right"))
    assert np.allclose(frames, np.eye(3), atol=1e-6)
    # straight fingers: intermediate/distal are exactly identity; proximal only the small spread
    ang = Rotation.from_quat(fingers).magnitude()
    assert ang.max() < np.radians(20)
    assert FINGER_BONES[0] == HB.LeftThumbProximal and FINGER_BONES[-1] == HB.RightLittleDistal


def test_curled_index_bends_about_palm_axis() -> None:
    p = flat_hand_internal("Left")
    # bend the index at the PIP by 60° toward the palm (palm faces -Y: rotate about +Z by -60°)
    pip = p[6].copy()
    p[7:9] = Rotation.from_euler("z", -60, degrees=True).apply(p[7:9] - pip) + pip
    _, fingers = _solve(p, flat_hand_internal("Right"))
    q = fingers[list(FINGER_BONES).index(HB.LeftIndexIntermediate)]
    assert np.allclose(Rotation.from_quat(q).as_rotvec(), [0, 0, -np.radians(60)], atol=0.02)
    assert Rotation.from_quat(fingers[list(FINGER_BONES).index(HB.LeftIndexDistal)]).magnitude() < 1e-6


def test_rotated_hand_frame() -> None:
    r = Rotation.from_euler("x", 90, degrees=True)  # palm turned to face the body (thumb up)
    frames, _ = _solve(r.apply(flat_hand_internal("Left")), flat_hand_internal("Right"))
    assert np.allclose(frames[0], r.as_matrix(), atol=1e-6)


def test_mirrored_hand_solves_to_the_reflected_rotations() -> None:
    """mirror_hand (the other hand as the mirrored image shows it) drives the other side's
    fingers with each rotation reflected, (x, −y, −z, w), as solve/mirror.py reflects a rig."""
    from synth import hand_obs

    from mocap_bridge.solve.mirror import mirror_hand

    p = flat_hand_internal("Left")
    pip = p[6].copy()
    p[7:9] = Rotation.from_euler("z", -50, degrees=True).apply(p[7:9] - pip) + pip  # index curled
    p = Rotation.from_euler("xy", [30, -20], degrees=True).apply(p)
    left = hand_obs("Left", p)
    right = mirror_hand(left)
    assert right.label == "Right" and mirror_hand(right).label == "Left"
    assert np.array_equal(mirror_hand(right).landmarks, left.landmarks)
    assert np.array_equal(mirror_hand(right).world, left.world)
    w = np.stack((left.world, right.world)).astype(np.float64)
    hs = HandSolver()
    fingers = hs.fingers(w, hs.frames(w))
    reflected = fingers[:15] * np.array([1.0, -1.0, -1.0, 1.0])
    same_turn = np.abs(np.sum(reflected * fingers[15:], axis=1))  # |dot| = 1: the same rotation
    assert np.allclose(same_turn, 1.0, atol=1e-6)
    assert Rotation.from_quat(fingers[list(FINGER_BONES).index(HB.RightIndexIntermediate)]).magnitude() > 0.5
