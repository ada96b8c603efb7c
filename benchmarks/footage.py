"""The frames the VIDEO-mode benchmarks here run on (imported by the scripts beside it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mocap_bridge.capture.sources import open_source

#: The README's clip, in ../shared beside the checkout.
DEFAULT_CLIP = str(Path(__file__).resolve().parents[2] / "shared/media/fist_thumbs_up.mp4")


def decoded_frames(source: str, count: int) -> list[np.ndarray]:
    """The first ``count`` frames of ``source`` as RGB arrays (640 px, as a run reads them)."""
    src = open_source(source, realtime=False)
    try:
        return [f.rgb for _, f in zip(range(count), src.frames(), strict=False)]
    finally:
        src.close()
