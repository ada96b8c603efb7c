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

Nothing lost: the writer flushes every frame (``.gz``: a zlib sync flush), so a process that is
killed mid-run leaves every complete frame readable; the reader recovers every complete line of a
cut-off file (plain or gzip, with or without its trailer) and says so. A full disk stops the
recording with one warning; the stream goes on.

Reading is the second edge of the bridge (the MediaPipe conversion is the first): a line that is
not a frame at all (not an object, wrong types or shapes, unknown status) is a
:class:`RecordingError` naming file and line; a well-formed line with a bad *value* (null, an
absurd or non-finite number, a score out of range, a hand label other than Left/Right) loses only
that part for that frame (status ``MISSING``), counted in ``reader.stats``. Timestamps are made
strictly increasing (:class:`~mocap_bridge.edge.Timeline`); a realtime replay shortens gaps longer
than a second and stops within a moment when asked to.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import math
import os
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt
import orjson

from .clock import monotonic_ms
from .edge import Timeline, checked_face, checked_hand, checked_pose
from .errors import RecordingError
from .frames import (
    MP_BLENDSHAPE_NAMES,
    FaceObservation,
    HandObservation,
    Part,
    PartStatus,
    PoseObservation,
    TrackedFrame,
)

__all__ = [
    "MAX_REPLAY_GAP_MS",
    "SCHEMA",
    "ReaderStats",
    "RecordingReader",
    "RecordingWriter",
    "ensure_not_source",
    "frame_from_json",
    "frame_to_json",
    "is_recording_path",
]

log = logging.getLogger(__name__)

#: A realtime replay waits at most this long between two frames (longer gaps are shortened).
MAX_REPLAY_GAP_MS = 1000.0
_CHUNK = 1 << 16

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


class _Malformed(ValueError):
    """A line that is not a frame of this format (its structure, not a value, is wrong)."""


def _numbers(value: Any, shape: tuple[int, ...], where: str) -> npt.NDArray[np.float64]:
    """A float64 array of ``shape`` (null entries become NaN, for the value checks to refuse)."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise _Malformed(f"{where}: expected numbers ({exc})") from None
    if arr.shape != shape:
        raise _Malformed(f"{where}: expected shape {shape}, got {arr.shape}")
    return arr


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Malformed(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _pose(p: Any) -> PoseObservation | None:
    p = _table(p, "pose")
    return checked_pose(_numbers(p.get("landmarks"), (33, 5), "pose.landmarks"),
                        _numbers(p.get("world"), (33, 3), "pose.world"))  # fmt: skip


def _face(f: Any) -> FaceObservation | None:
    f = _table(f, "face")
    shapes = np.zeros(len(MP_BLENDSHAPE_NAMES), dtype=np.float64)
    for name, score in _table(f.get("blendshapes"), "face.blendshapes").items():
        if name in _BS_INDEX:
            shapes[_BS_INDEX[name]] = _score(score, f"face.blendshapes.{name}")
    return checked_face(_numbers(f.get("landmarks"), (478, 3), "face.landmarks"), shapes,
                        _numbers(f.get("matrix"), (4, 4), "face.matrix"))  # fmt: skip


def _score(v: Any, where: str) -> float:
    if v is None:
        return math.nan  # a value, refused by the checks like any other bad score
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise _Malformed(f"{where}: expected a number, got {v!r:.40}")
    return float(v)


def _hands(raw: Any) -> tuple[tuple[HandObservation, ...], int]:
    """The valid hands and how many were refused."""
    if raw is None:
        return (), 0
    if not isinstance(raw, list):
        raise _Malformed(f"hands: expected a list, got {type(raw).__name__}")
    hands, rejected = [], 0
    for i, h in enumerate(raw):
        h = _table(h, f"hands[{i}]")
        score = h.get("score")
        hand = checked_hand(
            h.get("label"),
            math.nan if score is None else score,
            _numbers(h.get("landmarks"), (21, 3), f"hands[{i}].landmarks"),
            _numbers(h.get("world"), (21, 3), f"hands[{i}].world"),
        )
        if hand is None:
            rejected += 1
        else:
            hands.append(hand)
    return tuple(hands), rejected


def _status(obj: dict[str, Any]) -> tuple[PartStatus, PartStatus, PartStatus]:
    raw = obj.get("status")
    if not isinstance(raw, list) or len(raw) != 3:
        raise _Malformed("status: expected a list of three part statuses")
    try:
        a, b, c = (PartStatus[s] for s in raw)
    except (KeyError, TypeError):
        raise _Malformed(f"status: unknown part status in {raw!r:.80}") from None
    return a, b, c


def _result_ms(obj: dict[str, Any]) -> tuple[float | None, float | None, float | None]:
    raw = obj.get("result_ms", [None, None, None])
    if not isinstance(raw, list) or len(raw) != 3:
        raise _Malformed("result_ms: expected a list of three entries")
    out: list[float | None] = []
    for v in raw:
        ok = isinstance(v, int | float) and not isinstance(v, bool) and abs(v) <= 1e15
        out.append(float(v) if ok else None)  # latency figures only: an odd value is just unknown
    return out[0], out[1], out[2]


@dataclass(slots=True)
class _Parsed:
    frame: TrackedFrame
    rejected: tuple[int, int, int]


def _parse(obj: Any, index: int, t_ms: int) -> _Parsed:
    """One frame line (already JSON-decoded); ``index``/``t_ms`` come from the reader's repairs."""
    obj = _table(obj, "frame")
    status = list(_status(obj))
    rejected = [0, 0, 0]
    pose = face = None
    if obj.get("pose") is not None:
        pose = _pose(obj["pose"])
        if pose is None:
            rejected[Part.POSE] = 1
    if obj.get("face") is not None:
        face = _face(obj["face"])
        if face is None:
            rejected[Part.FACE] = 1
    hands, rejected[Part.HANDS] = _hands(obj.get("hands"))
    for part, payload in ((Part.POSE, pose), (Part.FACE, face), (Part.HANDS, hands)):
        if rejected[part] and not payload:
            status[part] = PartStatus.MISSING  # no usable answer for this part in this frame
    return _Parsed(
        TrackedFrame(
            index=index,
            t_ms=t_ms,
            pose=pose,
            face=face,
            hands=hands,
            status=(status[0], status[1], status[2]),
            result_ms=_result_ms(obj),
        ),
        (rejected[0], rejected[1], rejected[2]),
    )


def frame_from_json(obj: Any) -> TrackedFrame:
    """Inverse of :func:`frame_to_json`, with the reader's checks; ValueError when malformed.

    A part with a bad value is dropped (status MISSING); ``t_ms`` and ``i`` are taken as they are
    when valid (the reader's :class:`~mocap_bridge.edge.Timeline` repairs them in a stream).
    """
    t = obj.get("t_ms") if isinstance(obj, dict) else None
    i = obj.get("i") if isinstance(obj, dict) else None
    t_ms = Timeline(33.0).fix(t)
    index = i if isinstance(i, int) and not isinstance(i, bool) and 0 <= i < 2**31 else 0
    return _parse(obj, index, t_ms).frame


class _Cut(Exception):
    """The data ended before its end (truncated gzip, corrupt gzip bytes)."""


def _gzip_chunks(f: IO[bytes]) -> Iterator[bytes]:
    """Decompressed bytes of every gzip member; raises :class:`_Cut` after what was readable."""
    d = zlib.decompressobj(wbits=31)
    fed = False  # the current member has started
    while chunk := f.read(_CHUNK):
        while chunk:
            if not fed:
                chunk = chunk.lstrip(b"\0")  # zero padding between or after members is allowed
                if not chunk:
                    break
                fed = True
            try:
                out = d.decompress(chunk)
            except zlib.error as exc:
                raise _Cut(f"corrupt gzip data ({exc})") from exc
            if out:
                yield out
            chunk = b""
            if d.eof:  # member done; the rest of the chunk starts the next one
                chunk, d, fed = d.unused_data, zlib.decompressobj(wbits=31), False
    if fed:
        raise _Cut("the gzip stream is cut off")


def _plain_chunks(f: IO[bytes]) -> Iterator[bytes]:
    while chunk := f.read(_CHUNK):
        yield chunk


def _lines(chunks: Iterator[bytes]) -> Iterator[tuple[bytes, bool]]:
    """(line, complete) for every line; only the last one can be incomplete (no newline)."""
    buf = b""
    for chunk in chunks:
        buf += chunk
        if b"\n" not in chunk:
            continue
        *done, buf = buf.split(b"\n")
        for line in done:
            yield line, True
    if buf:
        yield buf, False


def _open_raw(path: Path) -> IO[bytes]:
    return path.open("rb")


def _chunks(path: Path, f: IO[bytes]) -> Iterator[bytes]:
    return _gzip_chunks(f) if path.name.lower().endswith(".gz") else _plain_chunks(f)


@dataclass(slots=True)
class ReaderStats:
    """What one pass over a recording met (the figures behind :meth:`RecordingReader.note`)."""

    frames: int = 0
    rejected: list[int] = field(default_factory=lambda: [0, 0, 0])  #: parts dropped, per Part
    timestamp_fixes: int = 0  #: t_ms not increasing or not sane, replaced
    index_fixes: int = 0  #: frame index not a sane integer, replaced
    gaps_shortened: int = 0  #: realtime replay: pauses longer than MAX_REPLAY_GAP_MS
    ended_early: str | None = None  #: why the file ended before its end, if it did
    finished: bool = False  #: the pass reached the end of the file

    @property
    def rejected_parts(self) -> int:
        return sum(self.rejected)


class RecordingWriter:
    """Appends frames to a recording; ``close`` (or ``with``) finishes it. Never raises after open.

    Every frame is flushed to the OS (gzip: a sync flush), so a killed process leaves every
    complete frame readable. A write error (disk full) stops the recording with one warning;
    ``failed`` then holds the reason and further frames are ignored.
    """

    def __init__(self, path: str | Path, *, source: str, mode: str, mirror: bool, fps: float,
                 models: dict[str, str], source_path: str | Path | None = None) -> None:  # fmt: skip
        self.path = Path(path)
        if not is_recording_path(str(self.path)):
            raise RecordingError(f"recording must end in .jsonl or .jsonl.gz: {self.path}")
        if source_path is not None and _same_file(self.path, Path(source_path)):
            raise RecordingError(
                f"--record {self.path} is the recording being replayed; record to another file"
            )
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
        self.frames = 0
        self.failed: str | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._raw = self.path.open("wb")
        except OSError as exc:
            raise RecordingError(f"cannot write recording {self.path}: {exc.strerror or exc}") from exc
        self._f: IO[bytes] | gzip.GzipFile = self._raw
        if self.path.name.lower().endswith(".gz"):
            self._f = gzip.GzipFile(filename="", mode="wb", compresslevel=5, fileobj=self._raw, mtime=0)
        self._put(orjson.dumps(header) + b"\n")

    def _put(self, data: bytes) -> bool:
        if self.failed is not None:
            return False
        try:
            self._f.write(data)
            self._f.flush()  # GzipFile: Z_SYNC_FLUSH, then the file's buffer to the OS
        except (OSError, ValueError) as exc:
            self._fail(exc)
            return False
        return True

    def _fail(self, exc: BaseException) -> None:
        self.failed = getattr(exc, "strerror", None) or str(exc)
        log.warning("recording %s stopped after %d frames: %s (the stream goes on)", self.path, self.frames,
                    self.failed)  # fmt: skip
        self._close_quietly()

    def _close_quietly(self) -> None:
        for f in (self._f, self._raw):
            with contextlib.suppress(OSError, ValueError):
                f.close()

    def write(self, frame: TrackedFrame) -> None:
        if self._put(orjson.dumps(frame_to_json(frame), option=_OPTS) + b"\n"):
            self.frames += 1

    def close(self) -> None:
        if self.failed is not None or self._raw.closed:
            return
        try:
            self._f.close()  # gzip: writes the trailer
            self._raw.close()
        except OSError as exc:
            self._fail(exc)

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def ensure_not_source(record: str | Path, source: str | Path) -> None:
    """RecordingError when ``record`` would overwrite ``source`` (same file by any path)."""
    if _same_file(Path(record), Path(source)):
        raise RecordingError(f"--record {record} is the recording being replayed; record to another file")


def _same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` name the same file (through symlinks, relative paths, hard links)."""
    try:
        if a.resolve() == b.resolve():
            return True
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except (OSError, RuntimeError):  # unresolvable (a symlink loop, a name too long): not the same
        return False


def _next_index(raw: Any, previous: int, stats: ReaderStats) -> int:
    """The recorded frame number when it is a sane, increasing integer, else the previous + 1."""
    if isinstance(raw, int) and not isinstance(raw, bool) and previous < raw < 2**31:
        return raw
    stats.index_fixes += 1
    return previous + 1


def _header_error(path: Path, msg: str) -> RecordingError:
    return RecordingError(f"{path}: header: {msg}")


class RecordingReader:
    """Reads a recording: ``header`` at once, then ``frames()`` lazily.

    ``replay(realtime=True)`` yields the frames with their original spacing in time (pauses longer
    than :data:`MAX_REPLAY_GAP_MS` shortened). ``stats`` describes the last pass and
    :meth:`note` turns it into one line (also logged as a warning when a pass ends with
    something to say: the file ended early, parts were dropped, timestamps were repaired).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            found = self.path.is_file()
        except OSError as exc:
            raise RecordingError(f"cannot open recording {str(path)[:200]}: {exc.strerror or exc}") from exc
        if not found:
            raise RecordingError(f"no such recording: {self.path}")
        try:
            with _open_raw(self.path) as f:
                first = next(_lines(_chunks(self.path, f)), (b"", False))[0]
            header = orjson.loads(first)
        except (OSError, _Cut, orjson.JSONDecodeError) as exc:
            raise RecordingError(f"{self.path}: not a mocap_bridge recording ({exc})") from exc
        if not isinstance(header, dict) or header.get("schema") != SCHEMA:
            raise RecordingError(f"{self.path}: line 1 is not a {SCHEMA} header")
        fps = header.get("fps", 30.0)
        if isinstance(fps, bool) or not isinstance(fps, int | float) or not 0.0 < fps <= 1000.0:
            raise _header_error(self.path, f"fps must be a number of frames per second, got {fps!r:.40}")
        models = header.get("models", {})
        if not isinstance(models, dict) or not all(isinstance(v, str) for v in models.values()):
            raise _header_error(self.path, f"models must be an object of name: sha256, got {models!r:.60}")
        self.header: dict[str, Any] = header
        self.description = f"recording {self.path} (of {str(header.get('source', '?'))[:200]})"
        self.fps = float(fps)
        self.stats = ReaderStats()

    @property
    def rejected_parts(self) -> int:
        """Parts dropped for bad values in the current (or last) pass."""
        return self.stats.rejected_parts

    def frames(self) -> Iterator[TrackedFrame]:
        stats = self.stats = ReaderStats()
        timeline = Timeline(1000.0 / self.fps)
        index = -1
        try:
            with _open_raw(self.path) as f:
                lines = _lines(_chunks(self.path, f))
                next(lines, None)  # the header
                for lineno, (line, complete) in enumerate(lines, start=2):
                    if not line.strip():
                        continue
                    try:
                        obj = orjson.loads(line)
                        raw = obj if isinstance(obj, dict) else {}
                        index = _next_index(raw.get("i"), index, stats)
                        before = timeline.fixes
                        parsed = _parse(obj, index, timeline.fix(raw.get("t_ms")))
                    except (orjson.JSONDecodeError, _Malformed) as exc:
                        if not complete:  # a cut-off last line: everything before it was read
                            stats.ended_early = "its last line is incomplete"
                            break
                        raise RecordingError(f"{self.path}:{lineno}: malformed frame ({exc})") from exc
                    stats.timestamp_fixes += timeline.fixes - before
                    for p in range(3):
                        stats.rejected[p] += parsed.rejected[p]
                    stats.frames += 1
                    yield parsed.frame
        except _Cut as exc:
            stats.ended_early = str(exc)
        except OSError as exc:
            stats.ended_early = f"read error: {exc.strerror or exc}"
        stats.finished = True
        if (note := self.note()) is not None:
            log.warning("%s", note)

    def note(self) -> str | None:
        """One line on what the last pass met, or None when there is nothing to say."""
        s = self.stats
        parts = []
        if s.ended_early:
            parts.append(f"the file ended early ({s.ended_early})")
        if s.rejected_parts:
            by = ", ".join(f"{p.name.lower()} {s.rejected[p]}" for p in Part if s.rejected[p])
            parts.append(f"{s.rejected_parts} parts with bad values dropped ({by})")
        if s.timestamp_fixes:
            parts.append(f"{s.timestamp_fixes} timestamps repaired (not increasing or not sane)")
        if s.index_fixes:
            parts.append(f"{s.index_fixes} frame numbers repaired")
        if s.gaps_shortened:
            parts.append(f"{s.gaps_shortened} pauses over {MAX_REPLAY_GAP_MS / 1000:g} s shortened")
        if not parts:
            return None
        return f"recording {self.path}: {s.frames} frames read; " + "; ".join(parts)

    def replay(self, *, realtime: bool, stop: threading.Event | None = None) -> Iterator[TrackedFrame]:
        """The frames; ``realtime`` keeps their spacing. Returns soon after ``stop`` is set."""
        start_wall: float | None = None
        start_t = 0
        prev_t = 0
        skipped = 0.0  # recording time cut out of long pauses
        for frame in self.frames():
            if stop is not None and stop.is_set():
                return
            if realtime:
                if start_wall is None:
                    start_wall, start_t = monotonic_ms(), frame.t_ms
                elif frame.t_ms - prev_t > MAX_REPLAY_GAP_MS:
                    skipped += frame.t_ms - prev_t - MAX_REPLAY_GAP_MS
                    self.stats.gaps_shortened += 1
                prev_t = frame.t_ms
                delay = start_wall + (frame.t_ms - start_t - skipped) - monotonic_ms()
                if delay > 0 and math.isfinite(delay):
                    if stop is None:
                        time.sleep(delay / 1000.0)
                    elif stop.wait(delay / 1000.0):
                        return
            yield frame

    def close(self) -> None:
        pass
