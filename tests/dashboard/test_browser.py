"""The dashboard in a real browser: Debian's Chromium, headless, driven by
Playwright, against a real server on a real store.  Each test runs on one store
(alternating), which keeps the run short.

Tests name the server fixture before ``chromium``: fixtures are torn down in reverse,
so the browser (and the live feed it holds open) goes before the server stops."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.api.conftest import SECRET
from tests.conftest import REDIS_URL, delete_prefix, require_redis
from tests.dashboard.conftest import BASE, PASSWORDS, Dash, dashboard
from tests.dashboard.jobs import export_data, failed_jobs
from workhorse import Queue, RedisStore, Worker
from workhorse.dashboard.session import COOKIE, issue
from workhorse.dashboard.users import DashboardUser
from workhorse.job import Job, JobState
from workhorse.store.base import Store
from workhorse.store.sqlite import SqliteStore

WAIT_MS = 15_000  # how long an expectation may wait for the page (never asserted)


@pytest.fixture
async def sqlite_dash(
    tmp_path: Path, users: list[DashboardUser]
) -> AsyncIterator[tuple[Dash, Callable[[], Store]]]:
    path = tmp_path / "browser.db"
    made: list[SqliteStore] = []

    def other() -> Store:  # another process's connection to the same file
        made.append(SqliteStore(path))
        return made[-1]

    store = SqliteStore(path)
    async for dash in dashboard(store, tmp_path, users):
        yield dash, other
    for s in made:
        await s.close()
    await store.close()


@pytest.fixture
async def redis_dash(
    tmp_path: Path, users: list[DashboardUser], prefix: str
) -> AsyncIterator[tuple[Dash, Callable[[], Store]]]:
    require_redis()
    made: list[RedisStore] = []

    def other() -> Store:
        made.append(RedisStore(REDIS_URL, prefix=prefix))
        return made[-1]

    store = RedisStore(REDIS_URL, prefix=prefix)
    async for dash in dashboard(store, tmp_path, users):
        yield dash, other
    for s in made:
        await s.close()
    await store.close()
    delete_prefix(prefix)


async def signed_in(chromium: Browser, dash: Dash, user: str = "ops") -> Page:
    """A page with the session a login makes (test_login_* go through the form)."""
    context: BrowserContext = await chromium.new_context(viewport={"width": 1400, "height": 900})
    cookie, _ = issue(SECRET, user, "admin", "password", 3600)
    await context.add_cookies([{"name": COOKIE, "value": cookie, "url": dash.url + BASE}])
    page = await context.new_page()
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    return page


async def live(page: Page) -> None:
    """Wait until the page follows the live feed."""
    await expect(page.locator("[data-live-status]")).to_have_class(
        "live-status on", timeout=WAIT_MS
    )


async def test_login_is_refused_with_a_bad_password_then_accepted(
    sqlite_dash: tuple[Dash, Any], chromium: Browser
) -> None:
    dash, _ = sqlite_dash
    page = await chromium.new_page()
    await page.goto(dash.url + BASE + "/dead")
    assert page.url.startswith(dash.url + BASE + "/login")
    await page.get_by_label("User").fill("ops")
    await page.get_by_label("Password").fill("not-the-password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("not recognised")
    assert "/login" in page.url
    await page.get_by_label("Password").fill(PASSWORDS["ops"])
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Dead letters")
    assert page.url == dash.url + BASE + "/dead"  # back where the login started


async def test_counts_change_live_when_a_job_is_added_elsewhere(
    redis_dash: tuple[Dash, Callable[[], Store]], chromium: Browser
) -> None:
    dash, other = redis_dash
    page = await signed_in(chromium, dash)
    await page.goto(dash.url + BASE)
    await live(page)
    waiting = page.locator('[data-count="exports:waiting"]')
    await expect(waiting).to_have_text("0")
    await page.evaluate("window.stillTheSamePage = true")
    outside = Queue("exports", other())
    await outside.add("export", export_data())
    await outside.add("export", export_data())
    await expect(waiting).to_have_text("2", timeout=WAIT_MS)
    await expect(page.locator('[data-total="waiting"]')).to_have_text("2", timeout=WAIT_MS)
    await outside.pause()
    paused = page.locator('tr[data-queue="exports"] .badge.paused')
    await expect(paused).to_be_visible(timeout=WAIT_MS)
    assert await page.evaluate("window.stillTheSamePage") is True  # updated, not reloaded


async def test_search_finds_a_job_by_a_value_in_its_data(
    sqlite_dash: tuple[Dash, Any], chromium: Browser
) -> None:
    dash, _ = sqlite_dash
    queue = dash.api.service.queue("exports")
    for user in ("u-1", "u-2", "u-3"):
        await queue.add("export", export_data("quotes", user))
    wanted = await queue.add("export", export_data("invoices", "u-77"))
    page = await signed_in(chromium, dash)
    await page.goto(dash.url + BASE + "/jobs?queue=exports")
    await expect(page.locator("[data-row]")).to_have_count(4)
    await page.keyboard.press("/")  # focuses the search box
    await page.keyboard.type("userId=u-77")
    await page.keyboard.press("Enter")
    rows = page.locator("[data-row]")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-row", f"exports:{wanted.id}")
    await expect(page.locator("[data-scanned]")).to_contain_text("Scanned 4 of 4")
    await rows.first.get_by_role("link", name=wanted.id).click()
    await expect(page.locator("[data-job-data]")).to_contain_text('"u-77"')


class FailsOnce:
    """Fails the first time it sees a job; succeeds from then on."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    async def handle(self, job: Job) -> Any:
        if job.id not in self.seen:
            self.seen.add(job.id)
            raise RuntimeError("the mail server refused the connection")
        await job.log("sent on the second try")
        return {"sent": True}


async def test_retry_a_failed_job_and_see_it_complete(
    redis_dash: tuple[Dash, Any], chromium: Browser
) -> None:
    dash, _ = redis_dash
    queue = dash.api.service.queue("scheduled-emails")
    handler = FailsOnce()
    job = await queue.add("send", {"emailId": "em-1", "to": "a@acme.example"}, attempts=1)
    worker = Worker(queue, handler.handle)
    runner = asyncio.create_task(worker.run())
    try:
        failed = await queue.wait_finished(job.id)
        assert failed.state is JobState.FAILED
        page = await signed_in(chromium, dash)
        await page.goto(f"{dash.url}{BASE}/job/scheduled-emails/{job.id}")
        await live(page)
        await expect(page.locator(".attempt-error")).to_contain_text("refused the connection")
        await page.get_by_role("button", name="Retry").click()
        await expect(page.locator("[data-flash]")).to_contain_text("is waiting again")
        # The worker runs it; the page learns it from the live feed.
        await expect(page.locator(".job-actions .badge.completed")).to_be_visible(timeout=WAIT_MS)
        await expect(page.locator("[data-logs]")).to_contain_text("sent on the second try")
    finally:
        await worker.close()
        await runner
    assert await queue.get_state(job.id) is JobState.COMPLETED
    (entry,) = await dash.audit.recent()
    assert (entry.actor, entry.action) == ("ops", "retry")


async def test_redrive_a_dead_letter(sqlite_dash: tuple[Dash, Any], chromium: Browser) -> None:
    dash, _ = sqlite_dash
    queue = dash.api.service.queue("exports")
    keep, redrive = await failed_jobs(queue, export_data("quotes"), export_data("invoices"))
    page = await signed_in(chromium, dash)
    await page.goto(dash.url + BASE + "/dead?queue=exports")
    await live(page)
    rows = page.locator("[data-row]")
    await expect(rows).to_have_count(2)
    await page.get_by_role("button", name=f"Redrive job {redrive.id}").click()
    await expect(page.locator("[data-flash]")).to_contain_text(f"Dead letter {redrive.id}")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-row", f"exports:{keep.id}")
    assert await queue.get_state(redrive.id) is JobState.WAITING
    assert await queue.dead_letter_count() == 1


async def test_edit_a_failed_jobs_data_in_the_page(
    redis_dash: tuple[Dash, Any], chromium: Browser
) -> None:
    dash, _ = redis_dash
    queue = dash.api.service.queue("exports")
    (job,) = await failed_jobs(queue, export_data("quotes"))
    page = await signed_in(chromium, dash)
    await page.goto(f"{dash.url}{BASE}/job/exports/{job.id}")
    await page.get_by_text("Edit data").click()
    await page.get_by_label("Data (JSON)").fill('{"entity": "planets"}')
    await page.get_by_role("button", name="Save data").click()
    await expect(page.get_by_role("alert")).to_contain_text("data.entity")
    await page.go_back()
    await page.get_by_text("Edit data").click()
    new = '{"entity": "invoices", "format": "pdf", "userId": "u-1"}'
    await page.get_by_label("Data (JSON)").fill(new)
    await page.get_by_role("button", name="Save data").click()
    await expect(page.locator("[data-job-data]")).to_contain_text('"invoices"')
    edited = await queue.get_job(job.id)
    assert edited is not None and edited.data["entity"] == "invoices"


async def test_a_read_only_user_sees_but_cannot_act(
    sqlite_dash: tuple[Dash, Any], chromium: Browser
) -> None:
    dash, _ = sqlite_dash
    queue = dash.api.service.queue("exports")
    (job,) = await failed_jobs(queue, export_data("quotes"))
    page = await chromium.new_page()
    await page.goto(dash.url + BASE + "/login")
    await page.get_by_label("User").fill("watcher")
    await page.get_by_label("Password").fill(PASSWORDS["watcher"])
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator(".who")).to_contain_text("viewer")
    await page.goto(f"{dash.url}{BASE}/job/exports/{job.id}")
    await expect(page.locator(".attempt-error")).to_contain_text("renderer crashed")
    assert await page.get_by_role("button").all_inner_texts() == ["Sign out"]
    await page.goto(dash.url + BASE + "/dead")
    await expect(page.locator("[data-row]")).to_have_count(1)
    assert await page.locator("form[action*='/act/']").count() == 0
    # Even a hand-made request with the page's own CSRF token is refused.
    token = await page.locator("input[name=csrf]").first.get_attribute("value")
    response = await page.request.post(
        f"{dash.url}{BASE}/act/retry",
        form={"csrf": token or "", "queue": "exports", "job": job.id},
    )
    assert response.status == 403
    assert await queue.get_state(job.id) is JobState.FAILED
    assert await dash.audit.recent() == []


class Gate:
    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.go = asyncio.Event()

    async def handle(self, job: Job) -> Any:
        await job.update_progress({"currentStep": "write file", "overallProgress": 20})
        self.started.set()
        await self.go.wait()
        await job.log("page 9: 412 rows written")
        await job.update_progress({"currentStep": "write file", "overallProgress": 80})
        await self.go.wait()
        return {"success": True, "data": {"url": "/files/x.csv", "filename": "x.csv"}}


async def test_the_open_job_follows_progress_and_logs_live(
    sqlite_dash: tuple[Dash, Any], chromium: Browser
) -> None:
    dash, _ = sqlite_dash
    queue = dash.api.service.queue("exports")
    gate = Gate()
    worker = Worker(queue, gate.handle)
    runner = asyncio.create_task(worker.run())
    try:
        job = await queue.add("export", export_data())
        await asyncio.wait_for(gate.started.wait(), WAIT_MS / 1000)
        page = await signed_in(chromium, dash)
        await page.goto(f"{dash.url}{BASE}/job/exports/{job.id}")
        await live(page)
        bar = page.locator("progress[data-progress]")
        await expect(bar).to_have_js_property("value", 20)
        await page.evaluate("window.stillTheSamePage = true")
        gate.go.set()
        await expect(page.locator("[data-logs]")).to_contain_text("412 rows", timeout=WAIT_MS)
        await expect(page.get_by_role("link", name="Download x.csv")).to_be_visible(timeout=WAIT_MS)
        assert await page.evaluate("window.stillTheSamePage") is True
    finally:
        gate.go.set()
        await worker.close()
        await runner
