"""Head pose from the facial transformation matrix; head_ypr signs (LLF convention)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from mocap_bridge.solve.head import head_from_matrix, ypr_from_quat


def _matrix(rot: Rotation, t_cm: tuple[float, float, float] = (0, 0, -50)) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = rot.as_matrix()
    m[:3, 3] = t_cm
    return m


@pytest.mark.parametrize(
    ("rot", "expected"),
    [
        # turning to the subject's left: face +Z toward +X = +rotation about Y -> yaw > 0
        (Rotation.from_euler("y", 20, degrees=True), (20, 0, 0)),
        # looking down: +Z toward -Y = +rotation about X -> pitch > 0
        (Rotation.from_euler("x", 15, degrees=True), (0, 15, 0)),
        # right ear toward right shoulder: +Y toward -X = +rotation about Z -> roll > 0
        (Rotation.from_euler("z", 10, degrees=True), (0, 0, 10)),
        (Rotation.from_euler("YXZ", [30, -10, 5], degrees=True), (30, -10, 5)),
    ],
)
def test_ypr_signs(rot: Rotation, expected: tuple[float, float, float]) -> None:
    q, pos = head_from_matrix(_matrix(rot), np.eye(3), np.array([0, 0, -0.5]))
    assert np.allclose(np.degrees(ypr_from_quat(q)), expected, atol=1e-6)
    assert np.allclose(pos, 0.0)


def test_relative_to_neutral_and_translation_in_metres() -> None:
    neutral = Rotation.from_euler("x", -10, degrees=True)  # camera below: neutral face tilted up
    turn = Rotation.from_euler("y", 25, degrees=True)
    m = _matrix(neutral * turn, (3.0, -2.0, -45.0))
    q, pos = head_from_matrix(m, neutral.as_matrix(), np.array([0.0, 0.0, -0.5]))
    assert np.allclose(np.degrees(ypr_from_quat(q)), (25, 0, 0), atol=1e-6)
    assert np.allclose(neutral.apply(pos), [0.03, -0.02, 0.05])


def test_scaled_matrix_is_normalised() -> None:
    m = _matrix(Rotation.from_euler("y", 10, degrees=True))
    m[:3, :3] *= 1.3
    q, _ = head_from_matrix(m, np.eye(3), np.zeros(3))
    assert np.isclose(np.linalg.norm(q), 1.0)
    assert np.isclose(np.degrees(ypr_from_quat(q))[0], 10)
