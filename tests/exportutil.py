"""Test helpers for the export round trips: loopback receivers, VMC frame grouping, the glTF
validator (npm), and forward kinematics over the humanoid hierarchy."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
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


class Receiver(threading.Thread):
    """A UDP socket on 127.0.0.1 that keeps every datagram until stopped."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.datagrams: list[bytes] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.datagrams.append(self.sock.recv(70000))
            except TimeoutError:
                continue

    def stop(self) -> list[bytes]:
        self.stopping.set()
        self.join()
        self.sock.close()
        return self.datagrams


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
