"""Glue between the running app and the Live Link Face remote control: a FrameSink that owns the
OSC listener (started and closed on the loop with the other sinks) and carries out its actions on
the take recorder and the Live Link sink.

Live Link targets added remotely go through :func:`~mocap_bridge.transports.udp.resolve_udp` and
the transport's ``open`` like configured ones (after remote.py's IP-literal and loopback checks).
``/LiveLinkSubject`` swaps the Live Link sink's encoder for one with the new subject (same device
id, rate, scale and signs; ``make_encoder``) and names the next takes' files and ``take.json``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from .clock import monotonic_ms
from .errors import RecordingError
from .frames import RigFrame
from .protocols.livelink import LiveLinkEncoder
from .remote import RemoteControl
from .sink import FrameSink
from .takes import TakeRecorder
from .transports.osc_server import RemoteServer
from .transports.udp import UdpTarget, UdpTransport, resolve_udp

__all__ = ["RemoteSink"]

log = logging.getLogger(__name__)


class RemoteSink:
    """``[remote] osc_listen`` as a sink: ``send`` does nothing; the work happens on OSC input."""

    name = "remote"

    def __init__(self, control: RemoteControl, host: str, port: int, *, takes: TakeRecorder | None,
                 sinks: Sequence[FrameSink],
                 make_encoder: Callable[[str], LiveLinkEncoder] | None = None) -> None:  # fmt: skip
        self.control = control
        self.takes = takes
        self._make_encoder = make_encoder
        self._livelink: UdpTransport | None = None
        self._livelink_sink: FrameSink | None = None
        for s in sinks:
            transport = getattr(s, "transport", None)
            if s.name == "livelink" and isinstance(transport, UdpTransport):
                self._livelink, self._livelink_sink = transport, s
        self._paused: list[UdpTarget] | None = None
        self.server = RemoteServer(control, host, port, self)

    # ---- FrameSink -----------------------------------------------------------------------
    async def start(self) -> None:
        await self.server.start()

    def send(self, frame: RigFrame) -> None:
        return None

    def status(self) -> str:
        c = self.control.counters
        return f"remote :{self.server.port} ok {c.handled} ignored {c.unknown + c.malformed + c.refused}"

    async def aclose(self) -> None:
        await self.server.aclose()

    # ---- RemoteHost ----------------------------------------------------------------------
    def start_take(self, slate: str, take: int) -> str:
        if self.takes is None:
            raise RecordingError("/RecordStart: no take folder (start with --takes DIR)")
        return self.takes.start_take(slate, take, monotonic_ms()).start_timecode

    def stop_take(self) -> tuple[str, str]:
        if self.takes is None:
            raise RecordingError("/RecordStop: no take folder")
        info = self.takes.stop_take(monotonic_ms())
        return info.stop_timecode, str(info.csv)

    def _targets(self) -> list[UdpTarget]:
        if self._livelink is None:
            raise RecordingError("Live Link output is off: no targets to change")
        return self._paused if self._paused is not None else self._livelink.targets

    def add_livelink_target(self, host: str, port: int) -> None:
        targets = self._targets()
        if any(t.host == host and t.port == port for t in targets):
            return
        family, sockaddr = resolve_udp(host, port)
        targets.append(UdpTarget(host, port, sockaddr, family))
        if self._paused is None and self._livelink is not None:
            self._livelink.open()  # opens only the new socket

    def clear_livelink_targets(self) -> None:
        targets = self._targets()
        for t in targets:
            if t.sock is not None:
                t.sock.close()
                t.sock = None
        targets.clear()

    def set_subject(self, name: str) -> None:
        if self._livelink_sink is not None and self._make_encoder is not None:
            self._livelink_sink.encoder = self._make_encoder(name)  # type: ignore[attr-defined]
        if self.takes is not None and self.takes.active is None:
            self.takes.subject = name

    def set_streaming(self, on: bool) -> None:
        if self._livelink is None:
            return
        if not on and self._paused is None:  # keep the targets aside; send to none
            self._paused, self._livelink.targets = self._livelink.targets, []
        elif on and self._paused is not None:
            self._livelink.targets, self._paused = self._paused, None
            self._livelink.open()
