"""Loopback end to end: ``python -m mocap_bridge run`` on real footage → our test receivers.

Checks, per output, one frame's worth per tracked frame (≥ 90 %), every datagram readable by the
independent decoders (PyLiveLinkFace, python-osc), no datagram above the configured size, and a
WebSocket client that gets ``hello`` first and schema-valid frames.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import media
from oscutil import python_osc_messages, typetags
from pylivelinkface import PyLiveLinkFace
from receivers import UdpReceiver, free_tcp_port, ws_client

from mocap_bridge.protocols.livelink import decode_livelink
from mocap_bridge.protocols.ws_json import schema

ROOT = Path(__file__).resolve().parents[1]
MAX_DATAGRAM = 1000
FRAMES = 40


def test_run_broadcasts_every_tracked_frame(tmp_path: Path) -> None:
    video = media("fist_thumbs_up.mp4")
    llf, vmc, osc = UdpReceiver(), UdpReceiver(), UdpReceiver()
    ws_port = free_tcp_port()
    record = tmp_path / "run.jsonl"
    cmd = [
        sys.executable, "-m", "mocap_bridge", "run", "--source", str(video), "--mode", "video",
        "--max-frames", str(FRAMES), "--quiet", "--offline", "--record", str(record),
        "--livelink", f"127.0.0.1:{llf.port}", "--vmc", f"127.0.0.1:{vmc.port}",
        "--osc", f"127.0.0.1:{osc.port}", "--ws", f"127.0.0.1:{ws_port}",
        "--max-datagram", str(MAX_DATAGRAM), "--perfect-sync",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    messages: list[dict[str, Any]] = []
    try:
        asyncio.run(asyncio.wait_for(ws_client(ws_port, proc, messages), 240))
        _, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    got = {name: r.stop() for name, r in (("llf", llf), ("vmc", vmc), ("osc", osc))}
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]

    tracked = sum(1 for line in record.read_text().splitlines() if line.strip().startswith("{"))
    tracked = min(tracked, FRAMES)
    assert tracked >= FRAMES * 0.9

    # Live Link: one packet per frame, read by PyLiveLinkFace (values and frame number).
    assert len(got["llf"]) >= 0.9 * tracked
    for p in got["llf"]:
        ok, face = PyLiveLinkFace.decode(p)
        ours = decode_livelink(p)
        assert ok and face._frames == ours.frame
        assert tuple(face._blend_shapes) == ours.values
        assert len(p) <= MAX_DATAGRAM

    # VMC: every datagram parses; one Blend/Apply per frame, after that frame's values.
    vmc_msgs = [m for d in got["vmc"] for m in python_osc_messages(d)]
    assert all(len(d) <= MAX_DATAGRAM for d in got["vmc"])
    assert all(set(typetags(m)) <= {"s", "i", "f"} for m in vmc_msgs)
    applies = sum(m.address == "/VMC/Ext/Blend/Apply" for m in vmc_msgs)
    oks = sum(m.address == "/VMC/Ext/OK" for m in vmc_msgs)
    assert applies >= 0.9 * tracked and oks >= 0.9 * tracked
    assert any(m.address == "/VMC/Ext/Blend/Val" and m.params[0] == "jawOpen" for m in vmc_msgs)

    # Generic OSC: one /mocap/frame per frame.
    osc_msgs = [m for d in got["osc"] for m in python_osc_messages(d)]
    assert all(len(d) <= MAX_DATAGRAM for d in got["osc"])
    assert sum(m.address == "/mocap/frame" for m in osc_msgs) >= 0.9 * tracked

    # WebSocket: hello first, then schema-valid frames.
    assert messages, "the WebSocket client received nothing"
    assert messages[0]["type"] == "hello"
    validator = jsonschema.Draft202012Validator(schema())
    for m in messages:
        validator.validate(m)
    frames = [m for m in messages if m["type"] == "frame"]
    assert frames, json.dumps(messages[:1])
    assert [f["index"] for f in frames] == sorted(f["index"] for f in frames)


@pytest.mark.skipif(sys.platform == "win32", reason="exit code check uses POSIX shells")
def test_bad_target_is_one_line_and_exit_2() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mocap_bridge", "run", "--source", "demo", "--vmc", "nohost"],
        cwd=ROOT, capture_output=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.decode().splitlines() if ln.strip()]
    assert len(lines) == 1 and "--vmc" in lines[0]
