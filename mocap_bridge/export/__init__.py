"""Export a recording to files animators import: BVH, Live Link Face CSV, VRM Animation, CSV.

:func:`export_recording` solves a recording with a fresh :class:`~mocap_bridge.solve.rig.RigSolver`
built from the same settings as ``run`` and feeds the writers (``bvh``, ``llf_csv``, ``vrma``,
``table_csv``: pure functions of the RigFrames). The solver is deterministic and depends only on
the frames and their ``t_ms``, so the exported values are the values ``run --source REC`` sends
(tests/test_export_roundtrip.py checks it against real VMC and Live Link receivers).
"""

from __future__ import annotations

import contextlib
import gzip
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Protocol

import numpy.typing as npt

from ..errors import MocapBridgeError
from ..frames import RigFrame, TrackedFrame
from ..protocols.livelink import LiveLinkEncoder
from ..protocols.vmc import ExpressionMap
from ..recording import RecordingReader
from ..solve.maps import BoneMap
from ._common import frame_times_s, resample
from .bvh import write_bvh
from .llf_csv import write_llf_csv
from .table_csv import write_table_csv
from .vrma import write_vrma

__all__ = [
    "FORMATS",
    "ExportError",
    "ExportResult",
    "default_output",
    "export_recording",
    "render",
    "solve_recording",
    "start_of_day_from_header",
]

#: Format name -> default file suffix (appended to the recording's stem).
FORMATS: dict[str, str] = {"bvh": ".bvh", "llf-csv": "_llf.csv", "vrma": ".vrma", "csv": "_frames.csv"}


class ExportError(MocapBridgeError):
    """An export cannot be made: unknown format, nothing to export, or an unwritable output."""


class _Solver(Protocol):
    bone_map: BoneMap

    def solve(self, frame: TrackedFrame) -> RigFrame: ...


@dataclass(frozen=True, slots=True)
class ExportResult:
    path: Path
    fmt: str
    frames: int  #: frames written
    solved: int  #: frames read and solved


def default_output(recording: str | Path, fmt: str) -> Path:
    """``take.jsonl.gz`` -> ``take.bvh`` (``_llf.csv``, ``.vrma``, ``_frames.csv``) beside it."""
    p = Path(recording)
    name = p.name
    for ext in (".jsonl.gz", ".jsonl"):
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
            break
    return p.with_name(name + FORMATS[fmt])


def start_of_day_from_header(header: dict[str, object]) -> float:
    """Local time of day (s) at which the recording was created: the first frame's capture time
    to within the writer's start-up; 0 when the header has no valid ``created``."""
    created = header.get("created")
    if not isinstance(created, str):
        return 0.0
    try:
        local = datetime.fromisoformat(created).astimezone()
    except ValueError:
        return 0.0
    return local.hour * 3600.0 + local.minute * 60.0 + local.second + local.microsecond / 1e6


def _count_frames(path: Path) -> int | None:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            return max(0, sum(1 for line in f if line.strip()) - 1)
    except (OSError, EOFError):
        return None  # the reader reports it properly


@contextlib.contextmanager
def _progress(total: int | None, enabled: bool) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr (when enabled and worth it), else a no-op."""
    if not enabled or total is None or total < 300:
        yield lambda _n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    columns = ("[bold]solving", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:  # stdout stays clean
        task = bar.add_task("solve", total=total)
        yield lambda n: bar.update(task, completed=n)


def solve_recording(reader: RecordingReader, solver: _Solver, *, progress: bool = False) -> list[RigFrame]:
    """Every frame of the recording, solved in order (landmarks dropped to save memory)."""
    total = _count_frames(reader.path) if progress else None
    out: list[RigFrame] = []
    with _progress(total, progress) as update:
        for frame in reader.frames():
            rig = solver.solve(frame)
            # The writers never read the landmarks; keep the frame's identity only.
            out.append(replace(rig, tracked=TrackedFrame(index=frame.index, t_ms=frame.t_ms)))
            if len(out) % 64 == 0:
                update(len(out))
    return out


def render(
    rigs: Sequence[RigFrame],
    fmt: str,
    *,
    fps: float | None,
    source_fps: float,
    bone_map: BoneMap | None,
    bvh_scale: float = 100.0,
    offsets: npt.ArrayLike | None = None,
    livelink: LiveLinkEncoder | None = None,
    expressions: ExpressionMap | None = None,
    start_of_day_s: float = 0.0,
) -> bytes:
    """The file contents for solved frames (pure)."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r} (known: {', '.join(FORMATS)})")
    if not rigs:
        raise ExportError("nothing to export: the recording has no frames")
    if fmt == "bvh":  # BVH has one frame time: always an even grid (the recording's rate by default)
        rate = fps if fps is not None else source_fps
        if not (math.isfinite(rate) and rate > 0):
            raise ExportError(f"frame rate must be positive, got {rate!r}")
        return write_bvh(resample(rigs, rate), frame_time_s=1.0 / rate, bone_map=bone_map,
                         offsets=offsets, scale=bvh_scale).encode()  # fmt: skip
    frames = resample(rigs, fps)
    times = frame_times_s(frames, fps)
    if fmt == "llf-csv":
        enc = livelink or LiveLinkEncoder(device_id="mocap_bridge", subject="MocapBridge")
        return write_llf_csv(frames, enc, [start_of_day_s + t for t in times]).encode()
    if fmt == "vrma":
        return write_vrma(frames, times, expressions=expressions, offsets=offsets)
    return write_table_csv(frames, times).encode()


def export_recording(
    path: str | Path,
    fmt: str,
    out: str | Path | None = None,
    *,
    solver_factory: Callable[[], _Solver],
    fps: float | None = None,
    bvh_scale: float = 100.0,
    offsets: npt.ArrayLike | None = None,
    livelink: LiveLinkEncoder | None = None,
    expressions: ExpressionMap | None = None,
    start_of_day_s: float | None = None,
    progress: bool | None = None,
) -> ExportResult:
    """Solve ``path`` (a ``.jsonl[.gz]`` recording) and write ``fmt`` to ``out``.

    ``solver_factory`` builds the solver exactly as ``run`` does (settings, calibration, bone
    map); the BVH joint names come from its ``bone_map``. ``offsets``: (55, 3) avatar rest offsets
    in metres (default: the solver's). ``livelink``/``expressions``: the Live Link encoder and the
    VMC expression map ``run`` would use (Live Link head scale and signs, VRM presets).
    ``start_of_day_s``: capture time of day of the first frame for Live Link timecodes (default:
    the recording's ``created`` time). ``progress``: a progress bar (default: when stderr is a
    terminal). Errors are :class:`MocapBridgeError` subclasses with one line.
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r} (known: {', '.join(FORMATS)})")
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise ExportError(f"--fps must be positive, got {fps!r}")
    reader = RecordingReader(path)  # RecordingError: missing or not a recording
    target = Path(out) if out is not None else default_output(path, fmt)
    if target.is_dir():
        raise ExportError(f"cannot write {target}: it is a folder")
    if not target.parent.is_dir():
        raise ExportError(f"cannot write {target}: folder {target.parent} does not exist")
    solver = solver_factory()
    show = sys.stderr.isatty() if progress is None else progress
    rigs = solve_recording(reader, solver, progress=show)
    if start_of_day_s is None:
        start_of_day_s = start_of_day_from_header(reader.header)
    data = render(
        rigs, fmt, fps=fps, source_fps=reader.fps, bone_map=solver.bone_map, bvh_scale=bvh_scale,
        offsets=offsets, livelink=livelink, expressions=expressions, start_of_day_s=start_of_day_s,
    )  # fmt: skip
    try:
        target.write_bytes(data)
    except OSError as exc:
        raise ExportError(f"cannot write {target}: {exc.strerror or exc}") from exc
    written = len(resample(rigs, fps if fps is not None or fmt != "bvh" else reader.fps))
    return ExportResult(path=target, fmt=fmt, frames=written, solved=len(rigs))
