"""Gating: hold, ease to rest, blend back without a pop."""

from __future__ import annotations

import numpy as np

from mocap_bridge.filters.gating import Gate, part_state
from mocap_bridge.frames import Tracking


def _gate(**kw: float) -> Gate:
    return Gate(np.zeros((3, 1)), hold_ms=kw.get("hold", 200.0), release_ms=kw.get("release", 500.0),
                reacquire_ms=kw.get("reacq", 100.0))  # fmt: skip


def test_hold_then_ease_to_rest_smoothly() -> None:
    g = _gate()
    valid = np.ones(3, bool)
    live = np.full((3, 1), 1.0)
    t = 0.0
    for _ in range(20):
        out = g(live, valid, t)
        t += 33.0
    assert np.allclose(out, 1.0)
    lost_at = t
    outs = []
    while t < lost_at + 900:
        outs.append(g(live * 5, ~valid, t)[0, 0])  # live values of a lost part are ignored
        t += 33.0
    outs_a = np.array(outs)
    times = lost_at + 33.0 * np.arange(len(outs))
    assert np.all(outs_a[times <= lost_at + 200] == 1.0)  # held
    assert outs_a[-1] == 0.0  # at rest after hold + release
    # no jump larger than the smoothstep's peak slope allows: 1.5 * dt / release * amplitude
    assert np.abs(np.diff(outs_a)).max() <= 1.5 * 33.0 / 500.0 + 1e-9


def test_reacquire_blends_in_without_pop() -> None:
    g = _gate()
    on, off = np.ones(3, bool), np.zeros(3, bool)
    t = 0.0
    for _ in range(10):
        g(np.ones((3, 1)), on, t)
        t += 33.0
    for _ in range(12):  # lost mid-release
        prev = g(np.ones((3, 1)), off, t)[0, 0]
        t += 33.0
    out = g(np.full((3, 1), 1.0), on, t)[0, 0]
    assert abs(out - prev) < 0.05  # continues from where it visibly was
    for _ in range(5):
        t += 33.0
        out = g(np.full((3, 1), 1.0), on, t)[0, 0]
    assert out == 1.0


def test_quaternion_gate_stays_unit() -> None:
    g = Gate(np.tile([0.0, 0.0, 0.0, 1.0], (2, 1)), hold_ms=0, release_ms=100, reacquire_ms=100,
             quaternion=True)  # fmt: skip
    q = np.array([[0.0, 0.7071, 0.0, 0.7071], [0.0, 0.0, -1.0, 0.0]])
    for i in range(12):
        out = g(q, np.array([i < 5, i < 5]), i * 20.0)
        assert np.allclose(np.linalg.norm(out, axis=1), 1.0)
    assert np.allclose(out, [0, 0, 0, 1])


def test_part_state() -> None:
    assert part_state(np.array([True, True]), np.array([True, True])) is Tracking.OK
    assert part_state(np.array([True, False]), np.array([True, False])) is Tracking.PARTIAL
    assert part_state(np.array([False, False]), np.array([False, True])) is Tracking.PARTIAL
    assert part_state(np.array([False, False]), np.array([False, False])) is Tracking.LOST
