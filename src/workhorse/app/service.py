"""The queue service: validated enqueueing and job status for the registry's queues.

Payloads are checked against the queue's pydantic model when a job is added (a bad
payload is never stored) and again when a worker takes it (:meth:`parse`), so a job
stored by an older version or another producer cannot reach a processor unchecked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypedDict

from pydantic import BaseModel, ValidationError

from workhorse.app.errors import PayloadInvalid, UnknownQueue
from workhorse.app.registry import QueueRegistry
from workhorse.errors import JobNotFound
from workhorse.job import Job, JobState
from workhorse.queue import Queue
from workhorse.store.base import Store

#: The order in which "my jobs" are listed: live ones first.
LISTED_STATES = (
    JobState.ACTIVE,
    JobState.WAITING,
    JobState.PRIORITIZED,
    JobState.DELAYED,
    JobState.WAITING_CHILDREN,
    JobState.COMPLETED,
    JobState.FAILED,
)
_SCAN_PAGE = 500


class JobStatus(TypedDict):
    id: str
    name: str
    state: str
    progress: Any
    data: Any
    returnvalue: Any
    failedReason: str | None


def job_status(job: Job) -> JobStatus:
    return {
        "id": job.id,
        "name": job.name,
        "state": job.state.value,
        "progress": job.progress,
        "data": job.data,
        "returnvalue": job.returnvalue,
        "failedReason": job.failed_reason,
    }


class QueueService:
    """Adds and reads jobs of the queues in ``registry``, all on ``store``."""

    def __init__(self, store: Store, registry: QueueRegistry) -> None:
        self.store = store
        self.registry = registry
        self._queues = {
            name: Queue(name, store, default_options=config.job_options())
            for name, config in registry.items()
        }

    def queue(self, name: str) -> Queue:
        try:
            return self._queues[name]
        except KeyError:
            raise UnknownQueue(name, list(self._queues)) from None

    @property
    def queues(self) -> list[Queue]:
        return list(self._queues.values())

    # ---- validation -------------------------------------------------------------
    def validate(self, queue: str, job_name: str, data: Any) -> Any:
        """The payload as it will be stored (the model's JSON form, by alias), or
        :class:`PayloadInvalid` naming each bad field.  Queues without payload
        models accept any JSON data."""
        self.queue(queue)
        config = self.registry[queue]
        if not config.payloads:
            return data
        model = config.payload_model(job_name)
        if model is None:
            known = ", ".join(sorted(config.payloads))
            raise PayloadInvalid(
                queue, job_name, [{"field": "name", "message": f"unknown job; known: {known}"}]
            )
        return self._model(queue, job_name, model, data).model_dump(mode="json", by_alias=True)

    def parse(self, job: Job) -> BaseModel | Any:
        """Validate a taken job's data again: the model instance (or the raw data when
        the queue has no model).  :class:`PayloadInvalid` when it does not match."""
        model = self.registry[job.queue_name].payload_model(job.name)
        if model is None:
            return job.data
        return self._model(job.queue_name, job.name, model, job.data)

    @staticmethod
    def _model(queue: str, job_name: str, model: type[BaseModel], data: Any) -> BaseModel:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            errors = [
                {
                    "field": ".".join(["data", *(str(p) for p in e["loc"])]),
                    "message": e["msg"],
                }
                for e in exc.errors()
            ]
            raise PayloadInvalid(queue, job_name, errors) from None

    # ---- adding -----------------------------------------------------------------
    async def add(
        self, queue: str, job_name: str, data: Any, *, owner: str | None = None, **options: Any
    ) -> Job:
        """Validate and add one job; ``options`` override the queue's defaults."""
        payload = self.validate(queue, job_name, data)
        return await self.queue(queue).add(job_name, payload, owner=owner, **options)

    async def add_bulk(
        self, queue: str, items: Iterable[tuple[str, Any]], *, owner: str | None = None
    ) -> list[Job]:
        """Validate every item first, then add them all in one atomic step."""
        q = self.queue(queue)
        opts = q.options(owner=owner)
        prepared = [(name, self.validate(queue, name, data), opts) for name, data in items]
        return await q.add_bulk(prepared)

    # ---- reading ----------------------------------------------------------------
    async def get_job(self, queue: str, job_id: str) -> Job:
        job = await self.queue(queue).get_job(job_id)
        if job is None:
            raise JobNotFound(queue, job_id)
        return job

    async def get_job_status(self, queue: str, job_id: str) -> JobStatus:
        return job_status(await self.get_job(queue, job_id))

    async def find_jobs(
        self,
        owner: str | None,
        states: Sequence[JobState] = LISTED_STATES,
        limit: int = 50,
        queues: Sequence[str] | None = None,
    ) -> list[Job]:
        """Jobs of ``owner`` (everyone's when None), newest first within a state.

        The store has no index by owner yet, so this scans each state page by page
        until ``limit`` jobs match."""
        found: list[Job] = []
        for name in queues or list(self._queues):
            q = self.queue(name)
            for state in states:
                start = 0
                while len(found) < limit:
                    page = await q.list_jobs(state, start, start + _SCAN_PAGE - 1)
                    found.extend(j for j in page if owner is None or j.owner == owner)
                    if len(page) < _SCAN_PAGE:
                        break
                    start += _SCAN_PAGE
        return found[:limit]

    async def close(self) -> None:
        for q in self._queues.values():
            await q.close_events()
