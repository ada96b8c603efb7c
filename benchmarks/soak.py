"""Soak: the live pipeline on real footage for N minutes while its outputs and input misbehave.

Run from the repository root (the shared media folder ``../shared/media`` beside the checkout)::

    python benchmarks/soak.py --minutes 10 --source ../shared/media/fist_thumbs_up.mp4 [--json]

A worker process (``soak.py --worker JOB``) runs :func:`mocap_bridge.app.run_session` exactly as
``mocap-bridge run`` does live: LIVE_STREAM MediaPipe, assembler, solver and the real sinks from
:func:`mocap_bridge.sinks.build_sinks` (Live Link and VMC to two UDP receivers on 127.0.0.1, the
WebSocket server on 127.0.0.1:0), plus a probe sink that records every frame the pipeline sent.
Its source is the clip decoded once and looped at 30 fps by :class:`SoakSource`, which also stalls
for 2 s once and releases one bad frame a minute (a 640×1 strip: what the capture stage makes of a
2000×1 image; a 1×1 image; an all-black frame). This process is every receiver, so their work is
not billed to the pipeline's CPU or memory:

* the two UDP receivers are restarted a few times (socket closed, ~1 s, the same port bound again);
* WebSocket clients churn (connect, read a few frames, leave, every 2 s), one stalls (raw TCP,
  completes the handshake, never reads; a second one is opened 6 s before the end so shutdown
  meets a stalled client still connected), one floods (messages of the server's ``max_message``
  bytes as fast as it can, in bursts);
* ONE healthy client reads everything.

Figures (targets from issue 10): frames the pipeline sent that the healthy client did not receive
(0); recovery after each UDP restart (re-bind → first datagram) and after the source stall
(resume → next frame at the healthy client), ≤ 1 s; each bad frame may cost at most itself: no
error in the pipeline or an encoder, and the next frame reaches the healthy client within 1 s
(how many frames MediaPipe skipped in the 30 after it, beyond the 30 before, is printed too: it
is not a check, because on a loaded machine those skips come in bursts of 5-15 whatever the
input); RSS growth from a quarter of the run to the end (≤ 20 MB);
shutdown (source ended → ``run_session`` returned, ≤ 2 s). The stream must also go on after every
fault: the healthy client receives frames after each one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from mocap_bridge.bench.clip import FrameFile, FrameReader, decode_source
from mocap_bridge.bench.memory import rss_mb
from mocap_bridge.bench.worker import emit, read_job, write_job
from mocap_bridge.capture.sources import CapturedFrame
from mocap_bridge.clock import monotonic_ms
from mocap_bridge.errors import MocapBridgeError
from mocap_bridge.frames import RigFrame
from mocap_bridge.settings import Settings

FPS = 30.0
STALL_S = 2.0
UDP_DOWN_S = 1.0
#: Targets (issue 10, "Soak").
TARGET_LOST = 0
TARGET_RECOVERY_S = 1.0
TARGET_SHUTDOWN_S = 2.0
TARGET_RSS_GROWTH_MB = 20.0
#: Frames after a bad one that must all be sent for it to have cost only itself.
BAD_WINDOW = 30
BAD_KINDS = ("strip_640x1", "tiny_1x1", "black")


# ---------------------------------------------------------------------------------- schedule
@dataclass(frozen=True, slots=True)
class Schedule:
    """When each fault happens, in seconds after the source's first frame (pure: from minutes)."""

    seconds: float
    source_stall_s: float
    bad_frames_s: tuple[float, ...]
    udp_restarts_s: tuple[float, ...]
    floods_s: tuple[float, ...]
    flood_len_s: float
    stall_clients_s: tuple[float, ...]
    churn_s: tuple[float, float]


def make_schedule(minutes: float) -> Schedule:
    """Faults spread over the run, the source stall kept ≥ 4 s away from the UDP restarts and bad
    frames so each recovery is measured on its own. At least one bad frame of each kind."""
    total = minutes * 60.0
    stall = 0.55 * total
    n_bad = max(len(BAD_KINDS), round(minutes))
    n_udp = max(2, min(5, round(minutes / 2)))
    n_flood = max(2, round(minutes / 2))

    def spread(n: int, lo: float, hi: float, offset: float) -> list[float]:
        return [lo + (hi - lo) * (k + offset) / n for k in range(n)]

    def away(times: list[float]) -> tuple[float, ...]:
        return tuple(t + 8.0 if abs(t - stall) < 4.0 else t for t in times)

    return Schedule(
        seconds=total,
        source_stall_s=stall,
        bad_frames_s=away(spread(n_bad, 0.1 * total, 0.9 * total, 0.5)),
        udp_restarts_s=away(spread(n_udp, 0.15 * total, 0.85 * total, 0.3)),
        floods_s=tuple(spread(n_flood, 0.1 * total, 0.85 * total, 0.7)),
        flood_len_s=min(5.0, 0.05 * total),
        stall_clients_s=(min(5.0, 0.1 * total), total - 6.0),
        churn_s=(min(3.0, 0.05 * total), total - 4.0),
    )


# ---------------------------------------------------------------------------------- worker side
@dataclass(frozen=True, slots=True)
class SoakJob:
    frames: FrameFile
    settings: Settings  #: outputs already pointed at the parent's receivers
    model_paths: dict[str, Path]
    parts: tuple[bool, bool, bool]
    fps: float
    schedule: Schedule


def bad_frame(kind: str, height: int, width: int) -> np.ndarray:
    """A frame the capture stage lets through (``to_bgr8`` + downscale) but nobody wants."""
    if kind == "strip_640x1":  # a 2000×1 image after the 640 px downscale
        return np.full((1, 640, 3), 128, dtype=np.uint8)
    if kind == "tiny_1x1":
        return np.full((1, 1, 3), 128, dtype=np.uint8)
    return np.zeros((height, width, 3), dtype=np.uint8)


class SoakSource:
    """A FrameSource: the clip looped at ``fps`` in real time, with the source-side faults."""

    def __init__(self, reader: FrameReader, fps: float, schedule: Schedule) -> None:
        self.description = f"soak: clip looped at {fps:g} fps"
        self.fps = fps
        self._reader = reader
        self.count = math.floor(schedule.seconds * fps)
        self.stall_index = round(schedule.source_stall_s * fps)
        self.bad = {
            round(t * fps): BAD_KINDS[k % len(BAD_KINDS)] for k, t in enumerate(schedule.bad_frames_s)
        }
        self.first_ms = self.resume_ms = self.end_ms = 0.0
        self.bad_released: list[tuple[int, str, float]] = []  # (index, kind, monotonic ms)
        self.rss: list[tuple[float, float]] = []  # (s after start, MiB)

    def frames(self) -> Iterator[CapturedFrame]:
        period = 1000.0 / self.fps
        spec = self._reader.spec
        start = monotonic_ms()
        self.first_ms = start
        emit(running=start)
        last = -1
        next_rss = start
        for i in range(self.count):
            if i == self.stall_index:  # the camera stops delivering for a while
                time.sleep(STALL_S)
                start += STALL_S * 1000.0
                self.resume_ms = monotonic_ms()
            kind = self.bad.get(i)
            rgb = bad_frame(kind, spec.height, spec.width) if kind else self._reader.read(i)
            due = start + i * period
            now = monotonic_ms()
            if due > now:
                time.sleep((due - now) / 1000.0)
            now = monotonic_ms()
            if now >= next_rss:
                self.rss.append(((now - self.first_ms) / 1000.0, rss_mb()))
                next_rss = now + 1000.0
            if kind:
                self.bad_released.append((i, kind, now))
            t = max(math.floor(now), last + 1)
            last = t
            yield CapturedFrame(i, t, rgb)
        self.end_ms = monotonic_ms()
        self.rss.append(((self.end_ms - self.first_ms) / 1000.0, rss_mb()))

    def close(self) -> None:
        pass


@dataclass(slots=True)
class SendProbe:
    """The last sink: every frame index the pipeline sent, and when. Before the run starts it tells
    the parent the WebSocket port and waits for the healthy client."""

    ws: Any
    name: str = "probe"
    indices: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)

    async def start(self) -> None:
        emit(ws_port=self.ws.port)
        for _ in range(3000):  # up to 30 s for the parent's healthy client
            if self.ws.server.clients >= 1:
                return
            await asyncio.sleep(0.01)
        raise MocapBridgeError("soak: the healthy WebSocket client never connected")

    def send(self, frame: RigFrame) -> None:
        self.indices.append(frame.index)
        self.times.append(monotonic_ms())

    def status(self) -> str:
        return f"probe {len(self.indices)}"

    async def aclose(self) -> None:
        pass


def soak_worker(job: SoakJob) -> dict[str, Any]:
    from mocap_bridge.app import RunOptions, run_session
    from mocap_bridge.clock import wall_offset_ms
    from mocap_bridge.sinks import WebSocketSink, build_sinks
    from mocap_bridge.solve.rig import RigSolver

    sinks: list[Any] = build_sinks(
        job.settings, stream_rate_hz=job.fps, wall_clock_offset_ms=wall_offset_ms()
    )
    ws = next(s for s in sinks if isinstance(s, WebSocketSink))
    probe = SendProbe(ws)
    sinks.append(probe)
    with job.frames.reader() as reader:
        source = SoakSource(reader, job.fps, job.schedule)
        result = run_session(
            job.settings,
            source,
            RigSolver(job.settings).solve,
            sinks,
            opts=RunOptions(quiet=True),
            model_paths=job.model_paths,
            parts=job.parts,
        )
    returned = monotonic_ms()
    stats = result.stats
    return {
        "sent_indices": probe.indices,
        "sent_times": probe.times,
        "first_ms": source.first_ms,
        "resume_ms": source.resume_ms,
        "end_ms": source.end_ms,
        "returned_ms": returned,
        "stall_index": source.stall_index,
        "bad": source.bad_released,
        "rss": source.rss,
        "captured": stats.captured,
        "emitted": stats.emitted,
        "partial": stats.partial,
        "dropped": stats.dropped,
        "errors": stats.errors,
        "sinks": {
            s.name: {"sent": s.sent, "dropped": s.dropped, "encode_errors": s.encode_errors}
            for s in sinks
            if hasattr(s, "encode_errors")
        },
        "ws_connections": ws.server.connections,
        "ws_dropped": ws.server.dropped,
    }


# ---------------------------------------------------------------------------------- parent side
class UdpReceiver:
    """One UDP receiver on a thread; :meth:`restart` closes it, waits, binds the same port again."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sock = self._bind(0)
        self.port = int(self.sock.getsockname()[1])
        self.datagrams = 0
        self.last_ms = 0.0
        self.restarts: list[dict[str, Any]] = []  # rebind_ms, first_ms
        self._restart = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"soak-udp-{name}", daemon=True)
        self._thread.start()

    @staticmethod
    def _bind(port: int) -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.bind(("127.0.0.1", port))
        s.settimeout(0.05)
        return s

    def _run(self) -> None:
        pending: dict[str, Any] | None = None
        while not self._stop.is_set():
            if self._restart.is_set():
                self._restart.clear()
                self.sock.close()
                down = monotonic_ms()
                time.sleep(UDP_DOWN_S)
                self.sock = self._bind(self.port)
                pending = {"down_ms": down, "rebind_ms": monotonic_ms(), "first_ms": None}
                self.restarts.append(pending)
            try:
                self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            now = monotonic_ms()
            self.datagrams += 1
            self.last_ms = now
            if pending is not None:
                pending["first_ms"] = now
                pending = None

    def restart(self) -> None:
        self._restart.set()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
        self.sock.close()


_FRAME_INDEX = re.compile(rb'"type":\s*"frame",\s*"index":\s*(\d+)')


class HealthyClient:
    """The one client no fault targets: reads every message; frame index and arrival time."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.indices: list[int] = []
        self.times: list[float] = []
        self.error: str | None = None
        self.connected = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-healthy", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from websockets.exceptions import ConnectionClosed
        from websockets.sync.client import connect

        try:
            with connect(
                f"ws://127.0.0.1:{self.port}/", open_timeout=30, max_size=None, compression=None
            ) as ws:
                self.connected.set()
                while True:
                    msg = ws.recv()
                    now = monotonic_ms()
                    data = msg.encode() if isinstance(msg, str) else msg
                    m = _FRAME_INDEX.search(data, 0, 300)
                    if m is not None:
                        self.indices.append(int(m.group(1)))
                        self.times.append(now)
        except ConnectionClosed:
            return  # the server closing at the end of the run
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


def _stalled_client(port: int) -> socket.socket:
    """Completes the WebSocket handshake and never reads again (tiny receive buffer)."""
    from mocap_bridge.bench.fanout_clients import _stalled

    return _stalled(port)


class Faults:
    """The parent's faults on their schedule, each on its own thread; records what happened."""

    def __init__(self, schedule: Schedule, port: int, udp: list[UdpReceiver], max_message: int) -> None:
        self.schedule = schedule
        self.port = port
        self.udp = udp
        self.max_message = max_message
        self.t0 = 0.0
        self.stop = threading.Event()
        self.stalled: list[socket.socket] = []
        self.stall_times: list[float] = []
        self.churn_cycles = 0
        self.churn_failures: list[str] = []
        self.floods: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self._threads: list[threading.Thread] = []

    def start(self, t0_ms: float) -> None:
        self.t0 = t0_ms
        for target in (self._timeline, self._churn, self._flood):
            t = threading.Thread(
                target=self._guard, args=(target,), name=f"soak-{target.__name__}", daemon=True
            )
            t.start()
            self._threads.append(t)

    def _guard(self, target: Any) -> None:
        try:
            target()
        except Exception as exc:  # recorded and reported, never silent
            self.errors.append(f"{target.__name__}: {type(exc).__name__}: {exc}")

    def _wait_until(self, t_s: float) -> bool:
        """Sleep until ``t_s`` after the start; False if the run is stopping."""
        delay = self.t0 / 1000.0 + t_s - monotonic_ms() / 1000.0
        return not self.stop.wait(max(0.0, delay))

    def _timeline(self) -> None:
        events = [(t, "udp") for t in self.schedule.udp_restarts_s]
        events += [(t, "stall") for t in self.schedule.stall_clients_s]
        for t, what in sorted(events):
            if not self._wait_until(t):
                return
            if what == "udp":
                for r in self.udp:
                    r.restart()
            else:
                self.stalled.append(_stalled_client(self.port))
                self.stall_times.append(monotonic_ms())

    def _churn(self) -> None:
        from websockets.sync.client import connect

        lo, hi = self.schedule.churn_s
        if not self._wait_until(lo):
            return
        while monotonic_ms() / 1000.0 < self.t0 / 1000.0 + hi and not self.stop.is_set():
            try:
                with connect(f"ws://127.0.0.1:{self.port}/", open_timeout=10, compression=None) as ws:
                    ws.recv(timeout=5)  # hello
                    for _ in range(3):
                        ws.recv(timeout=5)
                self.churn_cycles += 1
            except Exception as exc:
                self.churn_failures.append(f"{type(exc).__name__}: {exc}")
            if self.stop.wait(2.0):
                return

    def _flood(self) -> None:
        from websockets.sync.client import connect

        text = "x" * self.max_message  # ASCII: exactly max_message bytes, the most the server takes
        for t in self.schedule.floods_s:
            if not self._wait_until(t):
                return
            began = monotonic_ms()
            sent = 0
            error = None
            try:
                with connect(f"ws://127.0.0.1:{self.port}/", open_timeout=10, compression=None) as ws:
                    while (
                        monotonic_ms() - began < self.schedule.flood_len_s * 1000.0 and not self.stop.is_set()
                    ):
                        ws.send(text)
                        sent += 1
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
            self.floods.append(
                {"start_ms": began, "end_ms": monotonic_ms(), "messages": sent, "error": error}
            )

    def close(self) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(10.0)
        for s in self.stalled:
            s.close()


def _next_after(times: list[float], t: float) -> float | None:
    """The first time in the sorted ``times`` after ``t``."""
    i = int(np.searchsorted(times, t, side="right"))
    return times[i] if i < len(times) else None


def _check(name: str, value: Any, target: str, ok: bool) -> dict[str, Any]:
    return {"name": name, "value": value, "target": target, "pass": bool(ok)}


def summarise(w: dict[str, Any], client: HealthyClient, udp: list[UdpReceiver], faults: Faults,
              schedule: Schedule) -> dict[str, Any]:  # fmt: skip
    """The figures and their checks from what the worker sent and the receivers saw."""
    sent = w["sent_indices"]
    got = set(client.indices)
    lost = [i for i in sent if i not in got]
    recv_times = client.times

    # Recovery after each UDP restart: re-bind → first datagram.
    udp_rec: list[dict[str, Any]] = []
    for r in udp:
        for ev in r.restarts:
            first = ev["first_ms"]
            udp_rec.append(
                {
                    "receiver": r.name,
                    "recovery_s": None if first is None else (first - ev["rebind_ms"]) / 1000.0,
                }
            )
    # Source stall: resume → the next frame at the healthy client.
    nxt = _next_after(recv_times, w["resume_ms"]) if w["resume_ms"] else None
    stall_rec = None if nxt is None else (nxt - w["resume_ms"]) / 1000.0
    # Bad frames: frames around each one the pipeline did not send; time to the next frame after it.
    sent_set = set(sent)
    bad: list[dict[str, Any]] = []
    for index, kind, t in w["bad"]:
        # MediaPipe skips frames when it is busy (the assembler drops a frame nobody answered), so the
        # bad frame's cost is what went unsent from it on beyond what went unsent just before it.
        unsent = [k for k in range(BAD_WINDOW) if index + k < w["captured"] and index + k not in sent_set]
        unsent_before = sum(1 for i in range(max(0, index - BAD_WINDOW), index) if i not in sent_set)
        after = _next_after(recv_times, t)
        bad.append({"index": index, "kind": kind, "excess_skipped": max(0, len(unsent) - unsent_before),
                    "unsent_after": len(unsent), "unsent_offsets": unsent, "unsent_before": unsent_before,
                    "next_frame_s": None if after is None else (after - t) / 1000.0})  # fmt: skip
    # The stream goes on after every fault: a frame reaches the healthy client after each one ends.
    fault_ends = [("udp_restart", ev["rebind_ms"]) for r in udp for ev in r.restarts]
    fault_ends += [("source_stall", w["resume_ms"])] if w["resume_ms"] else []
    fault_ends += [("bad_frame", t) for _, _, t in w["bad"]]
    fault_ends += [("flood", f["end_ms"]) for f in faults.floods]
    fault_ends += [("stalled_client", t) for t in faults.stall_times]
    went_on = {name: 0 for name, _ in fault_ends}
    stopped_after = []
    fault_log = []
    for name, t in sorted(fault_ends, key=lambda e: e[1]):
        nxt_t = _next_after(recv_times, t)
        fault_log.append(
            {
                "fault": name,
                "at_s": round((t - w["first_ms"]) / 1000.0, 2),
                "next_frame_s": None if nxt_t is None else round((nxt_t - t) / 1000.0, 3),
            }
        )
        if nxt_t is not None:
            went_on[name] += 1
        else:
            stopped_after.append(f"{name} at {fault_log[-1]['at_s']} s")
    # RSS: from the first sample at a quarter of the run to the last.
    rss = w["rss"]
    late: list[float] = [mb for t, mb in rss if t >= 0.25 * schedule.seconds] or [rss[-1][1]]
    growth = late[-1] - late[0]
    shutdown = (w["returned_ms"] - w["end_ms"]) / 1000.0
    udp_values: list[float | None] = [r["recovery_s"] for r in udp_rec]
    measured = [v for v in udp_values if v is not None]
    worst_udp = max(measured) if measured and len(measured) == len(udp_values) else None
    bad_next: list[float | None] = [b["next_frame_s"] for b in bad]
    worst_bad = max((v for v in bad_next if v is not None), default=None)
    errors = w["errors"] + sum(int(v["encode_errors"]) for v in w["sinks"].values())
    expected_udp = len(schedule.udp_restarts_s) * len(udp)
    checks = [
        _check(
            "frames lost by the healthy client", len(lost), "0", len(lost) == TARGET_LOST and len(sent) > 0
        ),
        _check(
            "UDP recovery, worst (s)",
            worst_udp,
            "<= 1",
            worst_udp is not None and worst_udp <= TARGET_RECOVERY_S and len(udp_rec) == expected_udp,
        ),
        _check(
            "source stall recovery (s)",
            stall_rec,
            "<= 1",
            stall_rec is not None and stall_rec <= TARGET_RECOVERY_S,
        ),
        _check(
            "bad frames: next frame at the healthy client, worst (s)",
            worst_bad,
            "<= 1",
            worst_bad is not None
            and None not in bad_next
            and worst_bad <= TARGET_RECOVERY_S
            and len(bad) == len(schedule.bad_frames_s),
        ),
        _check("pipeline and encoder errors", errors, "0", errors == 0),
        _check("stream went on after every fault", not stopped_after, "yes", not stopped_after),
        _check("RSS growth (MB)", round(growth, 1), "<= 20", growth <= TARGET_RSS_GROWTH_MB),
        _check("shutdown (s)", round(shutdown, 3), "<= 2", shutdown <= TARGET_SHUTDOWN_S),
        _check("fault drivers ran without error", faults.errors, "none", not faults.errors),
    ]
    run_s = (w["end_ms"] - w["first_ms"]) / 1000.0
    return {
        "seconds": round(run_s, 1),
        "captured": w["captured"],
        "sent_by_pipeline": len(sent),
        "received_by_healthy_client": len(client.indices),
        "healthy_client_error": client.error,
        "lost_by_healthy_client": len(lost),
        "lost_indices": lost[:20],
        "udp_recovery": udp_rec,
        "source_stall_recovery_s": stall_rec,
        "bad_frames": bad,
        "faults_followed_by_frames": went_on,
        "stream_stopped_after": stopped_after,
        "last_frame_at_s": round((recv_times[-1] - w["first_ms"]) / 1000.0, 2) if recv_times else None,
        "fault_log": fault_log,
        "rss_start_mb": round(late[0], 1),
        "rss_end_mb": round(late[-1], 1),
        "rss_growth_mb": round(growth, 1),
        "shutdown_s": round(shutdown, 3),
        "stalled_clients_opened": len(faults.stall_times),
        "churn_cycles": faults.churn_cycles,
        "churn_failures": faults.churn_failures[:5],
        "floods": [{"messages": f["messages"], "error": f["error"]} for f in faults.floods],
        "udp_datagrams": {r.name: r.datagrams for r in udp},
        "pipeline": {k: w[k] for k in ("emitted", "partial", "dropped", "errors")},
        "sinks": w["sinks"],
        "ws_connections": w["ws_connections"],
        "ws_dropped_slow_clients": w["ws_dropped"],
        "checks": checks,
        "pass": all(c["pass"] for c in checks),
    }


def run_soak(
    minutes: float,
    source: str,
    *,
    fps: float = FPS,
    models_dir: Path | None = None,
    offline: bool = False,
    say: Any = None,
) -> dict[str, Any]:
    """One soak run of ``minutes`` on ``source`` (a video or image); the figures and checks."""
    from mocap_bridge.app import parts_in_use
    from mocap_bridge.settings import load_settings
    from mocap_bridge.tracking.offline import resolve_model_paths

    def note(msg: str) -> None:
        if say is not None:
            say(msg)

    if minutes < 1.0:
        raise MocapBridgeError("soak: --minutes must be at least 1 (the faults need room)")
    schedule = make_schedule(minutes)
    udp = [UdpReceiver("livelink"), UdpReceiver("vmc")]
    settings = load_settings()
    settings = settings.replace("livelink", enabled=True, targets=[f"127.0.0.1:{udp[0].port}"])
    settings = settings.replace("vmc", enabled=True, targets=[f"127.0.0.1:{udp[1].port}"])
    settings = settings.replace("osc", enabled=False)
    settings = settings.replace("ws", enabled=True, listen="127.0.0.1:0", token="")
    parts = parts_in_use(settings)
    tracking = replace(settings.tracking, pose=parts[0], face=parts[1], hands=parts[2])
    paths = resolve_model_paths(tracking, models_dir=models_dir, offline=offline, say=note)
    client: HealthyClient | None = None
    faults: Faults | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="mocap-soak-") as tmp:
            folder = Path(tmp)
            frames = decode_source(source, folder, max_frames=int(60 * fps))
            note(f"soak: {frames.count} frames of {frames.description}, {minutes:g} min at {fps:g} fps")
            # Plain values only: this module is ``__main__`` in one process and imported in another.
            job = {"frames": frames, "settings": settings, "model_paths": paths, "parts": parts, "fps": fps,
                   "schedule": asdict(schedule)}  # fmt: skip
            path = write_job(folder, "soak", job)
            env = {**os.environ, "GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2"}
            worker = str(Path(__file__).resolve())
            proc = subprocess.Popen(
                [sys.executable, worker, "--worker", str(path)],
                stdout=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                text=True,
                env=env,
            )
            timer = threading.Timer(schedule.seconds + 240.0, proc.kill)
            timer.daemon = True
            timer.start()
            result: dict[str, Any] | None = None
            try:
                assert proc.stdout is not None
                for line in proc.stdout:
                    try:
                        msg = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a library printed to stdout
                    if "error" in msg:
                        raise MocapBridgeError(f"soak worker: {msg['error']}")
                    if "ws_port" in msg:
                        client = HealthyClient(int(msg["ws_port"]))
                        faults = Faults(schedule, int(msg["ws_port"]), udp, settings.ws.max_message)
                    elif "running" in msg and faults is not None:
                        faults.start(float(msg["running"]))
                    elif "result" in msg:
                        result = msg["result"]
                        break
            finally:
                timer.cancel()
                code = proc.wait(30)
                if proc.stdout is not None:
                    proc.stdout.close()
            if result is None:
                raise MocapBridgeError(f"soak worker exited with code {code} before its result")
    finally:
        if faults is not None:
            faults.close()
        if client is not None:
            client.join(5.0)
        for r in udp:
            r.close()
    assert client is not None and faults is not None
    return summarise(result, client, udp, faults, schedule)


def _human(fig: dict[str, Any]) -> str:
    lines = [f"soak: {fig['seconds']} s, {fig['captured']} frames captured, {fig['sent_by_pipeline']} sent, "
             f"{fig['received_by_healthy_client']} received by the healthy client"]  # fmt: skip
    for r in fig["udp_recovery"]:
        lines.append(f"  UDP {r['receiver']} restart: recovery {r['recovery_s']} s")
    lines.append(f"  source stall {STALL_S:g} s: recovery {fig['source_stall_recovery_s']} s")
    for b in fig["bad_frames"]:
        lines.append(f"  bad frame {b['index']} ({b['kind']}): next frame after {b['next_frame_s']} s; "
                     f"{b['excess_skipped']} more frame(s) skipped after it than before")  # fmt: skip
    lines.append(f"  WebSocket: {fig['ws_connections']} connections, {fig['churn_cycles']} churn cycles, "
                 f"{fig['stalled_clients_opened']} stalled, floods {[f['messages'] for f in fig['floods']]} "
                 f"messages, {fig['ws_dropped_slow_clients']} frames skipped for slow clients")  # fmt: skip
    lines.append(f"  RSS {fig['rss_start_mb']} → {fig['rss_end_mb']} MB; pipeline {fig['pipeline']}")
    if fig["stream_stopped_after"]:
        lines.append(f"  no frame reached the healthy client after: {fig['stream_stopped_after']}")
    for c in fig["checks"]:
        lines.append(f"  {'PASS' if c['pass'] else 'FAIL'}  {c['name']}: {c['value']} (target {c['target']})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument(
        "--source", default=str(Path(__file__).resolve().parents[2] / "shared/media/fist_thumbs_up.mp4")
    )
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--models-dir", type=Path)
    ap.add_argument("--offline", action="store_true")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        import logging

        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        try:
            raw = read_job(args.worker)
            job = SoakJob(**{**raw, "schedule": Schedule(**raw["schedule"])})
            emit(result=soak_worker(job))
        except MocapBridgeError as exc:
            emit(error=str(exc))
            return 2
        return 0
    try:
        fig = run_soak(args.minutes, args.source, models_dir=args.models_dir, offline=args.offline,
                       say=lambda m: print(m, file=sys.stderr, flush=True))  # fmt: skip
    except MocapBridgeError as exc:
        print(f"soak: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(fig) if args.json else _human(fig))
    return 0


if __name__ == "__main__":
    sys.exit(main())
