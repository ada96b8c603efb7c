"""Coordinate conversions: conjugation by the axis map, reflections handled."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from mocap_bridge.coords import (
    BLENDER,
    UNITY,
    UNREAL,
    mediapipe_world_to_internal,
    to_blender,
    to_unity,
    to_unreal,
)


def test_documented_formulas() -> None:
    p = np.array([1.0, 2.0, 3.0])
    q = np.array([0.1, 0.2, 0.3, 0.9])
    up, uq = to_unity(p, q)
    assert np.allclose(up, [-1, 2, 3]) and np.allclose(uq, [0.1, -0.2, -0.3, 0.9])
    ep, eq = to_unreal(p, q)
    assert np.allclose(ep, [300, -100, 200]) and np.allclose(eq, [-0.3, 0.1, -0.2, 0.9])
    bp, bq = to_blender(p, q)
    assert np.allclose(bp, [1, -3, 2]) and np.allclose(bq, [0.1, -0.3, 0.2, 0.9])
    assert np.allclose(mediapipe_world_to_internal(p), [1, -2, -3])


@pytest.mark.parametrize("axes", [UNITY, UNREAL, BLENDER])
def test_quaternion_matches_matrix_conjugation(axes) -> None:  # type: ignore[no-untyped-def]
    r = Rotation.random(50, random_state=3)
    q = axes.quaternion(r.as_quat())
    m_expected = axes.matrix @ r.as_matrix() @ axes.matrix.T
    assert np.allclose(Rotation.from_quat(q).as_matrix(), m_expected, atol=1e-12)
    # rotating a vector then converting == converting both then rotating
    v = np.random.default_rng(0).normal(size=(50, 3))
    lhs = axes.direction(r.apply(v))
    rhs = Rotation.from_quat(q).apply(axes.direction(v))
    assert np.allclose(lhs, rhs, atol=1e-12)


def test_handedness() -> None:
    assert UNITY.det == -1 and UNREAL.det == -1 and BLENDER.det == 1
    # subject's front (+Z internal) is Unreal +X, Blender -Y, Unity +Z
    front = np.array([0.0, 0.0, 1.0])
    assert np.allclose(UNREAL.direction(front), [1, 0, 0])
    assert np.allclose(BLENDER.direction(front), [0, -1, 0])
    assert np.allclose(UNITY.direction(front), [0, 0, 1])
    # subject's left (+X internal) is Unity -X (avatar facing +Z has its left at -X), Unreal -Y
    left = np.array([1.0, 0.0, 0.0])
    assert np.allclose(UNITY.direction(left), [-1, 0, 0])
    assert np.allclose(UNREAL.direction(left), [0, -1, 0])
