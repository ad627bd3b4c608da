"""What an application plugs into the API process besides its queues.

An :class:`Extension` adds HTTP routes (e.g. the reference application's export
downloads) and resources with a lifetime (a database engine, an HTTP client): the
API starts every extension once the store answers and closes them on shutdown, in
reverse order.  Routes reach the running service through ``request.app.state``
(``service``, ``hub``, ``audit``, ``settings``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from fastapi import APIRouter

from workhorse.app.processor import Processor
from workhorse.app.service import QueueService

#: Builds a processor for the running service: a Processor subclass itself, or a
#: ``functools.partial`` of one that carries its other dependencies.
ProcessorFactory = Callable[[QueueService], Processor[Any]]


class Extension(Protocol):
    def routers(self) -> Sequence[APIRouter]:
        """Routers to include in the API (may be empty)."""
        ...

    async def start(self, service: QueueService) -> None:
        """Open resources; called once, before the API serves requests."""
        ...

    async def close(self) -> None:
        """Release what :meth:`start` opened."""
        ...
