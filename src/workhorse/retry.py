"""Retry policy by error type: which failures to retry, after how long, and which to
fail at once.

A policy is given to a worker (``Worker(queue, handler, retry_policy=...)``) and is
consulted each time an attempt fails, in this order:

1. an :class:`~workhorse.errors.UnrecoverableError` fails the job at once (always);
2. the policy's rules, in the order given: the first rule that matches the error
   decides -- ``retry=False`` fails the job now, whatever attempts remain;
   otherwise the delay is the error's ``Retry-After`` (when the rule honours it and
   the error carries one), else the rule's ``backoff``, else the job's own backoff;
3. no rule matches: the policy's ``default`` backoff, else the job's own backoff;
4. a retry only happens while the job has attempts left (its ``attempts`` option).

The seed's example::

    RetryPolicy(
        RetryRule(status=429, retry_after=True, backoff=Backoff("fixed", delay=60)),
        RetryRule(status=400, retry=False),
        default=Backoff("exponential", delay=1, max_delay=30),
    )

An error carries an HTTP status as :class:`~workhorse.errors.HttpError`, as an
exception with a ``response`` holding ``status_code`` and ``headers`` (``httpx`` and
``requests`` errors), or with ``status`` and ``headers`` of its own
(``urllib.error.HTTPError``).  Errors raised in a process pool are matched by their type
names and status, which cross the process boundary with them.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from workhorse.options import Backoff, BackoffStrategy

ErrorMatch = type[BaseException] | str


@dataclass(frozen=True, slots=True)
class RetryRule:
    """One rule: matches errors by type (``errors``: classes, or names such as
    ``"ValidationError"`` / ``"pydantic_core._pydantic_core.ValidationError"``)
    and/or by HTTP ``status`` (one code or several, e.g. ``range(500, 600)``).
    When both are given, both must match."""

    errors: tuple[ErrorMatch, ...] | ErrorMatch = ()
    status: int | Iterable[int] | None = None
    retry: bool = True
    backoff: Backoff | None = None
    retry_after: bool = False

    def __post_init__(self) -> None:
        errors = self.errors if isinstance(self.errors, tuple) else (self.errors,)
        for e in errors:
            is_class = isinstance(e, type) and issubclass(e, BaseException)
            if not is_class and not (isinstance(e, str) and e):
                raise ValueError(
                    f"retry rule: errors must be exception classes or their names, got {e!r}"
                )
        object.__setattr__(self, "errors", errors)
        if self.status is not None:
            object.__setattr__(self, "status", _status_codes(self.status))
        if not errors and self.status is None:
            raise ValueError(
                "retry rule: give errors= and/or status= to match; "
                "use RetryPolicy(default=...) for every other error"
            )
        if self.backoff is not None and not isinstance(self.backoff, Backoff):
            raise ValueError(f"retry rule: backoff must be a Backoff, got {self.backoff!r}")
        if not self.retry and (self.backoff is not None or self.retry_after):
            raise ValueError("retry rule: backoff/retry_after mean nothing with retry=False")

    def matches(self, error: BaseException) -> bool:
        if self.status is not None:
            assert isinstance(self.status, frozenset)
            if http_status(error) not in self.status:
                return False
        if not self.errors:
            return True
        assert isinstance(self.errors, tuple)
        names = error_type_names(error)
        short = {n.rsplit(".", 1)[-1] for n in names}
        for e in self.errors:
            if isinstance(e, str):
                if e in names or e in short:
                    return True
            elif isinstance(error, e) or _qualified(e) in names:
                return True
        return False


def _status_codes(status: object) -> frozenset[int]:
    """``429``, ``(429, 503)`` or ``range(500, 600)`` as a set; ``ValueError`` else."""
    codes: tuple[object, ...] = ()
    if isinstance(status, int):
        codes = (status,)
    elif isinstance(status, Iterable) and not isinstance(status, str):
        codes = tuple(status)
    valid = [c for c in codes if isinstance(c, int) and not isinstance(c, bool) and 100 <= c <= 599]
    if not codes or len(valid) != len(codes):
        raise ValueError(
            f"retry rule: status must be an HTTP code 100-599 or several, got {status!r}"
        )
    return frozenset(valid)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the policy decided for one failure: ``retry`` False fails the job now;
    ``delay`` None leaves the delay to the job's own backoff."""

    retry: bool
    delay: float | None = None


class RetryPolicy:
    """Rules tried in order (see the module's documentation), then ``default``."""

    __slots__ = ("default", "rules")

    def __init__(self, *rules: RetryRule, default: Backoff | None = None) -> None:
        for rule in rules:
            if not isinstance(rule, RetryRule):
                raise ValueError(f"RetryPolicy takes RetryRule(...) rules, got {rule!r}")
        if default is not None and not isinstance(default, Backoff):
            raise ValueError(f"RetryPolicy default must be a Backoff, got {default!r}")
        self.rules = rules
        self.default = default

    def __repr__(self) -> str:
        return f"RetryPolicy({', '.join(map(repr, self.rules))}, default={self.default!r})"

    def decide(
        self,
        error: BaseException,
        attempt: int,
        strategies: Mapping[str, BackoffStrategy],
    ) -> Verdict:
        """The verdict for ``error`` after attempt number ``attempt`` (1-based)."""
        for rule in self.rules:
            if not rule.matches(error):
                continue
            if not rule.retry:
                return Verdict(retry=False)
            wait = retry_after(error) if rule.retry_after else None
            if wait is None and rule.backoff is not None:
                wait = rule.backoff.seconds(attempt, error, strategies)
            return Verdict(retry=True, delay=wait)
        if self.default is not None:
            return Verdict(retry=True, delay=self.default.seconds(attempt, error, strategies))
        return Verdict(retry=True)


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def error_type_names(error: BaseException) -> tuple[str, ...]:
    """Qualified names of the error's class and its bases (``builtins.ValueError``…).
    A :class:`~workhorse.worker.pool.RemoteError` reports its original's names."""
    remote = getattr(error, "type_names", None)
    if isinstance(remote, tuple):
        return remote
    return tuple(_qualified(c) for c in type(error).__mro__ if c is not object)


def http_status(error: BaseException) -> int | None:
    """The HTTP status an error carries: ``error.status`` (``HttpError``, pooled
    errors, ``urllib.error.HTTPError``, aiohttp) or ``error.response.status_code``
    (httpx, requests)."""
    status = getattr(error, "status", None)
    if isinstance(status, int) and not isinstance(status, bool):
        return status
    code = getattr(getattr(error, "response", None), "status_code", None)
    return code if isinstance(code, int) else None


def retry_after(error: BaseException) -> float | None:
    """Seconds the server asked to wait: ``error.retry_after``, or the ``Retry-After``
    header (delta-seconds or an HTTP date) of ``error.response`` (httpx, requests)
    or of the error itself (``urllib.error.HTTPError``)."""
    value = getattr(error, "retry_after", None)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return max(float(value), 0.0)
    for source in (getattr(error, "response", None), error):
        headers: Any = getattr(source, "headers", None)
        raw = headers.get("retry-after") if hasattr(headers, "get") else None
        if isinstance(raw, str):
            return parse_retry_after(raw)
    return None


def parse_retry_after(raw: str) -> float | None:
    """``"120"`` -> 120.0; an HTTP date -> seconds from now; garbage -> None."""
    raw = raw.strip()
    try:
        return max(float(raw), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)
