"""VMC encoder: golden bytes, python-osc as reader and byte oracle, expression maps."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from oscutil import python_osc_messages, read_golden, rebuild_with_python_osc, typetags
from rigframes import rig_frame

from mocap_bridge.coords import to_unity
from mocap_bridge.errors import ConfigError, ProtocolError
from mocap_bridge.frames import ARKIT_NAMES, ARKit, HumanBone, RigFrame, Tracking
from mocap_bridge.protocols.osc_wire import FramePlan, OscMessage, Template, decode_packet, pack_elements
from mocap_bridge.protocols.vmc import (
    VRM0_PRESETS,
    ExpressionMap,
    VmcEncoder,
    load_expression_map,
    parse_expression_map,
    perfect_sync_names,
)

ROOT = Path(__file__).resolve().parents[1]
MAP = ROOT / "retarget_maps" / "arkit_to_vrm0.toml"
SOME_BONES = (HumanBone.Hips, HumanBone.Spine, HumanBone.Head, HumanBone.LeftUpperArm)


@pytest.fixture(scope="module")
def vrm0() -> ExpressionMap:
    return load_expression_map(MAP)


def encoder(vrm0: ExpressionMap, **kw: Any) -> VmcEncoder:
    return VmcEncoder(expressions=vrm0, **kw)


def messages(datagrams: list[bytes]) -> list[OscMessage]:
    return [m for d in datagrams for m in decode_packet(d)]


def test_golden_frame_both_ways(vrm0: ExpressionMap) -> None:
    enc = encoder(vrm0)
    enc.encode(rig_frame(t_ms=500))  # time origin
    frame = rig_frame(t_ms=1_750, valid=SOME_BONES)
    dgrams = enc.encode(frame)
    assert dgrams == read_golden("vmc_frame.bin")
    msgs = messages(read_golden("vmc_frame.bin"))
    assert [m.address for m in msgs[:3]] == ["/VMC/Ext/OK", "/VMC/Ext/T", "/VMC/Ext/Root/Pos"]
    assert msgs[0].args == (1, 3, 0, 1)
    assert msgs[1].args == (1.25,)
    assert msgs[2].args == ("root", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)  # the avatar's origin, on the floor
    assert [m.args[0] for m in msgs[3:7]] == ["Hips", "Spine", "Head", "LeftUpperArm"]
    hips = frame.bone_positions[HumanBone.Hips] * (-1, 1, 1)  # the hips' height travels on the bone
    assert msgs[3].args[1:4] == pytest.approx(tuple(hips), abs=1e-6)
    assert [m.args[0] for m in msgs[7:-1]] == list(vrm0.names)
    assert msgs[-1].address == "/VMC/Ext/Blend/Apply" and msgs[-1].args == ()


def test_every_datagram_reads_with_python_osc_and_is_byte_identical(vrm0: ExpressionMap) -> None:
    enc = encoder(vrm0, perfect_sync=True)
    for frame in (rig_frame(), rig_frame(body=False, face=False), rig_frame(valid=SOME_BONES)):
        dgrams = enc.encode(frame)
        ours = messages(dgrams)
        theirs = [m for d in dgrams for m in python_osc_messages(d)]
        assert [m.address for m in theirs] == [m.address for m in ours]
        for a, b in zip(ours, theirs, strict=True):
            assert typetags(b) == a.typetags
            assert set(a.typetags) <= {"s", "i", "f"}
            assert tuple(b.params) == a.args
        for d in dgrams:
            assert rebuild_with_python_osc(d) == d


def test_bone_values_are_converted_to_unity(vrm0: ExpressionMap) -> None:
    frame = rig_frame(seed=11)
    msgs = [m for m in messages(encoder(vrm0).encode(frame)) if m.address == "/VMC/Ext/Bone/Pos"]
    assert len(msgs) == len(HumanBone)
    for m in msgs:
        b = HumanBone[str(m.args[0])]
        pos, rot = to_unity(frame.bone_positions[b], frame.bone_rotations[b])
        assert m.args[1:4] == pytest.approx(tuple(pos), abs=1e-6)
        assert m.args[4:8] == pytest.approx(tuple(rot), abs=1e-6)
        x, y, z = frame.bone_positions[b]
        assert m.args[1:4] == pytest.approx((-x, y, z), abs=1e-6)
        qx, qy, qz, qw = frame.bone_rotations[b]
        assert m.args[4:8] == pytest.approx((qx, -qy, -qz, qw), abs=1e-6)
    root = next(m for m in messages(encoder(vrm0).encode(frame)) if "Root" in m.address)
    assert root.args == ("root", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)  # the avatar's origin, on the floor


def test_no_valid_bone_sends_root_blends_ok_t_only(vrm0: ExpressionMap) -> None:
    msgs = messages(encoder(vrm0).encode(rig_frame(body=False, hands=())))
    addresses = {m.address for m in msgs}
    assert "/VMC/Ext/Bone/Pos" not in addresses
    assert addresses == {
        "/VMC/Ext/OK", "/VMC/Ext/T", "/VMC/Ext/Root/Pos", "/VMC/Ext/Blend/Val",
        "/VMC/Ext/Blend/Apply",
    }  # fmt: skip
    assert msgs[0].args[3] == 1  # the face still drives the avatar: tracking is not lost


def test_tracking_flag_is_one_while_any_part_drives_the_avatar(vrm0: ExpressionMap) -> None:
    enc = encoder(vrm0)
    ok = rig_frame()
    assert ok.overall_state is Tracking.OK
    assert messages(enc.encode(ok))[0].args == (1, 3, 0, 1)
    lost = Tracking.LOST
    for states in [(Tracking.PARTIAL, lost, (lost, lost)), (lost, Tracking.OK, (lost, lost)),
                   (lost, lost, (Tracking.OK, lost)), (Tracking.OK, lost, (lost, lost))]:  # fmt: skip
        frame = dataclasses.replace(ok, face_state=states[0], body_state=states[1], hand_states=states[2])
        assert messages(enc.encode(frame))[0].args == (1, 3, 0, 1), states
    gone = dataclasses.replace(ok, face_state=lost, body_state=lost, hand_states=(lost, lost))
    assert messages(enc.encode(gone))[0].args == (1, 3, 0, 0)


@pytest.mark.parametrize("limit", [128, 300, 576, 1200, 1500, 65507])
def test_datagram_limit_and_apply_after_all_values(vrm0: ExpressionMap, limit: int) -> None:
    enc = encoder(vrm0, perfect_sync=True, max_datagram=limit)
    dgrams = enc.encode(rig_frame())
    assert all(len(d) <= limit for d in dgrams)
    msgs = messages(dgrams)
    assert len(msgs) == 3 + len(HumanBone) + len(VRM0_PRESETS) + 52 + 1
    assert msgs[-1].address == "/VMC/Ext/Blend/Apply"
    assert sum(m.address == "/VMC/Ext/Blend/Apply" for m in msgs) == 1
    if limit == 65507:
        assert len(dgrams) == 1


def test_max_datagram_too_small_is_refused(vrm0: ExpressionMap) -> None:
    with pytest.raises(ProtocolError, match="max datagram"):
        encoder(vrm0, max_datagram=90)


def test_perfect_sync_names_and_values(vrm0: ExpressionMap) -> None:
    frame = rig_frame(seed=2)
    for case in ("lowerCamel", "PascalCase"):
        enc = VmcEncoder(expressions=None, perfect_sync=True, perfect_sync_case=case)
        vals = [m.args for m in messages(enc.encode(frame)) if m.address.endswith("/Val")]
        assert [v[0] for v in vals] == list(perfect_sync_names(case))
        assert [v[1] for v in vals] == frame.blendshapes.tolist()
    assert perfect_sync_names("PascalCase")[ARKit.jawOpen] == "JawOpen"
    assert perfect_sync_names("lowerCamel") == ARKIT_NAMES
    with pytest.raises(ProtocolError):
        perfect_sync_names("snake")  # type: ignore[arg-type]


def test_no_blendshapes_at_all_sends_no_apply() -> None:
    msgs = messages(VmcEncoder(expressions=None).encode(rig_frame()))
    assert not any("Blend" in m.address for m in msgs)


def test_non_finite_values_are_refused(vrm0: ExpressionMap) -> None:
    frame = rig_frame()
    rot = frame.bone_rotations.copy()
    rot[0, 0] = np.inf
    with pytest.raises(ProtocolError, match="non-finite"):
        encoder(vrm0).encode(dataclasses.replace(frame, bone_rotations=rot))


def test_frame_plan_matches_simple_packer() -> None:
    tpls = [Template("/VMC/Ext/T", "f"), *(Template("/VMC/Ext/Blend/Val", "sf", [n]) for n in
            ARKIT_NAMES), Template("/VMC/Ext/OK", "iiii")]  # fmt: skip
    floats = np.arange(1 + 52, dtype=np.float64) / 8
    ints = np.array([1, 3, 0, 1])
    raw_f = floats.astype(">f4").tobytes()
    els = [tpls[0].element(raw_f[:4])]
    els += [t.element(raw_f[4 * (k + 1) : 4 * (k + 2)]) for k, t in enumerate(tpls[1:-1])]
    els.append(tpls[-1].element(ints.astype(">i4").tobytes()))
    for limit in (200, 1200, 9000):
        plan = FramePlan(tpls, limit)
        assert plan.render(floats, ints) == pack_elements(els, limit)


# --------------------------------------------------------------------------- expression maps


def test_shipped_map_loads_and_covers_vrm0(vrm0: ExpressionMap) -> None:
    assert set(vrm0.names) == set(VRM0_PRESETS)


def blinks(vrm0: ExpressionMap, left: float, right: float) -> dict[str, float]:
    bs = np.zeros(52, np.float32)
    bs[ARKit.eyeBlinkLeft], bs[ARKit.eyeBlinkRight] = left, right
    return dict(zip(vrm0.names, vrm0.evaluate(bs).tolist(), strict=True))


def test_blink_split_never_doubles(vrm0: ExpressionMap) -> None:
    both = blinks(vrm0, 1.0, 1.0)
    assert (both["Blink"], both["Blink_L"], both["Blink_R"]) == (1.0, 0.0, 0.0)
    wink = blinks(vrm0, 1.0, 0.0)
    assert (wink["Blink"], wink["Blink_L"], wink["Blink_R"]) == (0.0, 1.0, 0.0)
    half = blinks(vrm0, 0.75, 0.25)
    assert (half["Blink"], half["Blink_L"], half["Blink_R"]) == (0.25, 0.5, 0.0)


def test_values_are_clamped(vrm0: ExpressionMap) -> None:
    out = vrm0.evaluate(np.ones(52, np.float32))
    assert out.min() >= 0.0 and out.max() <= 1.0
    bs = np.zeros(52, np.float32)
    bs[ARKit.jawOpen] = 1.0
    assert dict(zip(vrm0.names, vrm0.evaluate(bs).tolist(), strict=True))["A"] == 1.0


def doc(**expressions: Any) -> dict[str, Any]:
    return {"format": "mocap_bridge.expression_map/1", "expressions": expressions}


@pytest.mark.parametrize(
    ("document", "key"),
    [
        (doc(Blink={"weights": {"eyeBlinkLeftt": 1.0}}), "expressions.Blink.weights.eyeBlinkLeftt"),
        (doc(Smile={"weights": {"mouthSmileLeft": 1.0}}), "expressions.Smile"),
        (doc(Joy={"weights": {"mouthSmileLeft": "1"}}), "expressions.Joy.weights.mouthSmileLeft"),
        (doc(Joy={"combine": "avg"}), "expressions.Joy.combine"),
        (doc(Joy={"subtract": ["Blink"]}), "expressions.Joy.subtract"),
        (doc(Joy={"colour": 1}), "expressions.Joy.colour"),
        ({"expressions": {}}, "format"),
        ({**doc(A={}), "extra": 1}, "extra"),
    ],
)
def test_bad_maps_name_file_and_key(document: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_expression_map(document, "my_map.toml")
    assert str(err.value).startswith(f"my_map.toml: {key}:")


def test_bad_map_file_names_the_file(tmp_path: Path) -> None:
    p = tmp_path / "m.toml"
    p.write_text('format = "mocap_bridge.expression_map/1"\n[expressions.Blink]\n'
                 "weights = { tongueOutt = 1.0 }\n")  # fmt: skip
    with pytest.raises(ConfigError, match=r"m\.toml: expressions\.Blink\.weights\.tongueOutt"):
        load_expression_map(p)
    p.write_text("not toml [")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_expression_map(p)
    with pytest.raises(ConfigError, match="cannot read"):
        load_expression_map(tmp_path / "missing.toml")


# --------------------------------------------------------------------------- fast paths


def _reference_datagrams(
    enc: VmcEncoder, vrm0: ExpressionMap, frame: RigFrame, t_s: float, ok: bool
) -> list[bytes]:
    """VMC datagrams built message by message with the generic helpers: the oracle."""

    def f4(values: npt.ArrayLike) -> bytes:
        return np.asarray(values, dtype=np.float64).astype(">f4").tobytes()

    els = [Template("/VMC/Ext/OK", "iiii").element(np.array([1, 3, 0, int(ok)], ">i4").tobytes())]
    els.append(Template("/VMC/Ext/T", "f").element(f4([t_s])))
    els.append(Template("/VMC/Ext/Root/Pos", "sfffffff", ["root"]).element(
        f4([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0])))  # fmt: skip
    for b in np.flatnonzero(frame.bone_valid):
        (x, y, z), (qx, qy, qz, qw) = frame.bone_positions[b], frame.bone_rotations[b]
        els.append(Template("/VMC/Ext/Bone/Pos", "sfffffff", [HumanBone(int(b)).name]).element(
            f4([-x, y, z, qx, -qy, -qz, qw])))  # fmt: skip
    values = np.concatenate([vrm0.evaluate(frame.blendshapes), frame.blendshapes])
    for name, v in zip(enc.blend_names, values.tolist(), strict=True):
        els.append(Template("/VMC/Ext/Blend/Val", "sf", [name]).element(f4([v])))
    els.append(Template("/VMC/Ext/Blend/Apply", "").element(b""))
    return pack_elements(els, enc.max_datagram)


def test_frames_with_full_precision_values_match_the_generic_encoder(vrm0: ExpressionMap) -> None:
    rng = np.random.default_rng(5)
    for limit in (300, 1200, 65507):
        enc = encoder(vrm0, perfect_sync=True, max_datagram=limit)
        enc.encode(rig_frame(t_ms=0))
        for k in range(40):
            base = rig_frame(t_ms=40 * k + 40, body=k % 5 != 0, face=k % 7 != 0)
            valid = base.bone_valid.copy()
            if k % 3 == 1:
                valid &= rng.random(len(valid)) < 0.5  # a few different layouts, reused
            blend = (rng.random(52) * 1.4 - 0.2).astype(np.float32)
            blend[rng.random(52) < 0.2] = 0.0
            frame = dataclasses.replace(
                base,
                blendshapes=blend,
                bone_valid=valid,
                bone_rotations=rng.normal(size=base.bone_rotations.shape),
                bone_positions=rng.normal(size=base.bone_positions.shape),
                hips_position=rng.normal(size=3),
            )
            ok = frame.overall_state is not Tracking.LOST
            assert enc.encode(frame) == _reference_datagrams(enc, vrm0, frame, frame.t_ms / 1000, ok)


def _bits(values: npt.ArrayLike) -> list[int]:
    bits: list[int] = np.asarray(values, dtype=np.float64).astype(np.float32).view(np.uint32).tolist()
    return bits


def test_wire_values_round_to_evaluate_bit_for_bit(vrm0: ExpressionMap) -> None:
    rng = np.random.default_rng(9)
    samples = [np.zeros(52), np.ones(52), np.full(52, 0.5), -np.ones(52), np.full(52, 2.0)]
    for _ in range(3000):
        bs = rng.random(52) * rng.choice([1.0, 1.5, 1e-3])
        bs[rng.random(52) < 0.3] = rng.choice([0.0, 1.0, -0.0])
        samples.append(bs)
    assert vrm0._pairs is not None  # the shipped map takes the Python path
    for bs in samples:
        bs32 = np.asarray(bs, dtype=np.float32)
        assert _bits(vrm0.wire_values(bs32)) == _bits(vrm0.evaluate(bs32))


def test_wire_values_with_several_subtractions_use_evaluate() -> None:
    doc: dict[str, Any] = {
        "format": "mocap_bridge.expression_map/1",
        "expressions": {
            "Blink_L": {"weights": {"eyeBlinkLeft": 0.7}},
            "Blink_R": {"weights": {"eyeBlinkRight": 0.3}, "combine": "max"},
            "Blink": {
                "weights": {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0},
                "subtract": ["Blink_L", "Blink_R"],
            },
            "A": {"weights": {"jawOpen": 1.0}, "subtract": ["Blink_L", "Blink_L"]},
        },
    }
    m = parse_expression_map(doc, "<test>")
    exprs = doc["expressions"]
    twice = parse_expression_map({**doc, "expressions": {k: exprs[k] for k in ("Blink_L", "A")}}, "")
    thrice = {"weights": {"jawOpen": 1.0}, "subtract": ["Blink_L"] * 3}
    three = parse_expression_map({**doc, "expressions": {"Blink_L": exprs["Blink_L"], "A": thrice}}, "")
    assert m._pairs is None and twice._pairs is not None and three._pairs is None
    rng = np.random.default_rng(2)
    for _ in range(500):
        bs = rng.random(52).astype(np.float32)
        for mp in (m, twice, three):
            assert _bits(mp.wire_values(bs)) == _bits(mp.evaluate(bs))
    enc = VmcEncoder(expressions=m)
    frame = rig_frame()
    vals = [msg.args[1] for msg in messages(enc.encode(frame)) if msg.address.endswith("Val")]
    assert vals == m.evaluate(frame.blendshapes).tolist()


def test_nan_blendshape_is_refused(vrm0: ExpressionMap) -> None:
    blend = rig_frame().blendshapes.copy()
    blend[ARKit.jawOpen] = np.nan
    with pytest.raises(ProtocolError, match="non-finite"):
        encoder(vrm0).encode(dataclasses.replace(rig_frame(), blendshapes=blend))


def test_wrong_bone_count_is_refused(vrm0: ExpressionMap) -> None:
    frame = rig_frame()
    short = dataclasses.replace(frame, bone_positions=frame.bone_positions[:-1])
    with pytest.raises(ProtocolError, match="55 bones"):
        encoder(vrm0).encode(short)


def test_frame_plan_renders_are_independent() -> None:
    plan = FramePlan([Template("/a", "fi"), Template("/b", "sf", ["x"])], 1200)
    first = plan.render(np.array([0.5, 1.5]), np.array([3]))
    second = plan.render(np.array([-2.0, 4.0]), np.array([-7]))
    assert [m.args for m in messages(first)] == [(0.5, 3), ("x", 1.5)]
    assert [m.args for m in messages(second)] == [(-2.0, -7), ("x", 4.0)]
    with pytest.raises(ProtocolError, match="wants 2 floats and 1 ints"):
        plan.render(np.zeros(3), np.zeros(1))
