"""Bearer tokens: signed JWTs (HS256) carrying the user id and the admin flag.

Tokens are minted by ``workhorse token USER [--admin]`` (or :func:`mint_token`) with
the secret of :meth:`workhorse.app.Settings.secret`; a token is accepted by every
API process that has the same secret.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt
from fastapi import HTTPException, Request

from workhorse.job import Job

ALGORITHM = "HS256"
ISSUER = "workhorse"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user id, and whether they are an admin (sees every job)."""

    user_id: str
    admin: bool = False

    def may_see(self, job: Job) -> bool:
        return self.admin or (job.owner is not None and job.owner == self.user_id)


class AuthError(Exception):
    """A missing, malformed, expired or wrongly signed token."""


def mint_token(secret: str, user_id: str, *, admin: bool = False, ttl: float = 7 * 86400) -> str:
    if not user_id:
        raise ValueError("user id must be a non-empty string")
    now = int(time.time())
    claims = {"sub": user_id, "admin": admin, "iat": now, "exp": now + int(ttl), "iss": ISSUER}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(secret: str, token: str) -> Principal:
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], issuer=ISSUER, options={"require": ["sub"]}
        )
    except jwt.ExpiredSignatureError:
        raise AuthError("token expired: mint a new one with `workhorse token USER`") from None
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"invalid token ({exc})") from None
    return Principal(str(claims["sub"]), bool(claims.get("admin", False)))


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer …`` header."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def authenticate(secret: str, token: str | None) -> Principal:
    """The caller, or a 401 naming what is missing."""
    if token is None:
        raise HTTPException(
            401,
            "missing bearer token: send 'Authorization: Bearer <token>' "
            "(mint one with `workhorse token USER`)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        return decode_token(secret, token)
    except AuthError as exc:
        raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None


async def current_user(request: Request) -> Principal:
    """FastAPI dependency: the caller from the Authorization header."""
    secret: str = request.app.state.secret
    return authenticate(secret, bearer(request.headers.get("authorization")))
