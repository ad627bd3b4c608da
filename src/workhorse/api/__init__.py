"""The HTTP API with live progress (needs the ``api`` extra:
``pip install 'workhorse[api]'``)."""

from workhorse.api.app import create_app
from workhorse.api.auth import Principal, decode_token, mint_token

__all__ = ["Principal", "create_app", "decode_token", "mint_token"]
