"""The HTTP API against a real server: enqueue, status, cancel, my jobs, export,
health, errors, and the ownership matrix (anonymous / owner / other user / admin)."""

from __future__ import annotations

import httpx
import pytest

from tests.api.conftest import Api
from workhorse.app.queues import EXPORTS
from workhorse.job import JobState

EXPORT_BODY = {"name": "export", "data": {"entity": "contacts", "format": "csv"}}


async def _export(http: httpx.AsyncClient, api: Api, who: str = "alice") -> str:
    r = await http.get(
        "/api/export", params={"entity": "sessions", "format": "pdf"}, headers=api.headers(who)
    )
    assert r.status_code == 202, r.text
    return str(r.json()["jobId"])


async def test_export_returns_at_once_and_queues_a_validated_job(
    api: Api, http: httpx.AsyncClient
) -> None:
    r = await http.get(
        "/api/export", params={"entity": "sessions", "format": "pdf"}, headers=api.headers("alice")
    )
    assert r.status_code == 202
    body = r.json()
    assert body == {
        "jobId": body["jobId"],
        "status": "queued",
        "message": "export of sessions as pdf queued",
        "statusUrl": f"/api/export/status/{body['jobId']}",
    }
    status = await http.get(body["statusUrl"], headers=api.headers("alice"))
    assert status.status_code == 200
    assert status.json() == {
        "id": body["jobId"],
        "name": "export",
        "state": "waiting",
        "progress": None,
        "data": {"entity": "sessions", "format": "pdf", "userId": "alice"},
        "returnvalue": None,
        "failedReason": None,
    }
    job = await api.service.get_job(EXPORTS, body["jobId"])
    assert job.owner == "alice"


@pytest.mark.parametrize(
    ("params", "field"),
    [({"entity": "planets", "format": "pdf"}, "entity"), ({"entity": "all"}, "format")],
)
async def test_export_with_bad_input_names_the_field_and_stores_nothing(
    api: Api, http: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    r = await http.get("/api/export", params=params, headers=api.headers("alice"))
    assert r.status_code == 422
    assert [d["loc"] for d in r.json()["detail"]] == [["query", field]]
    assert sum((await api.service.queue(EXPORTS).counts()).values()) == 0


async def test_export_by_post_body(api: Api, http: httpx.AsyncClient) -> None:
    h = api.headers("alice")
    ok = await http.post("/api/export", json={"entity": "invoices", "format": "docx"}, headers=h)
    assert ok.status_code == 202
    job = await api.service.get_job(EXPORTS, ok.json()["jobId"])
    assert job.data == {"entity": "invoices", "format": "docx", "userId": "alice"}
    bad = await http.post("/api/export", json={"entity": "invoices", "format": "gif"}, headers=h)
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "format"]


async def test_an_export_may_ask_for_the_link_by_e_mail(api: Api, http: httpx.AsyncClient) -> None:
    h = api.headers("alice")
    r = await http.get("/api/export?entity=quotes&format=pdf&notify=true", headers=h)
    assert r.status_code == 202
    job = await api.service.get_job(EXPORTS, r.json()["jobId"])
    assert job.data == {"entity": "quotes", "format": "pdf", "userId": "alice", "notify": True}
    body = {"entity": "quotes", "format": "csv", "notify": True}
    r = await http.post("/api/export", json=body, headers=h)
    job = await api.service.get_job(EXPORTS, r.json()["jobId"])
    assert job.data["notify"] is True
    bad = await http.post("/api/export", json={**body, "notify": "yes"}, headers=h)
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "notify"]


async def test_generic_enqueue_validates_payload_and_options(
    api: Api, http: httpx.AsyncClient
) -> None:
    h = api.headers("bob")
    ok = await http.post("/api/queues/exports/jobs", json=EXPORT_BODY, headers=h)
    assert ok.status_code == 202
    assert ok.json()["statusUrl"] == f"/api/queues/exports/jobs/{ok.json()['jobId']}"

    bad = {**EXPORT_BODY, "data": {"entity": "contacts", "format": "gif"}}
    r = await http.post("/api/queues/exports/jobs", json=bad, headers=h)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "data", "format"]

    r = await http.post(
        "/api/queues/exports/jobs", json={**EXPORT_BODY, "options": {"jobId": "123"}}, headers=h
    )
    assert r.status_code == 422
    assert "job_id '123' is all digits" in r.json()["detail"][0]["msg"]

    r = await http.post(
        "/api/queues/exports/jobs", json={**EXPORT_BODY, "options": {"priority": 0}}, headers=h
    )
    assert r.status_code == 422
    assert "priority" in r.text

    r = await http.post("/api/queues/exports/jobs", json={"data": {}}, headers=h)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "name"]

    assert sum((await api.service.queue(EXPORTS).counts()).values()) == 1


async def test_enqueue_keeps_queue_defaults_it_does_not_override(
    api: Api, http: httpx.AsyncClient
) -> None:
    h = api.headers("admin")  # audit-cleanup is admin-only
    body = {"name": "cleanup", "data": {"daysToKeep": 7}}
    r = await http.post("/api/queues/audit-cleanup/jobs", json=body, headers=h)
    job = await api.service.get_job("audit-cleanup", r.json()["jobId"])
    assert (job.priority, job.state, job.attempts) == (10, JobState.PRIORITIZED, 2)
    r = await http.post(
        "/api/queues/audit-cleanup/jobs", json={**body, "options": {"priority": "high"}}, headers=h
    )
    assert (await api.service.get_job("audit-cleanup", r.json()["jobId"])).priority == 1


async def test_idempotent_enqueue_by_job_id(api: Api, http: httpx.AsyncClient) -> None:
    body = {**EXPORT_BODY, "options": {"jobId": "export-once"}}
    first = await http.post("/api/queues/exports/jobs", json=body, headers=api.headers("bob"))
    again = await http.post("/api/queues/exports/jobs", json=body, headers=api.headers("bob"))
    assert first.json()["jobId"] == again.json()["jobId"] == "export-once"
    assert sum((await api.service.queue(EXPORTS).counts()).values()) == 1


async def test_unknown_queue_or_job_is_404(api: Api, http: httpx.AsyncClient) -> None:
    h = api.headers("admin")
    r = await http.post("/api/queues/nope/jobs", json=EXPORT_BODY, headers=h)
    assert r.status_code == 404
    assert "unknown queue 'nope'" in r.json()["detail"]
    assert (await http.get("/api/queues/nope/jobs/1", headers=h)).status_code == 404
    assert (await http.get("/api/queues/exports/jobs/404", headers=h)).status_code == 404
    assert (await http.get("/api/export/status/404", headers=h)).status_code == 404
    r = await http.post("/api/queues/exports/jobs/404/cancel", headers=h)
    assert r.status_code == 404


async def test_oversize_payload_is_413_and_stores_nothing(
    api: Api, http: httpx.AsyncClient
) -> None:
    big = {**EXPORT_BODY, "data": {"blob": "x" * (api.settings.max_payload_bytes + 1)}}
    r = await http.post("/api/queues/exports/jobs", json=big, headers=api.headers("alice"))
    assert r.status_code == 413
    assert "WORKHORSE_MAX_PAYLOAD_BYTES" in r.json()["detail"]

    async def chunks():  # no Content-Length: counted while read
        for _ in range(5):
            yield b"x" * (api.settings.max_payload_bytes // 4)

    r = await http.post("/api/queues/exports/jobs", content=chunks(), headers=api.headers("alice"))
    assert r.status_code == 413
    assert sum((await api.service.queue(EXPORTS).counts()).values()) == 0


async def test_bad_tokens_are_401(api: Api, http: httpx.AsyncClient) -> None:
    from workhorse.api import mint_token

    for header in (
        "Bearer not-a-jwt",
        f"Bearer {mint_token('another-secret-xxxxxxxxxxxxxxxxxxxxxxxxx', 'alice')}",
        f"Bearer {mint_token(api.settings.secret(), 'alice', ttl=-10)}",
        f"Basic {api.tokens['alice']}",
    ):
        r = await http.get("/api/jobs", headers={"Authorization": header})
        assert r.status_code == 401, header
        assert r.headers["www-authenticate"] == "Bearer"


async def test_cancel_a_waiting_job_and_refuse_a_finished_one(
    api: Api, http: httpx.AsyncClient
) -> None:
    job_id = await _export(http, api)
    r = await http.post(f"/api/queues/exports/jobs/{job_id}/cancel", headers=api.headers("alice"))
    assert r.status_code == 200
    assert r.json() == {"jobId": job_id, "previousState": "waiting", "status": "cancelled"}
    status = await http.get(f"/api/export/status/{job_id}", headers=api.headers("alice"))
    assert status.json()["state"] == "failed"
    assert status.json()["failedReason"] == "cancelled"
    again = await http.post(
        f"/api/queues/exports/jobs/{job_id}/cancel", headers=api.headers("alice")
    )
    assert again.status_code == 409


async def test_my_jobs_lists_only_mine_and_admins_see_all(
    api: Api, http: httpx.AsyncClient
) -> None:
    a1, a2 = await _export(http, api, "alice"), await _export(http, api, "alice")
    b1 = await _export(http, api, "bob")
    mine = await http.get("/api/jobs", headers=api.headers("alice"))
    assert {j["id"] for j in mine.json()} == {a1, a2}
    assert mine.json()[0]["queue"] == "exports"
    theirs = await http.get("/api/jobs", headers=api.headers("bob"))
    assert [j["id"] for j in theirs.json()] == [b1]
    everyone = await http.get("/api/jobs", headers=api.headers("admin"))
    assert {j["id"] for j in everyone.json()} == {a1, a2, b1}
    only_bob = await http.get("/api/jobs", params={"owner": "bob"}, headers=api.headers("admin"))
    assert [j["id"] for j in only_bob.json()] == [b1]
    refused = await http.get("/api/jobs", params={"owner": "bob"}, headers=api.headers("alice"))
    assert refused.status_code == 403
    done = await http.get(
        "/api/jobs", params={"state": JobState.COMPLETED.value}, headers=api.headers("alice")
    )
    assert done.json() == []
    bad = await http.get("/api/jobs", params={"state": "sleeping"}, headers=api.headers("alice"))
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["query", "state"]


# ---- the ownership matrix: anonymous / owner / other user / admin, every endpoint ---
WHO_SEES = {"anonymous": 401, "alice": 200, "bob": 404, "admin": 200}


@pytest.mark.parametrize("who", list(WHO_SEES))
async def test_ownership_matrix(api: Api, http: httpx.AsyncClient, who: str) -> None:
    job_id = await _export(http, api, "alice")
    h = api.headers(who)
    expected = WHO_SEES[who]
    for path in (
        f"/api/queues/exports/jobs/{job_id}",
        f"/api/export/status/{job_id}",
    ):
        r = await http.get(path, headers=h)
        assert r.status_code == expected, (path, r.text)
        if expected == 200:
            assert r.json()["id"] == job_id
    listed = await http.get("/api/jobs", headers=h)
    if who == "anonymous":
        assert listed.status_code == 401
    else:
        assert (job_id in {j["id"] for j in listed.json()}) == (who != "bob")
    enqueue = await http.post("/api/queues/exports/jobs", json=EXPORT_BODY, headers=h)
    assert enqueue.status_code == (401 if who == "anonymous" else 202)
    export = await http.get("/api/export", params={"entity": "all", "format": "json"}, headers=h)
    assert export.status_code == (401 if who == "anonymous" else 202)
    posted = await http.post("/api/export", json={"entity": "all", "format": "csv"}, headers=h)
    assert posted.status_code == (401 if who == "anonymous" else 202)
    async with http.stream("GET", f"/api/queues/exports/jobs/{job_id}/events", headers=h) as stream:
        assert stream.status_code == expected
    cancel = await http.post(f"/api/queues/exports/jobs/{job_id}/cancel", headers=h)
    assert cancel.status_code == expected
    stored = await api.service.get_job(EXPORTS, job_id)
    assert (stored.state is JobState.FAILED) == (expected == 200)


async def test_health_and_openapi(api: Api, http: httpx.AsyncClient) -> None:
    r = await http.get("/health")
    assert r.json() == {"status": "ok", "store": "ok"}
    docs = await http.get("/docs")
    assert docs.status_code == 200
    schema = (await http.get("/openapi.json")).json()
    assert {"/api/export", "/api/export/status/{job_id}", "/api/jobs", "/health"} <= set(
        schema["paths"]
    )
