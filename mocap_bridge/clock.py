"""The one place that reads the clock; everything downstream takes time as an argument."""

from __future__ import annotations

import time

__all__ = ["monotonic_ms", "utc_offset_s", "wall_ms", "wall_offset_ms"]


def monotonic_ms() -> float:
    """Monotonic time in milliseconds (capture timestamps and latencies use this clock)."""
    return time.monotonic_ns() / 1e6


def wall_offset_ms() -> float:
    """Epoch ms minus monotonic ms, taken once: converts capture stamps to wall time (timecode)."""
    return time.time_ns() / 1e6 - monotonic_ms()


def wall_ms() -> float:
    """Epoch time in milliseconds (WebSocket send stamps, recording start)."""
    return time.time_ns() / 1e6


def utc_offset_s() -> float:
    """The local time zone's offset from UTC now (Live Link timecode counts from local midnight)."""
    return float(time.localtime().tm_gmtoff)
