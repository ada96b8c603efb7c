"""Synthetic TrackedFrames for solver tests (not a test module)."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from mocap_bridge.frames import (
    FaceObservation,
    HandObservation,
    PartStatus,
    PoseObservation,
    TrackedFrame,
)

# Internal frame: +X subject's left, +Y up, +Z toward the camera. MediaPipe world = (x, -y, -z).
TPOSE = {
    0: (0.0, 0.58, 0.10), 7: (0.08, 0.58, 0.0), 8: (-0.08, 0.58, 0.0),
    11: (0.18, 0.45, 0.0), 12: (-0.18, 0.45, 0.0),
    13: (0.46, 0.45, 0.0), 14: (-0.46, 0.45, 0.0),
    15: (0.72, 0.45, 0.0), 16: (-0.72, 0.45, 0.0),
    17: (0.80, 0.45, -0.03), 18: (-0.80, 0.45, -0.03),
    19: (0.80, 0.45, 0.03), 20: (-0.80, 0.45, 0.03),
    21: (0.76, 0.45, 0.05), 22: (-0.76, 0.45, 0.05),
    23: (0.10, 0.0, 0.0), 24: (-0.10, 0.0, 0.0),
    25: (0.10, -0.45, 0.0), 26: (-0.10, -0.45, 0.0),
    27: (0.10, -0.88, 0.0), 28: (-0.10, -0.88, 0.0),
    29: (0.10, -0.93, -0.05), 30: (-0.10, -0.93, -0.05),
    31: (0.10, -0.93, 0.15), 32: (-0.10, -0.93, 0.15),
}  # fmt: skip


def tpose_internal() -> np.ndarray:
    p = np.zeros((33, 3))
    for i, v in TPOSE.items():
        p[i] = v
    for i in range(1, 7):  # eyes near the ears
        p[i] = (0.03 * (1 if i < 4 else -1), 0.62, 0.08)
    for i in (9, 10):
        p[i] = (0.02 * (1 if i == 9 else -1), 0.55, 0.09)
    return p


def pose_obs(internal: np.ndarray, vis: float = 0.99) -> PoseObservation:
    world = (internal * np.array([1.0, -1.0, -1.0])).astype(np.float32)
    lm = np.zeros((33, 5), np.float32)
    lm[:, 0] = 0.5 + world[:, 0] * 0.3
    lm[:, 1] = 0.5 + world[:, 1] * 0.3
    lm[:, 3] = vis
    lm[:, 4] = vis
    return PoseObservation(landmarks=lm, world=world)


def flat_hand_internal(side: str) -> np.ndarray:
    """Flat hand in T-pose orientation (fingers along ±X, thumb toward +Z), metres, internal."""
    s = 1.0 if side == "Left" else -1.0
    p = np.zeros((21, 3))
    base_z = {5: 0.02, 9: 0.0, 13: -0.02, 17: -0.04}
    for mcp, z in base_z.items():
        for k in range(4):
            p[mcp + k] = (s * (0.09 + 0.03 * k), 0.0, z)
    for k in range(4):  # thumb along the 45° rest direction
        p[1 + k] = (s * (0.02 + 0.025 * k), 0.0, 0.03 + 0.025 * k)
    return p


def hand_obs(side: str, internal: np.ndarray | None = None) -> HandObservation:
    p = flat_hand_internal(side) if internal is None else internal
    world = (p * np.array([1.0, -1.0, -1.0])).astype(np.float32)
    return HandObservation(label=side, score=0.95, landmarks=np.full((21, 3), 0.5, np.float32) + world * 0.5,
                           world=world)  # fmt: skip


def face_obs(blend: np.ndarray | None = None, matrix: np.ndarray | None = None) -> FaceObservation:
    m = np.eye(4) if matrix is None else matrix
    if matrix is None:
        m[2, 3] = -50.0
    lm = np.random.default_rng(0).uniform(0.4, 0.6, (478, 3)).astype(np.float32)
    bs = np.zeros(52, np.float32) if blend is None else blend.astype(np.float32)
    return FaceObservation(landmarks=lm, blendshapes=bs, matrix=m)


def frame(i: int, t_ms: int, *, pose=None, face=None, hands=()) -> TrackedFrame:  # type: ignore[no-untyped-def]
    st = tuple(PartStatus.FOUND if x else PartStatus.NOT_FOUND for x in (pose, face, hands))
    return TrackedFrame(index=i, t_ms=t_ms, pose=pose, face=face, hands=tuple(hands), status=st)  # type: ignore[arg-type]


def random_rotation(rng: np.random.Generator) -> Rotation:
    return Rotation.random(random_state=int(rng.integers(1 << 30)))


def curled_hand(rng: np.random.Generator, side: str, curl: float) -> np.ndarray:
    """A flat hand with random finger curls (rotation vectors ~ N(0, curl)), a random orientation
    and 2 mm jitter, in the internal frame."""
    p = flat_hand_internal(side)
    for mcp in (1, 5, 9, 13, 17):
        for k in range(3):
            pivot = p[mcp + k].copy()
            r = Rotation.from_rotvec(rng.normal(0.0, curl, 3))
            p[mcp + k + 1 : mcp + 4] = r.apply(p[mcp + k + 1 : mcp + 4] - pivot) + pivot
    out: np.ndarray = random_rotation(rng).apply(p) + rng.normal(0.0, 0.002, p.shape)
    return out


def synthetic(i: int, rng: np.random.Generator) -> TrackedFrame:
    """A random frame (pose, a face two frames in three, one hand) with every status, for recordings."""
    f32 = np.float32
    return TrackedFrame(
        index=i,
        t_ms=1000 + 33 * i,
        pose=PoseObservation(rng.random((33, 5), dtype=f32), rng.standard_normal((33, 3), dtype=f32)),
        face=None if i % 3 == 0 else FaceObservation(
            rng.random((478, 3), dtype=f32), rng.random(52, dtype=f32), rng.standard_normal((4, 4))
        ),
        hands=(HandObservation("Left", float(rng.random()), rng.random((21, 3), dtype=f32),
                               rng.standard_normal((21, 3), dtype=f32)),),
        status=(PartStatus.FOUND, PartStatus.NOT_FOUND if i % 3 == 0 else PartStatus.FOUND,
                PartStatus.MISSING),
        result_ms=(1010.5 + i, None, None),
    )  # fmt: skip
