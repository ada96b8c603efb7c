"""Importing mediapipe without paying for ``matplotlib.pyplot``.

``import mediapipe`` imports every task package, and ``mediapipe.tasks.python.vision`` imports its
drawing helpers, which import ``matplotlib.pyplot``: most of a second of a cold start on a 2-core
machine (``python -X importtime``), for plotting the bridge never does. :func:`import_mediapipe`
first puts a stand-in for ``matplotlib.pyplot`` in ``sys.modules`` that imports the real module
on its first attribute access and forwards to it; nothing changes for code that does plot.
(``importlib.util.LazyLoader`` does not help here: the import system reads ``__spec__``, which
makes it load at once.)
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any

__all__ = ["import_mediapipe"]

_DEFERRED = "matplotlib.pyplot"


class _Deferred(ModuleType):
    """Stands in for a module until one of its attributes is used, then forwards to it."""

    def __getattr__(self, attr: str) -> Any:
        real = self.__dict__.get("_deferred_real")
        if real is None:
            if sys.modules.get(self.__name__) is self:
                del sys.modules[self.__name__]
            real = importlib.import_module(self.__name__)
            self.__dict__["_deferred_real"] = real
        return getattr(real, attr)


def import_mediapipe() -> ModuleType:
    """``import mediapipe``, with ``matplotlib.pyplot`` deferred until something uses it."""
    if "mediapipe" not in sys.modules and _DEFERRED not in sys.modules:
        sys.modules[_DEFERRED] = _Deferred(_DEFERRED)
    return importlib.import_module("mediapipe")
