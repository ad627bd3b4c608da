"""Each export format, written from the domain database (SQLite and PostgreSQL) by
the real processor and worker, read back with that format's own reader: Alice's rows,
in order and formatted, and none of Bob's."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path

import docx
import openpyxl
import pytest

from tests.reference.exports_data import (
    BOB_MARKER,
    HEADERS,
    Seeded,
    add_invoices,
    read_csv,
    read_docx,
    read_excel,
    read_json,
    read_pdf,
    run_export,
    run_job,
    seed,
)
from workhorse.job import JobState
from workhorse_reference.domain.db import Database
from workhorse_reference.exports import ExportSettings
from workhorse_reference.exports.tables import TABLES
from workhorse_reference.exports.writers.base import ExportContext
from workhorse_reference.exports.writers.pdf_file import PdfWriter

TITLES = {
    "sessions": "Sessions",
    "contacts": "Contacts",
    "quotes": "Quotes",
    "invoices": "Invoices",
}


@pytest.fixture
async def seeded(db: Database) -> Seeded:
    return await seed(db)


def _table(seeded: Seeded, entity: str) -> list[list[str]]:
    return [HEADERS[entity], *seeded.rows[entity]]


async def test_csv(db: Database, seeded: Seeded, tmp_path: Path) -> None:
    out = await run_export(db, tmp_path, "sessions", "csv")
    assert read_csv(out.path) == _table(seeded, "sessions")
    raw = out.path.read_bytes()
    assert BOB_MARKER.encode() not in raw
    assert "Weekly 東京 check-in".encode() in raw  # UTF-8
    data = out.result["data"]
    assert out.result["success"] is True
    assert (data["format"], data["entity"], data["rows"]) == ("csv", "sessions", 2)
    assert data["bytes"] == len(raw)
    assert data["filename"] == out.path.name
    assert data["filename"].startswith("export-sessions-")
    assert data["filename"].endswith(".csv")
    expires = dt.datetime.fromisoformat(data["expiresAt"])
    assert expires > dt.datetime.now(dt.UTC)


async def test_json(db: Database, seeded: Seeded, tmp_path: Path) -> None:
    out = await run_export(db, tmp_path, "quotes", "json")
    keys, rows = read_json(out.path.read_bytes())
    assert keys == [
        "id",
        "number",
        "title",
        "contact",
        "amount",
        "status",
        "issuedOn",
        "validUntil",
    ]
    assert rows == seeded.rows["quotes"]
    assert BOB_MARKER.encode() not in out.path.read_bytes()


async def test_excel(db: Database, seeded: Seeded, tmp_path: Path) -> None:
    out = await run_export(db, tmp_path, "invoices", "excel")
    assert read_excel(out.path) == {"Invoices": _table(seeded, "invoices")}
    book = openpyxl.load_workbook(out.path)
    sheet = book["Invoices"]
    assert sheet.freeze_panes == "A2"
    amount, issued = sheet["D2"], sheet["F2"]
    assert isinstance(amount.value, int | float)  # a number, its currency in the format
    assert "EUR" in amount.number_format
    assert isinstance(issued.value, dt.datetime)
    book.close()


async def test_docx(db: Database, seeded: Seeded, tmp_path: Path) -> None:
    out = await run_export(db, tmp_path, "contacts", "docx")
    heading, rows = read_docx(out.path)
    assert heading == "Contacts"
    assert rows == _table(seeded, "contacts")
    document = docx.Document(str(out.path))
    header_row = document.tables[0].rows[0]._tr
    assert header_row.trPr is not None
    assert header_row.trPr.find(docx.oxml.ns.qn("w:tblHeader")) is not None
    assert any("Alice Martin" in p.text for p in document.paragraphs)
    with zipfile.ZipFile(out.path) as package:
        assert BOB_MARKER.encode() not in package.read("word/document.xml")


async def test_pdf(db: Database, seeded: Seeded, tmp_path: Path) -> None:
    out = await run_export(db, tmp_path, "invoices", "pdf")
    text = "\n".join(read_pdf(out.path))
    assert "Invoices" in text
    for header in HEADERS["invoices"]:
        assert header in text
    for row in seeded.rows["invoices"]:
        for cell in row:
            assert cell in text
    assert BOB_MARKER not in text


async def test_pdf_repeats_the_header_row_on_every_page(db: Database, tmp_path: Path) -> None:
    await seed(db)
    await add_invoices(db, "alice", 120)
    out = await run_export(db, tmp_path, "invoices", "pdf")
    pages = read_pdf(out.path)
    assert len(pages) >= 3
    for page in pages:
        assert all(header in page for header in HEADERS["invoices"]), page[:200]
    text = "\n".join(pages)
    assert all(f"G-{n:05d}" in text for n in range(120))


def test_pdf_without_dejavu_uses_a_core_font(tmp_path: Path) -> None:
    """No DejaVu: Latin-1 text stays, other characters become '?'."""
    path = tmp_path / "fallback.pdf"
    writer = PdfWriter(path, ExportContext("Zoë", "2026-03-01T00:00:00Z"), font_dir=tmp_path)
    table = TABLES["contacts"]
    writer.begin(table)
    row = (1, "Zoë", "Иванов", "z@example.test", "", "Café", dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    writer.write([row])
    writer.end()
    writer.close()
    text = "\n".join(read_pdf(path))
    assert "Zoë" in text
    assert "Café" in text
    assert "??????" in text
    assert "Иванов" not in text


async def test_all_as_excel_is_one_sheet_per_entity(
    db: Database, seeded: Seeded, tmp_path: Path
) -> None:
    out = await run_export(db, tmp_path, "all", "excel")
    assert out.path.suffix == ".xlsx"
    sheets = read_excel(out.path)
    assert list(sheets) == list(TITLES.values())
    for entity, title in TITLES.items():
        assert sheets[title] == _table(seeded, entity)
    assert out.result["data"]["rows"] == sum(len(rows) for rows in seeded.rows.values())


async def test_all_as_csv_is_a_zip_of_one_file_per_entity(
    db: Database, seeded: Seeded, tmp_path: Path
) -> None:
    out = await run_export(db, tmp_path, "all", "csv")
    assert out.path.name.startswith("export-all-csv-")
    assert out.path.suffix == ".zip"
    with zipfile.ZipFile(out.path) as archive:
        assert archive.namelist() == [f"{entity}.csv" for entity in TITLES]
        for entity in TITLES:
            member = tmp_path / f"{entity}.csv"
            member.write_bytes(archive.read(f"{entity}.csv"))
            assert read_csv(member) == _table(seeded, entity)


async def test_all_as_docx_is_a_zip_of_documents(
    db: Database, seeded: Seeded, tmp_path: Path
) -> None:
    out = await run_export(db, tmp_path, "all", "docx")
    with zipfile.ZipFile(out.path) as archive:
        assert archive.namelist() == [f"{entity}.docx" for entity in TITLES]
        document = docx.Document(io.BytesIO(archive.read("invoices.docx")))
    rows = [[c.text for c in row.cells] for row in document.tables[0].rows]
    assert rows == _table(seeded, "invoices")


async def test_rows_stream_in_batches_in_order(db: Database, tmp_path: Path) -> None:
    await seed(db)
    await add_invoices(db, "alice", 25)
    await add_invoices(db, "bob", 5)
    out = await run_export(db, tmp_path, "invoices", "json", settings=ExportSettings(batch_size=4))
    _, rows = read_json(out.path.read_bytes())
    numbers = [row[1] for row in rows]
    assert numbers == ["F-2026-001", "F-2026-002", *(f"G-{n:05d}" for n in range(25))]
    assert out.result["data"]["rows"] == 27


async def test_a_user_without_rows_gets_the_headers(db: Database, tmp_path: Path) -> None:
    await seed(db)
    out = await run_export(db, tmp_path, "contacts", "csv", user="carol")
    assert read_csv(out.path) == [HEADERS["contacts"]]
    assert out.result["data"]["rows"] == 0


async def test_a_pdf_over_the_row_limit_fails_without_retries(db: Database, tmp_path: Path) -> None:
    await seed(db)
    job = await run_job(
        db,
        tmp_path,
        "invoices",
        "pdf",
        settings=ExportSettings(max_pdf_rows=1),
        environment="production",
    )
    assert job.state is JobState.FAILED
    assert job.attempts == 3
    assert job.attempts_made == 1
    assert job.failed_reason is not None
    assert "at most 1 rows and invoices has 2: export as excel or csv" in job.failed_reason
