"""Signed, expiring download URLs: HMAC-SHA256 over the URL's path and its expiry
time, checked in constant time.

The signing key is derived from the secret for this one purpose, so a download
signature can never stand for anything else signed with the same secret (the API's
tokens)."""

from __future__ import annotations

import hashlib
import hmac


class DownloadRefused(Exception):
    """A download URL that must not be served (answered with 403)."""


class SignatureInvalid(DownloadRefused):
    pass


class LinkExpired(DownloadRefused):
    pass


class UrlSigner:
    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("the exports' URL signing secret is empty")
        purpose = b"workhorse exports download URL v1"
        self._key = hmac.new(secret.encode(), purpose, hashlib.sha256).digest()

    def sign(self, path: str, expires: int) -> str:
        """The signature (hex) of ``path`` valid until ``expires`` (epoch seconds)."""
        message = f"{path}\n{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def check(self, path: str, expires: str | None, signature: str | None, now: float) -> None:
        """Raise :class:`SignatureInvalid` or :class:`LinkExpired` unless the URL's
        ``expires`` and ``signature`` query values were issued for ``path`` and the
        time has not passed."""
        if not expires or not signature:
            raise SignatureInvalid(
                "this download link is incomplete (expires and signature are required)"
            )
        if not expires.isdigit():
            raise SignatureInvalid("this download link is invalid (expires is not a time)")
        if not hmac.compare_digest(self.sign(path, int(expires)), signature):
            raise SignatureInvalid("this download link is invalid (bad signature)")
        if int(expires) <= now:
            raise LinkExpired("this download link has expired: start a new export")
