"""Per-frame bridge overhead after MediaPipe returns: merge → solve → encode (no sockets).

Ours and the naive baseline (:mod:`.naive`) run in the same process on the same frames, in
alternating blocks (one clip pass each), so machine noise hits both alike. Each path keeps its
own state (assembler, filters, gates) across blocks; timestamps keep increasing as the clip loops.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..broadcast import BroadcastSettings, process_device_id, resolve_data_path
from ..frames import Part, RigFrame, TrackedFrame
from ..protocols.livelink import LiveLinkEncoder
from ..protocols.osc import OscEncoder
from ..protocols.vmc import VmcEncoder, load_expression_map
from ..protocols.ws_json import CHANNELS, WsJsonEncoder
from ..solve.rig import RigSolver
from ..solve.settings import SolveSettings
from ..tracking.assembler import Assembler
from .naive import NaiveLiveLink, NaiveMerge, NaiveOsc, NaiveRigSolver, NaiveVmc, naive_ws_json

__all__ = ["OverheadResult", "StageTimes", "naive_path", "our_path", "run_overhead"]

STAGES = ("merge", "solve", "livelink", "vmc", "osc", "ws_json")
_ALL = frozenset(CHANNELS)
_WALL_OFFSET_MS = 1.7e12  # any epoch offset: encoders only add it
_TOD_S = 12 * 3600.0


@dataclass(slots=True)
class StageTimes:
    """Per-frame nanoseconds, total and per stage."""

    total: list[int] = field(default_factory=list)
    stages: dict[str, list[int]] = field(default_factory=lambda: {s: [] for s in STAGES})

    def add(self, marks: list[int]) -> None:
        self.total.append(marks[-1] - marks[0])
        for i, s in enumerate(STAGES):
            self.stages[s].append(marks[i + 1] - marks[i])


FramePath = Callable[[TrackedFrame, list[int]], Any]
Submit = Callable[[int, int], Any]
Deliver = Callable[[Part, int, Any, float], list[TrackedFrame]]
Encode = Callable[[RigFrame, int], Any]


def _timed_path(submit: Submit, deliver: Deliver, solve: Callable[[TrackedFrame], RigFrame],
                encoders: tuple[Encode, Encode, Encode, Encode]) -> FramePath:  # fmt: skip
    """One frame through merge → solve → the four encoders, with a mark after each stage."""
    clock = time.perf_counter_ns

    def run(frame: TrackedFrame, marks: list[int]) -> list[Any]:
        marks.append(clock())
        t = frame.t_ms
        submit(frame.index, t)
        now = float(t + 30)
        deliver(Part.POSE, t, frame.pose, now)
        deliver(Part.FACE, t, frame.face, now)
        merged = deliver(Part.HANDS, t, frame.hands, now)
        marks.append(clock())
        out: list[Any] = []
        for f in merged:
            rig = solve(f)
            marks.append(clock())
            out.append(rig)
            for encode in encoders:
                out.append(encode(rig, t))
                marks.append(clock())
        return out

    return run


def our_path(solve: SolveSettings, broadcast: BroadcastSettings, deadline_ms: float = 100.0) -> FramePath:
    """The bridge's per-frame work; appends 7 ``perf_counter_ns`` marks to ``marks``."""
    asm = Assembler(deadline_ms)
    solver = RigSolver(solve)
    ll = LiveLinkEncoder(device_id=process_device_id(), subject=broadcast.livelink_subject,
                         rate=broadcast.livelink_rate)  # fmt: skip
    expressions = load_expression_map(resolve_data_path(broadcast.vmc_expression_map, "[vmc] expression_map"))
    vmc = VmcEncoder(expressions=expressions, max_datagram=broadcast.vmc_max_datagram)
    osc = OscEncoder(max_datagram=broadcast.osc_max_datagram)
    ws = WsJsonEncoder(wall_clock_offset_ms=_WALL_OFFSET_MS, stream_rate_hz=30.0)
    parts = (True, True, True)
    return _timed_path(
        lambda i, t: asm.submit(i, t, parts),
        asm.deliver,
        solver.solve,
        (
            lambda rig, t: ll.encode(rig, _TOD_S + t / 1000.0),
            lambda rig, _t: vmc.encode(rig),
            lambda rig, _t: osc.encode(rig),
            lambda rig, t: ws.frame(rig, _WALL_OFFSET_MS + t).message(_ALL),
        ),
    )


def naive_path(solve: SolveSettings, broadcast: BroadcastSettings) -> FramePath:
    """The same work done the obvious way (see :mod:`.naive`)."""
    merge = NaiveMerge()
    solver = NaiveRigSolver(solve)
    ll = NaiveLiveLink(process_device_id(), broadcast.livelink_subject, int(broadcast.livelink_rate))
    expressions = load_expression_map(resolve_data_path(broadcast.vmc_expression_map, "[vmc] expression_map"))
    vmc = NaiveVmc(expressions, broadcast.vmc_max_datagram)
    osc = NaiveOsc(broadcast.osc_max_datagram)
    return _timed_path(
        merge.submit,
        merge.deliver,
        solver.solve,
        (
            lambda rig, t: ll.encode(rig, _TOD_S + t / 1000.0),
            lambda rig, _t: vmc.encode(rig),
            lambda rig, _t: osc.encode(rig),
            lambda rig, t: naive_ws_json(rig, _WALL_OFFSET_MS + t, _WALL_OFFSET_MS),
        ),
    )


@dataclass(slots=True)
class OverheadResult:
    ours: StageTimes
    naive: StageTimes
    frames: int

    def summary(self) -> dict[str, float]:
        o = np.asarray(self.ours.total) / 1000.0
        n = np.asarray(self.naive.total) / 1000.0
        p50, p99 = float(np.percentile(o, 50)), float(np.percentile(o, 99))
        n50 = float(np.percentile(n, 50))
        out = {
            "overhead_p50_us": round(p50, 1),
            "overhead_p99_us": round(p99, 1),
            "overhead_naive_p50_us": round(n50, 1),
            "overhead_naive_p99_us": round(float(np.percentile(n, 99)), 1),
            "overhead_speedup": round(n50 / p50, 2) if p50 > 0 else 0.0,
            "overhead_frames": self.frames,
        }
        for s in STAGES:
            out[f"overhead_{s}_p50_us"] = round(float(np.median(self.ours.stages[s])) / 1000.0, 1)
            out[f"overhead_naive_{s}_p50_us"] = round(float(np.median(self.naive.stages[s])) / 1000.0, 1)
        return out


def run_overhead(
    frames: list[TrackedFrame],
    solve: SolveSettings,
    broadcast: BroadcastSettings,
    *,
    passes: int,
    warmup: int = 10,
    naive: bool = True,
) -> OverheadResult:
    """Time ``passes`` blocks of ``frames`` through each path, alternating ours and naive."""
    from .data import shifted

    ours_run = our_path(solve, broadcast)
    naive_run = naive_path(solve, broadcast) if naive else None
    ours, base = StageTimes(), StageTimes()
    span = frames[-1].t_ms - frames[0].t_ms + 40
    for k in range(passes):
        block = shifted(frames, k * span, k * len(frames))
        for path, sink in ((ours_run, ours), (naive_run, base)):
            if path is None:
                continue
            for j, f in enumerate(block):
                marks: list[int] = []
                path(f, marks)
                if k > 0 or j >= warmup:
                    sink.add(marks)
    if not naive:
        base = ours
    return OverheadResult(ours, base, len(ours.total))
