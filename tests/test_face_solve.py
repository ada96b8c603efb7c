"""Face: ARKit order by name, tongueOut, swap, linked blinks, eyes."""

from __future__ import annotations

import numpy as np

from mocap_bridge.frames import ARKIT_NAMES, MP_BLENDSHAPE_NAMES, ARKit
from mocap_bridge.solve.face import SWAP_LR, FaceSolver, arkit_from_mediapipe


def _mp(**vals: float) -> np.ndarray:
    v = np.zeros(52)
    for k, x in vals.items():
        v[MP_BLENDSHAPE_NAMES.index(k)] = x
    return v


def _solver(**kw: object) -> FaceSolver:
    n = len(ARKIT_NAMES)
    args: dict[str, object] = dict(
        neutral=np.zeros(n), gain=np.ones(n), offset=np.zeros(n), curve=np.ones(n),
        clamp_min=np.zeros(n), clamp_max=np.ones(n), swap_lr=False, link_blinks="off",
        link_gaze=False, eye_gaze=True, eye_yaw_range_deg=30.0, eye_pitch_range_deg=20.0,
    )  # fmt: skip
    args.update(kw)
    return FaceSolver(**args)  # type: ignore[arg-type]


def test_reorder_by_name_and_tongue_zero() -> None:
    mp = np.arange(52, dtype=float) / 100.0
    ar = arkit_from_mediapipe(mp)
    for i, name in enumerate(ARKIT_NAMES):
        if name == "tongueOut":
            assert ar[i] == 0.0
        else:
            assert ar[i] == mp[MP_BLENDSHAPE_NAMES.index(name)]


def test_swap_permutation() -> None:
    assert SWAP_LR[ARKit.eyeBlinkLeft] == ARKit.eyeBlinkRight
    assert SWAP_LR[ARKit.jawOpen] == ARKit.jawOpen
    assert np.array_equal(SWAP_LR[SWAP_LR], np.arange(52))
    v = _solver(swap_lr=True).blendshapes(_mp(eyeBlinkLeft=0.8))
    assert v[ARKit.eyeBlinkRight] == 0.8 and v[ARKit.eyeBlinkLeft] == 0.0


def test_neutral_gain_curve_clamp() -> None:
    n = np.zeros(52)
    n[ARKit.jawOpen] = 0.2
    gain = np.ones(52)
    gain[ARKit.jawOpen] = 2.0
    hi = np.ones(52)
    hi[ARKit.jawOpen] = 0.9
    s = _solver(neutral=n, gain=gain, clamp_max=hi)
    assert s.blendshapes(_mp(jawOpen=0.2))[ARKit.jawOpen] == 0.0
    assert s.blendshapes(_mp(jawOpen=0.1))[ARKit.jawOpen] == 0.0
    assert np.isclose(s.blendshapes(_mp(jawOpen=0.4))[ARKit.jawOpen], 2 * 0.25)
    assert s.blendshapes(_mp(jawOpen=1.0))[ARKit.jawOpen] == 0.9
    curve = np.ones(52)
    curve[ARKit.mouthSmileLeft] = 2.0
    assert np.isclose(_solver(curve=curve).blendshapes(_mp(mouthSmileLeft=0.5))[ARKit.mouthSmileLeft], 0.25)


def test_linked_blinks() -> None:
    v = _solver(link_blinks="max").blendshapes(_mp(eyeBlinkLeft=0.9, eyeBlinkRight=0.1))
    assert v[ARKit.eyeBlinkLeft] == v[ARKit.eyeBlinkRight] == 0.9
    v = _solver(link_blinks="mean").blendshapes(_mp(eyeBlinkLeft=0.9, eyeBlinkRight=0.1))
    assert np.isclose(v[ARKit.eyeBlinkLeft], 0.5)


def test_eye_signs() -> None:
    s = _solver()
    # gaze toward the subject's right: left eye looks in, right eye looks out -> yaw > 0
    e = s.eyes(s.blendshapes(_mp(eyeLookInLeft=1.0, eyeLookOutRight=1.0)))
    assert np.allclose(e[:, 0], np.radians(30)) and np.allclose(e[:, 1], 0)
    e = s.eyes(s.blendshapes(_mp(eyeLookDownLeft=0.5, eyeLookDownRight=0.5)))
    assert np.allclose(e[:, 1], np.radians(10))
    e = _solver(link_gaze=True).eyes(_solver().blendshapes(_mp(eyeLookInLeft=1.0)))
    assert np.isclose(e[0, 0], e[1, 0])


def test_skipped_identity_steps_change_nothing() -> None:
    """The steps FaceSolver skips for the default calibration (v − 0, · 1, the [0, 1] clamp
    again) against the same solver with every step taken, bit for bit, on edge values too."""

    n = len(ARKIT_NAMES)
    rng = np.random.default_rng(5)
    edge = np.array([0.0, -0.0, 1.0, 1.0 + 1e-16, -1e-300, 2.0, -3.0, np.nan, 0.5, 1e-320])
    configs: list[dict[str, object]] = [
        {},
        {"swap_lr": True, "link_blinks": "mean"},
        {"link_blinks": "max"},
        {"offset": np.full(n, -0.0)},
        {"clamp_min": np.full(n, -0.0)},
        {"neutral": np.full(n, -0.0)},
        {"curve": np.full(n, 2.0)},
        {"gain": np.full(n, 1.5), "clamp_max": np.full(n, 0.8)},
        {"neutral": rng.uniform(0.0, 0.3, n), "offset": np.full(n, 0.1)},
    ]
    for kw in configs:
        fast, full = _solver(**kw), _solver(**kw)
        full._skip_neutral = full._skip_gain = full._skip_clamp = False
        for i in range(200):
            mp = rng.uniform(-0.2, 1.2, 52) if i % 2 else rng.choice(edge, 52)
            for x in (mp, mp.astype(np.float32), mp.tolist()):
                a, b = fast.blendshapes(x), full.blendshapes(x)
                assert a.dtype == b.dtype == np.float64
                assert a.tobytes() == b.tobytes(), kw
    assert _solver()._skip_clamp and not _solver(offset=np.full(n, -0.0))._skip_clamp
    assert not _solver(neutral=np.full(n, -0.0))._skip_neutral
