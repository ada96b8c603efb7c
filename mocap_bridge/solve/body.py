"""Body: local bone rotations of the Unity humanoid from MediaPipe pose world landmarks.

Theory of operation
-------------------
Rest pose: a T-pose in the internal frame (docs/coordinates.md): the character faces +Z, arms
along ±X with palms down (thumbs toward +Z), legs along −Y, feet toward +Z. Every bone's local
rotation is relative to that rest, so the T-pose gives identity everywhere.

1. World landmarks become internal ``(x, −y, −z)``.
2. Fifteen *segment frames* are measured at once: for each, a primary direction (e.g. shoulder ->
   elbow) and a secondary reference give an orthonormal basis ``B``; with the same basis built from
   the rest directions ``B₀``, the segment's global rotation is ``G = B B₀ᵀ`` (one batched
   Gram-Schmidt; each ``B₀`` is a signed permutation, so ``G`` is a signed take of ``B``).
3. Limb twist: the upper arm's secondary is the elbow's bend direction (forearm component
   perpendicular to the upper arm; forward at rest) plus a small share of the rest reference carried
   along by the shortest arc from the chest, which takes over when the arm is straight. The forearm
   uses the same reference, so the elbow is a hinge and bending it changes only the forearm. Legs are
   the same with the knee's bend direction reversed.
4. Local rotations are ``Gₚᵀ G`` for every (parent, child) pair in one batch; Spine, Chest and
   UpperChest share the hips -> chest rotation in thirds, Neck and Head share chest -> head in
   halves (the head comes from the face matrix when the face is tracked).
5. Validity: a bone is driven when all landmarks it uses have visibility and presence above the
   gating thresholds. Each bone waits only for the part that measures it: the face measures the
   head, so whenever the face is found Neck and Head are driven, half of the chest → head rotation
   each; relative to the measured chest when the chest is trusted, else to the chest at rest (where
   the receiver's untrusted chest is, once eased), so a head-and-shoulders shot still turns the head.

Upper-body mode (seated streamer): hips are fixed at rest, legs are held at rest and not driven.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from ..frames import HumanBone as HB
from .quat import (
    EXT3,
    FROM_MATRIX_TABLE,
    basis,
    basis_1,
    dot0,
    from_rotation_matrix,
    qpow_1,
    to_matrix_1,
)  # fmt: skip

__all__ = ["N_BONES", "PARENT", "REST_OFFSETS", "BodySolver"]

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

N_BONES = len(HB)

# Pose landmark indices (MediaPipe pose, 33 points).
NOSE, L_EAR, R_EAR = 0, 7, 8
L_SH, R_SH, L_EL, R_EL, L_WR, R_WR = 11, 12, 13, 14, 15, 16
L_PINKY, R_PINKY, L_INDEX, R_INDEX = 17, 18, 19, 20
L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANK, R_ANK = 23, 24, 25, 26, 27, 28
L_HEEL, R_HEEL, L_TOE, R_TOE = 29, 30, 31, 32

#: Unity humanoid hierarchy: parent bone of each bone (-1 for Hips).
PARENT: dict[HB, HB | None] = {
    HB.Hips: None,
    HB.Spine: HB.Hips, HB.Chest: HB.Spine, HB.UpperChest: HB.Chest,
    HB.Neck: HB.UpperChest, HB.Head: HB.Neck,
    HB.LeftEye: HB.Head, HB.RightEye: HB.Head, HB.Jaw: HB.Head,
    HB.LeftShoulder: HB.UpperChest, HB.RightShoulder: HB.UpperChest,
    HB.LeftUpperArm: HB.LeftShoulder, HB.RightUpperArm: HB.RightShoulder,
    HB.LeftLowerArm: HB.LeftUpperArm, HB.RightLowerArm: HB.RightUpperArm,
    HB.LeftHand: HB.LeftLowerArm, HB.RightHand: HB.RightLowerArm,
    HB.LeftUpperLeg: HB.Hips, HB.RightUpperLeg: HB.Hips,
    HB.LeftLowerLeg: HB.LeftUpperLeg, HB.RightLowerLeg: HB.RightUpperLeg,
    HB.LeftFoot: HB.LeftLowerLeg, HB.RightFoot: HB.RightLowerLeg,
    HB.LeftToes: HB.LeftFoot, HB.RightToes: HB.RightFoot,
}  # fmt: skip
for _side in ("Left", "Right"):
    for _f in ("Thumb", "Index", "Middle", "Ring", "Little"):
        PARENT[HB[f"{_side}{_f}Proximal"]] = HB[f"{_side}Hand"]
        PARENT[HB[f"{_side}{_f}Intermediate"]] = HB[f"{_side}{_f}Proximal"]
        PARENT[HB[f"{_side}{_f}Distal"]] = HB[f"{_side}{_f}Intermediate"]


def _rest_offsets() -> F64:
    """Local rest offsets (metres, internal frame) of a ~1.70 m humanoid in T-pose."""
    off = np.zeros((N_BONES, 3))
    left: dict[str, tuple[float, float, float]] = {
        "Shoulder": (0.03, 0.09, 0.0), "UpperArm": (0.11, 0.0, 0.0), "LowerArm": (0.27, 0.0, 0.0),
        "Hand": (0.25, 0.0, 0.0), "UpperLeg": (0.09, -0.06, 0.0), "LowerLeg": (0.0, -0.42, 0.0),
        "Foot": (0.0, -0.42, 0.0), "Toes": (0.0, -0.06, 0.13), "Eye": (0.032, 0.07, 0.08),
        "ThumbProximal": (0.02, -0.01, 0.025), "ThumbIntermediate": (0.025, 0.0, 0.02),
        "ThumbDistal": (0.02, 0.0, 0.015),
        "IndexProximal": (0.09, 0.0, 0.025), "IndexIntermediate": (0.04, 0.0, 0.0),
        "IndexDistal": (0.025, 0.0, 0.0),
        "MiddleProximal": (0.09, 0.0, 0.005), "MiddleIntermediate": (0.045, 0.0, 0.0),
        "MiddleDistal": (0.028, 0.0, 0.0),
        "RingProximal": (0.085, 0.0, -0.015), "RingIntermediate": (0.04, 0.0, 0.0),
        "RingDistal": (0.026, 0.0, 0.0),
        "LittleProximal": (0.075, 0.0, -0.035), "LittleIntermediate": (0.03, 0.0, 0.0),
        "LittleDistal": (0.022, 0.0, 0.0),
    }  # fmt: skip
    for name, (x, y, z) in left.items():
        off[HB[f"Left{name}"]] = (x, y, z)
        off[HB[f"Right{name}"]] = (-x, y, z)
    off[HB.Hips] = (0.0, 0.95, 0.0)
    off[HB.Spine] = (0.0, 0.10, 0.0)
    off[HB.Chest] = (0.0, 0.12, 0.0)
    off[HB.UpperChest] = (0.0, 0.12, 0.0)
    off[HB.Neck] = (0.0, 0.12, 0.0)
    off[HB.Head] = (0.0, 0.10, 0.0)
    off[HB.Jaw] = (0.0, -0.01, 0.02)
    return off


#: (55, 3) rest offsets from the parent (Hips: from the root), internal frame, metres.
REST_OFFSETS: F64 = _rest_offsets()
REST_OFFSETS.setflags(write=False)

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
_SPINE_NECK_FLAT = (np.concatenate((_SPINE3, _NECK2))[:, None] * 4 + np.arange(4)).reshape(-1)
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
_LIMB_SIGN = np.array([[1.0], [1.0], [-1.0], [-1.0]])  # knees bend the other way (tests/reference_solve.py)
# rel = parentᵀ child for: hips (from identity), hips->chest, chest->head, then _PAIRS
_REL_P = np.concatenate(([15, 0, 1], _PAR_IDX))
_REL_C = np.concatenate(([0, 1, 2], _CHI_IDX))
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


_EYE3_ROWS = np.eye(3).tolist()  # the hips frame in upper-body mode
# x rows read as floats: hips/chest primaries and secondaries, the primaries of the upper segments
# (arms, legs) then of the forearms and shins, the hands' secondaries (index -> pinky)
_FLOAT_ROWS = np.array([0, 1, _N_SEG, _N_SEG + 1, *_UPPER, *_LOWER, _N_SEG + 7, _N_SEG + 8])
_REF_ROWS = _N_SEG + np.concatenate((_UPPER, _LOWER[2:], _LOWER[:2]))  # x rows of the limb secondaries
_REF_FLAT = (np.arange(5) * 2 * _N_SEG + _REF_ROWS[:, None]).reshape(-1)  # their entries in x.T, flat


class BodySolver:
    """Stateless per-frame body solve; all tables are module constants."""

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
        self._xt = np.zeros((5, 2 * _N_SEG))  # the primaries and secondaries, component-major
        self._xt_flat = self._xt.reshape(-1)
        # the Gram-Schmidt's operands as views made once: segments 2..14's primaries p, secondaries s,
        # then unit p, s⊥ and n, with the (y, z, x) / (z, x, y) shifts of the extended cross product
        p, s, pu, su = self._xt[:, 2:15], self._xt[:, 17:30], self._cols[0], self._cols[1]
        self._gs_views = (p, p[:3], s, s[:3], pu, pu[:3], su, su[:3], self._cols[2, :3],
                          pu[1:4], pu[2:5], su[1:4], su[2:5])  # fmt: skip
        self._cols_flat = self._cols.reshape(-1)  # flat views, for the signed take
        self._g13 = self._gf[2:15].reshape(-1)
        self._g18 = self._gf[:2].reshape(-1)
        # relative rotations: parent frames, their transposes, children, products, from_matrix rows
        self._gp = np.zeros((15, 3, 3))
        self._gp_t = self._gp.swapaxes(-1, -2)
        self._g15 = self._gf[:15]
        self._rel = np.zeros((15, 3, 3))
        self._rel9_t = self._rel.reshape(-1, 9).T
        self._r = np.zeros((7, 15))
        self._qt, self._qxyz, self._qw, self._rsign = self._r[:4], self._r[:3], self._r[3], self._r[4:]
        self._q = self._qt.T

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
        x = _BODY_MAT @ (np.asarray(world_mp) @ _FLIP_EXT)  # (30, 5) extended rows
        # The torso frames and the limb twist references in plain floats (2 frames, 4 limbs): the
        # same operations in the same order as the numpy forms, so the same rounding.
        ph, pc, sh, sc, *limbs, lhs, rhs = x[_FLOAT_ROWS, :3].tolist()
        # torso frames (hips, chest), rows of 3×3 with columns p, s, n = p × s (rest basis is the identity)
        th, tc = basis_1(ph, sh), basis_1(pc, sc)
        # a: the chest's +X / −X for the arms, the hips' −Y for the legs; v: the parent's +Z
        (cx, _, cvx), (cy, _, cvy), (cz, _, cvz) = tc
        (_, hx, hvx), (_, hy, hvy), (_, hz, hvz) = th
        chest_v, hips_a, hips_v = (cvx, cvy, cvz), (-hx, -hy, -hz), (hvx, hvy, hvz)
        limb_av = (((cx, cy, cz), chest_v), ((-cx, -cy, -cz), chest_v), (hips_a, hips_v), (hips_a, hips_v))
        refs = []
        for i in range(4):
            # unit primaries of the upper segment u and the forearm/shin l
            ux, uy, uz = limbs[i]
            norm = max(math.sqrt(ux * ux + uy * uy + uz * uz), 1e-9)
            ux, uy, uz = ux / norm, uy / norm, uz / norm
            lx, ly, lz = limbs[4 + i]
            norm = max(math.sqrt(lx * lx + ly * ly + lz * lz), 1e-9)
            lx, ly, lz = lx / norm, ly / norm, lz / norm
            # Bend direction: forearm/shin component perpendicular to the upper segment (knees bend
            # the other way).
            d = lx * ux + ly * uy + lz * uz
            bx, by, bz = lx - d * ux, ly - d * uy, lz - d * uz
            if i >= 2:
                bx, by, bz = -bx, -by, -bz
            # Rest reference (+Z of the parent, v) carried along the shortest arc from the rest
            # direction a to the upper segment u. For unit a ⊥ v that rotation gives
            # R v = v − (u·v)/(1 + a·u) (a + u), the Rodrigues form c v + k × v + k (k·v)/(1 + c)
            # (k = a × u) without its cross products.
            (ax, ay, az), (vx, vy, vz) = limb_av[i]
            f = (ux * vx + uy * vy + uz * vz) / max(1.0 + (ax * ux + ay * uy + az * uz), 1e-6)
            rx = bx + _TWIST_FALLBACK * (vx - (ax + ux) * f)
            ry = by + _TWIST_FALLBACK * (vy - (ay + uy) * f)
            rz = bz + _TWIST_FALLBACK * (vz - (az + uz) * f)
            refs.append((rx, ry, rz, rx, ry))  # extended
        # Forearm twist (pronation) follows the hand's thumb side when the hand is seen, so the
        # wrist only flexes/deviates (Unity's Hand bone has no twist muscle); else the elbow hinge.
        # (The reference normalises these first; the Gram-Schmidt below makes the length irrelevant.)
        fore = []
        for i in range(2):
            hf = hands[i]
            if hf is not None:
                tx, ty, tz = hf[:, 2].tolist()
                fore.append((tx, ty, tz, tx, ty))
            elif joint_ok[(L_INDEX, R_INDEX)[i]] and joint_ok[(L_PINKY, R_PINKY)[i]]:
                tx, ty, tz = (lhs, rhs)[i]  # index -> pinky
                fore.append((tx, ty, tz, tx, ty))
            else:
                fore.append(refs[i])

        g = self._gf  # rows 0..14 rewritten below, row 15 the identity
        (a0, a1, a2), (b0, b1, b2) = (_EYE3_ROWS if self.upper_body else th), tc  # upper body: hips at rest
        self._g18[:] = [*a0, *a1, *a2, *b0, *b1, *b2]
        # basis_e(p, s) @ B₀ᵀ, the same arithmetic component-major: the in-place steps then run on
        # contiguous rows rather than strided [..., :3] views, and a take replaces the matmul.
        np.copyto(self._xt, x.T)
        # the limb secondaries (upper segments, shins, forearms); flat lists convert faster than nested
        r0, r1, r2, r3 = refs
        self._xt_flat[_REF_FLAT] = [*r0, *r1, *r2, *r3, *r2, *r3, *fore[0], *fore[1]]
        p, p3, s, s3, pu, pu3, su, su3, n, pu1, pu2, su1, su2 = self._gs_views
        np.divide(p, np.maximum(np.sqrt(dot0(p3, p3)), 1e-12), out=pu)
        np.multiply(dot0(s3, pu3), pu, out=su)
        np.subtract(s, su, out=su)
        su /= np.maximum(np.sqrt(dot0(su3, su3)), 1e-12)
        np.multiply(pu1, su2, out=n)  # cross_e, component-major
        n -= pu2 * su1
        g13 = self._g13
        np.take(self._cols_flat, _G_TAKE, out=g13)
        g13 *= _G_SIGN
        head = None if head_global is None else head_global.tolist()
        if head is not None:
            g[2] = to_matrix_1(head)
        for i in range(2):
            hf = hands[i]
            if hf is not None:
                g[_HAND_ROWS[i]] = hf

        q = self._relative_rotations()
        valid = np.zeros(N_BONES, dtype=bool)
        valid[_DEP_BONES] = np.logical_and.reduce(joint_ok[_DEP_IDX], axis=1)
        rot = _IDENTITY_55.copy()
        rot[_Q_BONES] = q  # Spine and Neck rows are overwritten by the shares below
        q12 = q[1:3].tolist()
        spine = qpow_1(q12[0], 1.0 / 3.0)
        neck = q12[1]
        if head is not None:
            valid[_NECK2] = True
            if not valid[_UPPER_CHEST]:
                neck = head
        neck = qpow_1(neck, 0.5)
        rot.reshape(-1)[_SPINE_NECK_FLAT] = [*spine, *spine, *spine, *neck, *neck]
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

    def _relative_rotations(self) -> F64:
        """Quaternions of the 15 relative rotations parentᵀ child of the segment frames (rows of
        ``_REL_P`` / ``_REL_C``): :func:`~.quat.from_rotation_matrix`'s steps on buffers and views
        made once, the same calls on the same layouts (so the same bits); a view of a buffer."""
        np.take(self._gf, _REL_P, axis=0, out=self._gp)
        np.matmul(self._gp_t, self._g15, out=self._rel)  # the children are rows 0..14
        r, qt, qxyz, w = self._r, self._qt, self._qxyz, self._qw
        np.matmul(FROM_MATRIX_TABLE, self._rel9_t, out=r)
        qt += 0.25
        np.maximum(qt, 0.0, out=qt)
        np.sqrt(qt, out=qt)
        np.copysign(qxyz, self._rsign, out=qxyz)
        if np.minimum.reduce(w) < 1e-3:  # near a half turn: the general form
            return from_rotation_matrix(self._rel)
        return self._q

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
