"""A small OSC 1.0 reader for what VMC senders emit (Blender ships no python-osc).

OSC 1.0 (https://opensoundcontrol.stanford.edu/spec-1_0.html): a packet is a message or a
``#bundle`` (8-byte time tag, then size-prefixed elements, which may be bundles again; the VMC
app nests them). A message is a 4-byte-padded address, a padded type-tag string starting with
``,``, then the arguments, big-endian.

VMC uses only ``s``, ``i`` and ``f`` (https://protocol.vmc.info/specification). The other 1.0 and
common 1.1 types are decoded too so a message carrying them is still readable: ``b`` blob (bytes),
``h`` int64, ``t`` time tag (int), ``d`` double, ``S`` symbol (str), ``c`` char (str), ``r`` RGBA
and ``m`` MIDI (4-tuples of ints), ``T``/``F``/``N``/``I`` (True/False/None/inf, no payload).
Arrays (``[``/``]``) are flattened. A message with an unknown type tag cannot be measured, so it
is skipped (its bundle element size still lets the reader go on); anything truncated or malformed
raises :class:`OscError`, which the receiver counts and drops.

Pure: no I/O, stdlib only.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

__all__ = ["Message", "OscError", "iter_messages", "parse_message"]

Message = tuple[str, tuple[object, ...]]

_BUNDLE = b"#bundle\x00"
_I32 = struct.Struct(">i")
_F32 = struct.Struct(">f")
_I64 = struct.Struct(">q")
_U64 = struct.Struct(">Q")
_F64 = struct.Struct(">d")
_MAX_DEPTH = 16


class OscError(ValueError):
    """A datagram that is not valid OSC (truncated, unterminated string, bad size...)."""


class _UnknownType(Exception):
    """A type tag this reader cannot size; the message is skipped."""


def _string(data: bytes, pos: int, end: int) -> tuple[str, int]:
    """An OSC string at ``pos``: bytes up to NUL, then padding to a multiple of 4."""
    nul = data.find(b"\x00", pos, end)
    if nul < 0:
        raise OscError("unterminated OSC string")
    text = data[pos:nul].decode("utf-8", "replace")
    nxt = (nul + 4) & ~3
    if nxt > end:
        raise OscError("OSC string padding runs past the end")
    return text, nxt


def parse_message(data: bytes, pos: int = 0, end: int | None = None) -> Message | None:
    """Decode one message spanning ``data[pos:end]``; ``None`` when it carries an unknown type."""
    end = len(data) if end is None else end
    address, pos = _string(data, pos, end)
    if not address.startswith("/"):
        raise OscError(f"OSC address must start with '/', got {address[:32]!r}")
    if pos >= end:
        return address, ()  # OSC 1.0 allows a message without a type-tag string
    tags, pos = _string(data, pos, end)
    if not tags.startswith(","):
        raise OscError("OSC type-tag string must start with ','")
    try:
        args, pos = _arguments(data, pos, end, tags)
    except _UnknownType:
        return None
    return address, tuple(args)


def _arguments(data: bytes, pos: int, end: int, tags: str) -> tuple[list[object], int]:
    args: list[object] = []
    for tag in tags[1:]:
        if tag in "ifcrm":
            if pos + 4 > end:
                raise OscError("OSC argument runs past the end")
            if tag == "i":
                args.append(_I32.unpack_from(data, pos)[0])
            elif tag == "f":
                args.append(_F32.unpack_from(data, pos)[0])
            elif tag == "c":
                args.append(chr(_I32.unpack_from(data, pos)[0] & 0x10FFFF))
            else:
                args.append(tuple(data[pos : pos + 4]))
            pos += 4
        elif tag in "sS":
            text, pos = _string(data, pos, end)
            args.append(text)
        elif tag in "hdt":
            if pos + 8 > end:
                raise OscError("OSC argument runs past the end")
            codec = _I64 if tag == "h" else _F64 if tag == "d" else _U64
            args.append(codec.unpack_from(data, pos)[0])
            pos += 8
        elif tag == "b":
            if pos + 4 > end:
                raise OscError("OSC blob size runs past the end")
            size = _I32.unpack_from(data, pos)[0]
            start = pos + 4
            stop = start + size
            if size < 0 or stop > end:
                raise OscError("OSC blob runs past the end")
            args.append(bytes(data[start:stop]))
            pos = (stop + 3) & ~3
        elif tag == "T":
            args.append(True)
        elif tag == "F":
            args.append(False)
        elif tag == "N":
            args.append(None)
        elif tag == "I":
            args.append(float("inf"))
        elif tag in "[]":
            continue
        else:
            raise _UnknownType(tag)
    return args, pos


def iter_messages(data: bytes) -> Iterator[Message]:
    """Every readable message of one datagram, bundles (nested too) flattened in order."""
    yield from _packet(data, 0, len(data), 0)


def _packet(data: bytes, pos: int, end: int, depth: int) -> Iterator[Message]:
    if data.startswith(_BUNDLE, pos):
        if depth >= _MAX_DEPTH:
            raise OscError("OSC bundles nested too deeply")
        pos += 16  # "#bundle\0" + 8-byte time tag (VMC receivers apply on arrival)
        if pos > end:
            raise OscError("OSC bundle header runs past the end")
        while pos < end:
            if pos + 4 > end:
                raise OscError("OSC bundle element size runs past the end")
            size = _I32.unpack_from(data, pos)[0]
            pos += 4
            if size < 0 or size % 4 or pos + size > end:
                raise OscError("OSC bundle element size is invalid")
            if size == 0:
                continue
            yield from _packet(data, pos, pos + size, depth + 1)
            pos += size
        return
    msg = parse_message(data, pos, end)
    if msg is not None:
        yield msg
