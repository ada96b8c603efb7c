"""OSC 1.0 wire helpers shared by the VMC and generic OSC encoders (protocols.md §4).

Theory of operation
-------------------
Every message mocap_bridge sends has a fixed address, fixed type tags and (for VMC) a fixed leading
string argument (bone or blendshape name); only the trailing ``i``/``f`` atoms change per frame.
A :class:`Template` therefore bakes, once, the bundle-element size prefix, the padded address, the
padded type-tag string and the padded constant strings into one ``bytes`` ``head``.

Which messages a frame carries changes rarely (which bones are valid, whether a hand is seen), so
a :class:`FramePlan` precompiles a whole frame for one such layout: every ``#bundle`` datagram
(greedily filled up to ``max_datagram`` bytes, order preserved) laid out in one ``uint8`` image
with all heads in place, plus the byte offsets of every ``f`` and ``i`` atom. Rendering a frame is
then one ``astype(">f4")`` of all floats, one ``astype(">i4")`` of all ints, a copy of the image,
two fancy-index stores and one ``tobytes`` per datagram: a few microseconds, independent of the
number of messages. Encoders cache plans per layout.

Only the OSC types ``s``, ``i`` and ``f`` are ever written (protocols.md §3.2: VMC receivers reject
doubles and booleans). Every bundle carries the "immediately" time tag (``00…01``, §4).

:func:`decode_packet` is a small strict reader (flattens nested bundles) used by tests and tools;
python-osc is the independent oracle.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import ProtocolError

__all__ = [
    "BUNDLE_HEAD",
    "MAX_UDP_PAYLOAD",
    "FramePlan",
    "OscMessage",
    "Template",
    "decode_packet",
    "encode_message",
    "pack_elements",
    "pad_string",
]

#: ``"#bundle\0"`` plus the "immediately" NTP time tag (protocols.md §4).
BUNDLE_HEAD = b"#bundle\x00" + b"\x00" * 7 + b"\x01"
#: Largest UDP/IPv4 payload (protocols.md §4).
MAX_UDP_PAYLOAD = 65507

_I32 = struct.Struct(">i")
_F32 = struct.Struct(">f")


def pad_string(text: str) -> bytes:
    """UTF-8 bytes, NUL-terminated and NUL-padded to a multiple of 4 (OSC-string)."""
    raw = text.encode("utf-8")
    if b"\x00" in raw:
        raise ProtocolError(f"OSC string {text!r} contains a NUL character")
    return raw + b"\x00" * (4 - len(raw) % 4)


class Template:
    """A precompiled bundle element: size prefix + address + type tags + constant strings.

    ``typetags`` (without the leading comma) starts with one ``s`` per item of ``strings`` and
    continues with ``i``/``f`` atoms only; ``payload_size`` is ``4 × number of atoms``. An element
    is ``head + payload`` where ``payload`` holds the big-endian atoms; its length is ``size``.
    """

    __slots__ = ("address", "atoms", "head", "payload_size", "size", "typetags")

    def __init__(self, address: str, typetags: str, strings: Sequence[str] = ()) -> None:
        if not address.startswith("/"):
            raise ProtocolError(f"OSC address {address!r} must start with '/'")
        n_strings = len(strings)
        if typetags[:n_strings] != "s" * n_strings:
            raise ProtocolError(f"type tags {typetags!r} must start with {n_strings} 's'")
        atoms = typetags[n_strings:]
        if any(t not in "if" for t in atoms):
            raise ProtocolError(f"type tags {typetags!r}: only i and f may follow the strings")
        body = pad_string(address) + pad_string("," + typetags)
        body += b"".join(pad_string(s) for s in strings)
        self.address = address
        self.typetags = typetags
        self.atoms = atoms  #: the ``i``/``f`` tags after the constant strings
        self.payload_size = 4 * len(atoms)
        message_size = len(body) + self.payload_size
        self.head = _I32.pack(message_size) + body
        self.size = 4 + message_size

    def element(self, payload: bytes) -> bytes:
        """The full bundle element for ``payload`` (checked; the hot path concatenates directly)."""
        if len(payload) != self.payload_size:
            raise ProtocolError(
                f"{self.address}: payload of {len(payload)} bytes, expected {self.payload_size}"
            )
        return self.head + payload


def pack_elements(elements: Iterable[bytes], max_datagram: int) -> list[bytes]:
    """Group size-prefixed bundle elements, in order, into bundles of at most ``max_datagram`` bytes.

    Raises :class:`ProtocolError` if a single element cannot fit in an otherwise empty bundle.
    """
    out: list[bytes] = []
    parts: list[bytes] = [BUNDLE_HEAD]
    size = len(BUNDLE_HEAD)
    empty = size
    for el in elements:
        n = len(el)
        if size + n > max_datagram:
            if empty + n > max_datagram:
                raise ProtocolError(
                    f"OSC element of {n} bytes cannot fit a {max_datagram}-byte datagram"
                )
            if size > empty:
                out.append(b"".join(parts))
            parts = [BUNDLE_HEAD]
            size = empty
        parts.append(el)
        size += n
    if size > empty:
        out.append(b"".join(parts))
    return out


class FramePlan:
    """A precompiled frame image for a fixed sequence of templates (see the module docstring).

    ``n_floats``/``n_ints``: how many ``f``/``i`` atoms :meth:`render` expects, in template order
    (each template's atoms in type-tag order).
    """

    __slots__ = ("_bounds", "_float_pos", "_image", "_int_pos", "n_floats", "n_ints")

    def __init__(self, templates: Sequence[Template], max_datagram: int) -> None:
        image = bytearray()
        bounds: list[tuple[int, int]] = []
        float_pos: list[int] = []
        int_pos: list[int] = []
        start = -1
        empty = len(BUNDLE_HEAD)
        for t in templates:
            if empty + t.size > max_datagram:
                raise ProtocolError(
                    f"{t.address}: element of {t.size} bytes cannot fit a {max_datagram}-byte "
                    "datagram"
                )
            if start < 0 or len(image) - start + t.size > max_datagram:
                if start >= 0:
                    bounds.append((start, len(image)))
                start = len(image)
                image += BUNDLE_HEAD
            image += t.head
            for a in t.atoms:
                (float_pos if a == "f" else int_pos).append(len(image))
                image += b"\x00\x00\x00\x00"
        if start >= 0:
            bounds.append((start, len(image)))
        self._image = np.frombuffer(bytes(image), dtype=np.uint8).copy()
        self._bounds = bounds
        self._float_pos = _byte_index(float_pos)
        self._int_pos = _byte_index(int_pos)
        self.n_floats = len(float_pos)
        self.n_ints = len(int_pos)

    @property
    def sizes(self) -> list[int]:
        """Length of each datagram."""
        return [b - a for a, b in self._bounds]

    def render(
        self, floats: npt.NDArray[np.floating[Any]], ints: npt.NDArray[np.integer[Any]]
    ) -> list[bytes]:
        """The datagrams of one frame; ``floats``/``ints`` in atom order (lengths checked)."""
        if len(floats) != self.n_floats or len(ints) != self.n_ints:
            raise ProtocolError(
                f"frame plan wants {self.n_floats} floats and {self.n_ints} ints, "
                f"got {len(floats)} and {len(ints)}"
            )
        buf = self._image.copy()
        if self.n_floats:
            buf[self._float_pos] = np.asarray(floats).astype(">f4").view(np.uint8)
        if self.n_ints:
            buf[self._int_pos] = np.asarray(ints).astype(">i4").view(np.uint8)
        return [buf[a:b].tobytes() for a, b in self._bounds]


def _byte_index(starts: list[int]) -> npt.NDArray[np.intp]:
    """Byte offsets of 4-byte atoms starting at ``starts``, flattened (atom-major)."""
    base = np.asarray(starts, dtype=np.intp).reshape(-1, 1)
    out: npt.NDArray[np.intp] = (base + np.arange(4, dtype=np.intp)).reshape(-1)
    return out


def encode_message(address: str, *args: str | int | float) -> bytes:
    """Encode one message generically (slow path: tests, tools, low-rate messages).

    ``str`` → ``s``, ``int`` → ``i`` (int32), ``float`` → ``f`` (float32). ``bool`` is refused.
    """
    tags = ","
    data: list[bytes] = []
    for a in args:
        if isinstance(a, bool):
            raise ProtocolError(f"{address}: booleans are not sent (protocols.md §3.2)")
        if isinstance(a, str):
            tags += "s"
            data.append(pad_string(a))
        elif isinstance(a, int):
            tags += "i"
            try:
                data.append(_I32.pack(a))
            except struct.error as exc:
                raise ProtocolError(f"{address}: {a} does not fit int32") from exc
        elif isinstance(a, float):
            tags += "f"
            data.append(_F32.pack(a))
        else:
            raise ProtocolError(f"{address}: unsupported OSC argument {a!r}")
    return pad_string(address) + pad_string(tags) + b"".join(data)


@dataclass(frozen=True, slots=True)
class OscMessage:
    """A decoded OSC message."""

    address: str
    typetags: str  #: without the leading comma
    args: tuple[str | int | float, ...]


def _read_string(data: bytes, pos: int) -> tuple[str, int]:
    end = data.find(b"\x00", pos)
    if end < 0:
        raise ProtocolError(f"unterminated OSC string at offset {pos}")
    try:
        text = data[pos:end].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"OSC string at offset {pos} is not UTF-8") from exc
    nxt = end + (4 - end % 4)
    if nxt > len(data) or any(data[end:nxt]):
        raise ProtocolError(f"bad OSC string padding at offset {end}")
    return text, nxt


def _decode_message(data: bytes) -> OscMessage:
    if len(data) % 4:
        raise ProtocolError(f"OSC message length {len(data)} is not a multiple of 4")
    address, pos = _read_string(data, 0)
    if not address.startswith("/"):
        raise ProtocolError(f"OSC address {address!r} does not start with '/'")
    tags, pos = _read_string(data, pos)
    if not tags.startswith(","):
        raise ProtocolError(f"{address}: type tags {tags!r} do not start with ','")
    args: list[str | int | float] = []
    for t in tags[1:]:
        if t == "s":
            s, pos = _read_string(data, pos)
            args.append(s)
            continue
        if pos + 4 > len(data):
            raise ProtocolError(f"{address}: truncated argument")
        if t == "i":
            args.append(_I32.unpack_from(data, pos)[0])
        elif t == "f":
            args.append(_F32.unpack_from(data, pos)[0])
        else:
            raise ProtocolError(f"{address}: unsupported OSC type {t!r}")
        pos += 4
    if pos != len(data):
        raise ProtocolError(f"{address}: {len(data) - pos} trailing bytes")
    return OscMessage(address, tags[1:], tuple(args))


def decode_packet(data: bytes) -> list[OscMessage]:
    """Decode a datagram (message or bundle, nested bundles flattened in order).

    Only the types ``s``, ``i``, ``f`` are accepted; anything malformed raises
    :class:`ProtocolError`.
    """
    if data.startswith(b"#bundle\x00"):
        if len(data) < 16:
            raise ProtocolError("truncated OSC bundle header")
        out: list[OscMessage] = []
        pos = 16
        while pos < len(data):
            if pos + 4 > len(data):
                raise ProtocolError(f"truncated bundle element size at offset {pos}")
            (n,) = _I32.unpack_from(data, pos)
            pos += 4
            if n <= 0 or n % 4 or pos + n > len(data):
                raise ProtocolError(f"bad bundle element size {n} at offset {pos - 4}")
            out.extend(decode_packet(data[pos : pos + n]))
            pos += n
        return out
    return [_decode_message(data)]
