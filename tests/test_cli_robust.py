"""Bad input through the real command line (issue 10, classes 1, 4, 5 and 7).

Every run is ``python -m mocap_bridge`` in a subprocess with a timeout. Bad input must give exit
code 2 and one line that starts with ``mocap-bridge: error:`` (the first thing on stderr: no
native chatter before it), never a traceback; bad *values* inside a good recording must not stop
any output.
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import orjson
import pytest
from conftest import media
from oscutil import python_osc_messages
from receivers import UdpReceiver, free_tcp_port, ws_client

from mocap_bridge.protocols.livelink import decode_livelink
from mocap_bridge.recording import RecordingWriter

ROOT = Path(__file__).resolve().parents[1]
QUIET_OUTPUTS = ["--no-livelink", "--no-vmc", "--no-ws", "--no-osc"]


def cli(*args: str, timeout: float = 180, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "mocap_bridge", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


def assert_one_line_error(proc: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("mocap-bridge: error:") and fragment in lines[0], proc.stderr


@pytest.fixture(scope="module")
def talking(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real recording: talking_head_a.mpg (75 frames, face and pose) tracked by MediaPipe, played
    twice in a row (150 frames, 6 s in realtime)."""
    from mocap_bridge.tracking.offline import track_file

    frames = track_file(media("talking_head_a.mpg"))
    path = tmp_path_factory.mktemp("rec") / "talking.jsonl"
    with RecordingWriter(path, source="talking_head_a", mode="video", mirror=False, fps=25.0,
                         models={"face": "ab" * 32}) as rec:  # fmt: skip
        for i, f in enumerate(frames + frames):
            rec.write(type(f)(i, 40 * i, f.pose, f.face, f.hands, f.status, f.result_ms))
    return path


def rewrite(src: Path, dst: Path, edits: dict[int, Any]) -> Path:
    """``src`` with frame lines replaced: ``edits[k]`` is bytes, or a function editing frame k's object."""
    lines = src.read_bytes().splitlines()
    for k, edit in edits.items():
        if isinstance(edit, bytes):
            lines[k + 1] = edit
        else:
            obj = orjson.loads(lines[k + 1])
            edit(obj)
            lines[k + 1] = orjson.dumps(obj)
    dst.write_bytes(b"\n".join(lines) + b"\n")
    return dst


def _null_blendshape(o: Any) -> None:
    o["face"]["blendshapes"]["jawOpen"] = None


def _huge_matrix(o: Any) -> None:
    o["face"]["matrix"][0][0] = 1e308


def _huge_world(o: Any) -> None:
    o["pose"]["world"][11][0] = 1e308


def _yprs(obj: Any) -> list[Any]:
    if isinstance(obj, dict):
        return [v for k, v in obj.items() if k == "ypr"] + [y for v in obj.values() for y in _yprs(v)]
    if isinstance(obj, list):
        return [y for v in obj for y in _yprs(v)]
    return []


# ---- class 1: one bad value never stops an output ---------------------------------------------


def test_bad_values_in_a_recording_stop_no_output(talking: Path, tmp_path: Path) -> None:
    bad = rewrite(talking, tmp_path / "bad.jsonl", {40: _null_blendshape, 41: _huge_matrix, 42: _huge_world})
    n = 150
    llf, vmc = UdpReceiver(), UdpReceiver()
    ws_port = free_tcp_port()
    cmd = [sys.executable, "-m", "mocap_bridge", "run", "--source", str(bad), "--no-osc",
           "--livelink", f"127.0.0.1:{llf.port}", "--vmc", f"127.0.0.1:{vmc.port}",
           "--ws", f"127.0.0.1:{ws_port}"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    messages: list[dict[str, Any]] = []
    try:
        asyncio.run(asyncio.wait_for(ws_client(ws_port, proc, messages), 120))
        _, err_bytes = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    got = {"llf": llf.stop(), "vmc": vmc.stop()}
    err = err_bytes.decode(errors="replace")
    assert proc.returncode == 0 and "Traceback" not in err, err[-3000:]
    assert "3 parts with bad values dropped (pose 1, face 2)" in err, err[-3000:]
    assert "encode" not in err.lower(), err[-3000:]  # no frame failed to encode
    # Live Link: one packet per frame, every one finite (the old code stopped after frame 40).
    packets = [decode_livelink(p) for p in got["llf"]]
    assert len(packets) >= n - 2, len(packets)
    assert all(all(math.isfinite(v) for v in p.values) for p in packets)
    # VMC: one Blend/Apply per frame.
    vmc_msgs = [m for d in got["vmc"] for m in python_osc_messages(d)]
    assert sum(m.address == "/VMC/Ext/Blend/Apply" for m in vmc_msgs) >= n - 2
    # WebSocket: head.ypr is three numbers in every frame, before and after the bad ones.
    frames = [m for m in messages if m.get("type") == "frame"]
    assert frames and max(f["index"] for f in frames) >= 100, len(frames)
    yprs = [y for f in frames for y in _yprs(f)]
    assert len(yprs) == len(frames)
    assert all(isinstance(y, list) and len(y) == 3 and all(isinstance(v, float) for v in y) for y in yprs)


def test_t_ms_1e300_is_repaired_not_fatal(talking: Path, tmp_path: Path) -> None:
    bad = rewrite(talking, tmp_path / "t.jsonl", {5: lambda o: o.update(t_ms=1e300)})
    proc = cli("run", "--source", str(bad), "--mode", "video", *QUIET_OUTPUTS)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "1 timestamps repaired" in proc.stderr and "150 frames captured, 150 emitted" in proc.stderr


# ---- class 4: bad input is one line and exit 2 ------------------------------------------------


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        (b"[1,2,3]", ":12: malformed frame (frame: expected an object, got list)"),
        (b"null", ":12: malformed frame (frame: expected an object, got NoneType)"),
        (None, ":12: malformed frame (face.blendshapes: expected an object, got list)"),
    ],
    ids=["list", "null", "blendshapes-list"],
)
def test_lines_that_are_not_frames(talking: Path, tmp_path: Path, line: bytes | None, fragment: str) -> None:
    def listed(o: Any) -> None:
        o["face"]["blendshapes"] = list(o["face"]["blendshapes"].values())

    bad = rewrite(talking, tmp_path / "r.jsonl", {10: line if line is not None else listed})
    # --quiet: the error comes mid-run, after the start line a normal run prints
    proc = cli("run", "--source", str(bad), "--mode", "video", "--quiet", *QUIET_OUTPUTS)
    assert_one_line_error(proc, fragment)


def _header(src: Path, dst: Path, **fields: Any) -> Path:
    lines = src.read_bytes().splitlines()
    lines[0] = orjson.dumps({**orjson.loads(lines[0]), **fields})
    dst.write_bytes(b"\n".join(lines) + b"\n")
    return dst


@pytest.mark.parametrize("command", ["run", "calibrate"])
@pytest.mark.parametrize(
    ("fields", "fragment"),
    [({"fps": "fast"}, "header: fps must be a number"),
     ({"models": "face"}, "header: models must be an object"),
     ({"models": [1]}, "header: models must be an object")],
    ids=["fps-text", "models-text", "models-list"],
)  # fmt: skip
def test_bad_recording_headers(
    talking: Path, tmp_path: Path, command: str, fields: dict[str, Any], fragment: str
) -> None:
    bad = _header(talking, tmp_path / "h.jsonl", **fields)
    record = [*QUIET_OUTPUTS, "--record", str(tmp_path / "o.jsonl")]
    extra = ["--out", str(tmp_path / "cal.toml")] if command == "calibrate" else record
    assert_one_line_error(cli(command, "--source", str(bad), *extra), fragment)


def test_a_5000_character_source() -> None:
    proc = cli("run", "--source", "s" * 5000, *QUIET_OUTPUTS)
    assert_one_line_error(proc, "--source: [capture] source: longer than 4096 characters")
    assert len(proc.stderr) < 400
    proc = cli("run", "--source", "s" * 4000, *QUIET_OUTPUTS)  # a valid setting, but no such file
    assert_one_line_error(proc, "File name too long")
    assert len(proc.stderr) < 400
    proc = cli("run", "--source", "s" * 4000 + ".jsonl", *QUIET_OUTPUTS)
    assert_one_line_error(proc, "cannot open recording")


def test_a_read_only_models_folder_with_a_damaged_model(tmp_path: Path) -> None:
    from mocap_bridge.settings import TrackingSettings
    from mocap_bridge.tracking.offline import resolve_model_paths

    folder = tmp_path / "models"
    folder.mkdir()
    for name, path in resolve_model_paths(TrackingSettings()).items():
        shutil.copy(path, folder / path.name)
        if name == "face":
            (folder / path.name).write_bytes(path.read_bytes()[:1000])  # damaged
    if os.geteuid() == 0:  # root ignores permissions; an immutable folder is read-only even for root
        if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
            pytest.skip("cannot make a read-only folder here (running as root without chattr)")
    else:
        folder.chmod(0o555)
    try:
        for extra in ([], ["--offline"]):
            proc = cli("run", "--source", "demo", "--models", str(folder), *extra, *QUIET_OUTPUTS)
            assert_one_line_error(proc, "face_landmarker.task in")
            assert "damaged (size 1,000 B" in proc.stderr and "cannot be written" in proc.stderr
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(folder)], check=False)
        folder.chmod(0o755)


@pytest.mark.parametrize(
    ("size", "max_side"), [((2000, 1), None), ((1000, 10), "10")], ids=["2000x1", "1000x10"]
)
def test_extreme_aspect_ratio_images_run(tmp_path: Path, size: tuple[int, int], max_side: str | None) -> None:
    w, h = size
    path = tmp_path / "thin.png"
    cv2.imwrite(str(path), np.full((h, w, 3), 90, np.uint8))
    extra = ["--max-side", max_side] if max_side else []
    proc = cli("run", "--source", str(path), "--mode", "video", "--offline", *extra, *QUIET_OUTPUTS)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "1 frames captured, 1 emitted" in proc.stderr


# ---- class 5 and 7 through the CLI: our line first, no native chatter -------------------------


def test_a_corrupt_image_mid_folder_through_the_cli(tmp_path: Path) -> None:
    shutil.copy(media("hand_victory.jpg"), tmp_path / "a.jpg")
    data = media("runner_full_body.png").read_bytes()
    (tmp_path / "b.png").write_bytes(data[: len(data) // 4])
    shutil.copy(media("hands_open.jpg"), tmp_path / "c.jpg")
    proc = cli("run", "--source", str(tmp_path), "--mode", "video", "--offline", *QUIET_OUTPUTS)
    assert proc.returncode == 0, proc.stderr
    assert "libpng" not in proc.stderr
    assert sum("b.png" in ln and "skipped" in ln for ln in proc.stderr.splitlines()) == 1
    assert "2 frames captured, 2 emitted" in proc.stderr


@pytest.mark.parametrize("kind", ["png-cut", "jpeg-garbled", "video-garbage"])
def test_bad_files_give_our_line_first(tmp_path: Path, kind: str) -> None:
    if kind == "png-cut":
        data: bytes | bytearray = media("runner_full_body.png").read_bytes()
        path, fragment = tmp_path / "x.png", "cannot read image"
        path.write_bytes(data[: len(data) // 3])
    elif kind == "jpeg-garbled":
        data = bytearray(media("portrait_upper_body.jpg").read_bytes())
        data[1000:3000] = b"x" * 2000
        path, fragment = tmp_path / "x.jpg", "cannot read image"
        path.write_bytes(bytes(data))
    else:
        path, fragment = tmp_path / "x.mp4", "cannot open video"
        path.write_bytes(np.random.default_rng(0).bytes(4000))
    assert_one_line_error(cli("run", "--source", str(path), *QUIET_OUTPUTS), fragment)


def test_a_truncated_video_is_quiet_and_says_it_ended_early(tmp_path: Path) -> None:
    data = media("fist_thumbs_up.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 3 // 10])
    proc = cli("run", "--source", str(cut), "--mode", "video", "--offline", *QUIET_OUTPUTS)
    assert proc.returncode == 0, proc.stderr
    assert "[h264" not in proc.stderr and "[mov," not in proc.stderr, proc.stderr
    assert "ended after 54 of 195 frames (the file is cut short or damaged)" in proc.stderr
    summary = proc.stderr.strip().splitlines()[-1]  # and the summary says so
    assert "frames captured" in summary and "note: the video ended after 54 of 195 frames" in summary


def _camera_present() -> bool:
    return any(Path("/dev").glob("video*"))


@pytest.mark.skipif(_camera_present(), reason="a camera is present: the fallback cannot be seen")
def test_no_camera_is_one_line_before_the_demo() -> None:
    proc = cli("run", "--max-frames", "2", "--mode", "video", "--offline", *QUIET_OUTPUTS)
    assert proc.returncode == 0, proc.stderr
    first = proc.stderr.splitlines()[0]
    assert first.startswith("no camera (camera 0 cannot be opened); playing the demo"), proc.stderr
    assert "WARN" not in proc.stderr and "VIDEOIO" not in proc.stderr and "obsensor" not in proc.stderr


def test_recording_a_run_to_the_source_itself_via_relative_path(talking: Path, tmp_path: Path) -> None:
    src = tmp_path / "r.jsonl"
    shutil.copy(talking, src)
    before = src.read_bytes()
    assert_one_line_error(cli("run", "--source", "r.jsonl", "--record", "./r.jsonl", *QUIET_OUTPUTS,
                              cwd=tmp_path), "is the recording being replayed")  # fmt: skip
    assert src.read_bytes() == before
