"""The package's layering rules, checked by walking every module's imports (ast).

* ``filters/``, ``solve/`` and ``protocols/`` are pure: no asyncio, socket, threading, time,
  mediapipe, cv2 or argparse;
* ``protocols/`` does not import ``solve/`` (shared coordinate conventions live in ``coords.py``);
* only ``tracking/`` imports mediapipe; only ``capture/`` and the preview (``app.py``) import cv2;
* only ``cli.py`` imports argparse; only ``clock.py`` reads the clock (``time.sleep`` is no read).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "mocap_bridge"
PURE = ("filters", "solve", "protocols")
IMPURE = {"asyncio", "socket", "threading", "time", "mediapipe", "cv2", "argparse"}
#: Packaged for other programs, with rules of their own (the Blender add-on runs inside Blender).
FOREIGN = ("blender",)


def _modules() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if p.relative_to(PKG).parts[0] not in FOREIGN)


def _imports(path: Path) -> set[str]:
    """Absolute names this module imports (relative imports resolved against the package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    rel = path.relative_to(PKG.parent).with_suffix("").parts
    package = rel[:-1]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join((*base, node.module)) if node.module else ".".join(base)
                out.add(mod)
                out.update(f"{mod}.{a.name}" for a in node.names)
            elif node.module:
                out.add(node.module)
    return out


def _where(path: Path) -> tuple[str, ...]:
    return path.relative_to(PKG).with_suffix("").parts


MODULES = _modules()


def test_the_walk_sees_the_package() -> None:
    names = {"/".join(_where(p)) for p in MODULES}
    assert {"cli", "app", "solve/rig", "protocols/vmc", "tracking/landmarkers", "capture/sources"} <= names
    assert "mocap_bridge.coords" in _imports(PKG / "protocols" / "vmc.py")  # relative imports resolve


@pytest.mark.parametrize("path", MODULES, ids=lambda p: "/".join(_where(p)))
def test_module_follows_the_layering_rules(path: Path) -> None:
    where = _where(path)
    top = {name.split(".")[0] for name in _imports(path)}
    imports = _imports(path)
    if where[0] in PURE:
        assert not top & IMPURE, f"pure module imports {sorted(top & IMPURE)}"
    if where[0] == "protocols":
        bad = [n for n in imports if n.startswith("mocap_bridge.solve")]
        assert not bad, f"protocols/ imports solve/: {bad}"
    if where[0] != "tracking":
        assert "mediapipe" not in top, "only tracking/ imports mediapipe"
    if where[0] != "capture" and where != ("app",):
        assert "cv2" not in top, "only capture/ and the preview import cv2"
    if where != ("cli",):
        assert "argparse" not in top, "only cli.py imports argparse"
    if where != ("clock",):
        reads = _clock_reads(path)
        assert not reads, f"only clock.py reads the clock: {reads}"


def _clock_reads(path: Path) -> list[str]:
    """``time.<anything but sleep>`` and ``from time import …`` (other than sleep)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "time":
            if node.attr != "sleep":
                out.append(f"time.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module == "time":
            out += [f"from time import {a.name}" for a in node.names if a.name != "sleep"]
    return out
