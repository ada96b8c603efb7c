"""Hands, gestures and eyes on the shared media: confusion table, label flips, edge sweep, blinks.

Run from the repository root (the shared media folder ``../shared/media`` beside the checkout)::

    python benchmarks/gestures.py            # everything, ~2 min on 2 cores
    python benchmarks/gestures.py --no-edge  # skip the edge sweep (~30 s of extra tracking)

Every figure comes from real MediaPipe (VIDEO mode, hands searched in every frame) in this run.

* **Gesture confusion**: every labelled still (hand_thumb_up, hand_victory, hands_open, each as is,
  mirrored, rotated ±20° and mirrored + rotated 20°) and every labelled span of the clips (below,
  found by looking at the frames), as is and mirrored. Rows are the truth, columns the
  classifier's per-frame answer; a second table shows what :class:`GestureTracker` reports (hold
  and dropout) on the clip spans.
* **Label flips**: a hand that stays in view and changes label between frames (hands followed by
  wrist distance), MediaPipe's labels against :class:`HandednessResolver`'s, per clip, as is and
  mirrored; and agreement with the pose on frames where a hand sits on one pose wrist
  (< 0.5 hand sizes) and far (> 2) from the other.
* **Edge sweep**: the thumbs-up frames of fist_thumbs_up.mp4 cropped so the hand's left edge sits
  at a given distance from the image's left edge (negative: cut through the hand); hands found
  and shape jitter (frame-to-frame landmark motion after removing the mean shift, in hand sizes).
* **Blinks**: on talking_head_a.mpg, the largest downward gaze during the two blinks, raw and held.
* **Cost**: per-frame time of the new stages against ``RigSolver.solve`` on the same frames.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from scipy import ndimage

from mocap_bridge.capture.sources import open_source
from mocap_bridge.filters.hand_entry import HandEntryGate, HandEntrySettings, touches_border
from mocap_bridge.frames import TrackedFrame
from mocap_bridge.settings import TrackingSettings
from mocap_bridge.solve.eyes import EyeSettings, EyeSolver, gaze_from_blendshapes, gaze_from_iris
from mocap_bridge.solve.face import arkit_from_mediapipe
from mocap_bridge.solve.gestures import Gesture, GestureTracker, classify
from mocap_bridge.solve.handedness import HandednessResolver, count_label_flips, hand_size
from mocap_bridge.tracking.landmarkers import Landmarkers
from mocap_bridge.tracking.offline import resolve_model_paths, track_file

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
SETTINGS = TrackingSettings(adaptive_hands=False)

#: still -> the gesture of every hand in it
STILLS = {
    "hand_thumb_up.jpg": Gesture.Thumb_Up,
    "hand_victory.jpg": Gesture.Victory,
    "hands_open.jpg": Gesture.Open_Palm,
}
#: clip -> (first frame, last frame, gesture) of the subject's right hand, by looking at frames
SPANS: dict[str, list[tuple[int, int, Gesture]]] = {
    "fist_thumbs_up.mp4": [
        (23, 50, Gesture.Closed_Fist),  # fist enters from below, raised to the face
        (56, 194, Gesture.Thumb_Up),  # thumbs-up toward the camera
    ],
    "open_palm_reach.mp4": [(40, 201, Gesture.Open_Palm)],  # open palm reaching toward the camera
    "asl_hand.mp4": [  # fingerspelling
        (0, 8, Gesture.Closed_Fist),
        (60, 80, Gesture.None_),  # little finger up ("I")
        (100, 120, Gesture.Closed_Fist),  # thumb across the fingers
        (135, 160, Gesture.Pointing_Up),  # index up
        (180, 200, Gesture.Closed_Fist),
        (225, 250, Gesture.Closed_Fist),
        (270, 290, Gesture.Closed_Fist),
        (305, 324, Gesture.Closed_Fist),
    ],
}
FLIP_CLIPS = ("fist_thumbs_up.mp4", "open_palm_reach.mp4", "asl_hand.mp4", "dance_full_body_synthetic.mp4")


def say(*parts: object) -> None:
    print(*parts, flush=True)


def load_rgb(path: Path) -> np.ndarray:
    src = open_source(str(path), realtime=False, mirror=False, max_side=640)
    try:
        return np.ascontiguousarray(next(iter(src.frames())).rgb)
    finally:
        src.close()


def clip_rgbs(path: Path) -> list[np.ndarray]:
    src = open_source(str(path), realtime=False, mirror=False, max_side=640)
    try:
        return [np.ascontiguousarray(f.rgb) for f in src.frames()]
    finally:
        src.close()


def rotate(rgb: np.ndarray, degrees: float) -> np.ndarray:
    ch = [
        ndimage.rotate(
            rgb[..., c], degrees, reshape=True, order=1, mode="constant", cval=float(np.median(rgb[..., c]))
        )
        for c in range(3)
    ]
    return np.ascontiguousarray(np.clip(np.stack(ch, axis=-1), 0, 255).astype(np.uint8))


def upside_down(rgb: np.ndarray) -> Iterable[tuple[str, np.ndarray]]:
    """A thumbs-up turned over is a thumbs-down."""
    yield "180°", rotate(rgb, 180.0)
    yield "160°", rotate(rgb, 160.0)
    yield "200°", rotate(rgb, 200.0)
    yield "mirrored 180°", rotate(np.ascontiguousarray(rgb[:, ::-1]), 180.0)


def variants(rgb: np.ndarray) -> Iterable[tuple[str, np.ndarray]]:
    flipped = np.ascontiguousarray(rgb[:, ::-1])
    yield "as is", rgb
    yield "mirrored", flipped
    yield "+20°", rotate(rgb, 20.0)
    yield "-20°", rotate(rgb, -20.0)
    yield "mirrored +20°", rotate(flipped, 20.0)


def track_images(images: list[np.ndarray], settings: TrackingSettings = SETTINGS) -> list[TrackedFrame]:
    paths = resolve_model_paths(settings)
    with Landmarkers(settings, paths, live=False) as lm:
        return [lm.track(img, i, i * 40) for i, img in enumerate(images)]


def table(title: str, counts: dict[tuple[Gesture, Gesture], int]) -> None:
    truths = [g for g in Gesture if any(t is g for t, _ in counts)]
    cols = list(Gesture)
    say(f"\n{title} (rows: truth, columns: answer; per hand and frame)")
    w = max(len(g.label) for g in Gesture)
    say(" " * (w + 1) + " ".join(f"{g.label[:11]:>11}" for g in cols) + "   recall")
    total_ok = total = 0
    for t in truths:
        row = [counts.get((t, p), 0) for p in cols]
        n = sum(row)
        total, total_ok = total + n, total_ok + counts.get((t, t), 0)
        say(f"{t.label:<{w}} " + " ".join(f"{v:>11}" for v in row) + f"   {counts.get((t, t), 0) / n:6.1%}")
    say(f"overall accuracy {total_ok}/{total} = {total_ok / max(total, 1):.1%}")


def gesture_section(tracked: dict[tuple[str, bool], list[TrackedFrame]], aspects: dict[str, float]) -> None:
    frame_counts: dict[tuple[Gesture, Gesture], int] = {}
    tracker_counts: dict[tuple[Gesture, Gesture], int] = {}
    stills = [
        (name, want, label, img)
        for name, want in STILLS.items()
        for label, img in variants(load_rgb(MEDIA / name))
    ]
    stills += [
        ("hand_thumb_up.jpg", Gesture.Thumb_Down, label, img)
        for label, img in upside_down(load_rgb(MEDIA / "hand_thumb_up.jpg"))
    ]
    for name, want, label, img in stills:
        [frame] = track_images([img])
        if not frame.hands:
            say(f"  {name} {label}: no hand found")
        for h in frame.hands:
            got, _ = classify(h, aspect=img.shape[1] / img.shape[0])
            frame_counts[want, got] = frame_counts.get((want, got), 0) + 1
    for (name, mirrored), frames in tracked.items():
        if name not in SPANS:
            continue
        asp = aspects[name]
        side = "Left" if mirrored else "Right"
        resolver, tracker = HandednessResolver(), GestureTracker()
        truth = {i: g for a, b, g in SPANS[name] for i in range(a, b + 1)}
        for f in frames:
            sided = resolver.resolve(f, aspect=asp)
            hands = {"Left": sided.hand("Left"), "Right": sided.hand("Right")}
            events = tracker.update(hands, f.t_ms, aspect=asp)
            if f.index not in truth:
                continue
            want = truth[f.index]
            hand = hands[side]
            got = classify(hand, aspect=asp)[0] if hand is not None else Gesture.None_
            frame_counts[want, got] = frame_counts.get((want, got), 0) + 1
            ev = events[side]
            rep = ev.label if ev is not None else Gesture.None_
            tracker_counts[want, rep] = tracker_counts.get((want, rep), 0) + 1
    say(
        f"labelled: {len(stills)} still images (3 stills x 5 variants, hand_thumb_up turned over x 4 as"
        f" Thumb_Down), the spans of {', '.join(SPANS)}, as is and mirrored"
    )
    table("Gesture confusion, per-frame classifier", frame_counts)
    table(
        "Gesture confusion, reported by GestureTracker (hold 150 ms, dropout 250 ms), clip spans only",
        tracker_counts,
    )


def pose_agreement(frames: list[TrackedFrame], asp: float) -> tuple[int, int, int]:
    """(unambiguous hands, raw agreeing, resolved agreeing) where a hand sits on one pose wrist."""
    resolver = HandednessResolver()
    n = raw_ok = res_ok = 0
    for f in frames:
        out = resolver.resolve(f, aspect=asp)
        if f.pose is None:
            continue
        for raw, res in zip(
            sorted(f.hands, key=lambda h: float(h.landmarks[0, 0])),
            sorted(out.hands, key=lambda h: float(h.landmarks[0, 0])),
            strict=True,
        ):
            scale = np.array([asp, 1.0])
            d = {
                s: float(np.linalg.norm((f.pose.landmarks[i, :2] - res.landmarks[0, :2]) * scale))
                / hand_size(res, asp)
                for s, i in (("Left", 15), ("Right", 16))
            }
            near, far = sorted(d, key=lambda s: d[s])
            if d[near] < 0.5 and d[far] > 2.0:
                n += 1
                raw_ok += raw.label == near
                res_ok += res.label == near
    return n, raw_ok, res_ok


def flip_section(tracked: dict[tuple[str, bool], list[TrackedFrame]], aspects: dict[str, float]) -> None:
    say("\nLabel flips (a hand in view changing label between frames), MediaPipe vs HandednessResolver")
    say(f"{'clip':<42} {'s':>5} {'raw':>5} {'/min':>6} {'ours':>5} {'/min':>6}   on a pose wrist: raw / ours")
    tot_raw = tot_res = 0
    tot_s = 0.0
    for (name, mirrored), frames in tracked.items():
        if name not in FLIP_CLIPS:
            continue
        asp = aspects[name]
        resolver = HandednessResolver()
        out = [resolver.resolve(f, aspect=asp) for f in frames]
        seconds = (frames[-1].t_ms - frames[0].t_ms) / 1000.0
        raw, res = count_label_flips(frames, aspect=asp), count_label_flips(out, aspect=asp)
        n, raw_ok, res_ok = pose_agreement(frames, asp)
        tot_raw, tot_res, tot_s = tot_raw + raw, tot_res + res, tot_s + seconds
        agree = f"{raw_ok}/{n} / {res_ok}/{n}" if n else "no hand on a pose wrist"
        label = name + (" (mirrored)" if mirrored else "")
        rates = f"{raw:5d} {raw / seconds * 60:6.1f} {res:5d} {res / seconds * 60:6.1f}"
        say(f"{label:<42} {seconds:5.1f} {rates}   {agree}")
    rates = f"{tot_raw:5d} {tot_raw / tot_s * 60:6.1f} {tot_res:5d} {tot_res / tot_s * 60:6.1f}"
    say(f"{'total':<42} {tot_s:5.1f} {rates}")


def edge_section() -> None:
    margin = HandEntrySettings().border_margin
    say(
        "\nEdge sweep: fist_thumbs_up.mp4 thumbs-up frames 60-189, cropped at the left so a given fraction"
        " of the hand's width is cut off (negative: a gap); hand landmarker only, one hand"
    )
    settings = TrackingSettings(adaptive_hands=False, pose=False, face=False, num_hands=1)
    # Track from frame 0 and score frames 60-189: started cold on the thumbs-up, the hand
    # landmarker puts the index finger where the thumb is (Pointing_Up landmarks) in any crop.
    rgbs = clip_rgbs(MEDIA / "fist_thumbs_up.mp4")
    full = track_images(rgbs, settings)[60:190]
    h, w = rgbs[0].shape[:2]
    xmin = float(np.median([f.hands[0].landmarks[:, 0].min() for f in full if f.hands])) * w
    xmax = float(np.median([f.hands[0].landmarks[:, 0].max() for f in full if f.hands])) * w
    say(
        f"{'cut':>6} {'found':>8} {'min x':>7} {'jitter p50':>11} {'p90':>7} {'Thumb_Up':>9} "
        f"{'at border':>10}   (min x: leftmost landmark, image widths; border: margin {margin})"
    )
    for cut in (-0.5, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3, 0.4, 0.5):
        c = max(round(xmin + cut * (xmax - xmin)), 0)
        out = track_images([np.ascontiguousarray(r[:, c:]) for r in rgbs], settings)[60:190]
        asp = (w - c) / h
        jit, seen, thumbs, border = [], [], 0, 0
        prev = None
        for f in out:
            hand = f.hands[0] if f.hands else None
            if hand is None:
                prev = None
                continue
            p = hand.landmarks[:, :2].astype(np.float64)
            seen.append(float(p[:, 0].min()))
            thumbs += classify(hand, aspect=asp)[0] is Gesture.Thumb_Up
            border += touches_border(hand.landmarks, margin)
            if prev is not None:
                d = p - prev
                d -= d.mean(axis=0)
                jit.append(float(np.linalg.norm(d * [asp, 1.0], axis=1).mean()) / hand_size(hand, asp))
            prev = p
        found = len(seen)
        nan = float("nan")
        p50 = statistics.median(jit) if jit else nan
        p90 = float(np.percentile(jit, 90)) if jit else nan
        med = statistics.median(seen) if seen else nan
        say(
            f"{cut:>+6.1f} {found:>4d}/{len(out):<3d} {med:>+7.3f} {p50:>11.4f} {p90:>7.4f} "
            f"{thumbs / max(found, 1):>9.0%} {border / max(found, 1):>10.0%}"
        )


def blink_section(frames: list[TrackedFrame], asp: float) -> None:
    say("\nBlinks on talking_head_a.mpg (both eyes shut at frames 43-45 and 51-54)")
    blinks = (range(42, 48), range(50, 61))
    for source in ("blendshapes", "iris"):
        solver = EyeSolver(EyeSettings(gaze_source=source))
        raw_p, out_p, shut = [], [], []
        for f in frames:
            assert f.face is not None
            a = arkit_from_mediapipe(f.face.blendshapes)
            st = solver.update(a, f.t_ms, landmarks=f.face.landmarks, aspect=asp)
            look = np.array([[a[i] for i in (1, 2, 3, 4)], [a[i] for i in (8, 9, 10, 11)]])
            raw = (
                gaze_from_blendshapes(look, 30, 25)
                if source == "blendshapes"
                else gaze_from_iris(f.face.landmarks, 60, 60, aspect=asp)
            )
            raw_p.append(np.degrees(raw[:, 1]).mean())
            out_p.append(np.degrees(st.gaze[:, 1]).mean())
            if np.all(st.blink >= 0.9):
                shut.append(f.index)
        for k, b in enumerate(blinks, 1):
            before = b[0] - 1
            dr = max(raw_p[i] - raw_p[before] for i in b)
            do = max(out_p[i] - out_p[before] for i in b)
            say(f"  gaze {source:<11} blink {k}: largest downward gaze {dr:5.1f}° raw -> {do:5.1f}° held")
        if source == "blendshapes":
            say(f"  frames read as shut (both eyes >= 0.9): {shut}")


def per_frame_us(fn: Callable[[int], object], n: int) -> float:
    times = []
    for i in range(n):
        t0 = time.perf_counter_ns()
        fn(i)
        times.append(time.perf_counter_ns() - t0)
    return statistics.median(times) / 1000.0


def cost_section(frames: list[TrackedFrame], asp: float) -> None:
    from mocap_bridge.settings import Settings
    from mocap_bridge.solve.rig import RigSolver

    say("\nCost per frame on fist_thumbs_up.mp4 (median µs over 3 passes, same run; face, pose, one hand)")
    base = [f for f in frames if f.hands and f.face is not None] * 3
    seq = [TrackedFrame(i, i * 40, f.pose, f.face, f.hands, f.status) for i, f in enumerate(base)]
    sided = [HandednessResolver().resolve(f, aspect=asp) for f in seq]
    by_side = [{"Left": f.hand("Left"), "Right": f.hand("Right")} for f in sided]
    arkit = [arkit_from_mediapipe(f.face.blendshapes) for f in seq if f.face is not None]
    solver = RigSolver(Settings())
    resolver, gate, tracker, eyes = HandednessResolver(), HandEntryGate(), GestureTracker(), EyeSolver()
    stages: list[tuple[str, Callable[[int], object]]] = [
        ("RigSolver.solve (baseline)", lambda i: solver.solve(seq[i])),
        ("HandednessResolver.resolve", lambda i: resolver.resolve(seq[i], aspect=asp)),
        ("HandEntryGate.update", lambda i: gate.update(by_side[i])),
        ("GestureTracker.update", lambda i: tracker.update(by_side[i], seq[i].t_ms, aspect=asp)),
        ("EyeSolver.update", lambda i: eyes.update(arkit[i], seq[i].t_ms)),
    ]
    results = {name: per_frame_us(fn, len(seq)) for name, fn in stages}
    ref = results["RigSolver.solve (baseline)"]
    for name, us in results.items():
        say(f"  {name:<28} {us:8.1f} µs  {us / ref:5.2f}x")
    new = sum(us for name, us in results.items() if not name.startswith("RigSolver"))
    say(f"  {'all four new stages':<28} {new:8.1f} µs  {new / ref:5.2f}x")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-edge", action="store_true", help="skip the edge sweep")
    args = ap.parse_args(argv)
    if not MEDIA.is_dir():
        say(f"shared media not found at {MEDIA}")
        return 2
    t0 = time.perf_counter()
    tracked: dict[tuple[str, bool], list[TrackedFrame]] = {}
    aspects: dict[str, float] = {}
    for name in dict.fromkeys([*SPANS, *FLIP_CLIPS]):
        rgb = load_rgb(MEDIA / name)
        aspects[name] = rgb.shape[1] / rgb.shape[0]
        for mirrored in (False, True):
            tracked[name, mirrored] = track_file(MEDIA / name, settings=SETTINGS, mirror=mirrored)
    say(f"tracked {len(tracked)} clip passes in {time.perf_counter() - t0:.0f} s")
    gesture_section(tracked, aspects)
    flip_section(tracked, aspects)
    talking = track_file(MEDIA / "talking_head_a.mpg", settings=SETTINGS)
    face_rgb = load_rgb(MEDIA / "talking_head_a.mpg")
    blink_section(talking, face_rgb.shape[1] / face_rgb.shape[0])
    cost_section(tracked["fist_thumbs_up.mp4", False], aspects["fist_thumbs_up.mp4"])
    if not args.no_edge:
        edge_section()
    say(f"\ndone in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
