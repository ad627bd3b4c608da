"""Choosing the store from the environment, with the original system's variables."""

from __future__ import annotations

import pytest

from workhorse.store import DEFAULT_DB_PATH, connect, url_from_env


@pytest.mark.parametrize(
    ("env", "url"),
    [
        ({}, f"sqlite:///{DEFAULT_DB_PATH}"),
        ({"WORKHORSE_DB_PATH": "/srv/jobs.db"}, "sqlite:////srv/jobs.db"),
        ({"REDIS_ENABLED": "false", "REDIS_HOST": "cache"}, f"sqlite:///{DEFAULT_DB_PATH}"),
        ({"REDIS_ENABLED": "true"}, "redis://redis:6379/0"),
        ({"REDIS_HOST": "cache", "REDIS_PORT": "6380"}, "redis://cache:6380/0"),
        ({"REDIS_HOST": "cache", "REDIS_PASSWORD": "p@ss:w"}, "redis://:p%40ss%3Aw@cache:6379/0"),
        ({"REDIS_URL": "redis://r:1/2"}, "redis://r:1/2"),
        ({"WORKHORSE_STORE_URL": "sqlite:///x.db", "REDIS_HOST": "cache"}, "sqlite:///x.db"),
    ],
)
def test_url_from_env(env: dict[str, str], url: str) -> None:
    assert url_from_env(env) == url


@pytest.mark.parametrize("url", ["postgres://db/x", "jobs.db", "sqlite://relative.db"])
def test_unsupported_urls_say_what_is_supported(url: str) -> None:
    with pytest.raises(ValueError, match=r"sqlite:///"):
        connect(url)
