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
serialises each channel's object at most once (orjson, numpy arrays directly with
``OPT_SERIALIZE_NUMPY``) and then, per distinct channel set, joins the pre-serialised parts into
one message with :class:`orjson.Fragment`. So the cost is once per frame per channel plus one
small join per channel set, never per client. No clock is read here: the send time is passed in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from ..errors import ProtocolError
from ..frames import ARKIT_NAMES, HUMAN_BONE_NAMES, HandObservation, RigFrame, Tracking
from .vmc import POSITION_TO_UNITY, QUATERNION_TO_UNITY

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
CHANNELS: tuple[str, ...] = ("face", "head", "pose", "hands", "rig")

_OPTS = orjson.OPT_SERIALIZE_NUMPY
_STATE = {Tracking.LOST: "lost", Tracking.PARTIAL: "partial", Tracking.OK: "ok"}
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
    x, y, z, w = (float(v) for v in np.asarray(q, dtype=np.float64))
    n = x * x + y * y + z * z + w * w
    s = 2.0 / n if n > 0 else 0.0
    m = np.array(
        [
            [1 - s * (y * y + z * z), s * (x * y - z * w), s * (x * z + y * w), 0.0],
            [s * (x * y + z * w), 1 - s * (x * x + z * z), s * (y * z - x * w), 0.0],
            [s * (x * z - y * w), s * (y * z + x * w), 1 - s * (x * x + y * y), 0.0],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )
    m[:3, 3] = np.asarray(t, dtype=np.float64)
    return m


def _c(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
    return np.ascontiguousarray(a)


def _hand(state: Tracking, hand: HandObservation | None) -> dict[str, Any]:
    if hand is None:
        return {"state": _STATE[state], "present": False}
    return {
        "state": _STATE[state],
        "present": True,
        "label": hand.label,
        "score": float(hand.score),
        "landmarks": _c(hand.landmarks),
        "world": _c(hand.world),
    }


class FramePayload:
    """One frame's messages, serialised lazily: each channel once, each channel set once."""

    __slots__ = ("_frame", "_header", "_messages", "_parts")

    def __init__(self, frame: RigFrame, header: dict[str, Any]) -> None:
        self._frame = frame
        self._header = header
        self._parts: dict[str, orjson.Fragment] = {}
        self._messages: dict[frozenset[str], bytes] = {}

    def _part(self, channel: str) -> orjson.Fragment:
        frag = self._parts.get(channel)
        if frag is None:
            frag = orjson.Fragment(orjson.dumps(self._build(channel), option=_OPTS))
            self._parts[channel] = frag
        return frag

    def _build(self, channel: str) -> dict[str, Any]:
        f = self._frame
        tracked = f.tracked
        if channel == "face":
            return {
                "state": _STATE[f.face_state],
                "present": tracked.face is not None,
                "blendshapes": dict(zip(ARKIT_NAMES, f.blendshapes.tolist(), strict=True)),
                "eyes": _c(f.eyes),
            }
        if channel == "head":
            return {
                "state": _STATE[f.face_state],
                "present": tracked.face is not None,
                "matrix": quaternion_matrix(f.head_rotation, f.head_position),
                "quaternion": _c(f.head_rotation),
                "position": _c(f.head_position),
                "ypr": _c(f.head_ypr),
            }
        if channel == "pose":
            pose = tracked.pose
            out: dict[str, Any] = {"state": _STATE[f.body_state], "present": pose is not None}
            if pose is not None:
                out["landmarks"] = _c(pose.landmarks)
                out["world"] = _c(pose.world)
            return out
        if channel == "hands":
            return {
                "left": _hand(f.hand_states[0], tracked.hand("Left")),
                "right": _hand(f.hand_states[1], tracked.hand("Right")),
            }
        if channel == "rig":
            valid = np.flatnonzero(f.bone_valid).tolist()
            quats = (f.bone_rotations[valid] * QUATERNION_TO_UNITY).tolist()
            return {
                "state": _STATE[f.body_state],
                "present": bool(valid),
                "hips_position": f.hips_position * POSITION_TO_UNITY,
                "bones": {HUMAN_BONE_NAMES[b]: q for b, q in zip(valid, quats, strict=True)},
            }
        raise ProtocolError(f"unknown channel {channel!r}")

    def message(self, channels: frozenset[str]) -> bytes:
        """The JSON text (UTF-8 bytes) for a client subscribed to ``channels``."""
        msg = self._messages.get(channels)
        if msg is None:
            body = dict(self._header)
            for ch in CHANNELS:
                if ch in channels:
                    body[ch] = self._part(ch)
            try:
                msg = orjson.dumps(body, option=_OPTS)
            except orjson.JSONEncodeError as exc:
                raise ProtocolError(f"frame {self._frame.index}: cannot encode JSON") from exc
            self._messages[channels] = msg
        return msg


class WsJsonEncoder:
    """Build ``hello`` and ``frame`` messages. ``wall_clock_offset_ms`` = epoch ms − monotonic ms."""

    __slots__ = ("stream_rate_hz", "wall_clock_offset_ms")

    def __init__(self, *, wall_clock_offset_ms: float, stream_rate_hz: float) -> None:
        self.wall_clock_offset_ms = wall_clock_offset_ms
        self.stream_rate_hz = stream_rate_hz

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
                "bone_names": list(HUMAN_BONE_NAMES),
                "coordinates": {
                    "head": "internal: right-handed, metres, +Y up, +Z subject's front, "
                    "+X subject's left; quaternions x, y, z, w",
                    "rig": "Unity: left-handed, metres, +Y up, +Z forward, +X right; "
                    "local rotations vs T-pose",
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
            "state": _STATE[frame.overall_state],
        }
        return FramePayload(frame, header)


@cache
def schema() -> dict[str, Any]:
    """The shipped JSON Schema (``frame.schema.json``) for every message of the stream."""
    text = resources.files("mocap_bridge.protocols").joinpath("frame.schema.json").read_text("utf-8")
    doc: dict[str, Any] = json.loads(text)
    return doc
