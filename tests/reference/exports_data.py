"""Domain rows for the export tests and what their export must show; running an
export; reading each format back with its own reader.

Alice's rows carry non-Latin text, line breaks, amounts in two currencies (one
negative), times given in another zone, a soft-deleted session and a recurring one.
Bob's rows all carry the marker ``BOBONLY``, which must never appear in Alice's
exports.  ``EXPECTED`` is the export of Alice's rows in text form (the CSV cells),
written out by hand, in the order the export must give; row ids are filled in by
:func:`seed`.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import docx
import openpyxl
from pypdf import PdfReader

from workhorse import Worker
from workhorse.app import QueueService, default_registry
from workhorse.app.queues import EXPORT_JOB, EXPORTS
from workhorse.job import Job, JobState
from workhorse.store.sqlite import SqliteStore
from workhorse_reference.domain.db import Database
from workhorse_reference.domain.models import Contact, Invoice, Quote, Session, User
from workhorse_reference.exports import ArtifactStore, ExportProcessor, ExportSettings
from workhorse_reference.exports.artifacts import URL_PREFIX

UTC = dt.UTC
PARIS = dt.timezone(dt.timedelta(hours=1))
BOB_MARKER = "BOBONLY"

HEADERS = {
    "sessions": [
        "ID",
        "Title",
        "Starts (UTC)",
        "Ends (UTC)",
        "Location",
        "Status",
        "Recurrence",
        "Description",
    ],
    "contacts": ["ID", "First name", "Last name", "E-mail", "Phone", "Company", "Created (UTC)"],
    "quotes": [
        "ID",
        "Number",
        "Title",
        "Contact",
        "Amount",
        "Status",
        "Issued (UTC)",
        "Valid until (UTC)",
    ],
    "invoices": [
        "ID",
        "Number",
        "Contact",
        "Amount",
        "Status",
        "Issued (UTC)",
        "Due (UTC)",
        "Paid (UTC)",
    ],
}


def t(day: int, hour: int = 0, minute: int = 0, tz: dt.tzinfo = UTC) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=tz)


@dataclass
class Seeded:
    """Alice's expected rows (text cells, the id first) by entity."""

    rows: dict[str, list[list[str]]] = field(default_factory=dict)


async def seed(db: Database) -> Seeded:
    out = Seeded()
    async with db.session() as s:
        s.add(User(id="alice", email="alice@example.test", name="Alice Martin"))
        s.add(User(id="bob", email="bob@example.test", name="Bob"))
        await s.flush()
        # Contacts first: quotes and invoices refer to them.
        anne = Contact(
            user_id="alice",
            first_name="Anne",
            last_name="Bernard",
            email="anne@example.test",
            phone="+33 1 23 45 67 89",
            company="Bernard & Fils",
            created_at=t(1, 8),
        )
        zoe = Contact(
            user_id="alice",
            first_name="Zoë",
            last_name="Ødegaard",
            email="zoe@example.test",
            company="Fjord AS",
            created_at=t(1, 9, 15),
        )
        dima = Contact(
            user_id="alice",
            first_name="Дмитрий",
            last_name="Иванов",
            email="dima@example.test",
            created_at=t(2, 10),
        )
        bob_contact = Contact(user_id="bob", first_name="Bobby", last_name=BOB_MARKER)
        s.add_all([dima, zoe, anne, bob_contact])
        await s.flush()
        out.rows["contacts"] = [
            [
                str(anne.id),
                "Anne",
                "Bernard",
                "anne@example.test",
                "+33 1 23 45 67 89",
                "Bernard & Fils",
                "2026-03-01T08:00:00Z",
            ],
            [
                str(zoe.id),
                "Zoë",
                "Ødegaard",
                "zoe@example.test",
                "",
                "Fjord AS",
                "2026-03-01T09:15:00Z",
            ],
            [
                str(dima.id),
                "Дмитрий",
                "Иванов",
                "dima@example.test",
                "",
                "",
                "2026-03-02T10:00:00Z",
            ],
        ]

        weekly = Session(
            user_id="alice",
            title="Weekly 東京 check-in",
            starts_at=t(9, 8),
            ends_at=t(9, 8, 45),
            location="Online",
            rrule="FREQ=WEEKLY;COUNT=4",
        )
        kickoff = Session(
            user_id="alice",
            title="Kick-off — Zoë",
            starts_at=t(2, 10, 30, PARIS),
            ends_at=t(2, 12, 0, PARIS),
            location="Zürich",
            description="Goals for the quarter\nand a follow-up plan",
        )
        deleted = Session(
            user_id="alice",
            title="Deleted session",
            starts_at=t(3, 9),
            ends_at=t(3, 10),
            deleted_at=t(4),
        )
        bob_session = Session(
            user_id="bob", title=f"Private {BOB_MARKER}", starts_at=t(2, 9), ends_at=t(2, 10)
        )
        s.add_all([weekly, kickoff, deleted, bob_session])
        await s.flush()
        out.rows["sessions"] = [
            [
                str(kickoff.id),
                "Kick-off — Zoë",
                "2026-03-02T09:30:00Z",
                "2026-03-02T11:00:00Z",
                "Zürich",
                "scheduled",
                "",
                "Goals for the quarter\nand a follow-up plan",
            ],
            [
                str(weekly.id),
                "Weekly 東京 check-in",
                "2026-03-09T08:00:00Z",
                "2026-03-09T08:45:00Z",
                "Online",
                "scheduled",
                "FREQ=WEEKLY;COUNT=4",
                "",
            ],
        ]

        q2 = Quote(
            user_id="alice",
            number="Q-2026-002",
            title="Single session",
            amount_cents=99,
            currency="USD",
            issued_on=t(5),
        )
        q1 = Quote(
            user_id="alice",
            contact_id=zoe.id,
            number="Q-2026-001",
            title="Coaching package",
            amount_cents=123456,
            status="sent",
            issued_on=t(1),
            valid_until=t(31, 23, 59),
        )
        bob_quote = Quote(
            user_id="bob", number=f"Q-{BOB_MARKER}", title="x", amount_cents=1, issued_on=t(1)
        )
        s.add_all([q2, q1, bob_quote])
        await s.flush()
        out.rows["quotes"] = [
            [
                str(q1.id),
                "Q-2026-001",
                "Coaching package",
                "Zoë Ødegaard",
                "1234.56 EUR",
                "sent",
                "2026-03-01T00:00:00Z",
                "2026-03-31T23:59:00Z",
            ],
            [
                str(q2.id),
                "Q-2026-002",
                "Single session",
                "",
                "0.99 USD",
                "draft",
                "2026-03-05T00:00:00Z",
                "",
            ],
        ]

        i1 = Invoice(
            user_id="alice",
            contact_id=anne.id,
            quote_id=q1.id,
            number="F-2026-001",
            amount_cents=250000,
            status="paid",
            issued_on=t(3),
            due_on=t(17),
            paid_at=t(20, 14, 5),
        )
        i2 = Invoice(
            user_id="alice",
            contact_id=dima.id,
            number="F-2026-002",
            amount_cents=-1505,
            status="cancelled",
            issued_on=t(4),
            due_on=t(18),
        )
        bob_invoice = Invoice(
            user_id="bob",
            number=f"F-{BOB_MARKER}",
            amount_cents=5,
            issued_on=t(1),
            due_on=t(2),
        )
        s.add_all([i2, i1, bob_invoice])
        await s.flush()
        out.rows["invoices"] = [
            [
                str(i1.id),
                "F-2026-001",
                "Anne Bernard",
                "2500.00 EUR",
                "paid",
                "2026-03-03T00:00:00Z",
                "2026-03-17T00:00:00Z",
                "2026-03-20T14:05:00Z",
            ],
            [
                str(i2.id),
                "F-2026-002",
                "Дмитрий Иванов",
                "-15.05 EUR",
                "cancelled",
                "2026-03-04T00:00:00Z",
                "2026-03-18T00:00:00Z",
                "",
            ],
        ]
    return out


async def add_invoices(db: Database, user_id: str, count: int) -> None:
    """``count`` more plain invoices for ``user_id`` (for batches and progress)."""
    async with db.session() as s:
        s.add_all(
            Invoice(
                user_id=user_id,
                number=f"G-{n:05d}",
                amount_cents=100 * n + 1,
                issued_on=t(10) + dt.timedelta(minutes=n),
                due_on=t(25),
            )
            for n in range(count)
        )


# ---- running an export -------------------------------------------------------------
@dataclass
class Exported:
    result: dict[str, Any]
    path: Path  # the stored file
    artifacts: ArtifactStore
    job: Job


SECRET = "exports-test-secret-" + "s" * 32


def artifact_store(tmp_path: Path, **kwargs: Any) -> ArtifactStore:
    return ArtifactStore(tmp_path / "exports", SECRET, **kwargs)


def stored_file(artifacts: ArtifactStore, url: str) -> Path:
    """The local file a download URL points to."""
    path = urlsplit(url).path
    assert path.startswith(URL_PREFIX + "/"), url
    found = artifacts.file(*path[len(URL_PREFIX) + 1 :].split("/"))
    assert found is not None, f"no stored file for {url}"
    return found


async def run_job(
    db: Database,
    tmp_path: Path,
    entity: str,
    fmt: str,
    *,
    user: str = "alice",
    settings: ExportSettings | None = None,
    artifacts: ArtifactStore | None = None,
    environment: str = "development",
) -> Job:
    """Add an export job on an embedded store, run it with a burst worker until it
    finishes, and return it (in ``development`` a job has one attempt)."""
    artifacts = artifacts or artifact_store(tmp_path)
    store = SqliteStore(tmp_path / "jobs.db")
    service = QueueService(store, default_registry().for_environment(environment))
    try:
        processor = ExportProcessor(service, db=db, artifacts=artifacts, settings=settings)
        data = {"entity": entity, "format": fmt, "userId": user}
        job = await service.add(EXPORTS, EXPORT_JOB, data, owner=user)
        worker = Worker(service.queue(EXPORTS), processor.handle)
        runner = asyncio.create_task(worker.run(burst=True))
        try:
            async with asyncio.timeout(45):
                await service.queue(EXPORTS).wait_finished(job.id)
        finally:
            await worker.close()
            await runner
        return await job.refresh()
    finally:
        await service.close()
        await store.close()


async def run_export(
    db: Database,
    tmp_path: Path,
    entity: str,
    fmt: str,
    *,
    user: str = "alice",
    settings: ExportSettings | None = None,
    artifacts: ArtifactStore | None = None,
) -> Exported:
    """Run an export that must succeed; its result and stored file."""
    artifacts = artifacts or artifact_store(tmp_path)
    job = await run_job(
        db, tmp_path, entity, fmt, user=user, settings=settings, artifacts=artifacts
    )
    assert job.state is JobState.COMPLETED, job.failed_reason
    result = job.returnvalue
    return Exported(result, stored_file(artifacts, result["data"]["url"]), artifacts, job)


# ---- reading exports back, as text cells -------------------------------------------
def _excel_text(value: Any, number_format: str) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="seconds") + "Z"
    currency = re.search(r'"([A-Z]{3})"', number_format)
    if currency:
        assert isinstance(value, int | float), f"an amount stored as {value!r}"
        return f"{value:.2f} {currency.group(1)}"
    return str(value)


def read_excel(path: Path) -> dict[str, list[list[str]]]:
    """Each sheet's rows (header first) as text cells."""
    book = openpyxl.load_workbook(path)
    try:
        return {
            sheet.title: [
                [_excel_text(c.value, c.number_format) for c in row] for row in sheet.iter_rows()
            ]
            for sheet in book.worksheets
        }
    finally:
        book.close()


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def _json_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return f"{value['amount']} {value['currency']}"
    return str(value)


def read_json(raw: bytes) -> tuple[list[str], list[list[str]]]:
    """The objects' keys and their values as text cells."""
    objects = json.loads(raw)
    assert isinstance(objects, list)
    keys = list(objects[0]) if objects else []
    return keys, [[_json_text(v) for v in obj.values()] for obj in objects]


def read_docx(path: Path) -> tuple[str, list[list[str]]]:
    """The first heading's text and the table's rows (header first)."""
    document = docx.Document(str(path))
    heading = next(p.text for p in document.paragraphs if p.style.name.startswith("Heading"))
    (table,) = document.tables
    return heading, [[c.text for c in row.cells] for row in table.rows]


def read_pdf(path: Path) -> list[str]:
    """The text of each page."""
    return [page.extract_text() for page in PdfReader(str(path)).pages]
