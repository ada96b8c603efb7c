"""Head pose from MediaPipe's facial transformation matrix.

The matrix (FaceObservation.matrix) is 4×4, row-major, centimetres, in MediaPipe's right-handed
metric space: x image-right, y up, camera at the origin looking down −Z; the canonical face looks
toward +Z (at the camera) with its own left along +X. For a subject facing an un-mirrored camera
that space *is* the internal frame (+X subject's left, +Y up, +Z toward the camera), so the upper
3×3 is the head's orientation in the internal frame and the last column its position (cm -> m).

Relative to the calibrated neutral (R₀, t₀) the head rotation is ``R₀ᵀ R`` and the position
``R₀ᵀ (t − t₀)``: expressing the change in the neutral head's frame removes a tilted or off-axis
camera. Without calibration R₀ = I and t₀ = (0, 0, −neutral_distance).

``head_ypr`` (Live Link Face convention, docs/livelink.md, head and eyes): the rotation is decomposed as
``Ry(yaw) · Rx(pitch) · Rz(roll)`` in the internal frame, which gives yaw > 0 turning to the
subject's left (+Z toward +X), pitch > 0 looking down (+Z toward −Y), roll > 0 right ear toward
the right shoulder (+Y toward −X).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from .quat import from_matrix_1

__all__ = ["head_from_matrix", "ypr_from_quat"]

F64 = npt.NDArray[np.float64]


def head_from_matrix(matrix: npt.ArrayLike, neutral_r: F64, neutral_t: F64) -> tuple[F64, F64]:
    """(quaternion (4,), position m (3,)) of the head relative to the neutral, internal frame.

    Plain float arithmetic on one 4×4 (a few µs; the numpy form costs ~10× that in call overhead).
    """
    m = np.asarray(matrix, dtype=np.float64).tolist()
    (a00, a01, a02, tx), (a10, a11, a12, ty), (a20, a21, a22, tz) = m[0], m[1], m[2]
    # drop any uniform/axis scale: unit columns
    s0 = math.sqrt(a00 * a00 + a10 * a10 + a20 * a20)
    s1 = math.sqrt(a01 * a01 + a11 * a11 + a21 * a21)
    s2 = math.sqrt(a02 * a02 + a12 * a12 + a22 * a22)
    r = ((a00 / s0, a01 / s1, a02 / s2), (a10 / s0, a11 / s1, a12 / s2), (a20 / s0, a21 / s1, a22 / s2))
    (n00, n01, n02), (n10, n11, n12), (n20, n21, n22) = neutral_r.tolist()
    t0x, t0y, t0z = neutral_t.tolist()
    dx, dy, dz = tx * 0.01 - t0x, ty * 0.01 - t0y, tz * 0.01 - t0z
    # rel = R0ᵀ r, pos = R0ᵀ (t − t0)
    r0, r1, r2 = r
    rel = [
        [n00 * r0[j] + n10 * r1[j] + n20 * r2[j] for j in (0, 1, 2)],
        [n01 * r0[j] + n11 * r1[j] + n21 * r2[j] for j in (0, 1, 2)],
        [n02 * r0[j] + n12 * r1[j] + n22 * r2[j] for j in (0, 1, 2)],
    ]
    pos = [n00 * dx + n10 * dy + n20 * dz, n01 * dx + n11 * dy + n21 * dz, n02 * dx + n12 * dy + n22 * dz]
    return from_matrix_1(rel), np.array(pos)


def ypr_from_quat(q: F64) -> F64:
    """(yaw, pitch, roll) radians of a head quaternion, R = Ry(yaw)·Rx(pitch)·Rz(roll)."""
    x, y, z, w = q.tolist()
    r02 = 2.0 * (x * z + w * y)
    r22 = 1.0 - 2.0 * (x * x + y * y)
    r12 = 2.0 * (y * z - w * x)
    r10 = 2.0 * (x * y + w * z)
    r11 = 1.0 - 2.0 * (x * x + z * z)
    return np.array([math.atan2(r02, r22), math.asin(min(max(-r12, -1.0), 1.0)), math.atan2(r10, r11)])
