"""Cost of ``[tracking] segmentation``: the pose landmarker with and without its person mask.

    python benchmarks/segmentation.py [--source ../shared/media/fist_thumbs_up.mp4] [--frames 120]

Both runs use the same decoded frames (640 px), VIDEO mode, one landmarker alone, measured as process
CPU time per frame (all MediaPipe threads) and wall time, alternating blocks so machine noise hits
both alike. Prints one JSON object: ``pose_ms``, ``pose_with_mask_ms`` and their difference.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
from footage import DEFAULT_CLIP, decoded_frames  # benchmarks/ is not a package: this folder

from mocap_bridge.clock import cpu_s, perf_ns
from mocap_bridge.settings import TrackingSettings
from mocap_bridge.tracking.landmarkers import Landmarkers
from mocap_bridge.tracking.offline import resolve_model_paths


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", default=DEFAULT_CLIP)
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--blocks", type=int, default=3)
    args = ap.parse_args()
    images = decoded_frames(args.source, args.frames)
    results: dict[str, list[float]] = {"off": [], "on": []}
    walls: dict[str, list[float]] = {"off": [], "on": []}
    t0 = 0
    for _ in range(args.blocks):
        for key, seg in (("off", False), ("on", True)):
            settings = TrackingSettings(face=False, hands=False, segmentation=seg)
            with Landmarkers(settings, resolve_model_paths(settings), live=False) as lm:
                lm.track(images[0], 0, t0)  # warm-up
                c, w = cpu_s(), perf_ns()
                for i, img in enumerate(images, 1):
                    lm.track(img, i, t0 + 40 * i)
                results[key].append((cpu_s() - c) * 1000.0 / len(images))
                walls[key].append((perf_ns() - w) / 1e6 / len(images))
    out = {
        "frames": len(images),
        "pose_ms": round(float(np.median(results["off"])), 2),
        "pose_with_mask_ms": round(float(np.median(results["on"])), 2),
        "mask_cost_ms": round(float(np.median(results["on"]) - np.median(results["off"])), 2),
        "pose_wall_ms": round(float(np.median(walls["off"])), 2),
        "pose_with_mask_wall_ms": round(float(np.median(walls["on"])), 2),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
