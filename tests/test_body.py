"""Body solve on synthetic landmarks with known answers."""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.spatial.transform import Rotation
from synth import frame, pose_obs, tpose_internal

from mocap_bridge.frames import HumanBone as HB
from mocap_bridge.settings import Settings
from mocap_bridge.solve.body import REST_OFFSETS, BodySolver
from mocap_bridge.solve.mirror import mirror_pose, mirror_rig
from mocap_bridge.solve.rig import RigSolver

ARM = [HB.LeftUpperArm, HB.RightUpperArm, HB.LeftLowerArm, HB.RightLowerArm]
OK = np.ones(33, bool)


def _solve(p: np.ndarray, upper: bool = False):  # type: ignore[no-untyped-def]
    return BodySolver(upper_body=upper).solve(p * np.array([1.0, -1.0, -1.0]), OK)


def _angle(q: np.ndarray) -> float:
    return float(Rotation.from_quat(q).magnitude())


def test_tpose_is_identity() -> None:
    rot, valid, hips = _solve(tpose_internal())
    for b in [*ARM, HB.Hips, HB.Spine, HB.Chest, HB.Head, HB.LeftUpperLeg, HB.RightLowerLeg,
              HB.LeftHand, HB.RightHand]:  # fmt: skip
        assert _angle(rot[b]) < np.radians(3), b.name
    assert valid[[*ARM]].all()
    assert 0.85 < hips[1] < 1.05


def _rotate_chain(p: np.ndarray, pivot: int, idx: list[int], rot: Rotation) -> np.ndarray:
    q = p.copy()
    q[idx] = rot.apply(p[idx] - p[pivot]) + p[pivot]
    return q


def test_arms_down_are_90_degrees_about_z() -> None:
    p = tpose_internal()
    p = _rotate_chain(p, 11, [13, 15, 17, 19, 21], Rotation.from_euler("z", -90, degrees=True))
    p = _rotate_chain(p, 12, [14, 16, 18, 20, 22], Rotation.from_euler("z", 90, degrees=True))
    rot, _, _ = _solve(p)
    lrv = Rotation.from_quat(rot[HB.LeftUpperArm]).as_rotvec()
    rrv = Rotation.from_quat(rot[HB.RightUpperArm]).as_rotvec()
    assert np.allclose(lrv, [0, 0, -np.pi / 2], atol=0.03)
    assert np.allclose(rrv, [0, 0, np.pi / 2], atol=0.03)
    assert _angle(rot[HB.LeftLowerArm]) < 0.03 and _angle(rot[HB.RightLowerArm]) < 0.03


def test_bending_elbow_changes_only_forearm() -> None:
    base = tpose_internal()
    bent = _rotate_chain(base, 13, [15, 17, 19, 21], Rotation.from_euler("y", -70, degrees=True))
    r0, _, _ = _solve(base)
    r1, _, _ = _solve(bent)
    changed = [b for b in HB if abs(abs(float(np.dot(r0[b], r1[b]))) - 1.0) > 1e-4]
    assert changed == [HB.LeftLowerArm]
    # forearm folds toward +Z: rotation about -Y by 70°
    assert np.allclose(Rotation.from_quat(r1[HB.LeftLowerArm]).as_rotvec(), [0, -np.radians(70), 0],
                       atol=0.02)  # fmt: skip


def test_mirrored_frame_swaps_left_and_right() -> None:
    p = tpose_internal()
    p = _rotate_chain(p, 11, [13, 15, 17, 19, 21], Rotation.from_euler("z", -60, degrees=True))
    p = _rotate_chain(p, 13, [15, 17, 19, 21], Rotation.from_euler("y", -40, degrees=True))
    p = _rotate_chain(p, 23, [25, 27, 29, 31], Rotation.from_euler("x", -30, degrees=True))
    pose = pose_obs(p)
    settings = Settings()
    settings = dataclasses.replace(settings, smoothing=dataclasses.replace(settings.smoothing, enabled=False))
    a = RigSolver(settings)
    b = RigSolver(settings)
    for i in range(8):  # past the re-acquire blend
        ra = a.solve(frame(i, 33 * i, pose=pose))
        rb = b.solve(frame(i, 33 * i, pose=mirror_pose(pose)))
    m = mirror_rig(ra)
    d = np.abs(np.abs(np.einsum("ij,ij->i", m.bone_rotations, rb.bone_rotations)) - 1.0)
    assert d.max() < 1e-6
    assert _angle(rb.bone_rotations[HB.RightUpperArm]) > 0.9
    assert _angle(rb.bone_rotations[HB.LeftUpperArm]) < 0.05
    assert np.allclose(mirror_rig(m).bone_rotations, m.bone_rotations * 0 + mirror_rig(m).bone_rotations)


def test_upper_body_mode_holds_legs_and_hips() -> None:
    p = _rotate_chain(tpose_internal(), 23, [25, 27, 29, 31], Rotation.from_euler("x", -60, degrees=True))
    rot, valid, hips = _solve(p, upper=True)
    assert _angle(rot[HB.LeftUpperLeg]) == 0.0 and not valid[HB.LeftUpperLeg]
    assert _angle(rot[HB.Hips]) == 0.0
    assert np.allclose(hips, REST_OFFSETS[HB.Hips])
    rot_full, _, _ = _solve(p)
    assert abs(_angle(rot_full[HB.LeftUpperLeg]) - np.radians(60)) < 0.05


def test_rest_offsets_realistic() -> None:
    assert (np.linalg.norm(REST_OFFSETS, axis=1) > 0.005).sum() >= 50
    assert REST_OFFSETS[HB.LeftUpperArm, 0] > 0 > REST_OFFSETS[HB.RightUpperArm, 0]
