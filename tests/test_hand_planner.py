"""HandPlanner: look for only as many hands as the pose sees (pure logic on synthetic poses; one
footage test that the search ends up on the hand that can drive the rig)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from conftest import media

from mocap_bridge.frames import PoseObservation
from mocap_bridge.tracking.landmarkers import PROBE_EVERY_MS, HandPlanner, ProbeClock, hands_in_view


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


def frames(planner: HandPlanner, n: int, *, fps: float = 30.0, t0: int = 0,
           clock: ProbeClock | None = None) -> list[int]:  # fmt: skip
    """Hands searched in ``n`` frames at ``fps``, the planner asked three times per frame (once
    per result, as the loop does) and the probes timed by the frames (as the capture thread does)."""
    clock = clock or ProbeClock()
    out = []
    for i in range(n):
        for _ in range(3):
            want, narrowed = planner.search()
        out.append(clock.hands(want, narrowed, planner.max_hands, t0 + round(i * 1000 / fps)))
    return out


def test_planner_follows_the_pose_with_settling() -> None:
    planner = HandPlanner(2, settle=3)
    assert planner.search() == (2, False)  # nothing known yet: look for all hands
    planner.observe(pose((0.3, 0.6), None))
    assert planner.search() == (1, False)  # first sighting switches at once; one hand, not narrowed
    planner.observe(pose((0.3, 0.6), (0.7, 0.6)))
    planner.observe(pose((0.3, 0.6), (0.7, 0.6)))
    assert planner.search()[0] == 1  # a new count must hold for 3 results
    planner.observe(pose((0.3, 0.6), (0.7, 0.6)))
    assert planner.search() == (2, False)
    planner.observe(pose((0.3, 0.6), None))  # one flicker does not reset tracking
    planner.observe(pose((0.3, 0.6), (0.7, 0.6)))
    assert planner.search() == (2, False)


def test_planner_skips_hands_out_of_view_but_probes_every_half_second() -> None:
    planner = HandPlanner(2, settle=2)
    for _ in range(2):
        planner.observe(pose(None, None))
    assert planner.search() == (0, True)
    plan = frames(planner, 31)
    assert [i for i, n in enumerate(plan) if n] == [15, 30]  # 500 ms apart at 30 fps
    assert {plan[15], plan[30]} == {2}  # the probe looks for every hand


def test_probes_are_timed_by_the_frames_not_counted() -> None:
    """At 60 fps a probe still comes every half second (counting frames would double the cost)."""
    planner = HandPlanner(2, settle=2)
    for _ in range(2):
        planner.observe(pose(None, None))
    plan = frames(planner, 121, fps=60.0)
    assert [i for i, n in enumerate(plan) if n] == [30, 60, 90, 120]
    assert PROBE_EVERY_MS == 500.0


def test_asking_again_does_not_change_the_plan() -> None:
    """The loop asks after every result: the probe schedule must not depend on how often."""
    planner = HandPlanner(2, settle=2)
    for _ in range(2):
        planner.observe(pose(None, None))
    once, clock = [], ProbeClock()
    for i in range(60):
        want, narrowed = planner.search()
        once.append(clock.hands(want, narrowed, 2, round(i * 1000 / 30)))
    assert once == frames(planner, 60)


def test_a_full_search_restarts_the_probe_clock() -> None:
    planner = HandPlanner(2, settle=1)
    clock = ProbeClock()
    planner.observe(pose(None, None))
    assert frames(planner, 10, clock=clock) == [0] * 10
    planner.observe(pose((0.3, 0.6), (0.7, 0.6)))  # both hands in view: the full search, no probe
    assert frames(planner, 20, t0=333, clock=clock) == [2] * 20
    planner.observe(pose(None, None))  # out of view again: the half second starts afresh
    plan = frames(planner, 16, t0=1000, clock=clock)
    assert [i for i, n in enumerate(plan) if n] == [15]


def test_planner_without_pose_looks_for_all_hands() -> None:
    planner = HandPlanner(2, settle=2)
    planner.observe(pose((0.3, 0.6), None))
    assert planner.search() == (1, False)
    planner.observe(None)
    planner.observe(None)
    assert planner.search() == (2, False)


def test_planner_narrows_when_the_full_search_keeps_finding_fewer_hands() -> None:
    """A wrist at the frame's edge looks visible to the pose, but the hand search finds one hand."""
    planner = HandPlanner(2, settle=3)
    planner.observe(pose((0.3, 0.6), (0.7, 0.98)))
    assert planner.search() == (2, False)
    for _ in range(3):
        planner.observe_hands(2, 1)
    assert planner.search() == (1, True)  # one hand, narrowed: probed for two
    plan = frames(planner, 16)
    assert plan == [1] * 15 + [2]
    planner.observe_hands(1, 1)  # a one-hand search says nothing about the second hand
    assert planner.search() == (1, True)
    planner.observe_hands(2, 2)  # a probe found both: back to two
    assert planner.search() == (2, False)


def test_default_planner_matches_the_documented_behaviour() -> None:
    """README/default.toml: a new count holds for 3 pose results; with no hand in view the full
    search is probed every half second (every 15th frame at 30 fps)."""
    planner = HandPlanner(2)
    planner.observe(pose((0.3, 0.6), None))
    assert planner.search() == (1, False)
    for expected in (1, 1, 0):  # the third pose result without hands switches the search off
        planner.observe(pose(None, None))
        assert planner.search()[0] == expected
    plan = frames(planner, 31)
    assert [i for i, n in enumerate(plan) if n] == [15, 30]


def test_a_narrowed_search_that_finds_nothing_usable_goes_back_to_the_full_search() -> None:
    """The pose sees two hands, the full search finds one: narrowed to one. MediaPipe's one-hand
    search may then track the other, cut-off hand (not usable): the full search for the next
    ``retry_after`` searches, then the narrower one is tried again."""
    planner = HandPlanner(2, settle=2, retry_after=3)
    for _ in range(2):
        planner.observe(pose((0.3, 0.6), (0.7, 0.6)))
    for _ in range(2):
        planner.observe_hands(2, 1)
    assert planner.search() == (1, True)
    planner.observe_hands(1, 1)  # the one-hand search found a usable hand: stays narrowed
    assert planner.search() == (1, True)
    planner.observe_hands(1, 0)  # ... and then only a hand at the border
    for _ in range(3):
        assert planner.search() == (2, False)
        planner.observe_hands(2, 1)
    assert planner.search() == (1, True)  # tried again
    planner.observe_hands(1, 0)
    for _ in range(2):
        planner.observe(pose((0.3, 0.6), None))  # the pose sees one hand: still the full search
    assert planner.search() == (2, False)
    for _ in range(2):
        planner.observe(pose(None, None))  # none in view: no search at all
    assert planner.search() == (0, True)


def test_usable_hands_are_the_ones_off_the_border() -> None:
    from mocap_bridge.frames import HandObservation
    from mocap_bridge.tracking.landmarkers import usable_hands

    inside = np.full((21, 3), 0.5, np.float32)
    cut = inside.copy()
    cut[0, 1] = 1.02  # the wrist beyond the bottom edge
    hands = (HandObservation("Left", 0.9, inside, inside), HandObservation("Right", 0.9, cut, cut))
    assert (
        usable_hands(hands, 0.02) == 1 and usable_hands(hands[:1], 0.02) == 1 and usable_hands((), 0.02) == 0
    )


def test_the_raised_hand_drives_the_rig_when_a_cut_off_one_is_in_view(model_paths: dict[str, Path]) -> None:
    """fist_thumbs_up.mp4: the pose sees both wrists, one hand raised, the other cut off at the
    bottom edge. The hand search must end up on the raised one (the cut-off one is held by the
    entry rule): it drives the rig in most frames once it is in view."""
    import cv2

    from mocap_bridge.settings import Settings
    from mocap_bridge.solve.rig import RigSolver
    from mocap_bridge.tracking.landmarkers import Landmarkers

    settings = Settings()
    solver = RigSolver(settings)
    cap = cv2.VideoCapture(str(media("fist_thumbs_up.mp4")))
    driven = []
    try:
        with Landmarkers(settings.tracking, model_paths, live=False) as lm:
            for i in range(110):
                ok, bgr = cap.read()
                assert ok
                rgb = cv2.cvtColor(cv2.resize(bgr, (640, 360)), cv2.COLOR_BGR2RGB)
                rig = solver.solve(lm.track(rgb, i, i * 40))
                driven.append(bool(rig.tracked.hands))
    finally:
        cap.release()
    assert sum(driven[45:]) >= 0.8 * len(driven[45:]), "".join("H" if d else "." for d in driven)
