"""The contract between the pipeline and an output: a sink is an (encoder, transport) pair."""

from __future__ import annotations

from typing import Protocol

from .frames import RigFrame

__all__ = ["FrameSink"]


class FrameSink(Protocol):
    """An output the pipeline feeds once per frame.

    ``send`` is called on the asyncio loop thread; it must never block, await a peer or raise
    (a receiver that is down, a full buffer or a stalled client is counted, not raised).
    ``status`` returns a short text for the once-a-second status line (e.g. ``"vmc 30/s drop 0"``).
    """

    name: str

    async def start(self) -> None: ...

    def send(self, frame: RigFrame) -> None: ...

    def status(self) -> str: ...

    async def aclose(self) -> None: ...
