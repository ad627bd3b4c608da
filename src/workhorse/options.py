"""Job options: what a producer may ask of one job, validated before anything is stored.

Times are given in seconds (floats, millisecond precision is kept end to end) and
stored in integer milliseconds.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

#: Named priority levels.  1 is the highest priority; larger numbers run later.
PRIORITY_LEVELS: Mapping[str, int] = MappingProxyType({"high": 1, "normal": 5, "low": 10})
MAX_PRIORITY = 2**21

BackoffStrategy = Callable[[int, BaseException], float]
"""A custom backoff: receives the attempt number that just failed (1-based) and its
error; returns the delay in seconds before the next attempt."""

_NUMERIC_ID = re.compile(r"^[0-9]+$")


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long to wait before retrying a failed attempt.

    - ``fixed``: always ``delay`` seconds.
    - ``exponential``: ``delay * 2 ** (attempt - 1)``, capped at ``max_delay``.
    - ``custom``: the strategy registered on the worker under ``strategy``.

    ``jitter`` (0..1) takes a random fraction of up to that share off the delay,
    so that many jobs failing together do not retry together.
    """

    type: Literal["fixed", "exponential", "custom"] = "fixed"
    delay: float = 1.0
    jitter: float = 0.0
    max_delay: float | None = None
    strategy: str | None = None

    def __post_init__(self) -> None:
        if self.type not in ("fixed", "exponential", "custom"):
            raise ValueError(
                f"backoff: unknown type {self.type!r}; use 'fixed', 'exponential' or 'custom'"
            )
        if self.delay < 0:
            raise ValueError(f"backoff.delay must be >= 0 seconds, got {self.delay}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"backoff.jitter must be between 0 and 1, got {self.jitter}")
        if self.max_delay is not None and self.max_delay < 0:
            raise ValueError(f"backoff.max_delay must be >= 0 seconds, got {self.max_delay}")
        if (self.type == "custom") != (self.strategy is not None):
            raise ValueError(
                "backoff.strategy names the custom strategy; set it with type='custom'"
            )

    def seconds(
        self,
        attempt: int,
        error: BaseException,
        strategies: Mapping[str, BackoffStrategy],
    ) -> float:
        """Delay before the attempt after ``attempt`` (1-based) failed with ``error``."""
        if self.type == "custom":
            assert self.strategy is not None
            try:
                fn = strategies[self.strategy]
            except KeyError:
                raise LookupError(
                    f"backoff strategy {self.strategy!r} is not registered on this worker; "
                    "pass it in Worker(backoff_strategies={...})"
                ) from None
            base = float(fn(attempt, error))
        elif self.type == "exponential":
            base = self.delay * 2 ** (attempt - 1)
        else:
            base = self.delay
        if self.max_delay is not None:
            base = min(base, self.max_delay)
        if self.jitter:
            base -= base * self.jitter * random.random()
        return max(base, 0.0)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "delay": self.delay}
        if self.jitter:
            out["jitter"] = self.jitter
        if self.max_delay is not None:
            out["max_delay"] = self.max_delay
        if self.strategy is not None:
            out["strategy"] = self.strategy
        return out

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Backoff:
        return cls(**raw)


@dataclass(frozen=True, slots=True)
class Retention:
    """How many finished jobs to keep: by ``age`` (seconds) and/or the last ``count``.

    ``Retention()`` (neither set) keeps every finished job; ``Retention(count=0)``
    removes the job as soon as it finishes.
    """

    age: float | None = None
    count: int | None = None

    def __post_init__(self) -> None:
        if self.age is not None and self.age < 0:
            raise ValueError(f"retention age must be >= 0 seconds, got {self.age}")
        if self.count is not None and self.count < 0:
            raise ValueError(f"retention count must be >= 0, got {self.count}")

    def encode(self) -> str:
        """``"count:age_ms"`` with -1 for "no limit", the form the stores read."""
        count = -1 if self.count is None else self.count
        age = -1 if self.age is None else round(self.age * 1000)
        return f"{count}:{age}"


#: Bounded defaults: a store must not grow without limit unless asked to.
KEEP_COMPLETED = Retention(age=3600, count=1000)
KEEP_FAILED = Retention(age=7 * 24 * 3600, count=10_000)

RetentionSpec = bool | int | Retention


def as_retention(value: RetentionSpec, option: str) -> Retention:
    """Normalise ``True`` (remove at once), ``False`` (keep all), an int (keep the last N)."""
    if isinstance(value, Retention):
        return value
    if value is True:
        return Retention(count=0)
    if value is False:
        return Retention()
    if isinstance(value, int) and value >= 0:
        return Retention(count=value)
    raise ValueError(f"{option} must be True, False, a count >= 0 or a Retention, got {value!r}")


def as_priority(value: int | str | None) -> int:
    """Map a priority (number or named level) to the stored number; 0 means none."""
    if value is None:
        return 0
    if isinstance(value, str):
        try:
            return PRIORITY_LEVELS[value]
        except KeyError:
            raise ValueError(
                f"priority: unknown level {value!r}; use one of {sorted(PRIORITY_LEVELS)} "
                f"or a number from 1 (highest) to {MAX_PRIORITY}"
            ) from None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PRIORITY:
        raise ValueError(f"priority must be 1 (highest) .. {MAX_PRIORITY}, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class JobOptions:
    """Options of one job.  Construction validates; an invalid value raises ``ValueError``
    naming the option, so nothing is ever stored with it.

    ``priority``: 1 is the highest; named levels ``high``/``normal``/``low`` map to
    1/5/10.  Jobs with a priority are taken before jobs without one, unless the queue
    is configured ``fifo_first`` (see :meth:`Queue.set_fifo_first`).
    """

    delay: float = 0.0
    priority: int | str | None = None
    attempts: int = 1
    backoff: Backoff | None = None
    job_id: str | None = None
    remove_on_complete: RetentionSpec = KEEP_COMPLETED
    remove_on_fail: RetentionSpec = KEEP_FAILED
    timeout: float | None = None
    tags: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)
    owner: str | None = None
    #: Key of the tenant (user, account ...) the job belongs to, for per-group limits
    #: (see :meth:`Queue.set_group_limit`).
    group: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.delay, bool) or not isinstance(self.delay, int | float):
            raise ValueError(f"delay must be a number of seconds, got {self.delay!r}")
        if self.delay < 0:
            raise ValueError(f"delay must be >= 0 seconds, got {self.delay}")
        as_priority(self.priority)
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int):
            raise ValueError(f"attempts must be an integer >= 1, got {self.attempts!r}")
        if self.attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {self.attempts}")
        if self.backoff is not None and not isinstance(self.backoff, Backoff):
            raise ValueError(f"backoff must be a Backoff, got {self.backoff!r}")
        if self.job_id is not None:
            _check_job_id(self.job_id)
        as_retention(self.remove_on_complete, "remove_on_complete")
        as_retention(self.remove_on_fail, "remove_on_fail")
        if self.timeout is not None and not self.timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {self.timeout}")
        if isinstance(self.tags, str) or not all(isinstance(t, str) for t in self.tags):
            raise ValueError(f"tags must be a sequence of strings, got {self.tags!r}")
        if not isinstance(self.meta, Mapping):
            raise ValueError(f"meta must be a mapping, got {self.meta!r}")
        if self.owner is not None and (not isinstance(self.owner, str) or not self.owner):
            raise ValueError(f"owner must be a non-empty string, got {self.owner!r}")
        if self.group is not None and (
            not isinstance(self.group, str) or not self.group or len(self.group) > 256
        ):
            raise ValueError(
                f"group must be a non-empty string of at most 256 characters, got {self.group!r}"
            )

    def worker_view(self) -> dict[str, Any]:
        """The part of the options a worker needs to run and retry the job."""
        out: dict[str, Any] = {"attempts": self.attempts}
        if self.backoff is not None:
            out["backoff"] = self.backoff.to_json()
        if self.timeout is not None:
            out["timeout"] = self.timeout
        if self.delay:
            out["delay"] = self.delay
        if self.priority is not None:
            out["priority"] = self.priority
        return out


def _check_job_id(job_id: str) -> None:
    if not isinstance(job_id, str) or not job_id:
        raise ValueError(f"job_id must be a non-empty string, got {job_id!r}")
    if _NUMERIC_ID.match(job_id):
        raise ValueError(
            f"job_id {job_id!r} is all digits, which is reserved for generated ids; "
            f"add a prefix, e.g. 'email-{job_id}'"
        )
    if len(job_id) > 256 or any(c in job_id for c in "\n\r\0"):
        raise ValueError("job_id must be at most 256 characters, without line breaks")
