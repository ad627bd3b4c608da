"""Prometheus metrics for the whole system, served by the API process.

Two sources, so that one scrape of one process tells the truth about every worker on
every machine:

* **counters and histograms from the event stream**: :meth:`JobMetrics.observe` is
  a listener on every queue's events (:class:`workhorse.events.EventHooks`), which
  every worker writes to, wherever it runs.  Events carry the numbers (``wait_ms``
  on ``active``, ``duration_ms`` on ``completed`` / ``retrying`` / ``failed``), so
  nothing is read per event.  They count from the moment this process started
  following (Prometheus' ``rate()`` handles the reset of a restart).
* **gauges read from the store at scrape time**: jobs per state, dead letters,
  paused, the oldest ready job's age, live workers and their slots.

Names follow the Prometheus conventions: ``_total`` only on counters, base units
(seconds), one ``workhorse_`` prefix.  The original's ``queue_jobs_total{queue,status}``
was a gauge named like a counter; here it is ``workhorse_queue_jobs{queue,state}``
(see docs/observability.md for the full list).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from workhorse.job import JobState
from workhorse.store.base import Event, Store, WorkerInfo

log = logging.getLogger("workhorse.metrics")

#: Seconds, from a few milliseconds (no-op jobs, an idle queue's wait) to two hours
#: (a long export, a backlog).
BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    1800.0,
    3600.0,
    7200.0,
)
TIMEOUT_REASON = "timeout"
RATE_LIMIT_SCOPES = ("queue", "group")


def _seconds(fields: dict[str, str], key: str) -> float | None:
    raw = fields.get(key)
    if raw is None:
        return None
    try:
        return max(int(raw), 0) / 1000
    except ValueError:
        return None


class _Counters:
    """The event-driven series, with one child per queue resolved up front (a label
    look-up per event would cost more than the increment)."""

    def __init__(self, registry: CollectorRegistry, queues: Sequence[str]) -> None:
        def counter(name: str, doc: str, labels: Sequence[str] = ("queue",)) -> Counter:
            return Counter(name, doc, labels, registry=registry)

        added = counter("workhorse_jobs_added", "Jobs added to the queue.")
        started = counter("workhorse_jobs_started", "Attempts started by a worker.")
        completed = counter("workhorse_jobs_completed", "Jobs completed.")
        failed = counter(
            "workhorse_jobs_failed", "Jobs failed for good (no retry left, or cancelled)."
        )
        retried = counter("workhorse_jobs_retried", "Failed attempts that will be retried.")
        stalled = counter("workhorse_jobs_stalled", "Active jobs whose worker stopped renewing.")
        dead = counter("workhorse_jobs_dead_lettered", "Jobs that joined the dead-letter set.")
        timed_out = counter(
            "workhorse_jobs_timed_out", "Attempts stopped for running over their time limit."
        )
        limited = counter(
            "workhorse_rate_limited",
            "Takes held back by a full rate-limit window (scope: queue-wide or per group).",
            ("queue", "scope"),
        )
        duration = Histogram(
            "workhorse_job_duration_seconds",
            "How long attempts ran, by outcome (completed, retried, failed).",
            ("queue", "outcome"),
            buckets=BUCKETS,
            registry=registry,
        )
        wait = Histogram(
            "workhorse_job_wait_seconds",
            "How long jobs waited between becoming ready (added, due, retried) and starting.",
            ("queue",),
            buckets=BUCKETS,
            registry=registry,
        )
        self.added = {q: added.labels(q) for q in queues}
        self.started = {q: started.labels(q) for q in queues}
        self.completed = {q: completed.labels(q) for q in queues}
        self.failed = {q: failed.labels(q) for q in queues}
        self.retried = {q: retried.labels(q) for q in queues}
        self.stalled = {q: stalled.labels(q) for q in queues}
        self.dead = {q: dead.labels(q) for q in queues}
        self.timed_out = {q: timed_out.labels(q) for q in queues}
        self.limited = {(q, s): limited.labels(q, s) for q in queues for s in RATE_LIMIT_SCOPES}
        self.wait = {q: wait.labels(q) for q in queues}
        self.duration = {
            (q, o): duration.labels(q, o)
            for q in queues
            for o in ("completed", "retried", "failed")
        }


@dataclass(frozen=True, slots=True)
class _QueueSnapshot:
    counts: dict[JobState, int]
    oldest_ready_at: int | None
    dead_letters: int
    paused: bool


class StoreGauges(Collector):
    """Gauges read from the store: :meth:`refresh` (async) before each exposition,
    then :meth:`collect` (what prometheus-client calls) returns what it read."""

    def __init__(self, store: Store, queues: Sequence[str], timeout: float = 5.0) -> None:
        self.store = store
        self.queues = list(queues)
        self.timeout = timeout
        self._families: list[Metric] = []

    async def refresh(self) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                snaps = await asyncio.gather(*(self._queue(q) for q in self.queues))
                workers = await self.store.workers()
                now = self.store.clock()
        except Exception as exc:  # the store is down: serve the counters anyway
            log.warning("metrics: reading the store failed: %s", exc)
            self._families = [_store_up(False)]
            return
        per_queue = dict(zip(self.queues, snaps, strict=True))
        self._families = [_store_up(True), *self._build(per_queue, workers, now)]

    async def _queue(self, queue: str) -> _QueueSnapshot:
        store = self.store
        counts, oldest, dead, paused = await asyncio.gather(
            store.counts(queue),
            store.oldest_ready_at(queue),
            store.dead_letter_count(queue),
            store.is_paused(queue),
        )
        return _QueueSnapshot(counts, oldest, dead, paused)

    def _build(
        self, snaps: dict[str, _QueueSnapshot], workers: Iterable[WorkerInfo], now: int
    ) -> list[Metric]:
        jobs = GaugeMetricFamily(
            "workhorse_queue_jobs", "Jobs in the queue by state.", labels=["queue", "state"]
        )
        oldest = _per_queue(
            "workhorse_queue_oldest_waiting_seconds",
            "Age of the job that has been ready longest without starting (0: none ready).",
        )
        dead = _per_queue("workhorse_queue_dead_letters", "Jobs in the dead-letter set.")
        paused = _per_queue("workhorse_queue_paused", "1 when the queue is paused.")
        for queue, snap in snaps.items():
            for state in JobState:
                jobs.add_metric([queue, state.value], snap.counts.get(state, 0))
            age = 0.0 if snap.oldest_ready_at is None else (now - snap.oldest_ready_at) / 1000
            oldest.add_metric([queue], max(age, 0.0))
            dead.add_metric([queue], snap.dead_letters)
            paused.add_metric([queue], 1 if snap.paused else 0)
        return [jobs, oldest, dead, paused, *_worker_gauges(self.queues, workers)]

    def collect(self) -> Iterable[Metric]:
        return list(self._families)


def _per_queue(name: str, doc: str) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=["queue"])


def _store_up(up: bool) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "workhorse_store_up", "1 when the last scrape could read the store's gauges."
    )
    family.add_metric([], 1 if up else 0)
    return family


def _worker_gauges(queues: Sequence[str], workers: Iterable[WorkerInfo]) -> list[Metric]:
    live = dict.fromkeys(queues, 0)
    slots = dict.fromkeys(queues, 0)
    for w in workers:
        for q in w.queues:
            if q in live:
                live[q] += 1
                slots[q] += w.concurrency
    count = _per_queue("workhorse_workers", "Live workers (heartbeat within their ttl).")
    capacity = _per_queue("workhorse_worker_slots", "Jobs the live workers can run at once.")
    for q in queues:
        count.add_metric([q], live[q])
        capacity.add_metric([q], slots[q])
    return [count, capacity]


class JobMetrics:
    """Every metric of the queues ``queues`` on ``store``, in a registry of its own
    (nothing global: several apps in one process do not mix)."""

    def __init__(self, store: Store, queues: Sequence[str]) -> None:
        self.registry = CollectorRegistry()
        self.queues = list(dict.fromkeys(queues))
        self._c = _Counters(self.registry, self.queues)
        self.gauges = StoreGauges(store, self.queues)
        self.registry.register(self.gauges)
        self._handlers: dict[str, Callable[[Event], None]] = {
            "added": lambda e: self._c.added[e.queue].inc(),
            "active": self._active,
            "completed": self._completed,
            "failed": self._failed,
            "retrying": self._retrying,
            "stalled": lambda e: self._c.stalled[e.queue].inc(),
            "deadlettered": lambda e: self._c.dead[e.queue].inc(),
            "ratelimited": self._rate_limited,
        }

    def observe(self, event: Event) -> None:
        """An :class:`~workhorse.events.EventHooks` listener (inline, per event)."""
        handler = self._handlers.get(event.event)
        if handler is not None and event.queue in self._c.added:
            handler(event)

    def _active(self, event: Event) -> None:
        self._c.started[event.queue].inc()
        wait = _seconds(event.fields, "wait_ms")
        if wait is not None:
            self._c.wait[event.queue].observe(wait)

    def _ran(self, event: Event, outcome: str) -> None:
        ran = _seconds(event.fields, "duration_ms")
        if ran is not None:
            self._c.duration[event.queue, outcome].observe(ran)
        if outcome != "completed" and event.fields.get("error") == TIMEOUT_REASON:
            self._c.timed_out[event.queue].inc()

    def _completed(self, event: Event) -> None:
        self._c.completed[event.queue].inc()
        self._ran(event, "completed")

    def _failed(self, event: Event) -> None:
        self._c.failed[event.queue].inc()
        self._ran(event, "failed")

    def _retrying(self, event: Event) -> None:
        self._c.retried[event.queue].inc()
        self._ran(event, "retried")

    def _rate_limited(self, event: Event) -> None:
        scope = event.fields.get("scope", "queue")
        child = self._c.limited.get((event.queue, scope))
        if child is not None:
            child.inc()

    async def render(self) -> bytes:
        """The exposition text: gauges read now, counters as they stand."""
        await self.gauges.refresh()
        return generate_latest(self.registry)
