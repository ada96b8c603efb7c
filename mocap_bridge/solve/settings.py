"""Settings of the signal-and-solve stage: config tables -> one frozen :class:`SolveSettings`.

Tables owned here (configs/default.toml documents every key): ``[smoothing]``, ``[gating]``,
``[face]``, ``[head]``, ``[body]``, ``[hands]``, ``[retarget]``. Smoothing channels are inline
tables (``blendshapes = { min_cutoff = 1.5, beta = 2.0 }``); a preset that sets a channel replaces
that key as a whole, and fields it leaves out take the built-in defaults below (which equal
default.toml). Unknown keys and wrong types raise :class:`~mocap_bridge.errors.ConfigError` naming
the file and the key.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..filters.one_euro import OneEuroParams

__all__ = [
    "BodySettings",
    "FaceSettings",
    "GatingSettings",
    "HandsSettings",
    "HeadSettings",
    "RetargetSettings",
    "SmoothingSettings",
    "SolveSettings",
    "add_solve_arguments",
    "apply_solve_arguments",
    "solve_settings_from_config",
]


_POSE_LANDMARKS = OneEuroParams(0.05, 80.0, 1.0)
_POSE_WORLD = OneEuroParams(0.1, 40.0, 1.0)
_FACE_LANDMARKS = OneEuroParams(0.05, 80.0, 1.0)
_HAND_LANDMARKS = OneEuroParams(0.05, 80.0, 1.0)
_HAND_WORLD = OneEuroParams(0.1, 40.0, 1.0)
_BLENDSHAPES = OneEuroParams(1.0, 2.0, 1.0)
_HEAD_ROTATION = OneEuroParams(0.5, 3.0, 1.0)
_HEAD_POSITION = OneEuroParams(0.5, 20.0, 1.0)
_BONES = OneEuroParams(3.0, 1.0, 1.0)


@dataclass(frozen=True, slots=True)
class SmoothingSettings:
    """One-Euro parameters per channel (protocols.md §5; tuning recipe in docs/tuning.md).

    Landmark channels in normalised image units are scaled by the object size (bbox of the part),
    so their ``beta`` is in 1/(object sizes per second), as in MediaPipe. World channels are in
    metres, blendshapes in 0..1 units, rotations in radians (angular speed in rad/s).
    """

    enabled: bool = True
    raw_derivative: bool = False  #: MediaPipe parity; the paper (and the CSV) use the filtered one
    pose_landmarks: OneEuroParams = _POSE_LANDMARKS
    pose_world: OneEuroParams = _POSE_WORLD
    face_landmarks: OneEuroParams = _FACE_LANDMARKS
    hand_landmarks: OneEuroParams = _HAND_LANDMARKS
    hand_world: OneEuroParams = _HAND_WORLD
    blendshapes: OneEuroParams = _BLENDSHAPES
    head_rotation: OneEuroParams = _HEAD_ROTATION
    head_position: OneEuroParams = _HEAD_POSITION
    bones: OneEuroParams = _BONES


@dataclass(frozen=True, slots=True)
class GatingSettings:
    """Loss policy shared by every part."""

    visibility_threshold: float = 0.5  #: pose landmark visibility below this -> joint not valid
    presence_threshold: float = 0.5  #: pose landmark presence below this -> joint not valid
    hand_score_threshold: float = 0.5  #: handedness score below this -> hand not valid
    hold_ms: float = 250.0  #: hold the last good value this long
    release_ms: float = 600.0  #: then ease to rest over this long
    reacquire_ms: float = 150.0  #: blend back in over this long


@dataclass(frozen=True, slots=True)
class FaceSettings:
    """Blendshapes and eyes."""

    enabled: bool = True
    calibration: str = ""  #: calibration profile (TOML); empty = none
    swap_lr: bool = False  #: swap Left/Right blendshapes and eyes (on top of the profile's)
    link_blinks: str = "off"  #: off | mean | max (overrides the profile when not "off")
    link_gaze: bool = False  #: both eyes get the mean gaze
    eye_yaw_range_deg: float = 30.0  #: gaze angle (degrees of visual angle) at eyeLookIn/Out = 1
    eye_pitch_range_deg: float = 25.0  #: gaze angle at eyeLookUp/Down = 1
    jaw_open_deg: float = 25.0  #: Jaw bone rotation at jawOpen = 1


@dataclass(frozen=True, slots=True)
class HeadSettings:
    """Head pose from the facial transformation matrix."""

    enabled: bool = True
    translation: bool = True  #: send head translation (relative to neutral); false -> zeros
    neutral_distance_m: float = 0.5  #: without calibration: neutral head distance from the camera


@dataclass(frozen=True, slots=True)
class BodySettings:
    """Body bones from the pose world landmarks."""

    enabled: bool = True
    mode: str = "full"  #: full | upper (seated streamer: legs at rest, hips fixed)


@dataclass(frozen=True, slots=True)
class HandsSettings:
    """Fingers and wrists from the hand landmarker."""

    enabled: bool = True


@dataclass(frozen=True, slots=True)
class RetargetSettings:
    """Bone name map for the encoders that need target names."""

    bone_map: str = "unity"  #: a shipped map name (retarget_maps/<name>.toml) or a path
    extra_maps: tuple[str, ...] = ()  #: user map files, loaded and validated at start


@dataclass(frozen=True, slots=True)
class SolveSettings:
    """Everything the :class:`~mocap_bridge.solve.rig.RigSolver` needs."""

    smoothing: SmoothingSettings = field(default_factory=SmoothingSettings)
    gating: GatingSettings = field(default_factory=GatingSettings)
    face: FaceSettings = field(default_factory=FaceSettings)
    head: HeadSettings = field(default_factory=HeadSettings)
    body: BodySettings = field(default_factory=BodySettings)
    hands: HandsSettings = field(default_factory=HandsSettings)
    retarget: RetargetSettings = field(default_factory=RetargetSettings)

    @property
    def upper_body(self) -> bool:
        return self.body.mode == "upper"


_CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("face", "link_blinks"): ("off", "mean", "max"),
    ("body", "mode"): ("full", "upper"),
}
_NON_NEGATIVE = {
    "hold_ms", "release_ms", "reacquire_ms", "eye_yaw_range_deg", "eye_pitch_range_deg",
    "jaw_open_deg", "neutral_distance_m", "visibility_threshold", "presence_threshold",
    "hand_score_threshold",
}  # fmt: skip


def _err(source: str, where: str, msg: str) -> ConfigError:
    return ConfigError(f"{source}: [{where}]: {msg}")


def _coerce(value: Any, default: Any, source: str, where: str) -> Any:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise _err(source, where, f"expected true/false, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _err(source, where, f"expected a number, got {value!r}")
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise _err(source, where, f"expected a string, got {value!r}")
        return value
    if isinstance(default, tuple):
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise _err(source, where, f"expected a list of strings, got {value!r}")
        return tuple(value)
    raise AssertionError(type(default))  # pragma: no cover


def _params(value: Any, default: OneEuroParams, source: str, where: str) -> OneEuroParams:
    if not isinstance(value, Mapping):
        raise _err(source, where, "expected an inline table {min_cutoff, beta, d_cutoff, enabled}")
    out: dict[str, Any] = {}
    for key, v in value.items():
        if key not in OneEuroParams.__dataclass_fields__:
            raise _err(source, f"{where}.{key}", "unknown key")
        out[key] = _coerce(v, getattr(default, key), source, f"{where}.{key}")
        if key != "enabled" and out[key] < 0.0:
            raise _err(source, f"{where}.{key}", "must be >= 0")
    p = dataclasses.replace(default, **out)
    if p.min_cutoff <= 0.0 or p.d_cutoff <= 0.0:
        raise _err(source, where, "min_cutoff and d_cutoff must be > 0")
    return p


def _table(tables: Mapping[str, Any], name: str, cls: Any, source: str) -> Any:
    default = cls()
    raw = tables.get(name)
    if raw is None:
        return default
    if not isinstance(raw, Mapping):
        raise _err(source, name, "expected a table")
    values: dict[str, Any] = {}
    for key, v in raw.items():
        if key not in cls.__dataclass_fields__:
            raise _err(source, f"{name}.{key}", "unknown key")
        d = getattr(default, key)
        where = f"{name}.{key}"
        if isinstance(d, OneEuroParams):
            values[key] = _params(v, d, source, where)
            continue
        values[key] = _coerce(v, d, source, where)
        choices = _CHOICES.get((name, key))
        if choices is not None and values[key] not in choices:
            raise _err(source, where, f"expected one of {', '.join(choices)}, got {v!r}")
        if key in _NON_NEGATIVE and values[key] < 0.0:
            raise _err(source, where, "must be >= 0")
    return dataclasses.replace(default, **values)


def solve_settings_from_config(tables: Mapping[str, Any], source: str) -> SolveSettings:
    """Build :class:`SolveSettings` from the merged config tables (other tables are ignored).

    ``source`` names the file(s) for error messages.
    """
    return SolveSettings(
        smoothing=_table(tables, "smoothing", SmoothingSettings, source),
        gating=_table(tables, "gating", GatingSettings, source),
        face=_table(tables, "face", FaceSettings, source),
        head=_table(tables, "head", HeadSettings, source),
        body=_table(tables, "body", BodySettings, source),
        hands=_table(tables, "hands", HandsSettings, source),
        retarget=_table(tables, "retarget", RetargetSettings, source),
    )


def add_solve_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the solver's command-line flags (defaults None = keep the config value)."""
    g = parser.add_argument_group("signal and solve")
    g.add_argument(
        "--no-smoothing", dest="smoothing", action="store_false", default=None,
        help="turn One-Euro smoothing off (landmarks, blendshapes, rotations)",
    )  # fmt: skip
    g.add_argument(
        "--calibration", metavar="FILE", default=None,
        help="face/head calibration profile (TOML) from `mocap-bridge calibrate`",
    )  # fmt: skip
    body = g.add_mutually_exclusive_group()
    body.add_argument(
        "--upper-body", dest="body_mode", action="store_const", const="upper", default=None,
        help="seated mode: legs held at rest, hips fixed",
    )  # fmt: skip
    body.add_argument(
        "--full-body", dest="body_mode", action="store_const", const="full",
        help="solve legs and hips too",
    )  # fmt: skip
    g.add_argument(
        "--swap-lr", dest="swap_lr", action="store_true", default=None,
        help="swap left/right blendshapes and eye gaze (if winks come out on the wrong side)",
    )  # fmt: skip
    g.add_argument(
        "--bone-map", metavar="NAME|FILE", default=None,
        help="retarget bone map: unity, vrm0, vrm1, rigify, mixamo, unreal_mannequin, metahuman, or a file",
    )  # fmt: skip


def apply_solve_arguments(settings: SolveSettings, args: argparse.Namespace) -> SolveSettings:
    """Override ``settings`` with the flags the user actually gave."""
    s = settings
    if getattr(args, "smoothing", None) is False:
        s = dataclasses.replace(s, smoothing=dataclasses.replace(s.smoothing, enabled=False))
    calib = getattr(args, "calibration", None)
    if calib is not None:
        s = dataclasses.replace(s, face=dataclasses.replace(s.face, calibration=str(calib)))
    mode = getattr(args, "body_mode", None)
    if mode is not None:
        s = dataclasses.replace(s, body=dataclasses.replace(s.body, mode=mode))
    if getattr(args, "swap_lr", None):
        s = dataclasses.replace(s, face=dataclasses.replace(s.face, swap_lr=True))
    bone_map = getattr(args, "bone_map", None)
    if bone_map is not None:
        s = dataclasses.replace(s, retarget=dataclasses.replace(s.retarget, bone_map=bone_map))
    return s
