"""Every shipped bone map, checked against a rig built here with the convention the map documents.

The rig is posed the way its engine poses bones (a T-pose humanoid: ``P_b = P_parent · X_b``; a
pose-bone rig: ``P_b = P_parent · (R_parentᵀ R_b) · X_b`` with rest frames ``R``), from what the
retargeter sends; each bone must then point where the solver's own forward kinematics points it.
The rest frames here are built with scipy's ``align_vectors`` from the map's documented axes, not
with the package's code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from scipy.spatial.transform import Rotation

from mocap_bridge.frames import HumanBone
from mocap_bridge.solve.body import PARENT, REST_OFFSETS
from mocap_bridge.solve.maps import BoneMap, load_bone_map, shipped_bone_maps
from mocap_bridge.solve.retarget import MAIN_CHILD, Retargeter

F64 = npt.NDArray[np.float64]
HB = HumanBone

#: Target world axes as the engines define them (target = M @ internal; internal: +X the
#: character's left, +Y up, +Z its front).
AXES = {
    "unity": np.diag([-1.0, 1.0, 1.0]),  # left-handed, Y up, Z forward
    "unreal": np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]),  # X forward, Y right, Z up
    "blender": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]),  # Z up, facing -Y
    "gltf": np.eye(3),  # VRM 1.0 faces +Z
    "gltf_vrm0": np.diag([-1.0, 1.0, -1.0]),  # VRM 0.x faces -Z
}
_VEC = {
    "+x": [1.0, 0, 0],
    "-x": [-1.0, 0, 0],
    "+y": [0, 1.0, 0],
    "-y": [0, -1.0, 0],
    "+z": [0, 0, 1.0],
    "-z": [0, 0, -1.0],
}
MAPS = shipped_bone_maps()


def _tpose_dir(b: HumanBone) -> F64:
    if b in MAIN_CHILD:
        v = REST_OFFSETS[MAIN_CHILD[b]]
    elif b is HB.Head:
        v = np.array([0.0, 1.0, 0.0])
    elif b in (HB.LeftEye, HB.RightEye, HB.Jaw, HB.LeftToes, HB.RightToes):
        v = np.array([0.0, 0.0, 1.0])
    else:
        v = REST_OFFSETS[b]
    return np.asarray(v, dtype=np.float64) / np.linalg.norm(v)


def _rig_rest(m: BoneMap, mat: F64) -> dict[HumanBone, tuple[F64, Rotation]]:
    """Per mapped bone: its rest direction and rest frame in the target's axes."""
    conv = m.convention
    front, up = mat @ [0.0, 0.0, 1.0], mat @ [0.0, 1.0, 0.0]
    out = {}
    for b in m.bones:
        d = np.asarray(conv.rest_pose.get(b, mat @ _tpose_dir(b)), dtype=np.float64)
        d = d / np.linalg.norm(d)
        if conv.rotations == "bone":
            side = front if abs(d @ front) < 0.9 else up
            # frame R with R·along = d exactly and R·facing as near the side as can be
            r, _ = Rotation.align_vectors(
                [d, side], [_VEC[conv.along], _VEC[conv.facing]], weights=[np.inf, 1.0]
            )
            # a proper rotation in the target's own axes
            assert np.linalg.det(r.as_matrix()) > 0
        else:
            r = Rotation.identity()
        out[b] = (d, r)
    return out


def _mapped_parent(m: BoneMap, b: HumanBone) -> HumanBone | None:
    up = PARENT[b]
    while up is not None and up not in m.bones:
        up = PARENT[up]
    return up


def _solver_world(local: F64) -> dict[HumanBone, Rotation]:
    """World rotations (internal axes) of the solver's T-pose-relative local rotations."""
    out: dict[HumanBone, Rotation] = {}
    for b in HumanBone:  # HumanBone order is not parent-first: recurse

        def world(x: HumanBone) -> Rotation:
            if x not in out:
                p = PARENT[x]
                r = Rotation.from_quat(local[x])
                out[x] = r if p is None else world(p) * r
            return out[x]

        world(b)
    return out


def test_every_shipped_map_declares_a_convention() -> None:
    assert {p.stem for p in MAPS} == {
        "unity",
        "vrm0",
        "vrm1",
        "vroid",
        "rigify",
        "mixamo",
        "unreal_mannequin",
        "metahuman",
    }
    for p in MAPS:
        conv = load_bone_map(p).convention
        assert conv.axes in AXES
        assert "[convention]" in p.read_text()


@pytest.mark.parametrize("path", MAPS, ids=lambda p: p.stem)
def test_map_poses_its_rig_like_the_solver(path: Path) -> None:
    m = load_bone_map(path)
    mat = AXES[m.convention.axes]
    rest = _rig_rest(m, mat)
    rt = Retargeter(m)
    rng = np.random.default_rng(7)
    order = sorted(m.bones, key=lambda b: _depth(b))
    for trial in range(25):
        local = np.tile([0.0, 0.0, 0.0, 1.0], (len(HumanBone), 1))
        if trial:  # trial 0: the performer in the T-pose
            local = Rotation.from_rotvec(rng.normal(0.0, 0.5, (len(HumanBone), 3))).as_quat()
        target = rt.apply(local, np.ones(len(HumanBone), dtype=bool), np.array([0.0, 0.95, 0.0]))
        assert target.names == tuple(m.bones[b] for b in HumanBone if b in m.bones)
        sent = dict(zip([b for b in HumanBone if b in m.bones], target.rotations, strict=True))
        solver = _solver_world(local)
        posed: dict[HumanBone, Rotation] = {}
        for b in order:
            p = _mapped_parent(m, b)
            x = Rotation.from_quat(sent[b])
            if m.convention.rotations == "bone":
                rel = rest[b][1] if p is None else rest[p][1].inv() * rest[b][1]
                posed[b] = (Rotation.identity() if p is None else posed[p]) * rel * x
                rig_dir = posed[b].apply(_VEC[m.convention.along])
            else:
                posed[b] = (Rotation.identity() if p is None else posed[p]) * x
                rig_dir = posed[b].apply(mat @ _tpose_dir(b))
            want = mat @ solver[b].apply(_tpose_dir(b))
            cos = float(rig_dir @ want) / (np.linalg.norm(rig_dir) * np.linalg.norm(want))
            angle = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
            assert angle < 0.5, f"{m.name} {b.name}: rig bone off by {angle:.2f}° (trial {trial})"
        assert np.allclose(
            target.hips_position, (mat @ [0.0, 0.95, 0.0]) * (100.0 if m.convention.axes == "unreal" else 1.0)
        )


def _depth(b: HumanBone) -> int:
    n, up = 0, PARENT[b]
    while up is not None:
        n, up = n + 1, PARENT[up]
    return n


def test_an_a_pose_rig_raises_its_arms_for_a_t_pose_performer() -> None:
    m = load_bone_map(next(p for p in MAPS if p.stem == "unreal_mannequin"))
    target = Retargeter(m).apply(np.tile([0.0, 0.0, 0.0, 1.0], (55, 1)), np.ones(55, dtype=bool), np.zeros(3))
    by_name = dict(zip(target.names, target.rotations, strict=True))
    angle = np.degrees(Rotation.from_quat(by_name[m.bones[HB.LeftUpperArm]]).magnitude())
    assert angle == pytest.approx(45.0, abs=0.5)  # from the mannequin's 45° A-pose up to the T-pose
    assert np.degrees(Rotation.from_quat(by_name[m.bones[HB.Spine]]).magnitude()) < 1e-6
