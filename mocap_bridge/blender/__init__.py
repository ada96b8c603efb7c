"""The Blender receiver add-on (``mocap_bridge_blender``) and its installable zip.

The add-on is pure Python (stdlib + bpy) and never imports mocap_bridge; it lives here as a
folder (``mocap_bridge_blender/``) and :func:`build_addon_zip` packs it with the bone maps it needs,
copied from ``retarget_maps/`` (:func:`mocap_bridge.resources.retarget_maps_dir`, the one source of
truth) into ``mocap_bridge_blender/maps/``. The zip installs through Edit → Preferences → Add-ons
→ Install from Disk: as an extension on Blender 4.2+ (``blender_manifest.toml`` in the single
top-level folder, https://docs.blender.org/manual/en/latest/advanced/extensions/getting_started.html)
and as a legacy add-on (``bl_info``) elsewhere.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from ..errors import ConfigError
from ..resources import retarget_maps_dir

__all__ = ["ADDON_DIR", "ADDON_PACKAGE", "BONE_MAP_FILES", "addon_version", "build_addon_zip"]

ADDON_PACKAGE = "mocap_bridge_blender"
ADDON_DIR = Path(__file__).resolve().parent / ADDON_PACKAGE

#: Bone maps the add-on reads (mirrors ``rigs.BONE_MAP_FILES`` inside the add-on; a test checks).
BONE_MAP_FILES: tuple[str, ...] = (
    "unity.toml", "vrm0.toml", "vrm1.toml", "vroid.toml", "mixamo.toml", "rigify.toml",
    "unreal_mannequin.toml", "metahuman.toml",
)  # fmt: skip

_SOURCES = ("__init__.py", "api.py", "humanoid.py", "osc.py", "receiver.py", "rigs.py", "takes.py", "ui.py",
            "blender_manifest.toml")  # fmt: skip


def addon_version() -> str:
    import tomllib

    doc = tomllib.loads((ADDON_DIR / "blender_manifest.toml").read_text(encoding="utf-8"))
    return str(doc["version"])


def build_addon_zip(out: Path) -> Path:
    """Write the installable add-on zip to ``out`` (parent folders created); returns ``out``."""
    out = Path(out)
    if out.suffix.lower() != ".zip":
        raise ConfigError(f"{out}: the add-on file must end in .zip")
    maps = retarget_maps_dir()
    missing = [f for f in (*_SOURCES,) if not (ADDON_DIR / f).is_file()]
    missing += [f"retarget_maps/{m}" for m in BONE_MAP_FILES if not (maps / m).is_file()]
    if missing:
        raise ConfigError(f"cannot build the Blender add-on: missing {', '.join(missing)}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name in _SOURCES:
                zf.write(ADDON_DIR / name, f"{ADDON_PACKAGE}/{name}")
            for name in BONE_MAP_FILES:
                zf.write(maps / name, f"{ADDON_PACKAGE}/maps/{name}")
    except OSError as exc:
        raise ConfigError(f"{out}: cannot write the add-on zip: {exc.strerror or exc}") from exc
    return out
