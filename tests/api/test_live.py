"""Live progress with the real python-socketio client and an SSE client against a
real server, fed by a real worker through the store's event stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import socketio

from tests.api.conftest import Api, serve
from workhorse import Worker
from workhorse.app.queues import EXPORTS
from workhorse.job import Job
from workhorse.store.base import Store

EVENT = "queue:job:progress"


class Client:
    """A Socket.IO client recording every ``queue:job:progress`` it receives."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.sio = socketio.AsyncClient(reconnection=False)
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sio.on(EVENT, self.inbox.put)

    async def connect(self, token: str | None) -> None:
        auth = {"token": token} if token else None
        await self.sio.connect(self.api.url, auth=auth, transports=["websocket"], wait_timeout=10)

    async def next(self, job_id: str | None = None) -> dict[str, Any]:
        async with asyncio.timeout(15):
            while True:
                msg = await self.inbox.get()
                if job_id is None or msg["jobId"] == job_id:
                    return msg

    async def until(self, job_id: str, status: str) -> list[dict[str, Any]]:
        seen = []
        while True:
            msg = await self.next()
            seen.append(msg)
            if msg["jobId"] == job_id and msg["status"] == status:
                return seen

    async def subscribe(self, job_id: str, queue: str = EXPORTS) -> Any:
        return await self.sio.call("subscribe", {"queue": queue, "jobId": job_id}, timeout=10)


class Gated:
    """A handler that reports progress, then waits for the test to let it finish."""

    def __init__(self) -> None:
        self.release: dict[str, asyncio.Event] = {}
        self.at_half: dict[str, asyncio.Event] = {}

    def gate(self, job_id: str) -> None:
        self.release[job_id] = asyncio.Event()
        self.at_half[job_id] = asyncio.Event()

    async def handle(self, job: Job) -> Any:
        await job.update_progress({"currentStep": "write", "overallProgress": 50})
        if job.id in self.release:
            self.at_half[job.id].set()
            await self.release[job.id].wait()
        return {"url": f"/files/{job.id}.csv"}


@pytest.fixture
async def worker(api: Api) -> AsyncIterator[Gated]:
    gated = Gated()
    w = Worker(api.service.queue(EXPORTS), gated.handle, concurrency=4)
    runner = asyncio.create_task(w.run())
    yield gated
    await w.close(grace=1)
    await runner


@pytest.fixture
async def clients(api: Api) -> AsyncIterator[dict[str, Client]]:
    made = {who: Client(api) for who in ("alice", "bob", "admin")}
    for who, client in made.items():
        await client.connect(api.tokens[who])
    yield made
    for client in made.values():
        await client.sio.disconnect()


async def _export(http: httpx.AsyncClient, api: Api, who: str) -> str:
    r = await http.get(
        "/api/export", params={"entity": "quotes", "format": "csv"}, headers=api.headers(who)
    )
    assert r.status_code == 202
    return str(r.json()["jobId"])


async def test_owner_receives_progress_and_result_others_do_not(
    api: Api, http: httpx.AsyncClient, clients: dict[str, Client], worker: Gated
) -> None:
    alice_job = await _export(http, api, "alice")
    seen = await clients["alice"].until(alice_job, "completed")
    statuses = [m["status"] for m in seen]
    assert statuses[0] == "waiting"
    assert "active" in statuses
    progress = next(m for m in seen if m.get("progress") == 50)
    assert progress == {
        "jobId": alice_job,
        "queue": EXPORTS,
        "status": "active",
        "progress": 50,
        "message": "write",
    }
    assert seen[-1]["result"] == {"success": True, "data": {"url": f"/files/{alice_job}.csv"}}

    # Bob's own job finishes after Alice's; events reach a client in stream order, so
    # when Bob has his own "completed" he would already have had any of Alice's.
    bob_job = await _export(http, api, "bob")
    bob_seen = await clients["bob"].until(bob_job, "completed")
    assert {m["jobId"] for m in bob_seen} == {bob_job}
    # The admin did not subscribe: no job updates are pushed to them unasked.
    admin_job = await _export(http, api, "admin")
    admin_seen = await clients["admin"].until(admin_job, "completed")
    assert {m["jobId"] for m in admin_seen} == {admin_job}


async def test_subscribe_matrix_and_current_state(
    api: Api, http: httpx.AsyncClient, clients: dict[str, Client], worker: Gated
) -> None:
    alice_job = await _export(http, api, "alice")
    await clients["alice"].until(alice_job, "completed")

    owner = await clients["alice"].subscribe(alice_job)
    assert owner["ok"] is True
    assert owner["state"]["status"] == "completed"
    assert owner["state"]["result"]["data"] == {"url": f"/files/{alice_job}.csv"}
    assert (await clients["alice"].next(alice_job))["status"] == "completed"  # pushed too

    assert await clients["bob"].subscribe(alice_job) == {"ok": False, "error": "not found"}
    assert await clients["bob"].subscribe("no-such-job") == {"ok": False, "error": "not found"}
    bad_queue = await clients["bob"].subscribe(alice_job, queue="nope")
    assert bad_queue == {"ok": False, "error": "not found"}
    assert (await clients["admin"].subscribe(alice_job))["ok"] is True


async def test_admin_subscribed_to_a_job_follows_it(
    api: Api, http: httpx.AsyncClient, clients: dict[str, Client], worker: Gated
) -> None:
    job_id = await api.service.queue(EXPORTS).add(
        "export", {"entity": "all", "format": "json", "userId": "alice"}, owner="alice"
    )
    worker.gate(job_id.id)  # registered before the worker can reach the gate
    await asyncio.wait_for(worker.at_half[job_id.id].wait(), 15)
    answer = await clients["admin"].subscribe(job_id.id)
    assert answer["state"]["status"] == "active"
    assert answer["state"]["progress"] == 50
    worker.release[job_id.id].set()
    seen = await clients["admin"].until(job_id.id, "completed")
    assert seen[-1]["result"]["success"] is True


async def test_reconnecting_client_gets_the_current_state(
    api: Api, http: httpx.AsyncClient, worker: Gated
) -> None:
    queue = api.service.queue(EXPORTS)
    job = await queue.add(
        "export", {"entity": "all", "format": "json", "userId": "alice"}, owner="alice"
    )
    worker.gate(job.id)
    await asyncio.wait_for(worker.at_half[job.id].wait(), 15)
    client = Client(api)
    await client.connect(api.tokens["alice"])  # (re)connects while the job runs
    try:
        answer = await client.subscribe(job.id)
        assert answer["state"] == {
            "jobId": job.id,
            "queue": EXPORTS,
            "status": "active",
            "progress": 50,
            "message": "write",
        }
        worker.release[job.id].set()
        await client.until(job.id, "completed")
    finally:
        await client.sio.disconnect()


@pytest.mark.parametrize("token", [None, "garbage"])
async def test_handshake_without_a_valid_token_is_refused(api: Api, token: str | None) -> None:
    client = Client(api)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(token)
    assert not client.sio.connected


async def test_failure_is_pushed_with_its_message(
    api: Api, http: httpx.AsyncClient, clients: dict[str, Client]
) -> None:
    async def broken(job: Job) -> Any:
        raise RuntimeError("disk full")

    w = Worker(api.service.queue(EXPORTS), broken)
    runner = asyncio.create_task(w.run(burst=True))
    job = await api.service.queue(EXPORTS).add(
        "export", {"entity": "all", "format": "json", "userId": "alice"}, owner="alice", attempts=1
    )
    seen = await clients["alice"].until(job.id, "failed")
    assert seen[-1]["result"] == {"success": False, "message": "disk full"}
    await runner


# ---- Server-Sent Events ---------------------------------------------------------
async def _frames(r: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    event = None
    async for line in r.aiter_lines():
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            assert event == EVENT
            yield orjson.loads(line[6:])


async def _sse(http: httpx.AsyncClient, url: str, **kw: Any) -> list[dict[str, Any]]:
    async with http.stream("GET", url, **kw) as r:
        return [frame async for frame in _frames(r)]


async def test_sse_streams_one_job_until_it_finishes(
    api: Api, http: httpx.AsyncClient, worker: Gated
) -> None:
    job = await api.service.queue(EXPORTS).add(
        "export", {"entity": "all", "format": "json", "userId": "alice"}, owner="alice"
    )
    worker.gate(job.id)
    await asyncio.wait_for(worker.at_half[job.id].wait(), 15)
    url = f"/api/queues/exports/jobs/{job.id}/events"
    async with (
        http.stream("GET", url, params={"token": api.tokens["alice"]}) as owner,
        http.stream("GET", url, headers=api.headers("admin")) as admin,
    ):
        streams = [_frames(owner), _frames(admin)]
        # The first frame is the current state; the server watches the job before
        # reading it, so releasing the job now cannot lose an update.
        firsts = [await anext(s) for s in streams]
        worker.release[job.id].set()
        rests = [[f async for f in s] for s in streams]
    for first, rest in zip(firsts, rests, strict=True):
        assert first["status"] == "active"
        assert first["progress"] == 50
        assert rest[-1]["status"] == "completed"
        assert rest[-1]["result"]["data"] == {"url": f"/files/{job.id}.csv"}


async def test_sse_of_a_finished_job_sends_its_state_and_ends(
    api: Api, http: httpx.AsyncClient
) -> None:
    queue = api.service.queue(EXPORTS)
    job = await queue.add(
        "export", {"entity": "all", "format": "json", "userId": "bob"}, owner="bob"
    )
    await queue.cancel(job.id)
    frames = await _sse(
        http, f"/api/queues/exports/jobs/{job.id}/events", headers=api.headers("bob")
    )
    assert frames == [
        {
            "jobId": job.id,
            "queue": EXPORTS,
            "status": "failed",
            "message": "cancelled",
            "result": {"success": False, "message": "cancelled"},
        }
    ]


async def test_updates_reach_clients_of_another_api_process(
    api: Api,
    http: httpx.AsyncClient,
    worker: Gated,
    make_store: Callable[..., Store],
    tmp_path: Path,
) -> None:
    """Two API servers on the same data, each with its own store connection: a job
    enqueued through one and run by a worker elsewhere is followed live through the
    other, because each server follows the store's event stream itself."""
    other_store = make_store()
    try:
        async for other in serve(other_store, tmp_path):
            client = Client(other)
            await client.connect(other.tokens["alice"])
            try:
                job_id = await _export(http, api, "alice")  # through the first server
                seen = await client.until(job_id, "completed")
                assert seen[-1]["result"]["data"] == {"url": f"/files/{job_id}.csv"}
            finally:
                await client.sio.disconnect()
    finally:
        await other_store.close()
