"""Blender add-on step cost: 55-bone humanoid + 52 ARKit shape keys, in real Blender (bpy).

Run with the Python that has the bpy wheel (docs/blender.md, "Tests"):

    .venv-blender/bin/python benchmarks/blender_step.py [--frames 600] [--json]

Side by side in the same process, alternating per frame, on the same synthetic VMC frames
(random local rotations and shape-key values, fed to ``Receiver.step()`` through the latch, no
socket): the add-on's step (rig resolved once) and the naive step that re-resolves the rest
matrices, T-pose corrections and shape keys every tick (the known bone map reused; VMC_Link
re-analyses the rig per tick). Medians in ms; the budget is 2 ms.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "mocap_bridge" / "blender"))
sys.path.insert(0, str(HERE.parent / "tests"))

import blender_driver as rigs_in_code  # noqa: E402  (test rigs built in code)
import bpy  # noqa: E402
from mathutils import Quaternion  # noqa: E402
from mocap_bridge_blender import api, rigs  # noqa: E402
from mocap_bridge_blender.receiver import VmcFrame  # noqa: E402


class _Frames:
    """Stands in for the socket thread: ``latest()`` hands out the next synthetic frame."""

    def __init__(self, frames: list[VmcFrame]) -> None:
        self.frames = frames
        self.i = 0
        self.frames_received = 0
        self.datagrams = 0
        self.bad_datagrams = 0
        self.address = ("127.0.0.1", 0)

    def latest(self) -> VmcFrame:
        return self.frames[self.i % len(self.frames)]

    def advance(self) -> None:
        self.i += 1

    def close(self) -> None:
        pass


def synthetic(n: int, seed: int = 0) -> list[VmcFrame]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        bones = {}
        for b in rigs.HUMAN_BONES:
            q = Quaternion((1.0, rng.gauss(0, 0.3), rng.gauss(0, 0.3), rng.gauss(0, 0.3))).normalized()
            bones[b] = (0.0, 0.1, 0.0, q.x, q.y, q.z, q.w)
        blends = {n.lower(): rng.random() for n in rigs.ARKIT_NAMES}
        out.append(VmcFrame(i + 1, i / 30.0, 0.0, (0.0,) * 6 + (1.0,), bones, blends, 1))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--json", action="store_true")
    opts = ap.parse_args()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    arm = rigs_in_code.build_rig({"rig": "unity_t"}, 0)
    mesh = rigs_in_code.build_face(list(rigs_in_code.ARKIT))
    frames = _Frames(synthetic(64))
    rx = api.Receiver(frames, bpy.context.scene, arm, mesh, hips_motion=False)  # type: ignore[arg-type]
    assert len(rx.rt.slots) == 55 and sum(map(len, rx.rt.shape_keys.values())) == 52
    ours: list[float] = []
    naive: list[float] = []
    for _ in range(opts.frames):
        frames.advance()
        rx.step()
        ours.append(rx.stats()["last_step_ms"])
        frames.advance()
        t0 = time.perf_counter()
        # re-resolve (map known: no detection, no file reads) the rest matrices, T-pose corrections
        # and shape keys: the per-tick rig analysis the add-on avoids
        rx.rt = rigs.resolve(arm, rx.bone_map, mesh, rx.shape_map, None, rx.rig_kind)
        rx.step()
        naive.append((time.perf_counter() - t0) * 1000.0)
    res = {
        "bones": len(rx.rt.slots),
        "shape_keys": 52,
        "step_p50_ms": statistics.median(ours),
        "step_p95_ms": sorted(ours)[int(0.95 * len(ours))],
        "naive_step_p50_ms": statistics.median(naive),
        "speedup": statistics.median(naive) / statistics.median(ours),
        "budget_ms": 2.0,
        "blender": bpy.app.version_string,
    }
    if opts.json:
        print(json.dumps(res))
    else:
        for k, v in res.items():
            print(f"{k:>20}: {v:.3f}" if isinstance(v, float) else f"{k:>20}: {v}")


if __name__ == "__main__":
    main()
