"""Humanoid tables the add-on shares (no bpy): Unity HumanBodyBones, their hierarchy, ARKit 52
and VRM 0.x preset names.

HumanBodyBones: https://docs.unity3d.com/ScriptReference/HumanBodyBones.html (VMC sends these
names, https://protocol.vmc.info/specification). ARKit: https://developer.apple.com/documentation/arkit/arfaceanchor/blendshapelocation.
"""

from __future__ import annotations

__all__ = [
    "ARKIT_NAMES",
    "BONE_MAP_FILES",
    "BONE_ORDER",
    "FACE_BONES",
    "FINGERS",
    "FINGER_BONES",
    "HUMAN_BONES",
    "PARENT",
    "VRM0_PRESETS",
    "canonical_bone",
]  # fmt: skip

#: Unity ``HumanBodyBones`` (what VMC sends), LastBone excluded.
HUMAN_BONES: tuple[str, ...] = (
    "Hips", "LeftUpperLeg", "RightUpperLeg", "LeftLowerLeg", "RightLowerLeg", "LeftFoot",
    "RightFoot", "Spine", "Chest", "Neck", "Head", "LeftShoulder", "RightShoulder",
    "LeftUpperArm", "RightUpperArm", "LeftLowerArm", "RightLowerArm", "LeftHand", "RightHand",
    "LeftToes", "RightToes", "LeftEye", "RightEye", "Jaw",
    *(f"{s}{f}{j}" for s in ("Left", "Right") for f in ("Thumb", "Index", "Middle", "Ring", "Little")
      for j in ("Proximal", "Intermediate", "Distal")),
    "UpperChest",
)  # fmt: skip

#: Unity humanoid hierarchy (Hips has no parent; Root/Pos is its parent on the wire).
PARENT: dict[str, str | None] = {
    "Hips": None, "Spine": "Hips", "Chest": "Spine", "UpperChest": "Chest", "Neck": "UpperChest",
    "Head": "Neck", "LeftEye": "Head", "RightEye": "Head", "Jaw": "Head",
    "LeftShoulder": "UpperChest", "RightShoulder": "UpperChest",
    "LeftUpperLeg": "Hips", "RightUpperLeg": "Hips",
}  # fmt: skip
for _s in ("Left", "Right"):
    PARENT |= {f"{_s}UpperArm": f"{_s}Shoulder", f"{_s}LowerArm": f"{_s}UpperArm",
               f"{_s}Hand": f"{_s}LowerArm", f"{_s}LowerLeg": f"{_s}UpperLeg",
               f"{_s}Foot": f"{_s}LowerLeg", f"{_s}Toes": f"{_s}Foot"}  # fmt: skip
    for _f in ("Thumb", "Index", "Middle", "Ring", "Little"):
        PARENT |= {f"{_s}{_f}Proximal": f"{_s}Hand", f"{_s}{_f}Intermediate": f"{_s}{_f}Proximal",
                   f"{_s}{_f}Distal": f"{_s}{_f}Intermediate"}  # fmt: skip
#: ARKit 52 (perfect sync) names, lowerCamel.
ARKIT_NAMES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft", "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight",
    "eyeLookOutRight", "eyeLookUpRight", "eyeSquintRight", "eyeWideRight", "jawForward", "jawLeft",
    "jawRight", "jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight", "mouthDimpleLeft",
    "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight", "mouthRollLower", "mouthRollUpper",
    "mouthShrugLower", "mouthShrugUpper", "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft",
    "mouthLowerDownRight", "mouthUpperUpLeft", "mouthUpperUpRight", "browDownLeft", "browDownRight",
    "browInnerUp", "browOuterUpLeft", "browOuterUpRight", "cheekPuff", "cheekSquintLeft",
    "cheekSquintRight", "noseSneerLeft", "noseSneerRight", "tongueOut",
)  # fmt: skip

#: VRM 0.x BlendShapePreset names and the shape-key spellings they usually have (lower case,
#: letters and digits only): plain, VRChat visemes, VRoid ``Fcl_*``.
VRM0_PRESETS: dict[str, tuple[str, ...]] = {
    "Neutral": ("neutral", "fclallneutral"),
    "A": ("a", "aa", "vaa", "fclmtha", "mtha"),
    "I": ("i", "ih", "vih", "fclmthi", "mthi"),
    "U": ("u", "ou", "vou", "fclmthu", "mthu"),
    "E": ("e", "ee", "vee", "fclmthe", "mthe"),
    "O": ("o", "oh", "voh", "fclmtho", "mtho"),
    "Blink": ("blink", "fcleyeclose", "eyeclose", "blinkboth"),
    "Blink_L": ("blinkl", "blinkleft", "fcleyeclosel", "eyeclosel", "winkl"),
    "Blink_R": ("blinkr", "blinkright", "fcleyecloser", "eyecloser", "winkr"),
    "Joy": ("joy", "happy", "fclalljoy"),
    "Angry": ("angry", "fclallangry"),
    "Sorrow": ("sorrow", "sad", "fclallsorrow"),
    "Fun": ("fun", "relaxed", "fclallfun"),
    "LookUp": ("lookup",),
    "LookDown": ("lookdown",),
    "LookLeft": ("lookleft",),
    "LookRight": ("lookright",),
}

FINGERS = ("Thumb", "Index", "Middle", "Ring", "Little")
FINGER_BONES = frozenset(f"{s}{f}{j}" for s in ("Left", "Right") for f in FINGERS
                         for j in ("Proximal", "Intermediate", "Distal"))  # fmt: skip
FACE_BONES = frozenset({"LeftEye", "RightEye", "Jaw"})


def _depth(bone: str) -> int:
    d, p = 0, PARENT[bone]
    while p is not None:
        d, p = d + 1, PARENT[p]
    return d


#: Parents before children.
BONE_ORDER: tuple[str, ...] = tuple(sorted(HUMAN_BONES, key=_depth))

_CANON: dict[str, str] = {b.lower(): b for b in HUMAN_BONES}


def canonical_bone(name: str) -> str | None:
    """The HumanBodyBones name for a VMC bone name (EVMC4U also falls back to ignoring case)."""
    return _CANON.get(name.lower())


#: Bone maps the add-on ships (copied from retarget_maps/ by mocap_bridge.blender.build_addon_zip).
BONE_MAP_FILES: tuple[str, ...] = (
    "unity.toml", "vrm0.toml", "vrm1.toml", "vroid.toml", "mixamo.toml", "rigify.toml",
    "unreal_mannequin.toml", "metahuman.toml",
)  # fmt: skip
