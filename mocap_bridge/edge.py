"""The one place values are checked: tracking observations and timestamps entering the bridge.

Two edges feed the solver: the MediaPipe conversion (``tracking/convert.py``) and the recording
reader (``recording.py``). Both build observations through the checks below, so the filters, the
solver state and the encoders never see a NaN, an infinity or an absurd number. A part that fails
a check is dropped *for that frame only* (the frame goes on with that part absent) and counted in a
:class:`RejectCounter`, so one bad value cannot stop an output for the rest of the run.

What is absurd (generous: MediaPipe's own output is far inside these bounds):

* any coordinate (normalised landmarks, world metres, matrix centimetres) with ``|v| > 1e6``;
* a score (blendshape, visibility, presence, handedness) outside ``0..1`` by more than 0.01
  (scores inside the tolerance are clipped to ``0..1``);
* a face matrix whose rotation columns are degenerate (norm outside ``1e-3..1e3``: the head
  solver divides by them);
* a hand label other than ``Left`` / ``Right``.

Timestamps: :class:`Timeline` makes a recording's ``t_ms`` strictly increasing and sane (the
solver's filters and gating measure time by it: a frozen clock freezes the head).

Pure: no I/O, no clock. :class:`RejectCounter` takes a lock because MediaPipe calls the
conversion on its own threads.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .frames import FaceObservation, HandObservation, Part, PoseObservation

__all__ = [
    "COORD_LIMIT",
    "HAND_LABELS",
    "MAX_T_MS",
    "SCORE_TOLERANCE",
    "RejectCounter",
    "Timeline",
    "checked_face",
    "checked_hand",
    "checked_pose",
    "input_notes",
]

COORD_LIMIT = 1e6
SCORE_TOLERANCE = 0.01
HAND_LABELS = ("Left", "Right")
#: Largest capture timestamp accepted (~31 years of ms; float64 seconds still resolve 0.1 µs).
MAX_T_MS = 10**12

F64 = npt.NDArray[np.float64]
Floats = npt.NDArray[np.floating]


def _coords_ok(a: Floats) -> bool:
    # NaN fails every comparison, so this also rejects NaN (and ±inf exceeds the limit).
    return bool(np.all(np.abs(a) <= COORD_LIMIT))


def _scores(a: Floats) -> Floats | None:
    """``a`` clipped to 0..1, or None when a score is non-finite or clearly out of range."""
    if not np.all((a >= -SCORE_TOLERANCE) & (a <= 1.0 + SCORE_TOLERANCE)):
        return None
    if np.all((a >= 0.0) & (a <= 1.0)):  # the usual case: keep the values bit for bit
        return a
    clipped: Floats = np.clip(a, 0.0, 1.0)
    return clipped


def checked_pose(landmarks: Floats, world: Floats) -> PoseObservation | None:
    """A pose from (33, 5) landmarks (x, y, z, visibility, presence) and (33, 3) world metres."""
    if landmarks.shape != (33, 5) or world.shape != (33, 3):
        return None
    if not (_coords_ok(landmarks[:, :3]) and _coords_ok(world)):
        return None
    scores = _scores(landmarks[:, 3:])
    if scores is None:
        return None
    lm = np.array(landmarks, dtype=np.float32)
    lm[:, 3:] = scores
    return PoseObservation(landmarks=lm, world=np.asarray(world, dtype=np.float32))


def _matrix_ok(m: F64) -> bool:
    if m.shape != (4, 4) or not _coords_ok(m):
        return False
    norms = np.linalg.norm(m[:3, :3], axis=0)
    return bool(np.all((norms >= 1e-3) & (norms <= 1e3)))


def checked_face(
    landmarks: Floats,
    blendshapes: Floats,
    matrix: Floats,
) -> FaceObservation | None:
    """A face from (478, 3) landmarks, (52,) scores in MediaPipe order and a 4×4 matrix."""
    if landmarks.shape != (478, 3) or blendshapes.shape != (52,):
        return None
    m = np.ascontiguousarray(matrix, dtype=np.float64)
    if not (_coords_ok(landmarks) and _matrix_ok(m)):
        return None
    shapes = _scores(blendshapes)
    if shapes is None:
        return None
    return FaceObservation(
        landmarks=np.asarray(landmarks, dtype=np.float32),
        blendshapes=np.asarray(shapes, dtype=np.float32),
        matrix=m,
    )


def checked_hand(label: object, score: object, landmarks: Floats, world: Floats) -> HandObservation | None:
    """A hand labelled ``Left``/``Right`` with a 0..1 score and (21, 3) landmarks and world."""
    if label not in HAND_LABELS or isinstance(score, bool) or not isinstance(score, int | float):
        return None
    if not 0.0 <= score <= 1.0:  # also rejects NaN
        return None
    if landmarks.shape != (21, 3) or world.shape != (21, 3):
        return None
    if not (_coords_ok(landmarks) and _coords_ok(world)):
        return None
    return HandObservation(
        label=str(label),
        score=float(score),
        landmarks=np.asarray(landmarks, dtype=np.float32),
        world=np.asarray(world, dtype=np.float32),
    )


class RejectCounter:
    """Parts dropped at an edge, per :class:`Part` (thread-safe; read with :meth:`counts`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = [0, 0, 0]

    def add(self, part: Part, n: int = 1) -> None:
        with self._lock:
            self._counts[part] += n

    def counts(self) -> tuple[int, int, int]:
        with self._lock:
            return (self._counts[0], self._counts[1], self._counts[2])

    @property
    def total(self) -> int:
        return sum(self.counts())


@dataclass(slots=True)
class Timeline:
    """Makes recorded capture timestamps strictly increasing and sane, keeping their spacing.

    A timestamp that is not a finite number in ``0..MAX_T_MS``, or that does not move forward, is
    replaced by the previous one plus one frame period; every later timestamp is shifted by the
    same amount, so the spacing after a hiccup (a duplicated or backward stamp) is kept. Each
    replacement is counted in ``fixes``.
    """

    period_ms: float
    fixes: int = 0
    _last: int | None = None
    _shift: int = 0

    def fix(self, raw: object) -> int:
        step = max(1, round(self.period_ms))
        stamp = self._number(raw)
        t = None if stamp is None else stamp + self._shift
        if t is not None and 0 <= t <= MAX_T_MS and (self._last is None or t > self._last):
            self._last = t
            return t
        wanted = 0 if self._last is None else self._last + step
        if stamp is not None:  # a real stamp out of step: shift what follows by the same amount
            self._shift = wanted - stamp
        self.fixes += 1
        self._last = wanted
        return wanted

    @staticmethod
    def _number(raw: object) -> int | None:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            return None
        if isinstance(raw, float) and not math.isfinite(raw):
            return None
        if not 0 <= raw <= MAX_T_MS:
            return None
        return int(raw)


def input_notes(source: object) -> list[str]:
    """Short phrases for the run summary on what the input met (empty when all was well).

    Duck-typed over the sources: a video's ``ended_early``, a folder's ``skipped`` images, a
    recording reader's ``stats`` (cut-off file, dropped parts, repaired timestamps, shortened
    pauses), and the parts the MediaPipe conversion dropped in this process.
    """
    from .tracking.convert import REJECTED  # the conversion imports this module

    notes: list[str] = []
    if ended := getattr(source, "ended_early", None):
        notes.append(f"the video {ended}")
    if skipped := getattr(source, "skipped", None):
        notes.append(f"{len(skipped)} unreadable images skipped")
    stats = getattr(source, "stats", None)
    if stats is not None:
        if stats.ended_early:
            notes.append(f"the recording ended early ({stats.ended_early}) after {stats.frames} frames")
        if stats.rejected_parts:
            notes.append(f"{stats.rejected_parts} recorded parts with bad values dropped")
        if stats.timestamp_fixes:
            notes.append(f"{stats.timestamp_fixes} timestamps repaired")
        if stats.gaps_shortened:
            notes.append(f"{stats.gaps_shortened} long pauses shortened")
    if tracked := REJECTED.total:
        notes.append(f"{tracked} tracked parts with bad values dropped")
    return notes
