"""Typed, numpy-backed frame models exchanged by every stage.

Two kinds of frame flow through the bridge:

* :class:`TrackedFrame`: what MediaPipe saw for one captured image (raw landmarks, blendshapes,
  head matrix), merged from the three landmarkers by the assembler. Recordings store these.
* :class:`RigFrame`: what the solver made of it (filtered, gated, calibrated, solved rig values).
  Encoders turn a RigFrame into bytes or text.

Left/right policy: every ``Left``/``Right`` in these models is the *anatomical* side of the person
as MediaPipe saw them in the processed image. Without ``--mirror`` that is the subject's own side.
With ``--mirror`` the image is flipped before tracking, so the whole frame (pose, blendshapes,
hands) describes the mirror image consistently: the subject's right hand drives the rig's left.

Arrays are float32 unless stated; frames are immutable by convention (arrays are not written after
the frame is built).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = [
    "ARKIT_NAMES",
    "HUMAN_BONE_NAMES",
    "MP_BLENDSHAPE_NAMES",
    "ARKit",
    "FaceObservation",
    "Gesture",
    "GestureEvent",
    "HandObservation",
    "HumanBone",
    "Part",
    "PartPayload",
    "PartStatus",
    "PoseObservation",
    "RigFrame",
    "TargetBones",
    "TrackedFrame",
    "Tracking",
]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

#: MediaPipe FaceLandmarker blendshape categories, in output order (MediaPipe face_blendshapes_graph.cc).
MP_BLENDSHAPE_NAMES: tuple[str, ...] = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft",
    "browOuterUpRight", "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft",
    "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight",
    "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft",
    "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen",
    "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthPressLeft", "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower",
    "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight",
    "mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight",
    "noseSneerLeft", "noseSneerRight",
)  # fmt: skip


class ARKit(enum.IntEnum):
    """The 52 ARKit blendshapes; the value is the Live Link Face packet index (docs/livelink.md)."""

    eyeBlinkLeft = 0
    eyeLookDownLeft = 1
    eyeLookInLeft = 2
    eyeLookOutLeft = 3
    eyeLookUpLeft = 4
    eyeSquintLeft = 5
    eyeWideLeft = 6
    eyeBlinkRight = 7
    eyeLookDownRight = 8
    eyeLookInRight = 9
    eyeLookOutRight = 10
    eyeLookUpRight = 11
    eyeSquintRight = 12
    eyeWideRight = 13
    jawForward = 14
    jawLeft = 15
    jawRight = 16
    jawOpen = 17
    mouthClose = 18
    mouthFunnel = 19
    mouthPucker = 20
    mouthLeft = 21
    mouthRight = 22
    mouthSmileLeft = 23
    mouthSmileRight = 24
    mouthFrownLeft = 25
    mouthFrownRight = 26
    mouthDimpleLeft = 27
    mouthDimpleRight = 28
    mouthStretchLeft = 29
    mouthStretchRight = 30
    mouthRollLower = 31
    mouthRollUpper = 32
    mouthShrugLower = 33
    mouthShrugUpper = 34
    mouthPressLeft = 35
    mouthPressRight = 36
    mouthLowerDownLeft = 37
    mouthLowerDownRight = 38
    mouthUpperUpLeft = 39
    mouthUpperUpRight = 40
    browDownLeft = 41
    browDownRight = 42
    browInnerUp = 43
    browOuterUpLeft = 44
    browOuterUpRight = 45
    cheekPuff = 46
    cheekSquintLeft = 47
    cheekSquintRight = 48
    noseSneerLeft = 49
    noseSneerRight = 50
    tongueOut = 51


ARKIT_NAMES: tuple[str, ...] = tuple(m.name for m in ARKit)


class HumanBone(enum.IntEnum):
    """Unity ``HumanBodyBones`` (VMC spec, protocol.vmc.info); the value is Unity's enum value."""

    Hips = 0
    LeftUpperLeg = 1
    RightUpperLeg = 2
    LeftLowerLeg = 3
    RightLowerLeg = 4
    LeftFoot = 5
    RightFoot = 6
    Spine = 7
    Chest = 8
    Neck = 9
    Head = 10
    LeftShoulder = 11
    RightShoulder = 12
    LeftUpperArm = 13
    RightUpperArm = 14
    LeftLowerArm = 15
    RightLowerArm = 16
    LeftHand = 17
    RightHand = 18
    LeftToes = 19
    RightToes = 20
    LeftEye = 21
    RightEye = 22
    Jaw = 23
    LeftThumbProximal = 24
    LeftThumbIntermediate = 25
    LeftThumbDistal = 26
    LeftIndexProximal = 27
    LeftIndexIntermediate = 28
    LeftIndexDistal = 29
    LeftMiddleProximal = 30
    LeftMiddleIntermediate = 31
    LeftMiddleDistal = 32
    LeftRingProximal = 33
    LeftRingIntermediate = 34
    LeftRingDistal = 35
    LeftLittleProximal = 36
    LeftLittleIntermediate = 37
    LeftLittleDistal = 38
    RightThumbProximal = 39
    RightThumbIntermediate = 40
    RightThumbDistal = 41
    RightIndexProximal = 42
    RightIndexIntermediate = 43
    RightIndexDistal = 44
    RightMiddleProximal = 45
    RightMiddleIntermediate = 46
    RightMiddleDistal = 47
    RightRingProximal = 48
    RightRingIntermediate = 49
    RightRingDistal = 50
    RightLittleProximal = 51
    RightLittleIntermediate = 52
    RightLittleDistal = 53
    UpperChest = 54


HUMAN_BONE_NAMES: tuple[str, ...] = tuple(m.name for m in HumanBone)


class Part(enum.IntEnum):
    """The three landmarkers; the value indexes per-part tuples."""

    POSE = 0
    FACE = 1
    HANDS = 2


class PartStatus(enum.IntEnum):
    """What happened to one part of one frame."""

    FOUND = 0  #: the landmarker answered and found something
    NOT_FOUND = 1  #: the landmarker answered: nobody there
    MISSING = 2  #: no answer before the deadline (late or dropped by MediaPipe)
    SKIPPED = 3  #: not run for this frame (disabled, or skipped because it could not succeed)


class Tracking(enum.IntEnum):
    """Per-part tracking state after gating; reaches every protocol."""

    LOST = 0
    PARTIAL = 1
    OK = 2


@dataclass(frozen=True, slots=True)
class PoseObservation:
    """One body from the pose landmarker.

    ``landmarks``: (33, 5) normalised x, y (image fractions), z, visibility, presence.
    ``world``: (33, 3) metres, origin at the hip midpoint, MediaPipe axes (x image-right,
    y down, z away from the camera). ``mask``: the person's segmentation, (h, w) float32 in 0..1
    over the image, downscaled to at most 128 px (only with ``[tracking] segmentation``).
    """

    landmarks: F32
    world: F32
    mask: F32 | None = None


@dataclass(frozen=True, slots=True)
class FaceObservation:
    """One face from the face landmarker.

    ``landmarks``: (478, 3) normalised x, y, z. ``blendshapes``: (52,) scores in
    :data:`MP_BLENDSHAPE_NAMES` order (filled by category name, not index).
    ``matrix``: (4, 4) float64 facial transformation matrix, row-major, centimetres, MediaPipe's
    right-handed metric space with the camera looking down -Z.
    """

    landmarks: F32
    blendshapes: F32
    matrix: F64


@dataclass(frozen=True, slots=True)
class HandObservation:
    """One hand: ``label`` is ``"Left"`` or ``"Right"`` (anatomical, see module policy)."""

    label: str
    score: float
    landmarks: F32  #: (21, 3) normalised
    world: F32  #: (21, 3) metres, origin near the hand's centre


#: One landmarker's answer for one frame: a pose, a face, the hands, or None (nobody found).
PartPayload = PoseObservation | FaceObservation | tuple[HandObservation, ...] | None


@dataclass(frozen=True, slots=True)
class TrackedFrame:
    """Everything MediaPipe found in one captured image.

    ``t_ms`` is the monotonic capture timestamp in milliseconds, strictly increasing within a run.
    ``status`` holds one :class:`PartStatus` per :class:`Part`. ``result_ms`` holds, per part, the
    monotonic time in ms at which its result reached the assembler (``None`` if it never did); the
    difference to ``t_ms`` is that part's latency.
    """

    index: int
    t_ms: int
    pose: PoseObservation | None = None
    face: FaceObservation | None = None
    hands: tuple[HandObservation, ...] = ()
    status: tuple[PartStatus, PartStatus, PartStatus] = (
        PartStatus.SKIPPED,
        PartStatus.SKIPPED,
        PartStatus.SKIPPED,
    )
    result_ms: tuple[float | None, float | None, float | None] = (None, None, None)

    @property
    def complete(self) -> bool:
        """True when no part is MISSING (every landmarker that ran answered in time)."""
        return PartStatus.MISSING not in self.status

    def hand(self, label: str) -> HandObservation | None:
        """The hand with this label, if any."""
        for h in self.hands:
            if h.label == label:
                return h
        return None


class Gesture(enum.IntEnum):
    """MediaPipe Gesture Recognizer's canned classes; the value is the canned index."""

    None_ = 0
    Closed_Fist = 1
    Open_Palm = 2
    Pointing_Up = 3
    Thumb_Down = 4
    Thumb_Up = 5
    Victory = 6
    ILoveYou = 7

    @property
    def label(self) -> str:
        """MediaPipe's category name (``"None"`` for :attr:`None_`)."""
        return "None" if self is Gesture.None_ else self.name


@dataclass(frozen=True, slots=True)
class GestureEvent:
    """A reported gesture of one hand: what reaches the outputs."""

    label: Gesture
    score: float  #: the classifier's score in the latest frame that showed it (0..1)
    hand: str  #: "Left" | "Right" (anatomical, the frames' policy)
    since_ms: float  #: capture time (ms) at which this gesture was first seen in its run


@dataclass(frozen=True, slots=True)
class TargetBones:
    """The frame's bones for one target rig (``[retarget] bone_map``), ready for the WebSocket and
    generic OSC outputs: the rig's bone names, rotations in the rig's convention and axes
    (mocap_bridge.solve.retarget; each map documents its own), which of them the solver drives,
    and the hips position in the rig's axes and units."""

    rig: str
    names: tuple[str, ...]
    rotations: F64
    valid: npt.NDArray[np.bool_]
    hips_position: F64


@dataclass(frozen=True, slots=True)
class RigFrame:
    """Solved, filtered rig values for one frame; the only input of encoders.

    Conventions (see ``mocap_bridge/coords.py`` and docs/coordinates.md):

    * Internal frame: right-handed, metres, +Y up, +Z toward the subject's front (toward the
      camera), +X toward the subject's left. Quaternions are (x, y, z, w).
    * ``blendshapes``: (52,) in :class:`ARKit` order, 0..1, calibrated; neutral when the face is
      lost (never stale).
    * ``head_rotation``: (4,) quaternion relative to the calibrated neutral; ``head_position``:
      (3,) metres relative to neutral. ``head_ypr``: (3,) radians in the Live Link Face convention
      (docs/livelink.md, head and eyes): yaw > 0 turning to the subject's left, pitch > 0 looking down,
      roll > 0 right ear toward right shoulder.
    * ``eyes``: (2, 2) radians [[left yaw, left pitch], [right yaw, right pitch]]; yaw > 0 gaze
      toward the subject's right, pitch > 0 looking down (docs/livelink.md, head and eyes).
    * ``bone_rotations``: (55, 4) local rotations relative to the T-pose rest, in
      :class:`HumanBone` order; ``bone_positions``: (55, 3) local rest offsets (never all zero);
      ``bone_valid``: (55,) bool, bones the solver drives this frame. ``hips_position``: (3,).
    * ``face_state``, ``body_state``, ``hand_states`` (left, right): tracking after gating.
    * ``tracked``: the filtered TrackedFrame the rig came from (landmarks for WebSocket/OSC).
    """

    index: int
    t_ms: int
    tracked: TrackedFrame
    blendshapes: F32
    head_rotation: F64
    head_position: F64
    head_ypr: F64
    eyes: F64
    bone_rotations: F64
    bone_positions: F64
    bone_valid: npt.NDArray[np.bool_]
    hips_position: F64
    face_state: Tracking = Tracking.LOST
    body_state: Tracking = Tracking.LOST
    hand_states: tuple[Tracking, Tracking] = (Tracking.LOST, Tracking.LOST)
    extras: dict[str, float] = field(default_factory=dict)
    #: the bones renamed and converted for ``[retarget] bone_map`` (None: not computed)
    target: TargetBones | None = None
    #: the gesture each hand (left, right) holds, once it has held long enough (solve/gestures.py)
    gestures: tuple[GestureEvent | None, GestureEvent | None] = (None, None)

    @property
    def overall_state(self) -> Tracking:
        """OK when face and body are OK, LOST when every part is lost, else PARTIAL."""
        states = (self.face_state, self.body_state, *self.hand_states)
        if all(s is Tracking.LOST for s in states):
            return Tracking.LOST
        if self.face_state is Tracking.OK and self.body_state is Tracking.OK:
            return Tracking.OK
        return Tracking.PARTIAL
