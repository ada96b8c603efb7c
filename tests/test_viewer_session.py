"""The Live Lab's controls on a real Pipeline (no MediaPipe): record to a file that reads back, switch
outputs, mirror the image, pause, calibrate (saved, loaded back, applied), survive a failed write."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rigframes import rig_frame
from synth import face_obs, frame, pose_obs, tpose_internal

from mocap_bridge.capture.sources import CapturedFrame
from mocap_bridge.frames import RigFrame, TrackedFrame
from mocap_bridge.pipeline import Pipeline
from mocap_bridge.protocols.ws_json import parse_channels
from mocap_bridge.recording import RecordingReader, RecordingWriter
from mocap_bridge.solve.calibration import load_calibration
from mocap_bridge.transports.websocket import WebSocketServer
from mocap_bridge.viewer.commands import CommandError
from mocap_bridge.viewer.session import LiveLab, SourceInfo, ViewerOptions


class Sink:
    def __init__(self, name: str) -> None:
        self.name = name
        self.frames: list[int] = []
        self.sent = 0
        self.dropped = 0

    async def start(self) -> None:
        pass

    def send(self, f: RigFrame) -> None:
        self.frames.append(f.index)
        self.sent += 1

    def status(self) -> str:
        return f"{self.name} ok"

    async def aclose(self) -> None:
        pass


def solve(f: TrackedFrame) -> RigFrame:
    return dataclasses.replace(rig_frame(index=f.index, t_ms=f.t_ms), tracked=f)


def tracked(i: int) -> TrackedFrame:
    blend = np.linspace(0.0, 0.5, 52)
    return frame(i, 1000 + 33 * i, pose=pose_obs(tpose_internal()), face=face_obs(blend))


def make_lab(tmp_path: Path, *, replay: bool = False, mirror: bool = False, mode: str = "realtime",
             factory: Any = None) -> tuple[LiveLab, Pipeline, dict[str, Sink]]:  # fmt: skip
    sinks = {n: Sink(n) for n in ("livelink", "vmc")}
    server = WebSocketServer("127.0.0.1", 0, hello=lambda ch: b"{}", parse_channels=parse_channels)
    info = SourceInfo(description="test", fps=30.0, mode=mode, mirror=mirror, replay=replay, live=True,
                      models={"face": "abc"})  # fmt: skip
    opts = ViewerOptions(output_dir=tmp_path, solver_with_calibration=factory)
    lab = LiveLab(opts, list(sinks.values()), server, info)
    pipeline = Pipeline(solve, lab.sinks, clock=lambda: 0.0, measure_latency=False)
    lab.bind(pipeline, None, video=False)
    return lab, pipeline, sinks


def test_record_start_stop_reads_back(tmp_path: Path) -> None:
    lab, pipeline, _ = make_lab(tmp_path)
    c = lab.controls
    started = c.record(True)
    path = Path(started["path"])
    assert path.parent == tmp_path and path.name.startswith("live-lab-") and path.name.endswith(".jsonl.gz")
    for i in range(5):
        pipeline.process(tracked(i))
    assert c.state()["recording"] == {"path": str(path), "frames": 5}
    assert c.record(False) == {"path": str(path), "frames": 5}
    pipeline.process(tracked(5))  # not recorded any more
    reader = RecordingReader(path)
    assert [f.index for f in reader.frames()] == [0, 1, 2, 3, 4]
    assert reader.header["models"] == {"face": "abc"} and reader.header["mirror"] is False
    with pytest.raises(CommandError, match="not recording"):
        c.record(False)
    again = Path(c.record(True)["path"])
    assert again != path  # never overwrites the last take
    c.close()


def test_record_refused_while_the_command_line_records(tmp_path: Path) -> None:
    lab, pipeline, _ = make_lab(tmp_path)
    pipeline.recorder = RecordingWriter(tmp_path / "cli.jsonl", source="s", mode="video", mirror=False,
                                        fps=30.0, models={})  # fmt: skip
    with pytest.raises(CommandError, match=r"already recording to .*cli\.jsonl"):
        lab.controls.record(True)
    with pytest.raises(CommandError, match="started with --record"):
        lab.controls.record(False)
    pipeline.recorder.close()


def test_a_failed_write_ends_the_recording_and_says_so(tmp_path: Path) -> None:
    lab, pipeline, sinks = make_lab(tmp_path)
    lab.controls.record(True)
    pipeline.process(tracked(0))
    assert pipeline.recorder is not None
    assert isinstance(pipeline.recorder, RecordingWriter)
    pipeline.recorder._f.close()  # the next write fails, as on a full disk
    pipeline.process(tracked(1))
    assert pipeline.recorder is None and sinks["vmc"].frames == [0, 1]  # the stream went on
    state = lab.controls.state()
    assert state["recording"] is None and state["last_recording"]["error"] == "write failed"


def test_outputs_switch_off_and_on(tmp_path: Path) -> None:
    lab, pipeline, sinks = make_lab(tmp_path)
    c = lab.controls
    assert c.output("vmc", False) == {"name": "vmc", "on": False}
    pipeline.process(tracked(0))
    c.output("vmc", True)
    pipeline.process(tracked(1))
    assert sinks["vmc"].frames == [1] and sinks["livelink"].frames == [0, 1]
    assert c.state()["outputs"] == {"livelink": True, "vmc": True}
    c.output("livelink", False)
    assert "livelink off" in pipeline.status_line(1.0)
    with pytest.raises(CommandError, match="osc is not running"):
        c.output("osc", True)


def test_mirror_flips_the_image_before_tracking(tmp_path: Path) -> None:
    lab, _, _ = make_lab(tmp_path, mirror=True)
    stop = threading.Event()
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    cap = CapturedFrame(0, 0, rgb)
    assert lab.on_capture(cap, stop) is rgb  # --mirror already flipped it at capture
    assert lab.controls.mirror(False) == {"mirror": False}  # undo it at run time
    out = lab.on_capture(cap, stop)
    assert out is not None and np.array_equal(out, rgb[:, ::-1]) and out.flags.c_contiguous
    assert lab.controls.state()["mirror"] is False
    replay, _, _ = make_lab(tmp_path, replay=True)
    with pytest.raises(CommandError, match="replays what was tracked"):
        replay.controls.mirror(True)


def test_pause_skips_live_frames_and_holds_a_file(tmp_path: Path) -> None:
    live, _, _ = make_lab(tmp_path)
    stop = threading.Event()
    cap = CapturedFrame(0, 0, np.zeros((2, 2, 3), np.uint8))
    live.controls.pause(True)
    assert live.on_capture(cap, stop) is None
    live.controls.pause(False)
    assert live.on_capture(cap, stop) is not None
    video, _, _ = make_lab(tmp_path, mode="video")
    video.controls.pause(True)
    got: list[Any] = []
    t = threading.Thread(target=lambda: got.append(video.on_capture(cap, stop)))
    t.start()
    time.sleep(0.2)
    assert got == []  # the file waits
    video.controls.pause(False)
    t.join(5)
    assert got and got[0] is not None


def test_calibration_is_saved_and_applied_live(tmp_path: Path) -> None:
    built: list[Path] = []

    def factory(path: Path) -> Any:
        built.append(path)
        return lambda f: dataclasses.replace(solve(f), index=-f.index)

    async def main() -> None:
        lab, pipeline, sinks = make_lab(tmp_path, factory=factory)
        c = lab.controls
        assert c.calibrate(5) == {"state": "capturing", "frames": 0, "target": 5}
        with pytest.raises(CommandError, match="already running"):
            c.calibrate(5)
        for i in range(5):
            pipeline.process(tracked(i))  # LabSink.send collects the frames
        for _ in range(500):
            if c.calibration["state"] not in ("capturing", "applying"):
                break
            await asyncio.sleep(0.01)
        assert c.calibration["state"] == "applied" and c.calibration["frames"] == 5
        profile = load_calibration(c.calibration["path"])
        assert profile.frames == 5 and built == [Path(c.calibration["path"])]
        pipeline.process(tracked(9))
        assert sinks["vmc"].frames[-1] == -9  # the new solver runs

    asyncio.run(main())
