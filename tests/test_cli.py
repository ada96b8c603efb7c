"""The command line end to end: real subprocesses, real files, one-line errors with exit code 2."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import media

from mocap_bridge.recording import RecordingReader

QUIET_OUTPUTS = ["--no-livelink", "--no-vmc", "--no-ws"]


def cli(
    *args: str, timeout: float = 240, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mocap_bridge", *args],
        capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})},
    )  # fmt: skip


def assert_one_line_error(proc: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("mocap-bridge")]
    assert len(lines) == 1 and fragment in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_done_when_video_mode_recording(tmp_path: Path) -> None:
    """The issue's acceptance command: 120 frames in VIDEO mode, recorded, face/pose/hand found."""
    out = tmp_path / "out.jsonl"
    proc = cli("run", "--source", str(media("fist_thumbs_up.mp4")), "--mode", "video",
               "--max-frames", "120", "--record", str(out), *QUIET_OUTPUTS)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "120 frames captured, 120 emitted" in proc.stderr
    reader = RecordingReader(out)
    assert reader.header["schema"] == "mocap_bridge.recording/1"
    assert set(reader.header["models"]) == {"pose_full", "face", "hand"}
    frames = list(reader.frames())
    assert len(frames) == 120
    assert sum(f.face is not None for f in frames) >= 0.95 * 120
    assert sum(f.pose is not None for f in frames) >= 0.95 * 120
    assert sum(bool(f.hands) for f in frames) >= 0.60 * 120
    # Replaying the recording (no MediaPipe) goes through the same pipeline, as fast as possible.
    proc = cli("run", "--source", str(out), "--mode", "video", *QUIET_OUTPUTS)
    assert proc.returncode == 0, proc.stderr
    assert "120 frames captured, 120 emitted" in proc.stderr


def test_demo_runs_offline_with_status_lines() -> None:
    proc = cli("run", "--source", "demo", "--max-frames", "45", *QUIET_OUTPUTS)
    assert proc.returncode == 0, proc.stderr
    assert "demo (Grace Hopper" in proc.stderr
    assert " fps  out " in proc.stderr  # at least one once-a-second status line
    assert "45 frames captured" in proc.stderr
    assert "Traceback" not in proc.stderr and "__del__" not in proc.stderr


def test_no_source_and_no_camera_falls_back_to_the_demo() -> None:
    proc = cli("run", "--max-frames", "3", *QUIET_OUTPUTS)  # this machine has no camera
    assert proc.returncode == 0, proc.stderr
    assert "no camera" in proc.stderr and "playing the demo instead" in proc.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["run", "--source", "/nonexistent/clip.mp4"], "no such file"),
        (["run", "--source", "9"], "camera 9 cannot be opened"),
        (["run", "--max-frames", "-3"], "must be positive"),
        (["run", "--mode", "fast"], "invalid choice"),
        (["run", "--pose-model", "mega"], "invalid choice"),
        (["run", "--preset", "nosuch"], "unknown preset"),
        (["run", "--source", "/nonexistent/rec.jsonl"], "no such recording"),
        (["run", "--record", "out.txt", "--source", "demo"], "--record must end in"),
        (["models", "fetch", "pose_mega"], "unknown model 'pose_mega'"),
        (["calibrate", "--out", "x.toml"], "needs --source"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], fragment: str) -> None:
    assert_one_line_error(cli(*args, *QUIET_OUTPUTS if args[0] == "run" else ()), fragment)


def test_corrupt_video_and_empty_folder(tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(b"\x00" * 4096)
    assert_one_line_error(cli("run", "--source", str(bad), *QUIET_OUTPUTS), "corrupt")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(cli("run", "--source", str(empty), *QUIET_OUTPUTS), "folder has no images")


def test_bad_config_file_names_file_and_key(tmp_path: Path) -> None:
    cfg = tmp_path / "mine.toml"
    cfg.write_text("[tracking]\nposemodel = 'lite'\n")
    proc = cli("run", "--config", str(cfg), *QUIET_OUTPUTS)
    assert_one_line_error(proc, "mine.toml: unknown key [tracking] posemodel")


def test_unreachable_model_source_without_offline_copy(tmp_path: Path) -> None:
    proc = cli("models", "fetch", "pose_lite", "--offline", "--models", str(tmp_path))
    assert_one_line_error(proc, "no offline copy")


def test_models_list_verify_path() -> None:
    proc = cli("models", "list")
    assert proc.returncode == 0 and "pose_full" in proc.stdout and "face_landmarker.task" in proc.stdout
    proc = cli("models", "verify")
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.splitlines() == ["pose_full: ok", "face: ok", "hand: ok"]
    proc = cli("models", "path", "face")
    assert proc.stdout.strip().endswith("face_landmarker.task")


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_and_sigterm_stop_cleanly(signum: int, code: int) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mocap_bridge", "run", "--source", "demo", *QUIET_OUTPUTS],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    for line in proc.stderr:  # wait for the first status line: tracking is running
        if " fps  out " in line or time.monotonic() > deadline:
            break
    proc.send_signal(signum)
    rest = proc.stderr.read()
    assert proc.wait(timeout=30) == code, rest  # 128 + the signal, after the summary
    assert "frames captured" in rest
    assert "Traceback" not in rest and "__del__" not in rest
