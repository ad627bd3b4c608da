"""Every dashboard action changes the store as it says, is audited with who did
what, and refuses bad input with a 400 naming the field (changing nothing)."""

from __future__ import annotations

import pytest

from tests.dashboard.conftest import BASE, Browser, Dash
from tests.dashboard.jobs import export_data, failed_jobs
from workhorse.flow import FlowJob, add_flow
from workhorse.job import JobState
from workhorse.schedule import Schedule, get_schedule, list_schedules, upsert_schedule


async def test_retry_a_failed_job(dash: Dash, ops: Browser) -> None:
    queue = dash.api.service.queue("exports")
    (job,) = await failed_jobs(queue, export_data())
    r = await ops.act("retry", queue="exports", job=job.id, back=f"{BASE}/job/exports/{job.id}")
    assert r.status_code == 303
    assert r.headers["location"] == f"{BASE}/job/exports/{job.id}"
    assert await queue.get_state(job.id) is JobState.WAITING
    (entry,) = await dash.audit.recent()
    assert (entry.actor, entry.action, entry.target) == ("ops", "retry", f"exports/{job.id}")
    assert entry.detail == {"from": "failed"}
    # The message of the action is shown once on the next page.
    page = await ops.http.get(r.headers["location"])
    assert f"Job {job.id} is waiting again" in page.text
    again = await ops.http.get(r.headers["location"])
    assert "is waiting again" not in again.text


async def test_retry_of_a_waiting_job_is_a_conflict(dash: Dash, ops: Browser) -> None:
    queue = dash.api.service.queue("exports")
    job = await queue.add("export", export_data())
    r = await ops.act("retry", queue="exports", job=job.id)
    assert r.status_code == 409
    assert "only a failed or completed job can be retried" in r.text
    assert await queue.get_state(job.id) is JobState.WAITING
    assert await dash.audit.recent() == []


async def test_promote_remove_and_cancel(dash: Dash, ops: Browser) -> None:
    queue = dash.api.service.queue("exports")
    delayed = await queue.add("export", export_data(), delay=3600)
    waiting = await queue.add("export", export_data())
    doomed = await queue.add("export", export_data())
    assert (await ops.act("promote", queue="exports", job=delayed.id)).status_code == 303
    assert await queue.get_state(delayed.id) is JobState.WAITING
    assert (await ops.act("cancel", queue="exports", job=waiting.id)).status_code == 303
    cancelled = await queue.get_job(waiting.id)
    assert cancelled is not None and cancelled.state is JobState.FAILED
    assert cancelled.failed_reason == "cancelled"
    assert (await ops.act("remove", queue="exports", job=doomed.id)).status_code == 303
    assert await queue.get_job(doomed.id) is None
    r = await ops.act("remove", queue="exports", job=doomed.id)
    assert r.status_code == 404
    actions = [(e.action, e.target) for e in reversed(await dash.audit.recent())]
    assert actions == [
        ("promote", f"exports/{delayed.id}"),
        ("cancel", f"exports/{waiting.id}"),
        ("remove", f"exports/{doomed.id}"),
    ]


async def test_cancel_then_remove_a_flow_parent_takes_its_children_along(
    dash: Dash, ops: Browser
) -> None:
    store = dash.api.service.store
    tree = await add_flow(
        store,
        FlowJob(
            "workflow-tasks",
            "report",
            {},
            children=[FlowJob("exports", "export", export_data()) for _ in range(2)],
        ),
    )
    exports = dash.api.service.queue("exports")
    page = (await ops.http.get(f"{BASE}/job/workflow-tasks/{tree.job.id}")).text
    assert f"Cancel job {tree.job.id} and the 2 child jobs it waits for?" in page
    assert f"Remove job {tree.job.id} and the 2 child jobs it waits for?" in page

    assert (await ops.act("cancel", queue="workflow-tasks", job=tree.job.id)).status_code == 303
    for child in tree.children:
        cancelled = await exports.get_job(child.job.id)
        assert cancelled is not None and cancelled.failed_reason == "cancelled"

    await exports.retry_job(tree.children[0].job.id)  # waiting again, on its own
    await dash.api.service.queue("workflow-tasks").retry_job(tree.job.id)
    assert (await ops.act("remove", queue="workflow-tasks", job=tree.job.id)).status_code == 303
    assert [await exports.get_job(c.job.id) for c in tree.children] == [None, None]


async def test_edit_the_data_of_a_failed_job_then_retry_it(dash: Dash, ops: Browser) -> None:
    queue = dash.api.service.queue("exports")
    (job,) = await failed_jobs(queue, export_data("quotes"))
    new = '{"entity": "invoices", "format": "pdf", "userId": "u-1"}'
    r = await ops.act("edit-data", queue="exports", job=job.id, data=new)
    assert r.status_code == 303
    edited = await queue.get_job(job.id)
    assert edited is not None
    assert edited.data == {"entity": "invoices", "format": "pdf", "userId": "u-1"}
    (entry,) = await dash.audit.recent()
    assert entry.action == "edit-data"
    assert entry.detail == {"before": export_data("quotes"), "after": edited.data}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ('{"entity": "quotes", ', "data: invalid JSON"),
        ("", "data: is required"),
        ('{"entity": "planets", "format": "csv", "userId": "u-1"}', "data.entity"),
        ('{"entity": "quotes", "format": "csv"}', "data.userId"),
    ],
)
async def test_bad_data_is_refused_naming_the_field_and_nothing_changes(
    dash: Dash, ops: Browser, data: str, field: str
) -> None:
    queue = dash.api.service.queue("exports")
    (job,) = await failed_jobs(queue, export_data("quotes"))
    r = await ops.act("edit-data", queue="exports", job=job.id, data=data)
    assert r.status_code == 400
    assert field in r.text
    unchanged = await queue.get_job(job.id)
    assert unchanged is not None and unchanged.data == export_data("quotes")
    assert await dash.audit.recent() == []


async def test_only_a_failed_job_can_be_edited(dash: Dash, ops: Browser) -> None:
    queue = dash.api.service.queue("exports")
    job = await queue.add("export", export_data("quotes"))
    r = await ops.act("edit-data", queue="exports", job=job.id, data='{"a": 1}')
    assert r.status_code == 400  # the payload model refuses it first
    r = await ops.act("edit-data", queue="exports", job=job.id, data=str(export_data("all")))
    assert r.status_code == 400  # Python repr, not JSON
    valid = '{"entity": "all", "format": "csv", "userId": "u-1"}'
    r = await ops.act("edit-data", queue="exports", job=job.id, data=valid)
    assert r.status_code == 409
    assert (await queue.get_job(job.id)).data == export_data("quotes")  # type: ignore[union-attr]


async def test_dead_letters_redrive_one_all_matching_and_purge(dash: Dash, ops: Browser) -> None:
    queue = dash.api.service.queue("exports")
    one, quotes, invoices = await failed_jobs(
        queue, export_data("contacts"), export_data("quotes"), export_data("invoices")
    )
    assert await queue.dead_letter_count() == 3
    assert (await ops.act("redrive", queue="exports", job=one.id)).status_code == 303
    assert await queue.get_state(one.id) is JobState.WAITING
    r = await ops.act("redrive-all", queue="exports", reason="on quotes")
    assert r.status_code == 303
    assert await queue.get_state(quotes.id) is JobState.WAITING
    assert await queue.get_state(invoices.id) is JobState.FAILED
    assert await queue.dead_letter_count() == 1
    assert (await ops.act("purge-dead", queue="exports")).status_code == 303
    assert await queue.dead_letter_count() == 0
    assert await queue.get_job(invoices.id) is None
    targets = [(e.action, e.target, e.detail) for e in reversed(await dash.audit.recent())]
    assert targets == [
        ("redrive", f"exports/dead/{one.id}", {}),
        ("redrive-all", "exports/dead", {"name": "", "reason": "on quotes"}),
        ("purge-dead", "exports/dead", {}),
    ]


async def test_redriving_a_job_that_is_not_a_dead_letter_is_a_conflict(
    dash: Dash, ops: Browser
) -> None:
    queue = dash.api.service.queue("exports")
    job = await queue.add("export", export_data())
    r = await ops.act("redrive", queue="exports", job=job.id)
    assert r.status_code == 409
    assert "not a dead letter" in r.text


async def test_bulk_retry_clean_empty_pause_and_resume(dash: Dash, ops: Browser) -> None:
    queue = dash.api.service.queue("exports")
    failed = await failed_jobs(queue, export_data("quotes"), export_data("contacts"))
    assert (await ops.act("retry-all", queue="exports")).status_code == 303
    assert (await queue.counts())[JobState.WAITING] == 2
    assert all([await queue.get_state(j.id) is JobState.WAITING for j in failed])

    await queue.add("export", export_data(), delay=600)
    assert (await ops.act("empty", queue="exports")).status_code == 303
    counts = await queue.counts()
    assert counts[JobState.WAITING] == counts[JobState.DELAYED] == 0

    await failed_jobs(queue, export_data("all"))
    r = await ops.act("clean", queue="exports", state="failed", age="3600")
    assert r.status_code == 303
    assert (await queue.counts())[JobState.FAILED] == 1  # younger than an hour: kept
    r = await ops.act("clean", queue="exports", state="failed", age="0")
    assert (await queue.counts())[JobState.FAILED] == 0

    assert (await ops.act("pause", queue="exports")).status_code == 303
    assert await queue.is_paused()
    assert (await ops.act("resume", queue="exports")).status_code == 303
    assert not await queue.is_paused()
    actions = [e.action for e in reversed(await dash.audit.recent())]
    assert actions == ["retry-all", "empty", "clean", "clean", "pause", "resume"]
    assert (await dash.audit.recent())[2].detail == {"state": "failed", "age_s": 0.0}


@pytest.mark.parametrize(
    ("action", "fields", "status", "message"),
    [
        ("clean", {"queue": "exports", "state": "active"}, 400, "state: must be one of"),
        ("clean", {"queue": "exports", "age": "soon"}, 400, "age: must be a number"),
        ("clean", {"queue": "exports", "age": "-5"}, 400, "age: must be a number"),
        ("pause", {"queue": "nope"}, 400, "queue: unknown queue"),
        ("pause", {}, 400, "queue: is required"),
        ("retry", {"queue": "exports"}, 400, "job: is required"),
        ("retry", {"queue": "exports", "job": "missing"}, 404, "no job"),
        ("obliterate", {"queue": "exports"}, 404, "action: unknown action"),
        ("schedule-pause", {"key": "missing"}, 404, "no schedule"),
    ],
)
async def test_bad_input_is_refused_naming_the_field(
    dash: Dash, ops: Browser, action: str, fields: dict[str, str], status: int, message: str
) -> None:
    queue = dash.api.service.queue("exports")
    job = await queue.add("export", export_data())
    r = await ops.act(action, **fields)
    assert r.status_code == status
    assert message in r.text
    assert await queue.get_state(job.id) is JobState.WAITING
    assert not await queue.is_paused()
    assert await dash.audit.recent() == []


async def test_schedules_trigger_pause_resume_remove(dash: Dash, ops: Browser) -> None:
    store = dash.api.service.store
    await upsert_schedule(
        store, Schedule("nightly", "recurring-sessions", "generate", {}, cron="0 2 * * *")
    )
    page = await ops.http.get(f"{BASE}/schedules")
    assert "nightly" in page.text and "0 2 * * *" in page.text

    assert (await ops.act("schedule-trigger", key="nightly")).status_code == 303
    (job,) = await dash.api.service.queue("recurring-sessions").list_jobs(JobState.WAITING)
    assert job.name == "generate" and job.id.startswith("sched:nightly:now:")

    assert (await ops.act("schedule-pause", key="nightly")).status_code == 303
    info = await get_schedule(store, "nightly")
    assert info is not None and info.paused
    assert "Paused" in (await ops.http.get(f"{BASE}/schedules")).text
    assert (await ops.act("schedule-resume", key="nightly")).status_code == 303
    info = await get_schedule(store, "nightly")
    assert info is not None and not info.paused
    assert (await ops.act("schedule-remove", key="nightly")).status_code == 303
    assert await list_schedules(store) == []
    actions = [(e.action, e.target) for e in reversed(await dash.audit.recent())]
    assert actions == [
        ("schedule-trigger", "schedule/nightly"),
        ("schedule-pause", "schedule/nightly"),
        ("schedule-resume", "schedule/nightly"),
        ("schedule-remove", "schedule/nightly"),
    ]


async def test_the_audit_page_shows_who_did_what(dash: Dash, ops: Browser) -> None:
    await ops.act("pause", queue="scheduled-emails")
    page = await ops.http.get(f"{BASE}/audit")
    assert page.status_code == 200
    assert page.text.count("data-audit-row") == 1
    assert "<td>ops</td>" in page.text and "<code>pause</code>" in page.text
    assert "scheduled-emails" in page.text


async def test_an_audit_log_that_fails_stops_the_action(dash: Dash, ops: Browser) -> None:
    class Broken:
        async def record(self, entry: object) -> None:
            raise RuntimeError("audit database is down")

    queue = dash.api.service.queue("exports")
    original = dash.audit.record
    dash.audit.record = Broken().record  # type: ignore[method-assign]
    try:
        r = await ops.act("pause", queue="exports")
    finally:
        dash.audit.record = original  # type: ignore[method-assign]
    assert r.status_code == 500
    assert not await queue.is_paused()


async def test_retry_the_failures_of_every_queue(dash: Dash, ops: Browser) -> None:
    exports = dash.api.service.queue("exports")
    emails = dash.api.service.queue("scheduled-emails")
    await failed_jobs(exports, export_data())
    await failed_jobs(emails, {"emailId": "e1"}, {"emailId": "e2"}, name="send")
    page = await ops.http.get(f"{BASE}/jobs?state=failed")
    assert "/act/retry-all-queues" in page.text
    assert (await ops.act("retry-all-queues")).status_code == 303
    assert (await exports.counts())[JobState.WAITING] == 1
    assert (await emails.counts())[JobState.WAITING] == 2
    (entry,) = await dash.audit.recent()
    assert (entry.action, entry.target) == ("retry-all-queues", "*")
