"""Handedness from the body: which detected hand is the person's left and which the right.

MediaPipe's hand landmarker labels each hand on its own, from the hand crop alone, and gets it wrong
at high confidence now and then (mediapipe #1341): on dance_full_body_synthetic.mp4 the hand sitting
on the pose's left wrist is labelled ``Right`` in most frames, and portrait_upper_body.jpg rotated by
20° gets ``Left`` (0.85) for the hand on the right wrist. The pose sees the whole body, so it knows.

Theory of operation
-------------------
Distances are in *hand sizes* (the longer side of the hand's landmark box, x scaled by the image
aspect) so the rules hold near and far from the camera.

1. **Identity.** Each hand is matched to last frame's hands by wrist distance (at most
   ``track_distance``; unmatched tracks are forgotten after ``track_timeout_ms``). A matched hand
   keeps its side unless the rules below move it.
2. **Pose vote.** For each hand and each side, the cost is the mean of (hand wrist → pose wrist) and
   (hand centroid → centroid of the pose's wrist, pinky, index, thumb points). A side whose pose
   wrist is less visible than ``wrist_visibility`` or farther than ``max_distance`` cannot be
   chosen, but its cost still counts against the other side (an unsure wrist's position still says
   which side is nearer); a pose whose shoulders are less than ``min_shoulder_width`` apart (a body
   hallucinated from a lone arm) does not vote. The nearest side wins *decisively* when the other
   side's cost is at least ``ratio`` times its cost and ``margin`` more (a pose wrist that is out
   of frame but "visible" sits near the hand too often for a plain nearest rule, e.g.
   fist_thumbs_up.mp4: 0.3 vs 0.7 hand sizes).
   Two hands: decisive votes for different sides are taken; if they want the same side the
   cheaper hand takes it; one decisive hand pushes the other to the other side.
3. **Hysteresis.** A tracked hand moves to the side the pose votes for only after
   ``switch_frames`` consecutive frames of that vote; a new hand takes the vote at once.
4. **Without a decisive vote** each track follows MediaPipe's label *smoothed*: an evidence value
   in [−1, 1] (+ = Left) relaxes toward ±score with time constant ``label_tau_ms`` and the side
   changes only when the evidence crosses ``label_hysteresis`` the other way. A pose vote sets the
   evidence to ±1, so a pose that drops out is trusted for a while before MediaPipe's label can
   take over.
5. **Exclusivity.** Two hands never share a side: the one with the weaker claim takes the other.

Mirroring policy (README): sides are the anatomical side of the person MediaPipe saw in the
processed image, which is what the pose's left/right wrists (15/16) are, so the policy holds with
and without ``--mirror``. Pure: time comes from the frames (``t_ms``), numpy only.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..errors import ConfigError
from ..frames import HandObservation, PoseObservation, TrackedFrame

__all__ = ["HandednessResolver", "HandednessSettings", "count_label_flips", "hand_size"]

F64 = npt.NDArray[np.float64]
SIDES = ("Left", "Right")
#: Pose landmarks of each side's hand: wrist, pinky, index, thumb (MediaPipe Pose indices).
_POSE_HAND = {"Left": (15, 17, 19, 21), "Right": (16, 18, 20, 22)}
#: shoulders (left, right), then the left and the right hand points
_POSE_ROWS = np.array([11, 12, *_POSE_HAND["Left"], *_POSE_HAND["Right"]])
#: a detected hand for the vote: wrist x, y, centroid x, y, hand size
_HandPoints = tuple[float, float, float, float, float]
#: one side of the pose for the vote: wrist x, y, hand centroid x, y, wrist visible enough
_PoseSide = tuple[float, float, float, float, bool]
#: shoulder span, then the left and the right side
_PoseSides = tuple[float, _PoseSide, _PoseSide]


@dataclass(frozen=True, slots=True)
class HandednessSettings:
    """Parameters of :class:`HandednessResolver` (distances in hand sizes, times in ms)."""

    #: pose wrists less visible than this do not vote
    wrist_visibility: float = 0.5
    #: a pose hand farther than this from the detected hand cannot claim it
    max_distance: float = 2.0
    #: a pose whose shoulders are closer than this is not a body seen from the front: no vote
    min_shoulder_width: float = 1.0
    #: the nearest side wins decisively when the other is at least ``ratio`` times as far …
    ratio: float = 1.6
    #: … and at least ``margin`` farther
    margin: float = 0.2
    #: consecutive decisive frames needed to move a tracked hand to the other side
    switch_frames: int = 3
    #: without a pose vote: time constant of the smoothed MediaPipe label
    label_tau_ms: float = 400.0
    #: … and how far past zero the smoothed label must go to change the side
    label_hysteresis: float = 0.5
    #: a hand within this of a hand of the previous frame is the same hand
    track_distance: float = 1.5
    #: a hand not seen for this long is forgotten
    track_timeout_ms: float = 500.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.wrist_visibility <= 1.0:
            raise ConfigError("[hands] handedness wrist_visibility must be in [0, 1]")
        if self.ratio < 1.0 or self.margin < 0.0 or self.max_distance <= 0.0:
            raise ConfigError("[hands] handedness ratio must be >= 1, margin >= 0, max_distance > 0")
        if self.switch_frames < 1 or self.label_tau_ms < 0.0 or not 0.0 <= self.label_hysteresis < 1.0:
            raise ConfigError(
                "[hands] handedness switch_frames must be >= 1, label_tau_ms >= 0, label_hysteresis in [0, 1)"
            )
        if self.track_distance <= 0.0 or self.track_timeout_ms < 0.0:
            raise ConfigError("[hands] handedness track_distance must be > 0 and track_timeout_ms >= 0")


def hand_size(hand: HandObservation, aspect: float = 1.0) -> float:
    """The longer side of the hand's landmark box (normalised image units, x scaled by aspect)."""
    return _hand_points(hand, aspect)[4]


@dataclass(slots=True)
class _Track:
    side: str
    wrist: tuple[float, float]  #: aspect-scaled
    size: float
    evidence: float  #: smoothed label, + = Left
    last_t: float
    disagree: int = 0  #: consecutive decisive pose votes for the other side


#: (tracks, hands) -> every assignment of hands to tracks or None (new), as _match tries them
_ASSIGNMENTS: dict[tuple[int, int], list[tuple[int | None, ...]]] = {}


def _assignments(n_tracks: int, n_hands: int) -> list[tuple[int | None, ...]]:
    key = (n_tracks, n_hands)
    if key not in _ASSIGNMENTS:
        slots: list[int | None] = [*range(n_tracks), *([None] * n_hands)]
        _ASSIGNMENTS[key] = list(set(itertools.permutations(slots, n_hands)))
    return _ASSIGNMENTS[key]


def _match(
    wrists: list[tuple[float, float]], sizes: list[float], tracks: list[_Track], limit: float
) -> list[int | None]:
    """Track index per hand (None = new), minimising total wrist distance; distances in hand sizes."""
    best: list[int | None] = [None] * len(wrists)
    if not tracks:
        return best
    # hand h to track t, in hand sizes (None: farther than the limit)
    dist: list[list[float | None]] = []
    for (wx, wy), size in zip(wrists, sizes, strict=True):
        row: list[float | None] = []
        for tr in tracks:
            d = math.hypot(wx - tr.wrist[0], wy - tr.wrist[1]) / max(size, tr.size)
            row.append(None if d > limit else d)
        dist.append(row)
    best_cost = math.inf
    best_n = -1
    for perm in _assignments(len(tracks), len(wrists)):
        cost, matched, ok = 0.0, 0, True
        for h, t in enumerate(perm):
            if t is None:
                continue
            dh = dist[h][t]
            if dh is None:
                ok = False
                break
            cost += dh
            matched += 1
        if ok and (matched > best_n or (matched == best_n and cost < best_cost)):
            best, best_cost, best_n = list(perm), cost, matched
    return best


def _hand_points(hand: HandObservation, aspect: float) -> _HandPoints:
    """Wrist x, y, centroid x, y and :func:`hand_size` of a hand (x scaled by ``aspect``).

    Plain floats, summed in numpy's order for ``mean(axis=0)`` (row after row), so the values are
    the ones the array form gives, bit for bit.
    """
    lm = hand.landmarks
    xs: list[float] = lm[:, 0].tolist()
    ys: list[float] = lm[:, 1].tolist()
    if aspect != 1.0:
        xs = [x * aspect for x in xs]
    sx = sy = 0.0
    for x in xs:
        sx += x
    for y in ys:
        sy += y
    n = len(xs)
    size = max(max(xs) - min(xs), max(ys) - min(ys), 1e-6)
    return xs[0], ys[0], sx / n, sy / n, size


class HandednessResolver:
    """Relabels each frame's hands ``Left`` / ``Right`` from the pose, with hysteresis (see module)."""

    def __init__(self, settings: HandednessSettings | None = None) -> None:
        self.settings = settings or HandednessSettings()
        self._tracks: list[_Track] = []
        self._last_t: float | None = None

    def reset(self) -> None:
        self._tracks = []
        self._last_t = None

    def _pose_sides(self, pose: PoseObservation, aspect: float) -> _PoseSides:
        """The pose's two hands (wrist and centroid of wrist, pinky, index, thumb), whether each
        wrist is visible enough, and the shoulder span (see :meth:`_pose_costs`)."""
        rows: list[list[float]] = pose.landmarks[_POSE_ROWS].tolist()
        if aspect != 1.0:
            for r in rows:
                r[0] *= aspect
        (sx0, sy0, *_), (sx1, sy1, *_) = rows[0], rows[1]
        sides = []
        for k in range(2):
            w, i, j, t = rows[2 + 4 * k : 6 + 4 * k]
            cx = (((w[0] + i[0]) + j[0]) + t[0]) / 4
            cy = (((w[1] + i[1]) + j[1]) + t[1]) / 4
            sides.append((w[0], w[1], cx, cy, w[3] >= self.settings.wrist_visibility))
        return math.hypot(sx0 - sx1, sy0 - sy1), sides[0], sides[1]

    def _pose_costs(
        self, hand: _HandPoints, pose: _PoseSides
    ) -> tuple[tuple[float, float], tuple[bool, bool]]:
        """Cost per side (Left, Right; hand sizes) and whether that side may claim the hand.

        The cost is the mean of (hand wrist → pose wrist) and (hand centroid → pose hand centroid).
        Every side has a cost (an unsure wrist's position still tells which side is nearer), but
        only a visible pose hand within ``max_distance`` of a plausible body may win. A pose
        hallucinated from an arm alone has its shoulders on top of each other (asl_hand.mp4: 0.02
        image widths apart, a hand is 0.2).
        """
        s = self.settings
        wx, wy, cx, cy, size = hand
        shoulders, *sides = pose
        body = shoulders >= s.min_shoulder_width * size
        k = 0.5 / size
        costs = [
            k * (math.sqrt((px - wx) * (px - wx) + (py - wy) * (py - wy))
                 + math.sqrt((qx - cx) * (qx - cx) + (qy - cy) * (qy - cy)))
            for px, py, qx, qy, _ in sides
        ]  # fmt: skip
        win = [body and side[4] and c <= s.max_distance for side, c in zip(sides, costs, strict=True)]
        return (costs[0], costs[1]), (win[0], win[1])

    def _decisive(self, costs: tuple[float, float], may_win: tuple[bool, bool]) -> int | None:
        """The side (0 Left, 1 Right) the pose votes for decisively, if any."""
        s = self.settings
        near = 0 if costs[0] <= costs[1] else 1
        cn, cf = costs[near], costs[1 - near]
        if may_win[near] and cf >= s.ratio * cn and cf >= cn + s.margin:
            return near
        return None

    def _votes(
        self, points: list[_HandPoints], pose: PoseObservation | None, aspect: float
    ) -> list[str | None]:
        if pose is None:
            return [None] * len(points)
        sides = self._pose_sides(pose, aspect)
        judged = [self._pose_costs(hp, sides) for hp in points]
        votes = [self._decisive(c, w) for c, w in judged]
        if len(points) == 2:
            a, b = votes
            if a is not None and a == b:
                # both want the same side: the nearer hand takes it, the other the remaining side
                keep = 0 if judged[0][0][a] <= judged[1][0][a] else 1
                votes[1 - keep] = 1 - a
            elif a is not None and b is None:
                votes[1] = 1 - a
            elif b is not None and a is None:
                votes[0] = 1 - b
        return [None if v is None else SIDES[v] for v in votes]

    def resolve(self, frame: TrackedFrame, *, aspect: float = 1.0) -> TrackedFrame:
        """``frame`` with its hands relabelled (at most two, sorted Left first).

        ``aspect`` is the processed image's width / height. Frames must come in time order.
        """
        s = self.settings
        t = float(frame.t_ms)
        if self._last_t is not None and t < self._last_t:
            raise ConfigError(f"handedness: frame time went backwards ({t} ms after {self._last_t} ms)")
        dt = 0.0 if self._last_t is None else t - self._last_t
        self._last_t = t
        self._tracks = [tr for tr in self._tracks if t - tr.last_t <= s.track_timeout_ms]
        hands = sorted(frame.hands, key=lambda h: -h.score)[:2]
        if not hands:
            return frame if not frame.hands else dataclasses.replace(frame, hands=())
        points = [_hand_points(h, aspect) for h in hands]
        wrists = [(p[0], p[1]) for p in points]
        sizes = [p[4] for p in points]
        matches = _match(wrists, sizes, self._tracks, s.track_distance)
        votes = self._votes(points, frame.pose, aspect)
        alpha = 1.0 if s.label_tau_ms == 0.0 else 1.0 - math.exp(-dt / s.label_tau_ms)
        new_tracks: list[_Track] = []
        for h, hand in enumerate(hands):
            signed = hand.score if hand.label == "Left" else -hand.score
            m = matches[h]
            vote = votes[h]
            if m is None:
                side = vote or ("Left" if signed >= 0 else "Right")
                ev = (1.0 if side == "Left" else -1.0) if vote else signed
                tr = _Track(side, wrists[h], sizes[h], ev, t)
            else:
                tr = self._tracks[m]
                tr.wrist, tr.size, tr.last_t = wrists[h], sizes[h], t
                if vote is not None:
                    if vote == tr.side:
                        tr.disagree = 0
                    else:
                        tr.disagree += 1
                        if tr.disagree >= s.switch_frames:
                            tr.side, tr.disagree = vote, 0
                    if vote == tr.side:
                        tr.evidence = 1.0 if vote == "Left" else -1.0
                else:
                    tr.disagree = 0
                    tr.evidence += alpha * (signed - tr.evidence)
                    if tr.side == "Left" and tr.evidence < -s.label_hysteresis:
                        tr.side = "Right"
                    elif tr.side == "Right" and tr.evidence > s.label_hysteresis:
                        tr.side = "Left"
            new_tracks.append(tr)
        if len(new_tracks) == 2 and new_tracks[0].side == new_tracks[1].side:
            side = new_tracks[0].side
            sign = 1.0 if side == "Left" else -1.0
            claims = [
                (2.0 if votes[i] == side else 0.0) + sign * tr.evidence for i, tr in enumerate(new_tracks)
            ]
            loser = new_tracks[0] if claims[0] < claims[1] else new_tracks[1]
            loser.side = _other(side)
            loser.evidence = -sign * abs(loser.evidence)
            loser.disagree = 0
        kept = [tr for i, tr in enumerate(self._tracks) if i not in matches]
        self._tracks = new_tracks + kept
        out = [
            h if h.label == tr.side else HandObservation(tr.side, h.score, h.landmarks, h.world)
            for tr, h in zip(new_tracks, hands, strict=True)
        ]
        if len(out) == 2 and out[0].label == "Right":
            out.reverse()
        f = frame
        return TrackedFrame(f.index, f.t_ms, f.pose, f.face, tuple(out), f.status, f.result_ms)


def _other(side: str) -> str:
    return "Right" if side == "Left" else "Left"


def count_label_flips(
    frames: Iterable[TrackedFrame],
    *,
    aspect: float = 1.0,
    track_distance: float = 1.5,
    track_timeout_ms: float = 500.0,
) -> int:
    """How often a hand that stays in view changes its label between frames.

    Hands are followed by wrist distance (the same identity rule as the resolver), so a flip is a
    label change of one physical hand, and a swap of two hands counts twice.
    """
    tracks: list[_Track] = []
    flips = 0
    for f in frames:
        t = float(f.t_ms)
        tracks = [tr for tr in tracks if t - tr.last_t <= track_timeout_ms]
        hands = sorted(f.hands, key=lambda h: -h.score)[:2]
        points = [_hand_points(h, aspect) for h in hands]
        wrists = [(p[0], p[1]) for p in points]
        sizes = [p[4] for p in points]
        matches = _match(wrists, sizes, tracks, track_distance)
        new: list[_Track] = []
        for h, hand in enumerate(hands):
            m = matches[h]
            if m is not None and tracks[m].side != hand.label:
                flips += 1
            new.append(_Track(hand.label, wrists[h], sizes[h], 0.0, t))
        tracks = new + [tr for i, tr in enumerate(tracks) if i not in matches]
    return flips
