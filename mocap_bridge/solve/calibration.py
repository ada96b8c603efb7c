"""Calibration profile: neutral face and head pose, per-shape response; TOML on disk.

A profile is applied inside the solver, so every protocol (Live Link, VMC, OSC, WebSocket) gets the
same calibrated values. See docs/calibration.md for the file format and the recipe.

File format (written by :func:`save_calibration`, read with tomllib)::

    version = 1
    frames = 60                 # frames with a face that went into the neutral
    swap_lr = false
    link_blinks = "off"         # off | mean | max
    link_gaze = false
    eye_gaze = true

    [head]
    neutral_rotation = [x, y, z, w]      # internal frame (docs/coordinates.md)
    neutral_position_m = [x, y, z]       # camera space, metres

    [neutral]                   # raw MediaPipe score of the relaxed face, by ARKit name
    jawOpen = 0.0123
    ...

    [shapes.jawOpen]            # optional per-shape response, by ARKit (output) name
    gain = 1.0
    offset = 0.0
    curve = 1.0                 # v ** curve after gain/offset
    min = 0.0
    max = 1.0
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import ConfigError, TrackingError
from ..frames import ARKIT_NAMES, TrackedFrame
from ..resources import read_toml
from .face import arkit_from_mediapipe
from .quat import from_matrix, normalize

__all__ = ["CalibrationProfile", "capture_calibration", "load_calibration", "save_calibration"]

F64 = npt.NDArray[np.float64]
_N = len(ARKIT_NAMES)
_SHAPE_KEYS = ("gain", "offset", "curve", "min", "max")
_LINKS = ("off", "mean", "max")


def _const(v: float) -> F64:
    return np.full(_N, v)


@dataclass(frozen=True, slots=True)
class CalibrationProfile:
    """Neutral face (raw scores, ARKit order) and head pose, plus per-shape response (ARKit order)."""

    neutral: F64 = field(default_factory=lambda: _const(0.0))
    gain: F64 = field(default_factory=lambda: _const(1.0))
    offset: F64 = field(default_factory=lambda: _const(0.0))
    curve: F64 = field(default_factory=lambda: _const(1.0))
    clamp_min: F64 = field(default_factory=lambda: _const(0.0))
    clamp_max: F64 = field(default_factory=lambda: _const(1.0))
    head_rotation: F64 = field(default_factory=lambda: np.array([0.0, 0.0, 0.0, 1.0]))
    head_position: F64 | None = None  #: metres, camera space; None = not captured
    swap_lr: bool = False
    link_blinks: str = "off"
    link_gaze: bool = False
    eye_gaze: bool = True
    frames: int = 0


def capture_calibration(
    frames: Iterable[TrackedFrame],
    *,
    base: CalibrationProfile | None = None,
    min_frames: int = 5,
) -> CalibrationProfile:
    """Neutral face and head pose from frames of a relaxed face looking at the camera.

    The neutral is the per-shape median of the raw scores (robust to a blink); the head pose is the
    normalised mean quaternion and mean position. Per-shape response and options are kept from
    ``base``. Raises :class:`TrackingError` when fewer than ``min_frames`` frames have a face.
    """
    base = base or CalibrationProfile()
    scores: list[F64] = []
    quats: list[F64] = []
    pos: list[F64] = []
    for f in frames:
        if f.face is None:
            continue
        scores.append(arkit_from_mediapipe(f.face.blendshapes))
        m = np.asarray(f.face.matrix, dtype=np.float64)
        r = m[:3, :3] / np.linalg.norm(m[:3, :3], axis=0)
        quats.append(from_matrix(r))
        pos.append(m[:3, 3] * 0.01)
    if len(scores) < max(min_frames, 1):
        raise TrackingError(f"calibration needs at least {min_frames} frames with a face, got {len(scores)}")
    neutral = np.median(np.stack(scores), axis=0)
    neutral[ARKIT_NAMES.index("tongueOut")] = 0.0
    q = np.stack(quats)
    q = q * np.where(q @ q[0] < 0.0, -1.0, 1.0)[:, None]
    return CalibrationProfile(
        neutral=neutral,
        gain=base.gain.copy(),
        offset=base.offset.copy(),
        curve=base.curve.copy(),
        clamp_min=base.clamp_min.copy(),
        clamp_max=base.clamp_max.copy(),
        head_rotation=normalize(q.mean(axis=0)),
        head_position=np.stack(pos).mean(axis=0),
        swap_lr=base.swap_lr,
        link_blinks=base.link_blinks,
        link_gaze=base.link_gaze,
        eye_gaze=base.eye_gaze,
        frames=len(scores),
    )


def _fmt(v: float) -> str:
    return repr(float(v)) if math.isfinite(v) else "0.0"


def save_calibration(profile: CalibrationProfile, path: str | Path) -> None:
    """Write ``profile`` as TOML (hand-written; no extra dependency)."""
    lines = [
        "# mocap_bridge calibration profile (docs/calibration.md)",
        "version = 1",
        f"frames = {int(profile.frames)}",
        f"swap_lr = {'true' if profile.swap_lr else 'false'}",
        f'link_blinks = "{profile.link_blinks}"',
        f"link_gaze = {'true' if profile.link_gaze else 'false'}",
        f"eye_gaze = {'true' if profile.eye_gaze else 'false'}",
        "",
        "[head]",
        "neutral_rotation = [" + ", ".join(_fmt(v) for v in profile.head_rotation) + "]",
    ]
    if profile.head_position is not None:
        lines.append("neutral_position_m = [" + ", ".join(_fmt(v) for v in profile.head_position) + "]")
    lines += ["", "[neutral]"]
    lines += [f"{n} = {_fmt(v)}" for n, v in zip(ARKIT_NAMES, profile.neutral, strict=True)]
    defaults = (1.0, 0.0, 1.0, 0.0, 1.0)
    arrays = (profile.gain, profile.offset, profile.curve, profile.clamp_min, profile.clamp_max)
    for i, name in enumerate(ARKIT_NAMES):
        vals = [float(a[i]) for a in arrays]
        if vals == list(defaults):
            continue
        lines += ["", f"[shapes.{name}]"]
        lines += [f"{k} = {_fmt(v)}" for k, v in zip(_SHAPE_KEYS, vals, strict=True)]
    try:
        Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write calibration: {exc}") from exc


#: Largest magnitude a profile number may have (a gain of 1e308 overflows float32 downstream).
_NUM_LIMIT = 1e6


def _num(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ConfigError(f"{where}: expected a number, got {v!r:.40}")
    if not abs(v) <= _NUM_LIMIT:  # also NaN and ±inf, which TOML allows
        raise ConfigError(f"{where}: expected a finite number within ±{_NUM_LIMIT:g}, got {v!r:.40}")
    return float(v)


def _vec(v: Any, n: int, where: str) -> F64:
    if not isinstance(v, list) or len(v) != n:
        raise ConfigError(f"{where}: expected a list of {n} numbers")
    return np.array([_num(x, where) for x in v])


def _bool(v: Any, where: str) -> bool:
    if not isinstance(v, bool):
        raise ConfigError(f"{where}: expected true/false, got {v!r}")
    return v


def load_calibration(path: str | Path) -> CalibrationProfile:
    """Read a profile; :class:`ConfigError` naming the file and key on any problem."""
    p = Path(path)
    data = read_toml(p, "calibration")
    index = {n: i for i, n in enumerate(ARKIT_NAMES)}
    prof: dict[str, Any] = {}
    arrays = {k: _const(d) for k, d in zip(_SHAPE_KEYS, (1.0, 0.0, 1.0, 0.0, 1.0), strict=True)}
    neutral = _const(0.0)
    for key, value in data.items():
        where = f"{p}: {key}"
        if key == "version":
            if value != 1:
                raise ConfigError(f"{where}: unsupported version {value!r}")
        elif key == "frames":
            prof["frames"] = int(_num(value, where))
        elif key in ("swap_lr", "link_gaze", "eye_gaze"):
            prof[key] = _bool(value, where)
        elif key == "link_blinks":
            if value not in _LINKS:
                raise ConfigError(f"{where}: expected one of {', '.join(_LINKS)}")
            prof[key] = value
        elif key == "head":
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: expected a table")
            for hk, hv in value.items():
                if hk == "neutral_rotation":
                    q = _vec(hv, 4, f"{where}.{hk}")
                    if not 0.5 < np.linalg.norm(q) < 1.5:
                        raise ConfigError(f"{where}.{hk}: not a unit quaternion")
                    prof["head_rotation"] = normalize(q)
                elif hk == "neutral_position_m":
                    prof["head_position"] = _vec(hv, 3, f"{where}.{hk}")
                else:
                    raise ConfigError(f"{where}.{hk}: unknown key")
        elif key == "neutral":
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: expected a table")
            for name, v in value.items():
                if name not in index:
                    raise ConfigError(f"{where}.{name}: unknown ARKit blendshape")
                neutral[index[name]] = min(max(_num(v, f"{where}.{name}"), 0.0), 0.99)
        elif key == "shapes":
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: expected a table")
            for name, tbl in value.items():
                if name not in index:
                    raise ConfigError(f"{where}.{name}: unknown ARKit blendshape")
                if not isinstance(tbl, dict):
                    raise ConfigError(f"{where}.{name}: expected a table")
                for sk, sv in tbl.items():
                    if sk not in arrays:
                        raise ConfigError(f"{where}.{name}.{sk}: unknown key")
                    x = _num(sv, f"{where}.{name}.{sk}")
                    if sk == "curve" and x <= 0.0:
                        raise ConfigError(f"{where}.{name}.{sk}: must be > 0")
                    arrays[sk][index[name]] = x
        else:
            raise ConfigError(f"{where}: unknown key")
    return CalibrationProfile(
        neutral=neutral,
        gain=arrays["gain"],
        offset=arrays["offset"],
        curve=arrays["curve"],
        clamp_min=arrays["min"],
        clamp_max=arrays["max"],
        **prof,
    )
