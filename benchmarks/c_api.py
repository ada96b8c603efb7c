"""MediaPipe's public Python result path against ours (``tracking/c_api.py``), on the same frames.

    python benchmarks/c_api.py [--source ../shared/media/fist_thumbs_up.mp4] [--frames 120] [--blocks 3]

All three landmarkers (as ``mocap-bridge run`` uses them, with the adaptive hand search), VIDEO
mode, one after another, created once per block through each path; blocks alternate so machine noise
hits both alike. Process CPU time per frame (every MediaPipe thread and the reading of its results),
median over blocks. Prints one JSON object: ``public_ms``, ``c_api_ms`` and ``saved_ms``.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from footage import DEFAULT_CLIP, decoded_frames  # benchmarks/ is not a package: this folder

from mocap_bridge.clock import cpu_s
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
    settings = TrackingSettings()
    paths = resolve_model_paths(settings)
    cpu: dict[str, list[float]] = {"public": [], "c_api": []}
    for _ in range(args.blocks):
        for key, native in (("public", False), ("c_api", True)):
            with Landmarkers(settings, paths, live=False, sequential=True, native_results=native) as lm:
                assert lm.native is native
                lm.track(images[0], 0, 0)  # warm-up: graphs start
                c = cpu_s()
                for i, img in enumerate(images, 1):
                    lm.track(img, i, 40 * i)
                cpu[key].append((cpu_s() - c) * 1000.0 / len(images))
    public, ours = float(np.median(cpu["public"])), float(np.median(cpu["c_api"]))
    print(
        json.dumps(
            {
                "frames": len(images),
                "blocks": args.blocks,
                "public_ms": round(public, 2),
                "c_api_ms": round(ours, 2),
                "saved_ms": round(public - ours, 2),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
