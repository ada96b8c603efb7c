"""Solve end to end through the CLI and a VMC receiver on 127.0.0.1 (decoded with python-osc).

The dancer's arm and leg bones move in full-body mode; the vtuber preset holds the legs at rest;
a calibration captured from a talking head zeroes its neutral blendshapes on replay.
"""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from conftest import media
from oscutil import python_osc_messages
from pythonosc.osc_message import OscMessage
from receivers import ROOT, UdpReceiver

OFF = ["--no-livelink", "--no-ws", "--quiet"]


def run_vmc(*args: str) -> list[list[OscMessage]]:
    """Run the CLI with VMC to a local receiver; return the messages, one list per Blend/Apply."""
    rx = UdpReceiver()
    proc = subprocess.run(
        [sys.executable, "-m", "mocap_bridge", "run", "--mode", "video", *OFF,
         "--vmc", f"127.0.0.1:{rx.port}", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    datagrams = rx.stop()
    assert proc.returncode == 0, proc.stderr[-2000:]
    frames: list[list[OscMessage]] = [[]]
    for d in datagrams:
        for m in python_osc_messages(d):
            frames[-1].append(m)
            if m.address == "/VMC/Ext/Blend/Apply":
                frames.append([])
    return [f for f in frames if f]


def bone_series(frames: list[list[OscMessage]], bone: str) -> np.ndarray:
    out = []
    for f in frames:
        for m in f:
            if m.address == "/VMC/Ext/Bone/Pos" and m.params[0] == bone:
                out.append(m.params[4:8])
    return np.asarray(out, dtype=np.float64)


def angular_range_deg(quats: np.ndarray) -> float:
    """Largest rotation angle between any frame and the first (quaternion sign-insensitive)."""
    dots = np.clip(np.abs(quats @ quats[0]), 0, 1)
    return float(np.degrees(2 * np.arccos(dots)).max())


def test_dance_moves_arms_and_legs_and_vtuber_holds_legs() -> None:
    clip = str(media("dance_full_body_synthetic.mp4"))
    full = run_vmc("--source", clip)
    assert len(full) >= 100
    for bone in ("LeftUpperArm", "RightUpperArm", "LeftLowerArm", "LeftUpperLeg", "RightUpperLeg"):
        series = bone_series(full, bone)
        assert len(series) >= 100, bone
        assert np.allclose(np.linalg.norm(series, axis=1), 1, atol=1e-3)
        assert angular_range_deg(series) > 25, f"{bone} barely moves with the dancer"
    positions = [m.params[1:4] for f in full for m in f if m.address == "/VMC/Ext/Bone/Pos"]
    assert np.abs(np.asarray(positions)).sum() > 0  # never all-zero bone positions

    seated = run_vmc("--source", clip, "--preset", "vtuber")
    for bone in ("LeftUpperLeg", "RightUpperLeg", "LeftLowerLeg"):
        series = bone_series(seated, bone)
        if len(series):  # legs may be sent at rest, or not at all
            assert angular_range_deg(series) < 1.0, f"{bone} moves in upper-body mode"
    arms = bone_series(seated, "LeftUpperArm")
    assert angular_range_deg(arms) > 25  # the upper body still follows


def blend_means(frames: list[list[OscMessage]]) -> dict[str, float]:
    sums: dict[str, list[float]] = defaultdict(list)
    for f in frames:
        for m in f:
            if m.address == "/VMC/Ext/Blend/Val":
                sums[m.params[0]].append(m.params[1])
    return {k: float(np.mean(v)) for k, v in sums.items()}


def test_calibration_from_a_talking_head_zeroes_its_neutral(tmp_path: Path) -> None:
    clip = str(media("talking_head_a.mpg"))
    rec = tmp_path / "talk.jsonl.gz"
    raw = run_vmc("--source", clip, "--record", str(rec), "--perfect-sync", "--max-frames", "20")
    profile = tmp_path / "neutral.toml"
    proc = subprocess.run(
        [sys.executable, "-m", "mocap_bridge", "calibrate", "--source", str(rec), "--frames", "20",
         "--out", str(profile)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "calibration from 20 of 20 frames" in proc.stderr and profile.is_file()
    calibrated = run_vmc("--source", str(rec), "--perfect-sync", "--calibration", str(profile))
    before, after = blend_means(raw), blend_means(calibrated)
    arkit = [k for k in before if k[0].islower()]  # perfect-sync names (VRM0 presets are capitalised)
    strongest = max(arkit, key=lambda k: before[k])
    assert before[strongest] > 0.1, before
    assert after[strongest] < 0.05, (strongest, before[strongest], after[strongest])
    assert np.mean([after[k] for k in arkit]) < 0.02
