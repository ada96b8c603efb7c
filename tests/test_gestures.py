"""Gestures on real MediaPipe landmarks: stills, their mirrored / rotated variants, and a clip.

Labelled media (looked at frame by frame):

* hand_thumb_up.jpg: Thumb_Up. hand_victory.jpg: Victory. hands_open.jpg: two Open_Palm hands.
* fist_thumbs_up.mp4 (25 fps): the hand enters from below as a fist at frame 23 and is raised to
  the face by frame 44 (Closed_Fist, frames 23–50); the thumb lifts over frames 51–55, and from
  frame 56 to the end (194) it is a thumbs-up toward the camera (Thumb_Up).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import media
from handmedia import aspect, clip_aspect, flip, load_rgb, rotate, track_clip, track_rgb
from scipy.spatial.transform import Rotation

from mocap_bridge.errors import ConfigError
from mocap_bridge.frames import HandObservation, TrackedFrame
from mocap_bridge.solve.gestures import (
    Gesture,
    GestureEvent,
    GestureSettings,
    GestureTracker,
    classify,
    finger_states,
)
from mocap_bridge.solve.handedness import HandednessResolver

STILLS = {
    "hand_thumb_up.jpg": Gesture.Thumb_Up,
    "hand_victory.jpg": Gesture.Victory,
    "hands_open.jpg": Gesture.Open_Palm,
}
FIST_SPAN = range(23, 51)
THUMB_SPAN = range(56, 195)


def test_enum_is_the_canned_order() -> None:
    names = [
        "None",
        "Closed_Fist",
        "Open_Palm",
        "Pointing_Up",
        "Thumb_Down",
        "Thumb_Up",
        "Victory",
        "ILoveYou",
    ]
    assert [g.label for g in Gesture] == names
    assert [int(g) for g in Gesture] == list(range(8))


def test_bad_settings_and_landmarks_raise_config_errors() -> None:
    with pytest.raises(ConfigError):
        GestureSettings(finger_straight_deg=120.0, finger_folded_deg=100.0)
    with pytest.raises(ConfigError):
        GestureSettings(hold_ms=-1.0)
    with pytest.raises(ConfigError):
        finger_states(np.zeros((20, 3)))
    with pytest.raises(ConfigError):
        finger_states(np.full((21, 3), np.nan))


def _sided(rgb: np.ndarray) -> tuple[TrackedFrame, list[tuple[HandObservation, Gesture, float]]]:
    """Track one image; hands relabelled by the handedness resolver, each with its gesture."""
    frame = HandednessResolver().resolve(track_rgb(rgb), aspect=aspect(rgb))
    return frame, [(h, *classify(h, aspect=aspect(rgb))) for h in frame.hands]


@pytest.mark.parametrize("name", sorted(STILLS))
def test_still_gesture_survives_mirroring_and_rotation(name: str, model_paths: dict[str, Path]) -> None:
    path = media(name)
    want = STILLS[name]
    rgb = load_rgb(path)
    _, base = _sided(rgb)
    assert base, f"no hand found on {name}"
    assert all(g is want for _, g, _ in base), [(h.label, g.label) for h, g, _ in base]
    for variant, img, mirrored in (
        ("flipped", flip(rgb), True),
        ("rotated +20°", rotate(rgb, 20.0), False),
        ("rotated -20°", rotate(rgb, -20.0), False),
        ("flipped, rotated +20°", rotate(flip(rgb), 20.0), True),
    ):
        _, got = _sided(img)
        assert len(got) == len(base), f"{name} {variant}: {len(got)} hands, expected {len(base)}"
        assert all(g is want for _, g, _ in got), (variant, [(h.label, g.label) for h, g, _ in got])
        # Each hand keeps its side under rotation and takes the other side in the mirror image.
        # Hands are paired by their wrist's image x order, which a mirror reverses.
        by_x = sorted(base, key=lambda r: float(r[0].landmarks[0, 0]))
        got_x = sorted(got, key=lambda r: float(r[0].landmarks[0, 0]), reverse=mirrored)
        for (b, _, _), (v, _, _) in zip(by_x, got_x, strict=True):
            expected = {"Left": "Right", "Right": "Left"}[b.label] if mirrored else b.label
            assert v.label == expected, f"{name} {variant}: {v.label}, expected {expected}"
        assert len({h.label for h, _, _ in got}) == len(got)  # never two hands on one side


def test_a_thumbs_up_turned_over_is_a_thumbs_down(model_paths: dict[str, Path]) -> None:
    rgb = load_rgb(media("hand_thumb_up.jpg"))
    for degrees in (160.0, 180.0, 200.0):
        for img in (rotate(rgb, degrees), rotate(flip(rgb), degrees)):
            _, got = _sided(img)
            assert [g for _, g, _ in got] == [Gesture.Thumb_Down], (
                degrees,
                [(h.label, g.label) for h, g, _ in got],
            )


def _fold(p: np.ndarray, finger: int) -> np.ndarray:
    """Fold one long finger (1 index .. 4 little) of (21, 3) landmarks into the palm: 90° at each
    joint about the knuckle line (index MCP → little MCP), toward the palm side."""
    q = p.copy()
    mcp = 1 + 4 * finger
    axis = q[17] - q[5]
    axis /= np.linalg.norm(axis)
    normal = np.cross(q[5] - q[0], q[17] - q[0])  # out of the palm, one way or the other
    for k in range(3):  # MCP, PIP, DIP
        joint = q[mcp + k].copy()
        rot = Rotation.from_rotvec(np.radians(90.0) * axis)
        moved = rot.apply(q[mcp + k + 1 : mcp + 4] - joint) + joint
        if np.dot(moved[-1] - joint, normal) > np.dot(q[mcp + 3] - joint, normal):
            moved = (
                Rotation.from_rotvec(-np.radians(90.0) * axis).apply(q[mcp + k + 1 : mcp + 4] - joint) + joint
            )
        q[mcp + k + 1 : mcp + 4] = moved
    return q


def test_every_class_is_reachable_from_a_real_open_hand(model_paths: dict[str, Path]) -> None:
    # No shipped media shows ILoveYou (or a Pointing_Up still): fold fingers of the real open hand
    # (hands_open.jpg, the upright one) and check each pattern reads as its class.
    rgb = load_rgb(media("hands_open.jpg"))
    frame, _ = _sided(rgb)
    upright = max(frame.hands, key=lambda h: -float(h.landmarks[8, 1] - h.landmarks[0, 1]))
    base = upright.landmarks.astype(np.float64)
    asp = aspect(rgb)
    cases = {
        Gesture.Open_Palm: (),
        Gesture.ILoveYou: (2, 3),
        Gesture.Victory: (3, 4),
        Gesture.Pointing_Up: (2, 3, 4),
    }
    for want, folded in cases.items():
        p = base.copy()
        p[:, 0] *= asp  # fold in isotropic units, then back
        p[:, 2] *= asp
        for f in folded:
            p = _fold(p, f)
        if want is Gesture.Pointing_Up:  # and the thumb onto the fist: its tip to the middle PIP
            p[4] = p[10]
        p[:, 0] /= asp
        p[:, 2] /= asp
        hand = HandObservation(upright.label, upright.score, p.astype(np.float32), upright.world)
        assert classify(hand, aspect=asp)[0] is want, (
            want,
            folded,
            finger_states(hand.landmarks, aspect=asp),
        )


@pytest.fixture(scope="module")
def fist_clip() -> tuple[list[TrackedFrame], float]:
    path = media("fist_thumbs_up.mp4")
    return track_clip(path), clip_aspect(path)


def test_fist_then_thumbs_up_in_order(fist_clip: tuple[list[TrackedFrame], float]) -> None:
    frames, asp = fist_clip
    resolver, tracker = HandednessResolver(), GestureTracker()
    reported: dict[int, Gesture] = {}
    for f in frames:
        sided = resolver.resolve(f, aspect=asp)
        events = tracker.update(
            {"Left": sided.hand("Left"), "Right": sided.hand("Right")}, f.t_ms, aspect=asp
        )
        ev = events["Right"]  # her right hand (on the image's left)
        reported[f.index] = ev.label if ev is not None else Gesture.None_
    fist = [reported[i] for i in FIST_SPAN]
    thumb = [reported[i] for i in THUMB_SPAN]
    assert fist.count(Gesture.Closed_Fist) >= 0.75 * len(fist), fist
    assert thumb.count(Gesture.Thumb_Up) >= 0.9 * len(thumb), thumb
    seq = [g for _, g in sorted(reported.items()) if g is not Gesture.None_]
    runs = [g for i, g in enumerate(seq) if i == 0 or seq[i - 1] is not g]
    assert runs == [Gesture.Closed_Fist, Gesture.Thumb_Up], runs


def _hand(frames: list[TrackedFrame], index: int) -> HandObservation:
    [hand] = frames[index].hands
    return hand


def test_tracker_holds_before_reporting_and_survives_dropouts(
    fist_clip: tuple[list[TrackedFrame], float],
) -> None:
    frames, asp = fist_clip
    fist, thumb = _hand(frames, 40), _hand(frames, 100)
    assert classify(fist, aspect=asp)[0] is Gesture.Closed_Fist
    assert classify(thumb, aspect=asp)[0] is Gesture.Thumb_Up
    tr = GestureTracker(GestureSettings(hold_ms=200.0, dropout_ms=120.0))

    def run(hand: HandObservation | None, t0: int, t1: int) -> list[GestureEvent | None]:
        """One frame every 40 ms (25 fps) from t0 to t1 inclusive."""
        return [tr.update({"Right": hand}, t, aspect=asp)["Right"] for t in range(t0, t1 + 1, 40)]

    held = run(fist, 0, 240)  # 0, 40, ... 240 ms
    assert held[:5] == [None] * 5  # 0..160 ms: not yet held for 200 ms
    assert held[5] is not None and held[5].label is Gesture.Closed_Fist and held[5].since_ms == 0
    assert held[5].hand == "Right" and 0.5 <= held[5].score <= 1.0
    # a loss of the hand for 80 ms (two frames) does not end it ...
    assert all(ev is not None and ev.label is Gesture.Closed_Fist for ev in run(None, 280, 320))
    # another class: the fist ends once unseen for over 120 ms (after 240 + 120 ms), and the
    # thumbs-up is reported once it has held for 200 ms (from 360 ms)
    switch = run(thumb, 360, 600)
    assert [ev.label if ev else None for ev in switch] == [Gesture.Closed_Fist] + [None] * 4 + [
        Gesture.Thumb_Up
    ] * 2
    assert switch[-1] is not None and switch[-1].since_ms == 360
    # lost for longer than the dropout: ended
    assert [ev is not None for ev in run(None, 640, 760)] == [True, True, True, False]
    with pytest.raises(ConfigError):
        tr.update({"Right": thumb}, 100, aspect=asp)  # time went backwards


def test_mirrored_clip_reports_the_other_hand(fist_clip: tuple[list[TrackedFrame], float]) -> None:
    _, asp = fist_clip
    mirrored = track_clip(media("fist_thumbs_up.mp4"), mirror=True)
    resolver, tracker = HandednessResolver(), GestureTracker()
    sides: list[str] = []
    for f in mirrored:
        sided = resolver.resolve(f, aspect=asp)
        events = tracker.update(
            {"Left": sided.hand("Left"), "Right": sided.hand("Right")}, f.t_ms, aspect=asp
        )
        sides += [side for side, ev in events.items() if ev is not None and f.index in THUMB_SPAN]
    assert sides.count("Left") >= 0.9 * len(THUMB_SPAN) and "Right" not in sides
