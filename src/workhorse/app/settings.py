"""Settings of the application layer, read from the environment (pydantic-settings).

The store is chosen by the same rules as the engine's
:func:`workhorse.store.url_from_env` -- these settings only gather the variables and
hand them over, so the CLI, ``Workhorse()`` and the API never disagree on the store.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from workhorse.dashboard.users import DashboardUser
from workhorse.store import DEFAULT_DB_PATH, url_from_env

Environment = Literal["development", "test", "production"]
SECRET_FILE = "secret.key"


class Settings(BaseSettings):
    """Environment variables (names are case-insensitive):

    - ``REDIS_ENABLED``, ``REDIS_HOST`` (default ``redis``), ``REDIS_PORT`` (6379),
      ``REDIS_PASSWORD``, ``REDIS_URL``: the original system's variables;
    - ``WORKHORSE_STORE_URL``: the store URL, which wins over everything else;
    - ``WORKHORSE_DB_PATH``: the embedded store's file;
    - ``WORKHORSE_SECRET_KEY``: signs the API's tokens (else a key generated once and
      kept beside the embedded store, see :meth:`secret`);
    - ``WORKHORSE_ENV``: ``development`` / ``test`` / ``production``, which selects the
      queue registry's per-environment overrides;
    - ``WORKHORSE_MAX_PAYLOAD_BYTES``: the largest request body the API accepts.
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    redis_enabled: bool | None = Field(default=None, validation_alias="REDIS_ENABLED")
    redis_host: str = Field(default="redis", validation_alias="REDIS_HOST")
    redis_port: int = Field(default=6379, ge=1, le=65535, validation_alias="REDIS_PORT")
    redis_password: str | None = Field(default=None, validation_alias="REDIS_PASSWORD")
    redis_url: str | None = Field(default=None, validation_alias="REDIS_URL")
    store_url: str | None = Field(default=None, validation_alias="WORKHORSE_STORE_URL")
    db_path: str = Field(default=DEFAULT_DB_PATH, validation_alias="WORKHORSE_DB_PATH")
    secret_key: str | None = Field(
        default=None,
        min_length=32,
        validation_alias="WORKHORSE_SECRET_KEY",
    )
    environment: Environment = Field(default="production", validation_alias="WORKHORSE_ENV")
    max_payload_bytes: int = Field(
        default=256 * 1024,
        gt=0,
        validation_alias="WORKHORSE_MAX_PAYLOAD_BYTES",
    )
    token_ttl: float = Field(
        default=7 * 24 * 3600,
        gt=0,
        validation_alias="WORKHORSE_TOKEN_TTL",
    )
    # The dashboard (workhorse.dashboard): its logins, as a JSON list of
    # {"user", "password_hash" (argon2), "role": "admin" | "viewer"}; how long a
    # login lasts (seconds); how many jobs one search looks at; how many failed
    # logins per client address or user name lock them for the rest of a window of
    # how many seconds (counted in each API process's memory).
    dashboard_users: list[DashboardUser] = Field(
        default_factory=list, validation_alias="WORKHORSE_DASHBOARD_USERS"
    )
    dashboard_session_ttl: float = Field(
        default=8 * 3600, gt=0, validation_alias="WORKHORSE_DASHBOARD_SESSION_TTL"
    )
    dashboard_scan_limit: int = Field(
        default=5000, ge=100, validation_alias="WORKHORSE_DASHBOARD_SCAN_LIMIT"
    )
    dashboard_login_max_failures: int = Field(
        default=5, ge=1, validation_alias="WORKHORSE_DASHBOARD_LOGIN_MAX_FAILURES"
    )
    dashboard_login_window: float = Field(
        default=15 * 60, gt=0, validation_alias="WORKHORSE_DASHBOARD_LOGIN_WINDOW"
    )
    # Observability (docs/observability.md): log level and format ("auto": JSON
    # lines unless on a terminal); a bearer token /metrics requires (none: open);
    # alert webhooks (comma-separated URLs) and their shared signing secret;
    # throttle and check period (seconds); thresholds, 0 = off: share of failed
    # attempts over a window (needing a minimum of attempts), age of the oldest
    # ready job (seconds); and whether a queue with jobs but no live worker alerts.
    log_level: str = Field(default="INFO", validation_alias="WORKHORSE_LOG_LEVEL")
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto", validation_alias="WORKHORSE_LOG_FORMAT"
    )
    metrics_token: str | None = Field(default=None, validation_alias="WORKHORSE_METRICS_TOKEN")
    alert_webhooks: str = Field(default="", validation_alias="WORKHORSE_ALERT_WEBHOOKS")
    alert_secret: str | None = Field(
        default=None, min_length=16, validation_alias="WORKHORSE_ALERT_SECRET"
    )
    alert_throttle: float = Field(default=300, gt=0, validation_alias="WORKHORSE_ALERT_THROTTLE")
    alert_check_interval: float = Field(
        default=15, gt=0, validation_alias="WORKHORSE_ALERT_CHECK_INTERVAL"
    )
    alert_failure_rate: float = Field(
        default=0.5, ge=0, le=1, validation_alias="WORKHORSE_ALERT_FAILURE_RATE"
    )
    alert_failure_window: float = Field(
        default=300, gt=0, validation_alias="WORKHORSE_ALERT_FAILURE_WINDOW"
    )
    alert_failure_min: int = Field(default=10, ge=1, validation_alias="WORKHORSE_ALERT_FAILURE_MIN")
    alert_oldest_waiting: float = Field(
        default=600, ge=0, validation_alias="WORKHORSE_ALERT_OLDEST_WAITING"
    )
    alert_no_workers: bool = Field(default=True, validation_alias="WORKHORSE_ALERT_NO_WORKERS")

    def url(self) -> str:
        """The store URL, by :func:`url_from_env`'s rules applied to the variables that
        were actually given (a default REDIS_HOST does not by itself select Redis)."""
        given = self.model_fields_set
        env: dict[str, str] = {}
        if "store_url" in given and self.store_url:
            env["WORKHORSE_STORE_URL"] = self.store_url
        if "redis_enabled" in given and self.redis_enabled is not None:
            env["REDIS_ENABLED"] = "true" if self.redis_enabled else "false"
        if "redis_url" in given and self.redis_url:
            env["REDIS_URL"] = self.redis_url
        if "redis_host" in given:
            env["REDIS_HOST"] = self.redis_host
        if "redis_port" in given:
            env["REDIS_PORT"] = str(self.redis_port)
        if "redis_password" in given and self.redis_password:
            env["REDIS_PASSWORD"] = self.redis_password
        env["WORKHORSE_DB_PATH"] = self.db_path
        return url_from_env(env)

    @property
    def data_dir(self) -> Path:
        """The folder of the embedded store: where a generated secret is kept too."""
        return Path(self.db_path).parent

    def secret(self, create: bool = True) -> str:
        """The token-signing key: ``WORKHORSE_SECRET_KEY`` when set, else the key in
        ``<data_dir>/secret.key`` (created once, readable by its owner only), so every
        command run in the same working directory -- ``demo``, ``serve``, ``token`` --
        signs and checks tokens with the same key."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / SECRET_FILE
        if path.exists():
            return path.read_text().strip()
        if not create:
            raise LookupError(
                f"no secret key: set WORKHORSE_SECRET_KEY, or run `workhorse demo` or "
                f"`workhorse serve` once in this directory to create {path}"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first: use theirs
            return path.read_text().strip()
        with os.fdopen(fd, "w") as f:
            f.write(key + "\n")
        return key
