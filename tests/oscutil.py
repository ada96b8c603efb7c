"""Test helpers: python-osc as the independent OSC reader and byte-identity oracle."""

from __future__ import annotations

import struct
from pathlib import Path

from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

GOLDEN = Path(__file__).parent / "golden"


def python_osc_messages(dgram: bytes) -> list[OscMessage]:
    """Every message of a datagram, read by python-osc (nested bundles flattened)."""
    if OscBundle.dgram_is_bundle(dgram):
        out: list[OscMessage] = []
        for content in OscBundle(dgram):
            if isinstance(content, OscBundle):
                out.extend(python_osc_messages(content.dgram))
            else:
                out.append(content)
        return out
    return [OscMessage(dgram)]


def typetags(msg: OscMessage) -> str:
    """Type tags without the comma, as python-osc reads them."""
    dgram = msg.dgram
    start = (dgram.index(b"\0") // 4 + 1) * 4
    end = dgram.index(b"\0", start)
    return dgram[start + 1 : end].decode()


def rebuild_with_python_osc(dgram: bytes) -> bytes:
    """Re-encode a bundle datagram from its python-osc reading with python-osc's builders."""
    bundle = OscBundleBuilder(IMMEDIATELY)
    for msg in python_osc_messages(dgram):
        b = OscMessageBuilder(msg.address)
        for tag, arg in zip(typetags(msg), msg.params, strict=True):
            b.add_arg(arg, tag)
        bundle.add_content(b.build())
    return bundle.build().dgram


def write_golden(name: str, datagrams: list[bytes]) -> None:
    data = b"".join(struct.pack(">I", len(d)) + d for d in datagrams)
    (GOLDEN / name).write_bytes(data)


def read_golden(name: str) -> list[bytes]:
    data = (GOLDEN / name).read_bytes()
    out, pos = [], 0
    while pos < len(data):
        (n,) = struct.unpack_from(">I", data, pos)
        out.append(data[pos + 4 : pos + 4 + n])
        pos += 4 + n
    return out
