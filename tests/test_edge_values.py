"""Edge checks (issue 10, class 1): one bad value drops that part for that frame only, counted.

Both edges are covered: the MediaPipe conversion (duck-typed results shaped like the Tasks API's)
and the recording reader (real recordings of footage, one line damaged). The solver then runs on
what the reader gives and must never produce a non-finite value.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace as NS
from typing import Any

import numpy as np
import orjson
import pytest
from conftest import media

from mocap_bridge.edge import MAX_T_MS, Timeline
from mocap_bridge.errors import RecordingError
from mocap_bridge.frames import MP_BLENDSHAPE_NAMES, Part, PartStatus
from mocap_bridge.recording import RecordingReader, RecordingWriter
from mocap_bridge.tracking import convert

# ---- the MediaPipe conversion ------------------------------------------------------------------


def _lm(n: int, value: float | None = 0.5, bad: int | None = None, bad_value: Any = None) -> list[NS]:
    pts = [NS(x=value, y=value, z=0.0, visibility=0.9, presence=0.9) for _ in range(n)]
    if bad is not None:
        pts[bad] = NS(x=bad_value, y=0.5, z=0.0, visibility=0.9, presence=0.9)
    return pts


def _face_result(*, score: Any = 0.3, matrix: Any = None, landmark: Any = 0.5) -> NS:
    shapes = [NS(category_name=n, score=score if n == "jawOpen" else 0.1) for n in MP_BLENDSHAPE_NAMES]
    m = np.eye(4) if matrix is None else matrix
    return NS(face_landmarks=[_lm(478, bad=5, bad_value=landmark)], face_blendshapes=[shapes],
              facial_transformation_matrixes=[m])  # fmt: skip


def _hand_result(hands: list[tuple[str, Any, Any]]) -> NS:
    return NS(
        hand_landmarks=[_lm(21, bad=3, bad_value=v) for _, _, v in hands],
        hand_world_landmarks=[_lm(21, 0.01) for _ in hands],
        handedness=[[NS(category_name=label, score=score)] for label, score, _ in hands],
    )


def _rejected(part: Part) -> int:
    return convert.REJECTED.counts()[part]


def test_good_results_pass_unchanged() -> None:
    face = convert.face_from_result(_face_result())
    assert face is not None and face.blendshapes[MP_BLENDSHAPE_NAMES.index("jawOpen")] == np.float32(0.3)
    hands = convert.hands_from_result(_hand_result([("Left", 0.9, 0.5), ("Right", 0.8, 0.5)]))
    assert [h.label for h in hands] == ["Left", "Right"]
    pose = convert.pose_from_result(NS(pose_landmarks=[_lm(33)], pose_world_landmarks=[_lm(33, 0.1)]))
    assert pose is not None and pose.landmarks.dtype == np.float32


@pytest.mark.parametrize(
    "result",
    [
        _face_result(score=None),
        _face_result(score=math.nan),
        _face_result(score=7.5),  # a blendshape score far outside 0..1
        _face_result(landmark=1e308),  # finite, absurd (inf once cast to float32)
        _face_result(landmark=math.inf),
        _face_result(landmark=None),
        _face_result(matrix=np.full((4, 4), 1e308)),
        _face_result(matrix=np.zeros((4, 4))),  # degenerate rotation: the head solver divides by it
    ],
    ids=["score-null", "score-nan", "score-7.5", "lm-1e308", "lm-inf", "lm-null", "matrix-1e308", "matrix-0"],
)
def test_a_bad_face_value_drops_the_face_and_is_counted(result: NS) -> None:
    before = _rejected(Part.FACE)
    assert convert.face_from_result(result) is None
    assert _rejected(Part.FACE) == before + 1


def test_bad_pose_values_drop_the_pose() -> None:
    before = _rejected(Part.POSE)
    world = _lm(33, 0.1, bad=0, bad_value=2e6)
    assert convert.pose_from_result(NS(pose_landmarks=[_lm(33)], pose_world_landmarks=[world])) is None
    assert convert.pose_from_result(NS(pose_landmarks=[_lm(33, bad=4, bad_value=math.nan)],
                                       pose_world_landmarks=[_lm(33, 0.1)])) is None  # fmt: skip
    assert _rejected(Part.POSE) == before + 2


def test_a_middle_hand_with_score_2_is_refused_and_the_good_one_kept() -> None:
    before = _rejected(Part.HANDS)
    hands = convert.hands_from_result(
        _hand_result([("Middle", 2.0, 0.5), ("Left", 1.5, 0.5), ("Right", 0.7, 1e9), ("Left", 0.9, 0.5)])
    )
    assert [(h.label, h.score) for h in hands] == [("Left", 0.9)]
    assert _rejected(Part.HANDS) == before + 3


# ---- the recording reader ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def talking(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real recording: 40 frames of talking_head_a.mpg tracked by MediaPipe (face and pose)."""
    from mocap_bridge.tracking.offline import track_file

    frames = track_file(media("talking_head_a.mpg"), max_frames=40)
    path = tmp_path_factory.mktemp("rec") / "talking.jsonl"
    with RecordingWriter(path, source="talking_head_a", mode="video", mirror=False, fps=25.0,
                         models={}) as rec:  # fmt: skip
        for f in frames:
            rec.write(f)
    assert sum(f.face is not None for f in frames) >= 35
    return path


def damaged(src: Path, dst: Path, line: int, edit: Any) -> Path:
    """``src`` with frame line ``line`` (1-based, header is line 1) changed by ``edit(obj)``."""
    lines = src.read_bytes().splitlines()
    obj = orjson.loads(lines[line - 1])
    edit(obj)
    lines[line - 1] = orjson.dumps(obj)
    dst.write_bytes(b"\n".join(lines) + b"\n")
    return dst


def _set(path: tuple[Any, ...], value: Any) -> Any:
    def edit(obj: Any) -> None:
        for key in path[:-1]:
            obj = obj[key]
        obj[path[-1]] = value

    return edit


BAD_VALUES = {
    "blendshape-null": (("face", "blendshapes", "jawOpen"), None, Part.FACE),
    "blendshape-1e308": (("face", "blendshapes", "jawOpen"), 1e308, Part.FACE),
    "blendshape-out-of-range": (("face", "blendshapes", "eyeBlinkLeft"), -3.0, Part.FACE),
    "matrix-1e308": (("face", "matrix", 0), [1e308, 0, 0, 0], Part.FACE),
    "matrix-null": (("face", "matrix", 1), [0, None, 0, 0], Part.FACE),
    "face-landmark-absurd": (("face", "landmarks", 7), [2e6, 0.5, 0.0], Part.FACE),
    "world-1e308": (("pose", "world", 11), [1e308, 0.0, 0.0], Part.POSE),
    "world-null": (("pose", "world", 12), [None, 0.0, 0.0], Part.POSE),
    "visibility-out-of-range": (("pose", "landmarks", 0), [0.5, 0.5, 0.0, 9.0, 0.9], Part.POSE),
}


@pytest.mark.parametrize("case", list(BAD_VALUES), ids=list(BAD_VALUES))
def test_one_bad_value_in_a_recording_drops_that_part_for_that_frame_only(
    talking: Path, tmp_path: Path, case: str
) -> None:
    from mocap_bridge.settings import Settings
    from mocap_bridge.solve.rig import RigSolver

    key, value, part = BAD_VALUES[case]
    good = list(RecordingReader(talking).frames())
    target = next(i for i, f in enumerate(good) if f.face is not None and f.pose is not None and i >= 5)
    reader = RecordingReader(damaged(talking, tmp_path / "bad.jsonl", target + 2, _set(key, value)))
    frames = list(reader.frames())
    assert len(frames) == len(good)
    assert reader.rejected_parts == 1 and reader.stats.rejected[part] == 1
    bad = frames[target]
    assert bad.status[part] is PartStatus.MISSING and not bad.complete
    assert (bad.face if part is Part.FACE else bad.pose) is None
    others = [(a, b) for i, (a, b) in enumerate(zip(good, frames, strict=True)) if i != target]
    assert all(a.status == b.status and (a.face is None) == (b.face is None) for a, b in others)
    # The solver never sees the bad value: every output of every frame stays finite.
    solver = RigSolver(Settings())
    for f in frames:
        rig = solver.solve(f)
        assert np.isfinite(rig.head_ypr).all() and np.isfinite(rig.blendshapes).all()
        assert np.isfinite(rig.bone_rotations).all() and np.isfinite(rig.eyes).all()
    assert "1 parts with bad values dropped" in (reader.note() or "")


def test_hands_in_a_recording_middle_label_and_score_2_are_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    hand = {"landmarks": rng.random((21, 3)).tolist(), "world": rng.random((21, 3)).tolist()}
    lines = [
        {"schema": "mocap_bridge.recording/1", "fps": 30},
        {"i": 0, "t_ms": 0, "status": ["SKIPPED", "SKIPPED", "FOUND"], "result_ms": [None] * 3,
         "pose": None, "face": None, "hands": [{"label": "Middle", "score": 2.0, **hand}]},
        {"i": 1, "t_ms": 33, "status": ["SKIPPED", "SKIPPED", "FOUND"], "result_ms": [None] * 3,
         "pose": None, "face": None, "hands": [{"label": "Left", "score": 2.0, **hand},
                                              {"label": "Right", "score": 0.9, **hand}]},
    ]  # fmt: skip
    path = tmp_path / "hands.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(x) for x in lines) + b"\n")
    reader = RecordingReader(path)
    a, b = reader.frames()
    assert a.hands == () and a.status[Part.HANDS] is PartStatus.MISSING
    assert [h.label for h in b.hands] == ["Right"] and b.status[Part.HANDS] is PartStatus.FOUND
    assert reader.stats.rejected[Part.HANDS] == 2


# ---- timestamps --------------------------------------------------------------------------------


def test_timeline_makes_stamps_strictly_increasing_and_keeps_spacing() -> None:
    tl = Timeline(40.0)
    assert [tl.fix(t) for t in (1000, 1000, 1000, 1040, 1080)] == [1000, 1040, 1080, 1120, 1160]
    assert tl.fixes == 2
    tl = Timeline(40.0)
    assert [tl.fix(t) for t in (5000, 5040, 0, 40)] == [5000, 5040, 5080, 5120]  # went backwards
    tl = Timeline(40.0)
    out = [tl.fix(t) for t in (1e300, 100, math.nan, "x", None, True, MAX_T_MS + 1, 200, -5)]
    assert out == [0, 100, 140, 180, 220, 260, 300, 340, 380] and tl.fixes == 8
    assert all(isinstance(t, int) for t in out)


def test_identical_t_ms_on_every_frame_does_not_freeze_the_head(talking: Path, tmp_path: Path) -> None:
    from mocap_bridge.settings import Settings
    from mocap_bridge.solve.rig import RigSolver

    lines = talking.read_bytes().splitlines()
    same = [lines[0]] + [orjson.dumps({**orjson.loads(x), "t_ms": 1000}) for x in lines[1:]]
    path = tmp_path / "same.jsonl"
    path.write_bytes(b"\n".join(same) + b"\n")
    reader = RecordingReader(path)
    frames = list(reader.frames())
    stamps = [f.t_ms for f in frames]
    assert stamps == [1000 + 40 * i for i in range(len(frames))]  # 25 fps header: 40 ms apart
    assert reader.stats.timestamp_fixes == len(frames) - 1
    solver = RigSolver(Settings())
    ypr = np.array([solver.solve(f).head_ypr for f in frames])
    assert np.ptp(ypr[len(ypr) // 2 :], axis=0).max() > 1e-3  # the head still moves


def test_t_ms_1e300_and_a_non_integer_index_are_repaired(talking: Path, tmp_path: Path) -> None:
    path = damaged(talking, tmp_path / "t.jsonl", 4, lambda o: o.update(t_ms=1e300, i=-7.5))
    reader = RecordingReader(path)
    frames = list(reader.frames())
    assert frames[2].t_ms == frames[1].t_ms + 40 and frames[3].t_ms > frames[2].t_ms
    assert frames[2].index == frames[1].index + 1
    assert reader.stats.timestamp_fixes == 1 and reader.stats.index_fixes == 1


# ---- structure errors stay one clear error -----------------------------------------------------


_ONE_PART = b'{"i": 0, "t_ms": 0, "status": ["FOUND", "FOUND", "SKIPPED"], '


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        (b"[1,2,3]", "expected an object, got list"),
        (b"null", "expected an object, got NoneType"),
        (b'"text"', "expected an object, got str"),
        (b'{"i": 0, "t_ms": 0}', "status"),
        (b'{"i": 0, "t_ms": 0, "status": ["FOUND", "NOPE", "SKIPPED"]}', "unknown part status"),
        (_ONE_PART + b'"face": {"blendshapes": [0.1, 0.2]}}', "blendshapes: expected an object"),
        (_ONE_PART + b'"pose": {"landmarks": [[1]], "world": []}}', "pose.landmarks: expected shape"),
        (b'{"i": 0, "t_ms": 0, "status": ["SKIPPED", "SKIPPED", "FOUND"], "hands": {"label": "Left"}}',
         "hands: expected a list"),
    ],
)  # fmt: skip
def test_a_line_that_is_not_a_frame_is_one_error(tmp_path: Path, line: bytes, fragment: str) -> None:
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"schema": "mocap_bridge.recording/1"}\n' + line + b"\n")
    with pytest.raises(RecordingError, match=r"r\.jsonl:2: malformed frame") as info:
        list(RecordingReader(path).frames())
    assert fragment in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        ({"fps": "thirty"}, "fps must be a number"),
        ({"fps": True}, "fps must be a number"),
        ({"fps": -1}, "fps must be a number"),
        ({"fps": 1e300}, "fps must be a number"),
        ({"models": "pose"}, "models must be an object"),
        ({"models": [1, 2]}, "models must be an object"),
        ({"models": {"face": 3}}, "models must be an object"),
    ],
)
def test_bad_header_fields_are_one_error_at_open(
    tmp_path: Path, header: dict[str, Any], fragment: str
) -> None:
    path = tmp_path / "h.jsonl"
    path.write_bytes(orjson.dumps({"schema": "mocap_bridge.recording/1", **header}) + b"\n")
    with pytest.raises(RecordingError, match=fragment):
        RecordingReader(path)


def test_a_5000_character_path_is_one_error() -> None:
    with pytest.raises(RecordingError, match="cannot open recording"):
        RecordingReader("x" * 5000 + ".jsonl")


def test_input_notes_sum_up_what_the_input_met(talking: Path, tmp_path: Path) -> None:
    from mocap_bridge.edge import input_notes

    path = damaged(talking, tmp_path / "n.jsonl", 3, _set(("face", "blendshapes", "jawOpen"), None))
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(path.read_bytes()[:-500])
    reader = RecordingReader(cut)
    frames = list(reader.frames())
    notes = input_notes(reader)
    assert f"the recording ended early (its last line is incomplete) after {len(frames)} frames" in notes
    assert "1 recorded parts with bad values dropped" in notes
    assert not [n for n in input_notes(RecordingReader(talking)) if "recorded" in n or "recording" in n]
