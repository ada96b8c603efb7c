"""Merge the three landmarkers' asynchronous results into one frame per capture timestamp.

Theory of operation
-------------------
Each captured image is *submitted* once (``submit``) with the set of parts (pose, face, hands) it
was handed to. In LIVE_STREAM mode MediaPipe answers each part on its own thread, in timestamp
order per landmarker, and may silently drop an input when it is busy. Results arrive here through
``deliver`` (on the loop thread; the callback only hands over).

A pending frame is *resolved* when every part it was submitted to has either answered or can no
longer answer. A part can no longer answer when

* its deadline passed: ``t_ms + deadline_ms`` (capture time, so the bound is on end-to-end latency), or
* the same landmarker already answered a *later* timestamp: per-landmarker results are ordered, so
  an earlier frame it skipped is gone for good (this resolves drops long before the deadline).
  "Same landmarker" is the part plus a ``source`` id: the adaptive hand search runs two hand
  landmarkers, whose answers are ordered each on its own but not with each other.

Resolved frames leave in capture order (a frame never overtakes an earlier one). Because
per-landmarker results are ordered, a later frame cannot be resolved before an earlier one except
through the deadline, so head-of-line waiting is bounded by the deadline. A part that never
answered is marked ``MISSING``; a frame in which *no* submitted part answered is counted as
dropped and not emitted (nothing new to say). A late answer for a frame that already left, a
duplicate answer, or an answer for a timestamp never submitted is counted and ignored.

Pure: no threads, no clock; ``now_ms`` is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..frames import (
    FaceObservation,
    Part,
    PartPayload,
    PartStatus,
    PoseObservation,
    TrackedFrame,
)

__all__ = ["Assembler", "AssemblerStats"]


@dataclass(slots=True)
class _Pending:
    index: int
    t_ms: int
    expected: tuple[bool, bool, bool]
    sources: tuple[int, int, int]
    answered: list[bool] = field(default_factory=lambda: [False, False, False])
    gone: list[bool] = field(default_factory=lambda: [False, False, False])
    payload: list[PartPayload] = field(default_factory=lambda: [None, None, ()])
    result_ms: list[float | None] = field(default_factory=lambda: [None, None, None])

    def resolved(self) -> bool:
        return all(not self.expected[p] or self.answered[p] or self.gone[p] for p in range(3))


@dataclass(slots=True)
class AssemblerStats:
    submitted: int = 0
    emitted: int = 0
    complete: int = 0
    partial: int = 0
    dropped: int = 0
    late: int = 0
    duplicate: int = 0
    unknown: int = 0


class Assembler:
    """Per-timestamp merge with a deadline; see the module docstring."""

    def __init__(self, deadline_ms: float) -> None:
        if deadline_ms <= 0:
            raise ValueError("deadline_ms must be positive")
        self.deadline_ms = float(deadline_ms)
        self.stats = AssemblerStats()
        self._pending: dict[int, _Pending] = {}
        self._order: list[int] = []  # pending timestamps, ascending
        self._last_answer: dict[tuple[int, int], int] = {}  # latest timestamp per (part, source)
        self._last_emitted_t = -1

    @property
    def pending(self) -> int:
        return len(self._order)

    def submit(
        self, index: int, t_ms: int, parts: tuple[bool, bool, bool], sources: tuple[int, int, int] = (0, 0, 0)
    ) -> None:
        """Register a frame handed to the landmarkers in ``parts`` (pose, face, hands); ``sources``
        names which landmarker of each part got it."""
        if (self._order and t_ms <= self._order[-1]) or t_ms <= self._last_emitted_t:
            raise ValueError(f"timestamps must increase: {t_ms}")
        self.stats.submitted += 1
        if not any(parts):
            self.stats.dropped += 1
            return
        self._pending[t_ms] = _Pending(index, t_ms, parts, sources)
        self._order.append(t_ms)

    def deliver(
        self, part: Part, t_ms: int, payload: PartPayload, now_ms: float, source: int = 0
    ) -> list[TrackedFrame]:
        """A landmarker answered ``t_ms``; returns the frames that became ready, in order."""
        p = int(part)
        pending = self._pending.get(t_ms)
        if pending is None:
            if t_ms <= self._last_emitted_t:
                self.stats.late += 1
            else:
                self.stats.unknown += 1
            return self.poll(now_ms)
        if pending.answered[p] or not pending.expected[p]:
            self.stats.duplicate += 1
            return self.poll(now_ms)
        pending.answered[p] = True
        pending.payload[p] = payload
        pending.result_ms[p] = now_ms
        key = (p, source)
        if t_ms > self._last_answer.get(key, -1):
            self._last_answer[key] = t_ms
            for t in self._order:  # earlier frames this landmarker skipped are gone
                if t >= t_ms:
                    break
                earlier = self._pending[t]
                if earlier.sources[p] == source:
                    earlier.gone[p] = True
        return self.poll(now_ms)

    def abandon(self, part: Part, t_ms: int, now_ms: float) -> list[TrackedFrame]:
        """A landmarker refused ``t_ms``: that part will never answer it (it ends up MISSING)."""
        pending = self._pending.get(t_ms)
        if pending is not None:
            pending.gone[int(part)] = True
        return self.poll(now_ms)

    def next_deadline_ms(self) -> float | None:
        """When the oldest pending frame times out (None when nothing is pending)."""
        return self._order[0] + self.deadline_ms if self._order else None

    def poll(self, now_ms: float) -> list[TrackedFrame]:
        """Emit every frame at the head that is resolved or past its deadline."""
        out: list[TrackedFrame] = []
        while self._order:
            head = self._pending[self._order[0]]
            if not head.resolved() and now_ms < head.t_ms + self.deadline_ms:
                break
            self._order.pop(0)
            del self._pending[head.t_ms]
            self._last_emitted_t = head.t_ms
            frame = self._build(head)
            if frame is not None:
                out.append(frame)
        return out

    def flush(self) -> list[TrackedFrame]:
        """Emit everything still pending (end of stream), marking unanswered parts missing."""
        return self.poll(float("inf"))

    def _build(self, pend: _Pending) -> TrackedFrame | None:
        status: list[PartStatus] = []
        for p in range(3):
            if not pend.expected[p]:
                status.append(PartStatus.SKIPPED)
            elif not pend.answered[p]:
                status.append(PartStatus.MISSING)
            elif pend.payload[p]:
                status.append(PartStatus.FOUND)
            else:
                status.append(PartStatus.NOT_FOUND)
        if not any(pend.answered):
            self.stats.dropped += 1
            return None
        self.stats.emitted += 1
        if PartStatus.MISSING in status:
            self.stats.partial += 1
        else:
            self.stats.complete += 1
        pose, face, hands = pend.payload
        return TrackedFrame(
            index=pend.index,
            t_ms=pend.t_ms,
            pose=pose if isinstance(pose, PoseObservation) else None,
            face=face if isinstance(face, FaceObservation) else None,
            hands=hands if isinstance(hands, tuple) else (),
            status=(status[0], status[1], status[2]),
            result_ms=(pend.result_ms[0], pend.result_ms[1], pend.result_ms[2]),
        )
