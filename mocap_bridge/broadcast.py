"""The broadcast layer: settings, CLI flags and the sinks that put RigFrames on the wire.

Four outputs, each an (encoder, transport) pair implementing :class:`~mocap_bridge.sink.FrameSink`:

=========  =====================================  ==============================  ===============
sink       encoder                                transport                       default
=========  =====================================  ==============================  ===============
livelink   :mod:`.protocols.livelink` (v6 packet)  UDP, one datagram per frame     127.0.0.1:11111
vmc        :mod:`.protocols.vmc`                   UDP, ≤ ``max_datagram`` bundles 127.0.0.1:39539
osc        :mod:`.protocols.osc` (``/mocap/…``)    UDP, ≤ ``max_datagram`` bundles off (…:9000)
ws         :mod:`.protocols.ws_json`               WebSocket server               127.0.0.1:8765
=========  =====================================  ==============================  ===============

Settings come from the TOML tables ``[livelink]``, ``[vmc]``, ``[osc]``, ``[ws]`` (see
``configs/default.toml``) and are overridden by command-line flags. Every sink counts ``sent`` and
``dropped`` per (frame, receiver): a UDP target or a WebSocket client. ``send`` never raises: an
encoder error, a receiver that is down, a full buffer or a slow client is counted and shown by
``status()``.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .errors import ConfigError, MocapBridgeError
from .frames import RigFrame
from .protocols.livelink import LiveLinkEncoder
from .protocols.osc import OscEncoder
from .protocols.vmc import VmcEncoder, load_expression_map
from .protocols.ws_json import WsJsonEncoder, parse_channels
from .resources import data_roots
from .sink import FrameSink
from .transports.udp import UdpTransport
from .transports.websocket import WebSocketServer

__all__ = [
    "DEFAULT_EXPRESSION_MAP",
    "BroadcastSettings",
    "Endpoint",
    "LiveLinkSink",
    "OscSink",
    "VmcSink",
    "WebSocketSink",
    "add_broadcast_arguments",
    "apply_broadcast_arguments",
    "broadcast_settings_from_config",
    "build_sinks",
    "parse_endpoint",
    "process_device_id",
    "resolve_data_path",
]

log = logging.getLogger(__name__)

#: Shipped VRM 0.x expression map, relative to the data root (see :func:`resolve_data_path`).
DEFAULT_EXPRESSION_MAP = "retarget_maps/arkit_to_vrm0.toml"
#: Where relative data paths are looked up after the working directory (see mocap_bridge.resources).
DATA_ROOTS: tuple[Path, ...] = data_roots()

_PROCESS_DEVICE_ID = str(uuid.uuid4()).upper()


def process_device_id() -> str:
    """A 36-character uppercase UUID, the same for the whole process (protocols.md §1.3, §1.7)."""
    return _PROCESS_DEVICE_ID


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A ``HOST:PORT`` (IPv6 hosts written ``[::1]:PORT``)."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_endpoint(text: object, what: str, *, allow_port_zero: bool = False) -> Endpoint:
    """Parse ``HOST:PORT``; ConfigError mentions ``what`` (file/key or flag)."""
    if not isinstance(text, str):
        raise ConfigError(f'{what}: expected a "HOST:PORT" string, got {text!r}')
    s = text.strip()
    if s.startswith("["):
        host, sep, port_s = s[1:].partition("]:")
    else:
        host, sep, port_s = s.rpartition(":")
        if ":" in host:
            raise ConfigError(f"{what}: {text!r}: write IPv6 hosts as [ADDR]:PORT")
    if not sep or not host or not port_s.isdigit():
        raise ConfigError(f"{what}: {text!r} is not HOST:PORT")
    port = int(port_s)
    low = 0 if allow_port_zero else 1
    if not low <= port <= 65535:
        raise ConfigError(f"{what}: {text!r}: port must be in {low}..65535")
    return Endpoint(host, port)


@dataclass(frozen=True, slots=True)
class BroadcastSettings:
    """Every setting of the broadcast layer (TOML ``[livelink] [vmc] [osc] [ws]`` + flags).

    Live Link (protocols.md §1): ``livelink_rate`` is the frame-time rate in fps;
    ``livelink_head_scale`` multiplies head and eye angles (1.0 = radians like the iPhone app,
    1/π = UE's ``deg/180``); ``*_sign`` are per-axis (yaw, pitch, roll) factors (§1.5 (c));
    ``livelink_device_id`` ``""`` = a random UUID kept for the process.
    VMC (§3): ``vmc_vrm0`` sends the VRM 0.x presets from ``vmc_expression_map`` (a path, relative
    ones looked up in the working directory, then the data roots); ``vmc_perfect_sync`` also sends
    the 52 ARKit names in ``vmc_perfect_sync_case``. ``*_max_datagram``: largest UDP payload.
    WebSocket: ``ws_token`` non-empty requires ``?token=``; ``ws_max_message`` caps what a client
    may send (bytes).
    """

    livelink_enabled: bool = True
    livelink_targets: tuple[Endpoint, ...] = (Endpoint("127.0.0.1", 11111),)
    livelink_subject: str = "MocapBridge"
    livelink_device_id: str = ""
    livelink_rate: float = 60.0
    livelink_head_scale: float = 1.0
    livelink_head_sign: tuple[float, float, float] = (1.0, 1.0, 1.0)
    livelink_eye_sign: tuple[float, float, float] = (1.0, 1.0, 1.0)
    vmc_enabled: bool = True
    vmc_targets: tuple[Endpoint, ...] = (Endpoint("127.0.0.1", 39539),)
    vmc_max_datagram: int = 1200
    vmc_perfect_sync: bool = False
    vmc_perfect_sync_case: Literal["lowerCamel", "PascalCase"] = "lowerCamel"
    vmc_vrm0: bool = True
    vmc_expression_map: str = DEFAULT_EXPRESSION_MAP
    osc_enabled: bool = False
    osc_targets: tuple[Endpoint, ...] = (Endpoint("127.0.0.1", 9000),)
    osc_max_datagram: int = 1200
    ws_enabled: bool = True
    ws_listen: Endpoint = Endpoint("127.0.0.1", 8765)
    ws_token: str = ""
    ws_max_message: int = 4096
    ws_allowed_origins: tuple[str, ...] = ()
    ws_allow_insecure: bool = False
    ws_max_clients: int = 64
    ws_viewer: bool = True
    ws_video_fps: float = 10.0
    ws_video_width: int = 320

    def check(self, source: str = "settings") -> BroadcastSettings:
        """Cross-field validation (ConfigError naming ``source``); returns ``self``."""
        for proto in ("livelink", "vmc", "osc"):
            if getattr(self, f"{proto}_enabled") and not getattr(self, f"{proto}_targets"):
                raise ConfigError(f"{source}: [{proto}] targets: enabled but no targets")
        for proto in ("vmc", "osc"):
            n = getattr(self, f"{proto}_max_datagram")
            if not _MIN_DATAGRAM <= n <= _MAX_DATAGRAM:
                raise ConfigError(
                    f"{source}: [{proto}] max_datagram: {n} not in {_MIN_DATAGRAM}..{_MAX_DATAGRAM}"
                )
        for key in ("livelink_subject", "livelink_device_id"):
            raw = getattr(self, key).encode("utf-8")
            if len(raw) > 256 or (key == "livelink_subject" and not raw):
                table, k = key.split("_", 1)
                raise ConfigError(f"{source}: [{table}] {k}: 1..256 UTF-8 bytes (protocols §1.3)")
        if not (math.isfinite(self.livelink_rate) and 0 < self.livelink_rate <= 1000):
            raise ConfigError(f"{source}: [livelink] rate: must be in (0, 1000] fps")
        if self.vmc_perfect_sync_case not in ("lowerCamel", "PascalCase"):
            raise ConfigError(f'{source}: [vmc] perfect_sync_case: must be "lowerCamel" or "PascalCase"')
        if not 125 <= self.ws_max_message <= 1 << 24:
            raise ConfigError(f"{source}: [ws] max_message: must be in 125..16777216 bytes")
        if not 1 <= self.ws_max_clients <= 10000:
            raise ConfigError(f"{source}: [ws] max_clients: must be in 1..10000")
        if not 1.0 <= self.ws_video_fps <= 30.0:
            raise ConfigError(f"{source}: [ws] video_fps: must be in 1..30")
        if not 160 <= self.ws_video_width <= 1280:
            raise ConfigError(f"{source}: [ws] video_width: must be in 160..1280 pixels")
        for origin in self.ws_allowed_origins:
            scheme, sep, rest = origin.partition("://")
            if scheme not in ("http", "https") or not sep or not rest or "/" in rest.rstrip("/"):
                raise ConfigError(f'{source}: [ws] allowed_origins: {origin!r} is not like "http://host:port"')
        return self


# 84-byte Bone/Pos element + 16-byte bundle header must fit; 65507 = UDP/IPv4 maximum (§4).
_MIN_DATAGRAM = 128
_MAX_DATAGRAM = 65507

# --------------------------------------------------------------------------- config tables

_KEYS: dict[str, dict[str, str]] = {
    "livelink": {
        "enabled": "bool", "targets": "targets", "subject": "str", "device_id": "str",
        "rate": "number", "head_scale": "number", "head_sign": "sign", "eye_sign": "sign",
    },
    "vmc": {
        "enabled": "bool", "targets": "targets", "max_datagram": "int", "perfect_sync": "bool",
        "perfect_sync_case": "str", "vrm0": "bool", "expression_map": "str",
    },
    "osc": {"enabled": "bool", "targets": "targets", "max_datagram": "int"},
    "ws": {"enabled": "bool", "listen": "listen", "token": "str", "max_message": "int",
           "allowed_origins": "strlist", "allow_insecure": "bool", "max_clients": "int",
           "viewer": "bool", "video_fps": "number", "video_width": "int"},
}  # fmt: skip


def _convert(kind: str, value: Any, what: str) -> Any:
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{what}: expected true or false, got {value!r}")
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise ConfigError(f"{what}: expected a string, got {value!r}")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{what}: expected an integer, got {value!r}")
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{what}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{what}: must be finite")
        return float(value)
    if kind == "sign":
        if not isinstance(value, list) or len(value) not in (2, 3):
            raise ConfigError(f"{what}: expected 3 numbers (yaw, pitch, roll), got {value!r}")
        nums = [_convert("number", v, what) for v in value]
        return (nums[0], nums[1], nums[2] if len(nums) == 3 else 1.0)
    if kind == "strlist":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{what}: expected a list of strings")
        return tuple(value)
    if kind == "targets":
        if not isinstance(value, list):
            raise ConfigError(f'{what}: expected a list of "HOST:PORT" strings')
        return tuple(parse_endpoint(v, what) for v in value)
    if kind == "listen":
        return parse_endpoint(value, what, allow_port_zero=True)
    raise AssertionError(kind)  # pragma: no cover


def broadcast_settings_from_config(tables: Mapping[str, Any], source: str) -> BroadcastSettings:
    """Build settings from the merged TOML document (tables ``livelink``, ``vmc``, ``osc``, ``ws``).

    Missing tables or keys keep their defaults; unknown keys and bad values raise ConfigError
    naming ``source`` and the key.
    """
    changes: dict[str, Any] = {}
    for table, keys in _KEYS.items():
        doc = tables.get(table)
        if doc is None:
            continue
        if not isinstance(doc, Mapping):
            raise ConfigError(f"{source}: [{table}]: must be a table")
        for key, value in doc.items():
            kind = keys.get(key)
            if kind is None:
                raise ConfigError(f"{source}: [{table}] {key}: unknown key")
            changes[f"{table}_{key}"] = _convert(kind, value, f"{source}: [{table}] {key}")
    return BroadcastSettings(**changes).check(source)


# --------------------------------------------------------------------------- CLI


def add_broadcast_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the broadcast flags (defaults come from the config; flags override it)."""
    g = parser.add_argument_group("broadcast (override [livelink] [vmc] [osc] [ws])")
    g.add_argument(
        "--livelink",
        action="append",
        metavar="HOST:PORT",
        help="Live Link Face UDP target, repeatable (default 127.0.0.1:11111)",
    )
    g.add_argument("--no-livelink", action="store_true", default=None, help="do not send Live Link Face")
    g.add_argument("--subject", metavar="NAME", help="Live Link subject name (default MocapBridge)")
    g.add_argument(
        "--vmc",
        action="append",
        metavar="HOST:PORT",
        help="VMC (OSC) target, repeatable (default 127.0.0.1:39539)",
    )
    g.add_argument("--no-vmc", action="store_true", default=None, help="do not send VMC")
    g.add_argument(
        "--perfect-sync",
        action="store_true",
        default=None,
        help="VMC: also send the 52 ARKit perfect-sync blendshapes",
    )
    g.add_argument(
        "--perfect-sync-case",
        choices=("lowerCamel", "PascalCase"),
        help="VMC: perfect-sync name case (default lowerCamel)",
    )
    g.add_argument(
        "--expression-map",
        metavar="TOML",
        help="VMC: ARKit → VRM 0.x expression map (default the shipped one)",
    )
    g.add_argument(
        "--osc",
        action="append",
        metavar="HOST:PORT",
        help="generic OSC (/mocap/...) target, repeatable (off by default)",
    )
    g.add_argument("--no-osc", action="store_true", default=None, help="do not send generic OSC")
    g.add_argument("--max-datagram", metavar="BYTES", help="largest VMC/OSC UDP datagram (default 1200)")
    g.add_argument(
        "--ws", metavar="HOST:PORT", help="WebSocket server address (default 127.0.0.1:8765; port 0 = any)"
    )
    g.add_argument("--no-ws", action="store_true", default=None, help="do not run the WebSocket server")
    g.add_argument("--ws-token", metavar="TOKEN", help="WebSocket clients must pass ?token=TOKEN")
    g.add_argument("--no-viewer", action="store_true", default=None,
                   help="do not serve the Live Lab viewer page on the WebSocket port")  # fmt: skip


def apply_broadcast_arguments(settings: BroadcastSettings, args: argparse.Namespace) -> BroadcastSettings:
    """Settings with the given flags applied; contradictory or bad values raise ConfigError."""
    a: Callable[[str], Any] = lambda name: getattr(args, name, None)  # noqa: E731
    changes: dict[str, Any] = {}
    for proto in ("livelink", "vmc", "osc"):
        given, off = a(proto), a(f"no_{proto}")
        if given and off:
            raise ConfigError(f"--{proto} and --no-{proto} contradict each other")
        if given:
            changes[f"{proto}_targets"] = tuple(parse_endpoint(t, f"--{proto}") for t in given)
            changes[f"{proto}_enabled"] = True
        elif off:
            changes[f"{proto}_enabled"] = False
    if a("ws") is not None and a("no_ws"):
        raise ConfigError("--ws and --no-ws contradict each other")
    if a("ws") is not None:
        changes["ws_listen"] = parse_endpoint(a("ws"), "--ws", allow_port_zero=True)
        changes["ws_enabled"] = True
    elif a("no_ws"):
        changes["ws_enabled"] = False
    if a("ws_token") is not None:
        changes["ws_token"] = a("ws_token")
    if a("no_viewer"):
        changes["ws_viewer"] = False
    if a("subject") is not None:
        changes["livelink_subject"] = a("subject")
    if a("perfect_sync"):
        changes["vmc_perfect_sync"] = True
    if a("perfect_sync_case") is not None:
        changes["vmc_perfect_sync_case"] = a("perfect_sync_case")
    if a("expression_map") is not None:
        changes["vmc_expression_map"] = a("expression_map")
    if a("max_datagram") is not None:
        raw = str(a("max_datagram"))
        if not raw.isdigit():
            raise ConfigError(f"--max-datagram: {raw!r} is not a whole number of bytes")
        changes["vmc_max_datagram"] = changes["osc_max_datagram"] = int(raw)
    return dataclasses.replace(settings, **changes).check("command line")


# --------------------------------------------------------------------------- sinks


def resolve_data_path(value: str, what: str) -> Path:
    """An existing file for a configured path: absolute, or relative to the working directory,
    then to each of :data:`DATA_ROOTS`. ConfigError lists the places tried."""
    p = Path(value).expanduser()
    tried = [p] if p.is_absolute() else [Path.cwd() / p, *(root / p for root in DATA_ROOTS)]
    for c in tried:
        if c.is_file():
            return c
    raise ConfigError(f"{what}: {value!r} not found (tried {', '.join(map(str, tried))})")


class _Rate:
    """Per-second rate of a counter between two status() calls (transport side: reads time)."""

    __slots__ = ("_last", "_t")

    def __init__(self) -> None:
        self._t = time.monotonic()
        self._last = 0

    def __call__(self, count: int) -> float:
        now = time.monotonic()
        dt = now - self._t
        rate = (count - self._last) / dt if dt > 0 else 0.0
        self._t, self._last = now, count
        return rate


class _UdpSink:
    """(encoder, UDP transport) pair; see the module docstring."""

    def __init__(self, name: str, encode: Callable[[RigFrame], Sequence[bytes]],
                 transport: UdpTransport) -> None:  # fmt: skip
        self.name = name
        self._encode = encode
        self.transport = transport
        self.encode_errors = 0
        self.largest_datagram = 0
        self._rate = _Rate()

    @property
    def sent(self) -> int:
        """Frames handed to the kernel, per target."""
        return self.transport.sent

    @property
    def dropped(self) -> int:
        """Frames not sent, per target (receiver down, buffer full, encoder error)."""
        return self.transport.dropped

    async def start(self) -> None:
        self.transport.open()

    def send(self, frame: RigFrame) -> None:
        try:
            datagrams = self._encode(frame)
        except Exception as exc:  # never raise into the pipeline; counted instead
            self.encode_errors += 1
            self.transport.drop()
            if self.encode_errors == 1 or self.encode_errors % 1000 == 0:
                log.warning("%s: frame %d not encoded (%d so far): %s",
                            self.name, frame.index, self.encode_errors, exc)  # fmt: skip
            return
        for d in datagrams:
            if len(d) > self.largest_datagram:
                self.largest_datagram = len(d)
        self.transport.send(datagrams)

    def status(self) -> str:
        text = f"{self.name} {self._rate(self.sent):.0f}/s drop {self.dropped}"
        problems = self.transport.problems()
        if self.encode_errors:
            problems = f"{problems} encode-errors {self.encode_errors}".strip()
        return f"{text} ({problems})" if problems else text

    async def aclose(self) -> None:
        self.transport.close()


class LiveLinkSink(_UdpSink):
    """Live Link Face v6, one packet per frame per target (protocols.md §1)."""

    def __init__(self, encoder: LiveLinkEncoder, transport: UdpTransport, *,
                 wall_clock_offset_ms: float, utc_offset_s: float) -> None:  # fmt: skip
        self.encoder = encoder
        offset_s = wall_clock_offset_ms / 1000.0 + utc_offset_s

        def encode(frame: RigFrame) -> Sequence[bytes]:
            t_of_day = (offset_s + frame.t_ms / 1000.0) % 86400.0
            return (encoder.encode(frame, t_of_day),)

        super().__init__("livelink", encode, transport)


class VmcSink(_UdpSink):
    """VMC Performer → Marionette bundles (protocols.md §3)."""

    def __init__(self, encoder: VmcEncoder, transport: UdpTransport) -> None:
        self.encoder = encoder
        super().__init__("vmc", encoder.encode, transport)


class OscSink(_UdpSink):
    """Generic ``/mocap/…`` OSC namespace (docs/osc.md)."""

    def __init__(self, encoder: OscEncoder, transport: UdpTransport) -> None:
        self.encoder = encoder
        super().__init__("osc", encoder.encode, transport)


class WebSocketSink:
    """JSON stream ``mocap_bridge.frame/1`` to every WebSocket client (docs/websocket.md).

    ``port`` is the bound port after :meth:`start` (useful with port 0).
    """

    name = "ws"

    def __init__(self, encoder: WsJsonEncoder, server: WebSocketServer) -> None:
        self.encoder = encoder
        self.server = server
        self.encode_errors = 0
        self._rate = _Rate()

    @property
    def port(self) -> int | None:
        return self.server.port

    @property
    def sent(self) -> int:
        """Messages written, per client."""
        return self.server.sent

    @property
    def dropped(self) -> int:
        """Messages a slow client missed (plus frames that failed to encode)."""
        return self.server.dropped + self.encode_errors

    async def start(self) -> None:
        await self.server.start()

    def send(self, frame: RigFrame) -> None:
        if not self.server.clients:
            return
        try:
            payload = self.encoder.frame(frame, time.time_ns() / 1e6)
            self.server.send(payload.message)
        except Exception as exc:  # never raise into the pipeline; counted instead
            self.encode_errors += 1
            if self.encode_errors == 1 or self.encode_errors % 1000 == 0:
                log.warning("ws: frame %d not sent (%d so far): %s",
                            frame.index, self.encode_errors, exc)  # fmt: skip

    def status(self) -> str:
        s = self.server
        return f"ws {self._rate(self.sent):.0f}/s drop {self.dropped} clients {s.clients}"

    async def aclose(self) -> None:
        await self.server.aclose()


def build_sinks(
    settings: BroadcastSettings, *, stream_rate_hz: float, wall_clock_offset_ms: float
) -> list[FrameSink]:
    """The enabled sinks, not yet started (hosts resolved and maps loaded now: ConfigError).

    ``wall_clock_offset_ms`` = epoch ms − monotonic ms, taken once at startup: with
    ``RigFrame.t_ms`` it gives the capture wall-clock time (Live Link frame time, WS timestamps).
    """
    s = settings.check()
    sinks: list[FrameSink] = []
    try:
        if s.livelink_enabled:
            enc = LiveLinkEncoder(
                device_id=s.livelink_device_id or process_device_id(),
                subject=s.livelink_subject,
                rate=s.livelink_rate,
                head_scale=s.livelink_head_scale,
                head_sign=s.livelink_head_sign,
                eye_sign=s.livelink_eye_sign,
            )
            sinks.append(
                LiveLinkSink(
                    enc,
                    UdpTransport("livelink", [(t.host, t.port) for t in s.livelink_targets]),
                    wall_clock_offset_ms=wall_clock_offset_ms,
                    utc_offset_s=float(time.localtime().tm_gmtoff),
                )
            )
        if s.vmc_enabled:
            expressions = None
            if s.vmc_vrm0:
                path = resolve_data_path(s.vmc_expression_map, "[vmc] expression_map")
                expressions = load_expression_map(path)
            vmc = VmcEncoder(
                expressions=expressions,
                perfect_sync=s.vmc_perfect_sync,
                perfect_sync_case=s.vmc_perfect_sync_case,
                max_datagram=s.vmc_max_datagram,
            )
            targets = [(t.host, t.port) for t in s.vmc_targets]
            sinks.append(VmcSink(vmc, UdpTransport("vmc", targets)))
        if s.osc_enabled:
            osc = OscEncoder(max_datagram=s.osc_max_datagram)
            targets = [(t.host, t.port) for t in s.osc_targets]
            sinks.append(OscSink(osc, UdpTransport("osc", targets)))
        if s.ws_enabled:
            ws_enc = WsJsonEncoder(wall_clock_offset_ms=wall_clock_offset_ms, stream_rate_hz=stream_rate_hz)
            server = WebSocketServer(
                s.ws_listen.host,
                s.ws_listen.port,
                hello=ws_enc.hello,
                parse_channels=parse_channels,
                token=s.ws_token,
                max_message=s.ws_max_message,
                max_clients=s.ws_max_clients,
                allowed_origins=s.ws_allowed_origins,
                allow_insecure=s.ws_allow_insecure,
            )
            sinks.append(WebSocketSink(ws_enc, server))
    except ConfigError:
        raise
    except MocapBridgeError as exc:  # encoder parameter checks (ProtocolError) are config errors
        raise ConfigError(str(exc)) from exc
    return sinks
