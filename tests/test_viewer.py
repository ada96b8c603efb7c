"""Live Lab's pure parts and the thumbnailer: command protocol, lab messages, finger curls,
static-file resolver, JPEG thumbnails decoded by an independent decoder (imageio via scikit-image)."""

from __future__ import annotations

import io
import threading
import time
from typing import Any

import numpy as np
import orjson
import pytest
from rigframes import rig_frame
from scipy.spatial.transform import Rotation
from skimage.io import imread
from synth import flat_hand_internal, hand_obs

from mocap_bridge.capture.thumbnails import HEADER, Thumbnailer, parse_thumbnail
from mocap_bridge.frames import Tracking
from mocap_bridge.viewer import resolve_static
from mocap_bridge.viewer.commands import (
    Calibrate,
    CommandError,
    Mirror,
    Output,
    Pause,
    Record,
    State,
    handle_command,
    parse_command,
)
from mocap_bridge.viewer.lab import LabEncoder, finger_curls, tracking_label

# --------------------------------------------------------------------------- commands


@pytest.mark.parametrize(
    ("doc", "command"),
    [
        ({"cmd": "record", "on": True}, Record(True)),
        ({"cmd": "mirror", "on": False}, Mirror(False)),
        ({"cmd": "pause", "on": True}, Pause(True)),
        ({"cmd": "output", "name": "vmc", "on": False}, Output("vmc", False)),
        ({"cmd": "calibrate"}, Calibrate(60)),
        ({"cmd": "calibrate", "frames": 5}, Calibrate(5)),
        ({"cmd": "state"}, State()),
    ],
)
def test_parse_command(doc: dict[str, Any], command: object) -> None:
    assert parse_command(doc) == command


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([1, 2], "a command is a JSON object"),
        ({"cmd": "record"}, '"on" must be true or false'),
        ({"cmd": "record", "on": 1}, '"on" must be true or false'),
        ({"cmd": "output", "name": "ws", "on": True}, '"name" must be one of livelink, vmc, osc'),
        ({"cmd": "calibrate", "frames": 4}, "5..600"),
        ({"cmd": "calibrate", "frames": True}, "5..600"),
        ({"cmd": "calibrate", "frames": 6.5}, "5..600"),
        ({"cmd": "explode"}, "unknown command 'explode'"),
        ({}, "unknown command None"),
    ],
)
def test_bad_commands_name_the_problem(doc: Any, message: str) -> None:
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(".", r"\.")):
        parse_command(doc)


class Controls:
    def __init__(self) -> None:
        self.paused = False

    def pause(self, on: bool) -> dict[str, Any]:
        self.paused = on
        return {"paused": on}

    def record(self, on: bool) -> dict[str, Any]:
        raise CommandError("not recording")

    def calibrate(self, frames: int) -> dict[str, Any]:
        return {"frames": frames}

    def mirror(self, on: bool) -> dict[str, Any]:
        return {}

    def output(self, name: str, on: bool) -> dict[str, Any]:
        return {}

    def state(self) -> dict[str, Any]:
        return {"paused": self.paused}


def ack_of(text: str, trusted: bool = True, controls: Controls | None = None) -> dict[str, Any]:
    return orjson.loads(handle_command(text, trusted=trusted, controls=controls or Controls()))  # type: ignore[no-any-return]


def test_every_message_gets_one_ack() -> None:
    c = Controls()
    assert ack_of('{"cmd":"pause","on":true,"id":9}', controls=c) == {
        "type": "ack", "id": 9, "cmd": "pause", "ok": True, "result": {"paused": True}}  # fmt: skip
    assert c.paused
    assert ack_of('{"cmd":"record","on":false,"id":"r1"}') == {
        "type": "ack", "id": "r1", "cmd": "record", "ok": False, "error": "not recording"}  # fmt: skip
    assert ack_of("nonsense") == {"type": "ack", "id": None, "cmd": None, "ok": False, "error": "not JSON"}
    assert ack_of('{"cmd":"pause","on":true,"id":true}')["id"] is None  # only strings and integers echo
    assert ack_of('{"cmd":"pause","on":true,"id":"' + "x" * 65 + '"}')["id"] is None
    assert ack_of('{"cmd":5}')["cmd"] is None and not ack_of('{"cmd":5}')["ok"]
    untrusted = Controls()
    refused = ack_of('{"cmd":"pause","on":true,"id":1}', trusted=False, controls=untrusted)
    assert not refused["ok"] and "own viewer page" in refused["error"] and not untrusted.paused


# --------------------------------------------------------------------------- lab


def test_tracking_labels() -> None:
    hold = 250.0
    assert tracking_label(True, Tracking.OK, 0.0, hold) == "found"
    assert tracking_label(True, Tracking.PARTIAL, 0.0, hold) == "found"
    assert tracking_label(False, Tracking.OK, 100.0, hold) == "held"
    assert tracking_label(False, Tracking.PARTIAL, 400.0, hold) == "easing"
    assert tracking_label(False, Tracking.LOST, 100.0, hold) == "lost"
    assert tracking_label(False, Tracking.PARTIAL, None, hold) == "lost"  # never seen


def _curl_finger(p: np.ndarray, mcp: int, degrees: float) -> np.ndarray:
    p = p.copy()
    for k in range(3):  # bend each joint of the chain about the palm's normal
        pivot = p[mcp + k].copy()
        r = Rotation.from_euler("y", degrees, degrees=True)
        p[mcp + k + 1 : mcp + 4] = r.apply(p[mcp + k + 1 : mcp + 4] - pivot) + pivot
    return p


def test_finger_curls_straight_and_fist() -> None:
    flat = flat_hand_internal("Left")
    assert all(c < 0.1 for c in finger_curls(flat))
    index_fist = finger_curls(_curl_finger(flat, 5, 90.0))
    assert index_fist[1] > 0.9 and all(c < 0.1 for i, c in enumerate(index_fist) if i != 1)
    half = finger_curls(_curl_finger(flat, 13, 45.0))[3]
    assert 0.4 < half < 0.6
    # Any orientation of the whole hand: the same curls.
    turned = Rotation.from_rotvec([0.3, -1.1, 0.7]).apply(_curl_finger(flat, 5, 90.0))
    assert np.allclose(finger_curls(turned), index_fist, atol=1e-3)


def test_lab_message_per_frame() -> None:
    enc = LabEncoder(hold_ms=250.0)
    rig = rig_frame(index=3, t_ms=1000)
    msg = orjson.loads(enc.encode(rig, now_ms=1040.0))
    assert msg["type"] == "lab" and msg["index"] == 3
    assert set(msg["parts"]) == {"face", "pose", "left_hand", "right_hand"}
    assert msg["latency_ms"]["e2e"] == 40.0
    assert len(msg["face_landmarks"]) == len(rig.tracked.face.landmarks)  # type: ignore[union-attr]
    assert msg["hands"]["left"]["label"] == "Left" and len(msg["hands"]["left"]["curls"]) == 5
    offline = orjson.loads(enc.encode(rig_frame(index=4, t_ms=1033, face=False, hands=()), now_ms=None))
    assert offline["latency_ms"] is None and offline["face_landmarks"] is None
    assert offline["hands"] == {"left": None, "right": None}


def test_lab_curls_from_a_hand_observation() -> None:
    obs = hand_obs("Right", _curl_finger(flat_hand_internal("Right"), 9, 90.0))
    assert finger_curls(obs.world)[2] > 0.9


# --------------------------------------------------------------------------- static files


def test_static_resolver() -> None:
    page = resolve_static("/")
    assert page.status == 200 and b'<script type="module" src="app.js">' in page.body
    csp = dict(page.headers)["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "http:" not in csp.replace("'self'", "")  # no CDN allowed
    assert resolve_static("/app.js").content_type == "text/javascript; charset=utf-8"
    assert resolve_static("/vendor/three-vrm/three-vrm.module.min.js").status == 200
    assert resolve_static("/vendor/VERSIONS.txt").body.startswith(b"three 0.187.0")
    for bad in ("/..", "/../../etc/passwd", "/%2e%2e/x.js", "/a\\b.js", "/.git/config", "/x%00.js"):
        assert resolve_static(bad).status == 400, bad
    assert resolve_static("/missing.css").status == 404
    assert resolve_static("/revendor.sh").status == 404  # only the static folder, known types


# --------------------------------------------------------------------------- thumbnails


def _wait(cond: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_thumbnails_only_while_wanted_rate_limited_and_decodable() -> None:
    got: list[bytes] = []
    wanted = threading.Event()
    now = [0.0]
    thumbs = Thumbnailer(got.append, wanted=wanted.is_set, fps=10.0, width=320, clock=lambda: now[0])
    try:
        rgb = np.zeros((360, 640, 3), np.uint8)
        rgb[:, :320] = (255, 0, 0)  # left half red, right half blue
        rgb[:, 320:] = (0, 0, 255)
        thumbs.offer(0, 0.0, rgb)
        time.sleep(0.2)
        assert got == []  # nobody subscribed: nothing encoded
        wanted.set()
        thumbs.offer(1, 33.0, rgb)
        _wait(lambda: len(got) == 1)
        for i in range(2, 6):  # within 100 ms of the last one: skipped
            now[0] += 0.02
            thumbs.offer(i, 33.0 + i, rgb)
        time.sleep(0.2)
        assert len(got) == 1
        now[0] += 0.03  # 110 ms after the first: taken
        thumbs.offer(6, 40.0, rgb)
        _wait(lambda: len(got) == 2)
        index, t_ms, w, h, jpeg = parse_thumbnail(got[0])
        assert (index, t_ms, w, h) == (1, 33.0, 320, 180)
        img = imread(io.BytesIO(jpeg))
        assert img.shape == (180, 320, 3)
        assert img[90, 40, 0] > 200 and img[90, 40, 2] < 60  # red stays red (RGB order kept)
        assert img[90, 280, 2] > 200 and img[90, 280, 0] < 60
        assert got[0][: HEADER.size][:4] == b"MBV1"
    finally:
        thumbs.close()
    with pytest.raises(ValueError):
        parse_thumbnail(b"nope")


def test_thumbnail_mailbox_keeps_the_latest_frame() -> None:
    gate = threading.Event()
    got: list[int] = []

    def slow(message: bytes) -> None:
        gate.wait(5)
        got.append(parse_thumbnail(message)[0])

    thumbs = Thumbnailer(slow, wanted=lambda: True, fps=1000.0, width=160)
    try:
        rgb = np.full((120, 160, 3), 128, np.uint8)
        thumbs.offer(0, 0.0, rgb)
        _wait(lambda: thumbs.encoded == 1)  # the worker is now blocked delivering frame 0
        for i in range(1, 20):
            thumbs.offer(i, float(i * 10), rgb)
            time.sleep(0.002)
        gate.set()
        _wait(lambda: len(got) == 2)
        time.sleep(0.1)
        assert got == [0, 19] and thumbs.replaced == 18  # the offering thread never waited
    finally:
        thumbs.close()
