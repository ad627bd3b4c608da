"""The mail package against a real SMTP server: what arrives, stable Message-IDs,
errors classified as temporary or permanent, settings from the environment."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest
from pydantic import ValidationError

from tests.reference.smtp import SmtpServer
from workhorse_reference.mail import (
    Mailer,
    MailRejected,
    MailSettings,
    MailTemporaryError,
    message_id,
)


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    async with SmtpServer() as server:
        yield server


async def test_a_message_arrives_with_its_headers_and_body(smtp: SmtpServer) -> None:
    mailer = Mailer(smtp.settings(message_id_domain="mail.workhorse.test"))
    msg = mailer.message(
        to="client@example.test",
        subject="Séance de jeudi",
        body="Bonjour,\nà jeudi 9 h.\n",
        kind="scheduled-email",
        key="e42",
    )
    assert await mailer.send(msg) == {}
    (got,) = await smtp.recorder.wait_for(1)
    assert got.sender == "coach@workhorse.test"
    assert got.recipients == ["client@example.test"]
    assert got.message["Subject"] == "Séance de jeudi"
    assert got.message_id == "<e42.scheduled-email@mail.workhorse.test>"
    assert got.body == "Bonjour,\nà jeudi 9 h.\n"
    assert got.message["Date"] is not None


def test_message_ids_are_stable_and_safe() -> None:
    first = message_id("scheduled-email", "abc", "example.test")
    assert first == message_id("scheduled-email", "abc", "example.test")
    assert first != message_id("scheduled-email", "abd", "example.test")
    assert message_id("k", "a b@c>", "d.test") == "<a=20b=40c=3E.k@d.test>"
    with pytest.raises(ValueError, match="non-empty"):
        message_id("k", "", "d.test")


async def test_a_4xx_reply_is_temporary(smtp: SmtpServer) -> None:
    smtp.recorder.data_replies.append("451 4.3.0 try again later")
    mailer = Mailer(smtp.settings())
    msg = mailer.message(to="a@example.test", subject="s", body="b", kind="k", key="1")
    with pytest.raises(MailTemporaryError, match="451") as caught:
        await mailer.send(msg)
    assert caught.value.code == 451
    assert not caught.value.permanent
    assert smtp.received == []


async def test_a_refused_recipient_is_permanent(smtp: SmtpServer) -> None:
    smtp.recorder.refuse["ghost@example.test"] = "550 5.1.1 no such user"
    mailer = Mailer(smtp.settings())
    msg = mailer.message(to="ghost@example.test", subject="s", body="b", kind="k", key="1")
    with pytest.raises(MailRejected, match=r"ghost@example\.test: 550") as caught:
        await mailer.send(msg)
    assert caught.value.code == 550
    assert caught.value.permanent


async def test_no_server_listening_is_temporary() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mailer = Mailer(MailSettings(host="127.0.0.1", port=port, timeout=5))
    msg = mailer.message(to="a@example.test", subject="s", body="b", kind="k", key="1")
    with pytest.raises(MailTemporaryError):
        await mailer.send(msg)


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKHORSE_SMTP_HOST", "smtp.example.test")
    monkeypatch.setenv("WORKHORSE_SMTP_PORT", "587")
    monkeypatch.setenv("WORKHORSE_SMTP_USER", "coach")
    monkeypatch.setenv("WORKHORSE_SMTP_PASSWORD", "s3cret")
    monkeypatch.setenv("WORKHORSE_SMTP_STARTTLS", "true")
    monkeypatch.setenv("WORKHORSE_SMTP_FROM", "coach@example.test")
    settings = MailSettings()
    assert (settings.host, settings.port, settings.user) == ("smtp.example.test", 587, "coach")
    assert settings.password is not None
    assert settings.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)
    assert settings.starttls is True
    assert settings.domain == "example.test"


def test_bad_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKHORSE_SMTP_PORT", "99999")
    with pytest.raises(ValidationError, match="WORKHORSE_SMTP_PORT"):
        MailSettings()
    monkeypatch.delenv("WORKHORSE_SMTP_PORT")
    monkeypatch.setenv("WORKHORSE_SMTP_USER", "coach")
    with pytest.raises(ValidationError, match="WORKHORSE_SMTP_PASSWORD"):
        MailSettings()
    monkeypatch.delenv("WORKHORSE_SMTP_USER")
    monkeypatch.setenv("WORKHORSE_SMTP_FROM", "not an address")
    with pytest.raises(ValidationError, match="WORKHORSE_SMTP_FROM"):
        MailSettings()
