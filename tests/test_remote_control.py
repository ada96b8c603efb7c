"""Live Link Face OSC remote control: the pure state machine (remote.py), and the conversation
end to end — a python-osc client plays Unreal's part against a real `mocap-bridge run` process,
starts and stops takes and receives the confirmations; the take folders exist, their CSV equals
the Live Link packets streamed meanwhile, and the raw recording replays."""

from __future__ import annotations

import csv
import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import ArgValue, OscMessageBuilder
from receivers import UdpReceiver

from mocap_bridge.export.llf_csv import LLF_CSV_COLUMNS
from mocap_bridge.protocols.livelink import LLF_CURVE_NAMES, decode_livelink
from mocap_bridge.remote import (
    AddLiveLinkTarget,
    ClearLiveLinkTargets,
    RemoteControl,
    SetStreaming,
    SetSubject,
    StartTake,
    StopTake,
)

ROOT = Path(__file__).resolve().parents[1]
LOCAL = ("127.0.0.1", 50000)


# ---- the pure state machine ------------------------------------------------------------------
def test_documented_commands_and_replies_go_to_the_send_target_only() -> None:
    rc = RemoteControl()
    assert rc.activated() == ()  # no send target yet: nobody to tell
    assert rc.handle("/BatteryQuery", (), LOCAL).replies == ()
    r = rc.handle("/OSCSetSendTarget", ("127.0.0.1", 6000), LOCAL)
    assert [(x.target, x.address) for x in r.replies] == [(("127.0.0.1", 6000), "/OSCSetSendTargetConfirm")]
    (bat,) = rc.handle("/BatteryQuery", (), ("127.0.0.1", 7777)).replies
    assert (bat.target, bat.address, bat.args, bat.types) == (("127.0.0.1", 6000), "/Battery", (1.0,), "f")
    (th,) = rc.handle("/ThermalsQuery", (), LOCAL).replies
    assert (th.address, th.args, th.types) == ("/Thermals", (0,), "i")
    assert rc.handle("/AddLiveLinkAddress", ("127.0.0.1", 11112), LOCAL).actions == (
        AddLiveLinkTarget("127.0.0.1", 11112),
    )
    assert rc.handle("/ClearAllLiveLinkAddresses", (), LOCAL).actions == (ClearLiveLinkTargets(),)
    assert rc.handle("/LiveLinkSubject", ("Face",), LOCAL).actions == (SetSubject("Face"),)
    assert rc.handle("/LiveLinkStreamStop", (), LOCAL).actions == (SetStreaming(False),)
    assert rc.handle("/LiveLinkStreamStart", (), LOCAL).actions == (SetStreaming(True),)
    rc.handle("/Slate", ("Scene",), LOCAL)
    rc.handle("/Take", (7,), LOCAL)
    assert (rc.slate, rc.take) == ("Scene", 7)
    assert rc.handle("/RecordStart", ("Shot", 2), LOCAL).actions == (StartTake("Shot", 2),)
    (start,) = rc.take_started("10:00:00:00.000")
    assert (start.address, start.args, start.types) == ("/RecordStartConfirm", ("10:00:00:00.000",), "s")
    assert rc.handle("/RecordStart", ("Shot", 3), LOCAL).actions == ()  # one take at a time
    assert rc.handle("/RecordStop", (1,), LOCAL).actions == (StopTake(),)  # extra args tolerated
    (stop,) = rc.take_stopped("10:00:05:00.000", "/takes/Shot_2/Shot_2_Face_cal.csv")
    assert stop.args == ("10:00:05:00.000", "/takes/Shot_2/Shot_2_Face_cal.csv", "") and stop.types == "sss"
    assert rc.handle("/RecordStop", (), LOCAL).actions == ()  # not recording any more


def test_wrong_types_unknown_commands_and_foreign_hosts_are_counted_and_ignored() -> None:
    rc = RemoteControl(send_target=("127.0.0.1", 6000))
    assert [x.address for x in rc.activated()] == ["/AppActivated"]
    assert rc.handle("/RecordStart", ("Shot", 2.0), LOCAL) == rc.handle("/Take", ("3",), LOCAL)
    assert rc.counters.malformed == 2 and not rc.recording
    assert rc.handle("/OSCSetSendTarget", ("127.0.0.1", "6001"), LOCAL).replies == ()
    assert rc.handle("/VideoDisplayOff", (), LOCAL).replies == ()
    assert rc.handle("/Nonsense", (1, 2), LOCAL).actions == ()
    assert rc.counters.unknown == 2 and rc.counters.unknown_addresses["/Nonsense"] == 1
    # Loopback listener: datagrams from elsewhere and non-loopback targets are refused.
    assert rc.handle("/BatteryQuery", (), ("192.168.1.20", 5000)).replies == ()
    assert rc.handle("/AddLiveLinkAddress", ("192.168.1.20", 11111), LOCAL).actions == ()
    assert rc.handle("/OSCSetSendTarget", ("10.0.0.5", 6000), LOCAL).replies == ()
    assert rc.send_target == ("127.0.0.1", 6000)
    # Same validation as configured targets: an IP literal (no name lookups) and a valid port.
    assert rc.handle("/AddLiveLinkAddress", ("localhost", 11111), LOCAL).actions == ()
    assert rc.handle("/AddLiveLinkAddress", ("127.0.0.1", 70000), LOCAL).actions == ()
    assert rc.counters.refused == 5
    # A non-loopback listen address opens it up.
    lan = RemoteControl(listen_host="0.0.0.0")
    assert lan.handle("/AddLiveLinkAddress", ("192.168.1.20", 11111), ("192.168.1.7", 5000)).actions == (
        AddLiveLinkTarget("192.168.1.20", 11111),
    )


# ---- the conversation with a real process ----------------------------------------------------
def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _long_recording(src: Path, dst: Path, repeats: int) -> int:
    """The real recording played ``repeats`` times back to back (capture stamps continued)."""
    with gzip.open(src, "rb") as f:
        header, *lines = [ln for ln in f if ln.strip()]
    frames = [orjson.loads(ln) for ln in lines]
    step = frames[1]["t_ms"] - frames[0]["t_ms"]
    span = frames[-1]["t_ms"] - frames[0]["t_ms"] + step
    with gzip.open(dst, "wb") as out:
        out.write(header)
        i = 0
        for r in range(repeats):
            for fr in frames:
                out.write(orjson.dumps({**fr, "i": i, "t_ms": fr["t_ms"] + r * span}) + b"\n")
                i += 1
    return i


class Unreal:
    """The controller's side: a python-osc client with its own reply socket on 127.0.0.1."""

    def __init__(self, app_port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.app = ("127.0.0.1", app_port)

    def send(self, address: str, *args: ArgValue) -> None:
        b = OscMessageBuilder(address)
        for a in args:
            b.add_arg(a)
        self.sock.sendto(b.build().dgram, self.app)

    def expect(self, address: str, timeout: float = 10.0) -> OscMessage:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.sock.settimeout(max(0.01, end - time.monotonic()))
            try:
                msg = OscMessage(self.sock.recv(65536))
            except TimeoutError:
                break
            if msg.address == address:
                return msg
        raise AssertionError(f"no {address} within {timeout} s")


def _wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def _live_link_commands(ue: Unreal, main: UdpReceiver, second: UdpReceiver) -> dict[str, bool]:
    """Subject, targets and streaming changed over OSC, as the receivers see it."""
    out = {}
    ue.send("/LiveLinkSubject", "Face2")
    n = len(main.datagrams)
    out["renamed"] = _wait_until(
        lambda: any(decode_livelink(d).subject == "Face2" for d in main.datagrams[n:])
    )
    ue.send("/AddLiveLinkAddress", "127.0.0.1", second.port)
    out["added"] = _wait_until(lambda: len(second.datagrams) > 3)
    ue.send("/LiveLinkStreamStop")
    time.sleep(0.3)  # let datagrams already sent arrive
    counts = (len(main.datagrams), len(second.datagrams))
    time.sleep(0.6)
    out["paused"] = (len(main.datagrams), len(second.datagrams)) == counts
    ue.send("/LiveLinkStreamStart")
    out["resumed"] = _wait_until(
        lambda: len(main.datagrams) > counts[0] and len(second.datagrams) > counts[1]
    )
    ue.send("/ClearAllLiveLinkAddresses")
    time.sleep(0.3)
    counts = (len(main.datagrams), len(second.datagrams))
    time.sleep(0.6)
    out["cleared"] = (len(main.datagrams), len(second.datagrams)) == counts
    return out


def test_unreal_starts_and_stops_takes_over_osc(take: dict[str, Any], tmp_path: Path) -> None:
    rec = tmp_path / "long.jsonl.gz"
    _long_recording(take["rec"], rec, repeats=8)  # ~15 s at the clip's rate, paced in real time
    folder = tmp_path / "takes"
    app_port = _free_udp_port()
    llf, second = UdpReceiver(), UdpReceiver()
    ue = Unreal(app_port)
    config = tmp_path / "remote.toml"  # the app's OSC settings: listener and reply target
    config.write_text(f'[remote]\nosc_listen = "127.0.0.1:{app_port}"\nsend_target = "127.0.0.1:{ue.port}"\n')
    cmd = [sys.executable, "-m", "mocap_bridge", "run", "--source", str(rec), "--mode", "realtime", "--quiet",
           "--no-vmc", "--no-ws", "--livelink", f"127.0.0.1:{llf.port}", "--takes", str(folder),
           "--config", str(config), "--subject", "Face"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        ue.expect("/AppActivated", timeout=120)  # sent when the listener starts
        for _ in range(300):  # the listener is up once the solver and sinks have started
            ue.send("/OSCSetSendTarget", "127.0.0.1", ue.port)
            try:
                ue.expect("/OSCSetSendTargetConfirm", timeout=0.2)
                break
            except AssertionError:
                assert proc.poll() is None, proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        else:
            raise AssertionError("the app never confirmed /OSCSetSendTarget")
        ue.send("/BatteryQuery")
        battery = ue.expect("/Battery")
        assert battery.params == [1.0] and "f" in battery.dgram.decode("latin-1")
        ue.send("/ThermalsQuery")
        assert ue.expect("/Thermals").params == [0]
        ue.send("/NoSuchCommand", 1)
        ue.send("/Slate", "Scene")
        ue.send("/Take", 3)
        (folder / "Scene_3").mkdir(parents=True)  # an existing take: it must not be overwritten
        ue.send("/RecordStart", "Scene", 3)
        start_tc = ue.expect("/RecordStartConfirm").params
        time.sleep(2.0)
        ue.send("/RecordStop")
        stop = ue.expect("/RecordStopConfirm").params
        streaming = _live_link_commands(ue, llf, second)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        try:
            goodbye: OscMessage | None = ue.expect("/AppDeactivated", timeout=2.0)
        except AssertionError:
            goodbye = None
        ue.sock.close()
        packets = [decode_livelink(p) for p in llf.stop() if len(p) > 100]
        second.stop()
    assert proc.returncode in (0, 130), err.decode(errors="replace")[-2000:]
    assert goodbye is not None  # the app said goodbye to the send target when the run ended
    assert streaming == {"renamed": True, "added": True, "paused": True, "resumed": True, "cleared": True}

    assert len(start_tc) == 1 and isinstance(start_tc[0], str)
    timecode, csv_path, mov = stop
    assert mov == "" and isinstance(timecode, str)
    taken = folder / "Scene_4"  # Scene_3 existed: the next free number
    assert Path(csv_path) == taken / "Scene_4_Face_cal.csv" and Path(csv_path).is_file()
    assert sorted(p.name for p in (folder / "Scene_3").iterdir()) == []
    meta = json.loads((taken / "take.json").read_text())
    assert meta["slate"] == "Scene" and meta["take"] == 4 and meta["subject"] == "Face"
    assert meta["start_timecode"] == start_tc[0] and meta["stop_timecode"] == timecode
    assert meta["models"] and {"smoothing", "livelink"} <= set(meta["settings"]) and meta["frames"] > 20

    with Path(csv_path).open(newline="") as f:
        header, *rows = list(csv.reader(f))
    assert header[2:] == list(LLF_CSV_COLUMNS) and len(rows) == meta["frames"]
    # Every CSV row is a packet that was streamed meanwhile: same time of day, same values.
    by_time = {}
    for pkt in packets:
        by_time[(pkt.frame % (60 * 86400), int((pkt.subframe * 1000) // 1))] = pkt
    matched = 0
    for row in rows:
        hh, mm, ss, ff = row[0].split(":")
        frame = ((int(hh) * 60 + int(mm)) * 60 + int(ss)) * 60 + int(ff.split(".")[0])
        p = by_time.get((frame, int(ff.split(".")[1])))
        if p is None:
            continue
        values = dict(zip(LLF_CURVE_NAMES, p.values, strict=True))
        assert all(abs(float(c) - values[n]) < 1e-6 for n, c in zip(header[2:], row[2:], strict=True))
        matched += 1
    assert matched >= 0.9 * len(rows)

    # The raw take replays and exports.
    raw = taken / "Scene_4.jsonl.gz"
    with gzip.open(raw, "rt") as f:
        assert sum(1 for _ in f) - 1 == meta["frames"]
    replay = [sys.executable, "-m", "mocap_bridge", "run", "--source", str(raw), "--mode", "video",
              "--quiet", "--no-vmc", "--no-livelink", "--no-ws"]  # fmt: skip
    again = subprocess.run(replay, cwd=ROOT, capture_output=True, timeout=120)
    assert again.returncode == 0, again.stderr.decode(errors="replace")[-1000:]
