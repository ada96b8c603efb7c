"""Sources never silently wrong (issue 10, class 5) and never a traceback (class 4).

Images of every depth and layout are built here with OpenCV and Pillow; the truncated video is the
real fist_thumbs_up.mp4 cut to 30 %.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import media
from PIL import Image

from mocap_bridge.capture.sources import ImagesSource, VideoSource, open_source, to_bgr8
from mocap_bridge.errors import CaptureError


@pytest.fixture(scope="module")
def base() -> np.ndarray:
    """A 40×60 BGR test card: smooth ramps, so rounding differences stay visible but small."""
    y, x = np.mgrid[0:40, 0:60]
    return np.dstack([x * 4, y * 6, (x + y) * 2]).astype(np.uint8)


def first_rgb(path: Path) -> np.ndarray:
    src = open_source(str(path), realtime=False, max_side=0)
    try:
        return next(iter(src.frames())).rgb
    finally:
        src.close()


def expected_rgb(bgr: np.ndarray) -> np.ndarray:
    return bgr[:, :, ::-1].astype(int)


def test_float32_tiff_is_converted_not_black(tmp_path: Path, base: np.ndarray) -> None:
    path = tmp_path / "f32.tiff"
    assert cv2.imwrite(str(path), base.astype(np.float32) / 255.0)
    written = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert written is not None and written.dtype == np.float32
    rgb = first_rgb(path)
    assert rgb.dtype == np.uint8 and np.abs(rgb.astype(int) - expected_rgb(base)).max() <= 1


@pytest.mark.parametrize("suffix", [".png", ".tiff"])
def test_16_bit_images_are_scaled(tmp_path: Path, base: np.ndarray, suffix: str) -> None:
    path = tmp_path / f"u16{suffix}"
    assert cv2.imwrite(str(path), base.astype(np.uint16) * 257)
    assert np.array_equal(first_rgb(path), expected_rgb(base))


def test_grayscale_rgba_palette_and_gray_alpha(tmp_path: Path, base: np.ndarray) -> None:
    gray = tmp_path / "gray.png"
    cv2.imwrite(str(gray), base[:, :, 1])
    rgb = first_rgb(gray)
    assert rgb.shape == (40, 60, 3) and all(np.array_equal(rgb[:, :, c], base[:, :, 1]) for c in range(3))
    rgba = tmp_path / "rgba.png"
    cv2.imwrite(str(rgba), np.dstack([base, np.full(base.shape[:2], 40, np.uint8)]))
    assert np.array_equal(first_rgb(rgba), expected_rgb(base))  # alpha dropped, colours kept
    pal = tmp_path / "pal.png"
    img = Image.fromarray(base[:, :, ::-1].copy()).quantize(colors=64)
    img.save(pal)
    assert np.array_equal(first_rgb(pal), np.asarray(img.convert("RGB")))
    la = tmp_path / "la.png"
    Image.fromarray(base[:, :, 0]).convert("LA").save(la)
    assert np.array_equal(first_rgb(la)[:, :, 0], base[:, :, 0])


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda b: (b.astype(np.float32) / 255.0) * 40.0, "float image with values 0..37"),
        (lambda b: np.where(b > 100, np.nan, b / 255.0).astype(np.float32), "NaN or infinite"),
        (lambda b: b.astype(np.int32) - 100, "unsupported pixel type int32"),
    ],
    ids=["float-out-of-range", "float-nan", "int32"],
)
def test_unconvertible_images_are_refused_clearly(base: np.ndarray, make, fragment: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CaptureError, match=fragment):
        to_bgr8(make(base), "image x.tiff")


def test_int32_tiff_is_refused_in_one_line(tmp_path: Path, base: np.ndarray) -> None:
    path = tmp_path / "i32.tiff"
    Image.fromarray(base[:, :, 0].astype(np.int32) * 100).save(path)
    with pytest.raises(CaptureError, match=r"i32\.tiff: unsupported pixel type int32"):
        open_source(str(path), realtime=False)


def _corrupt_png(path: Path) -> None:
    data = media("runner_full_body.png").read_bytes()
    path.write_bytes(data[: len(data) // 5])


def test_a_corrupt_image_mid_folder_is_skipped_counted_and_the_run_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shutil.copy(media("hand_victory.jpg"), tmp_path / "a.jpg")
    _corrupt_png(tmp_path / "b.png")
    (tmp_path / "c.jpg").write_bytes(b"")
    shutil.copy(media("hands_open.jpg"), tmp_path / "d.jpg")
    src = open_source(str(tmp_path), realtime=False)
    assert isinstance(src, ImagesSource)
    with caplog.at_level(logging.WARNING):
        frames = list(src.frames())
    assert [f.index for f in frames] == [0, 1] and frames[1].rgb.shape[2] == 3
    assert [p.name for p, _ in src.skipped] == ["b.png", "c.jpg"]
    assert sum("skipped" in r.getMessage() for r in caplog.records) == 2


def test_a_folder_whose_first_image_is_corrupt_starts_at_the_next(tmp_path: Path) -> None:
    _corrupt_png(tmp_path / "a.png")
    shutil.copy(media("hand_victory.jpg"), tmp_path / "b.jpg")
    src = open_source(str(tmp_path), realtime=False)
    assert len(list(src.frames())) == 1 and len(src.skipped) == 1  # type: ignore[attr-defined]
    for name in ("b.jpg",):
        (tmp_path / name).unlink()
    with pytest.raises(CaptureError, match="no readable image"):
        open_source(str(tmp_path), realtime=False)


@pytest.mark.parametrize(
    ("size", "max_side", "expected"),
    [((2000, 1), 640, (1, 640, 3)), ((1000, 10), 10, (1, 10, 3)), ((1, 3000), 640, (640, 1, 3))],
)
def test_extreme_aspect_ratios_keep_at_least_one_pixel(
    tmp_path: Path, size: tuple[int, int], max_side: int, expected: tuple[int, int, int]
) -> None:
    w, h = size
    path = tmp_path / "thin.png"
    cv2.imwrite(str(path), np.full((h, w, 3), 128, np.uint8))
    src = open_source(str(path), realtime=False, max_side=max_side)
    assert next(iter(src.frames())).rgb.shape == expected


def test_a_video_cut_to_30_percent_says_it_ended_early(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    full = media("fist_thumbs_up.mp4")
    cut = tmp_path / "cut.mp4"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) * 3 // 10])
    src = VideoSource(str(cut), realtime=False, mirror=False, max_side=160)
    with caplog.at_level(logging.WARNING):
        n = sum(1 for _ in src.frames())
    src.close()
    assert src.frame_count == 195 and n == src.frames_read < 0.5 * 195
    assert src.ended_early == f"ended after {n} of 195 frames (the file is cut short or damaged)"
    assert any("ended after" in r.getMessage() for r in caplog.records)
    whole = VideoSource(str(full), realtime=False, mirror=False, max_side=160)
    assert sum(1 for _ in whole.frames()) == 195 and whole.ended_early is None
    whole.close()


def test_a_5000_character_source_is_one_short_error() -> None:
    with pytest.raises(CaptureError) as info:
        open_source("a" * 5000)
    assert len(str(info.value)) < 300 and "5000 characters" in str(info.value)
    with pytest.raises(CaptureError, match="no such file"):
        open_source("9" * 40)  # not a camera index: a path that does not exist


def test_decoder_chatter_is_held_back_and_other_stderr_passes(capfd: pytest.CaptureFixture[str]) -> None:
    import os

    from mocap_bridge.capture.sources import _decoder_stderr_held

    with _decoder_stderr_held():
        os.write(2, b"libpng error: Read Error\nCorrupt JPEG data: 12 extraneous bytes\nstatus: keep me\n")
    assert capfd.readouterr().err == "status: keep me\n"
