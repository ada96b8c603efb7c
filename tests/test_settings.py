"""The one settings model: defaults, presets, files, flags, and the validator's errors."""

from __future__ import annotations

import dataclasses
import math
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mocap_bridge.cli import build_parser, overrides_from_args
from mocap_bridge.errors import ConfigError
from mocap_bridge.settings import (
    Settings,
    field_docs,
    load_settings,
    presets,
    settings_from_tables,
)
from mocap_bridge.transports.endpoints import Endpoint, parse_endpoint

ROOT = Path(__file__).resolve().parents[1]


def from_doc(doc: dict[str, Any], name: str = "my.toml") -> Settings:
    origin = {(t, k): name for t, v in doc.items() if isinstance(v, dict) for k in v}
    origin.update({(t, ""): name for t in doc})
    return settings_from_tables(doc, origin)


def from_flags(argv: list[str], **kw: Any) -> Settings:
    args = build_parser().parse_args(["run", *argv])
    values, names = overrides_from_args(args)
    return load_settings(overrides=values, override_names=names, **kw)


# ------------------------------------------------------------------------------------- defaults
def test_default_toml_equals_the_dataclass_defaults() -> None:
    with open(ROOT / "configs" / "default.toml", "rb") as fh:
        doc = tomllib.load(fh)
    assert from_doc(doc, "default.toml") == Settings()
    assert load_settings() == Settings()
    # and it sets every key of every table, so it documents them all
    for table in dataclasses.fields(Settings):
        keys = {f.name for f in dataclasses.fields(getattr(Settings(), table.name))}
        assert set(doc[table.name]) == keys, table.name


def test_every_field_is_documented() -> None:
    for table in dataclasses.fields(Settings):
        cls = type(getattr(Settings(), table.name))
        assert cls.__doc__
        for key, doc in field_docs(cls).items():
            assert len(doc) > 5, f"[{table.name}] {key} has no documentation"


def test_presets_merge_over_the_defaults() -> None:
    assert set(presets()) >= {"vtuber", "metahuman", "blender"}
    v = load_settings(preset="vtuber")
    assert v.vmc.enabled and v.vmc.perfect_sync and not v.livelink.enabled and not v.ws.enabled
    assert v.upper_body and v.retarget.bone_map == "vrm0"
    m = load_settings(preset="metahuman")
    assert m.livelink.enabled and not m.vmc.enabled and not m.ws.enabled
    assert not m.body.enabled and not m.hands.enabled and m.face.enabled and m.head.enabled
    b = load_settings(preset="blender")
    assert b.body.enabled and not b.upper_body
    with pytest.raises(ConfigError, match="unknown preset 'nope'"):
        load_settings(preset="nope")


def test_user_file_merges_over_preset_and_names_itself(tmp_path: Path) -> None:
    user = tmp_path / "me.toml"
    user.write_text("[vmc]\nperfect_sync = false\n[smoothing]\nbones = { beta = 2.5 }\n")
    s = load_settings(preset="vtuber", path=user)
    assert not s.vmc.perfect_sync and s.vmc.enabled  # the preset's other keys survive
    assert s.smoothing.bones.beta == 2.5 and s.smoothing.bones.min_cutoff == 3.0  # field by field
    user.write_text("[vmc]\nmax_datagram = 10\n")
    with pytest.raises(ConfigError, match=r"^.*me\.toml: \[vmc\] max_datagram: 10 is outside"):
        load_settings(path=user)


def test_values_are_read_and_converted() -> None:
    s = from_doc({
        "livelink": {"targets": ["10.0.0.2:11112", "[::1]:11111"], "subject": "Anna", "rate": 30,
                     "head_sign": [-1, 1, -1]},
        "vmc": {"perfect_sync": True, "perfect_sync_case": "PascalCase", "max_datagram": 1400},
        "osc": {"enabled": True, "targets": ["127.0.0.1:7000"]},
        "ws": {"listen": "0.0.0.0:0", "token": "t"},
        "tracking": {"deadline_ms": 80},
    })  # fmt: skip
    assert s.livelink.targets == (Endpoint("10.0.0.2", 11112), Endpoint("::1", 11111))
    assert str(s.livelink.targets[1]) == "[::1]:11111"
    assert (s.livelink.subject, s.livelink.rate) == ("Anna", 30.0)
    assert s.livelink.head_sign == (-1.0, 1.0, -1.0)
    assert s.vmc.perfect_sync and s.vmc.perfect_sync_case == "PascalCase"
    assert s.osc.enabled and s.osc.targets == (Endpoint("127.0.0.1", 7000),)
    assert s.ws.listen == Endpoint("0.0.0.0", 0) and s.ws.token == "t"
    assert s.tracking.deadline_ms == 80.0 and isinstance(s.tracking.deadline_ms, float)


# ------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("doc", "where"),
    [
        ({"vmc": {"max_datgram": 1}}, "unknown key [vmc] max_datgram"),
        ({"vmcc": {}}, "unknown table [vmcc]"),
        ({"vmc": {"max_datagram": 64}}, "[vmc] max_datagram"),
        ({"vmc": {"max_datagram": True}}, "[vmc] max_datagram"),
        ({"livelink": {"targets": ["localhost"]}}, "[livelink] targets"),
        ({"livelink": {"targets": ["localhost:70000"]}}, "[livelink] targets"),
        ({"livelink": {"targets": "1.2.3.4:5"}}, "[livelink] targets"),
        ({"livelink": {"head_sign": [1, 1, "x"]}}, "[livelink] head_sign"),
        ({"livelink": {"head_sign": [1, 1]}}, "[livelink] head_sign"),
        ({"livelink": {"subject": ""}}, "[livelink] subject"),
        ({"livelink": {"rate": 0}}, "[livelink] rate"),
        ({"livelink": {"enabled": "yes"}}, "[livelink] enabled"),
        ({"osc": {"enabled": True, "targets": []}}, "[osc] enabled but no targets"),
        ({"vmc": {"perfect_sync_case": "snake"}}, "[vmc] perfect_sync_case"),
        ({"ws": {"listen": "::1:80"}}, "[ws] listen"),
        ({"ws": []}, "[ws] must be a table"),
        ({"face": {"bogus": 1}}, "[face] bogus"),
        ({"body": {"mode": "sitting"}}, "[body] mode"),
        ({"smoothing": {"blendshapes": {"beta": "x"}}}, "[smoothing] blendshapes.beta"),
        ({"smoothing": {"bones": {"min_cutoff": 0}}}, "[smoothing] bones.min_cutoff"),
        ({"smoothing": {"bones": {"speed": 1}}}, "[smoothing] bones.speed: unknown key"),
        ({"gating": {"hold_ms": -1}}, "[gating] hold_ms"),
        ({"tracking": {"deadline_ms": 0}}, "[tracking] deadline_ms"),
        ({"tracking": {"deadline_ms": 1e12}}, "[tracking] deadline_ms"),
        ({"tracking": {"num_hands": 3}}, "[tracking] num_hands"),
        ({"capture": {"max_side": -1}}, "[capture] max_side"),
    ],
)
def test_bad_values_name_the_file_and_the_key(doc: dict[str, Any], where: str) -> None:
    with pytest.raises(ConfigError) as err:
        from_doc(doc)
    assert str(err.value).startswith("my.toml: ") and where in str(err.value)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize(
    ("table", "key"),
    [
        ("tracking", "deadline_ms"),
        ("gating", "hold_ms"),
        ("livelink", "head_scale"),
        ("face", "jaw_open_deg"),
    ],
)
def test_non_finite_numbers_are_refused(table: str, key: str, bad: float) -> None:
    with pytest.raises(ConfigError, match="finite"):
        from_doc({table: {key: bad}})


def test_non_finite_in_a_one_euro_channel_or_toml_literal_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[smoothing\] blendshapes.min_cutoff"):
        from_doc({"smoothing": {"blendshapes": {"min_cutoff": math.nan}}})
    f = tmp_path / "nan.toml"
    f.write_text("[tracking]\ndeadline_ms = inf\n")
    with pytest.raises(ConfigError, match=r"nan\.toml: \[tracking\] deadline_ms: must be a finite"):
        load_settings(path=f)


def test_parse_endpoint() -> None:
    assert parse_endpoint(" host.lan:39539 ", "x") == Endpoint("host.lan", 39539)
    assert parse_endpoint("[fe80::1]:1", "x") == Endpoint("fe80::1", 1)
    assert parse_endpoint("127.0.0.1:0", "x", allow_port_zero=True).port == 0
    for bad in ("127.0.0.1:0", ":80", "host:", "host:-1", "host:http", "fe80::1:80", 5, "h:" + "9" * 400):
        with pytest.raises(ConfigError, match=r"^--vmc"):
            parse_endpoint(bad, "--vmc")


# ------------------------------------------------------------------------------------- flags
def test_flags_map_onto_keys_and_win() -> None:
    s = from_flags(["--livelink", "10.0.0.5:11111", "--livelink", "10.0.0.6:11111", "--no-vmc",
                    "--osc", "127.0.0.1:9001", "--ws", "127.0.0.1:0", "--ws-token", "abc",
                    "--subject", "Bob", "--perfect-sync", "--perfect-sync-case", "PascalCase",
                    "--max-datagram", "1400", "--expression-map", "x.toml", "--deadline-ms", "80",
                    "--no-smoothing", "--calibration", "c.toml", "--upper-body", "--swap-lr",
                    "--bone-map", "rigify", "--mirror", "--mode", "video", "--max-side", "320",
                    "--pose-model", "lite", "--source", "demo"], preset="vtuber")  # fmt: skip
    assert [str(t) for t in s.livelink.targets] == ["10.0.0.5:11111", "10.0.0.6:11111"]
    assert s.livelink.enabled and not s.vmc.enabled
    assert s.osc.enabled and [str(t) for t in s.osc.targets] == ["127.0.0.1:9001"]
    assert s.ws.enabled and s.ws.listen.port == 0 and s.ws.token == "abc"
    assert s.livelink.subject == "Bob" and s.vmc.perfect_sync and s.vmc.perfect_sync_case == "PascalCase"
    assert s.vmc.max_datagram == s.osc.max_datagram == 1400 and s.vmc.expression_map == "x.toml"
    assert s.tracking.deadline_ms == 80.0 and s.tracking.pose_model == "lite"
    assert not s.smoothing.enabled and s.face.calibration == "c.toml" and s.upper_body and s.face.swap_lr
    assert s.retarget.bone_map == "rigify"
    assert s.capture == dataclasses.replace(Settings().capture, source="demo", mirror=True, mode="video",
                                            max_side=320)  # fmt: skip
    assert not from_flags(["--full-body"], preset="vtuber").upper_body
    assert from_flags([]) == Settings()


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--vmc", "nohostport"], "--vmc"),
        (["--livelink", "1.2.3.4:99999"], "--livelink"),
        (["--vmc", "127.0.0.1:1", "--no-vmc"], "contradict"),
        (["--ws", "127.0.0.1:1", "--no-ws"], "contradict"),
        (["--max-datagram", "50"], "--max-datagram"),
        (["--subject", ""], "[livelink] subject"),
        (["--deadline-ms", "inf"], "--deadline-ms: [tracking] deadline_ms: must be a finite"),
        (["--deadline-ms", "1000000000000"], "--deadline-ms"),
        (["--max-side", "-1"], "--max-side"),
    ],
)
def test_bad_flags_are_config_errors_naming_the_flag(argv: list[str], needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        from_flags(argv)
    assert needle in str(err.value)


# ------------------------------------------------------------------------------------- fuzz
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.lists(st.one_of(st.integers(), st.floats(), st.text(max_size=8)), max_size=4),
)
_ALL_KEYS = {
    f.name for t in dataclasses.fields(Settings) for f in dataclasses.fields(getattr(Settings(), t.name))
}
_KEYS = st.sampled_from(sorted(_ALL_KEYS | {"bogus"}))
_TABLE_NAMES = st.sampled_from([f.name for f in dataclasses.fields(Settings)] + ["bogus"])
_DOCS = st.dictionaries(
    _TABLE_NAMES,
    st.one_of(
        _SCALARS, st.dictionaries(_KEYS, st.one_of(_SCALARS, st.dictionaries(st.text(max_size=10), _SCALARS)))
    ),
    max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(_DOCS)
def test_any_document_gives_settings_or_a_config_error(doc: dict[str, Any]) -> None:
    try:
        s = from_doc(doc)
    except ConfigError as exc:
        assert str(exc).startswith(("my.toml", "settings"))
        return
    for table in dataclasses.fields(s):
        for f in dataclasses.fields(getattr(s, table.name)):
            v = getattr(getattr(s, table.name), f.name)
            if isinstance(v, float):
                assert math.isfinite(v)
