"""The C-API path of the landmarkers (mocap_bridge.tracking.c_api) against MediaPipe's public API.

The public API (its ``from_ctypes`` result objects, read by mocap_bridge.tracking.convert) is the
oracle: on C result structs built here (every odd case: unset visibility, missing handedness or
world landmarks, unknown blendshape names, non-finite and absurd values, a wrong matrix shape) and
on real footage in VIDEO and LIVE_STREAM mode, both readers must give the same observations.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import fields, is_dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from conftest import media
from hypothesis import given, settings
from hypothesis import strategies as st
from mediapipe.tasks.python.components.containers import category_c, landmark_c, matrix_c
from mediapipe.tasks.python.vision import face_landmarker, hand_landmarker, pose_landmarker

from mocap_bridge.frames import MP_BLENDSHAPE_NAMES, Part, TrackedFrame
from mocap_bridge.settings import TrackingSettings
from mocap_bridge.tracking import c_api, convert
from mocap_bridge.tracking.landmarkers import Landmarkers, ProbeClock


# ------------------------------------------------------------------------------ comparisons
def same(a: Any, b: Any) -> bool:
    """Observations (or tuples of them) equal field by field, arrays exactly (NaN equal to NaN)."""
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if a is None or b is None:
        return a is b
    if is_dataclass(a) and type(a) is type(b):
        return all(same(getattr(a, f.name), getattr(b, f.name)) for f in fields(a))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(a, b, equal_nan=True))
    return bool(a == b)


def library(result_cls: Any, read: Any) -> Any:
    """The oracle: MediaPipe's own result objects from the struct, read by convert.py."""
    return lambda struct: read(result_cls.from_ctypes(struct))


def outcome(fn: Any, arg: Any) -> tuple[str, Any]:
    try:
        return "value", fn(arg)
    except Exception as exc:
        return "error", type(exc)


def assert_same_outcome(fast: tuple[str, Any], oracle: tuple[str, Any]) -> None:
    assert fast[0] == oracle[0], (fast, oracle)
    assert same(fast[1], oracle[1]) if fast[0] == "value" else fast[1] is oracle[1]


# -------------------------------------------------------------------- C result structs, built
class Builder:
    """Builds MediaPipe's C result structs from numbers, keeping every buffer alive."""

    def __init__(self) -> None:
        self.keep: list[Any] = []

    def array(self, ctype: Any, items: list[Any]) -> Any:
        arr = (ctype * max(1, len(items)))(*items)
        self.keep.append(arr)
        return ctypes.cast(arr, ctypes.POINTER(ctype))

    def landmarks(self, points: np.ndarray, flags: np.ndarray, normalized: bool) -> Any:
        """(n, 5) x, y, z, visibility, presence and (n, 2) has_visibility, has_presence."""
        point_c = landmark_c.MpNormalizedLandmarkC if normalized else landmark_c.MpLandmarkC
        list_c = landmark_c.MpNormalizedLandmarksC if normalized else landmark_c.MpLandmarksC
        items = [
            point_c(*p[:3], bool(f[0]), p[3], bool(f[1]), p[4], None)  # the struct's field order
            for p, f in zip(points, flags, strict=True)
        ]
        return list_c(landmarks=self.array(point_c, items), landmarks_count=len(items))

    def categories(self, cats: list[tuple[bytes | None, float]]) -> Any:
        items = [
            category_c.MpCategoryC(index=i, score=score, category_name=name, display_name=None)
            for i, (name, score) in enumerate(cats)
        ]
        return category_c.MpCategoriesC(categories=self.array(category_c.MpCategoryC, items),
                                        categories_count=len(items))  # fmt: skip

    def matrix(self, values: np.ndarray) -> Any:
        rows, cols = values.shape
        data = self.array(ctypes.c_float, [float(v) for v in values.T.ravel()])  # column-major
        return matrix_c.MpMatrixC(rows=rows, cols=cols, data=data)


Points = tuple[np.ndarray, np.ndarray]  # (n, 5) values, (n, 2) flags


@st.composite
def landmark_arrays(draw: Any, n: int) -> Points:
    """n landmarks, mostly plausible, with odd values and unset flags sprinkled in."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    count = draw(st.sampled_from([n, n, n, n - 1, 0]))
    points = rng.uniform(-0.2, 1.2, (count, 5)).astype(np.float32)
    points[:, 3:] = rng.uniform(0.0, 1.0, (count, 2))  # visibility, presence
    flags = rng.random((count, 2)) > draw(st.sampled_from([0.0, 0.0, 0.1]))
    for _ in range(draw(st.integers(0, 2))):
        if count:
            odd = draw(st.sampled_from([np.nan, np.inf, -np.inf, 3e38, 0.0, -0.0]))
            points[rng.integers(count), rng.integers(5)] = odd
    return points, flags


NAMES = [n.encode() for n in MP_BLENDSHAPE_NAMES] + [b"notAShape", None]
LABELS = st.sampled_from([b"Left", b"Right", b"Both", None])


@settings(max_examples=60, deadline=None)
@given(norm=landmark_arrays(33), world=landmark_arrays(33), has_world=st.booleans())
def test_pose_reader_matches_the_library(norm: Points, world: Points, has_world: bool) -> None:
    b = Builder()
    lms = [b.landmarks(*norm, normalized=True)] if len(norm[0]) or has_world else []
    wlds = [b.landmarks(*world, normalized=False)] if has_world else []
    result = pose_landmarker.MpPoseLandmarkerResultC(
        segmentation_masks=None, segmentation_masks_count=0,
        pose_landmarks=b.array(landmark_c.MpNormalizedLandmarksC, lms), pose_landmarks_count=len(lms),
        pose_world_landmarks=b.array(landmark_c.MpLandmarksC, wlds), pose_world_landmarks_count=len(wlds),
    )  # fmt: skip
    oracle = outcome(library(pose_landmarker.PoseLandmarkerResult, convert.pose_from_result), result)
    assert_same_outcome(outcome(c_api.read_pose, result), oracle)


def test_unset_scores_read_as_zero_as_the_library_does() -> None:
    b = Builder()
    rng = np.random.default_rng(7)
    points = rng.uniform(0.0, 1.0, (33, 5)).astype(np.float32)
    flags = np.ones((33, 2), dtype=bool)
    flags[::3, 0] = flags[1::4, 1] = False
    lms, wld = b.landmarks(points, flags, normalized=True), b.landmarks(points, flags, normalized=False)
    result = pose_landmarker.MpPoseLandmarkerResultC(
        segmentation_masks=None, segmentation_masks_count=0,
        pose_landmarks=b.array(landmark_c.MpNormalizedLandmarksC, [lms]), pose_landmarks_count=1,
        pose_world_landmarks=b.array(landmark_c.MpLandmarksC, [wld]), pose_world_landmarks_count=1,
    )  # fmt: skip
    pose = c_api.read_pose(result)
    assert pose is not None
    assert np.all(pose.landmarks[::3, 3] == 0) and np.all(pose.landmarks[1::4, 4] == 0)
    assert np.all(pose.landmarks[1::3, 3] == points[1::3, 3])
    assert same(pose, library(pose_landmarker.PoseLandmarkerResult, convert.pose_from_result)(result))


@settings(max_examples=60, deadline=None)
@given(
    points=landmark_arrays(478),
    shapes=st.lists(st.tuples(st.sampled_from(NAMES), st.floats(-0.5, 1.5, width=32)), max_size=53),
    matrix_shape=st.sampled_from([(4, 4), (4, 4), (4, 4), (3, 3), None]),
    seed=st.integers(0, 2**32 - 1),
)
def test_face_reader_matches_the_library(points: Points, shapes: Any, matrix_shape: Any, seed: int) -> None:
    b = Builder()
    rng = np.random.default_rng(seed)
    faces = [b.landmarks(*points, normalized=True)]
    mats = [b.matrix(rng.normal(size=matrix_shape).astype(np.float32))] if matrix_shape else []
    cats = [b.categories(shapes)] if shapes else []
    result = face_landmarker.MpFaceLandmarkerResultC(
        face_landmarks=b.array(landmark_c.MpNormalizedLandmarksC, faces), face_landmarks_count=len(faces),
        face_blendshapes=b.array(category_c.MpCategoriesC, cats), face_blendshapes_count=len(cats),
        facial_transformation_matrixes=b.array(matrix_c.MpMatrixC, mats),
        facial_transformation_matrixes_count=len(mats),
    )  # fmt: skip
    oracle = outcome(library(face_landmarker.FaceLandmarkerResult, convert.face_from_result), result)
    assert_same_outcome(outcome(c_api.read_face, result), oracle)


@settings(max_examples=60, deadline=None)
@given(
    hands=st.lists(st.tuples(landmark_arrays(21), landmark_arrays(21)), max_size=3),
    labels=st.lists(st.lists(st.tuples(LABELS, st.floats(-0.25, 1.25, width=32)), max_size=2), max_size=3),
    worlds=st.integers(0, 3),
)
def test_hands_reader_matches_the_library(
    hands: list[tuple[Points, Points]], labels: Any, worlds: int
) -> None:
    b = Builder()
    lms = [b.landmarks(*h[0], normalized=True) for h in hands]
    wlds = [b.landmarks(*h[1], normalized=False) for h in hands[:worlds]]
    cats = [b.categories(c) for c in labels]
    result = hand_landmarker.MpHandLandmarkerResultC(
        handedness=b.array(category_c.MpCategoriesC, cats), handedness_count=len(cats),
        hand_landmarks=b.array(landmark_c.MpNormalizedLandmarksC, lms), hand_landmarks_count=len(lms),
        hand_world_landmarks=b.array(landmark_c.MpLandmarksC, wlds), hand_world_landmarks_count=len(wlds),
    )  # fmt: skip
    oracle = outcome(library(hand_landmarker.HandLandmarkerResult, convert.hands_from_result), result)
    assert_same_outcome(outcome(c_api.read_hands, result), oracle)


# ------------------------------------------------------------------------- on real footage
def test_the_pinned_mediapipe_takes_the_c_path(model_paths: dict[str, Path]) -> None:
    """Silently falling back would lose the speed: the pinned mediapipe must be the known one."""
    assert c_api.supported()
    tracking = replace(TrackingSettings(), pose=False, hands=False)
    with Landmarkers(tracking, model_paths, live=False) as fast:
        assert fast.native
    with Landmarkers(tracking, model_paths, live=False, native_results=False) as public:
        assert not public.native


def _frames(path: Path, limit: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    out: list[np.ndarray] = []
    try:
        while len(out) < limit:
            ok, bgr = cap.read()
            if not ok:
                break
            h, w = bgr.shape[:2]
            out.append(cv2.cvtColor(cv2.resize(bgr, (640, round(640 * h / w))), cv2.COLOR_BGR2RGB))
    finally:
        cap.release()
    return out


def _video(
    frames: list[np.ndarray], tracking: TrackingSettings, paths: dict[str, Path], native: bool
) -> list[TrackedFrame]:
    with Landmarkers(tracking, paths, live=False, native_results=native) as lm:
        assert lm.native is native
        return [lm.track(rgb, i, i * 40) for i, rgb in enumerate(frames)]


@pytest.mark.parametrize(
    ("clip", "segmentation"), [("fist_thumbs_up.mp4", True), ("talking_head_a.mpg", False)]
)
def test_video_mode_gives_the_same_observations(
    clip: str, segmentation: bool, model_paths: dict[str, Path]
) -> None:
    frames = _frames(media(clip), 120)
    tracking = replace(TrackingSettings(), segmentation=segmentation)
    fast, public = _video(frames, tracking, model_paths, True), _video(frames, tracking, model_paths, False)
    for a, b in zip(fast, public, strict=True):
        assert a.status == b.status, a.index
        assert same((a.pose, a.face, a.hands), (b.pose, b.face, b.hands)), a.index
    assert sum(f.face is not None for f in fast) >= 0.9 * len(frames)
    if segmentation:
        assert sum(f.pose is not None and f.pose.mask is not None for f in fast) >= 0.9 * len(frames)
    if clip.startswith("fist"):
        assert sum(bool(f.hands) for f in fast) >= 0.6 * len(frames)


def test_live_stream_results_match_video_mode(model_paths: dict[str, Path]) -> None:
    """LIVE_STREAM through the C path, one frame at a time (so MediaPipe drops none), gives what
    VIDEO mode through the public API gives; results arrive on MediaPipe's threads."""
    frames = _frames(media("fist_thumbs_up.mp4"), 60)
    tracking = TrackingSettings()
    expected = _video(frames, tracking, model_paths, False)
    got: dict[tuple[int, int], Any] = {}
    threads: set[str] = set()
    arrived = threading.Condition()

    def on_result(part: Part, t_ms: int, payload: Any, _source: int) -> None:
        with arrived:
            got[(int(part), t_ms)] = payload
            threads.add(threading.current_thread().name)
            arrived.notify_all()

    probes = ProbeClock()  # the capture thread's, as in app.py
    with Landmarkers(tracking, model_paths, live=True, on_result=on_result) as lm:
        assert lm.native
        for i, rgb in enumerate(frames):
            parts, sources = lm.probed(lm.plan(), probes, i * 40)
            accepted = lm.submit(rgb, i * 40, parts, sources)
            assert accepted == parts
            keys = {(p, i * 40) for p in range(3) if parts[p]}

            def all_in(keys: set[tuple[int, int]] = keys) -> bool:
                return keys <= got.keys()

            with arrived:
                assert arrived.wait_for(all_in, timeout=30), i
            lm.observe(Part.POSE, got[(0, i * 40)], 0)
            if parts[Part.HANDS]:
                lm.observe(Part.HANDS, got[(2, i * 40)], sources[Part.HANDS])
            exp = expected[i]
            assert same(got[(0, i * 40)], exp.pose) and same(got.get((1, i * 40)), exp.face), i
            assert same(got.get((2, i * 40), ()), exp.hands), i
    assert threading.current_thread().name not in threads
