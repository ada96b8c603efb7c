"""Broadcast settings (TOML + flags) and the sinks end to end over loopback."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import socket
import time
import tomllib
from pathlib import Path

import jsonschema
import orjson
import pytest
from oscutil import python_osc_messages
from pylivelinkface import PyLiveLinkFace
from rigframes import rig_frame
from websockets.asyncio.client import connect

from mocap_bridge.broadcast import (
    BroadcastSettings,
    Endpoint,
    add_broadcast_arguments,
    apply_broadcast_arguments,
    broadcast_settings_from_config,
    build_sinks,
    parse_endpoint,
    process_device_id,
    resolve_data_path,
)
from mocap_bridge.errors import ConfigError
from mocap_bridge.protocols.livelink import decode_livelink
from mocap_bridge.protocols.ws_json import schema

ROOT = Path(__file__).resolve().parents[1]
MS = 0.001


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_broadcast_arguments(p)
    return p.parse_args(argv)


# --------------------------------------------------------------------------- settings


def test_default_toml_matches_dataclass_defaults() -> None:
    with open(ROOT / "configs" / "default.toml", "rb") as fh:
        doc = tomllib.load(fh)
    assert broadcast_settings_from_config(doc, "default.toml") == BroadcastSettings()
    assert broadcast_settings_from_config({}, "x") == BroadcastSettings()


def test_config_values_are_read() -> None:
    doc = {
        "livelink": {"targets": ["10.0.0.2:11112", "[::1]:11111"], "subject": "Anna",
                     "rate": 30, "head_sign": [-1, 1, -1], "eye_sign": [1, -1]},
        "vmc": {"perfect_sync": True, "perfect_sync_case": "PascalCase", "max_datagram": 1400},
        "osc": {"enabled": True, "targets": ["127.0.0.1:7000"]},
        "ws": {"listen": "0.0.0.0:0", "token": "t"},
        "capture": {"source": "not ours, ignored"},
    }  # fmt: skip
    s = broadcast_settings_from_config(doc, "user.toml")
    assert s.livelink_targets == (Endpoint("10.0.0.2", 11112), Endpoint("::1", 11111))
    assert str(s.livelink_targets[1]) == "[::1]:11111"
    assert (s.livelink_subject, s.livelink_rate) == ("Anna", 30.0)
    assert s.livelink_head_sign == (-1.0, 1.0, -1.0) and s.livelink_eye_sign == (1.0, -1.0, 1.0)
    assert s.vmc_perfect_sync and s.vmc_perfect_sync_case == "PascalCase"
    assert s.osc_enabled and s.osc_targets == (Endpoint("127.0.0.1", 7000),)
    assert s.ws_listen == Endpoint("0.0.0.0", 0) and s.ws_token == "t"


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        ({"vmc": {"max_datgram": 1}}, "[vmc] max_datgram: unknown key"),
        ({"vmc": {"max_datagram": 64}}, "[vmc] max_datagram"),
        ({"vmc": {"max_datagram": True}}, "[vmc] max_datagram"),
        ({"livelink": {"targets": ["localhost"]}}, "[livelink] targets"),
        ({"livelink": {"targets": ["localhost:70000"]}}, "[livelink] targets"),
        ({"livelink": {"targets": "1.2.3.4:5"}}, "[livelink] targets"),
        ({"livelink": {"head_sign": [1, 1, "x"]}}, "[livelink] head_sign"),
        ({"livelink": {"subject": ""}}, "[livelink] subject"),
        ({"livelink": {"rate": 0}}, "[livelink] rate"),
        ({"livelink": {"enabled": "yes"}}, "[livelink] enabled"),
        ({"osc": {"enabled": True, "targets": []}}, "[osc] targets"),
        ({"vmc": {"perfect_sync_case": "snake"}}, "[vmc] perfect_sync_case"),
        ({"ws": {"listen": "::1:80"}}, "[ws] listen"),
        ({"ws": []}, "[ws]"),
    ],
)
def test_bad_config_names_source_and_key(doc, where: str) -> None:
    with pytest.raises(ConfigError) as err:
        broadcast_settings_from_config(doc, "my.toml")
    assert str(err.value).startswith("my.toml: ") and where in str(err.value)


def test_parse_endpoint() -> None:
    assert parse_endpoint(" host.lan:39539 ", "x") == Endpoint("host.lan", 39539)
    assert parse_endpoint("[fe80::1]:1", "x") == Endpoint("fe80::1", 1)
    assert parse_endpoint("127.0.0.1:0", "x", allow_port_zero=True).port == 0
    for bad in ("127.0.0.1:0", ":80", "host:", "host:-1", "host:http", "fe80::1:80", 5):
        with pytest.raises(ConfigError, match=r"^--vmc"):
            parse_endpoint(bad, "--vmc")


def test_flags_override_config() -> None:
    base = broadcast_settings_from_config({"osc": {"targets": ["127.0.0.1:1"]}}, "c")
    args = parse(["--livelink", "10.0.0.5:11111", "--livelink", "10.0.0.6:11111", "--no-vmc",
                  "--osc", "127.0.0.1:9001", "--ws", "127.0.0.1:0", "--ws-token", "abc",
                  "--subject", "Bob", "--perfect-sync", "--perfect-sync-case", "PascalCase",
                  "--max-datagram", "1400", "--expression-map", "x.toml"])  # fmt: skip
    s = apply_broadcast_arguments(base, args)
    assert [str(t) for t in s.livelink_targets] == ["10.0.0.5:11111", "10.0.0.6:11111"]
    assert not s.vmc_enabled
    assert s.osc_enabled and [str(t) for t in s.osc_targets] == ["127.0.0.1:9001"]
    assert s.ws_listen.port == 0 and s.ws_token == "abc"
    assert s.livelink_subject == "Bob" and s.vmc_perfect_sync
    assert s.vmc_perfect_sync_case == "PascalCase"
    assert s.vmc_max_datagram == s.osc_max_datagram == 1400
    assert s.vmc_expression_map == "x.toml"
    assert apply_broadcast_arguments(base, parse([])) == base
    off = apply_broadcast_arguments(base, parse(["--no-livelink", "--no-ws", "--no-osc"]))
    assert not (off.livelink_enabled or off.ws_enabled or off.osc_enabled)
    assert apply_broadcast_arguments(base, argparse.Namespace()) == base  # flags not added


@pytest.mark.parametrize(
    "argv",
    [
        ["--vmc", "nohostport"],
        ["--livelink", "1.2.3.4:99999"],
        ["--vmc", "127.0.0.1:1", "--no-vmc"],
        ["--ws", "127.0.0.1:1", "--no-ws"],
        ["--max-datagram", "big"],
        ["--max-datagram", "50"],
        ["--subject", ""],
    ],
)
def test_bad_flags_are_config_errors(argv: list[str]) -> None:
    with pytest.raises(ConfigError):
        apply_broadcast_arguments(BroadcastSettings(), parse(argv))


def test_device_id_is_a_stable_uuid() -> None:
    assert process_device_id() == process_device_id()
    assert len(process_device_id()) == 36 and process_device_id().count("-") == 4


def test_shipped_map_is_found_and_missing_map_is_config_error(tmp_path: Path) -> None:
    assert resolve_data_path("retarget_maps/arkit_to_vrm0.toml", "k").is_file()
    s = dataclasses.replace(BroadcastSettings(), vmc_expression_map=str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="expression_map"):
        build_sinks(s, stream_rate_hz=30, wall_clock_offset_ms=0)


def test_unresolvable_host_at_startup_is_config_error() -> None:
    s = dataclasses.replace(BroadcastSettings(), vmc_targets=(Endpoint("nonexistent.invalid", 1),))
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

    def ep(s: socket.socket) -> Endpoint:
        return Endpoint("127.0.0.1", s.getsockname()[1])

    settings = dataclasses.replace(
        BroadcastSettings(),
        livelink_targets=(ep(llf), Endpoint("127.0.0.1", down_port)),
        vmc_targets=(ep(vmc),),
        vmc_perfect_sync=True,
        vmc_max_datagram=600,
        osc_enabled=True,
        osc_targets=(ep(osc),),
        ws_listen=Endpoint("127.0.0.1", 0),
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
    settings = dataclasses.replace(
        BroadcastSettings(),
        livelink_targets=(Endpoint("127.0.0.1", r.getsockname()[1]),),
        vmc_enabled=False,
        ws_enabled=False,
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
