"""VRM Animation (``.vrma``) writer: glTF 2.0 binary with ``VRMC_vrm_animation``. Pure.

Layout (docs/takes.md, "VRM Animation"; spec: vrm-c/vrm-specification,
specification/VRMC_vrm_animation-1.0/README.md):

* Nodes: the humanoid in the solver's T-pose (which is the VRM T-pose frame: +Y up, facing +Z,
  +X the character's left, metres), one node per HumanBone with its VRM 1.0 name from
  ``retarget_maps/vrm1.toml``. The eyes are left out (the spec forbids animating them; gaze is
  LookAt). One node per expression preset and one LookAt node, a child of the head at the eyes'
  midpoint (``offsetFromHeadBone``).
* One animation, linear samplers, keyed at every written frame: each bone's local rotation (the
  solver's ``bone_rotations``), the hips' translation (``hips_position``), each expression's
  weight as translation X, and the LookAt node's rotation: gaze yaw/pitch averaged over both
  eyes, as extrinsic ZXY (yaw about +Y toward the character's left, pitch about +X down).
* Expressions: the VRM 0.x clip values the VMC sender computes from the same expression map,
  renamed to VRM 1.0 presets (A→aa, Joy→happy, Blink_L→blinkLeft, …); LookUp/Down/Left/Right
  are not written (the spec leaves gaze to LookAt).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pygltflib as gl
from scipy.spatial.transform import Rotation

from ..errors import ProtocolError
from ..frames import HumanBone, RigFrame
from ..protocols.vmc import ExpressionMap
from ..solve.body import PARENT
from ..solve.maps import BoneMap, resolve_bone_map
from ._common import BONE_ORDER, check_offsets

__all__ = ["VRM0_TO_VRM1_PRESETS", "lookat_quaternions", "write_vrma"]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

#: VRM 0.x BlendShapePreset -> VRM 1.0 expression preset (VRMC_vrm-1.0 expressions.md).
VRM0_TO_VRM1_PRESETS: dict[str, str] = {
    "Neutral": "neutral", "A": "aa", "I": "ih", "U": "ou", "E": "ee", "O": "oh",
    "Blink": "blink", "Blink_L": "blinkLeft", "Blink_R": "blinkRight",
    "Joy": "happy", "Angry": "angry", "Sorrow": "sad", "Fun": "relaxed",
}  # fmt: skip
_EYES = (HumanBone.LeftEye, HumanBone.RightEye)


def lookat_quaternions(frames: Sequence[RigFrame]) -> F64:
    """(n, 4) LookAt rotations (x, y, z, w): mean gaze of both eyes, VRM yaw/pitch convention."""
    eyes = np.stack([f.eyes for f in frames]).astype(np.float64)  # (n, 2, [yaw, pitch])
    yaw = -eyes[:, :, 0].mean(axis=1)  # ours: > 0 toward the subject's right = -X
    pitch = eyes[:, :, 1].mean(axis=1)  # ours and a +X rotation of +Z: > 0 looking down
    angles = np.stack([np.zeros_like(yaw), pitch, yaw], axis=1)
    out: F64 = Rotation.from_euler("zxy", angles).as_quat()  # extrinsic z, x, y: R = Ry·Rx·Rz
    return out


class _Blob:
    """The binary chunk: one bufferView + accessor per array, 4-byte aligned."""

    def __init__(self, gltf: gl.GLTF2) -> None:
        self.gltf = gltf
        self.data = bytearray()

    def add(self, arr: F32, kind: str, *, minmax: bool = False) -> int:
        raw = np.ascontiguousarray(arr, dtype="<f4").tobytes()
        self.gltf.bufferViews.append(gl.BufferView(buffer=0, byteOffset=len(self.data), byteLength=len(raw)))
        self.data += raw + b"\0" * (-len(raw) % 4)
        acc = gl.Accessor(bufferView=len(self.gltf.bufferViews) - 1, componentType=gl.FLOAT,
                          count=int(arr.shape[0]), type=kind)  # fmt: skip
        if minmax:
            flat = arr.reshape(arr.shape[0], -1)
            acc.min = [float(v) for v in flat.min(axis=0)]
            acc.max = [float(v) for v in flat.max(axis=0)]
        self.gltf.accessors.append(acc)
        return len(self.gltf.accessors) - 1


def _unit_f32(q: F64) -> F32:
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    if not np.all(np.isfinite(norm)) or np.any(norm < 1e-9):
        raise ProtocolError("a solved rotation is not a rotation (non-finite or zero quaternion)")
    out: F32 = (q / norm).astype(np.float32)
    return out


def write_vrma(
    frames: Sequence[RigFrame],
    times_s: Sequence[float],
    *,
    expressions: ExpressionMap | None,
    offsets: npt.ArrayLike | None = None,
    vrm_map: BoneMap | None = None,
) -> bytes:
    """The ``.vrma`` (GLB) bytes; ``times_s`` are seconds from the first frame, increasing."""
    if not frames:
        raise ProtocolError("nothing to export: the recording has no frames")
    times = np.asarray(times_s, dtype=np.float32)
    if times.shape != (len(frames),) or np.any(np.diff(times) <= 0):
        raise ProtocolError("VRM Animation keyframe times must be strictly increasing")
    rest = check_offsets(offsets)
    names = vrm_map or resolve_bone_map("vrm1")
    gltf = gl.GLTF2(asset=gl.Asset(version="2.0", generator="mocap_bridge"))
    gltf.extensionsUsed = ["VRMC_vrm_animation"]
    blob = _Blob(gltf)

    node_of: dict[HumanBone, int] = {}
    human_bones: dict[str, dict[str, int]] = {}
    for bone in BONE_ORDER:
        if bone in _EYES:
            continue
        name = names.name_of(bone)
        if name is None:
            raise ProtocolError(f"VRM bone map {names.name!r} has no name for {bone.name}")
        t = rest[bone]
        node_of[bone] = len(gltf.nodes)
        gltf.nodes.append(gl.Node(name=name, translation=[float(t[0]), float(t[1]), float(t[2])]))
        parent = PARENT[bone]
        if parent is not None:
            gltf.nodes[node_of[parent]].children.append(node_of[bone])
        human_bones[name] = {"node": node_of[bone]}
    roots = [node_of[HumanBone.Hips]]

    eye_mid = 0.5 * (rest[HumanBone.LeftEye] + rest[HumanBone.RightEye])
    lookat_node = len(gltf.nodes)
    gltf.nodes.append(gl.Node(name="lookAt", translation=[float(v) for v in eye_mid]))
    gltf.nodes[node_of[HumanBone.Head]].children.append(lookat_node)

    presets: dict[str, dict[str, int]] = {}
    expr_cols: list[tuple[int, int]] = []  # (node, column of ExpressionMap.evaluate)
    if expressions is not None:
        for col, vrm0 in enumerate(expressions.names):
            vrm1 = VRM0_TO_VRM1_PRESETS.get(vrm0)
            if vrm1 is None:  # LookUp/Down/Left/Right: gaze is the LookAt node's job
                continue
            presets[vrm1] = {"node": len(gltf.nodes)}
            expr_cols.append((len(gltf.nodes), col))
            roots.append(len(gltf.nodes))
            gltf.nodes.append(gl.Node(name=f"expression_{vrm1}"))
    gltf.scenes = [gl.Scene(nodes=roots)]
    gltf.scene = 0

    time_acc = blob.add(times, gl.SCALAR, minmax=True)
    anim = gl.Animation(name="mocap_bridge")

    def channel(node: int, path: str, values: F32, kind: str) -> None:
        out = blob.add(values, kind)
        anim.samplers.append(gl.AnimationSampler(input=time_acc, output=out, interpolation="LINEAR"))
        target = gl.AnimationChannelTarget(node=node, path=path)
        anim.channels.append(gl.AnimationChannel(sampler=len(anim.samplers) - 1, target=target))

    rots = np.stack([f.bone_rotations for f in frames]).astype(np.float64)
    for bone, node in node_of.items():
        channel(node, "rotation", _unit_f32(rots[:, int(bone)]), gl.VEC4)
    hips = np.stack([f.hips_position for f in frames]).astype(np.float32)
    if not np.all(np.isfinite(hips)):
        raise ProtocolError("non-finite hips position")
    channel(node_of[HumanBone.Hips], "translation", hips, gl.VEC3)
    if expr_cols:
        assert expressions is not None
        weights = np.stack([expressions.evaluate(f.blendshapes) for f in frames]).astype(np.float32)
        for node, col in expr_cols:
            xyz = np.zeros((len(frames), 3), dtype=np.float32)
            xyz[:, 0] = weights[:, col]
            channel(node, "translation", xyz, gl.VEC3)
    channel(lookat_node, "rotation", _unit_f32(lookat_quaternions(frames)), gl.VEC4)
    gltf.animations = [anim]

    ext: dict[str, object] = {"specVersion": "1.0", "humanoid": {"humanBones": human_bones}}
    if presets:
        ext["expressions"] = {"preset": presets}
    ext["lookAt"] = {"node": lookat_node, "offsetFromHeadBone": [float(v) for v in eye_mid]}
    gltf.extensions = {"VRMC_vrm_animation": ext}
    gltf.buffers = [gl.Buffer(byteLength=len(blob.data))]
    gltf.set_binary_blob(bytes(blob.data))
    return b"".join(gltf.save_to_bytes())
