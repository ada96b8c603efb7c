"""Avatar profiles: the rest proportions of the user's own avatar, read from its VRM file.

Receivers that apply bone positions (EVMC4U's default, Warudo, VMC4UE) place every bone at the
local position the sender gives. Generic 1.70 m offsets then stretch an avatar with other
proportions, so ``[vmc] avatar = "model.vrm"`` reads the avatar's humanoid rest pose instead:

* the VRM's humanoid bone → node table (VRM 0.x ``extensions.VRM.humanoid.humanBones``, a list of
  ``{bone, node}``; VRM 1.0 ``extensions.VRMC_vrm.humanoid.humanBones``, a table ``name → {node}``);
* each node's rest position in the scene, composing the glTF node transforms from the scene root
  (https://registry.khronos.org/glTF/specs/2.0/glTF-2.0.html#transformations);
* local offsets between a bone and its nearest humanoid ancestor, in the internal frame
  (docs/coordinates.md). VRM 1.0 models face +Z in glTF, like the internal frame; VRM 0.x models
  face −Z, so they are turned 180° about Y (x → −x, z → −z). Sources: the VRM 1.0 spec
  (github.com/vrm-c/vrm-specification, ``VRMC_vrm-1.0/humanoid.md``) and UniVRM's 0.x export.

Bones the avatar lacks keep the generic offsets, scaled by the ratio of hip heights. The Hips
offset is the hips' height above the avatar's origin (its feet on the floor).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import ConfigError
from .frames import HUMAN_BONE_NAMES, HumanBone
from .solve.body import PARENT, REST_OFFSETS

__all__ = ["GENERIC", "AvatarProfile", "load_avatar", "profile_from_gltf"]

F64 = npt.NDArray[np.float64]

# VRM 1.0 renamed the thumb chain (metacarpal, proximal, distal) = Unity's proximal, intermediate, distal.
_VRM1_RENAMES = {
    f"{side}Thumb{vrm}": f"{side}Thumb{unity}"
    for side in ("left", "right")
    for vrm, unity in (("Metacarpal", "Proximal"), ("Proximal", "Intermediate"), ("Distal", "Distal"))
}
_BY_LOWER = {name[0].lower() + name[1:]: HumanBone[name] for name in HUMAN_BONE_NAMES}
_TO_INTERNAL = {"vrm0": np.array([-1.0, 1.0, -1.0]), "vrm1": np.array([1.0, 1.0, 1.0])}


@dataclass(frozen=True, slots=True)
class AvatarProfile:
    """Rest local offsets (55, 3) in metres, internal frame; ``Hips`` from the avatar's origin."""

    name: str
    offsets: F64
    bones_found: int = len(HumanBone)

    @property
    def hips_height(self) -> float:
        return float(self.offsets[HumanBone.Hips, 1])


GENERIC = AvatarProfile("generic 1.70 m humanoid", REST_OFFSETS)


def _node_matrix(node: Any) -> F64:
    if node.matrix:
        return np.asarray(node.matrix, dtype=np.float64).reshape(4, 4).T  # glTF is column-major
    m = np.eye(4)
    if node.rotation:
        x, y, z, w = node.rotation
        m[:3, :3] = [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    if node.scale:
        m[:3, :3] = m[:3, :3] * np.asarray(node.scale, dtype=np.float64)
    if node.translation:
        m[:3, 3] = node.translation
    return m


def _world_positions(gltf: Any) -> dict[int, F64]:
    """Rest position of every node in the scene (scene roots at the origin)."""
    nodes = gltf.nodes or []
    parent = {c: i for i, n in enumerate(nodes) for c in (n.children or [])}
    cache: dict[int, F64] = {}

    def world(i: int, depth: int = 0) -> F64:
        if i in cache:
            return cache[i]
        if depth > len(nodes):
            raise ConfigError("the avatar's node hierarchy has a cycle")
        m = _node_matrix(nodes[i])
        if i in parent:
            m = world(parent[i], depth + 1) @ m
        cache[i] = m
        return m

    return {i: world(i)[:3, 3] for i in range(len(nodes))}


def _human_bones(gltf: Any) -> tuple[str, dict[HumanBone, int]]:
    ext = gltf.extensions or {}
    out: dict[HumanBone, int] = {}
    if isinstance(ext.get("VRMC_vrm"), dict):
        bones = (ext["VRMC_vrm"].get("humanoid") or {}).get("humanBones") or {}
        for name, entry in bones.items() if isinstance(bones, dict) else ():
            bone = _BY_LOWER.get(_VRM1_RENAMES.get(str(name), str(name)))
            if bone is not None and isinstance(entry, dict) and isinstance(entry.get("node"), int):
                out[bone] = entry["node"]
        return "vrm1", out
    if isinstance(ext.get("VRM"), dict):
        bones = (ext["VRM"].get("humanoid") or {}).get("humanBones") or []
        for entry in bones if isinstance(bones, list) else ():
            if isinstance(entry, dict):
                bone = _BY_LOWER.get(str(entry.get("bone")))
                if bone is not None and isinstance(entry.get("node"), int):
                    out[bone] = entry["node"]
        return "vrm0", out
    raise ConfigError("not a VRM: no VRM (0.x) or VRMC_vrm (1.0) extension")


def profile_from_gltf(gltf: Any, name: str) -> AvatarProfile:
    """The profile of a loaded glTF/VRM document (``pygltflib.GLTF2``)."""
    version, bones = _human_bones(gltf)
    n_nodes = len(gltf.nodes or [])
    if HumanBone.Hips not in bones or any(not 0 <= n < n_nodes for n in bones.values()):
        raise ConfigError(f"{name}: the VRM humanoid has no hips bone, or names a node it lacks")
    world = _world_positions(gltf)
    flip = _TO_INTERNAL[version]
    pos = {b: world[n] * flip for b, n in bones.items()}
    hips_h = float(pos[HumanBone.Hips][1])
    if not np.isfinite(hips_h) or not 0.05 < hips_h < 20.0:
        raise ConfigError(f"{name}: implausible hips height {hips_h:.3g} m (the feet should be at y = 0)")
    scale = hips_h / float(REST_OFFSETS[HumanBone.Hips, 1])
    offsets = REST_OFFSETS * scale
    for bone in HumanBone:
        if bone not in pos:
            continue
        if bone is HumanBone.Hips:
            offsets[bone] = (0.0, hips_h, 0.0)  # the origin under the hips: no sideways root offset
            continue
        up = PARENT[bone]
        while up is not None and up not in pos:
            up = PARENT[up]
        if up is not None:
            offsets[bone] = pos[bone] - pos[up]
    if not np.isfinite(offsets).all():
        raise ConfigError(f"{name}: non-finite bone positions")
    offsets.setflags(write=False)
    return AvatarProfile(name, offsets, len(bones))


def load_avatar(path: str | Path) -> AvatarProfile:
    """Read a ``.vrm`` (GLB) file; ConfigError naming the file when it cannot be used."""
    from pygltflib import GLTF2

    p = Path(path).expanduser()
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"[vmc] avatar: cannot read {p}: {exc.strerror or exc}") from exc
    try:
        gltf = GLTF2.load_from_bytes(data)
    except Exception as exc:  # pygltflib raises many kinds on a damaged file
        raise ConfigError(f"[vmc] avatar: {p} is not a readable VRM/glTF file ({exc})") from exc
    if gltf is None:
        raise ConfigError(f"[vmc] avatar: {p} is not a readable VRM/glTF file")
    try:
        return profile_from_gltf(gltf, str(p))
    except ConfigError as exc:
        raise ConfigError(f"[vmc] avatar: {exc}") from exc
    except (TypeError, ValueError, IndexError, AttributeError) as exc:
        raise ConfigError(f"[vmc] avatar: {p}: malformed humanoid or nodes ({exc})") from exc
