"""Alerts: dead letters and thresholds, throttled, sent as signed webhooks.

Four kinds, each per queue:

* ``dead_letter``: a job joined the dead-letter set (from the event stream);
* ``failure_rate``: over the last ``failure_window`` seconds, at least
  ``failure_min`` attempts finished and the share that failed (retried or failed
  for good; cancellations excluded) is at or above ``failure_rate``;
* ``oldest_waiting``: the job ready longest has waited more than ``oldest_waiting``
  seconds;
* ``no_workers``: the queue has jobs (waiting, delayed or active) and no live worker
  serves it.

Throttling: a burst of dead letters sends the first at once and the rest as one
summary (``count``, a few sample jobs) when ``throttle`` seconds have passed, so a
thousand failures make two requests, not a thousand.  A threshold sends ``firing``
when it is crossed, again at most every ``throttle`` seconds while it holds, and
``resolved`` once it no longer holds.  Thresholds and summaries are checked every
``check_interval`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from workhorse.background import stop
from workhorse.job import JobState
from workhorse.observability.webhooks import RetryPlan, WebhookTarget
from workhorse.store.base import Event, Store

if TYPE_CHECKING:
    from workhorse.app.settings import Settings

log = logging.getLogger("workhorse.alerts")

DEAD_LETTER = "dead_letter"
FAILURE_RATE = "failure_rate"
OLDEST_WAITING = "oldest_waiting"
NO_WORKERS = "no_workers"
SAMPLES_KEPT = 10
_PENDING_STATES = (JobState.WAITING, JobState.PRIORITIZED, JobState.DELAYED, JobState.ACTIVE)

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Alert:
    kind: str
    queue: str
    summary: str
    status: str = "firing"
    count: int = 1
    details: Mapping[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        """The webhook's JSON body; ``id`` is new for every alert (not per retry)."""
        return {
            "id": uuid.uuid4().hex,
            "source": "workhorse",
            "kind": self.kind,
            "status": self.status,
            "queue": self.queue,
            "summary": self.summary,
            "count": self.count,
            "details": dict(self.details),
            "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        }


@dataclass(frozen=True, slots=True)
class AlertConfig:
    """Where alerts go and when they fire.  Seconds; a threshold of 0 is off."""

    targets: tuple[WebhookTarget, ...]
    throttle: float = 300.0
    check_interval: float = 15.0
    dead_letters: bool = True
    failure_rate: float = 0.5
    failure_window: float = 300.0
    failure_min: int = 10
    oldest_waiting: float = 600.0
    no_workers: bool = True
    retry: RetryPlan = field(default_factory=RetryPlan)

    def __post_init__(self) -> None:
        if not self.targets:
            raise ValueError("alerts need at least one webhook target")
        for name in ("throttle", "check_interval", "failure_window"):
            if not getattr(self, name) > 0:
                raise ValueError(f"alert {name} must be > 0 seconds, got {getattr(self, name)}")
        if not 0 <= self.failure_rate <= 1:
            raise ValueError(f"alert failure_rate must be between 0 and 1, got {self.failure_rate}")
        if self.failure_min < 1:
            raise ValueError(f"alert failure_min must be >= 1, got {self.failure_min}")
        if self.oldest_waiting < 0:
            raise ValueError(
                f"alert oldest_waiting must be >= 0 seconds, got {self.oldest_waiting}"
            )

    @classmethod
    def from_settings(cls, settings: Settings) -> AlertConfig | None:
        """The settings' alerts (``WORKHORSE_ALERT_*``), or None without webhooks."""
        urls = [u.strip() for u in settings.alert_webhooks.split(",") if u.strip()]
        if not urls:
            return None
        if not settings.alert_secret:
            raise ValueError(
                "WORKHORSE_ALERT_SECRET is required when WORKHORSE_ALERT_WEBHOOKS is set: "
                "alerts are signed with it"
            )
        try:
            targets = tuple(WebhookTarget(url, settings.alert_secret) for url in urls)
        except ValueError as exc:
            raise ValueError(f"WORKHORSE_ALERT_WEBHOOKS: {exc}") from exc
        return cls(
            targets,
            throttle=settings.alert_throttle,
            check_interval=settings.alert_check_interval,
            failure_rate=settings.alert_failure_rate,
            failure_window=settings.alert_failure_window,
            failure_min=settings.alert_failure_min,
            oldest_waiting=settings.alert_oldest_waiting,
            no_workers=settings.alert_no_workers,
        )


@dataclass(slots=True)
class _Burst:
    quiet_until: float
    held: int = 0
    samples: list[dict[str, str]] = field(default_factory=list)


class Throttle:
    """At most one alert per key per ``window``: :meth:`offer` says whether this
    occurrence goes out now; the others are held, and :meth:`due` hands out one
    summary per key whose window has passed."""

    def __init__(self, window: float, clock: Clock = time.monotonic) -> None:
        self.window = window
        self.clock = clock
        self._bursts: dict[tuple[str, str], _Burst] = {}

    def offer(self, key: tuple[str, str], sample: dict[str, str]) -> bool:
        now = self.clock()
        burst = self._bursts.get(key)
        if burst is None or (now >= burst.quiet_until and not burst.held):
            self._bursts[key] = _Burst(now + self.window)
            return True
        burst.held += 1
        if len(burst.samples) < SAMPLES_KEPT:
            burst.samples.append(sample)
        return False

    def held(self, key: tuple[str, str]) -> int:
        burst = self._bursts.get(key)
        return 0 if burst is None else burst.held

    def due(self) -> list[tuple[tuple[str, str], int, list[dict[str, str]]]]:
        """Summaries of the held occurrences whose window has passed; each starts a
        new window.  Keys idle past their window are forgotten."""
        now = self.clock()
        out = []
        for key, burst in list(self._bursts.items()):
            if now < burst.quiet_until:
                continue
            if burst.held:
                out.append((key, burst.held, burst.samples))
                self._bursts[key] = _Burst(now + self.window)
            else:
                del self._bursts[key]
        return out


class FailureWindow:
    """Finished attempts per queue over the last ``window`` seconds, in one-second
    buckets (memory bounded by the window, not by the traffic)."""

    def __init__(self, window: float, clock: Clock = time.monotonic) -> None:
        self.window = window
        self.clock = clock
        self._buckets: dict[str, deque[list[int]]] = {}

    def record(self, queue: str, failed: bool) -> None:
        second = int(self.clock())
        buckets = self._buckets.setdefault(queue, deque())
        if not buckets or buckets[-1][0] != second:
            buckets.append([second, 0, 0])
        buckets[-1][2 if failed else 1] += 1

    def totals(self, queue: str) -> tuple[int, int]:
        """``(attempts, failed)`` inside the window."""
        buckets = self._buckets.get(queue)
        if not buckets:
            return 0, 0
        oldest = self.clock() - self.window
        while buckets and buckets[0][0] < oldest:
            buckets.popleft()
        ok = sum(b[1] for b in buckets)
        bad = sum(b[2] for b in buckets)
        return ok + bad, bad


class Alerter:
    """Turns events and store readings into :class:`Alert` s for ``notify``.

    :meth:`observe` is an event listener (dead letters, attempt outcomes);
    :meth:`start` runs the periodic check of thresholds and held summaries."""

    def __init__(
        self,
        store: Store,
        queues: Sequence[str],
        config: AlertConfig,
        notify: Callable[[Alert], None],
        clock: Clock = time.monotonic,
    ) -> None:
        self.store = store
        self.queues = list(dict.fromkeys(queues))
        self.config = config
        self.notify = notify
        self.clock = clock
        self.throttle = Throttle(config.throttle, clock)
        self.failures = FailureWindow(config.failure_window, clock)
        self._firing: dict[tuple[str, str], float] = {}  # key -> when last sent
        self._task: asyncio.Task[None] | None = None

    # ---- events -----------------------------------------------------------------
    def observe(self, event: Event) -> None:
        name = event.event
        if name == "deadlettered":
            if self.config.dead_letters:
                self._dead_letter(event)
        elif name == "completed":
            self.failures.record(event.queue, failed=False)
        elif name == "retrying" or (name == "failed" and event.fields.get("error") != "cancelled"):
            self.failures.record(event.queue, failed=True)

    def _dead_letter(self, event: Event) -> None:
        sample = {
            "id": event.job_id,
            "name": event.fields.get("name", ""),
            "error": event.fields.get("error", ""),
        }
        if self.throttle.offer((DEAD_LETTER, event.queue), sample):
            summary = f"job {event.job_id} ({sample['name']}) of {event.queue} is dead-lettered"
            self.notify(
                Alert(
                    DEAD_LETTER,
                    event.queue,
                    f"{summary}: {sample['error']}",
                    details={"jobs": [sample]},
                )
            )

    # ---- periodic checks --------------------------------------------------------
    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="workhorse-alerts")

    async def close(self) -> None:
        await stop(self._task)
        self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.check_interval)
            try:
                await self.check()
            except Exception as exc:  # the store may be down: try again next time
                log.warning("alert check failed: %s", exc)

    async def check(self) -> None:
        """One pass: held dead-letter summaries, then every threshold."""
        for (kind, queue), count, samples in self.throttle.due():
            summary = f"{count} more job(s) of {queue} dead-lettered"
            self.notify(Alert(kind, queue, summary, count=count, details={"jobs": samples}))
        cfg = self.config
        if cfg.failure_rate > 0:
            for queue in self.queues:
                self._failure_rate(queue)
        if cfg.oldest_waiting > 0:
            now = self.store.clock()
            for queue in self.queues:
                self._oldest(queue, await self.store.oldest_ready_at(queue), now)
        if cfg.no_workers:
            served = {q for w in await self.store.workers() for q in w.queues}
            for queue in self.queues:
                counts = await self.store.counts(queue)
                pending = sum(counts.get(s, 0) for s in _PENDING_STATES)
                self._no_workers(queue, pending if queue not in served else 0)

    def _failure_rate(self, queue: str) -> None:
        cfg = self.config
        attempts, failed = self.failures.totals(queue)
        firing = attempts >= cfg.failure_min and failed / attempts >= cfg.failure_rate
        summary = (
            f"{failed} of {attempts} attempts failed on {queue} "
            f"over the last {cfg.failure_window:g} s"
        )
        details = {
            "attempts": attempts,
            "failed": failed,
            "rate": round(failed / attempts, 4) if attempts else 0.0,
            "threshold": cfg.failure_rate,
            "window_seconds": cfg.failure_window,
        }
        self._threshold(Alert(FAILURE_RATE, queue, summary, details=details), firing)

    def _oldest(self, queue: str, ready_at: int | None, now: int) -> None:
        age = 0.0 if ready_at is None else max(now - ready_at, 0) / 1000
        limit = self.config.oldest_waiting
        summary = f"the oldest ready job of {queue} has waited {age:.0f} s (limit {limit:g} s)"
        details = {"age_seconds": round(age, 3), "threshold_seconds": limit}
        self._threshold(Alert(OLDEST_WAITING, queue, summary, details=details), age > limit)

    def _no_workers(self, queue: str, unserved: int) -> None:
        summary = f"no live worker serves {queue}, which has {unserved} job(s) to run"
        alert = Alert(NO_WORKERS, queue, summary, details={"jobs": unserved})
        self._threshold(alert, unserved > 0)

    def _threshold(self, alert: Alert, holds: bool) -> None:
        """Send ``alert`` when it starts to hold, again every ``throttle`` seconds
        while it holds, and a ``resolved`` one when it stops."""
        key = (alert.kind, alert.queue)
        now = self.clock()
        last = self._firing.get(key)
        if holds:
            if last is None or now - last >= self.config.throttle:
                self._firing[key] = now
                self.notify(alert)
        elif last is not None:
            del self._firing[key]
            resolved = f"resolved: {alert.kind} on {alert.queue}"
            self.notify(
                Alert(alert.kind, alert.queue, resolved, status="resolved", details=alert.details)
            )
