"""The viewer's command protocol: JSON text from the page → typed command → acknowledgement.

Pure (no I/O, no clock): :func:`parse_command` validates one message, :func:`handle_command`
checks that the sender may command (the viewer's own origin; the token was checked at the
handshake), runs it on a :class:`Controls` and returns the ``ack`` message. Every message gets
exactly one ack, malformed ones included, so the page never waits for nothing.

Messages (``id`` is optional, echoed back; any JSON string or integer)::

    {"cmd": "record", "on": true}               start/stop a .jsonl.gz recording; result: path, frames
    {"cmd": "calibrate", "frames": 60}          capture a neutral over N frames (5..600)
    {"cmd": "mirror", "on": true}               flip the image before tracking
    {"cmd": "output", "name": "vmc", "on": false}   enable/disable livelink | vmc | osc
    {"cmd": "pause", "on": true}                stop/resume tracking
    {"cmd": "state"}                            the controls' state, nothing changed

    {"type": "ack", "id": 7, "cmd": "record", "ok": true, "result": {...}}
    {"type": "ack", "id": 7, "cmd": "record", "ok": false, "error": "one line"}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from ..errors import MocapBridgeError

__all__ = [
    "OUTPUTS",
    "Calibrate",
    "Command",
    "CommandError",
    "Controls",
    "Mirror",
    "Output",
    "Pause",
    "Record",
    "State",
    "ack",
    "handle_command",
    "parse_command",
]

#: Outputs the page may switch on and off.
OUTPUTS: tuple[str, ...] = ("livelink", "vmc", "osc")
CALIBRATION_FRAMES = (5, 600)


class CommandError(MocapBridgeError):
    """A command that is malformed, not allowed, or cannot be carried out now."""


@dataclass(frozen=True, slots=True)
class Record:
    on: bool


@dataclass(frozen=True, slots=True)
class Calibrate:
    frames: int


@dataclass(frozen=True, slots=True)
class Mirror:
    on: bool


@dataclass(frozen=True, slots=True)
class Output:
    name: str
    on: bool


@dataclass(frozen=True, slots=True)
class Pause:
    on: bool


@dataclass(frozen=True, slots=True)
class State:
    pass


Command = Record | Calibrate | Mirror | Output | Pause | State


class Controls(Protocol):
    """What the running session lets the page change; each returns a small JSON-able result or
    raises :class:`CommandError` (or another MocapBridgeError) with one line."""

    def record(self, on: bool) -> dict[str, Any]: ...

    def calibrate(self, frames: int) -> dict[str, Any]: ...

    def mirror(self, on: bool) -> dict[str, Any]: ...

    def output(self, name: str, on: bool) -> dict[str, Any]: ...

    def pause(self, on: bool) -> dict[str, Any]: ...

    def state(self) -> dict[str, Any]: ...


def _flag(doc: dict[str, Any], cmd: str) -> bool:
    on = doc.get("on")
    if not isinstance(on, bool):
        raise CommandError(f'{cmd}: "on" must be true or false')
    return on


def parse_command(doc: Any) -> Command:
    """A typed command from a decoded JSON message; CommandError names what is wrong."""
    if not isinstance(doc, dict):
        raise CommandError("a command is a JSON object")
    cmd = doc.get("cmd")
    if cmd == "record":
        return Record(_flag(doc, cmd))
    if cmd == "mirror":
        return Mirror(_flag(doc, cmd))
    if cmd == "pause":
        return Pause(_flag(doc, cmd))
    if cmd == "state":
        return State()
    if cmd == "output":
        name = doc.get("name")
        if name not in OUTPUTS:
            raise CommandError(f'output: "name" must be one of {", ".join(OUTPUTS)}')
        return Output(str(name), _flag(doc, cmd))
    if cmd == "calibrate":
        frames = doc.get("frames", 60)
        lo, hi = CALIBRATION_FRAMES
        if isinstance(frames, bool) or not isinstance(frames, int) or not lo <= frames <= hi:
            raise CommandError(f'calibrate: "frames" must be a whole number in {lo}..{hi}')
        return Calibrate(frames)
    raise CommandError(f"unknown command {cmd!r} (known: record, calibrate, mirror, output, pause, state)")


def _id(doc: Any) -> str | int | None:
    if not isinstance(doc, dict):
        return None
    value = doc.get("id")
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and abs(value) < 2**53:
        return value
    if isinstance(value, str) and len(value) <= 64:
        return value
    return None


def ack(
    msg_id: str | int | None,
    cmd: str | None,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> bytes:
    """The ``ack`` message (``ok`` is true exactly when there is no error)."""
    out: dict[str, Any] = {"type": "ack", "id": msg_id, "cmd": cmd, "ok": error is None}
    if error is None:
        out["result"] = result or {}
    else:
        out["error"] = error
    return orjson.dumps(out)


def run_command(command: Command, controls: Controls) -> dict[str, Any]:
    """Carry out one command (may raise MocapBridgeError)."""
    match command:
        case Record(on):
            return controls.record(on)
        case Calibrate(frames):
            return controls.calibrate(frames)
        case Mirror(on):
            return controls.mirror(on)
        case Output(name, on):
            return controls.output(name, on)
        case Pause(on):
            return controls.pause(on)
        case State():
            return controls.state()
    raise AssertionError(command)  # pragma: no cover


def handle_command(text: str, *, trusted: bool, controls: Controls) -> bytes:
    """One text message from a client → its ack (never raises for bad input)."""
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return ack(None, None, error="not JSON")
    msg_id = _id(doc)
    cmd = doc.get("cmd") if isinstance(doc, dict) and isinstance(doc.get("cmd"), str) else None
    if not trusted:
        return ack(msg_id, cmd, error="commands are accepted only from the bridge's own viewer page")
    try:
        command = parse_command(doc)
        return ack(msg_id, cmd, result=run_command(command, controls))
    except MocapBridgeError as exc:
        return ack(msg_id, cmd, error=str(exc))
