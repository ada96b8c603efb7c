"""Slow, step-by-step reference forms of the solver's fast paths: the oracles of
tests/test_solve_equivalence.py. Never used by the package.

``body_reference`` is the original body solve (one numpy step per idea, no fused kernels); the
package's :meth:`BodySolver.solve <mocap_bridge.solve.body.BodySolver.solve>` must agree with it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from mocap_bridge.frames import HumanBone as HB
from mocap_bridge.solve.body import (  # the solver's own tables: the reference shares its data
    _DEP_BONES,
    _DEP_IDX,
    _FLIP,
    _HAND_BONE,
    _HAND_DEPS,
    _HAND_ROWS,
    _IDENTITY_Q,
    _LEG_BONES,
    _LEG_CHAINS,
    _LEGS_HIPS,
    _LIMB_SIGN,
    _LOWER,
    _MID_A,
    _MID_B,
    _NECK2,
    _PA,
    _PAIR_BONES,
    _PB,
    _REL_C,
    _REL_P,
    _REST_BT,
    _SA,
    _SB,
    _SPINE3,
    _TWIST_FALLBACK,
    _UPPER,
    L_INDEX,
    L_PINKY,
    N_BONES,
    R_INDEX,
    R_PINKY,
    BodySolver,
)
from mocap_bridge.solve.quat import basis, cross, from_matrix, qpow, to_matrix

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

# Tables only the step-by-step form needs (the fast path folds them into its fused steps).
_LIMB_PAR = np.array([1, 1, 0, 0])  # chest for arms, hips for legs
_LIMB_REST_COL = np.array([0, 0, 1, 1])  # column of the parent frame along the rest direction
_LIMB_REST_SIGN = np.array([[1.0], [-1.0], [-1.0], [-1.0]])
_SPLIT = np.array([[1.0 / 3.0], [0.5]])


def _unit(v: F64) -> F64:
    out: F64 = v / np.maximum(np.sqrt(np.einsum("...i,...i->...", v, v))[..., None], 1e-9)
    return out


def body_reference(
    self: BodySolver,
    world_mp: npt.ArrayLike,
    joint_ok: B,
    *,
    head_global: F64 | None = None,
    hand_frames: tuple[F64 | None, F64 | None] = (None, None),
) -> tuple[F64, B, F64]:
    """The original step-by-step :meth:`solve` (kept as the reference of the equivalence test).

    ``joint_ok`` (33,) marks landmarks above the visibility/presence thresholds.
    ``head_global`` (quaternion) replaces the ears/nose head frame when the face is tracked;
    ``hand_frames`` (3×3 global rotations from the hand landmarker) replace the pose's
    wrist/index/pinky hand frames.
    """
    pe = self._pe
    pe[:33] = np.asarray(world_mp, dtype=np.float64) * _FLIP
    pe[33:] = 0.5 * (pe[_MID_A] + pe[_MID_B])
    prim = pe[_PA] - pe[_PB]
    sec = pe[_SA] - pe[_SB]
    dirs = _unit(prim)
    upper = dirs[_UPPER]
    lower = dirs[_LOWER]

    torso = basis(prim[:2], sec[:2])  # rest basis of hips/chest is the identity
    par = torso[_LIMB_PAR]
    # Bend direction: forearm/shin component perpendicular to the upper segment.
    bend = (lower - np.einsum("ij,ij->i", lower, upper)[:, None] * upper) * _LIMB_SIGN
    # Rest reference (+Z of the parent) carried along the shortest arc rest dir -> upper.
    a = par[np.arange(4), :, _LIMB_REST_COL] * _LIMB_REST_SIGN
    v = par[:, :, 2]
    k = cross(a, upper)
    c = np.einsum("ij,ij->i", a, upper)[:, None]
    carried = c * v + cross(k, v) + k * (np.einsum("ij,ij->i", k, v)[:, None] / np.maximum(1.0 + c, 1e-6))
    ref = bend + _TWIST_FALLBACK * carried
    sec[_UPPER] = ref
    sec[_LOWER[2:]] = ref[2:]
    # Forearm twist (pronation) follows the hand's thumb side when the hand is seen, so the
    # wrist only flexes/deviates (Unity's Hand bone has no twist muscle); else the elbow hinge.
    side = sec[7:9].copy()
    hand_seen = joint_ok[[L_INDEX, R_INDEX]] & joint_ok[[L_PINKY, R_PINKY]]
    for i, hf in enumerate(hand_frames):
        if hf is not None:
            side[i] = hf[:, 2]
            hand_seen[i] = True
    sec[_LOWER[:2]] = np.where(hand_seen[:, None], _unit(side), _unit(ref[:2]))

    g = self._g
    g[:15] = basis(prim, sec) @ _REST_BT
    if self.upper_body:
        g[0] = np.eye(3)
    if head_global is not None:
        g[2] = to_matrix(head_global)
    for i, hf in enumerate(hand_frames):
        if hf is not None:
            g[_HAND_ROWS[i]] = hf

    q = from_matrix(np.swapaxes(g[_REL_P], -1, -2) @ g[_REL_C])
    split = qpow(q[1:3], _SPLIT)
    rot = np.tile(_IDENTITY_Q, (N_BONES, 1))
    rot[HB.Hips] = q[0]
    rot[_SPINE3] = split[0]
    rot[_NECK2] = split[1]
    rot[_PAIR_BONES] = q[3:]

    valid = np.zeros(N_BONES, dtype=bool)
    valid[_DEP_BONES] = joint_ok[_DEP_IDX].all(axis=1)
    if head_global is not None:  # the face measures the head (see body.py, step 5)
        valid[_NECK2] = True
        if not valid[HB.UpperChest]:
            rot[_NECK2] = qpow(head_global, 0.5)
    for i, hf in enumerate(hand_frames):
        if hf is not None:
            valid[_HAND_BONE[i]] = joint_ok[_HAND_DEPS[i][0]] & joint_ok[_HAND_DEPS[i][1]]

    if self.upper_body:
        rot[_LEGS_HIPS] = _IDENTITY_Q
        valid[_LEG_BONES] = False
        hips = np.array([0.0, self.hips_height, 0.0])
    else:
        hips = grounded_hips_reference(self, rot)
    return rot, valid, hips


def grounded_hips_reference(self: BodySolver, rot: F64) -> F64:
    """Forward kinematics of the avatar's legs with the solved local rotations (scipy), hips put
    so that the lowest ankle or toes point is where the rest pose has it."""
    from scipy.spatial.transform import Rotation

    def lowest(local: F64) -> float:
        hips = Rotation.from_quat(local[HB.Hips])
        out = []
        for chain, offsets in zip(_LEG_CHAINS, self.leg_offsets, strict=True):
            pos, r = np.zeros(3), hips
            for bone, off in zip(chain, offsets, strict=True):
                pos = pos + r.apply(off)  # the joint, placed by its parent's rotation
                r = r * Rotation.from_quat(local[bone])
                out.append((bone, float(pos[1])))
        return min(y for bone, y in out if bone.name.endswith(("Foot", "Toes")))

    rest = np.tile([0.0, 0.0, 0.0, 1.0], (len(HB), 1))
    ground = self.hips_height + lowest(rest)
    return np.array([0.0, ground - lowest(rot), 0.0])
