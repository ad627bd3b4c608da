"""End to end: a workflow task started through the HTTP API runs in the in-process
worker, changes a quote, and queues the reminder that waited for it, which a real
SMTP server receives; both followed live over Socket.IO."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from tests.reference.smtp import SmtpServer
from tests.reference.test_emails_api import live_api
from tests.reference.test_workflow import (
    add_quote,
    add_task,
    add_users,
    get,
    workflow_registry,
)
from workhorse.store.base import Store
from workhorse_reference.domain.db import Database
from workhorse_reference.domain.models import Quote, WorkflowTask
from workhorse_reference.mail import Mailer
from workhorse_reference.workflow import QUEUE, RUN_JOB, WorkflowTasksProcessor


async def test_a_workflow_started_through_the_api(
    store: Store, db: Database, tmp_path: Path
) -> None:
    await add_users(db)
    quote_id = await add_quote(db)
    accept = await add_task(db, "set_status", {"entity": "quote", "id": quote_id, "status": "sent"})
    thanks = {"subject": "Your quote", "body": "It is on its way."}
    remind = await add_task(
        db, "send_reminder", {**thanks, "to": "client@example.test"}, depends_on=[accept]
    )
    async with SmtpServer() as smtp:
        factory = partial(WorkflowTasksProcessor, db=db, mailer=Mailer(smtp.settings()))
        async with live_api(store, tmp_path, factory, workflow_registry()) as live:
            body = {"name": RUN_JOB, "data": {"taskId": accept}, "options": {"jobId": accept}}
            r = await live.enqueue("alice", QUEUE, body)
            assert r.status_code == 202
            alice = live.clients["alice"]
            first = await alice.until(accept, "completed")
            # The reminder's job is Alice's too, so its progress reaches her.
            second = await alice.until(remind, "completed")
        (got,) = await smtp.recorder.wait_for(1)
    done = first[-1]["result"]["data"]
    assert done["result"] == {"entity": "quote", "id": quote_id, "from": "draft", "to": "sent"}
    assert done["queued"] == [remind]
    assert {"start", "set_status", "queue next"} <= {m.get("message") for m in first}
    assert second[-1]["result"]["data"]["result"]["messageId"] == got.message_id
    assert (got.recipients, got.message["Subject"]) == (["client@example.test"], "Your quote")
    assert (await get(db, Quote, quote_id)).status == "sent"
    for task_id in (accept, remind):
        assert (await get(db, WorkflowTask, task_id)).status == "done"
