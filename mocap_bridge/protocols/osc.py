"""Generic OSC namespace for TouchDesigner, Max/MSP, Blender, Pure Data… (docs/osc.md).

A stable, documented namespace (version 1), bundled per frame and split into ``#bundle``
datagrams of at most ``max_datagram`` bytes, in this order (OSC wire rules: OSC 1.0 spec):

=====================================  ========  ============================================
address                                 tags      content
=====================================  ========  ============================================
``/mocap/frame``                        ``if``    frame index, seconds since the first frame
``/mocap/state``                        ``iiiii`` overall, face, body, left hand, right hand
                                                  (0 lost, 1 partial, 2 ok)
``/mocap/face/blendshape/<arkitName>``  ``f``     ×52, ARKit lowerCamel names, 0..1
``/mocap/face/eyes``                    ``ffff``  left yaw, left pitch, right yaw, right pitch
                                                  (radians, docs/livelink.md, head and eyes)
``/mocap/head/quat``                    ``ffff``  x, y, z, w (internal frame, vs neutral)
``/mocap/head/ypr``                     ``fff``   yaw, pitch, roll (radians, Live Link signs)
``/mocap/head/pos``                     ``fff``   metres vs neutral (internal frame)
``/mocap/gesture/<left|right>``         ``if``    the hand's gesture: canned class index (0 None,
                                                  1 Closed_Fist, 2 Open_Palm, 3 Pointing_Up,
                                                  4 Thumb_Down, 5 Thumb_Up, 6 Victory, 7 ILoveYou),
                                                  score (0 when none)
``/mocap/rig/hips``                     ``fff``   hips position, the bone map's axes and units
``/mocap/rig/bone/<name>``              ``ffff``  ×driven bones: the bone map's names, rotations
                                                  x, y, z, w in its convention (solve/retarget.py)
``/mocap/pose/world/<i>``               ``fff``   ×33 when a body is seen: MediaPipe world
                                                  landmarks, metres, hip-centred
``/mocap/pose/image/<i>``               ``ffff``  ×33 when a body is seen: normalised x, y, z,
                                                  visibility
``/mocap/hand/<left|right>/score``      ``f``     when that hand is seen: handedness score
``/mocap/hand/<left|right>/<i>``        ``fff``   ×21 when that hand is seen: world landmarks, m
=====================================  ========  ============================================

Face and head messages are sent every frame (neutral when the face is lost, as the solver says);
pose and hand messages only when MediaPipe saw that part in this frame. Templates and the 8
possible frame layouts are precompiled (:class:`~.osc_wire.FramePlan`); per frame the values are
gathered into one array and rendered into the cached datagram image.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import ProtocolError
from ..frames import ARKIT_NAMES, HUMAN_BONE_NAMES, RigFrame
from ._state import overall_state
from .osc_wire import MAX_UDP_PAYLOAD, FramePlan, Template

__all__ = ["NAMESPACE_VERSION", "OscEncoder"]

#: Bump when an address or its type tags change.
NAMESPACE_VERSION = 1

_POSE_POINTS = 33
_HAND_POINTS = 21
_SIDES = (("left", "Left"), ("right", "Right"))


class OscEncoder:
    """Encode :class:`RigFrame`\\ s into the generic ``/mocap/...`` namespace (module docstring)."""

    __slots__ = (
        "_blend",
        "_bone",
        "_eyes",
        "_frame",
        "_gesture",
        "_hand",
        "_hand_score",
        "_head_pos",
        "_head_quat",
        "_head_ypr",
        "_hips",
        "_plans",
        "_pose_image",
        "_pose_world",
        "_state",
        "_t0_ms",
        "max_datagram",
    )

    def __init__(self, *, max_datagram: int = 1200, bone_names: Sequence[str] = HUMAN_BONE_NAMES) -> None:
        """``bone_names``: the names of ``RigFrame.target``'s bones (the configured bone map's)."""
        self._frame = Template("/mocap/frame", "if")
        self._state = Template("/mocap/state", "iiiii")
        self._blend = [Template(f"/mocap/face/blendshape/{n}", "f") for n in ARKIT_NAMES]
        self._eyes = Template("/mocap/face/eyes", "ffff")
        self._head_quat = Template("/mocap/head/quat", "ffff")
        self._head_ypr = Template("/mocap/head/ypr", "fff")
        self._head_pos = Template("/mocap/head/pos", "fff")
        self._pose_world = [Template(f"/mocap/pose/world/{i}", "fff") for i in range(_POSE_POINTS)]
        self._pose_image = [Template(f"/mocap/pose/image/{i}", "ffff") for i in range(_POSE_POINTS)]
        self._hand_score = {s: Template(f"/mocap/hand/{s}/score", "f") for s, _ in _SIDES}
        self._hand = {
            s: [Template(f"/mocap/hand/{s}/{i}", "fff") for i in range(_HAND_POINTS)] for s, _ in _SIDES
        }
        self._gesture = [Template(f"/mocap/gesture/{side}", "if") for side, _ in _SIDES]
        self._hips = Template("/mocap/rig/hips", "fff")
        self._bone = [Template(f"/mocap/rig/bone/{n}", "ffff") for n in bone_names]
        largest = max(t.size for t in [*self._blend, *self._bone])
        if not largest + 16 <= max_datagram <= MAX_UDP_PAYLOAD:
            raise ProtocolError(
                f"OSC max datagram must be in {largest + 16}..{MAX_UDP_PAYLOAD}, got {max_datagram}"
            )
        self.max_datagram = max_datagram
        self._plans: dict[tuple[bool, bool, bool, bytes], _Layout] = {}
        self._t0_ms: int | None = None

    def plan(self, pose: bool, left: bool, right: bool, bones: bytes = b"") -> FramePlan:
        """The precompiled frame layout for the parts present and the target bones driven
        (``bones``: the bool mask's bytes; cached, bounded)."""
        return self._layout((pose, left, right, bones))[0]

    def _layout(self, key: tuple[bool, bool, bool, bytes]) -> _Layout:
        layout = self._plans.get(key)
        if layout is None:
            pose, left, right, bones = key
            tpls = [self._frame, self._state, *self._blend, self._eyes]
            tpls += [self._head_quat, self._head_ypr, self._head_pos, *self._gesture]
            if bones:
                driven = np.flatnonzero(np.frombuffer(bones, dtype=np.bool_)).tolist()
                tpls += [self._hips, *(self._bone[b] for b in driven)]
            if pose:
                tpls += [*self._pose_world, *self._pose_image]
            for (side, _), seen in zip(_SIDES, (left, right), strict=True):
                if seen:
                    tpls += [self._hand_score[side], *self._hand[side]]
            plan = FramePlan(tpls, self.max_datagram)
            # The first float is /mocap/frame's time; the rest come from the frame's arrays.
            slots = plan.float_slots[1:]
            if len(self._plans) >= 64:
                self._plans.clear()
            layout = self._plans[key] = (plan, slots, int(plan.float_slots[0]))
        return layout

    def encode(self, frame: RigFrame) -> list[bytes]:
        """All datagrams for ``frame`` in send order; ProtocolError on non-finite values."""
        if self._t0_ms is None:
            self._t0_ms = frame.t_ms
        if not -(2**31) <= frame.index < 2**31:
            raise ProtocolError(f"frame index {frame.index} does not fit int32")
        tracked = frame.tracked
        pose = tracked.pose
        left, right = tracked.hand("Left"), tracked.hand("Right")
        target = frame.target
        bones = b""
        if target is not None:
            if len(target.valid) != len(self._bone):
                raise ProtocolError(
                    f"frame {frame.index}: {len(target.valid)} target bones, expected {len(self._bone)}"
                )
            bones = target.valid.tobytes()
        plan, slots, t_slot = self._layout((pose is not None, left is not None, right is not None, bones))
        parts: list[Any] = [
            frame.blendshapes,
            frame.eyes.reshape(4),
            frame.head_rotation,
            frame.head_ypr,
            frame.head_position,
        ]
        gestures = [(ev.score if ev is not None else 0.0,) for ev in frame.gestures]
        parts += gestures
        if target is not None:
            parts += (target.hips_position, target.rotations[target.valid].reshape(-1))
        if pose is not None:
            if pose.world.shape[0] != _POSE_POINTS or pose.landmarks.shape[0] != _POSE_POINTS:
                raise ProtocolError(f"frame {frame.index}: pose needs {_POSE_POINTS} landmarks")
            parts += (pose.world[:, :3].reshape(-1), pose.landmarks[:, :4].reshape(-1))
        for hand in (left, right):
            if hand is not None:
                if hand.world.shape[0] != _HAND_POINTS:
                    raise ProtocolError(f"frame {frame.index}: hand needs {_HAND_POINTS} landmarks")
                parts += ((hand.score,), hand.world[:, :3].reshape(-1))
        fl = np.concatenate(parts, dtype=np.float64)
        if len(fl) != len(slots):
            raise ProtocolError(f"frame {frame.index}: {len(fl)} OSC values, expected {len(slots)}")
        if not np.isfinite(fl).all():
            raise ProtocolError(f"frame {frame.index}: non-finite OSC value")
        plan.write_floats(slots, fl)
        plan.write_floats(t_slot, (frame.t_ms - self._t0_ms) / 1000.0)
        kinds = [int(ev.label) if ev is not None else 0 for ev in frame.gestures]
        ints = (
            frame.index,
            overall_state(frame),
            frame.face_state,
            frame.body_state,
            *frame.hand_states,
            *kinds,
        )
        plan.write_ints(plan.int_slots, ints)
        return plan.datagrams()


#: A plan, the slots of every float but the time, the time's slot.
_Layout = tuple[FramePlan, npt.NDArray[np.intp], int]
