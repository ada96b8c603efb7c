"""The one place that reads the clock; everything downstream takes time as an argument."""

from __future__ import annotations

import time

__all__ = ["cpu_s", "monotonic_ms", "perf_ns", "thread_cpu_ns", "utc_offset_s", "wall_ms", "wall_offset_ms"]


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


def perf_ns() -> int:
    """A high-resolution monotonic counter in nanoseconds (benchmark timings of short stages)."""
    return time.perf_counter_ns()


def cpu_s() -> float:
    """CPU time of this process, all threads, user + system, in seconds (benchmark CPU budgets)."""
    return time.process_time()


def thread_cpu_ns() -> int:
    """CPU time of the calling thread in nanoseconds (excludes time the thread was not running)."""
    return time.thread_time_ns()


def monotonic_s() -> float:
    """Monotonic time in seconds (timeouts and rates on the transport side)."""
    return time.monotonic()
