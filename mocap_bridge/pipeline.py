"""Per-frame work on the loop thread: record, solve, hand to every sink; and the run's statistics.

Everything here runs on the asyncio loop thread and never awaits a peer: sinks' ``send`` only
queues or sends non-blocking datagrams.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from .frames import Part, PartStatus, RigFrame, TrackedFrame
from .sink import FrameSink

__all__ = ["Pipeline", "Recorder", "RunStats"]

log = logging.getLogger(__name__)

Solve = Callable[[TrackedFrame], RigFrame]


class Recorder(Protocol):
    """Where merged frames are written (a recording, a take folder, or both)."""

    def write(self, frame: TrackedFrame) -> None: ...

    def close(self) -> None: ...


@dataclass(slots=True)
class RunStats:
    """Counters for the status line (per second) and the end-of-run summary."""

    captured: int = 0
    emitted: int = 0
    complete: int = 0
    partial: int = 0
    dropped: int = 0
    errors: int = 0
    found: list[int] = field(default_factory=lambda: [0, 0, 0])
    part_latency: list[deque[float]] = field(default_factory=lambda: [deque(maxlen=300) for _ in range(3)])
    total_latency: deque[float] = field(default_factory=lambda: deque(maxlen=300))
    all_latencies: list[float] = field(default_factory=list)
    _window: tuple[int, int] = (0, 0)  # captured, emitted at the last status line

    def window(self) -> tuple[int, int]:
        """Frames captured and emitted since the previous call."""
        prev = self._window
        self._window = (self.captured, self.emitted)
        return self.captured - prev[0], self.emitted - prev[1]


def _median(values: Sequence[float]) -> float | None:
    return float(np.median(values)) if values else None


class Pipeline:
    """Record → solve → sinks, once per merged frame."""

    def __init__(
        self,
        solve: Solve,
        sinks: Sequence[FrameSink],
        *,
        recorder: Recorder | None = None,
        clock: Callable[[], float],
        measure_latency: bool = True,
    ) -> None:
        self.solve = solve
        self.sinks = list(sinks)
        self.recorder = recorder
        self.clock = clock
        self.measure_latency = measure_latency
        self.stats = RunStats()
        #: called with every solved frame (the app puts it in the preview's mailbox)
        self.on_rig: Callable[[RigFrame], None] | None = None

    def process(self, frame: TrackedFrame) -> None:
        stats = self.stats
        stats.emitted += 1
        if frame.complete:
            stats.complete += 1
        else:
            stats.partial += 1
        for p in range(3):
            if frame.status[p] is PartStatus.FOUND:
                stats.found[p] += 1
            got = frame.result_ms[p]
            if self.measure_latency and got is not None:
                stats.part_latency[p].append(got - frame.t_ms)
        if self.recorder is not None:
            try:
                self.recorder.write(frame)
            except Exception:  # a full disk must not stop the stream; count and stop recording
                stats.errors += 1
                log.exception("recording failed; recording stopped")
                self.recorder = None
            else:
                if getattr(self.recorder, "failed", None):  # it stopped itself (and said so)
                    self.recorder = None
        try:
            rig = self.solve(frame)
        except Exception:  # a solver bug must not stop the stream; count and go on
            stats.errors += 1
            log.exception("solving frame %d failed", frame.index)
            return
        if self.on_rig is not None:
            self.on_rig(rig)
        for sink in self.sinks:
            try:
                sink.send(rig)
            except Exception:
                stats.errors += 1
                log.exception("sink %s failed on frame %d", sink.name, frame.index)
        if self.measure_latency:
            latency = self.clock() - frame.t_ms
            stats.total_latency.append(latency)
            stats.all_latencies.append(latency)

    def status_line(self, elapsed_s: float) -> str:
        stats = self.stats
        cap, out = stats.window()
        per = elapsed_s if elapsed_s > 0 else 1.0
        head = f"in {cap / per:4.1f} fps  out {out / per:4.1f} fps"
        if self.measure_latency:  # live: per-part latency (capture → result) and end to end
            parts = []
            for p in Part:
                med = _median(stats.part_latency[p])
                parts.append(f"{p.name.lower()} {med:.0f}ms" if med is not None else f"{p.name.lower()} -")
            total = _median(stats.total_latency)
            line = f"{head}  | {' '.join(parts)}  e2e {f'{total:.0f}ms' if total is not None else '-'}"
        else:  # offline: latency means nothing, say how often each part is found
            n = max(stats.emitted, 1)
            found = " ".join(f"{p.name.lower()} {100 * stats.found[p] / n:.0f}%" for p in Part)
            line = f"{head}  | found {found}"
        line += f"  | partial {stats.partial} dropped {stats.dropped}"
        sink_text = "  ".join(s.status() for s in self.sinks)
        return f"{line}  | {sink_text}" if sink_text else line

    def summary(self, elapsed_s: float, notes: Sequence[str] = ()) -> str:
        """The end-of-run line; ``notes`` say what the input met (a file that ended early, …)."""
        return self._summary(elapsed_s) + "".join(f"; note: {n}" for n in notes)

    def _summary(self, elapsed_s: float) -> str:
        s = self.stats
        n = max(s.emitted, 1)
        found = ", ".join(f"{p.name.lower()} {100 * s.found[p] / n:.0f}%" for p in Part)
        lat = ""
        if s.all_latencies:
            arr = np.asarray(s.all_latencies)
            lat = f"; latency p50 {np.percentile(arr, 50):.0f} ms, p95 {np.percentile(arr, 95):.0f} ms"
        rate = s.emitted / elapsed_s if elapsed_s > 0 else 0.0
        return (
            f"{s.captured} frames captured, {s.emitted} emitted ({s.complete} complete, "
            f"{s.partial} partial), {s.dropped} dropped in {elapsed_s:.1f} s ({rate:.1f} fps out); "
            f"found: {found}{lat}" + (f"; {s.errors} errors (see log)" if s.errors else "")
        )
