"""Real MediaPipe on the shared stills and clips, and their flipped / rotated variants.

Variants are made here with numpy and scipy.ndimage (cv2 stays in capture/). Each still variant
is tracked by a fresh landmarker so nothing carries over from the previous image (VIDEO mode
tracks hands across frames). Hands are searched for in every frame (``adaptive_hands`` off), so
hand-only clips (no body for the pose to count hands by) are tracked throughout.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from mocap_bridge.capture.sources import open_source
from mocap_bridge.frames import TrackedFrame
from mocap_bridge.settings import TrackingSettings
from mocap_bridge.tracking.landmarkers import Landmarkers
from mocap_bridge.tracking.offline import resolve_model_paths, track_file

U8 = npt.NDArray[np.uint8]

#: every part, every frame
SETTINGS = TrackingSettings(adaptive_hands=False)


def load_rgb(path: Path) -> U8:
    """The still as the bridge would feed it to MediaPipe (RGB, longest side at most 640)."""
    src = open_source(str(path), realtime=False, mirror=False, max_side=640)
    try:
        frame = next(iter(src.frames()))
    finally:
        src.close()
    return np.ascontiguousarray(frame.rgb)


def flip(rgb: U8) -> U8:
    """Mirror left-right."""
    return np.ascontiguousarray(rgb[:, ::-1])


def rotate(rgb: U8, degrees: float) -> U8:
    """Rotate counter-clockwise on a canvas grown to fit, filled with the image's median colour."""
    channels = [
        ndimage.rotate(
            rgb[..., c], degrees, reshape=True, order=1, mode="constant", cval=float(np.median(rgb[..., c]))
        )
        for c in range(3)
    ]
    return np.ascontiguousarray(np.clip(np.stack(channels, axis=-1), 0, 255).astype(np.uint8))


def aspect(rgb: U8) -> float:
    """Width / height."""
    ratio: float = rgb.shape[1] / rgb.shape[0]
    return ratio


def track_rgb(rgb: U8) -> TrackedFrame:
    """One image through fresh pose, face and hand landmarkers."""
    paths = resolve_model_paths(SETTINGS)
    with Landmarkers(SETTINGS, paths, live=False) as lm:
        return lm.track(rgb, 0, 0)


def track_clip(path: Path, *, mirror: bool = False) -> list[TrackedFrame]:
    """Every frame of a clip, VIDEO mode."""
    return track_file(path, settings=SETTINGS, mirror=mirror)


def clip_aspect(path: Path) -> float:
    """Width / height of a clip's processed frames."""
    src = open_source(str(path), realtime=False, mirror=False, max_side=640)
    try:
        rgb = next(iter(src.frames())).rgb
    finally:
        src.close()
    ratio: float = rgb.shape[1] / rgb.shape[0]
    return ratio
