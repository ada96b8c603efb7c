"""The weights of a slerp, shared by the rotation One-Euro filter and the quaternion gate."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["slerp_weights"]

F64 = npt.NDArray[np.float64]


def slerp_weights(half: F64, t: F64, one_minus_t: F64) -> tuple[F64, F64]:
    """(w0, w1) with slerp(p, q, t) = w0·p + w1·q for rotations ``half`` radians (half the angle
    between p and q) apart: sin((1 − t)·h)/sin h and sin(t·h)/sin h, or the lerp weights where
    sin h < 1e-6 (the rotations coincide). ``one_minus_t`` is 1 − t, which callers already hold."""
    safe = np.sin(half)
    small = safe < 1e-6
    np.copyto(safe, 1.0, where=small)
    w0 = one_minus_t * half
    np.sin(w0, out=w0)
    w0 /= safe
    np.copyto(w0, one_minus_t, where=small)
    w1 = t * half
    np.sin(w1, out=w1)
    w1 /= safe
    np.copyto(w1, t, where=small)
    return w0, w1
