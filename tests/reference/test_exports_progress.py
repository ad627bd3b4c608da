"""The export's step progress, read from the queue's event stream: ``query rows``,
``write file`` by rows written out of rows counted, ``store file``."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from tests.reference.exports_data import add_invoices, run_export, seed
from workhorse.app.queues import EXPORTS
from workhorse.store.sqlite import SqliteStore
from workhorse_reference.domain.db import Database
from workhorse_reference.exports import ExportSettings
from workhorse_reference.exports.export import ExportRun
from workhorse_reference.exports.formats import Format
from workhorse_reference.exports.tables import TABLES, Table
from workhorse_reference.exports.values import Cell
from workhorse_reference.exports.writers.base import ExportContext


async def _progress_events(tmp_path: Path, job_id: str) -> list[dict[str, Any]]:
    store = SqliteStore(tmp_path / "jobs.db")
    try:
        events = await store.read_events(EXPORTS, "0", 10_000)
    finally:
        await store.close()
    return [
        orjson.loads(e.fields["data"])
        for e in events
        if e.job_id == job_id and e.event == "progress"
    ]


async def test_steps_and_rows_written(db: Database, tmp_path: Path) -> None:
    await seed(db)
    await add_invoices(db, "alice", 30)
    total, batch = 32, 7
    out = await run_export(
        db, tmp_path, "invoices", "csv", settings=ExportSettings(batch_size=batch)
    )
    seen = await _progress_events(tmp_path, out.job.id)

    steps = [p["currentStep"] for p in seen]
    assert steps == sorted(steps, key=["query rows", "write file", "store file"].index)
    assert set(steps) == {"query rows", "write file", "store file"}
    assert all(p["totalSteps"] == 3 for p in seen)
    query = [p for p in seen if p["currentStep"] == "query rows"]
    assert query[-1]["stepProgress"] == 100
    assert query[-1]["message"] == f"{total} rows to export"

    writes = [p for p in seen if p["currentStep"] == "write file"][1:]  # after the start
    written = [*range(batch, total, batch), total]
    assert [p["message"] for p in writes] == [f"{n} of {total} rows written" for n in written]
    assert [p["stepProgress"] for p in writes] == [round(n * 100 / total, 2) for n in written]

    overall = [p["overallProgress"] for p in seen]
    assert overall == sorted(overall)
    assert overall[-1] == 100
    assert seen[-1]["message"] == "export ready"


class ThreadRecorder:
    """A writer that notes the thread each of its calls runs in."""

    def __init__(self, threads: list[int], path: Path, context: ExportContext) -> None:
        self.threads = threads
        self.threads.append(threading.get_ident())

    def begin(self, table: Table) -> None:
        self.threads.append(threading.get_ident())

    def write(self, rows: Sequence[tuple[Cell, ...]]) -> None:
        self.threads.append(threading.get_ident())

    def end(self) -> None:
        self.threads.append(threading.get_ident())

    def close(self) -> None:
        self.threads.append(threading.get_ident())

    def abort(self) -> None:
        pass


async def test_batches_are_written_off_the_event_loop(db: Database, tmp_path: Path) -> None:
    await seed(db)
    await add_invoices(db, "alice", 10)
    threads: list[int] = []
    fmt = Format("record", "txt", "text/plain", partial(ThreadRecorder, threads))
    reported: list[int] = []

    async def on_rows(n: int) -> None:
        reported.append(n)

    run = ExportRun(
        db,
        fmt,
        [TABLES["invoices"]],
        "alice",
        context=ExportContext("alice", "now"),
        batch_size=5,
        on_rows=on_rows,
    )
    written = await run.write(tmp_path, "out.txt")
    assert written.rows == 12
    assert reported == [5, 10, 12]
    assert len(threads) == 7  # created, begun, 3 batches, ended, closed
    assert threading.get_ident() not in threads
