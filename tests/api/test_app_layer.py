"""Settings, queue registry and queue service (on both stores)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from workhorse import Queue
from workhorse.app import (
    PayloadInvalid,
    QueueConfig,
    QueueRegistry,
    QueueService,
    Settings,
    UnknownQueue,
    default_registry,
)
from workhorse.app.queues import EXPORT_JOB, EXPORTS
from workhorse.app.registry import RateLimitConfig
from workhorse.errors import JobNotFound, StoreUnavailable
from workhorse.job import JobState
from workhorse.store import connect
from workhorse.store.base import Store

EXPORT = {"entity": "sessions", "format": "csv", "userId": "alice"}


@pytest.fixture
async def service(store: Store) -> AsyncIterator[QueueService]:
    svc = QueueService(store, default_registry())
    yield svc
    await svc.close()


# ---- settings -------------------------------------------------------------------
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith(("REDIS_", "WORKHORSE_")):
            monkeypatch.delenv(key)


def test_settings_without_redis_select_the_embedded_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _clean_env(monkeypatch)
    assert Settings().url() == "sqlite:///.workhorse/workhorse.db"
    monkeypatch.setenv("WORKHORSE_DB_PATH", "data/x.db")
    assert Settings().url() == "sqlite:///data/x.db"


def test_settings_use_the_seed_redis_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    _clean_env(monkeypatch)
    monkeypatch.setenv("REDIS_ENABLED", "true")
    assert Settings().url() == "redis://redis:6379/0"  # the seed's default host
    monkeypatch.setenv("REDIS_HOST", "cache.internal")
    monkeypatch.setenv("REDIS_PORT", "6380")
    monkeypatch.setenv("REDIS_PASSWORD", "p@ss")
    assert Settings().url() == "redis://:p%40ss@cache.internal:6380/0"
    monkeypatch.setenv("REDIS_ENABLED", "false")
    assert Settings().url().startswith("sqlite:///")
    monkeypatch.setenv("WORKHORSE_STORE_URL", "redis://elsewhere:1/2")
    assert Settings().url() == "redis://elsewhere:1/2"


def test_settings_reject_a_bad_port_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    _clean_env(monkeypatch)
    monkeypatch.setenv("REDIS_PORT", "seventy")
    with pytest.raises(ValidationError, match="REDIS_PORT"):
        Settings()


async def test_unreachable_redis_names_the_address_tried() -> None:
    settings = Settings(REDIS_HOST="127.0.0.1", REDIS_PORT=1)
    store = connect(settings.url(), retries=0)
    try:
        with pytest.raises(StoreUnavailable, match=r"127\.0\.0\.1:1"):
            await store.ping()
    finally:
        await store.close()


def test_generated_secret_is_kept_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(db_path=str(tmp_path / "d" / "w.db"))
    with pytest.raises(LookupError, match="WORKHORSE_SECRET_KEY"):
        settings.secret(create=False)
    key = settings.secret()
    assert (tmp_path / "d" / "secret.key").stat().st_mode & 0o777 == 0o600
    assert Settings(db_path=str(tmp_path / "d" / "w.db")).secret(create=False) == key
    assert Settings(secret_key="k" * 40, db_path=str(tmp_path / "d" / "w.db")).secret() == "k" * 40


# ---- registry -------------------------------------------------------------------
def test_registry_declares_the_reference_queues() -> None:
    registry = default_registry()
    assert set(registry) == {
        "exports",
        "google-calendar-sync",
        "scheduled-emails",
        "workflow-tasks",
        "recurring-sessions",
        "audit-cleanup",
    }
    assert registry["exports"].attempts == 3
    assert registry["exports"].timeout == 300
    assert registry["google-calendar-sync"].job_options().attempts == 5


def test_environment_overrides_apply_per_environment() -> None:
    registry = QueueRegistry(
        {"a": QueueConfig(attempts=4), "b": QueueConfig(attempts=2, concurrency=3)},
        environments={"development": {"*": {"attempts": 1}, "b": {"concurrency": 1}}},
    )
    dev = registry.for_environment("development")
    assert (dev["a"].attempts, dev["b"].attempts, dev["b"].concurrency) == (1, 1, 1)
    prod = registry.for_environment("production")
    assert (prod["a"].attempts, prod["b"].concurrency) == (4, 3)
    assert default_registry().for_environment("development")["exports"].attempts == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"attempts": 0}, "attempts"),
        ({"concurrency": 0}, "concurrency"),
        ({"timeout": -1}, "timeout"),
        ({"priority": "urgent"}, "priority"),
    ],
)
def test_bad_queue_config_names_the_setting(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        QueueConfig(**kwargs)  # type: ignore[arg-type]


def test_overrides_of_unknown_settings_or_queues_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown queue setting"):
        QueueRegistry({"a": QueueConfig()}, {"dev": {"a": {"retries": 1}}})
    with pytest.raises(ValueError, match="unknown queue 'z'"):
        QueueRegistry({"a": QueueConfig()}, {"dev": {"z": {"attempts": 1}}})


# ---- service --------------------------------------------------------------------
async def test_add_applies_queue_defaults_and_reports_status(service: QueueService) -> None:
    job = await service.add(EXPORTS, EXPORT_JOB, EXPORT, owner="alice")
    status = await service.get_job_status(EXPORTS, job.id)
    assert status == {
        "id": job.id,
        "name": "export",
        "state": "waiting",
        "progress": None,
        "data": EXPORT,
        "returnvalue": None,
        "failedReason": None,
    }
    stored = await service.get_job(EXPORTS, job.id)
    assert stored.attempts == 3
    assert stored.timeout == 300
    assert stored.owner == "alice"


async def test_bad_payload_names_the_field_and_stores_nothing(service: QueueService) -> None:
    with pytest.raises(PayloadInvalid) as info:
        await service.add(EXPORTS, EXPORT_JOB, {**EXPORT, "format": "gif"})
    assert [e["field"] for e in info.value.errors] == ["data.format"]
    with pytest.raises(PayloadInvalid, match="name: unknown job"):
        await service.add(EXPORTS, "nope", EXPORT)
    with pytest.raises(PayloadInvalid, match=r"data\.userId"):
        await service.add_bulk(EXPORTS, [(EXPORT_JOB, EXPORT), (EXPORT_JOB, {"entity": "all"})])
    counts = await service.queue(EXPORTS).counts()
    assert sum(counts.values()) == 0


async def test_unknown_queue_and_job(service: QueueService) -> None:
    with pytest.raises(UnknownQueue, match="unknown queue 'nope'; known: audit-cleanup"):
        await service.add("nope", "x", {})
    with pytest.raises(JobNotFound):
        await service.get_job_status(EXPORTS, "missing-1")


async def test_add_bulk_and_find_jobs_by_owner(service: QueueService) -> None:
    await service.add_bulk(EXPORTS, [(EXPORT_JOB, EXPORT)] * 3, owner="alice")
    await service.add(EXPORTS, EXPORT_JOB, {**EXPORT, "userId": "bob"}, owner="bob")
    await service.add("audit-cleanup", "cleanup", {"daysToKeep": 5}, owner="alice")
    alice = await service.find_jobs("alice")
    assert len(alice) == 4
    assert {j.owner for j in alice} == {"alice"}
    assert len(await service.find_jobs(None)) == 5
    assert len(await service.find_jobs("alice", limit=2)) == 2
    assert await service.find_jobs("alice", states=[JobState.COMPLETED]) == []


async def test_parse_revalidates_at_dequeue(service: QueueService) -> None:
    # A job stored behind the service's back (older producer) with a bad payload.
    raw = await service.queue(EXPORTS).add(EXPORT_JOB, {"entity": "planets"})
    with pytest.raises(PayloadInvalid, match=r"data\.entity"):
        service.parse(raw)
    good = await service.add(EXPORTS, EXPORT_JOB, EXPORT)
    parsed = service.parse(good)
    assert parsed.entity == "sessions"  # type: ignore[union-attr]


async def test_registry_rate_limit_is_stored_on_the_queue(queue: Queue) -> None:
    await QueueConfig(rate_limit=RateLimitConfig(max=5, duration=2.0)).apply_limits(queue)
    limits = await queue.limits()
    assert limits["rate_max"] == 5
    assert limits["rate_per"] == 2000
    await QueueConfig().apply_limits(queue)
    assert "rate_max" not in await queue.limits()
