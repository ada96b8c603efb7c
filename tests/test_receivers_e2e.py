"""What third-party receivers do with what the bridge sends, on real footage through the CLI.

The receiver model (tests/receivers.py) applies VMC as EVMC4U does (root and bone positions both
applied, exact type tags); Live Link is read by PyLiveLinkFace, an independent decoder.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import media
from oscutil import python_osc_messages, typetags
from pylivelinkface import PyLiveLinkFace
from receivers import ROOT, UdpReceiver, VmcReceiverModel, run_cli, ws_client, yaw_deg

from mocap_bridge.frames import HumanBone
from mocap_bridge.protocols.livelink import DEVICE_ID_NAMESPACE, decode_livelink
from mocap_bridge.solve.maps import load_bone_map, shipped_bone_maps

COMMON = ("--mode", "video", "--quiet", "--offline")


def vmc_frames(datagrams: list[bytes]) -> VmcReceiverModel:
    model = VmcReceiverModel()
    for d in datagrams:
        model.feed(d)
    assert model.ignored == 0, "a strict receiver ignored some of our messages"
    return model


def test_vmc_head_turns_with_the_face_on_a_head_and_shoulders_shot() -> None:
    clip = media("talking_head_a.mpg")
    vmc, llf = UdpReceiver(), UdpReceiver()
    proc = run_cli(
        "run", "--source", str(clip), *COMMON, "--vmc", vmc.target, "--livelink", llf.target, "--no-ws"
    )
    model, packets = vmc_frames(vmc.stop()), llf.stop()
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(model.frames) == len(packets) == 75
    head = np.array([yaw_deg(f.world("Head")[1]) for f in model.frames])
    llf_yaw = np.degrees([decode_livelink(p).values[52] for p in packets])  # HeadYaw, radians on the wire
    assert np.ptp(head) >= 2.0, (
        f"the VMC head hardly turns: {np.ptp(head):.2f}° (Live Link {np.ptp(llf_yaw):.2f}°)"
    )
    # Same turn, up to each protocol's sign convention, around a common reference (the median).
    a, b = head - np.median(head), llf_yaw - np.median(llf_yaw)
    sign = 1.0 if float(np.dot(a, b)) >= 0 else -1.0
    err = np.abs(a - sign * b)
    assert np.percentile(err, 90) <= 3.0, (
        f"VMC and Live Link head yaw differ: p90 {np.percentile(err, 90):.2f}°"
    )
    assert np.corrcoef(a, b)[0, 1] * sign > 0.9


def test_vmc_hips_stand_at_their_height_and_feet_on_the_floor() -> None:
    clip = media("dance_full_body_synthetic.mp4")
    vmc = UdpReceiver()
    proc = run_cli("run", "--source", str(clip), *COMMON, "--vmc", vmc.target, "--no-livelink", "--no-ws")
    model = vmc_frames(vmc.stop())
    assert proc.returncode == 0, proc.stderr[-2000:]
    frames = [f for f in model.frames if "LeftFoot" in f.local_rot and "Hips" in f.local_pos]
    assert len(frames) >= 100
    hips = np.array([f.world("Hips")[0][1] for f in frames])
    feet = np.array(
        [min(f.world(b)[0][1] for b in ("LeftToes", "RightToes", "LeftFoot", "RightFoot")) for f in frames]
    )
    # The generic avatar's hips stand 0.95 m above its feet; the dancer jumps now and then.
    assert 0.8 <= float(np.median(hips)) <= 1.05, f"hips at {np.median(hips):.2f} m"
    assert -0.08 <= float(np.median(feet)) <= 0.12, (
        f"lowest foot at {np.median(feet):.2f} m: floating or sunk"
    )
    assert float(np.percentile(hips, 95)) < 1.4


@pytest.mark.parametrize(
    ("clip", "tracked"), [("dance_full_body_synthetic.mp4", 0.9), ("fist_thumbs_up.mp4", 0.9)]
)
def test_vmc_ok_flag_says_tracked_while_a_part_drives_the_avatar(clip: str, tracked: float) -> None:
    video = media(clip)
    vmc = UdpReceiver()
    proc = run_cli("run", "--source", str(video), *COMMON, "--vmc", vmc.target, "--no-livelink", "--no-ws")
    model = vmc_frames(vmc.stop())
    assert proc.returncode == 0, proc.stderr[-2000:]
    flags = [f.ok for f in model.frames]
    assert all(ok is not None and len(ok) == 4 and ok[:3] == (1, 3, 0) for ok in flags)
    share = np.mean([ok[3] == 1 for ok in flags if ok is not None])
    assert share >= 0.9, f"tracking flag 1 in only {share:.0%} of frames"


def test_face_only_preset_runs_the_face_landmarker_alone() -> None:
    clip = media("talking_head_a.mpg")
    llf = UdpReceiver()
    proc = run_cli(
        "run",
        "--source",
        str(clip),
        "--mode",
        "video",
        "--offline",
        "--preset",
        "metahuman",
        "--livelink",
        llf.target,
    )
    packets = llf.stop()
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(packets) == 75
    summary = proc.stderr.strip().splitlines()[-1]
    assert "pose 0%" in summary and "hands 0%" in summary and "face 100%" in summary, summary


def test_custom_live_link_device_id_is_a_stable_uuid_every_decoder_reads(tmp_path: Path) -> None:
    clip = media("talking_head_a.mpg")
    cfg = tmp_path / "studio.toml"
    cfg.write_text('[livelink]\ndevice_id = "studio-a"\n')
    llf = UdpReceiver()
    proc = run_cli(
        "run",
        "--source",
        str(clip),
        *COMMON,
        "--config",
        str(cfg),
        "--livelink",
        llf.target,
        "--no-vmc",
        "--no-ws",
        "--max-frames",
        "20",
    )
    packets = llf.stop()
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(packets) == 20
    expected = str(uuid.uuid5(DEVICE_ID_NAMESPACE, "studio-a")).upper()
    for p in packets:
        found, face = PyLiveLinkFace.decode(p)
        assert found and face.name == "MocapBridge"
        assert decode_livelink(p).device_id == expected
        assert len(p[5 : 5 + 36].decode("ascii")) == 36  # the app's UUID form, where decoders expect it


def _ws_messages(args: list[str], port: int) -> tuple[list[dict[str, Any]], subprocess.Popen[bytes]]:
    """Run the CLI with a WebSocket server on ``port`` and collect every message a client gets."""
    import asyncio

    proc = subprocess.Popen(
        [sys.executable, "-m", "mocap_bridge", "run", *args, "--ws", f"127.0.0.1:{port}"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    out: list[dict[str, Any]] = []
    try:
        asyncio.run(asyncio.wait_for(ws_client(port, proc, out, "?channels=rig", tries=1200), 240))
        proc.wait(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return out, proc


@pytest.mark.parametrize("bone_map", [p.stem for p in shipped_bone_maps()])
def test_each_bone_map_renames_the_websocket_bones(bone_map: str) -> None:
    clip = media("dance_full_body_synthetic.mp4")
    m = load_bone_map(next(p for p in shipped_bone_maps() if p.stem == bone_map))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    msgs, proc = _ws_messages(
        [
            "--source",
            str(clip),
            *COMMON,
            "--max-frames",
            "40",
            "--no-livelink",
            "--no-vmc",
            "--bone-map",
            bone_map,
        ],
        port,
    )
    assert proc.returncode == 0
    hello, frames = msgs[0], [m for m in msgs[1:] if m["type"] == "frame"]
    assert hello["rig"] == bone_map and hello["bone_names"] == [m.bones[b] for b in HumanBone if b in m.bones]
    assert m.convention.axes in hello["coordinates"]["rig"]
    assert frames, "no frame reached the client"
    names = set(hello["bone_names"])
    sent = {n for f in frames for n in f["rig"]["bones"]}
    assert sent and sent <= names
    if bone_map not in ("unity",):
        assert "LeftUpperArm" not in sent  # the rig's own names, not Unity's
    moving = [
        f["rig"]["bones"][m.bones[HumanBone.LeftUpperArm]]
        for f in frames
        if m.bones[HumanBone.LeftUpperArm] in f["rig"]["bones"]
    ]
    assert len(moving) >= 10 and np.ptp(np.array(moving), axis=0).max() > 0.05  # the arm moves


def test_the_blender_preset_sends_vmc_to_the_add_on_port() -> None:
    from mocap_bridge.settings import load_settings

    s = load_settings(preset="blender")
    assert s.vmc.enabled and [str(t) for t in s.vmc.targets] == ["127.0.0.1:39539"]


def test_gestures_reach_osc_and_vmc_in_order_on_the_fist_clip() -> None:
    clip = media("fist_thumbs_up.mp4")
    vmc, osc = UdpReceiver(), UdpReceiver()
    proc = run_cli("run", "--source", str(clip), *COMMON, "--vmc", vmc.target, "--osc", osc.target,
                   "--no-livelink", "--no-ws")  # fmt: skip
    vmc_msgs = [m for d in vmc.stop() for m in python_osc_messages(d)]
    osc_msgs = [m for d in osc.stop() for m in python_osc_messages(d)]
    assert proc.returncode == 0, proc.stderr[-2000:]
    # OSC: the held class index per frame, for the hand that makes the gestures
    per_side = {
        side: [int(m.params[0]) for m in osc_msgs if m.address == f"/mocap/gesture/{side}"]
        for side in ("left", "right")
    }
    assert all(typetags(m) == "if" for m in osc_msgs if m.address.startswith("/mocap/gesture/"))
    side = max(per_side, key=lambda s: sum(v in (1, 5) for v in per_side[s]))
    seq = per_side[side]
    fist = [i for i, v in enumerate(seq) if v == 1]
    thumb = [i for i, v in enumerate(seq) if v == 5]
    assert len(fist) >= 10 and len(thumb) >= 60, (len(fist), len(thumb))
    assert np.median(fist) < np.median(thumb)  # Closed_Fist, then Thumb_Up
    # VMC: press and release events in the same order, with exact type tags
    keys = [m for m in vmc_msgs if m.address == "/VMC/Ext/Key"]
    assert keys and all(typetags(m) == "isi" for m in keys)
    pressed = [str(m.params[1]) for m in keys if m.params[0] == 1]
    names = [n.split("_", 1)[1] for n in pressed]
    assert "Closed_Fist" in names and "Thumb_Up" in names
    assert names.index("Closed_Fist") < names.index("Thumb_Up")
