"""Resident memory of this process (Linux ``/proc/self/status``, else ``resource``)."""

from __future__ import annotations

import sys

__all__ = ["peak_rss_mb", "rss_mb"]


def _status_mb(key: str) -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(key):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def peak_rss_mb() -> float:
    """The process's peak resident set size in MiB (``VmHWM``)."""
    value = _status_mb("VmHWM:")
    if value is not None:
        return value
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def rss_mb() -> float:
    """Current resident set size in MiB (the peak where /proc is unavailable)."""
    value = _status_mb("VmRSS:")
    return value if value is not None else peak_rss_mb()
