"""Blender's own BVH importer (``bpy.ops.import_anim.bvh`` from the ``bpy`` wheel) reads our BVH
export of a real recording: the frame count is right and the limb directions Blender poses equal
the directions forward kinematics gives from the solved bone rotations.

bpy 5.0.1 pins numpy<2, so it runs from its own venv (``.venv-blender``, created once from
tests/blender/requirements.txt, or ``$MOCAP_BRIDGE_BPY_PYTHON``) in a subprocess with a timeout.
"""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import bpy_python
from exportutil import world_rotations

from mocap_bridge.frames import HumanBone
from mocap_bridge.solve.body import REST_OFFSETS

ROOT = Path(__file__).resolve().parents[1]
BLENDER_DIR = Path(__file__).parent / "blender"
# (bone, child): the direction from the bone's joint to its child's joint is the limb direction.
LIMBS = [
    (HumanBone.LeftUpperArm, HumanBone.LeftLowerArm), (HumanBone.LeftLowerArm, HumanBone.LeftHand),
    (HumanBone.RightUpperArm, HumanBone.RightLowerArm), (HumanBone.RightLowerArm, HumanBone.RightHand),
    (HumanBone.LeftUpperLeg, HumanBone.LeftLowerLeg), (HumanBone.RightUpperLeg, HumanBone.RightLowerLeg),
    (HumanBone.Neck, HumanBone.Head), (HumanBone.LeftHand, HumanBone.LeftMiddleProximal),
    (HumanBone.LeftIndexProximal, HumanBone.LeftIndexIntermediate),
    (HumanBone.RightIndexProximal, HumanBone.RightIndexIntermediate),
    (HumanBone.RightMiddleIntermediate, HumanBone.RightMiddleDistal),
    (HumanBone.LeftThumbIntermediate, HumanBone.LeftThumbDistal),
]  # fmt: skip


@pytest.fixture(scope="session")
def bpy() -> str:
    return bpy_python()


def test_blender_imports_the_bvh_with_the_solved_limb_directions(take: dict[str, Any], bpy: str) -> None:
    names = sorted({b.name for pair in LIMBS for b in pair})
    proc = subprocess.run(
        [bpy, str(BLENDER_DIR / "import_bvh.py"), str(take["out"]["bvh"]), ",".join(names)],
        capture_output=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    line = next(ln for ln in proc.stdout.decode().splitlines() if ln.startswith("RESULT "))
    got = json.loads(line[len("RESULT ") :])
    assert got["frame_end"] - got["frame_start"] + 1 == take["frames"]
    assert got["keys_per_curve"] == [take["frames"]]  # every channel keyed once per BVH frame
    assert got["fps"] / got["fps_base"] == pytest.approx(take["fps"], rel=1e-3)
    assert set(got["bones"]) == {b.name for b in HumanBone}

    with take["out"]["csv"].open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(got["heads"])
    worst, moved = 0.0, 0.0
    for row, heads in zip(rows, got["heads"], strict=True):
        local = {
            b: np.array([float(row[f"{b.name}.{c}"]) for c in ("qx", "qy", "qz", "qw")]) for b in HumanBone
        }
        world = world_rotations(local)
        for bone, child in LIMBS:
            expected = world[bone].apply(np.array(REST_OFFSETS[child]))
            expected /= np.linalg.norm(expected)
            blender = np.array(heads[child.name]) - np.array(heads[bone.name])
            blender /= np.linalg.norm(blender)
            worst = max(worst, float(np.degrees(np.arccos(np.clip(expected @ blender, -1.0, 1.0)))))
            rest = REST_OFFSETS[child] / np.linalg.norm(REST_OFFSETS[child])
            moved = max(moved, float(np.degrees(np.arccos(np.clip(expected @ rest, -1.0, 1.0)))))
    assert worst < 0.05  # degrees: BVH keeps 6 decimals of each Euler angle
    assert moved > 20  # the limbs (fingers: the clip makes fists) really moved away from the T-pose
