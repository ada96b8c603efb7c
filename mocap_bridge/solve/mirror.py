"""Mirroring a solved rig: left <-> right, reflected across the body's sagittal plane (x -> −x).

The usual way to mirror is ``--mirror`` at capture: the image is flipped before tracking and the
whole TrackedFrame then describes the mirror image consistently (frames.py policy). :func:`mirror_rig`
does the same to an already solved RigFrame (e.g. to replay a recording mirrored): bones, blendshapes,
eyes, head and hand states swap sides, and every rotation is reflected, which for a quaternion in
the internal frame is ``(x, −y, −z, w)``. ``RigFrame.tracked`` is left as it was.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy.typing as npt

from ..frames import HUMAN_BONE_NAMES, HandObservation, HumanBone, PoseObservation, RigFrame
from .face import SWAP_LR

__all__ = ["BONE_SWAP", "POSE_SWAP", "mirror_hand", "mirror_pose", "mirror_rig"]


def _swap(name: str) -> str:
    if name.startswith("Left"):
        return "Right" + name[4:]
    if name.startswith("Right"):
        return "Left" + name[5:]
    return name


#: HumanBone permutation exchanging Left* and Right*.
BONE_SWAP: npt.NDArray[np.intp] = np.array([HumanBone[_swap(n)] for n in HUMAN_BONE_NAMES])
#: MediaPipe pose landmark permutation exchanging left and right points.
POSE_SWAP: npt.NDArray[np.intp] = np.array(
    [0, 4, 5, 6, 1, 2, 3, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15, 18, 17, 20, 19, 22, 21, 24, 23,
     26, 25, 28, 27, 30, 29, 32, 31]
)  # fmt: skip
_QREF = np.array([1.0, -1.0, -1.0, 1.0])
_PREF = np.array([-1.0, 1.0, 1.0])


def mirror_rig(rig: RigFrame) -> RigFrame:
    """The mirror image of ``rig`` (an involution: mirroring twice gives the original)."""
    eyes = rig.eyes[::-1].copy()
    eyes[:, 0] *= -1.0
    return dataclasses.replace(
        rig,
        blendshapes=rig.blendshapes[SWAP_LR].copy(),
        head_rotation=rig.head_rotation * _QREF,
        head_position=rig.head_position * _PREF,
        head_ypr=rig.head_ypr * np.array([-1.0, 1.0, -1.0]),
        eyes=eyes,
        bone_rotations=rig.bone_rotations[BONE_SWAP] * _QREF,
        bone_positions=rig.bone_positions[BONE_SWAP] * _PREF,
        bone_valid=rig.bone_valid[BONE_SWAP].copy(),
        hips_position=rig.hips_position * _PREF,
        hand_states=(rig.hand_states[1], rig.hand_states[0]),
    )


def mirror_pose(pose: PoseObservation) -> PoseObservation:
    """What the pose landmarker reports for the mirrored image: x flipped, sides exchanged."""
    lm = pose.landmarks[POSE_SWAP].copy()
    lm[:, 0] = 1.0 - lm[:, 0]
    world = pose.world[POSE_SWAP].copy()
    world[:, 0] *= -1.0
    return PoseObservation(landmarks=lm, world=world)


def mirror_hand(hand: HandObservation) -> HandObservation:
    """The other hand, as if seen in the mirrored image: x flipped, world x negated, label swapped."""
    lm = hand.landmarks.copy()
    lm[:, 0] = 1.0 - lm[:, 0]
    world = hand.world.copy()
    world[:, 0] = -world[:, 0]
    return HandObservation("Right" if hand.label == "Left" else "Left", hand.score, lm, world)
