"""The benchmark's input: a real recording of ``fist_thumbs_up.mp4`` (VIDEO mode), cached.

The clip lives in ``../shared/media`` beside the checkout. Tracking it once takes ~10-20 s on a
2-core machine, so the frames are cached as ``.jsonl.gz`` in the user cache dir (keyed by the
clip's size and mtime and the mediapipe version) and read back bit for bit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import MocapBridgeError
from ..frames import HandObservation, TrackedFrame

__all__ = [
    "CLIP",
    "BenchFrames",
    "clip_path",
    "loop_frames",
    "media_dir",
    "person_frames",
    "recorded_frames",
    "shifted",
]

CLIP = "fist_thumbs_up.mp4"


def media_dir() -> Path:
    """``../shared/media`` relative to the repository root."""
    return Path(__file__).resolve().parents[2].parent / "shared" / "media"


def clip_path(name: str = CLIP) -> Path:
    path = media_dir() / name
    if not path.is_file():
        raise MocapBridgeError(f"benchmark footage not found: {path} (../shared/media is absent)")
    return path


def _cache_file(path: Path) -> Path:
    import mediapipe
    from platformdirs import user_cache_dir

    st = path.stat()
    key = f"{path.name}:{st.st_size}:{st.st_mtime_ns}:{mediapipe.__version__}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return Path(user_cache_dir("mocap_bridge")) / "bench" / f"{path.stem}-{digest}.jsonl.gz"


def recorded_frames(say: Callable[[str], None] = lambda _m: None) -> tuple[list[TrackedFrame], bool]:
    """Every frame of the clip tracked in VIDEO mode; (frames, read from cache)."""
    from ..recording import RecordingReader, RecordingWriter
    from ..tracking.offline import track_file

    path = clip_path()
    cache = _cache_file(path)
    if cache.is_file():
        try:
            return list(RecordingReader(cache).frames()), True
        except MocapBridgeError:
            cache.unlink(missing_ok=True)
    say(f"tracking {path.name} once (VIDEO mode) to build the benchmark recording...")
    frames = track_file(path)
    tmp = cache.with_name(cache.name + ".part.jsonl.gz")
    with RecordingWriter(tmp, source=str(path), mode="video", mirror=False, fps=25.0, models={}) as w:
        for f in frames:
            w.write(f)
    tmp.replace(cache)
    return frames, False


def _mirror_hand(h: HandObservation) -> HandObservation:
    lm = h.landmarks.copy()
    lm[:, 0] = 1.0 - lm[:, 0]
    world = h.world.copy()
    world[:, 0] = -world[:, 0]
    label = "Right" if h.label == "Left" else "Left"
    return HandObservation(label, h.score, lm, world)


@dataclass(frozen=True, slots=True)
class BenchFrames:
    frames: list[TrackedFrame]  #: one person, face + pose + two hands in every frame
    source_frames: int  #: frames in the recording
    two_hand_frames: int  #: of those, frames where MediaPipe really saw two hands
    synthesised: int  #: frames whose second hand is the first one mirrored


def person_frames(frames: list[TrackedFrame]) -> BenchFrames:
    """Frames with face, pose and at least one hand; a missing second hand is mirrored in.

    A frame with only one hand gets its mirror image (x → 1 − x, world x → −x, label swapped) as
    the other hand, so every frame exercises the full work: face, pose and two hands.
    """
    out: list[TrackedFrame] = []
    two = synth = 0
    for f in frames:
        if f.pose is None or f.face is None or not f.hands:
            continue
        labels = {h.label for h in f.hands}
        if len(f.hands) >= 2 and labels == {"Left", "Right"}:
            two += 1
            out.append(f)
            continue
        first = f.hands[0]
        synth += 1
        out.append(replace(f, hands=(first, _mirror_hand(first))))
    if not out:
        raise MocapBridgeError(f"{CLIP}: no frame with face, pose and a hand")
    return BenchFrames(out, len(frames), two, synth)


def shifted(frames: list[TrackedFrame], offset_ms: int, index_offset: int) -> list[TrackedFrame]:
    """The same frames later in time (to loop a clip through stateful filters)."""
    return [replace(f, t_ms=f.t_ms + offset_ms, index=f.index + index_offset) for f in frames]


def loop_frames(frames: list[TrackedFrame], n: int) -> list[TrackedFrame]:
    """``n`` frames: the clip looped, timestamps continuing at the clip's own spacing."""
    if not frames:
        return []
    step = frames[1].t_ms - frames[0].t_ms if len(frames) > 1 else 40
    period = frames[-1].t_ms - frames[0].t_ms + max(1, step)
    out: list[TrackedFrame] = []
    k = 0
    while len(out) < n:
        out.extend(shifted(frames, k * period, k * len(frames)))
        k += 1
    del out[n:]
    return out
