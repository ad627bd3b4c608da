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
