"""The Blender add-on's OSC reader and VMC latch (pure, no Blender): python-osc is the oracle.

Everything the bridge's VMC encoder sends, plus python-osc-built edge cases, must read exactly as
python-osc reads it (floats compared bit for bit); then the latch must rebuild the frames the
encoder was given.
"""

from __future__ import annotations

import contextlib
import math
import re
import struct
from pathlib import Path
from typing import cast

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oscutil import python_osc_messages, read_golden
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import ArgValue, OscMessageBuilder
from rigframes import rig_frame

from mocap_bridge.blender import BONE_MAP_FILES, build_addon_zip
from mocap_bridge.blender.mocap_bridge_blender import humanoid
from mocap_bridge.blender.mocap_bridge_blender.osc import OscError, iter_messages, parse_message
from mocap_bridge.blender.mocap_bridge_blender.receiver import VmcLatch
from mocap_bridge.frames import ARKIT_NAMES, HUMAN_BONE_NAMES, HumanBone, RigFrame
from mocap_bridge.protocols.vmc import VmcEncoder, load_expression_map

ROOT = Path(__file__).resolve().parents[1]
MAP = ROOT / "retarget_maps" / "arkit_to_vrm0.toml"


def _bits(v: object) -> object:
    """Floats by their float32 bit pattern (NaN == NaN, -0.0 != 0.0); other values as they are."""
    if isinstance(v, float):
        return ("f", struct.pack(">f", v)) if not math.isnan(v) else ("nan", struct.pack(">f", v))
    if isinstance(v, list | tuple):
        return tuple(_bits(x) for x in v)
    return v


def _oracle(dgram: bytes) -> list[tuple[str, tuple[object, ...]]]:
    return [(m.address, tuple(_bits(p) for p in m.params)) for m in python_osc_messages(dgram)]


def _ours(dgram: bytes) -> list[tuple[str, tuple[object, ...]]]:
    return [(a, tuple(_bits(p) for p in args)) for a, args in iter_messages(dgram)]


def _frames(n: int) -> list[RigFrame]:
    out = []
    for i in range(n):
        valid = None if i % 3 else (HumanBone.Hips, HumanBone.Spine, HumanBone.LeftUpperArm, HumanBone.Jaw)
        out.append(
            rig_frame(index=i, t_ms=1_000 + 33 * i, seed=i, valid=valid, hands=("Left",) if i % 2 else ())
        )
    return out


@pytest.fixture(scope="module")
def encoders() -> list[VmcEncoder]:
    vrm0 = load_expression_map(MAP)
    return [
        VmcEncoder(expressions=vrm0),
        VmcEncoder(expressions=vrm0, perfect_sync=True),
        VmcEncoder(expressions=None, perfect_sync=True, perfect_sync_case="PascalCase", max_datagram=1500),
        VmcEncoder(expressions=None),
    ]


def test_everything_the_vmc_encoder_sends_reads_as_python_osc_reads_it(encoders: list[VmcEncoder]) -> None:
    n = 0
    for enc in encoders:
        for frame in _frames(12):
            for dgram in enc.encode(frame):
                assert _ours(dgram) == _oracle(dgram)
                n += 1
    assert n > 100


def test_golden_vmc_frame_reads_as_python_osc_reads_it() -> None:
    for dgram in read_golden("vmc_frame.bin"):
        assert _ours(dgram) == _oracle(dgram)


def _msg(address: str, *args: tuple[ArgValue, str]) -> bytes:
    b = OscMessageBuilder(address)
    for value, tag in args:
        b.add_arg(value, tag)
    return b.build().dgram


EDGE_MESSAGES = [
    _msg("/VMC/Ext/Blend/Apply"),
    _msg("/a", ("", "s")),
    _msg("/ab", ("abc", "s")),  # address 3 chars + NUL: exactly 4
    _msg("/abc", ("abcd", "s")),  # address 4 chars: padded to 8; 4-char string padded to 8
    _msg("/abcdefg", ("abcde", "s"), ("x" * 7, "s")),
    _msg("/i", (-1, "i"), (-(2**31), "i"), (2**31 - 1, "i"), (0, "i")),
    _msg("/f", (float("nan"), "f"), (float("inf"), "f"), (float("-inf"), "f"), (-0.0, "f"), (1e-45, "f")),
    _msg("/f", (3.4028234663852886e38, "f"), (-1.5, "f")),
    _msg("/mix", ("LeftUpperArm", "s"), (0.25, "f"), (7, "i"), ("", "s"), (-2.0, "f")),
    _msg(
        "/other",
        (b"\x01\x02\x03", "b"),
        (2**40, "h"),
        (1.0 / 3.0, "d"),
        (True, "T"),
        (False, "F"),
        (None, "N"),
        (b"abcd", "b"),
        ("S", "s"),
    ),
    _msg("/unicode", ("ジョイ", "s"), ("Blink_L", "s")),
]


@pytest.mark.parametrize("dgram", EDGE_MESSAGES, ids=range(len(EDGE_MESSAGES)))
def test_python_osc_built_messages(dgram: bytes) -> None:
    assert _ours(dgram) == _oracle(dgram)
    # and inside a bundle
    bb = OscBundleBuilder(IMMEDIATELY)
    bb.add_content(OscMessageBuilder("/first").build())
    from pythonosc.osc_message import OscMessage

    bb.add_content(OscMessage(dgram))
    bundle = bb.build().dgram
    assert _ours(bundle) == _oracle(bundle)


def test_nested_bundles_like_the_vmc_app() -> None:
    """VMC's root bundle carries a bundle of bones (ExternalSender.cs: rootBundle.Add(boneBundle))."""
    inner = OscBundleBuilder(IMMEDIATELY)
    for name in ("Hips", "Spine", "Chest"):
        b = OscMessageBuilder("/VMC/Ext/Bone/Pos")
        b.add_arg(name, "s")
        for v in (0.0, 0.1, 0.2, 0.0, 0.0, 0.0, 1.0):
            b.add_arg(v, "f")
        inner.add_content(b.build())
    deeper = OscBundleBuilder(IMMEDIATELY)
    deeper.add_content(OscMessageBuilder("/VMC/Ext/Blend/Apply").build())
    inner.add_content(deeper.build())
    root = OscBundleBuilder(IMMEDIATELY)
    root.add_content(_msg_obj("/VMC/Ext/OK", (1, "i")))
    root.add_content(_msg_obj("/VMC/Ext/T", (12.5, "f")))
    root.add_content(inner.build())
    dgram = root.build().dgram
    got = _ours(dgram)
    assert got == _oracle(dgram)
    assert [a for a, _ in got] == [
        "/VMC/Ext/OK",
        "/VMC/Ext/T",
        *["/VMC/Ext/Bone/Pos"] * 3,
        "/VMC/Ext/Blend/Apply",
    ]


def _msg_obj(address: str, *args: tuple[ArgValue, str]) -> OscMessage:
    b = OscMessageBuilder(address)
    for value, tag in args:
        b.add_arg(value, tag)
    return b.build()


def test_unknown_type_tag_skips_only_that_message() -> None:
    odd = b"/odd\x00\x00\x00\x00,iX\x00" + struct.pack(">i", 5) + b"????"
    bb = OscBundleBuilder(IMMEDIATELY)
    bb.add_content(_msg_obj("/before", (1, "i")))
    dgram = bb.build().dgram
    element = struct.pack(">i", len(odd)) + odd
    dgram += element + struct.pack(">i", 8) + b"/after\x00\x00"
    assert parse_message(odd) is None
    assert [a for a, _ in iter_messages(dgram)] == ["/before", "/after"]


@pytest.mark.parametrize(
    "bad",
    [
        b"/VMC/Ext/T\x00\x00,f\x00\x00\x00\x00",  # float cut short
        b"/VMC/Ext/T",  # unterminated address
        b"VMC/no/slash\x00\x00\x00\x00,\x00\x00\x00",
        b"/a\x00\x00f\x00\x00\x00",  # type tags without a comma
        b"#bundle\x00" + b"\x00" * 8 + struct.pack(">i", 64) + b"/x\x00\x00,\x00\x00\x00",  # size past end
        b"#bundle\x00" + b"\x00" * 4,  # header cut short
        b"/b\x00\x00,b\x00\x00" + struct.pack(">i", 99) + b"abc\x00",  # blob past end
    ],
)
def test_malformed_datagrams_raise_osc_error(bad: bytes) -> None:
    with pytest.raises(OscError):
        list(iter_messages(bad))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_only_ever_raise_osc_error(data: bytes) -> None:
    with contextlib.suppress(OscError):
        list(iter_messages(data))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.text(max_size=12), st.just("s")),
            st.tuples(st.integers(-(2**31), 2**31 - 1), st.just("i")),
            st.tuples(st.floats(width=32, allow_nan=True), st.just("f")),
        ),
        max_size=10,
    )
)
def test_random_s_i_f_messages_match_python_osc(args: list[tuple[str | int | float, str]]) -> None:
    args = [(cast(str, a).replace("\x00", ""), t) if t == "s" else (a, t) for a, t in args]
    dgram = _msg("/VMC/Ext/Test", *args)
    assert _ours(dgram) == _oracle(dgram)


# -- VMC latch: frames rebuilt from the encoder's datagrams -------------------------------------


def test_latch_rebuilds_every_frame_the_encoder_sent(encoders: list[VmcEncoder]) -> None:
    enc = encoders[1]  # VRM0 presets + perfect sync: Blend/Apply ends each frame
    latch = VmcLatch()
    frames = _frames(9)
    got = []
    for f in frames:
        for dgram in enc.encode(f):
            got += latch.feed(dgram, 0.0)
    assert [g.seq for g in got] == list(range(1, 10))
    for f, g in zip(frames, got, strict=True):
        assert g.t == pytest.approx((f.t_ms - frames[0].t_ms) / 1000.0, abs=1e-6)
        sent = dict(_oracle_bones(f))
        assert {HUMAN_BONE_NAMES[b] for b in np.flatnonzero(f.bone_valid)} == set(sent)
        for name, values in sent.items():
            assert g.bones[name] == values
        names = enc.blend_names
        vals = enc.blend_values(f)
        for n, v in zip(names, vals, strict=True):
            assert g.blends[n.lower()] == pytest.approx(float(v), abs=1e-6)
        assert g.tracking in (0, 1)
    # bones not sent keep their last value (frame 3 sends only 4 bones)
    sparse = got[3]
    assert "LeftHand" in sparse.bones and sparse.bones["LeftHand"] == got[2].bones["LeftHand"]


def _oracle_bones(frame: RigFrame) -> list[tuple[str, tuple[float, ...]]]:
    """What python-osc reads from this frame's Bone/Pos messages (a fresh encoder: same bytes)."""
    out = []
    for dgram in VmcEncoder(expressions=load_expression_map(MAP), perfect_sync=True).encode(frame):
        for m in python_osc_messages(dgram):
            if m.address == "/VMC/Ext/Bone/Pos":
                out.append((m.params[0], tuple(m.params[1:])))
    return out


def test_latch_without_blends_ends_frames_at_the_next_time_message(encoders: list[VmcEncoder]) -> None:
    enc = encoders[3]  # no Blend/Val, no Apply
    latch = VmcLatch()
    got = []
    for f in _frames(5):
        for dgram in enc.encode(f):
            got += latch.feed(dgram, 0.0)
    assert [g.seq for g in got] == [1, 2, 3, 4]  # the fifth completes when a sixth begins
    assert [None if g.t is None else round(g.t, 3) for g in got] == [0.0, 0.033, 0.066, 0.099]


def test_latch_drops_badly_typed_messages_and_ignores_bone_name_case() -> None:
    latch = VmcLatch()
    bad = _msg("/VMC/Ext/Bone/Pos", ("Hips", "s"), (1, "i"), *[(0.0, "f")] * 6)  # int where float
    nan = _msg("/VMC/Ext/Bone/Pos", ("Spine", "s"), (float("nan"), "f"), *[(0.0, "f")] * 6)
    good = _msg("/VMC/Ext/Bone/Pos", ("leftupperarm", "s"), *[(0.5, "f")] * 7)
    t_int = _msg("/VMC/Ext/T", (3, "i"))
    apply = _msg("/VMC/Ext/Blend/Apply")
    out = []
    for d in (bad, nan, good, t_int, apply, b"garbage"):
        out += latch.feed(d, 1.0)
    assert latch.bad_messages == 3 and latch.bad_datagrams == 1
    assert len(out) == 1 and out[0].bones == {"LeftUpperArm": (0.5,) * 7} and out[0].t is None


def test_humanoid_tables_match_the_bridge() -> None:
    assert set(humanoid.HUMAN_BONES) == set(HUMAN_BONE_NAMES)
    assert set(humanoid.ARKIT_NAMES) == set(ARKIT_NAMES)
    from mocap_bridge.solve.body import PARENT

    assert {k.name: (v.name if v is not None else None) for k, v in PARENT.items()} == humanoid.PARENT


def test_addon_zip_holds_the_package_and_the_maps(tmp_path: Path) -> None:
    import zipfile

    out = build_addon_zip(tmp_path / "mb.zip")
    names = set(zipfile.ZipFile(out).namelist())
    assert "mocap_bridge_blender/__init__.py" in names
    assert "mocap_bridge_blender/blender_manifest.toml" in names
    for m in BONE_MAP_FILES:
        data = zipfile.ZipFile(out).read(f"mocap_bridge_blender/maps/{m}")
        assert data == (ROOT / "retarget_maps" / m).read_bytes()
    assert humanoid.BONE_MAP_FILES == BONE_MAP_FILES
    assert not any("mocap_bridge/" in n.split("mocap_bridge_blender/")[0] for n in names)
    for n in names:
        if n.endswith(".py"):
            src = zipfile.ZipFile(out).read(n).decode()
            assert not re.search(r"^\s*(from|import)\s+mocap_bridge(\.|\s|$)", src, re.MULTILINE), n


def test_preset_blender_reaches_the_addon_default_port() -> None:
    """`mocap-bridge run --preset blender` alone feeds the add-on's receiver on its default port."""
    import subprocess
    import sys
    import time

    from conftest import media

    from mocap_bridge.blender.mocap_bridge_blender.receiver import UdpListener

    clip = media("talking_head_a.mpg")
    api_src = (ROOT / "mocap_bridge/blender/mocap_bridge_blender/api.py").read_text(encoding="utf-8")
    assert "port: int = 39539" in api_src and 'host: str = "127.0.0.1"' in api_src
    try:
        listener = UdpListener("127.0.0.1", 39539)
    except OSError:
        pytest.skip("127.0.0.1:39539 is in use on this machine (another VMC receiver)")
    with listener:
        cmd = [sys.executable, "-m", "mocap_bridge", "run", "--preset", "blender", "--source", str(clip),
               "--mode", "video", "--max-frames", "20", "--quiet"]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode == 0, proc.stderr[-2000:]
        deadline = time.monotonic() + 5.0
        while listener.frames_received < 19 and time.monotonic() < deadline:
            time.sleep(0.05)
        latest = listener.latest()
    assert listener.frames_received >= 19  # the 20th completes only at Blend/Apply: all 20 do
    assert latest is not None and "jawopen" in latest.blends and "a" in latest.blends


def test_cli_writes_the_addon_zip_and_refuses_bad_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mocap_bridge.cli import main

    out = tmp_path / "sub" / "mb.zip"
    assert main(["blender", "addon", "--out", str(out)]) == 0
    import zipfile

    assert "mocap_bridge_blender/__init__.py" in zipfile.ZipFile(out).namelist()
    assert main(["blender", "addon", "--out", str(tmp_path / "mb.txt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"mocap-bridge: error: {tmp_path / 'mb.txt'}: the add-on file must end in .zip"
