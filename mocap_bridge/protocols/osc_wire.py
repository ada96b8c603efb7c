"""OSC 1.0 wire helpers shared by the VMC and generic OSC encoders (OSC 1.0 spec).

Theory of operation
-------------------
Every message mocap_bridge sends has a fixed address, fixed type tags and (for VMC) a fixed leading
string argument (bone or blendshape name); only the trailing ``i``/``f`` atoms change per frame.
A :class:`Template` therefore bakes, once, the bundle-element size prefix, the padded address, the
padded type-tag string and the padded constant strings into one ``bytes`` ``head``.

Which messages a frame carries changes rarely (which bones are valid, whether a hand is seen), so
a :class:`FramePlan` precompiles a whole frame for one such layout: every ``#bundle`` datagram
(greedily filled up to ``max_datagram`` bytes, order preserved) laid out in one buffer with all
heads in place. Every OSC atom starts at a multiple of 4 bytes (the bundle head is 16 bytes and
every element is a multiple of 4), so the buffer is also viewed as big-endian ``>f4`` and ``>i4``
arrays and each ``f``/``i`` atom is one element index ("slot") of those views. Rendering a frame
is one fancy-index store of all floats (numpy converts float64 → big-endian float32 on the way,
the same rounding as ``astype(">f4")``), one of the ints, and one ``memoryview.tobytes`` per
datagram: a few microseconds, independent of the number of messages.

The buffer is written in place: every slot :meth:`FramePlan.render` fills is overwritten on every
call, and slots an encoder fills once with :meth:`FramePlan.write_floats` (constants) keep their
value. Plans therefore belong to one encoder and are not shared between threads. Encoders cache
plans per layout.

Only the OSC types ``s``, ``i`` and ``f`` are ever written (VMC spec, protocol.vmc.info: VMC receivers reject
doubles and booleans). Every bundle carries the "immediately" time tag (``00…01``, OSC 1.0 spec).

:func:`decode_packet` is a small strict reader (flattens nested bundles) used by tests and tools;
python-osc is the independent oracle.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

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

#: ``"#bundle\0"`` plus the "immediately" NTP time tag (OSC 1.0 spec).
BUNDLE_HEAD = b"#bundle\x00" + b"\x00" * 7 + b"\x01"
#: Largest UDP/IPv4 payload (OSC 1.0 spec).
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
                raise ProtocolError(f"OSC element of {n} bytes cannot fit a {max_datagram}-byte datagram")
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
    (each template's atoms in type-tag order). ``float_slots``/``int_slots`` are their element
    indices in the ``>f4``/``>i4`` views of the buffer, for encoders that write values straight
    to their slots (:meth:`write_floats`, :meth:`write_ints`, then :meth:`datagrams`).
    """

    __slots__ = ("_bounds", "_buf", "_f4", "_i4", "_views", "float_slots", "int_slots",
                 "n_floats", "n_ints")  # fmt: skip

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
                    f"{t.address}: element of {t.size} bytes cannot fit a {max_datagram}-byte datagram"
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
        if any(p % 4 for p in float_pos + int_pos):  # pragma: no cover - OSC alignment invariant
            raise AssertionError("OSC atom not 4-byte aligned")
        self._buf = image
        arr = np.frombuffer(image, dtype=np.uint8)  # writable view of the bytearray
        self._f4 = arr.view(">f4")
        self._i4 = arr.view(">i4")
        view = memoryview(image)
        self._views = [view[a:b] for a, b in bounds]
        self._bounds = bounds
        self.float_slots: npt.NDArray[np.intp] = np.asarray(float_pos, dtype=np.intp) // 4
        self.int_slots: npt.NDArray[np.intp] = np.asarray(int_pos, dtype=np.intp) // 4
        self.n_floats = len(float_pos)
        self.n_ints = len(int_pos)

    @property
    def sizes(self) -> list[int]:
        """Length of each datagram."""
        return [b - a for a, b in self._bounds]

    def write_floats(self, slots: npt.NDArray[np.intp] | int, values: npt.ArrayLike) -> None:
        """Store ``values`` (rounded to float32) at element ``slots`` (from :attr:`float_slots`)."""
        self._f4[slots] = values

    def write_ints(self, slots: npt.NDArray[np.intp] | int, values: npt.ArrayLike) -> None:
        """Store ``values`` (int32) at element ``slots`` (from :attr:`int_slots`)."""
        self._i4[slots] = values

    def datagrams(self) -> list[bytes]:
        """The datagrams as they stand now (copies: later writes do not change them)."""
        return [v.tobytes() for v in self._views]

    def render(self, floats: npt.ArrayLike, ints: npt.ArrayLike) -> list[bytes]:
        """The datagrams of one frame; ``floats``/``ints`` in atom order (lengths checked)."""
        n_f, n_i = np.size(floats), np.size(ints)
        if n_f != self.n_floats or n_i != self.n_ints:
            raise ProtocolError(
                f"frame plan wants {self.n_floats} floats and {self.n_ints} ints, got {n_f} and {n_i}"
            )
        if n_f:
            self._f4[self.float_slots] = floats
        if n_i:
            self._i4[self.int_slots] = ints
        return [v.tobytes() for v in self._views]


def encode_message(address: str, *args: str | int | float) -> bytes:
    """Encode one message generically (slow path: tests, tools, low-rate messages).

    ``str`` → ``s``, ``int`` → ``i`` (int32), ``float`` → ``f`` (float32). ``bool`` is refused.
    """
    tags = ","
    data: list[bytes] = []
    for a in args:
        if isinstance(a, bool):
            raise ProtocolError(f"{address}: booleans are not sent (VMC spec, protocol.vmc.info)")
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
