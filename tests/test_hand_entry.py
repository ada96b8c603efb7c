"""Hands at the frame edge and new hands, on real MediaPipe landmarks, through the existing Gate.

fist_thumbs_up.mp4 (looked at frame by frame): the fist enters from the bottom edge at frame 23
(wrist below the frame until ~26), is raised until it is cut by the top edge (frames 46–55), and
the thumbs-up from frame 56 on is well inside the frame.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import media
from handmedia import clip_aspect, load_rgb, track_clip, track_rgb

from mocap_bridge.errors import ConfigError
from mocap_bridge.filters.gating import Gate
from mocap_bridge.filters.hand_entry import HandEntryGate, HandEntrySettings, touches_border
from mocap_bridge.frames import TrackedFrame
from mocap_bridge.solve.handedness import HandednessResolver

TOP_EDGE = range(46, 56)


@pytest.fixture(scope="module")
def fist() -> list[TrackedFrame]:
    path = media("fist_thumbs_up.mp4")
    asp = clip_aspect(path)
    r = HandednessResolver()
    return [r.resolve(f, aspect=asp) for f in track_clip(path)]


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigError):
        HandEntrySettings(entry_frames=0)
    with pytest.raises(ConfigError):
        HandEntrySettings(border_margin=0.6)


def test_cropping_a_still_through_the_hand_marks_it_at_the_border(model_paths: dict[str, Path]) -> None:
    rgb = load_rgb(media("hand_thumb_up.jpg"))
    [whole] = track_rgb(rgb).hands
    assert not touches_border(whole.landmarks, 0.02)
    # cut the image at the middle of the hand's box: what is left of the hand touches the left edge
    w = rgb.shape[1]
    x_mid = int(w * float(whole.landmarks[:, 0].min() + whole.landmarks[:, 0].max()) / 2)
    [cut] = track_rgb(np.ascontiguousarray(rgb[:, x_mid:])).hands
    assert touches_border(cut.landmarks, 0.02)


def test_edge_frames_and_new_hands_are_not_valid(fist: list[TrackedFrame]) -> None:
    gate = HandEntryGate(HandEntrySettings(border_margin=0.02, entry_frames=3))
    verdicts = [gate.update({"Right": f.hand("Right")})["Right"] for f in fist]
    first_seen = next(i for i, v in enumerate(verdicts) if v.present)
    assert first_seen == 23
    for i in TOP_EDGE:
        assert verdicts[i].present and verdicts[i].at_border and not verdicts[i].valid, i
    # valid only after three consecutive frames present and off the border
    for i, v in enumerate(verdicts):
        run = all(verdicts[j].present and not verdicts[j].at_border for j in range(max(i - 2, 0), i + 1))
        assert v.valid == (run and i >= 2), i
    assert all(v.valid for v in verdicts[60:])


def test_a_lone_detection_never_drives_the_rig(model_paths: dict[str, Path]) -> None:
    # The dance clip's hand landmarker fires on and off: runs of one and two frames.
    path = media("dance_full_body_synthetic.mp4")
    asp = clip_aspect(path)
    r, gate = HandednessResolver(), HandEntryGate(HandEntrySettings(entry_frames=3))
    present, valid = [], []
    for f in track_clip(path):
        o = r.resolve(f, aspect=asp)
        v = gate.update({"Left": o.hand("Left"), "Right": o.hand("Right")})
        present.append([v[s].present for s in ("Left", "Right")])
        valid.append([v[s].valid for s in ("Left", "Right")])
    p, ok = np.array(present), np.array(valid)
    short_runs = 0
    for side in range(2):
        col = np.concatenate(([False], p[:, side], [False]))
        starts, ends = np.flatnonzero(~col[:-1] & col[1:]), np.flatnonzero(col[:-1] & ~col[1:])
        for a, b in zip(starts, ends, strict=True):
            if b - a < 3:
                short_runs += 1
                assert not ok[a:b, side].any(), f"a {b - a}-frame detection at {a} drove the rig"
    assert short_runs >= 2  # the clip does have such flickers


def test_gate_holds_then_eases_a_hand_at_the_edge(fist: list[TrackedFrame]) -> None:
    # The rig gates each hand as channels with a validity flag; AND the edge/entry flag into it.
    hold, release = 200.0, 400.0
    entry = HandEntryGate()
    rest = np.zeros((1, 63))
    with_edge = Gate(rest, hold_ms=hold, release_ms=release, reacquire_ms=100.0)
    without = Gate(rest, hold_ms=hold, release_ms=release, reacquire_ms=100.0)
    out_edge, out_raw, raw = {}, {}, {}
    last = np.zeros(63)
    for f in fist:
        hand = f.hand("Right")
        live = hand.landmarks.ravel().astype(np.float64) if hand is not None else last
        last = live
        ok = entry.valid({"Right": hand})[1]
        out_edge[f.index] = with_edge(live[None], np.array([ok]), f.t_ms)[0]
        out_raw[f.index] = without(live[None], np.array([hand is not None]), f.t_ms)[0]
        raw[f.index] = live
    t = {f.index: f.t_ms for f in fist}
    held = [i for i in TOP_EDGE if t[i] - t[TOP_EDGE[0]] < hold]
    assert len(held) >= 4
    for i in held:  # held at the last good frame's value, while the raw hand jitters at the edge
        assert np.allclose(out_edge[i], out_edge[TOP_EDGE[0] - 1])
        assert np.allclose(out_raw[i], raw[i])
    moved = [i for i in TOP_EDGE if t[i] - t[TOP_EDGE[0]] > hold]
    assert moved and all(np.abs(out_edge[i]).sum() < np.abs(out_edge[TOP_EDGE[0] - 1]).sum() for i in moved)


@pytest.mark.parametrize(("margin", "count", "frames"), [(0.02, 1, 3), (0.1, 3, 1), (0.0, 1, 2)])
def test_valid_pair_is_update_reduced(margin: float, count: int, frames: int) -> None:
    """RigSolver's per-frame call (:meth:`HandEntryGate.valid_pair`) against :meth:`update`."""
    from mocap_bridge.frames import HandObservation

    rng = np.random.default_rng(3)
    s = HandEntrySettings(border_margin=margin, border_landmarks=count, entry_frames=frames)
    a, b = HandEntryGate(s), HandEntryGate(s)
    for _ in range(300):
        hands: dict[str, HandObservation | None] = {}
        for side in ("Left", "Right"):
            if rng.random() < 0.8:
                lm = (
                    rng.uniform(-0.05, 1.05, (21, 3))
                    if rng.random() < 0.3
                    else rng.uniform(0.2, 0.8, (21, 3))
                )
                hands[side] = HandObservation(side, 0.9, lm.astype(np.float32), np.zeros((21, 3), np.float32))
        v = a.update(hands)
        assert b.valid_pair(hands.get("Left"), hands.get("Right")) == (v["Left"].valid, v["Right"].valid)
