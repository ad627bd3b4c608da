"""The consumer side: a worker runs one queue's jobs, N at a time.

The fetch loop folds "finish what just ended" and "take as many as there are free
slots" into one store call, so a busy worker makes one round trip per batch, not per
job.  Every taken job is locked from the moment it is taken; the lock keeper renews
the locks from its own thread; a periodic check requeues jobs of dead workers, and
the same timer heartbeats the worker into the store's registry (``Store.workers``).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import socket
import traceback
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from workhorse.errors import StoreUnavailable, UnrecoverableError
from workhorse.events import call_hook
from workhorse.job import PENDING, Job, JobState
from workhorse.options import Backoff, BackoffStrategy
from workhorse.queue import Queue
from workhorse.retry import RetryPolicy
from workhorse.store.base import LockNotice, Outcome, OutcomeKind, Waiter, WorkerInfo
from workhorse.worker.handler_path import handler_path
from workhorse.worker.locks import LockKeeper
from workhorse.worker.pool import ProcessPool, RemoteError

log = logging.getLogger("workhorse.worker")

Handler = Callable[[Job], Awaitable[Any]] | Callable[[Job], Any]
Hook = Callable[..., Awaitable[Any]]
HOOK_EVENTS = ("active", "completed", "failed", "retrying", "stalled", "error")
#: A worker stays in the registry this many heartbeats (stalled checks) after its
#: last one, and at least HEARTBEAT_TTL_MIN seconds.
HEARTBEAT_MISSES = 3
HEARTBEAT_TTL_MIN = 10.0


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """Tuning of a worker.  Times in seconds.

    A dead worker's jobs are back in waiting at most ``lock_duration +
    stalled_interval`` after it died (default 10 s + 4 s).

    ``processes=N`` runs the handler in a pool of N processes, one job each at a
    time (so the worker runs N jobs at once and ``concurrency`` does not apply): for
    CPU-bound handlers, which would otherwise hold the event loop.  The handler must
    then be a top-level function of an importable module.  A job over its time
    limit, or cancelled, is asked to stop, then after ``timeout_grace`` seconds its
    process is killed and replaced.

    ``retry_policy`` decides by error type which failures retry, after how long,
    and which fail at once (see :mod:`workhorse.retry`).
    """

    concurrency: int = 1
    lock_duration: float = 10.0
    lock_renew_interval: float | None = None  # default: lock_duration / 4, at most 1 s
    stalled_interval: float = 4.0
    max_stalled: int = 1
    shutdown_grace: float = 30.0
    block_timeout: float = 5.0
    backoff_strategies: Mapping[str, BackoffStrategy] = field(default_factory=dict)
    processes: int | None = None
    timeout_grace: float = 5.0
    retry_policy: RetryPolicy | None = None

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {self.concurrency}")
        if self.processes is not None and (
            isinstance(self.processes, bool)
            or not isinstance(self.processes, int)
            or self.processes < 1
        ):
            raise ValueError(f"processes must be an integer >= 1 or None, got {self.processes!r}")
        if not self.timeout_grace >= 0:
            raise ValueError(f"timeout_grace must be >= 0 seconds, got {self.timeout_grace}")
        if self.retry_policy is not None and not isinstance(self.retry_policy, RetryPolicy):
            raise ValueError(f"retry_policy must be a RetryPolicy, got {self.retry_policy!r}")
        if self.lock_duration <= 0:
            raise ValueError(f"lock_duration must be > 0 seconds, got {self.lock_duration}")
        if self.stalled_interval <= 0:
            raise ValueError(f"stalled_interval must be > 0, got {self.stalled_interval}")
        if self.max_stalled < 0:
            raise ValueError(f"max_stalled must be >= 0, got {self.max_stalled}")

    @property
    def slots(self) -> int:
        """How many jobs the worker runs at once."""
        return self.processes or self.concurrency

    @property
    def renew_interval(self) -> float:
        if self.lock_renew_interval is not None:
            return self.lock_renew_interval
        return min(self.lock_duration / 4, 1.0)


_Pending = tuple[Outcome, Job, Any]


@dataclass(frozen=True, slots=True)
class _Fetched:
    jobs: list[Job]
    asked: int
    ok: bool = True
    #: The worker's wake-up count when the fetch was sent (see Worker._loop).
    wakes: int = 0


@dataclass(slots=True)
class _Running:
    job: Job
    task: asyncio.Task[None]
    stop_reason: str | None = None  # "cancel", "lost", "shutdown"


class Worker:
    """Runs ``handler(job)`` for the jobs of ``queue``.

    ``handler`` may be ``async`` (run on the event loop; time limits cancel it) or
    plain (run in a thread; a time limit fails the attempt on time but cannot stop
    the thread, which runs on -- use ``processes=N`` for code that must be stopped).
    With ``processes=N`` both kinds run in a process pool (see
    :mod:`workhorse.worker.pool`).  The return value must be JSON-serialisable.
    """

    def __init__(
        self,
        queue: Queue,
        handler: Handler,
        options: WorkerOptions | None = None,
        **overrides: Any,
    ) -> None:
        self.queue = queue
        self.store = queue.store
        self.handler = handler
        self.options = options or WorkerOptions(**overrides)
        if options is not None and overrides:
            raise ValueError("pass either options=WorkerOptions(...) or keywords, not both")
        self._handler_path = handler_path(handler) if self.options.processes else None
        self._pool: ProcessPool | None = None
        self.host = socket.gethostname()
        self.name = f"{self.host}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.token = uuid.uuid4().hex
        self._is_async = inspect.iscoroutinefunction(handler)
        self._hooks: dict[str, list[Hook]] = {}
        self._running: dict[str, _Running] = {}
        self._outcomes: list[_Pending] = []
        self._wake = asyncio.Event()
        self._inflight: set[asyncio.Task[_Fetched]] = set()
        self._requested = 0
        self._drained = False
        self._wakes = 0
        self._closing = asyncio.Event()
        self._stopped = asyncio.Event()
        self._waiter: Waiter | None = None
        self._wait_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._keeper: LockKeeper | None = None
        self._grace: float | None = None
        self._started_at = 0
        self.processed = 0

    def on(self, event: str, hook: Hook) -> None:
        """Register an async hook: ``active(job)``, ``completed(job, value)``,
        ``failed(job, error)``, ``retrying(job, error)``, ``stalled(job_id)``,
        ``error(exc)``.  A failing hook is logged and never affects the job."""
        if event not in HOOK_EVENTS:
            raise ValueError(f"unknown hook event {event!r}; use one of {HOOK_EVENTS}")
        self._hooks.setdefault(event, []).append(hook)

    def _fire(self, event: str, *args: Any) -> None:
        for hook in self._hooks.get(event, ()):
            task = asyncio.create_task(call_hook(hook, *args))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    # ---- main loop --------------------------------------------------------------
    async def run(self, burst: bool = False) -> None:
        """Process jobs until :meth:`close` (or, with ``burst``, until the queue has
        nothing waiting, delayed or active -- jobs of other workers included, so a
        burst worker also picks up what stalled elsewhere)."""
        opts = self.options
        loop = asyncio.get_running_loop()
        self._started_at = self.store.clock()
        if self._handler_path is not None:
            assert opts.processes is not None
            self._pool = ProcessPool(self._handler_path, opts.processes, opts.timeout_grace)
            await self._pool.start()
        self._waiter = self.store.waiter(self.queue.name)
        self._keeper = LockKeeper(
            self.store.clone(),
            self.queue.name,
            self.token,
            round(opts.lock_duration * 1000),
            opts.renew_interval,
            lambda notices: _call_soon(loop, self._on_lock_notices, notices),
        )
        self._keeper.start()
        stalled = asyncio.create_task(self._stalled_loop(), name="workhorse-stalled-check")
        try:
            await self._loop(burst)
        finally:
            self._closing.set()
            await self._shutdown(stalled)
            self._stopped.set()

    async def _loop(self, burst: bool) -> None:
        """Keep up to two fetch calls in flight, each taking at most half the slots,
        so the store works on one batch while this process runs the other.

        A short take means the queue is drained: the worker then waits for the
        store's wake-up instead of asking again.  A wake-up counts even while
        fetches are in flight, and a fetch sent before it cannot mark the queue
        drained again (its short take may predate the new work), so no wake-up is
        ever lost."""
        lock_ms = round(self.options.lock_duration * 1000)
        while not self._closing.is_set():
            self._take_wakeup()
            self._harvest()
            self._send_fetches(lock_ms)
            if self._inflight or self._outcomes:
                await self._sleep()
                continue
            if self._drained and not self._running and burst and await self._queue_idle():
                break
            if self._drained and self._wait_task is None:
                self._wait_task = asyncio.create_task(self._store_wakeup(burst))
                self._wait_task.add_done_callback(self._wakeup)
            await self._sleep()
        if self._inflight:
            await asyncio.wait(self._inflight)
            leftover = [job.id for t in self._inflight for job in t.result().jobs]
            await self.store.release(self.queue.name, self.token, leftover)

    def _take_wakeup(self) -> None:
        """Act on a finished store wake-up: the queue may have work again."""
        if self._wait_task is None or not self._wait_task.done():
            return
        self._wait_task = None
        self._drained = False
        self._wakes += 1
        if self._free_slots() <= 0:
            # The wake-up was meant for a worker with free slots: pass it on.
            self._fire_and_forget(self.store.wake(self.queue.name))

    def _free_slots(self) -> int:
        return self.options.slots - len(self._running) - self._requested

    def _send_fetches(self, lock_ms: int) -> None:
        cap = max(1, -(-self.options.slots // 2))
        while len(self._inflight) < 2:
            take = min(self._free_slots(), cap)
            if not self._outcomes and (self._drained or take <= 0):
                return
            batch, self._outcomes = self._outcomes, []
            take = max(take, 0)
            self._requested += take
            task = asyncio.create_task(self._fetch(batch, take, lock_ms, self._wakes))
            task.add_done_callback(self._wakeup)
            self._inflight.add(task)

    def _harvest(self) -> None:
        for task in [t for t in self._inflight if t.done()]:
            self._inflight.discard(task)
            fetched = task.result()
            self._requested -= fetched.asked
            for job in fetched.jobs:
                self._start(job)
            if fetched.ok and fetched.asked and fetched.wakes == self._wakes:
                # A short take means the queue is drained for now: wait for the
                # store to signal work rather than asking again.
                self._drained = len(fetched.jobs) < fetched.asked

    async def _fetch(self, batch: list[_Pending], take: int, lock_ms: int, wakes: int) -> _Fetched:
        try:
            jobs, refused = await self.store.fetch(
                self.queue.name, self.token, [p[0] for p in batch], take, lock_ms
            )
        except StoreUnavailable as exc:
            log.error("fetch failed, retrying in 1 s: %s", exc)
            self._fire("error", exc)
            self._outcomes[:0] = batch  # resent later; a finished job refuses a repeat
            await asyncio.sleep(1.0)
            return _Fetched([], take, ok=False, wakes=wakes)
        self._after_commit(batch, refused)
        return _Fetched(jobs, take, wakes=wakes)

    async def _store_wakeup(self, burst: bool) -> None:
        assert self._waiter is not None
        # In burst mode the queue may only be waiting for other workers' jobs:
        # look again soon instead of blocking for long.
        timeout = min(self.options.block_timeout, 0.25) if burst else self.options.block_timeout
        await self._waiter.wait(timeout)

    def _wakeup(self, _: object = None) -> None:
        self._wake.set()

    async def _sleep(self) -> None:
        await self._wake.wait()
        self._wake.clear()

    async def _queue_idle(self) -> bool:
        counts = await self.queue.counts()
        return not any(counts[s] for s in (*PENDING, JobState.ACTIVE))

    def _fire_and_forget(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ---- running one job --------------------------------------------------------
    def _start(self, job: Job) -> None:
        job.queue = self.queue
        task = asyncio.create_task(self._execute(job))
        self._running[job.id] = _Running(job, task)
        assert self._keeper is not None
        self._keeper.hold([job.id])
        if self._hooks.get("active"):
            self._fire("active", job)

    async def _execute(self, job: Job) -> None:
        outcome: Outcome | None
        extra: Any = None
        try:
            value = await self._call(job)
            try:
                encoded = orjson.dumps(value)
            except TypeError as exc:
                raise UnrecoverableError(f"return value is not JSON-serialisable: {exc}") from exc
            outcome, extra = Outcome(job.id, OutcomeKind.COMPLETE, encoded), value
        except asyncio.CancelledError:
            outcome, extra = self._stopped_outcome(job)
        except TimeoutError as exc:
            outcome, extra = self._failure(job, exc, reason="timeout"), exc
        except Exception as exc:
            outcome, extra = self._failure(job, exc), exc
        finally:
            self._running.pop(job.id, None)
            assert self._keeper is not None
            self._keeper.drop(job.id)
            self._wake.set()
        if outcome is not None:
            self._outcomes.append((outcome, job, extra))
        self.processed += 1

    async def _call(self, job: Job) -> Any:
        timeout = job.timeout
        if self._pool is not None:
            async with asyncio.timeout(timeout):
                return await self._pool.run(job)
        if self._is_async:
            if timeout is None:
                return await self.handler(job)
            async with asyncio.timeout(timeout):
                return await self.handler(job)
        # A plain function runs in a thread; its time limit stops waiting for it
        # (the thread itself cannot be interrupted -- see process isolation).
        async with asyncio.timeout(timeout):
            return await asyncio.to_thread(self.handler, job)

    def _stopped_outcome(self, job: Job) -> tuple[Outcome | None, Any]:
        running = self._running.get(job.id)
        reason = running.stop_reason if running else None
        if reason == "cancel":
            return Outcome(job.id, OutcomeKind.FAIL, "cancelled"), UnrecoverableError("cancelled")
        # "lost": another worker owns the job now; "shutdown": released to waiting.
        return None, None

    def _failure(self, job: Job, exc: BaseException, reason: str | None = None) -> Outcome:
        """Fail or retry: see :mod:`workhorse.retry` for the order of the rules."""
        attempt = job.attempts_made + 1
        message = reason or str(exc) or type(exc).__name__
        stack = (
            exc.stack if isinstance(exc, RemoteError) else "".join(traceback.format_exception(exc))
        )
        if reason == "timeout":
            stack = f"job exceeded its time limit of {job.timeout:g} s\n" + stack
        if isinstance(exc, UnrecoverableError) or attempt >= job.attempts:
            return Outcome(job.id, OutcomeKind.FAIL, message, stack)
        strategies = self.options.backoff_strategies
        try:
            delay = None
            if self.options.retry_policy is not None:
                verdict = self.options.retry_policy.decide(exc, attempt, strategies)
                if not verdict.retry:
                    stack = "the retry policy fails this error without retry\n" + stack
                    return Outcome(job.id, OutcomeKind.FAIL, message, stack)
                delay = verdict.delay
            if delay is None:
                raw = job.options.get("backoff")
                delay = Backoff.from_json(raw).seconds(attempt, exc, strategies) if raw else 0.0
        except Exception as strategy_error:
            log.error("job %s: backoff failed: %s", job.id, strategy_error)
            return Outcome(job.id, OutcomeKind.FAIL, str(strategy_error), stack)
        return Outcome(job.id, OutcomeKind.RETRY, message, stack, round(delay * 1000))

    def _after_commit(self, batch: list[_Pending], refused: list[str]) -> None:
        refused_ids = set(refused)
        for outcome, job, extra in batch:
            if outcome.job_id in refused_ids:
                log.warning(
                    "job %s: outcome refused, the lock was lost",
                    job.id,
                    extra={"queue": self.queue.name, "job_id": job.id},
                )
                continue
            if not self._hooks:
                continue
            if outcome.kind is OutcomeKind.COMPLETE:
                self._fire("completed", job, extra)
            elif outcome.kind is OutcomeKind.RETRY:
                self._fire("retrying", job, extra)
            else:
                self._fire("failed", job, extra)

    def _on_lock_notices(self, notices: list[LockNotice]) -> None:
        for notice in notices:
            running = self._running.get(notice.job_id)
            if running is None or running.stop_reason is not None:
                continue
            running.stop_reason = notice.reason
            if notice.reason == "lost":
                log.warning(
                    "job %s: lock lost; stopping it here",
                    notice.job_id,
                    extra={"queue": self.queue.name, "job_id": notice.job_id},
                )
            running.task.cancel()

    # ---- background duties ------------------------------------------------------
    async def _stalled_loop(self) -> None:
        # Never cancelled in the middle of a store call: it checks the closing flag.
        # The first pass runs at once, so the worker is registered as it starts.
        while not self._closing.is_set():
            await self._heartbeat()
            try:
                report = await self.store.recover_stalled(self.queue.name, self.options.max_stalled)
                for job_id in (*report.requeued, *report.failed):
                    log.warning(
                        "job %s stalled (its worker stopped renewing the lock)",
                        job_id,
                        extra={"queue": self.queue.name, "job_id": job_id},
                    )
                    self._fire("stalled", job_id)
            except Exception as exc:
                log.warning("stalled-job check failed: %s", exc)
                self._fire("error", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.options.stalled_interval)

    def info(self) -> WorkerInfo:
        """This worker as the registry shows it."""
        return WorkerInfo(
            id=self.name,
            host=self.host,
            pid=os.getpid(),
            queues=(self.queue.name,),
            concurrency=self.options.slots,
            active=len(self._running),
            started_at=self._started_at,
            heartbeat_at=self.store.clock(),
        )

    async def _heartbeat(self) -> None:
        ttl = max(self.options.stalled_interval * HEARTBEAT_MISSES, HEARTBEAT_TTL_MIN)
        try:
            await self.store.register_worker(self.info(), round(ttl * 1000))
        except Exception as exc:
            log.warning("worker heartbeat failed: %s", exc)

    # ---- shutdown ---------------------------------------------------------------
    async def close(self, grace: float | None = None) -> None:
        """Stop taking jobs, let running ones finish within ``grace`` seconds
        (default ``shutdown_grace``), release the rest to waiting, and return once
        stopped."""
        if grace is not None:
            self._grace = grace
        self._closing.set()
        self._wake.set()
        await self._stopped.wait()

    async def _shutdown(self, stalled: asyncio.Task[None]) -> None:
        grace = self.options.shutdown_grace if self._grace is None else self._grace
        if self._wait_task is not None:
            # Wake our own blocked read rather than cancel it mid-command.
            await self.store.wake(self.queue.name)
            await asyncio.wait([self._wait_task], timeout=self.options.block_timeout + 1)
        await stalled
        tasks = [r.task for r in self._running.values()]
        if tasks:
            await asyncio.wait(tasks, timeout=grace)
        leftover = list(self._running.values())
        for running in leftover:
            running.stop_reason = "shutdown"
            running.task.cancel()
        if leftover:
            # A pooled job may take the grace period to stop, then its process dies.
            await asyncio.wait([r.task for r in leftover], timeout=self.options.timeout_grace + 5)
        batch, self._outcomes = self._outcomes, []
        try:
            if batch:
                _jobs, refused = await self.store.fetch(
                    self.queue.name, self.token, [o for o, _, _ in batch], 0, 0
                )
                self._after_commit(batch, refused)
            if leftover:
                released = await self.store.release(
                    self.queue.name, self.token, [r.job.id for r in leftover]
                )
                log.info("released %d unfinished job(s) to waiting", released)
        finally:
            try:
                await self.store.unregister_worker(self.name)
            except Exception as exc:
                log.warning("could not unregister worker %s: %s", self.name, exc)
            if self._pool is not None:
                await self._pool.close()
            if self._keeper is not None:
                self._keeper.stop()
            if self._waiter is not None:
                await self._waiter.close()
            if self._background:
                await asyncio.wait(self._background, timeout=5)


def _call_soon(
    loop: asyncio.AbstractEventLoop, fn: Callable[[list[LockNotice]], None], arg: list[LockNotice]
) -> None:
    loop.call_soon_threadsafe(fn, arg)
