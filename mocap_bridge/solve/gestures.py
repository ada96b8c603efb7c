"""Hand gestures: MediaPipe's eight canned classes from the 21 hand landmarks, by rule.

Theory of operation
-------------------
Per hand, from the *normalised* landmarks (x, y image fractions, z in x's scale), with x and z
scaled by the image aspect (width / height) so all three are in one unit. The world landmarks were
tried first and rejected: on hands_open.jpg (spread fingers, back of the hand) they fold every
finger (summed bends 100–195°) where the image landmarks give 10–23°.

* **Extension** of each finger in 0..1 (1 = straight). A long finger's *bend* is the sum of the
  angles between consecutive segments wrist→MCP→PIP→DIP→tip: about 5–50° straight, 200–300° in a
  fist. A thumb is extended when its tip is clear of the index PIP (in palm lengths): in a fist the
  thumb often lies straight along the index finger (fist_thumbs_up.mp4 frames 25–50: bend ~10°, tip
  0.05–0.1 palm lengths from the index PIP), so its bend says nothing.
* **Thumb protrusion**: how far the thumb tip reaches beyond every other landmark along the
  thumb's own direction (MCP → tip), in palm lengths. Thumb_Up / Thumb_Down need it: a thumb
  lying along or across a fist never clears the fist (fist_thumbs_up.mp4 fist frames: at most
  0.14; asl_hand.mp4 "A"/"S"/"E" fists: at most 0.25 in transitions) while a thumbs-up clears it by
  0.5–1.0.
* **Direction** of the thumb and the index finger against image up (−y), as a cosine.

Each class is a pattern of extended / folded fingers (``None`` in :data:`PATTERNS` = either) plus,
for Thumb_Up / Thumb_Down / Pointing_Up, a direction. A class's score is the *smallest* of its
finger memberships and its direction term (fuzzy AND), so one finger that disagrees caps the score.
The best class wins when its score reaches ``min_score``, else ``None``.

:class:`GestureTracker` adds time (passed in, milliseconds): a candidate must win for ``hold_ms``
before it is reported, and a reported gesture survives a dropout (another class, ``None`` or a lost
hand) shorter than ``dropout_ms``. Every computation is rotation- and mirror-invariant except the
up/down tests, which tolerate ``up_cos`` (cos 50° by default, so a hand rotated ±20° keeps its
class). Pure: numpy only, no clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from operator import itemgetter

import numpy as np
import numpy.typing as npt

from ..errors import ConfigError
from ..frames import Gesture, GestureEvent, HandObservation

__all__ = [
    "PATTERNS",
    "FingerStates",
    "Gesture",
    "GestureEvent",
    "GestureSettings",
    "GestureTracker",
    "classify",
    "finger_states",
    "gesture_scores",
]

F64 = npt.NDArray[np.float64]


#: Finger chains (wrist first) in landmark indices: thumb, index, middle, ring, little.
_CHAINS = np.array([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16], [17, 18, 19, 20]])

#: Per class: thumb, index, middle, ring, little; True = extended, False = folded, None = either.
PATTERNS: dict[Gesture, tuple[bool | None, ...]] = {
    Gesture.Closed_Fist: (None, False, False, False, False),  # thumb: see thumb protrusion
    Gesture.Open_Palm: (True, True, True, True, True),
    Gesture.Pointing_Up: (None, True, False, False, False),
    Gesture.Thumb_Down: (None, False, False, False, False),  # + thumb protrusion, pointing down
    Gesture.Thumb_Up: (None, False, False, False, False),  # + thumb protrusion, pointing up
    Gesture.Victory: (None, True, True, False, False),
    Gesture.ILoveYou: (True, True, False, False, True),
}


@dataclass(frozen=True, slots=True)
class GestureSettings:
    """Classifier and hysteresis parameters (the ``[gestures]`` settings).

    Angles in degrees, times in milliseconds, distances in palm lengths (the longer of wrist →
    middle MCP and index MCP → little MCP, so a palm facing the camera edge-on still has a size).
    """

    #: a long finger whose summed joint bend is below this is fully extended …
    finger_straight_deg: float = 50.0
    #: … and above this fully folded (linear in between)
    finger_folded_deg: float = 110.0
    #: a thumb tip nearer than this to the index PIP lies on the fist (folded) …
    thumb_on_fist: float = 0.25
    #: … and farther than this is clear of it (extended)
    thumb_clear: float = 0.5
    #: Thumb_Up / Thumb_Down: the thumb tip clears the fist by at least this (score 0) …
    thumb_protrusion_min: float = 0.25
    #: … and fully by this (score 1)
    thumb_protrusion_full: float = 0.45
    #: cosine of the largest angle from image up (down) for Thumb_Up / Pointing_Up (Thumb_Down)
    up_cos: float = 0.64
    #: a class is reported only when its score reaches this
    min_score: float = 0.5
    #: a new gesture must win this long before it is reported
    hold_ms: float = 150.0
    #: a reported gesture survives another class, None or a lost hand for up to this long
    dropout_ms: float = 250.0

    def __post_init__(self) -> None:
        if not self.finger_straight_deg < self.finger_folded_deg:
            raise ConfigError("[gestures] finger_straight_deg must be below finger_folded_deg")
        if not self.thumb_on_fist < self.thumb_clear:
            raise ConfigError("[gestures] thumb_on_fist must be below thumb_clear")
        if not self.thumb_protrusion_min < self.thumb_protrusion_full:
            raise ConfigError("[gestures] thumb_protrusion_min must be below thumb_protrusion_full")
        if not 0.0 < self.up_cos < 1.0 or not 0.0 < self.min_score <= 1.0:
            raise ConfigError("[gestures] up_cos must be in (0, 1) and min_score in (0, 1]")
        if self.hold_ms < 0.0 or self.dropout_ms < 0.0:
            raise ConfigError("[gestures] hold_ms and dropout_ms must be >= 0")


@dataclass(frozen=True, slots=True)
class FingerStates:
    """What the classifier sees of one hand."""

    bend_deg: F64  #: (5,) summed joint bend per finger, thumb first (CMC→MCP→IP→tip)
    extension: F64  #: (5,) 0 folded .. 1 extended
    thumb_protrusion: float  #: palm lengths the thumb tip reaches beyond the rest of the hand
    thumb_up: float  #: cosine between the thumb (MCP → tip) and image up
    index_up: float  #: cosine between the index finger (MCP → tip) and image up


def _ramp(x: float, lo: float, hi: float) -> float:
    """0 at ``lo``, 1 at ``hi``, linear between, clipped (plain floats: this runs per frame)."""
    v = (x - lo) / (hi - lo)
    return 0.0 if v <= 0.0 else 1.0 if v >= 1.0 else v


#: the landmarks whose segments bend each finger: a long finger's chain from the wrist; the thumb's
#: from its CMC (its first "joint", wrist→CMC→MCP, is the palm's shape, not a bend)
_BEND_CHAINS = ((1, 2, 3, 4), *((0, *(int(i) for i in chain)) for chain in _CHAINS[1:]))
#: :func:`math.degrees` is ``x * (180 / pi)``: the same product without the call
_DEG = 180.0 / math.pi

#: one hand's classifier inputs in plain floats: bends (5), extensions (5), thumb protrusion,
#: thumb up, index up (the fields of :class:`FingerStates`)
_Values = tuple[list[float], list[float], float, float, float]


def _landmark_rows(landmarks: npt.ArrayLike, aspect: float) -> list[list[float]]:
    """(21, 3) landmarks as rows of floats with x and z scaled by ``aspect``; checked."""
    p = np.asarray(landmarks)
    if p.dtype.kind != "f":
        p = p.astype(np.float64)
    if p.shape != (21, 3) or not np.isfinite(p).all():
        raise ConfigError(f"hand landmarks must be 21 finite 3-D points, got shape {p.shape}")
    if not aspect > 0.0:
        raise ConfigError(f"image aspect must be > 0, got {aspect}")
    rows: list[list[float]] = p.tolist()  # float32 values become the same float64 values
    if aspect != 1.0:
        rows = [[x * aspect, y, z * aspect] for x, y, z in rows]
    return rows


def _finger_values(p: list[list[float]], s: GestureSettings) -> _Values:
    """:func:`finger_states` of landmark rows, in plain floats: on 21 points numpy's per-call
    cost exceeds the arithmetic (tests/reference_stages.py keeps the array form as the oracle)."""
    sqrt, acos, deg = math.sqrt, math.acos, _DEG
    lo, span = s.finger_straight_deg, s.finger_folded_deg - s.finger_straight_deg
    bend: list[float] = []
    ext: list[float] = []
    for chain in _BEND_CHAINS:
        # the unit segments (wrist→MCP, MCP→PIP, PIP→DIP, DIP→tip) and the angles between them
        (ax, ay, az), (bx, by, bz) = p[chain[0]], p[chain[1]]
        px, py, pz = bx - ax, by - ay, bz - az
        n = sqrt(px * px + py * py + pz * pz)
        if not n > 1e-12:
            n = 1e-12
        px, py, pz = px / n, py / n, pz / n
        total = 0.0  # 0 + the first angle is exactly that angle (acos never gives −0)
        for k in chain[2:]:
            ax, ay, az = bx, by, bz
            bx, by, bz = p[k]
            dx, dy, dz = bx - ax, by - ay, bz - az
            n = sqrt(dx * dx + dy * dy + dz * dz)
            if not n > 1e-12:
                n = 1e-12
            dx, dy, dz = dx / n, dy / n, dz / n
            c = dx * px + dy * py + dz * pz
            total += acos(-1.0 if c < -1.0 else 1.0 if c > 1.0 else c) * deg
            px, py, pz = dx, dy, dz
        bend.append(total)
        v = (total - lo) / span  # 1 − _ramp(bend, straight, folded)
        ext.append(1.0 - (0.0 if v <= 0.0 else 1.0 if v >= 1.0 else v))
    # palm length (wrist → middle MCP), palm width (index MCP → little MCP), thumb tip → index PIP,
    # the thumb (MCP → tip), the index finger (MCP → tip)
    (wx, wy, wz), (tx, ty, tz) = p[0], p[4]
    (ix, iy, iz), (mx, my, mz), (lx, ly, lz) = p[5], p[9], p[17]
    ax, ay, az, bx, by, bz = mx - wx, my - wy, mz - wz, lx - ix, ly - iy, lz - iz
    palm = max(sqrt(ax * ax + ay * ay + az * az), sqrt(bx * bx + by * by + bz * bz), 1e-9)
    gx, gy, gz = p[6]
    ax, ay, az = tx - gx, ty - gy, tz - gz
    ext[0] = _ramp(sqrt(ax * ax + ay * ay + az * az) / palm, s.thumb_on_fist, s.thumb_clear)
    cx, cy, cz = p[2]
    ux, uy, uz = tx - cx, ty - cy, tz - cz
    n = max(sqrt(ux * ux + uy * uy + uz * uz), 1e-12)
    ux, uy, uz = ux / n, uy / n, uz / n
    # how far the tip reaches beyond every other landmark along the thumb
    protrusion = min([(tx - x) * ux + (ty - y) * uy + (tz - z) * uz for x, y, z in p[5:]]) / palm
    fx, fy, fz = p[8]
    vx, vy, vz = fx - ix, fy - iy, fz - iz
    index_up = -vy / max(sqrt(vx * vx + vy * vy + vz * vz), 1e-12)
    return bend, ext, protrusion, -uy, index_up  # image up is −y


def finger_states(
    landmarks: npt.ArrayLike, settings: GestureSettings | None = None, *, aspect: float = 1.0
) -> FingerStates:
    """Finger bends, extensions and directions from (21, 3) normalised hand landmarks.

    ``aspect`` is the processed image's width / height (x and z are fractions of the width).
    """
    s = settings or GestureSettings()
    bend, ext, protrusion, thumb_up, index_up = _finger_values(_landmark_rows(landmarks, aspect), s)
    return FingerStates(
        bend_deg=np.array(bend),
        extension=np.array(ext),
        thumb_protrusion=protrusion,
        thumb_up=thumb_up,
        index_up=index_up,
    )


def _direction_term(cos: float, up_cos: float) -> float:
    """1 within the cone of half-angle acos(up_cos), falling to 0 at half that cosine."""
    return _ramp(cos, 0.5 * up_cos, up_cos)


#: per class, (finger, wanted extended) for the fingers its pattern constrains
_RULES = tuple((g, tuple((i, w) for i, w in enumerate(pat) if w is not None)) for g, pat in PATTERNS.items())
#: the same rules as indices into ``extension + (1 − extension)`` (5 memberships each way)
_RULE_ROWS = tuple((g, tuple(i if w else 5 + i for i, w in rules)) for g, rules in _RULES)
#: the classes by value; per class from Closed_Fist on, its pattern's memberships as one getter
_GESTURES = tuple(Gesture)
_MEMBERS = tuple(itemgetter(*rows) for _, rows in sorted(_RULE_ROWS))
assert all(int(g) == i for i, g in enumerate(_GESTURES))
assert tuple(g for g, _ in sorted(_RULE_ROWS)) == _GESTURES[1:]
assert all(len(rows) > 1 for _, rows in _RULE_ROWS)  # so each getter returns a tuple
_FIST, _POINTING = int(Gesture.Closed_Fist), int(Gesture.Pointing_Up)
_DOWN, _UP = int(Gesture.Thumb_Down), int(Gesture.Thumb_Up)


def _score_list(
    ext: list[float], protrusion: float, thumb_up: float, index_up: float, s: GestureSettings
) -> list[float]:
    """:func:`gesture_scores` as a list, from the :class:`FingerStates` values."""
    clear = _ramp(protrusion, s.thumb_protrusion_min, s.thumb_protrusion_full)
    member = [*ext, *[1.0 - e for e in ext]]
    out = [0.0, *[min(get(member)) for get in _MEMBERS]]
    # the classes with a term beyond their pattern
    out[_UP] = min(out[_UP], clear, _direction_term(thumb_up, s.up_cos))
    out[_DOWN] = min(out[_DOWN], clear, _direction_term(-thumb_up, s.up_cos))
    out[_POINTING] = min(out[_POINTING], _direction_term(index_up, s.up_cos))
    # a fist whose thumb clears it up or down is Thumb_Up / Thumb_Down instead
    out[_FIST] = min(out[_FIST], 1.0 - clear * _direction_term(abs(thumb_up), s.up_cos))
    out[0] = 1.0 - max(out[1:])  # None_
    return out


def gesture_scores(states: FingerStates, settings: GestureSettings | None = None) -> F64:
    """Score per :class:`Gesture` (8,), ``None_`` = 1 − best; fuzzy AND of the class's rules."""
    s = settings or GestureSettings()
    return np.array(
        _score_list(states.extension.tolist(), states.thumb_protrusion, states.thumb_up, states.index_up, s)
    )


def classify(
    hand: HandObservation, settings: GestureSettings | None = None, *, aspect: float = 1.0
) -> tuple[Gesture, float]:
    """The best class and its score for one hand in one frame (``None_`` below ``min_score``)."""
    s = settings or GestureSettings()
    _, ext, protrusion, thumb_up, index_up = _finger_values(_landmark_rows(hand.landmarks, aspect), s)
    scores = _score_list(ext, protrusion, thumb_up, index_up, s)
    top = max(scores[1:])
    if top < s.min_score:
        return Gesture.None_, scores[0]
    return _GESTURES[scores.index(top, 1)], top  # the first class with the top score


class GestureTracker:
    """Per-hand hysteresis over :func:`classify`: hold before reporting, survive short dropouts.

    Call :meth:`update` once per frame with the frame's hands (already assigned to sides, e.g. by
    :class:`~mocap_bridge.solve.handedness.HandednessResolver`) and the capture time; it returns
    the current event per side (``None`` when no gesture is reported). A side's state:

    * *candidate*: the class winning now and when it started; it becomes *reported* once it has
      won for ``hold_ms`` without a gap longer than ``dropout_ms``;
    * *reported*: ends when another class has been reported in its place, or when it has not been
      seen for longer than ``dropout_ms``.
    """

    _SIDES = ("Left", "Right")

    def __init__(self, settings: GestureSettings | None = None) -> None:
        self.settings = settings or GestureSettings()
        self._cand: dict[str, tuple[Gesture, float, float]] = {}  # side -> class, since, last seen
        self._reported: dict[str, GestureEvent] = {}
        self._last_seen: dict[str, float] = {}  # side -> last time the reported class was seen
        self._last_t: float | None = None

    def reset(self) -> None:
        self._cand.clear()
        self._reported.clear()
        self._last_seen.clear()
        self._last_t = None

    def update(
        self, hands: dict[str, HandObservation | None], t_ms: float, *, aspect: float = 1.0
    ) -> dict[str, GestureEvent | None]:
        """Advance to ``t_ms`` with ``hands`` by side; returns the reported event per side.

        ``aspect``: the processed image's width / height (see :func:`finger_states`).
        """
        if self._last_t is not None and t_ms < self._last_t:
            raise ConfigError(f"gesture time went backwards: {t_ms} ms after {self._last_t} ms")
        self._last_t = t_ms
        s = self.settings
        out: dict[str, GestureEvent | None] = {}
        for side in self._SIDES:
            hand = hands.get(side)
            label, score = classify(hand, s, aspect=aspect) if hand is not None else (Gesture.None_, 0.0)
            out[side] = self._step(side, label, score, t_ms)
        return out

    def _step(self, side: str, label: Gesture, score: float, t: float) -> GestureEvent | None:
        s = self.settings
        rep = self._reported.get(side)
        if rep is not None and label is rep.label:
            self._last_seen[side] = t
            self._cand.pop(side, None)
            rep = GestureEvent(rep.label, score, side, rep.since_ms)
            self._reported[side] = rep
            return rep
        if label is not Gesture.None_:
            cand = self._cand.get(side)
            if cand is None or cand[0] is not label or t - cand[2] > s.dropout_ms:
                cand = (label, t, t)
            else:
                cand = (label, cand[1], t)
            self._cand[side] = cand
            if t - cand[1] >= s.hold_ms:
                self._cand.pop(side, None)
                ev = GestureEvent(label, score, side, cand[1])
                self._reported[side] = ev
                self._last_seen[side] = t
                return ev
        if rep is not None and t - self._last_seen[side] > s.dropout_ms:
            del self._reported[side]
            rep = None
        return rep
