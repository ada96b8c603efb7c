"""``import_mediapipe`` defers ``matplotlib.pyplot`` (a cold-start cost) without changing it."""

from __future__ import annotations

import subprocess
import sys

_SCRIPT = """
import sys
from mocap_bridge.tracking.mp_import import import_mediapipe
mp = import_mediapipe()
assert mp.Image is not None and mp.ImageFormat.SRGB is not None
from mediapipe.tasks.python.vision import drawing_utils
plt = drawing_utils.plt
assert type(plt).__name__ == "_Deferred" and sys.modules["matplotlib.pyplot"] is plt  # not imported
fig = plt.figure()  # first use imports the real module; the stand-in forwards to it
import matplotlib.pyplot as real
assert type(real).__name__ == "module" and isinstance(fig, real.Figure) and plt.figure is real.figure
print("ok")
"""


def test_pyplot_is_deferred_until_first_use() -> None:
    # A fresh interpreter: this one may have imported matplotlib already.
    out = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"
