"""WebSocket JSON messages: schema validity, channels, encode-once, values."""

from __future__ import annotations

import jsonschema
import numpy as np
import orjson
import pytest
from rigframes import rig_frame
from scipy.spatial.transform import Rotation

from mocap_bridge.errors import ProtocolError
from mocap_bridge.frames import ARKIT_NAMES, HUMAN_BONE_NAMES, HumanBone
from mocap_bridge.protocols.ws_json import (
    CHANNELS,
    SCHEMA_ID,
    WsJsonEncoder,
    parse_channels,
    quaternion_matrix,
    schema,
)

ALL = frozenset(CHANNELS)
VALIDATOR = jsonschema.Draft202012Validator(schema())


@pytest.fixture
def enc() -> WsJsonEncoder:
    return WsJsonEncoder(wall_clock_offset_ms=1.7e12, stream_rate_hz=30.0)


def test_schema_is_a_valid_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())


def test_hello(enc: WsJsonEncoder) -> None:
    hello = orjson.loads(enc.hello({"pose", "face"}))
    VALIDATOR.validate(hello)
    assert hello["type"] == "hello" and hello["schema"] == SCHEMA_ID
    assert hello["channels"] == ["face", "pose"]
    assert hello["stream_rate_hz"] == 30.0
    assert hello["blendshape_names"] == list(ARKIT_NAMES)
    assert hello["bone_names"] == list(HUMAN_BONE_NAMES)


@pytest.mark.parametrize(
    "frame",
    [
        rig_frame(),
        rig_frame(face=False),
        rig_frame(body=False, hands=()),
        rig_frame(hands=("Left",)),
        rig_frame(valid=(HumanBone.Head,)),
    ],
)
def test_frames_validate_against_schema(enc: WsJsonEncoder, frame) -> None:
    msg = orjson.loads(enc.frame(frame, 1.7e12 + 5).message(ALL))
    VALIDATOR.validate(msg)
    assert msg["index"] == frame.index
    assert msg["t_capture_ms"] == frame.t_ms
    assert msg["t_capture_unix_ms"] == 1.7e12 + frame.t_ms
    assert msg["t_send_unix_ms"] == 1.7e12 + 5


def test_schema_rejects_wrong_messages(enc: WsJsonEncoder) -> None:
    msg = orjson.loads(enc.frame(rig_frame(), 0.0).message(ALL))
    for broken in (
        {**msg, "schema": "other/2"},
        {**msg, "pose": {**msg["pose"], "landmarks": msg["pose"]["landmarks"][:5]}},
        {**msg, "head": {**msg["head"], "quaternion": [0, 0, 1]}},
        {**msg, "extra": 1},
    ):
        assert not VALIDATOR.is_valid(broken)


def test_values(enc: WsJsonEncoder) -> None:
    frame = rig_frame(seed=4, hands=("Right",))
    msg = orjson.loads(enc.frame(frame, 0.0).message(ALL))
    assert msg["state"] == "ok"  # face and body OK (hands do not count, frames.py)
    face = msg["face"]
    assert face["present"] and face["state"] == "ok"
    assert list(face["blendshapes"]) == list(ARKIT_NAMES)
    assert list(face["blendshapes"].values()) == frame.blendshapes.tolist()
    head = msg["head"]
    assert head["quaternion"] == frame.head_rotation.tolist()
    assert head["ypr"] == frame.head_ypr.tolist()
    assert np.allclose(np.array(head["matrix"])[:3, 3], frame.head_position)
    pose = msg["pose"]
    assert np.array_equal(np.array(pose["landmarks"], np.float32), frame.tracked.pose.landmarks)
    assert np.array_equal(np.array(pose["world"], np.float32), frame.tracked.pose.world)
    hands = msg["hands"]
    assert hands["left"] == {"state": "lost", "present": False}
    right = frame.tracked.hand("Right")
    assert hands["right"]["label"] == "Right" and hands["right"]["score"] == 0.875
    assert np.array_equal(np.array(hands["right"]["world"], np.float32), right.world)
    rig = msg["rig"]
    assert list(rig["bones"]) == list(HUMAN_BONE_NAMES)
    x, y, z, w = frame.bone_rotations[HumanBone.LeftHand]
    assert rig["bones"]["LeftHand"] == [x, -y, -z, w]  # Unity frame
    hx, hy, hz = frame.hips_position
    assert rig["hips_position"] == [-hx, hy, hz]


def test_channels_select_parts_and_encode_once(enc: WsJsonEncoder) -> None:
    payload = enc.frame(rig_frame(), 0.0)
    face_pose = frozenset({"face", "pose"})
    msg = orjson.loads(payload.message(face_pose))
    assert {k for k in msg if k in CHANNELS} == {"face", "pose"}
    VALIDATOR.validate(msg)
    assert payload.message(face_pose) is payload.message(frozenset({"pose", "face"}))
    head_only = orjson.loads(payload.message(frozenset({"head"})))
    assert {k for k in head_only if k in CHANNELS} == {"head"}
    assert len(payload._parts) == 3  # each channel serialised once for the whole frame


def test_parse_channels() -> None:
    assert parse_channels(None) == ALL
    assert parse_channels("") == ALL
    assert parse_channels("face, Pose,") == {"face", "pose"}
    with pytest.raises(ProtocolError, match="unknown channel 'feet'"):
        parse_channels("face,feet")


def test_quaternion_matrix_matches_scipy() -> None:
    q = np.array([0.1, -0.3, 0.2, 0.9])
    q /= np.linalg.norm(q)
    m = quaternion_matrix(q, [1.0, 2.0, 3.0])
    assert np.allclose(m[:3, :3], Rotation.from_quat(q).as_matrix())
    assert m[:3, 3].tolist() == [1.0, 2.0, 3.0] and m[3].tolist() == [0, 0, 0, 1]
