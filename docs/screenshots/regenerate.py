"""Regenerate the dashboard screenshots in this folder with realistic data.

    PYTHONPATH=. .venv/bin/python docs/screenshots/regenerate.py

Starts the API (embedded store in a temporary folder) with the dashboard, fills the
reference application's queues with real jobs run by real workers
(tests/dashboard/scenario.py), and drives Debian's Chromium headless through the
pages at 1400x900.  Needs /usr/bin/chromium (never downloads a browser).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from playwright.async_api import Page, async_playwright

from tests.api.conftest import serve
from tests.dashboard.scenario import Scenario
from workhorse.dashboard.users import DashboardUser, hash_password
from workhorse.job import JobState
from workhorse.store.sqlite import SqliteStore

HERE = Path(__file__).parent
BASE = "/admin/queues"


async def shoot(page: Page, url: str, name: str) -> None:
    await page.goto(url)
    await page.wait_for_selector("[data-live-status].on", timeout=10_000)
    await page.screenshot(path=str(HERE / f"{name}.png"))
    print("wrote", HERE / f"{name}.png")


async def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="wh-shots-"))
    store = SqliteStore(tmp / "workhorse.db")
    users = [DashboardUser(user="ops", password_hash=hash_password("demo-password"), role="admin")]
    async for api in serve(store, tmp, dashboard_users=users):
        scenario = Scenario(api.service)
        await scenario.build()
        await scenario.heartbeat()
        exports = api.service.queue("exports")
        retried = next(
            j for j in await exports.list_jobs(JobState.COMPLETED, 0, 200) if j.attempts_made > 1
        )
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
            page = await browser.new_page(viewport={"width": 1400, "height": 900})
            await page.goto(api.url + BASE)
            await page.fill("#user", "ops")
            await page.screenshot(path=str(HERE / "login.png"))
            print("wrote", HERE / "login.png")
            await page.fill("#password", "demo-password")
            await page.click("button[type=submit]")
            await page.wait_for_url(api.url + BASE)
            await shoot(page, api.url + BASE, "overview")
            await shoot(page, f"{api.url}{BASE}/jobs?queue=exports&data=invoices", "jobs-search")
            await shoot(page, f"{api.url}{BASE}/job/exports/{retried.id}", "job")
            await shoot(page, f"{api.url}{BASE}/jobs?state=failed", "failed")
            await shoot(page, f"{api.url}{BASE}/dead", "dead-letters")
            await shoot(page, f"{api.url}{BASE}/schedules", "schedules")
            await browser.close()
        await scenario.close()
    await store.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
