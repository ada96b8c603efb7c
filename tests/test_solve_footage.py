"""The solver on real footage tracked by MediaPipe (each clip tracked once per module)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from conftest import media
from scipy.spatial.transform import Rotation
from synth import face_obs, frame

from mocap_bridge.frames import ARKit, HandObservation, TrackedFrame, Tracking
from mocap_bridge.frames import HumanBone as HB
from mocap_bridge.settings import Settings
from mocap_bridge.solve.calibration import capture_calibration, save_calibration
from mocap_bridge.solve.rig import RigSolver


def _track(name: str) -> list[TrackedFrame]:
    offline = pytest.importorskip("mocap_bridge.tracking.offline")
    return list(offline.track_file(media(name)))


@pytest.fixture(scope="module")
def talking() -> list[TrackedFrame]:
    return _track("talking_head_a.mpg")


@pytest.fixture(scope="module")
def dance() -> list[TrackedFrame]:
    return _track("dance_full_body_synthetic.mp4")


def _settings(smooth: bool = True, **face: object) -> Settings:
    s = Settings()
    return dataclasses.replace(
        s,
        smoothing=dataclasses.replace(s.smoothing, enabled=smooth),
        face=dataclasses.replace(s.face, **face),  # type: ignore[arg-type]
    )


def _jitter(x: np.ndarray) -> float:
    """Mean absolute second difference (skipping the first frames' blend-in)."""
    return float(np.abs(np.diff(x[10:], 2)).mean())


def test_dance_limbs_vary_and_stay_unit(dance: list[TrackedFrame]) -> None:
    solver = RigSolver(_settings())
    rigs = [solver.solve(f) for f in dance]
    assert sum(r.body_state is Tracking.OK for r in rigs) > len(rigs) // 2
    rots = np.stack([r.bone_rotations for r in rigs])
    assert np.allclose(np.linalg.norm(rots, axis=-1), 1.0, atol=1e-9)
    for bone in (HB.LeftUpperArm, HB.RightUpperArm, HB.LeftUpperLeg, HB.RightUpperLeg):
        r = Rotation.from_quat(rots[:, bone])
        spread = (r.mean().inv() * r).magnitude()
        assert np.degrees(spread.max()) > 25, bone.name  # "varies widely"
    hips = np.stack([r.hips_position for r in rigs])
    assert np.all(np.isfinite(hips)) and hips[:, 1].min() > 0.1


def test_talking_head_smoothing_cuts_jitter(talking: list[TrackedFrame]) -> None:
    def run(smooth: bool) -> tuple[np.ndarray, np.ndarray]:
        solver = RigSolver(_settings(smooth))
        rigs = [solver.solve(f) for f in talking]
        assert rigs[-1].face_state is Tracking.OK
        return (np.array([r.head_ypr[0] for r in rigs]),
                np.array([r.blendshapes[ARKit.jawOpen] for r in rigs]))  # fmt: skip

    yaw0, jaw0 = run(False)
    yaw1, jaw1 = run(True)
    assert _jitter(yaw1) <= 0.6 * _jitter(yaw0)
    assert _jitter(jaw1) <= 0.6 * _jitter(jaw0)


@pytest.mark.parametrize("kind", ["jawOpen", "yaw"])
def test_step_lag_under_100ms(kind: str) -> None:
    solver = RigSolver(_settings())
    outs, times = [], []
    for i in range(60):
        on = i >= 30
        bs = np.zeros(52)
        m = np.eye(4)
        m[2, 3] = -50.0
        if kind == "jawOpen":
            bs[25] = 0.6 if on else 0.0  # MediaPipe index of jawOpen
        else:
            m[:3, :3] = Rotation.from_euler("y", 20 if on else 0, degrees=True).as_matrix()
        t = round(i * 1000 / 30)
        rig = solver.solve(frame(i, t, face=face_obs(bs, m)))
        outs.append(rig.blendshapes[ARKit.jawOpen] if kind == "jawOpen" else np.degrees(rig.head_ypr[0]))
        times.append(t)
    final = 0.6 if kind == "jawOpen" else 20.0
    arr = np.array(outs)
    reached = times[int(np.argmax(arr >= 0.9 * final))] - times[30]
    assert arr[-1] == pytest.approx(final, rel=1e-3)
    assert reached < 100, f"{kind}: 90% of a step after {reached} ms"


def test_vanishing_hand_eases_to_rest() -> None:
    from synth import hand_obs

    s = _settings()
    solver = RigSolver(s)
    curled = hand_obs("Left").world.copy()
    curled[6:9] = curled[5] + (curled[6:9] - curled[5]) * np.array([0.2, 1.0, 1.0]) + np.array([0, 0.03, 0])
    hand = HandObservation("Left", 0.95, hand_obs("Left").landmarks, curled)
    dt = 33
    angles, times = [], []
    for i in range(60):
        t = i * dt
        rig = solver.solve(frame(i, t, hands=(hand,) if i < 20 else ()))
        angles.append(Rotation.from_quat(rig.bone_rotations[HB.LeftIndexProximal]).magnitude())
        times.append(t)
        if i == 19:
            assert rig.hand_states[0] is Tracking.OK
    a = np.array(angles)
    g = s.gating
    lost = times[20]
    assert a[19] > 0.3
    assert a[-1] < 1e-6 and rig.hand_states[0] is Tracking.LOST
    held = [x for x, t in zip(a, times, strict=True) if lost <= t <= lost + g.hold_ms]
    assert np.allclose(held, a[19], atol=1e-6)
    max_step = 1.5 * dt / g.release_ms * a[19] + 1e-6  # smoothstep's peak slope
    assert np.abs(np.diff(a[20:])).max() <= max_step


def test_calibration_from_talking_head_zeroes_neutral(talking: list[TrackedFrame], tmp_path: Path) -> None:
    path = tmp_path / "calib.toml"
    save_calibration(capture_calibration(talking), path)
    solver = RigSolver(_settings(False, calibration=str(path)))
    rigs = [solver.solve(f) for f in talking]
    bs = np.stack([r.blendshapes for r in rigs])
    med = np.median(bs, axis=0)
    assert med.max() < 0.05, dict(zip([a.name for a in ARKit], med.round(3), strict=True))
    ypr = np.median(np.stack([r.head_ypr for r in rigs]), axis=0)
    assert np.abs(np.degrees(ypr)).max() < 2.0
