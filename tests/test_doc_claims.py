"""Claims of README.md, docs/*.md, benchmarks/README.md and configs/*.toml that no other test held.

Behaviour only: a documented default is read through :class:`Settings`, a flag through the CLI
parser, a command through :func:`mocap_bridge.cli.main`, an output through the real encoders.
Each test names the document it backs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest
import synth

from mocap_bridge.app import parts_in_use
from mocap_bridge.cli import build_parser, main, overrides_from_args
from mocap_bridge.export import FORMATS, default_output
from mocap_bridge.filters.one_euro import OneEuroParams
from mocap_bridge.frames import HUMAN_BONE_NAMES, RigFrame
from mocap_bridge.protocols.osc_wire import decode_packet
from mocap_bridge.protocols.ws_json import parse_channels
from mocap_bridge.settings import Settings, load_settings, presets
from mocap_bridge.sinks import OscSink, VmcSink, WebSocketSink, build_sinks
from mocap_bridge.solve.maps import resolve_bone_map, shipped_bone_maps
from mocap_bridge.solve.rig import RigSolver
from mocap_bridge.tracking import models
from mocap_bridge.transports.endpoints import Endpoint

S = Settings()


def run_settings(*argv: str, preset: str | None = None) -> Settings:
    args = build_parser().parse_args(["run", *argv])
    values, names = overrides_from_args(args)
    return load_settings(preset=preset, overrides=values, override_names=names)


# ------------------------------------------------------------------------------------- defaults
@pytest.mark.parametrize(
    ("doc", "value", "expected"),
    [
        ("README: deadline_ms default 100 ms", S.tracking.deadline_ms, 100.0),
        ("README: frames larger than 640 px are downscaled", S.capture.max_side, 640),
        ("README: --mode realtime (default)", S.capture.mode, "realtime"),
        ("README: pose_full is the default pose model", S.tracking.pose_model, "full"),
        ("README: the adaptive hand search is on by default", S.tracking.adaptive_hands, True),
        ("README: Live Link 127.0.0.1:11111", S.livelink.targets, (Endpoint("127.0.0.1", 11111),)),
        ("README: Live Link on", S.livelink.enabled, True),
        ("README: VMC 127.0.0.1:39539", S.vmc.targets, (Endpoint("127.0.0.1", 39539),)),
        ("README: VMC on", S.vmc.enabled, True),
        ("README/docs/osc.md: generic OSC off", S.osc.enabled, False),
        ("README: WebSocket 127.0.0.1:8765", S.ws.listen, Endpoint("127.0.0.1", 8765)),
        ("README: WebSocket on", S.ws.enabled, True),
        ("README: --max-datagram default 1200 (VMC)", S.vmc.max_datagram, 1200),
        ("docs/osc.md: max_datagram default 1200", S.osc.max_datagram, 1200),
        ("README: Live Lab on by default", S.ws.viewer, True),
        ("README: gestures held 150 ms", S.gestures.hold_ms, 150.0),
        ("README: Victory = Joy", S.gestures.expressions, (("Victory", "Joy"),)),
        ("README: bone map unity by default", S.retarget.bone_map, "unity"),
        ("docs/gestures.md: dropout_ms 250", S.gestures.dropout_ms, 250.0),
        ("docs/gestures.md: handedness from the pose", S.hands.handedness, "pose"),
        ("docs/gestures.md: border_margin 0.02", S.hands.border_margin, 0.02),
        ("docs/gestures.md: entry_frames 3", S.hands.entry_frames, 3),
        (
            "docs/gestures.md: blink 0, 1, 1",
            (S.face.blink_threshold, S.face.blink_full, S.face.blink_curve),
            (0.0, 1.0, 1.0),
        ),
        ("docs/gestures.md: gaze_hold on", S.face.gaze_hold, True),
        (
            "docs/gestures.md: per-part gates -1",
            {(p.hold_ms, p.release_ms, p.reacquire_ms) for p in (S.face, S.body, S.hands)},
            {(-1.0, -1.0, -1.0)},
        ),
        ("docs/gestures.md: segmentation off", S.tracking.segmentation, False),
        ("docs/gestures.md: mask_fps 5", S.ws.mask_fps, 5.0),
        ("docs/gestures.md: mask_encoding rle", S.ws.mask_encoding, "rle"),
        ("docs/websocket.md: max_clients 64", S.ws.max_clients, 64),
        ("docs/websocket.md: max_message 4096", S.ws.max_message, 4096),
        ("docs/websocket.md: no token by default", S.ws.token, ""),
        ("docs/viewer.md: video_fps 10", S.ws.video_fps, 10.0),
        ("docs/viewer.md: video_width 320", S.ws.video_width, 320),
        ("docs/livelink.md: subject MocapBridge", S.livelink.subject, "MocapBridge"),
        ("docs/livelink.md: random device id", S.livelink.device_id, ""),
        ("docs/livelink.md: rate 60", S.livelink.rate, 60.0),
        ("docs/livelink.md: radians", S.livelink.head_scale, 1.0),
        ("docs/livelink.md: signs +1", (S.livelink.head_sign, S.livelink.eye_sign), ((1.0,) * 3, (1.0,) * 3)),
        ("docs/vmc.md: perfect sync lowerCamel", S.vmc.perfect_sync_case, "lowerCamel"),
        (
            "docs/vmc.md: VRM 0.x expressions",
            (S.vmc.vrm0, S.vmc.expression_map),
            (True, "retarget_maps/arkit_to_vrm0.toml"),
        ),
        ("docs/vmc.md: generic 1.70 m avatar", S.vmc.avatar, ""),
        ("docs/takes.md: remote control off", S.remote.osc_listen, ""),
        ("docs/tuning.md: paper's derivative", S.smoothing.raw_derivative, False),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_documented_default(doc: str, value: Any, expected: Any) -> None:
    assert value == expected, doc


@pytest.mark.parametrize(
    ("channel", "min_cutoff", "beta"),
    [
        ("pose_landmarks", 0.05, 80.0),
        ("face_landmarks", 0.05, 80.0),
        ("hand_landmarks", 0.05, 80.0),
        ("pose_world", 0.1, 40.0),
        ("hand_world", 0.1, 40.0),
        ("blendshapes", 1.0, 2.0),
        ("head_rotation", 0.5, 3.0),
        ("head_position", 0.5, 20.0),
        ("bones", 3.0, 1.0),
    ],
)
def test_tuning_table_starting_points(channel: str, min_cutoff: float, beta: float) -> None:
    """docs/tuning.md "Units of beta per channel": the starting points, d_cutoff 1 Hz."""
    assert getattr(S.smoothing, channel) == OneEuroParams(min_cutoff, beta, 1.0)


# ------------------------------------------------------------------------------------- flags
def test_output_flags_of_the_readme_table() -> None:
    """README "Outputs" and docs/vmc.md: repeatable targets replace the list; --no-* turn one off."""
    s = run_settings("--no-livelink", "--vmc", "127.0.0.1:39539", "--vmc", "127.0.0.1:39541", "--no-ws")
    assert not s.livelink.enabled and not s.ws.enabled
    assert s.vmc.enabled and s.vmc.targets == (Endpoint("127.0.0.1", 39539), Endpoint("127.0.0.1", 39541))
    s = run_settings("--osc", "127.0.0.1:9000", "--no-viewer", "--ws-token", "T")
    assert s.osc.enabled and s.ws.enabled and not s.ws.viewer and s.ws.token == "T"
    assert not run_settings("--no-osc", preset=None).osc.enabled
    # docs/takes.md: --remote is [remote] osc_listen
    assert run_settings("--remote", "127.0.0.1:8000").remote.osc_listen == "127.0.0.1:8000"
    assert run_settings("--full-body", preset="vtuber").body.mode == "full"


def test_run_flags_beyond_the_settings() -> None:
    """README "Running", "Recording and replay", "Takes and export": flags that are run options."""
    argv = ["--max-frames", "5", "--record", "out.jsonl.gz", "--preview", "--quiet", "--takes", "takes"]
    args = build_parser().parse_args(["run", *argv, "--models", "m", "--offline"])
    assert (args.max_frames, args.record, args.preview, args.quiet) == (5, Path("out.jsonl.gz"), True, True)
    assert (args.takes, args.slate, args.models, args.offline) == (Path("takes"), "Slate", Path("m"), True)


def test_subcommand_defaults() -> None:
    """README Calibration/Export/Performance, benchmarks/README.md: the documented defaults."""
    p = build_parser()
    cal = p.parse_args(["calibrate", "--source", "0", "--out", "me.toml"])
    assert cal.frames == 60  # docs/viewer.md and README: 60 frames
    exp = p.parse_args(["export", "take.jsonl.gz", "--to", "bvh"])
    assert exp.bvh_scale == 100.0 and exp.fps is None and exp.out is None  # cm; every frame; beside it
    bench = p.parse_args(["bench"])
    assert (bench.clients, bench.source, bench.quick, bench.json) == (50, "demo", False, False)
    assert p.parse_args(["blender", "addon", "--out", "mb.zip"]).out == Path("mb.zip")
    for action in ("list", "fetch", "verify", "path"):
        assert p.parse_args(["models", action]).action == action


@pytest.mark.parametrize(
    "command", [[], ["run"], ["models"], ["calibrate"], ["export"], ["bench"], ["blender"]]
)
def test_help_of_every_command_exits_0(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("usage: mocap-bridge")


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--mode", "fast"],
        ["run", "--max-frames", "0"],
        ["run", "--pose-model", "huge"],
        ["run", "--upper-body", "--full-body"],
        ["bench", "--clients", "-1"],
        ["export", "take.jsonl"],  # no --to
        ["calibrate", "--source", "0"],  # no --out
    ],
)
def test_invalid_flag_values_are_one_line_and_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """README "Running": invalid flag values are one line on stderr and exit code 2."""
    with pytest.raises(SystemExit) as done:
        main(argv)
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.startswith("mocap-bridge") and err.count("\n") == 1, err


# ------------------------------------------------------------------------------------- models
def test_models_run_needs_and_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """README "Models": fetch's default is what run needs; the cache dir; verify exits 1."""
    assert S.tracking.model_names() == ["pose_full", "face", "hand"]
    assert run_settings("--pose-model", "heavy").tracking.model_names()[0] == "pose_heavy"
    monkeypatch.delenv("MOCAP_BRIDGE_MODELS", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    if os.uname().sysname == "Linux":
        assert models.cache_dir() == tmp_path / ".cache" / "mocap_bridge" / "models"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["models", "verify", "--models", str(empty)]) == 1
    assert main(["models", "path", "--models", str(empty)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == str(empty)


# ------------------------------------------------------------------------------------- presets
def test_presets_turn_on_what_the_readme_table_says() -> None:
    """README "Presets", docs/vmc.md, docs/unreal.md, docs/blender.md, configs/*.toml comments."""
    assert presets() == ["blender", "metahuman", "vtuber"]  # the three `--preset --help` names
    v = load_settings(preset="vtuber")
    assert v.vmc.enabled and not (v.livelink.enabled or v.ws.enabled or v.osc.enabled)
    assert v.upper_body and v.vmc.vrm0 and v.vmc.perfect_sync and v.retarget.bone_map == "vrm0"
    assert v.vmc.targets == S.vmc.targets and v.vmc.max_datagram == 1200  # merged key by key
    m = load_settings(preset="metahuman")
    assert m.livelink.enabled and not (m.vmc.enabled or m.ws.enabled or m.osc.enabled)
    assert m.face.enabled and m.head.enabled and not (m.body.enabled or m.hands.enabled)
    b = load_settings(preset="blender")
    assert b.vmc.enabled and b.vmc.targets == (Endpoint("127.0.0.1", 39539),) and b.vmc.perfect_sync
    assert b.vmc.vrm0 and b.body.mode == "full" and not (b.livelink.enabled or b.osc.enabled)
    assert b.ws.enabled and b.retarget.bone_map == "rigify"


@pytest.mark.parametrize(
    ("preset", "sinks", "parts"),
    [
        (None, ["livelink", "vmc", "ws"], (True, True, True)),  # docs/viewer.md: → livelink, vmc, ws
        ("vtuber", ["vmc"], (True, True, True)),
        ("metahuman", ["livelink"], (False, True, False)),  # README: only the face landmarker runs
        ("blender", ["vmc", "ws"], (True, True, True)),
    ],
)
def test_outputs_and_landmarkers_of_each_preset(preset: str | None, sinks: list[str],
                                                parts: tuple[bool, bool, bool]) -> None:  # fmt: skip
    s = load_settings(preset=preset)
    assert [k.name for k in build_sinks(s, stream_rate_hz=30.0, wall_clock_offset_ms=0.0)] == sinks
    assert parts_in_use(s) == parts


def test_live_link_reads_only_the_face() -> None:
    """README "Presets": a landmarker that no enabled output reads does not run."""
    assert parts_in_use(run_settings("--no-vmc", "--no-ws")) == (False, True, False)
    assert parts_in_use(run_settings("--no-livelink", "--no-ws")) == (True, True, True)


# ------------------------------------------------------------------------------------- bone maps
def test_every_documented_bone_map_is_shipped_and_resolves() -> None:
    """README "Bone names", configs/default.toml [retarget]: the names --bone-map takes."""
    documented = ["unity", "vrm0", "vrm1", "vroid", "rigify", "mixamo", "unreal_mannequin", "metahuman"]
    assert sorted(p.stem for p in shipped_bone_maps()) == sorted(documented)
    for name in documented:
        assert run_settings("--bone-map", name).retarget.bone_map == name
        assert resolve_bone_map(name).name == name


def test_run_help_lists_every_shipped_bone_map(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    listed = text[text.index("  --bone-map ") :].split("\n  -")[0]
    for path in shipped_bone_maps():
        assert path.stem in listed.replace("\n", " ")


def _solved(settings: Settings, n: int = 6) -> list[RigFrame]:
    solver = RigSolver(settings)
    pose = synth.pose_obs(synth.tpose_internal())
    hands = (synth.hand_obs("Left"), synth.hand_obs("Right"))
    return [solver.solve(synth.frame(i, 1000 + 33 * i, pose=pose, face=synth.face_obs(), hands=hands))
            for i in range(n)]  # fmt: skip


def test_bone_map_names_the_rig_channel_and_osc_but_never_vmc() -> None:
    """README "Bone maps" and "VMC always sends Unity names"; docs/websocket.md rig.bones and hello;
    docs/osc.md /mocap/rig/bone/<name>."""
    s = run_settings("--osc", "127.0.0.1:9000", preset="blender")  # rigify
    rigify = set(resolve_bone_map("rigify").bones.values())
    assert not rigify & set(HUMAN_BONE_NAMES)  # so the checks below tell the two apart
    sinks = {k.name: k for k in build_sinks(s, stream_rate_hz=30.0, wall_clock_offset_ms=0.0)}
    ws, osc, vmc = sinks["ws"], sinks["osc"], sinks["vmc"]
    assert isinstance(ws, WebSocketSink) and isinstance(osc, OscSink) and isinstance(vmc, VmcSink)
    hello = orjson.loads(ws.encoder.hello(parse_channels(None)))
    assert hello["rig"] == "rigify" and set(hello["bone_names"]) <= rigify
    assert hello["available_channels"] == ["face", "head", "pose", "hands", "rig", "gestures", "mask"]
    rig = _solved(s)[-1]
    bones = orjson.loads(ws.encoder.frame(rig, 0.0).message(frozenset({"rig"})))["rig"]["bones"]
    assert bones and set(bones) <= rigify
    addresses = [m.address for d in osc.encoder.encode(rig) for m in decode_packet(d)]
    osc_bones = {a.removeprefix("/mocap/rig/bone/") for a in addresses if a.startswith("/mocap/rig/bone/")}
    assert osc_bones == set(bones) and "/mocap/rig/hips" in addresses
    vmc_bones = {m.args[0] for d in vmc.encoder.encode(rig) for m in decode_packet(d)
                 if m.address == "/VMC/Ext/Bone/Pos"}  # fmt: skip
    assert vmc_bones and vmc_bones <= set(HUMAN_BONE_NAMES)


def test_default_bone_map_sends_unity_names_on_the_rig_channel() -> None:
    """docs/websocket.md: with the default map, rig.bones are Unity HumanBodyBones names."""
    ws = next(k for k in build_sinks(S, stream_rate_hz=30.0, wall_clock_offset_ms=0.0) if k.name == "ws")
    assert isinstance(ws, WebSocketSink)
    assert orjson.loads(ws.encoder.hello({"rig"}))["rig"] == "unity"
    bones = orjson.loads(ws.encoder.frame(_solved(S)[-1], 0.0).message(frozenset({"rig"})))["rig"]["bones"]
    assert bones and set(bones) <= set(HUMAN_BONE_NAMES)


# ------------------------------------------------------------------------------------- export
def test_export_formats_and_their_default_files() -> None:
    """README "Takes and export" (bvh, llf-csv, vrma, csv) and docs/takes.md --out defaults."""
    names = {fmt: default_output("/r/take.jsonl.gz", fmt).name for fmt in FORMATS}
    assert names == {
        "bvh": "take.bvh",
        "llf-csv": "take_llf.csv",
        "vrma": "take.vrma",
        "csv": "take_frames.csv",
    }


def test_calibrate_frames_flag_is_the_documented_one() -> None:
    """README "Calibration": `calibrate --source 0 --frames 60 --out me.toml`."""
    args = build_parser().parse_args(["calibrate", "--source", "0", "--frames", "60", "--out", "me.toml"])
    assert load_settings(overrides=overrides_from_args(args)[0]).capture.source == "0"
    assert (args.frames, args.out) == (60, Path("me.toml"))
