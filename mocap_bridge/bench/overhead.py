"""Per-frame bridge overhead after MediaPipe returns: merge → solve → encode (no sockets).

The frames are the source tracked once in VIDEO mode (the floor worker's recording), looped with
increasing timestamps so the filters and gates see a continuous stream. Each frame goes through
the assembler (its three parts delivered), :class:`~mocap_bridge.solve.rig.RigSolver` and the Live
Link, VMC, generic OSC and WebSocket JSON encoders, with a :func:`~mocap_bridge.clock.perf_ns`
mark after each stage. Each frame's thread CPU time is taken too: on a busy machine the wall-clock
p99 measures the other processes (this thread waiting for a core), the CPU time does not.
``benchmarks/compare.py`` runs a naive path through :func:`timed_path`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..clock import perf_ns, thread_cpu_ns
from ..frames import Part, RigFrame, TrackedFrame
from ..heap import frozen_heap
from ..protocols.livelink import LiveLinkEncoder
from ..protocols.osc import OscEncoder
from ..protocols.vmc import VmcEncoder, load_expression_map
from ..protocols.ws_json import CHANNELS, WsJsonEncoder
from ..resources import resolve_data_path
from ..settings import Settings
from ..sinks import process_device_id
from ..solve.rig import RigSolver
from ..tracking.assembler import Assembler

__all__ = [
    "STAGES",
    "FramePath",
    "StageTimes",
    "looped",
    "our_path",
    "overhead_summary",
    "run_overhead",
    "timed_path",
]

STAGES = ("merge", "solve", "livelink", "vmc", "osc", "ws_json")
_ALL = frozenset(CHANNELS)
WALL_OFFSET_MS = 1.7e12  # any epoch offset: encoders only add it
TIME_OF_DAY_S = 12 * 3600.0


@dataclass(slots=True)
class StageTimes:
    """Per-frame nanoseconds, total and per stage."""

    total: list[int] = field(default_factory=list)
    stages: dict[str, list[int]] = field(default_factory=lambda: {s: [] for s in STAGES})
    cpu: list[int] = field(default_factory=list)  #: the calling thread's CPU time per frame
    #: each frame's place in the clip (the same work in every pass), when known
    clip_index: list[int] = field(default_factory=list)

    def add(self, marks: Sequence[int], cpu_ns: int | None = None, clip_index: int | None = None) -> None:
        if len(marks) != len(STAGES) + 1:
            return  # the assembler held the frame back (never here: all parts are delivered)
        if cpu_ns is not None:
            self.cpu.append(cpu_ns)
        if clip_index is not None:
            self.clip_index.append(clip_index)
        self.total.append(marks[-1] - marks[0])
        for i, s in enumerate(STAGES):
            self.stages[s].append(marks[i + 1] - marks[i])


FramePath = Callable[[TrackedFrame, list[int]], Any]
Submit = Callable[[int, int], Any]
Deliver = Callable[[Part, int, Any, float], list[TrackedFrame]]
Encode = Callable[[RigFrame, int], Any]


def timed_path(
    submit: Submit,
    deliver: Deliver,
    solve: Callable[[TrackedFrame], RigFrame],
    encoders: tuple[Encode, Encode, Encode, Encode],
) -> FramePath:
    """One frame through merge → solve → the four encoders, appending a mark after each stage."""
    clock = perf_ns

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


def our_path(settings: Settings) -> FramePath:
    """The bridge's per-frame work, as ``mocap-bridge run`` builds it from ``settings``."""
    asm = Assembler(settings.tracking.deadline_ms)
    solver = RigSolver(settings)
    ll_s, vmc_s = settings.livelink, settings.vmc
    ll = LiveLinkEncoder(
        device_id=process_device_id(),
        subject=ll_s.subject,
        rate=ll_s.rate,
        head_scale=ll_s.head_scale,
        head_sign=ll_s.head_sign,
        eye_sign=ll_s.eye_sign,
    )
    expressions = (
        load_expression_map(resolve_data_path(vmc_s.expression_map, "[vmc] expression_map"))
        if vmc_s.vrm0
        else None
    )
    vmc = VmcEncoder(
        expressions=expressions,
        perfect_sync=vmc_s.perfect_sync,
        perfect_sync_case=vmc_s.perfect_sync_case,
        max_datagram=vmc_s.max_datagram,
    )
    osc = OscEncoder(max_datagram=settings.osc.max_datagram)
    ws = WsJsonEncoder(wall_clock_offset_ms=WALL_OFFSET_MS, stream_rate_hz=30.0)
    parts = (True, True, True)
    return timed_path(
        lambda i, t: asm.submit(i, t, parts),
        asm.deliver,
        solver.solve,
        (
            lambda rig, t: ll.encode(rig, TIME_OF_DAY_S + t / 1000.0),
            lambda rig, _t: vmc.encode(rig),
            lambda rig, _t: osc.encode(rig),
            lambda rig, t: ws.frame(rig, WALL_OFFSET_MS + t).message(_ALL),
        ),
    )


def looped(frames: Sequence[TrackedFrame], k: int) -> list[TrackedFrame]:
    """Pass ``k`` of the clip: the same frames later in time, so stateful filters see one stream."""
    step = frames[1].t_ms - frames[0].t_ms if len(frames) > 1 else 40
    span = frames[-1].t_ms - frames[0].t_ms + max(1, step)
    return [replace(f, t_ms=f.t_ms + k * span, index=f.index + k * len(frames)) for f in frames]


def overhead_summary(times: StageTimes, prefix: str = "overhead") -> dict[str, float]:
    """p50/p99 of the total and p50 per stage, in µs.

    With the frames' places in the clip known, also ``_frame_min_p99_us``: the p99 over the clip's
    frames of each frame's fastest pass. Every pass does the same work on a frame, so the fastest
    is its cost with nothing else on the core; this p99 is the code's own tail (a hand coming into
    view, a gate blending) without the host's: what the plain p99 adds to it is other processes,
    or the hypervisor, taking the core mid-frame (and the odd garbage collection, which falls on
    one pass of a frame and so is left out here).
    """
    total = np.asarray(times.total, dtype=float) / 1000.0
    out = {
        f"{prefix}_p50_us": float(np.percentile(total, 50)),
        f"{prefix}_p99_us": float(np.percentile(total, 99)),
        f"{prefix}_frames": float(total.size),
    }
    if len(times.clip_index) == total.size and total.size:
        idx = np.asarray(times.clip_index)
        fastest = np.full(int(idx.max()) + 1, np.inf)
        np.minimum.at(fastest, idx, total)
        out[f"{prefix}_frame_min_p99_us"] = float(np.percentile(fastest[np.isfinite(fastest)], 99))
    if times.cpu:
        cpu = np.asarray(times.cpu, dtype=float) / 1000.0
        out[f"{prefix}_cpu_p50_us"] = float(np.percentile(cpu, 50))
        out[f"{prefix}_cpu_p99_us"] = float(np.percentile(cpu, 99))
    for s in STAGES:
        out[f"{prefix}_{s}_p50_us"] = float(np.median(times.stages[s])) / 1000.0
    return out


def run_overhead(
    frames: Sequence[TrackedFrame], settings: Settings, *, passes: int, warmup: int = 10
) -> StageTimes:
    """Time ``passes`` passes of ``frames`` through :func:`our_path` (the first ``warmup`` frames of
    the first pass are not counted: first calls allocate). As in a run, the heap built before the
    stream starts is frozen out of the garbage collector's sight (see app.py)."""
    path = our_path(settings)
    times = StageTimes()
    blocks = [looped(frames, k) for k in range(passes)]
    with frozen_heap():
        for k, block in enumerate(blocks):
            for j, f in enumerate(block):
                marks: list[int] = []
                c0 = thread_cpu_ns()
                path(f, marks)
                cpu = thread_cpu_ns() - c0
                if k > 0 or j >= warmup:
                    times.add(marks, cpu, j)
    return times
