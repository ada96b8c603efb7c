"""[vmc] avatar: the bone positions a receiver applies follow the user's VRM, built here with pygltflib."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import media
from oscutil import python_osc_messages
from pygltflib import GLTF2, Node, Scene
from receivers import UdpReceiver, run_cli

from mocap_bridge.avatar import load_avatar
from mocap_bridge.errors import ConfigError
from mocap_bridge.frames import HumanBone as HB

# A short-legged, long-armed humanoid (internal frame: +X its left, +Y up, +Z its front), metres.
WORLD = {
    HB.Hips: (0.0, 0.80, 0.0), HB.Spine: (0.0, 0.90, 0.0), HB.Chest: (0.0, 1.02, 0.0),
    HB.Neck: (0.0, 1.30, 0.0), HB.Head: (0.0, 1.40, 0.0),
    HB.LeftUpperArm: (0.20, 1.25, 0.0), HB.LeftLowerArm: (0.55, 1.25, 0.0), HB.LeftHand: (0.85, 1.25, 0.0),
    HB.RightUpperArm: (-0.20, 1.25, 0.0), HB.RightLowerArm: (-0.55, 1.25, 0.0),
    HB.RightHand: (-0.85, 1.25, 0.0),
    HB.LeftUpperLeg: (0.09, 0.74, 0.0), HB.LeftLowerLeg: (0.09, 0.40, 0.0), HB.LeftFoot: (0.09, 0.06, 0.0),
    HB.RightUpperLeg: (-0.09, 0.74, 0.0), HB.RightLowerLeg: (-0.09, 0.40, 0.0),
    HB.RightFoot: (-0.09, 0.06, 0.0),
}  # fmt: skip
PARENTS = {
    HB.Spine: HB.Hips, HB.Chest: HB.Spine, HB.Neck: HB.Chest, HB.Head: HB.Neck,
    HB.LeftUpperArm: HB.Chest, HB.LeftLowerArm: HB.LeftUpperArm, HB.LeftHand: HB.LeftLowerArm,
    HB.RightUpperArm: HB.Chest, HB.RightLowerArm: HB.RightUpperArm, HB.RightHand: HB.RightLowerArm,
    HB.LeftUpperLeg: HB.Hips, HB.LeftLowerLeg: HB.LeftUpperLeg, HB.LeftFoot: HB.LeftLowerLeg,
    HB.RightUpperLeg: HB.Hips, HB.RightLowerLeg: HB.RightUpperLeg, HB.RightFoot: HB.RightLowerLeg,
}  # fmt: skip


def build_vrm(path: Path, version: int) -> Path:
    """A glTF with a root node, an armature node (scaled), and the humanoid bones as nodes whose
    translations are local to their parents; VRM 0.x faces -Z (x, z flipped), VRM 1.0 faces +Z."""
    flip = np.array([-1.0, 1.0, -1.0]) if version == 0 else np.ones(3)
    bones = list(WORLD)
    index = {b: i + 2 for i, b in enumerate(bones)}  # node 0 = root, node 1 = armature
    nodes = [Node(name="root", children=[1]), Node(name="Armature", scale=[0.5, 0.5, 0.5], children=[])]
    for b in bones:
        parent = PARENTS.get(b)
        local = np.array(WORLD[b]) - (np.array(WORLD[parent]) if parent else 0.0)
        # the armature halves everything: store doubled translations so the scene has WORLD
        nodes.append(Node(name=b.name, translation=(2.0 * local * flip).tolist(), children=[]))
    for b in bones:
        parent = PARENTS.get(b)
        (nodes[index[parent]].children if parent else nodes[1].children).append(index[b])
    gltf = GLTF2(scene=0, scenes=[Scene(nodes=[0])], nodes=nodes)
    name = {b: b.name[0].lower() + b.name[1:] for b in bones}
    if version == 0:
        gltf.extensions = {
            "VRM": {"humanoid": {"humanBones": [{"bone": name[b], "node": index[b]} for b in bones]}}
        }
    else:
        gltf.extensions = {
            "VRMC_vrm": {"humanoid": {"humanBones": {name[b]: {"node": index[b]} for b in bones}}}
        }
    path.write_bytes(b"".join(gltf.save_to_bytes()))  # a GLB, as .vrm files are
    return path


@pytest.mark.parametrize("version", [0, 1])
def test_the_profile_reads_the_humanoid_rest_pose(tmp_path: Path, version: int) -> None:
    profile = load_avatar(build_vrm(tmp_path / f"a{version}.vrm", version))
    assert profile.hips_height == pytest.approx(0.80)
    for b, parent in PARENTS.items():
        want = np.array(WORLD[b]) - np.array(WORLD[parent])
        assert np.allclose(profile.offsets[b], want, atol=1e-6), b.name
    # a bone the avatar lacks keeps the generic offset, scaled by the hips heights
    assert profile.offsets[HB.LeftToes][2] > 0 and profile.bones_found == len(WORLD)


def test_a_broken_or_foreign_file_is_one_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.vrm"
    bad.write_bytes(b"not a glb")
    with pytest.raises(ConfigError, match="not a readable VRM"):
        load_avatar(bad)
    plain = tmp_path / "plain.glb"
    plain.write_bytes(b"".join(GLTF2(scenes=[Scene(nodes=[])], nodes=[]).save_to_bytes()))
    with pytest.raises(ConfigError, match="not a VRM"):
        load_avatar(plain)
    with pytest.raises(ConfigError, match="cannot read"):
        load_avatar(tmp_path / "missing.vrm")


def test_vmc_sends_the_avatars_own_bone_positions_and_hips_height(tmp_path: Path) -> None:
    clip = media("dance_full_body_synthetic.mp4")
    vrm = build_vrm(tmp_path / "me.vrm", 1)
    cfg = tmp_path / "me.toml"
    cfg.write_text(f'[vmc]\navatar = "{vrm}"\n')
    vmc = UdpReceiver()
    args = ["--source", str(clip), "--mode", "video", "--quiet", "--offline", "--config", str(cfg)]
    proc = run_cli("run", *args, "--vmc", vmc.target, "--no-livelink", "--no-ws", "--max-frames", "60")
    msgs = [m for d in vmc.stop() for m in python_osc_messages(d) if m.address == "/VMC/Ext/Bone/Pos"]
    assert proc.returncode == 0, proc.stderr[-2000:]
    arm = [m.params[1:4] for m in msgs if m.params[0] == "LeftLowerArm"]
    assert arm and all(np.allclose(p, (-0.35, 0.0, 0.0), atol=1e-6) for p in arm)  # Unity axes: x flipped
    hips = np.array([m.params[2] for m in msgs if m.params[0] == "Hips"])
    # a standing dancer's hips at this avatar's hips height (0.80 m), not the generic 0.95 m
    assert len(hips) > 20 and 0.68 <= float(np.median(hips)) <= 0.84
