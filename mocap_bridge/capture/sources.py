"""Frame sources: camera, video file, image, folder of images, the bundled demo.

Every source validates itself when opened (so a bad ``--source`` fails before MediaPipe starts)
and yields :class:`CapturedFrame` objects carrying RGB pixels and a monotonic capture timestamp
in ms. The capture edge is the only place that stamps time.

Timing: in ``realtime`` mode files and images play at their own rate like a camera, stamped with
the monotonic clock when each frame is released. In ``video`` mode every frame is yielded as fast
as the consumer takes it, stamped with media time (``index * 1000 / fps``) so runs are
deterministic.

Recordings (``.jsonl`` / ``.jsonl.gz``) are not image sources; see ``mocap_bridge.recording``.

Bad input is one clear :class:`CaptureError`, never a native library's chatter: OpenCV's own
logging is silenced (camera probing prints a dozen lines otherwise), FFmpeg's log level is set to
quiet before the first video opens, and images are decoded with libpng/libjpeg/libtiff's stderr
lines held back (:func:`_decoder_stderr_held`). Images of any depth and channel count are turned
into 8-bit colour (:func:`to_bgr8`) or refused in one line; an unreadable image in the middle of a
folder is skipped and counted (``skipped``); a video that ends before the frame count its
container announced says so (``ended_early``). ``-vv`` keeps the native output for debugging.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from ..clock import monotonic_ms
from ..errors import CaptureError

__all__ = [
    "IMAGE_SUFFIXES",
    "CapturedFrame",
    "FrameSource",
    "demo_image_path",
    "open_source",
    "to_bgr8",
]

log = logging.getLogger(__name__)

#: Longest camera index text taken as a number (``--source 0``); longer digit strings are paths.
_MAX_CAMERA_DIGITS = 4

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


@dataclass(frozen=True, slots=True)
class CapturedFrame:
    index: int
    t_ms: int
    rgb: np.ndarray  # (H, W, 3) uint8, already mirrored/downscaled as configured


class FrameSource(Protocol):
    description: str
    fps: float

    def frames(self) -> Iterator[CapturedFrame]: ...

    def close(self) -> None: ...


def _debugging() -> bool:
    return logging.getLogger().isEnabledFor(logging.DEBUG)


def _cv2() -> Any:
    if not _debugging():
        # Read once, when FFmpeg's backend first opens a file: must precede the first VideoCapture.
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    import cv2

    if not _debugging():
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    return cv2


#: First words of the lines image decoders write straight to fd 2 (not through OpenCV's logging).
_DECODER_CHATTER = (b"libpng ", b"Corrupt JPEG", b"Premature end of JPEG", b"Invalid JPEG", b"Not a JPEG",
                    b"Unsupported JPEG", b"Bogus ", b"TIFF")  # fmt: skip


@contextlib.contextmanager
def _decoder_stderr_held() -> Iterator[None]:
    """Hold fd 2 while a native decoder runs; pass on whatever was not the decoder's chatter.

    libpng, libjpeg and libtiff print to stderr themselves. Other threads may write to fd 2 in
    the same few milliseconds (a status line, MediaPipe): their lines are written out afterwards.
    """
    if _debugging():
        yield
        return
    sys.stderr.flush()
    with tempfile.TemporaryFile() as held:
        saved = os.dup(2)
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            kept = [ln for ln in held.read().splitlines(keepends=True) if not ln.startswith(_DECODER_CHATTER)]
            if kept:
                os.write(2, b"".join(kept))


def to_bgr8(img: npt.NDArray[Any], what: str) -> npt.NDArray[np.uint8]:
    """Any decoded image as (H, W, 3) 8-bit BGR, or :class:`CaptureError` saying why not.

    8-bit as is; 16-bit scaled (65535 → 255); float taken as 0..1 (refused outside it, or with
    NaN/inf); grayscale repeated to three channels; alpha dropped. Other pixel types (signed or
    32-bit integers) are refused.
    """
    if img.ndim == 3 and img.shape[2] in (1, 2):
        img = img[:, :, 0]  # gray (+ alpha)
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (3, 4)) or img.size == 0:
        raise CaptureError(f"{what}: unsupported image layout {img.shape}")
    if img.dtype == np.uint8:
        out = img
    elif img.dtype == np.uint16:
        out = ((img.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif img.dtype in (np.float32, np.float64):
        if not np.isfinite(img).all():
            raise CaptureError(f"{what}: float image with NaN or infinite pixels")
        lo, hi = float(img.min()), float(img.max())
        if lo < 0.0 or hi > 1.0:
            raise CaptureError(f"{what}: float image with values {lo:g}..{hi:g}, expected 0..1 "
                               "(save it as 8- or 16-bit)")  # fmt: skip
        out = np.rint(img * 255.0).astype(np.uint8)
    else:
        raise CaptureError(f"{what}: unsupported pixel type {img.dtype} (use 8- or 16-bit, or float 0..1)")
    if out.ndim == 2:
        out = np.repeat(out[:, :, None], 3, axis=2)
    elif out.shape[2] == 4:
        out = out[:, :, :3]
    result: npt.NDArray[np.uint8] = np.ascontiguousarray(out)
    return result


class _Prepare:
    """Mirror and downscale once, before MediaPipe sees the frame."""

    def __init__(self, mirror: bool, max_side: int) -> None:
        self.mirror = mirror
        self.max_side = max_side
        self._cv2 = _cv2()

    def __call__(self, bgr: np.ndarray) -> np.ndarray:
        cv2 = self._cv2
        h, w = bgr.shape[:2]
        if self.max_side and max(h, w) > self.max_side:
            scale = self.max_side / max(h, w)
            size = (max(1, round(w * scale)), max(1, round(h * scale)))  # 2000×1 stays 1 px high
            bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
        if bgr.ndim == 2:
            rgb = cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
        elif bgr.shape[2] == 4:
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGRA2RGB)
        else:
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        if self.mirror:
            rgb = cv2.flip(rgb, 1)
        out: np.ndarray = rgb
        return out


class _Pacer:
    """Stamps frames: wall-paced monotonic time (realtime) or media time (video)."""

    def __init__(self, fps: float, realtime: bool) -> None:
        self.period_ms = 1000.0 / fps
        self.realtime = realtime
        self._start: float | None = None
        self._last = -1

    def stamp(self, index: int) -> int:
        if not self.realtime:
            t = round(index * self.period_ms)
        else:
            now = monotonic_ms()
            if self._start is None:
                self._start = now - index * self.period_ms
            due = self._start + index * self.period_ms
            if due > now:
                time.sleep((due - now) / 1000.0)
            t = math.floor(monotonic_ms())
        t = max(t, self._last + 1)  # strictly increasing, whatever the clock did
        self._last = t
        return t


class VideoSource:
    """A video file (anything OpenCV's FFmpeg backend decodes) or a camera index."""

    def __init__(self, target: str | int, *, realtime: bool, mirror: bool, max_side: int) -> None:
        cv2 = _cv2()
        self.is_camera = isinstance(target, int)
        self.description = f"camera {target}" if self.is_camera else f"video {target}"
        if not self.is_camera and not _is_file(Path(str(target))):
            raise CaptureError(f"no such file: {_short(str(target))}")
        self._cap = cv2.VideoCapture(target)
        if not self._cap.isOpened():
            self._cap.release()
            what = (
                f"camera {target} cannot be opened"
                if self.is_camera
                else (f"cannot open video {target} (unsupported or corrupt)")
            )
            raise CaptureError(what)
        ok, first = self._cap.read()
        if not ok or first is None:
            self._cap.release()
            raise CaptureError(
                f"camera {target} gives no frames" if self.is_camera else f"cannot decode video {target}"
            )
        self._first: np.ndarray | None = first
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 1.0 <= fps <= 240.0 else 30.0
        count = float(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0.0)
        self.frame_count = int(count) if 0.0 < count < 1e9 else 0  #: as the container announces it
        self.frames_read = 0
        #: set when a file ends well before ``frame_count`` (cut short or damaged), for the summary
        self.ended_early: str | None = None
        # A camera is always live; a file is paced only in realtime mode.
        self._pacer = _Pacer(self.fps, realtime or self.is_camera)
        self._prepare = _Prepare(mirror, max_side)

    def frames(self) -> Iterator[CapturedFrame]:
        index = 0
        while True:
            if self._first is not None:
                bgr, self._first = self._first, None
            else:
                ok, bgr = self._cap.read()
                if not ok or bgr is None:
                    self._check_end()
                    return
            self.frames_read += 1
            t = self._pacer.stamp(index)
            yield CapturedFrame(index, t, self._prepare(bgr))
            index += 1

    def _check_end(self) -> None:
        expected = self.frame_count
        if self.is_camera or expected <= 0 or self.frames_read >= 0.98 * expected - 1:
            return
        self.ended_early = (
            f"ended after {self.frames_read} of {expected} frames (the file is cut short or damaged)"
        )
        log.warning("%s %s", self.description, self.ended_early)

    def close(self) -> None:
        self._cap.release()


class ImagesSource:
    """One image, or every image in a folder (sorted by name), played once at ``fps``.

    In a folder an unreadable or unsupported image is skipped with a warning and counted in
    ``skipped``; the run goes on. A single image, or a folder with no readable image, is a
    :class:`CaptureError`.
    """

    def __init__(
        self, paths: list[Path], description: str, *, realtime: bool, mirror: bool, max_side: int,
        fps: float = 30.0, folder: bool = False,
    ) -> None:  # fmt: skip
        self.description = description
        self.fps = fps
        self._pacer = _Pacer(fps, realtime)
        self._prepare = _Prepare(mirror, max_side)
        self.skipped: list[tuple[Path, str]] = []
        self._paths = list(paths)
        first: np.ndarray | None = None
        while first is None:  # fail early when nothing is readable
            try:
                first = self._load(self._paths[0])
            except CaptureError as exc:
                if not folder:
                    raise
                self._skip(self._paths.pop(0), exc)
                if not self._paths:
                    raise CaptureError(f"{description}: no readable image ({exc})") from exc
        self._first: np.ndarray | None = first

    def _skip(self, path: Path, exc: CaptureError) -> None:
        self.skipped.append((path, str(exc)))
        log.warning("%s; skipped", exc)

    @staticmethod
    def _load(path: Path) -> np.ndarray:
        try:
            data = np.frombuffer(path.read_bytes(), dtype=np.uint8)
        except OSError as exc:
            raise CaptureError(f"cannot read image {path}: {exc.strerror or exc}") from exc
        cv2 = _cv2()
        with _decoder_stderr_held():
            img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None  # keeps depth and alpha
        if img is None:
            raise CaptureError(f"cannot read image {path} (unsupported or corrupt)")
        return to_bgr8(img, f"image {path}")

    def frames(self) -> Iterator[CapturedFrame]:
        index = 0
        for n, path in enumerate(self._paths):
            if n == 0 and self._first is not None:
                bgr, self._first = self._first, None
            else:
                try:
                    bgr = self._load(path)
                except CaptureError as exc:
                    self._skip(path, exc)
                    continue
            t = self._pacer.stamp(index)
            yield CapturedFrame(index, t, self._prepare(bgr))
            index += 1

    def close(self) -> None:
        pass


def _short(text: str, limit: int = 200) -> str:
    """A path for an error line: a 5000-character one is cut, so the line stays one line."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False


def demo_image_path() -> Path:
    """Grace Hopper's public-domain portrait, shipped inside matplotlib (a mediapipe dependency)."""
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    if not path.is_file():
        raise CaptureError(f"demo image missing from the matplotlib install: {path}")
    return path


class DemoSource:
    """Gentle synthetic head motion (sway, nod, tilt, zoom) over a public-domain portrait.

    Plays ``seconds`` at 30 fps (default 10 s); works offline with only what ``pip install`` brought.
    """

    def __init__(self, *, realtime: bool, mirror: bool, max_side: int, seconds: float = 10.0) -> None:
        self.description = "demo (Grace Hopper portrait from matplotlib, synthetic motion)"
        self.fps = 30.0
        self._n = max(1, round(seconds * self.fps))
        self._pacer = _Pacer(self.fps, realtime)
        self._prepare = _Prepare(mirror, max_side)
        img = ImagesSource._load(demo_image_path())
        w = img.shape[1]
        pad = w // 2  # room to move the face without the border entering the crop
        cv2 = _cv2()
        self._canvas = cv2.copyMakeBorder(img, 0, 0, pad, pad, cv2.BORDER_REPLICATE)
        self._size = (self._canvas.shape[1], self._canvas.shape[0])

    def frames(self) -> Iterator[CapturedFrame]:
        cv2 = _cv2()
        cx, cy = self._size[0] / 2, self._size[1] * 0.4
        for index in range(self._n):
            s = index / self.fps
            angle = 8.0 * math.sin(2 * math.pi * 0.25 * s)  # head tilt, degrees
            scale = 1.0 + 0.06 * math.sin(2 * math.pi * 0.15 * s)
            m = cv2.getRotationMatrix2D((cx, cy), angle, scale)
            m[0, 2] += 40.0 * math.sin(2 * math.pi * 0.2 * s)  # sway
            m[1, 2] += 15.0 * math.sin(2 * math.pi * 0.33 * s)  # nod
            bgr = cv2.warpAffine(self._canvas, m, self._size, borderMode=cv2.BORDER_REPLICATE)
            t = self._pacer.stamp(index)
            yield CapturedFrame(index, t, self._prepare(bgr))

    def close(self) -> None:
        pass


def open_source(
    spec: str, *, realtime: bool = True, mirror: bool = False, max_side: int = 640
) -> FrameSource:
    """Open ``spec``: an integer camera index, ``demo``, an image, a folder or a video file."""
    common: dict[str, Any] = {"realtime": realtime, "mirror": mirror, "max_side": max_side}
    text = spec.strip()
    if text.lower() == "demo":
        return DemoSource(**common)
    if text.isdigit() and len(text) <= _MAX_CAMERA_DIGITS:
        return VideoSource(int(text), **common)
    path = Path(text).expanduser()
    try:
        is_dir, exists = path.is_dir(), path.exists()
        images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if is_dir else []
    except OSError as exc:  # a name too long, a folder we may not list, ...
        raise CaptureError(f"cannot open {_short(text)}: {exc.strerror or exc}") from exc
    if is_dir:
        if not images:
            raise CaptureError(f"folder has no images ({', '.join(sorted(IMAGE_SUFFIXES))}): {path}")
        return ImagesSource(images, f"folder {path} ({len(images)} images)", folder=True, **common)
    if not exists:
        raise CaptureError(f"no such file or folder: {_short(str(path))}")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ImagesSource([path], f"image {path}", **common)
    return VideoSource(str(path), **common)
