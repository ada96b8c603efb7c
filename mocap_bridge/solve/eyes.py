"""Eyes: blink response, linked blinks and winks, gaze held through blinks, optional iris gaze.

Why: MediaPipe reads a closing eyelid as the eye looking down. On talking_head_a.mpg (two blinks,
frames 43–45 and 51–54, both eyes) eyeLookDown rises with eyeBlink from ~0.06 to 0.74, which the
``eyeLook*`` gaze turns into ~17° of downward look at every blink (VSeeFace #30). Blinks also come
out asymmetric (0.76 / 0.65 on the same blink) and never reach 1.

Per frame, from the ARKit-ordered blendshapes (calibrated or raw) and optionally the 478 face
landmarks, with time passed in:

1. **Curve.** Each eye: ``b = clip((v − blink_threshold) / (blink_full − blink_threshold), 0, 1)
   ** blink_curve``: below the threshold the eye is open, above ``blink_full`` fully shut.
2. **Link.** With ``link_blinks`` both eyes take the mean of the two values (before the curve),
   unless ``wink`` is on and they differ by more than ``wink_margin``: then each eye keeps its own
   value (a wink).
3. **Gaze hold.** While an eye's (linked) value is at or above ``gaze_hold_blink`` its gaze, and its
   four ``eyeLook*`` shapes, keep the values from the last frame it was open; when it opens they
   blend back to live over ``gaze_release_ms``. Linked eyes hold together.
4. **Gaze source.** ``"blendshapes"``: yaw = (lookIn − lookOut)·range for the left eye, (lookOut −
   lookIn)·range for the right, pitch = (lookDown − lookUp)·range, as the face solver does.
   ``"iris"``: from the iris centre (landmarks 468 right eye, 473 left eye; MediaPipe's 478-point
   model) relative to the eye corners (33/133 right, 362/263 left), in half eye-widths: along the
   corner line for yaw, across it for pitch, times ``iris_yaw_deg`` / ``iris_pitch_deg`` per half
   width, after subtracting ``iris_neutral`` (the straight-ahead offset, from calibration); the
   eyeLook* shapes are then derived from that gaze (:func:`shapes_from_gaze`), so shapes and
   angles agree on every output.

Conventions are RigFrame's: gaze (2, 2) radians [[left yaw, left pitch], [right yaw, right pitch]],
yaw > 0 toward the subject's right, pitch > 0 looking down; Left/Right anatomical. Pure, numpy only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ..errors import ConfigError
from ..frames import MP_BLENDSHAPE_NAMES, ARKit

__all__ = [
    "EyeSettings",
    "EyeSolver",
    "EyeState",
    "gaze_from_blendshapes",
    "gaze_from_iris",
    "iris_displacement",
    "iris_neutral",
    "shapes_from_gaze",
]

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]

_BLINK = (ARKit.eyeBlinkLeft, ARKit.eyeBlinkRight)
#: per eye (left, right): the four eyeLook* shapes, in (down, in, out, up) order
_LOOK = (
    (ARKit.eyeLookDownLeft, ARKit.eyeLookInLeft, ARKit.eyeLookOutLeft, ARKit.eyeLookUpLeft),
    (ARKit.eyeLookDownRight, ARKit.eyeLookInRight, ARKit.eyeLookOutRight, ARKit.eyeLookUpRight),
)
#: MediaPipe face landmarks per eye (left, right): iris centre, corner toward the subject's right,
#: corner toward the subject's left
_IRIS = ((473, 362, 263), (468, 33, 133))
_SOURCES = ("blendshapes", "iris")
#: ARKit shape -> index in MediaPipe's blendshape order
_MP = {shape: MP_BLENDSHAPE_NAMES.index(shape.name) for shape in (*_BLINK, *_LOOK[0], *_LOOK[1])}
#: the ten shapes the eyes read and write: both blinks, then each eye's four eyeLook* shapes
_EYE_SHAPES = (*_BLINK, *_LOOK[0], *_LOOK[1])
_EYE_ARKIT = np.array([int(a) for a in _EYE_SHAPES])
_EYE_MP = np.array([_MP[a] for a in _EYE_SHAPES])
_Eye = tuple[float, ...]  #: one eye's gaze (yaw, pitch) or eyeLook* shapes (down, in, out, up)


@dataclass(frozen=True, slots=True)
class EyeSettings:
    """Blink and gaze controls (calibration profile / ``[face]`` settings)."""

    #: blink value at which the eye starts to close in the output …
    blink_threshold: float = 0.25
    #: … and at which it is fully shut (MediaPipe's eyeBlink peaks at 0.65–0.8 on a full blink)
    blink_full: float = 0.6
    #: response exponent on the normalised blink (1 = linear, < 1 closes sooner)
    blink_curve: float = 1.0
    #: both eyes blink together (mean of the two)
    link_blinks: bool = True
    #: with linked blinks: allow a wink when the eyes differ by more than ``wink_margin``
    wink: bool = False
    wink_margin: float = 0.3
    #: gaze (and the eyeLook* shapes) is held while the eye's blink value is at or above this
    gaze_hold_blink: float = 0.2
    #: after the eye opens, blend the held gaze back to live over this long (ms)
    gaze_release_ms: float = 80.0
    #: "blendshapes" (eyeLook*) or "iris" (landmarks 468–477)
    gaze_source: str = "blendshapes"
    #: blendshape gaze: degrees of visual angle at eyeLookIn/Out = 1 and at eyeLookUp/Down = 1
    yaw_range_deg: float = 30.0
    pitch_range_deg: float = 25.0
    #: iris gaze: degrees per half eye-width of iris displacement (yaw, pitch)
    iris_yaw_deg: float = 60.0
    iris_pitch_deg: float = 60.0
    #: iris displacement (half eye-widths) when looking straight ahead: [[left x, y], [right x, y]]
    iris_neutral: tuple[tuple[float, float], tuple[float, float]] = field(default=((0.0, 0.0), (0.0, 0.0)))

    def __post_init__(self) -> None:
        if not 0.0 <= self.blink_threshold < self.blink_full <= 1.0:
            raise ConfigError("[face] need 0 <= blink_threshold < blink_full <= 1")
        if self.blink_curve <= 0.0:
            raise ConfigError(f"[face] blink_curve must be > 0, got {self.blink_curve}")
        if not 0.0 <= self.wink_margin <= 1.0 or not 0.0 < self.gaze_hold_blink <= 1.0:
            raise ConfigError("[face] wink_margin must be in [0, 1] and gaze_hold_blink in (0, 1]")
        if self.gaze_release_ms < 0.0:
            raise ConfigError(f"[face] gaze_release_ms must be >= 0, got {self.gaze_release_ms}")
        if self.gaze_source not in _SOURCES:
            raise ConfigError(
                f"[face] gaze_source must be one of {', '.join(_SOURCES)}, got {self.gaze_source!r}"
            )


@dataclass(frozen=True, slots=True)
class EyeState:
    """One frame's eyes, ready for the rig."""

    blink: F64  #: (2,) left, right: 0 open .. 1 shut, after curve and link
    gaze: F64  #: (2, 2) radians, RigFrame convention
    look: F64  #: (2, 4) eyeLook* shapes per eye (down, in, out, up), held like the gaze
    held: tuple[bool, bool]  #: gaze held this frame (left, right)
    wink: bool  #: the eyes were treated as a wink (unlinked) this frame

    def apply(self, arkit: npt.ArrayLike) -> F64:
        """A copy of the 52 ARKit blendshapes with the blinks and eyeLook* shapes replaced."""
        out = np.array(arkit, dtype=np.float64)
        for e in range(2):
            out[_BLINK[e]] = self.blink[e]
            out[list(_LOOK[e])] = self.look[e]
        return out

    def apply_mediapipe(self, scores: npt.ArrayLike) -> F32:
        """A copy of MediaPipe-ordered scores (52,) with the blinks and eyeLook* shapes replaced.

        For a pre-pass on :class:`~mocap_bridge.frames.FaceObservation` blendshapes, so the
        solver's own eye angles (from eyeLook*) and every output see the held values.
        """
        out = np.array(scores, dtype=np.float32)
        out[_EYE_MP] = [*self.blink.tolist(), *self.look.ravel().tolist()]
        return out


def shapes_from_gaze(gaze: F64, yaw_range_deg: float, pitch_range_deg: float) -> F64:
    """(2, 4) eyeLook* shapes (down, in, out, up) per eye for a (2, 2) gaze: the inverse of
    :func:`gaze_from_blendshapes` for one-sided shapes, clipped to 0..1."""
    yaw = gaze[:, 0] / math.radians(yaw_range_deg)
    pitch = gaze[:, 1] / math.radians(pitch_range_deg)
    toward_nose = yaw * np.array([1.0, -1.0])  # left eye: yaw > 0 is inward; right eye: outward
    out: F64 = np.clip(np.stack((pitch, toward_nose, -toward_nose, -pitch), axis=1), 0.0, 1.0)
    return out


def gaze_from_blendshapes(look: F64, yaw_range_deg: float, pitch_range_deg: float) -> F64:
    """(2, 2) radians from the (2, 4) eyeLook* shapes (down, in, out, up) per eye."""
    yaw, pitch = math.radians(yaw_range_deg), math.radians(pitch_range_deg)
    down, inward, outward, up = look[:, 0], look[:, 1], look[:, 2], look[:, 3]
    # left eye: looking in = toward the nose = toward the subject's right (yaw > 0)
    sign = np.array([1.0, -1.0])
    out: F64 = np.stack(((inward - outward) * sign * yaw, (down - up) * pitch), axis=1)
    return out


def iris_displacement(landmarks: npt.ArrayLike, *, aspect: float = 1.0) -> F64:
    """(2, 2) iris centre offsets from the eye's corner midpoint, in half eye-widths.

    Per eye (left, right): along the corner line toward the subject's right, and across it
    toward the image bottom (down). From MediaPipe's 478 face landmarks.
    """
    p = np.array(landmarks, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] < 478 or p.shape[1] < 2:
        raise ConfigError(f"iris gaze needs the 478 face landmarks, got shape {p.shape}")
    p = p[:, :2]
    p[:, 0] *= aspect
    disp = np.zeros((2, 2))
    for e, (iris, toward_right, toward_left) in enumerate(_IRIS):
        a, b = p[toward_right], p[toward_left]
        half = max(float(np.linalg.norm(a - b)) / 2.0, 1e-9)
        u = (a - b) / (2.0 * half)  # unit, toward the subject's right
        down = np.array([-u[1], u[0]])  # the corner line turned by 90° in image axes (y down)
        if down[1] < 0.0:
            down = -down
        d = p[iris] - (a + b) / 2.0
        disp[e] = (float(d @ u) / half, float(d @ down) / half)
    return disp


def iris_neutral(
    landmark_frames: list[npt.ArrayLike], *, aspect: float = 1.0
) -> tuple[tuple[float, float], ...]:
    """``iris_neutral`` for :class:`EyeSettings`: the median displacement over frames looking ahead."""
    if not landmark_frames:
        raise ConfigError("iris neutral needs at least one frame with a face")
    med = np.median(np.stack([iris_displacement(f, aspect=aspect) for f in landmark_frames]), axis=0)
    return ((float(med[0, 0]), float(med[0, 1])), (float(med[1, 0]), float(med[1, 1])))


def gaze_from_iris(
    landmarks: npt.ArrayLike,
    yaw_deg: float,
    pitch_deg: float,
    neutral: npt.ArrayLike = ((0.0, 0.0), (0.0, 0.0)),
    *,
    aspect: float = 1.0,
) -> F64:
    """(2, 2) radians from the iris centres relative to the eye corners (478 face landmarks)."""
    disp = iris_displacement(landmarks, aspect=aspect) - np.asarray(neutral, dtype=np.float64)
    out: F64 = np.radians(disp * np.array([yaw_deg, pitch_deg]))
    return out


class EyeSolver:
    """Blink response, link/wink, gaze hold and gaze source (see module). One per face."""

    def __init__(self, settings: EyeSettings | None = None) -> None:
        self.settings = settings or EyeSettings()
        self.reset()

    def reset(self) -> None:
        """Forget the held gaze (a new face)."""
        # per eye, as tuples of floats (two eyes: plain floats beat numpy here)
        self._open_gaze: list[_Eye] | None = None  # last output while open
        self._open_look: list[_Eye] = []
        self._frozen_gaze: list[_Eye] = [(0.0, 0.0), (0.0, 0.0)]  # held while closed
        self._frozen_look: list[_Eye] = [(0.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 0.0)]
        self._closed = [False, False]
        self._opened_t = [-math.inf, -math.inf]  # when each eye last opened after a hold
        self._last_t: float | None = None

    def update(
        self,
        arkit: npt.ArrayLike,
        t_ms: float,
        *,
        landmarks: npt.ArrayLike | None = None,
        aspect: float = 1.0,
    ) -> EyeState:
        """This frame's eyes from its (52,) ARKit blendshapes (and face landmarks for iris gaze)."""
        self._advance(t_ms)
        a = np.asarray(arkit, dtype=np.float64)
        if a.shape != (len(ARKit),):
            raise ConfigError(f"eyes need the {len(ARKit)} ARKit blendshapes, got shape {a.shape}")
        return self._update(a[_EYE_ARKIT].tolist(), t_ms, landmarks, aspect)

    def update_mediapipe(
        self,
        scores: npt.ArrayLike,
        t_ms: float,
        *,
        landmarks: npt.ArrayLike | None = None,
        aspect: float = 1.0,
    ) -> EyeState:
        """:meth:`update` from MediaPipe-ordered scores (52,), e.g. a FaceObservation's blendshapes."""
        self._advance(t_ms)
        m = np.asarray(scores, dtype=np.float64)
        if m.shape != (len(MP_BLENDSHAPE_NAMES),):
            raise ConfigError(
                f"eyes need MediaPipe's {len(MP_BLENDSHAPE_NAMES)} blendshapes, got shape {m.shape}"
            )
        return self._update(m[_EYE_MP].tolist(), t_ms, landmarks, aspect)

    def _advance(self, t_ms: float) -> None:
        if self._last_t is not None and t_ms < self._last_t:
            raise ConfigError(f"eyes: time went backwards ({t_ms} ms after {self._last_t} ms)")
        self._last_t = t_ms

    def _update(
        self, v: list[float], t_ms: float, landmarks: npt.ArrayLike | None, aspect: float
    ) -> EyeState:
        """One frame from the ten eye shapes ``v`` (:data:`_EYE_SHAPES` order)."""
        s = self.settings
        raw = v[0], v[1]
        wink = bool(s.link_blinks and s.wink and abs(raw[0] - raw[1]) > s.wink_margin)
        mean = (raw[0] + raw[1]) / 2
        linked = raw if (wink or not s.link_blinks) else (mean, mean)
        span = s.blink_full - s.blink_threshold
        blink = []
        for x in linked:
            b = (x - s.blink_threshold) / span
            b = 0.0 if b < 0.0 else 1.0 if b > 1.0 else b
            blink.append(b if s.blink_curve == 1.0 else b**s.blink_curve)

        look: list[_Eye] = [tuple(v[2:6]), tuple(v[6:10])]
        live: list[_Eye]
        if s.gaze_source == "iris":
            if landmarks is None:
                raise ConfigError('eyes: gaze_source = "iris" needs the face landmarks')
            g = gaze_from_iris(landmarks, s.iris_yaw_deg, s.iris_pitch_deg, s.iris_neutral, aspect=aspect)
            live = [tuple(e) for e in g.tolist()]
            # the shapes agree with the gaze
            look = [tuple(e) for e in shapes_from_gaze(g, s.yaw_range_deg, s.pitch_range_deg).tolist()]
        else:  # gaze_from_blendshapes, per eye: looking in (toward the nose) is yaw > 0 for the left eye
            yaw, pitch = math.radians(s.yaw_range_deg), math.radians(s.pitch_range_deg)
            (ld, li, lo, lu), (rd, ri, ro, ru) = look
            live = [((li - lo) * yaw, (ld - lu) * pitch), ((ro - ri) * yaw, (rd - ru) * pitch)]

        gaze = list(live)
        out_look = list(look)
        if self._open_gaze is None:
            self._open_gaze, self._open_look = list(live), list(look)
        held = [False, False]
        for e in range(2):
            closed = linked[e] >= s.gaze_hold_blink
            if closed:
                if not self._closed[e]:  # closing now: hold the last open value
                    self._frozen_gaze[e], self._frozen_look[e] = self._open_gaze[e], self._open_look[e]
                gaze[e], out_look[e] = self._frozen_gaze[e], self._frozen_look[e]
                held[e] = True
            else:
                if self._closed[e]:
                    self._opened_t[e] = t_ms
                since = t_ms - self._opened_t[e]
                if since < s.gaze_release_ms:  # just opened: blend from the held value to live
                    w = since / s.gaze_release_ms
                    fg, fl = self._frozen_gaze[e], self._frozen_look[e]
                    gaze[e] = tuple(f + w * (x - f) for f, x in zip(fg, live[e], strict=True))
                    out_look[e] = tuple(f + w * (x - f) for f, x in zip(fl, look[e], strict=True))
                self._open_gaze[e], self._open_look[e] = gaze[e], out_look[e]
            self._closed[e] = closed
        return EyeState(
            blink=np.array(blink),
            gaze=np.array(gaze),
            look=np.array(out_look),
            held=(held[0], held[1]),
            wink=wink,
        )
