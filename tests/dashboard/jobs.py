"""Jobs in the states the dashboard shows, made by real workers."""

from __future__ import annotations

from typing import Any

from workhorse import Queue, Worker
from workhorse.job import Job


def export_data(entity: str = "quotes", user: str = "u-1") -> dict[str, Any]:
    return {"entity": entity, "format": "csv", "userId": user}


async def run_all(queue: Queue, handler: Any) -> None:
    """Run every job of the queue now with ``handler`` (a burst worker)."""
    worker = Worker(queue, handler, concurrency=4)
    await worker.run(burst=True)


async def _broken(job: Job) -> Any:
    raise RuntimeError(f"renderer crashed on {job.data.get('entity')}")


async def failed_jobs(queue: Queue, *datas: dict[str, Any], name: str = "export") -> list[Job]:
    """Jobs that failed for good (one attempt each): dead letters."""
    added = [await queue.add(name, data, attempts=1) for data in datas]
    await run_all(queue, _broken)
    out = []
    for job in added:
        fresh = await queue.get_job(job.id)
        assert fresh is not None and fresh.failed_reason
        out.append(fresh)
    return out
