"""Ours vs the naive baseline: the per-frame overhead after MediaPipe, on the same frames.

    python benchmarks/compare.py --source ../shared/media/fist_thumbs_up.mp4 [--passes 10] [--json]

The source is tracked once in VIDEO mode; both paths (:func:`mocap_bridge.bench.overhead.our_path`
and :func:`naive.naive_path`) then run in this process in alternating blocks, one clip pass each,
so machine noise hits both alike. Each keeps its own state (assembler, filters, gates) across
blocks; timestamps keep increasing as the clip loops. Prints ``overhead_speedup`` (naive p50 /
ours p50, target ≥ 10) and the per-stage p50s. Not installed; see README.md here.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from naive import naive_path  # benchmarks/ is not a package: imported from this folder

from mocap_bridge.bench.overhead import (
    STAGES,
    FramePath,
    StageTimes,
    looped,
    our_path,
    overhead_summary,
)
from mocap_bridge.frames import TrackedFrame
from mocap_bridge.heap import frozen_heap
from mocap_bridge.settings import Settings, load_settings
from mocap_bridge.solve.mirror import mirror_hand

SPEEDUP_TARGET = 10.0


def with_two_hands(frames: list[TrackedFrame]) -> tuple[list[TrackedFrame], int]:
    """Frames with one hand get its mirror image as the second; (frames, how many were changed)."""
    out, changed = [], 0
    for f in frames:
        if len(f.hands) == 1:
            out.append(replace(f, hands=(f.hands[0], mirror_hand(f.hands[0]))))
            changed += 1
        else:
            out.append(f)
    return out, changed


def compare(
    frames: list[TrackedFrame], settings: Settings, *, passes: int, warmup: int = 10
) -> dict[str, Any]:
    """Alternate one pass of ours and one of naive, ``passes`` times; the figures of both (the
    start-up heap frozen for both, as in a run)."""
    paths: dict[str, FramePath] = {"ours": our_path(settings), "naive": naive_path(settings)}
    times = {name: StageTimes() for name in paths}
    blocks = [looped(frames, k) for k in range(passes)]
    with frozen_heap():
        for k, block in enumerate(blocks):
            for name, path in paths.items():
                for j, f in enumerate(block):
                    marks: list[int] = []
                    path(f, marks)
                    if k > 0 or j >= warmup:
                        times[name].add(marks)
    out = {**overhead_summary(times["ours"]), **overhead_summary(times["naive"], "overhead_naive")}
    ours, naive = out["overhead_p50_us"], out["overhead_naive_p50_us"]
    out["overhead_speedup"] = naive / ours if ours > 0 else 0.0
    for s in STAGES:
        o, n = out[f"overhead_{s}_p50_us"], out[f"overhead_naive_{s}_p50_us"]
        out[f"overhead_{s}_speedup"] = n / o if o > 0 else 0.0
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default="demo", help="a video, an image or 'demo'")
    parser.add_argument("--max-frames", type=int, default=300, help="frames tracked from the source")
    parser.add_argument("--passes", type=int, default=10, help="passes of the clip per path")
    parser.add_argument("--one-hand", action="store_true", help="do not mirror a lone hand into two")
    parser.add_argument("--preset", help="configs/<NAME>.toml over the defaults")
    parser.add_argument("--config", type=Path, help="your TOML file")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args(argv)

    from mocap_bridge.tracking.offline import iter_tracked

    settings = load_settings(preset=args.preset, path=args.config)
    print(f"tracking {args.source} in VIDEO mode...", file=sys.stderr, flush=True)
    frames = list(iter_tracked(args.source, settings=settings.tracking, max_frames=args.max_frames))
    notes = [f"{len(frames)} frames of {args.source}, tracked in VIDEO mode"]
    if not args.one_hand:
        frames, changed = with_two_hands(frames)
        notes.append(f"second hand mirrored from the first in {changed} frames (both paths do two hands)")
    if not any(f.hands for f in frames):
        notes.append("the source shows no hands: the figures cover face and pose only")
    print(f"timing {args.passes} passes per path, alternating...", file=sys.stderr, flush=True)
    res = compare(frames, settings, passes=args.passes, warmup=min(10, len(frames) // 2))
    res["overhead_speedup_target_met"] = res["overhead_speedup"] >= SPEEDUP_TARGET
    res["notes"] = notes
    human = sys.stderr if args.json else sys.stdout
    print(f"{'stage':<10} {'ours µs':>10} {'naive µs':>10} {'×':>7}", file=human)
    for s in ("total", *STAGES):
        key = "p50_us" if s == "total" else f"{s}_p50_us"
        o, n = res[f"overhead_{key}"], res[f"overhead_naive_{key}"]
        print(f"{s:<10} {o:>10.1f} {n:>10.1f} {n / o if o else 0:>7.1f}", file=human)
    verdict = "PASS" if res["overhead_speedup_target_met"] else "FAIL"
    print(
        f"overhead_speedup {res['overhead_speedup']:.1f}× (target ≥ {SPEEDUP_TARGET:g}): {verdict}",
        file=human,
    )
    print(
        f"ours p99 {res['overhead_p99_us']:.1f} µs, naive p99 {res['overhead_naive_p99_us']:.1f} µs",
        file=human,
    )
    for n in notes:
        print(f"• {n}", file=human)
    if args.json:
        print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in res.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
