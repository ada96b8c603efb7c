"""Deterministic RigFrame factory for the broadcast tests (no MediaPipe, no solver)."""

from __future__ import annotations

import numpy as np

from mocap_bridge.frames import (
    FaceObservation,
    HandObservation,
    HumanBone,
    PartStatus,
    PoseObservation,
    RigFrame,
    TrackedFrame,
    Tracking,
)

N_BONES = len(HumanBone)


def rig_frame(
    index: int = 7,
    t_ms: int = 1_000,
    *,
    face: bool = True,
    body: bool = True,
    hands: tuple[str, ...] = ("Left", "Right"),
    valid: tuple[HumanBone, ...] | None = None,
    seed: int = 0,
) -> RigFrame:
    """A frame whose values are distinct and exactly representable in float32.

    ``valid`` lists the bones the solver "drives" (default: all of them when ``body``, none
    otherwise). Values are multiples of 1/64 (float32-exact, so golden bytes are stable).
    """
    rng = np.random.default_rng(seed)

    def q(n: int, lo: int, hi: int) -> np.ndarray:
        return rng.integers(lo, hi, size=n).astype(np.float64) / 64.0

    blend = (q(52, 0, 65)).astype(np.float32)
    blend[51] = 0.0  # tongueOut: MediaPipe has none
    if not face:
        blend[:] = 0.0
    rot = np.array([0.125, -0.25, 0.0625, 0.953125])
    head_ypr = np.array([0.25, -0.125, 0.0625]) if face else np.zeros(3)
    eyes = np.array([[0.1875, 0.3125], [-0.0625, 0.25]]) if face else np.zeros((2, 2))
    bone_rot = q(N_BONES * 4, -32, 33).reshape(N_BONES, 4)
    bone_rot[:, 3] = 1.0
    bone_pos = q(N_BONES * 3, -16, 17).reshape(N_BONES, 3)
    bone_pos[np.all(bone_pos == 0, axis=1), 1] = 0.125  # never all-zero rest offsets
    if valid is None:
        valid = tuple(HumanBone) if body else ()
    bone_valid = np.zeros(N_BONES, dtype=bool)
    bone_valid[[int(b) for b in valid]] = True
    pose = None
    if body:
        lm = q(33 * 5, 0, 65).reshape(33, 5).astype(np.float32)
        pose = PoseObservation(lm, q(33 * 3, -64, 65).reshape(33, 3).astype(np.float32))
    hand_obs = tuple(
        HandObservation(
            label,
            0.875,
            q(63, 0, 65).reshape(21, 3).astype(np.float32),
            q(63, -8, 9).reshape(21, 3).astype(np.float32),
        )
        for label in hands
    )
    face_obs = None
    if face:
        face_obs = FaceObservation(np.zeros((478, 3), np.float32), np.zeros(52, np.float32), np.eye(4))
    found, lost = PartStatus.FOUND, PartStatus.NOT_FOUND
    tracked = TrackedFrame(
        index=index,
        t_ms=t_ms,
        pose=pose,
        face=face_obs,
        hands=hand_obs,
        status=(found if body else lost, found if face else lost, found if hands else lost),
    )
    ok, lost_t = Tracking.OK, Tracking.LOST
    return RigFrame(
        index=index,
        t_ms=t_ms,
        tracked=tracked,
        blendshapes=blend,
        head_rotation=rot if face else np.array([0.0, 0.0, 0.0, 1.0]),
        head_position=np.array([0.015625, -0.03125, 0.0]) if face else np.zeros(3),
        head_ypr=head_ypr,
        eyes=eyes,
        bone_rotations=bone_rot,
        bone_positions=bone_pos,
        bone_valid=bone_valid,
        hips_position=np.array([0.0625, 0.9375, -0.125]) if body else np.zeros(3),
        face_state=ok if face else lost_t,
        body_state=ok if body else lost_t,
        hand_states=(
            ok if "Left" in hands else lost_t,
            ok if "Right" in hands else lost_t,
        ),
    )
