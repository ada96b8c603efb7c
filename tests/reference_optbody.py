"""The body solve before the call-count cut (optbody): the oracle of tests/test_optbody_equivalence.py,
which requires the package's :class:`~mocap_bridge.solve.body.BodySolver` to give the same bits.
Never used by the package. Its tables are copied too, so a change to the package's cannot leak in.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from mocap_bridge.frames import HumanBone as HB
from mocap_bridge.solve.body import (
    L_ANK,
    L_EAR,
    L_EL,
    L_HIP,
    L_INDEX,
    L_KNEE,
    L_PINKY,
    L_SH,
    L_TOE,
    L_WR,
    N_BONES,
    NOSE,
    R_ANK,
    R_EAR,
    R_EL,
    R_HIP,
    R_INDEX,
    R_KNEE,
    R_PINKY,
    R_SH,
    R_TOE,
    R_WR,
    REST_OFFSETS,
)
from mocap_bridge.solve.quat import (
    EXT3,
    FROM_MATRIX_TABLE,
    _shepperd,
    basis,
    basis_1,
    dot0,
    normalize,
    qpow_1,
    to_matrix_1,
)

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]


def from_rotation_matrix(m: F64) -> F64:
    """``quat.from_rotation_matrix`` as it was."""
    r = FROM_MATRIX_TABLE @ m.reshape(-1, 9).T
    qt = r[:4]
    qt += 0.25
    np.maximum(qt, 0.0, out=qt)
    np.sqrt(qt, out=qt)
    np.copysign(qt[:3], r[4:], out=qt[:3])
    q: F64 = qt.T
    if qt[3].min() < 1e-3:
        return normalize(np.where((q[:, 3] < 1e-3)[:, None], _shepperd(m.reshape(-1, 3, 3)), q))
    return q


_X = np.array([1.0, 0.0, 0.0])
_Y = np.array([0.0, 1.0, 0.0])
_Z = np.array([0.0, 0.0, 1.0])

# Segment frames measured each frame: (name, rest primary, rest secondary).
_SEG = [
    ("hips", _X, _Y), ("chest", _X, _Y), ("head", _X, _Z),
    ("lua", _X, _Z), ("rua", -_X, _Z), ("lla", _X, _Z), ("rla", -_X, _Z),
    ("lhand", _X, _Z), ("rhand", -_X, _Z),
    ("lul", -_Y, _Z), ("rul", -_Y, _Z), ("lll", -_Y, _Z), ("rll", -_Y, _Z),
    ("lfoot", _Z, _Y), ("rfoot", _Z, _Y),
]  # fmt: skip
_S = {name: i for i, (name, _, _) in enumerate(_SEG)}
_REST_BT = np.swapaxes(basis(np.stack([p for _, p, _ in _SEG]), np.stack([s for _, _, s in _SEG])), -1, -2)

# (parent segment, child segment, output bone) for plain local rotations.
_PAIRS = [
    ("chest", "lua", HB.LeftUpperArm), ("chest", "rua", HB.RightUpperArm),
    ("lua", "lla", HB.LeftLowerArm), ("rua", "rla", HB.RightLowerArm),
    ("lla", "lhand", HB.LeftHand), ("rla", "rhand", HB.RightHand),
    ("hips", "lul", HB.LeftUpperLeg), ("hips", "rul", HB.RightUpperLeg),
    ("lul", "lll", HB.LeftLowerLeg), ("rul", "rll", HB.RightLowerLeg),
    ("lll", "lfoot", HB.LeftFoot), ("rll", "rfoot", HB.RightFoot),
]  # fmt: skip
_PAR_IDX = np.array([_S[p] for p, _, _ in _PAIRS])
_CHI_IDX = np.array([_S[c] for _, c, _ in _PAIRS])
_PAIR_BONES = np.array([int(b) for _, _, b in _PAIRS])

# Landmarks each body bone depends on (for gating), padded by repetition.
_DEPS: dict[HB, tuple[int, ...]] = {
    HB.Hips: (L_HIP, R_HIP, L_SH, R_SH),
    HB.Spine: (L_HIP, R_HIP, L_SH, R_SH),
    HB.Chest: (L_HIP, R_HIP, L_SH, R_SH),
    HB.UpperChest: (L_HIP, R_HIP, L_SH, R_SH),
    HB.Neck: (L_SH, R_SH, L_EAR, R_EAR, NOSE),
    HB.Head: (L_SH, R_SH, L_EAR, R_EAR, NOSE),
    HB.LeftUpperArm: (L_SH, R_SH, L_EL), HB.RightUpperArm: (L_SH, R_SH, R_EL),
    HB.LeftLowerArm: (L_EL, L_WR), HB.RightLowerArm: (R_EL, R_WR),
    HB.LeftHand: (L_WR, L_INDEX, L_PINKY), HB.RightHand: (R_WR, R_INDEX, R_PINKY),
    HB.LeftUpperLeg: (L_HIP, L_KNEE), HB.RightUpperLeg: (R_HIP, R_KNEE),
    HB.LeftLowerLeg: (L_KNEE, L_ANK), HB.RightLowerLeg: (R_KNEE, R_ANK),
    HB.LeftFoot: (L_ANK, L_TOE), HB.RightFoot: (R_ANK, R_TOE),
}  # fmt: skip
_DEP_BONES = np.array([int(b) for b in _DEPS])
_DEP_IDX = np.array([list(d) + [d[0]] * (5 - len(d)) for d in _DEPS.values()])
_LEG_BONES = np.array(
    [int(b) for b in (HB.LeftUpperLeg, HB.RightUpperLeg, HB.LeftLowerLeg, HB.RightLowerLeg,
                      HB.LeftFoot, HB.RightFoot, HB.LeftToes, HB.RightToes)]
)  # fmt: skip
_SPINE3 = np.array([int(HB.Spine), int(HB.Chest), int(HB.UpperChest)])
_NECK2 = np.array([int(HB.Neck), int(HB.Head)])
_IDENTITY_Q = np.array([0.0, 0.0, 0.0, 1.0])
_UPPER_CHEST = int(HB.UpperChest)
_FLIP = np.array([1.0, -1.0, -1.0])

# Limb twist fallback: share of the rest reference carried from the chest/hips.
_TWIST_FALLBACK = 0.3


# Extended point table: 33 landmarks + shoulder mid, hip mid, ear mid, left/right hand mid.
_MID_A = np.array([L_SH, L_HIP, L_EAR, L_INDEX, R_INDEX])
_MID_B = np.array([R_SH, R_HIP, R_EAR, L_PINKY, R_PINKY])
SH_MID, HIP_MID, EAR_MID, LH_MID, RH_MID = 33, 34, 35, 36, 37
# Primary (head - tail) and secondary (head - tail) of each segment; limb secondaries are replaced.
_PA = np.array([L_HIP, L_SH, L_EAR, L_EL, R_EL, L_WR, R_WR, LH_MID, RH_MID,
                L_KNEE, R_KNEE, L_ANK, R_ANK, L_TOE, R_TOE])  # fmt: skip
_PB = np.array([R_HIP, R_SH, R_EAR, L_SH, R_SH, L_EL, R_EL, L_WR, R_WR,
                L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANK, R_ANK])  # fmt: skip
_SA = np.array([SH_MID, SH_MID, NOSE, 0, 0, 0, 0, L_INDEX, R_INDEX, 0, 0, 0, 0, L_KNEE, R_KNEE])
_SB = np.array([HIP_MID, HIP_MID, EAR_MID, 0, 0, 0, 0, L_PINKY, R_PINKY, 0, 0, 0, 0, L_ANK, R_ANK])
_UPPER = np.array([3, 4, 9, 10])  # segment rows: upper arms, upper legs
_LOWER = np.array([5, 6, 11, 12])  # forearms, shins
_LIMB_SIGN = np.array([[1.0], [1.0], [-1.0], [-1.0]])  # knees bend the other way
# rel = parentᵀ child for: hips (from identity), hips->chest, chest->head, then _PAIRS
_REL_P = np.concatenate(([15, 0, 1], _PAR_IDX))
_REL_C = np.concatenate(([0, 1, 2], _CHI_IDX))
_REL_PC = np.concatenate((_REL_P, _REL_C))
_LEGS_HIPS = np.concatenate((_LEG_BONES, [int(HB.Hips)]))
#: the bone each row of ``q`` lands on (hips -> chest and chest -> head land on Spine and Neck first)
_Q_BONES = np.concatenate(([int(HB.Hips), int(HB.Spine), int(HB.Neck)], _PAIR_BONES))
_HAND_ROWS = (7, 8)
_HAND_BONE = (int(HB.LeftHand), int(HB.RightHand))
_HAND_DEPS = ((L_EL, L_WR), (R_EL, R_WR))
# Grounding: each leg's chain of bones and the segment rows (upper leg, lower leg, foot) posing it.
_LEG_CHAINS = [[HB[f"{s}{b}"] for b in ("UpperLeg", "LowerLeg", "Foot", "Toes")] for s in ("Left", "Right")]
_LEG_ROWS = ((9, 11, 13), (10, 12, 14))
#: the frame posing each leg offset (upper leg's from the hips, lower leg, foot, toes), per side
_LEG_Y_ROWS = np.array([0, *_LEG_ROWS[0], 0, *_LEG_ROWS[1]])


# Fast path tables. One (37, 33) matrix takes the 33 landmarks to the 15 primaries, the 15
# secondaries (zero rows for limbs: replaced), the hip midpoint and the six foot points; applied to
# extended, axis-flipped landmarks (``world @ _FLIP_EXT``) it yields extended vectors (quat.py).
_N_SEG = len(_SEG)
_POINT_MAT = np.zeros((38, 33))  # the extended point table as a linear map of the landmarks
_POINT_MAT[np.arange(33), np.arange(33)] = 1.0
_POINT_MAT[33 + np.arange(5), _MID_A] = 0.5
_POINT_MAT[33 + np.arange(5), _MID_B] += 0.5
_SEC_ROWS = np.flatnonzero(_SA != _SB)
_ROW_MAT = np.zeros((2 * _N_SEG, 38))
_ROW_MAT[np.arange(_N_SEG), _PA] += 1.0
_ROW_MAT[np.arange(_N_SEG), _PB] -= 1.0
_ROW_MAT[_N_SEG + _SEC_ROWS, _SA[_SEC_ROWS]] += 1.0
_ROW_MAT[_N_SEG + _SEC_ROWS, _SB[_SEC_ROWS]] -= 1.0
_BODY_MAT = _ROW_MAT @ _POINT_MAT  # entries 0, ±1, ±0.5: exact sums of the landmarks
_FLIP_EXT = EXT3 * _FLIP[:, None]
_LIMBS = np.concatenate((_UPPER, _LOWER))
_LIMB_A_ROWS = np.array([1, 1, 2, 2])  # rows of [p_hips, p_chest, s_hips, s_chest]: rest direction
_LIMB_V_ROWS = np.array([1, 1, 0, 0])  # rows of [n_hips, n_chest]: the parent's +Z
# Frames of segments 2..14 from their basis columns (p, s⊥, n) held component-major in a
# (3 columns, 5 components, 13 segments) buffer: each rest basis B₀ is a signed permutation, so
# every entry of G = B B₀ᵀ is ± one entry of B (exactly what the matmul gives): one signed take.
_REST_B_LIMBS = np.swapaxes(_REST_BT[2:], -1, -2)  # B₀: [segment, row j, column k]
_G_COL = np.argmax(np.abs(_REST_B_LIMBS), axis=2)  # (13, 3): the column k of B giving G's column j
_G_TAKE = np.array(
    [(_G_COL[i, j] * 5 + r) * 13 + i for i in range(_N_SEG - 2) for r in range(3) for j in range(3)]
)
_G_SIGN = np.array(
    [_REST_B_LIMBS[i, j, _G_COL[i, j]] for i in range(_N_SEG - 2) for r in range(3) for j in range(3)]
)
_IDENTITY_55 = np.tile(_IDENTITY_Q, (N_BONES, 1))
_UNIT_ROWS = np.concatenate((_UPPER, _LOWER, [0, 1]))  # limbs (eps 1e-9), then hips and chest (1e-12)
_UNIT_EPS = np.array([1e-9] * 8 + [1e-12] * 2)


_EYE3 = np.eye(3)

# Limb twist inputs from the torso frames t = [hips, chest] (2, 3, 3), flattened: the rest
# directions a (chest +X, chest −X, hips −Y twice) and the parents' +Z v (chest twice, hips twice),
# extended, as one signed take: av[i, e] = sign_i · t[frame_i, e mod 3, column_i].
_AV_FRAME = np.array([1, 1, 0, 0, 1, 1, 0, 0])
_AV_COL = np.array([0, 0, 1, 1, 2, 2, 2, 2])
_AV_TAKE = _AV_FRAME[:, None] * 9 + np.array([0, 1, 2, 0, 1]) * 3 + _AV_COL[:, None]
_AV_SIGN = np.array([[1.0], [-1.0], [-1.0], [-1.0], [1.0], [1.0], [1.0], [1.0]])


class BodySolver:
    """``mocap_bridge.solve.body.BodySolver`` as it was (the fast-path tables above are its own copy)."""

    def __init__(self, *, upper_body: bool, rest_offsets: F64 = REST_OFFSETS) -> None:
        self.upper_body = upper_body
        #: the avatar's rest hips height above the floor (m)
        self.hips_height = float(rest_offsets[HB.Hips, 1])
        #: per side, the local rest offsets of upper leg (from the hips), lower leg, foot and toes
        self.leg_offsets = np.stack([rest_offsets[list(chain)] for chain in _LEG_CHAINS])
        self._leg_offsets_8 = self.leg_offsets.reshape(8, 3)
        # Grounding: in the rest pose the lowest foot point sits where the hips height puts it.
        self.ground = self.hips_height + float(np.cumsum(self.leg_offsets[:, :, 1], axis=1)[:, 2:].min())
        self._pe = np.zeros((38, 3))
        self._g = np.zeros((16, 3, 3))
        self._g[15] = np.eye(3)
        self._gf = self._g.copy()  # the fast path's segment frames (the reference path uses _g)
        self._cols = np.zeros((3, 5, _N_SEG - 2))  # segments 2..14: columns p, s⊥, n (component-major)

    def solve(
        self,
        world_mp: npt.ArrayLike,
        joint_ok: B,
        *,
        head_global: F64 | None = None,
        hand_frames: tuple[F64 | None, F64 | None] = (None, None),
    ) -> tuple[F64, B, F64]:
        """Rotations (55, 4), driven mask (55,), hips position (3,) from world landmarks (33, 3).

        ``joint_ok`` (33,) marks landmarks above the visibility/presence thresholds.
        ``head_global`` (quaternion) replaces the ears/nose head frame when the face is tracked;
        ``hand_frames`` (3×3 global rotations from the hand landmarker) replace the pose's
        wrist/index/pinky hand frames.
        """
        hands = hand_frames
        x = _BODY_MAT @ (np.asarray(world_mp) @ _FLIP_EXT)  # (37, 5) extended rows
        prim = x[:_N_SEG]
        sec = x[_N_SEG : 2 * _N_SEG]
        # unit primaries of the eight limb segments
        dirs = prim[_LIMBS]
        dirs /= np.maximum(np.sqrt(np.vecdot(dirs[:, :3], dirs[:, :3])), 1e-9)[:, None]
        upper = dirs[:4]
        lower = dirs[4:]
        # torso frames (hips, chest), rows of 3×3 with columns p, s, n = p × s (rest basis is the
        # identity): two frames, so plain floats
        (ph, pc), (sh, sc) = x[:2, :3].tolist(), x[_N_SEG : _N_SEG + 2, :3].tolist()
        th, tc = basis_1(ph, sh), basis_1(pc, sc)
        # Bend direction: forearm/shin component perpendicular to the upper segment.
        bend = (lower - np.vecdot(lower[:, :3], upper[:, :3])[:, None] * upper) * _LIMB_SIGN
        # Rest reference (+Z of the parent, v) carried along the shortest arc from the rest
        # direction a to the upper segment u. For unit a ⊥ v that rotation gives
        # R v = v − (u·v)/(1 + a·u) (a + u), the Rodrigues form c v + k × v + k (k·v)/(1 + c)
        # (k = a × u) without its cross products.
        # a: the chest's +X / −X for the arms, the hips' −Y for the legs; v: the parent's +Z
        t = np.array((th, tc))
        av = t.reshape(18)[_AV_TAKE] * _AV_SIGN
        a, v = av[:4], av[4:]
        f = np.vecdot(upper[:, :3], v[:, :3]) / np.maximum(1.0 + np.vecdot(a[:, :3], upper[:, :3]), 1e-6)
        a += upper
        a *= f[:, None]
        carried = v - a
        ref = bend + _TWIST_FALLBACK * carried
        sec[_UPPER] = ref
        sec[_LOWER[2:]] = ref[2:]
        # Forearm twist (pronation) follows the hand's thumb side when the hand is seen, so the
        # wrist only flexes/deviates (Unity's Hand bone has no twist muscle); else the elbow hinge.
        # (The reference normalises these first; the Gram-Schmidt below makes the length irrelevant.)
        for i in range(2):
            hf = hands[i]
            if hf is not None:
                sec[5 + i, :3] = hf[:, 2]
                sec[5 + i, 3:] = hf[:2, 2]
            elif joint_ok[(L_INDEX, R_INDEX)[i]] and joint_ok[(L_PINKY, R_PINKY)[i]]:
                sec[5 + i] = sec[7 + i]
            else:
                sec[5 + i] = ref[i]

        g = self._gf  # rows 0..14 rewritten below, row 15 the identity
        g[:2] = t
        if self.upper_body:
            g[0] = _EYE3  # hips at rest
        # basis_e(p, s) @ B₀ᵀ, the same arithmetic component-major: the in-place steps then run on
        # contiguous rows rather than strided [..., :3] views, and a take replaces the matmul.
        xt = x.T.copy()
        p, s, cols = xt[:, 2:15], xt[:, 17:30], self._cols
        pu, su, n = cols[0], cols[1], cols[2, :3]
        np.divide(p, np.maximum(np.sqrt(dot0(p[:3], p[:3])), 1e-12), out=pu)
        np.multiply(dot0(s[:3], pu[:3]), pu, out=su)
        np.subtract(s, su, out=su)
        su /= np.maximum(np.sqrt(dot0(su[:3], su[:3])), 1e-12)
        np.multiply(pu[1:4], su[2:5], out=n)  # cross_e, component-major
        n -= pu[2:5] * su[1:4]
        g[2:15].reshape(-1)[:] = cols.reshape(-1)[_G_TAKE] * _G_SIGN
        if head_global is not None:
            g[2] = to_matrix_1(head_global)
        for i in range(2):
            hf = hands[i]
            if hf is not None:
                g[_HAND_ROWS[i]] = hf

        gpc = g[_REL_PC]  # parents then children, one gather
        q = from_rotation_matrix(np.swapaxes(gpc[:15], -1, -2) @ gpc[15:])
        valid = np.zeros(N_BONES, dtype=bool)
        valid[_DEP_BONES] = joint_ok[_DEP_IDX].all(axis=1)
        rot = _IDENTITY_55.copy()
        rot[_Q_BONES] = q  # Spine and Neck rows are overwritten by the shares below
        q12 = q[1:3].tolist()
        rot[_SPINE3] = qpow_1(q12[0], 1.0 / 3.0)
        neck = q12[1]
        if head_global is not None:
            valid[_NECK2] = True
            if not valid[_UPPER_CHEST]:
                neck = head_global
        rot[_NECK2] = qpow_1(neck, 0.5)
        for i in range(2):
            if hands[i] is not None:
                valid[_HAND_BONE[i]] = joint_ok[_HAND_DEPS[i][0]] & joint_ok[_HAND_DEPS[i][1]]

        if self.upper_body:
            rot[_LEGS_HIPS] = _IDENTITY_Q
            valid[_LEG_BONES] = False
            hips = np.array([0.0, self.hips_height, 0.0])
        else:
            hips = self.grounded_hips(g)
        return rot, valid, hips

    def grounded_hips(self, g: F64) -> F64:
        """Hips position (relative to the avatar's origin on the floor) that puts the lowest foot
        point (ankle or toes) of the avatar's own legs, posed by the segment frames ``g``, on the
        floor: the avatar stands where the performer stands, whatever its proportions (MediaPipe's
        world landmarks are centred on the hips and carry no floor, so a jump is not seen)."""
        # only heights matter: each offset's y once posed by its segment's frame, in one call
        y = np.vecdot(g[_LEG_Y_ROWS, 1], self._leg_offsets_8).tolist()
        lowest = math.inf
        for k in (0, 4):  # left, right: knee = y[k] + y[k + 1], then ankle, toes
            ankle = y[k] + y[k + 1] + y[k + 2]
            lowest = min(lowest, ankle, ankle + y[k + 3])
        return np.array([0.0, self.ground - lowest, 0.0])
