"""Retarget maps: every shipped map loads; bad maps fail with file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from mocap_bridge.errors import ConfigError
from mocap_bridge.frames import HumanBone
from mocap_bridge.solve.maps import load_bone_map, maps_dir, resolve_bone_map, shipped_bone_maps


def test_every_shipped_map_loads() -> None:
    paths = shipped_bone_maps()
    names = {p.stem for p in paths}
    assert {"unity", "vrm0", "vrm1", "rigify", "mixamo", "unreal_mannequin", "metahuman"} <= names
    for p in paths:
        m = load_bone_map(p)
        assert HumanBone.Hips in m.bones and HumanBone.LeftUpperArm in m.bones
    # expression maps (other formats) load with their own loader
    for p in sorted(maps_dir().glob("*.toml")):
        if p not in paths:
            vmc = pytest.importorskip("mocap_bridge.protocols.vmc")
            loader = getattr(vmc, "load_expression_map", None)
            if loader is not None:
                loader(p)


def test_known_names() -> None:
    assert resolve_bone_map("vrm1").bones[HumanBone.LeftThumbProximal] == "leftThumbMetacarpal"
    assert resolve_bone_map("mixamo").bones[HumanBone.LeftUpperArm] == "mixamorig:LeftArm"
    assert resolve_bone_map("unity").bones[HumanBone.UpperChest] == "UpperChest"


def _write(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "mine.toml"
    p.write_text('format = "mocap_bridge.bone_map/1"\ntarget = "x"\n' + body)
    return p


def test_unknown_bone_fails_with_file_and_key(tmp_path: Path) -> None:
    p = _write(tmp_path, '[bones]\nHips = "pelvis"\nLeftElbow = "x"\n')
    with pytest.raises(ConfigError, match=r"mine\.toml.*bones\.LeftElbow"):
        load_bone_map(p)


def test_duplicate_and_format_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="already used"):
        load_bone_map(_write(tmp_path, '[bones]\nHips = "a"\nSpine = "a"\n'))
    bad = tmp_path / "bad.toml"
    bad.write_text('[bones]\nHips = "a"\n')
    with pytest.raises(ConfigError, match="format"):
        load_bone_map(bad)
    with pytest.raises(ConfigError, match="unknown bone map"):
        resolve_bone_map("nope")


def test_user_map_by_name(tmp_path: Path) -> None:
    p = _write(tmp_path, '[bones]\nHips = "root_hips"\n')
    assert resolve_bone_map("mine", (str(p),)).bones[HumanBone.Hips] == "root_hips"
