"""Live Link Face v6 encoder/decoder: golden bytes, PyLiveLinkFace as independent reader."""

from __future__ import annotations

import dataclasses
import math
import struct
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
from pylivelinkface import FaceBlendShape, PyLiveLinkFace
from rigframes import rig_frame

from mocap_bridge.errors import ProtocolError
from mocap_bridge.frames import ARKit, RigFrame
from mocap_bridge.protocols.livelink import (
    LLF_CURVE_NAMES,
    LiveLinkEncoder,
    decode_livelink,
    frame_rate_fraction,
)

GOLDEN = Path(__file__).parent / "golden"
DEVICE = "0F4B1C2E-3D5A-4E6F-8A9B-0C1D2E3F4A5B"  # 36 characters, like the iPhone app


def reference_encode(
    device_id: str, subject: str, frame: int, subframe: float, num: int, den: int, values61: Sequence[float]
) -> bytes:
    """The reference encoder of docs/livelink.md, verbatim."""
    d = device_id.encode("utf-8")
    s = subject.encode("utf-8")
    return (
        struct.pack(">B", 6) + struct.pack(">i", len(d)) + d
        + struct.pack(">i", len(s)) + s
        + struct.pack(">ifii", frame, subframe, num, den)
        + struct.pack(">B", 61) + struct.pack(">61f", *values61)
    )  # fmt: skip


def vector_frame() -> RigFrame:
    """docs/livelink.md test vector: JawOpen = 0.5, HeadYaw = 0.1, everything else 0."""
    f = rig_frame(face=False, body=False, hands=())
    bs = np.zeros(52, np.float32)
    bs[ARKit.jawOpen] = 0.5
    return dataclasses.replace(f, blendshapes=bs, head_ypr=np.array([0.1, 0.0, 0.0]))


def test_protocol_doc_test_vector() -> None:
    enc = LiveLinkEncoder(device_id="mocap_bridge", subject="MocapBridge", rate=60)
    pkt = enc.encode(vector_frame(), 216000 / 60)  # frame 216000 = 01:00:00:00 at 60 fps
    assert len(pkt) == 293 == enc.size
    assert pkt[:50].hex(" ") == (
        "06 00 00 00 0c 6d 6f 63 61 70 5f 62 72 69 64 67 65 00 00 00 0b 4d 6f 63 61 70 42 72 "
        "69 64 67 65 00 03 4b c0 00 00 00 00 00 00 00 3c 00 00 00 01 3d 00"
    )
    assert pkt[117:121] == bytes.fromhex("3f000000")
    values = [0.0] * 61
    values[17], values[52] = 0.5, 0.1
    assert pkt == reference_encode("mocap_bridge", "MocapBridge", 216000, 0.0, 60, 1, values)


def test_golden_packet_both_ways() -> None:
    enc = LiveLinkEncoder(device_id=DEVICE, subject="MocapBridge", rate=60)
    frame = rig_frame()
    pkt = enc.encode(frame, 45296.125)  # 12:34:56.125
    golden = (GOLDEN / "livelink_v6.bin").read_bytes()
    assert pkt == golden
    dec = decode_livelink(golden)
    assert (dec.device_id, dec.subject) == (DEVICE, "MocapBridge")
    assert (dec.frame, dec.rate_numerator, dec.rate_denominator) == (45296 * 60 + 7, 60, 1)
    assert dec.subframe == pytest.approx(0.5)
    assert list(dec.values[:52]) == frame.blendshapes.tolist()
    assert dec.values[52:55] == tuple(frame.head_ypr)
    assert dec.values[55:61] == (0.1875, 0.3125, 0.0, -0.0625, 0.25, 0.0)
    assert dec.curve("JawOpen") == frame.blendshapes[ARKit.jawOpen]
    assert len(golden) == 270 + 36 + len("MocapBridge")


def test_pylivelinkface_reads_our_packets() -> None:
    enc = LiveLinkEncoder(device_id=DEVICE, subject="Studio A", rate=30)
    frame = rig_frame(seed=3)
    pkt = enc.encode(frame, 3600.0 + 1 / 30 * 5)
    found, face = PyLiveLinkFace.decode(pkt)
    assert found
    assert face.name == "Studio A"
    assert (
        face.uuid == "$" + DEVICE
    )  # its "$" + 36-char hack reads our length prefix (docs/livelink.md, head and eyes)
    assert face._frames == 3600 * 30 + 5
    assert face.fps == 30 and face._denominator == 1
    for shape in FaceBlendShape:
        ours = LLF_CURVE_NAMES[shape.value]
        assert ours == shape.name
        want = decode_livelink(pkt).values[shape.value]
        assert face.get_blendshape(shape) == want
    assert face.get_blendshape(FaceBlendShape.HeadPitch) == frame.head_ypr[1]
    assert face.get_blendshape(FaceBlendShape.RightEyePitch) == frame.eyes[1][1]


def test_values_follow_arkit_order_and_head_eye_conventions() -> None:
    frame = rig_frame(seed=5)
    enc = LiveLinkEncoder(
        device_id=DEVICE,
        subject="S",
        head_scale=1 / math.pi,
        head_sign=(-1, 1, -1),
        eye_sign=(1, -1, 1),
    )
    v = decode_livelink(enc.encode(frame, 0.0)).values
    for shape in ARKit:  # LLF index == ARKit enum value (docs/livelink.md)
        assert v[shape] == frame.blendshapes[shape]
        assert LLF_CURVE_NAMES[shape].lower() == shape.name.lower()
    y, p, r = frame.head_ypr
    k = 1 / math.pi
    assert v[52:55] == pytest.approx((-y * k, p * k, -r * k), rel=1e-6)
    (ly, lp), (ry, rp) = frame.eyes
    assert v[55:61] == pytest.approx((ly * k, -lp * k, 0, ry * k, -rp * k, 0), rel=1e-6)


def test_lost_face_sends_neutral_not_stale() -> None:
    enc = LiveLinkEncoder(device_id=DEVICE, subject="S")
    enc.encode(rig_frame(face=True), 10.0)
    v = decode_livelink(enc.encode(rig_frame(face=False), 10.1)).values
    assert v == (0.0,) * 61


@pytest.mark.parametrize(
    ("t", "rate", "frame", "sub"),
    [
        (0.0, 60, 0, 0.0),
        (1.5, 60, 90, 0.0),
        (1.0 + 1 / 240, 60, 60, 0.25),
        (86399.999999999, 60, 5183999, None),  # subframe stays < 1 in float32
        (86400.0 + 2.0, 60, 120, 0.0),  # wraps at midnight
    ],
)
def test_frame_time(t: float, rate: int, frame: int, sub: float | None) -> None:
    enc = LiveLinkEncoder(device_id=DEVICE, subject="S", rate=rate)
    dec = decode_livelink(enc.encode(rig_frame(), t))
    assert dec.frame == frame
    assert 0.0 <= dec.subframe < 1.0
    if sub is not None:
        assert dec.subframe == pytest.approx(sub, abs=1e-6)


def test_frame_rates_never_have_zero_denominator() -> None:
    assert frame_rate_fraction(30) == (30, 1)
    assert frame_rate_fraction(29.97) == (2997, 100)
    assert frame_rate_fraction(30000 / 1001) == (30000, 1001)
    for bad in (0, -1, float("nan")):
        with pytest.raises(ProtocolError):
            frame_rate_fraction(bad)


def test_encoder_refuses_bad_input() -> None:
    with pytest.raises(ProtocolError, match="subject"):
        LiveLinkEncoder(device_id=DEVICE, subject="")
    with pytest.raises(ProtocolError, match="256"):
        LiveLinkEncoder(device_id="x" * 257, subject="S")
    enc = LiveLinkEncoder(device_id=DEVICE, subject="S")
    bad = dataclasses.replace(rig_frame(), head_ypr=np.array([np.nan, 0.0, 0.0]))
    with pytest.raises(ProtocolError, match="non-finite"):
        enc.encode(bad, 0.0)


def test_non_ascii_subject_uses_byte_length() -> None:
    enc = LiveLinkEncoder(device_id=DEVICE, subject="Gesicht-ÄÖ")
    pkt = enc.encode(rig_frame(), 0.0)
    assert decode_livelink(pkt).subject == "Gesicht-ÄÖ"
    assert len(pkt) == 270 + 36 + len("Gesicht-ÄÖ".encode())


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b"\x05" + b[1:],  # version
        lambda b: b[:-1],  # truncated
        lambda b: b[: 1 + 4 + 36 + 4 + 1 + 16] + b"\x3c" + b[1 + 4 + 36 + 4 + 1 + 16 + 1 :],  # count
        lambda b: b[:1] + b"\x7f\xff\xff\xff" + b[5:],  # string length
        lambda b: b[: 1 + 4 + 36 + 4 + 1 + 12] + b"\0\0\0\0" + b[1 + 4 + 36 + 4 + 1 + 16 :],  # den
    ],
)
def test_decoder_rejects_malformed(mutate: Callable[[bytes], bytes]) -> None:
    pkt = LiveLinkEncoder(device_id=DEVICE, subject="S").encode(rig_frame(), 0.0)
    decode_livelink(pkt)
    with pytest.raises(ProtocolError):
        decode_livelink(mutate(pkt))


def test_no_face_packet_decodes_empty() -> None:
    pkt = LiveLinkEncoder(device_id=DEVICE, subject="S").encode(rig_frame(), 0.0)
    short = pkt[: 1 + 4 + 36 + 4 + 1 + 16]
    assert decode_livelink(short).values == ()
