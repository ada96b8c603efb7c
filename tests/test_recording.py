"""Recordings: exact round trip, gzip, original timing on replay, and clear errors."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from conftest import media
from synth import synthetic

from mocap_bridge.clock import monotonic_ms
from mocap_bridge.errors import RecordingError
from mocap_bridge.frames import (
    TrackedFrame,
)
from mocap_bridge.recording import SCHEMA, RecordingReader, RecordingWriter
from mocap_bridge.tracking.offline import track_file


def assert_same(a: TrackedFrame, b: TrackedFrame) -> None:
    assert (a.index, a.t_ms, a.status, a.result_ms) == (b.index, b.t_ms, b.status, b.result_ms)
    for x, y in ((a.pose, b.pose), (a.face, b.face)):
        assert (x is None) == (y is None)
    if a.pose and b.pose:
        assert np.array_equal(a.pose.landmarks, b.pose.landmarks)
        assert np.array_equal(a.pose.world, b.pose.world)
        assert b.pose.landmarks.dtype == np.float32
    if a.face and b.face:
        assert np.array_equal(a.face.landmarks, b.face.landmarks)
        assert np.array_equal(a.face.blendshapes, b.face.blendshapes)
        assert np.array_equal(a.face.matrix, b.face.matrix)
    assert len(a.hands) == len(b.hands)
    for h, k in zip(a.hands, b.hands, strict=True):
        assert (h.label, h.score) == (k.label, k.score)
        assert np.array_equal(h.landmarks, k.landmarks) and np.array_equal(h.world, k.world)


@pytest.mark.parametrize("name", ["rec.jsonl", "rec.jsonl.gz"])
def test_round_trip_is_bit_exact(tmp_path: Path, name: str) -> None:
    rng = np.random.default_rng(1)
    frames = [synthetic(i, rng) for i in range(20)]
    path = tmp_path / name
    with RecordingWriter(path, source="synthetic", mode="video", mirror=False, fps=30.0,
                         models={"face": "ab" * 32}) as rec:  # fmt: skip
        for f in frames:
            rec.write(f)
    if name.endswith(".gz"):
        with gzip.open(path) as fh:
            assert fh.read(1) == b"{"
    reader = RecordingReader(path)
    assert reader.header["schema"] == SCHEMA and reader.header["models"] == {"face": "ab" * 32}
    back = list(reader.frames())
    assert len(back) == len(frames)
    for a, b in zip(frames, back, strict=True):
        assert_same(a, b)


def test_round_trip_of_real_tracking(tmp_path: Path) -> None:
    frames = track_file(media("hands_open.jpg")) + track_file(media("portrait_upper_body.jpg"))
    path = tmp_path / "real.jsonl"
    with RecordingWriter(path, source="images", mode="video", mirror=False, fps=30, models={}) as rec:
        for i, f in enumerate(frames):
            rec.write(TrackedFrame(i, i, f.pose, f.face, f.hands, f.status, f.result_ms))
    for a, b in zip(frames, RecordingReader(path).frames(), strict=True):
        assert_same(TrackedFrame(b.index, b.index, a.pose, a.face, a.hands, a.status, a.result_ms), b)


def test_replay_keeps_the_original_timing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(2)
    path = tmp_path / "timed.jsonl"
    with RecordingWriter(path, source="s", mode="realtime", mirror=False, fps=30, models={}) as rec:
        for i in range(10):
            rec.write(synthetic(i, rng))  # 33 ms apart: 297 ms from first to last
    start = monotonic_ms()
    arrivals = [monotonic_ms() - start for _ in RecordingReader(path).replay(realtime=True)]
    # Never early (the replay sleeps until each frame is due); late only by scheduling, which a
    # loaded 2-core machine stretches: the upper bound is generous on purpose.
    assert all(at >= 33 * i - 2 for i, at in enumerate(arrivals))
    assert arrivals[-1] < 297 + 500
    # As fast as possible: the replay never sleeps.
    slept: list[float] = []
    monkeypatch.setattr("mocap_bridge.recording.time.sleep", slept.append)
    assert len(list(RecordingReader(path).replay(realtime=False))) == 10
    assert slept == []


def test_bad_recordings_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="no such recording"):
        RecordingReader(tmp_path / "nope.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"hello": 1}\n')
    with pytest.raises(RecordingError, match="header"):
        RecordingReader(bad)
    corrupt = tmp_path / "corrupt.jsonl.gz"
    corrupt.write_bytes(b"this is not gzip")
    with pytest.raises(RecordingError, match="not a mocap_bridge recording"):
        RecordingReader(corrupt)
    broken = tmp_path / "broken.jsonl"
    broken.write_text(f'{{"schema": "{SCHEMA}"}}\n{{"i": 0, "t_ms": 0}}\n')
    with pytest.raises(RecordingError, match=r"broken.jsonl:2: malformed frame"):
        list(RecordingReader(broken).frames())
    with pytest.raises(RecordingError, match=r"\.jsonl or \.jsonl\.gz"):
        RecordingWriter(tmp_path / "x.json", source="", mode="", mirror=False, fps=30, models={})
