"""Login, sessions, CSRF and roles of the dashboard, over real HTTP."""

from __future__ import annotations

import httpx
import jwt
import pytest

from tests.api.conftest import SECRET
from tests.dashboard.conftest import BASE, PASSWORDS, Dash, csrf_of
from workhorse.api import mint_token
from workhorse.dashboard.session import AUDIENCE, COOKIE, issue


async def _login(client: httpx.AsyncClient, **fields: str) -> httpx.Response:
    form = await client.get(f"{BASE}/login")
    return await client.post(f"{BASE}/login", data={"csrf": csrf_of(form.text), **fields})


@pytest.mark.parametrize(
    "path", [BASE, f"{BASE}/jobs?state=failed", f"{BASE}/job/exports/1", f"{BASE}/audit"]
)
async def test_every_page_requires_a_login(lite_dash: Dash, path: str) -> None:
    async with lite_dash.client() as client:
        r = await client.get(path)
    assert r.status_code == 303
    assert r.headers["location"].startswith(f"{BASE}/login?next=")


async def test_live_feed_and_actions_require_a_login(lite_dash: Dash) -> None:
    async with lite_dash.client() as client:
        assert (await client.get(f"{BASE}/live")).status_code == 401
        r = await client.post(f"{BASE}/act/pause", data={"queue": "exports"})
        assert r.status_code == 401
    assert not await lite_dash.api.service.queue("exports").is_paused()


@pytest.mark.parametrize(
    ("user", "password"),
    [("ops", "wrong"), ("ops", ""), ("nobody", "ops-secret-1"), ("watcher", PASSWORDS["ops"])],
)
async def test_login_is_refused_with_a_bad_password(
    lite_dash: Dash, user: str, password: str
) -> None:
    async with lite_dash.client() as client:
        r = await _login(client, user=user, password=password)
        assert r.status_code == 401
        assert "data-login-error" in r.text
        assert COOKIE not in client.cookies
        assert (await client.get(BASE)).status_code == 303


async def test_login_sets_a_strict_http_only_session_cookie(lite_dash: Dash) -> None:
    async with lite_dash.client() as client:
        r = await _login(client, user="ops", password=PASSWORDS["ops"], next=f"{BASE}/audit")
        assert r.status_code == 303
        assert r.headers["location"] == f"{BASE}/audit"
        cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith(COOKIE))
        attrs = {a.strip().lower() for a in cookie.split(";")}
        assert {"httponly", "samesite=strict", f"path={BASE}"} <= attrs
        page = await client.get(BASE)
        assert page.status_code == 200
        assert "Signed in as <strong>ops</strong>" in page.text


async def test_login_never_redirects_to_another_site(lite_dash: Dash) -> None:
    async with lite_dash.client() as client:
        r = await _login(
            client, user="ops", password=PASSWORDS["ops"], next="https://evil.example/x"
        )
        assert r.headers["location"] == BASE
        client.cookies.clear()
        r = await _login(client, user="ops", password=PASSWORDS["ops"], next=f"{BASE}//evil")
        assert r.headers["location"] == BASE


async def test_login_form_without_its_csrf_cookie_is_refused(lite_dash: Dash) -> None:
    async with lite_dash.client() as client:
        form = await client.get(f"{BASE}/login")
        token = csrf_of(form.text)
        client.cookies.clear()
        fields = {"csrf": token, "user": "ops", "password": PASSWORDS["ops"]}
        r = await client.post(f"{BASE}/login", data=fields)
        assert r.status_code == 403
        assert "csrf" in r.text
        assert COOKIE not in client.cookies


async def test_an_admin_api_token_logs_in_and_a_user_token_does_not(lite_dash: Dash) -> None:
    async with lite_dash.client() as client:
        r = await _login(client, token=lite_dash.api.tokens["alice"])
        assert r.status_code == 401
        assert "only an admin token" in r.text
        r = await _login(client, token="not-a-token")
        assert r.status_code == 401
        assert "token: invalid token" in r.text
        r = await _login(client, token=lite_dash.api.tokens["admin"])
        assert r.status_code == 303
        page = await client.get(BASE)
        assert "Signed in as <strong>admin</strong>" in page.text


async def test_session_and_api_tokens_are_not_interchangeable(lite_dash: Dash) -> None:
    async with lite_dash.client() as client:
        # An API token put in the session cookie is not a session ...
        client.cookies.set(COOKIE, lite_dash.api.tokens["admin"], path=BASE)
        assert (await client.get(BASE)).status_code == 303
        # ... and a session is not an API token.
        cookie, _ = issue(SECRET, "ops", "admin", "password", 3600)
        r = await client.get("/api/jobs", headers={"Authorization": f"Bearer {cookie}"})
        assert r.status_code == 401


async def test_forged_or_expired_sessions_are_refused(lite_dash: Dash) -> None:
    forged, _ = issue("another-secret-" + "y" * 32, "ops", "admin", "password", 3600)
    expired = jwt.encode(
        {"sub": "ops", "role": "admin", "csrf": "x", "via": "password", "aud": AUDIENCE, "exp": 1},
        SECRET,
        algorithm="HS256",
    )
    for cookie in (forged, expired):
        async with lite_dash.client() as client:
            client.cookies.set(COOKIE, cookie, path=BASE)
            assert (await client.get(BASE)).status_code == 303


async def test_a_removed_user_loses_the_session_at_once(lite_dash: Dash) -> None:
    cookie, _ = issue(SECRET, "ghost", "admin", "password", 3600)  # not in the settings
    async with lite_dash.client() as client:
        client.cookies.set(COOKIE, cookie, path=BASE)
        assert (await client.get(BASE)).status_code == 303


async def test_logout_ends_the_session(lite_dash: Dash) -> None:
    async with await lite_dash.login("ops") as browser:
        client = browser.http
        r = await client.post(f"{BASE}/logout", data={"csrf": "wrong"})
        assert r.status_code == 403
        r = await client.post(f"{BASE}/logout", data={"csrf": browser.csrf})
        assert r.status_code == 303
        assert (await client.get(BASE)).status_code == 303


async def test_actions_need_the_csrf_token(lite_dash: Dash) -> None:
    queue = lite_dash.api.service.queue("exports")
    async with await lite_dash.login("ops") as browser:
        client = browser.http
        for fields in ({}, {"csrf": "forged-token"}):
            r = await client.post(f"{BASE}/act/pause", data={"queue": "exports", **fields})
            assert r.status_code == 403
            assert "csrf" in r.text
        assert not await queue.is_paused()
        assert await lite_dash.audit.recent() == []
        # The page's token, as a form field or as the header a script would send.
        r = await client.post(
            f"{BASE}/act/pause",
            data={"queue": "exports"},
            headers={"X-CSRF-Token": browser.csrf},
        )
        assert r.status_code == 303
        assert await queue.is_paused()


async def test_a_viewer_sees_everything_and_can_do_nothing(lite_dash: Dash) -> None:
    queue = lite_dash.api.service.queue("exports")
    job = await queue.add("export", {"entity": "quotes", "format": "csv", "userId": "u1"})
    async with await lite_dash.login("watcher") as viewer:
        client = viewer.http
        for path in (BASE, f"{BASE}/jobs?queue=exports", f"{BASE}/job/exports/{job.id}"):
            page = await client.get(path)
            assert page.status_code == 200
            assert "/act/" not in page.text  # no action forms at all
        assert "Read-only" in page.text
        for action, fields in (
            ("pause", {"queue": "exports"}),
            ("remove", {"queue": "exports", "job": job.id}),
            ("empty", {"queue": "exports"}),
        ):
            r = await viewer.act(action, **fields)
            assert r.status_code == 403
            assert "read-only" in r.text
    assert not await queue.is_paused()
    assert await queue.get_job(job.id) is not None
    assert await lite_dash.audit.recent() == []


async def test_user_tokens_cannot_reach_the_dashboard_with_a_bearer_header(
    lite_dash: Dash,
) -> None:
    token = mint_token(SECRET, "root", admin=True)
    async with lite_dash.client() as client:
        r = await client.get(BASE, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 303  # only the login page turns a token into a session
