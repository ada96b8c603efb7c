"""Reference forms of the per-frame hand and eye stages as they were before their plain-float
rewrites: the oracles of tests/test_stage_equivalence.py. Never used by the package.

* :class:`ReferenceHandednessResolver`, :func:`reference_count_label_flips`: solve/handedness.py
  with numpy arrays per hand and dicts per side.
* :func:`reference_finger_states`, :func:`reference_gesture_scores`, :func:`reference_classify`:
  solve/gestures.py, one numpy pass per hand.
* :func:`reference_touches_border`: filters/hand_entry.py's edge test, one comparison per landmark.
* :class:`ReferenceEyeSolver`, :func:`reference_apply_mediapipe`: solve/eyes.py's solver with
  numpy arrays per eye, and ``EyeState.apply_mediapipe`` one shape at a time.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mocap_bridge.errors import ConfigError
from mocap_bridge.frames import ARKit, Gesture, HandObservation, PoseObservation, TrackedFrame
from mocap_bridge.solve.eyes import (
    _BLINK,
    _LOOK,
    _MP,
    EyeSettings,
    EyeState,
    gaze_from_blendshapes,
    gaze_from_iris,
    shapes_from_gaze,
)
from mocap_bridge.solve.gestures import (
    _CHAINS,
    _RULES,
    FingerStates,
    GestureSettings,
    _direction_term,
    _ramp,
)
from mocap_bridge.solve.handedness import HandednessSettings

F64 = npt.NDArray[np.float64]

# ------------------------------------------------------------------------------------ handedness
SIDES = ("Left", "Right")
_POSE_HAND = {"Left": (15, 17, 19, 21), "Right": (16, 18, 20, 22)}
_POSE_ROWS = np.array([11, 12, *_POSE_HAND["Left"], *_POSE_HAND["Right"]])


def _xy(points: npt.ArrayLike, aspect: float) -> F64:
    p = np.array(points, dtype=np.float64)[..., :2]
    p[..., 0] *= aspect
    return p


def _box_size(p: F64) -> float:
    ext = p.max(axis=0) - p.min(axis=0)
    return max(float(ext[0]), float(ext[1]), 1e-6)


def hand_size(hand: HandObservation, aspect: float = 1.0) -> float:
    """The longer side of the hand's landmark box (normalised image units, x scaled by aspect)."""
    return _box_size(_xy(hand.landmarks, aspect))


@dataclass(slots=True)
class _Track:
    side: str
    wrist: F64  #: (2,) aspect-scaled
    size: float
    evidence: float  #: smoothed label, + = Left
    last_t: float
    disagree: int = 0  #: consecutive decisive pose votes for the other side


def _match(wrists: list[F64], sizes: list[float], tracks: list[_Track], limit: float) -> list[int | None]:
    """Track index per hand (None = new), minimising total wrist distance; distances in hand sizes."""
    best: list[int | None] = [None] * len(wrists)
    best_cost = math.inf
    best_n = -1
    n = len(tracks)
    slots: list[int | None] = [*range(n), *([None] * len(wrists))]
    for perm in set(itertools.permutations(slots, len(wrists))):
        cost, matched, ok = 0.0, 0, True
        for h, t in enumerate(perm):
            if t is None:
                continue
            dx, dy = (wrists[h] - tracks[t].wrist).tolist()
            d = math.hypot(dx, dy) / max(sizes[h], tracks[t].size)
            if d > limit:
                ok = False
                break
            cost += d
            matched += 1
        if ok and (matched > best_n or (matched == best_n and cost < best_cost)):
            best, best_cost, best_n = list(perm), cost, matched
    return best


class ReferenceHandednessResolver:
    """The resolver as it was before its plain-float rewrite (numpy per hand, dicts per side)."""

    def __init__(self, settings: HandednessSettings | None = None) -> None:
        self.settings = settings or HandednessSettings()
        self._tracks: list[_Track] = []
        self._last_t: float | None = None

    def reset(self) -> None:
        self._tracks = []
        self._last_t = None

    def _pose_costs(
        self, hp: F64, size: float, pose: PoseObservation, aspect: float
    ) -> tuple[dict[str, float], dict[str, bool]]:
        """Cost per side (hand sizes) and whether that side may claim the hand.

        Every side has a cost (an unsure wrist's position still tells which side is nearer), but
        only a visible pose hand within ``max_distance`` of a plausible body may win.
        """
        s = self.settings
        wrist, centre = hp[0], hp.mean(axis=0)
        pl = _xy(pose.landmarks[_POSE_ROWS], aspect)  # shoulders, then each side's hand points
        vis = pose.landmarks[_POSE_ROWS[2::4], 3].tolist()  # the two wrists
        # A pose hallucinated from an arm alone has its shoulders on top of each other
        # (asl_hand.mp4: 0.02 image widths apart, a hand is 0.2).
        sh = pl[0] - pl[1]
        body = math.hypot(sh[0], sh[1]) >= s.min_shoulder_width * size
        sides = pl[2:].reshape(2, 4, 2)
        d_wrist = sides[:, 0] - wrist
        d_centre = sides.mean(axis=1) - centre
        c = np.sqrt(np.einsum("ik,ik->i", d_wrist, d_wrist)) + np.sqrt(
            np.einsum("ik,ik->i", d_centre, d_centre)
        )
        c = (0.5 / size) * c
        cl = c.tolist()
        costs = {"Left": cl[0], "Right": cl[1]}
        may_win = {
            side: body and vis[k] >= s.wrist_visibility and cl[k] <= s.max_distance
            for k, side in enumerate(SIDES)
        }
        return costs, may_win

    def _decisive(self, costs: dict[str, float], may_win: dict[str, bool]) -> str | None:
        s = self.settings
        near, far = sorted(SIDES, key=lambda k: costs[k])
        cn, cf = costs[near], costs[far]
        if may_win[near] and cf >= s.ratio * cn and cf >= cn + s.margin:
            return near
        return None

    def _votes(
        self, hps: list[F64], sizes: list[float], pose: PoseObservation | None, aspect: float
    ) -> list[str | None]:
        if pose is None:
            return [None] * len(hps)
        judged = [self._pose_costs(hp, size, pose, aspect) for hp, size in zip(hps, sizes, strict=True)]
        costs = [c for c, _ in judged]
        votes = [self._decisive(c, w) for c, w in judged]
        if len(hps) == 2:
            a, b = votes
            if a is not None and a == b:
                # both want the same side: the nearer hand takes it, the other the remaining side
                keep = 0 if costs[0][a] <= costs[1][a] else 1
                votes[1 - keep] = _other(a)
            elif a is not None and b is None:
                votes[1] = _other(a)
            elif b is not None and a is None:
                votes[0] = _other(b)
        return votes

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
        hps = [_xy(h.landmarks, aspect) for h in hands]
        wrists = [hp[0] for hp in hps]
        sizes = [_box_size(hp) for hp in hps]
        matches = _match(wrists, sizes, self._tracks, s.track_distance)
        votes = self._votes(hps, sizes, frame.pose, aspect)
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


def reference_count_label_flips(
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
        wrists = [_xy(h.landmarks[0], aspect) for h in hands]
        sizes = [hand_size(h, aspect) for h in hands]
        matches = _match(wrists, sizes, tracks, track_distance)
        new: list[_Track] = []
        for h, hand in enumerate(hands):
            m = matches[h]
            if m is not None and tracks[m].side != hand.label:
                flips += 1
            new.append(_Track(hand.label, wrists[h], sizes[h], 0.0, t))
        tracks = new + [tr for i, tr in enumerate(tracks) if i not in matches]
    return flips


# ------------------------------------------------------------------------------------ hand entry
def reference_touches_border(landmarks: npt.ArrayLike, margin: float, count: int = 1) -> bool:
    p = np.asarray(landmarks, dtype=np.float64)[:, :2]
    near = (p < margin) | (p > 1.0 - margin)
    return int(np.count_nonzero(near.any(axis=1))) >= count


# -------------------------------------------------------------------------------------- gestures
#: (15,) start and end landmark of each chain segment, wrist first: (5 fingers × 4 segments)
_SEG_FROM = np.concatenate(([0], _CHAINS[0, :-1], [0], _CHAINS[1, :-1], [0], _CHAINS[2, :-1], [0],
                            _CHAINS[3, :-1], [0], _CHAINS[4, :-1]))  # fmt: skip
_SEG_TO = _CHAINS.ravel()


def reference_finger_states(
    landmarks: npt.ArrayLike, settings: GestureSettings | None = None, *, aspect: float = 1.0
) -> FingerStates:
    """Finger bends, extensions and directions from (21, 3) normalised hand landmarks.

    ``aspect`` is the processed image's width / height (x and z are fractions of the width).
    """
    s = settings or GestureSettings()
    p = np.array(landmarks, dtype=np.float64)
    if p.shape != (21, 3) or not np.isfinite(p).all():
        raise ConfigError(f"hand landmarks must be 21 finite 3-D points, got shape {p.shape}")
    if not aspect > 0.0:
        raise ConfigError(f"image aspect must be > 0, got {aspect}")
    p[:, 0] *= aspect
    p[:, 2] *= aspect
    seg = (p[_SEG_TO] - p[_SEG_FROM]).reshape(5, 4, 3)  # wrist→MCP, MCP→PIP, PIP→DIP, DIP→tip
    seg /= np.maximum(np.sqrt(np.einsum("fsk,fsk->fs", seg, seg)), 1e-12)[..., None]
    cos = np.einsum("fsk,fsk->fs", seg[:, 1:], seg[:, :-1])
    ang = np.degrees(np.arccos(np.minimum(np.maximum(cos, -1.0), 1.0)))  # (5, 3) joint bends
    bend = ang.sum(axis=1)
    # The thumb's first "joint" (wrist→CMC→MCP) is the palm's shape, not a bend: leave it out.
    bend[0] = ang[0, 1] + ang[0, 2]
    lo, hi = s.finger_straight_deg, s.finger_folded_deg
    ext = [1.0 - _ramp(float(b), lo, hi) for b in bend.tolist()]
    d = p[[9, 17, 4, 4, 8]] - p[[0, 5, 6, 2, 5]]  # palm length, palm width, thumb gap, thumb, index
    n = np.sqrt(np.einsum("ik,ik->i", d, d)).tolist()
    palm = max(n[0], n[1], 1e-9)
    ext[0] = _ramp(n[2] / palm, s.thumb_on_fist, s.thumb_clear)
    thumb_dir = d[3] / max(n[3], 1e-12)
    protrusion = float(np.min((p[4] - p[5:]) @ thumb_dir)) / palm
    return FingerStates(
        bend_deg=bend,
        extension=np.array(ext),
        thumb_protrusion=protrusion,
        thumb_up=-float(thumb_dir[1]),  # image up is −y
        index_up=-float(d[4, 1]) / max(n[4], 1e-12),
    )


def reference_gesture_scores(states: FingerStates, settings: GestureSettings | None = None) -> F64:
    """Score per :class:`Gesture` (8,), ``None_`` = 1 − best; fuzzy AND of the class's rules."""
    s = settings or GestureSettings()
    ext = states.extension.tolist()
    clear = _ramp(states.thumb_protrusion, s.thumb_protrusion_min, s.thumb_protrusion_full)
    out = [0.0] * len(Gesture)
    for g, rules in _RULES:
        score = min(ext[i] if want else 1.0 - ext[i] for i, want in rules)
        if g is Gesture.Thumb_Up:
            score = min(score, clear, _direction_term(states.thumb_up, s.up_cos))
        elif g is Gesture.Thumb_Down:
            score = min(score, clear, _direction_term(-states.thumb_up, s.up_cos))
        elif g is Gesture.Pointing_Up:
            score = min(score, _direction_term(states.index_up, s.up_cos))
        elif g is Gesture.Closed_Fist:
            # a fist whose thumb clears it up or down is Thumb_Up / Thumb_Down instead
            score = min(score, 1.0 - clear * _direction_term(abs(states.thumb_up), s.up_cos))
        out[g] = score
    out[Gesture.None_] = 1.0 - max(out[1:])
    return np.array(out)


def reference_classify(
    hand: HandObservation, settings: GestureSettings | None = None, *, aspect: float = 1.0
) -> tuple[Gesture, float]:
    """The best class and its score for one hand in one frame (``None_`` below ``min_score``)."""
    s = settings or GestureSettings()
    scores = reference_gesture_scores(reference_finger_states(hand.landmarks, s, aspect=aspect), s).tolist()
    best = max(range(1, len(scores)), key=scores.__getitem__)
    if scores[best] < s.min_score:
        return Gesture.None_, scores[Gesture.None_]
    return Gesture(best), scores[best]


# ------------------------------------------------------------------------------------------ eyes
class ReferenceEyeSolver:
    """solve/eyes.py's EyeSolver as it was: numpy arrays per eye."""

    def __init__(self, settings: EyeSettings | None = None) -> None:
        self.settings = settings or EyeSettings()
        self.reset()

    def reset(self) -> None:
        """Forget the held gaze (a new face)."""
        self._open_gaze: F64 | None = None  # last output while open, per eye (2, 2)
        self._open_look: F64 | None = None  # (2, 4)
        self._frozen_gaze = np.zeros((2, 2))  # held while closed
        self._frozen_look = np.zeros((2, 4))
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
        s = self.settings
        if self._last_t is not None and t_ms < self._last_t:
            raise ConfigError(f"eyes: time went backwards ({t_ms} ms after {self._last_t} ms)")
        self._last_t = t_ms
        a = np.asarray(arkit, dtype=np.float64)
        if a.shape != (len(ARKit),):
            raise ConfigError(f"eyes need the {len(ARKit)} ARKit blendshapes, got shape {a.shape}")
        raw = np.array([a[_BLINK[0]], a[_BLINK[1]]])
        wink = bool(s.link_blinks and s.wink and abs(raw[0] - raw[1]) > s.wink_margin)
        linked = raw if (wink or not s.link_blinks) else np.full(2, raw.mean())
        norm = np.clip((linked - s.blink_threshold) / (s.blink_full - s.blink_threshold), 0.0, 1.0)
        blink: F64 = norm if s.blink_curve == 1.0 else norm**s.blink_curve

        look = np.array([[a[i] for i in _LOOK[0]], [a[i] for i in _LOOK[1]]])
        if s.gaze_source == "iris":
            if landmarks is None:
                raise ConfigError('eyes: gaze_source = "iris" needs the face landmarks')
            live = gaze_from_iris(landmarks, s.iris_yaw_deg, s.iris_pitch_deg, s.iris_neutral, aspect=aspect)
            look = shapes_from_gaze(live, s.yaw_range_deg, s.pitch_range_deg)  # the shapes agree
        else:
            live = gaze_from_blendshapes(look, s.yaw_range_deg, s.pitch_range_deg)

        gaze = live.copy()
        out_look = look.copy()
        if self._open_gaze is None or self._open_look is None:
            self._open_gaze, self._open_look = live.copy(), look.copy()
        held = [False, False]
        for e in range(2):
            closed = bool(linked[e] >= s.gaze_hold_blink)
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
                    gaze[e] = self._frozen_gaze[e] + w * (live[e] - self._frozen_gaze[e])
                    out_look[e] = self._frozen_look[e] + w * (look[e] - self._frozen_look[e])
                self._open_gaze[e], self._open_look[e] = gaze[e], out_look[e]
            self._closed[e] = closed
        return EyeState(blink=blink, gaze=gaze, look=out_look, held=(held[0], held[1]), wink=wink)


def reference_apply_mediapipe(state: EyeState, scores: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """``EyeState.apply_mediapipe`` as it was: one shape at a time."""
    out = np.array(scores, dtype=np.float32)
    for e in range(2):
        out[_MP[_BLINK[e]]] = state.blink[e]
        for k, shape in enumerate(_LOOK[e]):
            out[_MP[shape]] = state.look[e, k]
    return out
