"""Live Link Face take CSV: the file the iPhone app saves per take, which Unreal's
LiveLinkFaceImporter turns into a Level Sequence. Pure.

Format (docs/takes.md, "Live Link Face CSV", with its public sources):

* Header: ``Timecode,BlendShapeCount,`` then the 61 curve names in the *app's CSV order*. That
  order is the Live Link packet order (``EARFaceBlendShape``) except that the app writes
  ``JawRight,JawLeft`` and ``MouthRight,MouthLeft``; the importer takes curves by name, so
  each column carries the packet value of the curve it names.
* One row per frame: ``HH:MM:SS:FF.fff`` (``FF.fff`` is a fractional frame number at 60 fps, as
  the importer parses it: ``seconds = h·3600 + m·60 + s + FF.fff / 60``), ``61``, then the
  values with 10 decimals (the app's precision). Values are exactly the Live Link packet values
  (:meth:`LiveLinkEncoder.values`: calibrated blendshapes, head and eye angles × scale × sign).
* Timecodes are the capture clock's time of day, the same clock the Live Link packets carry.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..errors import ProtocolError
from ..frames import RigFrame
from ..protocols.livelink import LLF_CURVE_NAMES, LLF_VALUE_COUNT, LiveLinkEncoder

__all__ = [
    "LLF_CSV_COLUMNS",
    "LLF_CSV_RATE",
    "format_timecode",
    "llf_csv_header",
    "llf_csv_row",
    "write_llf_csv",
]

#: The app's CSV column order for the 61 values (differs from the packet in two pairs).
LLF_CSV_COLUMNS: tuple[str, ...] = tuple(
    {"JawLeft": "JawRight", "JawRight": "JawLeft", "MouthLeft": "MouthRight", "MouthRight": "MouthLeft"}.get(
        n, n
    )
    for n in LLF_CURVE_NAMES
)
_PACKET_INDEX = tuple(LLF_CURVE_NAMES.index(n) for n in LLF_CSV_COLUMNS)
#: Timecode frame rate. The importer only knows 30 and 60 and infers 60 from any frame > 30.
LLF_CSV_RATE = 60


def format_timecode(t_of_day_s: float, rate: int = LLF_CSV_RATE) -> str:
    """``HH:MM:SS:FF.fff`` for a time of day in seconds (fraction truncated, never rounds up)."""
    if not math.isfinite(t_of_day_s):
        raise ProtocolError(f"timecode needs a finite time, got {t_of_day_s!r}")
    frames_total = (t_of_day_s % 86400.0) * rate
    whole = math.floor(frames_total)
    thousandths = min(999, math.floor((frames_total - whole) * 1000.0))
    seconds, ff = divmod(whole, rate)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h % 24:02d}:{m:02d}:{s:02d}:{ff:02d}.{thousandths:03d}"


def llf_csv_header() -> str:
    return ",".join(("Timecode", "BlendShapeCount", *LLF_CSV_COLUMNS))


def llf_csv_row(encoder: LiveLinkEncoder, frame: RigFrame, t_of_day_s: float) -> str:
    """One CSV line (no newline) for ``frame`` captured at ``t_of_day_s``."""
    values = encoder.values(frame)
    if not all(math.isfinite(v) for v in values):
        raise ProtocolError(f"frame {frame.index}: non-finite Live Link value")
    cells = ",".join(f"{values[i]:.10f}" for i in _PACKET_INDEX)
    return f"{format_timecode(t_of_day_s)},{LLF_VALUE_COUNT},{cells}"


def write_llf_csv(
    frames: Sequence[RigFrame], encoder: LiveLinkEncoder, times_of_day_s: Sequence[float]
) -> str:
    """The whole CSV; ``times_of_day_s`` gives each frame's capture time of day in seconds."""
    if not frames:
        raise ProtocolError("nothing to export: the recording has no frames")
    rows = [llf_csv_header()]
    rows += [llf_csv_row(encoder, f, t) for f, t in zip(frames, times_of_day_s, strict=True)]
    return "\n".join(rows) + "\n"
