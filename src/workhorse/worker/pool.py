"""A worker's process pool: run CPU-bound handlers in processes of their own.

Each process runs one job at a time (see :mod:`workhorse.worker.child`).  The
processes are started with the ``spawn`` method: the worker already runs threads
(the lock keeper, the store's helpers), and forking a threaded process can leave
locks held in the child.  Parent and child talk over a pipe, in JSON both ways.

Progress and log lines travel from the child to the parent, which writes them to
the store with the job's lock in hand (rather than the child opening a store of its
own from a URL): no store connections or credentials per process, it works for any
store object however it was built, and a killed or late child can never write
anything.

Stopping a running job (time limit, cancellation by id, lost lock, shutdown) sends
the child ``cancel`` and waits ``grace`` seconds for it to end; then the process is
killed and replaced.  CPU-bound Python that never yields can only be stopped so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import orjson

from workhorse.errors import UnrecoverableError, WorkhorseError
from workhorse.job import Job
from workhorse.worker.child import Message, job_message, main

log = logging.getLogger("workhorse.worker")

#: How long a new pool process may take to import its handler and say ready.
START_TIMEOUT = 60.0


class RemoteError(WorkhorseError):
    """An error raised by a handler in a pool process, as reported back: its message,
    the names of its type and bases (``type_names``, what retry rules match), its
    traceback text and, when it carried one, its HTTP status and Retry-After."""

    def __init__(
        self,
        message: str,
        type_names: tuple[str, ...],
        stack: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.type_names = type_names
        self.stack = stack
        self.status = status
        self.retry_after = retry_after


class RemoteUnrecoverableError(RemoteError, UnrecoverableError):
    """An :class:`UnrecoverableError` raised in a pool process."""


class ProcessDied(WorkhorseError):
    """The pool process running the job exited (crash, out of memory, killed)."""


@dataclass(eq=False)
class _Slot:
    process: BaseProcess
    conn: Connection
    inbox: asyncio.Queue[Message | None] = field(default_factory=asyncio.Queue)


class ProcessPool:
    """``size`` processes running the handler at ``path`` (``module:name``)."""

    def __init__(self, path: str, size: int, grace: float) -> None:
        self._path = path
        self._size = size
        self._grace = grace
        self._ctx = multiprocessing.get_context("spawn")
        self._free: asyncio.Queue[_Slot] = asyncio.Queue()
        self._slots: set[_Slot] = set()
        self._stopping: set[asyncio.Task[None]] = set()
        self._respawning: set[asyncio.Task[None]] = set()
        self._closed = False

    async def start(self) -> None:
        """Start every process and wait until each has loaded the handler."""
        slots = await asyncio.gather(
            *(self._spawn() for _ in range(self._size)), return_exceptions=True
        )
        errors = [s for s in slots if isinstance(s, BaseException)]
        for slot in slots:
            if isinstance(slot, _Slot):
                self._free.put_nowait(slot)
        if errors:
            await self.close()
            raise errors[0]

    async def run(self, job: Job) -> Any:
        """Run ``job`` in a free process; its return value, or raise its error.

        Cancelling the caller stops the job in its process (cooperatively, then by
        killing the process after the grace period) before the cancellation goes on.
        """
        slot = await self._free.get()
        while not slot.process.is_alive():  # died while idle
            await self._replace(slot)
            slot = await self._free.get()
        try:
            slot.conn.send_bytes(orjson.dumps({"t": "run", "job": job_message(job)}))
            value = await self._follow(slot, job)
        except RemoteError:
            self._free.put_nowait(slot)  # the handler failed; its process is fine
            raise
        except BaseException:
            stopping = asyncio.ensure_future(self._stop(slot, job.id))
            self._stopping.add(stopping)
            stopping.add_done_callback(self._stopping.discard)
            await asyncio.shield(stopping)
            raise
        self._free.put_nowait(slot)
        return value

    async def close(self) -> None:
        """Stop every process: idle ones exit when their pipe closes; the rest are
        killed."""
        self._closed = True
        if self._stopping:
            await asyncio.wait(self._stopping)
        for task in self._respawning:
            task.cancel()
        if self._respawning:
            await asyncio.wait(self._respawning)
        for slot in list(self._slots):
            self._detach(slot)
        for slot in list(self._slots):
            await asyncio.to_thread(slot.process.join, 2.0)
            if slot.process.is_alive():
                slot.process.kill()
                await asyncio.to_thread(slot.process.join)
            self._slots.discard(slot)

    # ---- one process ------------------------------------------------------------
    async def _spawn(self) -> _Slot:
        loop = asyncio.get_running_loop()
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(
            target=main, args=(child, self._path), name="workhorse-pool", daemon=True
        )
        process.start()
        child.close()
        slot = _Slot(process, parent)
        self._slots.add(slot)
        loop.add_reader(parent.fileno(), self._readable, slot)
        try:
            async with asyncio.timeout(START_TIMEOUT):
                first = await slot.inbox.get()
        except TimeoutError:
            first = {"t": "fatal", "message": f"not ready after {START_TIMEOUT:g} s"}
        if first is not None and first["t"] == "ready":
            return slot
        self._detach(slot)
        await asyncio.to_thread(process.join, 5.0)
        self._slots.discard(slot)
        detail = (
            first["message"]
            if first
            else f"it exited with code {process.exitcode} (a script that starts a pooled "
            "worker must do so under `if __name__ == '__main__':`, since each pool "
            "process imports the main module again)"
        )
        raise RuntimeError(f"a pool process could not load the handler {self._path}: {detail}")

    def _readable(self, slot: _Slot) -> None:
        try:
            while slot.conn.poll():
                slot.inbox.put_nowait(orjson.loads(slot.conn.recv_bytes()))
        except (EOFError, OSError):
            self._detach(slot)

    def _detach(self, slot: _Slot) -> None:
        """Stop listening to the process and close our end of its pipe."""
        if slot.conn.closed:
            return
        asyncio.get_running_loop().remove_reader(slot.conn.fileno())
        slot.conn.close()
        slot.inbox.put_nowait(None)

    async def _follow(self, slot: _Slot, job: Job) -> Any:
        """Relay the job's progress and logs to the store until it ends."""
        while True:
            msg = await slot.inbox.get()
            if msg is None:
                await asyncio.to_thread(slot.process.join, 1.0)  # to learn its exit code
                code = slot.process.exitcode
                raise ProcessDied(f"the pool process running the job died (exit code {code})")
            kind = msg["t"]
            if kind == "done":
                return msg["value"]
            if kind == "error":
                raise _remote_error(msg)
            try:
                if kind == "progress":
                    await job.update_progress(msg["progress"])
                elif kind == "log":
                    await job.log(msg["line"])
            except Exception as exc:
                log.warning("job %s: could not store its %s: %s", job.id, kind, exc)

    async def _stop(self, slot: _Slot, job_id: str) -> None:
        """End the job running in ``slot``: ask, wait the grace period, then kill."""
        if not slot.conn.closed and slot.process.is_alive():
            with contextlib.suppress(OSError):
                slot.conn.send_bytes(orjson.dumps({"t": "cancel", "id": job_id}))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._grace):
                    while (msg := await slot.inbox.get()) is not None:
                        if msg["t"] in ("cancelled", "done", "error"):
                            self._free.put_nowait(slot)
                            return
        await self._replace(slot)

    async def _replace(self, slot: _Slot) -> None:
        """Kill the process of ``slot``; a new one joins the pool once it is ready
        (in the background: the job that was stopped need not wait for it)."""
        self._detach(slot)
        if slot.process.is_alive():
            slot.process.kill()
        await asyncio.to_thread(slot.process.join)
        self._slots.discard(slot)
        if not self._closed:
            task = asyncio.create_task(self._respawn())
            self._respawning.add(task)
            task.add_done_callback(self._respawning.discard)

    async def _respawn(self) -> None:
        delay = 1.0
        while True:
            try:
                self._free.put_nowait(await self._spawn())
                return
            except RuntimeError as exc:
                log.error("could not replace a pool process, retrying in %g s: %s", delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


def _remote_error(msg: Message) -> RemoteError:
    names = tuple(msg["types"])
    cls = (
        RemoteUnrecoverableError if "workhorse.errors.UnrecoverableError" in names else RemoteError
    )
    return cls(msg["message"], names, msg["stack"], msg["status"], msg["retry_after"])
