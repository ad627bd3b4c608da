"""The application object: one store, its queues and their processors.

A worker process is started by pointing the CLI at one of these, like Celery's
``-A``::

    # myapp/jobs.py
    app = Workhorse("redis://127.0.0.1:6379/0")

    @app.processor("emails", concurrency=5)
    async def send_email(job): ...

    $ workhorse worker myapp.jobs:app --queues emails
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from workhorse.options import JobOptions
from workhorse.queue import Queue
from workhorse.store import connect, url_from_env
from workhorse.store.base import Store
from workhorse.worker import Handler, Worker, WorkerOptions

log = logging.getLogger("workhorse")


@dataclass(frozen=True, slots=True)
class Processor:
    queue: str
    handler: Handler
    options: WorkerOptions


class Workhorse:
    def __init__(self, store: Store | str | None = None) -> None:
        """``store``: a store, its URL, or None to choose from the environment
        (see :func:`workhorse.store.url_from_env`: Redis when configured, else the
        embedded SQLite store)."""
        if store is None:
            store = url_from_env()
        self.store = connect(store) if isinstance(store, str) else store
        self._queues: dict[str, Queue] = {}
        self.processors: dict[str, Processor] = {}
        self._startup: list[Callable[[], Awaitable[Any]]] = []
        self._shutdown: list[Callable[[], Awaitable[Any]]] = []

    def on_startup(self, hook: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
        """Run ``await hook()`` before the workers start (open a database, check a
        connection); usable as a decorator.  A failing hook stops the start."""
        self._startup.append(hook)
        return hook

    def on_shutdown(self, hook: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
        """Run ``await hook()`` after the workers stopped, in reverse order of
        registration."""
        self._shutdown.append(hook)
        return hook

    def queue(self, name: str, default_options: JobOptions | None = None) -> Queue:
        """The queue called ``name`` (created on first use, then shared)."""
        q = self._queues.get(name)
        if q is None:
            q = self._queues[name] = Queue(name, self.store, default_options=default_options)
        elif default_options is not None:
            q.default_options = default_options
        return q

    def processor(self, queue: str, **worker_options: Any) -> Callable[[Handler], Handler]:
        """Register the handler of ``queue`` (one per queue; dispatch on ``job.name``
        inside it if a queue carries several kinds of job).  ``worker_options`` are
        :class:`WorkerOptions`, e.g. ``processes=2`` to run the jobs in a process pool
        or ``retry_policy=RetryPolicy(...)``."""
        options = WorkerOptions(**worker_options)

        def register(handler: Handler) -> Handler:
            self.add_processor(queue, handler, options)
            return handler

        return register

    def add_processor(self, queue: str, handler: Handler, options: WorkerOptions) -> None:
        """Register ``handler`` for ``queue`` with ready-made worker options (what the
        :meth:`processor` decorator does)."""
        if queue in self.processors:
            raise ValueError(f"queue {queue!r} already has a processor")
        self.processors[queue] = Processor(queue, handler, options)

    def workers(
        self,
        queues: Sequence[str] | None = None,
        concurrency: int | None = None,
        processes: int | None = None,
    ) -> list[Worker]:
        """One worker per queue; ``concurrency`` / ``processes`` override what the
        processors declared (``processes`` runs every queue in a process pool)."""
        names = list(queues) if queues else sorted(self.processors)
        unknown = [n for n in names if n not in self.processors]
        if unknown:
            raise LookupError(
                f"no processor registered for queue(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(self.processors)) or 'none'}"
            )
        out = []
        for name in names:
            proc = self.processors[name]
            opts = proc.options
            overrides = {"concurrency": concurrency, "processes": processes}
            overrides = {k: v for k, v in overrides.items() if v is not None}
            if overrides:
                opts = WorkerOptions(**{**_fields(opts), **overrides})
            out.append(Worker(self.queue(name), proc.handler, opts))
        return out

    async def run_workers(
        self,
        queues: Sequence[str] | None = None,
        concurrency: int | None = None,
        burst: bool = False,
        handle_signals: bool = True,
        processes: int | None = None,
    ) -> None:
        """Run a worker per queue until SIGTERM/SIGINT (graceful) or, with ``burst``,
        until every queue is idle."""
        workers = self.workers(queues, concurrency, processes)
        loop = asyncio.get_running_loop()
        for hook in self._startup:
            await hook()

        closing: list[asyncio.Task[None]] = []

        def stop() -> None:
            log.info("shutdown requested: finishing running jobs")
            closing.extend(asyncio.create_task(w.close()) for w in workers)

        if handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop)
        try:
            await asyncio.gather(*(w.run(burst=burst) for w in workers))
        finally:
            if handle_signals:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(sig)
            for hook in reversed(self._shutdown):
                await hook()

    async def close(self) -> None:
        for q in self._queues.values():
            await q.close_events()
        await self.store.close()


def _fields(opts: WorkerOptions) -> dict[str, Any]:
    return {name: getattr(opts, name) for name in opts.__dataclass_fields__}
