"""Round trips on real footage through the CLI: record with `run` (real MediaPipe), replay the
recording with `run` to real VMC and Live Link receivers on 127.0.0.1, export every format with
`mocap-bridge export`, read each file back with an independent reader (bvhio, the Live Link Face
importer's CSV rules, pygltflib + the Khronos glTF Validator, the csv module) and compare with
what the receivers got (decoded by python-osc and PyLiveLinkFace)."""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import bvhio
import numpy as np
import pygltflib
import pytest
from exportutil import (
    ENV,
    FRAMES,
    VmcFrame,
    cli,
    importer_frame_rate,
    read_with_three_vrm,
    same_rotation,
    unity_to_internal_quat,
    validate_gltf,
)
from pylivelinkface import PyLiveLinkFace

from mocap_bridge.export.llf_csv import LLF_CSV_COLUMNS
from mocap_bridge.export.vrma import VRM0_TO_VRM1_PRESETS
from mocap_bridge.frames import ARKIT_NAMES, HumanBone
from mocap_bridge.protocols.livelink import LLF_CURVE_NAMES, decode_livelink
from mocap_bridge.solve.body import REST_OFFSETS
from mocap_bridge.solve.maps import resolve_bone_map

ROOT = Path(__file__).resolve().parents[1]


def _sent(take: dict[str, Any]) -> list[VmcFrame]:
    frames: list[VmcFrame] = take["vmc"]
    # Loopback UDP with an 8 MB buffer loses nothing here; the comparison needs every frame.
    assert len(frames) == take["frames"] >= FRAMES * 0.9
    return frames


def test_bvh_reads_back_with_bvhio_and_equals_what_vmc_sent(take: dict[str, Any]) -> None:
    sent = _sent(take)
    bvh = bvhio.readAsBvh(str(take["out"]["bvh"]))
    assert bvh.FrameCount == len(sent)
    assert bvh.FrameTime == pytest.approx(1 / take["fps"], abs=1e-6)  # the clip's rate, from the recording
    joints = {}
    stack = [bvh.Root]
    while stack:
        j = stack.pop()
        joints[j.Name] = j
        stack.extend(j.Children)
    assert set(joints) == {b.name for b in HumanBone}
    assert bvh.Root.Name == "Hips" and len(bvh.Root.Channels) == 6
    assert all(
        j.Channels == ["Zrotation", "Xrotation", "Yrotation"] for j in joints.values() if j is not bvh.Root
    )
    # Offsets in cm: the left forearm is 27 cm along +X from the elbow in the solver's rest pose.
    off = joints["LeftLowerArm"].Offset
    assert (off.x, off.y, off.z) == pytest.approx((27.0, 0.0, 0.0))
    compared, largest = 0, 0.0
    for k, frame in enumerate(sent):
        root = bvh.Root.Keyframes[k].Position
        assert tuple(frame.root[:3]) == (0.0, 0.0, 0.0)  # VMC's root is the avatar's origin on the floor
        if "Hips" in frame.bones:  # the hips' place travels on the Hips bone
            hips = (
                np.array(frame.bones["Hips"][:3]) * np.array([-1.0, 1.0, 1.0]) * 100.0
            )  # Unity -> internal, cm
            assert (root.x, root.y, root.z) == pytest.approx(tuple(hips), abs=2e-4)
        for name, pose in frame.bones.items():
            q = joints[name].Keyframes[k].Rotation
            mine = np.array([q.x, q.y, q.z, q.w])
            assert same_rotation(mine, unity_to_internal_quat(pose[3:])) < 1e-4, (k, name)
            compared += 1
            largest = max(largest, same_rotation(mine, np.array([0.0, 0.0, 0.0, 1.0])))
    assert compared >= len(sent) * 5  # bones the solver drove were compared, not just the root
    assert largest > 0.3  # and they moved away from the T-pose


def test_bvh_with_a_bone_map_uses_its_names(take: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "mixamo.bvh"
    p = cli("export", str(take["rec"]), "--to", "bvh", "--bone-map", "mixamo", "--bvh-scale", "1",
            "--fps", "15", "--out", str(out), "--quiet")  # fmt: skip
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    bvh = bvhio.readAsBvh(str(out))
    mixamo = resolve_bone_map("mixamo")
    names = set()
    stack = [bvh.Root]
    while stack:
        j = stack.pop()
        names.add(j.Name)
        stack.extend(j.Children)
    assert names == set(mixamo.bones.values())  # Jaw is not in the mixamo map: left out
    assert bvh.Root.Name == mixamo.bones[HumanBone.Hips]
    assert bvh.Root.Offset.y == pytest.approx(0.95)  # metres with --bvh-scale 1
    assert bvh.FrameTime == pytest.approx(1 / 15, abs=1e-6)
    span_s = (take["frames"] - 1) / take["fps"]
    assert bvh.FrameCount == math.floor(span_s * 15 + 0.5) + 1


def _llf_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def _importer_seconds(timecode: str, rate: int) -> float:
    """LiveLinkFaceImporter's ParseTimecode + SampleTime: h·3600 + m·60 + s + frames / rate."""
    h, m, s, frames = timecode.split(":")
    return int(h) * 3600 + int(m) * 60 + int(s) + float(frames) / rate


def test_llf_csv_follows_the_app_format_and_equals_the_live_link_packets(take: dict[str, Any]) -> None:
    header, rows = _llf_rows(take["out"]["llf-csv"])
    # The importer's rules: Timecode then BlendShapeCount first, every row as wide as the header.
    assert header[:2] == ["Timecode", "BlendShapeCount"]
    assert header[2:] == list(LLF_CSV_COLUMNS) and len(header) == 63
    assert sorted(header[2:]) == sorted(LLF_CURVE_NAMES)
    assert header[2 + 15 : 2 + 17] == ["JawRight", "JawLeft"]  # the app's CSV order, not the packet's
    assert all(len(r) == len(header) and r[1] == "61" for r in rows)

    packets = [p for p in take["llf"] if len(p) > 100]
    assert len(packets) == len(rows) == take["frames"]
    for row, packet in zip(rows, packets, strict=True):
        ok, face = PyLiveLinkFace.decode(packet)
        assert ok
        ours = decode_livelink(packet)
        by_name = dict(zip(LLF_CURVE_NAMES, face._blend_shapes, strict=True))
        for name, cell in zip(header[2:], row[2:], strict=True):
            assert float(cell) == pytest.approx(by_name[name], abs=1e-7), name
        assert ours.rate_numerator == 60 and ours.rate_denominator == 1
    # Timecodes: HH:MM:SS:FF.fff at 60 fps, spaced as the packets' frame times are.
    for r in rows:
        hh, mm, ss, ff = r[0].split(":")
        assert len(hh) == len(mm) == len(ss) == 2 and len(ff) == 6 and ff[2] == "."
        assert 0 <= float(ff) < 60
    assert importer_frame_rate([r[0] for r in rows]) == 60  # the importer reads our 60 fps timecodes
    t_csv = [_importer_seconds(r[0], 60) for r in rows]
    t_llf = [(decode_livelink(p).frame + decode_livelink(p).subframe) / 60.0 for p in packets]
    d_csv = np.diff(t_csv)
    d_llf = np.diff(t_llf)
    assert np.all(d_csv > 0)
    assert np.allclose(d_csv, d_llf, atol=2e-3 / 60 + 1e-6)


def test_vrma_validates_and_equals_what_vmc_sent(take: dict[str, Any]) -> None:
    sent = _sent(take)
    path = take["out"]["vrma"]
    report = validate_gltf(path)
    assert report["issues"]["numErrors"] == 0, report["issues"]["messages"][:5]
    assert report["issues"]["numWarnings"] == 0, report["issues"]["messages"][:5]

    gltf = pygltflib.GLTF2.load_binary(str(path))
    ext = gltf.extensions["VRMC_vrm_animation"]
    assert ext["specVersion"] == "1.0"
    vrm1 = resolve_bone_map("vrm1")
    bones = ext["humanoid"]["humanBones"]
    assert "leftEye" not in bones and bones["hips"]["node"] is not None
    blob = gltf.binary_blob()

    def read(accessor: int) -> np.ndarray:
        acc = gltf.accessors[accessor]
        view = gltf.bufferViews[acc.bufferView]
        width = {"SCALAR": 1, "VEC3": 3, "VEC4": 4}[acc.type]
        raw = blob[view.byteOffset : view.byteOffset + view.byteLength]
        return np.frombuffer(raw, dtype="<f4").reshape(acc.count, width)

    anim = gltf.animations[0]
    tracks = {(c.target.node, c.target.path): anim.samplers[c.sampler] for c in anim.channels}
    times = read(next(iter(tracks.values())).input)[:, 0]
    assert len(times) == len(sent)
    assert np.allclose(times, [f.t for f in sent], atol=1e-5)  # VMC's /VMC/Ext/T: seconds from frame 0

    node_of = {
        b: bones[vrm1.bones[b]]["node"] for b in HumanBone if b not in (HumanBone.LeftEye, HumanBone.RightEye)
    }
    compared = 0
    for bone, node in node_of.items():
        rot = read(tracks[(node, "rotation")].output)
        for k, frame in enumerate(sent):
            pose = frame.bones.get(bone.name)
            if pose is not None:
                assert same_rotation(rot[k].astype(np.float64), unity_to_internal_quat(pose[3:])) < 1e-5
                compared += 1
    assert compared >= len(sent) * 5
    hips = read(tracks[(node_of[HumanBone.Hips], "translation")].output)
    # VMC sends the hips' place on the Hips bone while the body drives it; otherwise the hips are
    # at rest (0, 0.95 m, 0), as a receiver's avatar would stand
    rest = np.array([0.0, REST_OFFSETS[HumanBone.Hips][1], 0.0])
    unity = np.array([-1.0, 1.0, 1.0])
    vmc_hips = np.array([np.array(f.bones["Hips"][:3]) * unity if "Hips" in f.bones else rest for f in sent])
    assert np.allclose(hips, vmc_hips, atol=1e-5)

    presets = ext["expressions"]["preset"]
    vrm1_to_vrm0 = {v: k for k, v in VRM0_TO_VRM1_PRESETS.items()}
    assert {"aa", "blink", "happy"} <= set(presets)
    for name, spec in presets.items():
        weights = read(tracks[(spec["node"], "translation")].output)[:, 0]
        assert np.array_equal(
            weights, np.array([f.blends[vrm1_to_vrm0[name]] for f in sent], dtype=np.float32)
        )
    assert (ext["lookAt"]["node"], "rotation") in tracks

    # three-vrm's own loader (VRMAnimationLoaderPlugin) reads the same animation.
    tv = read_with_three_vrm(path)
    assert tv["restHipsPosition"] == pytest.approx([0.0, 0.95, 0.0])
    assert tv["duration"] == pytest.approx(sent[-1].t, abs=1e-5)
    bone_of = {name: bone for bone, name in vrm1.bones.items()}
    assert set(tv["rotation"]) == {vrm1.bones[b] for b in node_of}
    loaded = 0
    for name, track in tv["rotation"].items():
        values = np.array(track["values"]).reshape(-1, 4)
        assert len(values) == len(sent)
        for k, frame in enumerate(sent):
            pose = frame.bones.get(bone_of[name].name)
            if pose is not None:
                assert same_rotation(values[k], unity_to_internal_quat(pose[3:])) < 1e-5, name
                loaded += 1
    assert loaded == compared
    three_hips = np.array(tv["translation"]["hips"]["values"]).reshape(-1, 3)
    assert np.allclose(three_hips, vmc_hips, atol=1e-6)
    assert set(tv["expressions"]) == set(presets)
    for name, track in tv["expressions"].items():
        want = np.array([f.blends[vrm1_to_vrm0[name]] for f in sent], dtype=np.float32)
        assert np.array_equal(np.array(track["values"], dtype=np.float32), want), name
    assert tv["lookAt"] is not None and len(tv["lookAt"]["times"]) == len(sent)


def test_analysis_csv_equals_what_was_sent(take: dict[str, Any]) -> None:
    sent = _sent(take)
    with take["out"]["csv"].open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(sent)
    packets = [decode_livelink(p) for p in take["llf"] if len(p) > 100]
    for row, frame, packet in zip(rows, sent, packets, strict=True):
        assert float(row["t_s"]) == pytest.approx(frame.t, abs=1e-5)
        for i, name in enumerate(ARKIT_NAMES):
            assert np.float32(float(row[name])) == np.float32(packet.values[i])
            assert np.float32(float(row[name])) == np.float32(frame.blends[name])  # perfect sync
        for bone, pose in frame.bones.items():
            q = np.array([float(row[f"{bone}.{c}"]) for c in ("qx", "qy", "qz", "qw")])
            assert same_rotation(q, unity_to_internal_quat(pose[3:])) < 1e-5
            assert row[f"{bone}.valid"] == "1"


def test_bad_inputs_are_one_line_and_exit_2(take: dict[str, Any], tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    cases = [
        ("export", str(tmp_path / "missing.jsonl"), "--to", "bvh"),
        ("export", str(bad), "--to", "bvh"),
        ("export", str(take["rec"]), "--to", "fbx", "--out", str(tmp_path / "x.fbx")),
        ("export", str(take["rec"]), "--to", "bvh", "--out", str(tmp_path / "no" / "such" / "x.bvh")),
        ("export", str(take["rec"]), "--to", "bvh", "--out", str(tmp_path)),
    ]
    for args in cases:
        p = cli(*args, timeout=120)
        lines = [ln for ln in p.stderr.decode().splitlines() if ln.strip()]
        assert p.returncode == 2, (args, p.stderr.decode())
        assert len(lines) == 1 and lines[0].startswith("mocap-bridge: error:"), (args, lines)


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_long_files_show_a_progress_bar_on_a_terminal(take: dict[str, Any], tmp_path: Path) -> None:
    import pty

    from test_remote_control import _long_recording

    rec = tmp_path / "long.jsonl.gz"
    frames = _long_recording(take["rec"], rec, repeats=8)
    assert frames >= 300
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "mocap_bridge", "export", str(rec), "--to", "csv"],
                            cwd=ROOT, env={**ENV, "TERM": "xterm", "COLUMNS": "100"},
                            stdout=subprocess.DEVNULL, stderr=slave)  # fmt: skip
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert proc.wait(timeout=120) == 0
    text = seen.decode(errors="replace")
    assert "solving" in text and f"/{frames}" in text  # rich's bar with the frame count
    assert f"{frames} frames ({frames} solved) written" in text
