"""MediaPipe Tasks results → typed observations (pure; duck-typed, imports no mediapipe).

Called on MediaPipe's callback threads, so it only reads the result and builds numpy arrays.
Two readers share one tail per part (:func:`pose_observation`, :func:`face_observation`,
:func:`hands_observation`): :mod:`.c_results` reads MediaPipe's C structs straight into numpy
(the live and video paths), and the ``*_from_result`` functions here read the Python result
objects of MediaPipe's public API (the fallback when its C layer is not the one we know, and the
oracle the fast reader is tested against).

Every observation passes the edge checks of :mod:`mocap_bridge.edge`: a part holding a
non-finite or absurd value is dropped for that frame (it reads as not found) and counted in
:data:`REJECTED` (``REJECTED.counts()`` per part, for the status line and summary).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ..edge import RejectCounter, checked_face, checked_hand, checked_pose
from ..frames import MP_BLENDSHAPE_NAMES, FaceObservation, HandObservation, Part, PoseObservation

__all__ = [
    "REJECTED",
    "RawHand",
    "blendshape_scores",
    "face_from_result",
    "face_observation",
    "hands_from_result",
    "hands_observation",
    "pose_from_result",
    "pose_observation",
]

#: Parts MediaPipe answered with values the edge checks refused, since the process started.
REJECTED = RejectCounter()

_BLENDSHAPE_INDEX = {name: i for i, name in enumerate(MP_BLENDSHAPE_NAMES)}

#: One hand as MediaPipe gave it: (label or None, score or None, landmarks (21, 3), world (21, 3)).
RawHand = tuple[str | None, float | None, np.ndarray, np.ndarray]


# ------------------------------------------------------------------------------- shared tails
def pose_observation(
    norm: np.ndarray, world: np.ndarray, mask: Callable[[], Any] | None = None
) -> PoseObservation | None:
    """A pose from its landmarks (n, 5: x, y, z, visibility, presence; float64) and world landmarks
    (n, 3); ``mask`` returns the first segmentation mask (as a 2-D array) when there is one."""
    pose = checked_pose(norm, world)
    if pose is None:
        REJECTED.add(Part.POSE)
        return None
    if mask is not None:
        small = small_mask(mask())
        if small is not None:
            pose = replace(pose, mask=small)
    return pose


def blendshape_scores(categories: Sequence[tuple[str | None, float | None]]) -> np.ndarray:
    """MediaPipe's (name, score) categories placed by name into the 52 ARKit slots (+ _neutral)."""
    shapes = np.zeros(len(MP_BLENDSHAPE_NAMES), dtype=np.float64)
    for name, score in categories:
        idx = _BLENDSHAPE_INDEX.get(name) if name is not None else None
        if idx is not None:
            shapes[idx] = _value(score)
    return shapes


def face_observation(landmarks: np.ndarray, shapes: np.ndarray, matrix: Any | None) -> FaceObservation | None:
    """A face from its landmarks (n, 3; float64), blendshapes and the 4×4 transform (None: identity)."""
    if matrix is None:
        matrix = np.eye(4)
    else:
        # MediaPipe hands over a transposed (non-contiguous) view; copy once here.
        matrix = np.ascontiguousarray(np.asarray(matrix, dtype=np.float64).reshape(4, 4))
    face = checked_face(landmarks, shapes, matrix)
    if face is None:
        REJECTED.add(Part.FACE)
    return face


def hands_observation(raw: Sequence[RawHand | None]) -> tuple[HandObservation, ...]:
    """All hands, at most one per label, best score first (``None``: a hand with no handedness).

    The Tasks hand landmarker labels hands anatomically for an un-mirrored image (checked on
    runner_full_body.png and portrait_upper_body.jpg against the pose wrists). When it gives two
    hands the same label, the lower-scoring one takes the other label, ordered by image x (the
    subject's right hand appears on the image's left). A hand whose values fail the edge checks
    (including a label other than Left/Right) is dropped and counted.
    """
    hands: list[HandObservation] = []
    rejected = 0
    for item in raw:
        hand = None if item is None else checked_hand(*item)
        if hand is None:
            rejected += 1
        else:
            hands.append(hand)
    if rejected:
        REJECTED.add(Part.HANDS, rejected)
    if len(hands) == 2 and hands[0].label == hands[1].label:
        # Subject's right hand is on the image left for an un-mirrored frame.
        left_img, right_img = sorted(hands, key=lambda h: float(h.landmarks[0, 0]))
        hands = [
            HandObservation("Right", left_img.score, left_img.landmarks, left_img.world),
            HandObservation("Left", right_img.score, right_img.landmarks, right_img.world),
        ]
    hands.sort(key=lambda h: h.label)
    return tuple(hands)


#: Longest side of the segmentation mask kept per frame (outputs send it at a low rate).
MASK_SIDE = 128


def small_mask(full: Any) -> np.ndarray | None:
    """The mask downscaled (nearest) to at most :data:`MASK_SIDE` px, float32 0..1; None if unusable."""
    m = np.asarray(full, dtype=np.float32)
    if m.ndim == 3:
        m = m[..., 0]
    if m.ndim != 2 or not m.size or not np.isfinite(m).all():
        return None
    step = max(1, -(-max(m.shape) // MASK_SIDE))
    out: np.ndarray = np.ascontiguousarray(np.clip(m[::step, ::step], 0.0, 1.0))
    return out


# ------------------------------------------------------------- MediaPipe's Python result objects
def _xyz(landmarks: Any) -> np.ndarray:
    # float64 first: a float32 cast would turn an absurd 1e308 into inf before it is checked.
    # numpy turns a missing (None) coordinate into NaN here, which the checks then refuse.
    return np.array([(p.x, p.y, p.z) for p in landmarks], dtype=np.float64).reshape(-1, 3)


def _value(v: Any) -> float:
    return float("nan") if v is None else float(v)  # a missing value fails the checks as NaN


def pose_from_result(result: Any) -> PoseObservation | None:
    """First pose of a PoseLandmarkerResult, or None when nobody was found."""
    if not result.pose_landmarks:
        return None
    lms = result.pose_landmarks[0]
    norm = np.array(
        [(p.x, p.y, p.z, p.visibility or 0.0, p.presence or 0.0) for p in lms],
        dtype=np.float64,
    )
    world = _xyz(result.pose_world_landmarks[0]) if result.pose_world_landmarks else np.empty((0, 3))
    masks = getattr(result, "segmentation_masks", None)
    return pose_observation(norm, world, (lambda: masks[0].numpy_view()) if masks else None)


def face_from_result(result: Any) -> FaceObservation | None:
    """First face of a FaceLandmarkerResult (blendshapes placed by category name)."""
    if not result.face_landmarks:
        return None
    cats = result.face_blendshapes[0] if result.face_blendshapes else ()
    shapes = blendshape_scores([(c.category_name, c.score) for c in cats])
    matrixes = result.facial_transformation_matrixes
    return face_observation(_xyz(result.face_landmarks[0]), shapes, matrixes[0] if matrixes else None)


def hands_from_result(result: Any) -> tuple[HandObservation, ...]:
    """All hands of a HandLandmarkerResult (see :func:`hands_observation`)."""
    raw: list[RawHand | None] = []
    for i, lms in enumerate(result.hand_landmarks):
        cat = result.handedness[i][0] if i < len(result.handedness) and result.handedness[i] else None
        world = result.hand_world_landmarks[i] if i < len(result.hand_world_landmarks) else lms
        if cat is None:
            raw.append(None)
        else:
            score = None if cat.score is None else float(cat.score)
            raw.append((cat.category_name, score, _xyz(lms), _xyz(world)))
    return hands_observation(raw)
