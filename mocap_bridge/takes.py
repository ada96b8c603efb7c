"""Take folders: ``DIR/<slate>_<take>/`` with the raw recording, the Live Link Face CSV and
``take.json``, written while a take runs (docs/takes.md, "Take folders").

* ``<slate>_<take>.jsonl.gz``: every merged TrackedFrame of the take (the recording format of
  mocap_bridge/recording.py: it replays with ``run --source`` and exports with ``export``).
* ``<slate>_<take>_<subject>_cal.csv``: the Live Link Face CSV of what was streamed, row for
  row (mocap_bridge/export/llf_csv.py), named as the app names its takes so Unreal's
  LiveLinkFaceImporter finds the subject in the file name.
* ``take.json``: ``{"format": "mocap_bridge.take/1", "slate", "take", "subject", "source",
  "mode", "mirror", "fps", "start_timecode", "stop_timecode", "frames", "models": {name: sha256},
  "calibration": {"path", "sha256"} | null, "settings": {...}, "files": {...}}``; written at
  the start and rewritten at the stop.

Takes never overwrite one another: when ``<slate>_<take>`` exists the next free take number is
used. The recorder is both the pipeline's recorder (``write(TrackedFrame)``, raw frames) and a
sink (``send(RigFrame)``, CSV rows); it only writes while a take is running. Times of day come
from the capture stamps and the wall-clock offset taken at start-up, exactly as the Live Link
sink computes its frame times, so the CSV timecodes are the streamed packets' times.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import RecordingError
from .export.llf_csv import format_timecode, llf_csv_header, llf_csv_row
from .frames import RigFrame, TrackedFrame
from .protocols.livelink import LiveLinkEncoder
from .recording import RecordingWriter

__all__ = ["TAKE_FORMAT", "TakeInfo", "TakeRecorder", "take_folder_name"]

TAKE_FORMAT = "mocap_bridge.take/1"
_SAFE = re.compile(r"[^A-Za-z0-9-]+")


def take_folder_name(slate: str, take: int) -> str:
    """``<slate>_<take>`` with the slate reduced to letters, digits and '-' (one path part; the
    importer splits file names on '_')."""
    clean = _SAFE.sub("-", slate).strip("-") or "Slate"
    return f"{clean}_{take}"


@dataclass(frozen=True, slots=True)
class TakeInfo:
    folder: Path
    slate: str
    take: int
    recording: Path
    csv: Path
    json: Path
    start_timecode: str
    stop_timecode: str = ""
    frames: int = 0


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class TakeRecorder:
    """Writes takes into ``root``; one take at a time."""

    name = "takes"

    def __init__(
        self,
        root: str | Path,
        *,
        livelink: LiveLinkEncoder,
        subject: str,
        source: str,
        mode: str,
        mirror: bool,
        fps: float,
        models: Mapping[str, str],
        calibration: str | None,
        settings: Mapping[str, Any],
        time_of_day_offset_s: float,
    ) -> None:
        """``time_of_day_offset_s``: local time of day minus capture-stamp seconds (the Live Link
        sink's ``wall_clock_offset_ms / 1000 + utc_offset_s``)."""
        self.root = Path(root)
        self.livelink = livelink
        self.subject = subject
        self._meta: dict[str, Any] = {
            "source": source, "mode": mode, "mirror": mirror, "fps": fps, "models": dict(models),
            "settings": dict(settings),
        }  # fmt: skip
        self._calibration = calibration
        self._offset_s = time_of_day_offset_s
        self._writer: RecordingWriter | None = None
        self._csv: Any = None
        self._info: TakeInfo | None = None
        self._last_t_ms: float | None = None
        self.takes: list[TakeInfo] = []

    @property
    def active(self) -> TakeInfo | None:
        return self._info

    def timecode(self, t_ms: float) -> str:
        return format_timecode((self._offset_s + t_ms / 1000.0) % 86400.0)

    def start_take(self, slate: str, take: int, now_ms: float) -> TakeInfo:
        """Open ``<slate>_<take>`` (or the next free take number) and start writing."""
        if self._info is not None:
            raise RecordingError(f"a take is already running: {self._info.folder}")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            n = take
            while True:
                folder = self.root / take_folder_name(slate, n)
                try:
                    folder.mkdir()
                    break
                except FileExistsError:
                    n += 1
            base = folder.name
            info = TakeInfo(
                folder=folder, slate=slate, take=n, recording=folder / f"{base}.jsonl.gz",
                csv=folder / f"{base}_{_SAFE.sub('-', self.subject)}_cal.csv", json=folder / "take.json",
                start_timecode=self.timecode(now_ms),
            )  # fmt: skip
            m = self._meta
            self._writer = RecordingWriter(info.recording, source=str(m["source"]), mode=str(m["mode"]),
                                           mirror=bool(m["mirror"]), fps=float(m["fps"]),
                                           models=dict(m["models"]))  # fmt: skip
            self._csv = info.csv.open("w", encoding="utf-8", newline="")
            self._csv.write(llf_csv_header() + "\n")
        except OSError as exc:
            self._close_files()
            raise RecordingError(f"cannot start a take in {self.root}: {exc.strerror or exc}") from exc
        self._info = info
        self._last_t_ms = None
        self._write_json(info)
        return info

    def write(self, frame: TrackedFrame) -> None:
        """The pipeline's recorder hook: the raw frame, while a take runs."""
        if self._writer is not None:
            self._writer.write(frame)

    def send(self, rig: RigFrame) -> None:
        """The sink hook: one Live Link Face CSV row per solved frame, while a take runs."""
        if self._csv is not None and self._info is not None:
            self._csv.write(
                llf_csv_row(self.livelink, rig, (self._offset_s + rig.t_ms / 1000.0) % 86400.0) + "\n"
            )
            self._last_t_ms = rig.t_ms

    def stop_take(self, now_ms: float) -> TakeInfo:
        if self._info is None:
            raise RecordingError("no take is running")
        frames = self._writer.frames if self._writer is not None else 0
        self._close_files()
        info = TakeInfo(**{**{k: getattr(self._info, k) for k in TakeInfo.__slots__},
                           "stop_timecode": self.timecode(now_ms), "frames": frames})  # fmt: skip
        self._write_json(info)
        self._info = None
        self.takes.append(info)
        return info

    def _close_files(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._csv is not None:
            self._csv.close()
            self._csv = None

    def _write_json(self, info: TakeInfo) -> None:
        calib = None
        if self._calibration:
            p = Path(self._calibration)
            calib = {"path": str(p), "sha256": _sha256(p) if p.is_file() else None}
        doc = {
            "format": TAKE_FORMAT, "slate": info.slate, "take": info.take, "subject": self.subject,
            **self._meta, "start_timecode": info.start_timecode, "stop_timecode": info.stop_timecode or None,
            "frames": info.frames, "calibration": calib,
            "files": {"recording": info.recording.name, "llf_csv": info.csv.name},
        }  # fmt: skip
        try:
            info.json.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
        except OSError as exc:
            raise RecordingError(f"cannot write {info.json}: {exc.strerror or exc}") from exc

    # ---- FrameSink / recorder lifecycle --------------------------------------------------
    async def start(self) -> None:
        """FrameSink: nothing to open before a take starts."""

    def status(self) -> str:
        return f"take {self._info.folder.name}" if self._info is not None else "takes idle"

    def close(self) -> None:
        """End of run: a running take is stopped at its last frame."""
        if self._info is not None:
            self.stop_take(self._last_t_ms if self._last_t_ms is not None else 0.0)

    async def aclose(self) -> None:
        self.close()
