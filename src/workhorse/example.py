"""``workhorse example``: a small tour of the engine on a live store.

Adds jobs of three kinds -- quick ones, one that reports progress by steps, one that
fails once and is retried with backoff -- runs a worker until they are done, and
prints what happened, including the live events a client would watch.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import Any

from workhorse.job import Job
from workhorse.options import Backoff
from workhorse.queue import Queue
from workhorse.store import connect
from workhorse.worker import Worker

STEPS = ("query rows", "write file", "store file")


async def _handler(job: Job) -> Any:
    if job.name == "report":
        for i, step in enumerate(STEPS, 1):
            await asyncio.sleep(0.2)
            await job.update_progress(
                {"currentStep": step, "totalSteps": len(STEPS), "overallProgress": i * 100 // 3}
            )
            await job.log(f"step {i}/{len(STEPS)}: {step} done")
        return {"rows": 1234}
    if job.name == "flaky" and job.attempts_made == 0:
        raise ConnectionError("upstream timed out (this first attempt fails on purpose)")
    await asyncio.sleep(random.uniform(0.01, 0.05))
    return {"doubled": job.data["n"] * 2}


async def run_example(url: str, jobs: int) -> None:
    store = connect(url)
    await store.ping()
    queue = Queue(f"example-{uuid.uuid4().hex[:6]}", store)
    try:
        print(f"queue {queue.name!r} on {url}")
        await queue.add_bulk([("double", {"n": i}) for i in range(jobs)])
        report = await queue.add("report", {"entity": "sessions"})
        flaky = await queue.add(
            "flaky", {"n": 21}, attempts=3, backoff=Backoff("exponential", delay=0.2)
        )
        print(f"added {jobs + 2} jobs; running a worker at concurrency 5 …")

        async def watch() -> None:
            async for event in queue.follow("0"):
                if event.job_id in (report.id, flaky.id) and event.event != "added":
                    f = event.fields
                    detail = f.get("data") or f.get("line") or f.get("error") or ""
                    print(f"  event {event.event:<10} job {event.job_id:<4} {detail}")

        watcher = asyncio.create_task(watch())
        await Worker(queue, _handler, concurrency=5).run(burst=True)
        await asyncio.sleep(0.1)
        watcher.cancel()
        print(f"report result: {await report.result(timeout=5)}")
        print(f"flaky result after a retry: {await flaky.result(timeout=5)}")
        print(f"report logs: {await queue.get_logs(report.id)}")
        counts = {state.value: n for state, n in (await queue.counts()).items() if n}
        print(f"final counts: {counts}")
    finally:
        await queue.obliterate(force=True)
        await store.close()
