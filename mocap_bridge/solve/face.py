"""Face: MediaPipe blendshapes -> calibrated ARKit 52, and eye gaze.

Pipeline per frame (all whole-array numpy, index tables built at import):

1. reorder MediaPipe's 52 categories (``_neutral`` + 51 alphabetical) into :class:`ARKit` order by
   *name*; ``tongueOut`` (not produced by MediaPipe) is 0;
2. subtract the calibrated neutral and rescale so 1 stays 1: ``(v - n) / (1 - n)``, clipped at 0;
3. optional left/right swap (``--swap-lr`` or the profile's ``swap_lr``);
4. per-shape ``gain``/``offset``, response curve ``v ** curve`` and clamp ``[min, max]``;
5. optional linked blinks (mean or max of both eyes).

Eyes: radians, [[left yaw, left pitch], [right yaw, right pitch]] with yaw > 0 toward the
subject's right and pitch > 0 looking down (RigFrame convention, docs/livelink.md, head and eyes). They come
from the calibrated eyeLook* shapes scaled by the configured range in degrees of visual angle
(``eye_yaw_range_deg`` at eyeLookIn/Out = 1): left yaw = (lookInLeft − lookOutLeft)·range,
right yaw = (lookOutRight − lookInRight)·range, pitch = (lookDown − lookUp)·range.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from ..frames import ARKIT_NAMES, MP_BLENDSHAPE_NAMES, ARKit

__all__ = [
    "ARKIT_FROM_MP",
    "SWAP_LR",
    "FaceSolver",
    "arkit_from_mediapipe",
]

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]

_MP_INDEX = {n: i for i, n in enumerate(MP_BLENDSHAPE_NAMES)}
#: ARKit index -> MediaPipe index; tongueOut points at an extra zero slot (index 52).
ARKIT_FROM_MP: npt.NDArray[np.intp] = np.array(
    [_MP_INDEX.get(n, len(MP_BLENDSHAPE_NAMES)) for n in ARKIT_NAMES], dtype=np.intp
)


def _swap_name(name: str) -> str:
    if name.endswith("Left"):
        return name[:-4] + "Right"
    if name.endswith("Right"):
        return name[:-5] + "Left"
    return name


# The same table with tongueOut pointing at a real slot (its value is overwritten with 0 at the end).
_TAKE = np.minimum(ARKIT_FROM_MP, len(MP_BLENDSHAPE_NAMES) - 1)

_ARKIT_INDEX = {n: i for i, n in enumerate(ARKIT_NAMES)}
#: permutation of ARKit indices exchanging every *Left with its *Right.
SWAP_LR: npt.NDArray[np.intp] = np.array([_ARKIT_INDEX[_swap_name(n)] for n in ARKIT_NAMES], dtype=np.intp)


def arkit_from_mediapipe(mp: npt.ArrayLike) -> F64:
    """MediaPipe-ordered scores (52,) -> ARKit-ordered (52,), tongueOut = 0."""
    ext = np.zeros(len(MP_BLENDSHAPE_NAMES) + 1)
    ext[:-1] = np.asarray(mp, dtype=np.float64)
    out: F64 = ext[ARKIT_FROM_MP]
    return out


_L_IN, _L_OUT = ARKit.eyeLookInLeft, ARKit.eyeLookOutLeft
_R_IN, _R_OUT = ARKit.eyeLookInRight, ARKit.eyeLookOutRight
_L_UP, _L_DN = ARKit.eyeLookUpLeft, ARKit.eyeLookDownLeft
_R_UP, _R_DN = ARKit.eyeLookUpRight, ARKit.eyeLookDownRight
_BL, _BR = ARKit.eyeBlinkLeft, ARKit.eyeBlinkRight


class FaceSolver:
    """Calibrated ARKit blendshapes and eye angles from one face's raw scores (stateless)."""

    def __init__(
        self,
        *,
        neutral: F64,
        gain: F64,
        offset: F64,
        curve: F64,
        clamp_min: F64,
        clamp_max: F64,
        swap_lr: bool,
        link_blinks: str,
        link_gaze: bool,
        eye_gaze: bool,
        eye_yaw_range_deg: float,
        eye_pitch_range_deg: float,
    ) -> None:
        # Everything folded into a few arrays at init.
        self._neutral = np.asarray(neutral, dtype=np.float64)
        self._inv_span = 1.0 / np.maximum(1.0 - self._neutral, 1e-3)
        self._gain = np.asarray(gain, dtype=np.float64)
        self._offset = np.asarray(offset, dtype=np.float64)
        self._curve = np.asarray(curve, dtype=np.float64)
        self._linear = bool(np.all(self._curve == 1.0))
        self._lo = np.asarray(clamp_min, dtype=np.float64)
        self._hi = np.asarray(clamp_max, dtype=np.float64)

        # Steps that leave every value as it is, skipped: a neutral of +0 (v − 0 and v · 1/1 are
        # v), a gain of 1, and with a linear curve, an offset of +0 (no −0 after it) and clamps
        # [+0, 1], the second clamp (the first already put every value in [+0, 1]).
        def plus_zero(a: F64) -> bool:
            return not np.any(a) and not np.signbit(a).any()

        self._skip_neutral = plus_zero(self._neutral)
        self._skip_gain = bool(np.all(self._gain == 1.0))
        self._skip_clamp = (
            self._linear and plus_zero(self._offset) and plus_zero(self._lo) and bool(np.all(self._hi == 1.0))
        )
        self._swap = swap_lr
        self._link_blinks = link_blinks
        self._link_gaze = link_gaze
        self._eye_gaze = eye_gaze
        self._yaw = math.radians(eye_yaw_range_deg)
        self._pitch = math.radians(eye_pitch_range_deg)

    def blendshapes(self, mp_scores: npt.ArrayLike) -> F64:
        """MediaPipe scores (52, MP order) -> calibrated ARKit (52,)."""
        v = np.take(np.asarray(mp_scores), _TAKE)  # tongueOut: set to 0 below
        if v.dtype != np.float64:
            v = v.astype(np.float64)
        if not self._skip_neutral:
            v -= self._neutral
            v *= self._inv_span
        np.maximum(v, 0.0, out=v)
        if self._swap:
            v = v[SWAP_LR]
        if not self._skip_gain:
            v *= self._gain
        v += self._offset
        np.minimum(np.maximum(v, 0.0, out=v), 1.0, out=v)
        if not self._linear:
            v = v**self._curve
        if not self._skip_clamp:
            np.minimum(np.maximum(v, self._lo, out=v), self._hi, out=v)
        v[ARKit.tongueOut] = 0.0
        if self._link_blinks == "mean":
            v[_BL] = v[_BR] = 0.5 * (v[_BL] + v[_BR])
        elif self._link_blinks == "max":
            v[_BL] = v[_BR] = max(v[_BL], v[_BR])
        return v

    def eyes(self, arkit: F64) -> F64:
        """Eye angles (2, 2) radians from calibrated ARKit scores."""
        if not self._eye_gaze:
            return np.zeros((2, 2))
        a = arkit.tolist()
        ly = (a[_L_IN] - a[_L_OUT]) * self._yaw
        ry = (a[_R_OUT] - a[_R_IN]) * self._yaw
        lp = (a[_L_DN] - a[_L_UP]) * self._pitch
        rp = (a[_R_DN] - a[_R_UP]) * self._pitch
        if self._link_gaze:
            ly = ry = 0.5 * (ly + ry)
            lp = rp = 0.5 * (lp + rp)
        return np.array([[ly, lp], [ry, rp]])
