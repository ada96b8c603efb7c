"""WebSocket JSON stream ``mocap_bridge.frame/1``: pure encoder (docs/websocket.md).

Messages are UTF-8 JSON text, validated in tests against ``frame.schema.json`` (shipped next to
this module, :func:`schema`). Two kinds, told apart by ``"type"``:

* ``hello``: sent once, first, on connect: schema id, stream rate, the client's channels, the
  channels available, blendshape and bone name lists, coordinate conventions.
* ``frame``: one per frame: ``index``, ``t_capture_ms`` (monotonic ms, as in RigFrame),
  ``t_capture_unix_ms`` and ``t_send_unix_ms`` (epoch ms), overall ``state``, then one object per
  subscribed channel (``face``, ``head``, ``pose``, ``hands``, ``rig``), each with its tracking
  ``state`` (``"lost"|"partial"|"ok"``) and ``present`` (MediaPipe saw it in this frame), plus
  whatever is known.

Theory of operation: per frame, :meth:`WsJsonEncoder.frame` returns a :class:`FramePayload` that
serialises each channel's object at most once (orjson; numpy arrays directly with
``OPT_SERIALIZE_NUMPY``, non-contiguous ones through ``default``) and then, per distinct channel
set, joins the header and the pre-serialised parts with ``bytes.join``. The ``rig`` object is not
built as a per-bone dict: its quaternion rows are serialised as one array and spliced into a
template cached per set of valid bones (:class:`_RigLayout`). The bytes are exactly those of
``orjson.dumps`` of the equivalent dict (tests compare the two for every channel set). So the cost
is once per frame per channel plus one small join per channel set, never per client. No clock is
read here: the send time is passed in.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from ..coords import POSITION_TO_UNITY, QUATERNION_TO_UNITY
from ..errors import ProtocolError
from ..frames import ARKIT_NAMES, HUMAN_BONE_NAMES, GestureEvent, HandObservation, RigFrame, Tracking
from ._state import overall_state
from .mask import encode_mask

__all__ = [
    "CHANNELS",
    "SCHEMA_ID",
    "FramePayload",
    "WsJsonEncoder",
    "parse_channels",
    "quaternion_matrix",
    "schema",
]

#: ``"schema"`` value of every message; bump the ``/1`` on incompatible changes.
SCHEMA_ID = "mocap_bridge.frame/1"
#: Channels a client may pick with ``?channels=``; all of them by default.
CHANNELS: tuple[str, ...] = ("face", "head", "pose", "hands", "rig", "gestures", "mask")

_OPTS = orjson.OPT_SERIALIZE_NUMPY
_STATE = {Tracking.LOST: "lost", Tracking.PARTIAL: "partial", Tracking.OK: "ok"}
_STATE_BYTES = {k: v.encode() for k, v in _STATE.items()}
F64 = npt.NDArray[np.float64]


def parse_channels(text: str | None) -> frozenset[str]:
    """``"face,pose"`` → ``frozenset({"face", "pose"})``; empty/None → all channels.

    Raises :class:`ProtocolError` naming an unknown channel.
    """
    if text is None or not text.strip():
        return frozenset(CHANNELS)
    out = set()
    for raw in text.split(","):
        name = raw.strip().lower()
        if not name:
            continue
        if name not in CHANNELS:
            raise ProtocolError(f"unknown channel {name!r} (known: {', '.join(CHANNELS)})")
        out.add(name)
    return frozenset(out) if out else frozenset(CHANNELS)


def quaternion_matrix(q: npt.ArrayLike, t: npt.ArrayLike) -> F64:
    """4×4 row-major homogeneous matrix from quaternion (x, y, z, w) and translation."""
    q64 = np.asarray(q, dtype=np.float64).tolist()
    t64 = np.asarray(t, dtype=np.float64).tolist()
    return np.array(_matrix_rows(q64, t64))


def _matrix_rows(q: list[float], t: list[float]) -> list[list[float]]:
    """:func:`quaternion_matrix` as nested Python floats (what the encoder serialises)."""
    x, y, z, w = q
    tx, ty, tz = t
    n = x * x + y * y + z * z + w * w
    s = 2.0 / n if n > 0 else 0.0
    return [
        [1 - s * (y * y + z * z), s * (x * y - z * w), s * (x * z + y * w), tx],
        [s * (x * y + z * w), 1 - s * (x * x + z * z), s * (y * z - x * w), ty],
        [s * (x * z - y * w), s * (y * z + x * w), 1 - s * (x * x + y * y), tz],
        [0.0, 0.0, 0.0, 1.0],
    ]


def _contiguous(obj: Any) -> Any:
    """orjson ``default``: orjson writes C-contiguous arrays itself and hands us the others."""
    if isinstance(obj, np.ndarray):
        return np.ascontiguousarray(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def _dumps(obj: Any) -> bytes:
    return orjson.dumps(obj, default=_contiguous, option=_OPTS)


def _hand(state: Tracking, hand: HandObservation | None) -> dict[str, Any]:
    if hand is None:
        return {"state": _STATE[state], "present": False}
    return {
        "state": _STATE[state],
        "present": True,
        "label": hand.label,
        "score": float(hand.score),
        "landmarks": hand.landmarks,
        "world": hand.world,
    }


_UNITY_RIG = "Unity: left-handed, metres, +Y up, +Z forward, +X right; local rotations vs T-pose"

#: ``,"key":`` prefixes of each channel inside a frame object (orjson writes no spaces).
_KEYS = {ch: b',"' + ch.encode() + b'":' for ch in CHANNELS}
_POS_K = POSITION_TO_UNITY.tolist()


class _RigLayout:
    """The ``rig`` object for one set of valid bones, as a ``bytes`` %-template.

    orjson writes the (n, 4) quaternion array as ``[[a,b,c,d],[e,f,g,h]]``; split at ``[`` that
    is ``["", "", "a,b,c,d],", "e,f,g,h]]"]``. The template holds ``"Name":[`` before each row,
    so, with the last row's second ``]`` dropped, the result is byte for byte what ``orjson.dumps``
    of the ``{name: [x, y, z, w]}`` dict gives, without building it: one multiply, one orjson
    call, one ``split`` and one ``%`` per frame.
    """

    __slots__ = ("index", "template")

    def __init__(self, valid: npt.NDArray[np.intp], bone_names: Sequence[str]) -> None:
        names = [bone_names[b].encode() for b in valid.tolist()]
        head = b'{"state":"%b","present":%b,"hips_position":%b,"bones":{'
        bones = b"%b%b" + b"".join(b'"' + n + b'":[%b' for n in names) if names else b""
        self.template = head + bones + b"}}"
        self.index = None if len(names) == len(bone_names) else valid


class FramePayload:
    """One frame's messages, serialised lazily: each channel once, each channel set once."""

    __slots__ = ("_encoder", "_frame", "_head", "_header", "_messages", "_parts")

    def __init__(self, frame: RigFrame, header: dict[str, Any], encoder: WsJsonEncoder) -> None:
        self._frame = frame
        self._header = header
        self._encoder = encoder
        self._head: bytes | None = None
        self._parts: dict[str, bytes] = {}
        self._messages: dict[frozenset[str], bytes] = {}

    def _part(self, channel: str) -> bytes:
        part = self._parts.get(channel)
        if part is None:
            build = _BUILDERS.get(channel)
            if build is None:
                raise ProtocolError(f"unknown channel {channel!r}")
            try:
                part = build(self)
            except (orjson.JSONEncodeError, TypeError, ValueError) as exc:
                raise ProtocolError(
                    f"frame {self._frame.index}: cannot encode JSON channel {channel!r}"
                ) from exc
            self._parts[channel] = part
        return part

    def _face(self) -> bytes:
        f = self._frame
        return _dumps(
            {
                "state": _STATE[f.face_state],
                "present": f.tracked.face is not None,
                "blendshapes": dict(zip(ARKIT_NAMES, f.blendshapes.tolist(), strict=True)),
                "eyes": f.eyes,
            }
        )

    def _head_part(self) -> bytes:
        f = self._frame
        q = f.head_rotation.tolist()
        t = f.head_position.tolist()
        return orjson.dumps(
            {
                "state": _STATE[f.face_state],
                "present": f.tracked.face is not None,
                "matrix": _matrix_rows(q, t),
                "quaternion": q,
                "position": t,
                "ypr": f.head_ypr.tolist(),
            }
        )

    def _pose(self) -> bytes:
        f = self._frame
        pose = f.tracked.pose
        if pose is None:
            return orjson.dumps({"state": _STATE[f.body_state], "present": False})
        return _dumps(
            {
                "state": _STATE[f.body_state],
                "present": True,
                "landmarks": pose.landmarks,
                "world": pose.world,
            }
        )

    def _hands(self) -> bytes:
        f = self._frame
        tracked = f.tracked
        left, right = f.hand_states
        return _dumps(
            {"left": _hand(left, tracked.hand("Left")), "right": _hand(right, tracked.hand("Right"))}
        )

    def _gestures(self) -> bytes:
        def one(ev: GestureEvent | None) -> dict[str, Any] | None:
            if ev is None:
                return None
            return {
                "label": ev.label.label,
                "index": int(ev.label),
                "score": ev.score,
                "since_ms": ev.since_ms,
            }

        left, right = self._frame.gestures
        return orjson.dumps({"left": one(left), "right": one(right)})

    def _mask(self) -> bytes:
        """The person mask, at most ``mask_fps`` a second (``present`` false between)."""
        f = self._frame
        pose = f.tracked.pose
        mask = pose.mask if pose is not None else None
        if mask is None or not self._encoder._mask_due(f.t_ms):
            return b'{"present":false}'
        return orjson.dumps({"present": True, **encode_mask(mask, self._encoder.mask_encoding)})

    def _rig(self) -> bytes:
        f = self._frame
        target = f.target
        state = _STATE_BYTES[f.body_state]
        if target is not None:  # renamed and converted for the configured rig (solve/retarget.py)
            layout = self._encoder._rig_layout(target.valid)
            hips = orjson.dumps(target.hips_position.tolist())
            rot = target.rotations
        else:  # the Unity humanoid: (x, -y, -z, w)
            layout = self._encoder._rig_layout(f.bone_valid)
            hx, hy, hz = f.hips_position.tolist()
            kx, ky, kz = _POS_K
            hips = orjson.dumps([hx * kx, hy * ky, hz * kz])
            rot = f.bone_rotations * QUATERNION_TO_UNITY
        if layout.index is not None:
            if not len(layout.index):
                return layout.template % (state, b"false", hips)
            rot = rot.take(layout.index, 0)
        pieces = _dumps(rot).split(b"[")
        pieces[-1] = pieces[-1][:-1]
        return layout.template % (state, b"true", hips, *pieces)

    def message(self, channels: frozenset[str]) -> bytes:
        """The JSON text (UTF-8 bytes) for a client subscribed to ``channels``."""
        msg = self._messages.get(channels)
        if msg is None:
            head = self._head
            if head is None:
                try:
                    head = self._head = orjson.dumps(self._header)[:-1]  # without the "}"
                except orjson.JSONEncodeError as exc:
                    raise ProtocolError(f"frame {self._frame.index}: cannot encode JSON") from exc
            out = [head]
            for ch in CHANNELS:
                if ch in channels:
                    out += (_KEYS[ch], self._part(ch))
            out.append(b"}")
            msg = b"".join(out)
            self._messages[channels] = msg
        return msg


_BUILDERS: dict[str, Callable[[FramePayload], bytes]] = {
    "face": FramePayload._face,
    "head": FramePayload._head_part,
    "pose": FramePayload._pose,
    "hands": FramePayload._hands,
    "rig": FramePayload._rig,
    "gestures": FramePayload._gestures,
    "mask": FramePayload._mask,
}


class WsJsonEncoder:
    """Build ``hello`` and ``frame`` messages. ``wall_clock_offset_ms`` = epoch ms − monotonic ms."""

    __slots__ = (
        "_mask_next_ms",
        "_mask_period_ms",
        "_rig_layouts",
        "bone_names",
        "mask_encoding",
        "rig",
        "rig_convention",
        "stream_rate_hz",
        "wall_clock_offset_ms",
    )

    def __init__(
        self,
        *,
        wall_clock_offset_ms: float,
        stream_rate_hz: float,
        rig: str = "unity",
        bone_names: Sequence[str] = HUMAN_BONE_NAMES,
        rig_convention: str = _UNITY_RIG,
        mask_fps: float = 5.0,
        mask_encoding: str = "rle",
    ) -> None:
        """``rig``, ``bone_names`` and ``rig_convention`` describe the bones of the ``rig`` channel:
        the configured bone map's (RigFrame.target) or, by default, the Unity humanoid's."""
        self.wall_clock_offset_ms = wall_clock_offset_ms
        self.stream_rate_hz = stream_rate_hz
        self.rig = rig
        self.bone_names = tuple(bone_names)
        self.rig_convention = rig_convention
        self._rig_layouts: dict[bytes, _RigLayout] = {}
        self.mask_encoding = mask_encoding
        self._mask_period_ms = 1000.0 / mask_fps
        self._mask_next_ms = -float("inf")

    def _mask_due(self, t_ms: float) -> bool:
        """True at most ``mask_fps`` times a second of capture time (one frame's payload asks once)."""
        if t_ms < self._mask_next_ms:
            return False
        self._mask_next_ms = t_ms + self._mask_period_ms
        return True

    def _rig_layout(self, bone_valid: npt.NDArray[np.bool_]) -> _RigLayout:
        """The ``rig`` template for this set of valid bones (cached, bounded)."""
        key = np.asarray(bone_valid, dtype=np.bool_).tobytes()
        layout = self._rig_layouts.get(key)
        if layout is None:
            layout = _RigLayout(np.flatnonzero(np.frombuffer(key, dtype=np.bool_)), self.bone_names)
            if len(self._rig_layouts) >= 64:
                self._rig_layouts.clear()
            self._rig_layouts[key] = layout
        return layout

    def hello(self, channels: Iterable[str]) -> bytes:
        """The first message a client receives."""
        chosen = set(channels)
        return orjson.dumps(
            {
                "schema": SCHEMA_ID,
                "type": "hello",
                "stream_rate_hz": float(self.stream_rate_hz),
                "channels": [c for c in CHANNELS if c in chosen],
                "available_channels": list(CHANNELS),
                "blendshape_names": list(ARKIT_NAMES),
                "rig": self.rig,
                "bone_names": list(self.bone_names),
                "coordinates": {
                    "head": "internal: right-handed, metres, +Y up, +Z subject's front, "
                    "+X subject's left; quaternions x, y, z, w",
                    "rig": self.rig_convention,
                    "pose": "MediaPipe: landmarks normalised image x, y (down), z; "
                    "world metres, hip-centred, x right, y down, z away from camera",
                    "angles": "radians",
                },
            }
        )

    def frame(self, frame: RigFrame, t_send_unix_ms: float) -> FramePayload:
        """A lazily serialised payload for ``frame`` sent at ``t_send_unix_ms`` (epoch ms)."""
        header = {
            "schema": SCHEMA_ID,
            "type": "frame",
            "index": frame.index,
            "t_capture_ms": frame.t_ms,
            "t_capture_unix_ms": frame.t_ms + self.wall_clock_offset_ms,
            "t_send_unix_ms": t_send_unix_ms,
            "state": _STATE[overall_state(frame)],
        }
        return FramePayload(frame, header, self)


@cache
def schema() -> dict[str, Any]:
    """The shipped JSON Schema (``frame.schema.json``) for every message of the stream."""
    text = resources.files("mocap_bridge.protocols").joinpath("frame.schema.json").read_text("utf-8")
    doc: dict[str, Any] = json.loads(text)
    return doc
