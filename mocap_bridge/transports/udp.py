"""UDP transport: bytes in, datagrams out, never raising into the pipeline.

One non-blocking, *connected* UDP socket per target. Connecting makes the kernel report an ICMP
"port unreachable" from a receiver that is down as ``ConnectionRefusedError`` on a later send,
which is counted (``refused``) instead of being silently lost. A full socket buffer
(``BlockingIOError``) is counted as ``would_block``; any other ``OSError`` (no route, network
down, message too long) as ``errors``. When a datagram of a frame fails, the rest of that frame is
not sent to that target (a partial VMC frame is worse than a missing one) and the frame counts as
``dropped`` for that target.

Host names are resolved once, when the transport is built; a malformed or unresolvable target is a
:class:`~mocap_bridge.errors.ConfigError` at startup. State changes (a target starts failing or
recovers, i.e. :data:`RECOVER_AFTER` frames in a row went out) are logged once each, never per
frame.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import ConfigError

__all__ = ["UdpTarget", "UdpTransport", "resolve_udp"]

log = logging.getLogger(__name__)

#: A failing target counts as recovered after this many frames in a row without error (a send to
#: a receiver that is down succeeds every other time: the ICMP error arrives after the datagram).
RECOVER_AFTER = 30


@dataclass(slots=True)
class UdpTarget:
    """One receiver and its counters (per frame: ``sent``/``dropped``; per cause below)."""

    host: str
    port: int
    sockaddr: tuple[str, int] | tuple[str, int, int, int]
    family: int
    sock: socket.socket | None = None
    sent: int = 0
    dropped: int = 0
    datagrams: int = 0
    refused: int = 0
    would_block: int = 0
    errors: int = 0
    failing: bool = False
    ok_streak: int = 0

    @property
    def label(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def resolve_udp(host: str, port: int) -> tuple[int, tuple[str, int] | tuple[str, int, int, int]]:
    """(family, sockaddr) for a UDP target; ConfigError if it cannot be resolved."""
    if not 0 < port < 65536:
        raise ConfigError(f"UDP target {host}:{port}: port must be in 1..65535")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ConfigError(f"UDP target {host}:{port}: cannot resolve host ({exc})") from exc
    family, _, _, _, sockaddr = infos[0]
    return int(family), (str(sockaddr[0]), *sockaddr[1:])


class UdpTransport:
    """Send datagrams to every target; :meth:`send` never blocks and never raises."""

    def __init__(self, name: str, targets: Sequence[tuple[str, int]]) -> None:
        self.name = name
        self.targets: list[UdpTarget] = []
        for host, port in targets:
            family, sockaddr = resolve_udp(host, port)
            self.targets.append(UdpTarget(host, port, sockaddr, family))

    def open(self) -> None:
        """Create and connect the sockets (ConfigError if the OS refuses a target)."""
        for t in self.targets:
            if t.sock is not None:
                continue
            sock = socket.socket(t.family, socket.SOCK_DGRAM)
            try:
                sock.setblocking(False)
                sock.connect(t.sockaddr)
            except OSError as exc:
                sock.close()
                raise ConfigError(f"{self.name}: cannot use UDP target {t.label}: {exc}") from exc
            t.sock = sock

    def close(self) -> None:
        """Close every socket (idempotent)."""
        for t in self.targets:
            if t.sock is not None:
                t.sock.close()
                t.sock = None

    def send(self, datagrams: Sequence[bytes]) -> None:
        """Send one frame's datagrams, in order, to every target; failures are counted."""
        for t in self.targets:
            sock = t.sock
            if sock is None:
                t.dropped += 1
                continue
            try:
                for d in datagrams:
                    sock.send(d)
                    t.datagrams += 1
            except BlockingIOError:
                t.would_block += 1
                self._failed(t, "socket buffer full")
            except ConnectionRefusedError:
                t.refused += 1
                self._failed(t, "receiver not listening (ICMP port unreachable)")
            except OSError as exc:
                t.errors += 1
                self._failed(t, exc.strerror or str(exc))
            else:
                t.sent += 1
                t.ok_streak += 1
                if t.failing and t.ok_streak >= RECOVER_AFTER:
                    t.failing = False
                    log.info("%s → %s: sending again", self.name, t.label)

    def drop(self) -> None:
        """Count one frame as dropped for every target (e.g. the encoder refused it)."""
        for t in self.targets:
            t.dropped += 1

    def _failed(self, t: UdpTarget, why: str) -> None:
        t.dropped += 1
        t.ok_streak = 0
        if not t.failing:
            t.failing = True
            log.warning("%s → %s: dropping frames: %s", self.name, t.label, why)

    @property
    def sent(self) -> int:
        """Frames fully handed to the kernel, summed over targets."""
        return sum(t.sent for t in self.targets)

    @property
    def dropped(self) -> int:
        """Frames not (fully) sent, summed over targets."""
        return sum(t.dropped for t in self.targets)

    def problems(self) -> str:
        """Short per-cause summary, e.g. ``"refused 12"``; empty when all is well."""
        refused = sum(t.refused for t in self.targets)
        full = sum(t.would_block for t in self.targets)
        errors = sum(t.errors for t in self.targets)
        parts = [
            f"{label} {n}"
            for label, n in (("refused", refused), ("buffer-full", full), ("errors", errors))
            if n
        ]
        return " ".join(parts)
