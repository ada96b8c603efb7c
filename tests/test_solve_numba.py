"""The numba kernels (solve/kernels.py) against the numpy reference path of RigSolver.

Every case runs two solvers on the same frames, ``jit=True`` and ``jit=False``, and compares the
whole RigFrame: quaternions up to sign and every other number to 1e-6, bone_valid, the part states
and the smoothed ``tracked`` frame. Cases: synthetic streams with parts, joints and hands dropping in
and out, stale timestamps and degenerate geometry, under every settings variant (smoothing on/off
and per channel, raw derivative, upper body, parts disabled, calibration profiles, gating), and real
footage tracked by MediaPipe (plain and mirrored; skipped when ../shared/media is absent).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from conftest import media
from scipy.spatial.transform import Rotation
from synth import curled_hand, face_obs, frame, hand_obs, pose_obs, tpose_internal

from mocap_bridge.filters.one_euro import OneEuroParams
from mocap_bridge.frames import HandObservation, RigFrame, TrackedFrame
from mocap_bridge.solve.calibration import CalibrationProfile, capture_calibration, save_calibration
from mocap_bridge.solve.rig import RigSolver
from mocap_bridge.solve.settings import SolveSettings

pytest.importorskip("numba")

ATOL = 1e-6


def _qdiff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.minimum(np.abs(a - b), np.abs(a + b)).max())


def _close(a: np.ndarray, b: np.ndarray, what: str) -> None:
    assert a.shape == b.shape and a.dtype == b.dtype, what
    assert np.abs(a.astype(np.float64) - b.astype(np.float64)).max(initial=0.0) <= ATOL, what


def assert_same_rig(a: RigFrame, b: RigFrame, where: str = "") -> None:
    """``a`` (numba) equals ``b`` (numpy reference) up to rounding."""
    assert (a.index, a.t_ms) == (b.index, b.t_ms)
    assert (a.face_state, a.body_state, a.hand_states) == (b.face_state, b.body_state, b.hand_states), where
    assert np.array_equal(a.bone_valid, b.bone_valid), where
    assert _qdiff(a.bone_rotations, b.bone_rotations) <= ATOL, where
    assert _qdiff(a.head_rotation, b.head_rotation) <= ATOL, where
    for name in ("blendshapes", "head_position", "eyes", "bone_positions", "hips_position"):
        _close(getattr(a, name), getattr(b, name), f"{where} {name}")
    dy = np.abs(a.head_ypr - b.head_ypr)
    assert np.minimum(dy, 2 * np.pi - dy).max() <= ATOL, where  # atan2 at ±pi
    ta, tb = a.tracked, b.tracked
    assert (ta.index, ta.t_ms, ta.status) == (tb.index, tb.t_ms, tb.status)
    assert (ta.pose is None) == (tb.pose is None) and (ta.face is None) == (tb.face is None), where
    if ta.pose is not None and tb.pose is not None:
        _close(ta.pose.landmarks, tb.pose.landmarks, f"{where} pose.landmarks")
        _close(ta.pose.world, tb.pose.world, f"{where} pose.world")
    if ta.face is not None and tb.face is not None:
        _close(ta.face.landmarks, tb.face.landmarks, f"{where} face.landmarks")
        _close(ta.face.blendshapes, tb.face.blendshapes, f"{where} face.blendshapes")
        assert np.array_equal(ta.face.matrix, tb.face.matrix)
    assert [h.label for h in ta.hands] == [h.label for h in tb.hands], where
    for ha, hb in zip(ta.hands, tb.hands, strict=True):
        assert ha.score == hb.score
        _close(ha.landmarks, hb.landmarks, f"{where} hand.landmarks")
        _close(ha.world, hb.world, f"{where} hand.world")


def run_both(settings: SolveSettings, frames: list[TrackedFrame]) -> None:
    fast, ref = RigSolver(settings, jit=True), RigSolver(settings, jit=False)
    assert fast.jit and not ref.jit
    for f in frames:
        assert_same_rig(fast.solve(f), ref.solve(f), f"frame {f.index}")


# ---------------------------------------------------------------------------------------------- synthetic
def _hand(rng: np.random.Generator, side: str) -> np.ndarray:
    out = curled_hand(rng, side, 0.6)
    if rng.random() < 0.05:  # a finger folded straight back (antiparallel: the reference path)
        out[8] = out[7] - (out[7] - out[6])
    return out


def _pose(rng: np.random.Generator) -> np.ndarray:
    p = tpose_internal() + rng.normal(0.0, 0.05, (33, 3))
    if rng.random() < 0.05:  # turned around: half-turn rotations (Shepperd path)
        p = p * np.array([-1.0, 1.0, -1.0])
    out: np.ndarray = Rotation.from_euler("y", rng.uniform(-0.6, 0.6)).apply(p)
    return out


def synthetic_stream(seed: int, n: int = 150) -> list[TrackedFrame]:
    """Frames with parts coming and going, flickering joints and hands, odd timestamps."""
    rng = np.random.default_rng(seed)
    frames: list[TrackedFrame] = []
    t = 0
    keep = {"pose": True, "face": True, "Left": True, "Right": True}
    for i in range(n):
        for k in keep:
            if rng.random() < 0.08:  # parts drop out and come back in stretches
                keep[k] = not keep[k]
        r = rng.random()
        t += 33 if r > 0.04 else (0 if r > 0.02 else 1)  # the odd repeated / tiny step
        pose = None
        if keep["pose"]:
            pose = pose_obs(_pose(rng), vis=0.99)
            pose.landmarks[:, 3] = np.where(rng.random(33) < 0.05, 0.3, 0.95)
            pose.landmarks[:, 4] = np.where(rng.random(33) < 0.02, 0.2, 0.9)
            pose.landmarks[:, :2] += rng.normal(0.0, 0.01, (33, 2)).astype(np.float32)
        face = None
        if keep["face"]:
            m = np.eye(4)
            rv = rng.normal(0.0, 0.3, 3)
            if rng.random() < 0.03:  # head turned by ~180° (the from_matrix fallback)
                rv = np.array([0.0, np.pi - 1e-4, 0.0])
            m[:3, :3] = Rotation.from_rotvec(rv).as_matrix() * rng.uniform(0.95, 1.05)
            m[:3, 3] = (rng.normal(0.0, 2.0), rng.normal(0.0, 2.0), -50.0 + rng.normal(0.0, 2.0))
            face = face_obs(rng.uniform(0.0, 1.0, 52), m)
            face.landmarks[:] += rng.normal(0.0, 0.003, face.landmarks.shape).astype(np.float32)
        hands = []
        for side in ("Left", "Right"):
            if keep[side]:
                h = hand_obs(side, _hand(rng, side))
                score = 0.3 if rng.random() < 0.05 else 0.95
                lm = h.landmarks + rng.normal(0, 0.01, (21, 3)).astype(np.float32)
                hands.append(HandObservation(side, score, lm, h.world))
        frames.append(frame(i, t, pose=pose, face=face, hands=hands))
    return frames


def _smoothing(s: SolveSettings, **kw: object) -> SolveSettings:
    return dataclasses.replace(s, smoothing=dataclasses.replace(s.smoothing, **kw))  # type: ignore[arg-type]


def _variants(tmp_path: Path) -> dict[str, SolveSettings]:
    s = SolveSettings()
    off = OneEuroParams(enabled=False)
    profile = CalibrationProfile(
        neutral=np.linspace(0.0, 0.4, 52),
        gain=np.linspace(0.5, 2.0, 52),
        offset=np.linspace(-0.1, 0.1, 52),
        curve=np.linspace(0.6, 1.6, 52),
        clamp_min=np.full(52, 0.02),
        clamp_max=np.full(52, 0.9),
        head_rotation=Rotation.from_euler("xyz", [5, -10, 3], degrees=True).as_quat(),
        head_position=np.array([0.01, -0.02, -0.55]),
        swap_lr=True,
        link_blinks="max",
        link_gaze=True,
    )
    calib = tmp_path / "calib.toml"
    save_calibration(profile, calib)
    calib2 = tmp_path / "calib2.toml"
    save_calibration(dataclasses.replace(profile, swap_lr=False, link_blinks="mean", link_gaze=False,
                                         eye_gaze=False, curve=np.ones(52)), calib2)  # fmt: skip
    r = dataclasses.replace
    return {
        "default": s,
        "no_smoothing": _smoothing(s, enabled=False),
        "raw_derivative": _smoothing(s, raw_derivative=True),
        "upper_body": r(s, body=r(s.body, mode="upper")),
        "channels_off": _smoothing(s, bones=off, blendshapes=off, head_position=off, hand_world=off),
        "head_rotation_off": _smoothing(s, head_rotation=off, face_landmarks=off, pose_landmarks=off),
        "face_off": r(s, face=r(s.face, enabled=False), head=r(s.head, translation=False)),
        "head_off_hands_off": r(s, head=r(s.head, enabled=False), hands=r(s.hands, enabled=False)),
        "face_head_off": r(s, face=r(s.face, enabled=False), head=r(s.head, enabled=False)),
        "body_off": r(s, body=r(s.body, enabled=False)),
        "calibration": r(s, face=r(s.face, calibration=str(calib), jaw_open_deg=40.0)),
        "calibration_mean": r(s, face=r(s.face, calibration=str(calib2), link_blinks="mean")),
        "gating": r(s, gating=r(s.gating, hold_ms=0.0, release_ms=0.0, reacquire_ms=0.0,
                                visibility_threshold=0.3, presence_threshold=0.7, hand_score_threshold=0.9)),
        "gating_slow": r(s, gating=r(s.gating, hold_ms=500.0, release_ms=1000.0, reacquire_ms=400.0)),
    }  # fmt: skip


VARIANTS = ["default", "no_smoothing", "raw_derivative", "upper_body", "channels_off", "head_rotation_off",
            "face_off", "head_off_hands_off", "face_head_off", "body_off", "calibration", "calibration_mean",
            "gating", "gating_slow"]  # fmt: skip


@pytest.mark.parametrize("variant", VARIANTS)
def test_synthetic_streams_match_numpy(variant: str, tmp_path: Path) -> None:
    settings = _variants(tmp_path)[variant]
    run_both(settings, synthetic_stream(100 + VARIANTS.index(variant)))


def test_still_frames_and_the_long_hold() -> None:
    """A steady pose (every weight at 1), then everything lost until it is at rest, then back."""
    rng = np.random.default_rng(3)
    pose = pose_obs(tpose_internal())
    hands = [hand_obs("Left"), hand_obs("Right", _hand(rng, "Right"))]
    face = face_obs(rng.uniform(0.0, 1.0, 52))
    frames = [frame(i, 33 * i, pose=pose, face=face, hands=hands) for i in range(30)]
    frames += [frame(30 + i, 33 * (30 + i)) for i in range(40)]
    frames += [frame(70 + i, 33 * (70 + i), pose=pose, face=face, hands=hands) for i in range(20)]
    run_both(SolveSettings(), frames)
    run_both(_smoothing(SolveSettings(), enabled=False), frames)


def test_selection() -> None:
    from mocap_bridge.bench.naive import NaiveRigSolver

    s = SolveSettings()
    assert RigSolver(s, jit=False).jit is False
    assert RigSolver(s, jit=True).jit is True
    assert NaiveRigSolver(s).jit is False  # it replaces _filter_frame: numpy path


def test_no_jit_environment_knob(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCAP_BRIDGE_NO_JIT", "1")
    assert RigSolver(SolveSettings()).jit is False
    assert RigSolver(SolveSettings(), jit=True).jit is True  # an explicit choice wins
    monkeypatch.setenv("MOCAP_BRIDGE_NO_JIT", "0")
    assert RigSolver(SolveSettings()).jit is True


# ---------------------------------------------------------------------------------------------- footage
def _track(name: str, max_frames: int, mirror: bool = False) -> list[TrackedFrame]:
    path = media(name)
    offline = pytest.importorskip("mocap_bridge.tracking.offline")
    return list(offline.track_file(path, max_frames=max_frames, mirror=mirror))


@pytest.fixture(scope="module")
def fist() -> list[TrackedFrame]:
    return _track("fist_thumbs_up.mp4", 90)


@pytest.mark.parametrize(
    "variant", ["default", "no_smoothing", "raw_derivative", "upper_body", "calibration"]
)
def test_real_footage_matches_numpy(fist: list[TrackedFrame], variant: str, tmp_path: Path) -> None:
    assert any(f.face is not None and f.pose is not None and f.hands for f in fist)
    run_both(_variants(tmp_path)[variant], fist)


def test_real_footage_calibrated_from_itself(fist: list[TrackedFrame], tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    save_calibration(capture_calibration(fist), path)
    s = SolveSettings()
    run_both(dataclasses.replace(s, face=dataclasses.replace(s.face, calibration=str(path))), fist)


def test_mirrored_footage_matches_numpy() -> None:
    run_both(SolveSettings(), _track("fist_thumbs_up.mp4", 40, mirror=True))


def test_full_body_footage_matches_numpy() -> None:
    frames = _track("dance_full_body_synthetic.mp4", 120)
    run_both(SolveSettings(), frames)
    s = SolveSettings()
    run_both(dataclasses.replace(s, body=dataclasses.replace(s.body, mode="upper")), frames)
