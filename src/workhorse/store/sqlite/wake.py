"""Waking sleepers without a busy loop: one Unix datagram socket per sleeper.

A worker waiting for jobs, or an event reader waiting for events, binds a datagram
socket (:class:`Listener`) and registers its address in the ``listeners`` table.
After each commit, the writer sends a few bytes to the listeners of the queue
(:class:`Poker`): ``0`` jobs are ready, ``d<ms>`` a delayed job falls due then, ``e``
new events.  The same path serves sleepers in this process and in others, so there
is no shared in-process registry (no module state), and an idle sleeper costs
nothing until poked: it sits in the event loop's selector.

On Linux the address is in the abstract namespace (``@wh-<hex>``): nothing on disk,
freed by the kernel when the process dies; a send to a dead sleeper fails with
ECONNREFUSED and the writer deletes its row.  Elsewhere it is a socket file in the
temporary directory.  Without Unix sockets at all, sleepers poll every
``POLL_INTERVAL`` seconds instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import tempfile
import uuid

POLL_INTERVAL = 0.05
WAKE_READY = b"0"
WAKE_EVENTS = b"e"
_ABSTRACT = sys.platform.startswith("linux")


def _target(addr: str) -> str:
    return "\0" + addr[1:] if addr.startswith("@") else addr


def _set(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class Listener:
    """A bound datagram socket a sleeper waits on.  Use from one event loop."""

    def __init__(self, sock: socket.socket, address: str) -> None:
        self.sock = sock
        self.address = address
        self._pending: list[bytes] = []
        self._waiting: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]] | None = None
        self.closed = False

    @classmethod
    def create(cls) -> Listener | None:
        """A new listener, or None where Unix datagram sockets are unavailable."""
        family = getattr(socket, "AF_UNIX", None)
        if family is None:
            return None
        name = f"wh-{uuid.uuid4().hex[:20]}"
        address = "@" + name if _ABSTRACT else os.path.join(tempfile.gettempdir(), name)
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind(_target(address))
            sock.setblocking(False)
        except OSError:
            sock.close()
            return None
        return cls(sock, address)

    def drain(self) -> list[bytes]:
        """What was received and not yet read (never blocks)."""
        out, self._pending = self._pending, []
        if self.closed:
            return out
        while True:
            try:
                out.append(self.sock.recv(64))
            except OSError:  # BlockingIOError: nothing more
                return out

    async def wait(self, timeout: float) -> list[bytes]:
        """Messages received; waits up to ``timeout`` seconds for the first one.  An
        empty list: timed out, or the listener was closed."""
        got = self.drain()
        if got or self.closed or timeout <= 0:
            return got
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        fd = self.sock.fileno()
        self._waiting = (loop, fut)
        loop.add_reader(fd, _set, fut)
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await fut
        finally:
            if self._waiting is not None:
                self._waiting = None
                loop.remove_reader(fd)
        return self.drain()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._waiting is not None:
            loop, fut = self._waiting
            self._waiting = None
            loop.remove_reader(self.sock.fileno())
            _set(fut)
        self.sock.close()
        if not self.address.startswith("@"):
            with contextlib.suppress(OSError):
                os.unlink(self.address)


class Poker:
    """Sends wake-ups to listeners (used from the store's database thread)."""

    def __init__(self) -> None:
        self._sock: socket.socket | None = None

    def poke(self, addr: str, payload: bytes) -> bool:
        """Send ``payload``; False when nobody listens at ``addr`` any more."""
        if self._sock is None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sock.setblocking(False)
        try:
            self._sock.sendto(payload, _target(addr))
        except (ConnectionRefusedError, FileNotFoundError):
            return False
        except OSError:
            # BlockingIOError: its queue is full, so it has wake-ups pending anyway.
            return True
        return True

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
