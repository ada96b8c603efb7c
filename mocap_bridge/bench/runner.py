"""Runs every section of ``mocap-bridge bench`` on one set of decoded frames and reports."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..clock import monotonic_ms
from ..settings import Settings
from .report import finalize, print_table

__all__ = ["FULL", "QUICK", "BenchPlan", "run_bench"]


@dataclass(frozen=True, slots=True)
class BenchPlan:
    max_frames: int  #: frames decoded from the source
    floor_frames: int  #: at least this many VIDEO-mode frames for the floor (a short clip loops)
    live_30_s: float
    live_60_s: float
    cold_runs: int
    overhead_passes: int
    fanout_s: float


QUICK = BenchPlan(
    max_frames=90,
    floor_frames=60,
    live_30_s=16.0,
    live_60_s=10.0,
    cold_runs=1,
    overhead_passes=3,
    fanout_s=4.0,
)
FULL = BenchPlan(
    max_frames=300,
    floor_frames=150,
    live_30_s=120.0,
    live_60_s=45.0,
    cold_runs=3,
    overhead_passes=30,
    fanout_s=15.0,
)


def _machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cpus, Python {platform.python_version()}"


def _load() -> float | None:
    """The 1-minute load average: the figures mean little when other work fills the cores."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def _source_arg(source: str) -> str:
    """The source as a child process started elsewhere sees it."""
    path = Path(source).expanduser()
    return str(path.resolve()) if source.strip().lower() != "demo" and path.exists() else source


def run_bench(
    settings: Settings,
    *,
    quick: bool = False,
    as_json: bool = False,
    clients: int = 50,
    models_dir: Path | None = None,
    offline: bool = False,
    source: str = "demo",
) -> int:
    """Entry point of ``mocap-bridge bench``; returns the exit code (0 even when targets fail)."""
    from ..app import parts_in_use
    from ..recording import RecordingReader
    from ..tracking.offline import resolve_model_paths
    from .clip import decode_source
    from .cold_start import cold_start_s
    from .fanout import run_fanout
    from .floor import FloorJob
    from .live import outputs_to, run_live
    from .overhead import overhead_summary, run_overhead
    from .worker import Worker, write_job

    plan = QUICK if quick else FULL
    human = sys.stderr if as_json else sys.stdout

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    started = monotonic_ms()
    parts = parts_in_use(outputs_to(settings, 9))  # every output on, as the live run has them
    tracking = replace(settings.tracking, pose=parts[0], face=parts[1], hands=parts[2])
    paths = resolve_model_paths(tracking, models_dir=models_dir, offline=offline, say=say)
    results: dict[str, Any] = {
        "quick": quick,
        "machine": _machine(),
        "source": source,
        "load_avg_start": _load(),
    }
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mocap-bench-") as tmp:
        folder = Path(tmp)
        max_side = settings.capture.max_side
        say(f"[1/7] decoding {source} (≤ {plan.max_frames} frames, {max_side or 'full'} px max side)...")
        frames = decode_source(source, folder, max_frames=plan.max_frames, max_side=max_side)
        results.update(
            frames=frames.count, frame_size=f"{frames.width}x{frames.height}", source_fps=frames.fps
        )
        notes.append(
            f"input: {frames.description}: {frames.count} frames at {frames.width}x{frames.height}, "
            "decoded once; every section reads these"
        )

        count = max(frames.count, plan.floor_frames)
        say(f"[2/7] inference floor: each landmarker alone, VIDEO mode, {count} frames...")
        recording = folder / "tracked.jsonl.gz"
        job = FloorJob(frames, settings, paths, parts, count, recording)
        with Worker("floor", write_job(folder, "floor", job), timeout_s=900.0) as worker:
            floor = worker.result()
        tracked = list(RecordingReader(recording).frames())
        results.update({k: v for k, v in floor.items() if not k.startswith("tracked_")})
        notes.append(
            f"floor: {count} frames ({'the clip looped' if count > frames.count else 'the clip'}) "
            "in VIDEO mode, "
            "each model alone, process CPU time (all threads) around each call incl. converting its "
            f"result; the hand landmarker runs in {floor['floor_hand_frames']:.0f} of {count} frames "
            "(as the pipeline's hand planner chooses; none: no hand cost)"
        )

        live: dict[float, Any] = {}
        for step, fps, seconds in ((3, 30.0, plan.live_30_s), (4, 60.0, plan.live_60_s)):
            say(
                f"[{step}/7] live pipeline at {fps:g} fps input for {seconds:g} s "
                f"(deadline {settings.tracking.deadline_ms:g} ms)..."
            )
            live[fps] = run_live(frames, settings, paths, parts, folder, fps=fps, seconds=seconds)
            results[f"load_avg_after_{fps:g}"] = _load()
            if fps == 30.0:
                # The floor again, right after the run it is the baseline of: a shared host's speed
                # drifts over minutes, and the mean of the two brackets the run.
                say(f"[{step}/7] inference floor again, after the 30 fps run...")
                again = FloorJob(frames, settings, paths, parts, count, folder / "tracked_after.jsonl.gz")
                with Worker("floor", write_job(folder, "floor_after", again), timeout_s=900.0) as worker:
                    after = worker.result()
                results["inference_floor_ms_before"] = floor["inference_floor_ms"]
                results["inference_floor_ms_after"] = after["inference_floor_ms"]
                for key in ("inference_floor_ms", "floor_pose_ms", "floor_face_ms", "floor_hand_ms"):
                    results[key] = (floor[key] + after[key]) / 2.0
        l30, l60 = live[30.0].figures, live[60.0].figures
        for fps, fig in ((30, l30), (60, l60)):
            results[f"tracking_complete_fps_{fps}"] = fig["complete_fps"]
            results[f"tracking_out_fps_{fps}"] = fig["out_fps"]
            results[f"tracking_complete_ratio_{fps}"] = fig["complete_ratio"]
            results[f"tracking_latency_p50_ms_{fps}"] = fig["latency_p50_ms"]
            results[f"tracking_latency_p95_ms_{fps}"] = fig["latency_p95_ms"]
            results[f"tracking_partial_{fps}"] = fig["partial"]
            results[f"tracking_cpu_cores_{fps}"] = fig["cpu_cores"]
            if results.get("inference_floor_ms"):
                results[f"tracking_cores_needed_{fps}"] = results["inference_floor_ms"] * fps / 1000.0
        results["tracking_deadline_ms"] = settings.tracking.deadline_ms
        results["tracking_seconds_30"], results["tracking_seconds_60"] = plan.live_30_s, plan.live_60_s
        results["cpu_per_frame_ms"] = l30["cpu_per_frame_ms"]
        results["cpu_mediapipe_ms"] = l30.get("cpu_mediapipe_ms")
        results["cpu_bridge_ms"] = l30.get("cpu_bridge_ms")
        results["cpu_per_frame_ms_60"] = l60["cpu_per_frame_ms"]
        floor_ms = results.get("inference_floor_ms")
        cpu = l30["cpu_per_frame_ms"]
        results["cpu_vs_floor"] = cpu / floor_ms if floor_ms and cpu else None
        results["rss_mb"] = l30["rss_mb"]
        results["rss_vs_floor"] = l30["rss_mb"] / floor["rss_floor_mb"] if floor["rss_floor_mb"] else None
        results["rss_growth_mb"] = l30["rss_growth_mb"]
        results["rss_peak_mb"] = l30["rss_peak_mb"]
        results["rss_seconds"] = plan.live_30_s
        for fps, lr in live.items():
            notes.append(
                f"live {fps:g} fps: run_session with real sinks (Live Link, VMC, OSC → a UDP socket in the "
                f"bench process: {lr.udp_datagrams} datagrams; WebSocket → 1 client: {lr.ws_messages} "
                f"messages), frames looped for {lr.figures['captured']} frames; first 2 s excluded; "
                f"{lr.figures['partial']} partial frames, {lr.figures['dropped']} dropped"
            )
        for fps, fig in ((30, l30), (60, l60)):
            if fig["complete_ratio"] < 0.95:
                needed, got = results.get(f"tracking_cores_needed_{fps}"), fig["cpu_cores"]
                notes.append(
                    f"live {fps} fps: {fig['complete_ratio']:.0%} of frames complete: MediaPipe skipped "
                    "frames it could not keep up with (CPU per submitted frame is then less than the "
                    f"work of a tracked frame). The floor needs {needed or 0:.2f} cores at this rate; the "
                    f"worker got {got or 0:.2f} (load average {results[f'load_avg_after_{fps}'] or 0:.1f} "
                    f"on {os.cpu_count()} cpus at its end)"
                )
        notes.append(
            "CPU: process CPU time (all threads) of the live worker from frame 2 s to the last "
            "frame, / frames submitted; RSS: VmRSS at the end of each worker's frames "
            "(floor: pose, face and hand landmarkers loaded and run; live: the 30 fps run), each "
            "in a fresh process"
        )

        say(f"[5/7] cold start: spawn `mocap-bridge run` → first Live Link datagram, {plan.cold_runs}×...")
        runs = [
            cold_start_s(_source_arg(source), models_dir=models_dir, offline=offline)
            for _ in range(plan.cold_runs)
        ]
        results["cold_start_s"] = statistics.median(runs)
        results["cold_start_runs_s"] = [round(r, 3) for r in runs]
        notes.append(
            f"cold start: median of {len(runs)} (default settings, Live Link only: the face "
            "landmarker starts; models cached)"
        )

        passes = plan.overhead_passes
        say(f"[6/7] overhead: merge + solve + 4 encoders, {passes} passes of {len(tracked)} frames...")
        times = run_overhead(tracked, settings, passes=passes, warmup=min(10, len(tracked) // 2))
        results.update(overhead_summary(times))
        hands = (floor["tracked_hands_0"], floor["tracked_hands_1"], floor["tracked_hands_2"])
        with_all = sum(f.pose is not None and f.face is not None and bool(f.hands) for f in tracked)
        notes.append(
            f"overhead: the {len(tracked)} frames tracked by the floor pass (no hand: {hands[0]}, one: "
            f"{hands[1]}, two: {hands[2]}; face + pose + a hand: {with_all}), looped, ours only "
            "(benchmarks/compare.py times the naive baseline)"
        )
        if hands[1] + hands[2] == 0:
            notes.append("the source shows no hands: the overhead figures cover face and pose only")

        say(f"[7/7] fan-out: {clients} WebSocket clients + 1 stalled, 30 Hz, {plan.fanout_s:g} s a phase...")
        fo = run_fanout(tracked, settings, clients=clients, seconds=plan.fanout_s)
        results.update(
            fanout_clients=fo.clients,
            fanout_min_client_hz=fo.min_client_hz,
            fanout_min_client_hz_no_stall=fo.min_client_hz_no_stall,
            fanout_median_client_hz=fo.median_client_hz,
            fanout_out_hz_no_stall=fo.out_hz_no_stall,
            fanout_out_hz_stall=fo.out_hz_stall,
            fanout_stalled_client_effect=fo.stalled_effect,
            fanout_frame_p50_us_no_stall=fo.send_p50_us_no_stall,
            fanout_frame_p50_us_stall=fo.send_p50_us_stall,
            fanout_ws_dropped=fo.ws_dropped,
        )
        notes.append(
            "fan-out: clients in a subprocess (own asyncio loop); per-frame time = solve + JSON + broadcast"
        )

    results["load_avg_end"] = _load()
    return _finish(results, notes, started, human, as_json)


def _finish(results: dict[str, Any], notes: list[str], started: float, human: Any, as_json: bool) -> int:
    report = finalize(results, notes, elapsed_s=(monotonic_ms() - started) / 1000.0)
    print_table(report, notes, human)
    if as_json:
        print(json.dumps(report), flush=True)
    return 0
