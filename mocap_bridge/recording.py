"""Recordings of merged frames: JSON Lines, optionally gzip-compressed (``.jsonl.gz``).

Format ``mocap_bridge.recording/1`` (documented in the README, "Recording and replay"):

* line 1, header: ``{"schema": "mocap_bridge.recording/1", "source": str, "mode": str,
  "mirror": bool, "fps": float, "models": {name: sha256}, "created": ISO-8601 UTC,
  "blendshape_names": [...]}``
* every further line, one :class:`~mocap_bridge.frames.TrackedFrame`: ``{"i": index,
  "t_ms": capture ms, "status": [pose, face, hands] status names, "result_ms": [3 × ms|null],
  "pose": null | {"landmarks": 33×[x,y,z,visibility,presence], "world": 33×[x,y,z]},
  "face": null | {"landmarks": 478×[x,y,z], "blendshapes": {name: score}, "matrix": 4×4},
  "hands": [{"label", "score", "landmarks": 21×[x,y,z], "world": 21×[x,y,z]}]}``

Floats are written in their shortest round-trip form (float32 arrays as float32), so reading a
recording back reproduces every frame bit for bit.
"""

from __future__ import annotations

import gzip
import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np
import orjson

from .clock import monotonic_ms
from .errors import RecordingError
from .frames import (
    MP_BLENDSHAPE_NAMES,
    FaceObservation,
    HandObservation,
    PartStatus,
    PoseObservation,
    TrackedFrame,
)

__all__ = [
    "SCHEMA",
    "RecordingReader",
    "RecordingWriter",
    "frame_from_json",
    "frame_to_json",
    "is_recording_path",
]

SCHEMA = "mocap_bridge.recording/1"
_OPTS = orjson.OPT_SERIALIZE_NUMPY
_BS_INDEX = {n: i for i, n in enumerate(MP_BLENDSHAPE_NAMES)}


def is_recording_path(spec: str) -> bool:
    low = spec.lower()
    return low.endswith(".jsonl") or low.endswith(".jsonl.gz")


def frame_to_json(frame: TrackedFrame) -> dict[str, Any]:
    """The JSON object for one frame (numpy arrays are left for orjson to serialise)."""
    pose = face = None
    if frame.pose is not None:
        pose = {"landmarks": frame.pose.landmarks, "world": frame.pose.world}
    if frame.face is not None:
        face = {
            "landmarks": frame.face.landmarks,
            "blendshapes": dict(zip(MP_BLENDSHAPE_NAMES, frame.face.blendshapes.tolist(), strict=True)),
            "matrix": frame.face.matrix,
        }
    hands = [
        {"label": h.label, "score": h.score, "landmarks": h.landmarks, "world": h.world} for h in frame.hands
    ]
    return {
        "i": frame.index,
        "t_ms": frame.t_ms,
        "status": [s.name for s in frame.status],
        "result_ms": list(frame.result_ms),
        "pose": pose,
        "face": face,
        "hands": hands,
    }


def _arr(value: Any, shape: tuple[int, int], dtype: type) -> np.ndarray:
    arr: np.ndarray = np.asarray(value, dtype=dtype)
    if arr.shape != shape:
        raise ValueError(f"expected shape {shape}, got {arr.shape}")
    return arr


def frame_from_json(obj: dict[str, Any]) -> TrackedFrame:
    """Inverse of :func:`frame_to_json`; raises KeyError/ValueError/TypeError on malformed input."""
    pose = face = None
    if obj.get("pose"):
        p = obj["pose"]
        pose = PoseObservation(
            _arr(p["landmarks"], (33, 5), np.float32), _arr(p["world"], (33, 3), np.float32)
        )
    if obj.get("face"):
        f = obj["face"]
        shapes = np.zeros(len(MP_BLENDSHAPE_NAMES), dtype=np.float32)
        for name, score in f["blendshapes"].items():
            if name in _BS_INDEX:
                shapes[_BS_INDEX[name]] = score
        face = FaceObservation(
            _arr(f["landmarks"], (478, 3), np.float32),
            shapes,
            _arr(f["matrix"], (4, 4), np.float64),
        )
    hands = tuple(
        HandObservation(
            str(h["label"]), float(h["score"]),
            _arr(h["landmarks"], (21, 3), np.float32), _arr(h["world"], (21, 3), np.float32),
        )
        for h in obj.get("hands") or ()
    )  # fmt: skip
    status = tuple(PartStatus[s] for s in obj["status"])
    result_ms = tuple(None if v is None else float(v) for v in obj["result_ms"])
    if len(status) != 3 or len(result_ms) != 3:
        raise ValueError("status and result_ms need three entries")
    return TrackedFrame(
        index=int(obj["i"]),
        t_ms=int(obj["t_ms"]),
        pose=pose,
        face=face,
        hands=hands,
        status=(status[0], status[1], status[2]),
        result_ms=(result_ms[0], result_ms[1], result_ms[2]),
    )


def _open(path: Path, mode: str) -> IO[bytes]:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, mode + "b", compresslevel=5)  # type: ignore[return-value]
    return path.open(mode + "b")


class RecordingWriter:
    """Appends frames to a recording; ``close`` (or ``with``) flushes it."""

    def __init__(self, path: str | Path, *, source: str, mode: str, mirror: bool, fps: float,
                 models: dict[str, str]) -> None:  # fmt: skip
        self.path = Path(path)
        if not is_recording_path(str(self.path)):
            raise RecordingError(f"recording must end in .jsonl or .jsonl.gz: {self.path}")
        header = {
            "schema": SCHEMA,
            "source": source,
            "mode": mode,
            "mirror": mirror,
            "fps": fps,
            "models": models,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "blendshape_names": list(MP_BLENDSHAPE_NAMES),
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._f = _open(self.path, "w")
            self._f.write(orjson.dumps(header) + b"\n")
        except OSError as exc:
            raise RecordingError(f"cannot write recording {self.path}: {exc}") from exc
        self.frames = 0

    def write(self, frame: TrackedFrame) -> None:
        self._f.write(orjson.dumps(frame_to_json(frame), option=_OPTS) + b"\n")
        self.frames += 1

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class RecordingReader:
    """Reads a recording: ``header`` at once, then ``frames()`` lazily.

    ``replay(realtime=True)`` yields the frames with their original spacing in time.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise RecordingError(f"no such recording: {self.path}")
        try:
            with _open(self.path, "r") as f:
                first = f.readline()
            header = orjson.loads(first)
        except (OSError, EOFError, gzip.BadGzipFile, orjson.JSONDecodeError) as exc:
            raise RecordingError(f"{self.path}: not a mocap_bridge recording ({exc})") from exc
        if not isinstance(header, dict) or header.get("schema") != SCHEMA:
            raise RecordingError(f"{self.path}: line 1 is not a {SCHEMA} header")
        self.header: dict[str, Any] = header
        self.description = f"recording {self.path} (of {header.get('source', '?')})"
        self.fps = float(header.get("fps") or 30.0)

    def frames(self) -> Iterator[TrackedFrame]:
        try:
            with _open(self.path, "r") as raw:
                raw.readline()
                for lineno, line in enumerate(raw, start=2):
                    if not line.strip():
                        continue
                    try:
                        yield frame_from_json(orjson.loads(line))
                    except (orjson.JSONDecodeError, KeyError, ValueError, TypeError) as exc:
                        raise RecordingError(f"{self.path}:{lineno}: malformed frame ({exc})") from exc
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise RecordingError(f"{self.path}: unreadable ({exc})") from exc

    def replay(self, *, realtime: bool) -> Iterator[TrackedFrame]:
        start_wall: float | None = None
        start_t = 0
        for frame in self.frames():
            if realtime:
                if start_wall is None:
                    start_wall, start_t = monotonic_ms(), frame.t_ms
                delay = start_wall + (frame.t_ms - start_t) - monotonic_ms()
                if delay > 0 and math.isfinite(delay):
                    time.sleep(delay / 1000.0)
            yield frame

    def close(self) -> None:
        pass
