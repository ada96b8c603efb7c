"""Assembler: merging asynchronous pose/face/hand results by timestamp, with a deadline."""

from __future__ import annotations

import numpy as np
import pytest

from mocap_bridge.frames import (
    FaceObservation,
    HandObservation,
    Part,
    PartStatus,
    PoseObservation,
    TrackedFrame,
)
from mocap_bridge.tracking.assembler import Assembler

ALL = (True, True, True)
POSE = PoseObservation(np.zeros((33, 5), np.float32), np.zeros((33, 3), np.float32))
FACE = FaceObservation(np.zeros((478, 3), np.float32), np.zeros(52, np.float32), np.eye(4))
HANDS = (HandObservation("Left", 0.9, np.zeros((21, 3), np.float32), np.zeros((21, 3), np.float32)),)


def answer_all(asm: Assembler, t: int, now: float) -> list[TrackedFrame]:
    out = asm.deliver(Part.POSE, t, POSE, now)
    out += asm.deliver(Part.FACE, t, FACE, now)
    out += asm.deliver(Part.HANDS, t, HANDS, now)
    return out


def test_complete_frame_leaves_as_soon_as_all_parts_answer() -> None:
    asm = Assembler(deadline_ms=100)
    asm.submit(0, 1000, ALL)
    assert asm.deliver(Part.FACE, 1000, FACE, 1010) == []
    assert asm.deliver(Part.POSE, 1000, POSE, 1020) == []
    [frame] = asm.deliver(Part.HANDS, 1000, HANDS, 1030)
    assert frame.t_ms == 1000 and frame.complete
    assert frame.status == (PartStatus.FOUND, PartStatus.FOUND, PartStatus.FOUND)
    assert frame.result_ms == (1020, 1010, 1030)
    assert frame.pose is POSE and frame.face is FACE and frame.hands == HANDS


def test_empty_answers_are_not_found_not_missing() -> None:
    asm = Assembler(deadline_ms=100)
    asm.submit(0, 0, ALL)
    asm.deliver(Part.POSE, 0, None, 5)
    asm.deliver(Part.FACE, 0, None, 5)
    [frame] = asm.deliver(Part.HANDS, 0, (), 5)
    assert frame.status == (PartStatus.NOT_FOUND,) * 3
    assert frame.complete and frame.pose is None and frame.hands == ()


def test_missing_part_is_marked_at_the_deadline_not_before() -> None:
    asm = Assembler(deadline_ms=50)
    asm.submit(0, 1000, ALL)
    asm.deliver(Part.POSE, 1000, POSE, 1010)
    asm.deliver(Part.FACE, 1000, FACE, 1010)
    assert asm.poll(1049) == []
    assert asm.next_deadline_ms() == 1050
    [frame] = asm.poll(1050)
    assert frame.status[Part.HANDS] is PartStatus.MISSING and not frame.complete
    assert asm.stats.partial == 1 and asm.stats.complete == 0
    # The late answer is counted, not emitted twice.
    assert asm.deliver(Part.HANDS, 1000, HANDS, 1060) == []
    assert asm.stats.late == 1


def test_a_later_answer_resolves_a_dropped_earlier_frame_without_waiting() -> None:
    """MediaPipe answers in order per landmarker: an answer for t=40 means t=0 was dropped."""
    asm = Assembler(deadline_ms=1000)
    asm.submit(0, 0, ALL)
    asm.submit(1, 40, ALL)
    asm.deliver(Part.POSE, 0, POSE, 20)
    asm.deliver(Part.FACE, 0, FACE, 20)
    # hands skipped t=0 and answered t=40:
    out = asm.deliver(Part.HANDS, 40, HANDS, 60)
    assert [f.t_ms for f in out] == [0]
    assert out[0].status[Part.HANDS] is PartStatus.MISSING
    out = asm.deliver(Part.POSE, 40, POSE, 61) + asm.deliver(Part.FACE, 40, FACE, 62)
    assert [f.t_ms for f in out] == [40] and out[0].complete


def test_out_of_order_answers_still_merge_and_frames_leave_in_capture_order() -> None:
    asm = Assembler(deadline_ms=100)
    for i, t in enumerate((0, 33, 66)):
        asm.submit(i, t, ALL)
    # Face answers 33 before pose answers anything; pose for 66 before 33 (out of order).
    out = asm.deliver(Part.FACE, 0, FACE, 10)
    out += asm.deliver(Part.FACE, 33, FACE, 40)
    out += asm.deliver(Part.HANDS, 0, HANDS, 41)
    out += asm.deliver(Part.HANDS, 33, HANDS, 42)
    out += asm.deliver(Part.POSE, 0, POSE, 43)
    assert [f.t_ms for f in out] == [0]
    out = asm.deliver(Part.POSE, 33, POSE, 44)
    assert [f.t_ms for f in out] == [33] and out[0].complete
    out = answer_all(asm, 66, 80)
    assert [f.t_ms for f in out] == [66]


def test_a_complete_later_frame_waits_for_an_earlier_pending_one() -> None:
    asm = Assembler(deadline_ms=100)
    asm.submit(0, 0, ALL)
    asm.submit(1, 10, ALL)
    asm.deliver(Part.POSE, 0, POSE, 5)  # frame 0 still waits for face and hands
    # Out-of-order answers for frame 10 (face/hands) implicitly abandon frame 0's face/hands,
    # so both leave, in capture order.
    out = answer_all(asm, 10, 20)
    assert [f.t_ms for f in out] == [0, 10]
    assert out[0].status == (PartStatus.FOUND, PartStatus.MISSING, PartStatus.MISSING)


def test_duplicate_and_unknown_answers_are_counted_and_ignored() -> None:
    asm = Assembler(deadline_ms=100)
    asm.submit(0, 0, ALL)
    asm.deliver(Part.POSE, 0, POSE, 1)
    asm.deliver(Part.POSE, 0, None, 2)  # duplicate must not overwrite
    asm.deliver(Part.FACE, 999, FACE, 3)  # never submitted
    assert asm.stats.duplicate == 1 and asm.stats.unknown == 1
    asm.deliver(Part.FACE, 0, FACE, 4)
    [frame] = asm.deliver(Part.HANDS, 0, HANDS, 5)
    assert frame.pose is POSE


def test_frame_nobody_answered_is_dropped_and_accounted() -> None:
    asm = Assembler(deadline_ms=30)
    asm.submit(0, 0, ALL)
    asm.submit(1, 33, (False, False, False))  # no landmarker accepted it
    assert asm.poll(100) == []
    assert asm.stats.submitted == 2 and asm.stats.dropped == 2 and asm.stats.emitted == 0


def test_skipped_parts_are_not_waited_for() -> None:
    asm = Assembler(deadline_ms=100)
    asm.submit(0, 0, (True, True, False))
    asm.deliver(Part.POSE, 0, POSE, 5)
    [frame] = asm.deliver(Part.FACE, 0, FACE, 6)
    assert frame.status[Part.HANDS] is PartStatus.SKIPPED and frame.complete


def test_every_submitted_frame_is_emitted_or_dropped_exactly_once() -> None:
    rng = np.random.default_rng(7)
    asm = Assembler(deadline_ms=60)
    emitted: list[int] = []
    for i in range(300):
        t = i * 33
        asm.submit(i, t, ALL)
        for part in Part:
            if rng.random() < 0.85:  # MediaPipe answers most frames, with jitter
                emitted += [f.t_ms for f in asm.deliver(part, t, None, t + rng.uniform(5, 80))]
        emitted += [f.t_ms for f in asm.poll(t + 33)]
    emitted += [f.t_ms for f in asm.flush()]
    assert emitted == sorted(emitted) and len(set(emitted)) == len(emitted)
    assert asm.stats.emitted + asm.stats.dropped == asm.stats.submitted == 300
    assert asm.pending == 0


def test_timestamps_must_increase() -> None:
    asm = Assembler(deadline_ms=10)
    asm.submit(0, 5, ALL)
    with pytest.raises(ValueError):
        asm.submit(1, 5, ALL)


def test_a_refused_part_is_missing_without_waiting_for_the_deadline() -> None:
    asm = Assembler(deadline_ms=100)
    asm.submit(0, 0, ALL)
    asm.deliver(Part.POSE, 0, POSE, 5)
    asm.deliver(Part.FACE, 0, FACE, 6)
    [frame] = asm.abandon(Part.HANDS, 0, 7)
    assert frame.status == (PartStatus.FOUND, PartStatus.FOUND, PartStatus.MISSING)
