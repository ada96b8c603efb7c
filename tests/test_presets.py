"""Presets merge over default.toml and give valid solve settings."""

from __future__ import annotations

import argparse

import pytest

from mocap_bridge.config import load_config
from mocap_bridge.errors import ConfigError
from mocap_bridge.solve.settings import (
    SolveSettings,
    add_solve_arguments,
    apply_solve_arguments,
    solve_settings_from_config,
)


def _settings(preset: str | None) -> tuple[dict, SolveSettings]:  # type: ignore[type-arg]
    cfg = load_config(preset=preset)
    return cfg.tables, solve_settings_from_config(cfg.tables, ", ".join(cfg.files))


def test_default_equals_builtin_defaults() -> None:
    _, s = _settings(None)
    assert s == SolveSettings()


def test_vtuber() -> None:
    t, s = _settings("vtuber")
    assert t["vmc"]["enabled"] and t["vmc"]["perfect_sync"]
    assert not t["livelink"]["enabled"] and not t["ws"]["enabled"]
    assert s.upper_body and s.retarget.bone_map == "vrm0"


def test_metahuman() -> None:
    t, s = _settings("metahuman")
    assert t["livelink"]["enabled"] and not t["vmc"]["enabled"] and not t["ws"]["enabled"]
    assert not s.body.enabled and not s.hands.enabled and s.face.enabled and s.head.enabled


def test_blender() -> None:
    t, s = _settings("blender")
    # VMC to the Blender add-on's default port (mocap_bridge_blender.api.start), nothing else
    assert t["vmc"]["enabled"] and t["vmc"]["targets"] == ["127.0.0.1:39539"] and t["vmc"]["perfect_sync"]
    assert not t["ws"]["enabled"] and not t["osc"]["enabled"] and not t["livelink"]["enabled"]
    assert s.body.enabled and not s.upper_body


@pytest.mark.parametrize(
    ("tables", "needle"),
    [
        ({"face": {"bogus": 1}}, "face.bogus"),
        ({"body": {"mode": "sitting"}}, "body.mode"),
        ({"smoothing": {"blendshapes": {"beta": "x"}}}, "smoothing.blendshapes.beta"),
        ({"smoothing": {"bones": {"min_cutoff": 0}}}, "smoothing.bones"),
        ({"gating": {"hold_ms": -1}}, "gating.hold_ms"),
    ],
)
def test_errors_name_file_and_key(tables: dict, needle: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError, match=needle) as info:
        solve_settings_from_config(tables, "my.toml")
    assert "my.toml" in str(info.value)


def test_cli_flags() -> None:
    p = argparse.ArgumentParser()
    add_solve_arguments(p)
    s = apply_solve_arguments(SolveSettings(), p.parse_args([]))
    assert s == SolveSettings()
    a = p.parse_args(["--no-smoothing", "--calibration", "c.toml", "--upper-body", "--swap-lr"])
    s = apply_solve_arguments(SolveSettings(), a)
    assert not s.smoothing.enabled and s.face.calibration == "c.toml" and s.upper_body and s.face.swap_lr
    s2 = apply_solve_arguments(s, p.parse_args(["--full-body"]))
    assert not s2.upper_body
