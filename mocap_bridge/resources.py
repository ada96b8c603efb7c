"""Where the shipped data lives: ``configs/`` and ``retarget_maps/``.

In a checkout (and an editable install) they sit beside the package at the repository root; a
wheel installs them inside the package as ``mocap_bridge/data/configs`` and
``mocap_bridge/data/retarget_maps`` (see ``[tool.setuptools]`` in pyproject.toml).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = ["configs_dir", "data_roots", "read_toml", "resolve_data_path", "retarget_maps_dir"]

_PKG = Path(__file__).resolve().parent

#: Roots searched in order for ``configs/`` and ``retarget_maps/``.
DATA_ROOTS: tuple[Path, ...] = (_PKG.parent, _PKG / "data")


def data_roots() -> tuple[Path, ...]:
    return DATA_ROOTS


def _find(name: str) -> Path:
    for root in DATA_ROOTS:
        if (root / name).is_dir():
            return root / name
    looked = ", ".join(map(str, DATA_ROOTS))
    raise ConfigError(f"cannot find the {name}/ folder of mocap_bridge (looked in {looked})")


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """A TOML file as a dict; ConfigError naming the file when it cannot be read or parsed."""
    p = Path(path)
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: cannot read {what}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read {what}: {getattr(exc, 'strerror', None) or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from exc


def configs_dir() -> Path:
    return _find("configs")


def retarget_maps_dir() -> Path:
    return _find("retarget_maps")


def resolve_data_path(value: str, what: str) -> Path:
    """An existing file for a configured path: absolute, or relative to the working directory,
    then to each of :data:`DATA_ROOTS`. ConfigError lists the places tried."""
    p = Path(value).expanduser()
    tried = [p] if p.is_absolute() else [Path.cwd() / p, *(root / p for root in DATA_ROOTS)]
    for c in tried:
        if c.is_file():
            return c
    raise ConfigError(f"{what}: {value!r} not found (tried {', '.join(map(str, tried))})")
