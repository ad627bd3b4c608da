"""A Workhorse application for tests that run workers as real processes.

Configured by environment: ``WH_TEST_STORE_URL`` (any store URL, e.g.
``sqlite:////tmp/x/workhorse.db``) or else ``WH_TEST_URL`` and ``WH_TEST_PREFIX`` (a
Redis URL and the test's own key prefix), ``WH_TEST_LOCK`` (lock duration, seconds).
"""

from __future__ import annotations

import asyncio
import os

from workhorse import Job, RedisStore, Workhorse
from workhorse.store import connect

_URL = os.environ.get("WH_TEST_STORE_URL")
app = Workhorse(
    connect(_URL)
    if _URL
    else RedisStore(
        os.environ.get("WH_TEST_URL", "redis://127.0.0.1:6379/0"),
        prefix=os.environ.get("WH_TEST_PREFIX", "whtest-apps"),
    )
)
_LOCK = float(os.environ.get("WH_TEST_LOCK", "1.0"))


@app.processor(
    "crash", concurrency=4, lock_duration=_LOCK, stalled_interval=_LOCK / 2, max_stalled=50
)
async def crash(job: Job) -> dict[str, object]:
    """Sleeps ``data.sleep`` seconds (only on the first delivery when
    ``data.once`` is set), logging when it starts so a test can kill it mid-job."""
    await job.log(f"started pid={os.getpid()}")
    if not (job.data.get("once") and job.stalled_count):
        await asyncio.sleep(float(job.data.get("sleep", 0)))
    return {"pid": os.getpid(), "i": job.data.get("i")}
