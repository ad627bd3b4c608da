"""SMTP settings, read from the environment (``WORKHORSE_SMTP_*``)."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class MailSettings(BaseSettings):
    """Where and how e-mails are sent.  Environment variables:

    - ``WORKHORSE_SMTP_HOST`` (default ``localhost``), ``WORKHORSE_SMTP_PORT`` (25);
    - ``WORKHORSE_SMTP_USER`` and ``WORKHORSE_SMTP_PASSWORD``: log in when set;
    - ``WORKHORSE_SMTP_STARTTLS``: ``true`` requires STARTTLS, ``false`` never uses it,
      unset upgrades when the server offers it;
    - ``WORKHORSE_SMTP_TLS``: ``true`` for implicit TLS from the first byte (port 465);
    - ``WORKHORSE_SMTP_FROM``: the sender address;
    - ``WORKHORSE_SMTP_MESSAGE_ID_DOMAIN``: the right-hand side of the Message-IDs
      (default: the sender address's domain);
    - ``WORKHORSE_SMTP_TIMEOUT``: seconds to wait for each server reply.
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    host: str = Field(default="localhost", min_length=1, validation_alias="WORKHORSE_SMTP_HOST")
    port: int = Field(default=25, ge=1, le=65535, validation_alias="WORKHORSE_SMTP_PORT")
    user: str | None = Field(default=None, validation_alias="WORKHORSE_SMTP_USER")
    password: SecretStr | None = Field(default=None, validation_alias="WORKHORSE_SMTP_PASSWORD")
    starttls: bool | None = Field(default=None, validation_alias="WORKHORSE_SMTP_STARTTLS")
    tls: bool = Field(default=False, validation_alias="WORKHORSE_SMTP_TLS")
    from_address: str = Field(
        default="workhorse@localhost",
        pattern=r"^[^@\s<>]+@[^@\s<>]+$",
        validation_alias="WORKHORSE_SMTP_FROM",
    )
    message_id_domain: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9.-]+$",
        validation_alias="WORKHORSE_SMTP_MESSAGE_ID_DOMAIN",
    )
    timeout: float = Field(default=30.0, gt=0, validation_alias="WORKHORSE_SMTP_TIMEOUT")

    @model_validator(mode="after")
    def _consistent(self) -> MailSettings:
        if (self.user is None) != (self.password is None):
            missing = "WORKHORSE_SMTP_PASSWORD" if self.password is None else "WORKHORSE_SMTP_USER"
            raise ValueError(f"{missing}: give the SMTP user and password together")
        if self.tls and self.starttls:
            raise ValueError(
                "WORKHORSE_SMTP_STARTTLS: cannot be true with WORKHORSE_SMTP_TLS "
                "(implicit TLS already encrypts the connection)"
            )
        return self

    @property
    def domain(self) -> str:
        """The domain of Message-IDs and of the EHLO greeting."""
        return self.message_id_domain or self.from_address.rsplit("@", 1)[1]
