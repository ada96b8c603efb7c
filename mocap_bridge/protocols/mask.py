"""Segmentation masks for the WebSocket ``mask`` channel: pure encoders (run lengths or PNG).

A mask is the pose landmarker's person probability over the image, already downscaled at the
tracking edge (at most 128 px on its longest side). Both encodings first threshold it at 0.5:

* ``rle``: ``{"encoding": "rle", "width", "height", "runs"}`` with ``runs`` the lengths of the
  alternating background / person runs of the row-major pixels, starting with background (so a
  leading person pixel gives a first run of 0);
* ``png``: ``{"encoding": "png", "width", "height", "data"}`` with ``data`` a base64 8-bit
  grayscale PNG (0 background, 255 person; PNG spec, w3.org/TR/png), written with zlib alone.
"""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["decode_rle", "encode_mask", "png_gray"]


def _binary(mask: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    m = np.asarray(mask, dtype=np.float32)
    if m.ndim != 2 or not m.size:
        raise ValueError(f"a mask is a 2-D array, got shape {m.shape}")
    out: npt.NDArray[np.bool_] = m >= 0.5
    return out


def _runs(bits: npt.NDArray[np.bool_]) -> list[int]:
    flat = bits.ravel().astype(np.int8)
    edges = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate(([0], edges, [flat.size]))
    runs: list[int] = np.diff(bounds).tolist()
    if flat[0]:  # runs start with background
        runs.insert(0, 0)
    return runs


def decode_rle(runs: list[int], width: int, height: int) -> npt.NDArray[np.bool_]:
    """The boolean (height, width) mask of :func:`encode_mask`'s ``rle`` form."""
    values = np.repeat(np.arange(len(runs)) % 2 == 1, runs)
    if values.size != width * height:
        raise ValueError(f"runs cover {values.size} pixels, not {width}×{height}")
    return values.reshape(height, width)


def png_gray(image: npt.NDArray[np.uint8]) -> bytes:
    """An 8-bit grayscale PNG of ``image`` (h, w)."""
    h, w = image.shape
    raw = b"".join(b"\x00" + image[y].tobytes() for y in range(h))  # filter type 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def encode_mask(mask: npt.ArrayLike, encoding: str) -> dict[str, Any]:
    """The channel object for one mask (see the module docstring)."""
    bits = _binary(mask)
    h, w = bits.shape
    if encoding == "rle":
        return {"encoding": "rle", "width": w, "height": h, "runs": _runs(bits)}
    if encoding == "png":
        data = png_gray(bits.astype(np.uint8) * np.uint8(255))
        return {"encoding": "png", "width": w, "height": h, "data": base64.b64encode(data).decode("ascii")}
    raise ValueError(f"unknown mask encoding {encoding!r}")
