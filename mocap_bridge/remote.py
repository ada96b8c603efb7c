"""Live Link Face OSC remote control: a pure state machine for the app's documented commands.

Epic documents an OSC command set for the Live Link Face iPhone app ("Recording Facial Animation
from an iOS Device", section "Controlling Live Link Face through OSC"); Unreal's Switchboard and
third-party capture controllers speak it. mocap_bridge answers it as the app would (argument
types as documented; docs/takes.md, "Remote control"):

======================================  ================================================
received                                effect / reply (to the OSC send target only)
======================================  ================================================
``/OSCSetSendTarget ip:s port:i``       set the send target; ``/OSCSetSendTargetConfirm``
``/AddLiveLinkAddress ip:s port:i``     add a Live Link target (validated like configured ones)
``/ClearAllLiveLinkAddresses``          remove every Live Link target
``/LiveLinkSubject name:s``             Live Link subject name
``/LiveLinkStreamStart`` / ``Stop``     Live Link streaming on / off
``/Slate name:s``, ``/Take n:i``        next take's slate and number
``/RecordStart slate:s take:i``         start a take; ``/RecordStartConfirm timecode:s``
``/RecordStop``                         stop it; ``/RecordStopConfirm timecode:s csv:s mov:s``
                                        (``mov`` empty: no reference video)
``/BatteryQuery`` / ``/ThermalsQuery``  ``/Battery 1.0:f`` / ``/Thermals 0:i``
======================================  ================================================

``/AppActivated`` goes to the send target when one is known at start, ``/AppDeactivated`` when the
listener closes. Anything else, or a known
command with the wrong argument types, is counted and ignored. With a loopback listen address
(the default) only datagrams from 127.0.0.0/8 (or ::1) are obeyed and only loopback send or Live
Link targets are accepted; a non-loopback listen address lifts that (the user opened it).

Pure: no sockets, no clock. :meth:`RemoteControl.handle` returns the :class:`Action`\\ s for the
app to carry out and the replies to send; the app reports a started or stopped take back through
:meth:`RemoteControl.take_started` / :meth:`RemoteControl.take_stopped`, which return the confirms.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .errors import ConfigError
from .transports.endpoints import parse_endpoint

__all__ = [
    "Action",
    "AddLiveLinkTarget",
    "ClearLiveLinkTargets",
    "RemoteControl",
    "RemoteResult",
    "Reply",
    "SetStreaming",
    "SetSubject",
    "StartTake",
    "StopTake",
    "is_loopback",
]

OscArg = str | int | float


@dataclass(frozen=True, slots=True)
class Reply:
    """One OSC message to send: address, typed arguments (``types`` are OSC type tags)."""

    target: tuple[str, int]
    address: str
    args: tuple[OscArg, ...] = ()
    types: str = ""


@dataclass(frozen=True, slots=True)
class StartTake:
    slate: str
    take: int


@dataclass(frozen=True, slots=True)
class StopTake:
    pass


@dataclass(frozen=True, slots=True)
class AddLiveLinkTarget:
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class ClearLiveLinkTargets:
    pass


@dataclass(frozen=True, slots=True)
class SetSubject:
    name: str


@dataclass(frozen=True, slots=True)
class SetStreaming:
    on: bool


Action = StartTake | StopTake | AddLiveLinkTarget | ClearLiveLinkTargets | SetSubject | SetStreaming


@dataclass(frozen=True, slots=True)
class RemoteResult:
    actions: tuple[Action, ...] = ()
    replies: tuple[Reply, ...] = ()


_EMPTY = RemoteResult()


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


@dataclass(slots=True)
class _Counters:
    handled: int = 0
    unknown: int = 0  #: addresses the app does not document
    malformed: int = 0  #: documented address, wrong argument count or types
    refused: int = 0  #: from a non-loopback sender, or a target that failed validation
    unknown_addresses: dict[str, int] = field(default_factory=dict)


class RemoteControl:
    """The app's remote-control state; one per listener."""

    def __init__(
        self,
        *,
        listen_host: str = "127.0.0.1",
        send_target: tuple[str, int] | None = None,
        slate: str = "Slate",
        take: int = 1,
        subject: str = "MocapBridge",
    ) -> None:
        self.loopback_only = is_loopback(listen_host)
        self.send_target: tuple[str, int] | None = None
        if send_target is not None:
            self.send_target = self._check_target(*send_target, what="[remote] send target")
        self.slate = slate
        self.take = take
        self.subject = subject
        self.recording = False
        self.streaming = True
        self.counters = _Counters()

    # ---- validation ----------------------------------------------------------------------
    def _check_target(self, host: str, port: int, *, what: str) -> tuple[str, int]:
        """The same rules as a configured target (an IP literal: no name lookups for remote
        input), plus the loopback rule. ConfigError with one line when it fails."""
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            raise ConfigError(f"{what}: {host!r} is not an IP address") from None
        ep = parse_endpoint(f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}", what)
        if self.loopback_only and not ip.is_loopback:
            raise ConfigError(f"{what}: {host} is not loopback and the listener is (set [remote] "
                              "osc_listen to a non-loopback address to allow it)")  # fmt: skip
        return ep.host, ep.port

    def _reply(self, address: str, args: Sequence[OscArg] = (), types: str = "") -> tuple[Reply, ...]:
        if self.send_target is None:
            return ()
        return (Reply(self.send_target, address, tuple(args), types),)

    # ---- app side ------------------------------------------------------------------------
    def activated(self) -> tuple[Reply, ...]:
        """``/AppActivated``, sent when the listener starts (if a send target is known)."""
        return self._reply("/AppActivated")

    def deactivated(self) -> tuple[Reply, ...]:
        """``/AppDeactivated``, sent when the listener closes (end of the run)."""
        return self._reply("/AppDeactivated")

    def take_started(self, timecode: str) -> tuple[Reply, ...]:
        self.recording = True
        return self._reply("/RecordStartConfirm", (timecode,), "s")

    def take_stopped(self, timecode: str, csv_path: str, mov_path: str = "") -> tuple[Reply, ...]:
        self.recording = False
        return self._reply("/RecordStopConfirm", (timecode, csv_path, mov_path), "sss")

    # ---- received commands ---------------------------------------------------------------
    def handle(self, address: str, args: Sequence[object], source: tuple[str, int]) -> RemoteResult:
        """One received OSC message from ``source`` (host, port)."""
        c = self.counters
        if self.loopback_only and not is_loopback(source[0]):
            c.refused += 1
            return _EMPTY
        spec = _COMMANDS.get(address)
        if spec is None:
            c.unknown += 1
            c.unknown_addresses[address] = c.unknown_addresses.get(address, 0) + 1
            return _EMPTY
        types, method = spec
        if not types:
            args = ()  # commands without arguments: extra ones are ignored (some controllers send 1)
        elif len(args) != len(types) or not all(_is(a, t) for a, t in zip(args, types, strict=True)):
            c.malformed += 1
            return _EMPTY
        try:
            result: RemoteResult = method(self, *args)
        except ConfigError:
            c.refused += 1
            return _EMPTY
        c.handled += 1
        return result

    def _set_send_target(self, ip: str, port: int) -> RemoteResult:
        self.send_target = self._check_target(ip, port, what="/OSCSetSendTarget")
        return RemoteResult(replies=self._reply("/OSCSetSendTargetConfirm"))

    def _add_livelink(self, ip: str, port: int) -> RemoteResult:
        host, port = self._check_target(ip, port, what="/AddLiveLinkAddress")
        return RemoteResult(actions=(AddLiveLinkTarget(host, port),))

    def _clear_livelink(self) -> RemoteResult:
        return RemoteResult(actions=(ClearLiveLinkTargets(),))

    def _subject(self, name: str) -> RemoteResult:
        if not name or len(name.encode()) > 256:
            raise ConfigError("/LiveLinkSubject: the name must be 1..256 UTF-8 bytes")
        self.subject = name
        return RemoteResult(actions=(SetSubject(name),))

    def _stream(self, on: bool) -> RemoteResult:
        self.streaming = on
        return RemoteResult(actions=(SetStreaming(on),))

    def _slate(self, name: str) -> RemoteResult:
        if not name:
            raise ConfigError("/Slate: empty name")
        self.slate = name
        return _EMPTY

    def _take(self, n: int) -> RemoteResult:
        if n < 0:
            raise ConfigError("/Take: negative take number")
        self.take = n
        return _EMPTY

    def _record_start(self, slate: str, take: int) -> RemoteResult:
        if self.recording or not slate or take < 0:
            raise ConfigError("/RecordStart refused: already recording or bad slate/take")
        self.slate, self.take = slate, take
        return RemoteResult(actions=(StartTake(slate, take),))

    def _record_stop(self) -> RemoteResult:
        if not self.recording:
            raise ConfigError("/RecordStop refused: not recording")
        return RemoteResult(actions=(StopTake(),))

    def _battery(self) -> RemoteResult:
        return RemoteResult(replies=self._reply("/Battery", (1.0,), "f"))

    def _thermals(self) -> RemoteResult:
        return RemoteResult(replies=self._reply("/Thermals", (0,), "i"))


def _is(value: object, tag: str) -> bool:
    if tag == "s":
        return isinstance(value, str)
    return isinstance(value, int) and not isinstance(value, bool)  # "i"


_COMMANDS: dict[str, tuple[str, Callable[..., RemoteResult]]] = {
    "/OSCSetSendTarget": ("si", RemoteControl._set_send_target),
    "/AddLiveLinkAddress": ("si", RemoteControl._add_livelink),
    "/ClearAllLiveLinkAddresses": ("", RemoteControl._clear_livelink),
    "/LiveLinkSubject": ("s", RemoteControl._subject),
    "/LiveLinkStreamStart": ("", lambda self: self._stream(True)),
    "/LiveLinkStreamStop": ("", lambda self: self._stream(False)),
    "/Slate": ("s", RemoteControl._slate),
    "/Take": ("i", RemoteControl._take),
    "/RecordStart": ("si", RemoteControl._record_start),
    "/RecordStop": ("", RemoteControl._record_stop),
    "/BatteryQuery": ("", RemoteControl._battery),
    "/ThermalsQuery": ("", RemoteControl._thermals),
}
