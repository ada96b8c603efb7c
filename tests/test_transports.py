"""Transports over real loopback sockets (127.0.0.1, port 0): UDP counters, WebSocket server."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from mocap_bridge.errors import ConfigError, MocapBridgeError
from mocap_bridge.protocols.ws_json import parse_channels
from mocap_bridge.transports.udp import RECOVER_AFTER, UdpTransport
from mocap_bridge.transports.websocket import WebSocketServer

MS = 0.001 * float(os.environ.get("MOCAP_BRIDGE_TEST_TIME_SCALE", "1"))  # one scalable unit


def run(coro: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(coro(), 10_000 * MS))


def udp_receiver() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(2000 * MS)
    return s


def free_udp_port() -> int:
    s = udp_receiver()
    port: int = s.getsockname()[1]
    s.close()
    return port


# --------------------------------------------------------------------------- UDP


def test_udp_delivers_in_order_to_every_target() -> None:
    a, b = udp_receiver(), udp_receiver()
    t = UdpTransport("t", [("127.0.0.1", a.getsockname()[1]), ("localhost", b.getsockname()[1])])
    t.open()
    try:
        t.send([b"one", b"two"])
        assert [a.recv(100), a.recv(100)] == [b"one", b"two"]
        assert [b.recv(100), b.recv(100)] == [b"one", b"two"]
        assert (t.sent, t.dropped, t.problems()) == (2, 0, "")
    finally:
        t.close()
        a.close()
        b.close()


def test_udp_receiver_down_is_counted_not_raised() -> None:
    t = UdpTransport("t", [("127.0.0.1", free_udp_port())])
    t.open()
    try:
        for _ in range(20):
            t.send([b"x"])  # ICMP port unreachable -> ConnectionRefusedError on a later send
            time.sleep(MS)
        target = t.targets[0]
        assert target.refused > 0
        assert t.dropped == target.refused and t.sent + t.dropped == 20
        assert "refused" in t.problems()
    finally:
        t.close()


def test_udp_receiver_coming_back_is_served_again() -> None:
    port = free_udp_port()
    t = UdpTransport("t", [("127.0.0.1", port)])
    t.open()
    try:
        for _ in range(10):
            t.send([b"x"])
            time.sleep(MS)
            assert t.targets[0].failing or t.targets[0].refused == 0
        assert t.targets[0].failing  # stays failing: no warning/recovery flapping
        r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        r.bind(("127.0.0.1", port))
        r.settimeout(2000 * MS)
        for i in range(RECOVER_AFTER + 1):
            t.send([b"%d" % i])
        assert r.recv(100).isdigit()
        assert not t.targets[0].failing
        r.close()
    finally:
        t.close()


@pytest.mark.parametrize(("host", "port"), [("nonexistent.invalid", 9), ("127.0.0.1", 0)])
def test_udp_bad_target_is_a_config_error(host: str, port: int) -> None:
    with pytest.raises(ConfigError):
        UdpTransport("t", [(host, port)])


def test_udp_send_on_closed_transport_counts_drops() -> None:
    t = UdpTransport("t", [("127.0.0.1", 9)])
    t.send([b"x"])
    t.drop()
    assert (t.sent, t.dropped) == (0, 2)


# --------------------------------------------------------------------------- WebSocket


def hello(channels: frozenset[str]) -> bytes:
    return orjson.dumps({"type": "hello", "channels": sorted(channels)})


def make_server(**kw: Any) -> WebSocketServer:
    return WebSocketServer("127.0.0.1", 0, hello=hello, parse_channels=parse_channels, **kw)


def frame_message(i: int, size: int = 0) -> Callable[[frozenset[str]], bytes]:
    return lambda ch: orjson.dumps({"type": "frame", "i": i, "ch": sorted(ch), "pad": "x" * size})


async def wait_clients(server: WebSocketServer, n: int) -> None:
    for _ in range(1000):
        if server.clients >= n:
            return
        await asyncio.sleep(MS)
    raise AssertionError(f"{server.clients} clients, expected {n}")


def test_ws_hello_first_then_frames_with_channel_filter() -> None:
    async def main() -> None:
        server = make_server()
        await server.start()
        assert server.port
        url = f"ws://127.0.0.1:{server.port}"
        async with connect(f"{url}/?channels=face,pose") as c1, connect(url) as c2:
            assert orjson.loads(await c1.recv())["type"] == "hello"
            assert orjson.loads(await c2.recv())["type"] == "hello"
            await wait_clients(server, 2)
            calls: list[frozenset[str]] = []

            def message_for(ch: frozenset[str]) -> bytes:
                calls.append(ch)
                return frame_message(0)(ch)

            server.send(message_for)
            m1, m2 = orjson.loads(await c1.recv()), orjson.loads(await c2.recv())
            assert m1["ch"] == ["face", "pose"]
            assert m2["ch"] == sorted(parse_channels(None))
            assert len(calls) == 2  # once per distinct channel set
            assert server.sent == 2
        await server.aclose()

    run(main)


def test_ws_token_and_bad_channels_are_refused() -> None:
    async def main() -> None:
        server = make_server(token="s3cret")
        await server.start()
        url = f"ws://127.0.0.1:{server.port}/"
        for bad, status in ((url, 401), (url + "?token=nope", 401),
                            (url + "?token=s3cret&channels=feet", 400)):  # fmt: skip
            with pytest.raises(InvalidStatus) as err:
                async with connect(bad):
                    pass
            assert err.value.response.status_code == status
        async with connect(url + "?token=s3cret") as c:
            assert orjson.loads(await c.recv())["type"] == "hello"
        assert server.refused == 3
        await server.aclose()

    run(main)


def test_ws_garbage_binary_and_oversized_messages_do_not_break_the_stream() -> None:
    async def main() -> None:
        server = make_server(max_message=1024)
        await server.start()
        url = f"ws://127.0.0.1:{server.port}/"
        async with connect(url) as good, connect(url) as garbage, connect(url) as binary, \
                connect(url) as big:  # fmt: skip
            for c in (good, garbage, binary, big):
                await c.recv()
            await wait_clients(server, 4)
            await garbage.send("{not json")
            await garbage.send("x" * 500)
            await binary.send(b"\x00\x01\x02")
            await big.send("y" * 5000)
            with pytest.raises(ConnectionClosed) as closed:
                await binary.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1003
            with pytest.raises(ConnectionClosed) as closed:
                await big.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
            await wait_clients_exact(server, 2)
            for i in range(3):
                server.send(frame_message(i))
            for c in (good, garbage):
                assert [orjson.loads(await c.recv())["i"] for _ in range(3)] == [0, 1, 2]
        await server.aclose()

    run(main)


async def wait_clients_exact(server: WebSocketServer, n: int) -> None:
    for _ in range(1000):
        if server.clients == n:
            return
        await asyncio.sleep(MS)
    raise AssertionError(f"{server.clients} clients, expected {n}")


async def stalled_client(port: int) -> socket.socket:
    """A client that completes the handshake, then never reads (tiny receive buffer)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(s, ("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    req = (f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
           "Sec-WebSocket-Version: 13\r\n\r\n")  # fmt: skip
    await loop.sock_sendall(s, req.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += await loop.sock_recv(s, 1)
    assert head.startswith(b"HTTP/1.1 101")
    return s


def test_ws_stalled_client_only_misses_frames() -> None:
    async def main() -> None:
        limit = 64 * 1024
        server = make_server(write_limit=limit)
        await server.start()
        stalled = await stalled_client(server.port or 0)
        async with connect(f"ws://127.0.0.1:{server.port}/", max_size=None) as good:
            await good.recv()
            await wait_clients(server, 2)
            stalled_conn = next(c for c in server._clients if c.remote_address[1]
                                == stalled.getsockname()[1])  # fmt: skip
            n, size = 300, 20_000
            received: list[int] = []
            for i in range(n):
                server.send(frame_message(i, size))  # synchronous: it cannot wait for a peer
                buffered = stalled_conn.transport.get_write_buffer_size()
                assert buffered <= limit + size + 1000  # bounded memory per client
                received.append(orjson.loads(await good.recv())["i"])
            assert received == list(range(n))  # the good client got every frame, in order
            assert server.dropped > 0  # the stalled one missed frames instead
        stalled.close()
        await server.aclose()

    run(main)


def test_ws_port_in_use_is_a_config_error() -> None:
    async def main() -> None:
        first = make_server()
        await first.start()
        second = WebSocketServer("127.0.0.1", first.port or 0, hello=hello,
                                 parse_channels=parse_channels)  # fmt: skip
        with pytest.raises(ConfigError, match="cannot listen"):
            await second.start()
        await first.aclose()

    run(main)


def test_parse_channels_error_is_a_mocap_bridge_error() -> None:
    with pytest.raises(MocapBridgeError):
        parse_channels("nope")
