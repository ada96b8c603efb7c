"""Coordinate frames: the one internal frame and tested conversions to each target.

Internal frame (RigFrame, docs/coordinates.md): right-handed, metres, +Y up, +Z toward the
subject's front (toward the camera), +X toward the subject's left. Quaternions are (x, y, z, w).

A target frame is given by a 3×3 axis map ``M`` (target = M @ internal) and a length scale.
Positions convert as ``s * M @ p``. Rotations convert by conjugation, ``R' = M R Mᵀ``; for a
quaternion this is ``v' = det(M) · M v`` on the vector part with ``w`` unchanged, which handles
reflections (det = −1, i.e. a change of handedness) correctly.

| target | handedness / up | position | quaternion |
|---|---|---|---|
| Unity / VMC | left, Y up, m | (−x, y, z) | (x, −y, −z, w) |
| Unreal | left, Z up, X fwd, Y right, cm | 100·(z, −x, y) | (−z, x, −y, w) |
| Blender | right, Z up, faces −Y, m | (x, −z, y) | (x, −z, y, w) |

MediaPipe inputs: pose/hand world landmarks (x image-right, y down, z away from the camera)
become internal ``(x, −y, −z)`` (image-right is the subject's left for an un-mirrored camera facing
the subject). The facial transformation matrix (MediaPipe metric space: x right, y up, camera looking
down −Z, canonical face looking toward +Z) is already aligned with the internal frame; only its
translation is converted from cm to m.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = [
    "BLENDER",
    "MEDIAPIPE_WORLD",
    "POSITION_TO_UNITY",
    "QUATERNION_TO_UNITY",
    "UNITY",
    "UNREAL",
    "AxisMap",
    "mediapipe_world_to_internal",
    "to_blender",
    "to_unity",
    "to_unreal",
]

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class AxisMap:
    """``target = scale * matrix @ internal`` for positions; conjugation for rotations."""

    name: str
    matrix: F64
    scale: float = 1.0
    _det: float = field(init=False, repr=False, compare=False)  # ±1, computed once (per frame: ~5 µs)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_det", float(round(np.linalg.det(self.matrix))))

    @property
    def det(self) -> float:
        return self._det

    def position(self, p: npt.ArrayLike) -> F64:
        """Convert positions (..., 3)."""
        out: F64 = self.scale * (np.asarray(p, dtype=np.float64) @ self.matrix.T)
        return out

    def direction(self, v: npt.ArrayLike) -> F64:
        """Convert direction vectors (..., 3) (no scale)."""
        out: F64 = np.asarray(v, dtype=np.float64) @ self.matrix.T
        return out

    def quaternion(self, q: npt.ArrayLike) -> F64:
        """Convert rotations (..., 4) xyzw by conjugation with the axis map."""
        qa = np.asarray(q, dtype=np.float64)
        vec = self.det * (qa[..., :3] @ self.matrix.T)
        return np.concatenate((vec, qa[..., 3:4]), axis=-1)

    def matrix_rotation(self, r: npt.ArrayLike) -> F64:
        """Convert rotation matrices (..., 3, 3): ``M R Mᵀ``."""
        out: F64 = self.matrix @ np.asarray(r, dtype=np.float64) @ self.matrix.T
        return out


UNITY = AxisMap("unity", np.diag([-1.0, 1.0, 1.0]))
UNREAL = AxisMap("unreal", np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), scale=100.0)
BLENDER = AxisMap("blender", np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]))
#: MediaPipe world landmarks -> internal (an involution: the same map goes back).
MEDIAPIPE_WORLD = AxisMap("mediapipe_world", np.diag([1.0, -1.0, -1.0]))


def mediapipe_world_to_internal(p: npt.ArrayLike) -> F64:
    """MediaPipe world landmarks (x image-right, y down, z away) -> internal (x, −y, −z)."""
    out: F64 = np.asarray(p, dtype=np.float64) * np.array([1.0, -1.0, -1.0])
    return out


def to_unity(position: npt.ArrayLike, rotation: npt.ArrayLike) -> tuple[F64, F64]:
    """Internal (position m, quaternion) -> Unity/VMC (left-handed, Y up, m)."""
    return UNITY.position(position), UNITY.quaternion(rotation)


def to_unreal(position: npt.ArrayLike, rotation: npt.ArrayLike) -> tuple[F64, F64]:
    """Internal -> Unreal (left-handed, Z up, X forward, Y right, cm)."""
    return UNREAL.position(position), UNREAL.quaternion(rotation)


def to_blender(position: npt.ArrayLike, rotation: npt.ArrayLike) -> tuple[F64, F64]:
    """Internal -> Blender (right-handed, Z up, character facing −Y, m)."""
    return BLENDER.position(position), BLENDER.quaternion(rotation)


# Internal → Unity/VMC as per-component factors (a diagonal axis map): positions become (−x, y, z)
# and quaternions (x, −y, −z, w), cheaper per frame than UNITY.position / UNITY.quaternion.
POSITION_TO_UNITY: F64 = np.diag(UNITY.matrix) * UNITY.scale
QUATERNION_TO_UNITY: F64 = np.append(UNITY.det * np.diag(UNITY.matrix), 1.0)
