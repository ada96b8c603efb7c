"""Test helpers for the export round trips: loopback receivers, VMC frame grouping, the glTF
validator (npm), and forward kinematics over the humanoid hierarchy."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from oscutil import python_osc_messages
from scipy.spatial.transform import Rotation

from mocap_bridge.frames import HumanBone
from mocap_bridge.solve.body import PARENT

NODE_DIR = Path(__file__).parent / "node"


@dataclass
class VmcFrame:
    """One frame as a VMC receiver sees it (Unity axes, as sent)."""

    t: float = 0.0
    root: tuple[float, ...] = ()
    bones: dict[str, tuple[float, ...]] = field(default_factory=dict)  #: name -> px,py,pz,qx,qy,qz,qw
    blends: dict[str, float] = field(default_factory=dict)


def vmc_frames(datagrams: list[bytes]) -> list[VmcFrame]:
    """Group python-osc's reading of every datagram into frames (each starts with /VMC/Ext/OK)."""
    frames: list[VmcFrame] = []
    for dgram in datagrams:
        for m in python_osc_messages(dgram):
            if m.address == "/VMC/Ext/OK":
                frames.append(VmcFrame())
            elif not frames:
                continue
            elif m.address == "/VMC/Ext/T":
                frames[-1].t = m.params[0]
            elif m.address == "/VMC/Ext/Root/Pos":
                frames[-1].root = tuple(m.params[1:])
            elif m.address == "/VMC/Ext/Bone/Pos":
                frames[-1].bones[m.params[0]] = tuple(m.params[1:])
            elif m.address == "/VMC/Ext/Blend/Val":
                frames[-1].blends[m.params[0]] = m.params[1]
    return frames


def unity_to_internal_quat(q: tuple[float, ...]) -> np.ndarray:
    """VMC (Unity, left-handed) quaternion back to the internal frame: (x, −y, −z, w)."""
    return np.array([q[0], -q[1], -q[2], q[3]], dtype=np.float64)


def same_rotation(a: np.ndarray, b: np.ndarray) -> float:
    """Angle in radians between two rotations given as (x, y, z, w) quaternions."""
    d = abs(float(np.dot(a / np.linalg.norm(a), b / np.linalg.norm(b))))
    return 2.0 * float(np.arccos(min(1.0, d)))


def world_rotations(local: dict[HumanBone, np.ndarray]) -> dict[HumanBone, Rotation]:
    """Forward kinematics: global rotation of every bone from local ones (identity rest)."""
    out: dict[HumanBone, Rotation] = {}

    def get(bone: HumanBone) -> Rotation:
        if bone not in out:
            parent = PARENT[bone]
            mine = Rotation.from_quat(local.get(bone, np.array([0.0, 0.0, 0.0, 1.0])))
            out[bone] = mine if parent is None else get(parent) * mine
        return out[bone]

    for bone in HumanBone:
        get(bone)
    return out


_NODE_PACKAGES = ("gltf-validator", "three", "@pixiv/three-vrm-animation")


def node_tools() -> str:
    """``node``, with tests/node's pinned packages installed (``npm ci`` once); skip without them."""
    node = shutil.which("node")
    npm = shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node/npm not found: the glTF Validator and three-vrm's loader (npm) cannot run")
    if not all((NODE_DIR / "node_modules" / p).is_dir() for p in _NODE_PACKAGES):
        proc = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--prefix", str(NODE_DIR)],
                              capture_output=True, timeout=300)  # fmt: skip
        if proc.returncode != 0:
            pytest.skip(f"npm ci in tests/node failed: {proc.stderr.decode(errors='replace')[-300:]}")
    return node


def read_with_three_vrm(path: Path) -> dict[str, Any]:
    """What three-vrm's VRMAnimationLoaderPlugin (with three.js's GLTFLoader) reads from a .vrma."""
    node = node_tools()
    proc = subprocess.run(
        [node, str(NODE_DIR / "read_vrma.mjs"), str(path)], capture_output=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


def validate_gltf(path: Path) -> dict[str, Any]:
    """The Khronos glTF Validator's report (npm gltf-validator pinned in tests/node)."""
    node = node_tools()
    script = (
        "const v=require(process.argv[1]);const fs=require('fs');"
        "v.validateBytes(new Uint8Array(fs.readFileSync(process.argv[2])))"
        ".then(r=>console.log(JSON.stringify(r))).catch(e=>{console.error(String(e));process.exit(3);});"
    )
    proc = subprocess.run(
        [node, "-e", script, str(NODE_DIR / "node_modules" / "gltf-validator"), str(path)],
        capture_output=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


def importer_frame_rate(timecodes: list[str]) -> int:
    """LiveLinkFaceImporter's InferFrameRate: 60 when any frame number exceeds 30, else 30."""
    return 60 if any(float(tc.split(":")[3]) > 30.0 for tc in timecodes) else 30


ROOT = Path(__file__).resolve().parents[1]
FRAMES = 45
CLIP = "fist_thumbs_up.mp4"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[bytes]:
    """``python -m mocap_bridge ARGS`` from the repository root (bytes out; never past ``timeout``)."""
    return subprocess.run(
        [sys.executable, "-m", "mocap_bridge", *args], cwd=ROOT, env=ENV, capture_output=True, timeout=timeout
    )


def make_take(video: Path, folder: Path) -> dict[str, Any]:
    """A real recording of ``video``, what `run --source REC` sent for it, and every export of it."""
    from receivers import UdpReceiver

    rec = folder / "take.jsonl.gz"
    proc = cli("run", "--source", str(video), "--mode", "video", "--max-frames", str(FRAMES), "--quiet",
               "--offline", "--record", str(rec), "--no-livelink", "--no-vmc", "--no-ws")  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    llf, vmc = UdpReceiver(), UdpReceiver()
    try:
        proc = cli("run", "--source", str(rec), "--mode", "video", "--quiet", "--no-ws", "--perfect-sync",
                   "--livelink", f"127.0.0.1:{llf.port}", "--vmc", f"127.0.0.1:{vmc.port}")  # fmt: skip
    finally:
        got_llf, got_vmc = llf.stop(), vmc.stop()
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    outputs = {}
    for fmt, name in (("bvh", "take.bvh"), ("llf-csv", "S1_1_MocapBridge_cal.csv"), ("vrma", "take.vrma"),
                      ("csv", "take_frames.csv")):  # fmt: skip
        out = folder / name
        p = cli("export", str(rec), "--to", fmt, "--out", str(out), "--quiet")
        assert p.returncode == 0, p.stderr.decode(errors="replace")[-2000:]
        outputs[fmt] = out
    with gzip.open(rec, "rt") as f:
        fps = json.loads(f.readline())["fps"]
        recorded = sum(1 for _ in f)
    return {
        "rec": rec,
        "frames": recorded,
        "fps": fps,
        "llf": got_llf,
        "vmc": vmc_frames(got_vmc),
        "out": outputs,
    }
