"""Low-rate JPEG thumbnails of the frames MediaPipe saw, for the viewer's ``video`` channel.

Theory of operation: the capture thread calls :meth:`Thumbnailer.offer` once per frame. It costs a
few attribute reads: nothing happens unless ``wanted()`` says a client subscribed and at least
``1/fps`` seconds (wall clock) passed since the last frame taken; then the frame (a reference, no
copy: sources make a new array per frame) goes into a one-slot mailbox, replacing whatever waited
there (latest wins).
A worker thread resizes and encodes it (OpenCV releases the GIL for both) and hands the message to
``deliver`` (which, in the app, passes it to the loop with ``call_soon_threadsafe``). So neither
the capture thread nor the loop ever encodes, and a slow encoder only lowers the thumbnail rate.

Message layout (binary, little-endian), then the JPEG bytes::

    b"MBV1"  uint32 frame index  float64 t_ms (capture, ms)  uint16 width  uint16 height
"""

from __future__ import annotations

import logging
import struct
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from ..clock import monotonic_s

__all__ = ["HEADER", "MAGIC", "Thumbnailer", "parse_thumbnail"]

log = logging.getLogger(__name__)

MAGIC = b"MBV1"
HEADER = struct.Struct("<4sIdHH")


def parse_thumbnail(message: bytes) -> tuple[int, float, int, int, bytes]:
    """(index, t_ms, width, height, jpeg) from one ``video`` message (ValueError if not one)."""
    if len(message) < HEADER.size or message[:4] != MAGIC:
        raise ValueError("not a mocap_bridge video message")
    _, index, t_ms, w, h = HEADER.unpack_from(message)
    return index, t_ms, w, h, message[HEADER.size :]


class Thumbnailer:
    """Encode at most ``fps`` thumbnails a second, ``width`` pixels wide, off the calling thread."""

    def __init__(
        self,
        deliver: Callable[[bytes], None],
        *,
        wanted: Callable[[], bool],
        fps: float = 12.0,
        width: int = 400,
        quality: int = 70,
        clock: Callable[[], float] = monotonic_s,
    ) -> None:
        import cv2

        self._cv2 = cv2
        self._deliver = deliver
        self._wanted = wanted
        self.period_s = 1.0 / fps
        self._clock = clock
        self.width = width
        self._params = [int(cv2.IMWRITE_JPEG_QUALITY), quality]
        self._last_t: float | None = None
        self._slot: tuple[int, float, Any] | None = None
        self._cond = threading.Condition()
        self._closed = False
        self.encoded = 0  #: thumbnails delivered
        self.replaced = 0  #: frames taken but overtaken in the mailbox before encoding
        self.errors = 0
        self._thread = threading.Thread(target=self._work, name="thumbnails", daemon=True)
        self._thread.start()

    def offer(self, index: int, t_ms: float, rgb: np.ndarray) -> None:
        """Called by the capture thread for every frame; returns at once."""
        if not self._wanted():
            self._last_t = None
            return
        now = self._clock()  # wall time: video mode runs faster than the media clock
        last = self._last_t
        if last is not None and now - last < self.period_s:
            return
        self._last_t = now
        with self._cond:
            if self._slot is not None:
                self.replaced += 1
            self._slot = (index, t_ms, rgb)
            self._cond.notify()

    def encode(self, index: int, t_ms: float, rgb: np.ndarray) -> bytes:
        """One message (header + JPEG) for an RGB frame."""
        cv2 = self._cv2
        h, w = rgb.shape[:2]
        if w > self.width:
            tw, th = self.width, max(1, round(h * self.width / w))
            rgb = cv2.resize(rgb, (tw, th), interpolation=cv2.INTER_AREA)
        else:
            tw, th = w, h
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), self._params)
        if not ok:
            raise ValueError("JPEG encoding failed")
        body: bytes = jpeg.tobytes()
        return HEADER.pack(MAGIC, index & 0xFFFFFFFF, float(t_ms), tw, th) + body

    def _work(self) -> None:
        while True:
            with self._cond:
                while self._slot is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                item, self._slot = self._slot, None
            assert item is not None
            try:
                message = self.encode(*item)
            except Exception:  # a bad frame costs one thumbnail, never the stream
                self.errors += 1
                if self.errors == 1:
                    log.warning("thumbnail not encoded", exc_info=True)
                continue
            self.encoded += 1
            try:
                self._deliver(message)
            except RuntimeError:  # the loop has closed: the run is ending
                return

    def close(self) -> None:
        """Stop the worker (idempotent); waits at most a second for the frame being encoded."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=1.0)
