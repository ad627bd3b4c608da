"""Who may enqueue what through the API: users only for themselves, maintenance
queues only for admins."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import BaseModel, ConfigDict, Field

from tests.api.conftest import Api, serve
from workhorse.app.registry import QueueConfig, QueueRegistry
from workhorse.store.base import Store


class ForUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: str = Field(alias="userId")


class ForUserOrAll(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: str | None = Field(default=None, alias="userId")


REGISTRY = QueueRegistry(
    {
        "sync": QueueConfig(payloads={"sync": ForUser}),
        "generate": QueueConfig(payloads={"generate": ForUserOrAll}),
        "maintenance": QueueConfig(admin_only=True),
        "mail": QueueConfig(admin_jobs=frozenset({"sweep"})),
    }
)


@pytest.fixture
async def api(store: Store, tmp_path: Path) -> AsyncIterator[Api]:
    async for running in serve(store, tmp_path, registry=REGISTRY):
        yield running


async def _post(api: Api, who: str, queue: str, name: str, data: object) -> httpx.Response:
    async with httpx.AsyncClient(base_url=api.url) as http:
        return await http.post(
            f"/api/queues/{queue}/jobs", json={"name": name, "data": data}, headers=api.headers(who)
        )


async def test_a_user_enqueues_for_themselves_only(api: Api) -> None:
    mine = await _post(api, "alice", "sync", "sync", {"userId": "alice"})
    assert mine.status_code == 202
    theirs = await _post(api, "alice", "sync", "sync", {"userId": "bob"})
    assert theirs.status_code == 403
    assert theirs.json()["detail"][0]["loc"] == ["body", "data", "userId"]
    jobs = await api.service.find_jobs(None, limit=10, queues=["sync"])
    assert [j.data for j in jobs] == [{"userId": "alice"}]


async def test_an_admin_enqueues_for_anyone(api: Api) -> None:
    r = await _post(api, "admin", "sync", "sync", {"userId": "bob"})
    assert r.status_code == 202
    everyone = await _post(api, "admin", "generate", "generate", {})
    assert everyone.status_code == 202
    job = await api.service.get_job("generate", everyone.json()["jobId"])
    assert job.data == {"userId": None}  # all users
    required = await _post(api, "admin", "sync", "sync", {})
    assert required.status_code == 202
    job = await api.service.get_job("sync", required.json()["jobId"])
    assert job.data == {"userId": "admin"}


async def test_an_optional_user_is_filled_with_the_caller(api: Api) -> None:
    r = await _post(api, "bob", "generate", "generate", {})
    assert r.status_code == 202
    job = await api.service.get_job("generate", r.json()["jobId"])
    assert job.data == {"userId": "bob"}
    assert job.owner == "bob"


async def test_maintenance_queues_are_for_admins(api: Api) -> None:
    refused = await _post(api, "alice", "maintenance", "cleanup", {})
    assert refused.status_code == 403
    assert "only admins" in refused.json()["detail"]
    assert await api.service.find_jobs(None, limit=10, queues=["maintenance"]) == []
    allowed = await _post(api, "admin", "maintenance", "cleanup", {})
    assert allowed.status_code == 202


async def test_some_job_names_are_for_admins(api: Api) -> None:
    refused = await _post(api, "bob", "mail", "sweep", {})
    assert refused.status_code == 403
    assert "'sweep' jobs" in refused.json()["detail"]
    assert (await _post(api, "bob", "mail", "send", {})).status_code == 202
    assert (await _post(api, "admin", "mail", "sweep", {})).status_code == 202
    names = sorted(j.name for j in await api.service.find_jobs(None, limit=10, queues=["mail"]))
    assert names == ["send", "sweep"]
