"""Configuration: TOML files merged table by table, validated, turned into frozen dataclasses.

Order (later wins, key by key within a table): ``configs/default.toml`` → ``configs/<preset>.toml``
→ the user's ``--config FILE`` → command-line flags. A table or key that ``default.toml`` does not
have is an error naming the file and the key, so typos never pass silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .resources import configs_dir, read_toml, retarget_maps_dir
from .tracking.landmarkers import POSE_MODELS, TrackerSettings

__all__ = [
    "CaptureSettings",
    "Config",
    "configs_dir",
    "load_config",
    "presets",
    "retarget_maps_dir",
    "tracker_settings",
]

# Tables whose keys are free-form (user maps, per-shape tables): only the table name is checked.
_OPEN_TABLES = {"retarget", "face", "smoothing"}


def presets() -> list[str]:
    return sorted(p.stem for p in configs_dir().glob("*.toml") if p.stem != "default")


def _read(path: Path) -> dict[str, Any]:
    return read_toml(path, "config file")


@dataclass(frozen=True, slots=True)
class Config:
    """The merged TOML document and, per table, the last file that set it (for error messages)."""

    tables: dict[str, Any]
    origin: dict[str, str] = field(default_factory=dict)
    files: tuple[str, ...] = ()

    def table(self, name: str) -> dict[str, Any]:
        value = self.tables.get(name, {})
        return value if isinstance(value, dict) else {}

    def where(self, name: str) -> str:
        return self.origin.get(name, self.files[0] if self.files else "config")


def _merge(base: dict[str, Any], over: Mapping[str, Any], path: Path, origin: dict[str, str],
           check: bool) -> None:  # fmt: skip
    for table, values in over.items():
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: top-level key {table!r} must be a [table]")
        if check and table not in base:
            raise ConfigError(f"{path}: unknown table [{table}]")
        target = base.setdefault(table, {})
        for key, value in values.items():
            if check and table not in _OPEN_TABLES and key not in target:
                raise ConfigError(f"{path}: unknown key [{table}].{key}")
            if isinstance(value, dict) and isinstance(target.get(key), dict):
                target[key] = {**target[key], **value}
            else:
                target[key] = value
        origin[table] = str(path)


def load_config(*, preset: str | None = None, path: str | Path | None = None) -> Config:
    """Merge default.toml, the preset and the user file; raise ConfigError naming file and key."""
    default = configs_dir() / "default.toml"
    tables: dict[str, Any] = {}
    origin: dict[str, str] = {}
    files = [str(default)]
    _merge(tables, _read(default), default, origin, check=False)
    if preset:
        preset_path = configs_dir() / f"{preset}.toml"
        if preset == "default" or not preset_path.is_file():
            raise ConfigError(f"unknown preset {preset!r} (known: {', '.join(presets()) or 'none'})")
        _merge(tables, _read(preset_path), preset_path, origin, check=True)
        files.append(str(preset_path))
    if path:
        user = Path(path).expanduser()
        _merge(tables, _read(user), user, origin, check=True)
        files.append(str(user))
    return Config(tables=tables, origin=origin, files=tuple(files))


def _get(table: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str,
         default: Any) -> Any:  # fmt: skip
    value = table.get(key, default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ConfigError(f"{where}: {key} has the wrong type ({type(value).__name__})")
    return value


@dataclass(frozen=True, slots=True)
class CaptureSettings:
    source: str = ""
    mirror: bool = False
    mode: str = "realtime"  # realtime | video
    max_side: int = 640


def capture_settings(config: Config) -> CaptureSettings:
    t, w = config.table("capture"), f"{config.where('capture')}: [capture]"
    mode = _get(t, "mode", str, w, "realtime")
    if mode not in ("realtime", "video"):
        raise ConfigError(f"{w}: mode must be 'realtime' or 'video', not {mode!r}")
    max_side = _get(t, "max_side", int, w, 640)
    if max_side < 0:
        raise ConfigError(f"{w}: max_side must be ≥ 0 (0 = never downscale)")
    return CaptureSettings(
        source=_get(t, "source", str, w, ""),
        mirror=_get(t, "mirror", bool, w, False),
        mode=mode,
        max_side=max_side,
    )


def tracker_settings(config: Config) -> TrackerSettings:
    t, w = config.table("tracking"), f"{config.where('tracking')}: [tracking]"
    pose_model = _get(t, "pose_model", str, w, "full")
    if pose_model not in POSE_MODELS:
        raise ConfigError(f"{w}: pose_model must be one of {', '.join(POSE_MODELS)}")
    num_hands = _get(t, "num_hands", int, w, 2)
    if not 0 <= num_hands <= 2:
        raise ConfigError(f"{w}: num_hands must be 0, 1 or 2")
    confs = {}
    for key in ("min_pose_confidence", "min_face_confidence", "min_hand_confidence"):
        confs[key] = _get(t, key, float, w, 0.5)
        if not 0.0 <= confs[key] <= 1.0:
            raise ConfigError(f"{w}: {key} must be within 0..1")
    deadline = _get(t, "deadline_ms", float, w, 60.0)
    if deadline <= 0:
        raise ConfigError(f"{w}: deadline_ms must be positive")
    paths: dict[str, Path] = {}
    for name, key in (("pose", "pose_model_path"), ("face", "face_model_path"), ("hand", "hand_model_path")):
        value = _get(t, key, str, w, "")
        if value:
            reg = f"pose_{pose_model}" if name == "pose" else name
            paths[reg] = Path(value).expanduser()
    return TrackerSettings(
        pose_model=pose_model,
        num_hands=num_hands,
        min_pose_confidence=confs["min_pose_confidence"],
        min_face_confidence=confs["min_face_confidence"],
        min_hand_confidence=confs["min_hand_confidence"],
        deadline_ms=deadline,
        parts=(
            _get(t, "pose", bool, w, True),
            _get(t, "face", bool, w, True),
            _get(t, "hands", bool, w, True) and num_hands > 0,
        ),
        adaptive_hands=_get(t, "adaptive_hands", bool, w, True),
        model_paths=paths,
    )
