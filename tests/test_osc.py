"""OSC wire helpers and the generic /mocap namespace: golden bytes, python-osc as oracle."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from oscutil import python_osc_messages, read_golden, rebuild_with_python_osc, typetags
from pythonosc.osc_message_builder import OscMessageBuilder
from rigframes import rig_frame

from mocap_bridge.errors import ProtocolError
from mocap_bridge.frames import ARKIT_NAMES, Gesture, GestureEvent, RigFrame, Tracking
from mocap_bridge.protocols._state import overall_state
from mocap_bridge.protocols.osc import OscEncoder
from mocap_bridge.protocols.osc_wire import (
    BUNDLE_HEAD,
    OscMessage,
    Template,
    decode_packet,
    encode_message,
    pack_elements,
    pad_string,
)


def messages(dgrams: list[bytes]) -> list[OscMessage]:
    return [m for d in dgrams for m in decode_packet(d)]


# --------------------------------------------------------------------------- wire helpers


@pytest.mark.parametrize(
    "args",
    [(), (1,), (-(2**31), 2**31 - 1), (0.5, -3.25), ("Blink_L", 0.75), ("ä", 1, 2.0, "")],
)
def test_encode_message_is_byte_identical_to_python_osc(args: tuple[str | int | float, ...]) -> None:
    b = OscMessageBuilder("/a/b")
    for a in args:
        b.add_arg(a, "s" if isinstance(a, str) else "i" if isinstance(a, int) else "f")
    assert encode_message("/a/b", *args) == b.build().dgram
    assert decode_packet(encode_message("/a/b", *args))[0].args == args


def test_template_element_matches_generic_encoder() -> None:
    t = Template("/VMC/Ext/Bone/Pos", "sfffffff", ["LeftUpperArm"])
    vals = [0.5, -1.0, 2.0, 0.0, 0.25, -0.125, 1.0]
    el = t.element(np.array(vals, ">f4").tobytes())
    msg = encode_message("/VMC/Ext/Bone/Pos", "LeftUpperArm", *vals)
    assert el == len(msg).to_bytes(4, "big") + msg
    assert len(el) == t.size
    with pytest.raises(ProtocolError):
        t.element(b"\0" * 4)


def test_pack_elements_splits_in_order() -> None:
    els = [Template(f"/x/{i}", "f").element(np.array([i], ">f4").tobytes()) for i in range(50)]
    dgrams = pack_elements(els, 100)
    assert all(len(d) <= 100 and d.startswith(BUNDLE_HEAD) for d in dgrams)
    assert [m.args[0] for m in messages(dgrams)] == [float(i) for i in range(50)]
    with pytest.raises(ProtocolError):
        pack_elements(els, 20)
    assert pack_elements([], 100) == []


def test_strings_and_types_are_checked() -> None:
    assert pad_string("") == b"\0\0\0\0"
    assert pad_string("abc") == b"abc\0"
    assert pad_string("abcd") == b"abcd\0\0\0\0"
    with pytest.raises(ProtocolError):
        pad_string("a\0b")
    with pytest.raises(ProtocolError, match="booleans"):
        encode_message("/a", True)
    with pytest.raises(ProtocolError):
        encode_message("/a", 2**31)
    with pytest.raises(ProtocolError):
        Template("/a", "fs", ["x"])
    with pytest.raises(ProtocolError):
        Template("/a", "d")


@pytest.mark.parametrize(
    "dgram",
    [
        b"/a\0\0,d\0\0" + b"\0" * 8,  # double: never accepted
        b"/a\0\0,f\0\0",  # truncated argument
        b"/a\0\0,f\0\0\0\0\0\0\0\0\0\0",  # trailing bytes
        b"a\0\0\0,\0\0\0",  # address without /
        BUNDLE_HEAD + b"\0\0\0\x05abcde",  # bad element size
        b"/abc",  # unterminated
    ],
)
def test_decoder_rejects_malformed(dgram: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_packet(dgram)


# --------------------------------------------------------------------------- /mocap namespace


def test_golden_frame_both_ways() -> None:
    enc = OscEncoder()
    enc.encode(rig_frame(t_ms=2_000))
    frame = rig_frame(index=42, t_ms=2_500, hands=("Right",))
    dgrams = enc.encode(frame)
    assert dgrams == read_golden("osc_frame.bin")
    msgs = messages(read_golden("osc_frame.bin"))
    assert msgs[0].address == "/mocap/frame" and msgs[0].args == (42, 0.5)
    assert msgs[1].address == "/mocap/state" and msgs[1].args == (2, 2, 2, 0, 2)
    blends = [m for m in msgs if m.address.startswith("/mocap/face/blendshape/")]
    assert [m.address.rsplit("/", 1)[1] for m in blends] == list(ARKIT_NAMES)
    assert [m.args[0] for m in blends] == frame.blendshapes.tolist()
    gestures = {m.address: m.args for m in msgs if m.address.startswith("/mocap/gesture/")}
    assert gestures == {"/mocap/gesture/left": (0, 0.0), "/mocap/gesture/right": (0, 0.0)}  # none held


def test_gestures_are_sent_as_the_canned_index_and_score() -> None:
    frame = dataclasses.replace(
        rig_frame(), gestures=(None, GestureEvent(Gesture.Thumb_Up, 0.75, "Right", 1000.0))
    )
    msgs = {m.address: m for m in messages(OscEncoder().encode(frame))}
    assert msgs["/mocap/gesture/right"].args == (5, 0.75) and msgs["/mocap/gesture/right"].typetags == "if"
    assert msgs["/mocap/gesture/left"].args == (0, 0.0)


def test_every_datagram_reads_with_python_osc_and_is_byte_identical() -> None:
    enc = OscEncoder(max_datagram=1200)
    for frame in (rig_frame(), rig_frame(body=False, face=False, hands=()), rig_frame(hands=())):
        dgrams = enc.encode(frame)
        assert all(len(d) <= 1200 for d in dgrams)
        ours = messages(dgrams)
        theirs = [m for d in dgrams for m in python_osc_messages(d)]
        assert [m.address for m in theirs] == [m.address for m in ours]
        for a, b in zip(ours, theirs, strict=True):
            assert typetags(b) == a.typetags
            assert set(a.typetags) <= {"i", "f"}
            assert tuple(b.params) == a.args
        for d in dgrams:
            assert rebuild_with_python_osc(d) == d


def test_parts_are_sent_only_when_seen() -> None:
    enc = OscEncoder()
    full = {m.address: m.args for m in messages(enc.encode(rig_frame()))}
    frame = rig_frame()
    pose, left = frame.tracked.pose, frame.tracked.hand("Left")
    assert pose is not None and left is not None
    assert full["/mocap/pose/world/32"] == tuple(pose.world[32].tolist())
    assert full["/mocap/pose/image/0"] == tuple(pose.landmarks[0, :4].tolist())
    assert full["/mocap/hand/left/20"] == tuple(left.world[20].tolist())
    assert full["/mocap/hand/right/score"] == (0.875,)
    assert full["/mocap/head/quat"] == tuple(frame.head_rotation.tolist())
    assert full["/mocap/head/ypr"] == tuple(frame.head_ypr.tolist())
    assert full["/mocap/head/pos"] == tuple(frame.head_position.tolist())
    assert full["/mocap/face/eyes"] == tuple(frame.eyes.reshape(4).tolist())
    bare = {m.address for m in messages(enc.encode(rig_frame(body=False, hands=("Left",))))}
    assert not any(a.startswith("/mocap/pose/") for a in bare)
    assert "/mocap/hand/left/0" in bare and "/mocap/hand/right/0" not in bare
    lost = {m.address: m.args for m in messages(enc.encode(rig_frame(face=False)))}
    assert lost["/mocap/face/blendshape/jawOpen"] == (0.0,)  # neutral, not stale
    assert lost["/mocap/state"][1] == Tracking.LOST


def test_bad_frames_are_refused() -> None:
    enc = OscEncoder()
    frame = rig_frame()
    with pytest.raises(ProtocolError, match="non-finite"):
        enc.encode(dataclasses.replace(frame, head_ypr=np.array([0.0, np.nan, 0.0])))
    with pytest.raises(ProtocolError):
        OscEncoder(max_datagram=40)


# --------------------------------------------------------------------------- fast paths


def _reference_osc(frame: RigFrame, t_s: float, max_datagram: int) -> list[bytes]:
    """The generic namespace built message by message with the slow helpers: the oracle."""

    def el(address: str, *args: str | int | float) -> bytes:
        msg = encode_message(address, *args)
        return len(msg).to_bytes(4, "big") + msg

    tracked = frame.tracked
    states = (frame.overall_state, frame.face_state, frame.body_state, *frame.hand_states)
    els = [el("/mocap/frame", frame.index, t_s), el("/mocap/state", *(int(s) for s in states))]
    els += [el(f"/mocap/face/blendshape/{n}", v)
            for n, v in zip(ARKIT_NAMES, frame.blendshapes.tolist(), strict=True)]  # fmt: skip
    els.append(el("/mocap/face/eyes", *frame.eyes.reshape(4).tolist()))
    els.append(el("/mocap/head/quat", *frame.head_rotation.tolist()))
    els.append(el("/mocap/head/ypr", *frame.head_ypr.tolist()))
    els.append(el("/mocap/head/pos", *frame.head_position.tolist()))
    for side, ev in zip(("left", "right"), frame.gestures, strict=True):
        els.append(el(f"/mocap/gesture/{side}", int(ev.label) if ev else 0, float(ev.score) if ev else 0.0))
    if frame.target is not None:
        t = frame.target
        els.append(el("/mocap/rig/hips", *t.hips_position.tolist()))
        els += [
            el(f"/mocap/rig/bone/{n}", *q)
            for n, q, ok in zip(t.names, t.rotations.tolist(), t.valid, strict=True)
            if ok
        ]
    if tracked.pose is not None:
        els += [el(f"/mocap/pose/world/{i}", *p) for i, p in enumerate(tracked.pose.world.tolist())]
        els += [el(f"/mocap/pose/image/{i}", *p[:4])
                for i, p in enumerate(tracked.pose.landmarks.tolist())]  # fmt: skip
    for side, label in (("left", "Left"), ("right", "Right")):
        hand = tracked.hand(label)
        if hand is not None:
            els.append(el(f"/mocap/hand/{side}/score", float(hand.score)))
            els += [el(f"/mocap/hand/{side}/{i}", *p) for i, p in enumerate(hand.world.tolist())]
    return pack_elements(els, max_datagram)


def test_frames_with_full_precision_values_match_the_generic_encoder() -> None:
    rng = np.random.default_rng(3)
    for limit in (400, 1200, 65507):
        enc = OscEncoder(max_datagram=limit)
        enc.encode(rig_frame(t_ms=0))
        for k in range(24):
            base = rig_frame(index=k, t_ms=33 * k + 33, body=k % 3 != 0,
                             hands=(("Left", "Right"), ("Right",), ())[k % 3])  # fmt: skip
            tracked = base.tracked
            if tracked.pose is not None:
                pose = dataclasses.replace(
                    tracked.pose,
                    landmarks=rng.random((33, 5)).astype(np.float32),
                    world=rng.normal(size=(33, 3)).astype(np.float32),
                )
                tracked = dataclasses.replace(tracked, pose=pose)
            frame = dataclasses.replace(
                base,
                tracked=tracked,
                blendshapes=rng.random(52).astype(np.float32),
                head_rotation=rng.normal(size=4),
                head_ypr=rng.normal(size=3),
                head_position=rng.normal(size=3),
                eyes=rng.normal(size=(2, 2)),
            )
            assert enc.encode(frame) == _reference_osc(frame, (33 * k + 33) / 1000, limit)


def test_overall_state_helper_matches_the_frame_property() -> None:
    frame = rig_frame()
    for face, body, left, right in itertools.product(Tracking, repeat=4):
        f = dataclasses.replace(frame, face_state=face, body_state=body, hand_states=(left, right))
        assert overall_state(f) is f.overall_state


def test_non_finite_landmarks_and_hands_are_refused() -> None:
    enc = OscEncoder()
    frame = rig_frame()
    hand = frame.tracked.hands[0]
    world = hand.world.copy()
    world[3, 1] = np.inf
    tracked = dataclasses.replace(frame.tracked, hands=(dataclasses.replace(hand, world=world),))
    with pytest.raises(ProtocolError, match="non-finite"):
        enc.encode(dataclasses.replace(frame, tracked=tracked))
    with pytest.raises(ProtocolError, match="OSC values"):
        enc.encode(dataclasses.replace(frame, blendshapes=np.zeros(51, np.float32)))
