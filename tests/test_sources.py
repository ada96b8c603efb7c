"""Frame sources: real files, the bundled demo, and every error path (no camera here)."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import media

from mocap_bridge.capture.sources import DemoSource, demo_image_path, open_source
from mocap_bridge.errors import CaptureError


def test_video_file_in_video_mode_is_deterministic_media_time() -> None:
    src = open_source(str(media("fist_thumbs_up.mp4")), realtime=False)
    frames = [f for _, f in zip(range(5), src.frames(), strict=False)]
    src.close()
    assert src.fps == pytest.approx(25.0)
    assert [f.t_ms for f in frames] == [0, 40, 80, 120, 160]
    assert frames[0].rgb.shape == (360, 640, 3)  # 1280x720 downscaled once to max_side 640


def test_realtime_mode_paces_like_a_camera() -> None:
    src = open_source(str(media("fist_thumbs_up.mp4")), realtime=True)
    stamps = [f.t_ms for _, f in zip(range(6), src.frames(), strict=False)]
    src.close()
    assert all(b > a for a, b in itertools.pairwise(stamps))
    assert stamps[-1] - stamps[0] >= 5 * 40 - 5  # 25 fps: ~200 ms for 5 intervals


def test_mirror_flips_the_image() -> None:
    plain = next(open_source(str(media("hand_thumb_up.jpg")), realtime=False).frames()).rgb
    mirrored = next(open_source(str(media("hand_thumb_up.jpg")), realtime=False, mirror=True).frames()).rgb
    assert np.array_equal(mirrored, plain[:, ::-1])


def test_folder_plays_images_sorted(tmp_path: Path) -> None:
    for name in ("b.jpg", "a.png"):
        shutil.copy(media("hand_victory.jpg") if name == "b.jpg" else media("runner_full_body.png"),
                    tmp_path / name)  # fmt: skip
    (tmp_path / "notes.txt").write_text("not an image")
    src = open_source(str(tmp_path), realtime=False, max_side=0)
    shapes = [f.rgb.shape for f in src.frames()]
    assert shapes == [(661, 460, 3), (800, 600, 3)]  # a.png (RGBA → RGB) first, then b.jpg


def test_demo_moves_and_works_offline() -> None:
    assert demo_image_path().is_file()
    src = DemoSource(realtime=False, mirror=False, max_side=640, seconds=1.0)
    frames = list(src.frames())
    assert len(frames) == 30
    assert frames[0].rgb.shape[2] == 3 and max(frames[0].rgb.shape[:2]) <= 640
    assert not np.array_equal(frames[0].rgb, frames[15].rgb)  # it moves


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.mp4", "no such file"),
        (lambda d: _write(d / "corrupt.mp4", b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 500), "cannot"),
        (lambda d: _write(d / "broken.jpg", b"not a jpeg"), "cannot read image"),
        (lambda d: _mkdir(d / "empty"), "folder has no images"),
    ],
)
def test_bad_sources_raise_one_clear_capture_error(tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CaptureError, match=message):
        open_source(str(make(tmp_path)))


def test_camera_that_cannot_open() -> None:
    # This machine has no camera: a real attempt, no mock.
    with pytest.raises(CaptureError, match="camera 7"):
        open_source("7")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path
