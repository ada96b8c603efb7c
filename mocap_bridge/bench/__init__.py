"""``mocap-bridge bench``: this machine's figures against the bridge's targets, as a table and JSON.

Everything comes from one run on the same decoded frames (:mod:`.clip`; ``--source`` a video,
an image or ``demo``, the default):

* :mod:`.floor` – MediaPipe alone: each landmarker's VIDEO-mode CPU time per frame, summed as the
  pipeline uses them, and the RSS of three plain landmarkers (a fresh worker process);
* :mod:`.live` – the live pipeline at 30 and 60 fps input: complete frames/s, latency, CPU per
  frame and RSS (a fresh worker process each);
* :mod:`.cold_start` – ``mocap-bridge run`` from spawn to its first datagram;
* :mod:`.overhead` – merge + solve + four encoders per frame on the frames the floor tracked;
* :mod:`.fanout` – N WebSocket clients plus one stalled client at a 30 Hz stream.

Targets and the table are in :mod:`.report`. Naive baselines and comparisons are not installed:
they live in the repository's ``benchmarks/`` folder. ``--json`` prints exactly one JSON object on
stdout; everything human goes to stderr then.
"""

from __future__ import annotations

from .report import REPORT_KEYS, TARGETS, Target, evaluate
from .runner import FULL, QUICK, BenchPlan, run_bench

__all__ = ["FULL", "QUICK", "REPORT_KEYS", "TARGETS", "BenchPlan", "Target", "evaluate", "run_bench"]
