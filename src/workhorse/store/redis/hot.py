"""A bare connection for the scripts that run once per batch (fetch, add).

Going through redis-py costs more client CPU per call than the whole batch's work in
Redis: it wraps every send in a task with a timeout and every read in a timeout
context.  Here a command is packed in C (hiredis), written to the socket by an
asyncio protocol, and the reply parsed by hiredis's reader in ``data_received``,
which resolves the caller's future directly.  Calls may overlap on one connection:
Redis answers in order, so replies are matched to callers first in, first out.

The store uses it only for plain TCP or Unix-socket connections and keeps redis-py
(TLS, retries, script loading) for everything else and for every error path.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from typing import Any, cast

import hiredis


def pack(args: tuple[Any, ...]) -> bytes:
    """A command in the Redis protocol, packed in C (str, bytes, int, float args)."""
    packed: bytes = hiredis.pack_command(cast(Any, args))
    return packed


class Fallback(Exception):
    """Use redis-py for this call instead: the connection broke (it retries with
    backoff), or Redis answered an error such as NOSCRIPT after a restart (it loads
    the script, or raises the error as redis-py's own exception)."""


class _RespProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.parser = hiredis.Reader()
        self.waiters: deque[asyncio.Future[Any]] = deque()
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.parser.feed(data)
        while self.waiters:
            reply = self.parser.gets()
            if reply is False:
                return
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_result(reply)

    @property
    def usable(self) -> bool:
        return not self.closed and self.transport is not None and not self.transport.is_closing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_exception(Fallback(f"connection lost: {exc or 'closed by the server'}"))


class HotConnection:
    def __init__(self, params: Mapping[str, Any], timeout: float) -> None:
        self._params = params
        self._timeout = timeout
        self._proto: _RespProtocol | None = None
        self._connecting: asyncio.Lock | None = None

    @staticmethod
    def supports(params: Mapping[str, Any], connection_class: type) -> bool:
        """Plain TCP or Unix socket without TLS (the fast path's scope)."""
        name = connection_class.__name__
        return name in ("Connection", "UnixDomainSocketConnection") and not params.get("ssl")

    async def _connect(self) -> _RespProtocol:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._proto is not None and self._proto.usable:
                return self._proto
            loop = asyncio.get_running_loop()
            p = self._params
            try:
                if "path" in p:
                    _, proto = await loop.create_unix_connection(_RespProtocol, p["path"])
                else:
                    _, proto = await loop.create_connection(
                        _RespProtocol, p.get("host", "127.0.0.1"), p.get("port", 6379)
                    )
            except OSError as exc:
                raise Fallback(str(exc)) from exc
            if p.get("password"):
                user = (p["username"],) if p.get("username") else ()
                await self._send(proto, pack(("AUTH", *user, p["password"])))
            if p.get("db"):
                await self._send(proto, pack(("SELECT", p["db"])))
            self._proto = proto
            return proto

    async def call(self, packed: bytes) -> Any:
        """Send one packed command and return its reply."""
        proto = self._proto
        if proto is None or not proto.usable:
            proto = await self._connect()
        return await self._send(proto, packed)

    async def _send(self, proto: _RespProtocol, packed: bytes) -> Any:
        assert proto.transport is not None
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        proto.waiters.append(fut)
        proto.transport.write(packed)
        # One timer per call: a server that stops answering closes the connection,
        # which fails every call waiting on it.
        timer = loop.call_later(self._timeout, proto.transport.abort)
        try:
            reply = await fut
        except asyncio.CancelledError:
            proto.transport.abort()  # its reply would be matched to the next caller
            raise
        finally:
            timer.cancel()
        if isinstance(reply, hiredis.ReplyError):
            raise Fallback(str(reply))
        return reply

    def close(self) -> None:
        if self._proto is not None and self._proto.transport is not None:
            self._proto.transport.close()
        self._proto = None
