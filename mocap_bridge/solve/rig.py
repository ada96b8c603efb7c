"""RigSolver: TrackedFrame -> RigFrame (filter, solve, gate). Pure: time comes from ``frame.t_ms``.

Theory of operation
-------------------
One call per frame, in this order (everything whole-array; all tables built in ``__init__``):

1. **Smooth landmarks.** Every numeric array of the frame (pose landmarks and world landmarks,
   face landmarks, blendshapes, both hands' landmarks and world landmarks) is packed into one
   vector and filtered by a single vectorised One-Euro filter with per-element parameters.
   Normalised landmarks are scaled by the part's size (MediaPipe's object-scale rule). Parts absent
   this frame reset their elements, so they come back fresh. The filtered frame becomes
   ``RigFrame.tracked``. Visibility and presence are not filtered.
2. **Solve.** Face: calibrated ARKit 52 and eye angles (face.py); head rotation/position relative
   to the calibrated neutral (head.py); hands: wrist frames and 30 finger bones (hands.py); body:
   55 local bone rotations (body.py); eye and jaw bones from gaze and jawOpen.
3. **Smooth rotations.** Head and bone quaternions go through one rotation One-Euro (angular speed
   drives the cutoff, slerp does the low-pass: no Euler angles, no wrap-around). Head position has
   its own small One-Euro.
4. **Gate.** Two :class:`~mocap_bridge.filters.gating.Gate` objects (scalars: blendshapes, eyes,
   head and hips positions; quaternions: head and bones) hold lost channels, ease them to rest
   (neutral face, head forward, T-pose bones / fingers straight) and blend re-acquired ones back in.
5. **States.** face/body/hands: OK when live, PARTIAL while some channels are live or still easing,
   LOST when at rest.

The solver keeps filter and gate state between calls; make one per stream.

The solver keeps its tables and scratch arrays from ``__init__``; the per-frame path is numpy over
whole arrays (~0.3 ms a frame here, under 2% of a 30 fps frame). A slow, step-by-step reference of
the same algorithm lives in the tests (tests/reference_solve.py) as the oracle of this one.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from ..avatar import GENERIC, load_avatar
from ..filters.gating import Gate, part_state
from ..filters.hand_entry import HandEntryGate, HandEntrySettings
from ..filters.one_euro import OneEuroFilter, OneEuroParams, RotationOneEuro
from ..frames import (
    ARKit,
    FaceObservation,
    GestureEvent,
    HandObservation,
    HumanBone,
    PoseObservation,
    RigFrame,
    TrackedFrame,
    Tracking,
)
from ..settings import FaceSettings, PartGateSettings, Settings
from .body import N_BONES, BodySolver
from .calibration import CalibrationProfile, load_calibration
from .eyes import EyeSettings, EyeSolver
from .face import FaceSolver
from .gestures import GestureSettings, GestureTracker
from .handedness import HandednessResolver
from .hands import FINGER_BONES, HandSolver
from .head import head_from_matrix, ypr_from_quat
from .maps import BoneMap, load_bone_map, resolve_bone_map
from .quat import qpow, to_matrix
from .retarget import Retargeter

__all__ = ["RigSolver"]

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]

_N_POSE, _N_FACE, _N_HAND = 33, 478, 21
# Packed landmark vector layout: (name, size). The three normalised-landmark blocks come first and
# are contiguous, so one (553, 3) view of them gives every part's bounding box in two reduceat calls.
_LAYOUT = (
    ("pose_landmarks", _N_POSE * 3),
    ("face_landmarks", _N_FACE * 3),
    ("hand_landmarks", 2 * _N_HAND * 3),
    ("pose_world", _N_POSE * 3),
    ("hand_world", 2 * _N_HAND * 3),
    ("blendshapes", 52),
)
_OFF: dict[str, slice] = {}
_o = 0
for _name, _size in _LAYOUT:
    _OFF[_name] = slice(_o, _o + _size)
    _o += _size
_N_PACKED = _o
_N_LM = _N_POSE + _N_FACE + 2 * _N_HAND  # rows of the normalised-landmark block
# row ranges (in the (n, 3) views) of pose, face, left hand, right hand landmarks and of the world blocks
_R_POSE = slice(0, _N_POSE)
_R_FACE = slice(_N_POSE, _N_POSE + _N_FACE)
_R_HAND = (slice(_R_FACE.stop, _R_FACE.stop + _N_HAND), slice(_R_FACE.stop + _N_HAND, _N_LM))
_R_POSE_W = slice(_N_LM, _N_LM + _N_POSE)
_R_HAND_W = (slice(_R_POSE_W.stop, _R_POSE_W.stop + _N_HAND),
             slice(_R_POSE_W.stop + _N_HAND, _R_POSE_W.stop + 2 * _N_HAND))  # fmt: skip
_BBOX_STARTS = np.array([_R_POSE.start, _R_FACE.start, _R_HAND[0].start, _R_HAND[1].start])
_BBOX_SLICES = tuple(slice(3 * r.start, 3 * r.stop) for r in (_R_POSE, _R_FACE, *_R_HAND))  # packed elements
_LABELS = ("Left", "Right")

# Scalar gate channels: 52 blendshapes, 4 eye angles, 3 head position, 3 hips position.
_G_BS = slice(0, 52)
_G_EYES = slice(52, 56)
_G_HEAD = slice(56, 59)
_G_HIPS = slice(59, 62)
_HAND_BONES = (
    np.array([int(HumanBone.LeftHand), *FINGER_BONES[:15]]),
    np.array([int(HumanBone.RightHand), *FINGER_BONES[15:]]),
)
_IDQ = np.array([0.0, 0.0, 0.0, 1.0])
_ROTS_REST = np.tile(_IDQ, (1 + N_BONES, 1))  # head + bones at rest
# rows of the (1 + N_BONES) rotation arrays: each hand's 15 finger bones, and eyes + jaw
_FINGER_ROWS = (slice(1 + int(FINGER_BONES[0]), 16 + int(FINGER_BONES[0])),
                slice(16 + int(FINGER_BONES[0]), 31 + int(FINGER_BONES[0])))  # fmt: skip
_FACE_ROWS = slice(1 + int(HumanBone.LeftEye), 1 + int(HumanBone.Jaw) + 1)
assert HumanBone.RightEye == HumanBone.LeftEye + 1 and HumanBone.Jaw == HumanBone.LeftEye + 2
assert np.array_equal(FINGER_BONES, np.arange(FINGER_BONES[0], FINGER_BONES[0] + 30))
_NECK_ROWS = np.array([1 + int(HumanBone.Neck), 1 + int(HumanBone.Head)])
_NOT_HAND = np.ones(N_BONES, dtype=bool)
_NOT_HAND[np.concatenate(_HAND_BONES)] = False
# The body state speaks of what the pose measures: hands and the face-driven neck/head have their own.
_NOT_HAND[[int(HumanBone.Neck), int(HumanBone.Head)]] = False


def _gate_times(s: Settings) -> tuple[F64, F64]:
    """(hold, release, reacquire) ms per channel of the scalar and the rotation gates, each part's
    own (``[face]``, ``[body]``, ``[hands]`` ``hold_ms`` …; negative = the ``[gating]`` value)."""
    g = s.gating

    def times(table: PartGateSettings) -> F64:
        own = (table.hold_ms, table.release_ms, table.reacquire_ms)
        return np.array(
            [v if v >= 0 else d for v, d in zip(own, (g.hold_ms, g.release_ms, g.reacquire_ms), strict=True)]
        )

    face, body, hands = times(s.face), times(s.body), times(s.hands)
    vals = np.tile(face, (62, 1))
    vals[_G_HIPS] = body
    rots = np.tile(body, (1 + N_BONES, 1))
    rots[0] = face  # head
    rots[_FACE_ROWS] = face  # eyes, jaw
    rots[_NECK_ROWS] = face  # the face drives neck and head
    for side in _HAND_BONES:
        rots[1 + side] = hands
    return vals.T.copy(), rots.T.copy()


def _shaped_blink(raw: float, fs: FaceSettings) -> float:
    """A MediaPipe eyeBlink value after the blink threshold and curve (what the eyes compare)."""
    norm = min(max((raw - fs.blink_threshold) / (fs.blink_full - fs.blink_threshold), 0.01), 1.0)
    return float(norm**fs.blink_curve)


def _params(n: int, p: OneEuroParams) -> tuple[F64, F64, F64]:
    return np.full(n, p.min_cutoff), np.full(n, p.beta), np.full(n, p.d_cutoff)


def _inv_sizes(lm3: F64) -> list[float]:
    """1 / object size of pose, face, left and right hand from the (553, 3) normalised block.

    MediaPipe's object-scale rule: the mean of the bounding-box width and height. The extents are
    rounded to float32 as ``np.ptp`` of the float32 landmarks gives them (the packed copies are
    those float32 values exactly), then averaged in float64.
    """
    xy = lm3[:_N_LM, :2]
    ext = np.maximum.reduceat(xy, _BBOX_STARTS, axis=0)
    ext -= np.minimum.reduceat(xy, _BBOX_STARTS, axis=0)
    inv = []
    for w, h in ext.astype(np.float32).tolist():
        size = 0.5 * (w + h)
        inv.append(1.0 / size if size > 1e-6 else 0.0)
    return inv


class RigSolver:
    """Stateful per-stream solver; :meth:`solve` is called once per TrackedFrame, in time order."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        fs = settings.face
        prof = load_calibration(fs.calibration) if fs.calibration else CalibrationProfile()
        self.calibration = prof
        self.bone_map: BoneMap = resolve_bone_map(settings.retarget.bone_map, settings.retarget.extra_maps)
        self.extra_maps = tuple(load_bone_map(p) for p in settings.retarget.extra_maps)
        self.retarget = Retargeter(self.bone_map)
        link = fs.link_blinks if fs.link_blinks != "off" else prof.link_blinks
        # Linked blinks that may wink are linked by the eyes (solve/eyes.py), before the face solve.
        self._wink = fs.wink and link != "off"
        self._face = FaceSolver(
            neutral=prof.neutral, gain=prof.gain, offset=prof.offset, curve=prof.curve,
            clamp_min=prof.clamp_min, clamp_max=prof.clamp_max,
            swap_lr=prof.swap_lr or fs.swap_lr,
            link_blinks="off" if self._wink else link,
            link_gaze=prof.link_gaze or fs.link_gaze, eye_gaze=prof.eye_gaze,
            eye_yaw_range_deg=fs.eye_yaw_range_deg, eye_pitch_range_deg=fs.eye_pitch_range_deg,
        )  # fmt: skip
        hs, gs = settings.hands, settings.gestures
        self._handedness = HandednessResolver() if hs.handedness == "pose" else None
        self._entry = HandEntryGate(
            HandEntrySettings(border_margin=hs.border_margin, entry_frames=hs.entry_frames)
        )
        gesture_settings = GestureSettings(
            hold_ms=gs.hold_ms, dropout_ms=gs.dropout_ms, min_score=gs.min_score
        )
        self._gestures = GestureTracker(gesture_settings) if gs.enabled and hs.enabled else None
        eyes = EyeSettings(
            blink_threshold=fs.blink_threshold,
            blink_full=fs.blink_full,
            blink_curve=fs.blink_curve,
            link_blinks=self._wink,
            wink=self._wink,
            wink_margin=fs.wink_margin,
            gaze_hold_blink=_shaped_blink(fs.gaze_hold_blink, fs) if fs.gaze_hold else 1.0,
            gaze_source=fs.gaze_source,
            yaw_range_deg=fs.eye_yaw_range_deg,
            pitch_range_deg=fs.eye_pitch_range_deg,
        )
        self._eyes = EyeSolver(eyes) if fs.enabled else None
        self._neutral_r = to_matrix(prof.head_rotation)
        self._neutral_t = (
            prof.head_position
            if prof.head_position is not None
            else np.array([0.0, 0.0, -settings.head.neutral_distance_m])
        )
        self._jaw_rad = math.radians(fs.jaw_open_deg)
        self.avatar = load_avatar(settings.vmc.avatar) if settings.vmc.avatar else GENERIC
        self._rest_offsets = self.avatar.offsets
        self._body = BodySolver(upper_body=settings.upper_body, rest_offsets=self.avatar.offsets)
        self._hands = HandSolver()

        sm = settings.smoothing
        self._smooth = sm.enabled
        mins, betas, dcs = [], [], []
        self._smooth_mask = np.zeros(_N_PACKED, dtype=bool)
        for name, size in _LAYOUT:
            p: OneEuroParams = getattr(sm, name)
            a, b, c = _params(size, p)
            mins.append(a)
            betas.append(b)
            dcs.append(c)
            self._smooth_mask[_OFF[name]] = p.enabled
        self._lm_filter = OneEuroFilter(
            _N_PACKED, np.concatenate(mins), np.concatenate(betas), np.concatenate(dcs),
            raw_derivative=sm.raw_derivative,
        )  # fmt: skip
        self._smooth_all = bool(self._smooth_mask.all())
        self._packed = np.zeros(_N_PACKED)
        self._lm3 = self._packed[: 3 * _R_HAND_W[1].stop].reshape(-1, 3)  # landmark rows, (n, 3) view
        self._present = np.zeros(_N_PACKED, dtype=bool)
        self._present_key: tuple[bool, ...] = ()
        self._all_present = False
        self._vscale = np.ones(_N_PACKED)
        rp = [sm.head_rotation, *([sm.bones] * N_BONES)]
        self._rot_filter = RotationOneEuro(
            1 + N_BONES, [p.min_cutoff for p in rp], [p.beta for p in rp], [p.d_cutoff for p in rp]
        )
        self._rot_enabled = np.array([p.enabled for p in rp])
        self._rot_all_enabled = bool(self._rot_enabled.all())
        self._pos_filter = OneEuroFilter(3, *_params(3, sm.head_position))

        g = settings.gating
        rest = np.zeros((62, 1))
        rest[_G_HIPS, 0] = self._rest_offsets[HumanBone.Hips]
        vals_t, rots_t = _gate_times(settings)
        self._gate_vals = Gate(rest, hold_ms=vals_t[0], release_ms=vals_t[1], reacquire_ms=vals_t[2])
        self._gate_rots = Gate(
            np.tile(_IDQ, (1 + N_BONES, 1)),
            hold_ms=rots_t[0],
            release_ms=rots_t[1],
            reacquire_ms=rots_t[2],
            quaternion=True,
        )
        self._vis_thr = g.visibility_threshold
        self._pres_thr = g.presence_threshold
        self._hand_thr = g.hand_score_threshold
        self._body_core = np.zeros(N_BONES, dtype=bool)  # bones whose liveness decides body OK

    # ------------------------------------------------------------------ smoothing of the frame
    def _filter_frame(
        self, frame: TrackedFrame, hands: tuple[HandObservation | None, HandObservation | None]
    ) -> TrackedFrame:
        """The frame with every present numeric array smoothed (one One-Euro call, see module doc).

        ``hands`` are the frame's (left, right) hands after the score threshold (None = absent).
        """
        lm3 = self._lm3
        pose, face = frame.pose, frame.face
        key = (pose is not None, face is not None, hands[0] is not None, hands[1] is not None)
        if pose is not None:
            np.copyto(lm3[_R_POSE], pose.landmarks[:, :3])
            np.copyto(lm3[_R_POSE_W], pose.world)
        if face is not None:
            np.copyto(lm3[_R_FACE], face.landmarks)
            np.copyto(self._packed[_OFF["blendshapes"]], face.blendshapes)
        for i, h in enumerate(hands):
            if h is not None:
                np.copyto(lm3[_R_HAND[i]], h.landmarks)
                np.copyto(lm3[_R_HAND_W[i]], h.world)
        if key != self._present_key:
            self._set_present(key)
        vs = self._vscale
        # (an absent part's scale is never used: its elements pass through and start afresh)
        for sl, inv, here in zip(_BBOX_SLICES, _inv_sizes(lm3), key, strict=True):
            if here:
                vs[sl] = inv
        x = self._packed
        if self._all_present:
            filt = self._lm_filter(x, frame.t_ms * 1e-3, value_scale=vs)
        else:
            filt = self._lm_filter(
                x, frame.t_ms * 1e-3, present=self._present, value_scale=vs, present_key=key
            )
        out: F32 = (filt if self._smooth_all else np.where(self._smooth_mask, filt, x)).astype(np.float32)
        return self._tracked_frame(frame, hands, out)

    def _tracked_frame(
        self, frame: TrackedFrame, hands: tuple[HandObservation | None, HandObservation | None], out: F32
    ) -> TrackedFrame:
        """The smoothed TrackedFrame whose arrays are views of the packed filter output ``out``."""
        pose, face = frame.pose, frame.face
        o3 = out[: self._lm3.size].reshape(-1, 3)
        new_pose = new_face = None
        if pose is not None:
            lm = pose.landmarks.copy()
            lm[:, :3] = o3[_R_POSE]
            new_pose = PoseObservation(lm, o3[_R_POSE_W], pose.mask)
        if face is not None:
            new_face = FaceObservation(o3[_R_FACE], out[_OFF["blendshapes"]], face.matrix)
        new_hands = tuple(
            HandObservation(h.label, h.score, o3[_R_HAND[i]], o3[_R_HAND_W[i]])
            for i, h in enumerate(hands)
            if h is not None
        )
        return TrackedFrame(
            frame.index, frame.t_ms, new_pose, new_face, new_hands, frame.status, frame.result_ms
        )

    def _bone_positions(self, hips: F64) -> F64:
        """Local rest offsets of the avatar, with the Hips' position (relative to the avatar's
        root on the floor) from the solve."""
        out = self._rest_offsets.copy()
        out[HumanBone.Hips] = hips
        return out

    def _set_present(self, key: tuple[bool, ...]) -> None:
        """Rebuild the packed presence mask for a new set of present parts (pose, face, left, right)."""
        pres = self._present
        pres.fill(False)
        p3 = pres[: self._lm3.size].reshape(-1, 3)
        if key[0]:
            p3[_R_POSE] = p3[_R_POSE_W] = True
        if key[1]:
            p3[_R_FACE] = True
            pres[_OFF["blendshapes"]] = True
        for i in range(2):
            if key[2 + i]:
                p3[_R_HAND[i]] = p3[_R_HAND_W[i]] = True
        self._present_key = key
        self._all_present = bool(pres.all())

    # ------------------------------------------------------------------ per frame
    def solve(self, frame: TrackedFrame) -> RigFrame:
        """Filter, solve and gate one frame (``frame.t_ms`` is the only clock)."""
        s = self.settings
        t_ms = float(frame.t_ms)
        frame = self._prepare(frame, t_ms)
        left, right = frame.hand("Left"), frame.hand("Right")
        ok_left, ok_right = self._entry.valid_pair(left, right)
        thr = self._hand_thr
        hands_in = (
            left if left is not None and left.score >= thr and ok_left else None,
            right if right is not None and right.score >= thr and ok_right else None,
        )
        gestures = self._gesture_events(hands_in, t_ms)
        tracked = self._filter_frame(frame, hands_in) if self._smooth else frame
        pose = tracked.pose if s.body.enabled else None
        face = tracked.face if (s.face.enabled or s.head.enabled) else None
        hands: tuple[HandObservation | None, HandObservation | None]
        if not s.hands.enabled:
            hands = (None, None)
        elif self._smooth:
            hands = (tracked.hand("Left"), tracked.hand("Right"))
        else:
            hands = hands_in

        vals = np.zeros((62, 1))
        vvalid = np.zeros(62, dtype=bool)
        rots = _ROTS_REST.copy()  # row 0 head, rows 1.. bones (HumanBone + 1)
        rvalid = np.zeros(1 + N_BONES, dtype=bool)

        head_q: F64 | None = None
        eyes: list[float] = []
        jaw_open = 0.0
        if face is not None:
            if s.face.enabled:
                bs = self._face.blendshapes(face.blendshapes)
                e = self._face.eyes(bs)
                vals[_G_BS, 0] = bs
                vals[_G_EYES, 0] = e.ravel()
                vvalid[: _G_EYES.stop] = True
                eyes = e.ravel().tolist()
                jaw_open = float(bs[ARKit.jawOpen])
            if s.head.enabled:
                head_q, head_p = head_from_matrix(face.matrix, self._neutral_r, self._neutral_t)
                if s.head.translation:
                    vals[_G_HEAD, 0] = head_p
                vvalid[_G_HEAD] = True
                rots[0] = head_q
                rvalid[0] = True

        hand_frames: list[F64 | None] = [None, None]
        fingers: F64 | None = None
        if hands[0] is not None or hands[1] is not None:
            w = np.zeros((2, 21, 3))
            for i, h in enumerate(hands):
                if h is not None:
                    w[i] = h.world
            frames, fingers = self._hands.solve(w)
            for i, h in enumerate(hands):
                if h is not None:
                    hand_frames[i] = frames[i]

        if pose is not None:
            lm = pose.landmarks
            ok = (lm[:, 3] >= self._vis_thr) & (lm[:, 4] >= self._pres_thr)
            brot, bval, hips = self._body.solve(
                pose.world, ok, head_global=head_q, hand_frames=(hand_frames[0], hand_frames[1])
            )
            rots[1:] = brot  # finger rows are identity and not driven here
            rvalid[1:] = bval
            vals[_G_HIPS, 0] = hips
            vvalid[_G_HIPS] = bool(bval[HumanBone.Hips]) or self._body.upper_body
            self._body_core |= bval
        elif head_q is not None:
            # No body this frame: the face alone drives neck and head, each half of the rotation
            # relative to the chest at rest (see body.py, step 5).
            rots[_NECK_ROWS] = qpow(head_q, 0.5)
            rvalid[_NECK_ROWS] = True
        if fingers is not None:
            for i, h in enumerate(hands):
                if h is not None:
                    rows = _FINGER_ROWS[i]
                    rots[rows] = fingers[15 * i : 15 * i + 15]
                    rvalid[rows] = True
        if eyes:
            # eye bones: yaw > 0 toward the subject's right = rotation about −Y; pitch > 0 down = +X
            eq: list[list[float]] = []
            for yaw, pitch in ((eyes[0], eyes[1]), (eyes[2], eyes[3])):
                hy, hp = -0.5 * yaw, 0.5 * pitch
                cy, sy, cp, sp = math.cos(hy), math.sin(hy), math.cos(hp), math.sin(hp)
                eq.append([cy * sp, sy * cp, -sy * sp, cy * cp])
            ja = 0.5 * self._jaw_rad * jaw_open
            eq.append([math.sin(ja), 0.0, 0.0, math.cos(ja)])
            rots[_FACE_ROWS] = eq
            rvalid[_FACE_ROWS] = True

        t_s = t_ms * 1e-3
        if self._smooth:
            f = self._rot_filter(rots, t_s, present=rvalid)
            # absent rows come back unchanged from the filter, so with every channel enabled
            # the filtered array is the result as it is
            rots = f if self._rot_all_enabled else np.where((self._rot_enabled & rvalid)[:, None], f, rots)
            if s.head.enabled and vvalid[56] and s.smoothing.head_position.enabled:
                vals[_G_HEAD, 0] = self._pos_filter(vals[_G_HEAD, 0], t_s)
            elif not vvalid[56]:
                self._pos_filter.reset()

        gv = self._gate_vals(vals, vvalid, t_ms)[:, 0]
        gr = self._gate_rots(rots, rvalid, t_ms)
        ractive = self._gate_rots.active
        vactive = self._gate_vals.active

        if s.face.enabled:
            face_state = part_state(vvalid[_G_BS], vactive[_G_BS])
        elif s.head.enabled:
            face_state = part_state(rvalid[:1], ractive[:1])
        else:
            face_state = Tracking.LOST
        core = self._body_core & _NOT_HAND
        if s.body.enabled and np.count_nonzero(core):
            body_state = part_state(rvalid[1:][core], ractive[1:][core])
        else:
            body_state = Tracking.LOST
        hand_states = (
            part_state(rvalid[_FINGER_ROWS[0]], ractive[_FINGER_ROWS[0]]),
            part_state(rvalid[_FINGER_ROWS[1]], ractive[_FINGER_ROWS[1]]),
        )
        head_rot = gr[0]
        bone_valid = ractive[1:].copy()
        hips = gv[_G_HIPS].copy()
        return RigFrame(
            index=frame.index,
            t_ms=frame.t_ms,
            tracked=tracked,
            blendshapes=gv[_G_BS].astype(np.float32),
            head_rotation=head_rot,
            head_position=gv[_G_HEAD].copy(),
            head_ypr=ypr_from_quat(head_rot),
            eyes=gv[_G_EYES].reshape(2, 2).copy(),
            bone_rotations=gr[1:],
            bone_positions=self._bone_positions(hips),
            bone_valid=bone_valid,
            hips_position=hips,
            face_state=face_state,
            body_state=body_state,
            hand_states=(hand_states[0], hand_states[1]),
            target=self.retarget.apply(gr[1:], bone_valid, hips),
            gestures=gestures,
        )

    def _prepare(self, frame: TrackedFrame, t_ms: float) -> TrackedFrame:
        """Sides from the body, and the eyes' blink and held gaze, before anything is smoothed."""
        if self._handedness is not None and frame.hands:
            frame = self._handedness.resolve(frame)
        face = frame.face
        if self._eyes is not None and face is not None:
            state = self._eyes.update_mediapipe(face.blendshapes, t_ms, landmarks=face.landmarks)
            face = FaceObservation(face.landmarks, state.apply_mediapipe(face.blendshapes), face.matrix)
            f = frame
            frame = TrackedFrame(f.index, f.t_ms, f.pose, face, f.hands, f.status, f.result_ms)
        elif self._eyes is not None:
            self._eyes.reset()  # a new face starts with no held gaze
        return frame

    def _gesture_events(
        self, hands: tuple[HandObservation | None, HandObservation | None], t_ms: float
    ) -> tuple[GestureEvent | None, GestureEvent | None]:
        if self._gestures is None:
            return (None, None)
        events = self._gestures.update({"Left": hands[0], "Right": hands[1]}, t_ms)
        return (events["Left"], events["Right"])
