"""Every setting of mocap_bridge: one frozen dataclass per TOML table, one validator.

Order (later wins, key by key within a table): ``configs/default.toml`` → ``configs/<preset>.toml``
→ the user's ``--config FILE`` → command-line flags (``cli.py`` maps each flag onto a key here).
The merge happens in :func:`load_settings` alone; :func:`settings_from_tables` then validates the
merged document against the dataclasses below, driven by each field's type:

* an unknown table or key, a wrong type, a non-finite number (TOML allows ``nan`` and ``inf``) or
  a number outside the field's range is a :class:`~mocap_bridge.errors.ConfigError` that names the
  file (or flag) that set the key and the key itself;
* ``Literal`` fields accept only their choices; ``Endpoint`` fields parse ``"HOST:PORT"``;
  One-Euro channels are inline tables whose missing fields keep the channel's default.

``configs/default.toml`` documents the same keys for users and equals these defaults (tested).
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .errors import ConfigError
from .filters.one_euro import OneEuroParams
from .resources import configs_dir, read_toml
from .transports.endpoints import Endpoint, parse_endpoint

__all__ = [
    "BodySettings",
    "CaptureSettings",
    "FaceSettings",
    "GatingSettings",
    "GesturesSettings",
    "HandsSettings",
    "HeadSettings",
    "LiveLinkSettings",
    "OscSettings",
    "PartGateSettings",
    "RemoteSettings",
    "RetargetSettings",
    "Settings",
    "SmoothingSettings",
    "TrackingSettings",
    "VmcSettings",
    "WsSettings",
    "field_docs",
    "load_settings",
    "presets",
    "settings_from_tables",
]

POSE_MODELS = ("lite", "full", "heavy")
#: An 84-byte Bone/Pos element plus the 16-byte bundle header must fit; 65507 = UDP/IPv4 maximum.
MIN_DATAGRAM, MAX_DATAGRAM = 128, 65507


def _opt(default: Any, doc: str, *, lo: float | None = None, hi: float | None = None,
         lo_open: bool = False, port_zero: bool = False) -> Any:  # fmt: skip
    """A documented field; numbers are checked against ``lo``..``hi`` (``lo_open``: lo excluded)."""
    meta = {"doc": doc, "lo": lo, "hi": hi, "lo_open": lo_open, "port_zero": port_zero}
    return field(default=default, metadata=meta)


def _euro(min_cutoff: float, beta: float, doc: str) -> Any:
    return _opt(OneEuroParams(min_cutoff, beta, 1.0), doc)


# ------------------------------------------------------------------------------------- tables
@dataclass(frozen=True, slots=True)
class CaptureSettings:
    """``[capture]``: where frames come from."""

    source: str = _opt("", "camera index, video, image, folder, 'demo' or a .jsonl[.gz] recording; "
                           "empty = camera 0, else the demo")  # fmt: skip
    mirror: bool = _opt(False, "flip the image before tracking (selfie view)")
    mode: Literal["realtime", "video"] = _opt(
        "realtime", "realtime: files paced like a camera; video: every frame, as fast as possible"
    )
    max_side: int = _opt(640, "downscale frames whose longest side exceeds this (0 = never)", lo=0, hi=16384)


@dataclass(frozen=True, slots=True)
class TrackingSettings:
    """``[tracking]``: which MediaPipe landmarkers run, and how the assembler waits for them."""

    pose: bool = _opt(True, "run the pose landmarker")
    face: bool = _opt(True, "run the face landmarker")
    hands: bool = _opt(True, "run the hand landmarker")
    pose_model: Literal["lite", "full", "heavy"] = _opt("full", "pose model size")
    pose_model_path: str = _opt("", "explicit pose .task file (no hash check); empty = the cache")
    face_model_path: str = _opt("", "explicit face .task file (no hash check); empty = the cache")
    hand_model_path: str = _opt("", "explicit hand .task file (no hash check); empty = the cache")
    num_hands: int = _opt(2, "most hands to track", lo=0, hi=2)
    adaptive_hands: bool = _opt(True, "look for only as many hands as the pose sees in view")
    segmentation: bool = _opt(False, "the pose landmarker's person mask too (the WebSocket mask channel)")
    min_pose_confidence: float = _opt(0.5, "pose detection/presence/tracking confidence", lo=0.0, hi=1.0)
    min_face_confidence: float = _opt(0.5, "face detection/presence/tracking confidence", lo=0.0, hi=1.0)
    min_hand_confidence: float = _opt(
        0.3, "hand detection/presence/tracking confidence (0.5 misses partly hidden hands)", lo=0.0, hi=1.0
    )
    deadline_ms: float = _opt(
        100.0, "how long the assembler waits for a late part after capture (ms)", lo=1.0, hi=10_000.0
    )

    @property
    def parts(self) -> tuple[bool, bool, bool]:
        """Which landmarkers run: pose, face, hands."""
        return (self.pose, self.face, self.hands and self.num_hands > 0)

    @property
    def model_paths(self) -> dict[str, Path]:
        """Explicit bundle files by registry name (``pose_<size>``, ``face``, ``hand``)."""
        paths = {}
        for name, value in ((f"pose_{self.pose_model}", self.pose_model_path),
                            ("face", self.face_model_path), ("hand", self.hand_model_path)):  # fmt: skip
            if value:
                paths[name] = Path(value).expanduser()
        return paths

    def model_names(self) -> list[str]:
        """Registry names of the bundles the enabled landmarkers need."""
        names = (f"pose_{self.pose_model}", "face", "hand")
        return [n for n, on in zip(names, self.parts, strict=True) if on]


@dataclass(frozen=True, slots=True)
class LiveLinkSettings:
    """``[livelink]``: Live Link Face v6 UDP packets for Unreal (docs/livelink.md)."""

    enabled: bool = _opt(True, "send Live Link Face")
    targets: tuple[Endpoint, ...] = _opt((Endpoint("127.0.0.1", 11111),), "HOST:PORT receivers")
    subject: str = _opt("MocapBridge", "subject name shown in Unreal's Live Link panel")
    device_id: str = _opt(
        "", "empty = a random UUID for the process; else a name the device id is derived from"
    )
    rate: float = _opt(60.0, "fps of the packet frame time", lo=0.0, hi=1000.0, lo_open=True)
    head_scale: float = _opt(1.0, "head/eye angle factor: 1.0 = radians (iPhone app)", lo=-100.0, hi=100.0)
    head_sign: tuple[float, float, float] = _opt((1.0, 1.0, 1.0), "yaw, pitch, roll factors", lo=-1.0, hi=1.0)
    eye_sign: tuple[float, float, float] = _opt(
        (1.0, 1.0, 1.0), "eye yaw, pitch, roll factors", lo=-1.0, hi=1.0
    )


@dataclass(frozen=True, slots=True)
class VmcSettings:
    """``[vmc]``: VMC protocol (Performer → Marionette) for VSeeFace, Warudo, VNyan, EVMC4U, Blender."""

    enabled: bool = _opt(True, "send VMC")
    targets: tuple[Endpoint, ...] = _opt((Endpoint("127.0.0.1", 39539),), "HOST:PORT receivers")
    max_datagram: int = _opt(1200, "largest UDP datagram (bytes)", lo=MIN_DATAGRAM, hi=MAX_DATAGRAM)
    vrm0: bool = _opt(True, "send the VRM 0.x expression presets from expression_map")
    expression_map: str = _opt("retarget_maps/arkit_to_vrm0.toml", "ARKit → VRM 0.x expression map")
    perfect_sync: bool = _opt(False, "also send the 52 ARKit blendshapes by name")
    perfect_sync_case: Literal["lowerCamel", "PascalCase"] = _opt("lowerCamel", "perfect-sync name case")
    avatar: str = _opt(
        "", "your avatar's .vrm: bone positions follow its proportions; empty = generic 1.70 m"
    )


@dataclass(frozen=True, slots=True)
class OscSettings:
    """``[osc]``: the generic ``/mocap/…`` OSC namespace (docs/osc.md)."""

    enabled: bool = _opt(False, "send generic OSC")
    targets: tuple[Endpoint, ...] = _opt((Endpoint("127.0.0.1", 9000),), "HOST:PORT receivers")
    max_datagram: int = _opt(1200, "largest UDP datagram (bytes)", lo=MIN_DATAGRAM, hi=MAX_DATAGRAM)


@dataclass(frozen=True, slots=True)
class WsSettings:
    """``[ws]``: the WebSocket JSON stream ``mocap_bridge.frame/1`` (a server; docs/websocket.md)."""

    enabled: bool = _opt(True, "run the WebSocket server")
    listen: Endpoint = _opt(Endpoint("127.0.0.1", 8765), "HOST:PORT to listen on (port 0 = any)",
                            port_zero=True)  # fmt: skip
    token: str = _opt("", "non-empty: clients must connect with ?token=...")
    max_message: int = _opt(4096, "largest message a client may send (bytes)", lo=125, hi=1 << 24)
    mask_fps: float = _opt(5.0, "segmentation masks per second on the mask channel", lo=0.1, hi=60.0)
    allowed_origins: tuple[str, ...] = _opt(
        (), 'web pages (besides the viewer) that may connect, "http://host:port"'
    )
    allow_insecure: bool = _opt(False, "allow a non-loopback listen address without a token")
    max_clients: int = _opt(64, "most clients at once (more are closed with code 1013)", lo=1, hi=10_000)
    viewer: bool = _opt(True, "serve the Live Lab viewer page on this port (--no-viewer)")
    video_fps: float = _opt(10.0, "viewer video thumbnails per second", lo=1.0, hi=30.0)
    video_width: int = _opt(320, "viewer video thumbnail width (pixels)", lo=160, hi=1280)
    mask_encoding: Literal["rle", "png"] = _opt("rle", "mask channel: run lengths, or a base64 PNG")


@dataclass(frozen=True, slots=True)
class RemoteSettings:
    """``[remote]``: Live Link Face OSC remote control (docs/takes.md); off unless a listen address is set."""

    osc_listen: str = _opt(
        "", "HOST:PORT to receive the app's OSC commands on, e.g. 127.0.0.1:8000 (--remote)"
    )
    send_target: str = _opt("", "HOST:PORT replies go to before a controller sends /OSCSetSendTarget")


@dataclass(frozen=True, slots=True)
class SmoothingSettings:
    """``[smoothing]``: One-Euro parameters per channel (docs/tuning.md).

    Normalised landmarks are scaled by the part's size (``beta`` in 1/(object sizes per second), as
    in MediaPipe); world landmarks are metres, blendshapes 0..1, rotations radians (angular speed).
    """

    enabled: bool = _opt(True, "smooth at all (--no-smoothing turns every channel off)")
    raw_derivative: bool = _opt(False, "MediaPipe's derivative of the previous raw value")
    pose_landmarks: OneEuroParams = _euro(0.05, 80.0, "pose image landmarks (MediaPipe's own)")
    pose_world: OneEuroParams = _euro(0.1, 40.0, "pose world landmarks (MediaPipe's own)")
    face_landmarks: OneEuroParams = _euro(0.05, 80.0, "face landmarks (MediaPipe's own)")
    hand_landmarks: OneEuroParams = _euro(0.05, 80.0, "hand image landmarks")
    hand_world: OneEuroParams = _euro(0.1, 40.0, "hand world landmarks")
    blendshapes: OneEuroParams = _euro(1.0, 2.0, "ARKit blendshapes")
    head_rotation: OneEuroParams = _euro(0.5, 3.0, "head rotation")
    head_position: OneEuroParams = _euro(0.5, 20.0, "head position")
    bones: OneEuroParams = _euro(3.0, 1.0, "bone rotations")


@dataclass(frozen=True, slots=True)
class GatingSettings:
    """``[gating]``: the loss policy shared by every part (hold, ease to rest, blend back in)."""

    visibility_threshold: float = _opt(
        0.5, "pose joints below this visibility are not trusted", lo=0.0, hi=1.0
    )
    presence_threshold: float = _opt(0.5, "pose joints below this presence are not trusted", lo=0.0, hi=1.0)
    hand_score_threshold: float = _opt(0.5, "hands with a lower handedness score are lost", lo=0.0, hi=1.0)
    hold_ms: float = _opt(250.0, "a lost part holds its last good value this long", lo=0.0, hi=60_000.0)
    release_ms: float = _opt(600.0, "then eases to rest over this long", lo=0.0, hi=60_000.0)
    reacquire_ms: float = _opt(150.0, "and blends back in over this long", lo=0.0, hi=60_000.0)


@dataclass(frozen=True, slots=True)
class PartGateSettings:
    """A part's own gate times (``[face]``, ``[body]``, ``[hands]``); -1 takes ``[gating]``'s."""

    hold_ms: float = _opt(
        -1.0, "hold a lost value this long (ms); -1 = [gating] hold_ms", lo=-1.0, hi=60_000.0
    )
    release_ms: float = _opt(
        -1.0, "then ease to rest over this long (ms); -1 = [gating]", lo=-1.0, hi=60_000.0
    )
    reacquire_ms: float = _opt(-1.0, "blend back in over this long (ms); -1 = [gating]", lo=-1.0, hi=60_000.0)


@dataclass(frozen=True, slots=True)
class FaceSettings(PartGateSettings):
    """``[face]``: blendshapes and eyes (docs/calibration.md)."""

    enabled: bool = _opt(True, "solve the face")
    calibration: str = _opt("", "calibration profile (TOML) from `mocap-bridge calibrate`; empty = none")
    swap_lr: bool = _opt(False, "swap Left/Right blendshapes and gaze (--swap-lr)")
    link_blinks: Literal["off", "mean", "max"] = _opt("off", "link both blinks (overrides the profile)")
    link_gaze: bool = _opt(False, "both eyes get the mean gaze")
    eye_yaw_range_deg: float = _opt(30.0, "gaze yaw at eyeLookIn/Out = 1 (degrees)", lo=0.0, hi=90.0)
    eye_pitch_range_deg: float = _opt(25.0, "gaze pitch at eyeLookUp/Down = 1 (degrees)", lo=0.0, hi=90.0)
    jaw_open_deg: float = _opt(25.0, "Jaw bone rotation at jawOpen = 1 (degrees)", lo=0.0, hi=90.0)
    blink_threshold: float = _opt(
        0.0, "eyeBlink at which the eye starts to close in the output", lo=0.0, hi=0.95
    )
    blink_full: float = _opt(1.0, "eyeBlink at which the eye is shut in the output", lo=0.05, hi=1.0)
    blink_curve: float = _opt(
        1.0, "response exponent of the blink between the two (1 = linear)", lo=0.05, hi=20.0
    )
    wink: bool = _opt(False, "with linked blinks: let one eye close alone when they differ by wink_margin")
    wink_margin: float = _opt(0.3, "blink difference that makes a wink", lo=0.0, hi=1.0)
    gaze_hold: bool = _opt(
        True, "hold the gaze while an eye is closed, so a blink is not read as looking down"
    )
    gaze_hold_blink: float = _opt(0.3, "MediaPipe eyeBlink from which the gaze is held", lo=0.01, hi=1.0)
    gaze_source: Literal["blendshapes", "iris"] = _opt(
        "blendshapes", "gaze from eyeLook* or the iris landmarks"
    )


@dataclass(frozen=True, slots=True)
class HeadSettings:
    """``[head]``: head pose from the facial transformation matrix."""

    enabled: bool = _opt(True, "solve the head")
    translation: bool = _opt(True, "send head translation relative to the neutral; false = zeros")
    neutral_distance_m: float = _opt(0.5, "without a calibration: neutral distance from the camera (m)",
                                     lo=0.05, hi=10.0)  # fmt: skip


@dataclass(frozen=True, slots=True)
class BodySettings(PartGateSettings):
    """``[body]``: body bones from the pose world landmarks."""

    enabled: bool = _opt(True, "solve the body")
    mode: Literal["full", "upper"] = _opt("full", "upper = seated: legs at rest, hips fixed")


@dataclass(frozen=True, slots=True)
class HandsSettings(PartGateSettings):
    """``[hands]``: fingers and wrists from the hand landmarker."""

    enabled: bool = _opt(True, "solve the hands")
    handedness: Literal["pose", "mediapipe"] = _opt(
        "pose", "pose: each hand goes to the nearest pose wrist; mediapipe: its label, smoothed"
    )
    border_margin: float = _opt(
        0.02, "a hand this near an image edge (fraction) is held, then eased", lo=0.0, hi=0.49
    )
    entry_frames: int = _opt(3, "frames a new hand must be seen before it drives the rig", lo=1, hi=120)


@dataclass(frozen=True, slots=True)
class GesturesSettings:
    """``[gestures]``: the eight canned hand gestures, per hand (docs/gestures.md)."""

    enabled: bool = _opt(True, "classify gestures from the hand landmarks")
    hold_ms: float = _opt(
        150.0, "a new gesture must hold this long before it is reported", lo=0.0, hi=10_000.0
    )
    dropout_ms: float = _opt(250.0, "a reported gesture survives a dropout this long", lo=0.0, hi=10_000.0)
    min_score: float = _opt(0.5, "a gesture is reported only from this score", lo=0.01, hi=1.0)
    expressions: tuple[tuple[str, str], ...] = _opt(
        (("Victory", "Joy"),), "VMC: gesture = expression clip sent at 1.0 while it holds"
    )


@dataclass(frozen=True, slots=True)
class RetargetSettings:
    """``[retarget]``: bone names for the outputs that use target names."""

    bone_map: str = _opt("unity", "a shipped map (retarget_maps/<name>.toml) or a file")
    extra_maps: tuple[str, ...] = _opt((), "your own bone maps (TOML files, validated at start)")


@dataclass(frozen=True, slots=True)
class Settings:
    """The whole configuration: one field per TOML table."""

    capture: CaptureSettings = field(default_factory=CaptureSettings)
    tracking: TrackingSettings = field(default_factory=TrackingSettings)
    livelink: LiveLinkSettings = field(default_factory=LiveLinkSettings)
    vmc: VmcSettings = field(default_factory=VmcSettings)
    osc: OscSettings = field(default_factory=OscSettings)
    ws: WsSettings = field(default_factory=WsSettings)
    remote: RemoteSettings = field(default_factory=RemoteSettings)
    smoothing: SmoothingSettings = field(default_factory=SmoothingSettings)
    gating: GatingSettings = field(default_factory=GatingSettings)
    face: FaceSettings = field(default_factory=FaceSettings)
    head: HeadSettings = field(default_factory=HeadSettings)
    body: BodySettings = field(default_factory=BodySettings)
    hands: HandsSettings = field(default_factory=HandsSettings)
    gestures: GesturesSettings = field(default_factory=GesturesSettings)
    retarget: RetargetSettings = field(default_factory=RetargetSettings)

    @property
    def upper_body(self) -> bool:
        return self.body.mode == "upper"

    def replace(self, table: str, **changes: Any) -> Settings:
        """A copy with keys of one table changed, validated like a file's."""
        return settings_from_tables({table: changes}, {}, base=self)


# ------------------------------------------------------------------------------------- validation
_TABLES: dict[str, type] = {
    f.name: typing.get_type_hints(Settings)[f.name] for f in dataclasses.fields(Settings)
}


def _number(value: Any, where: str, meta: Mapping[str, Any], *, integer: bool) -> float | int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (integer and not isinstance(value, int))
    ):
        raise ConfigError(f"{where}: expected {'an integer' if integer else 'a number'}, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"{where}: must be a finite number, got {value!r}")
    lo, hi = meta.get("lo"), meta.get("hi")
    too_low = lo is not None and (value <= lo if meta.get("lo_open") else value < lo)
    if too_low or (hi is not None and value > hi):
        low = f"({lo}" if meta.get("lo_open") else f"[{lo}"
        raise ConfigError(f"{where}: {value!r} is outside {low}, {hi}]")
    return value if integer else float(value)


def _value(kind: Any, value: Any, default: Any, where: str, meta: Mapping[str, Any]) -> Any:
    """``value`` checked and converted to the field type ``kind``."""
    origin = typing.get_origin(kind)
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if kind is int or kind is float:
        return _number(value, where, meta, integer=kind is int)
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        if len(value) > 4096:
            raise ConfigError(f"{where}: longer than 4096 characters")
        return value
    if origin is Literal:
        choices = typing.get_args(kind)
        if value not in choices:
            raise ConfigError(f"{where}: expected one of {', '.join(map(repr, choices))}, got {value!r}")
        return value
    if kind is Endpoint:
        return parse_endpoint(value, where, allow_port_zero=bool(meta.get("port_zero")))
    if kind is OneEuroParams:
        return _one_euro(value, default, where)
    if origin is tuple:
        args = typing.get_args(kind)
        if isinstance(value, Mapping) and len(args) == 2 and typing.get_args(args[0]) == (str, str):
            # a [table] of name = name, kept in order as pairs
            return tuple(_value(args[0], item, None, where, meta) for item in value.items())
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_value(args[0], v, None, where, meta) for v in value)
        if len(value) != len(args):
            raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}")
        return tuple(_value(a, v, None, where, meta) for a, v in zip(args, value, strict=True))
    raise AssertionError(f"no validator for {kind!r}")  # pragma: no cover - a new field type


def _one_euro(value: Any, default: OneEuroParams, where: str) -> OneEuroParams:
    if isinstance(value, OneEuroParams):
        value = dataclasses.asdict(value)
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected an inline table {{min_cutoff, beta, d_cutoff, enabled}}")
    out: dict[str, Any] = {}
    positive = {"lo": 0.0, "hi": 1000.0, "lo_open": True}
    ranges = {"min_cutoff": positive, "d_cutoff": positive, "beta": {"lo": 0.0, "hi": 1e6}}
    for key, v in value.items():
        if key not in ("min_cutoff", "beta", "d_cutoff", "enabled"):
            raise ConfigError(f"{where}.{key}: unknown key")
        if key == "enabled":
            out[key] = _value(bool, v, None, f"{where}.{key}", {})
        else:
            out[key] = _number(v, f"{where}.{key}", ranges[key], integer=False)
    return dataclasses.replace(default, **out)


def _table(name: str, cls: type, raw: Any, base: Any, origin: Mapping[tuple[str, str], str]) -> Any:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{origin.get((name, ''), 'settings')}: [{name}] must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    changes: dict[str, Any] = {}
    for key, value in raw.items():
        source = origin.get((name, key), origin.get((name, ""), "settings"))
        if key not in fields:
            raise ConfigError(f"{source}: unknown key [{name}] {key}")
        where = f"{source}: [{name}] {key}"
        changes[key] = _value(hints[key], value, getattr(base, key), where, fields[key].metadata)
    return dataclasses.replace(base, **changes)


def _check(s: Settings, origin: Mapping[tuple[str, str], str]) -> None:
    """Rules that span keys."""
    for name in ("livelink", "vmc", "osc"):
        table = getattr(s, name)
        if table.enabled and not table.targets:
            raise ConfigError(f"{origin.get((name, 'targets'), 'settings')}: [{name}] enabled but no targets")
    for key in ("osc_listen", "send_target"):
        value = getattr(s.remote, key)
        if value:
            parse_endpoint(
                value, f"{origin.get(('remote', key), 'settings')}: [remote] {key}", allow_port_zero=True
            )
    for o in s.ws.allowed_origins:
        scheme, sep, rest = o.partition("://")
        if scheme not in ("http", "https") or not sep or not rest or "/" in rest.rstrip("/"):
            where = origin.get(("ws", "allowed_origins"), "settings")
            raise ConfigError(f'{where}: [ws] allowed_origins: {o!r} is not like "http://host:port"')
    from .frames import Gesture

    canned = {g.label for g in Gesture}
    for name, clip in s.gestures.expressions:
        if name not in canned or not clip:
            where = origin.get(("gestures", "expressions"), "settings")
            raise ConfigError(
                f"{where}: [gestures] expressions: {name!r} is not one of {', '.join(sorted(canned))}"
            )
    if s.face.blink_threshold >= s.face.blink_full:
        where = origin.get(("face", "blink_threshold"), "settings")
        raise ConfigError(f"{where}: [face] blink_threshold must be below blink_full")
    ll = s.livelink
    for key, text in (("subject", ll.subject), ("device_id", ll.device_id)):
        raw = text.encode("utf-8")
        if len(raw) > 256 or (key == "subject" and not raw):
            where = origin.get(("livelink", key), "settings")
            raise ConfigError(f"{where}: [livelink] {key}: 1..256 UTF-8 bytes")


def settings_from_tables(
    tables: Mapping[str, Any], origin: Mapping[tuple[str, str], str], *, base: Settings | None = None
) -> Settings:
    """Validate a merged document over ``base`` (default: the built-in defaults).

    ``origin`` maps ``(table, key)`` (and ``(table, "")`` for the table itself) to the file or flag
    that set it, for error messages.
    """
    settings = base or Settings()
    changes: dict[str, Any] = {}
    for name, raw in tables.items():
        cls = _TABLES.get(name)
        if cls is None:
            raise ConfigError(f"{origin.get((name, ''), 'settings')}: unknown table [{name}]")
        changes[name] = _table(name, cls, raw, getattr(settings, name), origin)
    result = dataclasses.replace(settings, **changes)
    _check(result, origin)
    return result


# ------------------------------------------------------------------------------------- loading
def presets() -> list[str]:
    """Names of the shipped presets (``configs/<name>.toml`` other than the defaults)."""
    return sorted(p.stem for p in configs_dir().glob("*.toml") if p.stem != "default")


def _merge(doc: dict[str, Any], over: Mapping[str, Any], source: str,
           origin: dict[tuple[str, str], str]) -> None:  # fmt: skip
    for table, values in over.items():
        if not isinstance(values, Mapping):
            raise ConfigError(f"{source}: top-level key {table!r} must be a [table]")
        target = doc.setdefault(table, {})
        origin.setdefault((table, ""), source)
        for key, value in values.items():
            if isinstance(value, Mapping) and isinstance(target.get(key), Mapping):
                target[key] = {**target[key], **value}  # a One-Euro channel: field by field
            else:
                target[key] = value
            origin[(table, key)] = source


def load_settings(
    *,
    preset: str | None = None,
    path: str | Path | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    override_names: Mapping[tuple[str, str], str] | None = None,
) -> Settings:
    """default.toml, the preset, the user's file and the flags' ``overrides``, merged and validated.

    ``override_names`` names the flag that set each overridden ``(table, key)``, for errors.
    """
    doc: dict[str, Any] = {}
    origin: dict[tuple[str, str], str] = {}
    layers: list[tuple[str, Mapping[str, Any]]] = []
    default = configs_dir() / "default.toml"
    layers.append((str(default), read_toml(default, "config file")))
    if preset:
        preset_path = configs_dir() / f"{preset}.toml"
        if preset == "default" or not preset_path.is_file():
            raise ConfigError(f"unknown preset {preset!r} (known: {', '.join(presets()) or 'none'})")
        layers.append((str(preset_path), read_toml(preset_path, "config file")))
    if path:
        user = Path(path).expanduser()
        layers.append((str(user), read_toml(user, "config file")))
    for source, layer in layers:
        _merge(doc, layer, source, origin)
    if overrides:
        _merge(doc, overrides, "command line", origin)
        origin.update(override_names or {})
    return settings_from_tables(doc, origin)


def field_docs(cls: type) -> dict[str, str]:
    """Each field's documentation (``configs/default.toml`` says the same for users)."""
    return {f.name: f.metadata.get("doc", "") for f in dataclasses.fields(cls)}
