"""A small headless-Chromium driver over the DevTools protocol (CDP), for the viewer's browser tests.

One browser per :class:`Chromium`, always killed on ``close()``; every wait is bounded. Console
errors, uncaught exceptions and failed requests are collected per page (``page.problems``).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


class Page:
    """One tab, attached over its own DevTools WebSocket."""

    def __init__(self, ws_url: str) -> None:
        self._stack = contextlib.ExitStack()
        self._ws: ClientConnection = self._stack.enter_context(
            connect(ws_url, max_size=None, open_timeout=10)
        )
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        self.problems: list[str] = []
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")

    def _note(self, msg: dict[str, Any]) -> None:
        method = msg.get("method", "")
        params = msg.get("params", {})
        self.events.append(msg)
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            self.problems.append(f"console.{params['type']}: {args}")
        elif method == "Runtime.exceptionThrown":
            d = params.get("exceptionDetails", {})
            self.problems.append(f"exception: {d.get('exception', {}).get('description') or d.get('text')}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            e = params["entry"]
            self.problems.append(f"log: {e.get('text')} {e.get('url', '')}")
        elif method == "Network.loadingFailed" and params.get("type") != "WebSocket":
            self.problems.append(f"request failed: {params.get('errorText')} ({params.get('type')})")
        elif method == "Network.responseReceived":
            r = params.get("response", {})
            if int(r.get("status", 200)) >= 400:
                self.problems.append(f"HTTP {r.get('status')}: {r.get('url')}")

    def call(self, method: str, timeout: float = 20.0, **params: Any) -> dict[str, Any]:
        msg_id = next(self._ids)
        self._ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"CDP {method}: no answer in {timeout} s")
            msg = json.loads(self._ws.recv(timeout=left))
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"CDP {method}: {msg['error']}")
                result: dict[str, Any] = msg.get("result", {})
                return result
            self._note(msg)

    def pump(self, seconds: float) -> None:
        """Collect events for ``seconds``."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                self._note(json.loads(self._ws.recv(timeout=left)))
            except TimeoutError:
                return

    def navigate(self, url: str, timeout: float = 20.0) -> None:
        self.call("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'", timeout)

    def js(self, expression: str, timeout: float = 20.0) -> Any:
        r = self.call(
            "Runtime.evaluate", timeout, expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise RuntimeError(f"JS error: {d.get('exception', {}).get('description') or d.get('text')}")
        return r.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float = 20.0, interval: float = 0.1) -> Any:
        """Poll a JS expression until it is truthy; its value, or TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.js(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"not true after {timeout} s: {expression}")
            self.pump(interval)

    def allow_downloads(self, folder: Path) -> None:
        """Downloads (e.g. the page's snapshot PNG) go to ``folder`` without asking; set on this
        page's own DevTools session, for as long as it stays attached."""
        self.call("Browser.setDownloadBehavior", behavior="allow", downloadPath=str(folder))

    def screenshot(self) -> bytes:
        return base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])

    def key(self, key: str, code: str, text: str = "") -> None:
        for kind in ("keyDown", "keyUp"):
            typed = text if kind == "keyDown" else ""
            self.call("Input.dispatchKeyEvent", type=kind, key=key, code=code, text=typed)

    def close(self) -> None:
        self._stack.close()


class Chromium:
    """``chromium --headless`` with a throwaway profile; pages via :meth:`new_page`."""

    def __init__(self, binary: str, *, width: int = 1400, height: int = 1000) -> None:
        self._profile = tempfile.mkdtemp(prefix="livelab-chromium-")
        args = [
            binary, "--headless", "--remote-debugging-port=0", f"--user-data-dir={self._profile}",
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
            "--use-angle=swiftshader", "--enable-unsafe-swiftshader", f"--window-size={width},{height}",
            "--hide-scrollbars", "--mute-audio", "about:blank",
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        port_file = Path(self._profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.is_file() and port_file.read_text().count("\n") >= 1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("chromium did not start (no DevToolsActivePort)")
            time.sleep(0.05)
        self.port = int(port_file.read_text().splitlines()[0])
        self._pages: list[Page] = []

    def new_page(self) -> Page:
        with connect(self._browser_url(), max_size=None, open_timeout=10) as browser:
            create = {"id": 1, "method": "Target.createTarget", "params": {"url": "about:blank"}}
            browser.send(json.dumps(create))
            deadline = time.monotonic() + 10
            while True:
                msg = json.loads(browser.recv(timeout=max(0.1, deadline - time.monotonic())))
                if msg.get("id") == 1:
                    target = msg["result"]["targetId"]
                    break
        page = Page(f"ws://127.0.0.1:{self.port}/devtools/page/{target}")
        self._pages.append(page)
        return page

    def _browser_url(self) -> str:
        line = (Path(self._profile) / "DevToolsActivePort").read_text().splitlines()[1]
        return f"ws://127.0.0.1:{self.port}{line}"

    def close(self) -> None:
        for page in getattr(self, "_pages", []):
            with contextlib.suppress(Exception):
                page.close()
        # The browser's own process group (renderers, GPU process), which we started above.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        shutil.rmtree(self._profile, ignore_errors=True)
