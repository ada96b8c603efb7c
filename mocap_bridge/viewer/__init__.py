"""Live Lab: the browser viewer the bridge serves on its WebSocket port (docs/viewer.md).

This module is the pure static-file resolver: an URL path → (status, content type, bytes,
cache headers), from the files shipped in ``mocap_bridge/viewer/static``. No path can leave that
folder: the path is split into plain names (no ``..``, no hidden names, no backslashes) before it
is looked up. The page itself is ``static/index.html``; the vendored libraries (three.js,
three-vrm) live in ``static/vendor`` with their licences (``revendor.sh`` refreshes them).
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from urllib.parse import unquote

from ..transports.websocket import HttpFile

__all__ = ["CONTENT_TYPES", "resolve_static"]

#: Content types of the files the viewer ships (anything else is not served).
CONTENT_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json",
}
# index.html must be re-read on every visit (it pins the asset names); vendored files never
# change for a given bridge version, the page's own scripts may change during development.
_NO_CACHE = (("Cache-Control", "no-cache"),)
_VENDOR_CACHE = (("Cache-Control", "public, max-age=86400"),)
_CSP = (
    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' blob: data:; "
    "style-src 'self'; script-src 'self' {inline}; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
_IMPORT_MAP = re.compile(rb'<script type="importmap">(.*?)</script>', re.S)


@cache
def _csp(page: bytes) -> str:
    """The page's Content-Security-Policy: own files only, plus the inline import map by hash."""
    found = _IMPORT_MAP.search(page)
    inline = ""
    if found is not None:
        inline = "'sha256-" + base64.b64encode(hashlib.sha256(found.group(1)).digest()).decode() + "'"
    return _CSP.format(inline=inline)


def _root() -> Traversable:
    return resources.files("mocap_bridge.viewer").joinpath("static")


def _text(status: int, message: str) -> HttpFile:
    return HttpFile(status, "text/plain; charset=utf-8", message.encode("utf-8"), _NO_CACHE)


def _names(path: str) -> list[str] | None:
    """Plain path names, or None when the path tries anything else."""
    raw = unquote(path)
    if "\\" in raw or "\x00" in raw:
        return None
    names = [n for n in raw.split("/") if n]
    if any(n.startswith(".") for n in names):  # "..", ".", hidden files
        return None
    return names


@cache
def _read(names: tuple[str, ...]) -> bytes | None:
    node = _root()
    for name in names:
        node = node.joinpath(name)
    if not node.is_file():
        return None
    return node.read_bytes()


def resolve_static(path: str) -> HttpFile:
    """The answer to ``GET path``: 200 with the file, or 404/400 as plain text."""
    names = _names(path)
    if names is None:
        return _text(400, "bad path\n")
    if not names:
        names = ["index.html"]
    dot = names[-1].rfind(".")
    ctype = CONTENT_TYPES.get(names[-1][dot:].lower()) if dot > 0 else None
    body = _read(tuple(names)) if ctype is not None else None
    if body is None:
        return _text(404, "not found\n")
    headers: tuple[tuple[str, str], ...] = _VENDOR_CACHE if names[0] == "vendor" else _NO_CACHE
    if names[-1] == "index.html":
        headers = (*headers, ("Content-Security-Policy", _csp(body)))
    return HttpFile(200, ctype or "application/octet-stream", body, headers)
