"""WebSocket server hardening (issue 10 §6) and the viewer's serving, on real sockets on 127.0.0.1:
origin policy, no insecure non-loopback bind, connection cap, stalled clients, static files,
viewer channels and who may send commands."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin

from mocap_bridge.errors import ConfigError
from mocap_bridge.protocols.ws_json import parse_channels
from mocap_bridge.transports.websocket import ViewerHooks, WebSocketServer, is_loopback_host
from mocap_bridge.viewer import resolve_static
from mocap_bridge.viewer.commands import handle_command

BIN = Path(sys.executable).with_name("mocap-bridge")


def hello(channels: frozenset[str]) -> bytes:
    return orjson.dumps({"type": "hello", "channels": sorted(channels)})


class FakeControls:
    """Records what the page asked for (the server's gate is under test, not the session)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def record(self, on: bool) -> dict[str, Any]:
        self.calls.append(("record", on))
        return {"path": "x.jsonl.gz"}

    def calibrate(self, frames: int) -> dict[str, Any]:
        self.calls.append(("calibrate", frames))
        return {}

    def mirror(self, on: bool) -> dict[str, Any]:
        self.calls.append(("mirror", on))
        return {"mirror": on}

    def output(self, name: str, on: bool) -> dict[str, Any]:
        self.calls.append(("output", (name, on)))
        return {}

    def pause(self, on: bool) -> dict[str, Any]:
        self.calls.append(("pause", on))
        return {"paused": on}

    def state(self) -> dict[str, Any]:
        return {}


def make_server(controls: FakeControls | None = None, **kw: Any) -> WebSocketServer:
    server = WebSocketServer("127.0.0.1", 0, hello=hello, parse_channels=parse_channels, **kw)
    if controls is not None:
        server.attach_viewer(
            ViewerHooks(
                static=resolve_static,
                command=lambda text, trusted: handle_command(text, trusted=trusted, controls=controls),
                channels=frozenset({"lab", "video"}),
            )
        )
    return server


def run(main: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(main(), 60))


async def status_of(url: str, **kw: Any) -> int:
    with pytest.raises(InvalidStatus) as err:
        async with connect(url, open_timeout=5, **kw):
            pass
    return err.value.response.status_code


def test_browser_origins_are_refused_unless_own_or_allowed_native_clients_pass() -> None:
    async def main() -> None:
        server = make_server(allowed_origins=["http://localhost:3000/"])
        await server.start()
        port = server.port
        assert port is not None
        url = f"ws://127.0.0.1:{port}/"
        assert await status_of(url, origin="http://evil.example") == 403
        assert await status_of(url, origin=f"http://127.0.0.1:{port + 1 if port < 65535 else 1}") == 403
        assert await status_of(url, origin="null") == 403  # sandboxed iframes, file:// pages
        # DNS rebinding: a hostile name resolving to 127.0.0.1 is same-origin by the browser's rules.
        rebind = f"rebind.example:{port}"
        assert await raw_handshake(port, host=rebind, origin=f"http://{rebind}") == 403
        assert await raw_handshake(port, host=f"127.0.0.1:{port}", origin=f"http://127.0.0.1:{port}") == 101
        # Two Host headers: refused, not guessed (and never a 500).
        two = f"127.0.0.1:{port}\r\nHost: {rebind}"
        assert await raw_handshake(port, host=two, origin=f"http://127.0.0.1:{port}") == 403
        assert await raw_handshake(port, host=f"localhost:{port}", origin=f"http://localhost:{port}") == 101
        for origin in (f"http://127.0.0.1:{port}", "http://localhost:3000", None):
            async with connect(url, origin=origin, open_timeout=5) as c:  # type: ignore[arg-type]
                assert orjson.loads(await c.recv())["type"] == "hello"
        assert server.refused == 5
        await server.aclose()

    run(main)


def test_commands_only_from_the_viewers_own_origin() -> None:
    async def main() -> None:
        controls = FakeControls()
        server = make_server(controls, allowed_origins=["http://localhost:3000"])
        await server.start()
        url = f"ws://127.0.0.1:{server.port}/?channels=lab"
        for origin in ("http://localhost:3000", None):  # allowed to watch, not to command
            async with connect(url, origin=Origin(origin) if origin else None, open_timeout=5) as c:
                await c.recv()
                await c.send('{"cmd": "pause", "on": true, "id": 3}')
                ack = orjson.loads(await c.recv())
                refusal = "commands are accepted only from the bridge's own viewer page"
                assert ack == {"type": "ack", "id": 3, "cmd": "pause", "ok": False, "error": refusal}
        assert controls.calls == []
        async with connect(url, origin=Origin(f"http://127.0.0.1:{server.port}"), open_timeout=5) as c:
            await c.recv()
            await c.send('{"cmd": "pause", "on": true, "id": "a"}')
            assert orjson.loads(await c.recv()) == {"type": "ack", "id": "a", "cmd": "pause", "ok": True,
                                                    "result": {"paused": True}}  # fmt: skip
            await c.send("{not json")
            assert orjson.loads(await c.recv())["error"] == "not JSON"
        assert controls.calls == [("pause", True)]
        await server.aclose()

    run(main)


def test_the_token_applies_to_the_stream_and_commands_but_not_to_the_page() -> None:
    async def main() -> None:
        controls = FakeControls()
        server = make_server(controls, token="tok")
        await server.start()
        own = f"http://127.0.0.1:{server.port}"
        assert await status_of(f"ws://127.0.0.1:{server.port}/", origin=own) == 401
        assert await status_of(f"ws://127.0.0.1:{server.port}/?token=nope", origin=own) == 401
        page = await asyncio.to_thread(lambda: urllib.request.urlopen(own + "/", timeout=5).read())
        assert b"Live Lab" in page  # static files are public: the page reads the token from its URL
        assert server.urls() == (f"ws://127.0.0.1:{server.port}/", f"{own}/?token=tok")
        await server.aclose()

    run(main)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::", "example.com"])
def test_a_non_loopback_bind_without_token_is_refused(host: str) -> None:
    with pytest.raises(ConfigError, match="--ws-token TOKEN, or set \\[ws\\] allow_insecure = true"):
        WebSocketServer(host, 0, hello=hello, parse_channels=parse_channels)
    WebSocketServer(host, 0, hello=hello, parse_channels=parse_channels, token="t")
    WebSocketServer(host, 0, hello=hello, parse_channels=parse_channels, allow_insecure=True)
    assert not is_loopback_host(host)
    assert all(is_loopback_host(h) for h in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"))


def test_cli_refuses_all_interfaces_without_a_token_in_one_line(tmp_path: Path) -> None:
    r = subprocess.run([str(BIN), "run", "--source", "demo", "--ws", "0.0.0.0:0", "--max-frames", "1"],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path)  # fmt: skip
    assert r.returncode == 2
    errors = [line for line in r.stderr.splitlines() if "error" in line]  # (a first start adds a notice)
    assert len(errors) == 1 and "Traceback" not in r.stderr
    assert errors[0].startswith("mocap-bridge: error: WebSocket: 0.0.0.0:0 accepts connections")
    cfg = tmp_path / "c.toml"
    cfg.write_text('[ws]\nallowed_origins = "http://x"\n')
    r = subprocess.run([str(BIN), "run", "--source", "demo", "--config", str(cfg)],
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 2 and "[ws] allowed_origins: expected a list" in r.stderr


def test_cli_prints_the_listening_url_with_the_chosen_port(tmp_path: Path) -> None:
    r = subprocess.run(
        [str(BIN), "run", "--source", "demo", "--ws", "127.0.0.1:0", "--max-frames", "3", "--mode", "video",
         "--no-livelink", "--no-vmc", "--quiet", "--no-viewer"],
        capture_output=True, text=True, timeout=180, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stderr.splitlines() if x.startswith("WebSocket stream: "))
    port = int(line.split(":")[-1].rstrip("/"))
    assert port > 0 and "viewer" not in line  # --no-viewer: the stream only


def test_connection_cap_closes_with_1013() -> None:
    async def main() -> None:
        server = make_server(max_clients=2)
        await server.start()
        url = f"ws://127.0.0.1:{server.port}/"
        async with connect(url) as a, connect(url) as b:
            await a.recv()
            await b.recv()
            async with connect(url) as c:
                with pytest.raises(ConnectionClosed) as closed:
                    await c.recv()
                assert closed.value.rcvd is not None
                rcvd = closed.value.rcvd
                assert (rcvd.code, rcvd.reason) == (1013, "too many clients (limit 2)")
            assert server.clients == 2 and server.refused == 1
        async with connect(url) as d:  # a place came free
            assert orjson.loads(await d.recv())["type"] == "hello"
        await server.aclose()

    run(main)


async def raw_handshake(port: int, *, host: str, origin: str) -> int:
    """The HTTP status of a handshake sent with exactly these Host and Origin header lines."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write((f"GET / HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                  ).encode())  # fmt: skip
    status = int((await asyncio.wait_for(reader.readline(), 5)).split()[1])
    writer.close()
    return status


async def stalled_client(port: int) -> socket.socket:
    """Completes the handshake, then never reads (tiny receive buffer)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(s, ("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    req = (
        f"GET /?channels=face HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await loop.sock_sendall(s, req.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += await loop.sock_recv(s, 1)
    assert head.startswith(b"HTTP/1.1 101")
    return s


def test_a_stalled_client_is_closed_after_the_ping_timeout_and_shutdown_is_bounded() -> None:
    async def main() -> None:
        server = make_server(write_limit=32 * 1024, ping_interval=0.5, ping_timeout=1.0)
        await server.start()
        stalled = await stalled_client(server.port or 0)
        never_read = await stalled_client(server.port or 0)  # stays stalled through shutdown
        async with connect(f"ws://127.0.0.1:{server.port}/", max_size=None) as good:
            await good.recv()
            for _ in range(200):
                if server.clients == 3:
                    break
                await asyncio.sleep(0.01)
            pad = "x" * 200_000  # fills the kernel buffers at once: the server's own buffer grows
            t0 = time.monotonic()
            got = 0
            while server.clients > 1 and time.monotonic() - t0 < 15:
                server.send(lambda ch: orjson.dumps({"type": "frame", "pad": pad}))
                await good.recv()
                got += 1
                await asyncio.sleep(0.01)
            # Closed (by the keepalive, or by the watchdog when the buffer blocks the keepalive ping).
            assert server.clients == 1, "stalled clients were never closed"
            assert time.monotonic() - t0 < 6  # about ping_timeout (1 s) plus close_timeout (1 s)
            assert got > 0 and server.dropped > 0 and server.stalled >= 1  # the watchdog closed one
            # The healthy client goes on.
            server.send(lambda ch: b'{"type":"frame","i":1}')
            assert orjson.loads(await good.recv())["i"] == 1
        third = await stalled_client(server.port or 0)
        server.send(lambda ch: orjson.dumps({"pad": "y" * 200_000}))
        server.send(lambda ch: orjson.dumps({"pad": "y" * 200_000}))
        t0 = time.monotonic()
        await server.aclose()
        assert time.monotonic() - t0 < 3.0  # shutdown never waits on a client that does not read
        for s in (stalled, never_read, third):
            s.close()

    run(main)


def test_static_files_and_http_answers() -> None:
    async def main() -> None:
        server = make_server(FakeControls())
        await server.start()
        base = f"http://127.0.0.1:{server.port}"

        def get(path: str) -> tuple[int, dict[str, str], bytes]:
            try:
                with urllib.request.urlopen(base + path, timeout=5) as r:
                    return r.status, dict(r.headers), r.read()
            except urllib.error.HTTPError as e:
                return e.code, dict(e.headers), e.read()

        status, headers, body = await asyncio.to_thread(get, "/?token=x")
        assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
        assert "script-src 'self' 'sha256-" in headers["Content-Security-Policy"]
        assert headers["Cache-Control"] == "no-cache"
        status, headers, body = await asyncio.to_thread(get, "/vendor/three/three.module.js")
        assert status == 200 and headers["Content-Type"].startswith("text/javascript")
        assert "max-age" in headers["Cache-Control"] and b"three.core.js" in body
        for bad in ("/../pyproject.toml", "/%2e%2e/__init__.py", "/vendor/../../__init__.py", "/.hidden",
                    "/nope.js", "/static", "/app.py"):  # fmt: skip
            status, _, _ = await asyncio.to_thread(get, bad)
            assert status in (400, 404), bad
        assert server.http_served == 9
        await server.aclose()

    run(main)


def test_viewer_channels_reach_only_their_subscribers() -> None:
    async def main() -> None:
        server = make_server(FakeControls())
        await server.start()
        url = f"ws://127.0.0.1:{server.port}/"
        async with connect(url + "?channels=video") as video, connect(url + "?channels=face,lab") as lab, \
                connect(url) as plain:  # fmt: skip
            for c in (video, lab, plain):
                await c.recv()
            assert (server.subscribers("video"), server.subscribers("lab")) == (1, 1)
            server.send_video(b"MBV1" + bytes(20))
            server.send_extra("lab", b'{"type":"lab"}', binary=False)
            server.send(lambda ch: orjson.dumps({"type": "frame", "ch": sorted(ch)}))
            assert await video.recv() == b"MBV1" + bytes(20)  # binary, and no frame messages
            assert orjson.loads(await lab.recv()) == {"type": "lab"}
            assert orjson.loads(await lab.recv())["ch"] == ["face"]
            assert orjson.loads(await plain.recv())["ch"] == sorted(parse_channels(None))
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(video.recv(), 0.3)
        await asyncio.sleep(0.1)
        assert (server.subscribers("video"), server.subscribers("lab")) == (0, 0)
        await server.aclose()
        # Without a viewer the extra channels are unknown (HTTP 400), as before.
        bare = make_server()
        await bare.start()
        assert await status_of(f"ws://127.0.0.1:{bare.port}/?channels=video") == 400
        await bare.aclose()

    run(main)


def _long_recording(path: Path, n: int) -> Path:
    """A recording of ``n`` synthetic frames (pose, face, two hands): replayed in video mode it
    streams tens of megabytes in seconds, more than kernel buffers hold for a client that never reads."""
    from synth import face_obs, frame, hand_obs, pose_obs, tpose_internal

    from mocap_bridge.recording import RecordingWriter

    pose, face, hands = pose_obs(tpose_internal()), face_obs(), (hand_obs("Left"), hand_obs("Right"))
    with RecordingWriter(path, source="synthetic", mode="video", mirror=False, fps=30.0, models={}) as w:
        for k in range(n):
            w.write(frame(k, k * 33, pose=pose, face=face, hands=hands))
    return path


def test_a_run_with_clients_that_never_read_still_ends(tmp_path: Path) -> None:
    """Issue 10: clients that complete the handshake and never read must not keep the process alive
    (a guard: the server-level test above is the one that fails without the watchdog)."""
    import re
    import threading

    source = _long_recording(tmp_path / "long.jsonl.gz", 4000)
    proc = subprocess.Popen(
        [str(BIN), "run", "--source", str(source), "--mode", "video", "--ws", "127.0.0.1:0", "--no-livelink",
         "--no-vmc"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr or []), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 90
        port = None
        pattern = re.compile(r"ws://127\.0\.0\.1:(\d+)/")
        while port is None and time.monotonic() < deadline and proc.poll() is None:
            port = next((int(m.group(1)) for m in map(pattern.search, lines) if m), None)
            time.sleep(0.01)
        assert port is not None, lines

        async def stall() -> list[socket.socket]:
            return [await stalled_client(port) for _ in range(3)]

        sockets = asyncio.run(stall())
        try:
            proc.wait(timeout=60)  # must return: no hang
        finally:
            for s in sockets:
                s.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        reader.join(5)
    assert proc.returncode == 0, "".join(lines)
    assert any("4000 frames captured, 4000 emitted" in line for line in lines), "".join(lines)
