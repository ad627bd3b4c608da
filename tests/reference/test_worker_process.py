"""``workhorse worker workhorse_reference.worker:create`` in a real process: the
exports queue runs in its pool of worker processes (``QueueConfig.processes``) and
the export is written, with its progress and result, as in-process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
from sqlalchemy import func, select

from tests.api.conftest import SECRET
from workhorse.app.queues import EXPORT_JOB, EXPORTS, default_registry
from workhorse.app.service import QueueService
from workhorse.job import JobState
from workhorse.store.sqlite import SqliteStore
from workhorse_reference.domain.db import Database
from workhorse_reference.domain.models import Contact
from workhorse_reference.seed import seed_demo

ROOT = Path(__file__).resolve().parents[2]


async def test_exports_run_in_the_worker_process_pool(tmp_path: Path) -> None:
    store_path, domain = tmp_path / "jobs.db", f"sqlite:///{tmp_path / 'reference.db'}"
    db = Database(domain)
    await db.create()
    await seed_demo(db)
    async with db.session() as s:
        contacts = await s.scalar(
            select(func.count()).select_from(Contact).where(Contact.user_id == "alice")
        )
    await db.close()
    assert default_registry()[EXPORTS].processes == 2
    store = SqliteStore(store_path)
    service = QueueService(store, default_registry())
    try:
        data = {"entity": "contacts", "format": "excel", "userId": "alice"}
        job = await service.add(EXPORTS, EXPORT_JOB, data, owner="alice")
        env = {
            **os.environ,
            "WORKHORSE_STORE_URL": f"sqlite:///{store_path}",
            "WORKHORSE_DOMAIN_URL": domain,
            "WORKHORSE_EXPORTS_DIR": str(tmp_path / "exports"),
            "WORKHORSE_SECRET_KEY": SECRET,
            "WORKHORSE_ENV": "test",
        }
        command = [sys.executable, "-m", "workhorse.cli", "worker"]
        command += ["workhorse_reference.worker:create", "--queues", EXPORTS, "--burst"]
        worker = await asyncio.to_thread(
            subprocess.run, command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert worker.returncode == 0, worker.stderr
        done = await service.get_job(EXPORTS, job.id)
        assert done.state is JobState.COMPLETED, done.failed_reason
        result = done.returnvalue["data"]
        assert result["rows"] == contacts > 0
        assert done.progress["currentStep"] == "store file"
        (line,) = [x for x in await service.queue(EXPORTS).get_logs(job.id) if "pool" in x]
        pool_pid = int(line.rsplit(" ", 1)[1])
        assert pool_pid != os.getpid()
        files = list((tmp_path / "exports").rglob("*.xlsx"))
        assert [f.name for f in files] == [result["filename"]]
        sheet = openpyxl.load_workbook(files[0], read_only=True).active
        assert sheet is not None and sheet.max_row == contacts + 1
    finally:
        await service.close()
        await store.close()
