"""The job as the engine hands it to handlers and callers, and its states."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import orjson

from workhorse.errors import JobFailed, JobNotFound

if TYPE_CHECKING:
    from workhorse.queue import Queue


class JobState(StrEnum):
    WAITING = "waiting"
    PRIORITIZED = "prioritized"
    DELAYED = "delayed"
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"
    WAITING_CHILDREN = "waiting-children"


#: States a job never leaves on its own.
TERMINAL = frozenset({JobState.COMPLETED, JobState.FAILED})
#: States of a job that is queued and may be taken (now or when due).
PENDING = frozenset({JobState.WAITING, JobState.PRIORITIZED, JobState.DELAYED})
#: States of a job that :meth:`workhorse.store.base.Store.cancel` stops.
CANCELLABLE = PENDING | {JobState.ACTIVE, JobState.WAITING_CHILDREN}


def _json(raw: Any, default: Any = None) -> Any:
    if raw is None or raw == b"" or raw == "":
        return default
    return orjson.loads(raw)


def _int(raw: Any) -> int | None:
    if raw is None or raw == b"" or raw == "":
        return None
    return int(raw)


def _parent_ref(f: Mapping[str, Any]) -> str | None:
    queue, job_id = _str(f.get("pq")), _str(f.get("pid"))
    return f"{queue}:{job_id}" if queue and job_id else None


def _str(raw: Any) -> str | None:
    if raw is None or raw == b"" or raw == "":
        return None
    return raw.decode() if isinstance(raw, bytes) else str(raw)


@dataclass(slots=True)
class Job:
    """One job.  ``data`` is the decoded JSON payload; times are epoch milliseconds."""

    queue_name: str
    id: str
    name: str
    data: Any
    options: dict[str, Any] = field(default_factory=dict)
    state: JobState = JobState.WAITING
    priority: int = 0
    created_at: int = 0
    started_at: int | None = None
    finished_at: int | None = None
    due_at: int | None = None
    attempts_made: int = 0
    stalled_count: int = 0
    progress: Any = None
    returnvalue: Any = None
    failed_reason: str | None = None
    stacktrace: str | None = None
    tags: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    owner: str | None = None
    #: The tenant key of per-group limits (JobOptions.group).
    group: str | None = None
    #: When the job joined its queue's dead-letter set (None: it is not a dead letter).
    dead_lettered_at: int | None = None
    #: The flow parent waiting for this job, as ``"queue:id"`` (None: not a child).
    parent: str | None = None
    queue: Queue | None = field(default=None, repr=False, compare=False)

    @property
    def attempts(self) -> int:
        """How many attempts the job may make in all."""
        return int(self.options.get("attempts", 1))

    @property
    def timeout(self) -> float | None:
        value = self.options.get("timeout")
        return None if value is None else float(value)

    @classmethod
    def from_fields(cls, queue_name: str, job_id: str, f: Mapping[str, Any]) -> Job:
        """Build a job from its stored fields (the same names in every store)."""
        return cls(
            queue_name=queue_name,
            id=job_id,
            name=_str(f.get("name")) or "",
            data=_json(f.get("data")),
            options=_json(f.get("opts"), {}),
            state=JobState(_str(f.get("state")) or "waiting"),
            priority=_int(f.get("prio")) or 0,
            created_at=_int(f.get("ts")) or 0,
            started_at=_int(f.get("started")),
            finished_at=_int(f.get("finished")),
            due_at=_int(f.get("due")),
            attempts_made=_int(f.get("made")) or 0,
            stalled_count=_int(f.get("stalls")) or 0,
            progress=_json(f.get("progress")),
            returnvalue=_json(f.get("result")),
            failed_reason=_str(f.get("error")),
            stacktrace=_str(f.get("stack")),
            tags=_json(f.get("tags"), []),
            meta=_json(f.get("meta"), {}),
            owner=_str(f.get("owner")),
            dead_lettered_at=_int(f.get("dead")),
            group=_str(f.get("grp")),
            parent=_parent_ref(f),
        )

    @classmethod
    def from_fetch(cls, queue_name: str, job_id: str, v: list[Any]) -> Job:
        """Fast path for a job just taken by a worker: the values of the fields
        ``name data opts ts prio made stalls progress owner tags meta grp`` in order."""
        name, data, opts, ts, prio, made, stalls, progress, owner, tags, meta, group = v
        return cls(
            queue_name=queue_name,
            id=job_id,
            name=name.decode() if name else "",
            data=orjson.loads(data) if data else None,
            options=orjson.loads(opts) if opts else {},
            state=JobState.ACTIVE,
            priority=int(prio) if prio else 0,
            created_at=int(ts) if ts else 0,
            attempts_made=int(made) if made else 0,
            stalled_count=int(stalls) if stalls else 0,
            progress=orjson.loads(progress) if progress else None,
            tags=orjson.loads(tags) if tags else [],
            meta=orjson.loads(meta) if meta else {},
            owner=owner.decode() if owner else None,
            group=group.decode() if group else None,
        )

    def _bound(self) -> Queue:
        if self.queue is None:
            raise RuntimeError("this Job is not bound to a Queue; get it from Queue.get_job()")
        return self.queue

    async def update_progress(self, progress: Any) -> None:
        """Store and publish progress: a number 0-100 or a JSON-serialisable object."""
        is_number = isinstance(progress, int | float) and not isinstance(progress, bool)
        if is_number and not 0 <= progress <= 100:
            raise ValueError(f"progress must be between 0 and 100, got {progress}")
        self.progress = progress
        await self._bound().store.set_progress(self.queue_name, self.id, orjson.dumps(progress))

    async def log(self, line: str) -> None:
        """Append a log line to the job (kept with it and published as an event)."""
        await self._bound().store.add_log(self.queue_name, self.id, str(line))

    async def children_values(self) -> dict[str, Any]:
        """Results of this flow parent's completed children, by ``"queue:id"``."""
        values, _ = await self._bound().store.children_results(self.queue_name, self.id)
        return {ref: orjson.loads(raw) for ref, raw in values.items()}

    async def children_failures(self) -> dict[str, str]:
        """Failure reasons of its children that failed for good, by ``"queue:id"``."""
        _, failures = await self._bound().store.children_results(self.queue_name, self.id)
        return failures

    async def refresh(self) -> Job:
        """Reload the job from the store."""
        fresh = await self._bound().get_job(self.id)
        if fresh is None:
            raise JobNotFound(self.queue_name, self.id)
        return fresh

    async def result(self, timeout: float | None = None) -> Any:
        """Wait until the job finishes; return its value or raise :class:`JobFailed`.

        Follows the queue's event stream (no polling of the job record).
        ``asyncio.TimeoutError`` after ``timeout`` seconds.
        """
        queue = self._bound()
        async with asyncio.timeout(timeout):
            final = await queue.wait_finished(self.id)
        if final.state is JobState.FAILED:
            raise JobFailed(self.id, final.failed_reason or "unknown")
        return final.returnvalue
