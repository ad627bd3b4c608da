"""Per-queue defaults in one declarative place (the original ``queue.config.ts``).

A :class:`QueueConfig` says how a queue's jobs are retried, kept and time-limited
and how its workers run; a :class:`QueueRegistry` holds the configs, the payload
model of each job type, and per-environment overrides (e.g. one attempt in
development).  Everything here is immutable: a registry for an environment is a new
registry.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel

from workhorse.options import KEEP_COMPLETED, KEEP_FAILED, Backoff, JobOptions, RetentionSpec
from workhorse.queue import Queue
from workhorse.worker import WorkerOptions

PayloadModel = type[BaseModel]
#: Payload models of a queue by job name; ``"*"`` validates every job name.
ANY_NAME = "*"


@dataclass(frozen=True, slots=True)
class RateLimitConfig:
    """At most ``max`` jobs started per ``duration`` seconds across all workers
    (stored on the queue by :meth:`QueueConfig.apply_limits`; the store's atomic take
    enforces it)."""

    max: int
    duration: float

    def __post_init__(self) -> None:
        if self.max < 1:
            raise ValueError(f"rate_limit.max must be >= 1, got {self.max}")
        if self.duration <= 0:
            raise ValueError(f"rate_limit.duration must be > 0 seconds, got {self.duration}")


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """Defaults of one queue.  Times in seconds."""

    attempts: int = 3
    backoff: Backoff | None = field(default_factory=lambda: Backoff("exponential", delay=1.0))
    remove_on_complete: RetentionSpec = KEEP_COMPLETED
    remove_on_fail: RetentionSpec = KEEP_FAILED
    timeout: float | None = None
    concurrency: int = 1
    priority: int | str | None = None
    rate_limit: RateLimitConfig | None = None
    # Worker process pool size, for CPU-bound jobs.  A pool imports its handler by
    # name, so it applies where the processor names one (Processor.pooled) and the
    # worker is a separate process (``workhorse worker ...:create``); the API's
    # in-process workers (the demo) run the processor in their own event loop.
    processes: int | None = None
    # Only admins may add jobs through the API: all of this queue's
    # (maintenance queues), or those of these job names.
    admin_only: bool = False
    admin_jobs: frozenset[str] = frozenset()
    payloads: Mapping[str, PayloadModel] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.job_options()  # validates attempts, backoff, retention, timeout, priority
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {self.concurrency}")
        if self.processes is not None and self.processes < 1:
            raise ValueError(f"processes must be >= 1, got {self.processes}")

    def job_options(self, **overrides: Any) -> JobOptions:
        base = JobOptions(
            attempts=self.attempts,
            backoff=self.backoff,
            remove_on_complete=self.remove_on_complete,
            remove_on_fail=self.remove_on_fail,
            timeout=self.timeout,
            priority=self.priority,
        )
        return dataclasses.replace(base, **overrides) if overrides else base

    def worker_options(self, **overrides: Any) -> WorkerOptions:
        return WorkerOptions(concurrency=self.concurrency, **overrides)

    async def apply_limits(self, queue: Queue) -> None:
        """Store this queue's rate limit (or clear it) where every worker obeys it."""
        limit = self.rate_limit
        if limit is None:
            await queue.set_rate_limit(None)
        else:
            await queue.set_rate_limit(limit.max, limit.duration)

    def payload_model(self, job_name: str) -> PayloadModel | None:
        return self.payloads.get(job_name) or self.payloads.get(ANY_NAME)


Overrides = Mapping[str, Mapping[str, Mapping[str, Any]]]
"""``{environment: {queue or "*": {QueueConfig field: value}}}``."""


class QueueRegistry(Mapping[str, QueueConfig]):
    """The known queues.  ``environments`` overrides fields per environment; apply
    them with :meth:`for_environment`."""

    def __init__(
        self, queues: Mapping[str, QueueConfig], environments: Overrides | None = None
    ) -> None:
        self._queues = MappingProxyType(dict(queues))
        self.environments: Overrides = MappingProxyType(dict(environments or {}))
        for env, per_queue in self.environments.items():
            for name, fields in per_queue.items():
                if name != "*" and name not in self._queues:
                    raise ValueError(f"environment {env!r} overrides unknown queue {name!r}")
                _check_fields(fields, f"environment {env!r}, queue {name!r}")

    def __getitem__(self, name: str) -> QueueConfig:
        return self._queues[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._queues)

    def __len__(self) -> int:
        return len(self._queues)

    def for_environment(self, environment: str) -> QueueRegistry:
        """The registry with ``environment``'s overrides applied ("*" first, then the
        queue's own)."""
        per_queue = self.environments.get(environment, {})
        resolved = {}
        for name, config in self._queues.items():
            changes = {**per_queue.get("*", {}), **per_queue.get(name, {})}
            resolved[name] = dataclasses.replace(config, **changes) if changes else config
        return QueueRegistry(resolved)

    def with_queue(self, name: str, config: QueueConfig) -> QueueRegistry:
        """A registry with one more (or one replaced) queue."""
        return QueueRegistry({**self._queues, name: config}, self.environments)


def _check_fields(fields: Mapping[str, Any], where: str) -> None:
    known = {f.name for f in dataclasses.fields(QueueConfig)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ValueError(
            f"{where}: unknown queue setting(s) {', '.join(unknown)}; known: {sorted(known)}"
        )
