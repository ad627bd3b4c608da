"""The ``state`` of a connect URL and its PKCE verifier, with nothing stored server-side.

Google hands ``state`` back unchanged to the callback, which carries no bearer token
(it is the user's browser being redirected): the state is what names the user whose
link the callback creates.  So it is signed and short-lived:

    <payload>.<signature>     both base64url without padding
    payload   = JSON {"u": user id, "n": random nonce, "e": expiry (epoch seconds)}
    signature = HMAC-SHA256(payload) under a key derived from the API's secret

A changed user id, nonce or expiry breaks the signature; an expired state is
refused even with a good one.

**PKCE** (RFC 7636, ``S256``) without storage: the code verifier is the HMAC-SHA256
of the state under a second derived key.  The connect URL carries its SHA-256 (the
challenge); the callback recomputes the verifier from the state it receives.  Only
a holder of the secret can compute it, so an authorization code seen on its way
back (a proxy log, the browser history) cannot be redeemed by anyone else, and a
code obtained with one user's state cannot be redeemed with another's.

Both keys are derived for their one purpose, so neither value can stand for
anything else signed with the same secret (the API's bearer tokens, download URLs).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass


class StateRefused(Exception):
    """A callback's ``state`` that must not be honoured (answered with 400)."""


class StateInvalid(StateRefused):
    pass


class StateExpired(StateRefused):
    pass


@dataclass(frozen=True, slots=True)
class ConsentState:
    user_id: str
    nonce: str
    expires: int  # epoch seconds


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def code_challenge(verifier: str) -> str:
    """The ``S256`` challenge of a PKCE code verifier."""
    return _b64(hashlib.sha256(verifier.encode()).digest())


class StateSigner:
    """Issues and checks states valid ``ttl`` seconds, signed with ``secret``."""

    def __init__(self, secret: str, ttl: float) -> None:
        if not secret:
            raise ValueError("the calendar connect state's signing secret is empty")
        self._state_key = _derive(secret, b"workhorse calendar connect state v1")
        self._verifier_key = _derive(secret, b"workhorse calendar connect pkce v1")
        self.ttl = ttl

    def issue(self, user_id: str, now: float) -> str:
        payload = {"u": user_id, "n": secrets.token_urlsafe(16), "e": int(now + self.ttl)}
        encoded = _b64(json.dumps(payload, separators=(",", ":")).encode())
        return f"{encoded}.{self._sign(encoded)}"

    def verify(self, state: str, now: float) -> ConsentState:
        """The state's content; :class:`StateInvalid` unless this signer issued it,
        :class:`StateExpired` once its time has passed."""
        encoded, dot, signature = state.partition(".")
        # As bytes: compare_digest refuses str with non-ASCII characters.
        if not dot or not hmac.compare_digest(self._sign(encoded).encode(), signature.encode()):
            raise StateInvalid("this connection link is invalid (bad signature)")
        payload = json.loads(_unb64(encoded))  # signed by us, so well formed
        found = ConsentState(payload["u"], payload["n"], payload["e"])
        if found.expires <= now:
            raise StateExpired(
                f"this connection link has expired (links are valid for {self.ttl / 60:g} minutes)"
            )
        return found

    def code_verifier(self, state: str) -> str:
        """The PKCE code verifier of ``state``: 43 characters of base64url."""
        return _b64(hmac.new(self._verifier_key, state.encode(), hashlib.sha256).digest())

    def _sign(self, encoded: str) -> str:
        return _b64(hmac.new(self._state_key, encoded.encode(), hashlib.sha256).digest())


def _derive(secret: str, purpose: bytes) -> bytes:
    return hmac.new(secret.encode(), purpose, hashlib.sha256).digest()
