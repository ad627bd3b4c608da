"""Errors of the application layer; each names what was wrong and how to fix it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from workhorse.errors import WorkhorseError


class UnknownQueue(WorkhorseError, LookupError):
    def __init__(self, name: str, known: Sequence[str]) -> None:
        super().__init__(f"unknown queue {name!r}; known: {', '.join(sorted(known)) or 'none'}")
        self.name = name


class PayloadInvalid(WorkhorseError, ValueError):
    """A job's data does not match its queue's payload model.  ``errors`` holds one
    ``{"field", "message"}`` per problem, ``field`` dotted (``data.entity``)."""

    def __init__(self, queue: str, job_name: str, errors: Sequence[dict[str, Any]]) -> None:
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        super().__init__(f"invalid payload for {queue}/{job_name}: {detail}")
        self.queue = queue
        self.job_name = job_name
        self.errors = list(errors)
