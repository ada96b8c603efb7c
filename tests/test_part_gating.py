"""Each part's own gate times ([face] / [body] / [hands] hold_ms, release_ms, reacquire_ms)."""

from __future__ import annotations

import numpy as np
from synth import flat_hand_internal, frame, hand_obs, pose_obs, tpose_internal

from mocap_bridge.frames import Tracking
from mocap_bridge.settings import Settings
from mocap_bridge.solve.rig import RigSolver


def _hand_state_after_loss(settings: Settings, after_ms: int) -> tuple[Tracking, Tracking]:
    solver = RigSolver(settings)
    pose = pose_obs(tpose_internal(), vis=0.99)
    hand = hand_obs("Left", flat_hand_internal("Left"))
    t = 0
    for i in range(20):  # long enough for the entry gate and the blend-in
        solver.solve(frame(i, t, pose=pose, hands=[hand]))
        t += 33
    out = None
    for i in range(20, 20 + after_ms // 33 + 1):  # the hand is gone, the body stays
        out = solver.solve(frame(i, t, pose=pose, hands=[]))
        t += 33
    assert out is not None
    return out.hand_states[0], out.body_state


def test_hands_ease_out_on_their_own_times_while_the_body_keeps_the_global_ones() -> None:
    default = Settings()
    quick = default.replace("hands", hold_ms=0.0, release_ms=50.0, reacquire_ms=0.0)
    assert _hand_state_after_loss(default, 200) == (Tracking.PARTIAL, Tracking.OK)  # still held (250 ms)
    assert _hand_state_after_loss(quick, 200) == (Tracking.LOST, Tracking.OK)  # already at rest
    assert RigSolver(quick)._gate_vals._hold.max() == default.gating.hold_ms  # the face keeps [gating]
    rots = RigSolver(quick)._gate_rots._hold
    assert np.count_nonzero(rots == 0.0) == 32  # both hands and their 30 finger bones
