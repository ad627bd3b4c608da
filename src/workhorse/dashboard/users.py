"""Who may log in to the dashboard: users from the settings, with argon2 hashes.

``WORKHORSE_DASHBOARD_USERS`` holds a JSON list such as
``[{"user": "ops", "password_hash": "$argon2id$...", "role": "admin"}]``; make an
entry with :func:`user_entry` (or the CLI).  ``admin`` may act, ``viewer`` only
looks.  An admin bearer token of the API is accepted at the login page as well.
"""

from __future__ import annotations

from typing import Literal

import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, Field, field_validator

Role = Literal["admin", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "viewer")
#: A hash of a password nobody uses, verified when the user name is unknown.
_DECOY = (
    "$argon2id$v=19$m=65536,t=3,p=4$126HgCDDdbUVz55vGrhwrQ$"
    "qSTUNSEOrFqYGcewg5mj60wej3S6lhM+T7Plraf7MAc"
)


class DashboardUser(BaseModel):
    """One login of the dashboard."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user: str = Field(min_length=1, max_length=200)
    password_hash: str = Field(min_length=1)
    role: Role = "viewer"

    @field_validator("password_hash")
    @classmethod
    def _argon2(cls, value: str) -> str:
        if not value.startswith("$argon2"):
            raise ValueError(
                "must be an argon2 hash (make one with `workhorse dashboard-user NAME`), "
                "never a plain password"
            )
        return value


def _hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2id with the library's current recommended costs


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` for the settings."""
    if not password:
        raise ValueError("password must not be empty")
    return _hasher().hash(password)


def user_entry(user: str, password: str, role: Role = "viewer") -> str:
    """The JSON object to put in ``WORKHORSE_DASHBOARD_USERS`` for one user."""
    entry = DashboardUser(user=user, password_hash=hash_password(password), role=role)
    return orjson.dumps(entry.model_dump()).decode()


def check_login(users: list[DashboardUser], user: str, password: str) -> DashboardUser | None:
    """The user when the password matches, else None.  An unknown user costs the same
    hash verification as a known one, so timing does not reveal which names exist."""
    found = find_user(users, user)
    target = found.password_hash if found is not None else _DECOY
    try:
        _hasher().verify(target, password)
    except (VerificationError, InvalidHashError):
        return None
    return found


def find_user(users: list[DashboardUser], user: str) -> DashboardUser | None:
    return next((u for u in users if u.user == user), None)
