"""The dashboard's live feed over Server-Sent Events: events of jobs added by
another process arrive with fresh counts, and a reconnecting page gets what it
missed (or is told to reload)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson

from tests.dashboard.conftest import BASE, Browser, Dash
from tests.dashboard.jobs import export_data
from workhorse import Queue
from workhorse.store.base import Store


async def frames(r: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """``{"id", "event", "data"}`` per SSE frame."""
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    frame: dict[str, Any] = {}
    async for line in r.aiter_lines():
        if not line:
            if "event" in frame:
                yield frame
            frame = {}
        elif line.startswith("id: "):
            frame["id"] = line[4:]
        elif line.startswith("event: "):
            frame["event"] = line[7:]
        elif line.startswith("data: "):
            frame["data"] = orjson.loads(line[6:])


async def until(
    stream: AsyncIterator[dict[str, Any]], want: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]]:
    seen = []
    async with asyncio.timeout(15):
        async for frame in stream:
            seen.append(frame)
            if want(frame):
                return seen
    raise AssertionError(f"stream ended before the frame wanted; got {seen}")


def added(job_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f["event"] == "job" and f["data"]["id"] == job_id


def waiting_count(n: int) -> Callable[[dict[str, Any]], bool]:
    return lambda f: (
        f["event"] == "queue"
        and f["data"]["queue"] == "exports"
        and f["data"]["counts"]["waiting"] == n
    )


async def test_events_from_another_process_arrive_with_fresh_counts(
    dash: Dash, ops: Browser, make_store: Callable[..., Store]
) -> None:
    other = make_store()  # another process's connection to the same data
    try:
        async with ops.http.stream("GET", f"{BASE}/live") as r:
            stream = frames(r)
            job = await Queue("exports", other).add("export", export_data("invoices"))
            seen = await until(stream, added(job.id))
            assert seen[-1]["data"] == {
                "queue": "exports",
                "id": job.id,
                "event": "added",
                "state": "waiting",
            }
            (summary,) = [f["data"] for f in await until(stream, waiting_count(1))][-1:]
            assert summary["paused"] is False and summary["dead"] == 0
            assert summary["total"] == 1
    finally:
        await other.close()


async def test_a_reconnecting_page_gets_what_it_missed(dash: Dash, ops: Browser) -> None:
    queue = dash.api.service.queue("exports")
    async with ops.http.stream("GET", f"{BASE}/live") as r:
        first = await queue.add("export", export_data())
        seen = await until(frames(r), added(first.id))
        last_id = seen[-1]["id"]
    missed = await queue.add("export", export_data())  # while disconnected
    headers = {"Last-Event-ID": last_id}
    async with ops.http.stream("GET", f"{BASE}/live", headers=headers) as r:
        seen = await until(frames(r), added(missed.id))
    assert [f["data"]["id"] for f in seen if f["event"] == "job"] == [missed.id]


async def test_a_page_from_before_a_restart_is_told_to_resync(dash: Dash, ops: Browser) -> None:
    async with ops.http.stream("GET", f"{BASE}/live?after=0000dead-17") as r:
        (frame,) = await until(frames(r), lambda f: True)
    assert frame["event"] == "resync"


async def test_the_page_passes_its_render_position_so_nothing_is_missed(
    dash: Dash, ops: Browser
) -> None:
    page = (await ops.http.get(BASE)).text
    start = page.index('data-live="') + len('data-live="')
    live_url = page[start : page.index('"', start)].replace("&amp;", "&")
    job = await dash.api.service.queue("exports").add("export", export_data())  # after render
    async with ops.http.stream("GET", live_url) as r:
        seen = await until(frames(r), added(job.id))
    assert all(f["event"] != "resync" for f in seen)


async def test_the_live_feed_needs_a_session(dash: Dash) -> None:
    async with dash.client() as client:
        r = await client.get(f"{BASE}/live")
    assert r.status_code == 401
