"""Thin OSC/UDP listener for the Live Link Face remote control (mocap_bridge/remote.py).

python-osc's :class:`AsyncIOOSCUDPServer` on the running asyncio loop decodes each datagram;
every message goes to :meth:`RemoteControl.handle`; the resulting actions go to the app's
:class:`RemoteHost`, and replies (built with python-osc) leave from the listening socket, as the
app's do. Nothing here blocks: a host that fails is logged and counted, never raised.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Protocol, cast

from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_server import AsyncIOOSCUDPServer

from ..errors import ConfigError
from ..remote import (
    AddLiveLinkTarget,
    ClearLiveLinkTargets,
    RemoteControl,
    Reply,
    SetStreaming,
    SetSubject,
    StartTake,
    StopTake,
)

__all__ = ["RemoteHost", "RemoteServer", "encode_reply"]

log = logging.getLogger(__name__)


class RemoteHost(Protocol):
    """What the running app does for the remote control."""

    def start_take(self, slate: str, take: int) -> str:
        """Start a take; returns its start timecode."""
        ...

    def stop_take(self) -> tuple[str, str]:
        """Stop the take; returns (stop timecode, path of its Live Link Face CSV)."""
        ...

    def add_livelink_target(self, host: str, port: int) -> None: ...

    def clear_livelink_targets(self) -> None: ...

    def set_subject(self, name: str) -> None: ...

    def set_streaming(self, on: bool) -> None: ...


def encode_reply(reply: Reply) -> bytes:
    b = OscMessageBuilder(reply.address)
    for arg, tag in zip(reply.args, reply.types, strict=True):
        b.add_arg(arg, tag)
    return bytes(b.build().dgram)


class RemoteServer:
    """Listens on ``host:port`` (port 0: any free port, see :attr:`port`)."""

    def __init__(self, control: RemoteControl, host: str, port: int, app: RemoteHost) -> None:
        self.control = control
        self.host, self._port = host, port
        self.app = app
        self.errors = 0
        self._transport: asyncio.DatagramTransport | None = None

    @property
    def port(self) -> int:
        if self._transport is not None:
            return int(self._transport.get_extra_info("sockname")[1])
        return self._port

    async def start(self) -> None:
        dispatcher = Dispatcher()
        dispatcher.set_default_handler(self._on_message, needs_reply_address=True)
        loop = cast(asyncio.BaseEventLoop, asyncio.get_running_loop())
        server = AsyncIOOSCUDPServer((self.host, self._port), dispatcher, loop)
        try:
            transport, _ = await server.create_serve_endpoint()
            self._transport = cast(asyncio.DatagramTransport, transport)
        except OSError as exc:
            raise ConfigError(f"[remote] osc_listen {self.host}:{self._port}: {exc.strerror or exc}") from exc
        self._send(self.control.activated())

    def _send(self, replies: Sequence[Reply]) -> None:
        if self._transport is None:
            return
        for r in replies:
            try:
                self._transport.sendto(encode_reply(r), r.target)
            except OSError:
                self.errors += 1

    def _on_message(self, source: tuple[str, int], address: str, *args: Any) -> None:
        result = self.control.handle(address, args, (source[0], source[1]))
        self._send(result.replies)
        for action in result.actions:
            try:
                self._run(action)
            except Exception:  # the stream must go on; the controller gets no confirm
                self.errors += 1
                log.exception("remote command %s failed", type(action).__name__)

    def _run(self, action: object) -> None:
        c, app = self.control, self.app
        if isinstance(action, StartTake):
            self._send(c.take_started(app.start_take(action.slate, action.take)))
        elif isinstance(action, StopTake):
            timecode, csv_path = app.stop_take()
            self._send(c.take_stopped(timecode, csv_path))
        elif isinstance(action, AddLiveLinkTarget):
            app.add_livelink_target(action.host, action.port)
        elif isinstance(action, ClearLiveLinkTargets):
            app.clear_livelink_targets()
        elif isinstance(action, SetSubject):
            app.set_subject(action.name)
        elif isinstance(action, SetStreaming):
            app.set_streaming(action.on)

    async def aclose(self) -> None:
        self._send(self.control.deactivated())
        if self._transport is not None:
            self._transport.close()
            self._transport = None
