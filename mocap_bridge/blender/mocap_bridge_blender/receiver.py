"""VMC Marionette input: a UDP socket thread latching the latest frame (and every frame while
recording), with the reference receiver's semantics.

VMC (https://protocol.vmc.info/specification; reference receiver EVMC4U
https://github.com/gpsnmeajp/EasyVirtualMotionCaptureForUnity ``ExternalReceiver.cs``):

* ``/VMC/Ext/Bone/Pos`` (``s`` HumanBodyBones name, 7 ``f``: local position, local rotation) and
  ``/VMC/Ext/Root/Pos`` (``"root"`` + 7 ``f``, more ``f`` for MR scale/offset ignored) are latched
  per bone; a bone not sent keeps its last value (initially the T-pose).
* ``/VMC/Ext/Blend/Val`` (``s``, ``f``) values are pending until ``/VMC/Ext/Blend/Apply``.
* ``/VMC/Ext/T`` (``f``) is the sender's relative time; ``/VMC/Ext/OK`` (``i``...) its state.

Frame boundaries: VMC has none on the wire, and a frame spans several datagrams (senders split
at ~1200 bytes). A frame is complete at ``Blend/Apply`` or at the next ``/VMC/Ext/T`` with a new
value, whichever comes first; a second completion with the same time replaces the first (a
sender that sends blends before bones). Type errors (EVMC4U checks types strictly) drop the
message, malformed datagrams are counted and dropped.

:class:`VmcLatch` is the pure state machine; :class:`UdpListener` is the thin socket thread.
"""

from __future__ import annotations

import math
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from .humanoid import canonical_bone
from .osc import OscError, iter_messages

__all__ = ["UdpListener", "VmcFrame", "VmcLatch"]

Pose7 = tuple[float, float, float, float, float, float, float]


@dataclass(frozen=True, slots=True)
class VmcFrame:
    """One completed frame: every latched value at completion (not just what changed)."""

    seq: int  # completion order, from 1
    t: float | None  # /VMC/Ext/T, seconds (None if the sender sends none)
    arrival: float  # time.perf_counter() at completion
    root: Pose7 | None
    bones: dict[str, Pose7]
    blends: dict[str, float]  # lowercased clip name → value
    tracking: int | None  # /VMC/Ext/OK tracking status (v2.7), else None


def _floats(args: tuple[object, ...], start: int, n: int) -> tuple[float, ...] | None:
    vals = args[start : start + n]
    if len(vals) != n or not all(type(v) is float for v in vals):
        return None
    if not all(math.isfinite(v) for v in vals):  # type: ignore[arg-type]
        return None
    return vals  # type: ignore[return-value]


class VmcLatch:
    """Latched VMC state; :meth:`feed` one datagram, completed frames come out of :meth:`feed`."""

    def __init__(self) -> None:
        self.bones: dict[str, Pose7] = {}
        self.root: Pose7 | None = None
        self.blends: dict[str, float] = {}
        self._pending: dict[str, float] = {}
        self.t: float | None = None
        self.tracking: int | None = None
        self.open = False  # something arrived since the last completion
        self.seq = 0
        self.last_t: float | None = None
        self.bad_datagrams = 0
        self.bad_messages = 0

    def feed(self, data: bytes, now: float) -> list[VmcFrame]:
        """Apply one datagram; the frames it completed (0, 1, rarely 2)."""
        done: list[VmcFrame] = []
        try:
            messages = list(iter_messages(data))
        except OscError:
            self.bad_datagrams += 1
            return done
        for address, args in messages:
            if address == "/VMC/Ext/Bone/Pos":
                name = args[0] if args else None
                vals = _floats(args, 1, 7)
                bone = canonical_bone(name) if isinstance(name, str) else None
                if bone is None or vals is None:
                    self.bad_messages += 1
                    continue
                self.bones[bone] = vals  # type: ignore[assignment]
                self.open = True
            elif address == "/VMC/Ext/Blend/Val":
                if len(args) < 2 or not isinstance(args[0], str) or type(args[1]) is not float:
                    self.bad_messages += 1
                    continue
                v = args[1]
                if math.isfinite(v):
                    self._pending[args[0].lower()] = v
                self.open = True
            elif address == "/VMC/Ext/Blend/Apply":
                self.blends.update(self._pending)
                self._pending.clear()
                done.append(self._complete(now))
            elif address == "/VMC/Ext/Root/Pos":
                vals = _floats(args, 1, 7)
                if vals is None:
                    self.bad_messages += 1
                    continue
                self.root = vals  # type: ignore[assignment]
                self.open = True
            elif address == "/VMC/Ext/T":
                if len(args) != 1 or type(args[0]) is not float:
                    self.bad_messages += 1
                    continue
                t = args[0]
                if self.open and t != self.t:
                    done.append(self._complete(now))
                self.t = t
            elif address == "/VMC/Ext/OK":
                if not args or type(args[0]) is not int:
                    self.bad_messages += 1
                    continue
                status = args[3] if len(args) >= 4 else None
                self.tracking = status if isinstance(status, int) and not isinstance(status, bool) else None
        return done

    def _complete(self, now: float) -> VmcFrame:
        replaces = self.last_t is not None and self.t == self.last_t and self.seq > 0
        if not replaces:
            self.seq += 1
        self.last_t = self.t
        self.open = False
        return VmcFrame(self.seq, self.t, now, self.root, dict(self.bones), dict(self.blends), self.tracking)


class UdpListener:
    """Socket thread: keeps the latest :class:`VmcFrame` and, while recording, all of them."""

    def __init__(self, host: str, port: int) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
            self._sock.bind((host, port))
        except OSError:
            self._sock.close()
            raise
        self._sock.settimeout(0.2)
        self.address: tuple[str, int] = self._sock.getsockname()
        self._latch = VmcLatch()
        self._lock = threading.Lock()
        self._latest: VmcFrame | None = None
        self._record: list[VmcFrame] | None = None
        self.frames_received = 0
        self.datagrams = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mocap_bridge_vmc", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        sock, latch = self._sock, self._latch
        while not self._stop.is_set():
            try:
                data = sock.recv(65535)
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                continue
            frames = latch.feed(data, time.perf_counter())
            with self._lock:
                self.datagrams += 1
                for f in frames:
                    if self._latest is not None and f.seq == self._latest.seq:
                        if self._record and self._record[-1].seq == f.seq:
                            self._record[-1] = f
                    else:
                        self.frames_received += 1
                        if self._record is not None:
                            self._record.append(f)
                    self._latest = f

    def latest(self) -> VmcFrame | None:
        with self._lock:
            return self._latest

    @property
    def bad_datagrams(self) -> int:
        return self._latch.bad_datagrams + self._latch.bad_messages

    def record_start(self) -> None:
        with self._lock:
            self._record = []

    def record_stop(self) -> list[VmcFrame]:
        with self._lock:
            frames, self._record = self._record or [], None
        return frames

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        self._sock.close()

    def __enter__(self) -> UdpListener:
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()
