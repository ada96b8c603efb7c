"""Live Link Face (ARKit) UDP packet, version 6: pure encoder and strict decoder.

Byte layout (docs/livelink.md), all big-endian::

    uint8   version = 6
    int32   N, N bytes  device id (UTF-8, no NUL)          docs/livelink.md: stable for the process
    int32   M, M bytes  subject name (UTF-8, no NUL)
    int32   frame number     ┐
    float32 subframe [0, 1)  │ FQualifiedFrameTime: frames since local midnight at rate num/den
    int32   rate numerator   │ (docs/livelink.md)
    int32   rate denominator ┘ must be non-zero
    uint8   count = 61
    61 × float32 values in EARFaceBlendShape order (docs/livelink.md)

Total ``270 + N + M`` bytes. Values 0–51 are :attr:`RigFrame.blendshapes` as-is (already in
:class:`~mocap_bridge.frames.ARKit` order = packet order; tongueOut is whatever the solver says,
i.e. 0). Values 52–54 are ``RigFrame.head_ypr`` and 55–60 left/right eye yaw, pitch, roll from
``RigFrame.eyes`` (roll is always 0), each multiplied by ``scale × sign`` (docs/livelink.md): the
default scale 1.0 sends radians like the iPhone app; ``1/π`` gives UE's engine-path ``deg/180`` semantics.

The encoder reads no clock: the caller passes ``t_since_midnight_s`` (see
:class:`LiveLinkEncoder.encode`). The whole packet is one precompiled :class:`struct.Struct`.
"""

from __future__ import annotations

import math
import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..errors import ProtocolError
from ..frames import RigFrame

__all__ = [
    "DEVICE_ID_NAMESPACE",
    "LLF_CURVE_NAMES",
    "LLF_VALUE_COUNT",
    "LLF_VERSION",
    "LiveLinkEncoder",
    "LiveLinkPacket",
    "decode_livelink",
    "device_id_from_name",
    "frame_rate_fraction",
]

#: ``BLEND_SHAPE_PACKET_VER`` (docs/livelink.md).
LLF_VERSION = 6
#: ``EARFaceBlendShape::MAX`` (docs/livelink.md).
LLF_VALUE_COUNT = 61
#: Live Link curve names in packet order (docs/livelink.md).
LLF_CURVE_NAMES: tuple[str, ...] = (
    "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft",
    "EyeSquintLeft", "EyeWideLeft", "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight",
    "EyeLookOutRight", "EyeLookUpRight", "EyeSquintRight", "EyeWideRight", "JawForward",
    "JawLeft", "JawRight", "JawOpen", "MouthClose", "MouthFunnel", "MouthPucker", "MouthLeft",
    "MouthRight", "MouthSmileLeft", "MouthSmileRight", "MouthFrownLeft", "MouthFrownRight",
    "MouthDimpleLeft", "MouthDimpleRight", "MouthStretchLeft", "MouthStretchRight",
    "MouthRollLower", "MouthRollUpper", "MouthShrugLower", "MouthShrugUpper", "MouthPressLeft",
    "MouthPressRight", "MouthLowerDownLeft", "MouthLowerDownRight", "MouthUpperUpLeft",
    "MouthUpperUpRight", "BrowDownLeft", "BrowDownRight", "BrowInnerUp", "BrowOuterUpLeft",
    "BrowOuterUpRight", "CheekPuff", "CheekSquintLeft", "CheekSquintRight", "NoseSneerLeft",
    "NoseSneerRight", "TongueOut", "HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw",
    "LeftEyePitch", "LeftEyeRoll", "RightEyeYaw", "RightEyePitch", "RightEyeRoll",
)  # fmt: skip

#: Keep ids short: UE's receive buffer is 1286 bytes on Windows (docs/livelink.md).
_MAX_ID_BYTES = 256
_TAIL = struct.Struct(f">ifiiB{LLF_VALUE_COUNT}f")
_LARGEST_SUBFRAME = float(np.nextafter(np.float32(1.0), np.float32(0.0)))


def frame_rate_fraction(rate: float) -> tuple[int, int]:
    """``FFrameRate`` numerator/denominator for a rate in fps (denominator never 0; docs/livelink.md).

    Integers give ``(rate, 1)``; others the closest fraction with denominator ≤ 1001
    (29.97 → 2997/100, 30000/1001 → 30000/1001).
    """
    if not math.isfinite(rate) or rate <= 0:
        raise ProtocolError(f"Live Link frame rate must be a positive number, got {rate!r}")
    frac = Fraction(rate).limit_denominator(1001)
    if frac.numerator <= 0 or frac.numerator > 2**31 - 1:
        raise ProtocolError(f"Live Link frame rate {rate!r} cannot be represented")
    return frac.numerator, frac.denominator


def _check_id(kind: str, text: str) -> bytes:
    raw = text.encode("utf-8")
    if not raw:
        raise ProtocolError(f"Live Link {kind} must not be empty")
    if len(raw) > _MAX_ID_BYTES:
        raise ProtocolError(
            f"Live Link {kind} is {len(raw)} UTF-8 bytes; at most {_MAX_ID_BYTES} (docs/livelink.md)"
        )
    return raw


def _signs(kind: str, values: Sequence[float]) -> tuple[float, float, float]:
    if len(values) not in (2, 3):
        raise ProtocolError(f"Live Link {kind} needs 3 numbers (yaw, pitch, roll)")
    out = tuple(float(v) for v in values)
    if not all(math.isfinite(v) for v in out):
        raise ProtocolError(f"Live Link {kind} must be finite numbers")
    return (out[0], out[1], out[2] if len(out) == 3 else 1.0)


#: Namespace of the device ids derived from a user's name (uuid5; any fixed UUID would do).
DEVICE_ID_NAMESPACE = uuid.UUID("6f1c6a52-2f0e-5a8e-9a55-6d6f63617062")


def device_id_from_name(name: str) -> str:
    """The 36-character uppercase UUID that stands for ``name``, the same on every run and machine.

    Receivers (Unreal's Live Link source, third-party decoders) expect the iPhone app's UUID form,
    so a name such as ``"studio-a"`` is never sent as it is: it is hashed into a UUID (RFC 4122 v5).
    A value that already is a UUID is sent as it is (upper-cased).
    """
    try:
        return str(uuid.UUID(name)).upper()
    except ValueError:
        return str(uuid.uuid5(DEVICE_ID_NAMESPACE, name)).upper()


class LiveLinkEncoder:
    """Encode :class:`RigFrame`\\ s into Live Link Face v6 packets for one (device id, subject).

    ``head_scale`` multiplies head and eye angles (radians in ``RigFrame``); ``head_sign`` and
    ``eye_sign`` are per-axis (yaw, pitch, roll) factors, normally ±1 (docs/livelink.md, head and eyes).
    """

    __slots__ = ("_den", "_eye_k", "_head_k", "_num", "_prefix", "_rate", "_struct")

    def __init__(
        self,
        *,
        device_id: str,
        subject: str,
        rate: float = 60.0,
        head_scale: float = 1.0,
        head_sign: Sequence[float] = (1.0, 1.0, 1.0),
        eye_sign: Sequence[float] = (1.0, 1.0, 1.0),
    ) -> None:
        dev = _check_id("device id", device_id)
        subj = _check_id("subject", subject)
        if not math.isfinite(head_scale):
            raise ProtocolError(f"Live Link head scale must be finite, got {head_scale!r}")
        self._num, self._den = frame_rate_fraction(rate)
        self._rate = self._num / self._den
        # One Struct for the whole packet; the constant header is bound once (docs/livelink.md).
        self._struct = struct.Struct(f">Bi{len(dev)}si{len(subj)}s" + _TAIL.format[1:])
        self._prefix = (LLF_VERSION, len(dev), dev, len(subj), subj)
        hs = _signs("head_sign", head_sign)
        es = _signs("eye_sign", eye_sign)
        self._head_k = (hs[0] * head_scale, hs[1] * head_scale, hs[2] * head_scale)
        self._eye_k = (es[0] * head_scale, es[1] * head_scale)

    @property
    def rate(self) -> tuple[int, int]:
        """The ``FFrameRate`` (numerator, denominator) written in every packet."""
        return self._num, self._den

    @property
    def size(self) -> int:
        """Bytes per packet (``270 + N + M``, docs/livelink.md)."""
        return self._struct.size

    def frame_time(self, t_since_midnight_s: float) -> tuple[int, float]:
        """(frame number, subframe) for a time of day in seconds (docs/livelink.md)."""
        x = (t_since_midnight_s % 86400.0) * self._rate
        frame = math.floor(x)
        sub = min(x - frame, _LARGEST_SUBFRAME)  # float32 must stay < 1
        return frame, sub

    def values(self, frame: RigFrame) -> list[float]:
        """The 61 packet values for ``frame``, in packet order (docs/livelink.md)."""
        bs: list[float] = frame.blendshapes.tolist()
        if len(bs) != 52:
            raise ProtocolError(f"frame {frame.index}: {len(bs)} blendshapes, expected 52")
        hy, hp, hr = self._head_k
        ey, ep = self._eye_k
        y, p, r = frame.head_ypr.tolist()
        (ly, lp), (ry, rp) = frame.eyes.tolist()
        bs += (y * hy, p * hp, r * hr, ly * ey, lp * ep, 0.0, ry * ey, rp * ep, 0.0)
        return bs

    def encode(self, frame: RigFrame, t_since_midnight_s: float) -> bytes:
        """One packet for ``frame``; ``t_since_midnight_s`` is its capture time of day (local).

        Raises :class:`ProtocolError` for non-finite values (UE would propagate NaN into the rig).
        """
        v = self.values(frame)
        if not math.isfinite(sum(v)):
            raise ProtocolError(f"frame {frame.index}: non-finite Live Link value")
        fn, sub = self.frame_time(t_since_midnight_s)
        try:
            return self._struct.pack(*self._prefix, fn, sub, self._num, self._den, LLF_VALUE_COUNT, *v)
        except (struct.error, OverflowError) as exc:
            raise ProtocolError(f"frame {frame.index}: cannot pack Live Link packet") from exc


@dataclass(frozen=True, slots=True)
class LiveLinkPacket:
    """A decoded Live Link Face v6 packet."""

    device_id: str
    subject: str
    frame: int
    subframe: float
    rate_numerator: int
    rate_denominator: int
    values: tuple[float, ...]  #: 61 values in packet order (empty for a "no face" packet)

    def curve(self, name: str) -> float:
        """Value of a curve by its Live Link name (e.g. ``"JawOpen"``)."""
        return self.values[LLF_CURVE_NAMES.index(name)]


def decode_livelink(data: bytes) -> LiveLinkPacket:
    """Strictly decode a v6 packet (UE's acceptance rules, docs/livelink.md); errors raise ProtocolError.

    A 74-byte style "no face" packet (ids and frame time, no count/values) decodes with empty
    ``values``.
    """
    try:
        if data[0] != LLF_VERSION:
            raise ProtocolError(f"Live Link packet version {data[0]}, expected {LLF_VERSION}")
        pos = 1
        ids: list[str] = []
        for _ in range(2):
            (n,) = struct.unpack_from(">i", data, pos)
            if n < 0 or pos + 4 + n > len(data):
                raise ProtocolError(f"bad Live Link string length {n} at offset {pos}")
            ids.append(data[pos + 4 : pos + 4 + n].decode("utf-8"))
            pos += 4 + n
        fn, sub, num, den = struct.unpack_from(">ifii", data, pos)
        pos += 16
        if den == 0:
            raise ProtocolError("Live Link frame rate denominator is 0")
        if pos == len(data):
            return LiveLinkPacket(ids[0], ids[1], fn, sub, num, den, ())
        count = data[pos]
        if count != LLF_VALUE_COUNT:
            raise ProtocolError(f"Live Link value count {count}, expected {LLF_VALUE_COUNT}")
        pos += 1
        if len(data) - pos != 4 * LLF_VALUE_COUNT:
            raise ProtocolError(f"Live Link packet has {len(data) - pos} value bytes, expected {4 * count}")
        values = struct.unpack_from(f">{LLF_VALUE_COUNT}f", data, pos)
    except (IndexError, struct.error, UnicodeDecodeError) as exc:
        raise ProtocolError(f"malformed Live Link packet of {len(data)} bytes") from exc
    return LiveLinkPacket(ids[0], ids[1], fn, sub, num, den, values)
