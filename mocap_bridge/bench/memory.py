"""Resident memory of this process (Linux ``/proc/self/status``, else ``resource``)."""

from __future__ import annotations

import sys

__all__ = ["rss_mb"]


def rss_mb() -> float:
    """Current resident set size in MiB (peak RSS where /proc is unavailable)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0
