"""Independent receiver models for the end-to-end tests: what a third-party receiver *does*.

:class:`VmcReceiverModel` applies VMC the way EVMC4U, the common Unity Marionette, does (its
``ExternalReceiver.cs`` rules, as documented at protocol.vmc.info and in EVMC4U's source):

* messages are read with python-osc (bundles, nested bundles); a message whose type tags are not
  exactly the expected ones is ignored, as EVMC4U ignores it (``/VMC/Ext/OK`` needs an int first,
  ``/VMC/Ext/T`` a float, Root and Bone a string and seven floats);
* ``/VMC/Ext/Root/Pos`` sets the model root's pose (root position synchronisation is on by
  default), ``/VMC/Ext/Bone/Pos`` sets a bone's local position *and* rotation (bone position
  synchronisation is on by default); a bone not sent keeps its last pose;
* ``/VMC/Ext/Blend/Val`` values are buffered and applied on ``/VMC/Ext/Blend/Apply``;
* one "frame" is what arrived up to an Apply (the sender's last message of a frame).

World poses come from forward kinematics over Unity's humanoid hierarchy (positions in metres,
Unity axes: +Y up, +Z forward, left-handed; the quaternion algebra is the same in either
handedness).
"""

from __future__ import annotations

__all__ = ["UdpReceiver", "VmcFrame", "VmcReceiverModel", "free_tcp_port", "run_cli", "ws_client", "yaw_deg"]

import asyncio
import dataclasses
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
from oscutil import python_osc_messages, typetags
from pythonosc.osc_message import OscMessage
from scipy.spatial.transform import Rotation

from mocap_bridge.frames import HumanBone
from mocap_bridge.solve.body import REST_OFFSETS

ROOT = Path(__file__).resolve().parents[1]
F64 = npt.NDArray[np.float64]

#: Unity HumanBodyBones hierarchy (parent of each bone), as in Unity's Avatar documentation.
UNITY_PARENT: dict[str, str | None] = {
    "Hips": None, "Spine": "Hips", "Chest": "Spine", "UpperChest": "Chest", "Neck": "UpperChest",
    "Head": "Neck", "LeftEye": "Head", "RightEye": "Head", "Jaw": "Head",
    "LeftShoulder": "UpperChest", "RightShoulder": "UpperChest",
    "LeftUpperArm": "LeftShoulder", "RightUpperArm": "RightShoulder",
    "LeftLowerArm": "LeftUpperArm", "RightLowerArm": "RightUpperArm",
    "LeftHand": "LeftLowerArm", "RightHand": "RightLowerArm",
    "LeftUpperLeg": "Hips", "RightUpperLeg": "Hips", "LeftLowerLeg": "LeftUpperLeg",
    "RightLowerLeg": "RightUpperLeg", "LeftFoot": "LeftLowerLeg", "RightFoot": "RightLowerLeg",
    "LeftToes": "LeftFoot", "RightToes": "RightFoot",
}  # fmt: skip
for _side in ("Left", "Right"):
    for _f in ("Thumb", "Index", "Middle", "Ring", "Little"):
        UNITY_PARENT[f"{_side}{_f}Proximal"] = f"{_side}Hand"
        UNITY_PARENT[f"{_side}{_f}Intermediate"] = f"{_side}{_f}Proximal"
        UNITY_PARENT[f"{_side}{_f}Distal"] = f"{_side}{_f}Intermediate"

#: The receiving avatar's rest local positions (Unity axes): the bridge's generic humanoid.
AVATAR_REST: dict[str, F64] = {b.name: REST_OFFSETS[b] * np.array([-1.0, 1.0, 1.0]) for b in HumanBone}

_EXPECTED_TAGS = {
    "/VMC/Ext/Root/Pos": "sfffffff",
    "/VMC/Ext/Bone/Pos": "sfffffff",
    "/VMC/Ext/Blend/Val": "sf",
    "/VMC/Ext/Blend/Apply": "",
    "/VMC/Ext/T": "f",
    "/VMC/Ext/Key": "isi",
}


@dataclasses.dataclass
class VmcFrame:
    """The receiver's state right after one Blend/Apply."""

    t: float | None
    ok: tuple[int, ...] | None
    root_pos: F64
    root_rot: F64
    local_pos: dict[str, F64]
    local_rot: dict[str, F64]
    blend: dict[str, float]

    def world(self, bone: str) -> tuple[F64, Rotation]:
        """World position and rotation of ``bone``; a bone never received keeps the receiving
        avatar's rest pose (:data:`AVATAR_REST`, the generic humanoid, in Unity axes)."""
        chain = []
        b: str | None = bone
        while b is not None:
            chain.append(b)
            b = UNITY_PARENT[b]
        pos = self.root_pos.copy()
        rot = Rotation.from_quat(self.root_rot)
        for name in reversed(chain):
            pos = pos + rot.apply(self.local_pos.get(name, AVATAR_REST[name]))
            rot = rot * Rotation.from_quat(self.local_rot.get(name, np.array([0.0, 0.0, 0.0, 1.0])))
        return pos, rot


class VmcReceiverModel:
    """See the module docstring."""

    def __init__(self) -> None:
        self.frames: list[VmcFrame] = []
        self.ignored = 0
        self.keys: list[tuple[int, str, int]] = []  # /VMC/Ext/Key events: pressed, name, key code
        self._root_pos = np.zeros(3)
        self._root_rot = np.array([0.0, 0.0, 0.0, 1.0])
        self._pos: dict[str, F64] = {}
        self._rot: dict[str, F64] = {}
        self._blend_pending: dict[str, float] = {}
        self._blend: dict[str, float] = {}
        self._t: float | None = None
        self._ok: tuple[int, ...] | None = None

    def feed(self, datagram: bytes) -> None:
        for m in python_osc_messages(datagram):
            self._apply(m)

    def _apply(self, m: OscMessage) -> None:
        tags, args = typetags(m), list(m.params)
        if m.address == "/VMC/Ext/OK":
            if not tags or tags[0] != "i":
                self.ignored += 1
                return
            self._ok = tuple(int(a) for a in args)
            return
        want = _EXPECTED_TAGS.get(m.address)
        if want is None or tags != want:
            self.ignored += 1
            return
        if m.address == "/VMC/Ext/T":
            self._t = float(args[0])
        elif m.address == "/VMC/Ext/Root/Pos":
            self._root_pos = np.array(args[1:4], dtype=np.float64)
            self._root_rot = np.array(args[4:8], dtype=np.float64)
        elif m.address == "/VMC/Ext/Bone/Pos":
            name = str(args[0])
            if name not in UNITY_PARENT:  # EVMC4U: Enum.TryParse fails -> ignored
                self.ignored += 1
                return
            self._pos[name] = np.array(args[1:4], dtype=np.float64)
            self._rot[name] = np.array(args[4:8], dtype=np.float64)
        elif m.address == "/VMC/Ext/Key":
            self.keys.append((int(args[0]), str(args[1]), int(args[2])))
        elif m.address == "/VMC/Ext/Blend/Val":
            self._blend_pending[str(args[0])] = float(args[1])
        elif m.address == "/VMC/Ext/Blend/Apply":
            self._blend.update(self._blend_pending)
            self._blend_pending = {}
            self.frames.append(
                VmcFrame(
                    self._t,
                    self._ok,
                    self._root_pos.copy(),
                    self._root_rot.copy(),
                    dict(self._pos),
                    dict(self._rot),
                    dict(self._blend),
                )
            )


class UdpReceiver(threading.Thread):
    """A UDP socket on 127.0.0.1 that keeps every datagram until stopped."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port: int = self.sock.getsockname()[1]
        self.datagrams: list[bytes] = []
        self.stopping = threading.Event()
        self.start()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

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


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -m mocap_bridge ARGS`` from the repository root; never hangs past ``timeout``."""
    return subprocess.run(
        [sys.executable, "-m", "mocap_bridge", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def yaw_deg(rot: Rotation) -> float:
    """Heading of a rotation about the vertical axis (degrees), from where it turns +Z."""
    fwd = rot.apply([0.0, 0.0, 1.0])
    return float(np.degrees(np.arctan2(fwd[0], fwd[2])))


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def ws_client(
    port: int, proc: subprocess.Popen[bytes], out: list[dict[str, Any]], query: str = "", tries: int = 600
) -> None:
    """Read every message of the bridge's WebSocket stream (``?query``) into ``out`` until it closes."""
    from websockets.asyncio.client import connect

    for _ in range(tries):  # the server starts once the models are loaded
        if proc.poll() is not None:
            return
        try:
            async with connect(f"ws://127.0.0.1:{port}/{query}", open_timeout=2) as ws:
                async for text in ws:
                    out.append(orjson.loads(text))
            return
        except OSError:
            await asyncio.sleep(0.05)
        except Exception:  # closed at shutdown
            return
