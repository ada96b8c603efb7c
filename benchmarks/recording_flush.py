"""What flushing every recorded frame costs (issue 10, class 3): size and CPU, against no flush.

The writer flushes every frame (gzip: a zlib sync flush) so a killed process leaves every complete
frame readable. This measures that against the old behaviour (one stream, flushed at close only),
on real tracked frames, in the same run:

    python benchmarks/recording_flush.py [RECORDING.jsonl[.gz]] [--repeat N]

Without a recording it tracks ../shared/media/talking_head_a.mpg (75 frames) first.
"""

from __future__ import annotations

import argparse
import gzip
import tempfile
import time
from pathlib import Path

import orjson

from mocap_bridge.frames import TrackedFrame
from mocap_bridge.recording import RecordingReader, RecordingWriter, frame_to_json

_OPTS = orjson.OPT_SERIALIZE_NUMPY


def _frames(path: str | None) -> list[TrackedFrame]:
    if path:
        return list(RecordingReader(path).frames())
    from mocap_bridge.tracking.offline import track_file

    media = Path(__file__).resolve().parents[2] / "shared" / "media" / "talking_head_a.mpg"
    return track_file(media)


def _unflushed(path: Path, frames: list[TrackedFrame]) -> None:
    """The previous writer: one gzip stream (or buffered file), flushed only at close."""
    with gzip.open(path, "wb", compresslevel=5) if path.suffix == ".gz" else path.open("wb") as f:
        f.write(b"{}\n")
        for frame in frames:
            f.write(orjson.dumps(frame_to_json(frame), option=_OPTS) + b"\n")


def _flushed(path: Path, frames: list[TrackedFrame]) -> None:
    with RecordingWriter(path, source="bench", mode="video", mirror=False, fps=30, models={}) as rec:
        for frame in frames:
            rec.write(frame)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recording", nargs="?")
    parser.add_argument("--repeat", type=int, default=8, help="play the frames this many times")
    args = parser.parse_args()
    frames = _frames(args.recording) * args.repeat
    print(f"{len(frames)} frames")
    with tempfile.TemporaryDirectory() as tmp:
        for suffix in (".jsonl", ".jsonl.gz"):
            results = {}
            for name, write in (("flushed at close (before)", _unflushed), ("every frame (now)", _flushed)):
                path = Path(tmp) / f"{name[:5]}{suffix}"
                cpu, wall = time.process_time(), time.perf_counter()
                write(path, frames)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                results[name] = (path.stat().st_size, cpu)
                per = 1e3 / len(frames)
                print(f"{suffix:<10} {name:<26} {path.stat().st_size / 1e6:8.2f} MB  "
                      f"cpu {cpu * per:6.3f} ms/frame  wall {wall * per:6.3f} ms/frame")  # fmt: skip
            (s0, c0), (s1, c1) = results.values()
            print(f"{suffix:<10} cost of flushing every frame: size {100 * (s1 / s0 - 1):+.2f} %, "
                  f"cpu {100 * (c1 / c0 - 1):+.1f} %")  # fmt: skip


if __name__ == "__main__":
    main()
