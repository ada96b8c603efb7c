"""Retarget bone maps: HumanBone name -> target rig bone name, as TOML data.

Format (``retarget_maps/<name>.toml``)::

    format = "mocap_bridge.bone_map/1"
    target = "vrm0"                 # free text
    description = "..."             # optional
    [bones]
    Hips = "hips"                   # HumanBone name = target bone name
    ...

Bones left out are not sent under a target name (the target rig lacks them). Unknown HumanBone
names, empty or duplicate target names and unknown keys raise :class:`ConfigError` with the file and
the key. The expression maps next to them (``format = "mocap_bridge.expression_map/1"``, e.g.
arkit_to_vrm0.toml) belong to the VMC encoder and are loaded there.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from ..errors import ConfigError
from ..frames import HumanBone
from ..resources import read_toml, retarget_maps_dir

__all__ = [
    "BONE_MAP_FORMAT",
    "BoneMap",
    "RigConvention",
    "load_bone_map",
    "maps_dir",
    "resolve_bone_map",
    "shipped_bone_maps",
]

BONE_MAP_FORMAT = "mocap_bridge.bone_map/1"


def maps_dir() -> Path:
    """The shipped ``retarget_maps/`` folder (see :mod:`mocap_bridge.resources`)."""
    return retarget_maps_dir()


@dataclass(frozen=True, slots=True)
class RigConvention:
    """How the target rig reads a rotation (the map's ``[convention]`` and ``[rest_pose]``;
    mocap_bridge.solve.retarget explains each field)."""

    axes: str = "unity"
    rotations: str = "tpose"  #: tpose | bone
    along: str = "+y"  #: bone: the local axis along the bone
    facing: str = "+z"  #: bone: the local axis toward the character's front
    rest_pose: Mapping[HumanBone, tuple[float, float, float]] = field(
        default_factory=lambda: MappingProxyType({})
    )


@dataclass(frozen=True, slots=True)
class BoneMap:
    """A validated bone map."""

    name: str
    target: str
    bones: Mapping[HumanBone, str]
    source: str = ""
    convention: RigConvention = field(default_factory=RigConvention)

    def name_of(self, bone: HumanBone) -> str | None:
        """Target name of ``bone`` or None when the target has no such bone."""
        return self.bones.get(bone)


def load_bone_map(path: str | Path) -> BoneMap:
    """Read and validate a bone map file."""
    p = Path(path)
    data = read_toml(p, "bone map")
    fmt = data.get("format")
    if fmt != BONE_MAP_FORMAT:
        raise ConfigError(f"{p}: format: expected {BONE_MAP_FORMAT!r}, got {fmt!r}")
    for key in data:
        if key not in ("format", "target", "description", "bones", "convention", "rest_pose"):
            raise ConfigError(f"{p}: {key}: unknown key")
    target = data.get("target", p.stem)
    if not isinstance(target, str):
        raise ConfigError(f"{p}: target: expected a string")
    bones_raw = data.get("bones")
    if not isinstance(bones_raw, dict) or not bones_raw:
        raise ConfigError(f"{p}: [bones]: missing or empty")
    bones: dict[HumanBone, str] = {}
    seen: dict[str, str] = {}
    for key, value in bones_raw.items():
        if key not in HumanBone.__members__:
            raise ConfigError(f"{p}: bones.{key}: unknown HumanBone name")
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{p}: bones.{key}: expected a non-empty bone name")
        if value in seen:
            raise ConfigError(f"{p}: bones.{key}: {value!r} already used by bones.{seen[value]}")
        seen[value] = key
        bones[HumanBone[key]] = value
    convention = _convention(p, data.get("convention", {}), data.get("rest_pose", {}))
    return BoneMap(
        name=p.stem, target=target, bones=MappingProxyType(bones), source=str(p), convention=convention
    )


_AXES = ("unity", "unreal", "blender", "gltf", "gltf_vrm0")
_LOCAL_AXES = ("+x", "-x", "+y", "-y", "+z", "-z")


def _convention(p: Path, raw: object, rest: object) -> RigConvention:
    if not isinstance(raw, dict) or not isinstance(rest, dict):
        raise ConfigError(f"{p}: [convention] and [rest_pose] must be tables")
    allowed = {"axes": _AXES, "rotations": ("tpose", "bone"), "along": _LOCAL_AXES, "facing": _LOCAL_AXES}
    values: dict[str, str] = {}
    for key, value in raw.items():
        if key not in allowed:
            raise ConfigError(f"{p}: convention.{key}: unknown key")
        if value not in allowed[key]:
            raise ConfigError(
                f"{p}: convention.{key}: expected one of {', '.join(allowed[key])}, got {value!r}"
            )
        values[key] = value
    conv = RigConvention(
        axes=values.get("axes", "unity"),
        rotations=values.get("rotations", "tpose"),
        along=values.get("along", "+y"),
        facing=values.get("facing", "+z"),
    )
    if conv.along[1] == conv.facing[1]:
        raise ConfigError(f"{p}: convention: along and facing must be different axes")
    pose: dict[HumanBone, tuple[float, float, float]] = {}
    for key, value in rest.items():
        if key not in HumanBone.__members__:
            raise ConfigError(f"{p}: rest_pose.{key}: unknown HumanBone name")
        ok = isinstance(value, list) and len(value) == 3
        ok = ok and all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value
        )
        if not ok or sum(float(v) ** 2 for v in value) < 1e-6:
            raise ConfigError(f"{p}: rest_pose.{key}: expected a direction [x, y, z]")
        pose[HumanBone[key]] = (float(value[0]), float(value[1]), float(value[2]))
    return dataclasses.replace(conv, rest_pose=MappingProxyType(pose))


def shipped_bone_maps() -> list[Path]:
    """Every bone map shipped in retarget_maps/ (expression maps excluded)."""
    out = []
    for f in sorted(maps_dir().glob("*.toml")):
        try:
            fmt = tomllib.loads(f.read_text(encoding="utf-8")).get("format")
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            fmt = BONE_MAP_FORMAT  # let load_bone_map report it
        if fmt == BONE_MAP_FORMAT:
            out.append(f)
    return out


def resolve_bone_map(name_or_path: str, extra: tuple[str, ...] = ()) -> BoneMap:
    """A shipped map by name, a user map by stem among ``extra`` files, or a path to a map."""
    for e in extra:
        if Path(e).stem == name_or_path:
            return load_bone_map(e)
    shipped = maps_dir() / f"{name_or_path}.toml"
    if "/" not in name_or_path and not name_or_path.endswith(".toml"):
        if not shipped.is_file():
            known = ", ".join(p.stem for p in shipped_bone_maps())
            raise ConfigError(f"unknown bone map {name_or_path!r} (known: {known})")
        return load_bone_map(shipped)
    return load_bone_map(name_or_path)
