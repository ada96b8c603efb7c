"""``HOST:PORT`` endpoints of the UDP targets and the WebSocket listener (parsing only, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError

__all__ = ["Endpoint", "parse_endpoint"]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A ``HOST:PORT`` (IPv6 hosts written ``[::1]:PORT``)."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_endpoint(text: object, what: str, *, allow_port_zero: bool = False) -> Endpoint:
    """Parse ``HOST:PORT``; ConfigError mentions ``what`` (file and key, or flag)."""
    if not isinstance(text, str):
        raise ConfigError(f'{what}: expected a "HOST:PORT" string, got {text!r}')
    s = text.strip()
    if s.startswith("["):
        host, sep, port_s = s[1:].partition("]:")
    else:
        host, sep, port_s = s.rpartition(":")
        if ":" in host:
            raise ConfigError(f"{what}: {text!r}: write IPv6 hosts as [ADDR]:PORT")
    if not sep or not host or not port_s.isdigit() or len(port_s) > 5 or len(host) > 253:
        raise ConfigError(f"{what}: {text[:80]!r} is not HOST:PORT")
    port = int(port_s)
    low = 0 if allow_port_zero else 1
    if not low <= port <= 65535:
        raise ConfigError(f"{what}: {text!r}: port must be in {low}..65535")
    return Endpoint(host, port)
