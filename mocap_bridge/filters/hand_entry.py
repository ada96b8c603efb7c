"""Hands at the frame edge and hands that just appeared: when a hand may drive the rig.

Two rules, per side, each frame:

* **Edge.** A hand with landmarks within ``border_margin`` of the image border (or beyond it:
  MediaPipe extrapolates the cut-off part) is low confidence. Measured with
  ``python benchmarks/gestures.py`` ("edge sweep": fist_thumbs_up.mp4's thumbs-up frames cropped
  at the left through or beside the hand, hand landmarker only): with a gap of half a hand width
  the shape jitter is 0.009 hand sizes (median); touching the edge it is 0.016 and frames start to
  be lost; with 10–20 % of the hand cut off, 0.012–0.013 (p90 up to 0.045, against 0.017); with
  30 % or more cut off the hand is lost in most frames and what is found is not the hand (no
  frame is still read as Thumb_Up). The default margin, 0.02 of the image side, flags 89 % of the
  frames where the hand touches the edge and 34 % of those with a 0.2 hand-width gap (the
  leftmost landmark at ~0.02): a small buffer for the box's own jitter.
* **Entry.** A hand must be present and off the edge for ``entry_frames`` consecutive frames
  before it drives the rig, so a single-frame false detection never twitches an arm. The same
  count applies when a hand comes back from the edge, so a hand hovering at the margin does not
  flicker between live and held.

The result is a *validity flag* per side. It plugs into the existing loss handling unchanged:
AND it into the ``valid`` flags the hand channels pass to :class:`~mocap_bridge.filters.gating.Gate`,
which then holds the last good pose for ``hold_ms``, eases to rest over ``release_ms`` and blends
back in over ``reacquire_ms`` (per part, from the gating settings). Pure: no clock, numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..errors import ConfigError
from ..frames import HandObservation

__all__ = ["HandEntryGate", "HandEntrySettings", "HandValidity", "touches_border"]

SIDES = ("Left", "Right")


@dataclass(frozen=True, slots=True)
class HandEntrySettings:
    """When a hand may drive the rig (the ``[hands]`` settings)."""

    #: a landmark nearer than this to an image edge (fraction of that image side) marks the hand
    #: low confidence; 0 flags only landmarks beyond the edge
    border_margin: float = 0.02
    #: how many landmarks must be in the margin (1 = any)
    border_landmarks: int = 1
    #: consecutive frames a new (or returning) hand must be seen, off the edge, before it is valid;
    #: 1 = at once
    entry_frames: int = 3

    def __post_init__(self) -> None:
        if not 0.0 <= self.border_margin < 0.5:
            raise ConfigError(f"[hands] border_margin must be in [0, 0.5), got {self.border_margin}")
        if not 1 <= self.border_landmarks <= 21:
            raise ConfigError(f"[hands] border_landmarks must be in 1..21, got {self.border_landmarks}")
        if self.entry_frames < 1:
            raise ConfigError(f"[hands] entry_frames must be >= 1, got {self.entry_frames}")


def touches_border(landmarks: npt.ArrayLike, margin: float, count: int = 1) -> bool:
    """True when at least ``count`` of the (21, 2+) normalised landmarks lie within ``margin`` of an edge."""
    if count == 1:
        # any coordinate in the margin: its extremes, compared as float64 (fmin/fmax skip NaN, as
        # the comparisons below do)
        q = np.asarray(landmarks)[:, :2]
        lo, hi = float(np.fmin.reduce(q, axis=None)), float(np.fmax.reduce(q, axis=None))
        return lo < margin or hi > 1.0 - margin
    p = np.asarray(landmarks, dtype=np.float64)[:, :2]
    near = (p < margin) | (p > 1.0 - margin)
    return int(np.count_nonzero(near.any(axis=1))) >= count


@dataclass(frozen=True, slots=True)
class HandValidity:
    """One side's verdict for one frame."""

    valid: bool  #: the hand may drive the rig this frame
    present: bool  #: a hand was detected on this side
    at_border: bool  #: … and it touches the border margin
    streak: int  #: consecutive frames present and off the border (so far)


class HandEntryGate:
    """Per-side validity from the edge and entry rules (see module). Feed every frame, in order."""

    def __init__(self, settings: HandEntrySettings | None = None) -> None:
        self.settings = settings or HandEntrySettings()
        self._streak = dict.fromkeys(SIDES, 0)

    def reset(self) -> None:
        self._streak = dict.fromkeys(SIDES, 0)

    def update(self, hands: dict[str, HandObservation | None]) -> dict[str, HandValidity]:
        """Verdict per side for this frame's hands (by side; a missing key = no hand)."""
        s = self.settings
        out: dict[str, HandValidity] = {}
        for side in SIDES:
            hand = hands.get(side)
            if hand is None:
                self._streak[side] = 0
                out[side] = HandValidity(False, False, False, 0)
                continue
            edge = touches_border(hand.landmarks, s.border_margin, s.border_landmarks)
            self._streak[side] = 0 if edge else self._streak[side] + 1
            n = self._streak[side]
            out[side] = HandValidity(n >= s.entry_frames, True, edge, n)
        return out

    def valid(self, hands: dict[str, HandObservation | None]) -> tuple[bool, bool]:
        """(left, right) validity flags: :meth:`update` reduced to what the gating consumes."""
        return self.valid_pair(hands.get("Left"), hands.get("Right"))

    def valid_pair(self, left: HandObservation | None, right: HandObservation | None) -> tuple[bool, bool]:
        """:meth:`valid` of the (left, right) hands: the same rules, no verdicts built."""
        s = self.settings
        streak = self._streak
        ok = []
        for side, hand in (("Left", left), ("Right", right)):
            if hand is None:
                streak[side] = 0
                ok.append(False)
                continue
            n = 0 if touches_border(hand.landmarks, s.border_margin, s.border_landmarks) else streak[side] + 1
            streak[side] = n
            ok.append(n >= s.entry_frames)
        return ok[0], ok[1]
