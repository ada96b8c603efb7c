"""WebSocket server transport (websockets ≥ 14 asyncio API): fan-out where latest wins.

Theory of operation
-------------------
* Clients connect to ``ws://host:port/?channels=face,pose&token=…``. ``process_request`` runs
  before the handshake and, in this order: answers plain HTTP GETs for the viewer's static files
  (when a viewer is attached; :meth:`WebSocketServer.attach_viewer`), refuses a browser whose
  ``Origin`` is neither this server's own viewer origin nor in ``allowed_origins`` (HTTP 403),
  a wrong/missing token (HTTP 401) and unknown channels (HTTP 400). Clients that send no
  ``Origin`` (native tools) are not browsers and pass the origin check.
* The connection handler closes a client over the connection cap with code 1013 ("try again
  later"), otherwise sends the ``hello`` message first and only then registers the client, so no
  frame can overtake it. It then reads text messages until the client leaves: with a viewer
  attached they are commands, answered with one text message each (trusted only from the
  viewer's own origin); without one they are ignored. A binary message gets close code 1003, an
  oversized one 1009 and invalid UTF-8 1007 (the last two from websockets itself).
* :meth:`WebSocketServer.send` runs on the loop thread, synchronously, once per frame: it groups
  the open clients by channel set, asks the caller for one message per distinct set (encode once
  per frame per channel set, never per client) and hands it to ``websockets.broadcast``, which
  writes without awaiting anyone. A client whose kernel send buffer is full has its transport
  write buffer grow; once that exceeds ``write_limit`` bytes the client simply misses frames
  (counted in ``dropped``) until it drains. :meth:`send_extra` does the same for the viewer's
  own channels (``lab`` text, ``video`` binary), only to clients that asked for them.
* Stalled clients: websockets' keepalive ping waits for the write buffer to drain before it is
  sent, so a client that never reads would never be timed out. A watchdog therefore aborts any
  client whose write buffer stayed above ``write_limit`` for ``ping_timeout`` seconds (counted
  in ``stalled``), and :meth:`aclose` aborts whoever has not closed within ``close_timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import parse_qs, quote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from ..clock import monotonic_s
from ..errors import ConfigError, MocapBridgeError

__all__ = ["HttpFile", "ViewerHooks", "WebSocketServer", "is_loopback_host"]

log = logging.getLogger(__name__)

#: Close code for a binary message from a client (RFC 6455 §7.4.1 "unsupported data").
CLOSE_UNSUPPORTED_DATA = 1003
#: Close code when the connection cap is reached (IANA registry: 1013 "Try Again Later").
CLOSE_TRY_AGAIN_LATER = 1013

_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    h = host.strip("[]").lower()
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False  # any other name may resolve beyond this machine


def _is_wildcard(host: str) -> bool:
    h = host.strip("[]")
    try:
        return ipaddress.ip_address(h).is_unspecified
    except ValueError:
        return h == ""


@dataclass(frozen=True, slots=True)
class HttpFile:
    """A static HTTP answer: status, content type, body and extra headers."""

    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ViewerHooks:
    """What a viewer adds to the server.

    ``static(path)`` answers an HTTP GET for ``path`` (``None``: not a static file, e.g. ``/`` with
    an ``Upgrade`` handshake is handled as WebSocket). ``command(text, trusted)`` answers one text
    message from a client (``trusted``: it came from the viewer's own origin). ``channels`` are the
    extra channel names clients may subscribe to (sent with :meth:`WebSocketServer.send_extra`).
    """

    static: Callable[[str], HttpFile | None]
    command: Callable[[str, bool], bytes]
    channels: frozenset[str]


@dataclass(slots=True)
class _Client:
    channels: frozenset[str]  #: frame channels (for ``send``)
    extras: frozenset[str]  #: viewer channels (for ``send_extra``)
    trusted: bool  #: Origin is the viewer's own: may send commands
    stalled_since: float | None = None


#: How long :meth:`WebSocketServer.aclose` waits for clients' closing handshakes before aborting.
CLOSE_GRACE_S = 0.5


class WebSocketServer:
    """Serve one stream to many clients.

    ``hello(channels)`` builds a client's first message; ``parse_channels(text | None)`` turns the
    ``channels`` query value into a set (raising a :class:`MocapBridgeError` for bad input).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        hello: Callable[[frozenset[str]], bytes],
        parse_channels: Callable[[str | None], frozenset[str]],
        token: str = "",
        max_message: int = 4096,
        write_limit: int = 256 * 1024,
        ping_interval: float = 5.0,
        ping_timeout: float = 10.0,
        close_timeout: float = 1.0,
        max_clients: int = 64,
        allowed_origins: Iterable[str] = (),
        allow_insecure: bool = False,
    ) -> None:
        if not is_loopback_host(host) and not token and not allow_insecure:
            raise ConfigError(
                f"WebSocket: {host}:{port} accepts connections from other machines without a token: "
                "pass --ws-token TOKEN, or set [ws] allow_insecure = true to allow it"
            )
        if max_clients < 1:
            raise ConfigError(f"WebSocket: max_clients must be ≥ 1, got {max_clients}")
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        self._hello = hello
        self._parse_channels = parse_channels
        self.token = token
        self._token = token.encode("utf-8")
        self.max_message = max_message
        self.write_limit = write_limit
        self._ping = (ping_interval, ping_timeout)
        self._close_timeout = close_timeout
        self.max_clients = max_clients
        self.allowed_origins = frozenset(_norm_origin(o) for o in allowed_origins)
        self._viewer: ViewerHooks | None = None
        self._server: Server | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._clients: dict[ServerConnection, _Client] = {}
        self._extra_count: dict[str, int] = {}
        self.sent = 0  #: messages written to clients
        self.dropped = 0  #: messages a slow client missed
        self.refused = 0  #: connections refused (origin, token, channels, cap)
        self.connections = 0  #: clients that completed the handshake
        self.stalled = 0  #: clients aborted because they stopped reading
        self.http_served = 0  #: static files answered

    # ---- set-up ----------------------------------------------------------------------------
    def attach_viewer(self, hooks: ViewerHooks) -> None:
        """Serve static files, accept the viewer's channels and commands (before :meth:`start`)."""
        self._viewer = hooks
        self._extra_count = dict.fromkeys(hooks.channels, 0)

    @property
    def clients(self) -> int:
        """Clients currently registered (past their hello)."""
        return len(self._clients)

    def subscribers(self, channel: str) -> int:
        """Clients subscribed to a viewer channel (safe to read from any thread)."""
        return self._extra_count.get(channel, 0)

    def urls(self) -> tuple[str, str | None]:
        """The stream URL and the viewer's URL (None without a viewer), with the chosen port."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if _is_wildcard(self.host):
            host = "127.0.0.1" if ":" not in self.host else "[::1]"
        base = f"{host}:{self.port if self.port is not None else self.requested_port}/"
        query = f"?token={quote(self.token, safe='')}" if self.token else ""
        viewer = f"http://{base}{query}" if self._viewer is not None else None
        return f"ws://{base}", viewer

    async def start(self) -> None:
        """Bind and listen; ConfigError if the address cannot be used."""
        try:
            self._server = await serve(
                self._handler,
                self.host,
                self.requested_port,
                process_request=self._process_request,
                max_size=self.max_message,
                max_queue=4,
                write_limit=self.write_limit,
                ping_interval=self._ping[0],
                ping_timeout=self._ping[1],
                close_timeout=self._close_timeout,
                compression=None,
                logger=log,
            )
        except OSError as exc:
            raise ConfigError(
                f"WebSocket: cannot listen on {self.host}:{self.requested_port}: {exc}"
            ) from exc
        self.port = int(self._server.sockets[0].getsockname()[1])
        self._watchdog = asyncio.create_task(self._watch_stalled())
        log.info("WebSocket stream on %s", self.urls()[0])

    async def aclose(self, grace_s: float = CLOSE_GRACE_S) -> None:
        """Stop listening and close every client (idempotent).

        A client that does not finish the closing handshake within ``grace_s`` (a stalled one
        whose buffers are full cannot even receive the close frame) has its TCP connection
        aborted: otherwise websockets waits ``close_timeout`` for it, and so does the loop's
        shutdown after anyone gives up waiting for us.
        """
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
            self._watchdog = None
        if self._server is not None:
            server, self._server = self._server, None
            for conn, client in list(self._clients.items()):
                if client.stalled_since is not None:  # cannot take a close frame: no handshake
                    conn.transport.abort()
            server.close()
            try:
                await asyncio.wait_for(asyncio.shield(server.wait_closed()), grace_s)
            except TimeoutError:
                for conn in list(self._clients):
                    if conn.state is not State.CLOSED:
                        conn.transport.abort()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(server.wait_closed(), 0.5)
        self._clients.clear()
        self._extra_count = dict.fromkeys(self._extra_count, 0)

    # ---- handshake -------------------------------------------------------------------------
    def _channels(self, text: str | None) -> tuple[frozenset[str], frozenset[str]]:
        """(frame channels, viewer channels) from the ``channels`` query value."""
        extra_names = self._viewer.channels if self._viewer is not None else frozenset()
        if text is None:
            return self._parse_channels(None), frozenset()
        names = [n.strip().lower() for n in text.split(",")]
        extras = frozenset(n for n in names if n in extra_names)
        rest = ",".join(n for n in names if n and n not in extra_names)
        if extras and not rest:  # only viewer channels: no frame messages
            return frozenset(), extras
        return self._parse_channels(rest or None), extras

    def _query(self, path: str) -> tuple[bool, frozenset[str], frozenset[str]]:
        q = parse_qs(urlsplit(path).query)
        given = (q.get("token") or [""])[-1].encode("utf-8")
        ok = not self._token or hmac.compare_digest(given, self._token)
        channels = q.get("channels")
        frames, extras = self._channels(channels[-1] if channels else None)
        return ok, frames, extras

    def _own_origin(self, origin: str, host_header: str | None) -> bool:
        """The viewer's own origin: ``http://`` + the Host the browser used, for a host name this
        server really answers to (loopback names for a loopback bind, the bound address for a
        specific one, any for a wildcard bind, which needs a token). Checking the name defeats DNS
        rebinding, where a hostile name resolves to 127.0.0.1."""
        if not host_header or origin != f"http://{host_header.lower()}":
            return False
        parts = urlsplit(origin)
        if parts.port != self.port:
            return False
        name = (parts.hostname or "").lower()
        if _is_wildcard(self.host):
            return True
        if is_loopback_host(self.host):
            return name in _LOOPBACK_NAMES or is_loopback_host(name)
        return name == self.host.strip("[]").lower()

    def _trust(self, request: Request) -> tuple[bool, bool]:
        """(may connect, may send commands) from the request's Origin (one Origin, one Host)."""
        origins = request.headers.get_all("Origin")
        hosts = request.headers.get_all("Host")
        if len(origins) > 1 or len(hosts) > 1:
            return False, False  # ambiguous: refused rather than guessed
        if not origins:
            return True, False  # not a browser
        norm = _norm_origin(origins[0])
        if self._own_origin(norm, hosts[0] if hosts else None):
            return True, True
        return norm in self.allowed_origins, False

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        upgrade = "websocket" in request.headers.get("Upgrade", "").lower()
        if not upgrade and self._viewer is not None:
            answer = self._viewer.static(urlsplit(request.path).path)
            if answer is not None:
                self.http_served += 1
                return _http_response(answer)
        allowed, _ = self._trust(request)
        if not allowed:
            self.refused += 1
            return conn.respond(HTTPStatus.FORBIDDEN, "origin not allowed (see [ws] allowed_origins)\n")
        try:
            ok, _, _ = self._query(request.path)
        except MocapBridgeError as exc:
            self.refused += 1
            return conn.respond(HTTPStatus.BAD_REQUEST, f"{exc}\n")
        if not ok:
            self.refused += 1
            return conn.respond(HTTPStatus.UNAUTHORIZED, "missing or wrong token\n")
        return None

    # ---- per connection --------------------------------------------------------------------
    async def _handler(self, ws: ServerConnection) -> None:
        request = ws.request
        assert request is not None  # set once the handshake succeeded
        if len(self._clients) >= self.max_clients:
            self.refused += 1
            await ws.close(CLOSE_TRY_AGAIN_LATER, f"too many clients (limit {self.max_clients})")
            return
        _, channels, extras = self._query(request.path)
        _, trusted = self._trust(request)
        try:
            await ws.send(self._hello(channels), text=True)
        except ConnectionClosed:
            return
        self._clients[ws] = _Client(channels, extras, trusted)
        for ch in extras:
            self._extra_count[ch] += 1
        self.connections += 1
        try:
            async for message in ws:
                if not isinstance(message, str):
                    await ws.close(CLOSE_UNSUPPORTED_DATA, "binary messages are not accepted")
                    break
                if self._viewer is not None:
                    reply = self._viewer.command(message, trusted)
                    if ws.transport.get_write_buffer_size() <= self.write_limit:
                        await ws.send(reply, text=True)
                # Without a viewer, text from clients carries no meaning in stream version 1.
        except ConnectionClosed:
            pass
        finally:
            client = self._clients.pop(ws, None)
            if client is not None:
                for ch in client.extras:
                    self._extra_count[ch] -= 1

    async def _watch_stalled(self) -> None:
        timeout = self._ping[1]
        while True:
            await asyncio.sleep(min(1.0, timeout / 4))
            now = monotonic_s()
            for conn, client in list(self._clients.items()):
                if conn.transport.get_write_buffer_size() <= self.write_limit:
                    client.stalled_since = None
                elif client.stalled_since is None:
                    client.stalled_since = now
                elif now - client.stalled_since > timeout:
                    log.info("WebSocket client %s stopped reading: closed", conn.remote_address)
                    self.stalled += 1
                    client.stalled_since = None
                    conn.transport.abort()

    # ---- sending ---------------------------------------------------------------------------
    def send(self, message_for: Callable[[frozenset[str]], bytes]) -> None:
        """Send one frame to every client: ``message_for(channels)`` is called once per set."""
        if not self._clients:
            return
        groups: dict[frozenset[str], list[ServerConnection]] = {}
        limit = self.write_limit
        for conn, client in self._clients.items():
            if conn.state is not State.OPEN or not client.channels:
                continue
            if conn.transport.get_write_buffer_size() > limit:
                self.dropped += 1
                continue
            groups.setdefault(client.channels, []).append(conn)
        for channels, conns in groups.items():
            broadcast(conns, message_for(channels), text=True)
            self.sent += len(conns)

    def send_extra(self, channel: str, message: bytes, *, binary: bool) -> None:
        """Send ``message`` to every client subscribed to the viewer channel ``channel``."""
        if not self._extra_count.get(channel):
            return
        limit = self.write_limit
        conns = []
        for conn, client in self._clients.items():
            if channel not in client.extras or conn.state is not State.OPEN:
                continue
            if conn.transport.get_write_buffer_size() > limit:
                self.dropped += 1
                continue
            conns.append(conn)
        if conns:
            broadcast(conns, message, text=not binary)
            self.sent += len(conns)

    def send_video(self, message: bytes) -> None:
        """One ``video`` thumbnail (binary) to its subscribers."""
        self.send_extra("video", message, binary=True)


def _norm_origin(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


def _http_response(answer: HttpFile) -> Response:
    headers = Headers()
    headers["Content-Type"] = answer.content_type
    headers["Content-Length"] = str(len(answer.body))
    headers["Connection"] = "close"
    headers["X-Content-Type-Options"] = "nosniff"
    for key, value in answer.headers:
        headers[key] = value
    return Response(answer.status, HTTPStatus(answer.status).phrase, headers, answer.body)
