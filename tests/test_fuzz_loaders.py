"""Fuzzing the loaders (issue 10, class 4): any input gives data or a MocapBridgeError.

The recording reader gets real frame lines with any part replaced by any JSON value, plus junk
lines, cut files and odd headers; what it yields must be sane (finite arrays of the right shape,
strictly increasing integer timestamps). The bone-map, expression-map and calibration loaders get
TOML documents built from their own vocabulary with any value in any place; what they return
must not carry a non-finite number into the solver.
"""

from __future__ import annotations

import itertools
import json
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from synth import synthetic

from mocap_bridge.errors import MocapBridgeError
from mocap_bridge.frames import ARKIT_NAMES, HUMAN_BONE_NAMES, TrackedFrame
from mocap_bridge.protocols.vmc import VRM0_PRESETS, load_expression_map
from mocap_bridge.recording import SCHEMA, RecordingReader, frame_to_json
from mocap_bridge.solve.calibration import load_calibration
from mocap_bridge.solve.maps import load_bone_map

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([1e308, -1e308, 1e300, 2e6, 0.5]),
    st.text(max_size=8),
)  # fmt: skip
json_value = st.recursive(
    json_scalar,
    lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(st.text(max_size=6), c, max_size=4)),
    max_leaves=12,
)


def _good_frames() -> list[dict[str, Any]]:
    rng = np.random.default_rng(5)
    return [orjson.loads(orjson.dumps(frame_to_json(synthetic(i, rng)), option=orjson.OPT_SERIALIZE_NUMPY))
            for i in range(3)]  # fmt: skip


GOOD = _good_frames()


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list) and obj:
        for k in {0, len(obj) - 1}:
            out += _paths(obj[k], (*prefix, k))
    return out


PATHS = sorted({p for f in GOOD for p in _paths(f)}, key=str)


@st.composite
def frame_lines(draw: st.DrawFn) -> bytes:
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return draw(st.binary(max_size=40))  # junk
    if choice == 1:
        return json.dumps(draw(json_value)).encode()  # any JSON at all
    obj = json.loads(json.dumps(draw(st.sampled_from(GOOD))))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        target = obj
        try:
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = draw(json_value)
        except (KeyError, IndexError, TypeError):
            pass  # an earlier replacement changed the shape above this path
    return json.dumps(obj).encode()  # stdlib: integers beyond 64 bits too


def _check_frame(f: TrackedFrame) -> None:
    arrays: list[np.ndarray] = []
    if f.pose is not None:
        assert f.pose.landmarks.shape == (33, 5) and f.pose.world.shape == (33, 3)
        arrays += [f.pose.landmarks, f.pose.world]
    if f.face is not None:
        assert f.face.landmarks.shape == (478, 3) and f.face.blendshapes.shape == (52,)
        assert f.face.matrix.shape == (4, 4)
        assert (f.face.blendshapes >= 0).all() and (f.face.blendshapes <= 1).all()
        arrays += [f.face.landmarks, f.face.blendshapes, f.face.matrix]
    for h in f.hands:
        assert h.label in ("Left", "Right") and 0.0 <= h.score <= 1.0
        arrays += [h.landmarks, h.world]
    assert all(np.isfinite(a).all() for a in arrays)
    assert all(v is None or math.isfinite(v) for v in f.result_ms)


@FUZZ
@given(
    header=st.one_of(st.just({"schema": SCHEMA, "fps": 30}),
                     st.dictionaries(st.sampled_from(["fps", "models", "source", "mode"]), json_value).map(
                         lambda d: {"schema": SCHEMA, **d}),
                     json_value),
    lines=st.lists(frame_lines(), max_size=6),
    gz=st.booleans(),
    cut=st.one_of(st.none(), st.integers(0, 4000)),
)  # fmt: skip
def test_recording_reader_gives_frames_or_one_error(
    header: Any, lines: list[bytes], gz: bool, cut: int | None
) -> None:
    import gzip

    data = b"\n".join([json.dumps(header).encode(), *lines]) + b"\n"
    if gz:
        data = gzip.compress(data)
    if cut is not None:
        data = data[:cut]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("r.jsonl.gz" if gz else "r.jsonl")
        path.write_bytes(data)
        try:
            reader = RecordingReader(path)
            frames = list(reader.frames())
        except MocapBridgeError as exc:
            assert "\n" not in str(exc)
            return
        assert math.isfinite(reader.fps) and reader.fps > 0
        for f in frames:
            _check_frame(f)
        stamps = [f.t_ms for f in frames]
        assert all(isinstance(t, int) for t in stamps)
        assert all(b > a for a, b in itertools.pairwise(stamps))
        assert reader.stats.frames == len(frames)


# ---- TOML loaders --------------------------------------------------------------------------------

toml_scalar = st.one_of(
    st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(), st.text(max_size=8),
    st.sampled_from([1e308, -1e308, math.inf, math.nan, 0.0, 1.0, "sum", "min", "off", "mean"]),
)  # fmt: skip


def _key(vocab: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(vocab), st.text(max_size=6))


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"


def to_toml(doc: dict[str, Any]) -> str:
    """A small TOML writer for generated documents (tables of scalars or of tables)."""
    out = [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for k, v in doc.items():
        if isinstance(v, dict):
            out.append(f"[{json.dumps(k)}]")
            out += [f"{json.dumps(sk)} = {_toml_value(sv)}" for sk, sv in v.items()]
    return "\n".join(out) + "\n"


def values(vocab: list[str]) -> st.SearchStrategy[Any]:
    leaf = st.one_of(toml_scalar, st.lists(toml_scalar, max_size=5))
    inner = st.dictionaries(_key(vocab), leaf, max_size=4)
    return st.one_of(leaf, st.dictionaries(_key(vocab), st.one_of(leaf, inner), max_size=6))


def _load(loader: Any, text: str | bytes) -> Any:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "doc.toml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
        try:
            return loader(path)
        except MocapBridgeError:  # the CLI prints it on one line (newlines in keys are escaped)
            return None


CAL_VOCAB = ["version", "frames", "swap_lr", "link_blinks", "link_gaze", "eye_gaze", "head", "neutral",
             "shapes", "neutral_rotation", "neutral_position_m", "gain", "offset", "curve", "min", "max",
             *ARKIT_NAMES[:6]]  # fmt: skip


odd = st.sampled_from([1e308, -1e308, math.inf, -math.inf, math.nan, 0.0, 1.0, 0.99])
number = st.one_of(st.floats(), st.integers(-(2**63), 2**63 - 1), odd, toml_scalar)
shape_table = st.dictionaries(
    st.sampled_from(["gain", "offset", "curve", "min", "max", "other"]), number, max_size=4
)
cal_doc = st.fixed_dictionaries(
    {},
    optional={
        "frames": number, "swap_lr": toml_scalar, "link_blinks": toml_scalar, "eye_gaze": toml_scalar,
        "head": st.fixed_dictionaries({}, optional={"neutral_rotation": st.lists(number, max_size=5),
                                                    "neutral_position_m": st.lists(number, max_size=4)}),
        "neutral": st.dictionaries(st.sampled_from(ARKIT_NAMES), number, max_size=4),
        "shapes": st.dictionaries(st.sampled_from(ARKIT_NAMES), shape_table, max_size=3),
    },
)  # fmt: skip


@FUZZ
@given(doc=st.one_of(cal_doc, st.dictionaries(_key(CAL_VOCAB), values(CAL_VOCAB), max_size=6)),
       junk=st.none() | st.binary(max_size=30))  # fmt: skip
@example(doc={"frames": math.inf}, junk=None)
@example(doc={"head": {"neutral_position_m": [math.nan, 0.0, 0.0]}}, junk=None)
@example(doc={"shapes": {"jawOpen": {"gain": 1e308}}}, junk=None)
def test_calibration_loader(doc: dict[str, Any], junk: bytes | None) -> None:
    prof = _load(load_calibration, junk if junk is not None else to_toml({"version": 1, **doc}))
    if prof is None:
        return
    for name in ("neutral", "gain", "offset", "curve", "clamp_min", "clamp_max", "head_rotation"):
        assert np.isfinite(getattr(prof, name)).all(), name
    assert prof.head_position is None or np.isfinite(prof.head_position).all()


BONE_VOCAB = ["format", "target", "description", "bones", *HUMAN_BONE_NAMES[:8]]
bone_doc = st.fixed_dictionaries(
    {"bones": st.dictionaries(st.sampled_from(HUMAN_BONE_NAMES), toml_scalar, max_size=6)},
    optional={"target": toml_scalar, "description": toml_scalar},
)


@FUZZ
@given(doc=st.one_of(bone_doc, st.dictionaries(_key(BONE_VOCAB), values(BONE_VOCAB), max_size=5)))
def test_bone_map_loader(doc: dict[str, Any]) -> None:
    result = _load(load_bone_map, to_toml({"format": "mocap_bridge.bone_map/1", **doc}))
    if result is not None:
        assert all(isinstance(v, str) and v for v in result.bones.values())


EXPR_VOCAB = ["format", "target", "description", "expressions", "weights", "combine", "subtract",
              *VRM0_PRESETS[:5], *ARKIT_NAMES[:5]]  # fmt: skip


expr_doc = st.fixed_dictionaries({"expressions": st.dictionaries(
    st.sampled_from(VRM0_PRESETS),
    st.fixed_dictionaries({}, optional={
        "weights": st.dictionaries(st.sampled_from(ARKIT_NAMES), number, max_size=3),
        "combine": st.one_of(st.sampled_from(["sum", "min", "max"]), toml_scalar),
        "subtract": st.lists(st.sampled_from(VRM0_PRESETS), max_size=2),
    }),
    max_size=4,
)})  # fmt: skip


@FUZZ
@given(doc=st.one_of(expr_doc, st.dictionaries(_key(EXPR_VOCAB), values(EXPR_VOCAB), max_size=5)),
       arkit=st.lists(st.floats(0, 1), min_size=52, max_size=52))  # fmt: skip
@example(doc={"expressions": {"Joy": {"weights": {"mouthSmileLeft": 1e308}}}}, arkit=[0.0] * 52)
@example(doc={"expressions": {"Joy": {"weights": {"mouthSmileLeft": math.inf}}}}, arkit=[0.5] * 52)
def test_expression_map_loader(doc: dict[str, Any], arkit: list[float]) -> None:
    emap = _load(load_expression_map, to_toml({"format": "mocap_bridge.expression_map/1", **doc}))
    if emap is not None:
        out = emap.evaluate(np.asarray(arkit, dtype=np.float32))
        assert np.isfinite(out).all()
