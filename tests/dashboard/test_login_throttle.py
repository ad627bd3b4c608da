"""Failed logins lock the client's address and the user name for the rest of a
window, over real HTTP, with the store's clock moved by hand."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.clocks import FakeClock
from tests.dashboard.conftest import (
    BASE,
    PASSWORDS,
    Dash,
    cheap_hash,
    csrf_of,
    lite_dashboard,
    make_users,
)
from workhorse.dashboard.session import COOKIE
from workhorse.dashboard.throttle import Limits, LoginThrottle
from workhorse.dashboard.users import DashboardUser

BAD = {"user": "ops", "password": "wrong"}
GOOD = {"user": "ops", "password": PASSWORDS["ops"]}
A, B = "10.0.0.1", "10.0.0.2"


@pytest.fixture(scope="module")
def users() -> list[DashboardUser]:
    return make_users(cheap_hash)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def dash(tmp_path: Path, users: list[DashboardUser], clock: FakeClock) -> AsyncIterator[Dash]:
    async for running in lite_dashboard(tmp_path, users, clock):
        yield running


async def attempt(dash: Dash, address: str, fields: dict[str, str]) -> httpx.Response:
    """One login in a new browser at client ``address``: uvicorn takes it from the
    X-Forwarded-For of a proxy on 127.0.0.1, as behind a local reverse proxy."""
    async with dash.client() as client:
        client.headers["X-Forwarded-For"] = address
        form = await client.get(f"{BASE}/login")
        return await client.post(f"{BASE}/login", data={"csrf": csrf_of(form.text), **fields})


async def fail(dash: Dash, times: int, address: str = A, fields: dict[str, str] = BAD) -> None:
    for _ in range(times):
        r = await attempt(dash, address, fields)
        assert r.status_code == 401, r.text


def assert_locked(r: httpx.Response, retry_after: str, minutes: str) -> None:
    assert r.status_code == 429, r.text
    assert r.headers["retry-after"] == retry_after
    assert f"Too many failed logins; try again in {minutes}" in r.text
    assert "data-login-error" in r.text
    assert COOKIE not in r.cookies


def assert_logged_in(r: httpx.Response) -> None:
    assert r.status_code == 303, r.text
    assert COOKIE in r.cookies


async def test_five_failures_lock_out_even_the_right_password(dash: Dash) -> None:
    await fail(dash, 5)
    # The clock has not moved: the window opened by the first failure lasts 900 s.
    assert_locked(await attempt(dash, A, GOOD), "900", "15 minutes")


async def test_the_lock_ends_with_its_window(dash: Dash, clock: FakeClock) -> None:
    await fail(dash, 5)
    clock.advance(10 * 60)
    assert_locked(await attempt(dash, A, GOOD), "300", "5 minutes")
    clock.advance(5 * 60)
    r = await attempt(dash, A, GOOD)
    assert_logged_in(r)
    async with dash.client() as client:
        client.cookies.set(COOKIE, r.cookies[COOKIE], path=BASE)
        assert (await client.get(BASE)).status_code == 200


async def test_a_locked_user_name_is_locked_from_everywhere_not_other_names(dash: Dash) -> None:
    for i in range(5):
        await fail(dash, 1, address=f"10.0.1.{i}")
    assert_locked(await attempt(dash, B, GOOD), "900", "15 minutes")
    watcher = {"user": "watcher", "password": PASSWORDS["watcher"]}
    assert_logged_in(await attempt(dash, "10.0.1.0", watcher))


async def test_a_locked_address_is_locked_for_every_name_not_other_addresses(
    dash: Dash,
) -> None:
    for i in range(5):
        await fail(dash, 1, fields={"user": f"nobody-{i}", "password": "guess"})
    assert_locked(await attempt(dash, A, GOOD), "900", "15 minutes")
    assert_logged_in(await attempt(dash, B, GOOD))


async def test_a_successful_login_clears_the_users_counter(dash: Dash) -> None:
    await fail(dash, 4)
    assert_logged_in(await attempt(dash, A, GOOD))
    # Were the 4 failures still counted, the second one here would lock "ops".
    await fail(dash, 4, address=B)
    assert_logged_in(await attempt(dash, B, GOOD))


async def test_token_logins_count_too(dash: Dash) -> None:
    user_token = {"token": dash.api.tokens["alice"]}  # not an admin's
    for fields in (user_token, user_token, {"token": "not-a-token"}, BAD, BAD):
        r = await attempt(dash, A, fields)
        assert r.status_code == 401, r.text
    admin_token = {"token": dash.api.tokens["admin"]}
    assert_locked(await attempt(dash, A, admin_token), "900", "15 minutes")
    assert_locked(await attempt(dash, A, GOOD), "900", "15 minutes")
    assert_logged_in(await attempt(dash, B, admin_token))


async def test_the_limits_come_from_the_settings(
    tmp_path: Path, users: list[DashboardUser], clock: FakeClock
) -> None:
    settings = {"dashboard_login_max_failures": 2, "dashboard_login_window": 90}
    async for dash in lite_dashboard(tmp_path, users, clock, **settings):
        await fail(dash, 2)
        assert_locked(await attempt(dash, A, GOOD), "90", "2 minutes")
        clock.advance(60)
        assert_locked(await attempt(dash, A, GOOD), "30", "1 minute")


async def test_guesses_sent_at_once_are_counted_before_they_are_checked(dash: Dash) -> None:
    answers = await asyncio.gather(*(attempt(dash, A, BAD) for _ in range(10)))
    assert sorted(r.status_code for r in answers) == [401] * 5 + [429] * 5


def test_the_throttle_forgets_expired_windows_and_bounds_its_keys() -> None:
    throttle = LoginThrottle(max_keys=3)
    limits = Limits(max_failures=2, window_ms=1000)
    for now, key in enumerate("abcd"):
        assert throttle.attempt([key], limits, now) == 0
    assert len(throttle) == 3  # "a", the oldest window, is forgotten
    assert throttle.attempt(["b"], limits, 10) == 0
    assert throttle.attempt(["b"], limits, 20) == 1000 + 1 - 20  # b's window opened at 1
    assert throttle.attempt(["e"], limits, 5000) == 0
    assert len(throttle) == 1  # every other window had expired


def test_a_success_takes_its_attempt_back_and_clears_its_user() -> None:
    throttle = LoginThrottle()
    limits = Limits(max_failures=2, window_ms=1000)
    keys = ["ip:x", "user:ops"]
    assert throttle.attempt(keys, limits, 0) == 0  # this one fails ...
    assert throttle.attempt(keys, limits, 1) == 0  # ... and this one succeeds
    throttle.succeeded(keys, "user:ops")
    assert throttle.attempt(["user:ops"], limits, 2) == 0
    assert throttle.attempt(["ip:x"], limits, 3) == 0  # its second failure
    assert throttle.attempt(["ip:x"], limits, 4) == 1000 - 4
