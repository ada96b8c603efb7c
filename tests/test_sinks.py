"""The sinks (encoder + transport pairs) end to end over loopback, and their failure counting."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time
import uuid
from pathlib import Path

import jsonschema
import orjson
import pytest
from oscutil import python_osc_messages
from pylivelinkface import PyLiveLinkFace
from rigframes import rig_frame
from websockets.asyncio.client import connect

from mocap_bridge.errors import ConfigError
from mocap_bridge.protocols.livelink import decode_livelink
from mocap_bridge.protocols.ws_json import schema
from mocap_bridge.resources import resolve_data_path
from mocap_bridge.settings import Settings
from mocap_bridge.sinks import build_sinks, process_device_id
from mocap_bridge.transports.endpoints import Endpoint

ROOT = Path(__file__).resolve().parents[1]
MS = 0.001


def test_device_id_is_a_stable_uuid() -> None:
    assert process_device_id() == process_device_id()
    assert len(process_device_id()) == 36 and process_device_id().count("-") == 4
    assert uuid.UUID(process_device_id())


def test_shipped_map_is_found_and_missing_map_is_config_error(tmp_path: Path) -> None:
    assert resolve_data_path("retarget_maps/arkit_to_vrm0.toml", "k").is_file()
    s = Settings().replace("vmc", expression_map=str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="expression_map"):
        build_sinks(s, stream_rate_hz=30, wall_clock_offset_ms=0)


def test_unresolvable_host_at_startup_is_config_error() -> None:
    s = Settings().replace("vmc", targets=["nonexistent.invalid:1"])
    with pytest.raises(ConfigError, match=r"nonexistent\.invalid"):
        build_sinks(s, stream_rate_hz=30, wall_clock_offset_ms=0)


# --------------------------------------------------------------------------- sinks end to end


def receiver() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
    return s


def drain(s: socket.socket) -> list[bytes]:
    out = []
    while True:
        try:
            out.append(s.recv(70000))
        except BlockingIOError:
            return out


def test_all_sinks_end_to_end_over_loopback() -> None:
    llf, vmc, osc = receiver(), receiver(), receiver()
    down = receiver()
    down_port = down.getsockname()[1]
    down.close()

    def ep_port(port: int) -> Endpoint:
        return Endpoint("127.0.0.1", port)

    def ep(s: socket.socket) -> Endpoint:
        return Endpoint("127.0.0.1", s.getsockname()[1])

    settings = dataclasses.replace(
        Settings(),
        livelink=dataclasses.replace(
            Settings().livelink, targets=(ep(llf), Endpoint("127.0.0.1", down_port))
        ),
        vmc=dataclasses.replace(Settings().vmc, targets=(ep(vmc),), perfect_sync=True, max_datagram=600),
        osc=dataclasses.replace(Settings().osc, enabled=True, targets=(ep(osc),)),
        ws=dataclasses.replace(Settings().ws, listen=Endpoint("127.0.0.1", 0)),
    )
    offset = time.time() * 1000 - time.monotonic() * 1000
    sinks = build_sinks(settings, stream_rate_hz=30.0, wall_clock_offset_ms=offset)
    assert [s.name for s in sinks] == ["livelink", "vmc", "osc", "ws"]
    validator = jsonschema.Draft202012Validator(schema())
    n = 20
    got: dict[str, list[bytes]] = {"llf": [], "vmc": [], "osc": []}

    async def main() -> None:
        for s in sinks:
            await s.start()
        ws = sinks[-1]
        port = ws.port  # type: ignore[attr-defined]
        async with connect(f"ws://127.0.0.1:{port}/?channels=face,rig") as client:
            hello = orjson.loads(await client.recv())
            validator.validate(hello)
            assert hello["type"] == "hello" and hello["stream_rate_hz"] == 30.0
            for _ in range(1000):
                if ws.server.clients:  # type: ignore[attr-defined]
                    break
                await asyncio.sleep(MS)
            t0 = int(time.monotonic() * 1000)
            for i in range(n):
                frame = rig_frame(index=i, t_ms=t0 + 33 * i, seed=i)
                for s in sinks:
                    s.send(frame)
                await asyncio.sleep(5 * MS)
                for key, sock in (("llf", llf), ("vmc", vmc), ("osc", osc)):
                    got[key] += drain(sock)  # read as we go: loopback buffers are finite
            msgs = [orjson.loads(await client.recv()) for _ in range(n)]
        for m in msgs:
            validator.validate(m)
            assert {"face", "rig"} <= m.keys() and "pose" not in m
        assert [m["index"] for m in msgs] == list(range(n))
        assert abs(msgs[0]["t_send_unix_ms"] - time.time() * 1000) < 60_000
        statuses = [s.status() for s in sinks]
        assert statuses[0].startswith("livelink ") and "refused" in statuses[0]
        assert "clients 1" in statuses[3]
        for s in sinks:
            await s.aclose()

    asyncio.run(asyncio.wait_for(main(), 20))
    time.sleep(20 * MS)
    for key, sock in (("llf", llf), ("vmc", vmc), ("osc", osc)):
        got[key] += drain(sock)
    packets = got["llf"]
    assert len(packets) == n
    for i, p in enumerate(packets):
        found, face = PyLiveLinkFace.decode(p)
        assert found and face.name == "MocapBridge"
        assert list(face._blend_shapes[:52]) == rig_frame(seed=i).blendshapes.tolist()
        assert decode_livelink(p).device_id == process_device_id()
    frames = [decode_livelink(p).frame for p in packets]
    assert frames == sorted(frames)
    assert abs((frames[-1] - frames[0]) - 33 * (n - 1) * 60 / 1000) <= 1  # 60 fps frame time
    vmc_d = got["vmc"]
    assert vmc_d and all(len(d) <= 600 for d in vmc_d)
    applies = [m for d in vmc_d for m in python_osc_messages(d) if m.address.endswith("Apply")]
    assert len(applies) == n
    osc_d = got["osc"]
    assert osc_d and all(len(d) <= 1200 for d in osc_d)
    assert sum(m.address == "/mocap/frame" for d in osc_d for m in python_osc_messages(d)) == n
    assert sinks[0].sent >= n and sinks[0].dropped > 0  # type: ignore[attr-defined]
    assert sinks[1].dropped == 0 and sinks[1].sent == n  # type: ignore[attr-defined]
    assert sinks[3].sent == n  # type: ignore[attr-defined]
    for s in (llf, vmc, osc):
        s.close()


def test_sink_counts_encoder_errors_instead_of_raising() -> None:
    r = receiver()
    settings = (
        Settings()
        .replace("livelink", targets=[f"127.0.0.1:{r.getsockname()[1]}"])
        .replace("vmc", enabled=False)
        .replace("ws", enabled=False)
    )
    (sink,) = build_sinks(settings, stream_rate_hz=30, wall_clock_offset_ms=0)

    async def main() -> None:
        await sink.start()
        bad = dataclasses.replace(rig_frame(), blendshapes=rig_frame().blendshapes * float("nan"))
        sink.send(bad)  # must not raise
        sink.send(rig_frame())
        await sink.aclose()

    asyncio.run(main())
    assert sink.dropped == 1 and sink.sent == 1  # type: ignore[attr-defined]
    assert "encode-errors 1" in sink.status()
    r.close()
