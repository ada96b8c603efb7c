"""Rig detection, bone and shape-key maps, and the VMC → pose retarget resolved once per rig.

VMC bone rotations (https://protocol.vmc.info/specification, ``/VMC/Ext/Bone/Pos``) are Unity
``Transform.localRotation`` values of a humanoid whose bones all have identity orientation in
T-pose (VRM normalised bones): each is the bone's rotation relative to its humanoid parent, away
from the T-pose, in Unity axes (left-handed, +Y up, +Z the avatar's front, +X its right).

The retarget, per frame and mapped bone ``b`` with nearest mapped ancestor ``p``:

* ``D(b)``: the bone's rotation away from T-pose in the avatar frame, the product of the humanoid
  chain's local rotations (Root/Pos first), converted from Unity to Blender axes (avatar facing
  −Y, +X its left, Z up);
* ``F``: world rotation of the rig's own avatar frame, measured from its rest (up = hips → head,
  left = right → left arm), so a rig turned in the scene or imported Y-up still moves right;
* ``W``: the armature object's world rotation; ``r_b``: the bone's rest rotation (armature space);
* ``C_b``: world rotation taking the rest pose to the T-pose: arms, hands, fingers and legs swung
  onto the T-pose axes (so an A-pose or Rigify rest is handled), inherited down the chain, or
  measured by "calibrate rest pose" from a user-posed T-pose;
* wanted world rotation of the bone: ``F D(b) F⁻¹ · C_b W r_b``. With Blender's pose evaluation
  ``P(b) = P(parent) · r_parent⁻¹ · r_b · basis_b`` (armature space, rotation parts) and unmapped
  bones in between keeping an identity basis, the pose basis is

  ``basis_b = A_b · D(p)⁻¹ D(b) · B_b``,  ``A_b = r_b⁻¹ (F⁻¹ C_p W)⁻¹``,  ``B_b = F⁻¹ C_b W r_b``.

On a Rigify generated rig the FK controls are driven (the DEF bones follow them through
constraints; the limbs are switched to FK) and ``ORG-``/``DEF-`` ancestors stand for the control
they copy.

Everything that depends on the rig only (the map, rest matrices, ``A``/``B``, pose bones, shape
keys) is resolved by :func:`resolve` when the receiver starts or the rig changes; a tick is then
55 quaternion products and property writes.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mathutils import Matrix, Quaternion, Vector

__all__ = [
    "ARKIT_NAMES",
    "BONE_ORDER",
    "FACE_BONES",
    "FINGER_BONES",
    "HUMAN_BONES",
    "PARENT",
    "VRM0_PRESETS",
    "Retarget",
    "RigKind",
    "detect_rig",
    "load_bone_maps",
    "match_shape_keys",
    "resolve",
    "unity_to_blender_quaternion",
]

from .humanoid import (
    ARKIT_NAMES,
    BONE_MAP_FILES,
    BONE_ORDER,
    FACE_BONES,
    FINGER_BONES,
    FINGERS,
    HUMAN_BONES,
    PARENT,
    VRM0_PRESETS,
    canonical_bone,
)

#: Prefixes exporters put before shape-key names (compared after :func:`_norm`).
_SHAPE_PREFIXES = ("blendshape1", "blendshape2", "blendshape", "arkit", "bs", "face", "vrc", "sk", "shape")

# T-pose direction (head → tail) of the bones swung onto it for an A-pose or Rigify rest, in
# Blender world axes (avatar facing −Y, +X its left). Thumbs, feet, spine and head keep their rest.
_T_DIRECTION: dict[str, tuple[float, float, float]] = {}
for _s, _x in (("Left", 1.0), ("Right", -1.0)):
    for _b in ("UpperArm", "LowerArm", "Hand"):
        _T_DIRECTION[f"{_s}{_b}"] = (_x, 0.0, 0.0)
    for _f in FINGERS[1:]:
        for _j in ("Proximal", "Intermediate", "Distal"):
            _T_DIRECTION[f"{_s}{_f}{_j}"] = (_x, 0.0, 0.0)
    _T_DIRECTION[f"{_s}UpperLeg"] = (0.0, 0.0, -1.0)
    _T_DIRECTION[f"{_s}LowerLeg"] = (0.0, 0.0, -1.0)

# Rest directions within this angle of the T-pose direction count as "already T".
_T_TOLERANCE_RAD = math.radians(1.0)


def unity_to_blender_quaternion(x: float, y: float, z: float, w: float) -> Quaternion:
    """A Unity-axes rotation as a Blender-axes one (conjugation by Blender ← Unity, det −1)."""
    return Quaternion((w, x, z, -y))


def unity_to_blender_position(x: float, y: float, z: float) -> Vector:
    return Vector((-x, -z, y))


# ---------------------------------------------------------------------------------------------
# Maps


@dataclass(frozen=True, slots=True)
class RigKind:
    """A bone map by name: HumanBodyBones name → the rig's bone name."""

    name: str
    bones: Mapping[str, str]


def maps_dir() -> Path:
    """The retarget maps: ``maps/`` inside the add-on (the zip), else the checkout's ``retarget_maps``."""
    here = Path(__file__).resolve().parent
    for cand in (here / "maps", here.parents[2] / "retarget_maps"):
        if cand.is_dir():
            return cand
    raise FileNotFoundError(f"no retarget maps beside {here}")


def load_bone_maps(folder: Path | None = None) -> list[RigKind]:
    folder = maps_dir() if folder is None else folder
    kinds = []
    for fname in BONE_MAP_FILES:
        doc = tomllib.loads((folder / fname).read_text(encoding="utf-8"))
        bones = {k: v for k, v in doc.get("bones", {}).items() if k in PARENT}
        kinds.append(RigKind(str(doc.get("target", fname.removesuffix(".toml"))), bones))
    return kinds


# Rigify generated rigs: the DEF bones follow ORG/MCH through constraints, so the FK controls are
# driven instead (DEF name → control candidates), with the limbs switched to FK.
_RIGIFY_CONTROLS = {
    "DEF-spine": ("torso",), "DEF-spine.001": ("spine_fk.001",), "DEF-spine.002": ("spine_fk.002",),
    "DEF-spine.003": ("spine_fk.003", "chest"), "DEF-spine.004": ("neck",), "DEF-spine.006": ("head",),
    "DEF-jaw": ("jaw_master", "jaw"),
}  # fmt: skip


# Extra Rigify controls driven by a humanoid bone: the pelvis FK control hangs below the spine
# (torso pivot), so it gets the Hips rotation back relative to Spine.
_RIGIFY_EXTRA = (("Hips", "spine_fk"),)


def _mapped_ancestor(bone: Any, by_bone: Mapping[str, str], rigify: bool, pose: Any = None) -> str | None:
    """The humanoid bone of the nearest mapped ancestor; on Rigify, an ``ORG-``/``DEF-`` bone
    stands for the control it copies (``ORG-shoulder.L`` → ``shoulder.L``, ``DEF-hand.L`` →
    ``hand_fk.L``) so fingers and arms find the hand and shoulder through the constraint web."""
    anc = bone.parent
    while anc is not None:
        hit = by_bone.get(anc.name)
        if hit is not None:
            return hit
        if rigify and anc.name[:4] in ("ORG-", "DEF-"):
            base = anc.name[4:]
            stem, _, side = base.rpartition(".")
            cands = [base, f"{stem}_fk.{side}"]
            if pose is not None:  # the bone it copies (ORG-spine.006 copies head)
                cands += [c.subtarget for c in pose[anc.name].constraints
                          if c.type == "COPY_TRANSFORMS" and c.influence == 1.0 and not c.mute]  # fmt: skip
            for cand in cands:
                if cand in by_bone:
                    return by_bone[cand]
        anc = anc.parent
    return None


def is_rigify_generated(armature: Any) -> bool:
    """A Rigify generated rig: ``ORG-``/``DEF-`` bones driven by FK/IK controls such as ``torso``."""
    bones = armature.data.bones
    return "torso" in bones and any(b.name.startswith("ORG-") for b in bones)


def _rigify_control(def_name: str, names: set[str]) -> str | None:
    for cand in _RIGIFY_CONTROLS.get(def_name, ()):
        if cand in names:
            return cand
    base = def_name.removeprefix("DEF-")
    stem, _, side = base.rpartition(".")
    for cand in (f"{stem}_fk.{side}", base, f"{stem}.{side}"):
        if cand in names:
            return cand
    return None


_MIXAMO_PREFIX = re.compile(r"^mixamorig\d*:", re.IGNORECASE)


# VRM 1.0 thumbs are metacarpal/proximal/distal where Unity has proximal/intermediate/distal
# (https://github.com/vrm-c/vrm-specification/blob/master/specification/VRMC_vrm-1.0/humanoid.md).
_VRM1_THUMB = {
    f"{s}_thumb_{a}": f"{s}_thumb_{b}"
    for s in ("left", "right")
    for a, b in (("metacarpal", "proximal"), ("proximal", "intermediate"))
}


def _vrm_addon_map(armature: Any) -> dict[str, str]:
    """The VRM add-on's humanoid map (VRM 1 then 0), when that add-on has filled one in."""
    ext = getattr(armature.data, "vrm_addon_extension", None)
    if ext is None:
        return {}
    out: dict[str, str] = {}
    try:
        hb = ext.vrm1.humanoid.human_bones
        for prop in hb.bl_rna.properties:
            item = getattr(hb, prop.identifier, None)
            bone = getattr(getattr(item, "node", None), "bone_name", "")
            if bone:
                name = canonical_bone(_VRM1_THUMB.get(prop.identifier, prop.identifier).replace("_", ""))
                if name:
                    out[name] = bone
    except AttributeError:
        pass
    if not out:
        try:
            for item in ext.vrm0.humanoid.human_bones:
                name = canonical_bone(item.bone)
                if name and item.node.bone_name:
                    out[name] = item.node.bone_name
        except AttributeError:
            pass
    return out


def detect_rig(armature: Any, kinds: Iterable[RigKind] | None = None) -> RigKind:
    """The best-matching bone map for ``armature`` (VRM add-on map first), rewritten to its names.

    Names match ignoring case and any ``mixamorig<N>:`` prefix; a Rigify generated rig (``DEF-``
    bones plus FK controls) maps onto its FK controls.
    """
    vrm = _vrm_addon_map(armature)
    if len(vrm) >= 10:
        return RigKind("vrm_addon", vrm)
    names = [b.name for b in armature.data.bones]
    by_key: dict[str, str] = {}
    for n in names:
        by_key.setdefault(_MIXAMO_PREFIX.sub("mixamorig:", n).lower(), n)
        by_key.setdefault(_MIXAMO_PREFIX.sub("", n).lower(), n)
    best: RigKind | None = None
    best_score = (0, 0)
    for kind in load_bone_maps() if kinds is None else kinds:
        found = {}
        for human, bone in kind.bones.items():
            hit = by_key.get(bone.lower()) or by_key.get(_MIXAMO_PREFIX.sub("", bone).lower())
            if hit:
                found[human] = hit
        score = (len(found), sum(found[h] == kind.bones[h] for h in found))  # ties: exact spelling
        if score > best_score:
            best, best_score = RigKind(kind.name, found), score
    if best is None or best_score[0] < 5:
        raise LookupError(f"{armature.name}: no known humanoid bone names (Unity, VRM, Mixamo, "
                          "Rigify, Unreal, MetaHuman); map the bones in the panel")  # fmt: skip
    if best.name == "rigify" and is_rigify_generated(armature):
        name_set = set(names)
        controls = {h: _rigify_control(b, name_set) for h, b in best.bones.items()}
        if sum(c is not None for c in controls.values()) >= 10:
            best = RigKind("rigify", {h: c for h, c in controls.items() if c})
    return best


def _norm(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def match_shape_keys(key_names: Iterable[str]) -> dict[str, list[str]]:
    """Received blendshape name → shape-key names, for ARKit 52 and VRM 0.x presets.

    Case-insensitive, ignoring ``_``/``.``/spaces and the usual prefixes (``blendShape1.``,
    ``ARKit_``, ``BS_``, ``Face.``, ``vrc.``); VRM presets also match VRChat visemes and VRoid
    ``Fcl_*`` names. Keys are the received names lowercased (senders differ in case).
    """
    index: dict[str, list[str]] = {}
    for key in key_names:
        n = _norm(key)
        forms = {n}
        for pre in _SHAPE_PREFIXES:
            if n.startswith(pre) and len(n) > len(pre):
                forms.add(n[len(pre) :])
        for f in forms:
            index.setdefault(f, []).append(key)
    out: dict[str, list[str]] = {}
    for arkit in ARKIT_NAMES:
        hit = index.get(_norm(arkit))
        if hit:
            out[arkit.lower()] = list(dict.fromkeys(hit))
    for preset, spellings in VRM0_PRESETS.items():
        for sp in spellings:
            hit = index.get(sp)
            if hit:
                out[preset.lower()] = list(dict.fromkeys(hit))
                break
    return out


# ---------------------------------------------------------------------------------------------
# Resolved retarget


@dataclass(slots=True)
class BoneSlot:
    """One driven pose bone: basis = ``a @ D(parent)⁻¹ @ D(human) @ b``."""

    human: str
    parent: str | None  # nearest mapped humanoid ancestor in the Blender hierarchy
    pose_bone: Any
    a: Quaternion
    b: Quaternion


@dataclass(slots=True)
class Retarget:
    """Everything a tick needs, resolved once (see the module docstring)."""

    armature: Any
    kind: str
    slots: list[BoneSlot]
    hips: Any | None  # pose bone taking root motion, or None
    hips_rest_height: float
    hips_location: Matrix  # world offset → hips pose-bone location (3×3)
    shape_keys: dict[str, list[Any]]  # received name (lowercase) → key blocks
    offsets: dict[str, Quaternion] = field(default_factory=dict)

    def deltas(
        self, bones: Mapping[str, tuple[float, ...]], root: tuple[float, ...] | None
    ) -> dict[str, Quaternion]:
        """World rotation away from T-pose per humanoid bone, Blender axes."""
        d: dict[str, Quaternion] = {}
        rq = Quaternion() if root is None else unity_to_blender_quaternion(*root[3:7])
        for name in BONE_ORDER:
            v = bones.get(name)
            p = PARENT[name]
            base = rq if p is None else d[p]
            d[name] = base @ unity_to_blender_quaternion(v[3], v[4], v[5], v[6]) if v else base.copy()
        return d

    def basis(
        self, bones: Mapping[str, tuple[float, ...]], root: tuple[float, ...] | None
    ) -> list[Quaternion]:
        """Pose-bone ``rotation_quaternion`` per slot for one frame."""
        d = self.deltas(bones, root)
        out = []
        for s in self.slots:
            rel = d[s.human] if s.parent is None else d[s.parent].conjugated() @ d[s.human]
            out.append(s.a @ rel @ s.b)
        return out


def _rest_rotation(bone: Any) -> Quaternion:
    return bone.matrix_local.to_quaternion()


def avatar_frame(armature: Any, bones: Mapping[str, str], posed: bool = False) -> Quaternion:
    """World rotation from the VMC avatar frame (Blender axes: facing −Y, +X its left, Z up) to
    the rig's: up from hips to head, left from the right to the left arm (or leg), as rested (or
    as posed, for a calibration). Identity when the rig lacks those bones (then the rig is
    assumed to stand in world axes)."""
    data = armature.data.bones
    pose = armature.pose.bones
    mw = armature.matrix_world

    def head(*names: str) -> Vector | None:
        for n in names:
            b = bones.get(n)
            if b is not None and b in data:
                return mw @ (pose[b].head if posed else data[b].head_local)
        return None

    hips, top = head("Hips"), head("Head", "Neck", "UpperChest", "Chest")
    left = head("LeftUpperArm", "LeftShoulder", "LeftUpperLeg")
    right = head("RightUpperArm", "RightShoulder", "RightUpperLeg")
    if hips is None or top is None or left is None or right is None:
        return Quaternion()
    z = top - hips
    x = left - right
    if z.length < 1e-6 or x.length < 1e-6:
        return Quaternion()
    z.normalize()
    x = x - x.dot(z) * z
    if x.length < 1e-6:
        return Quaternion()
    x.normalize()
    y = z.cross(x)
    return Matrix((x, y, z)).transposed().to_quaternion()


def _t_pose_corrections(armature: Any, bones: Mapping[str, str], world_rot: Quaternion,
                        frame: Quaternion) -> dict[str, Quaternion]:  # fmt: skip
    """Per humanoid bone, the world rotation taking the rig's rest pose to the T-pose (whose
    directions are :data:`_T_DIRECTION` in the avatar frame ``frame``)."""
    data_bones = armature.data.bones
    c: dict[str, Quaternion] = {}
    for human in BONE_ORDER:
        p = PARENT[human]
        inherited = Quaternion() if p is None else c[p]
        name = bones.get(human)
        target = _T_DIRECTION.get(human)
        if name is None or target is None:
            c[human] = inherited.copy()
            continue
        bone = data_bones[name]
        rest_dir = world_rot @ (bone.matrix_local.to_3x3() @ Vector((0.0, 1.0, 0.0)))
        current = inherited @ rest_dir
        goal = frame @ Vector(target)
        if current.length < 1e-9 or current.angle(goal) < _T_TOLERANCE_RAD:
            c[human] = inherited.copy()
        else:
            c[human] = current.rotation_difference(goal) @ inherited
    return c


def resolve(
    armature: Any | None,
    bone_map: Mapping[str, str] | None,
    mesh: Any | None,
    shape_map: Mapping[str, list[str]] | None,
    offsets: Mapping[str, Quaternion] | None = None,
    kind: str = "custom",
    hips_motion: bool = False,
) -> Retarget:
    """Resolve bones, rest rotations, T-pose corrections and shape keys once.

    ``offsets`` (from :func:`calibrate`) replace the computed T-pose corrections per bone.
    """
    slots: list[BoneSlot] = []
    hips = None
    hips_h = 1.0
    hips_loc = Matrix.Identity(3)
    if armature is not None and bone_map:
        pose = armature.pose.bones
        data = armature.data.bones
        bone_map = {h: b for h, b in bone_map.items() if h in PARENT and b in data}
        w = armature.matrix_world.to_3x3().normalized().to_quaternion()
        f = avatar_frame(armature, bone_map)
        if offsets and FRAME_KEY in offsets:  # calibrated: the frame of the user's T-pose
            f = offsets[FRAME_KEY]
            offsets = {k: v for k, v in offsets.items() if k != FRAME_KEY}
        corr = _t_pose_corrections(armature, bone_map, w, f)
        if offsets:
            corr.update(offsets)
        f_inv = f.conjugated()
        pairs = [(h, bone_map[h]) for h in BONE_ORDER if h in bone_map]
        if kind == "rigify":
            pairs += [(h, b) for h, b in _RIGIFY_EXTRA if b in data and b not in bone_map.values()]
        by_bone = {b: h for h, b in pairs}
        for human, name in pairs:
            parent = _mapped_ancestor(data[name], by_bone, kind == "rigify", pose)
            r = _rest_rotation(data[name])
            # basis = r⁻¹ (F⁻¹ C_p W)⁻¹ · D(p)⁻¹ D(b) · F⁻¹ C_b W r  (module docstring)
            a = r.conjugated() @ (f_inv @ (Quaternion() if parent is None else corr[parent]) @ w).conjugated()
            b = f_inv @ corr[human] @ w @ r
            pb = pose[name]
            pb.rotation_mode = "QUATERNION"
            slots.append(BoneSlot(human, parent, pb, a, b))
        if hips_motion and "Hips" in bone_map:
            hips = pose[bone_map["Hips"]]
            hb = data[bone_map["Hips"]]
            hips_h = max(1e-3, (armature.matrix_world @ hb.head_local).z)
            # pose location is in the bone's rest axes: offset_armature = R_rest · location
            to_arm = armature.matrix_world.to_3x3().inverted_safe()
            hips_loc = hb.matrix_local.to_3x3().inverted_safe() @ to_arm @ f.to_matrix()
    keys: dict[str, list[Any]] = {}
    if mesh is not None and mesh.data.shape_keys is not None and shape_map:
        blocks = mesh.data.shape_keys.key_blocks
        for src, names in shape_map.items():
            found = [blocks[n] for n in names if n in blocks]
            if found:
                keys[src.lower()] = found
    return Retarget(armature, kind, slots, hips, hips_h, hips_loc, keys, dict(offsets or {}))


def hips_world(frame: Any) -> Vector | None:
    """The sender's hips position in Blender world axes: Root/Pos ∘ Hips local position."""
    hips = frame.bones.get("Hips")
    if hips is None:
        return None
    p = unity_to_blender_position(*hips[:3])
    if frame.root is not None:
        p = unity_to_blender_position(*frame.root[:3]) + unity_to_blender_quaternion(*frame.root[3:7]) @ p
    return p


def hips_offset(rt: Retarget, frame: Any, reference: Vector | None) -> Vector:
    """Hips pose-bone location: the sender's hips motion since ``reference`` (its hips position
    when the receiver started), scaled by rig hips height / sender hips height."""
    cur = hips_world(frame)
    if cur is None or reference is None:
        return Vector((0.0, 0.0, 0.0))
    scale = rt.hips_rest_height / max(reference.z, 0.1)
    return rt.hips_location @ ((cur - reference) * scale)


#: Key of the calibrated avatar frame among the calibration offsets.
FRAME_KEY = "__avatar_frame__"


def calibrate(armature: Any, bone_map: Mapping[str, str]) -> dict[str, Quaternion]:
    """T-pose corrections measured from the current pose (the user posed the rig in a T-pose).

    Per mapped bone, the world rotation from its rest to its current (evaluated) pose; these replace
    the computed corrections of :func:`_t_pose_corrections` for those bones. The avatar frame is
    measured from the same pose (under :data:`FRAME_KEY`).
    """
    w = armature.matrix_world.to_3x3().normalized().to_quaternion()
    out: dict[str, Quaternion] = {}
    for human in BONE_ORDER:
        name = bone_map.get(human)
        if name is None or name not in armature.pose.bones:
            continue
        pb = armature.pose.bones[name]
        posed = w @ pb.matrix.to_quaternion()
        rest = w @ pb.bone.matrix_local.to_quaternion()
        out[human] = posed @ rest.conjugated()
    out[FRAME_KEY] = avatar_frame(armature, bone_map, posed=True)
    return out
