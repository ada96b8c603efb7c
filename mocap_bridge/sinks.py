"""The outputs: each sink is an (encoder, transport) pair implementing :class:`~mocap_bridge.sink.FrameSink`.

=========  ====================================  ==============================  ===============
sink       encoder                               transport                       default
=========  ====================================  ==============================  ===============
livelink   :mod:`.protocols.livelink` (v6)       UDP, one datagram per frame     127.0.0.1:11111
vmc        :mod:`.protocols.vmc`                 UDP, ≤ ``max_datagram`` bundles 127.0.0.1:39539
osc        :mod:`.protocols.osc` (``/mocap/…``)  UDP, ≤ ``max_datagram`` bundles off (…:9000)
ws         :mod:`.protocols.ws_json`             WebSocket server                127.0.0.1:8765
=========  ====================================  ==============================  ===============

Every sink counts ``sent`` and ``dropped`` per (frame, receiver): a UDP target or a WebSocket
client. ``send`` never raises: an encoder error, a receiver that is down, a full buffer or a slow
client is counted and shown by ``status()``. Adding a protocol is one encoder module, one sink
class here and one line in :func:`build_sinks`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence

from .clock import monotonic_ms, utc_offset_s, wall_ms
from .errors import ConfigError, MocapBridgeError
from .frames import RigFrame
from .protocols.livelink import LiveLinkEncoder, device_id_from_name
from .protocols.osc import OscEncoder
from .protocols.vmc import VmcEncoder, load_expression_map
from .protocols.ws_json import WsJsonEncoder, parse_channels
from .resources import resolve_data_path
from .settings import LiveLinkSettings, Settings
from .sink import FrameSink
from .solve.maps import resolve_bone_map
from .solve.retarget import Retargeter
from .transports.udp import UdpTransport
from .transports.websocket import WebSocketServer

__all__ = [
    "LiveLinkSink",
    "OscSink",
    "VmcSink",
    "WebSocketSink",
    "build_sinks",
    "livelink_encoder",
    "process_device_id",
]

log = logging.getLogger(__name__)

_PROCESS_DEVICE_ID = str(uuid.uuid4()).upper()


def process_device_id() -> str:
    """A random 36-character uppercase UUID, the same for the whole process."""
    return _PROCESS_DEVICE_ID


class _Rate:
    """Per-second rate of a counter between two status() calls."""

    __slots__ = ("_last", "_t")

    def __init__(self) -> None:
        self._t = monotonic_ms() / 1000.0
        self._last = 0

    def __call__(self, count: int) -> float:
        now = monotonic_ms() / 1000.0
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
    """Live Link Face v6, one packet per frame per target (docs/livelink.md)."""

    def __init__(self, encoder: LiveLinkEncoder, transport: UdpTransport, *,
                 wall_clock_offset_ms: float, utc_offset_s: float) -> None:  # fmt: skip
        self.encoder = encoder
        offset_s = wall_clock_offset_ms / 1000.0 + utc_offset_s

        def encode(frame: RigFrame) -> Sequence[bytes]:
            t_of_day = (offset_s + frame.t_ms / 1000.0) % 86400.0
            return (self.encoder.encode(frame, t_of_day),)  # read each frame: the remote may swap it

        super().__init__("livelink", encode, transport)


class VmcSink(_UdpSink):
    """VMC Performer → Marionette bundles (docs/vmc.md)."""

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
            payload = self.encoder.frame(frame, wall_ms())
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


def livelink_encoder(ll: LiveLinkSettings, subject: str | None = None) -> LiveLinkEncoder:
    """The Live Link encoder for these settings (``subject`` overrides the configured one)."""
    return LiveLinkEncoder(
        device_id=device_id_from_name(ll.device_id) if ll.device_id else process_device_id(),
        subject=ll.subject if subject is None else subject,
        rate=ll.rate,
        head_scale=ll.head_scale,
        head_sign=ll.head_sign,
        eye_sign=ll.eye_sign,
    )


def build_sinks(settings: Settings, *, stream_rate_hz: float, wall_clock_offset_ms: float) -> list[FrameSink]:
    """The enabled sinks, not yet started (maps loaded now: ConfigError).

    ``wall_clock_offset_ms`` = epoch ms − capture-stamp ms, taken once at start: with
    ``RigFrame.t_ms`` it gives the capture wall-clock time (Live Link frame time, WS timestamps).
    """
    sinks: list[FrameSink] = []
    try:
        ll = settings.livelink
        if ll.enabled:
            enc = livelink_encoder(ll)
            transport = UdpTransport("livelink", [(t.host, t.port) for t in ll.targets])
            sinks.append(
                LiveLinkSink(
                    enc, transport, wall_clock_offset_ms=wall_clock_offset_ms, utc_offset_s=utc_offset_s()
                )
            )
        vmc = settings.vmc
        if vmc.enabled:
            expressions = None
            if vmc.vrm0:
                expressions = load_expression_map(
                    resolve_data_path(vmc.expression_map, "[vmc] expression_map")
                )
            vmc_enc = VmcEncoder(
                expressions=expressions,
                perfect_sync=vmc.perfect_sync,
                perfect_sync_case=vmc.perfect_sync_case,
                max_datagram=vmc.max_datagram,
                gesture_expressions=settings.gestures.expressions if settings.gestures.enabled else (),
            )
            sinks.append(VmcSink(vmc_enc, UdpTransport("vmc", [(t.host, t.port) for t in vmc.targets])))
        rig = Retargeter(resolve_bone_map(settings.retarget.bone_map, settings.retarget.extra_maps))
        osc = settings.osc
        if osc.enabled:
            osc_enc = OscEncoder(max_datagram=osc.max_datagram, bone_names=rig.names)
            sinks.append(OscSink(osc_enc, UdpTransport("osc", [(t.host, t.port) for t in osc.targets])))
        ws = settings.ws
        if ws.enabled:
            ws_enc = WsJsonEncoder(
                wall_clock_offset_ms=wall_clock_offset_ms,
                stream_rate_hz=stream_rate_hz,
                rig=rig.map.name,
                bone_names=rig.names,
                rig_convention=rig.describe(),
                mask_fps=ws.mask_fps,
                mask_encoding=ws.mask_encoding,
            )
            server = WebSocketServer(
                ws.listen.host,
                ws.listen.port,
                hello=ws_enc.hello,
                parse_channels=parse_channels,
                token=ws.token,
                max_message=ws.max_message,
                max_clients=ws.max_clients,
                allowed_origins=ws.allowed_origins,
                allow_insecure=ws.allow_insecure,
            )
            sinks.append(WebSocketSink(ws_enc, server))
    except ConfigError:
        raise
    except MocapBridgeError as exc:  # encoder parameter checks (ProtocolError) are config errors
        raise ConfigError(str(exc)) from exc
    return sinks
