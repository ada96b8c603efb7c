"""A one-slot "latest value wins" mailbox: the only way a value crosses between threads here.

The capture thread reads the hand plan the loop thread computed, and the preview window reads the
latest solved frame; neither ever waits for the other, and an old value is simply replaced.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

__all__ = ["Mailbox"]

T = TypeVar("T")


class Mailbox(Generic[T]):
    """Holds the latest value put; ``get`` returns it (or the initial value) without waiting."""

    __slots__ = ("_lock", "_value")

    def __init__(self, initial: T) -> None:
        self._lock = threading.Lock()
        self._value = initial

    def put(self, value: T) -> None:
        with self._lock:
            self._value = value

    def get(self) -> T:
        with self._lock:
            return self._value
