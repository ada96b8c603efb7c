"""Frame sources: camera, video file, image, folder of images, the bundled demo.

Every source validates itself when opened (so a bad ``--source`` fails before MediaPipe starts)
and yields :class:`CapturedFrame` objects carrying RGB pixels and a monotonic capture timestamp
in ms. The capture edge is the only place that stamps time.

Timing: in ``realtime`` mode files and images play at their own rate like a camera, stamped with
the monotonic clock when each frame is released. In ``video`` mode every frame is yielded as fast
as the consumer takes it, stamped with media time (``index * 1000 / fps``) so runs are
deterministic.

Recordings (``.jsonl`` / ``.jsonl.gz``) are not image sources; see ``mocap_bridge.recording``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..clock import monotonic_ms
from ..errors import CaptureError

__all__ = [
    "IMAGE_SUFFIXES",
    "CapturedFrame",
    "FrameSource",
    "demo_image_path",
    "open_source",
]

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


def _cv2() -> Any:
    import cv2

    return cv2


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
            bgr = cv2.resize(bgr, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
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
        if not self.is_camera and not Path(str(target)).is_file():
            raise CaptureError(f"no such file: {target}")
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
        self.frame_count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
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
                    return
            t = self._pacer.stamp(index)
            yield CapturedFrame(index, t, self._prepare(bgr))
            index += 1

    def close(self) -> None:
        self._cap.release()


class ImagesSource:
    """One image, or every image in a folder (sorted by name), played once at ``fps``."""

    def __init__(
        self, paths: list[Path], description: str, *, realtime: bool, mirror: bool, max_side: int,
        fps: float = 30.0,
    ) -> None:  # fmt: skip
        self.description = description
        self.fps = fps
        self._paths = paths
        self._pacer = _Pacer(fps, realtime)
        self._prepare = _Prepare(mirror, max_side)
        self._first = self._load(paths[0])  # fail early on an unreadable first image

    @staticmethod
    def _load(path: Path) -> np.ndarray:
        img = _cv2().imread(str(path), -1)  # IMREAD_UNCHANGED keeps alpha for PNGs
        if img is None:
            raise CaptureError(f"cannot read image {path}")
        if img.dtype != np.uint8:
            img = (img / (256 if img.dtype == np.uint16 else 1)).astype(np.uint8)
        out: np.ndarray = img
        return out

    def frames(self) -> Iterator[CapturedFrame]:
        for index, path in enumerate(self._paths):
            bgr = self._first if index == 0 else self._load(path)
            t = self._pacer.stamp(index)
            yield CapturedFrame(index, t, self._prepare(bgr))

    def close(self) -> None:
        pass


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
    if text.isdigit():
        return VideoSource(int(text), **common)
    path = Path(text).expanduser()
    if path.is_dir():
        images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise CaptureError(f"folder has no images ({', '.join(sorted(IMAGE_SUFFIXES))}): {path}")
        return ImagesSource(images, f"folder {path} ({len(images)} images)", **common)
    if not path.exists():
        raise CaptureError(f"no such file or folder: {path}")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ImagesSource([path], f"image {path}", **common)
    return VideoSource(str(path), **common)
