"""What the pages show: counts, lists with paging and search, the job page, dead
letters; and that the templates and static files ship inside the package."""

from __future__ import annotations

import asyncio
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.conftest import BASE, Browser, Dash, dashboard
from tests.dashboard.jobs import export_data, failed_jobs, run_all
from workhorse import Queue, Worker
from workhorse.dashboard.users import DashboardUser
from workhorse.flow import FlowJob, add_flow
from workhorse.job import Job
from workhorse.options import Backoff
from workhorse.store.base import Store

_ROW = re.compile(r'data-row="([^"]+)"')


def rows(html: str) -> list[str]:
    """The ``queue:id`` of the job rows of a list page, in order."""
    return _ROW.findall(html)


def test_templates_and_static_files_are_package_data() -> None:
    package = resources.files("workhorse.dashboard")
    for name in ("base.html", "login.html", "overview.html", "jobs.html", "job.html"):
        assert (package / "templates" / name).read_text().lstrip().startswith(("{", "<"))
    for name in ("dashboard.css", "dashboard.js"):
        assert (package / "static" / name).read_bytes()


async def test_static_files_are_served_with_a_content_version(dash: Dash, ops: Browser) -> None:
    page = (await ops.http.get(BASE)).text
    css = re.search(r'href="(/admin/queues/static/dashboard\.css\?v=\w+)"', page)
    js = re.search(r'src="(/admin/queues/static/dashboard\.js\?v=\w+)"', page)
    assert css and js
    r = await ops.http.get(css.group(1))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/css")
    assert "immutable" in r.headers["cache-control"]
    assert (await ops.http.get(js.group(1))).text.startswith("// Workhorse dashboard")
    assert (await ops.http.get(f"{BASE}/static/secret.key")).status_code == 404


async def test_overview_counts_each_queue_by_state(dash: Dash, ops: Browser) -> None:
    exports = dash.api.service.queue("exports")
    emails = dash.api.service.queue("scheduled-emails")
    await exports.add("export", export_data())
    await exports.add("export", export_data(), delay=600)
    await failed_jobs(emails, {"emailId": "e1"}, {"emailId": "e2"}, name="send")
    await emails.pause()
    page = (await ops.http.get(BASE)).text
    assert 'data-count="exports:waiting"' in page

    def count(key: str) -> int:
        found = re.search(rf'data-count="{key}"[^>]*>(\d+)<', page)
        assert found, key
        return int(found.group(1))

    assert count("exports:waiting") == 1
    assert count("exports:delayed") == 1
    assert count("scheduled-emails:failed") == 2
    assert count("exports:failed") == 0
    assert re.search(r'data-total="failed">2<', page)
    assert re.search(r'data-stat="scheduled-emails:dead"[^>]*>2<', page)
    assert re.search(r'data-when-paused="scheduled-emails">Paused', page)
    assert re.search(r'data-stat="scheduled-emails:failureRate">100 %<', page)
    # The overview is for every queue of the registry, with or without jobs.
    for name in dash.api.service.registry:
        assert f'<tr data-queue="{name}">' in page


async def test_job_list_pages_and_orders(dash: Dash, ops: Browser) -> None:
    queue = dash.api.service.queue("exports")
    jobs = await queue.add_bulk([("export", export_data(user=f"u-{i}")) for i in range(12)])
    ids = [f"exports:{j.id}" for j in jobs]
    url = f"{BASE}/jobs?queue=exports&state=waiting&per_page=10"
    first = (await ops.http.get(url)).text
    assert rows(first) == list(reversed(ids))[:10]  # newest first
    assert "Showing 1\u201310 of 12 jobs" in first
    second = (await ops.http.get(url + "&page=2")).text
    assert rows(second) == list(reversed(ids))[10:]
    oldest = (await ops.http.get(url + "&order=asc")).text
    assert rows(oldest) == ids[:10]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("data=invoices", ["invoice"]),
        ("data=userId%3Du-7", ["quote"]),
        ("data=INVOICES", ["invoice"]),
        ("owner=carol", ["contact"]),
        ("tag=vip", ["contact", "quote"]),
        ("name=exp", ["contact", "invoice", "quote"]),
        ("reason=crashed", ["broken"]),
        ("data=nowhere", []),
    ],
)
async def test_search_finds_jobs_by_data_owner_tag_name_and_reason(
    dash: Dash, ops: Browser, query: str, expected: list[str]
) -> None:
    queue = dash.api.service.queue("exports")
    made = {
        "quote": await queue.add("export", export_data("quotes", "u-7"), tags=("vip",)),
        "invoice": await queue.add("export", export_data("invoices", "u-8")),
        "contact": await queue.add(
            "export", export_data("contacts", "u-9"), owner="carol", tags=("vip", "eu")
        ),
    }
    emails = dash.api.service.queue("scheduled-emails")
    (broken,) = await failed_jobs(emails, {"x": 1}, name="send")
    ref = {f"exports:{j.id}": k for k, j in made.items()} | {
        f"scheduled-emails:{broken.id}": "broken"
    }
    page = (await ops.http.get(f"{BASE}/jobs?{query}")).text
    assert sorted(ref[r] for r in rows(page)) == expected
    assert "Scanned 4 of 4 jobs" in page


async def test_search_by_id_is_exact_across_queues(dash: Dash, ops: Browser) -> None:
    exports = dash.api.service.queue("exports")
    emails = dash.api.service.queue("scheduled-emails")
    await exports.add("export", export_data(), job_id="order-42")
    await emails.add("send", {}, job_id="order-42")
    await emails.add("send", {}, job_id="order-421")
    page = (await ops.http.get(f"{BASE}/jobs?id=order-42")).text
    assert sorted(rows(page)) == ["exports:order-42", "scheduled-emails:order-42"]


async def test_a_search_stops_at_the_scan_limit_and_says_so(
    store: Store, tmp_path: Path, users: list[DashboardUser]
) -> None:
    async for dash in dashboard(store, tmp_path, users, dashboard_scan_limit=100):
        queue = dash.api.service.queue("exports")
        await queue.add("export", export_data("invoices"))  # the oldest: not scanned
        await queue.add_bulk([("export", export_data("quotes")) for _ in range(120)])
        async with dash.session("ops") as ops:
            page = (await ops.http.get(f"{BASE}/jobs?queue=exports&data=invoices")).text
            assert rows(page) == []
            assert "Scanned 100 of 121 jobs" in page
            assert "narrow the search" in page
            page = (await ops.http.get(f"{BASE}/jobs?queue=exports&data=quotes")).text
            assert "Showing 1\u201325 of 100 matching jobs" in page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("state=sleeping", "state: unknown state"),
        ("queue=nope", "queue: unknown queue"),
        ("page=0", "page: must be a whole number"),
        ("per_page=7", "per_page: must be one of"),
        ("order=sideways", "order: must be desc"),
    ],
)
async def test_bad_list_parameters_are_a_400_naming_them(
    dash: Dash, ops: Browser, query: str, message: str
) -> None:
    r = await ops.http.get(f"{BASE}/jobs?{query}")
    assert r.status_code == 400
    assert message in r.text


class Exporter:
    """Fails its first attempt, then writes a file, with steps and logs."""

    async def handle(self, job: Job) -> Any:
        await job.log(f"attempt {job.attempts_made + 1}: querying rows")
        if job.attempts_made == 0:
            raise ConnectionError("database went away")
        await job.update_progress(
            {"currentStep": "write file", "totalSteps": 3, "overallProgress": 100}
        )
        await job.log("wrote 1,204 rows")
        url = f"/api/export/files/{job.id}?sig=abc"
        return {"success": True, "message": "done", "data": {"url": url, "filename": "q.csv"}}


async def test_job_page_shows_attempts_logs_result_and_download(dash: Dash, ops: Browser) -> None:
    queue = dash.api.service.queue("exports")
    job = await queue.add(
        "export",
        export_data(),
        attempts=2,
        backoff=Backoff("fixed", delay=0.01),
        owner="alice",
        tags=("monthly",),
    )
    await run_all(queue, Exporter().handle)
    page = (await ops.http.get(f"{BASE}/job/exports/{job.id}")).text
    assert "Attempt 1" in page and "database went away" in page
    assert "Traceback" in page and "ConnectionError" in page  # the stack of attempt 1
    assert "attempt 1: querying rows" in page and "wrote 1,204 rows" in page
    assert f'href="/api/export/files/{job.id}?sig=abc" download>Download q.csv<' in page
    assert "alice" in page and "monthly" in page
    assert "Completed" in page and "waited" in page and "ran" in page
    fragment = (await ops.http.get(f"{BASE}/job/exports/{job.id}?fragment=1")).text
    assert "<html" not in fragment and "wrote 1,204 rows" in fragment


async def test_job_page_of_a_missing_job_is_a_404(dash: Dash, ops: Browser) -> None:
    r = await ops.http.get(f"{BASE}/job/exports/nope")
    assert r.status_code == 404 and "no job &#39;nope&#39; in queue" in r.text
    r = await ops.http.get(f"{BASE}/job/nowhere/1")
    assert r.status_code == 404 and "unknown queue" in r.text


async def test_flow_pages_link_parent_and_children(dash: Dash, ops: Browser) -> None:
    store = dash.api.service.store
    tree = await add_flow(
        store,
        FlowJob(
            "workflow-tasks",
            "report",
            {},
            children=[
                FlowJob("exports", "export", export_data()),
                FlowJob("exports", "x", {}),
                FlowJob("scheduled-emails", "later", {}),
            ],
        ),
    )
    exports = Queue("exports", store)
    first, second, third = (c.job for c in tree.children)
    parent_url = f"{BASE}/job/workflow-tasks/{tree.job.id}"
    page = (await ops.http.get(parent_url)).text
    assert page.count('class="badge pending"') == 3  # nothing has run yet

    async def only_first(job: Job) -> str:
        return "part-1"

    # Run just the first child: remove the second from waiting for the moment.
    await exports.remove(second.id)
    await run_all(exports, only_first)
    page = (await ops.http.get(parent_url)).text
    assert "Flow" in page
    assert f"exports:{first.id}" in page and "part-1" in page
    assert f"exports:{second.id}" in page  # removed: counts as failed
    assert page.count('class="badge pending"') == 1
    assert f"scheduled-emails:{third.id}" in page  # still awaited
    child_page = (await ops.http.get(f"{BASE}/job/scheduled-emails/{third.id}")).text
    assert f'href="{parent_url}" data-parent' in child_page


async def test_dead_letter_page_filters_like_redrive_all(dash: Dash, ops: Browser) -> None:
    queue = dash.api.service.queue("exports")
    quotes, invoices = await failed_jobs(queue, export_data("quotes"), export_data("invoices"))
    page = (await ops.http.get(f"{BASE}/dead?queue=exports")).text
    assert sorted(rows(page)) == sorted([f"exports:{quotes.id}", f"exports:{invoices.id}"])
    page = (await ops.http.get(f"{BASE}/dead?queue=exports&reason=on+invoices")).text
    assert rows(page) == [f"exports:{invoices.id}"]
    assert "Scanned 2 of 2" in page
    page = (await ops.http.get(f"{BASE}/dead?name=send")).text
    assert rows(page) == []


async def test_overview_lists_live_workers(dash: Dash, ops: Browser) -> None:
    queue = dash.api.service.queue("exports")
    started, release = asyncio.Event(), asyncio.Event()

    async def hold(job: Job) -> None:
        started.set()
        await release.wait()

    worker = Worker(queue, hold, concurrency=3)
    runner = asyncio.create_task(worker.run())
    try:
        await queue.add("export", export_data())
        await asyncio.wait_for(started.wait(), 15)
        # What the worker's next heartbeat stores (it heartbeats every few seconds).
        await dash.api.service.store.register_worker(worker.info(), 10_000)
        page = (await ops.http.get(BASE)).text
        assert worker.name in page
        assert f'<td class="num">{os.getpid()}</td>' in page
        assert '<td class="num">1 / 3</td>' in page
    finally:
        release.set()
        await worker.close()
        await runner
    page = (await ops.http.get(BASE)).text
    assert worker.name not in page
    assert "No worker is running" in page


async def test_latest_jobs_of_all_states_are_merged_newest_first(dash: Dash, ops: Browser) -> None:
    queue = dash.api.service.queue("exports")
    (failed,) = await failed_jobs(queue, export_data("quotes"))
    delayed = await queue.add("export", export_data(), delay=600)
    waiting = await queue.add("export", export_data())
    page = (await ops.http.get(f"{BASE}/jobs?queue=exports")).text
    assert rows(page) == [f"exports:{j.id}" for j in (waiting, delayed, failed)]
    assert "Showing 1\u20133 of 3 jobs" in page
    assert "Scanned" not in page  # nothing was searched


async def test_overview_shows_the_limits_of_a_queue(dash: Dash, ops: Browser) -> None:
    queue = dash.api.service.queue("scheduled-emails")
    await queue.set_concurrency(3)
    await queue.set_rate_limit(100, per=60)
    page = (await ops.http.get(BASE)).text
    assert '<span class="limits">max 3 active · 100 started / 60 s</span>' in page


async def test_job_and_dead_letter_lists_page_with_next_and_previous(
    dash: Dash, ops: Browser
) -> None:
    queue = dash.api.service.queue("exports")
    await failed_jobs(queue, *(export_data() for _ in range(30)))
    for path in ("/jobs?queue=exports&state=failed", "/dead?queue=exports"):
        first = (await ops.http.get(f"{BASE}{path}&per_page=25")).text
        assert "Page 1 of 2" in first
        assert 'rel="next"' in first and 'rel="prev"' not in first
        second = (await ops.http.get(f"{BASE}{path}&per_page=25&page=2")).text
        assert "Page 2 of 2" in second
        assert 'rel="prev"' in second and 'rel="next"' not in second
