"""Calibration: capture, TOML round trip, errors; applied by the solver."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation
from synth import face_obs, frame

from mocap_bridge.errors import ConfigError, TrackingError
from mocap_bridge.frames import MP_BLENDSHAPE_NAMES, ARKit
from mocap_bridge.settings import Settings
from mocap_bridge.solve.calibration import (
    CalibrationProfile,
    capture_calibration,
    load_calibration,
    save_calibration,
)
from mocap_bridge.solve.rig import RigSolver


def _frames(n: int = 20):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(1)
    tilt = Rotation.from_euler("x", -8, degrees=True).as_matrix()
    out = []
    for i in range(n):
        bs = np.clip(rng.normal(0.1, 0.01, 52), 0, 1)
        bs[MP_BLENDSHAPE_NAMES.index("jawOpen")] = 0.15
        m = np.eye(4)
        m[:3, :3] = tilt
        m[:3, 3] = (2.0, -3.0, -40.0)
        out.append(frame(i, 40 * i, face=face_obs(bs, m)))
    return out


def test_capture_and_round_trip(tmp_path: Path) -> None:
    prof = capture_calibration(_frames())
    assert prof.frames == 20
    assert np.isclose(prof.neutral[ARKit.jawOpen], 0.15, atol=1e-6)
    assert prof.neutral[ARKit.tongueOut] == 0.0
    assert prof.head_position is not None
    assert np.allclose(prof.head_position, [0.02, -0.03, -0.40])
    gain = prof.gain.copy()
    gain[ARKit.mouthSmileLeft] = 1.5
    prof = dataclasses.replace(prof, gain=gain, link_blinks="max")
    path = tmp_path / "p.toml"
    save_calibration(prof, path)
    back = load_calibration(path)
    for f in ("neutral", "gain", "offset", "curve", "clamp_min", "clamp_max", "head_rotation",
              "head_position"):  # fmt: skip
        assert np.allclose(getattr(back, f), getattr(prof, f)), f
    assert back.link_blinks == "max" and back.frames == 20


def test_solver_applies_neutral_face_and_head(tmp_path: Path) -> None:
    frames = _frames()
    path = tmp_path / "p.toml"
    save_calibration(capture_calibration(frames), path)
    s = Settings()
    s = dataclasses.replace(s, face=dataclasses.replace(s.face, calibration=str(path)),
                            smoothing=dataclasses.replace(s.smoothing, enabled=False))  # fmt: skip
    solver = RigSolver(s)
    for f in frames:
        rig = solver.solve(f)
    assert np.median(rig.blendshapes) < 0.02
    assert rig.blendshapes[ARKit.jawOpen] == 0.0
    assert np.allclose(rig.head_ypr, 0.0, atol=1e-6)
    assert np.allclose(rig.head_position, 0.0, atol=1e-6)


def test_no_face_raises() -> None:
    with pytest.raises(TrackingError):
        capture_calibration([frame(0, 0)])


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[neutral]\nnotAShape = 0.1\n", "neutral.notAShape"),
        ('[shapes.jawOpen]\ngain = "x"\n', "shapes.jawOpen.gain"),
        ("[shapes.jawOpen]\nwobble = 1\n", "shapes.jawOpen.wobble"),
        ('link_blinks = "both"\n', "link_blinks"),
        ("[head]\nneutral_rotation = [0, 0]\n", "head.neutral_rotation"),
        ("version = 2\n", "version"),
        ("= broken", "invalid TOML"),
    ],
)
def test_bad_profiles(tmp_path: Path, text: str, needle: str) -> None:
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        load_calibration(p)


def test_missing_file_is_config_error(tmp_path: Path) -> None:
    s = Settings()
    s = dataclasses.replace(s, face=dataclasses.replace(s.face, calibration=str(tmp_path / "no.toml")))
    with pytest.raises(ConfigError):
        RigSolver(s)
    assert CalibrationProfile().frames == 0
