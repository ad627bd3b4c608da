"""Export files leave with their jobs: the sweeper removes a file once the store no
longer has its job (removed, cleaned, or dropped by retention), or once its download
URL has expired -- on both stores."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.reference.exports_data import artifact_store, seed
from workhorse import Worker
from workhorse.app import QueueService, default_registry
from workhorse.app.queues import EXPORT_JOB, EXPORTS
from workhorse.job import Job
from workhorse.store.base import Store
from workhorse_reference.domain.db import Database
from workhorse_reference.exports import (
    Artifact,
    ArtifactStore,
    ExportProcessor,
    ExportsExtension,
    Sweeper,
)
from workhorse_reference.exports.sweeper import STALE_WORKDIR

DATA = {"entity": "contacts", "format": "csv", "userId": "alice"}


@pytest.fixture
async def service(store: Store) -> AsyncIterator[QueueService]:
    svc = QueueService(store, default_registry())
    yield svc
    await svc.close()


def _put(artifacts: ArtifactStore, job: Job) -> Artifact:
    source = artifacts.workdir(EXPORTS, job.id) / "export.csv"
    source.write_text("a,b\n")
    return artifacts.put(
        source,
        queue=EXPORTS,
        job_id=job.id,
        filename="export.csv",
        format="csv",
        entity="contacts",
        rows=1,
        owner="alice",
    )


def _exists(artifacts: ArtifactStore, job: Job) -> bool:
    return (artifacts.folder(EXPORTS, job.id) / "export.csv").is_file()


async def test_the_file_of_a_removed_job_is_swept(service: QueueService, tmp_path: Path) -> None:
    artifacts = artifact_store(tmp_path)
    removed, kept = [await service.add(EXPORTS, EXPORT_JOB, DATA) for _ in range(2)]
    _put(artifacts, removed)
    _put(artifacts, kept)
    sweeper = Sweeper(artifacts, service)
    assert await sweeper.sweep() == []  # both jobs exist

    assert await service.queue(EXPORTS).remove(removed.id)
    assert await sweeper.sweep() == [artifacts.folder(EXPORTS, removed.id)]
    assert not artifacts.folder(EXPORTS, removed.id).exists()
    assert _exists(artifacts, kept)


async def test_files_whose_url_expired_are_swept(service: QueueService, tmp_path: Path) -> None:
    artifacts = artifact_store(tmp_path)
    job = await service.add(EXPORTS, EXPORT_JOB, DATA)
    artifact = _put(artifacts, job)
    sweeper = Sweeper(artifacts, service)
    assert await sweeper.sweep(now=artifact.expires_at - 1) == []
    assert await sweeper.sweep(now=artifact.expires_at) == [artifacts.folder(EXPORTS, job.id)]
    assert not _exists(artifacts, job)


async def test_left_over_work_folders_are_swept(service: QueueService, tmp_path: Path) -> None:
    artifacts = artifact_store(tmp_path)
    old = artifacts.workdir(EXPORTS, "1")
    fresh = artifacts.workdir(EXPORTS, "2")
    (old / "part.csv").write_text("x")
    now = artifacts.clock()
    os.utime(old, (now - STALE_WORKDIR - 1, now - STALE_WORKDIR - 1))
    assert await Sweeper(artifacts, service).sweep(now=now) == [old]
    assert fresh.is_dir()


async def _run_exports(service: QueueService, db: Database, artifacts: ArtifactStore) -> None:
    processor = ExportProcessor(service, db=db, artifacts=artifacts)
    worker = Worker(service.queue(EXPORTS), processor.handle)
    await worker.run(burst=True)


async def test_files_follow_the_retention_and_clean_of_their_jobs(
    service: QueueService, tmp_path: Path
) -> None:
    """Real exports kept by ``remove_on_complete=1``: the second completion drops the
    first job, and the sweep its file; a clean of completed jobs, the other."""
    db = Database(f"sqlite:///{tmp_path / 'reference.db'}")
    await db.create()
    try:
        await seed(db)
        artifacts = artifact_store(tmp_path)
        queue = service.queue(EXPORTS)
        first = await service.add(EXPORTS, EXPORT_JOB, DATA, remove_on_complete=1)
        await _run_exports(service, db, artifacts)
        second = await service.add(EXPORTS, EXPORT_JOB, DATA, remove_on_complete=1)
        await _run_exports(service, db, artifacts)
        first_folder = artifacts.folder(EXPORTS, first.id)
        second_folder = artifacts.folder(EXPORTS, second.id)
        assert first_folder.is_dir()
        assert second_folder.is_dir()

        assert await queue.get_job(first.id) is None  # dropped by retention
        sweeper = Sweeper(artifacts, service)
        assert await sweeper.sweep() == [first_folder]
        assert second_folder.is_dir()

        assert await queue.clean("completed") == [second.id]
        assert await sweeper.sweep() == [second_folder]
    finally:
        await db.close()


async def test_the_extension_sweeps_periodically(service: QueueService, tmp_path: Path) -> None:
    artifacts = artifact_store(tmp_path)
    job = await service.add(EXPORTS, EXPORT_JOB, DATA)
    _put(artifacts, job)
    extension = ExportsExtension(artifacts, sweep_interval=0.05)
    await extension.start(service)
    sweeper = extension.sweeper
    assert sweeper is not None
    swept = asyncio.Event()
    sweep = sweeper.sweep

    async def noted_sweep(now: float | None = None) -> list[Path]:
        removed = await sweep(now)
        if removed:
            swept.set()
        return removed

    sweeper.sweep = noted_sweep  # type: ignore[method-assign]  # before the loop's first turn
    try:
        await service.queue(EXPORTS).remove(job.id)
        await asyncio.wait_for(swept.wait(), 10)
        assert not artifacts.folder(EXPORTS, job.id).exists()
    finally:
        await extension.close()


def test_the_sweep_interval_must_not_be_negative(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sweep_interval must be >= 0"):
        ExportsExtension(artifact_store(tmp_path), sweep_interval=-1)
