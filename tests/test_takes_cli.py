"""`run --takes DIR --record FILE`: the whole run is a take too; and a listener that cannot bind
is one line and exit 2."""

from __future__ import annotations

import csv
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from mocap_bridge.export.llf_csv import LLF_CSV_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def test_record_with_takes_writes_a_take_folder_too(take: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "whole.jsonl"
    cmd = [sys.executable, "-m", "mocap_bridge", "run", "--source", str(take["rec"]), "--mode", "video",
           "--quiet", "--no-vmc", "--no-livelink", "--no-ws", "--record", str(out),
           "--takes", str(tmp_path / "takes"), "--slate", "Demo"]  # fmt: skip
    p = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, timeout=180)
    assert p.returncode == 0, p.stderr.decode(errors="replace")[-1500:]
    folder = tmp_path / "takes" / "Demo_1"
    meta = json.loads((folder / "take.json").read_text())
    assert meta["frames"] == take["frames"] and meta["stop_timecode"]
    with gzip.open(folder / "Demo_1.jsonl.gz", "rt") as f:
        raw = [ln for ln in f if ln.strip()]
    assert len(raw) - 1 == take["frames"]
    assert len(out.read_text().splitlines()) - 1 == take["frames"]  # --record still written
    with (folder / "Demo_1_MocapBridge_cal.csv").open(newline="") as f:
        header, *rows = list(csv.reader(f))
    assert header[2:] == list(LLF_CSV_COLUMNS) and len(rows) == take["frames"]


def test_remote_listener_that_cannot_bind_is_one_line_and_exit_2(take: dict[str, Any]) -> None:
    cmd = [
        sys.executable,
        "-m",
        "mocap_bridge",
        "run",
        "--source",
        str(take["rec"]),
        "--quiet",
        "--no-ws",
        "--remote",
        "203.0.113.7:8000",
    ]  # fmt: skip  (TEST-NET-3: not ours)
    p = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, timeout=120)
    lines = [ln for ln in p.stderr.decode().splitlines() if ln.strip()]
    assert p.returncode == 2 and len(lines) == 1 and "[remote]" in lines[0], lines
