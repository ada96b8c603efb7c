"""HandPlanner: look for only as many hands as the pose sees (pure logic, synthetic poses)."""

from __future__ import annotations

import numpy as np

from mocap_bridge.frames import PoseObservation
from mocap_bridge.tracking.landmarkers import HandPlanner, hands_in_view


def pose(left: tuple[float, float] | None, right: tuple[float, float] | None) -> PoseObservation:
    lm = np.zeros((33, 5), np.float32)
    lm[:, :2] = 0.5
    for points, where in (((15, 17, 19, 21), left), ((16, 18, 20, 22), right)):
        if where is None:
            lm[list(points), 3] = 0.05  # not visible
        else:
            lm[list(points), 0], lm[list(points), 1], lm[list(points), 3] = where[0], where[1], 0.95
    return PoseObservation(lm, np.zeros((33, 3), np.float32))


def test_hands_in_view_counts_visible_hands_inside_the_image() -> None:
    assert hands_in_view(None) is None
    assert hands_in_view(pose(None, None)) == 0
    assert hands_in_view(pose((0.3, 0.6), None)) == 1
    assert hands_in_view(pose((0.3, 0.6), (0.7, 0.6))) == 2
    assert hands_in_view(pose((0.3, 1.4), (0.7, 0.6))) == 1  # below the frame: not in view


def test_planner_follows_the_pose_with_settling() -> None:
    planner = HandPlanner(2, settle=3, probe_every=10)
    assert planner.next() == 2  # nothing known yet: look for all hands
    planner.observe(pose((0.3, 0.6), None))
    assert planner.next() == 1  # first sighting switches at once
    planner.observe(pose((0.3, 0.6), (0.7, 0.6)))
    planner.observe(pose((0.3, 0.6), (0.7, 0.6)))
    assert planner.next() == 1  # a new count must hold for 3 results
    planner.observe(pose((0.3, 0.6), (0.7, 0.6)))
    assert planner.next() == 2
    planner.observe(pose((0.3, 0.6), None))  # one flicker does not reset tracking
    planner.observe(pose((0.3, 0.6), (0.7, 0.6)))
    assert planner.next() == 2


def test_planner_skips_hands_out_of_view_but_probes() -> None:
    planner = HandPlanner(2, settle=2, probe_every=5)
    for _ in range(2):
        planner.observe(pose(None, None))
    plan = [planner.next() for _ in range(10)]
    assert plan == [0, 0, 0, 0, 2, 0, 0, 0, 0, 2]


def test_planner_without_pose_looks_for_all_hands() -> None:
    planner = HandPlanner(2, settle=2)
    planner.observe(pose((0.3, 0.6), None))
    assert planner.next() == 1
    planner.observe(None)
    planner.observe(None)
    assert planner.next() == 2


def test_planner_narrows_when_the_full_search_keeps_finding_fewer_hands() -> None:
    """A wrist at the frame's edge looks visible to the pose, but the hand search finds one hand."""
    planner = HandPlanner(2, settle=3, probe_every=4)
    planner.observe(pose((0.3, 0.6), (0.7, 0.98)))
    assert planner.next() == 2
    for _ in range(3):
        planner.observe_hands(2, 1)
    plan = [planner.next() for _ in range(8)]
    assert plan == [1, 1, 1, 2, 1, 1, 1, 2]  # one hand, probing for two every 4th frame
    planner.observe_hands(1, 1)  # a one-hand search says nothing about the second hand
    assert planner.next() == 1
    planner.observe_hands(2, 2)  # a probe found both: back to two
    assert planner.next() == 2


def test_default_planner_matches_the_documented_behaviour() -> None:
    """README/default.toml: a new count holds for 3 pose results; no hand in view probes every 15th frame."""
    planner = HandPlanner(2)
    planner.observe(pose((0.3, 0.6), None))
    assert planner.next() == 1
    for expected in (1, 1, 0):  # the third pose result without hands switches the search off
        planner.observe(pose(None, None))
        assert planner.next() == expected
    plan = [planner.next() for _ in range(30)]
    assert [i for i, n in enumerate(plan) if n] == [13, 28]  # 15 frames from the switch, then every 15
    assert all(plan[i] == 2 for i in (13, 28))
