"""The Workhorse application object's start-up and shut-down hooks."""

from __future__ import annotations

from typing import Any

import pytest

from workhorse import Job, Queue, Workhorse


async def test_hooks_open_before_the_workers_and_close_after(queue: Queue) -> None:
    app = Workhorse(queue.store)
    calls: list[str] = []
    resource: dict[str, Any] = {}

    @app.on_startup
    async def open_db() -> None:
        calls.append("open db")
        resource["db"] = "connected"

    @app.on_startup
    async def open_client() -> None:
        calls.append("open client")

    @app.on_shutdown
    async def close_db() -> None:
        calls.append("close db")
        resource.pop("db")

    @app.on_shutdown
    async def close_client() -> None:
        calls.append("close client")

    @app.processor(queue.name)
    async def handler(job: Job) -> Any:
        calls.append(f"job sees {resource.get('db')}")
        return job.data

    job = await queue.add("x", 1)
    await app.run_workers([queue.name], burst=True, handle_signals=False)
    assert calls == ["open db", "open client", "job sees connected", "close client", "close db"]
    assert await job.result(timeout=5) == 1


async def test_a_failing_startup_hook_stops_the_start(queue: Queue) -> None:
    app = Workhorse(queue.store)
    ran: list[str] = []

    @app.on_startup
    async def broken() -> None:
        raise RuntimeError("database unreachable")

    @app.processor(queue.name)
    async def handler(job: Job) -> Any:
        ran.append(job.id)

    await queue.add("x", 1)
    with pytest.raises(RuntimeError, match="database unreachable"):
        await app.run_workers([queue.name], burst=True, handle_signals=False)
    assert ran == []
