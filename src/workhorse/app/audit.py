"""The audit log: who did what to which queue or job.

The dashboard and the admin endpoints record every action they take; the
application decides where entries go by handing an :class:`AuditLog` to
``create_app``.  The reference application stores them in its database
(``workhorse_reference``); without one, :class:`LoggingAuditLog` writes each entry to
the ``workhorse.audit`` logger and keeps the latest in memory for the dashboard.
"""

from __future__ import annotations

import collections
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger("workhorse.audit")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One action.  ``target`` names what it touched: ``"exports"`` (a queue),
    ``"exports/42"`` (a job), ``"exports/dead/42"`` (a dead letter)."""

    actor: str
    action: str
    target: str
    detail: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)


class AuditLog(Protocol):
    async def record(self, entry: AuditEntry) -> None:
        """Store one entry; an error here fails the action that was audited."""
        ...

    async def recent(self, limit: int = 100) -> list[AuditEntry]:
        """The latest entries, newest first."""
        ...


class LoggingAuditLog:
    """Entries to the ``workhorse.audit`` logger, the last ``keep`` in memory."""

    def __init__(self, keep: int = 1000) -> None:
        self._entries: collections.deque[AuditEntry] = collections.deque(maxlen=keep)

    async def record(self, entry: AuditEntry) -> None:
        self._entries.append(entry)
        log.info(
            "audit: %s %s %s",
            entry.actor,
            entry.action,
            entry.target,
            extra={"actor": entry.actor, "action": entry.action, "target": entry.target},
        )

    async def recent(self, limit: int = 100) -> list[AuditEntry]:
        return list(reversed(self._entries))[:limit]
