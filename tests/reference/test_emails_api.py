"""End to end: a scheduled e-mail sent through the HTTP API by the in-process
worker, followed live over Socket.IO, received by a real SMTP server."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx

from tests.api.conftest import Api, serve
from tests.api.test_live import Client
from tests.reference.smtp import SmtpServer
from tests.reference.test_emails_claim import add_email, row
from tests.reference.test_emails_send import email_registry
from workhorse.api.extension import ProcessorFactory
from workhorse.app.registry import QueueRegistry
from workhorse.store.base import Store
from workhorse_reference.domain.db import Database
from workhorse_reference.emails import QUEUE, SEND_JOB, ScheduledEmailsProcessor
from workhorse_reference.mail import Mailer


@dataclass
class Live:
    api: Api
    clients: dict[str, Client]
    http: httpx.AsyncClient

    async def enqueue(self, who: str, queue: str, body: object) -> httpx.Response:
        return await self.http.post(
            f"/api/queues/{queue}/jobs", json=body, headers=self.api.headers(who)
        )


@contextlib.asynccontextmanager
async def live_api(
    store: Store,
    tmp_path: Path,
    processor: ProcessorFactory,
    registry: QueueRegistry,
    users: Sequence[str] = ("alice",),
) -> AsyncIterator[Live]:
    """The API running ``processor`` in process, with a Socket.IO client per user."""
    server = serve(store, tmp_path, processors=[processor], registry=registry)
    async with contextlib.aclosing(server):
        api = await anext(server)
        clients: dict[str, Client] = {}
        try:
            for who in users:
                clients[who] = Client(api)
                await clients[who].connect(api.tokens[who])
            async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
                yield Live(api, clients, http)
        finally:
            for client in clients.values():
                await client.sio.disconnect()


async def test_a_scheduled_email_sent_through_the_api(
    store: Store, db: Database, tmp_path: Path
) -> None:
    email_id = await add_email(db, subject="Welcome", body="Glad to have you.")
    data = {"emailId": email_id, "userId": "alice"}
    async with SmtpServer() as smtp:
        factory = partial(ScheduledEmailsProcessor, db=db, mailer=Mailer(smtp.settings()))
        async with live_api(store, tmp_path, factory, email_registry()) as live:
            bad = await live.enqueue("alice", QUEUE, {"name": SEND_JOB, "data": {"to": "x"}})
            assert bad.status_code == 422
            fields = {".".join(e["loc"][1:]) for e in bad.json()["detail"]}
            assert fields == {"data.emailId", "data.to"}

            # Bob may not send Alice's e-mail.
            stolen = await live.enqueue("bob", QUEUE, {"name": SEND_JOB, "data": data})
            assert stolen.status_code == 403
            assert stolen.json()["detail"][0]["loc"] == ["body", "data", "userId"]

            body = {"name": SEND_JOB, "data": data, "options": {"jobId": email_id}}
            r = await live.enqueue("alice", QUEUE, body)
            assert r.status_code == 202
            assert r.json()["jobId"] == email_id
            seen = await live.clients["alice"].until(email_id, "completed")
        (got,) = await smtp.recorder.wait_for(1)
    steps = {m.get("message") for m in seen if m["status"] == "active"}
    assert {"claim", "send", "record"} <= steps
    assert seen[-1]["result"]["success"] is True
    assert seen[-1]["result"]["data"]["sent"] is True
    assert got.message_id == f"<{email_id}.scheduled-email@workhorse.test>"
    assert (got.message["Subject"], got.body) == ("Welcome", "Glad to have you.\n")
    stored = await row(db, email_id)
    assert (stored.status, stored.message_id) == ("sent", got.message_id)
