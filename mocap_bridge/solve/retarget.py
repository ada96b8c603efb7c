"""Retargeting: the solver's local rotations renamed and expressed in a target rig's conventions.

The solver's bones (``RigFrame.bone_rotations``) are local rotations relative to a T-pose, in the
internal frame (docs/coordinates.md). A bone map (``retarget_maps/<name>.toml``) names the target's
bones and, in its ``[convention]`` table, says how that rig reads a rotation:

* ``axes``: the world axes of the target (``unity``, ``unreal``, ``blender``, ``gltf`` for VRM 1.0,
  ``gltf_vrm0`` for VRM 0.x, which faces −Z);
* ``rotations = "tpose"``: local rotations relative to the T-pose, in world axes (Unity's humanoid
  muscle space as VMC sends it; VRM's normalised humanoid). Only the axes change: ``q' = M q Mᵀ``;
* ``rotations = "bone"``: each bone's rotation in its own rest frame, relative to its rest pose,
  as Blender pose bones, FBX joints and Unreal bones are posed. The rest frame of a bone is built
  from its rest direction (to its main child; ``along`` names the local axis that points there, e.g.
  ``+y`` in Blender, ``+x`` in Unreal) and the character's front (the ``facing`` axis; the up
  axis for bones that point forward, such as feet). ``[rest_pose]`` gives the rest directions of
  bones that are not in the T-pose (an A-pose rig's arms), in the target's world axes.

For a bone ``b`` with parent ``p`` (T-pose local rotation ``L``, rest frame ``R``, and ``C`` the
rotation from the rig's rest direction to the T-pose direction), the posed world rotation
``P_b = P_p · (R_pᵀ R_b) · X_b`` of such a rig equals the solver's ``D_b · C_b · R_b`` when

    ``X_b = R_bᵀ · C_pᵀ · L_b · C_b · R_b``   (all in the target's axes),

which is what :class:`Retargeter` sends; tests/test_retarget.py poses rigs built that way and checks
their bone directions against the solver's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..coords import BLENDER, UNITY, UNREAL, AxisMap
from ..errors import ConfigError
from ..frames import HumanBone, TargetBones
from .body import PARENT, REST_OFFSETS
from .maps import BoneMap, RigConvention
from .quat import from_matrix, qmul, to_matrix

__all__ = ["AXES", "MAIN_CHILD", "Retargeter", "rest_frames", "tpose_direction"]

F64 = npt.NDArray[np.float64]

AXES: dict[str, AxisMap] = {
    "unity": UNITY,
    "unreal": UNREAL,
    "blender": BLENDER,
    "gltf": AxisMap("gltf", np.eye(3)),
    "gltf_vrm0": AxisMap("gltf_vrm0", np.diag([-1.0, 1.0, -1.0])),
}

HB = HumanBone
#: The child a bone points at in the T-pose (its rest direction); leaves continue their parent's.
MAIN_CHILD: dict[HumanBone, HumanBone] = {
    HB.Hips: HB.Spine, HB.Spine: HB.Chest, HB.Chest: HB.UpperChest, HB.UpperChest: HB.Neck,
    HB.Neck: HB.Head, HB.LeftShoulder: HB.LeftUpperArm, HB.RightShoulder: HB.RightUpperArm,
    HB.LeftUpperArm: HB.LeftLowerArm, HB.RightUpperArm: HB.RightLowerArm,
    HB.LeftLowerArm: HB.LeftHand, HB.RightLowerArm: HB.RightHand,
    HB.LeftHand: HB.LeftMiddleProximal, HB.RightHand: HB.RightMiddleProximal,
    HB.LeftUpperLeg: HB.LeftLowerLeg, HB.RightUpperLeg: HB.RightLowerLeg,
    HB.LeftLowerLeg: HB.LeftFoot, HB.RightLowerLeg: HB.RightFoot,
    HB.LeftFoot: HB.LeftToes, HB.RightFoot: HB.RightToes,
}  # fmt: skip
for _side in ("Left", "Right"):
    for _f in ("Thumb", "Index", "Middle", "Ring", "Little"):
        MAIN_CHILD[HumanBone[f"{_side}{_f}Proximal"]] = HumanBone[f"{_side}{_f}Intermediate"]
        MAIN_CHILD[HumanBone[f"{_side}{_f}Intermediate"]] = HumanBone[f"{_side}{_f}Distal"]

_UP, _FRONT = np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0])
_LEAF_DIRECTION = {HB.Head: _UP, HB.LeftEye: _FRONT, HB.RightEye: _FRONT, HB.Jaw: _FRONT,
                   HB.LeftToes: _FRONT, HB.RightToes: _FRONT}  # fmt: skip


def _unit(v: F64) -> F64:
    out: F64 = v / np.linalg.norm(v)
    return out


def tpose_direction(bone: HumanBone) -> F64:
    """Unit direction of ``bone`` in the T-pose, internal frame."""
    if bone in MAIN_CHILD:
        return _unit(np.asarray(REST_OFFSETS[MAIN_CHILD[bone]], dtype=np.float64))
    if bone in _LEAF_DIRECTION:
        return _LEAF_DIRECTION[bone]
    return _unit(np.asarray(REST_OFFSETS[bone], dtype=np.float64))  # finger tips: as their offset


def _axis(spec: str) -> tuple[int, float]:
    return "xyz".index(spec[1]), -1.0 if spec[0] == "-" else 1.0


def rest_frames(conv: RigConvention, axes: AxisMap) -> tuple[F64, F64]:
    """Per bone, the rest frame ``R`` (55, 3, 3; columns = the bone's local axes in target world
    axes) and the correction ``C`` (55, 3, 3) from the rig's rest direction to the T-pose one."""
    n = len(HumanBone)
    frames = np.tile(np.eye(3), (n, 1, 1))
    corr = np.tile(np.eye(3), (n, 1, 1))
    front, up = axes.direction(_FRONT), axes.direction(_UP)
    for bone in HumanBone:
        t = axes.direction(tpose_direction(bone))
        d = _unit(np.asarray(conv.rest_pose[bone], dtype=np.float64)) if bone in conv.rest_pose else t
        if conv.rotations == "bone":
            side = front if abs(float(d @ front)) < 0.9 else up
            side = _unit(side - (side @ d) * d)
            (ia, sa), (ib, sb) = _axis(conv.along), _axis(conv.facing)
            m = np.zeros((3, 3))
            m[:, ia], m[:, ib] = sa * d, sb * side
            ic = 3 - ia - ib
            # the third column completes a proper rotation (det +1) in the target's own axes
            m[:, ic] = np.cross(m[:, (ic + 1) % 3], m[:, (ic + 2) % 3])
            frames[bone] = m
        corr[bone] = _arc(d, t)
    return frames, corr


def _arc(a: F64, b: F64) -> F64:
    """The shortest rotation taking unit ``a`` to unit ``b`` (3×3)."""
    v, c = np.cross(a, b), float(a @ b)
    if c < -1.0 + 1e-9:  # opposite: turn about any axis perpendicular to a
        axis = _unit(np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0]))
        return 2.0 * np.outer(axis, axis) - np.eye(3)
    k = np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])
    out: F64 = np.eye(3) + k + k @ k / (1.0 + c)
    return out


@dataclass(frozen=True, slots=True)
class _Tables:
    bones: npt.NDArray[np.intp]  #: mapped HumanBone indices, in send order
    left: F64  #: (n, 3, 3) R_bᵀ C_pᵀ, in target axes
    right: F64  #: (n, 3, 3) C_b R_b


class Retargeter:
    """Renames and converts a frame's bones for one bone map (tables built once)."""

    def __init__(self, bone_map: BoneMap) -> None:
        conv = bone_map.convention
        axes = AXES.get(conv.axes)
        if axes is None:
            raise ConfigError(f"{bone_map.source}: convention.axes: unknown {conv.axes!r}")
        self.map = bone_map
        self.axes = axes
        self.bone_local = conv.rotations == "bone"
        mapped = [b for b in HumanBone if b in bone_map.bones]
        bones = np.array([int(b) for b in mapped], dtype=np.intp)
        self.names = tuple(bone_map.bones[b] for b in mapped)
        frames, corr = rest_frames(conv, axes)
        # A bone whose humanoid parent the rig lacks hangs from its nearest mapped ancestor; the
        # rotations of the bones between (left at rest in the rig) are folded into its own.
        parents: list[HumanBone | None] = []
        self._folds: list[tuple[int, list[int]]] = []
        for i, b in enumerate(mapped):
            up, between = PARENT[b], []
            while up is not None and up not in bone_map.bones:
                between.append(int(up))
                up = PARENT[up]
            parents.append(up)
            if between:
                self._folds.append((i, between[::-1]))
        c_parent = np.stack([corr[p] if p is not None else np.eye(3) for p in parents] or [np.eye(3)])[
            : len(mapped)
        ]
        left = np.swapaxes(frames[bones], -1, -2) @ np.swapaxes(c_parent, -1, -2)
        right = corr[bones] @ frames[bones]
        self._t = _Tables(bones, left, right)
        self._plain = not self.bone_local and not conv.rest_pose  # only the axes change
        self._all_bones = bool(np.array_equal(bones, np.arange(len(HumanBone))))

    def describe(self) -> str:
        """The convention in one line (the WebSocket hello's ``coordinates.rig``)."""
        c = self.map.convention
        how = "local rotations vs the T-pose"
        if self.bone_local:
            how = f"each bone's rotation in its rest frame, {c.along} along the bone, {c.facing} to the front"
        rest = f"; {len(c.rest_pose)} bones rest off the T-pose" if c.rest_pose else ""
        units = f"{self.axes.scale:g} units per metre"
        return f"{self.map.target}: {c.axes} axes ({units}); {how}{rest}; quaternions x, y, z, w"

    def apply(self, rotations: F64, valid: npt.NDArray[np.bool_], hips: F64) -> TargetBones:
        """Target bones for the solver's (55, 4) local rotations, ``valid`` mask and hips position."""
        t = self._t
        if self._all_bones:  # every bone, in HumanBone order (unity, vrm…): no gather
            local, mask = rotations, valid.copy()
        else:
            local, mask = rotations[t.bones], valid[t.bones]
        if self._folds:
            local, mask = local.copy(), mask.copy()
            for i, between in self._folds:
                for a in reversed(between):  # L_eff = L_a1 · L_a2 · … · L_b
                    local[i] = qmul(rotations[a], local[i])
                    mask[i] |= valid[a]
        q = self.axes.quaternion(local)
        if not self._plain:
            q = from_matrix(t.left @ to_matrix(q) @ t.right)
        return TargetBones(self.map.name, self.names, q, mask, self.axes.position(hips))
