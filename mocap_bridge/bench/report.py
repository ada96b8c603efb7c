"""The bench's targets and its table: pure functions of the results dictionary."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TextIO

__all__ = ["REPORT_KEYS", "ROWS", "TARGETS", "Target", "evaluate", "finalize", "print_table", "rounded"]


@dataclass(frozen=True, slots=True)
class Target:
    key: str
    op: str  # "<=" or ">="
    bound: float
    label: str

    def passed(self, value: Any) -> bool:
        """A missing, non-numeric or NaN value fails."""
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            return False
        return value <= self.bound if self.op == "<=" else value >= self.bound


TARGETS: tuple[Target, ...] = (
    Target("cpu_vs_floor", "<=", 1.15, "live CPU per frame / inference floor"),
    Target("tracking_complete_fps_30", ">=", 29.0, "complete frames/s at 30 fps input"),
    Target("tracking_complete_fps_60", ">=", 57.0, "complete frames/s at 60 fps input"),
    Target("tracking_latency_p95_ms_60", "<=", 40.0, "capture→last sink p95 at 60 fps input (ms)"),
    Target("rss_vs_floor", "<=", 1.5, "live RSS / three plain landmarkers' RSS"),
    Target("cold_start_s", "<=", 3.0, "process start → first frame sent (s)"),
    Target("overhead_p99_us", "<=", 500.0, "merge + solve + 4 encoders p99 (µs/frame)"),
    Target("fanout_min_client_hz", ">=", 29.0, "slowest of N clients, stalled one present (Hz)"),
    Target("fanout_stalled_client_effect", ">=", 0.97, "output rate with / without stalled client"),
    Target("rss_growth_mb", "<=", 20.0, "RSS growth over the live run (MB)"),
)

#: Every figure ``--json`` always carries (None when a section could not measure it).
REPORT_KEYS: tuple[str, ...] = (
    "inference_floor_ms", "inference_floor_ms_before", "inference_floor_ms_after",
    "floor_pose_ms", "floor_face_ms", "floor_hand_ms",
    "cpu_per_frame_ms", "cpu_mediapipe_ms", "cpu_bridge_ms", "cpu_per_frame_ms_60", "cpu_vs_floor",
    "tracking_complete_fps_30", "tracking_complete_fps_60",
    "tracking_latency_p50_ms_30", "tracking_latency_p50_ms_60",
    "tracking_latency_p95_ms_30", "tracking_latency_p95_ms_60",
    "rss_mb", "rss_floor_mb", "rss_vs_floor", "rss_growth_mb",
    "cold_start_s", "overhead_p50_us", "overhead_p99_us", "overhead_frame_min_p99_us",
    "fanout_min_client_hz", "fanout_stalled_client_effect",
)  # fmt: skip

ROWS: tuple[tuple[str, str], ...] = (
    ("load_avg_start", "load average (1 min) at start, this machine"),
    ("load_avg_end", "load average (1 min) at end"),
    ("inference_floor_ms", "inference floor: pose + face + hands as used (CPU ms/frame)"),
    ("inference_floor_ms_before", "  measured before the 30 fps run"),
    ("inference_floor_ms_after", "  measured after it"),
    ("floor_pose_ms", "  pose landmarker alone (CPU ms/frame)"),
    ("floor_face_ms", "  face landmarker alone (CPU ms/frame)"),
    ("floor_hand_ms", "  hand landmarker, hands the pose sees (CPU ms/frame)"),
    ("cpu_per_frame_ms", "live pipeline at 30 fps (CPU ms/frame)"),
    ("cpu_per_frame_ms_60", "live pipeline at 60 fps (CPU ms/frame)"),
    ("cpu_mediapipe_ms", "  of which MediaPipe's threads (CPU ms/frame)"),
    ("cpu_bridge_ms", "  of which the bridge's threads (CPU ms/frame)"),
    ("cpu_vs_floor", "live CPU / inference floor (30 fps)"),
    ("tracking_cpu_cores_30", "  cores the live worker used, 30 fps in"),
    ("tracking_cores_needed_30", "  cores the floor needs at 30 fps"),
    ("tracking_complete_fps_30", "complete frames/s, 30 fps in"),
    ("tracking_latency_p50_ms_30", "  capture→sent p50 (ms)"),
    ("tracking_latency_p95_ms_30", "  capture→sent p95 (ms)"),
    ("tracking_cpu_cores_60", "  cores the live worker used, 60 fps in"),
    ("tracking_cores_needed_60", "  cores the floor needs at 60 fps"),
    ("tracking_complete_fps_60", "complete frames/s, 60 fps in"),
    ("tracking_latency_p50_ms_60", "  capture→sent p50 (ms)"),
    ("tracking_latency_p95_ms_60", "  capture→sent p95 (ms)"),
    ("rss_mb", "RSS of the live run (MB)"),
    ("rss_floor_mb", "RSS of three plain landmarkers (MB)"),
    ("rss_vs_floor", "RSS live / floor"),
    ("rss_growth_mb", "RSS growth over the live run (MB)"),
    ("cold_start_s", "cold start: spawn → first datagram (s)"),
    ("overhead_p50_us", "overhead p50: merge + solve + encoders (µs/frame)"),
    ("overhead_p99_us", "overhead p99 (µs/frame)"),
    ("overhead_cpu_p50_us", "  thread CPU time p50 (µs/frame)"),
    ("overhead_cpu_p99_us", "  thread CPU time p99 (µs/frame)"),
    ("overhead_frame_min_p99_us", "  p99 of each frame's fastest pass (µs)"),
    ("fanout_clients", "WebSocket clients (+1 stalled)"),
    ("fanout_min_client_hz", "slowest client, stalled present (Hz)"),
    ("fanout_min_client_hz_no_stall", "slowest client, no stalled (Hz)"),
    ("fanout_stalled_client_effect", "output rate with / without stalled"),
)

_STAGES = ("merge", "solve", "livelink", "vmc", "osc", "ws_json")


def rounded(values: Mapping[str, Any], digits: int = 3) -> dict[str, Any]:
    """Floats rounded for the JSON (NaN becomes None: JSON has no NaN)."""
    out: dict[str, Any] = {}
    for k, v in values.items():
        if isinstance(v, float):
            out[k] = None if not math.isfinite(v) else round(v, digits)
        else:
            out[k] = v
    return out


def evaluate(results: Mapping[str, Any]) -> dict[str, bool]:
    """Pass/fail of every target (a figure that is missing fails)."""
    return {t.key: t.passed(results.get(t.key)) for t in TARGETS}


def finalize(results: Mapping[str, Any], notes: list[str], *, elapsed_s: float) -> dict[str, Any]:
    """The JSON object: every :data:`REPORT_KEYS` key (None if unmeasured), rounded, with targets."""
    report = rounded({**dict.fromkeys(REPORT_KEYS), **results})
    report["targets"] = evaluate(report)
    report["elapsed_s"] = round(elapsed_s, 1)
    report["notes"] = list(notes)
    return report


def print_table(results: Mapping[str, Any], notes: list[str], out: TextIO) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=out, highlight=False, width=110)
    table = Table(title="mocap-bridge bench" + (" (--quick)" if results.get("quick") else ""))
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    table.add_column("", justify="center")
    targets = {t.key: t for t in TARGETS}
    for key, label in ROWS:
        value = results.get(key)
        target = targets.get(key)
        if value is None and target is None:
            continue
        mark = ("[green]PASS[/]" if target.passed(value) else "[red]FAIL[/]") if target else ""
        shown = "—" if value is None else f"{value:,.2f}" if isinstance(value, float) else str(value)
        table.add_row(label, shown, f"{target.op} {target.bound:g}" if target else "", mark)
        if key == "overhead_p99_us":
            for s in _STAGES:
                stage = results.get(f"overhead_{s}_p50_us")
                if stage is not None:
                    table.add_row(f"  {s} p50 (µs)", f"{stage:,.1f}", "", "")
    console.print(table)
    for note in notes:
        console.print(f"• {note}")
    passed = evaluate(results)
    console.print(f"targets met: {sum(passed.values())}/{len(passed)}")
