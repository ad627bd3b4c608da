"""The "your export is ready" e-mail, end to end: exports enqueued over the HTTP API
with ``notify: true``, run by the API's worker on the test's store and domain
database (SQLite and PostgreSQL), e-mailed through a real SMTP server (aiosmtpd),
and downloaded from the link in the e-mail."""

from __future__ import annotations

import asyncio
import dataclasses
import html
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from tests.api.conftest import Api, serve
from tests.api.test_live import Client
from tests.reference.exports_data import HEADERS, Seeded, artifact_store, read_excel, seed
from tests.reference.smtp import SmtpServer
from workhorse.app.payloads import ExportPayload
from workhorse.app.queues import EXPORT_JOB, EXPORTS, default_registry
from workhorse.job import Job
from workhorse.options import Backoff
from workhorse.store.base import Store
from workhorse_reference.domain.db import Database
from workhorse_reference.domain.models import User
from workhorse_reference.exports import ArtifactStore, ExportProcessor, ExportsExtension
from workhorse_reference.mail import Mailer

ALICE = "alice@example.test"


class FailsOnceAfterProcessing(ExportProcessor):
    """Its first attempt does everything, the e-mail included, then fails, as an
    attempt does whose worker dies before the job's completion is recorded."""

    async def process(self, job: Job, payload: ExportPayload) -> Any:
        result = await super().process(job, payload)
        if job.attempts_made == 0:
            raise RuntimeError("lost after the e-mail was sent")
        return result


@dataclass
class Harness:
    api: Api
    smtp: SmtpServer
    artifacts: ArtifactStore
    db: Database
    seeded: Seeded

    async def export(self, data: dict[str, Any], who: str = "alice") -> str:
        """Enqueue an export as ``who`` through the HTTP API; its job id."""
        async with httpx.AsyncClient(base_url=self.api.url, timeout=10) as http:
            r = await http.post(
                "/api/queues/exports/jobs",
                json={"name": EXPORT_JOB, "data": data},
                headers=self.api.headers(who),
            )
        assert r.status_code == 202, r.text
        return str(r.json()["jobId"])

    async def finished(self, job_id: str, who: str = "alice") -> dict[str, Any]:
        """Wait until the job has finished; its status as the HTTP API shows it."""
        async with asyncio.timeout(30):
            await self.api.service.queue(EXPORTS).wait_finished(job_id)
        async with httpx.AsyncClient(base_url=self.api.url, timeout=10) as http:
            r = await http.get(f"/api/queues/exports/jobs/{job_id}", headers=self.api.headers(who))
        assert r.status_code == 200, r.text
        status: dict[str, Any] = r.json()
        return status

    async def logs(self, job_id: str) -> str:
        return "\n".join(await self.api.service.queue(EXPORTS).get_logs(job_id))

    async def job(self, job_id: str) -> Job:
        return await self.api.service.get_job(EXPORTS, job_id)


@pytest.fixture
def processor_class() -> type[ExportProcessor]:
    return ExportProcessor


@pytest.fixture
async def harness(
    store: Store, tmp_path: Path, db: Database, processor_class: type[ExportProcessor]
) -> AsyncIterator[Harness]:
    seeded = await seed(db)
    artifacts = artifact_store(tmp_path)
    # Two attempts, the second at once: retries without waiting.
    registry = default_registry()
    exports = dataclasses.replace(
        registry[EXPORTS], attempts=2, backoff=Backoff("fixed", delay=0.0)
    )
    async with SmtpServer() as smtp:
        factory = partial(
            processor_class, db=db, artifacts=artifacts, mailer=Mailer(smtp.settings())
        )
        async for api in serve(
            store,
            tmp_path,
            processors=[factory],
            extensions=[ExportsExtension(artifacts, sweep_interval=0)],
            registry=registry.with_queue(EXPORTS, exports),
        ):
            # Links in e-mails must be absolute: the API's address, known once it listens.
            artifacts.base_url = api.url
            yield Harness(api, smtp, artifacts, db, seeded)


async def _download_excel(url: str, folder: Path) -> dict[str, list[list[str]]]:
    async with httpx.AsyncClient(timeout=10) as http:
        download = await http.get(url)  # a plain GET: the signature is the permission
    assert download.status_code == 200, download.text
    path = folder / "from-the-email.xlsx"
    path.write_bytes(download.content)
    return read_excel(path)


async def test_the_owner_gets_one_email_whose_link_downloads_the_file(
    harness: Harness, tmp_path: Path
) -> None:
    client = Client(harness.api)
    await client.connect(harness.api.tokens["alice"])
    try:
        job_id = await harness.export({"entity": "invoices", "format": "excel", "notify": True})
        seen = await client.until(job_id, "completed")
    finally:
        await client.sio.disconnect()
    data = seen[-1]["result"]["data"]
    assert data["emailed"] is True
    assert "emailReason" not in data
    messages = [m.get("message", "") for m in seen if m["status"] == "active"]
    assert messages[-2:] == ["e-mailing the download link", "export ready, link e-mailed"]
    status = await harness.finished(job_id)
    assert status["progress"]["currentStep"] == "notify"
    assert status["progress"]["totalSteps"] == 4
    assert status["data"]["notify"] is True

    (mail,) = harness.smtp.received
    assert mail.recipients == [ALICE]
    assert mail.message["To"] == ALICE
    assert mail.message["Subject"] == "Your export is ready"
    assert mail.message_id == data["messageId"]
    body = mail.body
    assert data["url"] in body
    assert data["url"].startswith(harness.api.url + "/api/exports/files/")
    assert data["filename"] in body
    assert re.search(r"^  Rows:\s+2$", body, flags=re.MULTILINE)
    html_part = mail.message.get_body(("html",))
    assert html_part is not None
    assert f'href="{html.escape(data["url"])}"' in html_part.get_content()

    (link,) = re.findall(r"^https?://\S+$", body, flags=re.MULTILINE)
    assert link == data["url"]
    rows = harness.seeded.rows["invoices"]
    assert await _download_excel(link, tmp_path) == {"Invoices": [HEADERS["invoices"], *rows]}
    assert f"export-ready e-mail sent to {ALICE}" in await harness.logs(job_id)


@pytest.mark.parametrize("processor_class", [FailsOnceAfterProcessing])
async def test_a_retry_after_the_email_went_out_does_not_send_it_again(
    harness: Harness,
) -> None:
    job_id = await harness.export({"entity": "invoices", "format": "excel", "notify": True})
    status = await harness.finished(job_id)
    assert status["state"] == "completed", status["failedReason"]
    assert (await harness.job(job_id)).attempts_made == 2

    (mail,) = harness.smtp.received
    data = status["returnvalue"]["data"]
    assert data["emailed"] is True
    assert data["alreadySent"] is True
    assert data["messageId"] == mail.message_id
    assert data["url"] in mail.body  # the file was reused, not exported again
    logs = await harness.logs(job_id)
    assert "reusing export-invoices-" in logs
    assert "already sent to alice@example.test by an earlier attempt" in logs


async def test_a_temporary_failure_retries_the_email_only(harness: Harness) -> None:
    harness.smtp.recorder.data_replies.append("451 4.3.0 try again later")
    job_id = await harness.export({"entity": "contacts", "format": "csv", "notify": True})
    status = await harness.finished(job_id)
    assert status["state"] == "completed", status["failedReason"]
    assert (await harness.job(job_id)).attempts_made == 2

    (mail,) = harness.smtp.received
    data = status["returnvalue"]["data"]
    assert data["emailed"] is True
    assert "alreadySent" not in data
    assert data["messageId"] == mail.message_id
    assert data["url"] in mail.body
    logs = await harness.logs(job_id)
    assert "not sent (SMTP 451 4.3.0 try again later); the job will retry it" in logs
    assert "reusing export-contacts-" in logs


async def test_a_temporary_failure_on_the_last_attempt_completes_the_export(
    harness: Harness,
) -> None:
    harness.smtp.recorder.data_replies.extend(["451 4.3.0 later", "451 4.3.0 still later"])
    job_id = await harness.export({"entity": "contacts", "format": "csv", "notify": True})
    status = await harness.finished(job_id)
    assert status["state"] == "completed", status["failedReason"]
    data = status["returnvalue"]["data"]
    assert data["emailed"] is False
    assert data["emailReason"] == "gave up on the last attempt: SMTP 451 4.3.0 still later"
    assert harness.smtp.received == []


async def test_a_refused_address_completes_the_export_without_email(harness: Harness) -> None:
    harness.smtp.recorder.refuse[ALICE] = "550 5.1.1 no such user"
    job_id = await harness.export({"entity": "invoices", "format": "excel", "notify": True})
    status = await harness.finished(job_id)
    assert status["state"] == "completed", status["failedReason"]
    assert (await harness.job(job_id)).attempts_made == 1  # not retried
    data = status["returnvalue"]["data"]
    assert data["emailed"] is False
    assert data["emailReason"].startswith("the mail server refused it: recipient refused")
    assert "550 5.1.1 no such user" in data["emailReason"]
    assert status["progress"]["message"] == f"export ready, not e-mailed: {data['emailReason']}"
    assert harness.smtp.received == []


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("", "user 'bob' has no e-mail address"),
        ("  ", "user 'bob' has no e-mail address"),
        ("bob@example.test\r\nBcc: eve@example.test", "no e-mail can be written to this address"),
    ],
)
async def test_a_user_without_an_address_gets_the_export_and_no_email(
    harness: Harness, address: str, reason: str
) -> None:
    async with harness.db.session() as s:
        await s.execute(update(User).where(User.id == "bob").values(email=address))
    job_id = await harness.export(
        {"entity": "sessions", "format": "json", "notify": True}, who="bob"
    )
    status = await harness.finished(job_id, who="bob")
    assert status["state"] == "completed", status["failedReason"]
    data = status["returnvalue"]["data"]
    assert data["emailed"] is False
    assert data["emailReason"].startswith(reason)
    assert data["rows"] == 1
    assert f"export-ready e-mail not sent: {reason}" in await harness.logs(job_id)
    assert harness.smtp.received == []


async def test_a_relative_link_is_not_emailed(harness: Harness) -> None:
    harness.artifacts.base_url = ""
    job_id = await harness.export({"entity": "quotes", "format": "csv", "notify": True})
    status = await harness.finished(job_id)
    assert status["state"] == "completed", status["failedReason"]
    data = status["returnvalue"]["data"]
    assert data["url"].startswith("/api/exports/files/")
    assert data["emailed"] is False
    assert "WORKHORSE_EXPORTS_BASE_URL" in data["emailReason"]
    assert harness.smtp.received == []


async def test_without_notify_nothing_is_sent(harness: Harness) -> None:
    job_id = await harness.export({"entity": "quotes", "format": "csv"})
    status = await harness.finished(job_id)
    assert status["state"] == "completed", status["failedReason"]
    assert status["returnvalue"]["data"]["emailed"] is False
    assert status["returnvalue"]["data"]["emailReason"] == "not requested"
    assert status["progress"]["totalSteps"] == 3
    # Stored as before the field existed, which workers predating it accept.
    assert status["data"] == {"entity": "quotes", "format": "csv", "userId": "alice"}
    assert harness.smtp.received == []


@pytest.mark.parametrize("bad", ["yes", 1, None])
async def test_notify_must_be_a_boolean(harness: Harness, bad: Any) -> None:
    async with httpx.AsyncClient(base_url=harness.api.url, timeout=10) as http:
        r = await http.post(
            "/api/queues/exports/jobs",
            json={"name": EXPORT_JOB, "data": {"entity": "quotes", "format": "csv", "notify": bad}},
            headers=harness.api.headers("alice"),
        )
    assert r.status_code == 422, r.text
    (error,) = r.json()["detail"]
    assert error["loc"] == ["body", "data", "notify"]
    assert "boolean" in error["msg"]
    assert sum((await harness.api.service.queue(EXPORTS).counts()).values()) == 0
