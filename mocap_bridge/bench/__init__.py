"""``mocap-bridge bench``: the bridge's figures against naive baselines, as a table and JSON.

Sections (each its own module):

* :mod:`.overhead` – per-frame work after MediaPipe returns (merge, solve, four encoders), ours vs
  :mod:`.naive`, on a real recording of ``../shared/media/fist_thumbs_up.mp4`` (:mod:`.data`).
* :mod:`.tracking` – the live pipeline at 30 fps input (complete frames/s, capture→sent latency)
  vs the sequential VIDEO-mode recipe; the same run samples RSS (:mod:`.memory`).
* :mod:`.fanout` – N WebSocket clients plus one stalled client at a 30 Hz stream.

``--json`` prints exactly one JSON object on stdout; everything human goes to stderr then.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["TARGETS", "Target", "run_bench", "run_overhead_section"]


@dataclass(frozen=True, slots=True)
class Target:
    key: str
    op: str  # "<=" or ">="
    bound: float
    label: str

    def passed(self, value: float) -> bool:
        if not isinstance(value, int | float) or math.isnan(value):
            return False
        return value <= self.bound if self.op == "<=" else value >= self.bound


TARGETS: tuple[Target, ...] = (
    Target("overhead_p99_us", "<=", 500.0, "bridge overhead p99 (µs/frame)"),
    Target("overhead_speedup", ">=", 10.0, "overhead speed-up vs naive (×)"),
    Target("tracking_speedup", ">=", 1.6, "complete fps vs sequential recipe (×)"),
    Target("tracking_complete_fps", ">=", 28.0, "complete frames/s at 30 fps input"),
    Target("tracking_latency_p95_ms", "<=", 60.0, "capture→last packet p95 (ms)"),
    Target("fanout_min_client_hz", ">=", 29.0, "slowest of N clients, stalled one present (Hz)"),
    Target("fanout_stalled_client_effect", ">=", 0.97, "output rate with/without stalled client"),
    Target("rss_growth_mb", "<=", 20.0, "RSS growth over the run (MB)"),
)


@dataclass(frozen=True, slots=True)
class _Plan:
    overhead_passes: int
    live_seconds: float
    sequential_frames: int
    fanout_seconds: float


QUICK = _Plan(overhead_passes=3, live_seconds=20.0, sequential_frames=30, fanout_seconds=5.0)
FULL = _Plan(overhead_passes=10, live_seconds=120.0, sequential_frames=195, fanout_seconds=15.0)


def _round(d: dict[str, Any], nd: int = 2) -> dict[str, Any]:
    return {k: round(v, nd) if isinstance(v, float) else v for k, v in d.items()}


def run_overhead_section(
    *, passes: int, max_frames: int | None = None, solve: Any = None, broadcast: Any = None,
    say: Callable[[str], None] = lambda _m: None,
) -> tuple[dict[str, Any], list[str]]:  # fmt: skip
    """The overhead figures (ours vs naive) on the recording; (figures, notes)."""
    from ..broadcast import BroadcastSettings
    from ..solve.settings import SolveSettings
    from .data import person_frames, recorded_frames
    from .overhead import run_overhead

    raw, cached = recorded_frames(say)
    bf = person_frames(raw)
    frames = bf.frames[:max_frames] if max_frames else bf.frames
    notes = [
        f"recording: {len(raw)} frames of fist_thumbs_up.mp4 (VIDEO mode, "
        f"{'cached' if cached else 'made now'}); {len(bf.frames)} with face, pose and a hand used",
    ]
    if bf.synthesised:
        notes.append(
            f"second hand synthesised by mirroring the first in {bf.synthesised} of {len(bf.frames)} frames "
            f"(MediaPipe saw two hands in {bf.two_hand_frames})"
        )
    notes.append(
        "naive: dict merge, 1,936 per-scalar Python One-Euro objects, our RigSolver rotation math/gating, "
        "struct.pack per Live Link field, python-osc builder per VMC/OSC message, json.dumps of lists"
    )
    res = run_overhead(frames, solve or SolveSettings(), broadcast or BroadcastSettings(), passes=passes,
                       warmup=min(10, len(frames) // 2))  # fmt: skip
    return res.summary(), notes


def _load_settings(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    from ..broadcast import broadcast_settings_from_config
    from ..config import load_config, tracker_settings
    from ..solve.settings import solve_settings_from_config

    config = load_config(preset=getattr(args, "preset", None), path=getattr(args, "config", None))
    tracker = tracker_settings(config)
    solve = solve_settings_from_config(config.tables, config.where("face"))
    broadcast = broadcast_settings_from_config(config.tables, config.where("ws"))
    return tracker, solve, broadcast


def _table(results: dict[str, Any], notes: list[str], out: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=out, highlight=False)
    t = Table(title="mocap-bridge bench" + (" (--quick)" if results.get("quick") else ""))
    t.add_column("figure")
    t.add_column("value", justify="right")
    t.add_column("target", justify="right")
    t.add_column("", justify="center")
    targets = {tg.key: tg for tg in TARGETS}

    def row(key: str, label: str) -> None:
        v = results.get(key)
        if v is None:
            return
        tg = targets.get(key)
        mark = ("[green]PASS[/]" if tg.passed(v) else "[red]FAIL[/]") if tg else ""
        t.add_row(label, f"{v:,.2f}" if isinstance(v, float) else str(v),
                  f"{tg.op} {tg.bound:g}" if tg else "", mark)  # fmt: skip

    row("overhead_p50_us", "overhead p50, ours (µs/frame)")
    row("overhead_p99_us", "overhead p99, ours (µs/frame)")
    row("overhead_naive_p50_us", "overhead p50, naive (µs/frame)")
    row("overhead_speedup", "overhead speed-up (naive p50 / ours p50)")
    for s in ("merge", "solve", "livelink", "vmc", "osc", "ws_json"):
        if f"overhead_{s}_p50_us" in results:
            ours, naive = results[f"overhead_{s}_p50_us"], results[f"overhead_naive_{s}_p50_us"]
            t.add_row(f"  {s} p50 ours / naive (µs)", f"{ours:,.1f} / {naive:,.1f}", "", "")
    row("tracking_complete_fps", "live: complete frames/s (30 fps in)")
    row("tracking_out_fps", "live: frames/s out (complete + partial)")
    row("tracking_latency_p50_ms", "live: capture→sent p50 (ms)")
    row("tracking_latency_p95_ms", "live: capture→sent p95 (ms)")
    row("tracking_sequential_fps", "sequential VIDEO recipe (fps)")
    row("tracking_speedup", "complete fps / sequential fps")
    row("fanout_clients", "WebSocket clients (+1 stalled)")
    row("fanout_min_client_hz", "slowest client, stalled present (Hz)")
    row("fanout_min_client_hz_no_stall", "slowest client, no stalled (Hz)")
    row("fanout_stalled_client_effect", "output rate with / without stalled")
    row("rss_growth_mb", "RSS growth (MB)")
    console.print(t)
    for n in notes:
        console.print(f"• {n}")
    passed = sum(tg.passed(results[tg.key]) for tg in TARGETS if tg.key in results)
    total = sum(tg.key in results for tg in TARGETS)
    console.print(f"targets met: {passed}/{total}")


def run_bench(args: argparse.Namespace) -> int:
    """Entry point of ``mocap-bridge bench``; returns the exit code (0 even when targets fail)."""
    quick = bool(getattr(args, "quick", False))
    as_json = bool(getattr(args, "json", False))
    clients = int(getattr(args, "clients", 50) or 50)
    plan = QUICK if quick else FULL
    human = sys.stderr if as_json else sys.stdout

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    from ..tracking.offline import resolve_model_paths
    from .data import clip_path, person_frames, recorded_frames
    from .fanout import run_fanout
    from .tracking import decode_clip, run_live, run_sequential

    started = time.monotonic()
    tracker, solve, broadcast = _load_settings(args)
    paths = resolve_model_paths(tracker, models_dir=getattr(args, "models", None),
                                offline=bool(getattr(args, "offline", False)), say=say)  # fmt: skip
    results: dict[str, Any] = {
        "quick": quick,
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, Python {platform.python_version()}",
    }

    say("[1/4] overhead: merge + solve + encoders, ours vs naive...")
    figures, notes = run_overhead_section(
        passes=plan.overhead_passes, solve=solve, broadcast=broadcast, say=say
    )
    results.update(figures)

    images = decode_clip(clip_path())
    say(f"[2/4] sequential recipe: {plan.sequential_frames} frames, three landmarkers one after another...")
    seq_fps = run_sequential(images, tracker, paths, frames=plan.sequential_frames)
    say(f"[3/4] live pipeline at 30 fps for {plan.live_seconds:g} s (deadline {tracker.deadline_ms:g} ms)...")
    live = run_live(images, tracker, paths, solve, seconds=plan.live_seconds)
    del images
    results.update(_round({
        "tracking_complete_fps": live.complete_fps,
        "tracking_out_fps": live.out_fps,
        "tracking_complete_ratio": live.complete_ratio,
        "tracking_latency_p50_ms": live.latency_p50_ms,
        "tracking_latency_p95_ms": live.latency_p95_ms,
        "tracking_sequential_fps": seq_fps,
        "tracking_speedup": live.complete_fps / seq_fps if seq_fps > 0 else 0.0,
        "tracking_input_fps": 30.0,
        "tracking_deadline_ms": float(tracker.deadline_ms),
        "tracking_seconds": plan.live_seconds,
        "rss_growth_mb": live.rss_growth_mb,
        "rss_start_mb": live.rss_start_mb,
        "rss_end_mb": live.rss_end_mb,
        "rss_seconds": plan.live_seconds,
    }))  # fmt: skip
    notes.append(
        f"live: clip pre-decoded at 640x360 and paced at 30 fps (clip is 25 fps), "
        f"looped {plan.live_seconds:g} s; "
        f"real sinks on 127.0.0.1 (Live Link, VMC, OSC: {live.udp_datagrams} datagrams; 1 WS client: "
        f"{live.ws_messages} messages); first 2 s excluded; {live.partial} partial frames"
    )
    notes.append(f"RSS sampled once a second during that run, growth from a quarter of the run to its end "
                 f"({plan.live_seconds:g} s{' --quick' if quick else ''})")  # fmt: skip

    say(
        f"[4/4] fan-out: {clients} WebSocket clients + 1 stalled, 30 Hz, "
        f"{plan.fanout_seconds:g} s per phase..."
    )
    raw, _ = recorded_frames(say)
    fo = run_fanout(person_frames(raw).frames, solve, clients=clients, seconds=plan.fanout_seconds)
    results.update(_round({
        "fanout_clients": fo.clients,
        "fanout_min_client_hz": fo.min_client_hz,
        "fanout_min_client_hz_no_stall": fo.min_client_hz_no_stall,
        "fanout_median_client_hz": fo.median_client_hz,
        "fanout_out_hz_no_stall": fo.out_hz_no_stall,
        "fanout_out_hz_stall": fo.out_hz_stall,
        "fanout_stalled_client_effect": fo.stalled_effect,
        "fanout_frame_p50_us_no_stall": fo.send_p50_us_no_stall,
        "fanout_frame_p50_us_stall": fo.send_p50_us_stall,
        "fanout_ws_dropped": fo.ws_dropped,
    }, 3))  # fmt: skip
    notes.append(
        "fan-out: clients in a subprocess (own asyncio loop); per-frame time = solve + JSON + broadcast"
    )

    results["targets"] = {tg.key: tg.passed(results[tg.key]) for tg in TARGETS if tg.key in results}
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    results["notes"] = notes
    _table(results, notes, human)
    if as_json:
        print(json.dumps(results), flush=True)
    return 0
