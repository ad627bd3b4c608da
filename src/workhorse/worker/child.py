"""Inside a pool process: run the jobs the parent worker sends, one at a time.

The process never touches the store.  It receives a job as JSON over its pipe, runs
the handler, and sends back JSON messages: progress and log lines while it runs,
then the return value or the error (message, traceback text, type names, HTTP
status).  The parent worker holds the job's lock and writes everything to the store,
so a pool process needs no store connection or credentials, and a job killed after
its time limit can never write anything once its parent has moved on.

An async handler runs on this process's event loop and is cancelled when the parent
sends ``cancel`` (time limit, cancellation by id, shutdown).  A plain function runs
on the process's only thread and cannot be interrupted: the parent kills the process
after the grace period instead.
"""

from __future__ import annotations

import asyncio
import inspect
import multiprocessing
import os
import signal
import threading
import traceback
from multiprocessing.connection import Connection
from typing import Any

import orjson

from workhorse.errors import UnrecoverableError
from workhorse.job import Job, JobState
from workhorse.retry import error_type_names, http_status, retry_after
from workhorse.worker.handler_path import resolve_handler

Message = dict[str, Any]


class Channel:
    """This process's end of the pipe to the parent worker.  Sends are serialised:
    a handler may report progress from threads of its own."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._lock = threading.Lock()

    def send(self, message: bytes) -> None:
        with self._lock:
            self.conn.send_bytes(message)

    def send_quietly(self, message: bytes) -> bool:
        """Send; False when the parent is gone (it closed the pool, or died)."""
        try:
            self.send(message)
        except OSError:
            return False
        return True


class PooledJob(Job):
    """A job inside a pool process.  ``update_progress`` and ``log`` send to the
    parent worker, which stores and publishes them; a plain (sync) handler calls
    :meth:`send_progress` and :meth:`send_log` instead, without ``await``."""

    __slots__ = ("_channel",)
    _channel: Channel

    def send_progress(self, progress: Any) -> None:
        is_number = isinstance(progress, int | float) and not isinstance(progress, bool)
        if is_number and not 0 <= progress <= 100:
            raise ValueError(f"progress must be between 0 and 100, got {progress}")
        payload = orjson.dumps({"t": "progress", "progress": progress})
        self.progress = progress
        self._channel.send(payload)

    def send_log(self, line: str) -> None:
        self._channel.send(orjson.dumps({"t": "log", "line": str(line)}))

    async def update_progress(self, progress: Any) -> None:
        self.send_progress(progress)

    async def log(self, line: str) -> None:
        self.send_log(line)

    def _bound(self) -> Any:
        raise RuntimeError(
            "inside a process pool a job reports progress and logs only; it cannot "
            "read the store (refresh, result)"
        )


def job_message(job: Job) -> Message:
    """What a pool process needs of a job to run it."""
    return {
        "queue": job.queue_name,
        "id": job.id,
        "name": job.name,
        "data": job.data,
        "options": job.options,
        "priority": job.priority,
        "created_at": job.created_at,
        "attempts_made": job.attempts_made,
        "stalled_count": job.stalled_count,
        "progress": job.progress,
        "tags": job.tags,
        "meta": job.meta,
        "owner": job.owner,
    }


def _pooled_job(m: Message, channel: Channel) -> PooledJob:
    job = PooledJob(
        queue_name=m["queue"],
        id=m["id"],
        name=m["name"],
        data=m["data"],
        options=m["options"],
        state=JobState.ACTIVE,
        priority=m["priority"],
        created_at=m["created_at"],
        attempts_made=m["attempts_made"],
        stalled_count=m["stalled_count"],
        progress=m["progress"],
        tags=m["tags"],
        meta=m["meta"],
        owner=m["owner"],
    )
    job._channel = channel
    return job


def main(conn: Connection, path: str) -> None:
    """Entry point of a pool process: load the handler, say ready, serve jobs until
    the parent closes the pipe."""
    # Signals sent to the whole process group (Ctrl-C, a service manager) are for
    # the parent worker: it decides how running jobs end.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, name="workhorse-parent-watch", daemon=True).start()
    channel = Channel(conn)
    try:
        handler = resolve_handler(path)
    except Exception as exc:
        channel.send_quietly(orjson.dumps({"t": "fatal", "message": _describe(exc)["stack"]}))
        return
    if channel.send_quietly(orjson.dumps({"t": "ready"})):
        asyncio.run(_serve(channel, handler))


def _exit_with_parent() -> None:
    """A worker killed with SIGKILL cannot stop its pool: its processes notice and
    exit, even in the middle of a job that never yields."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        parent.join()
        os._exit(1)


async def _serve(channel: Channel, handler: Any) -> None:
    conn = channel.conn
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[Message | None] = asyncio.Queue()

    def readable() -> None:
        try:
            while conn.poll():
                inbox.put_nowait(orjson.loads(conn.recv_bytes()))
        except (EOFError, OSError):
            loop.remove_reader(conn.fileno())
            inbox.put_nowait(None)

    loop.add_reader(conn.fileno(), readable)
    is_async = inspect.iscoroutinefunction(handler)
    while (msg := await inbox.get()) is not None:
        if msg["t"] != "run":
            continue  # a cancel that arrived after its job ended
        job = _pooled_job(msg["job"], channel)
        if is_async:
            reply = await _run_async(handler, job, inbox)
        else:
            reply = _run_sync(handler, job)
        if not channel.send_quietly(reply):
            return


async def _run_async(handler: Any, job: PooledJob, inbox: asyncio.Queue[Message | None]) -> bytes:
    task: asyncio.Future[Any] = asyncio.ensure_future(handler(job))
    while not task.done():
        getter = asyncio.ensure_future(inbox.get())
        await asyncio.wait({task, getter}, return_when=asyncio.FIRST_COMPLETED)
        if not getter.done():
            getter.cancel()
            break
        msg = getter.result()
        if msg is None or (msg["t"] == "cancel" and msg["id"] == job.id):
            if msg is None:
                inbox.put_nowait(None)  # the parent is gone: stop the job, then the loop
            task.cancel()
            await asyncio.wait({task})
    if task.cancelled():
        return orjson.dumps({"t": "cancelled"})
    error = task.exception()
    if error is not None:
        return _error_reply(error)
    return _done_reply(task.result())


def _run_sync(handler: Any, job: PooledJob) -> bytes:
    try:
        value = handler(job)
    except Exception as exc:
        return _error_reply(exc)
    return _done_reply(value)


def _done_reply(value: Any) -> bytes:
    try:
        return orjson.dumps({"t": "done", "value": value})
    except TypeError as exc:
        return _error_reply(UnrecoverableError(f"return value is not JSON-serialisable: {exc}"))


def _error_reply(error: BaseException) -> bytes:
    return orjson.dumps({"t": "error", **_describe(error)})


def _describe(error: BaseException) -> Message:
    return {
        "message": str(error) or type(error).__name__,
        "types": list(error_type_names(error)),
        "stack": "".join(traceback.format_exception(error)),
        "status": http_status(error),
        "retry_after": retry_after(error),
    }
