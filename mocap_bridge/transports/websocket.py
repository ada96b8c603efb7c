"""WebSocket server transport (websockets ≥ 14 asyncio API): fan-out where latest wins.

Theory of operation
-------------------
* Clients connect to ``ws://host:port/?channels=face,pose&token=…``. ``process_request`` refuses a
  wrong/missing token (HTTP 401) and unknown channels (HTTP 400) before the handshake completes.
* The connection handler sends the ``hello`` message first and only then registers the client,
  so no frame can overtake it. It then reads (and ignores) text messages until the client leaves;
  a binary message gets close code 1003, an oversized one 1009 and invalid UTF-8 1007 (the last
  two from websockets itself). The server keeps serving everyone else.
* :meth:`WebSocketServer.send` runs on the loop thread, synchronously, once per frame: it groups
  the open clients by channel set, asks the caller for one message per distinct set (encode once
  per frame per channel set, never per client) and hands it to ``websockets.broadcast``, which
  writes without awaiting anyone. A client whose kernel send buffer is full has its transport
  write buffer grow; once that exceeds ``write_limit`` bytes the client simply misses frames
  (counted in ``dropped``) until it drains. Memory per client is therefore bounded by about
  ``write_limit`` + one message; keepalive pings close a client that stays stalled.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import weakref
from collections.abc import Callable
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from ..errors import ConfigError, MocapBridgeError

__all__ = ["WebSocketServer"]

log = logging.getLogger(__name__)

#: Close code for a binary message from a client (RFC 6455 §7.4.1 "unsupported data").
CLOSE_UNSUPPORTED_DATA = 1003
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
    ) -> None:
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        self._hello = hello
        self._parse_channels = parse_channels
        self._token = token.encode("utf-8")
        self.max_message = max_message
        self.write_limit = write_limit
        self._ping = (ping_interval, ping_timeout)
        self._server: Server | None = None
        self._clients: dict[ServerConnection, frozenset[str]] = {}
        #: every connection that reached the handshake, so aclose can abort the ones that hang
        self._connections: weakref.WeakSet[ServerConnection] = weakref.WeakSet()
        self.sent = 0  #: messages written to clients
        self.dropped = 0  #: messages a slow client missed
        self.refused = 0  #: connections refused (token, channels)
        self.connections = 0  #: clients that completed the handshake

    @property
    def clients(self) -> int:
        """Clients currently registered (past their hello)."""
        return len(self._clients)

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
                close_timeout=2.0,
                compression=None,
                logger=log,
            )
        except OSError as exc:
            raise ConfigError(
                f"WebSocket: cannot listen on {self.host}:{self.requested_port}: {exc}"
            ) from exc
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("WebSocket stream on ws://%s:%d/", self.host, self.port)

    async def aclose(self, grace_s: float = CLOSE_GRACE_S) -> None:
        """Stop listening and close every client (idempotent).

        A client that does not finish the closing handshake within ``grace_s`` (a stalled one
        whose buffers are full cannot even receive the close frame) has its TCP connection
        aborted: otherwise websockets waits ``close_timeout`` for it, and so does the loop's
        shutdown after anyone gives up waiting for us.
        """
        if self._server is not None:
            self._server.close()
            try:
                await asyncio.wait_for(asyncio.shield(self._server.wait_closed()), grace_s)
            except TimeoutError:
                for conn in list(self._connections):
                    if conn.state is not State.CLOSED:
                        conn.transport.abort()
                await self._server.wait_closed()
            self._server = None
        self._clients.clear()

    def _query(self, path: str) -> tuple[bool, frozenset[str]]:
        q = parse_qs(urlsplit(path).query)
        given = (q.get("token") or [""])[-1].encode("utf-8")
        ok = not self._token or hmac.compare_digest(given, self._token)
        channels = q.get("channels")
        return ok, self._parse_channels(channels[-1] if channels else None)

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        self._connections.add(conn)
        try:
            ok, _ = self._query(request.path)
        except MocapBridgeError as exc:
            self.refused += 1
            return conn.respond(HTTPStatus.BAD_REQUEST, f"{exc}\n")
        if not ok:
            self.refused += 1
            return conn.respond(HTTPStatus.UNAUTHORIZED, "missing or wrong token\n")
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        _, channels = self._query(ws.request.path if ws.request is not None else "/")
        try:
            await ws.send(self._hello(channels), text=True)
        except ConnectionClosed:
            return
        self._clients[ws] = channels
        self.connections += 1
        try:
            async for message in ws:
                if not isinstance(message, str):
                    await ws.close(CLOSE_UNSUPPORTED_DATA, "binary messages are not accepted")
                    break
                # Text from clients carries no meaning in stream version 1: ignored.
        except ConnectionClosed:
            pass
        finally:
            self._clients.pop(ws, None)

    def send(self, message_for: Callable[[frozenset[str]], bytes]) -> None:
        """Send one frame to every client: ``message_for(channels)`` is called once per set."""
        if not self._clients:
            return
        groups: dict[frozenset[str], list[ServerConnection]] = {}
        limit = self.write_limit
        for conn, channels in self._clients.items():
            if conn.state is not State.OPEN:
                continue
            if conn.transport.get_write_buffer_size() > limit:
                self.dropped += 1
                continue
            groups.setdefault(channels, []).append(conn)
        for channels, conns in groups.items():
            broadcast(conns, message_for(channels), text=True)
            self.sent += len(conns)
