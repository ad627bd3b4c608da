"""What the overview shows per queue: counts per state, paused, dead letters,
throughput and failure rate over the last minutes, and the oldest ready job's age.

Throughput and failure rate count the jobs that finished inside the window, read
from the completed and failed sets newest first (both are ordered by finish time),
at most ``RECENT_CAP`` of each: a queue finishing more than that in the window
shows "at least"."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from workhorse.app.service import LISTED_STATES
from workhorse.job import JobState
from workhorse.queue import Queue

WINDOW_S = 300
RECENT_CAP = 2000
_PAGE = 200

#: The order of states on the overview and in the stacked bars: live ones first.
STATE_ORDER = LISTED_STATES


@dataclass(slots=True)
class QueueSummary:
    name: str
    counts: dict[str, int]
    paused: bool
    dead: int
    completed_recent: int
    failed_recent: int
    recent_capped: bool
    oldest_ready_at: int | None
    limits: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def per_minute(self) -> float:
        return self.completed_recent * 60 / WINDOW_S

    @property
    def failure_rate(self) -> float | None:
        finished = self.completed_recent + self.failed_recent
        return None if finished == 0 else 100 * self.failed_recent / finished

    @property
    def limits_text(self) -> str:
        """The queue's limits in words (``max 2 active · 100 started / 60 s``)."""
        lim = self.limits
        parts = []
        if "concurrency" in lim:
            parts.append(f"max {lim['concurrency']} active")
        if "rate_max" in lim:
            parts.append(f"{lim['rate_max']} started / {lim['rate_per'] / 1000:g} s")
        if "group_max" in lim or "group_concurrency" in lim:
            parts.append("per-group limits")
        return " · ".join(parts)

    def as_json(self) -> dict[str, Any]:
        """The live update of the overview (see dashboard.js)."""
        return {
            "queue": self.name,
            "counts": self.counts,
            "total": self.total,
            "paused": self.paused,
            "dead": self.dead,
            "perMinute": round(self.per_minute, 1),
            "failureRate": None if self.failure_rate is None else round(self.failure_rate, 1),
            "capped": self.recent_capped,
            "oldestReadyAt": self.oldest_ready_at,
        }


async def _finished_since(queue: Queue, state: JobState, since: int) -> tuple[int, bool]:
    """How many jobs in ``state`` finished at or after ``since`` (capped)."""
    n = 0
    start = 0
    while n < RECENT_CAP:
        page = await queue.list_jobs(state, start, start + _PAGE - 1, desc=True)
        recent = [j for j in page if (j.finished_at or 0) >= since]
        n += len(recent)
        if len(recent) < len(page) or len(page) < _PAGE:
            return n, False
        start += _PAGE
    return n, True


async def summarize(queue: Queue) -> QueueSummary:
    store = queue.store
    since = store.clock() - WINDOW_S * 1000
    counts, paused, dead, oldest, limits = await asyncio.gather(
        queue.counts(),
        queue.is_paused(),
        queue.dead_letter_count(),
        store.oldest_ready_at(queue.name),
        queue.limits(),
    )
    done, failed = await asyncio.gather(
        _finished_since(queue, JobState.COMPLETED, since),
        _finished_since(queue, JobState.FAILED, since),
    )
    return QueueSummary(
        name=queue.name,
        counts={s.value: counts.get(s, 0) for s in STATE_ORDER},
        paused=paused,
        dead=dead,
        completed_recent=done[0],
        failed_recent=failed[0],
        recent_capped=done[1] or failed[1],
        oldest_ready_at=oldest,
        limits=limits,
    )


async def summarize_all(queues: list[Queue]) -> list[QueueSummary]:
    return list(await asyncio.gather(*(summarize(q) for q in queues)))
