"""Cold start: process start to the first frame sent, with the models already cached.

Spawns ``python -m mocap_bridge run --source SRC --mode video --max-frames 5 --quiet --no-ws
--no-vmc --livelink 127.0.0.1:PORT`` and times from just before the spawn to the first UDP
datagram on PORT: interpreter start, imports, settings, model checks, MediaPipe start-up (the
face landmarker: Live Link carries the face only), the first frame tracked, solved and encoded.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from pathlib import Path

from ..clock import monotonic_ms
from ..errors import MocapBridgeError

__all__ = ["cold_start_s"]


def cold_start_s(
    source: str, *, models_dir: Path | None = None, offline: bool = False, timeout_s: float = 120.0
) -> float:
    """Seconds from spawning ``mocap-bridge run`` to its first Live Link datagram."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
        cmd = [
            sys.executable,
            "-m",
            "mocap_bridge",
            "run",
            "--source",
            source,
            "--mode",
            "video",
            "--max-frames",
            "5",
            "--quiet",
            "--no-ws",
            "--no-vmc",
            "--livelink",
            f"127.0.0.1:{port}",
        ]
        if models_dir is not None:
            cmd += ["--models", str(models_dir)]
        if offline:
            cmd.append("--offline")
        start = monotonic_ms()
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            sock.settimeout(0.05)
            while True:
                with contextlib.suppress(TimeoutError):
                    sock.recv(65536)
                    return (monotonic_ms() - start) / 1000.0
                if proc.poll() is not None:
                    err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
                    raise MocapBridgeError(f"cold start: `mocap-bridge run` sent nothing ({err[-300:]})")
                if monotonic_ms() - start > timeout_s * 1000.0:
                    raise MocapBridgeError(f"cold start: no datagram within {timeout_s:g} s")
        finally:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(30)  # five frames, then it exits by itself
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()
