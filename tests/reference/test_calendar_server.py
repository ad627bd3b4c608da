"""The local Google server itself answers as Google documents it: the OAuth token
endpoint, bearer checks, paging and sync tokens (410 when expired), client-chosen
ids, etags and If-Match, deleted events, queued failures.  Plain httpx calls."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.reference.calendar_server import CLIENT_ID, CLIENT_SECRET, CalendarServer, event_time

UTC = dt.UTC
ALICE = "alice@example.test"
T0 = dt.datetime(2031, 5, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
async def http(google: CalendarServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=google.url, timeout=10) as client:
        yield client


def grant_form(refresh: str, **changes: str) -> dict[str, str]:
    return {
        "grant_type": "refresh_token",
        "refresh_token": refresh,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        **changes,
    }


async def access(http: httpx.AsyncClient, refresh: str) -> dict[str, str]:
    r = await http.post("/token", data=grant_form(refresh))
    assert r.status_code == 200
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


EVENTS = "/calendar/v3/calendars/primary/events"


def reason_of(r: httpx.Response) -> tuple[int, str]:
    error = r.json()["error"]
    assert error["code"] == r.status_code
    assert error["message"]
    return r.status_code, error["errors"][0]["reason"]


async def test_token_endpoint_grants_and_refuses_like_google(
    google: CalendarServer, http: httpx.AsyncClient
) -> None:
    refresh = google.grant(ALICE)
    ok = await http.post("/token", data=grant_form(refresh))
    assert ok.json()["token_type"] == "Bearer"
    assert ok.json()["access_token"].startswith("ya29.")
    assert ok.json()["expires_in"] == google.access_ttl

    bad_client = await http.post("/token", data=grant_form(refresh, client_secret="nope"))
    assert (bad_client.status_code, bad_client.json()["error"]) == (401, "invalid_client")
    bad_grant = await http.post("/token", data=grant_form(refresh, grant_type="password"))
    assert (bad_grant.status_code, bad_grant.json()["error"]) == (400, "unsupported_grant_type")
    google.revoke(refresh)
    revoked = await http.post("/token", data=grant_form(refresh))
    assert revoked.status_code == 400
    assert revoked.json() == {
        "error": "invalid_grant",
        "error_description": "Token has been expired or revoked.",
    }


async def test_calls_need_a_live_bearer_token(
    google: CalendarServer, http: httpx.AsyncClient
) -> None:
    headers = await access(http, google.grant(ALICE))
    assert (await http.get(EVENTS, headers=headers)).status_code == 200
    assert reason_of(await http.get(EVENTS)) == (401, "authError")
    google.expire_access_tokens()
    assert reason_of(await http.get(EVENTS, headers=headers)) == (401, "authError")


async def test_paging_and_incremental_sync(google: CalendarServer, http: httpx.AsyncClient) -> None:
    headers = await access(http, google.grant(ALICE))
    ids = [google.add_event(ALICE, f"E{i}", T0, T0 + dt.timedelta(hours=1)) for i in range(5)]

    listed: list[dict[str, Any]] = []
    params: dict[str, str] = {"maxResults": "2"}
    while True:
        page = (await http.get(EVENTS, params=params, headers=headers)).json()
        listed.extend(page["items"])
        assert len(page["items"]) <= 2
        if "nextPageToken" not in page:
            break
        assert "nextSyncToken" not in page  # only on the last page
        params["pageToken"] = page["nextPageToken"]
    assert sorted(e["id"] for e in listed) == sorted(ids)
    assert listed[0]["start"] == event_time(T0)
    sync_token = page["nextSyncToken"]

    google.edit_event(ALICE, ids[0], summary="changed")
    google.delete_event(ALICE, ids[1])
    changes = (await http.get(EVENTS, params={"syncToken": sync_token}, headers=headers)).json()
    by_id = {e["id"]: e for e in changes["items"]}
    assert set(by_id) == {ids[0], ids[1]}
    assert by_id[ids[0]]["summary"] == "changed"
    assert set(by_id[ids[1]]) == {"kind", "etag", "id", "status"}
    assert by_id[ids[1]]["status"] == "cancelled"
    # A full listing shows deleted events only when asked to.
    full = (await http.get(EVENTS, headers=headers)).json()
    assert ids[1] not in {e["id"] for e in full["items"]}
    shown = (await http.get(EVENTS, params={"showDeleted": "true"}, headers=headers)).json()
    assert ids[1] in {e["id"] for e in shown["items"]}

    google.expire_sync_tokens(ALICE)
    gone = await http.get(EVENTS, params={"syncToken": changes["nextSyncToken"]}, headers=headers)
    assert reason_of(gone) == (410, "fullSyncRequired")
    mixed = await http.get(
        EVENTS, params={"syncToken": sync_token, "timeMin": "2031-01-01T00:00:00Z"}, headers=headers
    )
    assert reason_of(mixed) == (400, "invalid")
    # A sync token issued after the invalidation works, even with no change since.
    fresh = (await http.get(EVENTS, headers=headers)).json()["nextSyncToken"]
    again = await http.get(EVENTS, params={"syncToken": fresh}, headers=headers)
    assert again.status_code == 200
    assert again.json()["items"] == []


async def test_insert_patch_delete_with_ids_and_etags(
    google: CalendarServer, http: httpx.AsyncClient
) -> None:
    headers = await access(http, google.grant(ALICE))
    body = {"summary": "S", "start": event_time(T0), "end": event_time(T0)}
    assert reason_of(await http.post(EVENTS, json={"summary": "S"}, headers=headers)) == (
        400,
        "required",
    )
    bad_id = await http.post(EVENTS, json={**body, "id": "UPPER_case"}, headers=headers)
    assert reason_of(bad_id) == (400, "invalid")
    made = await http.post(EVENTS, json={**body, "id": "abc123vv"}, headers=headers)
    assert made.status_code == 200
    event = made.json()
    assert (event["id"], event["status"], event["summary"]) == ("abc123vv", "confirmed", "S")
    dup = await http.post(EVENTS, json={**body, "id": "abc123vv"}, headers=headers)
    assert reason_of(dup) == (409, "duplicate")

    url = f"{EVENTS}/abc123vv"
    stale = await http.patch(url, json={"summary": "T"}, headers={**headers, "If-Match": '"1"'})
    assert reason_of(stale) == (412, "conditionNotMet")
    patched = await http.patch(
        url, json={"summary": "T"}, headers={**headers, "If-Match": event["etag"]}
    )
    assert patched.json()["summary"] == "T"
    assert patched.json()["etag"] != event["etag"]
    assert patched.json()["updated"] >= event["updated"]

    assert (await http.delete(url, headers=headers)).status_code == 204
    assert reason_of(await http.delete(url, headers=headers)) == (410, "deleted")
    assert (await http.get(url, headers=headers)).json()["status"] == "cancelled"
    assert reason_of(await http.get(f"{EVENTS}/nosuchid", headers=headers)) == (404, "notFound")
    other = "/calendar/v3/calendars/team%40example.test/events"
    assert reason_of(await http.get(other, headers=headers)) == (404, "notFound")


async def test_queued_failures_answer_first_then_service_resumes(
    google: CalendarServer, http: httpx.AsyncClient
) -> None:
    headers = await access(http, google.grant(ALICE))
    google.fail_next(429, retry_after="7")
    google.fail_next(403, "quotaExceeded")
    limited = await http.get(EVENTS, headers=headers)
    assert reason_of(limited) == (429, "rateLimitExceeded")
    assert limited.headers["retry-after"] == "7"
    quota = await http.get(EVENTS, headers=headers)
    assert reason_of(quota) == (403, "quotaExceeded")
    assert quota.json()["error"]["errors"][0]["domain"] == "usageLimits"
    assert (await http.get(EVENTS, headers=headers)).status_code == 200
