"""The demo page at ``/`` in a real browser (Debian's Chromium, headless): start an
export as a demo user, watch it complete live, and the real file downloads."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser

from tests.api.conftest import SECRET, Api, serve
from workhorse.store.base import Store
from workhorse_reference.domain.db import Database
from workhorse_reference.exports import ArtifactStore, ExportProcessor, ExportsExtension
from workhorse_reference.seed import seed_demo
from workhorse_reference.web.page import DemoPage


@pytest.fixture(params=["sqlite"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def demo(store: Store, tmp_path: Path) -> AsyncIterator[Api]:
    db = Database(f"sqlite:///{tmp_path / 'reference.db'}")
    await db.create()
    await seed_demo(db)
    artifacts = ArtifactStore(tmp_path / "exports", SECRET)
    exports = partial(ExportProcessor, db=db, artifacts=artifacts)
    extensions = [ExportsExtension(artifacts), DemoPage()]
    async for api in serve(store, tmp_path, [exports], extensions=extensions):
        yield api
    await db.close()


async def test_demo_token_is_only_for_demo_users(demo: Api) -> None:
    async with httpx.AsyncClient(base_url=demo.url) as http:
        ok = await http.post("/demo/token", json={"user": "bob"})
        refused = await http.post("/demo/token", json={"user": "admin"})
    assert ok.status_code == 200
    assert ok.json()["user"] == "bob"
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "user"]


async def test_an_export_runs_live_in_the_page(demo: Api, chromium: Browser) -> None:
    page = await chromium.new_page()
    await page.goto(demo.url + "/")
    await page.select_option("#user", "bob")
    await page.select_option("#entity", "contacts")
    await page.select_option("#format", "json")
    async with page.expect_download(timeout=20_000) as downloading:
        await page.click("#start")
    download = await downloading.value
    row = page.locator(".job").first
    await row.locator(".badge.completed").wait_for(timeout=15_000)
    assert await row.locator(".what").inner_text() == "bob: contacts as json"
    assert await row.locator("progress").get_attribute("value") == "100"
    job_id = await row.get_attribute("data-job-id")
    assert job_id
    job = await demo.service.get_job("exports", job_id)
    assert job.owner == "bob"
    assert job.data == {"entity": "contacts", "format": "json", "userId": "bob"}
    # The file the browser saved is bob's contacts, as the job says.
    assert download.suggested_filename == job.returnvalue["data"]["filename"]
    saved = await download.path()
    contacts = json.loads(await asyncio.to_thread(saved.read_text, "utf-8"))
    assert len(contacts) == job.returnvalue["data"]["rows"] > 0
    link = row.locator("a.download")
    assert await link.inner_text() == f"Download {download.suggested_filename}"


async def test_the_page_asks_for_the_link_by_e_mail(demo: Api, chromium: Browser) -> None:
    page = await chromium.new_page()
    await page.goto(demo.url + "/")
    await page.select_option("#entity", "quotes")
    await page.check("#notify")
    async with page.expect_download(timeout=20_000):
        await page.click("#start")
    row = page.locator(".job").first
    await row.locator(".badge.completed").wait_for(timeout=15_000)
    job_id = await row.get_attribute("data-job-id")
    assert job_id
    job = await demo.service.get_job("exports", job_id)
    assert job.data["notify"] is True
    # This server has no absolute link base, so the page says why no e-mail went out.
    reason = job.returnvalue["data"]["emailReason"]
    assert "WORKHORSE_EXPORTS_BASE_URL" in reason
    assert f"Not e-mailed: {reason}" in await row.locator(".message").inner_text()
