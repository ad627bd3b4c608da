"""The storage contract: the narrow set of atomic operations the engine needs.

Every state change of a job is one call here and one atomic step in the store (one
Lua script on Redis, one transaction on SQLite).  The engine (``Queue``, ``Worker``)
decides *what* should happen -- retry or fail, how long to back off -- and the store
makes it happen atomically, checking the worker's lock token where a worker acts.

Jobs are addressed by ``(queue, job_id)``.  Stored job fields use the same names in
every store (see :meth:`workhorse.job.Job.from_fields`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from workhorse.clock import Clock, now_ms
from workhorse.job import Job, JobState


@dataclass(frozen=True, slots=True)
class NewJob:
    """A job ready to be stored: payloads already encoded as JSON bytes."""

    name: str
    data: bytes
    opts: bytes
    job_id: str | None = None
    priority: int = 0
    delay_ms: int = 0
    owner: str = ""
    tags: bytes = b""
    meta: bytes = b""
    keep_completed: str = "-1:-1"
    keep_failed: str = "-1:-1"
    group: str = ""


#: The limits a queue may have (absent: none).  ``concurrency``: jobs active across
#: all workers; ``rate_max`` per ``rate_per`` ms: jobs started, queue-wide;
#: ``group_max`` per ``group_per`` ms and ``group_concurrency``: the same for each
#: group of jobs (``JobOptions.group``).  Enforced inside the atomic take.
LIMIT_FIELDS = (
    "concurrency",
    "rate_max",
    "rate_per",
    "group_max",
    "group_per",
    "group_concurrency",
)


def check_queue_name(queue: str) -> None:
    """The rule every store applies to queue names (a Redis hash tag holds them)."""
    if not isinstance(queue, str) or not queue or any(c in queue for c in "{}:\n\r\0 "):
        raise ValueError(
            f"queue name {queue!r} is invalid: use a non-empty name without braces, "
            "colons, spaces or line breaks"
        )


def job_ref(queue: str, job_id: str) -> str:
    """How a flow names a child: ``queue:id`` (queue names have no colon, so
    :func:`split_ref` reads it back)."""
    return f"{queue}:{job_id}"


def split_ref(ref: str) -> tuple[str, str]:
    """``(queue, id)`` of a :func:`job_ref`."""
    queue, _, job_id = ref.partition(":")
    return queue, job_id


@dataclass(frozen=True, slots=True)
class FlowNode:
    """One job of a flow as the store adds it: ``job`` has its id set; ``children``
    are the refs (:func:`job_ref`) it waits for (none: it is ready at once)."""

    queue: str
    job: NewJob
    parent_queue: str = ""
    parent_id: str = ""
    fail_parent: bool = True
    children: tuple[str, ...] = ()


#: The ``next_at`` of a paused schedule: no tick is ever due, and an upsert of a
#: changed definition keeps it (resuming sets a real next tick).
SCHEDULE_PAUSED = 2**53


@dataclass(frozen=True, slots=True)
class StoredSchedule:
    """A schedule as stored: ``spec`` is its JSON (see :mod:`workhorse.schedule`);
    ``next_at`` the next tick (epoch ms), :data:`SCHEDULE_PAUSED` when paused."""

    key: str
    spec: bytes
    next_at: int

    @property
    def paused(self) -> bool:
        return self.next_at >= SCHEDULE_PAUSED


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A live worker as the registry holds it (see :meth:`Store.register_worker`).
    Times are epoch ms; ``active`` is how many jobs it runs now, out of
    ``concurrency``."""

    id: str
    host: str
    pid: int
    queues: tuple[str, ...]
    concurrency: int
    active: int
    started_at: int
    heartbeat_at: int


class OutcomeKind(StrEnum):
    COMPLETE = "c"
    RETRY = "r"
    FAIL = "f"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a worker reports for one job it held: complete with a value, retry after a
    delay, or fail for good.  ``value`` is the JSON return value or the error message."""

    job_id: str
    kind: OutcomeKind
    value: bytes | str = b""
    stack: str = ""
    delay_ms: int = 0


@dataclass(frozen=True, slots=True)
class LockNotice:
    """A job whose lock renewal did not go through: ``lost`` (recovered as stalled,
    removed, or held by someone else) or ``cancel`` (cancellation requested)."""

    job_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class StalledReport:
    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of a queue's event stream.  ``position`` orders events and is what a
    reader passes back to continue after it."""

    position: str
    queue: str
    event: str
    job_id: str
    fields: dict[str, str]


class Waiter(ABC):
    """A worker's way to sleep until a queue may have work, without a busy loop."""

    @abstractmethod
    async def wait(self, timeout: float) -> None:
        """Return when a job may be ready (new, retried, due, resumed) or after
        ``timeout`` seconds, whichever is first.  Spurious returns are allowed."""

    @abstractmethod
    async def close(self) -> None: ...


class EventReader(ABC):
    """Blocking reads of one queue's events on a connection of its own, so that
    closing the reader interrupts a read in progress at once."""

    @abstractmethod
    async def read(self, after: str, block_ms: int, count: int = 500) -> list[Event]:
        """Events after position ``after``; blocks up to ``block_ms`` when none."""

    @abstractmethod
    async def close(self) -> None: ...


class Store(ABC):
    """Abstract store.  Implementations: ``RedisStore`` (and the embedded store)."""

    def __init__(self, clock: Clock = now_ms, events_maxlen: int = 10_000) -> None:
        self.clock = clock
        self.events_maxlen = events_maxlen

    # ---- producer ---------------------------------------------------------------
    @abstractmethod
    async def add(self, queue: str, jobs: Sequence[NewJob]) -> list[tuple[str, bool]]:
        """Store all jobs atomically; ``(id, created)`` per job, ``created`` False when
        the given ``job_id`` already existed (the existing job is left untouched)."""

    # ---- worker -----------------------------------------------------------------
    @abstractmethod
    async def fetch(
        self,
        queue: str,
        token: str,
        outcomes: Sequence[Outcome],
        take: int,
        lock_ms: int,
    ) -> tuple[list[Job], list[str]]:
        """Apply ``outcomes`` of jobs locked by ``token``, promote due delayed jobs,
        then take up to ``take`` ready jobs and lock them for ``lock_ms``.

        Returns the taken jobs and the ids whose outcome was refused because the
        worker no longer held their lock."""

    @abstractmethod
    async def extend_locks(
        self, queue: str, token: str, job_ids: Sequence[str], lock_ms: int
    ) -> list[LockNotice]:
        """Renew the locks of these jobs; report those lost or asked to cancel."""

    @abstractmethod
    async def release(self, queue: str, token: str, job_ids: Sequence[str]) -> int:
        """Put jobs this worker holds back to waiting without counting an attempt
        (graceful shutdown).  Returns how many were released."""

    @abstractmethod
    async def recover_stalled(self, queue: str, max_stalled: int) -> StalledReport:
        """Requeue active jobs whose lock expired; fail those stalled more than
        ``max_stalled`` times."""

    @abstractmethod
    async def set_progress(self, queue: str, job_id: str, progress: bytes) -> None: ...

    @abstractmethod
    async def add_log(self, queue: str, job_id: str, line: str) -> int:
        """Append a log line; returns the number of lines the job now has."""

    @abstractmethod
    def waiter(self, queue: str) -> Waiter: ...

    @abstractmethod
    async def wake(self, queue: str) -> None:
        """Wake a blocked worker of the queue: jobs may be ready."""

    # ---- inspection -------------------------------------------------------------
    @abstractmethod
    async def get_job(self, queue: str, job_id: str) -> Job | None: ...

    @abstractmethod
    async def get_logs(
        self, queue: str, job_id: str, start: int = 0, end: int = -1
    ) -> list[str]: ...

    @abstractmethod
    async def get_history(self, queue: str, job_id: str) -> list[dict[str, Any]]:
        """Failed attempts of the job, oldest first: ``{attempt, error, stack, at}``."""

    @abstractmethod
    async def counts(self, queue: str) -> dict[JobState, int]: ...

    @abstractmethod
    async def list_jobs(
        self, queue: str, state: JobState, start: int = 0, end: int = 49, desc: bool = True
    ) -> list[Job]:
        """Jobs in ``state``, paged by position (inclusive ``end``).  Order: by finish
        time for finished jobs, due time for delayed, lock expiry for active, take
        order for waiting and prioritized; ``desc`` reverses it."""

    @abstractmethod
    async def queues(self) -> list[str]:
        """Names of the queues that ever received a job in this store."""

    # ---- admin ------------------------------------------------------------------
    @abstractmethod
    async def cancel(self, queue: str, job_id: str) -> JobState | None:
        """Cancel a job: a pending job fails at once with reason ``cancelled``; an
        active one is flagged and its worker stops it.  A flow parent still waiting
        for children fails the same way and cancels those children (down the tree).
        Returns the state it was in, or None when it does not exist."""

    @abstractmethod
    async def retry_job(self, queue: str, job_id: str, state: JobState) -> None:
        """Move a finished job (``state``: failed or completed) back to waiting with
        fresh attempts.  ``InvalidTransition`` when it is not in that state.

        A flow parent re-runs its children recorded as failed first: each one that
        still exists and failed is retried too, and the parent waits for them (state
        ``waiting-children``).  A child completed since keeps its result; a child that
        no longer exists stays recorded as failed.  :meth:`redrive` does the same."""

    @abstractmethod
    async def retry_jobs(self, queue: str, state: JobState, limit: int) -> int:
        """Retry up to ``limit`` jobs in ``state``; returns how many moved."""

    @abstractmethod
    async def promote(self, queue: str, job_id: str) -> None:
        """Make a delayed job ready now.  ``InvalidTransition`` when not delayed."""

    @abstractmethod
    async def remove(self, queue: str, job_id: str) -> bool:
        """Delete a job that is not active.  False when absent; ``InvalidTransition``
        when active (cancel it instead).  A flow parent takes the children it still
        waits for with it (down the tree); an active one among them is cancelled."""

    @abstractmethod
    async def clean(self, queue: str, state: JobState, grace_ms: int, limit: int) -> list[str]:
        """Delete up to ``limit`` jobs in ``state`` older than ``grace_ms`` (by finish
        time for finished jobs, creation time otherwise).  Not for active jobs."""

    @abstractmethod
    async def set_paused(self, queue: str, paused: bool) -> None: ...

    @abstractmethod
    async def set_fifo_first(self, queue: str, fifo_first: bool) -> None:
        """Take unprioritized jobs before prioritized ones (the default is after)."""

    @abstractmethod
    async def is_paused(self, queue: str) -> bool: ...

    @abstractmethod
    async def set_limits(self, queue: str, limits: Mapping[str, int | None]) -> None:
        """Set the named limits (:data:`LIMIT_FIELDS`; None clears one), leaving the
        others, and wake the queue's workers (a raised limit may free work)."""

    @abstractmethod
    async def get_limits(self, queue: str) -> dict[str, int]:
        """The limits set on the queue (absent: none)."""

    @abstractmethod
    async def drain(self, queue: str, include_delayed: bool) -> int:
        """Delete every waiting and prioritized job (and delayed ones if asked)."""

    @abstractmethod
    async def obliterate(self, queue: str, force: bool) -> None:
        """Delete the queue and all its jobs.  ``InvalidTransition`` when jobs are
        active, unless ``force``.  Flows reaching into other queues are settled as
        if each job had been removed: a parent elsewhere learns that its unfinished
        child failed (reason ``removed``), and children elsewhere that a parent here
        still waited for are removed."""

    # ---- flows ------------------------------------------------------------------
    @abstractmethod
    async def add_flow(self, nodes: Sequence[FlowNode]) -> list[bool]:
        """Add the jobs of a flow, parents before their children (see
        :mod:`workhorse.flow` for the design); ``created`` per node, False when its id
        existed (a repeated call completes a partly added flow and changes nothing
        else)."""

    @abstractmethod
    async def children_results(
        self, queue: str, job_id: str
    ) -> tuple[dict[str, bytes], dict[str, str]]:
        """Results of the job's finished children: ``({ref: result JSON}, {ref:
        failure reason})``."""

    @abstractmethod
    async def pending_children(self, queue: str, job_id: str) -> list[str]:
        """Refs (``"queue:id"``) of the children the job still waits for, sorted."""

    # ---- schedules (store-wide, keyed by a stable key) ---------------------------
    @abstractmethod
    async def upsert_schedule(self, key: str, spec: bytes, next_at: int) -> bool:
        """Store the schedule.  When the same ``spec`` is stored already, nothing
        changes (processes starting together agree on one schedule and its next
        tick); a paused schedule keeps ``SCHEDULE_PAUSED`` as its next tick.  True
        when created or changed."""

    @abstractmethod
    async def schedules(self) -> list[StoredSchedule]:
        """Every schedule, by next tick."""

    @abstractmethod
    async def due_schedules(self, now: int, limit: int) -> list[StoredSchedule]:
        """Schedules whose next tick is at or before ``now``, earliest first."""

    @abstractmethod
    async def advance_schedule(self, key: str, tick: int, next_at: int) -> bool:
        """Move the schedule from ``tick`` to ``next_at`` if it is still at ``tick``
        (another scheduler may have moved it already).  Pausing and resuming are
        such moves, to and from :data:`SCHEDULE_PAUSED`."""

    @abstractmethod
    async def fire_schedule(
        self, key: str, tick: int, next_at: int, queue: str, job: NewJob
    ) -> tuple[str, bool] | None:
        """Fire one tick in one atomic step: add ``job`` to ``queue`` and move the
        schedule from ``tick`` to ``next_at``, only if it is still at ``tick``.  A
        crash leaves both done or neither, so a tick runs once even if its job was
        already removed by retention.  Returns ``(job id, created)``, or None when
        the tick had moved (another scheduler fired it)."""

    @abstractmethod
    async def remove_schedule(self, key: str) -> bool: ...

    # ---- dead letters -----------------------------------------------------------
    # A job that fails for good (attempts used up, unrecoverable, stalled too often;
    # not a cancelled one) stays a failed job and also joins the queue's dead-letter
    # set, with a ``deadlettered`` event, in the same atomic step.
    @abstractmethod
    async def dead_letters(
        self, queue: str, start: int = 0, end: int = 49, desc: bool = True
    ) -> list[Job]:
        """Dead letters by the time they failed (newest first unless ``desc`` is False)."""

    @abstractmethod
    async def dead_letter_count(self, queue: str) -> int: ...

    @abstractmethod
    async def update_data(self, queue: str, job_id: str, data: bytes) -> None:
        """Replace the JSON data of a failed job.  ``JobNotFound`` when absent,
        ``InvalidTransition`` when it is not failed."""

    @abstractmethod
    async def redrive(self, queue: str, job_id: str) -> None:
        """Send a dead letter back to waiting with fresh attempts.
        ``InvalidTransition`` when it is not a dead letter."""

    @abstractmethod
    async def redrive_dead(
        self, queue: str, start: int, batch: int, name: str, reason: str
    ) -> tuple[int, int]:
        """Look at ``batch`` dead letters from position ``start`` (oldest first) and
        redrive those named ``name`` ('' any) whose failure reason contains ``reason``
        ('' any).  Returns ``(redriven, looked at)``."""

    @abstractmethod
    async def purge_dead(self, queue: str) -> int:
        """Delete up to a batch of dead letters; returns how many (0: none left)."""

    # ---- worker registry and observability --------------------------------------
    # Store-wide: every worker of every process and machine heartbeats here, so
    # one process can tell which queues are served (metrics, alerts, dashboard).
    @abstractmethod
    async def register_worker(self, info: WorkerInfo, ttl_ms: int) -> None:
        """Add or refresh the worker ``info.id``: it counts as live until
        ``ttl_ms`` after this call (the stored ``heartbeat_at`` is the store's clock
        now, whatever ``info`` says)."""

    @abstractmethod
    async def unregister_worker(self, worker_id: str) -> None: ...

    @abstractmethod
    async def workers(self) -> list[WorkerInfo]:
        """The live workers (heartbeat within their ttl), by id; expired ones are
        pruned."""

    @abstractmethod
    async def oldest_ready_at(self, queue: str) -> int | None:
        """When the job that has been ready longest (waiting, prioritized, or
        delayed and past due) became ready, in epoch ms; None when no job is ready."""

    # ---- shared values (store-wide) ------------------------------------------------
    @abstractmethod
    async def put_value(self, key: str, value: bytes, ttl_ms: int) -> None:
        """Keep ``value`` under ``key`` for ``ttl_ms``, replacing any value there: a
        little state that every process of a deployment shares (the dashboard's
        sign-outs), not job data."""

    @abstractmethod
    async def values(self, prefix: str) -> dict[str, bytes]:
        """The unexpired values whose key starts with ``prefix``."""

    # ---- events -----------------------------------------------------------------
    @abstractmethod
    async def read_events(self, queue: str, after: str, count: int = 500) -> list[Event]:
        """Events after position ``after`` that are in the stream now (no blocking)."""

    @abstractmethod
    def event_reader(self, queue: str) -> EventReader:
        """A reader that blocks until new events arrive (see :class:`EventReader`)."""

    @abstractmethod
    async def last_event_position(self, queue: str) -> str:
        """The position of the newest event (a reader starting there sees only newer)."""

    # ---- lifecycle --------------------------------------------------------------
    @abstractmethod
    def clone(self) -> Store:
        """A new store on the same data with its own connections, for use in another
        thread or event loop (the worker's lock keeper)."""

    @abstractmethod
    async def ping(self) -> None:
        """Raise ``StoreUnavailable`` with the address tried when not reachable."""

    @abstractmethod
    async def close(self) -> None: ...
