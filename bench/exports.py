"""Export throughput and memory: rows/s and peak RSS of a real export job.

    .venv/bin/python bench/exports.py --rows 100000 300000 [--formats csv,excel]
        [--entity invoices] [--batch 1000]

For each row count, a SQLite domain database in a temporary directory gets that
many rows for one user (and a few for another); then each format is exported by
the real :class:`ExportProcessor` under a burst worker on an embedded job store, in
a fresh subprocess, which reports the job's rows/s (from its start to its finish as
stored on the job) and its peak resident memory (``ru_maxrss``), beside the memory
of the same process before the export (imports, store, database engine).
Target: peak RSS below 150 MB whatever the row count.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from workhorse_reference.domain.db import Database
from workhorse_reference.domain.models import Contact, Invoice, Quote, Session, User

TARGET_MB = 150
USER = "bench-user"
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
CHUNK = 10_000


def _rows(entity: str, n: int, start: int, contacts: list[int]) -> list[dict[str, object]]:
    when = [T0 + dt.timedelta(minutes=i) for i in range(start, start + n)]
    if entity == "invoices":
        return [
            {
                "user_id": USER,
                "contact_id": contacts[i % len(contacts)],
                "number": f"F-{start + i:07d}",
                "amount_cents": 1999 + i,
                "status": "sent",
                "issued_on": when[i],
                "due_on": when[i] + dt.timedelta(days=30),
            }
            for i in range(n)
        ]
    if entity == "quotes":
        return [
            {
                "user_id": USER,
                "contact_id": contacts[i % len(contacts)],
                "number": f"Q-{start + i:07d}",
                "title": f"Coaching package n°{start + i} - Zoë",
                "amount_cents": 4999 + i,
                "issued_on": when[i],
            }
            for i in range(n)
        ]
    if entity == "sessions":
        return [
            {
                "user_id": USER,
                "title": f"Séance {start + i} avec Zoë",
                "description": "Objectifs du trimestre et plan de suivi",
                "location": "Zürich",
                "starts_at": when[i],
                "ends_at": when[i] + dt.timedelta(hours=1),
            }
            for i in range(n)
        ]
    return [
        {
            "user_id": USER,
            "first_name": "Zoë",
            "last_name": f"Ødegaard {start + i:07d}",
            "email": f"c{start + i}@example.test",
            "company": "Fjord AS",
        }
        for i in range(n)
    ]


async def fill(url: str, entity: str, rows: int) -> None:
    """A fresh domain database with ``rows`` rows of ``entity`` for USER."""
    model = {"invoices": Invoice, "quotes": Quote, "sessions": Session, "contacts": Contact}
    db = Database(url)
    await db.create()
    async with db.session() as s:
        s.add_all(
            [
                User(id=USER, email="bench@example.test", name="Bench"),
                User(id="other", email="o@example.test", name="Other"),
            ]
        )
        await s.flush()
        people = [Contact(user_id=USER, first_name="Anne", last_name=f"B{i}") for i in range(50)]
        s.add_all(people)
        await s.flush()
        contacts = [c.id for c in people]
    for start in range(0, rows, CHUNK):
        async with db.session() as s:
            batch = _rows(entity, min(CHUNK, rows - start), start, contacts)
            await s.execute(insert(model[entity]), batch)
    await db.close()


async def export_once(url: str, work: Path, entity: str, fmt: str, batch: int) -> dict[str, Any]:
    """Run one export job (in the subprocess); what it measured."""
    from workhorse import Worker
    from workhorse.app import QueueService, default_registry
    from workhorse.app.queues import EXPORT_JOB, EXPORTS
    from workhorse.store.sqlite import SqliteStore
    from workhorse_reference.exports import ArtifactStore, ExportProcessor, ExportSettings

    db = Database(url)
    store = SqliteStore(work / f"jobs-{fmt}.db")
    service = QueueService(store, default_registry())
    artifacts = ArtifactStore(work / "exports", "bench-secret-" + "x" * 32)
    settings = ExportSettings(batch_size=batch, max_pdf_rows=10**9)
    processor = ExportProcessor(service, db=db, artifacts=artifacts, settings=settings)
    try:
        # Load everything the export touches before the baseline is taken.
        await db.create()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        job = await service.add(
            EXPORTS, EXPORT_JOB, {"entity": entity, "format": fmt, "userId": USER}
        )
        await Worker(service.queue(EXPORTS), processor.handle).run(burst=True)
        job = await job.refresh()
        assert job.returnvalue and job.returnvalue["success"], job.failed_reason
        data = job.returnvalue["data"]
        seconds = ((job.finished_at or 0) - (job.started_at or 0)) / 1000
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return {
            "rows": data["rows"],
            "bytes": data["bytes"],
            "seconds": seconds,
            "baseline_mb": before / 1024,
            "peak_mb": peak / 1024,
        }
    finally:
        await service.close()
        await store.close()
        await db.close()


def child(args: argparse.Namespace) -> None:
    result = asyncio.run(
        export_once(args.db, Path(args.work), args.entity, args.format, args.batch)
    )
    print(json.dumps(result))


def measure(url: str, work: Path, entity: str, fmt: str, batch: int) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--child",
        "--db",
        url,
        "--work",
        str(work),
        "--entity",
        entity,
        "--format",
        fmt,
        "--batch",
        str(batch),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"export {fmt} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000])
    parser.add_argument("--formats", default="csv,excel")
    parser.add_argument(
        "--entity", default="invoices", choices=["invoices", "quotes", "sessions", "contacts"]
    )
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--format", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    print(
        f"{'rows':>9} {'format':<7} {'rows/s':>9} {'seconds':>8} {'file MB':>8} "
        f"{'RSS before':>10} {'peak RSS':>9}  target < {TARGET_MB} MB"
    )
    worst = 0.0
    for rows in args.rows:
        with tempfile.TemporaryDirectory(prefix="workhorse-bench-exports-") as tmp:
            work = Path(tmp)
            url = f"sqlite:///{work / 'reference.db'}"
            asyncio.run(fill(url, args.entity, rows))
            for fmt in args.formats.split(","):
                r = measure(url, work, args.entity, fmt, args.batch)
                rate = float(r["rows"]) / max(float(r["seconds"]), 1e-9)
                worst = max(worst, float(r["peak_mb"]))
                print(
                    f"{r['rows']:>9,} {fmt:<7} {rate:>9,.0f} {float(r['seconds']):>8.2f} "
                    f"{int(r['bytes']) / 2**20:>8.1f} {float(r['baseline_mb']):>8.1f} MB "
                    f"{float(r['peak_mb']):>6.1f} MB",
                    flush=True,
                )
    verdict = "ok" if worst < TARGET_MB else "OVER TARGET"
    print(f"peak RSS, worst case: {worst:.1f} MB (target < {TARGET_MB} MB): {verdict}")


if __name__ == "__main__":
    main()
