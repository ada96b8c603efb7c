"""[tracking] segmentation: the pose landmarker's person mask, on real images, and the mask channel."""

from __future__ import annotations

import base64
import zlib
from pathlib import Path

import numpy as np
import orjson
import pytest
from conftest import media
from matplotlib.path import Path as Outline
from scipy.spatial import ConvexHull

from mocap_bridge.capture.sources import open_source
from mocap_bridge.frames import TrackedFrame
from mocap_bridge.protocols.mask import decode_rle, encode_mask, png_gray
from mocap_bridge.protocols.ws_json import WsJsonEncoder
from mocap_bridge.settings import Settings, TrackingSettings
from mocap_bridge.solve.rig import RigSolver
from mocap_bridge.tracking.landmarkers import Landmarkers


def _track(path: Path, model_paths: dict[str, Path], *, segmentation: bool) -> TrackedFrame:
    settings = TrackingSettings(face=False, hands=False, segmentation=segmentation)
    src = open_source(str(path), realtime=False)
    try:
        cap = next(iter(src.frames()))
    finally:
        src.close()
    with Landmarkers(settings, model_paths, live=False) as lm:
        return lm.track(cap.rgb, cap.index, cap.t_ms)


def test_the_mask_covers_the_person_and_is_absent_when_off(model_paths: dict[str, Path]) -> None:
    image = media("portrait_upper_body.jpg")  # skip here, before MediaPipe starts
    frame = _track(image, model_paths, segmentation=True)
    assert frame.pose is not None and frame.pose.mask is not None
    mask = frame.pose.mask
    h, w = mask.shape
    assert max(h, w) <= 128 and mask.dtype == np.float32 and 0.0 <= mask.min() <= mask.max() <= 1.0
    # a rough mask from the pose: the hull of the visible landmarks, widened to the body's outline
    lm = frame.pose.landmarks
    pts = lm[lm[:, 3] > 0.5, :2] * [w, h]
    hull = pts[ConvexHull(pts).vertices]
    centre = hull.mean(axis=0)
    hull = centre + 1.25 * (hull - centre)
    ys, xs = np.mgrid[0:h, 0:w]
    rough = Outline(hull).contains_points(np.column_stack((xs.ravel() + 0.5, ys.ravel() + 0.5))).reshape(h, w)
    person = mask >= 0.5
    iou = (person & rough).sum() / (person | rough).sum()
    assert iou >= 0.5, f"mask vs pose outline IoU {iou:.2f}"
    assert person.mean() > 0.15  # the person fills a good part of this portrait
    off = _track(image, model_paths, segmentation=False)
    assert off.pose is not None and off.pose.mask is None


def test_the_mask_reaches_the_websocket_channel_at_its_rate(model_paths: dict[str, Path]) -> None:
    image = media("portrait_upper_body.jpg")
    frame = _track(image, model_paths, segmentation=True)
    solver = RigSolver(Settings())
    enc = WsJsonEncoder(wall_clock_offset_ms=0.0, stream_rate_hz=30.0, mask_fps=5.0)
    sent = []
    for i in range(30):  # one second at 30 fps: 5 masks
        f = TrackedFrame(i, 1000 + 33 * i, frame.pose, None, (), frame.status)
        msg = orjson.loads(enc.frame(solver.solve(f), 0.0).message(frozenset({"mask"})))
        sent.append(msg["mask"])
    with_mask = [m for m in sent if m["present"]]
    assert len(with_mask) == 5
    m = with_mask[0]
    assert m["encoding"] == "rle"
    assert frame.pose is not None and frame.pose.mask is not None
    got = decode_rle(m["runs"], m["width"], m["height"])
    assert np.array_equal(got, frame.pose.mask >= 0.5)


def test_rle_and_png_encodings_round_trip() -> None:
    rng = np.random.default_rng(1)
    mask = (rng.random((37, 53)) > 0.6).astype(np.float32)
    mask[0, 0] = 1.0  # a leading person pixel: the runs start with 0
    rle = encode_mask(mask, "rle")
    assert rle["runs"][0] == 0 and np.array_equal(decode_rle(rle["runs"], 53, 37), mask >= 0.5)
    png = base64.b64decode(encode_mask(mask, "png")["data"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png == png_gray((mask >= 0.5).astype(np.uint8) * np.uint8(255))
    # decode the PNG by hand: IDAT inflates to filter-0 rows of the image
    idat = png[png.index(b"IDAT") + 4 : png.index(b"IEND") - 8]
    rows = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(37, 54)
    assert (rows[:, 0] == 0).all() and np.array_equal(rows[:, 1:] == 255, mask >= 0.5)
    with pytest.raises(ValueError):
        encode_mask(mask, "jpeg")
