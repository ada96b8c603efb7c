"""Deterministic offline tracking (VIDEO mode) of a file: the building block for tests, calibration
and anything that needs every frame rather than a live stream."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

from ..capture.sources import open_source
from ..frames import TrackedFrame
from ..settings import TrackingSettings
from .landmarkers import Landmarkers
from .models import ModelSpec, ensure_models

__all__ = ["iter_tracked", "resolve_model_paths", "track_file"]


def resolve_model_paths(
    settings: TrackingSettings,
    *,
    models_dir: str | os.PathLike[str] | None = None,
    offline: bool = False,
    say: Callable[[str], None] = lambda _m: None,
    progress_factory: Callable[[ModelSpec], Callable[[int, int], None] | None] | None = None,
) -> dict[str, Path]:
    """Registry name → bundle path; explicit per-model paths win, the rest are fetched if missing."""
    wanted = [n for n in settings.model_names() if n not in settings.model_paths]
    paths = ensure_models(
        wanted, models_dir=models_dir, offline=offline, say=say, progress_factory=progress_factory
    )
    paths.update(settings.model_paths)
    return paths


def iter_tracked(
    source: str,
    *,
    settings: TrackingSettings | None = None,
    max_frames: int | None = None,
    mirror: bool = False,
    max_side: int = 640,
    models_dir: str | os.PathLike[str] | None = None,
) -> Iterator[TrackedFrame]:
    """Track every frame of ``source`` in VIDEO mode, as fast as possible."""
    settings = settings or TrackingSettings()
    paths = resolve_model_paths(settings, models_dir=models_dir)
    src = open_source(source, realtime=False, mirror=mirror, max_side=max_side)
    try:
        with Landmarkers(settings, paths, live=False) as lm:
            for captured in src.frames():
                if max_frames is not None and captured.index >= max_frames:
                    break
                yield lm.track(captured.rgb, captured.index, captured.t_ms)
    finally:
        src.close()


def track_file(
    path: str | os.PathLike[str],
    *,
    max_frames: int | None = None,
    mirror: bool = False,
    settings: TrackingSettings | None = None,
) -> list[TrackedFrame]:
    """All frames of a video, image or folder, tracked deterministically."""
    return list(iter_tracked(str(path), settings=settings, max_frames=max_frames, mirror=mirror))
