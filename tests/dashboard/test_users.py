"""Dashboard users in the settings: argon2 hashes, roles, clear errors."""

from __future__ import annotations

import orjson
import pytest
from pydantic import ValidationError

from workhorse.app.settings import Settings
from workhorse.dashboard.users import (
    DashboardUser,
    check_login,
    hash_password,
    user_entry,
)


def test_a_settings_entry_made_by_user_entry_logs_in(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = user_entry("ops", "s3cret-pass", "admin")
    assert "s3cret-pass" not in entry
    monkeypatch.setenv("WORKHORSE_DASHBOARD_USERS", f"[{entry}]")
    users = Settings().dashboard_users
    assert [(u.user, u.role) for u in users] == [("ops", "admin")]
    assert users[0].password_hash.startswith("$argon2id$")
    assert check_login(users, "ops", "s3cret-pass") == users[0]
    assert check_login(users, "ops", "S3cret-pass") is None
    assert check_login(users, "nobody", "s3cret-pass") is None


def test_users_default_to_viewers_and_none_are_configured_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("WORKHORSE_DASHBOARD_USERS", raising=False)
    assert Settings().dashboard_users == []
    user = DashboardUser(user="eve", password_hash=hash_password("pw"))
    assert user.role == "viewer"


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"user": "ops", "password_hash": "plain-text", "role": "admin"}, "password_hash"),
        ({"user": "ops", "password_hash": "$argon2id$x", "role": "root"}, "role"),
        ({"user": "", "password_hash": "$argon2id$x"}, "user"),
        ({"user": "ops", "password_hash": "$argon2id$x", "extra": 1}, "extra"),
    ],
)
def test_a_bad_user_entry_is_refused_naming_the_field(
    monkeypatch: pytest.MonkeyPatch, entry: dict[str, object], field: str
) -> None:
    monkeypatch.setenv("WORKHORSE_DASHBOARD_USERS", orjson.dumps([entry]).decode())
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert f"WORKHORSE_DASHBOARD_USERS.0.{field}" in str(caught.value)


def test_an_empty_password_cannot_be_hashed() -> None:
    with pytest.raises(ValueError, match="password must not be empty"):
        hash_password("")
