"""MediaPipe Tasks results → typed observations (pure; duck-typed, imports no mediapipe).

Called on MediaPipe's callback threads, so it only reads the result and builds numpy arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..frames import MP_BLENDSHAPE_NAMES, FaceObservation, HandObservation, PoseObservation

__all__ = ["face_from_result", "hands_from_result", "pose_from_result"]

_BLENDSHAPE_INDEX = {name: i for i, name in enumerate(MP_BLENDSHAPE_NAMES)}


def _xyz(landmarks: Any) -> np.ndarray:
    return np.array([(p.x, p.y, p.z) for p in landmarks], dtype=np.float32).reshape(-1, 3)


def pose_from_result(result: Any) -> PoseObservation | None:
    """First pose of a PoseLandmarkerResult, or None when nobody was found."""
    if not result.pose_landmarks:
        return None
    lms = result.pose_landmarks[0]
    norm = np.array([(p.x, p.y, p.z, p.visibility or 0.0, p.presence or 0.0) for p in lms], dtype=np.float32)
    world = _xyz(result.pose_world_landmarks[0])
    return PoseObservation(landmarks=norm, world=world)


def face_from_result(result: Any) -> FaceObservation | None:
    """First face of a FaceLandmarkerResult (blendshapes placed by category name)."""
    if not result.face_landmarks:
        return None
    shapes = np.zeros(len(MP_BLENDSHAPE_NAMES), dtype=np.float32)
    if result.face_blendshapes:
        for cat in result.face_blendshapes[0]:
            idx = _BLENDSHAPE_INDEX.get(cat.category_name)
            if idx is not None:
                shapes[idx] = cat.score
    if result.facial_transformation_matrixes:
        # MediaPipe hands over a transposed (non-contiguous) view; copy once here.
        raw = np.asarray(result.facial_transformation_matrixes[0], dtype=np.float64).reshape(4, 4)
        matrix = np.ascontiguousarray(raw)
    else:
        matrix = np.eye(4)
    return FaceObservation(landmarks=_xyz(result.face_landmarks[0]), blendshapes=shapes, matrix=matrix)


def hands_from_result(result: Any) -> tuple[HandObservation, ...]:
    """All hands of a HandLandmarkerResult, at most one per label, best score first.

    The Tasks hand landmarker labels hands anatomically for an un-mirrored image (checked on
    runner_full_body.png and portrait_upper_body.jpg against the pose wrists). When it gives two
    hands the same label, the lower-scoring one takes the other label, ordered by image x (the
    subject's right hand appears on the image's left).
    """
    hands: list[HandObservation] = []
    for i, lms in enumerate(result.hand_landmarks):
        cat = result.handedness[i][0]
        world = result.hand_world_landmarks[i] if i < len(result.hand_world_landmarks) else lms
        hands.append(
            HandObservation(
                label=cat.category_name or "Right",
                score=float(cat.score),
                landmarks=_xyz(lms),
                world=_xyz(world),
            )
        )
    if len(hands) == 2 and hands[0].label == hands[1].label:
        # Subject's right hand is on the image left for an un-mirrored frame.
        left_img, right_img = sorted(hands, key=lambda h: float(h.landmarks[0, 0]))
        hands = [
            HandObservation("Right", left_img.score, left_img.landmarks, left_img.world),
            HandObservation("Left", right_img.score, right_img.landmarks, right_img.world),
        ]
    hands.sort(key=lambda h: h.label)
    return tuple(hands)
