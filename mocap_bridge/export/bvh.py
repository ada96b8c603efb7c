"""BVH (Biovision Hierarchy) writer: the solved humanoid as a motion-capture skeleton. Pure.

Layout (docs/takes.md, "BVH"):

* ``HIERARCHY``: the Unity humanoid (mocap_bridge/solve/body.py ``PARENT``) from ``Hips``, joint
  names from ``HumanBone`` or a bone map. Bones a map leaves out are folded into their nearest
  kept ancestor (offsets add up, rotations compose); leaves get an ``End Site``.
* ``OFFSET``: the rest offsets (the solver's REST_OFFSETS, or an avatar profile's) × ``scale``
  (100: centimetres). The rest pose is the solver's T-pose, so every joint's rest orientation is
  the identity and the channels are the solver's local bone rotations as they are.
* Channels: root ``Xposition Yposition Zposition Zrotation Xrotation Yrotation``; joints
  ``Zrotation Xrotation Yrotation`` (``R = Rz · Rx · Ry``), degrees. Root positions are absolute
  (``hips_position`` × scale), the convention Blender's importer and bvhio follow.
* Axes: the internal frame (right-handed, +Y up, the character faces +Z, +X is its left).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.spatial.transform import Rotation

from ..errors import ProtocolError
from ..frames import HumanBone, RigFrame
from ..solve.body import PARENT
from ..solve.maps import BoneMap
from ..solve.quat import qmul
from ._common import BONE_ORDER, check_offsets

__all__ = ["BvhJoint", "bvh_skeleton", "joint_rotations", "write_bvh"]

F64 = npt.NDArray[np.float64]

# End Site offsets (metres) where a bone's own offset says nothing about its tip.
_END_SITES: dict[HumanBone, tuple[float, float, float]] = {
    HumanBone.Head: (0.0, 0.18, 0.0),
    HumanBone.LeftEye: (0.0, 0.0, 0.025),
    HumanBone.RightEye: (0.0, 0.0, 0.025),
    HumanBone.Jaw: (0.0, -0.02, 0.09),
    HumanBone.LeftToes: (0.0, 0.0, 0.05),
    HumanBone.RightToes: (0.0, 0.0, 0.05),
}


@dataclass(frozen=True, slots=True)
class BvhJoint:
    """One written joint: ``path`` lists the HumanBones whose rotations it carries, ancestor first
    (more than one when a bone map folds away bones in between)."""

    bone: HumanBone
    name: str
    parent: int  #: index into the joint list, -1 for the root
    offset: tuple[float, float, float]  #: metres, from the parent joint
    path: tuple[HumanBone, ...]
    end_site: tuple[float, float, float] | None  #: metres, leaves only


def bvh_skeleton(bone_map: BoneMap | None = None, offsets: npt.ArrayLike | None = None) -> list[BvhJoint]:
    """The joints in file order (depth first from Hips)."""
    rest = check_offsets(offsets)

    def kept(bone: HumanBone) -> bool:
        return bone_map is None or bone_map.name_of(bone) is not None

    if not kept(HumanBone.Hips):
        raise ProtocolError(f"bone map {bone_map.name if bone_map else ''!r} has no Hips: BVH needs a root")
    index: dict[HumanBone, int] = {}
    joints: list[BvhJoint] = []
    for bone in BONE_ORDER:
        if not kept(bone):
            continue
        path = [bone]
        offset = rest[bone].copy()
        parent = PARENT[bone]
        while parent is not None and not kept(parent):
            path.insert(0, parent)
            offset += rest[parent]
            parent = PARENT[parent]
        name = bone_map.name_of(bone) if bone_map is not None else bone.name
        assert name is not None
        if any(c.isspace() for c in name):
            raise ProtocolError(f"BVH joint names cannot contain spaces: {name!r}")
        index[bone] = len(joints)
        joints.append(BvhJoint(bone, name, -1 if parent is None else index[parent],
                               (float(offset[0]), float(offset[1]), float(offset[2])),
                               tuple(path), None))  # fmt: skip
    has_child = {j.parent for j in joints}
    out = []
    for i, j in enumerate(joints):
        end = None
        if i not in has_child:
            own = rest[j.bone]
            tip = _END_SITES.get(j.bone, (0.6 * own[0], 0.6 * own[1], 0.6 * own[2]))
            end = (float(tip[0]), float(tip[1]), float(tip[2]))
        out.append(BvhJoint(j.bone, j.name, j.parent, j.offset, j.path, end))
    return out


def joint_rotations(frames: Sequence[RigFrame], joints: Sequence[BvhJoint]) -> F64:
    """(frames, joints, 4) local quaternions (x, y, z, w) each joint carries."""
    rots = np.stack([f.bone_rotations for f in frames]).astype(np.float64)  # (n, 55, 4)
    out = np.empty((len(frames), len(joints), 4))
    for k, j in enumerate(joints):
        q = rots[:, int(j.path[0])]
        for bone in j.path[1:]:
            q = qmul(q, rots[:, int(bone)])
        out[:, k] = q
    return out


def _fmt(values: Sequence[float]) -> str:
    return " ".join(f"{v:.6f}" for v in values)


def write_bvh(
    frames: Sequence[RigFrame],
    *,
    frame_time_s: float,
    bone_map: BoneMap | None = None,
    offsets: npt.ArrayLike | None = None,
    scale: float = 100.0,
) -> str:
    """The BVH text for ``frames`` (already resampled), one MOTION line per frame."""
    if not frames:
        raise ProtocolError("nothing to export: the recording has no frames")
    if not (np.isfinite(frame_time_s) and frame_time_s > 0):
        raise ProtocolError(f"BVH frame time must be positive, got {frame_time_s!r}")
    if not (np.isfinite(scale) and scale > 0):
        raise ProtocolError(f"BVH scale must be positive, got {scale!r}")
    joints = bvh_skeleton(bone_map, offsets)
    lines = ["HIERARCHY"]
    depth_of: list[int] = []
    open_blocks: list[int] = []  # joint indices whose braces are still open

    def close_to(depth: int) -> None:
        while len(open_blocks) > depth:
            open_blocks.pop()
            lines.append("\t" * len(open_blocks) + "}")

    for i, j in enumerate(joints):
        depth = 0 if j.parent < 0 else depth_of[j.parent] + 1
        depth_of.append(depth)
        close_to(depth)
        pad = "\t" * depth
        lines.append(f"{pad}{'ROOT' if j.parent < 0 else 'JOINT'} {j.name}")
        lines.append(pad + "{")
        lines.append(f"{pad}\tOFFSET {_fmt([c * scale for c in j.offset])}")
        if j.parent < 0:
            lines.append(f"{pad}\tCHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation")
        else:
            lines.append(f"{pad}\tCHANNELS 3 Zrotation Xrotation Yrotation")
        if j.end_site is not None:
            lines += [f"{pad}\tEnd Site", pad + "\t{",
                      f"{pad}\t\tOFFSET {_fmt([c * scale for c in j.end_site])}", pad + "\t}"]  # fmt: skip
        open_blocks.append(i)
    close_to(0)

    quats = joint_rotations(frames, joints)
    n, m = quats.shape[:2]
    norms = np.linalg.norm(quats, axis=-1)
    if not np.all(np.isfinite(norms)) or np.any(norms < 1e-9):
        raise ProtocolError("a solved bone rotation is not a rotation (non-finite or zero quaternion)")
    euler = Rotation.from_quat(quats.reshape(-1, 4)).as_euler("ZXY", degrees=True).reshape(n, m * 3)
    hips = np.stack([f.hips_position for f in frames]).astype(np.float64) * scale
    motion = np.concatenate([hips, euler], axis=1)
    if not np.all(np.isfinite(motion)):
        raise ProtocolError("non-finite value in the BVH motion")
    lines += ["MOTION", f"Frames: {n}", f"Frame Time: {frame_time_s:.7f}"]
    lines += [_fmt(row) for row in motion.tolist()]
    return "\n".join(lines) + "\n"
