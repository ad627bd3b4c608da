"""A bare connection for the scripts that run once per batch (fetch, add).

Going through redis-py costs more client CPU per call than the whole batch's work in
Redis: it wraps every send in a task with a timeout and every read in a timeout
context.  Here a command is packed in C (hiredis), written to the socket, and the
reply parsed by hiredis's reader; nothing else.  The store uses it only for plain
TCP or Unix-socket connections and keeps redis-py (TLS, retries, script loading)
for everything else and for every error path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, cast

import hiredis

_READ_CHUNK = 1 << 16


def pack(args: tuple[Any, ...]) -> bytes:
    """A command in the Redis protocol, packed in C (str, bytes, int, float args)."""
    packed: bytes = hiredis.pack_command(cast(Any, args))
    return packed


class Fallback(Exception):
    """Use redis-py for this call instead: the connection broke (it retries with
    backoff), or Redis answered an error such as NOSCRIPT after a restart (it loads
    the script, or raises the error as redis-py's own exception)."""


class HotConnection:
    def __init__(self, params: Mapping[str, Any], timeout: float) -> None:
        self._params = params
        self._timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._parser = hiredis.Reader()

    @staticmethod
    def supports(params: Mapping[str, Any], connection_class: type) -> bool:
        """Plain TCP or Unix socket without TLS (the fast path's scope)."""
        name = connection_class.__name__
        return name in ("Connection", "UnixDomainSocketConnection") and not params.get("ssl")

    async def _connect(self) -> None:
        p = self._params
        if "path" in p:
            self._reader, self._writer = await asyncio.open_unix_connection(p["path"])
        else:
            self._reader, self._writer = await asyncio.open_connection(
                p.get("host", "127.0.0.1"), p.get("port", 6379)
            )
        self._parser = hiredis.Reader()
        if p.get("password"):
            user = (p["username"],) if p.get("username") else ()
            await self._roundtrip(pack(("AUTH", *user, p["password"])))
        if p.get("db"):
            await self._roundtrip(pack(("SELECT", p["db"])))

    async def call(self, packed: bytes) -> Any:
        """Send one packed command and return its reply."""
        try:
            if self._writer is None:
                await self._connect()
            return await self._roundtrip(packed)
        except Fallback:
            raise
        except (OSError, EOFError, TimeoutError) as exc:
            self.close()
            raise Fallback(str(exc) or type(exc).__name__) from exc
        except BaseException:
            self.close()  # cancelled mid-call: a reply may still be on its way
            raise

    async def _roundtrip(self, packed: bytes) -> Any:
        assert self._writer is not None and self._reader is not None
        self._writer.write(packed)
        reply = self._parser.gets()
        if reply is False:
            async with asyncio.timeout(self._timeout):
                while reply is False:
                    data = await self._reader.read(_READ_CHUNK)
                    if not data:
                        raise EOFError("connection closed by the server")
                    self._parser.feed(data)
                    reply = self._parser.gets()
        if isinstance(reply, hiredis.ReplyError):
            raise Fallback(str(reply))
        return reply

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None
