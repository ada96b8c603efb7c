"""The benchmark's input: the source decoded once into a raw frame file every section reads.

``--source`` is a video, an image or ``demo`` (the default: the bundled portrait with synthetic
motion, so the installed command needs nothing beside it). Frames are decoded once, downscaled
like the capture stage does (640 px longest side by default), and written one after another as
raw RGB bytes. Workers read one frame at a time with ``pread`` into a fresh array, so the
decoded clip never sits in anyone's resident memory (it would blur the RSS figures) and every
section sees the very same pixels.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..capture.sources import open_source
from ..errors import CaptureError
from ..recording import is_recording_path

__all__ = ["FrameFile", "decode_source"]


@dataclass(frozen=True, slots=True)
class FrameFile:
    """``count`` RGB frames of ``height`` × ``width`` stored back to back in ``path``."""

    path: Path
    count: int
    height: int
    width: int
    fps: float  #: the source's own rate (media timestamps of VIDEO-mode passes)
    description: str

    @property
    def frame_bytes(self) -> int:
        return self.height * self.width * 3

    def reader(self) -> FrameReader:
        return FrameReader(self)


class FrameReader:
    """Reads frame ``i % count`` of a :class:`FrameFile` into a new array (looping the clip)."""

    def __init__(self, spec: FrameFile) -> None:
        self.spec = spec
        self._fd = os.open(spec.path, os.O_RDONLY)

    def read(self, i: int) -> np.ndarray:
        spec = self.spec
        out = np.empty((spec.height, spec.width, 3), dtype=np.uint8)
        n = os.preadv(self._fd, [out.data], (i % spec.count) * spec.frame_bytes)
        if n != spec.frame_bytes:
            raise CaptureError(f"{spec.path}: frame {i % spec.count} is truncated")
        return out

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def decode_source(spec: str, folder: Path, *, max_frames: int, max_side: int = 640) -> FrameFile:
    """Decode up to ``max_frames`` frames of a video, an image or ``demo`` into ``folder``."""
    text = spec.strip()
    if text.isdigit() or is_recording_path(text):
        raise CaptureError(f"bench --source needs a video, an image or 'demo', not {spec!r}")
    src = open_source(text, realtime=False, max_side=max_side)
    path = folder / "frames.rgb"
    count, shape = 0, (0, 0)
    try:
        with open(path, "wb") as out:
            for captured in src.frames():
                if count >= max_frames:
                    break
                rgb = np.ascontiguousarray(captured.rgb, dtype=np.uint8)
                if count == 0:
                    shape = (int(rgb.shape[0]), int(rgb.shape[1]))
                elif rgb.shape[:2] != shape:
                    raise CaptureError(f"{spec}: frames change size ({rgb.shape[:2]} after {shape})")
                out.write(rgb.tobytes())
                count += 1
    finally:
        src.close()
    if count == 0:
        raise CaptureError(f"{spec}: no frames to benchmark")
    return FrameFile(path, count, shape[0], shape[1], float(src.fps), src.description)
