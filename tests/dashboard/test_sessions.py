"""Sign out everywhere: every session of a user, in every browser, ends at once;
over real HTTP with real logins."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.dashboard.conftest import BASE, Browser, Dash, cheap_hash, dashboard, make_users
from workhorse.dashboard.session import COOKIE
from workhorse.dashboard.users import DashboardUser
from workhorse.store.base import Store

END = f"{BASE}/sessions/end"


@pytest.fixture(scope="module")
def users() -> list[DashboardUser]:
    return make_users(cheap_hash)


async def assert_signed_out(client: httpx.AsyncClient) -> None:
    r = await client.get(f"{BASE}/jobs")
    assert r.status_code == 303
    assert r.headers["location"].startswith(f"{BASE}/login?next=")


async def assert_signed_in(browser: Browser) -> None:
    assert (await browser.http.get(f"{BASE}/jobs")).status_code == 200


async def audited(dash: Dash) -> list[tuple[str, str, str]]:
    return [(e.actor, e.action, e.target) for e in await dash.audit.recent()]


async def test_signing_out_everywhere_ends_every_session_of_the_user(lite_dash: Dash) -> None:
    async with (
        await lite_dash.login("ops") as here,
        await lite_dash.login("ops") as elsewhere,
        await lite_dash.login("watcher") as watcher,
    ):
        earlier = elsewhere.http.cookies[COOKIE]
        r = await here.http.post(END, data={"csrf": here.csrf})
        assert r.status_code == 303
        assert r.headers["location"] == f"{BASE}/login"
        assert COOKIE not in here.http.cookies
        # The other browser still sends its cookie, and it is refused.
        await assert_signed_out(elsewhere.http)
        r = await elsewhere.act("pause", queue="exports")
        assert r.status_code == 401
        async with lite_dash.client() as replay:
            replay.cookies.set(COOKIE, earlier, path=BASE)
            await assert_signed_out(replay)
        await assert_signed_in(watcher)
    async with await lite_dash.login("ops") as again:
        await assert_signed_in(again)
    assert await audited(lite_dash) == [("ops", "sign-out-everywhere", "user/ops")]
    assert not await lite_dash.api.service.queue("exports").is_paused()


async def test_an_admin_ends_another_users_sessions_and_keeps_their_own(
    lite_dash: Dash,
) -> None:
    async with (
        await lite_dash.login("ops") as ops,
        await lite_dash.login("watcher") as watcher,
        await lite_dash.login("admin-token") as token_admin,
    ):
        r = await ops.http.post(END, data={"csrf": ops.csrf, "user": "watcher"})
        assert r.status_code == 303
        assert r.headers["location"] == f"{BASE}/sessions"
        page = await ops.http.get(r.headers["location"])
        assert "Every session of watcher is ended" in page.text
        await assert_signed_out(watcher.http)
        await assert_signed_in(ops)
        # The user of an admin API token, signed in with it.
        r = await ops.http.post(END, data={"csrf": ops.csrf, "user": "admin"})
        assert r.status_code == 303
        await assert_signed_out(token_admin.http)
        await assert_signed_in(ops)
    async with await lite_dash.login("watcher") as watcher:
        await assert_signed_in(watcher)
    assert await audited(lite_dash) == [
        ("ops", "sign-out-everywhere", "user/admin"),
        ("ops", "sign-out-everywhere", "user/watcher"),
    ]


async def test_a_viewer_can_end_only_their_own_sessions(lite_dash: Dash) -> None:
    async with await lite_dash.login("ops") as ops, await lite_dash.login("watcher") as watcher:
        r = await watcher.http.post(END, data={"csrf": watcher.csrf, "user": "ops"})
        assert r.status_code == 403
        assert "read-only" in r.text
        await assert_signed_in(ops)
        assert await audited(lite_dash) == []
        r = await watcher.http.post(END, data={"csrf": watcher.csrf})
        assert r.status_code == 303
        await assert_signed_out(watcher.http)
        await assert_signed_in(ops)
    assert await audited(lite_dash) == [("watcher", "sign-out-everywhere", "user/watcher")]


async def test_ending_sessions_needs_a_session_and_its_csrf_token(lite_dash: Dash) -> None:
    async with lite_dash.client() as anonymous:
        assert (await anonymous.post(END, data={"user": "ops"})).status_code == 401
    async with await lite_dash.login("ops") as ops:
        for fields in ({}, {"csrf": "forged-token"}):
            r = await ops.http.post(END, data=fields)
            assert r.status_code == 403
            assert "csrf" in r.text
        await assert_signed_in(ops)
    assert await audited(lite_dash) == []


async def test_the_sessions_page(lite_dash: Dash) -> None:
    async with lite_dash.client() as anonymous:
        r = await anonymous.get(f"{BASE}/sessions")
        assert r.status_code == 303
    async with await lite_dash.login("ops") as ops, await lite_dash.login("watcher") as watcher:
        page = await ops.http.get(f"{BASE}/sessions")
        assert page.status_code == 200
        assert 'data-user-row="watcher"' in page.text
        assert 'data-user-row="ops"' not in page.text  # their own form is above
        page = await watcher.http.get(f"{BASE}/sessions")
        assert page.status_code == 200
        assert "Your sessions" in page.text
        assert "data-user-row" not in page.text


async def test_a_sign_out_reaches_every_api_process_and_outlives_a_restart(
    store: Store, tmp_path: Path, users: list[DashboardUser]
) -> None:
    async for one in dashboard(store, tmp_path, users):
        async for two in dashboard(store, tmp_path, users):
            async with await two.login("ops") as there, await one.login("ops") as here:
                earlier = there.http.cookies[COOKIE]
                assert (await here.http.post(END, data={"csrf": here.csrf})).status_code == 303
                # What the other process does every few seconds on its own:
                await two.api.state.dashboard.sign_outs.refresh()
                await assert_signed_out(there.http)
            async with await two.login("ops") as fresh:
                await assert_signed_in(fresh)
    # A process started later (a restart) refuses the old session from the start.
    async for again in dashboard(store, tmp_path, users):
        async with again.client() as replay:
            replay.cookies.set(COOKIE, earlier, path=BASE)
            await assert_signed_out(replay)
