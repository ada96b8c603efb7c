"""A recording is never lost (issue 10, class 3), and replay timing cannot hang (class 2, replay).

Real files and real processes: a writer killed with SIGKILL, files cut at every kind of offset,
a disk that is full (/dev/full), recording onto the source, a recording whose clock jumps a year.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import orjson
import pytest
from synth import synthetic

from mocap_bridge.recording import MAX_REPLAY_GAP_MS, RecordingReader, RecordingWriter

ROOT = Path(__file__).resolve().parents[1]
QUIET_OUTPUTS = ["--no-livelink", "--no-vmc", "--no-ws", "--no-osc"]


def write(path: Path, n: int, *, step_ms: int = 33) -> list[int]:
    """``n`` synthetic frames; returns the file size after each frame (every frame is flushed)."""
    rng = np.random.default_rng(7)
    sizes = []
    with RecordingWriter(path, source="s", mode="video", mirror=False, fps=30, models={}) as rec:
        for i in range(n):
            f = synthetic(i, rng)
            rec.write(type(f)(f.index, 1000 + step_ms * i, f.pose, f.face, f.hands, f.status, f.result_ms))
            sizes.append(path.stat().st_size)
    return sizes


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mocap_bridge", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip


def assert_one_line_error(proc: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("mocap-bridge: error:") and fragment in lines[0], proc.stderr


@pytest.mark.parametrize("name", ["cut.jsonl", "cut.jsonl.gz"])
def test_every_complete_frame_of_a_cut_file_is_recovered(tmp_path: Path, name: str) -> None:
    full = tmp_path / name
    sizes = write(full, 12)
    data = full.read_bytes()
    for cut in sorted({sizes[3] + 1, sizes[6] - 1, sizes[6], (sizes[8] + sizes[9]) // 2, sizes[11] - 5}):
        part = tmp_path / f"part-{cut}-{name}"
        part.write_bytes(data[:cut])
        reader = RecordingReader(part)
        frames = list(reader.frames())
        # frames whose bytes were all on disk at the cut (a plain line missing only its newline counts)
        slack = 0 if name.endswith(".gz") else 1
        flushed = sum(s - slack <= cut for s in sizes)
        started = sum(prev < cut for prev in [0, *sizes[:-1]])  # frames with some bytes on disk
        assert flushed <= len(frames) <= started, cut
        assert [f.index for f in frames] == list(range(len(frames)))
        note = reader.note() or ""
        on_line_end = slack and any(cut in (s - 1, s) for s in sizes)  # plain: looks complete
        if cut < len(data) and not on_line_end:
            assert reader.stats.ended_early and f"{len(frames)} frames read; the file ended early" in note
    reader = RecordingReader(full)
    assert len(list(reader.frames())) == 12 and reader.stats.ended_early is None and reader.note() is None


def test_a_killed_writer_leaves_every_frame_it_wrote_readable(tmp_path: Path) -> None:
    path = tmp_path / "killed.jsonl.gz"
    code = f"""
import os, signal, sys
import numpy as np
sys.path.insert(0, {str(ROOT / "tests")!r})
from synth import synthetic
from mocap_bridge.recording import RecordingWriter
rec = RecordingWriter({str(path)!r}, source="s", mode="video", mirror=False, fps=30, models={{}})
rng = np.random.default_rng(1)
for i in range(25):
    rec.write(synthetic(i, rng))
os.kill(os.getpid(), signal.SIGKILL)
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    reader = RecordingReader(path)
    assert [f.index for f in reader.frames()] == list(range(25))
    assert reader.stats.ended_early == "the gzip stream is cut off"


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_cli_recording_survives_an_abrupt_end(tmp_path: Path, sig: signal.Signals) -> None:
    src = tmp_path / "src.jsonl"
    write(src, 150)  # ~5 s in realtime
    out = tmp_path / "out.jsonl.gz"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mocap_bridge", "run", "--source", str(src), "--record", str(out),
         *QUIET_OUTPUTS], cwd=ROOT, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        proc.stderr.readline()  # the start line: the session is running
        deadline = time.monotonic() + 60
        while (not out.exists() or out.stat().st_size < 40_000) and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(sig)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    frames = list(RecordingReader(out).frames())
    assert len(frames) >= 2
    assert [f.index for f in frames] == list(range(len(frames)))


def test_disk_full_stops_the_recording_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("/dev/full is absent on this system")
    full = tmp_path / "full.jsonl.gz"
    full.symlink_to("/dev/full")
    rec = RecordingWriter(full, source="s", mode="video", mirror=False, fps=30, models={})
    rng = np.random.default_rng(0)
    for i in range(5):
        rec.write(synthetic(i, rng))  # never raises
    rec.close()
    rec.close()
    assert rec.failed is not None and "space" in rec.failed.lower()
    warnings = [r for r in caplog.records if r.name == "mocap_bridge.recording"]
    assert len(warnings) == 1 and "stopped after 0 frames" in warnings[0].getMessage()


def test_cli_disk_full_warns_once_and_the_stream_goes_on(tmp_path: Path) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("/dev/full is absent on this system")
    src = tmp_path / "src.jsonl"
    write(src, 20)
    full = tmp_path / "full.jsonl"
    full.symlink_to("/dev/full")
    proc = cli("run", "--source", str(src), "--mode", "video", "--record", str(full), *QUIET_OUTPUTS)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    warnings = [ln for ln in proc.stderr.splitlines() if "recording" in ln and "stopped" in ln]
    assert len(warnings) == 1 and "No space left on device" in warnings[0], proc.stderr
    assert "20 frames captured, 20 emitted" in proc.stderr


def test_cli_refuses_to_record_onto_the_source(tmp_path: Path) -> None:
    src = tmp_path / "r.jsonl"
    write(src, 5)
    before = src.read_bytes()
    link = tmp_path / "link.jsonl"
    link.symlink_to(src)
    os.link(src, tmp_path / "hard.jsonl")
    for record in (str(src), str(tmp_path / "." / "r.jsonl"), str(link), str(tmp_path / "hard.jsonl")):
        proc = cli("run", "--source", str(src), "--record", record, *QUIET_OUTPUTS)
        assert_one_line_error(proc, "is the recording being replayed")
    proc = subprocess.run(
        [sys.executable, "-m", "mocap_bridge", "run", "--source", "r.jsonl", "--record", "./r.jsonl",
         *QUIET_OUTPUTS], cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert_one_line_error(proc, "is the recording being replayed")
    assert src.read_bytes() == before


def _jumping(path: Path, jumps: int = 1) -> None:
    """Three frames, then the clock jumps by a year, then three more (``jumps`` times)."""
    write(path, 3 * (jumps + 1))
    lines = path.read_bytes().splitlines()
    year = 365 * 24 * 3600 * 1000
    for k in range(4, len(lines)):
        obj = orjson.loads(lines[k])
        obj["t_ms"] += year * ((k - 1) // 3)
        lines[k] = orjson.dumps(obj)
    path.write_bytes(b"\n".join(lines) + b"\n")


def test_realtime_replay_shortens_a_year_long_pause(tmp_path: Path) -> None:
    path = tmp_path / "year.jsonl"
    _jumping(path)
    reader = RecordingReader(path)
    done = threading.Event()
    got: list[int] = []

    def consume() -> None:
        got.extend(f.index for f in reader.replay(realtime=True))
        done.set()

    threading.Thread(target=consume, daemon=True).start()
    assert done.wait(60), "the replay slept through the pause"  # a hang guard, not a speed check
    assert got == list(range(6)) and reader.stats.gaps_shortened == 1
    assert "1 pauses over 1 s shortened" in (reader.note() or "")
    assert MAX_REPLAY_GAP_MS == 1000.0


def test_replay_stops_while_it_waits(tmp_path: Path) -> None:
    path = tmp_path / "year.jsonl"
    _jumping(path)
    stop = threading.Event()
    got: list[int] = []
    for frame in RecordingReader(path).replay(realtime=True, stop=stop):
        got.append(frame.index)
        if frame.index == 2:
            stop.set()  # the next frame is behind the (shortened) pause: it must not come
    assert got == [0, 1, 2]


def test_cli_ctrl_c_during_a_year_long_pause(tmp_path: Path) -> None:
    path = tmp_path / "years.jsonl"
    _jumping(path, jumps=20)  # 20 pauses of a year, each shortened to 1 s
    proc = subprocess.Popen([sys.executable, "-m", "mocap_bridge", "run", "--source", str(path),
                             *QUIET_OUTPUTS], cwd=ROOT, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stderr is not None
        seen: list[str] = []
        while not any(" fps  out " in ln for ln in seen):  # a status line: the session is running
            line = proc.stderr.readline()
            assert line, "".join(seen)
            seen.append(line)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)  # the old reader slept for a year here
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Traceback" not in err
    summary = next(ln for ln in err.splitlines() if "frames captured" in ln)
    assert int(summary.split()[0]) < 63  # it stopped in the middle
