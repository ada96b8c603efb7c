"""WebSocket JSON messages: schema validity, channels, encode-once, values."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import jsonschema
import numpy as np
import numpy.typing as npt
import orjson
import pytest
from rigframes import rig_frame
from scipy.spatial.transform import Rotation

from mocap_bridge.errors import ProtocolError
from mocap_bridge.frames import (
    ARKIT_NAMES,
    HUMAN_BONE_NAMES,
    GestureEvent,
    HandObservation,
    HumanBone,
    RigFrame,
    Tracking,
)
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
def test_frames_validate_against_schema(enc: WsJsonEncoder, frame: RigFrame) -> None:
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
    assert frame.tracked.pose is not None
    assert np.array_equal(np.array(pose["landmarks"], np.float32), frame.tracked.pose.landmarks)
    assert np.array_equal(np.array(pose["world"], np.float32), frame.tracked.pose.world)
    hands = msg["hands"]
    assert hands["left"] == {"state": "lost", "present": False}
    right = frame.tracked.hand("Right")
    assert right is not None
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


# --------------------------------------------------------------------------- byte identity


def _reference_message(frame: RigFrame, t_send: float, offset: float, channels: frozenset[str]) -> bytes:
    """The message built the obvious way (one dict per object, orjson once): the oracle."""
    state = {Tracking.LOST: "lost", Tracking.PARTIAL: "partial", Tracking.OK: "ok"}
    tracked = frame.tracked
    opts = orjson.OPT_SERIALIZE_NUMPY

    def arr(a: npt.ArrayLike) -> npt.NDArray[Any]:
        return np.ascontiguousarray(a)

    def hand(st: Tracking, h: HandObservation | None) -> dict[str, Any]:
        if h is None:
            return {"state": state[st], "present": False}
        return {"state": state[st], "present": True, "label": h.label, "score": float(h.score),
                "landmarks": arr(h.landmarks), "world": arr(h.world)}  # fmt: skip

    parts: dict[str, dict[str, Any]] = {
        "face": {
            "state": state[frame.face_state],
            "present": tracked.face is not None,
            "blendshapes": dict(zip(ARKIT_NAMES, frame.blendshapes.tolist(), strict=True)),
            "eyes": arr(frame.eyes),
        },
        "head": {
            "state": state[frame.face_state],
            "present": tracked.face is not None,
            "matrix": quaternion_matrix(frame.head_rotation, frame.head_position),
            "quaternion": frame.head_rotation,
            "position": frame.head_position,
            "ypr": frame.head_ypr,
        },
        "pose": {"state": state[frame.body_state], "present": tracked.pose is not None},
        "hands": {
            "left": hand(frame.hand_states[0], tracked.hand("Left")),
            "right": hand(frame.hand_states[1], tracked.hand("Right")),
        },
        "rig": {
            "state": state[frame.body_state],
            "present": bool(frame.bone_valid.any()),
            "hips_position": frame.hips_position * np.array([-1.0, 1.0, 1.0]),
            "bones": {
                HUMAN_BONE_NAMES[b]: (frame.bone_rotations[b] * [1.0, -1.0, -1.0, 1.0]).tolist()
                for b in np.flatnonzero(frame.bone_valid)
            },
        },
    }

    def gesture(ev: GestureEvent | None) -> dict[str, Any] | None:
        if ev is None:
            return None
        return {"label": ev.label.label, "index": int(ev.label), "score": ev.score, "since_ms": ev.since_ms}

    parts["gestures"] = {"left": gesture(frame.gestures[0]), "right": gesture(frame.gestures[1])}
    parts["mask"] = {"present": False}  # these frames carry no segmentation
    if frame.target is not None:
        t = frame.target
        parts["rig"]["hips_position"] = t.hips_position
        parts["rig"]["present"] = bool(t.valid.any())
        rows = zip(t.names, t.rotations, t.valid, strict=True)
        parts["rig"]["bones"] = {n: q.tolist() for n, q, ok in rows if ok}
    if tracked.pose is not None:
        parts["pose"]["landmarks"] = arr(tracked.pose.landmarks)
        parts["pose"]["world"] = arr(tracked.pose.world)
    body = {
        "schema": SCHEMA_ID,
        "type": "frame",
        "index": frame.index,
        "t_capture_ms": frame.t_ms,
        "t_capture_unix_ms": frame.t_ms + offset,
        "t_send_unix_ms": t_send,
        "state": state[frame.overall_state],
    }
    body.update((ch, parts[ch]) for ch in CHANNELS if ch in channels)
    return orjson.dumps(body, option=opts)


def _noisy(frame: RigFrame, seed: int) -> RigFrame:
    """``frame`` with full-precision values (17-digit doubles, -0.0, tiny and huge numbers)."""
    rng = np.random.default_rng(seed)
    rot = rng.normal(size=(len(HumanBone), 4))
    rot[::7] = [0.0, 0.0, 0.0, 1.0]  # identity bones: -0.0 after the Unity flip
    blend = rng.random(52).astype(np.float32)
    blend[::9] = 0.0
    blend[5] = 1e-7
    pose = frame.tracked.pose
    if pose is not None:
        lm = np.asfortranarray(rng.random((33, 5)).astype(np.float32))  # not C-contiguous
        pose = dataclasses.replace(pose, landmarks=lm, world=rng.normal(size=(33, 3)).astype(np.float32))
    tracked = dataclasses.replace(frame.tracked, pose=pose)
    return dataclasses.replace(
        frame,
        tracked=tracked,
        blendshapes=blend,
        bone_rotations=rot,
        hips_position=rng.normal(size=3) * 1e3,
        head_rotation=rng.normal(size=4),
        head_position=rng.normal(size=3) * 1e-9,
        head_ypr=rng.normal(size=3),
        eyes=rng.normal(size=(2, 2)),
    )


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(
    "frame",
    [
        rig_frame(),
        rig_frame(face=False, hands=("Right",)),
        rig_frame(body=False, hands=()),
        rig_frame(valid=(HumanBone.Head,)),
        rig_frame(valid=(HumanBone.Hips, HumanBone.Spine, HumanBone.UpperChest)),
    ],
)
def test_messages_are_byte_identical_to_the_obvious_dict_encoding(
    enc: WsJsonEncoder, frame: RigFrame, seed: int
) -> None:
    for f in (frame, _noisy(frame, seed)):
        payload = enc.frame(f, 1.7e12 + 12.625)
        for n in range(len(CHANNELS) + 1):
            for chosen in itertools.combinations(CHANNELS, n):
                channels = frozenset(chosen)
                assert payload.message(channels) == _reference_message(
                    f, 1.7e12 + 12.625, 1.7e12, channels
                ), sorted(channels)


def test_rig_layouts_are_cached_per_valid_set(enc: WsJsonEncoder) -> None:
    a = rig_frame(valid=(HumanBone.Head,))
    b = rig_frame(valid=(HumanBone.Hips, HumanBone.Head))
    for f in (a, b, a, rig_frame(), a):
        assert enc.frame(f, 0.0).message(frozenset({"rig"})) == _reference_message(
            f, 0.0, 1.7e12, frozenset({"rig"})
        )
    assert len(enc._rig_layouts) == 3


def test_unencodable_channel_raises_protocol_error(enc: WsJsonEncoder) -> None:
    frame = dataclasses.replace(rig_frame(), blendshapes=np.zeros(51, np.float32))
    with pytest.raises(ProtocolError, match="channel 'face'"):
        enc.frame(frame, 0.0).message(ALL)
