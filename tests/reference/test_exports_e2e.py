"""End to end over the HTTP API: Alice asks for an export, follows it live over
Socket.IO until it completes, takes the download URL from the final event
(``result.data.url``), downloads the file and opens it."""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import Api, serve
from tests.api.test_live import Client
from tests.reference.exports_data import (
    BOB_MARKER,
    HEADERS,
    Seeded,
    artifact_store,
    read_csv,
    read_excel,
    seed,
)
from workhorse.store.base import Store
from workhorse_reference.domain.db import Database
from workhorse_reference.exports import ExportProcessor, ExportsExtension


@pytest.fixture
async def domain(tmp_path: Path) -> AsyncIterator[tuple[Database, Seeded]]:
    db = Database(f"sqlite:///{tmp_path / 'reference.db'}")
    await db.create()
    seeded = await seed(db)
    yield db, seeded
    await db.close()


@pytest.fixture
async def api(store: Store, tmp_path: Path, domain: tuple[Database, Seeded]) -> AsyncIterator[Api]:
    artifacts = artifact_store(tmp_path)
    async for running in serve(
        store,
        tmp_path,
        processors=[partial(ExportProcessor, db=domain[0], artifacts=artifacts)],
        extensions=[ExportsExtension(artifacts, sweep_interval=0)],
    ):
        yield running


async def _follow(api: Api, start: Any) -> tuple[list[dict[str, Any]], bytes]:
    """Start an export (``start(http)`` returns the response), follow it live as
    Alice until completed, then download its file."""
    client = Client(api)
    await client.connect(api.tokens["alice"])
    try:
        async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
            r = await start(http)
            assert r.status_code == 202, r.text
            job_id = r.json()["jobId"]
            seen = await client.until(job_id, "completed")
            url = seen[-1]["result"]["data"]["url"]
            download = await http.get(url)  # a plain GET: the signature is the permission
            assert download.status_code == 200, download.text
            return seen, download.content
    finally:
        await client.sio.disconnect()


async def test_excel_export_over_http(api: Api, domain: tuple[Database, Seeded]) -> None:
    seeded = domain[1]
    seen, content = await _follow(
        api,
        lambda http: http.post(
            "/api/export",
            json={"entity": "invoices", "format": "excel"},
            headers=api.headers("alice"),
        ),
    )
    final = seen[-1]
    assert final["result"]["success"] is True
    assert final["result"]["data"]["rows"] == len(seeded.rows["invoices"])
    messages = [m.get("message", "") for m in seen if m["status"] == "active"]
    assert "2 rows to export" in messages
    assert "2 of 2 rows written" in messages
    progress = [m["progress"] for m in seen if "progress" in m]
    assert progress == sorted(progress)

    path = Path(api.settings.db_path).parent / "download.xlsx"
    path.write_bytes(content)
    assert read_excel(path) == {"Invoices": [HEADERS["invoices"], *seeded.rows["invoices"]]}


async def test_csv_export_of_everything_over_http(
    api: Api, domain: tuple[Database, Seeded]
) -> None:
    seeded = domain[1]
    _, content = await _follow(
        api,
        lambda http: http.get(
            "/api/export",
            params={"entity": "all", "format": "csv"},
            headers=api.headers("alice"),
        ),
    )
    folder = Path(api.settings.db_path).parent
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert BOB_MARKER.encode() not in b"".join(archive.read(n) for n in archive.namelist())
        (folder / "contacts.csv").write_bytes(archive.read("contacts.csv"))
    assert read_csv(folder / "contacts.csv") == [HEADERS["contacts"], *seeded.rows["contacts"]]
