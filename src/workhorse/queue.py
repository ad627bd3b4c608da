"""The producer side of a queue, and its admin operations."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterable
from typing import Any

import orjson

from workhorse.events import QueueEvents, follow
from workhorse.job import TERMINAL, Job, JobState
from workhorse.options import JobOptions, as_priority, as_retention
from workhorse.store.base import Event, NewJob, Store

BulkItem = tuple[str, Any] | tuple[str, Any, JobOptions]


def _encode_data(data: Any) -> bytes:
    try:
        return orjson.dumps(data)
    except TypeError as exc:
        raise ValueError(f"data must be JSON-serialisable: {exc}") from None


class Queue:
    """A named queue in a store.  Cheap to create; create one per queue and reuse it.

    ``default_options`` apply to every job added here unless overridden per call.
    """

    def __init__(
        self, name: str, store: Store, *, default_options: JobOptions | None = None
    ) -> None:
        self.name = name
        self.store = store
        self.default_options = default_options or JobOptions()
        self._events: QueueEvents | None = None
        self._encoded: tuple[JobOptions, NewJob] | None = None

    def __repr__(self) -> str:
        return f"Queue({self.name!r})"

    # ---- adding -----------------------------------------------------------------
    def options(self, options: JobOptions | None = None, **overrides: Any) -> JobOptions:
        """The effective options: queue defaults, then ``options``, then keywords.
        Unknown keywords raise ``ValueError`` naming them."""
        base = options or self.default_options
        if not overrides:
            return base
        known = {f.name for f in dataclasses.fields(JobOptions)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"unknown job option(s): {', '.join(unknown)}")
        return dataclasses.replace(base, **overrides)

    def _template(self, opts: JobOptions) -> NewJob:
        """The option-derived part of a stored job.  Encoding options costs more
        than the rest of an add, so the queue defaults' encoding is kept."""
        cached = self._encoded
        if cached is not None and cached[0] is opts:
            return cached[1]
        template = NewJob(
            name="",
            data=b"",
            opts=orjson.dumps(opts.worker_view()),
            job_id=opts.job_id,
            priority=as_priority(opts.priority),
            delay_ms=round(opts.delay * 1000),
            owner=opts.owner or "",
            tags=orjson.dumps(list(opts.tags)) if opts.tags else b"",
            meta=_encode_data(dict(opts.meta)) if opts.meta else b"",
            keep_completed=as_retention(opts.remove_on_complete, "remove_on_complete").encode(),
            keep_failed=as_retention(opts.remove_on_fail, "remove_on_fail").encode(),
            group=opts.group or "",
        )
        if opts is self.default_options:
            self._encoded = (opts, template)
        return template

    def _new_job(self, name: str, data: Any, opts: JobOptions) -> NewJob:
        if not isinstance(name, str) or not name:
            raise ValueError(f"job name must be a non-empty string, got {name!r}")
        t = self._template(opts)
        return NewJob(
            name=name,
            data=_encode_data(data),
            opts=t.opts,
            job_id=t.job_id,
            priority=t.priority,
            delay_ms=t.delay_ms,
            owner=t.owner,
            tags=t.tags,
            meta=t.meta,
            keep_completed=t.keep_completed,
            keep_failed=t.keep_failed,
            group=t.group,
        )

    async def add(
        self, name: str, data: Any = None, options: JobOptions | None = None, **overrides: Any
    ) -> Job:
        """Add one job and return it.  With ``job_id`` set and already taken, the
        existing job is returned and nothing new is stored."""
        opts = self.options(options, **overrides)
        new = self._new_job(name, data, opts)
        ((job_id, created),) = await self.store.add(self.name, [new])
        if not created:
            existing = await self.get_job(job_id)
            if existing is not None:
                return existing
        return self._local_job(job_id, name, data, opts)

    async def add_bulk(self, items: Iterable[BulkItem]) -> list[Job]:
        """Add many jobs in one atomic step: all are stored or none is."""
        prepared: list[tuple[str, Any, JobOptions]] = []
        for item in items:
            name, data = item[0], item[1]
            opts = item[2] if len(item) == 3 else self.default_options
            prepared.append((name, data, opts))
        news = [self._new_job(n, d, o) for n, d, o in prepared]
        results = await self.store.add(self.name, news)
        return [
            self._local_job(job_id, n, d, o)
            for (job_id, _created), (n, d, o) in zip(results, prepared, strict=True)
        ]

    def _local_job(self, job_id: str, name: str, data: Any, opts: JobOptions) -> Job:
        state = (
            JobState.DELAYED
            if opts.delay
            else (JobState.PRIORITIZED if opts.priority is not None else JobState.WAITING)
        )
        return Job(
            queue_name=self.name,
            id=job_id,
            name=name,
            data=data,
            options=opts.worker_view(),
            state=state,
            priority=as_priority(opts.priority),
            tags=list(opts.tags),
            meta=dict(opts.meta),
            owner=opts.owner,
            group=opts.group,
            queue=self,
        )

    # ---- reading ----------------------------------------------------------------
    async def get_job(self, job_id: str) -> Job | None:
        job = await self.store.get_job(self.name, job_id)
        if job is not None:
            job.queue = self
        return job

    async def get_state(self, job_id: str) -> JobState | None:
        job = await self.store.get_job(self.name, job_id)
        return None if job is None else job.state

    async def get_logs(self, job_id: str, start: int = 0, end: int = -1) -> list[str]:
        return await self.store.get_logs(self.name, job_id, start, end)

    async def get_history(self, job_id: str) -> list[dict[str, Any]]:
        return await self.store.get_history(self.name, job_id)

    async def counts(self) -> dict[JobState, int]:
        return await self.store.counts(self.name)

    async def list_jobs(
        self, state: JobState | str, start: int = 0, end: int = 49, desc: bool = True
    ) -> list[Job]:
        jobs = await self.store.list_jobs(self.name, JobState(state), start, end, desc)
        for job in jobs:
            job.queue = self
        return jobs

    # ---- admin ------------------------------------------------------------------
    async def cancel(self, job_id: str) -> JobState | None:
        """Cancel a pending or running job; returns the state it was in (None: absent)."""
        return await self.store.cancel(self.name, job_id)

    async def retry_job(self, job_id: str, state: JobState = JobState.FAILED) -> None:
        await self.store.retry_job(self.name, job_id, state)

    async def retry_all(self, state: JobState = JobState.FAILED, batch: int = 1000) -> int:
        total = 0
        while moved := await self.store.retry_jobs(self.name, state, batch):
            total += moved
        return total

    async def promote(self, job_id: str) -> None:
        await self.store.promote(self.name, job_id)

    async def remove(self, job_id: str) -> bool:
        return await self.store.remove(self.name, job_id)

    async def clean(
        self, state: JobState | str, grace: float = 0.0, limit: int = 1000
    ) -> list[str]:
        """Delete up to ``limit`` jobs in ``state`` older than ``grace`` seconds."""
        return await self.store.clean(self.name, JobState(state), round(grace * 1000), limit)

    async def pause(self) -> None:
        await self.store.set_paused(self.name, True)

    async def resume(self) -> None:
        await self.store.set_paused(self.name, False)

    async def is_paused(self) -> bool:
        return await self.store.is_paused(self.name)

    async def set_fifo_first(self, fifo_first: bool = True) -> None:
        """Take jobs without a priority before prioritized ones.  By default a job
        given any priority runs before every job given none."""
        await self.store.set_fifo_first(self.name, fifo_first)

    # ---- limits (enforced by the store's atomic take, across all workers) ----------
    async def set_concurrency(self, n: int | None) -> None:
        """At most ``n`` jobs of this queue active at once across every worker and
        machine (``None``: no limit)."""
        await self.store.set_limits(self.name, {"concurrency": _count_or_none(n, "concurrency")})

    async def set_rate_limit(self, max: int | None, per: float = 1.0) -> None:
        """At most ``max`` jobs started per ``per`` seconds (a sliding window) across
        every worker (``None``: no limit).  Jobs held back stay waiting and start as
        soon as the window allows."""
        await self.store.set_limits(self.name, _rate("rate", max, per))

    async def set_group_limit(
        self, max: int | None = None, per: float = 1.0, concurrency: int | None = None
    ) -> None:
        """Limits for each group of jobs (``JobOptions.group``, e.g. a user or an
        account): at most ``max`` started per ``per`` seconds and at most
        ``concurrency`` active, per group.  Jobs of a group at its limit stay waiting
        while other groups' jobs are taken, so one tenant cannot starve the others.
        ``None`` clears each limit.  Jobs without a group are not limited by these.

        The take looks at most 1,000 ready jobs deep (per priority class) for ones it
        may start."""
        limits = _rate("group", max, per)
        limits["group_concurrency"] = _count_or_none(concurrency, "concurrency")
        await self.store.set_limits(self.name, limits)

    async def limits(self) -> dict[str, int]:
        """The limits set (times in ms): ``concurrency``, ``rate_max``/``rate_per``,
        ``group_max``/``group_per``, ``group_concurrency``; absent ones are not set."""
        return await self.store.get_limits(self.name)

    async def drain(self, delayed: bool = False) -> int:
        """Delete every waiting job (and delayed ones if asked); active ones finish."""
        return await self.store.drain(self.name, delayed)

    async def obliterate(self, force: bool = False) -> None:
        """Delete the queue with all its jobs and events."""
        await self.close_events()
        await self.store.obliterate(self.name, force)

    # ---- dead letters -----------------------------------------------------------
    async def dead_letters(self, start: int = 0, end: int = 49, desc: bool = True) -> list[Job]:
        """Jobs that failed for good (not cancelled ones), newest first.  A new one is
        announced by a ``deadlettered`` event: ``queue.events.on("deadlettered", hook)``.

        Dead letters are failed jobs, so the job's own ``remove_on_fail`` still
        applies to them (a dead letter removed that way gets a ``removed`` event with
        ``reason`` "retention"); the set itself keeps at most the newest 10,000."""
        jobs = await self.store.dead_letters(self.name, start, end, desc)
        for job in jobs:
            job.queue = self
        return jobs

    async def dead_letter_count(self) -> int:
        return await self.store.dead_letter_count(self.name)

    async def update_data(self, job_id: str, data: Any) -> None:
        """Replace the data of a failed (or dead-lettered) job, e.g. before a redrive.
        ``InvalidTransition`` for a job in any other state."""
        await self.store.update_data(self.name, job_id, _encode_data(data))

    async def redrive(self, job_id: str) -> None:
        """Send a dead letter back to waiting with fresh attempts."""
        await self.store.redrive(self.name, job_id)

    async def redrive_all(
        self, name: str | None = None, reason: str | None = None, batch: int = 1000
    ) -> int:
        """Redrive every dead letter named ``name`` whose failure reason contains
        ``reason`` (either filter optional), in atomic batches; returns how many."""
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        total = start = 0
        while True:
            moved, seen = await self.store.redrive_dead(
                self.name, start, batch, name or "", reason or ""
            )
            total += moved
            start += seen - moved
            if seen < batch:
                return total

    async def purge_dead_letters(self) -> int:
        """Delete every dead letter (the jobs themselves); returns how many."""
        total = 0
        while n := await self.store.purge_dead(self.name):
            total += n
        return total

    # ---- events -----------------------------------------------------------------
    @property
    def events(self) -> QueueEvents:
        """This queue's shared event reader (started on first use)."""
        if self._events is None:
            self._events = QueueEvents(self.store, self.name)
        return self._events

    def follow(self, after: str = "$") -> AsyncIterator[Event]:
        """Iterate over the queue's events after ``after``."""
        return follow(self.store, self.name, after)

    async def wait_finished(self, job_id: str) -> Job:
        """Wait until the job completes or fails for good; return it as it ended.
        Works when retention removed it at once: the outcome comes from the event."""
        fut = await self.events.wait_finish_event(job_id)
        try:
            job = await self.get_job(job_id)
            if job is not None and job.state in TERMINAL:
                return job
            event = await asyncio.shield(fut)
        finally:
            self.events.forget(job_id, fut)
        job = await self.get_job(job_id)
        if job is not None and job.state in TERMINAL:
            return job
        return _job_from_event(self, job_id, event)

    async def close_events(self) -> None:
        if self._events is not None:
            await self._events.close()
            self._events = None


def _job_from_event(queue: Queue, job_id: str, event: Event) -> Job:
    if event.event == "completed":
        raw = event.fields.get("result")
        return Job(
            queue_name=queue.name,
            id=job_id,
            name="",
            data=None,
            state=JobState.COMPLETED,
            returnvalue=orjson.loads(raw) if raw else None,
            queue=queue,
        )
    return Job(
        queue_name=queue.name,
        id=job_id,
        name="",
        data=None,
        state=JobState.FAILED,
        failed_reason=event.fields.get("error"),
        queue=queue,
    )


def _count_or_none(value: int | None, option: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{option} must be an integer >= 1 or None, got {value!r}")
    return value


def _rate(prefix: str, max: int | None, per: float) -> dict[str, int | None]:
    """The stored fields of a rate limit: ``<prefix>_max`` per ``<prefix>_per`` ms."""
    count = _count_or_none(max, "max")
    if isinstance(per, bool) or not isinstance(per, int | float) or not per > 0:
        raise ValueError(f"per must be a number of seconds > 0, got {per!r}")
    per_ms = round(per * 1000)
    if per_ms < 1:
        raise ValueError(f"per must be at least 0.001 seconds, got {per!r}")
    return {
        f"{prefix}_max": count,
        f"{prefix}_per": None if count is None else per_ms,
    }
