"""Sections that measure memory or CPU run in a fresh ``python -m mocap_bridge.bench.<worker>``.

A fresh process per measurement keeps one section's heap, threads and MediaPipe graphs out of the
next one's figures. The parent pickles the job (settings, model paths, frame file) into its own
temporary folder; the worker prints one JSON object per line on stdout (``{"result": ...}`` last,
or ``{"error": "..."}``) and inherits stderr.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..errors import MocapBridgeError

__all__ = ["Worker", "emit", "read_job", "worker_main", "write_job"]


def write_job(folder: Path, name: str, job: object) -> Path:
    path = folder / f"{name}.job.pickle"
    path.write_bytes(pickle.dumps(job))
    return path


def read_job(path: str) -> Any:
    return pickle.loads(Path(path).read_bytes())  # written by our own parent, in its own folder


def emit(**message: Any) -> None:
    """One JSON line to the parent."""
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def worker_main(run: Callable[[Any], dict[str, Any]]) -> None:
    """``python -m mocap_bridge.bench.<worker> JOB``: run the job, print its result; errors as one line."""
    import logging

    os.environ.setdefault("GLOG_minloglevel", "2")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        emit(result=run(read_job(sys.argv[1])))
    except MocapBridgeError as exc:
        emit(error=str(exc))
        sys.exit(2)


class Worker:
    """A running worker subprocess; killed if it outlives ``timeout_s``."""

    def __init__(self, module: str, job: Path, *, timeout_s: float) -> None:
        env = {**os.environ, "GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2"}
        self.module = module
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"mocap_bridge.bench.{module}", str(job)],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        self._timer = threading.Timer(timeout_s, self.proc.kill)
        self._timer.daemon = True
        self._timer.start()

    def messages(self) -> Iterator[dict[str, Any]]:
        """Every message up to and including the result; a failure is a MocapBridgeError."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                msg = json.loads(line)
            except json.JSONDecodeError:
                continue  # a library printed to stdout; not ours
            if "error" in msg:
                raise MocapBridgeError(f"bench {self.module}: {msg['error']}")
            yield msg
            if "result" in msg:
                return
        code = self.proc.wait()
        raise MocapBridgeError(f"bench {self.module} worker exited with code {code} before its result")

    def result(self) -> dict[str, Any]:
        for msg in self.messages():
            if "result" in msg:
                out: dict[str, Any] = msg["result"]
                return out
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        self._timer.cancel()
        if self.proc.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(30)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
