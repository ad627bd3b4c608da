"""The lock keeper: renews a worker's job locks from a thread of its own.

Renewal must not wait behind a running job: a handler that blocks the event loop
(CPU-bound code, a blocking call) would otherwise lose its lock and have its job run a
second time by another worker.  The keeper runs its own event loop in a daemon thread
with its own store connections, renews every lock the worker holds in one call, and
reports lost locks and cancellation requests back to the worker's loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

from workhorse.errors import StoreUnavailable
from workhorse.store.base import LockNotice, Store

log = logging.getLogger("workhorse.worker")


class LockKeeper:
    def __init__(
        self,
        store: Store,
        queue: str,
        token: str,
        lock_ms: int,
        interval: float,
        notify: Callable[[list[LockNotice]], None],
    ) -> None:
        self._store = store
        self._queue = queue
        self._token = token
        self._lock_ms = lock_ms
        self._interval = interval
        self._notify = notify
        self._held: set[str] = set()
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._main, name=f"workhorse-locks-{queue}", daemon=True
        )

    def hold(self, job_ids: list[str]) -> None:
        with self._mutex:
            self._held.update(job_ids)

    def drop(self, job_id: str) -> None:
        with self._mutex:
            self._held.discard(job_id)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self._interval + 5)

    def _main(self) -> None:
        asyncio.run(self._loop())

    async def _loop(self) -> None:
        store = self._store
        try:
            while not self._stop.wait(self._interval):
                with self._mutex:
                    held = sorted(self._held)
                if not held:
                    continue
                try:
                    notices = await store.extend_locks(
                        self._queue, self._token, held, self._lock_ms
                    )
                except StoreUnavailable as exc:
                    log.warning("lock renewal failed: %s", exc)
                    continue
                if notices:
                    self._notify(notices)
        finally:
            await store.close()
